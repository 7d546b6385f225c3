//! `state pull | push | migrate`, `force-unlock` and `encrypt = "file"` on S3.

use std::time::Duration;

use super::{Bucket, Machine, fresh_key, s3};
use crate::support::{DevServer, names, read_completions, text, tokens, wait_until};
use tokenform::model::Address;
use tokenform::state::{EncryptMode, JournalRecord, LockMode, StateSettings, StateStore, TokenState};

#[test]
fn push_needs_the_same_lineage_and_a_higher_serial_unless_forced_and_pull_shows_previous_versions() {
    let Some(s3) = s3() else { return };
    let bucket = Bucket::new(&s3);
    let server = DevServer::start(&[]);
    let m = Machine::new(&server, &s3, &fresh_key());
    for n in 1..=7 {
        m.config(&tokens(n));
        m.ok(&["apply", "--auto-approve"]);
    }
    let pulled = m.ok(&["state", "pull"]);
    let state: serde_json::Value = serde_json::from_str(&pulled).unwrap();
    assert_eq!(state["serial"], 7);
    assert!(pulled.contains("BEGIN AGE ENCRYPTED FILE"), "ciphertexts stay ciphertexts");
    let previous: serde_json::Value =
        serde_json::from_str(&m.ok(&["state", "pull", "--previous", "1"])).unwrap();
    assert_eq!(previous["serial"], 6);
    assert_eq!(previous["tokens"].as_object().unwrap().len(), 6);
    let fifth: serde_json::Value =
        serde_json::from_str(&m.ok(&["state", "pull", "--previous", "5"])).unwrap();
    assert_eq!(fifth["serial"], 2);
    // The last five versions are kept, older ones removed.
    let versions = bucket.list(&format!("{}.previous", m.key));
    let serials: Vec<&str> = versions.iter().filter_map(|k| k.rsplit('/').next()).collect();
    assert_eq!(serials, ["2", "3", "4", "5", "6"], "{versions:?}");

    let file = m.dir.path().join("pushed.json");
    std::fs::write(&file, &pulled).unwrap();
    let path = file.to_str().unwrap();
    m.fails(&["state", "push", path], "tokenform::state::push_serial");
    let mut other = state.clone();
    other["lineage"] = "another-lineage".into();
    other["serial"] = 9.into();
    std::fs::write(&file, other.to_string()).unwrap();
    m.fails(&["state", "push", path], "tokenform::state::push_lineage");
    assert_eq!(m.state()["serial"], 7, "refused pushes write nothing");

    // Restoring the previous version, the way the parse error's help says.
    std::fs::write(&file, serde_json::to_string(&previous).unwrap()).unwrap();
    m.ok(&["state", "push", "--force", path]);
    let now = m.state();
    assert_eq!(now["serial"], 8, "a forced push is raised above the stored serial");
    assert_eq!(now["tokens"].as_object().unwrap().len(), 6);
    assert_eq!(m.plan_exit(), Some(2), "the seventh token is untracked again");
}

