//! Executor tests against the in-memory fakes: ordering, concurrency, lost answers,
//! interruption, safety checks.

use std::collections::HashSet;

use super::fake::{FakeApi, FakeLedger};
use super::step::tests::{change, spec};
use super::*;
use crate::api::model::PatchOp;
use crate::model::{Address, RotationMethod};
use crate::plan::model::{Action, ActionKind, Change, Reason, Rotation};
use crate::state::model::{PendingCreate, RetiringToken, TokenState};

/// An action of `kind` at token `label` on live token `id`: an update without patch (state
/// only), a rotation by replace with a grace of 60 s.
fn act(kind: ActionKind, label: &str, id: Option<&str>) -> Action {
    let mut change = change(kind, label, id.unwrap_or_default());
    if let Change::Update { patch, .. } = &mut change {
        patch.clear();
    }
    Action {
        address: Some(Address::new(label)),
        reason: Reason::ConfigChanged,
        name: label.into(),
        diffs: vec![],
        change,
    }
}

/// `a` (a rotation) by `method` with `grace_seconds`.
fn rotating(mut a: Action, method: RotationMethod, grace: u64) -> Action {
    if let Change::Rotate { rotation, .. } = &mut a.change {
        *rotation = match method {
            RotationMethod::Replace => Rotation::Replace { grace_seconds: grace, desired: spec(&a.name) },
            RotationMethod::Reset => Rotation::Reset { grace_seconds: grace },
        };
    }
    a
}

/// `a` (an update) with `ops`.
fn patching(mut a: Action, ops: Vec<PatchOp>) -> Action {
    if let Change::Update { patch, .. } = &mut a.change {
        *patch = ops;
    }
    a
}

/// `a` acting on live token `id` instead.
fn on_id(mut a: Action, id: &str) -> Action {
    if let Change::Update { token_id, .. } | Change::Rotate { token_id, .. } = &mut a.change {
        id.clone_into(token_id);
    }
    a
}

fn plan_of(ledger: &FakeLedger, actions: Vec<Action>) -> Plan {
    Plan::of(&ledger.state.lineage, ledger.state.serial, actions)
}

fn live_with_caller(token_id: Option<&str>) -> Live {
    let mut live = Live::default();
    live.caller.member_id = Some("me".into());
    live.caller.token_id = token_id.map(str::to_owned);
    live
}

fn opts(parallelism: usize) -> (ApplyOptions, progress::Captured) {
    let cap = progress::Captured::default();
    let o = ApplyOptions {
        parallelism,
        live: live_with_caller(Some("caller")),
        progress: Progress::new(Box::new(cap.clone()), false),
        sinks: crate::deliver::Runner::new(std::env::temp_dir(), vec![]),
    };
    (o, cap)
}

fn run_plan(api: &FakeApi, ledger: &mut FakeLedger, plan: &Plan, parallelism: usize) -> (Outcome, String) {
    let (o, cap) = opts(parallelism);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let out = rt.block_on(run(plan, api, ledger, o, std::future::pending())).unwrap();
    (out, cap.text())
}

/// Records an existing token at `label` in the ledger, as a previous apply would have.
fn manage(api: &FakeApi, ledger: &mut FakeLedger, label: &str) -> String {
    let id = api.seed(label);
    let token = api.tokens.borrow()[&id].clone();
    let mut st: TokenState = crate::plan::refresh::state_from_live(&token, &Live::default(), None);
    st.secret = Some(
        ledger.seal(&Secret::new(format!("api-old-{label}-0000")), &[], jiff::Timestamp::now()).unwrap(),
    );
    ledger.state.tokens.insert(Address::new(label), st);
    id
}

fn pos(log: &[String], prefix: &str) -> usize {
    log.iter().position(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("{prefix} not in {log:?}"))
}

