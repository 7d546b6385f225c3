//! `tokenform keygen` and `tokenform init` through the real binary.

use std::os::unix::fs::PermissionsExt;

use super::tool;
use crate::support::tokenform;

#[test]
fn keygen_writes_a_0600_identity_that_age_keygen_reads() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.txt");
    let out = tokenform().arg("keygen").arg("-o").arg(&key).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let recipient = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(recipient.starts_with("age1"), "{recipient}");
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    let text = std::fs::read_to_string(&key).unwrap();
    assert!(text.starts_with("# created: "), "{text}");
    assert!(text.contains(&format!("# public key: {recipient}\n")));
    // The stock tool derives the same recipient from the file.
    let derived = tool(std::process::Command::new("age-keygen").arg("-y").arg(&key));
    assert_eq!(String::from_utf8(derived).unwrap().trim(), recipient);

    // Never overwrites.
    let again = tokenform().arg("keygen").arg("-o").arg(&key).output().unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert_eq!(std::fs::read_to_string(&key).unwrap(), text);
}

#[test]
fn keygen_without_output_prints_the_identity_and_the_recipient_on_stderr() {
    let out = tokenform().arg("keygen").output().unwrap();
    assert!(out.status.success());
    let identity = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let secret_line = identity.lines().find(|l| l.starts_with("AGE-SECRET-KEY-1")).unwrap();
    let recipient = stderr.trim().strip_prefix("Public key: ").unwrap();
    assert!(!stderr.contains(secret_line));
    assert_eq!(tokenform::state::identity::recipients_of(identity.as_bytes()).unwrap(), vec![recipient]);
}

#[test]
fn init_writes_a_starter_config_and_identity_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let out = tokenform().arg("-C").arg(dir.path()).arg("init").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key = dir.path().join("tokenform.key");
    let main = dir.path().join("main.hcl");
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    let key_text = std::fs::read_to_string(&key).unwrap();
    let recipient = tokenform::state::identity::recipients_of(key_text.as_bytes()).unwrap().remove(0);
    let main_text = std::fs::read_to_string(&main).unwrap();
    assert!(main_text.contains(&format!("recipients = [\"{recipient}\"]")), "{main_text}");
    assert!(main_text.contains("token \"ci_reader\""));
    let out = tokenform().arg("-C").arg(dir.path()).arg("validate").output().unwrap();
    assert!(out.status.success(), "the starter config is valid: {}", String::from_utf8_lossy(&out.stderr));

    // A second run changes nothing.
    let out = tokenform().arg("-C").arg(dir.path()).arg("init").output().unwrap();
    assert!(out.status.success());
    assert_eq!(std::fs::read_to_string(&key).unwrap(), key_text);
    assert_eq!(std::fs::read_to_string(&main).unwrap(), main_text);
}

#[test]
fn init_keeps_the_embedded_emulator_data_out_of_git_once() {
    let init = |dir: &std::path::Path| {
        let out = tokenform().arg("-C").arg(dir).arg("init").output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        std::fs::read_to_string(dir.join(".gitignore")).unwrap()
    };
    let count = |text: &str| text.lines().filter(|l| l.trim() == ".tokenform/").count();
    let keys = |text: &str| text.lines().filter(|l| l.trim() == "tokenform.key").count();
    // A fresh directory gets a .gitignore; a second run leaves it as it is.
    let dir = tempfile::tempdir().unwrap();
    let first = init(dir.path());
    assert_eq!(count(&first), 1, "{first}");
    assert_eq!(keys(&first), 1, "the private identity is ignored too: {first}");
    assert_eq!(init(dir.path()), first);

    // An existing .gitignore (without a final newline) keeps its lines and gains one, once.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".gitignore"), "target/\n*.log").unwrap();
    let appended = init(dir.path());
    assert!(appended.starts_with("target/\n*.log\n"), "{appended}");
    assert_eq!(count(&appended), 1, "{appended}");
    assert_eq!(keys(&appended), 1, "{appended}");
    assert_eq!(init(dir.path()), appended, "never duplicated");

    // Already ignored in another spelling: untouched.
    for spelling in [
        "/.tokenform\n/tokenform.key\n",
        "**/.tokenform/\ntokenform.key\n",
        ".tokenform/   \n**/tokenform.key\n",
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".gitignore"), spelling).unwrap();
        assert_eq!(init(dir.path()), spelling);
    }
    // One of the two already there: only the other is added.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".gitignore"), "/.tokenform\n").unwrap();
    let added = init(dir.path());
    assert_eq!(added.lines().filter(|l| l.contains(".tokenform")).count(), 1, "{added}");
    assert_eq!(keys(&added), 1, "{added}");
}

#[test]
fn init_keeps_an_existing_key_and_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let (_, recipient) = super::age_key(dir.path(), "tokenform.key");
    let out = tokenform().arg("-C").arg(dir.path()).arg("init").output().unwrap();
    assert!(out.status.success());
    let main_text = std::fs::read_to_string(dir.path().join("main.hcl")).unwrap();
    assert!(main_text.contains(&recipient), "the starter config uses the existing key's recipient");

    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("tokens.hcl"), "# mine\n").unwrap();
    let out = tokenform().arg("-C").arg(other.path()).arg("init").output().unwrap();
    assert!(out.status.success());
    assert!(!other.path().join("main.hcl").exists(), "no second configuration beside an existing one");
    assert!(String::from_utf8_lossy(&out.stderr).contains("recipients = [\"age1"));
}
