//! Property tests of the planner: for random configurations, states and live sets,
//! carrying out the plan's intent (a small pure simulator of apply and of the API) and
//! planning again gives an empty plan; and planning is deterministic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use serde_json::Value;

use crate::api::model::{Live, PatchOp, Token};
use crate::config::{DesiredToken, ImportBlock, RemovedBlock, UnmanagedMode};
use crate::model::{Access, Address, Effect, Role, RotationMethod, Statement, TokenField};
use crate::plan::fixtures::{
    CALLER_MEMBER, CALLER_TOKEN, World, days, desired, live_for, now, retiring, rotation, secret,
};
use crate::plan::model::{ActionKind, DriftKind, Plan, Reason, TokenSpec};
use crate::plan::refresh::state_from_live;
use crate::plan::{PlanOptions, plan};
use crate::state::model::{PendingCreate, State};

#[derive(Debug, Clone)]
struct SpecGen {
    description: Option<&'static str>,
    access: u8,
    service_token: bool,
    api_version: Option<u32>,
    expires: Option<i64>,
}

fn spec_gen() -> impl Strategy<Value = SpecGen> {
    (
        prop::option::of(prop::sample::select(vec!["a", "b"])),
        0u8..6,
        any::<bool>(),
        prop::option::of(prop::sample::select(vec![20_220_603_u32, 20_240_415])),
        prop::option::of(1i64..3),
    )
        .prop_map(|(description, access, service_token, api_version, expires)| SpecGen {
            description,
            access,
            service_token,
            api_version,
            expires,
        })
}

fn stmt(action: &str) -> Statement {
    Statement {
        effect: Effect::Allow,
        actions: Some(vec![action.into()]),
        resources: Some(vec!["proj/*".into()]),
        not_actions: None,
        not_resources: None,
    }
}

fn to_desired(label: &str, g: &SpecGen) -> DesiredToken {
    let mut d = desired(label);
    d.description = g.description.map(str::to_owned);
    d.access = match g.access {
        0 => Access::Role(Role::Reader),
        1 => Access::Role(Role::Writer),
        2 => Access::CustomRoles(vec!["deploy-staging".into()]),
        3 => Access::CustomRoles(vec!["deploy-production".into(), "deploy-staging".into()]),
        4 => Access::Policy(vec![stmt("viewProject")]),
        _ => Access::Policy(vec![stmt("*"), stmt("viewProject")]),
    };
    d.service_token = g.service_token;
    d.api_version = g.api_version;
    d.expires_at = g.expires.map(|n| now() + days(10 * n));
    d
}

#[derive(Debug, Clone)]
struct TokGen {
    prev: Option<SpecGen>,
    cur: Option<SpecGen>,
    /// 0 unchanged, 1 edited live, 2 deleted live.
    live_fate: u8,
    secret_age_days: Option<i64>,
    rotate: Option<(bool, bool)>,
    ignore: Vec<TokenField>,
    cbd: bool,
    /// For tokens leaving configuration: 0 none, 1 removed/forget, 2 removed/destroy.
    removed: u8,
    /// For new tokens: 0 plain, 1 import block, 2 pending create with orphan, 3 pending create without.
    arrival: u8,
}

fn tok_gen() -> impl Strategy<Value = TokGen> {
    (
        prop::option::of(spec_gen()),
        prop::option::of(spec_gen()),
        0u8..3,
        prop::option::of(0i64..120),
        prop::option::of((any::<bool>(), any::<bool>())),
        prop::sample::subsequence(TokenField::ALL.to_vec(), 0..3),
        any::<bool>(),
        0u8..3,
        0u8..4,
    )
        .prop_map(|(prev, cur, live_fate, secret_age_days, rotate, ignore, cbd, removed, arrival)| {
            TokGen { prev, cur, live_fate, secret_age_days, rotate, ignore, cbd, removed, arrival }
        })
}

#[derive(Debug, Clone)]
struct WorldGen {
    tokens: Vec<TokGen>,
    /// Unmanaged live tokens: (service token, the caller's own member, ignored name).
    strays: Vec<(bool, bool, bool)>,
    caller_in_live: bool,
    delete_unmanaged: bool,
    personal: bool,
    retiring_due: Vec<bool>,
}

