//! Table tests of the planner: one test per action, reason and rule of `docs/spec.md` §5.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;

use crate::api::model::PatchOp;
use crate::config::{ImportBlock, RemovedBlock, UnmanagedMode};
use crate::model::{Access, Address, Effect, Role, RotationMethod, Statement, TokenField};
use crate::plan::fixtures::{
    CALLER_MEMBER, CALLER_TOKEN, World, days, desired, id, live_for, now, retiring, rotation, secret,
};
use crate::plan::model::{CustomRole, DriftKind};
use crate::plan::{Action, ActionKind, Plan, PlanError, PlanOptions, Reason};
use crate::state::model::PendingCreate;

fn kinds(plan: &Plan) -> Vec<(ActionKind, Reason, String)> {
    plan.actions
        .iter()
        .map(|a| {
            (
                a.kind(),
                a.reason,
                a.address.as_ref().map_or_else(|| format!("unmanaged {}", a.name), Address::to_string),
            )
        })
        .collect()
}

fn one(kind: ActionKind, reason: Reason, address: &str) -> Vec<(ActionKind, Reason, String)> {
    vec![(kind, reason, address.to_owned())]
}

fn addr(s: &str) -> Address {
    s.parse().unwrap()
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

#[test]
fn agreeing_inputs_plan_nothing_and_carry_the_state_identity() {
    let mut w = World::new();
    w.managed(desired("a"));
    let plan = w.plan();
    assert!(plan.is_empty() && !plan.has_changes(), "{plan:#?}");
    assert_eq!(plan.lineage, w.state.lineage);
    assert_eq!(plan.serial, 7);
    assert_eq!(plan.config_digest, "d1g3st");
    assert!(plan.drift.is_empty() && plan.warnings.is_empty());
}

#[test]
fn a_token_not_in_state_is_created_with_its_spec() {
    let mut w = World::new();
    let mut d = desired("a");
    d.access = Access::CustomRoles(vec!["deploy-staging".into()]);
    w.declare(d);
    let plan = w.plan();
    assert_eq!(kinds(&plan), one(ActionKind::Create, Reason::NotInState, "token.a"));
    let spec = plan.actions[0].desired().unwrap();
    assert_eq!(spec.api.custom_role_ids(), vec![w.live.role_id("deploy-staging").unwrap().to_owned()]);
    assert_eq!(
        spec.api.custom_roles(),
        [CustomRole {
            key: "deploy-staging".to_owned(),
            id: w.live.role_id("deploy-staging").unwrap().to_owned()
        }]
    );
    assert!(plan.actions[0].token_id().is_none());
}

#[test]
fn config_changes_are_one_patch_with_only_the_changed_paths() {
    let mut w = World::new();
    w.managed(desired("a"));
    let d = w.config.tokens.get_mut(&addr("token.a")).unwrap();
    d.name = "a-2".into();
    d.description = Some("for CI".into());
    d.access = Access::Role(Role::Writer);
    d.expires_at = Some(now() + days(10));
    let plan = w.plan();
    assert_eq!(kinds(&plan), one(ActionKind::Update, Reason::ConfigChanged, "token.a"));
    let a = &plan.actions[0];
    assert_eq!(
        a.patch(),
        vec![
            PatchOp::replace("/name", json!("a-2")),
            PatchOp::add("/description", json!("for CI")),
            PatchOp::replace("/role", json!("writer")),
            PatchOp::add("/expiry", json!((now() + days(10)).as_millisecond())),
        ]
    );
    let fields: Vec<_> = a.diffs.iter().map(|d| d.field).collect();
    assert_eq!(fields, [TokenField::Name, TokenField::Description, TokenField::Role, TokenField::ExpiresAt]);
    assert_eq!(a.diffs[0].old, Some(json!("a")));
    assert_eq!(a.diffs[0].new, Some(json!("a-2")));
    assert_eq!(a.name, "a", "an update is named by the token's current name");
}

#[test]
fn remove_is_sent_only_for_a_field_the_live_token_has() {
    let mut w = World::new();
    let mut d = desired("a");
    d.description = Some("old".into());
    d.expires_at = Some(now() + days(3));
    w.managed(d);
    let d = w.config.tokens.get_mut(&addr("token.a")).unwrap();
    d.description = None;
    d.expires_at = None;
    let plan = w.plan();
    assert_eq!(plan.actions[0].patch(), vec![PatchOp::remove("/description"), PatchOp::remove("/expiry")]);

    // An empty live description equals none: nothing to remove.
    let mut w = World::new();
    let token = w.managed(desired("b"));
    w.live_mut(&token).description = Some(String::new());
    assert!(w.plan().is_empty());
}

#[test]
fn null_and_empty_lists_are_equal() {
    let mut w = World::new();
    let token = w.managed(desired("a"));
    w.live_mut(&token).custom_role_ids = Some(Vec::new());
    w.live_mut(&token).inline_role = Some(Vec::new());
    let plan = w.plan();
    assert!(plan.is_empty() && plan.drift.is_empty(), "{plan:#?}");
}

#[test]
fn custom_roles_compare_and_patch_as_ids() {
    let mut w = World::new();
    let token = w.managed(desired("a"));
    w.config.tokens.get_mut(&addr("token.a")).unwrap().access =
        Access::CustomRoles(vec!["deploy-production".into(), "deploy-staging".into()]);
    let plan = w.plan();
    let prod = w.live.role_id("deploy-production").unwrap().to_owned();
    let staging = w.live.role_id("deploy-staging").unwrap().to_owned();
    assert_eq!(
        plan.actions[0].patch(),
        vec![PatchOp::remove("/role"), PatchOp::add("/customRoleIds", json!([prod, staging]))]
    );
    // Diffs show keys, for people.
    assert_eq!(plan.actions[0].diffs[1].new, Some(json!(["deploy-production", "deploy-staging"])));

    // The same ids in another order are no change.
    let live = w.live_mut(&token);
    live.role = None;
    live.custom_role_ids = Some(vec![staging, prod]);
    let plan = w.plan();
    assert!(plan.actions.iter().all(|a| a.kind() != ActionKind::Update), "{plan:#?}");
}

#[test]
fn an_unknown_custom_role_key_is_an_error_naming_it() {
    let mut w = World::new();
    let mut d = desired("a");
    d.access = Access::CustomRoles(vec!["no-such-role".into()]);
    w.declare(d);
    let err = w.plan_with(&PlanOptions::default()).unwrap_err();
    let PlanError::UnknownCustomRoles { roles } = &err else { panic!("{err:?}") };
    assert_eq!(roles.len(), 1);
    assert_eq!((roles[0].key.as_str(), roles[0].address.as_str()), ("no-such-role", "token.a"));
    assert!(err.to_string().contains("no-such-role"));
}

#[test]
fn policy_changes_patch_the_inline_role() {
    let mut w = World::new();
    let mut d = desired("a");
    d.access = Access::Policy(vec![stmt("viewProject")]);
    w.managed(d);
    w.config.tokens.get_mut(&addr("token.a")).unwrap().access = Access::Policy(vec![stmt("*")]);
    let plan = w.plan();
    assert_eq!(plan.actions[0].patch(), vec![PatchOp::replace("/inlineRole", json!([stmt("*")]))]);

    // Back to a base role: the inline role is removed (the live token has one).
    w.config.tokens.get_mut(&addr("token.a")).unwrap().access = Access::Role(Role::Reader);
    let plan = w.plan();
    assert_eq!(
        plan.actions[0].patch(),
        vec![PatchOp::add("/role", json!("reader")), PatchOp::remove("/inlineRole")]
    );
}

#[test]
fn service_token_and_api_version_force_replacement() {
    let mut w = World::new();
    w.managed(desired("a"));
    let mut d = desired("b");
    d.api_version = Some(20_220_603);
    w.managed(d);
    w.config.tokens.get_mut(&addr("token.a")).unwrap().service_token = false;
    let b = w.config.tokens.get_mut(&addr("token.b")).unwrap();
    b.api_version = Some(20_240_415);
    b.name = "b-new".into();
    b.lifecycle.create_before_destroy = true;
    let plan = w.plan();
    assert_eq!(
        kinds(&plan),
        vec![
            (ActionKind::Replace, Reason::ForcesReplacement, "token.a".into()),
            (ActionKind::Replace, Reason::ForcesReplacement, "token.b".into()),
        ]
    );
    let (a, b) = (&plan.actions[0], &plan.actions[1]);
    assert!(!a.create_before_destroy() && b.create_before_destroy());
    assert!(a.patch().is_empty(), "a replacement is not patched");
    assert!(a.diffs.iter().any(|d| d.field == TokenField::ServiceToken && d.forces_replacement));
    assert_eq!(
        b.diffs.iter().map(|d| (d.field, d.forces_replacement)).collect::<Vec<_>>(),
        [(TokenField::Name, false), (TokenField::ApiVersion, true)]
    );
    assert_eq!(b.desired().unwrap().api.name, "b-new");
}

#[test]
fn an_unset_api_version_accepts_whatever_the_api_picked() {
    let mut w = World::new();
    let token = w.managed(desired("a"));
    w.live_mut(&token).default_api_version = Some(20_191_212);
    assert!(w.plan().is_empty());
}

#[test]
fn rotation_is_due_by_age_or_requested_never_for_an_unknown_secret() {
    let mut w = World::new();
    let mut d = desired("due");
    d.rotation = Some(rotation("1d", RotationMethod::Replace));
    w.managed(d); // issued exactly a day ago: due (>=)
    let mut d = desired("fresh");
    d.rotation = Some(rotation("2d", RotationMethod::Reset));
    w.managed(d);
    w.managed(desired("asked"));
    // An imported token with a due rotation block: its age is unknown, so it is never due.
    let mut d = desired("unknown");
    d.rotation = Some(rotation("1d", RotationMethod::Replace));
    w.managed(d);
    w.state.tokens.get_mut(&addr("token.unknown")).unwrap().secret = None;
    let opts = PlanOptions { rotate: vec![addr("token.asked")], ..PlanOptions::default() };
    let plan = w.plan_with(&opts).unwrap();
    assert_eq!(
        kinds(&plan),
        vec![
            (ActionKind::Rotate, Reason::RotationRequested, "token.asked".into()),
            (ActionKind::Rotate, Reason::RotationDue, "token.due".into()),
        ]
    );
    assert_eq!(
        plan.notes,
        ["token.unknown: secret unknown: `tokenform apply --rotate token.unknown` takes it over"]
    );
    let due = &plan.actions[1];
    let step = due.rotation().unwrap();
    assert_eq!((step.method, step.grace_seconds), (RotationMethod::Replace, 3600));
    assert_eq!(due.desired().unwrap().api.name, "due");
    assert_eq!(plan.actions[0].rotation().unwrap().grace_seconds, 86_400, "default grace");

    // A bare label selects every for_each instance.
    let mut keyed = desired("deploy");
    keyed.address = Address::keyed("deploy", "prod");
    w.managed(keyed);
    let opts = PlanOptions { rotate: vec![addr("token.deploy")], ..PlanOptions::default() };
    assert!(w.plan_with(&opts).unwrap().actions.iter().any(
        |a| a.reason == Reason::RotationRequested && a.address == Some(Address::keyed("deploy", "prod"))
    ));

    let bad = PlanOptions { rotate: vec![addr("token.nope")], ..PlanOptions::default() };
    assert!(matches!(w.plan_with(&bad), Err(PlanError::UnknownRotateAddress { .. })));
}

#[test]
fn a_retired_generation_is_deleted_after_its_grace() {
    let mut w = World::new();
    w.managed(desired("a"));
    let old = w.live_only(&desired("a"));
    let older = w.live_only(&desired("a"));
    w.config.unmanaged.mode = UnmanagedMode::Delete;
    w.state.retiring.push(retiring("token.a", &old, "a", now()));
    w.state.retiring.push(retiring("token.a", &older, "a", now() + days(1)));
    let plan = w.plan();
    assert_eq!(kinds(&plan), one(ActionKind::Retire, Reason::GraceEnded, "token.a"));
    assert_eq!(plan.actions[0].token_id(), Some(old.as_str()));
}

#[test]
fn tokens_leaving_the_configuration_are_deleted_or_forgotten() {
    let mut w = World::new();
    for l in ["dropped", "kept", "destroyed", "gone"] {
        w.managed(desired(l));
    }
    for l in ["dropped", "kept", "destroyed", "gone"] {
        w.config.tokens.remove(&addr(&format!("token.{l}")));
    }
    w.config.removed.push(RemovedBlock { from: addr("token.kept"), destroy: false });
    w.config.removed.push(RemovedBlock { from: addr("token.destroyed"), destroy: true });
    let gone = w.state.tokens[&addr("token.gone")].id.clone();
    w.live.tokens.retain(|t| t.id != gone);
    let plan = w.plan();
    assert_eq!(
        kinds(&plan),
        vec![
            (ActionKind::Delete, Reason::RemovedBlock, "token.destroyed".into()),
            (ActionKind::Delete, Reason::RemovedFromConfig, "token.dropped".into()),
            (ActionKind::Forget, Reason::DeletedOutside, "token.gone".into()),
            (ActionKind::Forget, Reason::RemovedBlock, "token.kept".into()),
        ]
    );
    assert!(plan.actions.iter().all(|a| a.token_id().is_some()));
}

#[test]
fn destroy_deletes_every_managed_token_and_creates_nothing() {
    let mut w = World::new();
    w.managed(desired("a"));
    w.managed(desired("b"));
    w.declare(desired("new"));
    let opts = PlanOptions { destroy: true, ..PlanOptions::default() };
    let plan = w.plan_with(&opts).unwrap();
    assert_eq!(
        kinds(&plan),
        vec![
            (ActionKind::Delete, Reason::DestroyRequested, "token.a".into()),
            (ActionKind::Delete, Reason::DestroyRequested, "token.b".into()),
        ]
    );
    let targeted = PlanOptions { destroy: true, targets: vec![addr("token.b")], ..PlanOptions::default() };
    assert_eq!(
        kinds(&w.plan_with(&targeted).unwrap()),
        one(ActionKind::Delete, Reason::DestroyRequested, "token.b")
    );
}

/// The planner used to claim an import block's id only when its address was not in state
/// yet, so with `mode = "delete"` it would delete the very token an import block names
/// (drift never called it unmanaged). `plan::scope::owned_ids` owns every import id.
#[test]
fn an_import_blocks_id_is_never_deleted_as_unmanaged() {
    let mut w = World::new();
    w.managed(desired("a"));
    let named = w.live_only(&desired("named-by-an-import"));
    w.config.imports.push(ImportBlock { to: Address::new("a"), id: named.clone() });
    w.config.unmanaged.mode = UnmanagedMode::Delete;
    let plan = w.plan();
    assert!(plan.actions.iter().all(|a| a.token_id() != Some(named.as_str())), "{plan:#?}");
}

/// When the caller's member is unknown, no personal token is known to be its own: none is
/// deleted as unmanaged unless `unmanaged.personal` (drift now agrees, `plan::scope`).
#[test]
fn an_unknown_caller_member_deletes_no_personal_token() {
    let mut w = World::new();
    let mut personal = desired("whose");
    personal.service_token = false;
    w.live_only(&personal);
    w.live.caller.member_id = None;
    w.config.unmanaged.mode = UnmanagedMode::Delete;
    assert!(w.plan().is_empty(), "{:#?}", w.plan());
    w.config.unmanaged.personal = true;
    assert_eq!(w.plan().count(ActionKind::Delete), 1);
}

/// `report` mode (the default) lists the unmanaged tokens, as docs/config.md says, and
/// changes nothing for them; a create whose name a live unmanaged token has is warned about.
#[test]
fn report_mode_lists_unmanaged_tokens_and_a_create_named_like_one_is_warned_about() {
    let mut w = World::new();
    w.managed(desired("a"));
    let stray = w.live_only(&desired("stray"));
    w.live_only(&desired("legacy-x"));
    let caller = live_for(&desired("tokenform-ci"), CALLER_TOKEN, &w.live);
    w.live.tokens.push(caller);
    let listed_only = w.plan();
    assert_eq!(listed_only.unmanaged.len(), 2);
    assert!(!listed_only.has_changes(), "a listing is not a change: --detailed-exitcode stays 0");
    // State was lost for `ci`: its token is live, and the configuration would create another.
    let lost = w.live_only(&desired("ci"));
    w.declare(desired("ci"));

    let plan = w.plan();
    assert_eq!(kinds(&plan), one(ActionKind::Create, Reason::NotInState, "token.ci"));
    let listed: Vec<(&str, &str)> = plan.unmanaged.iter().map(|u| (u.name.as_str(), u.id.as_str())).collect();
    let legacy = w.live.tokens.iter().find(|t| t.name() == "legacy-x").unwrap().id.clone();
    // By name; the caller's own token is not listed (drift leaves it out too).
    assert_eq!(listed, [("ci", lost.as_str()), ("legacy-x", legacy.as_str()), ("stray", stray.as_str())]);
    let warned: Vec<&String> = plan.warnings.iter().filter(|m| m.contains("import it?")).collect();
    assert_eq!(warned.len(), 1, "{:?}", plan.warnings);
    assert!(
        warned[0]
            .starts_with(&format!("a live token named \"ci\" exists (id {lost}) that no address manages")),
        "{}",
        warned[0]
    );
    assert!(warned[0].contains(&format!("`to = token.ci` and `id = \"{lost}\"`")), "{}", warned[0]);

    // Ignored names are out of scope; an import block takes its token out of the list.
    w.config.unmanaged.ignore_names = vec!["legacy-*".into()];
    w.config.imports.push(ImportBlock { to: Address::new("ci"), id: lost.clone() });
    let plan = w.plan();
    let names: Vec<&str> = plan.unmanaged.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["stray"]);
    assert!(plan.warnings.iter().all(|m| !m.contains("import it?")), "{:?}", plan.warnings);
    assert_eq!(plan.count(ActionKind::Import), 1);

    // Not in delete mode (the deletes say it), nor in targeted, destroy or refresh-only plans.
    let mut delete = w.clone();
    delete.config.unmanaged.mode = UnmanagedMode::Delete;
    assert!(delete.plan().unmanaged.is_empty());
    let targeted = PlanOptions { targets: vec![addr("token.a")], ..PlanOptions::default() };
    assert!(w.plan_with(&targeted).unwrap().unmanaged.is_empty());
    let refresh = PlanOptions { refresh_only: true, ..PlanOptions::default() };
    assert!(w.plan_with(&refresh).unwrap().unmanaged.is_empty());
    let destroy = PlanOptions { destroy: true, ..PlanOptions::default() };
    assert!(w.plan_with(&destroy).unwrap().unmanaged.is_empty());

    // In delete mode the warning says the live one goes in this very plan.
    let mut w2 = World::new();
    w2.live_only(&desired("ci"));
    w2.declare(desired("ci"));
    w2.config.unmanaged.mode = UnmanagedMode::Delete;
    let plan = w2.plan();
    assert!(
        plan.warnings.iter().any(|m| m.contains("import it?") && m.contains("deletes it in this plan")),
        "{:?}",
        plan.warnings
    );
}

