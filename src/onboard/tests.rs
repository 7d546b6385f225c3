//! Adoption and translation tables over drift's fixtures (one managed token per label).

use super::migrate::{SecretCheck, check_secret, translate};
use super::terraform::{Instance, ResourceAddress};
use super::*;
use crate::api::model::CustomRole;
use crate::config::{ImportBlock, VarInputs};
use crate::drift::tests::{live_token, now, world};
use crate::model::Effect;
use crate::secret::Secret;

fn role(id: &str, key: &str) -> CustomRole {
    CustomRole {
        id: id.into(),
        key: key.into(),
        name: key.into(),
        description: None,
        policy: Vec::new(),
        links: serde_json::json!({}),
    }
}

#[test]
fn adopts_exactly_the_unmanaged_tokens_with_unique_labels() {
    let (mut config, state, mut live) = world(&["managed"]);
    live.tokens.push(live_token("id-a", "hand writer (ops)"));
    live.tokens.push(live_token("id-b", "hand-writer ops"));
    live.tokens.push(live_token("id-c", "managed")); // a label already taken by config
    live.tokens.push(live_token("id-legacy", "legacy-1"));
    live.tokens.push(live_token("id-imported", "imported"));
    live.tokens.push(live_token("id-caller", "the caller"));
    let mut other = live_token("id-other", "bob's personal");
    other.service_token = false;
    other.member_id = "m-bob".into();
    live.tokens.push(other);
    config.unmanaged.ignore_names = vec!["legacy-*".into()];
    config.tokens.insert(
        Address::new("imp"),
        DesiredToken::new(Address::new("imp"), "imported", Access::Role(Role::Reader)),
    );
    config.imports.push(ImportBlock { to: Address::new("imp"), id: "id-imported".into() });
    // `managed` is a configured name too: that token needs a hand-written import.
    let adoption = adopt(&config, &state, &live, &[], now());
    let got: Vec<(String, String)> =
        adoption.adopted.iter().map(|a| (a.desired.address.to_string(), a.id.clone())).collect();
    assert_eq!(
        got,
        [("token.hand_writer_ops".into(), "id-a".into()), ("token.hand_writer_ops_2".into(), "id-b".into())],
        "not the managed, imported, ignored, caller's or another member's personal token"
    );
    assert_eq!(adoption.adopted[0].desired.name, "hand writer (ops)", "names are kept exactly");
    assert_eq!(adoption.skipped.len(), 1);
    assert_eq!(adoption.skipped[0].1, "id-c");

    let only = adopt(&config, &state, &live, &["*-writer*".into()], now());
    assert_eq!(only.adopted.len(), 1);
    assert_eq!(only.adopted[0].id, "id-b");
}

#[test]
fn an_adoption_file_loads_and_imports_what_is_live() {
    let (config, state, mut live) = world(&[]);
    let mut t = live_token("61095542756dba551110ae21", "deploy ${prod}");
    t.role = None;
    t.custom_role_ids = Some(vec!["r1".into()]);
    t.description = Some("made by hand".into());
    t.default_api_version = Some(20_240_415);
    t.expiry = Some(1_900_000_000_123);
    live.custom_roles.insert("deploy".into(), role("r1", "deploy"));
    live.tokens.push(t);
    let adoption = adopt(&config, &state, &live, &[], now());
    let text = adoption_file(&adoption).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("adopted.hcl"), &text).unwrap();
    let loaded = crate::config::load(dir.path(), &VarInputs::default()).unwrap();
    let desired = &loaded.tokens[&Address::new("deploy_prod")];
    assert_eq!(desired, &adoption.adopted[0].desired);
    assert_eq!(desired.name, "deploy ${prod}");
    assert_eq!(desired.access, Access::CustomRoles(vec!["deploy".into()]));
    assert_eq!(desired.expires_at.map(jiff::Timestamp::as_millisecond), Some(1_900_000_000_123));
    assert_eq!(
        loaded.imports,
        vec![ImportBlock { to: Address::new("deploy_prod"), id: "61095542756dba551110ae21".into() }]
    );

    // What the planner compares: the block asks for exactly what is live.
    let spec = crate::plan::diff::spec(desired, &live).unwrap();
    assert!(crate::plan::diff::field_diffs(&spec.api, &live.tokens[0], None, &live).is_empty());
}