#[test]
fn creates_run_concurrently_and_each_is_journaled_before_it_is_sent() {
    let api = FakeApi::new();
    let mut ledger = FakeLedger::default();
    let actions = (0..12).map(|i| act(ActionKind::Create, &format!("t{i}"), None)).collect();
    let plan = plan_of(&ledger, actions);
    let (out, text) = run_plan(&api, &mut ledger, &plan, 4);
    assert!(out.is_success(), "{out:?}");
    assert_eq!(out.counts.created, 12);
    assert_eq!(api.max_in_flight.get(), 4, "bounded by parallelism, and actually concurrent");
    assert_eq!(ledger.state.tokens.len(), 12);
    assert!(ledger.state.pending_creates.is_empty());
    assert_eq!(ledger.saves, 1, "one save at the end, not one per step");
    for (addr, t) in &ledger.state.tokens {
        let secret = ledger.secret_of(addr).unwrap();
        assert!(
            api.secrets.borrow().contains(&(t.id.clone(), secret)),
            "{addr} holds the token's real secret"
        );
        // intent, then the token, then the intent cleared
        let at = |f: &dyn Fn(&JournalRecord) -> bool| ledger.journal.iter().position(f).unwrap();
        let intent =
            at(&|r| matches!(r, JournalRecord::PendingCreate { pending } if &pending.address == addr));
        let upsert = at(&|r| matches!(r, JournalRecord::Upsert { address, .. } if address == addr));
        let clear = at(&|r| matches!(r, JournalRecord::ClearPending { address } if address == addr));
        assert!(intent < upsert && upsert < clear);
    }
    assert!(text.contains("token.t0: Creation complete [id="), "{text}");
    assert!(!text.contains("api-00000000"), "no secret in progress output");
}

#[test]
fn a_lost_create_answer_deletes_its_orphan_and_creates_once_more() {
    let api = FakeApi::new();
    api.lose_answer.borrow_mut().insert("a".into());
    let mut ledger = FakeLedger::default();
    let plan = plan_of(&ledger, vec![act(ActionKind::Create, "a", None), act(ActionKind::Create, "b", None)]);
    let (out, text) = run_plan(&api, &mut ledger, &plan, 2);
    assert!(out.is_success(), "{out:?}");
    assert_eq!(api.names(), ["a", "b"], "exactly one token per name, the orphan gone");
    assert_eq!((out.counts.discarded, out.counts.created), (1, 2));
    let log = api.log.borrow().clone();
    let a: Vec<&str> = log.iter().map(String::as_str).filter(|l| !l.ends_with(" b")).collect();
    assert_eq!(a[..2], ["POST a", "LIST"]);
    assert!(a[2].starts_with("DELETE "), "{a:?}");
    assert_eq!(a[3..], ["LIST", "POST a"]);
    // Every address ends with a secret the state holds: no token without one.
    for label in ["a", "b"] {
        let t = &ledger.state.tokens[&Address::new(label)];
        assert!(
            api.secrets.borrow().contains(&(t.id.clone(), ledger.secret_of(&Address::new(label)).unwrap()))
        );
    }
    assert!(ledger.state.pending_creates.is_empty());
    assert!(text.contains("left by a create whose answer was lost"), "{text}");
}

#[test]
fn a_leftover_intent_with_no_orphan_is_dropped_but_one_with_an_orphan_is_kept() {
    let api = FakeApi::new();
    let mut ledger = FakeLedger::default();
    manage(&api, &mut ledger, "kept"); // a rotation's create was killed before it landed
    let orphan = api.seed("orphaned"); // this one landed, but the plan (refresh-only, targeted…) skips it
    for label in ["kept", "orphaned"] {
        ledger.state.pending_creates.push(PendingCreate {
            address: Address::new(label),
            name: label.into(),
            intent_at: jiff::Timestamp::now() - jiff::SignedDuration::from_secs(1),
            member_id: Some("me".into()),
        });
    }
    let mut live = live_with_caller(Some("caller"));
    live.tokens = api.tokens.borrow().values().cloned().collect();
    let (o, _) = opts(1);
    let plan = plan_of(&ledger, vec![act(ActionKind::Create, "other", None)]);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let out = rt
        .block_on(run(&plan, &api, &mut ledger, ApplyOptions { live, ..o }, std::future::pending()))
        .unwrap();
    assert!(out.is_success(), "{out:?}");
    let left: Vec<String> = ledger.state.pending_creates.iter().map(|p| p.address.to_string()).collect();
    assert_eq!(left, ["token.orphaned"], "the intent whose orphan is live stays for the next plan");
    assert!(api.tokens.borrow().contains_key(&orphan));
}