#[test]
fn migrate_copies_a_local_state_and_its_journal_and_refuses_another_lineage() {
    let Some(s3) = s3() else { return };
    let server = DevServer::start(&[]);
    let local_dir = tempfile::tempdir().unwrap();
    let local = local_dir.path().join("tokenform.state.json");
    let m = Machine::new(&server, &s3, &fresh_key());
    // A local state whose last change is only in its journal (a crashed apply).
    let settings = StateSettings::local(&local, vec![m.recipient.clone()], EncryptMode::Secrets);
    let lock = LockMode::Exclusive { timeout: Duration::ZERO, command: "seed".into() };
    let mut store = StateStore::open(&settings, lock.clone(), None).unwrap();
    store.record(upsert("saved", "0000000000000000000000a1")).unwrap();
    store.save().unwrap();
    store.record(upsert("journaled", "0000000000000000000000a2")).unwrap();
    drop(store);
    let before = std::fs::read(&local).unwrap();

    let from = local.to_str().unwrap();
    m.ok(&["state", "migrate", "--from", from]);
    let state = m.state();
    assert_eq!(state["serial"], 2);
    let addresses: Vec<&String> = state["tokens"].as_object().unwrap().keys().collect();
    assert_eq!(addresses, ["token.journaled", "token.saved"]);
    assert_eq!(std::fs::read(&local).unwrap(), before, "the source is left as it was");
    let again = m.run(&["state", "migrate", "--from", from]);
    assert!(again.status.success() && text(&again).contains("nothing to migrate"), "{}", text(&again));

    // Another local state (another lineage) is refused.
    let other_dir = tempfile::tempdir().unwrap();
    let other = StateSettings::local(
        other_dir.path().join("s.json"),
        vec![m.recipient.clone()],
        EncryptMode::Secrets,
    );
    let mut store = StateStore::open(&other, lock, None).unwrap();
    store.record(upsert("x", "0000000000000000000000b1")).unwrap();
    store.save().unwrap();
    drop(store);
    m.fails(
        &["state", "migrate", "--from", other.path.to_str().unwrap()],
        "tokenform::state::migrate_lineage",
    );
    assert_eq!(m.state()["serial"], 2);
}

#[test]
fn force_unlock_releases_a_killed_holders_lock_once_it_lapsed_and_refuses_a_live_one() {
    let Some(s3) = s3() else { return };
    let bucket = Bucket::new(&s3);
    let server = DevServer::start(&["--latency-ms", "300"]);
    let m = Machine::new(&server, &s3, &fresh_key());
    m.config(&tokens(1));
    m.ok(&["apply", "--auto-approve"]);
    m.ok(&["force-unlock", "nothing-held"]);
    m.config(&tokens(16));
    let mut child = m.spawn_apply();
    read_completions(&mut child, 1);
    let lock_key = format!("{}.lock", m.key);
    let held: serde_json::Value = serde_json::from_slice(&bucket.get(&lock_key).unwrap()).unwrap();
    let id = held["id"].as_str().unwrap().to_owned();
    let err = m.fails(&["force-unlock", "0000"], "tokenform::state::lock_id_mismatch");
    assert!(err.contains(&id), "{err}");
    let err = m.fails(&["force-unlock", &id], "tokenform::state::lock_owner_alive");
    assert!(err.contains("renewed it"), "{err}");
    child.kill().unwrap();
    child.wait().unwrap();
    // The killed holder renews no more: once its lease lapsed, force-unlock releases it.
    let mut out = m.run(&["force-unlock", &id]);
    wait_until("the killed holder's lease to lapse", || {
        out = m.run(&["force-unlock", &id]);
        out.status.success()
    });
    assert!(text(&out).contains("Removed the lock"), "{}", text(&out));
    let released: serde_json::Value = serde_json::from_slice(&bucket.get(&lock_key).unwrap()).unwrap();
    assert!(released["released"].is_string() && released["id"] == id.as_str(), "{released}");
    m.ok(&["apply", "--auto-approve"]);
    assert_eq!(m.plan_exit(), Some(0));
}

#[test]
fn a_lock_taken_over_behind_a_running_apply_fails_its_next_write_and_the_other_machine_recovers() {
    let Some(s3) = s3() else { return };
    let bucket = Bucket::new(&s3);
    let server = DevServer::start(&["--latency-ms", "150"]);
    let a = Machine::new(&server, &s3, &fresh_key());
    let b = a.twin();
    a.config(&tokens(16));
    b.config(&tokens(16));
    let mut child = a.spawn_apply();
    read_completions(&mut child, 2);
    // Another holder's (released) lock replaces A's behind its back: A's next renewal
    // finds another ETag and stops A's writes.
    let intruder = serde_json::json!({
        "id": "intruder", "who": "intruder@elsewhere", "operation": "apply",
        "created": "2026-01-01T00:00:00Z", "version": "0", "path": "p",
        "renewed": "2026-01-01T00:00:00Z", "lease_seconds": 3, "released": "2026-01-01T00:00:00Z"
    });
    bucket.put(&format!("{}.lock", a.key), intruder.to_string().into_bytes());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("tokenform::state::s3::lock_lost"), "{}", text(&out));

    b.ok(&["apply", "--auto-approve"]);
    assert_eq!(b.plan_exit(), Some(0));
    assert_eq!(server.live_names(), names(16), "no duplicate token");
    b.assert_every_secret_authenticates();
}

