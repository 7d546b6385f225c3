//! Unit tests of the store: lifecycle, journal replay, encryption modes, and every bad
//! input leaving the file byte-for-byte unchanged.

use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::model::Address;
use crate::state::atomic::{FaultPoint, INJECT, backup_path};
use crate::state::model::TokenState;

const SECRET: &str = "api-0a1b2c3d-0000-4000-8000-00000000beef";

struct Fixture {
    dir: tempfile::TempDir,
    ids: Identities,
    recipient: String,
}

impl Fixture {
    fn new() -> Self {
        let id = age::x25519::Identity::generate();
        let recipient = id.to_public().to_string();
        Self {
            dir: tempfile::tempdir().unwrap(),
            ids: Identities { identities: vec![Box::new(id)] },
            recipient,
        }
    }

    fn settings(&self, encrypt: EncryptMode) -> StateSettings {
        StateSettings::local(self.path(), vec![self.recipient.clone()], encrypt)
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("tokenform.state.json")
    }
}

fn exclusive() -> LockMode {
    LockMode::Exclusive { timeout: Duration::ZERO, command: "test".into() }
}

fn token(id: &str, secret: Option<SecretRecord>) -> Box<TokenState> {
    Box::new(TokenState {
        id: id.into(),
        name: format!("name-{id}"),
        description: None,
        role: Some("reader".into()),
        custom_role_ids: vec![],
        custom_role_keys: vec![],
        inline_role: None,
        service_token: true,
        api_version: None,
        expiry: None,
        created_at: jiff::Timestamp::UNIX_EPOCH,
        member_id: None,
        prevent_destroy: false,
        secret,
        terraform_address: None,
        undelivered: Vec::new(),
    })
}

fn upsert(label: &str, t: Box<TokenState>) -> JournalRecord {
    JournalRecord::Upsert { address: Address::new(label), token: t }
}

#[test]
fn missing_file_is_a_fresh_state_and_saves_bump_the_serial_keeping_lineage() {
    let f = Fixture::new();
    let settings = f.settings(EncryptMode::Secrets);
    let mut store = StateStore::open(&settings, exclusive(), None).unwrap();
    assert_eq!(store.state().serial, 0);
    assert!(store.state().tokens.is_empty());
    let lineage = store.state().lineage.clone();
    assert!(uuid::Uuid::parse_str(&lineage).is_ok());
    assert!(crate::state::lock::lock_path(&f.path()).exists(), "the lock file exists while held");

    store.record(upsert("a", token("1", None))).unwrap();
    store.save().unwrap();
    store.save().unwrap();
    assert_eq!(store.state().serial, 2);
    drop(store);
    assert!(!crate::state::lock::lock_path(&f.path()).exists());
    assert!(!journal::journal_path(&f.path()).exists());

    let again = StateStore::open(&settings, LockMode::Shared, None).unwrap();
    assert_eq!(again.state().serial, 2);
    assert_eq!(again.state().lineage, lineage);
    assert_eq!(again.state().tokens[&Address::new("a")].id, "1");
    let backup: State = serde_json::from_slice(&std::fs::read(backup_path(&f.path(), 1)).unwrap()).unwrap();
    assert_eq!(backup.serial, 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(f.path()).unwrap().permissions().mode() & 0o777, 0o600);
    }
}

#[test]
fn seal_and_unseal_round_trip_with_extra_recipients() {
    let f = Fixture::new();
    let other = age::x25519::Identity::generate();
    let store = StateStore::open(&f.settings(EncryptMode::Secrets), LockMode::Shared, None).unwrap();
    let now = jiff::Timestamp::now();
    let rec = store.seal(&Secret::new(SECRET), &[other.to_public().to_string()], now).unwrap();
    assert_eq!(rec.last4, "beef");
    assert_eq!(rec.issued_at, now);
    assert_eq!(rec.recipients, vec![f.recipient.clone(), other.to_public().to_string()]);
    assert!(!rec.ciphertext.contains("beef"));
    assert_eq!(StateStore::unseal(&rec, &f.ids).unwrap().expose(), SECRET);
    let other_ids = Identities { identities: vec![Box::new(other)] };
    assert_eq!(StateStore::unseal(&rec, &other_ids).unwrap().expose(), SECRET);
    let stranger = Identities { identities: vec![Box::new(age::x25519::Identity::generate())] };
    let err = StateStore::unseal(&rec, &stranger).unwrap_err();
    assert!(matches!(err, StateError::Decrypt { .. }));
    assert!(!format!("{err:?}").contains(SECRET));
}

