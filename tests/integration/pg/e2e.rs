//! Two config dirs ("machines", no local state) on one PostgreSQL workspace, with the real
//! binary against one dev-server.

use std::collections::BTreeSet;

use super::{Machine, fresh_schema, pg, psql};
use crate::support::{DevServer, lock_field, names, read_completions, text, tokens, wait_until};

#[test]
fn apply_on_one_machine_is_the_state_of_the_other_and_a_concurrent_apply_gets_the_lock_info() {
    let Some(pg) = pg() else { return };
    let server = DevServer::start(&["--latency-ms", "150"]);
    let a = Machine::new(&server, &pg.url, &fresh_schema());
    let b = a.twin();
    a.config(&tokens(2));
    b.config(&tokens(2));
    a.ok(&["apply", "--auto-approve"]);
    assert_eq!(b.plan_exit(), Some(0), "B sees A's apply: nothing to do");
    a.assert_no_local_state();
    b.assert_no_local_state();

    // A slow apply on A; B tries meanwhile and is shown A's lock.
    a.config(&tokens(8));
    b.config(&tokens(8));
    let child = a.spawn_apply();
    wait_until("A to hold the lock", || {
        psql(&pg.url, &format!("SELECT count(*) FROM {}", a.table("locks"))) == "1"
    });
    let held = psql(&pg.url, &format!("SELECT id || ' ' || operation FROM {}", a.table("locks")));
    let err = b.fails(&["apply", "--auto-approve"], "tokenform::state::locked");
    assert!(err.starts_with("Error: the state is locked\nLock Info:\n"), "{err}");
    assert_eq!(format!("{} {}", lock_field(&err, "ID"), lock_field(&err, "Operation")), held);
    assert!(lock_field(&err, "Who").contains('@'), "{err}");
    assert!(err.contains(&format!("tokenform force-unlock {}", lock_field(&err, "ID"))), "{err}");
    // Readers need no lock; a writer with --lock-timeout waits for A's to end.
    assert!(matches!(b.plan_exit(), Some(0 | 2)));
    let waiter = b.cmd().args(["apply", "--auto-approve", "--lock-timeout", "2m"]).output();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let waiter = waiter.unwrap();
    assert_eq!(waiter.status.code(), Some(0), "the waiting apply: {}", text(&waiter));
    assert_eq!(psql(&pg.url, &format!("SELECT count(*) FROM {}", a.table("locks"))), "0", "released");
    assert_eq!(b.plan_exit(), Some(0));
    assert_eq!(server.live_names(), names(8));
    b.assert_every_secret_authenticates();
}

#[test]
fn sigkill_on_one_machine_is_recovered_by_the_other_without_duplicates() {
    let Some(pg) = pg() else { return };
    let server = DevServer::start(&["--latency-ms", "60"]);
    let a = Machine::new(&server, &pg.url, &fresh_schema());
    let b = a.twin();
    a.config(&tokens(12));
    b.config(&tokens(12));
    let mut child = a.spawn_apply();
    read_completions(&mut child, 4);
    child.kill().unwrap(); // SIGKILL: no cleanup, the journal rows are what survives
    child.wait().unwrap();
    let journal = psql(&pg.url, &format!("SELECT count(*) FROM {}", a.table("journal")));
    assert_ne!(journal, "0", "the killed run left its journal in the database");

    // What the database holds: ciphertexts and names, never a plaintext secret.
    let dump_before = pg_dump(&pg.url, &a.schema);
    b.ok(&["apply", "--auto-approve"]);
    assert_eq!(b.plan_exit(), Some(0));
    assert_eq!(a.plan_exit(), Some(0));
    assert_eq!(server.live_names(), names(12), "no duplicate token");
    b.assert_every_secret_authenticates();
    a.assert_every_secret_authenticates();
    let dump_after = pg_dump(&pg.url, &a.schema);
    assert!(
        dump_after.contains("\"t011\"") && dump_after.contains("BEGIN AGE ENCRYPTED FILE"),
        "{dump_after}"
    );
    for (_, secret) in b.secrets() {
        for dump in [&dump_before, &dump_after] {
            assert!(!dump.contains(&secret), "a plaintext secret is in pg_dump");
            assert!(!dump.contains(&secret[4..]), "a secret's body is in pg_dump");
        }
    }
    assert_eq!(psql(&pg.url, &format!("SELECT count(*) FROM {}", a.table("journal"))), "0", "compacted");
}

