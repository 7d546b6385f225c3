//! Two config dirs ("machines", no local state) on one S3 key, with the real binary
//! against one dev-server and a real S3 server.

use std::collections::BTreeSet;

use axum::http::Method;

use super::proxy::{Proxy, Step};
use super::{Bucket, Machine, flat, fresh_key, s3};
use crate::support::{DevServer, lock_field, names, read_completions, text, tokens, wait_until};

#[test]
fn apply_on_one_machine_is_the_state_of_the_other_and_a_concurrent_apply_gets_the_lock_info() {
    let Some(s3) = s3() else { return };
    let bucket = Bucket::new(&s3);
    let server = DevServer::start(&["--latency-ms", "150"]);
    let a = Machine::new(&server, &s3, &fresh_key());
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
    let lock_key = format!("{}.lock", a.key);
    let child = a.spawn_apply();
    wait_until("A to hold the lock", || {
        bucket.get(&lock_key).is_some_and(|l| !String::from_utf8_lossy(&l).contains("\"released\""))
    });
    let held: serde_json::Value = serde_json::from_slice(&bucket.get(&lock_key).unwrap()).unwrap();
    let err = b.fails(&["apply", "--auto-approve"], "tokenform::state::locked");
    assert!(err.starts_with("Error: the state is locked\nLock Info:\n"), "{err}");
    assert_eq!(lock_field(&err, "ID"), held["id"].as_str().unwrap());
    assert_eq!(lock_field(&err, "Operation"), "apply");
    assert!(lock_field(&err, "Who").contains('@'), "{err}");
    assert!(err.contains(&format!("tokenform force-unlock {}", lock_field(&err, "ID"))), "{err}");
    // It names the lock object (bucket and key) and says what to do.
    let lock_object = format!("s3://{}/{lock_key}", s3.bucket);
    assert!(flat(&err).contains(&flat(&lock_object)) && flat(&err).contains("--lock-timeout"), "{err}");
    // Readers need no lock; a writer with --lock-timeout waits for A's to end.
    assert!(matches!(b.plan_exit(), Some(0 | 2)));
    let waiter = b.cmd().args(["apply", "--auto-approve", "--lock-timeout", "2m"]).output();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let waiter = waiter.unwrap();
    assert_eq!(waiter.status.code(), Some(0), "the waiting apply: {}", text(&waiter));
    let released: serde_json::Value = serde_json::from_slice(&bucket.get(&lock_key).unwrap()).unwrap();
    assert!(released["released"].is_string(), "released by a conditional overwrite: {released}");
    assert_eq!(b.plan_exit(), Some(0));
    assert_eq!(server.live_names(), names(8));
    b.assert_every_secret_authenticates();
}