#[test]
fn seal_refuses_without_recipients_or_with_a_bad_one() {
    let f = Fixture::new();
    let mut settings = f.settings(EncryptMode::Secrets);
    settings.recipients.clear();
    let store = StateStore::open(&settings, LockMode::Shared, None).unwrap();
    let now = jiff::Timestamp::now();
    assert!(matches!(store.seal(&Secret::new(SECRET), &[], now), Err(StateError::NoRecipients { .. })));
    let err = store.seal(&Secret::new(SECRET), &["age1notakey".into()], now).unwrap_err();
    assert!(matches!(err, StateError::BadRecipient { .. }), "{err:?}");
}

#[test]
fn shared_store_cannot_write() {
    let f = Fixture::new();
    let mut store = StateStore::open(&f.settings(EncryptMode::Secrets), LockMode::Shared, None).unwrap();
    assert!(matches!(store.record(upsert("a", token("1", None))), Err(StateError::ReadOnly { .. })));
    assert!(matches!(store.save(), Err(StateError::ReadOnly { .. })));
    assert!(!f.path().exists());
}

#[test]
fn a_crash_after_records_is_replayed_then_compacted_with_the_same_serial() {
    let f = Fixture::new();
    let settings = f.settings(EncryptMode::Secrets);
    let mut store = StateStore::open(&settings, exclusive(), None).unwrap();
    store.save().unwrap(); // serial 1 on disk
    let sealed = store.seal(&Secret::new(SECRET), &[], jiff::Timestamp::now()).unwrap();
    store.record(upsert("a", token("1", Some(sealed)))).unwrap();
    store.record(upsert("b", token("2", None))).unwrap();
    store.record(JournalRecord::Remove { address: Address::new("b") }).unwrap();
    assert_eq!(store.state().serial, 2);
    drop(store); // crash: no save
    let on_disk = std::fs::read(f.path()).unwrap();

    let shared = StateStore::open(&settings, LockMode::Shared, None).unwrap();
    assert_eq!(shared.state().serial, 2, "replayed state reports serial + 1");
    assert_eq!(shared.state().tokens.len(), 1);
    let secret = shared.state().tokens[&Address::new("a")].secret.as_ref().unwrap();
    assert_eq!(StateStore::unseal(secret, &f.ids).unwrap().expose(), SECRET);
    assert_eq!(std::fs::read(f.path()).unwrap(), on_disk, "shared open never writes");
    assert!(journal::journal_path(&f.path()).exists());
    let replayed = shared.state().clone();
    drop(shared);

    let store = StateStore::open(&settings, exclusive(), None).unwrap();
    assert_eq!(store.state(), &replayed, "compaction keeps what the shared reader saw");
    assert!(!journal::journal_path(&f.path()).exists());
    drop(store);
    let reread = StateStore::open(&settings, LockMode::Shared, None).unwrap();
    assert_eq!(reread.state(), &replayed);
}

#[test]
fn a_journal_without_a_state_file_keeps_its_lineage() {
    let f = Fixture::new();
    let settings = f.settings(EncryptMode::Secrets);
    let mut store = StateStore::open(&settings, exclusive(), None).unwrap();
    let lineage = store.state().lineage.clone();
    store.record(upsert("a", token("1", None))).unwrap();
    drop(store);
    assert!(!f.path().exists());
    let store = StateStore::open(&settings, exclusive(), None).unwrap();
    assert_eq!(store.state().lineage, lineage);
    assert_eq!(store.state().serial, 1);
    assert_eq!(store.state().tokens.len(), 1);
}

#[test]
fn a_stale_journal_left_after_a_save_is_ignored() {
    let f = Fixture::new();
    let settings = f.settings(EncryptMode::Secrets);
    let mut store = StateStore::open(&settings, exclusive(), None).unwrap();
    store.record(upsert("a", token("1", None))).unwrap();
    let journal = std::fs::read(journal::journal_path(&f.path())).unwrap();
    store.save().unwrap();
    drop(store);
    // A crash between the rename and the journal removal.
    std::fs::write(journal::journal_path(&f.path()), &journal).unwrap();
    std::fs::write(
        journal::journal_path(&f.path()),
        [
            journal,
            serde_json::to_vec(&JournalRecord::Remove { address: Address::new("a") }).unwrap(),
            b"\n".to_vec(),
        ]
        .concat(),
    )
    .unwrap();
    let store = StateStore::open(&settings, LockMode::Shared, None).unwrap();
    assert_eq!(store.state().serial, 1);
    assert_eq!(store.state().tokens.len(), 1, "the stale Remove is not applied");
}