fn world_gen() -> impl Strategy<Value = WorldGen> {
    (
        prop::collection::vec(tok_gen(), 0..8),
        prop::collection::vec((any::<bool>(), any::<bool>(), any::<bool>()), 0..4),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(any::<bool>(), 0..3),
    )
        .prop_map(|(tokens, strays, caller_in_live, delete_unmanaged, personal, retiring_due)| {
            WorldGen { tokens, strays, caller_in_live, delete_unmanaged, personal, retiring_due }
        })
}

fn build(g: &WorldGen) -> World {
    let mut w = World::new();
    for (n, t) in g.tokens.iter().enumerate() {
        let label = format!("t{n}");
        let address = Address::new(&label);
        if let Some(prev) = &t.prev {
            let d = to_desired(&label, prev);
            let id = w.live_only(&d);
            let token = w.live.token(&id).unwrap().clone();
            let mut ts = state_from_live(&token, &w.live, None);
            ts.secret = t.secret_age_days.map(|a| secret(now() - days(a)));
            w.state.tokens.insert(address.clone(), ts);
            match t.live_fate {
                1 => {
                    let live = w.live_mut(&id);
                    live.description = Some("edited by hand".into());
                    live.name = Some(format!("{label}-renamed"));
                }
                2 => w.live.tokens.retain(|x| x.id != id),
                _ => {}
            }
            if t.cur.is_none() && t.removed > 0 {
                w.config.removed.push(RemovedBlock { from: address.clone(), destroy: t.removed == 2 });
            }
        }
        if let Some(cur) = &t.cur {
            let mut d = to_desired(&label, cur);
            d.rotation = t.rotate.map(|(long, reset)| {
                rotation(
                    if long { "90d" } else { "1d" },
                    if reset { RotationMethod::Reset } else { RotationMethod::Replace },
                )
            });
            d.lifecycle.ignore_changes.clone_from(&t.ignore);
            d.lifecycle.create_before_destroy = t.cbd;
            if t.prev.is_none() {
                match t.arrival {
                    1 => {
                        let id = w.live_only(&to_desired(&label, cur));
                        w.config.imports.push(ImportBlock { to: address.clone(), id });
                    }
                    2 | 3 => {
                        w.state.pending_creates.push(PendingCreate {
                            address: address.clone(),
                            name: label.clone(),
                            intent_at: now(),
                            member_id: Some(CALLER_MEMBER.into()),
                        });
                        if t.arrival == 2 {
                            let id = w.live_only(&d);
                            w.live_mut(&id).creation_date = now().as_millisecond();
                        }
                    }
                    _ => {}
                }
            }
            w.declare(d);
        }
    }
    for (n, (service, own, ignored)) in g.strays.iter().enumerate() {
        let mut d = desired(&if *ignored { format!("keep-{n}") } else { format!("stray-{n}") });
        d.service_token = *service;
        let id = w.live_only(&d);
        if !own {
            w.live_mut(&id).member_id = "m-other".into();
        }
    }
    if g.caller_in_live {
        let me = live_for(&desired("tokenform-ci"), CALLER_TOKEN, &w.live);
        w.live.tokens.push(me);
    }
    for (n, due) in g.retiring_due.iter().enumerate() {
        let d = desired(&format!("old{n}"));
        let id = w.live_only(&d);
        let at = if *due { now() - days(1) } else { now() + days(1) };
        w.state.retiring.push(retiring(&format!("token.old{n}"), &id, &d.name, at));
    }
    w.config.unmanaged.mode = if g.delete_unmanaged { UnmanagedMode::Delete } else { UnmanagedMode::Report };
    w.config.unmanaged.ignore_names = vec!["keep-*".into()];
    w.config.unmanaged.personal = g.personal;
    w
}

/// The API side of a create: a new live token for `spec`.
fn create(live: &mut Live, spec: &TokenSpec, next_id: &mut u64) -> Token {
    *next_id += 1;
    let token = Token {
        id: format!("{:024x}", 0xf000_0000 + *next_id),
        owner_id: "o".into(),
        member_id: CALLER_MEMBER.into(),
        member: None,
        name: Some(spec.api.name.clone()),
        description: spec.api.description.clone(),
        creation_date: now().as_millisecond(),
        last_modified: now().as_millisecond(),
        last_used: None,
        custom_role_ids: (!spec.api.custom_roles().is_empty()).then(|| spec.api.custom_role_ids()),
        inline_role: spec.api.policy().map(<[_]>::to_vec),
        role: spec.api.role().map(|r| r.as_str().to_owned()),
        token: None,
        service_token: spec.api.service_token,
        default_api_version: Some(spec.api.api_version.map_or(20_240_415, i64::from)),
        expiry: spec.api.expiry.map(jiff::Timestamp::as_millisecond),
        links: Value::Null,
    };
    live.tokens.push(token.clone());
    token
}

