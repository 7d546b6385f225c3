//! Table tests of the Terraform state reader over constructed states.
#![allow(clippy::needless_pass_by_value)] // json! values built inline read best passed by value

use serde_json::{Value, json};

use super::*;

const SECRET: &str = "api-0a1b2c3d-0000-4000-8000-00000000beef";
const TF: &str = "provider[\"registry.terraform.io/launchdarkly/launchdarkly\"]";

/// v2.x (schema 0): SDKv2 writes empty strings and lists for unset attributes.
fn v2_attrs(id: &str) -> Value {
    json!({
        "id": id, "name": "legacy reader", "role": "", "custom_roles": [],
        "inline_roles": [],
        "policy_statements": [{"effect": "allow", "actions": ["*"], "not_actions": [],
                                "resources": ["proj/*:env/staging"], "not_resources": []}],
        "service_token": false, "default_api_version": 20_191_212, "expire": 1_700_000_000,
        "token": SECRET
    })
}

/// v3.x (schema 1): the plugin framework writes null for unset attributes.
fn v3_attrs(id: &str) -> Value {
    json!({
        "id": id, "name": "ci", "role": "reader", "custom_roles": null, "inline_roles": null,
        "service_token": true, "default_api_version": 20_240_415, "token": SECRET
    })
}

fn raw(resources: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "version": 4, "terraform_version": "1.9.8", "serial": 7,
        "lineage": "2f7e3c54-0d4c-5d0a-8d3e-6b8f0f1b2c3d", "outputs": {}, "resources": resources,
        "check_results": null
    }))
    .unwrap()
}

fn resource(module: Option<&str>, name: &str, provider: &str, instances: Value) -> Value {
    let mut r = json!({"mode": "managed", "type": RESOURCE_TYPE, "name": name, "provider": provider,
                       "instances": instances});
    if let Some(m) = module {
        r["module"] = json!(m);
    }
    r
}

fn inst(schema: u64, key: Option<Value>, attrs: Value) -> Value {
    let mut i = json!({"schema_version": schema, "attributes": attrs, "sensitive_attributes": [],
                       "private": "bnVsbA=="});
    if let Some(k) = key {
        i["index_key"] = k;
    }
    i
}

fn id(n: u8) -> String {
    format!("61095542756dba551110ae{n:02x}")
}

#[test]
fn schema_0_and_1_instances_translate_their_attributes() {
    let state = parse(&raw(json!([
        resource(None, "legacy", TF, json!([inst(0, None, v2_attrs(&id(1)))])),
        resource(None, "ci", TF, json!([inst(1, None, v3_attrs(&id(2)))])),
    ])))
    .unwrap();
    assert!(matches!(&state.format, Format::Raw { serial: Some(7), .. }));
    let [legacy, ci] = &state.instances[..] else { panic!("{:?}", state.instances) };

    assert_eq!(legacy.address(), "launchdarkly_access_token.legacy");
    assert_eq!(legacy.schema_version, 0);
    assert_eq!(legacy.id, id(1));
    assert_eq!(legacy.name.as_deref(), Some("legacy reader"));
    assert_eq!(legacy.role, None, "an empty role is no role");
    assert!(legacy.custom_roles.is_empty());
    assert_eq!(
        legacy.statements,
        vec![Statement {
            effect: Effect::Allow,
            actions: Some(vec!["*".into()]),
            not_actions: None,
            resources: Some(vec!["proj/*:env/staging".into()]),
            not_resources: None,
        }],
        "policy_statements are read, [] lists are absent"
    );
    assert_eq!(legacy.default_api_version, Some(20_191_212));
    assert_eq!(legacy.expire, Some(1_700_000_000));
    assert_eq!(legacy.secret.as_ref().map(Secret::expose), Some(SECRET));

    assert_eq!(ci.schema_version, 1);
    assert_eq!(ci.role.as_deref(), Some("reader"));
    assert!(ci.statements.is_empty());
    assert!(ci.service_token);
    assert_eq!(ci.expire, None);
    // The secret never shows in a debug dump.
    assert!(!format!("{state:?}").contains("beef"));
}

#[test]
fn inline_roles_blocks_of_v2_and_lists_of_v3_read_alike() {
    let statement = json!({"effect": "deny", "actions": null, "not_actions": ["*"],
                           "resources": ["proj/*"], "not_resources": null});
    let mut v2 = v2_attrs(&id(1));
    v2["policy_statements"] = json!([]);
    v2["inline_roles"] = json!([statement]);
    let mut v3 = v3_attrs(&id(2));
    v3["role"] = Value::Null;
    v3["inline_roles"] = json!([statement]);
    let state = parse(&raw(json!([
        resource(None, "a", TF, json!([inst(0, None, v2)])),
        resource(None, "b", TF, json!([inst(1, None, v3)])),
    ])))
    .unwrap();
    assert_eq!(state.instances[0].statements, state.instances[1].statements);
    assert_eq!(state.instances[0].statements[0].not_actions, Some(vec!["*".to_owned()]));
}

