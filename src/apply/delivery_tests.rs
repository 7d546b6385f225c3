//! The apply order of a change with sinks (`docs/spec.md` §10), against the in-memory API
//! and ledger and real sink processes in a temp directory: create → check → every sink →
//! only then the old generation's grace; a failed check or delivery holds it.

use std::ffi::OsString;
use std::path::Path;

use super::fake::{FakeApi, FakeLedger};
use super::step::tests::change;
use super::*;
use crate::deliver::{ExecSink, FileFormat, FileSink, Runner, Sink};
use crate::model::Address;
use crate::plan::model::{Action, ActionKind, Change, Reason, Rotation};
use crate::state::model::TokenState;

/// `sh -c SCRIPT` as an exec sink (5 s timeout).
fn sh(script: &str) -> Sink {
    Sink::Exec(ExecSink { command: vec!["sh".into(), "-c".into(), script.into()], timeout_seconds: 5 })
}

fn file(path: &str) -> Sink {
    Sink::File(FileSink { path: path.into(), format: FileFormat::Raw, key: "K".into() })
}

/// Records a token at `label` as a previous apply would have; returns its id.
fn manage(api: &FakeApi, ledger: &mut FakeLedger, label: &str) -> String {
    let id = api.seed(label);
    let token = api.tokens.borrow()[&id].clone();
    let mut st: TokenState = crate::plan::refresh::state_from_live(&token, &Live::default(), None);
    st.secret = Some(ledger.seal(&Secret::new("api-old-secret-0000"), &[], jiff::Timestamp::now()).unwrap());
    ledger.state.tokens.insert(Address::new(label), st);
    id
}

/// A change of `kind` at `label` (on live token `id`) delivering to `sinks`.
fn with_sinks(kind: ActionKind, label: &str, id: &str, sinks: Vec<Sink>) -> Action {
    let mut change = change(kind, label, id);
    match &mut change {
        Change::Create { deliver, .. } | Change::Replace { deliver, .. } | Change::Rotate { deliver, .. } => {
            *deliver = sinks;
        }
        _ => {}
    }
    Action {
        address: Some(Address::new(label)),
        reason: Reason::RotationRequested,
        name: label.into(),
        diffs: vec![],
        change,
    }
}

fn reset(mut a: Action, grace_seconds: u64) -> Action {
    if let Change::Rotate { rotation, .. } = &mut a.change {
        *rotation = Rotation::Reset { grace_seconds };
    }
    a
}