#[test]
fn unmanaged_delete_mode_honours_ignore_names_personal_and_the_caller() {
    let mut w = World::new();
    w.managed(desired("a"));
    w.live_only(&desired("stray"));
    w.live_only(&desired("legacy-x"));
    let mut personal = desired("someone-elses");
    personal.service_token = false;
    let other = w.live_only(&personal);
    w.live_mut(&other).member_id = "m-other".into();
    let mut mine = desired("my-personal");
    mine.service_token = false;
    w.live_only(&mine);
    let caller = live_for(&desired("tokenform-ci"), CALLER_TOKEN, &w.live);
    w.live.tokens.push(caller);

    assert!(w.plan().is_empty(), "report mode deletes nothing");

    w.config.unmanaged.mode = UnmanagedMode::Delete;
    w.config.unmanaged.ignore_names = vec!["legacy-*".into()];
    let plan = w.plan();
    assert_eq!(
        kinds(&plan),
        vec![
            (ActionKind::Delete, Reason::Unmanaged, "unmanaged my-personal".into()),
            (ActionKind::Delete, Reason::Unmanaged, "unmanaged stray".into()),
        ]
    );
    assert!(plan.warnings.iter().any(|w| w.contains("tokenform-ci") && w.contains("authenticates")));

    w.config.unmanaged.personal = true;
    let names: Vec<_> = w.plan().actions.iter().map(|a| a.name.clone()).collect();
    assert_eq!(names, ["my-personal", "someone-elses", "stray"]);
    assert!(CALLER_MEMBER.starts_with('m'));
}