#[test]
fn modules_count_for_each_aliases_and_both_registries() {
    let tofu_eu = "provider[\"registry.opentofu.org/launchdarkly/launchdarkly\"].eu";
    let state = parse(&raw(json!([
        resource(None, "counted", TF, json!([inst(1, Some(json!(0)), v3_attrs(&id(1))),
                                              inst(1, Some(json!(1)), v3_attrs(&id(2)))])),
        resource(Some("module.team[\"a b\"].module.inner[3]"), "deploy", tofu_eu,
                 json!([inst(1, Some(json!("prod")), v3_attrs(&id(3)))])),
        resource(Some("module.team[\"a b\"].module.inner[4]"), "deploy", tofu_eu,
                 json!([inst(1, Some(json!("prod")), v3_attrs(&id(4)))])),
        {"mode": "managed", "type": "launchdarkly_project", "name": "p", "provider": TF,
         "instances": [{"schema_version": 1, "attributes": 5}]},
        {"mode": "data", "type": RESOURCE_TYPE, "name": "d", "provider": TF,
         "instances": [{"schema_version": 1, "attributes": {}}]},
    ])))
    .unwrap();
    let addresses: Vec<String> = state.instances.iter().map(Instance::address).collect();
    assert_eq!(
        addresses,
        [
            "launchdarkly_access_token.counted[0]",
            "launchdarkly_access_token.counted[1]",
            "module.team[\"a b\"].module.inner[3].launchdarkly_access_token.deploy[\"prod\"]",
            "module.team[\"a b\"].module.inner[4].launchdarkly_access_token.deploy[\"prod\"]",
        ],
        "other resource types and data sources are skipped undecoded"
    );
    assert_eq!(state.instances[2].provider, tofu_eu);
    let removed: Vec<String> = state.resources.iter().map(ResourceAddress::without_keys).collect();
    assert_eq!(
        removed,
        ["launchdarkly_access_token.counted", "module.team.module.inner.launchdarkly_access_token.deploy"],
        "one removed address per resource, without instance keys"
    );
}

#[test]
fn show_json_format_with_child_modules() {
    let values = |id_: &str| v3_attrs(id_);
    let doc = json!({
        "format_version": "1.0", "terraform_version": "1.9.8",
        "values": {"root_module": {
            "resources": [{"address": "launchdarkly_access_token.ci", "mode": "managed", "type": RESOURCE_TYPE,
                           "name": "ci", "provider_name": "registry.terraform.io/launchdarkly/launchdarkly",
                           "schema_version": 1, "values": values(&id(1)), "sensitive_values": {"token": true}}],
            "child_modules": [{"address": "module.ops", "resources": [
                {"address": "module.ops.launchdarkly_access_token.bot[\"x\"]", "mode": "managed",
                 "type": RESOURCE_TYPE, "name": "bot", "index": "x", "schema_version": 0,
                 "provider_name": "registry.opentofu.org/launchdarkly/launchdarkly", "values": v2_attrs(&id(2))},
                {"address": "module.ops.launchdarkly_access_token.bot[\"y\"]", "mode": "managed",
                 "type": RESOURCE_TYPE, "name": "bot", "index": "y", "deposed_key": "00000001",
                 "schema_version": 0, "values": v2_attrs(&id(3))}
            ], "child_modules": []}]
        }}
    });
    let state = parse(&serde_json::to_vec(&doc).unwrap()).unwrap();
    assert_eq!(state.format, Format::Show { format_version: "1.0".into() });
    let addresses: Vec<String> = state.instances.iter().map(Instance::address).collect();
    assert_eq!(
        addresses,
        ["launchdarkly_access_token.ci", "module.ops.launchdarkly_access_token.bot[\"x\"]"]
    );
    assert_eq!(state.instances[1].secret.as_ref().map(Secret::expose), Some(SECRET));
    assert_eq!(state.notes.len(), 1, "the deposed object is noted, not migrated");
    assert_eq!(state.resources.len(), 2);
}

