//! Detector tables: fixture Config/State/Live values, a fixed `now`.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::json;

use super::*;
use crate::api::model::{CallerIdentity, MemberSummary};
use crate::config::{DesiredToken, ImportBlock, Rotation};
use crate::model::{Access, Address, Role, RotationMethod, TokenField};
use crate::state::model::{RetiringToken, SecretRecord};

pub(crate) const NOW: &str = "2026-11-28T12:00:00Z";
const DAY_MS: i64 = 86_400_000;

pub(crate) fn now() -> jiff::Timestamp {
    NOW.parse().unwrap()
}

fn now_ms() -> i64 {
    now().as_millisecond()
}

fn days(n: u64) -> Duration {
    Duration::from_secs(n * 86_400)
}

pub(crate) fn ts(s: &str) -> jiff::Timestamp {
    s.parse().unwrap()
}

/// A live token used yesterday, created by alice, reader role.
pub(crate) fn live_token(id: &str, name: &str) -> Token {
    Token {
        id: id.into(),
        owner_id: "owner".into(),
        member_id: "m-alice".into(),
        member: Some(MemberSummary {
            id: "m-alice".into(),
            email: "alice@example.com".into(),
            ..Default::default()
        }),
        name: Some(name.into()),
        description: None,
        creation_date: now_ms() - 200 * DAY_MS,
        last_modified: now_ms() - 200 * DAY_MS,
        last_used: Some(now_ms() - DAY_MS),
        custom_role_ids: None,
        inline_role: None,
        role: Some("reader".into()),
        token: None,
        service_token: true,
        default_api_version: None,
        expiry: None,
        links: json!({}),
    }
}

/// The state record matching [`live_token`], with a secret issued 10 days ago.
pub(crate) fn state_token(id: &str, name: &str) -> TokenState {
    TokenState {
        id: id.into(),
        name: name.into(),
        description: None,
        role: Some("reader".into()),
        custom_role_ids: Vec::new(),
        custom_role_keys: Vec::new(),
        inline_role: None,
        service_token: true,
        api_version: None,
        expiry: None,
        created_at: jiff::Timestamp::from_millisecond(now_ms() - 200 * DAY_MS).unwrap(),
        member_id: Some("m-alice".into()),
        prevent_destroy: false,
        secret: Some(SecretRecord {
            ciphertext: "-----BEGIN AGE ENCRYPTED FILE-----".into(),
            last4: "abcd".into(),
            issued_at: jiff::Timestamp::from_millisecond(now_ms() - 10 * DAY_MS).unwrap(),
            recipients: vec!["age1example".into()],
        }),
        terraform_address: None,
        undelivered: Vec::new(),
    }
}

pub(crate) fn desired(label: &str, name: &str) -> DesiredToken {
    DesiredToken {
        service_token: true,
        ..DesiredToken::new(Address::new(label), name, Access::Role(Role::Reader))
    }
}