#[test]
fn file_mode_encrypts_the_document_and_the_journal() {
    let f = Fixture::new();
    let settings = f.settings(EncryptMode::File);
    let mut store = StateStore::open(&settings, exclusive(), Some(&f.ids)).unwrap();
    store.record(upsert("a", token("1", None))).unwrap();
    let journal = std::fs::read_to_string(journal::journal_path(&f.path())).unwrap();
    assert!(!journal.contains("name-1"), "journal records are sealed: {journal}");
    store.save().unwrap();
    drop(store);
    let bytes = std::fs::read(f.path()).unwrap();
    assert!(crypto::is_age(&bytes));
    assert!(!String::from_utf8_lossy(&bytes).contains("name-1"));

    let err = StateStore::open(&settings, exclusive(), None).unwrap_err();
    assert!(matches!(err, StateError::NoIdentity { .. }), "{err:?}");
    let stranger = Identities { identities: vec![Box::new(age::x25519::Identity::generate())] };
    let err = StateStore::open(&settings, exclusive(), Some(&stranger)).unwrap_err();
    assert!(matches!(err, StateError::Decrypt { .. }), "{err:?}");
    assert_eq!(std::fs::read(f.path()).unwrap(), bytes);

    // A crash with sealed journal lines: replay needs (and uses) the identity.
    let mut store = StateStore::open(&settings, exclusive(), Some(&f.ids)).unwrap();
    store.record(upsert("b", token("2", None))).unwrap();
    drop(store);
    assert!(matches!(
        StateStore::open(&settings, LockMode::Shared, None),
        Err(StateError::NoIdentity { .. })
    ));
    let store = StateStore::open(&settings, LockMode::Shared, Some(&f.ids)).unwrap();
    assert_eq!(store.state().tokens.len(), 2);
}

#[test]
fn a_fault_before_rename_keeps_the_previous_state_loadable() {
    let f = Fixture::new();
    let settings = f.settings(EncryptMode::Secrets);
    let mut store = StateStore::open(&settings, exclusive(), None).unwrap();
    store.record(upsert("a", token("1", None))).unwrap();
    store.save().unwrap();
    let before = std::fs::read(f.path()).unwrap();
    store.record(upsert("b", token("2", None))).unwrap();
    INJECT.with(|i| i.set(Some(FaultPoint::BeforeRename)));
    let err = store.save().unwrap_err();
    INJECT.with(|i| i.set(None));
    assert!(matches!(err, StateError::Io { .. }), "{err:?}");
    drop(store);
    assert_eq!(std::fs::read(f.path()).unwrap(), before);
    // The change is not lost either: it is still in the journal.
    let store = StateStore::open(&settings, LockMode::Shared, None).unwrap();
    assert_eq!(store.state().tokens.len(), 2);
    assert_eq!(store.state().serial, 2);
}

/// Opens with `mode` and expects an error, checking the state file did not change.
fn refuses(f: &Fixture, settings: &StateSettings, ids: Option<&Identities>) -> StateError {
    let before = std::fs::read(f.path()).unwrap();
    let err = StateStore::open(settings, exclusive(), ids).unwrap_err();
    assert_eq!(std::fs::read(f.path()).unwrap(), before, "{err:?}");
    assert!(!journal::journal_path(&f.path()).exists());
    err
}

#[test]
fn a_state_where_two_addresses_share_an_id_is_refused() {
    let f = Fixture::new();
    let settings = f.settings(EncryptMode::Secrets);
    let mut store = StateStore::open(&settings, exclusive(), None).unwrap();
    store.record(upsert("p", token("61095542756dba551110ae21", None))).unwrap();
    store.record(upsert("r", token("61095542756dba551110ae21", None))).unwrap();
    store.save().unwrap();
    drop(store);
    let err = refuses(&f, &settings, None);
    assert!(
        matches!(&err, StateError::DuplicateId { id, first, second, .. }
            if id == "61095542756dba551110ae21" && first == "token.p" && second == "token.r"),
        "{err:?}"
    );
    assert!(err.to_string().contains("at token.p and at token.r"), "{err}");
}