#[test]
fn drift_is_reported_and_planned_back_unless_ignored() {
    let mut w = World::new();
    let edited = w.managed(desired("edited"));
    let ignored = w.managed(desired("ignored"));
    w.managed(desired("deleted"));
    w.live_mut(&edited).role = Some("admin".into());
    w.live_mut(&ignored).description = Some("edited by hand".into());
    w.config.tokens.get_mut(&addr("token.ignored")).unwrap().lifecycle.ignore_changes =
        vec![TokenField::Description];
    let deleted = w.state.tokens[&addr("token.deleted")].id.clone();
    w.live.tokens.retain(|t| t.id != deleted);

    let plan = w.plan();
    assert_eq!(
        kinds(&plan),
        vec![
            (ActionKind::Create, Reason::DeletedOutside, "token.deleted".into()),
            (ActionKind::Update, Reason::ChangedOutside, "token.edited".into()),
        ]
    );
    assert_eq!(plan.actions[1].patch(), vec![PatchOp::replace("/role", json!("reader"))]);
    let drift: Vec<_> = plan.drift.iter().map(|d| (d.address.to_string(), d.kind)).collect();
    assert_eq!(
        drift,
        [
            ("token.deleted".to_owned(), DriftKind::Missing),
            ("token.edited".to_owned(), DriftKind::Changed),
            ("token.ignored".to_owned(), DriftKind::Changed),
        ]
    );
    let edit = &plan.drift[1].fields[0];
    assert_eq!(
        (edit.field, edit.old.clone(), edit.new.clone()),
        (TokenField::Role, Some(json!("reader")), Some(json!("admin")))
    );
}