fn apply_in(dir: &Path, api: &FakeApi, ledger: &mut FakeLedger, actions: Vec<Action>) -> (Outcome, String) {
    let plan = Plan::of(&ledger.state.lineage, ledger.state.serial, actions);
    let cap = progress::Captured::default();
    let mut live = Live::default();
    live.caller.member_id = Some("me".into());
    let path: Vec<(OsString, OsString)> = vec![("PATH".into(), std::env::var_os("PATH").unwrap_or_default())];
    let o = ApplyOptions {
        parallelism: 4,
        live,
        progress: Progress::new(Box::new(cap.clone()), false),
        sinks: Runner::new(dir, path),
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let out = rt.block_on(run(&plan, api, ledger, o, std::future::pending())).unwrap();
    (out, cap.text())
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_default()
}

#[test]
fn a_rotation_checks_then_delivers_to_every_sink_and_only_then_expires_the_old_token() {
    let dir = tempfile::tempdir().unwrap();
    let api = FakeApi::new();
    let mut ledger = FakeLedger::default();
    let old = manage(&api, &mut ledger, "r");
    let sinks = vec![sh("cat > got.txt; echo \"seen: $(cat got.txt)\""), file("out/r.txt")];
    let a = with_sinks(ActionKind::Rotate, "r", &old, sinks);
    let (out, text) = apply_in(dir.path(), &api, &mut ledger, vec![a]);
    assert!(out.is_success(), "{out:?}\n{text}");
    let secret = ledger.secret_of(&Address::new("r")).unwrap();
    assert_eq!(read(dir.path(), "got.txt"), secret, "the exec sink got the new secret on stdin");
    assert_eq!(read(dir.path(), "out/r.txt"), secret, "the file sink holds it");
    let log = api.log.borrow().clone();
    let at = |p: &str| log.iter().position(|l| l.starts_with(p)).unwrap_or_else(|| panic!("{p}: {log:?}"));
    assert!(at("POST r") < at("WHOAMI") && at("WHOAMI") < at(&format!("PATCH {old} /expiry")), "{log:?}");
    assert!(api.tokens.borrow()[&old].expiry.is_some(), "the grace started after the deliveries");
    let t = &ledger.state.tokens[&Address::new("r")];
    assert!(t.undelivered.is_empty(), "{:?}", t.undelivered);
    assert!(!ledger.state.retiring[0].is_held());
    // Every sink's progress was journaled before the grace started.
    let journal = format!("{:?}", ledger.journal);
    assert!(journal.contains("held_grace_seconds: Some(60)"), "the old generation was held first");
    assert!(!text.contains(&secret), "{text}");
    assert!(text.contains("token.r: Delivered to exec \"sh -c"), "{text}");
    assert!(
        text.contains("    seen: (sensitive value)"),
        "the sink's output, redacted, under the token: {text}"
    );
    assert!(text.contains("token.r: Delivered to file \"out/r.txt\""), "{text}");
    assert!(text.contains("delivered to 2 sinks, old id="), "{text}");
}

#[test]
fn a_failed_delivery_holds_the_old_token_and_runs_no_later_sink() {
    let dir = tempfile::tempdir().unwrap();
    let api = FakeApi::new();
    let mut ledger = FakeLedger::default();
    let old = manage(&api, &mut ledger, "r");
    let other = manage(&api, &mut ledger, "other");
    let sinks =
        vec![sh("cat > first.txt"), sh("cat >/dev/null; echo broken >&2; exit 3"), sh("cat > third.txt")];
    let failing = with_sinks(ActionKind::Rotate, "r", &old, sinks);
    let fine = with_sinks(ActionKind::Rotate, "other", &other, vec![]);
    let (out, text) = apply_in(dir.path(), &api, &mut ledger, vec![failing, fine]);
    assert!(!out.is_success());
    assert_eq!(out.failures.len(), 1, "{out:?}");
    let f = &out.failures[0];
    assert_eq!(f.label, "token.r");
    assert!(
        f.message.contains("delivery to exec \"sh -c 'cat >/dev/null; echo broken >&2; exit 3'\" failed"),
        "{f:?}"
    );
    assert!(f.message.contains("exited with status 3") && f.message.contains("\n    broken"), "{f:?}");
    assert!(f.message.contains(&format!("the old secret ({old}) keeps working: no expiry was set")), "{f:?}");
    assert!(api.tokens.borrow()[&old].expiry.is_none(), "no grace started");
    assert!(!api.log.borrow().iter().any(|l| l.starts_with(&format!("PATCH {old}"))));
    assert!(dir.path().join("first.txt").exists() && !dir.path().join("third.txt").exists());
    let held = ledger.state.retiring.iter().find(|r| r.id == old).unwrap();
    assert_eq!(held.held_grace_seconds, Some(60));
    let t = &ledger.state.tokens[&Address::new("r")];
    assert_eq!(t.undelivered.len(), 2, "the failed sink and the one after it: {:?}", t.undelivered);
    assert!(t.undelivered[0].contains("exit 3"));
    // The other token went on.
    assert!(api.tokens.borrow()[&other].expiry.is_some(), "{text}");
    assert_eq!(out.counts.rotated, 1);
}

#[test]
fn a_secret_that_does_not_authenticate_is_never_delivered_and_a_slow_one_is_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let api = FakeApi::new();
    let mut ledger = FakeLedger::default();
    let old = manage(&api, &mut ledger, "r");
    api.unauthenticated.set(100);
    let a = with_sinks(ActionKind::Rotate, "r", &old, vec![sh("cat > got.txt")]);
    let (out, _) = apply_in(dir.path(), &api, &mut ledger, vec![a]);
    assert!(
        out.failures[0].message.contains("the new secret does not authenticate after 5 tries"),
        "{out:?}"
    );
    assert!(!dir.path().join("got.txt").exists(), "no sink ran");
    assert!(api.tokens.borrow()[&old].expiry.is_none());
    assert_eq!(api.log.borrow().iter().filter(|l| *l == "WHOAMI").count(), 5);

    // Two refusals, then accepted: retried, delivered.
    let api = FakeApi::new();
    let mut ledger = FakeLedger::default();
    let old = manage(&api, &mut ledger, "r");
    api.unauthenticated.set(2);
    let a = with_sinks(ActionKind::Rotate, "r", &old, vec![sh("cat > got.txt")]);
    let (out, _) = apply_in(dir.path(), &api, &mut ledger, vec![a]);
    assert!(out.is_success(), "{out:?}");
    assert_eq!(read(dir.path(), "got.txt"), ledger.secret_of(&Address::new("r")).unwrap());
}