/// One managed token per label (ids `id-LABEL`), all in sync.
pub(crate) fn world(labels: &[&str]) -> (Config, State, Live) {
    let mut config = Config::empty("/cfg");
    let mut state = State::new();
    let mut live = Live {
        caller: CallerIdentity {
            member_id: Some("m-alice".into()),
            token_id: Some("id-caller".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    for label in labels {
        let id = format!("id-{label}");
        config.tokens.insert(Address::new(*label), desired(label, label));
        state.tokens.insert(Address::new(*label), state_token(&id, label));
        live.tokens.push(live_token(&id, label));
    }
    (config, state, live)
}

fn live_mut<'a>(live: &'a mut Live, label: &str) -> &'a mut Token {
    let id = format!("id-{label}");
    live.tokens.iter_mut().find(|t| t.id == id).unwrap()
}

fn run(config: &Config, state: &State, live: &Live) -> DriftReport {
    detect(config, state, live, now(), &DriftOptions::default())
}

#[test]
fn in_sync_world_is_clean() {
    let (config, state, live) = world(&["a", "b"]);
    let report = run(&config, &state, &live);
    assert!(report.is_clean(), "{report:#?}");
    assert!(!report.drift_found);
    assert_eq!(report.options.stale_after, "90d");
    assert_eq!(report.options.expiring_within, "14d");
}

#[test]
fn out_of_band_edits_are_changed_per_field() {
    let (config, state, mut live) = world(&["a"]);
    live.tokens[0].role = Some("writer".into());
    live.tokens[0].name = Some("renamed".into());
    let report = run(&config, &state, &live);
    assert!(report.drift_found);
    assert_eq!(report.changed.len(), 1);
    let c = &report.changed[0];
    assert_eq!(c.token.address, Some(Address::new("a")));
    assert_eq!(c.token.name, "renamed", "the live name is shown");
    assert_eq!(c.token.creator.as_deref(), Some("alice@example.com"));
    let fields: Vec<_> = c.fields.iter().map(|f| (f.field, f.state.clone(), f.live.clone())).collect();
    assert_eq!(
        fields,
        vec![
            (TokenField::Name, Some(json!("a")), Some(json!("renamed"))),
            (TokenField::Role, Some(json!("reader")), Some(json!("writer"))),
        ]
    );
}

#[test]
fn ignore_changes_fields_are_not_drift() {
    let (mut config, state, mut live) = world(&["a"]);
    live.tokens[0].description = Some("edited by hand".into());
    let d = config.tokens.get_mut(&Address::new("a")).unwrap();
    d.lifecycle.ignore_changes = vec![TokenField::Description];
    assert!(run(&config, &state, &live).is_clean());
    // A field not ignored is still reported.
    live.tokens[0].role = Some("admin".into());
    let report = run(&config, &state, &live);
    assert_eq!(report.changed[0].fields.len(), 1);
    assert_eq!(report.changed[0].fields[0].field, TokenField::Role);
}

#[test]
fn deleted_outside_is_missing_and_nothing_else() {
    let (config, state, mut live) = world(&["a", "b"]);
    live.tokens.retain(|t| t.id != "id-a");
    let report = run(&config, &state, &live);
    assert_eq!(report.missing.len(), 1);
    let m = &report.missing[0].token;
    assert_eq!((m.address.clone(), m.name.as_str(), m.id.as_str()), (Some(Address::new("a")), "a", "id-a"));
    assert_eq!(m.creator.as_deref(), Some("m-alice"), "state knows only the member id");
    assert!(report.changed.is_empty() && report.stale.is_empty() && report.expiring.is_empty());
}

#[test]
fn unmanaged_tokens_and_their_filters() {
    let (mut config, state, mut live) = world(&["a"]);
    live.tokens.push(live_token("id-hand", "made-by-hand"));
    live.tokens.push(live_token("id-legacy", "legacy-ci"));
    let mut bobs = live_token("id-bob", "bobs-personal");
    bobs.service_token = false;
    bobs.member_id = "m-bob".into();
    bobs.member = None;
    live.tokens.push(bobs);
    let mut mine = live_token("id-mine", "my-personal");
    mine.service_token = false;
    live.tokens.push(mine);
    let mut bobs_service = live_token("id-bob-svc", "bobs-service");
    bobs_service.member_id = "m-bob".into();
    live.tokens.push(bobs_service);
    // The caller's own token, a retiring generation and an import target are known.
    live.tokens.push(live_token("id-caller", "ci-bootstrap"));
    live.tokens.push(live_token("id-old", "a"));
    live.tokens.push(live_token("id-import", "to-import"));
    let mut state = state;
    state.retiring.push(RetiringToken {
        address: Address::new("a"),
        id: "id-old".into(),
        name: "a".into(),
        expires_at: ts("2026-11-29T00:00:00Z"),
        held_grace_seconds: None,
    });
    config.imports.push(ImportBlock { to: Address::new("imp"), id: "id-import".into() });

    let names = |r: &DriftReport| r.unmanaged.iter().map(|u| u.token.name.clone()).collect::<Vec<_>>();
    let report = run(&config, &state, &live);
    assert_eq!(names(&report), ["bobs-service", "legacy-ci", "made-by-hand", "my-personal"]);
    assert!(report.drift_found);
    assert_eq!(report.unmanaged[2].token.address, None);
    assert_eq!(report.unmanaged[2].role.as_deref(), Some("reader"));

    config.unmanaged.ignore_names = vec!["legacy-*".into(), "made-by-????".into()];
    assert_eq!(names(&run(&config, &state, &live)), ["bobs-service", "my-personal"]);

    config.unmanaged.personal = true;
    assert_eq!(names(&run(&config, &state, &live)), ["bobs-personal", "bobs-service", "my-personal"]);
    let report = run(&config, &state, &live);
    assert_eq!(report.unmanaged[0].token.creator.as_deref(), Some("m-bob"), "no email: the member id");
}

/// Drift and the planner used to disagree here (drift counted every personal token in when
/// the caller's member was unknown; the planner left them all out). One rule now
/// (`plan::scope`), the planner's, the safer: a personal token not known to be the
/// caller member's is out of scope unless `unmanaged.personal`, so `adopt` never writes a
/// block for another member's token because identity was incomplete.
#[test]
fn caller_member_unknown_leaves_personal_tokens_out_unless_personal() {
    let (mut config, state, mut live) = world(&[]);
    live.caller.member_id = None;
    let mut bobs = live_token("id-bob", "bobs-personal");
    bobs.service_token = false;
    bobs.member_id = "m-bob".into();
    live.tokens.push(bobs);
    assert_eq!(run(&config, &state, &live).unmanaged.len(), 0);
    config.unmanaged.personal = true;
    assert_eq!(run(&config, &state, &live).unmanaged.len(), 1);
}

/// An `import` block's id is owned even when its address is already in state: the planner
/// used to leave such an id out of its claims, so `mode = "delete"` could delete the very
/// token an import block names, while drift did not call it unmanaged.
#[test]
fn an_import_blocks_id_is_never_unmanaged() {
    let (mut config, state, mut live) = world(&[]);
    live.tokens.push(live_token("id-imp", "named-by-import"));
    config.imports.push(ImportBlock { to: Address::new("a"), id: "id-imp".into() });
    assert!(run(&config, &state, &live).unmanaged.iter().all(|u| u.token.id != "id-imp"));
}

#[test]
fn rotation_due_by_issued_at_and_unknown_secret() {
    let (mut config, mut state, live) = world(&["fresh", "old", "unknown", "norot"]);
    for label in ["fresh", "old", "unknown"] {
        config.tokens.get_mut(&Address::new(label)).unwrap().rotation =
            Some(Rotation { every: days(30), grace: days(1), method: RotationMethod::Replace });
    }
    let old = state.tokens.get_mut(&Address::new("old")).unwrap();
    old.secret.as_mut().unwrap().issued_at = ts("2026-10-01T00:00:00Z");
    state.tokens.get_mut(&Address::new("unknown")).unwrap().secret = None;
    // No rotation block: an unknown secret is not a rotation matter.
    state.tokens.get_mut(&Address::new("norot")).unwrap().secret = None;

    let report = run(&config, &state, &live);
    let due: Vec<_> = report
        .rotation_due
        .iter()
        .map(|r| (r.token.address.clone().unwrap().label, r.reason, r.due_at, r.every.clone()))
        .collect();
    assert_eq!(
        due,
        vec![
            ("old".to_owned(), RotationReason::Overdue, Some(ts("2026-10-31T00:00:00Z")), "30d".to_owned()),
            ("unknown".to_owned(), RotationReason::SecretUnknown, None, "30d".to_owned()),
        ]
    );
    assert!(report.drift_found);
}

#[test]
fn rotation_due_exactly_at_the_boundary() {
    let (mut config, mut state, live) = world(&["a"]);
    config.tokens.get_mut(&Address::new("a")).unwrap().rotation =
        Some(Rotation { every: days(10), grace: days(1), method: RotationMethod::Reset });
    // issued exactly 10 days ago (the fixture): due now.
    assert_eq!(run(&config, &state, &live).rotation_due.len(), 1);
    state.tokens.get_mut(&Address::new("a")).unwrap().secret.as_mut().unwrap().issued_at =
        ts("2026-11-18T12:00:01Z");
    assert!(run(&config, &state, &live).rotation_due.is_empty());
}

#[test]
fn expiring_takes_the_earliest_source_and_flags_expired() {
    let (mut config, mut state, mut live) = world(&["live", "state", "config", "far", "gone"]);
    live_mut(&mut live, "live").expiry = Some(now_ms() + 3 * DAY_MS);
    state.tokens.get_mut(&Address::new("live")).unwrap().expiry =
        jiff::Timestamp::from_millisecond(now_ms() + 3 * DAY_MS).ok();
    // The state's expiry is earlier than the live one (so `changed` too).
    state.tokens.get_mut(&Address::new("state")).unwrap().expiry = Some(ts("2026-12-01T00:00:00Z"));
    live_mut(&mut live, "state").expiry = Some(ts("2027-01-01T00:00:00Z").as_millisecond());
    config.tokens.get_mut(&Address::new("config")).unwrap().expires_at = Some(ts("2026-12-05T00:00:00Z"));
    live_mut(&mut live, "far").expiry = Some(now_ms() + 15 * DAY_MS);
    state.tokens.get_mut(&Address::new("far")).unwrap().expiry =
        jiff::Timestamp::from_millisecond(now_ms() + 15 * DAY_MS).ok();
    live_mut(&mut live, "gone").expiry = Some(now_ms() - DAY_MS);
    state.tokens.get_mut(&Address::new("gone")).unwrap().expiry =
        jiff::Timestamp::from_millisecond(now_ms() - DAY_MS).ok();
    // An unmanaged token expiring tomorrow.
    let mut hand = live_token("id-hand", "hand");
    hand.expiry = Some(now_ms() + DAY_MS);
    live.tokens.push(hand);

    let report = run(&config, &state, &live);
    let exp: Vec<_> = report.expiring.iter().map(|e| (e.token.name.clone(), e.source, e.expired)).collect();
    assert_eq!(
        exp,
        vec![
            ("config".to_owned(), ExpirySource::Config, false),
            ("gone".to_owned(), ExpirySource::Live, true),
            ("live".to_owned(), ExpirySource::Live, false),
            ("state".to_owned(), ExpirySource::State, false),
            ("hand".to_owned(), ExpirySource::Live, false),
        ]
    );
    let opts = DriftOptions { expiring_within: days(16), ..DriftOptions::default() };
    let wide = detect(&config, &state, &live, now(), &opts);
    assert_eq!(wide.expiring.len(), 6, "`far` falls within 16 days");
    assert_eq!(wide.options.expiring_within, "16d");
}

#[test]
fn stale_tokens_alone_are_not_drift() {
    let (config, state, mut live) = world(&["used", "old", "never"]);
    live.tokens[1].last_used = Some(now_ms() - 91 * DAY_MS);
    live.tokens[2].last_used = Some(0);
    // The caller's own token is never stale, even when the API says it was never used.
    let mut caller = live_token("id-caller", "ci-bootstrap");
    caller.last_used = None;
    live.tokens.push(caller);
    let report = run(&config, &state, &live);
    let found: Vec<_> = report.stale.iter().map(|s| (s.token.name.clone(), s.never_used)).collect();
    assert_eq!(found, vec![("never".to_owned(), true), ("old".to_owned(), false)]);
    assert!(!report.drift_found);
    assert!(!report.is_clean());
    assert_eq!(
        report.stale[1].token.last_used,
        jiff::Timestamp::from_millisecond(now_ms() - 91 * DAY_MS).ok()
    );

    let opts = DriftOptions { stale_after: days(92), ..DriftOptions::default() };
    assert_eq!(detect(&config, &state, &live, now(), &opts).stale.len(), 1);
}

#[test]
fn huge_windows_do_not_overflow() {
    let (mut config, state, mut live) = world(&["a"]);
    live.tokens[0].expiry = Some(now_ms() + DAY_MS);
    live.tokens[0].last_used = Some(1);
    config.tokens.get_mut(&Address::new("a")).unwrap().rotation = Some(Rotation {
        every: Duration::from_secs(u64::MAX),
        grace: days(1),
        method: RotationMethod::Replace,
    });
    let opts = DriftOptions {
        stale_after: Duration::from_secs(u64::MAX),
        expiring_within: Duration::from_secs(u64::MAX),
    };
    let report = detect(&config, &state, &live, now(), &opts);
    assert_eq!(report.expiring.len(), 1, "everything is within an endless window");
    assert!(report.stale.is_empty(), "nothing is older than forever");
    assert!(report.rotation_due.is_empty());
}

#[test]
fn globs() {
    for (p, n, want) in [
        ("legacy-*", "legacy-ci", true),
        ("legacy-*", "legacy-", true),
        ("legacy-*", "new-legacy-ci", false),
        ("*-ci", "legacy-ci", true),
        ("a?c", "abc", true),
        ("a?c", "ac", false),
        ("*", "", true),
        ("", "", true),
        ("", "x", false),
        ("a*b*c", "axxbyyc", true),
        ("a*b*c", "axxbyy", false),
        ("**x", "abx", true),
        ("exact", "exact", true),
        ("exact", "exactly", false),
        ("é?", "éé", true),
    ] {
        assert_eq!(glob_match(p, n), want, "{p} vs {n}");
    }
}

/// One report with every kind of finding, for the renderers' snapshots.
pub(crate) fn sample_report() -> DriftReport {
    use crate::model::{Effect, Statement};
    let (mut config, mut state, mut live) = world(&[
        "edited",
        "deleted",
        "old_secret",
        "imported",
        "expires_soon",
        "expired",
        "never",
        "long_ago",
    ]);
    let edited = live_mut(&mut live, "edited");
    edited.role = None;
    edited.name = Some("edited-by-hand".into());
    edited.inline_role = Some(vec![Statement {
        effect: Effect::Allow,
        actions: Some(vec!["*".into()]),
        resources: Some(vec!["proj/*".into()]),
        not_actions: None,
        not_resources: None,
    }]);
    live.tokens.retain(|t| t.id != "id-deleted");
    let mut hand = live_token("id-hand", "made|by `hand`");
    hand.member =
        Some(MemberSummary { id: "m-bob".into(), email: "bob@example.com".into(), ..Default::default() });
    hand.service_token = false;
    hand.member_id = "m-alice".into();
    hand.last_used = None;
    live.tokens.push(hand);
    let every = Rotation { every: days(30), grace: days(1), method: RotationMethod::Replace };
    for label in ["old_secret", "imported"] {
        config.tokens.get_mut(&Address::new(label)).unwrap().rotation = Some(every.clone());
    }
    state.tokens.get_mut(&Address::new("old_secret")).unwrap().secret.as_mut().unwrap().issued_at =
        ts("2026-10-01T00:00:00Z");
    state.tokens.get_mut(&Address::new("imported")).unwrap().secret = None;
    let soon = now_ms() + 3 * DAY_MS;
    live_mut(&mut live, "expires_soon").expiry = Some(soon);
    state.tokens.get_mut(&Address::new("expires_soon")).unwrap().expiry =
        jiff::Timestamp::from_millisecond(soon).ok();
    let gone = now_ms() - 2 * DAY_MS;
    live_mut(&mut live, "expired").expiry = Some(gone);
    state.tokens.get_mut(&Address::new("expired")).unwrap().expiry =
        jiff::Timestamp::from_millisecond(gone).ok();
    live_mut(&mut live, "never").last_used = None;
    live_mut(&mut live, "long_ago").last_used = Some(ts("2026-03-01T08:30:00Z").as_millisecond());
    detect(&config, &state, &live, now(), &DriftOptions::default())
}

#[test]
fn sample_report_has_every_kind() {
    let r = sample_report();
    let counts = [
        r.changed.len(),
        r.missing.len(),
        r.unmanaged.len(),
        r.rotation_due.len(),
        r.expiring.len(),
        r.stale.len(),
    ];
    assert_eq!(counts, [1, 1, 1, 2, 2, 3]);
}

#[test]
fn custom_role_changes_are_shown_by_key_when_known() {
    use crate::api::model::CustomRole;
    let (config, mut state, mut live) = world(&["a"]);
    let role = |id: &str, key: &str| CustomRole {
        id: id.into(),
        key: key.into(),
        name: key.into(),
        description: None,
        policy: Vec::new(),
        links: json!({}),
    };
    live.custom_roles.insert("deploy-staging".into(), role("r-1", "deploy-staging"));
    let st = state.tokens.get_mut(&Address::new("a")).unwrap();
    st.role = None;
    st.custom_role_ids = vec!["r-1".into()];
    live.tokens[0].role = None;
    live.tokens[0].custom_role_ids = Some(vec!["r-1".into(), "r-unknown".into()]);
    let report = run(&config, &state, &live);
    let f = &report.changed[0].fields[0];
    assert_eq!(f.field, TokenField::CustomRoles);
    assert_eq!(f.state, Some(json!(["deploy-staging"])));
    assert_eq!(f.live, Some(json!(["deploy-staging", "r-unknown"])));
}