#[test]
fn refresh_only_plans_no_action_but_keeps_the_drift() {
    let mut w = World::new();
    let edited = w.managed(desired("edited"));
    w.live_mut(&edited).name = Some("renamed".into());
    w.declare(desired("new"));
    let opts = PlanOptions { refresh_only: true, ..PlanOptions::default() };
    let plan = w.plan_with(&opts).unwrap();
    assert!(plan.actions.is_empty() && plan.refresh_only);
    assert_eq!(plan.drift.len(), 1);
    assert!(plan.has_changes());
}

#[test]
fn import_blocks_adopt_a_live_token_and_never_rotate_it_unasked() {
    let mut w = World::new();
    let mut d = desired("legacy");
    let token = w.live_only(&d);
    d.description = Some("now managed".into());
    w.declare(d);
    w.config.imports.push(ImportBlock { to: addr("token.legacy"), id: token.clone() });
    w.config.unmanaged.mode = UnmanagedMode::Delete;
    let plan = w.plan();
    assert_eq!(
        kinds(&plan),
        vec![
            (ActionKind::Import, Reason::ImportRequested, "token.legacy".into()),
            (ActionKind::Update, Reason::ConfigChanged, "token.legacy".into()),
        ]
    );
    assert_eq!(plan.actions[0].token_id(), Some(token.as_str()));
    assert_eq!(plan.notes.len(), 1, "{:?}", plan.notes);
    assert!(plan.notes[0].contains("--rotate token.legacy"));

    // Only --rotate takes its secret over.
    let opts = PlanOptions { rotate: vec![addr("token.legacy")], ..PlanOptions::default() };
    let asked = w.plan_with(&opts).unwrap();
    assert_eq!(asked.count(ActionKind::Rotate), 1);
    assert!(asked.notes.is_empty());

    // Once in state, the import block is a no-op.
    let live = w.live.token(&token).unwrap().clone();
    let mut ts = crate::plan::refresh::state_from_live(&live, &w.live, None);
    ts.secret = Some(secret(now()));
    ts.description = Some("now managed".into());
    w.live_mut(&token).description = Some("now managed".into());
    w.state.tokens.insert(addr("token.legacy"), ts);
    assert!(w.plan().is_empty(), "{:#?}", w.plan());
}