#[test]
fn rotating_again_delivers_and_then_releases_every_held_generation() {
    let dir = tempfile::tempdir().unwrap();
    let api = FakeApi::new();
    let mut ledger = FakeLedger::default();
    let first = manage(&api, &mut ledger, "r");
    let a = with_sinks(ActionKind::Rotate, "r", &first, vec![sh("cat >/dev/null; exit 1")]);
    let (out, _) = apply_in(dir.path(), &api, &mut ledger, vec![a]);
    assert!(!out.is_success());
    let second = ledger.state.tokens[&Address::new("r")].id.clone();

    // Mended; the next plan rotates the undelivered one again.
    let a = with_sinks(ActionKind::Rotate, "r", &second, vec![sh("cat > got.txt")]);
    let (out, text) = apply_in(dir.path(), &api, &mut ledger, vec![a]);
    assert!(out.is_success(), "{out:?}");
    let third = &ledger.state.tokens[&Address::new("r")];
    assert!(third.undelivered.is_empty());
    assert_eq!(read(dir.path(), "got.txt"), ledger.secret_of(&Address::new("r")).unwrap());
    for id in [&first, &second] {
        assert!(api.tokens.borrow()[id].expiry.is_some(), "{id}'s grace started: {text}");
        let r = ledger.state.retiring.iter().find(|r| &r.id == id).unwrap();
        assert!(!r.is_held());
    }
    assert!(text.contains(&format!("old id={first} expires at")), "{text}");
}

#[test]
fn a_create_or_reset_delivers_too_and_a_replacement_deletes_the_old_only_after() {
    let dir = tempfile::tempdir().unwrap();
    let api = FakeApi::new();
    let mut ledger = FakeLedger::default();
    let create =
        with_sinks(ActionKind::Create, "c", "", vec![sh("cat > c.txt; echo \"$TOKENFORM_EVENT\" > c.event")]);
    let id = manage(&api, &mut ledger, "z");
    let reset = reset(with_sinks(ActionKind::Rotate, "z", &id, vec![sh("cat > z.txt")]), 60);
    let old = manage(&api, &mut ledger, "p");
    let mut replace = with_sinks(ActionKind::Replace, "p", &old, vec![sh("cat > p.txt")]);
    if let Change::Replace { create_before_destroy, .. } = &mut replace.change {
        *create_before_destroy = true;
    }
    let (out, text) = apply_in(dir.path(), &api, &mut ledger, vec![create, reset, replace]);
    assert!(out.is_success(), "{out:?}\n{text}");
    assert_eq!(read(dir.path(), "c.txt"), ledger.secret_of(&Address::new("c")).unwrap());
    assert_eq!(read(dir.path(), "c.event").trim(), "create");
    assert_eq!(read(dir.path(), "z.txt"), ledger.secret_of(&Address::new("z")).unwrap());
    assert_eq!(read(dir.path(), "p.txt"), ledger.secret_of(&Address::new("p")).unwrap());
    let log = api.log.borrow().clone();
    let at = |p: &str| log.iter().rposition(|l| l.starts_with(p)).unwrap();
    assert!(at("WHOAMI") < at(&format!("DELETE {old}")), "{log:?}");
    assert!(!api.tokens.borrow().contains_key(&old));
    assert!(ledger.state.retiring.is_empty(), "{:?}", ledger.state.retiring);
    assert_eq!((out.counts.created, out.counts.rotated, out.counts.deleted), (2, 1, 1));
}

#[test]
fn a_replacement_whose_delivery_fails_keeps_the_old_token() {
    let dir = tempfile::tempdir().unwrap();
    let api = FakeApi::new();
    let mut ledger = FakeLedger::default();
    let old = manage(&api, &mut ledger, "p");
    let mut replace = with_sinks(ActionKind::Replace, "p", &old, vec![sh("exit 1")]);
    if let Change::Replace { create_before_destroy, .. } = &mut replace.change {
        *create_before_destroy = true;
    }
    let (out, _) = apply_in(dir.path(), &api, &mut ledger, vec![replace]);
    assert!(out.failures[0].message.contains(&format!("the old token {old} is kept")), "{out:?}");
    assert!(api.tokens.borrow().contains_key(&old));
    assert_eq!(ledger.state.retiring[0].held_grace_seconds, Some(0));
}