fn upsert(label: &str, id: &str) -> JournalRecord {
    let token = TokenState::new(id, label, "reader", jiff::Timestamp::UNIX_EPOCH);
    JournalRecord::Upsert { address: Address::new(label), token: Box::new(token) }
}

#[test]
fn encrypt_file_seals_the_document_and_the_journal_in_the_bucket_too() {
    let Some(s3) = s3() else { return };
    let bucket = Bucket::new(&s3);
    let server = DevServer::start(&[]);
    let m = Machine::new(&server, &s3, &fresh_key());
    m.config(&tokens(2));
    let hcl = std::fs::read_to_string(m.dir.path().join("main.hcl")).unwrap();
    std::fs::write(
        m.dir.path().join("main.hcl"),
        hcl.replace("  backend \"s3\"", "  encrypt = \"file\"\n  backend \"s3\""),
    )
    .unwrap();
    let with_id =
        |args: &[&str]| m.cmd().env("TOKENFORM_IDENTITY_FILE", &m.identity).args(args).output().unwrap();
    let out = with_id(&["apply", "--auto-approve"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let document = String::from_utf8(bucket.get(&m.key).unwrap()).unwrap();
    assert!(document.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"), "{document}");
    assert!(!document.contains("t000"), "token names are sealed too");
    m.fails(&["state", "list"], "tokenform::state::no_identity");
    let listed = with_id(&["state", "list"]);
    assert_eq!(String::from_utf8_lossy(&listed.stdout), "token.t000\ntoken.t001\n");
    assert_eq!(with_id(&["plan", "--detailed-exitcode"]).status.code(), Some(0));

    // A record left in the journal (a crashed run) is sealed as well, and replays.
    let mut settings =
        StateSettings::local(m.dir.path().join("unused.json"), vec![m.recipient.clone()], EncryptMode::File);
    settings.backend = tokenform::state::BackendSettings::S3(tokenform::state::settings::S3Settings {
        bucket: s3.bucket.clone(),
        key: m.key.clone(),
        region: None,
        endpoint: Some(s3.endpoint.clone()),
        lock_lease: Duration::from_secs(3),
    });
    let secret = |v: &str| tokenform::secret::Secret::new(v.to_owned());
    let env = tokenform::state::BackendEnv::new(
        [
            ("AWS_ACCESS_KEY_ID".to_owned(), secret(&s3.access_key)),
            ("AWS_SECRET_ACCESS_KEY".to_owned(), secret(&s3.secret_key)),
        ],
        None,
    );
    let ids = tokenform::state::Identities::load(&m.identity).unwrap();
    let lock = LockMode::Exclusive { timeout: Duration::ZERO, command: "seed".into() };
    let mut store = StateStore::open_in(&settings, &env, lock, Some(&ids)).unwrap();
    store.record(upsert("crashed", "0000000000000000000000c1")).unwrap();
    drop(store);
    let record = String::from_utf8(bucket.get(&format!("{}.journal/1/1", m.key)).unwrap()).unwrap();
    assert!(record.contains("{\"sealed\":\"-----BEGIN AGE ENCRYPTED FILE-----"), "{record}");
    assert!(!record.contains("crashed"));
    let listed = with_id(&["state", "list"]);
    assert!(String::from_utf8_lossy(&listed.stdout).contains("token.crashed"), "{}", text(&listed));
}