#[test]
fn a_create_answered_with_an_id_another_address_holds_is_refused_naming_both() {
    let api = FakeApi::new();
    api.canned.set(true);
    let mut ledger = FakeLedger::default();
    let plan = plan_of(&ledger, vec![act(ActionKind::Create, "p", None), act(ActionKind::Create, "r", None)]);
    let (out, _) = run_plan(&api, &mut ledger, &plan, 1);
    assert_eq!(out.failures.len(), 1, "{out:?}");
    let f = &out.failures[0];
    assert_eq!(f.label, "token.r");
    assert!(f.message.contains("which token.p already holds; not recorded at token.r"), "{}", f.message);
    assert_eq!(ledger.state.tokens.len(), 1);
    assert!(ledger.state.duplicate_id().is_none());
    assert!(ledger.state.pending_creates.is_empty(), "the create was answered: no intent left");

    // A rotation answered with the old token's own id is refused too.
    let plan = plan_of(
        &ledger,
        vec![rotating(
            act(ActionKind::Rotate, "p", Some(&format!("{:024x}", 0x00ca_11ed))),
            RotationMethod::Replace,
            60,
        )],
    );
    let (out, _) = run_plan(&api, &mut ledger, &plan, 1);
    assert!(out.failures[0].message.contains("which token.p already holds"), "{out:?}");
    assert!(ledger.state.retiring.is_empty() && ledger.state.duplicate_id().is_none());
}

#[test]
fn an_orphan_the_plan_found_is_deleted_before_its_address_is_created() {
    let api = FakeApi::new();
    let orphan = api.seed("a");
    let mut ledger = FakeLedger::default();
    ledger.state.pending_creates.push(PendingCreate {
        address: Address::new("a"),
        name: "a".into(),
        intent_at: jiff::Timestamp::now() - jiff::SignedDuration::from_secs(1),
        member_id: Some("me".into()),
    });
    let mut discard = act(ActionKind::Delete, "a", Some(&orphan));
    discard.reason = Reason::OrphanDiscarded;
    discard.change = Change::DiscardOrphan { token_id: orphan.clone() };
    let plan = plan_of(&ledger, vec![act(ActionKind::Create, "a", None), discard]);
    let (out, text) = run_plan(&api, &mut ledger, &plan, 2);
    assert!(out.is_success(), "{out:?}");
    assert_eq!(api.log.borrow()[..2], [format!("DELETE {orphan}"), "POST a".to_owned()]);
    assert_eq!(api.names(), ["a"]);
    assert_ne!(ledger.state.tokens[&Address::new("a")].id, orphan);
    assert!(ledger.secret_of(&Address::new("a")).is_some());
    assert!(ledger.state.pending_creates.is_empty());
    assert_eq!(out.counts.discarded, 1);
    assert!(text.contains(&format!("token.a: Deleted orphan [id={orphan}]")), "{text}");
}

#[test]
fn a_create_that_did_not_happen_is_sent_again_after_listing() {
    let api = FakeApi::new();
    api.drop_request.borrow_mut().insert("a".into());
    let mut ledger = FakeLedger::default();
    let plan = plan_of(&ledger, vec![act(ActionKind::Create, "a", None)]);
    let (out, _) = run_plan(&api, &mut ledger, &plan, 2);
    assert!(out.is_success(), "{out:?}");
    let log = api.log.borrow().clone();
    assert_eq!(log, ["POST a", "LIST", "POST a"]);
    assert_eq!(api.names(), ["a"]);
    assert!(ledger.secret_of(&Address::new("a")).is_some());
}

#[test]
fn a_leftover_intent_from_a_crashed_run_is_reconciled_before_creating() {
    let api = FakeApi::new();
    let orphan = api.seed("a"); // created just before the crash
    let mut ledger = FakeLedger::default();
    let earlier = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(1);
    for label in ["a", "b"] {
        ledger.state.pending_creates.push(PendingCreate {
            address: Address::new(label),
            name: label.into(),
            intent_at: earlier,
            member_id: Some("me".into()),
        });
    }
    let plan = plan_of(&ledger, vec![act(ActionKind::Create, "a", None), act(ActionKind::Create, "b", None)]);
    let (out, _) = run_plan(&api, &mut ledger, &plan, 1);
    assert!(out.is_success(), "{out:?}");
    assert_eq!(api.names(), ["a", "b"]);
    assert_ne!(ledger.state.tokens[&Address::new("a")].id, orphan, "the orphan is deleted, not adopted");
    assert!(!api.tokens.borrow().contains_key(&orphan));
    assert!(ledger.secret_of(&Address::new("a")).is_some());
    assert!(ledger.secret_of(&Address::new("b")).is_some(), "b's intent created nothing: created now");
    assert!(ledger.state.pending_creates.is_empty());
}