/// The API side of a PATCH, strict like LaunchDarkly: `remove`/`replace` need the path.
fn patch(token: &Token, ops: &[PatchOp]) -> Token {
    let mut v = serde_json::to_value(token).unwrap();
    let obj = v.as_object_mut().unwrap();
    for op in ops {
        let key = op.path.trim_start_matches('/');
        match op.op.as_str() {
            "add" => {
                obj.insert(key.into(), op.value.clone().unwrap());
            }
            "replace" => {
                assert!(obj.contains_key(key), "replace of absent {key}");
                obj.insert(key.into(), op.value.clone().unwrap());
            }
            "remove" => {
                assert!(obj.remove(key).is_some(), "remove of absent {key} (LaunchDarkly answers 422)");
            }
            other => panic!("unexpected op {other}"),
        }
    }
    serde_json::from_value(v).unwrap()
}

/// Carries out `plan` the way apply should: record drift, then each action in order.
fn simulate(plan: &Plan, state: &mut State, live: &mut Live) {
    let mut next_id = 0;
    for d in &plan.drift {
        if d.kind == DriftKind::Changed {
            let token = live.token(&d.token_id).unwrap().clone();
            let prev = state.tokens.get(&d.address).cloned();
            state.tokens.insert(d.address.clone(), state_from_live(&token, live, prev.as_ref()));
        }
    }
    for a in &plan.actions {
        let address = a.address.clone();
        let record =
            |state: &mut State, live: &Live, token: &Token, secret_known: bool, spec: Option<&TokenSpec>| {
                let address = address.clone().unwrap();
                let prev = state.tokens.get(&address).cloned();
                let mut ts = state_from_live(token, live, prev.as_ref());
                if let Some(spec) = spec {
                    ts.prevent_destroy = spec.state.prevent_destroy;
                }
                ts.secret = if secret_known { Some(secret(now())) } else { prev.and_then(|p| p.secret) };
                state.tokens.insert(address.clone(), ts);
                state.pending_creates.retain(|p| p.address != address);
            };
        match a.kind() {
            ActionKind::Import => {
                let token = live.token(a.token_id().unwrap()).unwrap().clone();
                state.tokens.remove(address.as_ref().unwrap());
                record(state, live, &token, false, a.desired());
            }
            ActionKind::Create => {
                let token = create(live, a.desired().unwrap(), &mut next_id);
                record(state, live, &token, true, a.desired());
            }
            ActionKind::Update => {
                let id = a.token_id().unwrap();
                let new = patch(live.token(id).unwrap(), a.patch());
                live.tokens.retain(|t| t.id != id);
                live.tokens.push(new.clone());
                record(state, live, &new, false, a.desired());
            }
            ActionKind::Replace => {
                live.tokens.retain(|t| Some(t.id.as_str()) != a.token_id());
                let token = create(live, a.desired().unwrap(), &mut next_id);
                record(state, live, &token, true, a.desired());
            }
            ActionKind::Rotate => {
                let step = a.rotation().unwrap();
                let old = a.token_id().map(str::to_owned).unwrap();
                if step.method == RotationMethod::Replace {
                    let token = create(live, a.desired().unwrap(), &mut next_id);
                    if step.grace_seconds == 0 {
                        // As apply does: no grace, the old generation is deleted at once.
                        live.tokens.retain(|t| t.id != old);
                    } else {
                        let at = now()
                            + jiff::SignedDuration::from_secs(i64::try_from(step.grace_seconds).unwrap());
                        state.retiring.push(retiring(
                            &address.clone().unwrap().to_string(),
                            &old,
                            &a.name,
                            at,
                        ));
                    }
                    record(state, live, &token, true, None);
                } else {
                    let token = live.token(&old).unwrap().clone();
                    record(state, live, &token, true, None);
                }
            }
            ActionKind::Retire => {
                let id = a.token_id().unwrap();
                live.tokens.retain(|t| t.id != id);
                state.retiring.retain(|r| r.id != id);
            }
            ActionKind::Delete => {
                live.tokens.retain(|t| Some(t.id.as_str()) != a.token_id());
                // As apply does: only the token the address holds leaves it (an orphan's
                // delete leaves what the address holds and drops the intent).
                if let Some(addr) = &address {
                    if state.tokens.get(addr).is_some_and(|t| Some(t.id.as_str()) == a.token_id()) {
                        state.tokens.remove(addr);
                    }
                    if a.reason == Reason::OrphanDiscarded {
                        state.pending_creates.retain(|p| &p.address != addr);
                    }
                }
            }
            ActionKind::Forget => {
                state.tokens.remove(address.as_ref().unwrap());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn applying_a_plan_converges(g in world_gen()) {
        let w = build(&g);
        let opts = PlanOptions::default();
        // No generated world protects a token or names an unknown role: planning must succeed.
        let first = plan(&w.config, &w.state, &w.live, now(), &opts).unwrap();
        // Deterministic: the same inputs give the same bytes.
        let again = plan(&w.config, &w.state, &w.live, now(), &opts).unwrap();
        prop_assert_eq!(serde_json::to_string(&first).unwrap(), serde_json::to_string(&again).unwrap());

        let (mut state, mut live) = (w.state.clone(), w.live.clone());
        simulate(&first, &mut state, &mut live);
        let second = plan(&w.config, &state, &live, now(), &opts).unwrap();
        // A token forgotten in authoritative mode is unmanaged afterwards (the first plan warns).
        let forgotten: Vec<&str> = first
            .actions
            .iter()
            .filter(|a| a.kind() == ActionKind::Forget && a.reason == crate::plan::Reason::RemovedBlock)
            .filter(|a| live.token(a.token_id().unwrap()).is_some() && !a.name.starts_with("keep-"))
            .map(|a| a.token_id().unwrap())
            .collect();
        if g.delete_unmanaged && !forgotten.is_empty() {
            prop_assert!(first.warnings.iter().any(|w| w.contains("forgotten by a removed block")));
        }
        let rest: Vec<_> = second
            .actions
            .iter()
            .filter(|a| !(g.delete_unmanaged && a.address.is_none() && forgotten.contains(&a.token_id().unwrap())))
            .collect();
        prop_assert!(rest.is_empty(), "first: {:#?}\nsecond: {:#?}", first.actions, second.actions);
        prop_assert!(second.drift.is_empty(), "drift left: {:#?}", second.drift);
        // No orphan outlives the plan: every leftover intent is gone, and so is every
        // token it left (the live tokens under a configured name are the state's, and the
        // retiring generations whose grace has not ended).
        prop_assert!(state.pending_creates.is_empty(), "{:#?}", state.pending_creates);
        for (address, d) in &w.config.tokens {
            let held: Vec<&str> = live.tokens.iter().filter(|t| t.name() == d.name).map(|t| t.id.as_str()).collect();
            for id in held {
                let known = state.tokens.get(address).is_some_and(|t| t.id == id)
                    || state.retiring.iter().any(|r| r.id == id)
                    || state.tokens.values().any(|t| t.id == id);
                prop_assert!(known || !w.state.pending_creates.iter().any(|p| &p.address == address),
                    "{address}: live token {id} is an orphan nobody deleted");
            }
        }
    }

    #[test]
    fn refresh_only_then_plan_shows_no_drift(g in world_gen()) {
        let w = build(&g);
        let opts = PlanOptions { refresh_only: true, ..PlanOptions::default() };
        let first = plan(&w.config, &w.state, &w.live, now(), &opts).unwrap();
        prop_assert!(first.actions.is_empty());
        let (mut state, mut live) = (w.state.clone(), w.live.clone());
        simulate(&first, &mut state, &mut live);
        for d in &first.drift {
            if d.kind == DriftKind::Missing {
                state.tokens.remove(&d.address);
            }
        }
        let second = plan(&w.config, &state, &live, now(), &opts).unwrap();
        prop_assert!(second.drift.is_empty(), "{:#?}", second.drift);
    }
}