#[test]
fn bad_state_files_are_errors_and_stay_byte_for_byte() {
    let f = Fixture::new();
    let settings = f.settings(EncryptMode::Secrets);
    let mut store = StateStore::open(&settings, exclusive(), None).unwrap();
    store.record(upsert("a", token("1", None))).unwrap();
    store.save().unwrap();
    drop(store);
    let good = std::fs::read(f.path()).unwrap();

    std::fs::write(f.path(), &good[..good.len() / 2]).unwrap();
    let err = refuses(&f, &settings, None);
    assert!(matches!(err, StateError::Parse { line, .. } if line > 1), "{err:?}");

    std::fs::write(f.path(), b"").unwrap();
    assert!(matches!(refuses(&f, &settings, None), StateError::Parse { .. }));

    let newer =
        String::from_utf8(good.clone()).unwrap().replace("\"format_version\": 1", "\"format_version\": 7");
    std::fs::write(f.path(), newer).unwrap();
    assert!(matches!(refuses(&f, &settings, None), StateError::NewerFormat { found: 7, supported: 1, .. }));
    std::fs::write(f.path(), br#"{"format_version": 9, "tokens": "a new shape"}"#).unwrap();
    assert!(matches!(refuses(&f, &settings, None), StateError::NewerFormat { found: 9, .. }));
}

/// Issue 11 item 5: a symbolic link as the state file (or its journal or lock) is refused,
/// not silently replaced by a regular file; the link and its target stay as they were.
#[cfg(unix)]
#[test]
fn a_symlinked_state_file_is_refused_and_left_alone() {
    let f = Fixture::new();
    let settings = f.settings(EncryptMode::Secrets);
    let mut store = StateStore::open(&settings, exclusive(), None).unwrap();
    store.record(upsert("a", token("1", None))).unwrap();
    store.save().unwrap();
    drop(store);
    let target = f.dir.path().join("real.json");
    std::fs::rename(f.path(), &target).unwrap();
    std::os::unix::fs::symlink(&target, f.path()).unwrap();
    let before = std::fs::read(&target).unwrap();
    for mode in [exclusive(), LockMode::Shared] {
        let err = StateStore::open(&settings, mode, None).unwrap_err();
        assert!(matches!(&err, StateError::Symlink { path } if path == &f.path()), "{err:?}");
        assert!(
            err.to_string()
                .contains("is a symbolic link; tokenform does not read or write state through a link")
        );
    }
    assert!(std::fs::symlink_metadata(f.path()).unwrap().file_type().is_symlink(), "the link stays");
    assert_eq!(std::fs::read(&target).unwrap(), before, "its target is untouched");

    // The journal and the lock beside a regular state file are refused as links too.
    std::fs::remove_file(f.path()).unwrap();
    std::fs::rename(&target, f.path()).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    for link in [journal::journal_path(&f.path()), crate::state::lock::lock_path(&f.path())] {
        std::os::unix::fs::symlink(elsewhere.path().join("victim"), &link).unwrap();
        let err = StateStore::open(&settings, exclusive(), None).unwrap_err();
        assert!(matches!(&err, StateError::Symlink { path } if path == &link), "{err:?}");
        std::fs::remove_file(&link).unwrap();
    }
    assert!(!elsewhere.path().join("victim").exists(), "nothing was written through a link");
}

/// Issue 11 item 2: a device, a FIFO or a directory at the state path is refused before
/// a byte is read (`/dev/zero` once took 17 GB), and so is an oversized journal.
#[cfg(unix)]
#[test]
fn a_state_path_that_is_not_a_regular_file_is_refused_unread() {
    let f = Fixture::new();
    let fifo = f.dir.path().join("fifo.json");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let cases = [
        (PathBuf::from("/dev/zero"), "a device"),
        (fifo, "a FIFO"),
        (f.dir.path().to_path_buf(), "a directory"),
    ];
    for (path, what) in cases {
        let settings = StateSettings::local(path.clone(), vec![f.recipient.clone()], EncryptMode::Secrets);
        let err = StateStore::open(&settings, LockMode::Shared, None).unwrap_err();
        assert!(
            matches!(&err, StateError::File(crate::files::FileError::NotRegular { what: w, .. }) if *w == what),
            "{}: {err:?}",
            path.display()
        );
    }
}

#[test]
fn bad_encrypted_state_files_are_errors_and_stay_byte_for_byte() {
    let f = Fixture::new();
    let settings = f.settings(EncryptMode::File);
    let mut store = StateStore::open(&settings, exclusive(), Some(&f.ids)).unwrap();
    store.save().unwrap();
    drop(store);
    let good = std::fs::read_to_string(f.path()).unwrap();

    // Truncated ciphertext.
    std::fs::write(f.path(), &good[..good.len() / 2]).unwrap();
    assert!(matches!(refuses(&f, &settings, Some(&f.ids)), StateError::Decrypt { .. }));
    // Tampered: one base64 character of the body changed.
    let mut lines: Vec<String> = good.lines().map(str::to_owned).collect();
    let mid = lines.len() / 2;
    let flipped: String = lines[mid]
        .chars()
        .enumerate()
        .map(|(i, c)| if i == 10 { if c == 'A' { 'B' } else { 'A' } } else { c })
        .collect();
    lines[mid] = flipped;
    std::fs::write(f.path(), lines.join("\n") + "\n").unwrap();
    assert!(matches!(refuses(&f, &settings, Some(&f.ids)), StateError::Decrypt { .. }));
}

#[test]
fn a_held_lock_is_a_clear_error() {
    let f = Fixture::new();
    let settings = f.settings(EncryptMode::Secrets);
    let mut first = StateStore::open(&settings, exclusive(), None).unwrap();
    first.save().unwrap();
    let err = refuses(&f, &settings, None);
    let StateError::Locked { info, .. } = &err else { panic!("{err:?}") };
    assert_eq!(info.operation, "test");
    assert!(!info.id.is_empty() && info.path.contains("tokenform.state.json"), "{info:?}");
    // Readers do not need the lock.
    assert!(StateStore::open(&settings, LockMode::Shared, None).is_ok());
}

#[test]
fn a_journal_ahead_of_a_restored_backup_is_an_error_and_nothing_is_touched() {
    let f = Fixture::new();
    let settings = f.settings(EncryptMode::Secrets);
    let mut store = StateStore::open(&settings, exclusive(), None).unwrap();
    store.save().unwrap();
    store.save().unwrap();
    store.record(upsert("a", token("1", None))).unwrap();
    drop(store);
    std::fs::copy(backup_path(&f.path(), 1), f.path()).unwrap();
    let journal = std::fs::read(journal::journal_path(&f.path())).unwrap();
    let before = std::fs::read(f.path()).unwrap();
    for mode in [LockMode::Shared, exclusive()] {
        let err = StateStore::open(&settings, mode, None).unwrap_err();
        assert!(matches!(&err, StateError::Journal { reason, .. } if reason.contains("backup")), "{err:?}");
    }
    assert_eq!(std::fs::read(f.path()).unwrap(), before);
    assert_eq!(std::fs::read(journal::journal_path(&f.path())).unwrap(), journal);
}

mod replay {
    use proptest::prelude::*;

    use super::*;
    use crate::state::model::{PendingCreate, RetiringToken};

    /// One step of a run: a journal record, or a save.
    #[derive(Debug, Clone)]
    enum Step {
        Record(JournalRecord),
        Save,
    }

    fn address() -> impl Strategy<Value = Address> {
        prop_oneof![
            (0..3u8).prop_map(|i| Address::new(format!("t{i}"))),
            (0..2u8).prop_map(|i| Address::keyed("k", format!("key {i}"))),
        ]
    }

    fn step() -> impl Strategy<Value = Step> {
        let at = jiff::Timestamp::UNIX_EPOCH;
        prop_oneof![
            4 => (address(), 0..100u32).prop_map(|(a, id)| Step::Record(upsert_at(a, &id.to_string()))),
            2 => address().prop_map(|address| Step::Record(JournalRecord::Remove { address })),
            1 => (address(), address()).prop_map(|(from, to)| Step::Record(JournalRecord::Move { from, to })),
            1 => address().prop_map(move |address| Step::Record(JournalRecord::PendingCreate {
                pending: PendingCreate { address, name: "n".into(), intent_at: at, member_id: None },
            })),
            1 => address().prop_map(|address| Step::Record(JournalRecord::ClearPending { address })),
            1 => (address(), 0..3u8).prop_map(move |(address, id)| Step::Record(JournalRecord::AddRetiring {
                retiring: RetiringToken { address, id: id.to_string(), name: "old".into(), expires_at: at, held_grace_seconds: None },
            })),
            1 => (0..3u8).prop_map(|id| Step::Record(JournalRecord::RemoveRetiring { id: id.to_string() })),
            1 => Just(Step::Save),
        ]
    }

    fn upsert_at(address: Address, id: &str) -> JournalRecord {
        JournalRecord::Upsert { address, token: token(id, None) }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

        /// Whatever apply recorded and whenever it saved, a crash loses nothing: the next
        /// reader sees exactly the in-memory state, and a writer compacts it unchanged.
        #[test]
        fn a_crash_at_any_point_replays_to_the_in_memory_state(steps in proptest::collection::vec(step(), 1..16)) {
            let f = Fixture::new();
            let settings = f.settings(EncryptMode::Secrets);
            let mut store = StateStore::open(&settings, exclusive(), None).unwrap();
            for step in steps {
                match step {
                    Step::Record(r) => store.record(r).unwrap(),
                    Step::Save => store.save().unwrap(),
                }
            }
            let expected = store.state().clone();
            drop(store);
            if let Some((id, ..)) = expected.duplicate_id() {
                // Random records can give two addresses one id, which apply never records:
                // such a state is refused on load, journal and all, and left as it is.
                let err = StateStore::open(&settings, LockMode::Shared, None).unwrap_err();
                prop_assert!(matches!(&err, StateError::DuplicateId { id: d, .. } if *d == id), "{err:?}");
                return Ok(());
            }
            let reader = StateStore::open(&settings, LockMode::Shared, None).unwrap();
            prop_assert_eq!(reader.state(), &expected);
            drop(reader);
            let writer = StateStore::open(&settings, exclusive(), None).unwrap();
            prop_assert_eq!(writer.state(), &expected);
            prop_assert!(!journal::journal_path(&f.path()).exists());
        }
    }
}

#[test]
fn a_first_writer_creates_the_state_directory() {
    let f = Fixture::new();
    let mut settings = f.settings(EncryptMode::Secrets);
    settings.path = f.dir.path().join("state/prod/tokenform.state.json");
    assert!(StateStore::open(&settings, LockMode::Shared, None).unwrap().state().tokens.is_empty());
    assert!(!f.dir.path().join("state").exists(), "readers create nothing");
    let mut store = StateStore::open(&settings, exclusive(), None).unwrap();
    store.save().unwrap();
    assert!(settings.path.exists());
}

#[test]
fn a_save_over_a_state_another_writer_replaced_is_refused_and_nothing_is_overwritten() {
    let f = Fixture::new();
    let settings = f.settings(EncryptMode::Secrets);
    let mut store = StateStore::open(&settings, exclusive(), None).unwrap();
    store.record(upsert("a", token("1", None))).unwrap();
    store.save().unwrap();
    store.record(upsert("b", token("2", None))).unwrap();
    // Another writer (one that ignored or broke the lock) saves in between.
    let mut other = store.state().clone();
    other.serial = 7;
    other.tokens.clear();
    let theirs = serde_json::to_vec_pretty(&other).unwrap();
    std::fs::write(f.dir.path().join("theirs"), &theirs).unwrap();
    std::fs::rename(f.dir.path().join("theirs"), f.path()).unwrap();
    let err = store.save().unwrap_err();
    assert!(
        matches!(&err, StateError::Conflict { what, .. } if what.contains("tokenform.state.json")),
        "{err:?}"
    );
    assert_eq!(std::fs::read(f.path()).unwrap(), theirs, "their write stays");
    // The journal still holds our change for whoever looks (it extends serial 1, theirs is 7).
    assert!(journal::journal_path(&f.path()).exists());
}

#[test]
fn replace_writes_a_whole_state_and_previous_versions_read_back() {
    let f = Fixture::new();
    let settings = f.settings(EncryptMode::File);
    let mut store = StateStore::open(&settings, exclusive(), Some(&f.ids)).unwrap();
    for i in 0..7 {
        store.record(upsert(&format!("t{i}"), token(&i.to_string(), None))).unwrap();
        store.save().unwrap();
    }
    assert_eq!(store.stored_serial(), 7);
    let mut pushed = store.state().clone();
    pushed.tokens.clear();
    pushed.serial = 20;
    store.replace(pushed.clone()).unwrap();
    assert_eq!(store.state(), &pushed);
    assert_eq!(store.stored_serial(), 20);
    // Five previous versions, newest first, decrypted like the state itself.
    for n in 1..=5 {
        let previous = store.previous(n, Some(&f.ids)).unwrap().unwrap();
        assert_eq!(previous.serial, 8 - n as u64);
    }
    assert!(store.previous(6, Some(&f.ids)).unwrap().is_none());
    assert!(matches!(store.previous(1, None), Err(StateError::NoIdentity { .. })));
    // `document` is the clear JSON a pull prints.
    let doc: State = serde_json::from_slice(&store.document().unwrap()).unwrap();
    assert_eq!(doc, pushed);
    drop(store);
    let reread = StateStore::open(&settings, LockMode::Shared, Some(&f.ids)).unwrap();
    assert_eq!(reread.state(), &pushed);
}

/// A state file (and journal) as a hostile pull request could leave them: values of the
/// wrong type, control characters, secrets and huge strings in any field, spliced junk,
/// random bytes, a FIFO, a directory, a file over the cap, a link. Opening never panics,
/// refuses with a typed error, leaves the file as it was, and the error quotes no secret,
/// no control character and no more than a short excerpt.
#[cfg(unix)]
mod hostile {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;

    const EVIL: &str = "\u{1b}[2J\u{7}\0\u{9b}1m\u{202e}";

    fn hostile_text() -> impl Strategy<Value = String> {
        (prop::sample::select(&["", EVIL][..]), any::<bool>(), 0..3000usize).prop_map(|(evil, secret, n)| {
            format!("{evil}{}{}", if secret { SECRET } else { "" }, "x".repeat(n))
        })
    }

    fn hostile_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            3 => hostile_text().prop_map(Value::String),
            1 => Just(Value::Null),
            1 => Just(json!(-1)),
            1 => Just(json!(1e300)),
            1 => Just(json!(u64::MAX)),
            1 => Just(json!(true)),
            1 => Just(json!([EVIL, SECRET])),
            1 => Just(json!({ "k": SECRET, EVIL: 1 })),
        ]
    }

    /// Fields of the fixture's document, as `parent pointer` and key.
    const FIELDS: &[(&str, &str)] = &[
        ("", "format_version"),
        ("", "lineage"),
        ("", "serial"),
        ("", "tokens"),
        ("", "retiring"),
        ("", "pending_creates"),
        ("/tokens/token.a", "id"),
        ("/tokens/token.a", "name"),
        ("/tokens/token.a", "role"),
        ("/tokens/token.a", "created_at"),
        ("/tokens/token.a", "expiry"),
        ("/tokens/token.a", "inline_role"),
        ("/tokens/token.a", "custom_role_ids"),
        ("/tokens/token.a", "service_token"),
        ("/tokens/token.a", "secret"),
    ];

    #[derive(Debug, Clone)]
    enum Edit {
        /// One field set to a hostile value.
        Set(usize, Value),
        /// A token under a hostile address.
        Key(String),
        /// The text with junk spliced in at a byte offset.
        Splice(usize, String),
        Bytes(Vec<u8>),
        /// A journal beside the (valid) state: its header lineage and one record line.
        Journal {
            lineage: Option<String>,
            record: String,
        },
        Fifo,
        Directory,
        Oversize,
        Link,
    }

    fn edit() -> impl Strategy<Value = Edit> {
        prop_oneof![
            6 => (0..FIELDS.len(), hostile_value()).prop_map(|(i, v)| Edit::Set(i, v)),
            2 => hostile_text().prop_map(Edit::Key),
            2 => (any::<usize>(), prop::sample::select(&["\"", "{", "]", EVIL, SECRET, ",\"x\":", "\u{ffff}"][..]))
                .prop_map(|(at, s)| Edit::Splice(at, s.to_owned())),
            1 => prop::collection::vec(any::<u8>(), 0..200).prop_map(Edit::Bytes),
            2 => (proptest::option::of(hostile_text()), prop_oneof![
                    hostile_text(),
                    hostile_text().prop_map(|t| json!({"op": "upsert", "address": t, "token": {}}).to_string()),
                    hostile_text().prop_map(|t| json!({"op": t}).to_string()),
                ])
                .prop_map(|(lineage, record)| Edit::Journal { lineage, record }),
            1 => Just(Edit::Fifo),
            1 => Just(Edit::Directory),
            1 => Just(Edit::Oversize),
            1 => Just(Edit::Link),
        ]
    }

    /// The fixture's valid document: one token, serial 1.
    fn valid(f: &Fixture) -> Value {
        let mut store = StateStore::open(&f.settings(EncryptMode::Secrets), exclusive(), None).unwrap();
        store.record(upsert("a", token("1", None))).unwrap();
        store.save().unwrap();
        drop(store);
        serde_json::from_slice(&std::fs::read(f.path()).unwrap()).unwrap()
    }

    /// Writes what `edit` makes of the valid document `doc` at the fixture's path.
    fn lay_out(f: &Fixture, mut doc: Value, edit: &Edit) {
        let path = f.path();
        let text = |doc: &Value| serde_json::to_vec_pretty(doc).unwrap();
        let replace = |bytes: &[u8]| {
            std::fs::remove_file(&path).unwrap();
            std::fs::write(&path, bytes).unwrap();
        };
        match edit {
            Edit::Set(i, value) => {
                let (parent, key) = FIELDS[*i];
                if let Some(Value::Object(map)) = doc.pointer_mut(parent) {
                    map.insert(key.to_owned(), value.clone());
                }
                replace(&text(&doc));
            }
            Edit::Key(key) => {
                let token = doc["tokens"]["token.a"].clone();
                doc["tokens"][key.as_str()] = token;
                replace(&text(&doc));
            }
            Edit::Splice(at, junk) => {
                let mut bytes = text(&doc);
                let at = at % (bytes.len() + 1);
                bytes.splice(at..at, junk.bytes());
                replace(&bytes);
            }
            Edit::Bytes(bytes) => replace(bytes),
            Edit::Journal { lineage, record } => {
                let lineage = lineage.clone().unwrap_or_else(|| doc["lineage"].as_str().unwrap().to_owned());
                let header = json!({"journal": 1, "lineage": lineage, "base_serial": 1});
                let journal =
                    format!("{header}\n{record}\n{}\n", json!({"op": "remove", "address": "token.a"}));
                std::fs::write(journal::journal_path(&path), journal).unwrap();
            }
            Edit::Fifo => {
                std::fs::remove_file(&path).unwrap();
                assert!(std::process::Command::new("mkfifo").arg(&path).status().unwrap().success());
            }
            Edit::Directory => {
                std::fs::remove_file(&path).unwrap();
                std::fs::create_dir(&path).unwrap();
            }
            Edit::Oversize => {
                // Sparse: the size is refused before a byte is read.
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .unwrap()
                    .set_len(crate::files::Kind::State.cap() + 1)
                    .unwrap();
            }
            Edit::Link => {
                let real = f.dir.path().join("real.json");
                std::fs::rename(&path, &real).unwrap();
                std::os::unix::fs::symlink(&real, &path).unwrap();
            }
        }
    }

    /// What is at the state path, to check it was left as it was.
    fn snapshot(path: &std::path::Path) -> Option<Vec<u8>> {
        let meta = std::fs::symlink_metadata(path).ok()?;
        if meta.is_file() && meta.len() < 1 << 20 { std::fs::read(path).ok() } else { Some(Vec::new()) }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn a_hostile_state_is_refused_typed_and_quoted_by_excerpt_only(edit in edit()) {
            let f = Fixture::new();
            let doc = valid(&f);
            lay_out(&f, doc, &edit);
            let before = (snapshot(&f.path()), snapshot(&journal::journal_path(&f.path())));
            for lock in [LockMode::Shared, exclusive()] {
                let Err(err) = StateStore::open(&f.settings(EncryptMode::Secrets), lock, None) else {
                    // Some edits leave a valid state (a long name, a null expiry).
                    prop_assert!(
                        matches!(edit, Edit::Set(..) | Edit::Key(_) | Edit::Splice(..) | Edit::Journal { .. }),
                        "{edit:?} was accepted"
                    );
                    return Ok(());
                };
                let shown = format!("{err}");
                prop_assert!(tokenform_secret_free(&shown), "a secret in: {shown}");
                prop_assert!(!shown.chars().any(|c| c.is_control() && c != '\n'), "raw control character in: {shown:?}");
                prop_assert!(shown.chars().count() < 1200, "{} characters: {shown}", shown.chars().count());
                let kind_ok = match edit {
                    Edit::Fifo | Edit::Directory | Edit::Oversize => matches!(err, StateError::File(_)),
                    Edit::Link => matches!(err, StateError::Symlink { .. }),
                    _ => true,
                };
                prop_assert!(kind_ok, "{edit:?}: {err:?}");
                prop_assert_eq!(
                    &(snapshot(&f.path()), snapshot(&journal::journal_path(&f.path()))),
                    &before,
                    "a refused state is left as it was"
                );
            }
        }
    }

    fn tokenform_secret_free(s: &str) -> bool {
        crate::secret::find_secret(s).is_none()
    }
}