#[test]
fn replace_orders_create_and_delete_by_create_before_destroy() {
    for cbd in [true, false] {
        let api = FakeApi::new();
        let mut ledger = FakeLedger::default();
        let old = manage(&api, &mut ledger, "r");
        let mut a = act(ActionKind::Replace, "r", Some(&old));
        if let Change::Replace { create_before_destroy, .. } = &mut a.change {
            *create_before_destroy = cbd;
        }
        let plan = plan_of(&ledger, vec![a]);
        let (out, text) = run_plan(&api, &mut ledger, &plan, 4);
        assert!(out.is_success(), "{out:?}");
        let log = api.log.borrow().clone();
        let (post, delete) = (pos(&log, "POST r"), pos(&log, &format!("DELETE {old}")));
        assert_eq!(post < delete, cbd, "{log:?}");
        assert_eq!(api.names(), ["r"]);
        let new = &ledger.state.tokens[&Address::new("r")];
        assert_ne!(new.id, old);
        assert!(ledger.state.retiring.is_empty());
        assert_eq!((out.counts.created, out.counts.deleted), (1, 1));
        assert!(text.contains("token.r: Replacement complete"), "{text}");
    }
}

#[test]
fn rotate_replace_creates_a_successor_and_expires_the_old_token() {
    let api = FakeApi::new();
    let mut ledger = FakeLedger::default();
    let old = manage(&api, &mut ledger, "r");
    let old_secret = ledger.secret_of(&Address::new("r"));
    let a = rotating(act(ActionKind::Rotate, "r", Some(&old)), RotationMethod::Replace, 3600);
    let plan = plan_of(&ledger, vec![a]);
    let (out, text) = run_plan(&api, &mut ledger, &plan, 4);
    assert!(out.is_success(), "{out:?}");
    assert_eq!(out.counts.rotated, 1);
    let log = api.log.borrow().clone();
    assert!(pos(&log, "POST r") < pos(&log, &format!("PATCH {old} /expiry")));
    // The line says the expiry that was sent, to the second.
    let sent = jiff::Timestamp::from_millisecond(api.tokens.borrow()[&old].expiry.unwrap()).unwrap();
    assert!(
        text.contains(&format!("old id={old} expires at {}", sent.strftime("%Y-%m-%dT%H:%M:%SZ"))),
        "{text}"
    );
    let new = &ledger.state.tokens[&Address::new("r")];
    assert_ne!(new.id, old);
    assert_ne!(ledger.secret_of(&Address::new("r")), old_secret);
    let expiry = api.tokens.borrow()[&old].expiry.unwrap();
    let in_an_hour = (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(3600)).as_millisecond();
    assert!((expiry - in_an_hour).abs() < 60_000, "old token expires after the grace");
    assert_eq!(ledger.state.retiring.len(), 1);
    assert_eq!(ledger.state.retiring[0].id, old);
}

#[test]
fn a_grace_past_the_end_of_time_sends_nothing() {
    let api = FakeApi::new();
    let mut ledger = FakeLedger::default();
    let old = manage(&api, &mut ledger, "r");
    for method in [RotationMethod::Replace, RotationMethod::Reset] {
        let a = rotating(act(ActionKind::Rotate, "r", Some(&old)), method, 99_999_999 * 86_400);
        let plan = plan_of(&ledger, vec![a]);
        let (out, _) = run_plan(&api, &mut ledger, &plan, 1);
        assert!(out.failures[0].message.contains("ends past the year 9999: nothing was sent"), "{out:?}");
    }
    assert!(api.log.borrow().is_empty(), "{:?}", api.log.borrow());
    assert!(api.tokens.borrow()[&old].expiry.is_none(), "never an expiry of now");
}

#[test]
fn rotate_reset_keeps_the_id_and_stores_the_new_secret() {
    let api = FakeApi::new();
    let mut ledger = FakeLedger::default();
    let id = manage(&api, &mut ledger, "r");
    let a = rotating(act(ActionKind::Rotate, "r", Some(&id)), RotationMethod::Reset, 60);
    let plan = plan_of(&ledger, vec![a]);
    let (out, _) = run_plan(&api, &mut ledger, &plan, 4);
    assert!(out.is_success(), "{out:?}");
    assert_eq!(*api.log.borrow(), [format!("RESET {id} true")]);
    assert_eq!(ledger.state.tokens[&Address::new("r")].id, id);
    let stored = ledger.secret_of(&Address::new("r")).unwrap();
    assert_eq!(api.secrets.borrow().last().unwrap(), &(id, stored));
}