#[test]
fn import_errors_name_the_address() {
    let mut w = World::new();
    w.declare(desired("legacy"));
    w.config.imports.push(ImportBlock { to: addr("token.legacy"), id: id(999) });
    let err = w.plan_with(&PlanOptions::default()).unwrap_err();
    assert!(matches!(err, PlanError::ImportNotFound { .. }));
    assert!(err.to_string().contains("token.legacy"));

    let managed = w.managed(desired("managed"));
    w.config.imports[0].id = managed;
    let err = w.plan_with(&PlanOptions::default()).unwrap_err();
    assert!(
        matches!(&err, PlanError::ImportAlreadyManaged { managed_as, .. } if managed_as == "token.managed"),
        "{err}"
    );

    // Held as a retiring generation, or named by a second import block: refused, naming both.
    let old = w.live_only(&desired("old"));
    w.state.retiring.push(retiring("token.managed", &old, "old", now() + days(1)));
    w.config.imports[0].id = old.clone();
    let err = w.plan_with(&PlanOptions::default()).unwrap_err();
    assert!(err.to_string().contains("token.managed (a retiring generation)"), "{err}");
    let other = w.live_only(&desired("other"));
    w.declare(desired("second"));
    w.config.imports[0].id = other.clone();
    w.config.imports.push(ImportBlock { to: addr("token.second"), id: other });
    let err = w.plan_with(&PlanOptions::default()).unwrap_err();
    assert!(
        matches!(&err, PlanError::ImportedTwice { first, second, .. } if first == "token.legacy" && second == "token.second"),
        "{err}"
    );
    w.config.imports.pop();

    w.config.imports[0].to = addr("token.undeclared");
    assert!(matches!(w.plan_with(&PlanOptions::default()), Err(PlanError::ImportWithoutConfig { .. })));
}

fn intent(label: &str) -> PendingCreate {
    PendingCreate {
        address: addr(&format!("token.{label}")),
        name: label.into(),
        intent_at: now(),
        member_id: Some(CALLER_MEMBER.into()),
    }
}

#[test]
fn a_leftover_create_intent_deletes_its_orphans_and_creates_again() {
    let mut w = World::new();
    w.declare(desired("a"));
    let orphan = w.live_only(&desired("a"));
    w.live_mut(&orphan).creation_date = now().as_millisecond();
    let second = w.live_only(&desired("a"));
    w.live_mut(&second).creation_date = now().as_millisecond() + 5;
    w.state.pending_creates.push(intent("a"));
    w.config.unmanaged.mode = UnmanagedMode::Delete;
    let plan = w.plan();
    // Nobody ever saw an orphan's secret: no import, no rotation with a grace, no second
    // live token under the name for a day. Each orphan goes; the address is created afresh.
    assert_eq!(
        kinds(&plan),
        vec![
            (ActionKind::Create, Reason::NotInState, "token.a".into()),
            (ActionKind::Delete, Reason::OrphanDiscarded, "token.a".into()),
            (ActionKind::Delete, Reason::OrphanDiscarded, "token.a".into()),
        ]
    );
    let ids: Vec<_> = plan.actions[1..].iter().map(|a| a.token_id().map(str::to_owned).unwrap()).collect();
    assert_eq!(ids, [orphan.clone(), second]);
    assert!(plan.notes.is_empty());

    // Another member's token, one older than the intent (less the skew), or one made long
    // after it is not ours: with unmanaged.mode = "delete" it is deleted as unmanaged.
    for bend in 0..3 {
        let mut w2 = w.clone();
        w2.live.tokens.retain(|t| t.id == orphan || t.name() != "a");
        let t = w2.live_mut(&orphan);
        match bend {
            0 => t.member_id = "m-other".into(),
            1 => t.creation_date = (now() - jiff::SignedDuration::from_secs(121)).as_millisecond(),
            _ => t.creation_date = (now() + jiff::SignedDuration::from_hours(2)).as_millisecond(),
        }
        let plan = w2.plan();
        assert_eq!(
            kinds(&plan),
            vec![
                (ActionKind::Create, Reason::NotInState, "token.a".into()),
                (ActionKind::Delete, Reason::Unmanaged, "unmanaged a".into()),
            ],
            "{bend}"
        );
    }
}