#[test]
fn an_empty_state_has_no_tokens() {
    let state = parse(br#"{"version": 4, "serial": 1, "lineage": "x", "resources": []}"#).unwrap();
    assert!(state.instances.is_empty() && state.resources.is_empty());
    let show = parse(br#"{"format_version": "1.0"}"#).unwrap();
    assert!(show.instances.is_empty());
}

#[test]
fn bad_inputs_are_clear_errors() {
    let both = {
        let mut a = v2_attrs(&id(1));
        a["inline_roles"] = a["policy_statements"].clone();
        a
    };
    let no_id = {
        let mut a = v3_attrs("");
        a.as_object_mut().unwrap().remove("id");
        a
    };
    let bad_effect = {
        let mut a = v3_attrs(&id(1));
        a["inline_roles"] = json!([{"effect": "maybe", "actions": ["*"], "resources": ["*"]}]);
        a
    };
    let secret_in_wrong_place = {
        let mut a = v3_attrs(&id(1));
        a["default_api_version"] = json!(SECRET);
        a
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("not json", b"this is not json".to_vec(), "tokenform::terraform::not_json"),
        ("truncated", format!("{{\"version\": 4, \"resources\": [{{\"token\": \"{SECRET}").into_bytes(), "tokenform::terraform::not_json"),
        ("version 3", br#"{"version": 3, "modules": []}"#.to_vec(), "tokenform::terraform::unsupported_version"),
        ("show format 2", br#"{"format_version": "2.0"}"#.to_vec(), "tokenform::terraform::unsupported_version"),
        ("no version", br#"{"resources": []}"#.to_vec(), "tokenform::terraform::unknown_format"),
        ("an array", b"[1, 2]".to_vec(), "tokenform::terraform::bad_shape"),
        ("encrypted", br#"{"serial": 1, "lineage": "x", "meta": {}, "encrypted_data": "AAAA", "encryption_version": "v0"}"#.to_vec(), "tokenform::terraform::encrypted"),
        ("both statement lists", raw(json!([resource(None, "x", TF, json!([inst(0, None, both)]))])), "tokenform::terraform::both_statement_lists"),
        ("no id", raw(json!([resource(None, "x", TF, json!([inst(1, None, no_id)]))])), "tokenform::terraform::missing_id"),
        ("schema 2", raw(json!([resource(None, "x", TF, json!([inst(2, None, v3_attrs(&id(1)))]))])), "tokenform::terraform::unknown_schema_version"),
        ("bad effect", raw(json!([resource(None, "x", TF, json!([inst(1, None, bad_effect)]))])), "tokenform::terraform::bad_instance"),
        ("wrong type", raw(json!([resource(None, "x", TF, json!([inst(1, None, secret_in_wrong_place)]))])), "tokenform::terraform::bad_instance"),
        ("flatmap", raw(json!([resource(None, "x", TF, json!([{"schema_version": 0, "attributes_flat": {"id": "x"}}]))])), "tokenform::terraform::bad_instance"),
        ("bad resource name", raw(json!([resource(None, "x\n}", TF, json!([]))])), "tokenform::terraform::bad_shape"),
        ("bad module", raw(json!([resource(Some("mod.x"), "x", TF, json!([]))])), "tokenform::terraform::bad_shape"),
        ("resources not a list", br#"{"version": 4, "resources": {"a": 1}}"#.to_vec(), "tokenform::terraform::bad_shape"),
    ];
    for (what, input, code) in cases {
        let err = parse(&input).expect_err(what);
        let got = miette::Diagnostic::code(&err).map(|c| c.to_string());
        assert_eq!(got.as_deref(), Some(code), "{what}: {err}");
        let text = format!("{err} {err:?}");
        assert!(!text.contains("beef"), "{what} echoes the secret: {text}");
        if what == "both statement lists" || what == "no id" {
            assert!(
                text.contains("launchdarkly_access_token.x"),
                "{what} does not name the resource: {text}"
            );
        }
    }
}

#[test]
fn deeply_nested_input_is_an_error_not_a_crash() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(parse(deep.as_bytes()).is_err());
}

#[test]
fn module_addresses() {
    assert_eq!(
        parse_module("module.a[\"x]y\\\"\"].module.b[2].module.c"),
        Some(vec![
            ModuleStep { name: "a".into(), key: Some(IndexKey::Str("x]y\"".into())) },
            ModuleStep { name: "b".into(), key: Some(IndexKey::Int(2)) },
            ModuleStep { name: "c".into(), key: None },
        ])
    );
    for bad in ["module.", "mod.a", "module.a[", "module.a[x]", "module.a.", "module.a]", "module.1a"] {
        assert_eq!(parse_module(bad), None, "{bad}");
    }
}