#[test]
fn deletes_and_retires_run_after_everything_else() {
    let api = FakeApi::new();
    let mut ledger = FakeLedger::default();
    let gone = manage(&api, &mut ledger, "gone");
    let upd = manage(&api, &mut ledger, "upd");
    let retired = api.seed("old-gen");
    ledger.state.retiring.push(RetiringToken {
        address: Address::new("upd"),
        id: retired.clone(),
        name: "old-gen".into(),
        expires_at: jiff::Timestamp::now(),
        held_grace_seconds: None,
    });
    let update = patching(
        act(ActionKind::Update, "upd", Some(&upd)),
        vec![PatchOp::replace("/role", serde_json::json!("writer"))],
    );
    let plan = plan_of(
        &ledger,
        vec![
            act(ActionKind::Delete, "gone", Some(&gone)),
            act(ActionKind::Retire, "upd", Some(&retired)),
            act(ActionKind::Create, "new", None),
            update,
        ],
    );
    let (out, _) = run_plan(&api, &mut ledger, &plan, 8);
    assert!(out.is_success(), "{out:?}");
    let log = api.log.borrow().clone();
    let last_non_delete = log.iter().rposition(|l| !l.starts_with("DELETE")).unwrap();
    let first_delete = pos(&log, "DELETE");
    assert!(last_non_delete < first_delete, "{log:?}");
    assert_eq!(api.names(), ["new", "upd"]);
    assert!(!ledger.state.tokens.contains_key(&Address::new("gone")));
    assert!(ledger.state.retiring.is_empty());
    assert_eq!(ledger.state.tokens[&Address::new("upd")].role.as_deref(), Some("writer"));
    assert_eq!(out.counts.summary(), "Tokens: 1 created, 1 updated, 0 rotated, 1 deleted, 1 retired.");
}

#[test]
fn import_records_the_live_token_without_secret_and_forget_drops_it() {
    let api = FakeApi::new();
    let mut ledger = FakeLedger::default();
    let id = api.seed("legacy");
    manage(&api, &mut ledger, "dropme");
    let plan = plan_of(
        &ledger,
        vec![act(ActionKind::Import, "legacy", Some(&id)), act(ActionKind::Forget, "dropme", Some("x"))],
    );
    let (out, _) = run_plan(&api, &mut ledger, &plan, 2);
    assert!(out.is_success(), "{out:?}");
    assert_eq!(ledger.state.tokens[&Address::new("legacy")].id, id);
    assert!(ledger.state.tokens[&Address::new("legacy")].secret.is_none());
    assert!(!ledger.state.tokens.contains_key(&Address::new("dropme")));
    assert_eq!(api.names(), ["dropme", "legacy"], "forget deletes nothing");
}

#[test]
fn a_failed_create_is_reported_and_the_rest_goes_on() {
    let api = FakeApi::new();
    api.reject.borrow_mut().insert("bad".into());
    let mut ledger = FakeLedger::default();
    let plan =
        plan_of(&ledger, vec![act(ActionKind::Create, "bad", None), act(ActionKind::Create, "ok", None)]);
    let (out, _) = run_plan(&api, &mut ledger, &plan, 2);
    assert!(!out.is_success());
    assert_eq!(out.failures.len(), 1);
    assert_eq!(out.failures[0].label, "token.bad");
    assert!(ledger.state.tokens.contains_key(&Address::new("ok")));
    assert!(ledger.state.pending_creates.is_empty(), "a refused create leaves no intent behind");
    assert_eq!(ledger.saves, 1);
}

#[test]
fn interrupt_stops_new_work_records_what_finished_and_saves() {
    let mut api = FakeApi::new();
    api.delay = std::time::Duration::from_millis(30);
    let mut ledger = FakeLedger::default();
    let actions = (0..20).map(|i| act(ActionKind::Create, &format!("t{i:02}"), None)).collect();
    let plan = plan_of(&ledger, actions);
    let (o, cap) = opts(2);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let interrupt = async { tokio::time::sleep(std::time::Duration::from_millis(45)).await };
    let out = rt.block_on(run(&plan, &api, &mut ledger, o, interrupt)).unwrap();
    assert!(out.interrupted);
    assert!(!out.is_success());
    assert!(out.not_started > 0 && out.not_started < 20, "{out:?}");
    assert_eq!(ledger.saves, 1);
    // Everything that was sent was recorded: live and state agree exactly.
    let live: HashSet<String> = api.tokens.borrow().keys().cloned().collect();
    let state: HashSet<String> = ledger.state.tokens.values().map(|t| t.id.clone()).collect();
    assert_eq!(live, state);
    assert_eq!(out.counts.created + out.not_started, 20);
    assert!(cap.text().contains("Interrupt received"));
}

