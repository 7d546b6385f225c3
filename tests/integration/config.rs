//! Integration tests: `validate` and `fmt` through the real binary, on every example and on
//! broken directories.

use std::path::{Path, PathBuf};

use crate::support::{config_dir, tokenform, words};

/// Every example directory that holds a configuration (`examples/github-actions` holds
/// only workflow files, checked by the drift tests).
fn examples() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    // Case-sensitive on purpose: the loader reads `*.hcl` / `*.hcl.json` exactly, like Terraform.
    #[allow(clippy::case_sensitive_file_extension_comparisons)]
    let is_config = |p: &Path| {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        tokenform::config::parse::is_config_file(name)
    };
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && std::fs::read_dir(p).unwrap().any(|f| is_config(&f.unwrap().path())))
        .collect();
    dirs.sort();
    dirs
}

fn run(args: &[&str], dir: &Path) -> (i32, String, String) {
    let out = tokenform().arg("-C").arg(dir).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_example_validates_and_is_formatted() {
    let dirs = examples();
    for name in [
        "quickstart",
        "service-tokens",
        "custom-roles-and-policies",
        "rotation",
        "for-each",
        "postgres",
        "s3",
    ] {
        assert!(dirs.iter().any(|d| d.ends_with(name)), "example {name} missing from {dirs:?}");
    }
    for dir in dirs {
        let (code, out, err) = run(&["validate"], &dir);
        assert_eq!(code, 0, "{}: {out}{err}", dir.display());
        assert!(out.starts_with("Success! The configuration is valid ("), "{out}");
        let (code, out, _) = run(&["fmt", "--check"], &dir);
        assert_eq!((code, out.as_str()), (0, ""), "{} is not formatted", dir.display());
    }
}

#[test]
fn every_example_directory_ignores_the_embedded_emulator_data() {
    // issue 11 item 8: `.tokenform/` holds the embedded emulator's data; a copied example
    // must not commit it.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(root).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let ignore = std::fs::read_to_string(dir.join(".gitignore"))
            .unwrap_or_else(|e| panic!("{}: no .gitignore ({e})", dir.display()));
        assert!(ignore.lines().any(|l| l.trim() == ".tokenform/"), "{}: {ignore}", dir.display());
        seen += 1;
    }
    assert!(seen >= 7, "{seen} example directories");
}

/// Issue 10: `examples/rotation` and `examples/service-tokens` suggested `plan` but pointed
/// at the real API. Every example that names the embedded emulator plans against it (in a
/// copy, so nothing is written under examples/); every other one that suggests `plan` or
/// `apply` says it needs an account's access token.
#[test]
fn every_example_plans_against_the_embedded_emulator_or_says_it_needs_an_account() {
    let mut planned = Vec::new();
    for dir in examples() {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let copy = tempfile::tempdir().unwrap();
        let mut text = String::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                let target = copy.path().join(path.file_name().unwrap());
                std::fs::copy(&path, &target).unwrap();
                if tokenform::config::parse::is_config_file(&path.file_name().unwrap().to_string_lossy()) {
                    text.push_str(&std::fs::read_to_string(&path).unwrap());
                }
            }
        }
        let (code, out, err) = run(&["validate"], copy.path());
        assert_eq!(code, 0, "{name}: {out}{err}");
        if text.contains("base_url         = \"embedded\"") || text.contains("base_url = \"embedded\"") {
            let (code, out, err) = run(&["plan"], copy.path());
            assert_eq!(code, 0, "{name}: {out}{err}");
            assert!(out.contains("to create"), "{name}: {out}");
            planned.push(name);
        } else {
            let suggests = [" plan", " apply"].iter().any(|c| text.contains(&format!("examples/{name}{c}")));
            assert!(
                !suggests || text.contains("LAUNCHDARKLY_ACCESS_TOKEN"),
                "{name} suggests plan or apply against the real API without saying it needs a token"
            );
        }
    }
    for name in ["quickstart", "rotation", "service-tokens"] {
        assert!(planned.iter().any(|p| p == name), "{name} was not planned: {planned:?}");
    }
}

#[test]
fn quickstart_counts_its_tokens_and_quiet_is_silent() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    let (code, out, _) = run(&["validate"], &dir);
    assert_eq!(code, 0);
    assert_eq!(out, "Success! The configuration is valid (3 tokens).\n");
    let (code, out, _) = run(&["-q", "validate"], &dir);
    assert_eq!((code, out.as_str()), (0, ""));
}

#[test]
fn bad_directories_exit_1_with_a_diagnostic() {
    let (code, _, err) = run(&["validate"], Path::new("/definitely/not/a/dir"));
    assert_eq!(code, 1);
    assert!(err.contains("tokenform::config::dir_not_found"), "{err}");

    let empty = tempfile::tempdir().unwrap();
    let (code, _, err) = run(&["validate"], empty.path());
    assert_eq!(code, 1);
    assert!(err.contains("tokenform::config::no_config_files"), "{err}");

    let bad = tempfile::tempdir().unwrap();
    std::fs::write(bad.path().join("main.hcl"), b"token \"a\" {\n  name = \"\xff\xfe\"\n}\n").unwrap();
    let (code, _, err) = run(&["validate"], bad.path());
    assert_eq!(code, 1);
    assert!(err.contains("tokenform::config::invalid_utf8"), "{err}");
    assert!(err.contains("main.hcl:2:"), "{err}");
}