#[test]
fn sigkill_on_one_machine_is_recovered_by_the_other_without_duplicates() {
    let Some(s3) = s3() else { return };
    let bucket = Bucket::new(&s3);
    let server = DevServer::start(&["--latency-ms", "60"]);
    let a = Machine::new(&server, &s3, &fresh_key());
    // B reaches the store through a proxy that refuses LIST: the journal must be found
    // by name.
    let proxy = Proxy::start(&s3.endpoint, |r, _| {
        if r.is_list() { Step::Answer(403, "AccessDenied") } else { Step::Forward }
    });
    let mut b = a.twin();
    b.point_at(&proxy.url);
    a.config(&tokens(12));
    b.config(&tokens(12));
    let mut child = a.spawn_apply();
    read_completions(&mut child, 4);
    child.kill().unwrap(); // SIGKILL: no cleanup, the journal objects are what survives
    child.wait().unwrap();
    let journal = bucket.list(&format!("{}.journal", a.key));
    assert!(!journal.is_empty(), "the killed run left its journal objects");

    // Its lock stays (S3 has no session to end), named, until its lease lapses.
    let err = b.fails(&["apply", "--auto-approve"], "tokenform::state::locked");
    assert!(lock_field(&err, "Who").contains('@') && lock_field(&err, "Operation") == "apply", "{err}");
    let data_before = data_dir_text(&s3);
    let out = b.cmd().args(["apply", "--auto-approve", "--lock-timeout", "1m"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "B takes over the lapsed lock and recovers: {}", text(&out));
    assert_eq!(b.plan_exit(), Some(0));
    assert_eq!(a.plan_exit(), Some(0));
    assert_eq!(server.live_names(), names(12), "no duplicate token");
    b.assert_every_secret_authenticates();
    a.assert_every_secret_authenticates();
    assert!(bucket.list(&format!("{}.journal", a.key)).is_empty(), "compacted");
    let seen = proxy.seen();
    assert!(seen.iter().all(|r| !r.is_list()), "tokenform sent a LIST: {seen:?}");
    for object in &journal {
        let path = format!("/{}/{object}", s3.bucket);
        assert!(
            seen.iter().any(|r| r.method == Method::GET && r.path == path),
            "B did not GET the journal object {object}: {seen:?}"
        );
    }

    // What the store holds: ciphertexts and names, never a plaintext secret.
    let data_after = data_dir_text(&s3);
    if s3.data_dir.is_some() {
        assert!(data_after.contains("BEGIN AGE ENCRYPTED FILE"), "the data dir holds the objects");
    }
    for (_, secret) in b.secrets() {
        for data in [&data_before, &data_after] {
            assert!(!data.contains(&secret), "a plaintext secret is in the S3 data dir");
            assert!(!data.contains(&secret[4..]), "a secret's body is in the S3 data dir");
        }
    }
    let stored = String::from_utf8(bucket.get(&a.key).unwrap()).unwrap();
    assert!(stored.contains("\"token.t011\"") && stored.contains("BEGIN AGE ENCRYPTED FILE"), "{stored}");
}

/// Every file under the server's data directory, as (lossy) text; empty when the server
/// is not on this machine (a caller-provided TOKENFORM_TEST_S3_ENDPOINT).
fn data_dir_text(s3: &super::S3) -> String {
    fn walk(dir: &std::path::Path, out: &mut String) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if let Ok(bytes) = std::fs::read(&path) {
                out.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
    }
    let mut out = String::new();
    if let Some(dir) = &s3.data_dir {
        walk(dir, &mut out);
    }
    out
}

#[test]
fn a_state_written_by_another_writer_between_read_and_save_is_not_overwritten() {
    let Some(s3) = s3() else { return };
    let bucket = Bucket::new(&s3);
    let server = DevServer::start(&["--latency-ms", "100"]);
    let a = Machine::new(&server, &s3, &fresh_key());
    a.config(&tokens(1));
    a.ok(&["apply", "--auto-approve"]);
    a.config(&tokens(6));
    let mut child = a.spawn_apply();
    read_completions(&mut child, 1);
    // A writer that ignores the lock (an old tool, a hand edit) saves in between, with a
    // plain PUT.
    let doc = String::from_utf8(bucket.get(&a.key).unwrap()).unwrap();
    assert!(doc.contains("\"serial\": 1,"), "{doc}");
    bucket.put(&a.key, doc.replace("\"serial\": 1,", "\"serial\": 100,").into_bytes());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("tokenform::state::conflict"), "{}", text(&out));
    let pulled = a.state();
    assert_eq!(pulled["serial"], 100, "their write stays");
    let kept: BTreeSet<String> = pulled["tokens"].as_object().unwrap().keys().cloned().collect();
    assert_eq!(kept, BTreeSet::from(["token.t000".to_owned()]), "nothing of the losing run was written");
}

#[test]
fn a_state_created_by_another_writer_before_the_first_save_is_not_overwritten() {
    let Some(s3) = s3() else { return };
    let bucket = Bucket::new(&s3);
    let server = DevServer::start(&["--latency-ms", "100"]);
    let a = Machine::new(&server, &s3, &fresh_key());
    a.config(&tokens(4));
    let mut child = a.spawn_apply();
    read_completions(&mut child, 1);
    // The key held no state when A read it; another writer creates it meanwhile. A's
    // first save is `If-None-Match: *`, so it finds theirs and fails.
    let theirs = br#"{"serial": 5, "written_by": "another writer"}"#.to_vec();
    bucket.put(&a.key, theirs.clone());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("tokenform::state::conflict"), "{}", text(&out));
    assert!(flat(&text(&out)).contains("readnostate"), "{}", text(&out));
    assert_eq!(bucket.get(&a.key), Some(theirs), "their object stays, byte for byte");
}
