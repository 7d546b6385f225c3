//! `state pull | push | migrate` on the local file backend: the same contract as on
//! PostgreSQL and S3 (tests/integration/pg/transfer.rs, tests/integration/s3/).

use std::fmt::Write as _;
use std::path::Path;
use std::process::Output;

use super::age_key;
use crate::support::{DevServer, text};

fn config(dir: &Path, server: &DevServer, recipient: &str, state: &str, n: usize) {
    let mut tokens = String::new();
    for i in 1..=n {
        let _ = write!(tokens, "token \"t{i}\" {{\n  name = \"transfer-{i}\"\n  role = \"reader\"\n}}\n\n");
    }
    let body = format!(
        "launchdarkly {{\n  base_url = \"{}\"\n}}\n\nstate {{\n  path       = \"{state}\"\n  recipients = [\"{recipient}\"]\n}}\n\n{tokens}",
        server.url
    );
    std::fs::write(dir.join("main.hcl"), body).unwrap();
}

fn run(server: &DevServer, dir: &Path, args: &[&str]) -> Output {
    server.tokenform(dir).args(args).output().unwrap()
}

#[track_caller]
fn ok(server: &DevServer, dir: &Path, args: &[&str]) -> String {
    let out = run(server, dir, args);
    assert_eq!(out.status.code(), Some(0), "{args:?}:\n{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[track_caller]
fn fails(server: &DevServer, dir: &Path, args: &[&str], code: &str) {
    let out = run(server, dir, args);
    assert_eq!(out.status.code(), Some(1), "{args:?}:\n{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains(code), "expected {code}:\n{}", text(&out));
}

fn doc(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn pull_push_and_migrate_work_on_the_local_file_too() {
    let server = DevServer::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let (_key, recipient) = age_key(dir.path(), "key.txt");
    let state = "tokenform.state.json";
    for n in 1..=3 {
        config(dir.path(), &server, &recipient, state, n);
        ok(&server, dir.path(), &["apply", "--auto-approve"]);
    }

    let pulled = ok(&server, dir.path(), &["state", "pull"]);
    assert_eq!(doc(&pulled)["serial"], 3);
    assert!(pulled.contains("BEGIN AGE ENCRYPTED FILE"), "ciphertexts stay ciphertexts");
    let on_disk = std::fs::read_to_string(dir.path().join(state)).unwrap();
    assert_eq!(doc(&pulled), doc(&on_disk), "pull prints the state document");
    let previous = ok(&server, dir.path(), &["state", "pull", "--previous", "1"]);
    assert_eq!(doc(&previous)["serial"], 2);
    fails(&server, dir.path(), &["state", "pull", "--previous", "3"], "tokenform::state::no_previous");

    // push: the same serial, then another lineage, are refused and change nothing.
    let file = dir.path().join("pushed.json");
    std::fs::write(&file, &pulled).unwrap();
    let path = file.to_str().unwrap();
    fails(&server, dir.path(), &["state", "push", path], "tokenform::state::push_serial");
    let mut other = doc(&pulled);
    other["lineage"] = "another-lineage".into();
    other["serial"] = 9.into();
    std::fs::write(&file, other.to_string()).unwrap();
    fails(&server, dir.path(), &["state", "push", path], "tokenform::state::push_lineage");
    assert_eq!(std::fs::read_to_string(dir.path().join(state)).unwrap(), on_disk, "nothing written");

    // A forced push of the previous version restores it above the current serial.
    std::fs::write(&file, &previous).unwrap();
    ok(&server, dir.path(), &["state", "push", "--force", path]);
    let now = doc(&ok(&server, dir.path(), &["state", "pull"]));
    assert_eq!(now["serial"], 4);
    assert_eq!(now["tokens"].as_object().unwrap().len(), 2);

    // migrate: the state moves into another configured local path; the target must not
    // already hold another lineage.
    let moved = "moved/tokenform.state.json";
    config(dir.path(), &server, &recipient, moved, 2);
    let from = dir.path().join(state);
    ok(&server, dir.path(), &["state", "migrate", "--from", from.to_str().unwrap()]);
    let migrated = doc(&std::fs::read_to_string(dir.path().join(moved)).unwrap());
    assert_eq!(migrated["lineage"], now["lineage"]);
    assert_eq!(migrated["tokens"], now["tokens"]);
    let out = run(&server, dir.path(), &["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "the migrated state matches the live tokens:\n{}", text(&out));

    std::fs::write(&file, other.to_string()).unwrap();
    fails(&server, dir.path(), &["state", "migrate", "--from", path], "tokenform::state::migrate_lineage");
    let after = doc(&std::fs::read_to_string(dir.path().join(moved)).unwrap());
    assert_eq!(after["lineage"], now["lineage"], "another lineage is refused, nothing written");
}
