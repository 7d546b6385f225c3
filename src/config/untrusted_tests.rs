//! The configuration as an attacker writes it (issue 11 items 1, 2, 5): files it names
//! stay inside the configuration directory, every read is bounded and regular-only, and
//! no diagnostic quotes a file's content beyond one masked, recipient-shaped word. Every
//! file lives under a temp directory; nothing outside it is read.

use std::path::Path;

use super::diagnostics::{Problem, render};
use super::*;

const KEY: &str = "age17rmdjdkhln5l0d4srq5swyt4k68mpqpxf84dgs3xy8hw6fv9rykssqlygq";
const FAKE_GH: &str = "ghp_FakeFakeFake0123456789abcdefABCDEF01";

fn write(dir: &Path, name: &str, body: &[u8]) {
    std::fs::write(dir.join(name), body).unwrap();
}

fn problems(dir: &Path) -> Vec<Problem> {
    load_problems(dir, &VarInputs::default()).err().unwrap_or_default()
}

fn state_block(body: &str) -> String {
    format!("state {{\n  recipients = [\"{KEY}\"]\n  {body}\n}}\n")
}

/// Every problem rendered as a person sees it (source snippets included).
fn shown(ps: &[Problem]) -> String {
    render(ps, false)
}

#[test]
fn an_environment_block_in_a_recipients_file_is_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let environ = format!(
        "PATH=/usr/bin\0HOME=/home/runner\0GITHUB_TOKEN={FAKE_GH}\0LAUNCHDARKLY_ACCESS_TOKEN=api-0a1b2c3d-0000-4000-8000-00000000beef\0"
    );
    write(dir.path(), "env.txt", environ.as_bytes());
    write(dir.path(), "main.hcl", state_block("recipients_file = \"env.txt\"").as_bytes());
    let ps = problems(dir.path());
    assert!(!ps.is_empty());
    let out = shown(&ps);
    for leak in ["ghp_", "FakeFake", "GITHUB_TOKEN", "HOME=", "/home/runner", "beef", "PATH="] {
        assert!(!out.contains(leak), "{leak} leaked:\n{out}");
    }
    assert!(out.contains("\"env.txt\" line 1"), "{out}");
}

#[test]
fn a_password_file_gives_a_few_masked_problems_not_one_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let passwd = (0..24)
        .map(|i| format!("user{i}:x:{i}:{i}:User {i}:/home/user{i}:/bin/bash"))
        .collect::<Vec<_>>()
        .join("\n");
    write(dir.path(), "passwd", passwd.as_bytes());
    write(dir.path(), "main.hcl", state_block("recipients_file = \"passwd\"").as_bytes());
    let ps = problems(dir.path());
    assert_eq!(ps.len(), 6, "five line problems and one 'and 19 more'");
    assert!(ps.last().is_some_and(|p| p.message.contains("19 more bad lines")));
    let out = shown(&ps);
    assert!(!out.contains("/bin/bash") && !out.contains("user3"), "{out}");
}

#[test]
fn recipients_files_outside_the_directory_are_refused_unread() {
    let outside = tempfile::tempdir().unwrap();
    write(outside.path(), "secret.txt", format!("GITHUB_TOKEN={FAKE_GH}\n").as_bytes());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(outside.path().join("secret.txt"), d.join("link.txt")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", d.join("zero")).unwrap();
        std::os::unix::fs::symlink(outside.path(), d.join("shared")).unwrap();
    }
    let absolute = outside.path().join("secret.txt").display().to_string();
    let cases: Vec<(String, &str)> = vec![
        (absolute, "it is an absolute path"),
        ("/dev/zero".into(), "it is an absolute path"),
        ("../secret.txt".into(), "it goes up with `..`"),
        #[cfg(unix)]
        ("link.txt".into(), "a symbolic link on it leads out"),
        #[cfg(unix)]
        ("zero".into(), "a symbolic link on it leads out"),
        #[cfg(unix)]
        ("shared/secret.txt".into(), "a symbolic link on it leads out"),
    ];
    for (named, why) in cases {
        write(d, "main.hcl", state_block(&format!("recipients_file = \"{named}\"")).as_bytes());
        let ps = problems(d);
        assert_eq!(ps.len(), 1, "{named}: {ps:?}");
        assert_eq!(ps[0].rule.name(), "bad_recipients_file");
        assert!(
            ps[0].message.contains("is outside the configuration directory") && ps[0].message.contains(why),
            "{}",
            ps[0].message
        );
        assert!(!shown(&ps).contains("Fake"), "{named}");
    }
}

#[cfg(unix)]
#[test]
fn non_regular_and_oversized_recipients_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("adir")).unwrap();
    assert!(std::process::Command::new("mkfifo").arg(d.join("fifo")).status().unwrap().success());
    let cap = usize::try_from(crate::files::Kind::Recipients.cap()).unwrap();
    write(d, "big.txt", &vec![b'#'; cap + 1]);
    for (named, says) in [
        ("adir", "is a directory, not a regular file"),
        // No writer ever opens the FIFO: a blocking open would hang the test.
        ("fifo", "is a FIFO, not a regular file"),
        ("big.txt", "is larger than 1 MiB, more than tokenform reads for a recipients file"),
    ] {
        write(d, "main.hcl", state_block(&format!("recipients_file = \"{named}\"")).as_bytes());
        let ps = problems(d);
        assert_eq!(ps.len(), 1, "{named}: {ps:?}");
        assert!(ps[0].message.contains(says), "{}", ps[0].message);
    }
}

#[test]
fn the_state_path_stays_inside_the_configuration_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (path, why) in [
        ("../../victim.json", "it goes up with `..`"),
        ("/tmp/victim.json", "it is an absolute path"),
        ("/dev/zero", "it is an absolute path"),
        ("state/../../victim.json", "it goes up with `..`"),
    ] {
        write(d, "main.hcl", state_block(&format!("path = \"{path}\"")).as_bytes());
        let ps = problems(d);
        assert_eq!(ps.len(), 1, "{path}: {ps:?}");
        assert_eq!(ps[0].rule.name(), "invalid_value");
        assert!(ps[0].message.contains(why), "{}", ps[0].message);
        assert!(ps[0].span.is_some(), "points at the attribute");
    }
    write(d, "main.hcl", state_block("path = \"state/prod.json\"").as_bytes());
    let config = load_problems(d, &VarInputs::default()).unwrap();
    assert_eq!(config.state.path, d.join("state/prod.json"), "a directory that does not exist yet is fine");
}

#[cfg(unix)]
#[test]
fn a_state_directory_linked_out_is_refused() {
    let outside = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("state")).unwrap();
    write(dir.path(), "main.hcl", state_block("path = \"state/prod.json\"").as_bytes());
    let ps = problems(dir.path());
    assert_eq!(ps.len(), 1, "{ps:?}");
    assert!(ps[0].message.contains("a symbolic link on it leads out"), "{}", ps[0].message);
}

#[cfg(unix)]
#[test]
fn a_configuration_file_linked_out_is_not_read_or_quoted() {
    let outside = tempfile::tempdir().unwrap();
    write(outside.path(), "env", format!("GITHUB_TOKEN={FAKE_GH}\n{{{{ not hcl").as_bytes());
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "main.hcl", state_block("").as_bytes());
    std::os::unix::fs::symlink(outside.path().join("env"), dir.path().join("extra.hcl")).unwrap();
    let ps = problems(dir.path());
    assert_eq!(ps.len(), 1, "{ps:?}");
    assert_eq!(ps[0].rule.name(), "read_error");
    assert!(!shown(&ps).contains("Fake"), "{}", shown(&ps));
}
