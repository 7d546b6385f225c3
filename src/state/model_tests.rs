//! Guards of the state document: the committed JSON Schema is the one the types generate,
//! and a realistic state validates against it.

use super::*;
use crate::model::Effect;

const SCHEMA_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/state.schema.json");

#[test]
fn state_schema_is_committed_and_current() {
    let text = serde_json::to_string_pretty(&json_schema()).unwrap() + "\n";
    insta::assert_snapshot!("state_schema", text);
    // TOKENFORM_UPDATE_SCHEMAS=1 regenerates the committed file after a deliberate change.
    if std::env::var_os("TOKENFORM_UPDATE_SCHEMAS").is_some() {
        std::fs::write(SCHEMA_FILE, &text).unwrap();
    }
    let committed = std::fs::read_to_string(SCHEMA_FILE).unwrap_or_default();
    assert!(
        committed == text,
        "schemas/state.schema.json is stale: run `TOKENFORM_UPDATE_SCHEMAS=1 cargo test --lib state::model`"
    );
}

fn sample() -> State {
    let mut state = State::new();
    let at: jiff::Timestamp = "2026-05-01T12:00:00Z".parse().unwrap();
    state.tokens.insert(
        Address::keyed("deployer", "staging"),
        TokenState {
            id: "61095542756dba551110ae21".into(),
            name: "deploy-staging".into(),
            description: Some("CI".into()),
            role: None,
            custom_role_ids: vec![],
            custom_role_keys: vec![],
            inline_role: Some(vec![Statement {
                effect: Effect::Allow,
                resources: Some(vec!["proj/*".into()]),
                not_resources: None,
                actions: Some(vec!["viewProject".into()]),
                not_actions: None,
            }]),
            service_token: true,
            api_version: Some(20_240_415),
            expiry: Some(at),
            created_at: at,
            member_id: Some("m1".into()),
            prevent_destroy: true,
            secret: Some(SecretRecord {
                ciphertext: "-----BEGIN AGE ENCRYPTED FILE-----\n…\n-----END AGE ENCRYPTED FILE-----\n"
                    .into(),
                last4: "beef".into(),
                issued_at: at,
                recipients: vec!["age1…".into()],
            }),
            terraform_address: None,
            undelivered: Vec::new(),
        },
    );
    state.tokens.insert(
        Address::new("legacy"),
        TokenState {
            id: "61095542756dba551110ae22".into(),
            name: "legacy".into(),
            description: None,
            role: Some("reader".into()),
            custom_role_ids: vec![],
            custom_role_keys: vec![],
            inline_role: None,
            service_token: false,
            api_version: None,
            expiry: None,
            created_at: at,
            member_id: None,
            prevent_destroy: false,
            secret: None,
            terraform_address: None,
            undelivered: Vec::new(),
        },
    );
    state.retiring.push(RetiringToken {
        address: Address::new("legacy"),
        id: "61095542756dba551110ae20".into(),
        name: "legacy".into(),
        expires_at: at,
        held_grace_seconds: None,
    });
    state.pending_creates.push(PendingCreate {
        address: Address::new("new"),
        name: "new".into(),
        intent_at: at,
        member_id: None,
    });
    state
}

#[test]
fn a_full_state_validates_and_round_trips() {
    let state = sample();
    let value = serde_json::to_value(&state).unwrap();
    let validator = jsonschema::validator_for(&json_schema()).unwrap();
    let errors: Vec<String> = validator.iter_errors(&value).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(serde_json::from_value::<State>(value.clone()).unwrap(), state);

    let mut bad = value;
    bad["tokens"]["token.legacy"]["secret"] = serde_json::json!({ "last4": "beef" });
    assert!(!validator.is_valid(&bad), "a secret without ciphertext is invalid");
}
