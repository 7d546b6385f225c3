//! `state pull | push | migrate` and `force-unlock` on PostgreSQL.

use std::time::Duration;

use super::{Machine, fresh_schema, pg, psql};
use crate::support::{DevServer, read_completions, text, tokens, wait_until};
use tokenform::model::Address;
use tokenform::state::{EncryptMode, JournalRecord, LockMode, StateSettings, StateStore, TokenState};

#[test]
fn push_needs_the_same_lineage_and_a_higher_serial_unless_forced_and_pull_shows_previous_versions() {
    let Some(pg) = pg() else { return };
    let server = DevServer::start(&[]);
    let m = Machine::new(&server, &pg.url, &fresh_schema());
    for n in 1..=3 {
        m.config(&tokens(n));
        m.ok(&["apply", "--auto-approve"]);
    }
    let pulled = m.ok(&["state", "pull"]);
    let state: serde_json::Value = serde_json::from_str(&pulled).unwrap();
    assert_eq!(state["serial"], 3);
    assert!(pulled.contains("BEGIN AGE ENCRYPTED FILE"), "ciphertexts stay ciphertexts");
    let previous: serde_json::Value =
        serde_json::from_str(&m.ok(&["state", "pull", "--previous", "1"])).unwrap();
    assert_eq!(previous["serial"], 2);
    assert_eq!(previous["tokens"].as_object().unwrap().len(), 2);
    m.fails(&["state", "pull", "--previous", "3"], "tokenform::state::no_previous");

    let file = m.dir.path().join("pushed.json");
    std::fs::write(&file, &pulled).unwrap();
    let path = file.to_str().unwrap();
    m.fails(&["state", "push", path], "tokenform::state::push_serial");
    let mut other = state.clone();
    other["lineage"] = "another-lineage".into();
    other["serial"] = 9.into();
    std::fs::write(&file, other.to_string()).unwrap();
    m.fails(&["state", "push", path], "tokenform::state::push_lineage");
    assert_eq!(m.state()["serial"], 3, "refused pushes write nothing");

    // Restoring the previous version, the way the parse error's help says.
    std::fs::write(&file, serde_json::to_string(&previous).unwrap()).unwrap();
    m.ok(&["state", "push", "--force", path]);
    let now = m.state();
    assert_eq!(now["serial"], 4, "a forced push is raised above the stored serial");
    assert_eq!(now["tokens"].as_object().unwrap().len(), 2);
    assert_eq!(m.plan_exit(), Some(2), "the third token is untracked again");
}

