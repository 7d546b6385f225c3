//! Issue 11 item 8: after the quickstart applied on the embedded emulator, no file under the
//! configuration directory holds a secret in plaintext: not the state, its backups, the
//! journal a crash leaves, a saved plan, nor the emulator's `.tokenform/` data. The secrets
//! are read back the way a user does (`tokenform output` with the demo identity), then every
//! file is scanned for them and for anything shaped like an access token.

use std::path::{Path, PathBuf};

use crate::support::{stderr, text, tokenform, words};

/// Every regular file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                todo.push(path);
            } else if meta.is_file() {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The secrets `tokenform output` reads back with the demo identity.
fn secrets(dir: &Path) -> Vec<String> {
    let out = tokenform()
        .arg("-C")
        .arg(dir)
        .args(["output", "--format", "json", "--identity"])
        .arg(dir.join("demo.key"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    rows.iter().filter_map(|r| r["secret"].as_str().map(str::to_owned)).collect()
}

/// Panics when a file under `dir` holds one of `secrets`, or anything access-token shaped.
fn assert_no_plaintext(dir: &Path, secrets: &[String], when: &str) -> Vec<String> {
    let mut names = Vec::new();
    for path in files_under(dir) {
        let bytes = std::fs::read(&path).unwrap();
        let content = String::from_utf8_lossy(&bytes);
        let name = path.strip_prefix(dir).unwrap().display().to_string();
        for secret in secrets {
            assert!(!content.contains(secret.as_str()), "{when}: {name} holds a secret in plaintext");
        }
        assert!(tokenform::secret::find_secret(&content).is_none(), "{when}: {name} holds an api-… value");
        names.push(name);
    }
    names
}

#[test]
fn the_quickstart_leaves_no_secret_in_plaintext_under_the_config_dir() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    for name in ["main.hcl", "demo.key", ".gitignore"] {
        std::fs::copy(example.join(name), dir.join(name)).unwrap();
    }
    let apply = |args: &[&str], fault: Option<&str>| {
        let mut cmd = tokenform();
        cmd.arg("-C").arg(dir).args(["apply", "--auto-approve"]).args(args);
        if let Some(point) = fault {
            cmd.env("__TOKENFORM_TEST_FAULT", point);
        }
        cmd.output().unwrap()
    };

    let out = apply(&[], None);
    assert!(out.status.success(), "{}", text(&out));
    let first = secrets(dir);
    assert_eq!(first.len(), 3, "the quickstart's three tokens");
    let names = assert_no_plaintext(dir, &first, "after apply");
    assert!(names.iter().any(|n| n == "tokenform.state.json"), "{names:?}");
    assert!(names.iter().any(|n| n.starts_with(".tokenform/")), "the emulator's data is scanned: {names:?}");

    // Rotations that crash before the final save (with the `fault-injection` crash point,
    // which `.ci/test` enables): the new secrets are in the journal (and the crash's temp
    // file), which the next reader replays. Without it the rotations simply complete.
    let rotate = ["--rotate", "token.ci_reader", "--rotate", "token.release_bot"];
    let crash = cfg!(feature = "fault-injection");
    let out = apply(&rotate, crash.then_some("save-before-rename"));
    assert_eq!(!out.status.success(), crash, "{}", text(&out));
    let rotated = secrets(dir);
    assert_eq!(rotated.len(), 3);
    assert_eq!(rotated.iter().filter(|s| first.contains(s)).count(), 1, "two secrets are new");
    let all: Vec<String> = first.iter().chain(&rotated).cloned().collect();
    let names = assert_no_plaintext(dir, &all, "after the rotations");
    if crash {
        assert!(names.iter().any(|n| n.ends_with(".journal")), "the journal is scanned: {names:?}");
    }

    // The next apply compacts; a saved plan joins the files.
    let out = apply(&[], None);
    assert!(out.status.success(), "{}", text(&out));
    let out =
        tokenform().arg("-C").arg(dir).args(["plan", "-out"]).arg(dir.join("saved.plan")).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(secrets(dir), rotated);
    let names = assert_no_plaintext(dir, &all, "after recovery");
    assert!(names.iter().any(|n| n.contains(".backup.")), "backups are scanned: {names:?}");
    assert!(names.iter().any(|n| n == "saved.plan"), "{names:?}");
}

#[cfg(unix)]
#[test]
fn a_tokenform_dir_linked_out_of_the_config_dir_is_refused_and_nothing_written_there() {
    // A pull request may commit `.tokenform` as a link: the emulator must not follow it.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    let work = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let dir = work.path();
    std::fs::copy(example.join("main.hcl"), dir.join("main.hcl")).unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), dir.join(".tokenform")).unwrap();
    let out = tokenform().arg("-C").arg(dir).arg("plan").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let words = words(&stderr(&out));
    assert!(words.contains("outside the configuration directory"), "{words}");
    assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0, "nothing written through the link");
}