#[test]
fn tokens_no_block_can_describe_are_skipped_with_the_reason() {
    let live = crate::api::model::Live::default();
    let mut unnamed = live_token("a", "");
    let mut two_kinds = live_token("b", "b");
    two_kinds.custom_role_ids = Some(vec!["r1".into()]);
    let mut unknown_role = live_token("c", "c");
    unknown_role.role = None;
    unknown_role.custom_role_ids = Some(vec!["nope".into()]);
    let mut owner = live_token("d", "d");
    owner.role = Some("owner".into());
    let mut none = live_token("e", "e");
    none.role = None;
    for (t, why) in [
        (&mut unnamed, "no name"),
        (&mut two_kinds, "more than one kind"),
        (&mut unknown_role, "custom role nope is unknown"),
        (&mut owner, "not reader, writer or admin"),
        (&mut none, "no role"),
    ] {
        let err = desired_from_live(t, &live, Address::new("x")).unwrap_err();
        assert!(err.contains(why), "{err}");
    }
}

fn tf_instance(name: Option<&str>) -> Instance {
    Instance {
        resource: ResourceAddress { module: Vec::new(), name: "ci".into() },
        key: None,
        provider: String::new(),
        schema_version: 0,
        id: "61095542756dba551110ae21".into(),
        name: name.map(str::to_owned),
        role: Some("reader".into()),
        custom_roles: Vec::new(),
        statements: Vec::new(),
        service_token: true,
        default_api_version: Some(20_240_415),
        expire: Some(1),
        secret: Some(Secret::new("api-0a1b2c3d-0000-4000-8000-00000000beef")),
        tainted: false,
    }
}

#[test]
fn terraform_values_translate_to_a_token_block() {
    let t = translate(&tf_instance(Some("ci")), Address::new("ci")).unwrap();
    assert_eq!(t.desired.access, Access::Role(Role::Reader));
    assert!(t.desired.service_token);
    assert_eq!(t.desired.api_version, Some(20_240_415));
    assert_eq!(t.warnings.len(), 1, "{:?}", t.warnings);
    assert!(t.warnings[0].contains("`expire` dropped"));

    let mut both = tf_instance(None);
    both.statements = vec![Statement {
        effect: Effect::Allow,
        actions: Some(vec!["*".into()]),
        resources: Some(vec!["proj/*".into()]),
        not_actions: None,
        not_resources: None,
    }];
    let t = translate(&both, Address::new("ci")).unwrap();
    assert!(matches!(t.desired.access, Access::Policy(_)), "inline roles win, as in the provider");
    assert_eq!(t.desired.name, "ci");
    assert_eq!(t.warnings.len(), 3, "{:?}", t.warnings);

    let mut bad = tf_instance(Some("x"));
    bad.role = Some("owner".into());
    assert!(translate(&bad, Address::new("x")).is_err());
    bad.role = None;
    assert!(translate(&bad, Address::new("x")).is_err());
}

#[test]
fn the_secret_is_checked_by_its_last_four_characters() {
    let mut live = live_token("a", "a");
    let tf = Secret::new("api-0a1b2c3d-0000-4000-8000-00000000beef");
    assert_eq!(check_secret(Some(&tf), &live), SecretCheck::Unverifiable);
    live.token = Some(Secret::new("beef"));
    assert_eq!(check_secret(Some(&tf), &live), SecretCheck::Current);
    live.token = Some(Secret::new("f00d"));
    assert_eq!(check_secret(Some(&tf), &live), SecretCheck::Stale);
    assert_eq!(check_secret(None, &live), SecretCheck::Absent);
}