#[test]
fn migrate_copies_a_local_state_and_its_journal_and_refuses_another_lineage() {
    let Some(pg) = pg() else { return };
    let server = DevServer::start(&[]);
    let local_dir = tempfile::tempdir().unwrap();
    let local = local_dir.path().join("tokenform.state.json");
    let m = Machine::new(&server, &pg.url, &fresh_schema());
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
fn force_unlock_clears_a_killed_holders_record_and_refuses_a_live_one() {
    let Some(pg) = pg() else { return };
    let server = DevServer::start(&["--latency-ms", "300"]);
    let m = Machine::new(&server, &pg.url, &fresh_schema());
    m.config(&tokens(1));
    m.ok(&["apply", "--auto-approve"]);
    m.ok(&["force-unlock", "nothing-held"]);
    m.config(&tokens(16));
    let mut child = m.spawn_apply();
    read_completions(&mut child, 1);
    let locks = m.table("locks");
    let id = psql(&pg.url, &format!("SELECT id FROM {locks}"));
    let err = m.fails(&["force-unlock", "0000"], "tokenform::state::lock_id_mismatch");
    assert!(err.contains(&id), "{err}");
    let err = m.fails(&["force-unlock", &id], "tokenform::state::lock_owner_alive");
    assert!(err.contains("pg_terminate_backend"), "{err}");
    child.kill().unwrap();
    child.wait().unwrap();
    // The killed holder's session is gone (its lock with it); its record stays until removed.
    wait_until("the killed session to end", || {
        psql(
            &pg.url,
            &format!("SELECT count(*) FROM pg_stat_activity WHERE pid = (SELECT backend_pid FROM {locks})"),
        ) == "0"
    });
    assert_eq!(psql(&pg.url, &format!("SELECT id FROM {locks}")), id);
    let out = m.run(&["force-unlock", &id]);
    assert!(out.status.success() && text(&out).contains("Removed the lock"), "{}", text(&out));
    assert_eq!(psql(&pg.url, &format!("SELECT count(*) FROM {locks}")), "0");
    m.ok(&["apply", "--auto-approve"]);
    assert_eq!(m.plan_exit(), Some(0));
}

fn upsert(label: &str, id: &str) -> JournalRecord {
    let token = TokenState::new(id, label, "reader", jiff::Timestamp::UNIX_EPOCH);
    JournalRecord::Upsert { address: Address::new(label), token: Box::new(token) }
}

#[test]
fn encrypt_file_seals_the_document_and_the_journal_in_the_database_too() {
    let Some(pg) = pg() else { return };
    let server = DevServer::start(&[]);
    let m = Machine::new(&server, &pg.url, &fresh_schema());
    m.config(&tokens(2));
    let hcl = std::fs::read_to_string(m.dir.path().join("main.hcl")).unwrap();
    std::fs::write(
        m.dir.path().join("main.hcl"),
        hcl.replace("  backend \"pg\"", "  encrypt = \"file\"\n  backend \"pg\""),
    )
    .unwrap();
    let with_id =
        |args: &[&str]| m.cmd().env("TOKENFORM_IDENTITY_FILE", &m.identity).args(args).output().unwrap();
    let out = with_id(&["apply", "--auto-approve"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let document = psql(&pg.url, &format!("SELECT document FROM {}", m.table("states")));
    assert!(document.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"), "{document}");
    assert!(!document.contains("t000"), "token names are sealed too");
    // Without the identity nothing opens; with it, everything works as on the local file.
    m.fails(&["state", "list"], "tokenform::state::no_identity");
    let listed = with_id(&["state", "list"]);
    assert_eq!(String::from_utf8_lossy(&listed.stdout), "token.t000\ntoken.t001\n");
    let pulled: serde_json::Value = serde_json::from_slice(&with_id(&["state", "pull"]).stdout).unwrap();
    assert_eq!(pulled["serial"], 1, "pull prints the opened document");
    assert_eq!(with_id(&["plan", "--detailed-exitcode"]).status.code(), Some(0));

    // A record left in the journal (a crashed run) is sealed as well, and replays.
    let mut settings =
        StateSettings::local(m.dir.path().join("unused.json"), vec![m.recipient.clone()], EncryptMode::File);
    settings.backend = tokenform::state::BackendSettings::Pg(tokenform::state::settings::PgSettings {
        schema: m.schema.clone(),
        ..Default::default()
    });
    let env = tokenform::state::BackendEnv::new(
        [("PG_CONN_STR".to_owned(), tokenform::secret::Secret::new(pg.url.clone()))],
        None,
    );
    let ids = tokenform::state::Identities::load(&m.identity).unwrap();
    let lock = LockMode::Exclusive { timeout: Duration::ZERO, command: "seed".into() };
    let mut store = StateStore::open_in(&settings, &env, lock, Some(&ids)).unwrap();
    store.record(upsert("crashed", "0000000000000000000000c1")).unwrap();
    drop(store);
    let record = psql(&pg.url, &format!("SELECT record FROM {}", m.table("journal")));
    assert!(record.starts_with("{\"sealed\":\"-----BEGIN AGE ENCRYPTED FILE-----"), "{record}");
    assert!(!record.contains("crashed"));
    let listed = with_id(&["state", "list"]);
    assert!(String::from_utf8_lossy(&listed.stdout).contains("token.crashed"), "{}", text(&listed));
}

#[test]
fn history_keeps_the_last_five_versions_and_a_newer_schema_is_refused() {
    let Some(pg) = pg() else { return };
    let server = DevServer::start(&[]);
    let m = Machine::new(&server, &pg.url, &fresh_schema());
    for n in 1..=8 {
        m.config(&tokens(n));
        m.ok(&["apply", "--auto-approve"]);
    }
    assert_eq!(m.state()["serial"], 8);
    let versions = m.table("state_versions");
    let rows = psql(&pg.url, &format!("SELECT serial FROM {versions} ORDER BY serial"));
    let serials: Vec<&str> = rows.split_whitespace().collect();
    assert_eq!(serials, ["3", "4", "5", "6", "7"], "the five versions before the current one");
    let fifth: serde_json::Value =
        serde_json::from_str(&m.ok(&["state", "pull", "--previous", "5"])).unwrap();
    assert_eq!(fifth["serial"], 3);
    let sixth = m.run(&["state", "pull", "--previous", "6"]);
    assert!(!sixth.status.success() && text(&sixth).contains("1..=5"), "{}", text(&sixth));

    // A schema a newer tokenform made is refused before anything is read or written.
    let meta = m.table("meta");
    psql(&pg.url, &format!("UPDATE {meta} SET schema_version = schema_version + 1"));
    m.config(&tokens(9));
    let err = m.fails(&["apply", "--auto-approve"], "tokenform::state::pg::newer_schema");
    assert!(err.contains("upgrade tokenform"), "{err}");
    m.fails(&["plan"], "tokenform::state::pg::newer_schema");
    psql(&pg.url, &format!("UPDATE {meta} SET schema_version = schema_version - 1"));
    assert_eq!(m.state()["serial"], 8, "the refused apply wrote nothing");
    assert_eq!(server.live_names().len(), 8, "and created nothing live");
}