#[test]
fn protected_and_own_tokens_are_never_deleted() {
    let api = FakeApi::new();
    let mut ledger = FakeLedger::default();
    let id = manage(&api, &mut ledger, "p");
    ledger.state.tokens.get_mut(&Address::new("p")).unwrap().prevent_destroy = true;
    let plan = plan_of(&ledger, vec![act(ActionKind::Delete, "p", Some(&id))]);
    let (o, _) = opts(2);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let err = rt.block_on(run(&plan, &api, &mut ledger, o, std::future::pending())).unwrap_err();
    assert!(matches!(err, ApplyError::PreventDestroy { .. }), "{err}");

    // Nor is the caller's own token deleted, retired, rotated, reset or given an expiry,
    // whatever a (hand-edited) plan file says.
    let expire = vec![PatchOp::add("/expiry", serde_json::json!(1))];
    let own = [
        act(ActionKind::Delete, "caller", Some("caller")),
        act(ActionKind::Retire, "caller", Some("caller")),
        rotating(act(ActionKind::Rotate, "caller", Some("caller")), RotationMethod::Replace, 3),
        rotating(act(ActionKind::Rotate, "caller", Some("caller")), RotationMethod::Reset, 3),
        patching(act(ActionKind::Update, "caller", Some("caller")), expire),
    ];
    for a in own {
        let plan = plan_of(&ledger, vec![a.clone()]);
        let (o, _) = opts(2);
        let err = rt.block_on(run(&plan, &api, &mut ledger, o, std::future::pending())).unwrap_err();
        assert!(matches!(err, ApplyError::OwnToken { .. }), "{a:?}: {err}");
    }
    let remove = vec![PatchOp::remove("/expiry")];
    let lift = plan_of(&ledger, vec![patching(act(ActionKind::Update, "caller", Some("caller")), remove)]);
    assert!(check_safety(&step::steps(&lift), &ledger.state, &live_with_caller(Some("caller"))).is_ok());
    assert!(api.log.borrow().is_empty(), "nothing was sent");
}

#[test]
fn no_token_is_created_when_its_secret_could_not_be_stored() {
    let api = FakeApi::new();
    let mut ledger = FakeLedger { no_recipients: true, ..FakeLedger::default() };
    let plan = plan_of(&ledger, vec![act(ActionKind::Create, "a", None)]);
    let (o, _) = opts(2);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let err = rt.block_on(run(&plan, &api, &mut ledger, o, std::future::pending())).unwrap_err();
    assert!(matches!(err, ApplyError::CannotSeal { .. }), "{err}");
    assert!(api.log.borrow().is_empty());
}

#[test]
fn saved_plans_must_match_the_state() {
    let mut ledger = FakeLedger::default();
    let mut plan = plan_of(&ledger, vec![]);
    plan.lineage = "drawn when the plan read the empty state".into();
    assert!(check_saved_plan(&plan, &ledger.state).is_ok(), "nothing written yet: any lineage");
    ledger.state.serial = 3;
    assert!(matches!(check_saved_plan(&plan, &ledger.state), Err(ApplyError::StalePlan { .. })));
    let mut plan = plan_of(&ledger, vec![]);
    assert!(check_saved_plan(&plan, &ledger.state).is_ok());
    plan.serial += 1;
    assert!(matches!(check_saved_plan(&plan, &ledger.state), Err(ApplyError::StalePlan { .. })));
    plan.lineage = "other".into();
    let err = check_saved_plan(&plan, &ledger.state).unwrap_err();
    assert!(err.to_string().contains("different lineage"), "{err}");
}