#[test]
fn an_orphan_at_an_address_that_kept_its_token_is_deleted() {
    // A rotation's create was sent, then the process died: state still holds the old
    // generation, live also has a successor nobody has the secret of.
    let mut w = World::new();
    let kept = w.managed(desired("a"));
    let orphan = w.live_only(&desired("a"));
    w.live_mut(&orphan).creation_date = now().as_millisecond();
    w.state.pending_creates.push(intent("a"));
    let plan = w.plan();
    assert_eq!(kinds(&plan), one(ActionKind::Delete, Reason::OrphanDiscarded, "token.a"));
    assert_eq!(plan.actions[0].token_id(), Some(orphan.as_str()));
    assert_ne!(plan.actions[0].token_id(), Some(kept.as_str()));
    // destroy deletes it too; refresh-only changes nothing.
    let destroy = w.plan_with(&PlanOptions { destroy: true, ..PlanOptions::default() }).unwrap();
    assert_eq!(destroy.count(ActionKind::Delete), 2);
    let refresh = w.plan_with(&PlanOptions { refresh_only: true, ..PlanOptions::default() }).unwrap();
    assert!(refresh.actions.is_empty());

    // Made long after the intent, a token of that name is somebody's, not an orphan.
    let mut later = w.clone();
    later.live_mut(&orphan).creation_date = (now() + jiff::SignedDuration::from_hours(2)).as_millisecond();
    assert!(later.plan().actions.is_empty());
    // The caller's own token is never taken for one.
    let mut own = w.clone();
    own.live.caller.token_id = Some(orphan.clone());
    assert!(own.plan().actions.is_empty());

    // Without the leftover intent the same token is just unmanaged: reported, not deleted.
    w.state.pending_creates.clear();
    assert!(w.plan().actions.is_empty());
}

#[test]
fn prevent_destroy_blocks_replace_and_delete_even_after_the_block_is_gone() {
    let mut w = World::new();
    let mut d = desired("vault");
    d.lifecycle.prevent_destroy = true;
    w.managed(d);
    w.config.tokens.get_mut(&addr("token.vault")).unwrap().service_token = false;
    let err = w.plan_with(&PlanOptions::default()).unwrap_err();
    assert!(
        matches!(&err, PlanError::PreventDestroy { address, action } if address == "token.vault" && *action == "replace")
    );

    // Block deleted: the flag recorded in state still protects it.
    w.config.tokens.clear();
    let err = w.plan_with(&PlanOptions::default()).unwrap_err();
    assert!(matches!(&err, PlanError::PreventDestroy { action, .. } if *action == "delete"));
    let help = miette::Diagnostic::help(&err).unwrap().to_string();
    assert!(help.contains("prevent_destroy = false") && help.contains("state rm token.vault"), "{help}");
    let destroy = PlanOptions { destroy: true, ..PlanOptions::default() };
    assert!(matches!(w.plan_with(&destroy), Err(PlanError::PreventDestroy { .. })));

    // A removed block that forgets is fine: nothing is deleted.
    w.config.removed.push(RemovedBlock { from: addr("token.vault"), destroy: false });
    assert_eq!(kinds(&w.plan()), one(ActionKind::Forget, Reason::RemovedBlock, "token.vault"));
}

#[test]
fn releasing_prevent_destroy_is_recorded_by_an_update_without_patch() {
    let mut w = World::new();
    let mut d = desired("vault");
    d.lifecycle.prevent_destroy = true;
    w.managed(d);
    w.config.tokens.get_mut(&addr("token.vault")).unwrap().lifecycle.prevent_destroy = false;
    let plan = w.plan();
    assert_eq!(kinds(&plan), one(ActionKind::Update, Reason::ConfigChanged, "token.vault"));
    assert!(plan.actions[0].patch().is_empty() && plan.actions[0].diffs.is_empty());
    assert!(!plan.actions[0].desired().unwrap().state.prevent_destroy);
}

#[test]
fn the_callers_own_token_is_never_deleted_or_replaced() {
    let mut w = World::new();
    let d = desired("self");
    let token = live_for(&d, CALLER_TOKEN, &w.live);
    w.live.tokens.push(token.clone());
    let mut ts = crate::plan::refresh::state_from_live(&token, &w.live, None);
    ts.secret = Some(secret(now()));
    w.state.tokens.insert(addr("token.self"), ts);
    let err = w.plan_with(&PlanOptions::default()).unwrap_err();
    assert!(matches!(&err, PlanError::CallerToken { action, .. } if *action == "delete"), "{err}");

    let mut replaced = d;
    replaced.service_token = false;
    w.declare(replaced);
    let err = w.plan_with(&PlanOptions::default()).unwrap_err();
    assert!(matches!(&err, PlanError::CallerToken { action, .. } if *action == "replace"), "{err}");
}

