//! Interop with the stock tools: `age -d -i KEY` opens what tokenform seals (secrets and,
//! with `encrypt = "file"`, the whole state); tokenform opens what `age -e -r` wrote;
//! OpenSSH keys from `ssh-keygen` work as recipients and identities.

use std::process::Command;
use std::time::Duration;

use tokenform::config::EncryptMode;
use tokenform::secret::Secret;
use tokenform::state::model::State;
use tokenform::state::{Identities, LockMode, StateError, StateStore};

use super::{age_key, settings, tool};

const SECRET: &str = "api-0a1b2c3d-0000-4000-8000-00000000beef";

fn exclusive() -> LockMode {
    LockMode::Exclusive { timeout: Duration::ZERO, command: "test".into() }
}

#[test]
fn age_cli_decrypts_a_sealed_secret() {
    let dir = tempfile::tempdir().unwrap();
    let (key, recipient) = age_key(dir.path(), "k");
    let store =
        StateStore::open(&settings(dir.path(), &[&recipient], EncryptMode::Secrets), LockMode::Shared, None)
            .unwrap();
    let record = store.seal(&Secret::new(SECRET), &[], jiff::Timestamp::now()).unwrap();
    let ct = dir.path().join("secret.age");
    std::fs::write(&ct, &record.ciphertext).unwrap();
    assert_eq!(tool(Command::new("age").arg("-d").arg("-i").arg(&key).arg(&ct)), SECRET.as_bytes());
}

#[test]
fn age_cli_decrypts_a_whole_file_mode_state() {
    let dir = tempfile::tempdir().unwrap();
    let (key, recipient) = age_key(dir.path(), "k");
    let settings = settings(dir.path(), &[&recipient], EncryptMode::File);
    let ids = Identities::load(&key).unwrap();
    let mut store = StateStore::open(&settings, exclusive(), Some(&ids)).unwrap();
    store.save().unwrap();
    let lineage = store.state().lineage.clone();
    drop(store);
    assert!(
        std::fs::read_to_string(&settings.path).unwrap().starts_with("-----BEGIN AGE ENCRYPTED FILE-----")
    );
    let plain = tool(Command::new("age").arg("-d").arg("-i").arg(&key).arg(&settings.path));
    let state: State = serde_json::from_slice(&plain).unwrap();
    assert_eq!((state.serial, state.lineage), (1, lineage));
}

#[test]
fn tokenform_reads_files_the_age_cli_encrypted_armored_or_binary() {
    let dir = tempfile::tempdir().unwrap();
    let (key, recipient) = age_key(dir.path(), "k");
    let ids = Identities::load(&key).unwrap();
    let settings = settings(dir.path(), &[&recipient], EncryptMode::File);
    let mut doc = State::new();
    doc.serial = 41;
    let json = dir.path().join("plain.json");
    std::fs::write(&json, serde_json::to_vec(&doc).unwrap()).unwrap();
    for armor in [true, false] {
        let mut cmd = Command::new("age");
        cmd.arg("-e").arg("-r").arg(&recipient).arg("-o").arg(&settings.path);
        if armor {
            cmd.arg("-a");
        }
        std::fs::remove_file(&settings.path).ok();
        tool(cmd.arg(&json));
        let store = StateStore::open(&settings, LockMode::Shared, Some(&ids)).unwrap();
        assert_eq!(store.state(), &doc, "armor: {armor}");
    }

    // A secret ciphertext written by `age -e -a` is unsealed too.
    let secret_file = dir.path().join("secret.txt");
    std::fs::write(&secret_file, SECRET).unwrap();
    let ciphertext = tool(Command::new("age").args(["-e", "-a", "-r", &recipient]).arg(&secret_file));
    let record = tokenform::state::SecretRecord {
        ciphertext: String::from_utf8(ciphertext).unwrap(),
        last4: "beef".into(),
        issued_at: jiff::Timestamp::now(),
        recipients: vec![recipient],
    };
    assert_eq!(StateStore::unseal(&record, &ids).unwrap().expose(), SECRET);
}

/// A fresh OpenSSH key pair of `kind` (`ed25519`, `rsa`); returns (private path, public line).
fn ssh_key(dir: &std::path::Path, kind: &str, passphrase: &str) -> (std::path::PathBuf, String) {
    let path = dir.join(format!("id_{kind}"));
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-t", kind, "-N", passphrase, "-C", "test@tokenform", "-f"]).arg(&path);
    if kind == "rsa" {
        cmd.args(["-b", "2048"]);
    }
    tool(&mut cmd);
    let public = std::fs::read_to_string(path.with_extension("pub")).unwrap().trim().to_owned();
    (path, public)
}

#[test]
fn openssh_keys_are_recipients_and_identities_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let (ed_key, ed_pub) = ssh_key(dir.path(), "ed25519", "");
    let (rsa_key, rsa_pub) = ssh_key(dir.path(), "rsa", "");
    let store = StateStore::open(
        &settings(dir.path(), &[&ed_pub, &rsa_pub], EncryptMode::Secrets),
        LockMode::Shared,
        None,
    )
    .unwrap();
    let record = store.seal(&Secret::new(SECRET), &[], jiff::Timestamp::now()).unwrap();
    let ct = dir.path().join("secret.age");
    std::fs::write(&ct, &record.ciphertext).unwrap();
    for key in [&ed_key, &rsa_key] {
        let ids = Identities::load(key).unwrap();
        assert_eq!(StateStore::unseal(&record, &ids).unwrap().expose(), SECRET);
        assert_eq!(tool(Command::new("age").arg("-d").arg("-i").arg(key).arg(&ct)), SECRET.as_bytes());
    }
}

#[test]
fn a_passphrase_protected_ssh_key_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = ssh_key(dir.path(), "ed25519", "hunter22");
    let err = Identities::load(&key).unwrap_err();
    assert!(matches!(err, StateError::Identity { .. }), "{err:?}");
    assert!(err.to_string().contains("passphrase"), "{err}");
}

#[test]
fn an_age_identity_file_with_several_keys_opens_a_secret_for_any_of_them() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = age_key(dir.path(), "a");
    let (b, recipient_b) = age_key(dir.path(), "b");
    let both = dir.path().join("both");
    let text = format!(
        "# team keys\n{}\n# second\n{}",
        std::fs::read_to_string(&a).unwrap(),
        std::fs::read_to_string(&b).unwrap()
    );
    std::fs::write(&both, text).unwrap();
    let store = StateStore::open(
        &settings(dir.path(), &[&recipient_b], EncryptMode::Secrets),
        LockMode::Shared,
        None,
    )
    .unwrap();
    let record = store.seal(&Secret::new(SECRET), &[], jiff::Timestamp::now()).unwrap();
    let ids = Identities::load(&both).unwrap();
    assert_eq!(ids.identities.len(), 2);
    assert_eq!(StateStore::unseal(&record, &ids).unwrap().expose(), SECRET);
}