#[test]
fn an_update_without_patch_changes_only_state() {
    let api = FakeApi::new();
    let mut ledger = FakeLedger::default();
    let id = manage(&api, &mut ledger, "p");
    let mut a = act(ActionKind::Update, "p", Some(&id));
    if let Change::Update { desired, .. } = &mut a.change {
        desired.state.prevent_destroy = true;
    }
    let plan = plan_of(&ledger, vec![a]);
    let (out, _) = run_plan(&api, &mut ledger, &plan, 2);
    assert!(out.is_success(), "{out:?}");
    assert!(api.log.borrow().is_empty(), "no request");
    assert!(ledger.state.tokens[&Address::new("p")].prevent_destroy);
    assert!(ledger.state.tokens[&Address::new("p")].secret.is_some(), "the secret is kept");
}

#[test]
fn rotation_never_extends_a_hard_expiry_the_old_token_has() {
    let api = FakeApi::new();
    let mut ledger = FakeLedger::default();
    let old = manage(&api, &mut ledger, "r");
    let soon = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(60);
    ledger.state.tokens.get_mut(&Address::new("r")).unwrap().expiry = Some(soon);
    let a = rotating(act(ActionKind::Rotate, "r", Some(&old)), RotationMethod::Replace, 86_400);
    let plan = plan_of(&ledger, vec![a]);
    let (out, _) = run_plan(&api, &mut ledger, &plan, 2);
    assert!(out.is_success(), "{out:?}");
    assert!(!api.log.borrow().iter().any(|l| l.starts_with("PATCH")), "{:?}", api.log.borrow());
    assert_eq!(ledger.state.retiring[0].expires_at, soon);
    assert_eq!(out.counts.rotated, 1);
}

#[test]
fn tasks_of_one_token_run_in_plan_order_and_stop_at_a_failure() {
    let mut api = FakeApi::new();
    api.delay = std::time::Duration::from_millis(5);
    let mut ledger = FakeLedger::default();
    let id = manage(&api, &mut ledger, "r");
    let update = patching(
        act(ActionKind::Update, "r", Some(&id)),
        vec![PatchOp::replace("/role", serde_json::json!("writer"))],
    );
    let rotate = rotating(act(ActionKind::Rotate, "r", Some(&id)), RotationMethod::Replace, 60);
    let plan = plan_of(&ledger, vec![update.clone(), rotate.clone()]);
    let (out, _) = run_plan(&api, &mut ledger, &plan, 8);
    assert!(out.is_success(), "{out:?}");
    let timeline = api.timeline.borrow().clone();
    assert!(pos(&timeline, &format!("<- PATCH {id} /role")) < pos(&timeline, "-> POST r"), "{timeline:?}");
    let now_at = &ledger.state.tokens[&Address::new("r")];
    assert_ne!(now_at.id, id, "the rotation's successor holds the address, not the updated old token");

    // When the first task of a token fails, its later ones are skipped.
    let api = FakeApi::new();
    let mut ledger = FakeLedger::default();
    let id = manage(&api, &mut ledger, "r");
    api.tokens.borrow_mut().clear(); // the PATCH will 404
    let update = on_id(update, &id);
    let rotate = on_id(rotate, &id);
    let plan = plan_of(&ledger, vec![update, rotate]);
    let (out, _) = run_plan(&api, &mut ledger, &plan, 8);
    assert_eq!(out.failures.len(), 2);
    assert!(out.failures[1].message.contains("skipped"), "{out:?}");
    assert!(!api.log.borrow().iter().any(|l| l.starts_with("POST")));
}

#[test]
fn a_token_deleted_outside_is_recreated_but_one_merely_unlisted_is_not() {
    let api = FakeApi::new();
    let mut ledger = FakeLedger::default();
    let gone = manage(&api, &mut ledger, "gone");
    let hidden = manage(&api, &mut ledger, "hidden");
    api.tokens.borrow_mut().remove(&gone);
    let plan = plan_of(
        &ledger,
        vec![act(ActionKind::Create, "gone", None), act(ActionKind::Create, "hidden", None)],
    );
    let (out, _) = run_plan(&api, &mut ledger, &plan, 2);
    assert_eq!(out.counts.created, 1);
    assert_ne!(ledger.state.tokens[&Address::new("gone")].id, gone);
    assert_eq!(out.failures.len(), 1);
    assert_eq!(out.failures[0].label, "token.hidden");
    assert!(out.failures[0].message.contains("still live"), "{out:?}");
    assert_eq!(ledger.state.tokens[&Address::new("hidden")].id, hidden);
    assert_eq!(api.names(), ["gone", "hidden"], "no duplicate");
}