#[test]
fn the_callers_own_token_is_never_rotated_reset_or_expired_and_the_plan_says_so() {
    let mut w = World::new();
    let mut d = desired("ci");
    d.rotation = Some(rotation("1d", RotationMethod::Reset));
    let token = live_for(&d, CALLER_TOKEN, &w.live);
    w.live.tokens.push(token.clone());
    let mut ts = crate::plan::refresh::state_from_live(&token, &w.live, None);
    ts.secret = Some(secret(now() - days(2))); // due
    w.state.tokens.insert(addr("token.ci"), ts);
    d.expires_at = Some(now() + days(30));
    w.declare(d);
    let plan = w.plan();
    assert!(plan.actions.is_empty(), "no rotation, no expiry: {:#?}", plan.actions);
    assert_eq!(
        plan.warnings,
        [
            "token.ci is the token tokenform runs with: its expires_at is not set from this plan; rotate it from another credential",
            "token.ci is the token tokenform runs with: its rotation is due but not planned; rotate it from another credential",
        ]
    );
    let err =
        w.plan_with(&PlanOptions { rotate: vec![addr("token.ci")], ..PlanOptions::default() }).unwrap_err();
    assert!(matches!(&err, PlanError::CallerToken { action, .. } if *action == "rotate"), "{err}");

    // Imported (its secret unknown), it is never offered the takeover either: just the note.
    w.state.tokens.get_mut(&addr("token.ci")).unwrap().secret = None;
    w.config.tokens.get_mut(&addr("token.ci")).unwrap().expires_at = None;
    let plan = w.plan();
    assert!(plan.actions.is_empty() && plan.warnings.is_empty(), "{plan:#?}");
    assert_eq!(plan.notes, ["token.ci is the token tokenform runs with: rotate it from another credential"]);
}

#[test]
fn more_than_200_service_tokens_is_a_warning() {
    let mut w = World::new();
    for n in 0..200 {
        w.live_only(&desired(&format!("t{n}")));
    }
    assert!(w.plan().warnings.is_empty());
    w.declare(desired("one-more"));
    let plan = w.plan();
    assert_eq!(plan.warnings.len(), 1);
    assert!(plan.warnings[0].contains("201 service tokens"), "{}", plan.warnings[0]);
}

#[test]
fn targets_limit_the_plan_and_warn() {
    let mut w = World::new();
    for k in ["staging", "production"] {
        let mut d = desired("deploy");
        d.address = Address::keyed("deploy", k);
        d.name = format!("deploy-{k}");
        w.declare(d);
    }
    w.declare(desired("other"));
    w.config.unmanaged.mode = UnmanagedMode::Delete;
    w.live_only(&desired("stray"));
    let opts = PlanOptions { targets: vec![addr("token.deploy")], ..PlanOptions::default() };
    let plan = w.plan_with(&opts).unwrap();
    assert_eq!(
        kinds(&plan),
        vec![
            (ActionKind::Create, Reason::NotInState, "token.deploy[\"production\"]".into()),
            (ActionKind::Create, Reason::NotInState, "token.deploy[\"staging\"]".into()),
        ]
    );
    assert!(plan.warnings[0].contains("targeting is in effect"));
}

#[test]
fn actions_come_in_plan_order() {
    let mut w = World::new();
    w.config.unmanaged.mode = UnmanagedMode::Delete;
    w.live_only(&desired("stray"));
    w.declare(desired("a-new"));
    w.managed(desired("b-old"));
    w.config.tokens.remove(&addr("token.b-old"));
    w.managed(desired("c-upd"));
    w.config.tokens.get_mut(&addr("token.c-upd")).unwrap().name = "c".into();
    w.managed(desired("d-forget"));
    w.config.tokens.remove(&addr("token.d-forget"));
    w.config.removed.push(RemovedBlock { from: addr("token.d-forget"), destroy: false });
    let legacy = w.live_only(&desired("e-imp"));
    w.declare(desired("e-imp"));
    w.config.imports.push(ImportBlock { to: addr("token.e-imp"), id: legacy });
    w.managed(desired("f-rep"));
    w.config.tokens.get_mut(&addr("token.f-rep")).unwrap().service_token = false;
    let old = w.live_only(&desired("g"));
    w.state.retiring.push(retiring("token.g", &old, "g", now() - days(1)));
    let mut due = desired("h-rot");
    due.rotation = Some(rotation("1d", RotationMethod::Replace));
    w.managed(due);
    let order: Vec<_> = w.plan().actions.iter().map(Action::kind).collect();
    assert_eq!(
        order,
        [
            ActionKind::Import,
            ActionKind::Create,
            ActionKind::Update,
            ActionKind::Replace,
            ActionKind::Rotate,
            ActionKind::Retire,
            ActionKind::Delete,
            ActionKind::Delete,
            ActionKind::Forget,
        ]
    );
}

#[test]
fn planning_is_deterministic() {
    let mut w = World::new();
    w.config.unmanaged.mode = UnmanagedMode::Delete;
    for n in 0..20 {
        w.live_only(&desired(&format!("stray{n}")));
        w.declare(desired(&format!("new{n}")));
    }
    let a = serde_json::to_string(&w.plan()).unwrap();
    let b = serde_json::to_string(&w.plan()).unwrap();
    assert_eq!(a, b);
}

#[test]
fn an_expires_at_in_the_past_is_an_error_for_a_new_token_and_a_warning_for_a_live_one() {
    let mut w = World::new();
    let mut d = desired("late");
    d.expires_at = Some(now() - days(1));
    w.declare(d.clone());
    let err = w.plan_with(&PlanOptions::default()).unwrap_err();
    assert!(matches!(&err, PlanError::ExpiresInPast { address, .. } if address == "token.late"), "{err}");

    // Already live (and so in state): a warning, and the plan goes on.
    let mut live = World::new();
    let id = live.managed(desired("late"));
    live.live_mut(&id).expiry = Some((now() - days(1)).as_millisecond());
    live.state.tokens.get_mut(&addr("token.late")).unwrap().expiry = Some(now() - days(1));
    live.declare(d);
    let plan = live.plan();
    assert!(plan.actions.is_empty(), "{:#?}", plan.actions);
    assert_eq!(plan.warnings.len(), 1);
    assert!(
        plan.warnings[0].starts_with("token.late: expires_at")
            && plan.warnings[0].contains("no longer works")
    );
    // A rotation would make a new, dead token: refused.
    let opts = PlanOptions { rotate: vec![addr("token.late")], ..PlanOptions::default() };
    assert!(matches!(live.plan_with(&opts), Err(PlanError::ExpiresInPast { .. })));
}