#[test]
fn validate_reports_every_problem_without_colour() {
    let dir = config_dir(&[
        ("a.hcl", "token \"a\" {\n  role = \"owner\"\n}\n"),
        ("b.hcl", "token \"b\" {\n  role = \"reader\"\n  rotation {\n    every = \"soon\"\n  }\n}\n"),
    ]);
    let (code, out, err) = run(&["validate"], dir.path());
    assert_eq!(code, 1);
    assert_eq!(out, "");
    assert!(err.contains("tokenform::config::invalid_role") && err.contains("member role"), "{err}");
    assert!(err.contains("tokenform::config::bad_duration") && err.contains("b.hcl:4:13"), "{err}");
    assert!(err.contains("(2 problems)"), "{err}");
    assert!(!err.contains('\u{1b}'), "colour escape in non-tty output: {err:?}");
}

#[test]
fn variables_from_flags_env_and_files() {
    let dir = config_dir(&[(
        "main.hcl",
        "variable \"team\" {\n  type = string\n}\ntoken \"a\" {\n  name = \"t-${var.team}\"\n  role = \"reader\"\n}\n",
    )]);
    let (code, _, err) = run(&["validate"], dir.path());
    assert_eq!(code, 1);
    assert!(err.contains("missing_variable"), "{err}");
    let (code, ..) = run(&["validate", "--var", "team=x"], dir.path());
    assert_eq!(code, 0);
    let out = tokenform()
        .arg("-C")
        .arg(dir.path())
        .arg("validate")
        .env("TOKENFORM_VAR_team", "y")
        .output()
        .unwrap();
    assert!(out.status.success());
    let vars = dir.path().join("vars.tfvars");
    std::fs::write(&vars, "team = \"z\"\n").unwrap();
    let (code, ..) = run(&["validate", "--var-file", vars.to_str().unwrap()], dir.path());
    assert_eq!(code, 0);
    let (code, _, err) = run(&["validate", "--var", "team"], dir.path());
    assert_eq!(code, 1);
    assert!(err.contains("NAME=VALUE"), "{err}");
}

#[test]
fn fmt_rewrites_check_reports_and_json_is_left_alone() {
    let messy = "token   \"a\" {\nrole=\"reader\" # keep me\n    description = \"d\"\n}\n";
    let json = "{\"token\":{\"b\":{\"role\":\"reader\"}}}";
    let dir = config_dir(&[("main.hcl", messy), ("extra.hcl.json", json)]);
    let (code, out, _) = run(&["fmt", "--check"], dir.path());
    assert_eq!(code, 1);
    assert!(out.contains("main.hcl") && !out.contains("extra"), "{out}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("main.hcl")).unwrap(),
        messy,
        "--check must not write"
    );

    let (code, _, _) = run(&["fmt"], dir.path());
    assert_eq!(code, 0);
    let formatted = std::fs::read_to_string(dir.path().join("main.hcl")).unwrap();
    assert_eq!(formatted, "token \"a\" {\n  role        = \"reader\" # keep me\n  description = \"d\"\n}\n");
    assert_eq!(std::fs::read_to_string(dir.path().join("extra.hcl.json")).unwrap(), json);
    let (code, out, _) = run(&["fmt", "--check"], dir.path());
    assert_eq!((code, out.as_str()), (0, ""));

    let broken = config_dir(&[("main.hcl", "token \"a\" {\n")]);
    let (code, _, err) = run(&["fmt"], broken.path());
    assert_eq!(code, 1);
    assert!(err.contains("tokenform::config::syntax"), "{err}");
}

/// Issue 11 items 1 and 2 through the binary: `validate` and `plan` on a pull request's
/// configuration naming files it must not read. An environment-like file inside the
/// directory is never echoed; `/dev/zero` (once 17 GB in 20 s), a link out to a device
/// and an escaping state path are refused without reading a byte; nothing is contacted.
#[test]
fn validate_and_plan_never_read_or_echo_what_the_configuration_points_at() {
    const KEY: &str = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
    let fake = "ghp_FakeFakeFake0123456789abcdefABCDEF01";
    let state = |body: &str| format!("state {{\n  recipients = [\"{KEY}\"]\n  {body}\n}}\n");
    let environ = format!("CI=true\0GITHUB_TOKEN={fake}\0HOME=/home/runner\0");
    let main = state("recipients_file = \"environ\"");
    let dir = config_dir(&[("main.hcl", &main), ("environ", &environ)]);
    for cmd in ["validate", "plan"] {
        let (code, out, err) = run(&[cmd], dir.path());
        assert_eq!(code, 1, "{cmd}: {err}");
        assert!(err.contains("\"environ\" line 1"), "{cmd}: {err}");
        for leak in ["FakeFake", "ghp_", "GITHUB_TOKEN", "/home/runner"] {
            assert!(!err.contains(leak) && !out.contains(leak), "{cmd} leaked {leak}: {err}");
        }
    }
    #[cfg(unix)]
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero")).unwrap();
    for (body, says) in [
        ("recipients_file = \"/dev/zero\"", "it is an absolute path"),
        #[cfg(unix)]
        ("recipients_file = \"zero\"", "a symbolic link on it leads out"),
        ("path = \"/dev/zero\"", "it is an absolute path"),
        ("path = \"../../victim.json\"", "it goes up with `..`"),
    ] {
        std::fs::write(dir.path().join("main.hcl"), state(body)).unwrap();
        let (code, _, err) = run(&["validate"], dir.path());
        let words = words(&err);
        assert_eq!(code, 1, "{body}: {err}");
        assert!(
            words.contains("is outside the configuration directory") && words.contains(says),
            "{body}: {err}"
        );
    }
}