#[test]
fn a_lost_lock_connection_fails_the_next_write_and_the_other_machine_recovers() {
    let Some(pg) = pg() else { return };
    let server = DevServer::start(&["--latency-ms", "300"]);
    let a = Machine::new(&server, &pg.url, &fresh_schema());
    let b = a.twin();
    // 20 creates at 300 ms, two at a time: ~3 s left after the second, so the kill lands
    // while the apply runs even on a loaded machine.
    a.config(&tokens(20));
    b.config(&tokens(20));
    let mut child = a.spawn_apply();
    read_completions(&mut child, 2);
    // The network drop, as the server sees it: the lock session ends.
    let pid = psql(&pg.url, &format!("SELECT backend_pid FROM {}", a.table("locks")));
    assert_eq!(psql(&pg.url, &format!("SELECT pg_terminate_backend({pid})")), "t");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("tokenform::state::pg::connection_lost"), "{all}");
    assert!(all.contains("PostgreSQL") || all.contains("127.0.0.1"), "names the backend: {all}");

    b.ok(&["apply", "--auto-approve"]);
    assert_eq!(b.plan_exit(), Some(0));
    assert_eq!(a.plan_exit(), Some(0));
    assert_eq!(server.live_names(), names(20), "no duplicate token");
    b.assert_every_secret_authenticates();
}

#[test]
fn a_state_written_by_another_writer_between_read_and_save_is_not_overwritten() {
    let Some(pg) = pg() else { return };
    let server = DevServer::start(&["--latency-ms", "100"]);
    let a = Machine::new(&server, &pg.url, &fresh_schema());
    a.config(&tokens(1));
    a.ok(&["apply", "--auto-approve"]);
    a.config(&tokens(6));
    let mut child = a.spawn_apply();
    read_completions(&mut child, 1);
    // A writer that ignores the lock (an old tool, a hand edit) saves in between.
    let states = a.table("states");
    psql(
        &pg.url,
        &format!(
            "UPDATE {states} SET serial = 100, document = replace(document, '\"serial\": 1,', '\"serial\": 100,')"
        ),
    );
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("tokenform::state::conflict"), "{}", text(&out));
    assert_eq!(psql(&pg.url, &format!("SELECT serial FROM {states}")), "100", "their write stays");
    let pulled = a.state();
    assert_eq!(pulled["serial"], 100);
    let kept: BTreeSet<String> = pulled["tokens"].as_object().unwrap().keys().cloned().collect();
    assert_eq!(kept, BTreeSet::from(["token.t000".to_owned()]), "nothing of the losing run was written");
}

/// `pg_dump` of one schema, as text.
fn pg_dump(url: &str, schema: &str) -> String {
    let out = std::process::Command::new("pg_dump").args(["-d", url, "-n", schema]).output().unwrap();
    assert!(out.status.success(), "pg_dump: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_postgres_example_applies_against_a_real_server() {
    let Some(pg) = pg() else { return };
    let server = DevServer::start(&[]);
    let schema = fresh_schema();
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/postgres/main.hcl")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let body = format!(
        "launchdarkly {{\n  base_url = \"{}\"\n}}\n\nunmanaged {{\n  personal = true\n}}\n\n{}",
        server.url,
        example.replace("schema       = \"tokenform\"", &format!("schema       = \"{schema}\""))
    );
    std::fs::write(dir.path().join("main.hcl"), body).unwrap();
    let run =
        |args: &[&str]| server.tokenform(dir.path()).env("PG_CONN_STR", &pg.url).args(args).output().unwrap();
    let out = run(&["apply", "--auto-approve"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(run(&["plan", "--detailed-exitcode"]).status.code(), Some(0));
    let rows = psql(&pg.url, &format!("SELECT workspace || ' ' || serial FROM \"{schema}\".states"));
    assert_eq!(rows, "production 1");
    assert_eq!(server.live_names(), ["ci_reader", "deploy-production", "deploy-staging"]);
}