#[test]
fn a_grace_past_the_end_of_time_is_an_error_not_an_expiry_of_now() {
    let mut w = World::new();
    let mut d = desired("a");
    d.rotation = Some(crate::config::Rotation {
        every: std::time::Duration::from_hours(24),
        grace: std::time::Duration::from_hours(99_999_999 * 24),
        method: RotationMethod::Replace,
    });
    w.managed(d);
    let opts = PlanOptions { rotate: vec![addr("token.a")], ..PlanOptions::default() };
    let err = w.plan_with(&opts).unwrap_err();
    assert!(
        matches!(&err, PlanError::GraceOutOfRange { seconds, .. } if *seconds == 99_999_999 * 86_400),
        "{err}"
    );
}

#[test]
fn changes_that_make_a_secret_carry_the_sinks_as_configured_and_others_none() {
    use crate::deliver::Event;
    use crate::plan::fixtures::{file_sink, gh_sink};
    let sinks = vec![gh_sink("LD_API_TOKEN"), file_sink("out/ci.env")];
    let with_sinks = |label: &str| {
        let mut d = desired(label);
        d.deliver = sinks.clone();
        d
    };
    let mut w = World::new();
    w.declare(with_sinks("created"));
    let mut due = with_sinks("rotated");
    due.rotation = Some(rotation("1d", RotationMethod::Replace));
    w.managed(due);
    w.managed(with_sinks("replaced"));
    w.config.tokens.get_mut(&addr("token.replaced")).unwrap().service_token = false;
    w.managed(with_sinks("updated"));
    w.config.tokens.get_mut(&addr("token.updated")).unwrap().description = Some("new".into());
    let plan = w.plan();
    let by_kind = |kind: ActionKind| plan.actions.iter().find(|a| a.kind() == kind).unwrap();
    for (kind, event) in [
        (ActionKind::Create, Event::Create),
        (ActionKind::Rotate, Event::Rotate),
        (ActionKind::Replace, Event::Replace),
    ] {
        let a = by_kind(kind);
        assert_eq!(a.change.deliveries(), sinks.as_slice(), "{kind:?}: the configured sinks, in order");
        assert_eq!(a.change.delivery_event(), Some(event));
    }
    let update = by_kind(ActionKind::Update);
    assert!(update.change.deliveries().is_empty() && update.change.delivery_event().is_none());
    // The plan file holds the sinks, so `apply PLANFILE` runs what was reviewed.
    let back = Plan::from_json(&serde_json::to_string(&plan).unwrap()).unwrap();
    assert_eq!(back, plan);
}

#[test]
fn an_unfinished_delivery_is_rotated_again_and_its_held_generation_never_retired_meanwhile() {
    use crate::plan::fixtures::{gh_sink, retiring};
    let with_sink = |label: &str| {
        let mut d = desired(label);
        d.deliver = vec![gh_sink("LD_API_TOKEN")];
        d
    };
    let mut w = World::new();
    // A secret that did not reach its sink; a generation held for a successor; and a
    // held generation whose token block is gone.
    w.managed(with_sink("undelivered"));
    w.state.tokens.get_mut(&addr("token.undelivered")).unwrap().undelivered =
        vec!["exec \"gh secret set LD_API_TOKEN\"".into()];
    w.managed(with_sink("holding"));
    let mut held = retiring("token.holding", &id(900), "holding", jiff::Timestamp::MAX);
    held.held_grace_seconds = Some(3600);
    w.state.retiring.push(held);
    let mut orphaned = retiring("token.gone", &id(901), "gone", jiff::Timestamp::MAX);
    orphaned.held_grace_seconds = Some(3600);
    w.state.retiring.push(orphaned);
    // A delivered token with no rotation block is left alone.
    w.managed(with_sink("fine"));
    let plan = w.plan();
    let rotations: Vec<(String, Reason)> = plan
        .actions
        .iter()
        .filter(|a| a.kind() == ActionKind::Rotate)
        .map(|a| (a.address.as_ref().unwrap().to_string(), a.reason))
        .collect();
    assert_eq!(
        rotations,
        [
            ("token.holding".to_owned(), Reason::DeliveryIncomplete),
            ("token.undelivered".to_owned(), Reason::DeliveryIncomplete)
        ]
    );
    let rotate = plan.actions.iter().find(|a| a.kind() == ActionKind::Rotate).unwrap();
    assert_eq!(rotate.change.deliveries(), [gh_sink("LD_API_TOKEN")], "with the configured sinks");
    let retired: Vec<&str> =
        plan.actions.iter().filter(|a| a.kind() == ActionKind::Retire).filter_map(Action::token_id).collect();
    assert_eq!(retired, [id(901)], "only the held generation nothing will deliver for again");
}

#[test]
fn a_reset_rotation_with_sinks_warns_that_it_cannot_hold_the_old_secret() {
    use crate::plan::fixtures::gh_sink;
    let mut w = World::new();
    let mut d = desired("r");
    d.rotation = Some(rotation("1d", RotationMethod::Reset));
    d.deliver = vec![gh_sink("LD_API_TOKEN")];
    w.managed(d);
    let plan = w.plan();
    assert_eq!(plan.count(ActionKind::Rotate), 1);
    assert!(
        plan.warnings.iter().any(|w| w.contains("token.r: rotation.method = \"reset\"")),
        "{:?}",
        plan.warnings
    );
}
