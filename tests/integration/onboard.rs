//! Bringing existing tokens under management, end to end against `tokenform dev-server`:
//! `adopt`, `plan -generate-config-out`, `migrate terraform`, and an `import` block of a
//! hand-made token. Tokens are made through the emulator's API, so their secrets are
//! known and the tests can check where each one does (and does not) end up.
#![allow(clippy::needless_pass_by_value)] // request bodies and json! values read best built inline

use std::collections::BTreeMap;
use std::ops::Deref;

use serde_json::{Value, json};
use tokenform::api::model::Token;
use tokenform::api::{Client, ClientOptions, TokenPost};
use tokenform::model::{Effect, Role, Statement};
use tokenform::secret::Secret;

use crate::support::{Env, Test, text};

/// A dev-server seeded with one custom role, a config dir wired to it, and the library's
/// API client for making tokens behind tokenform's back.
struct Onboard {
    env: Env<'static>,
    rt: tokio::runtime::Runtime,
    client: Client,
}

impl Deref for Onboard {
    type Target = Env<'static>;
    fn deref(&self) -> &Env<'static> {
        &self.env
    }
}

impl Onboard {
    fn start() -> Onboard {
        // In `fmt` layout with nothing but the settings, so `fmt --check` judges only what
        // the commands wrote.
        let env =
            Test::new().seed(&json!({"customRoles": [{"key": "deploy", "name": "Deploy"}]})).bare().start();
        let client =
            Client::new(ClientOptions::new(&env.server.url, Secret::new(&env.server.admin_token))).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        Onboard { env, rt, client }
    }

    /// The settings blocks, then `extra`.
    fn settings(&self, extra: &str) -> String {
        let mut text = self.env.settings();
        if !extra.is_empty() {
            text.push('\n');
            text.push_str(extra);
        }
        text
    }

    fn create(&self, body: TokenPost) -> Token {
        self.rt.block_on(self.client.create_token(&body)).unwrap()
    }

    fn get(&self, id: &str) -> Token {
        self.rt.block_on(self.client.get_token(id)).unwrap()
    }

    /// Every live token but the admin's own, by id.
    fn live(&self) -> BTreeMap<String, Token> {
        let caller = self.rt.block_on(self.client.caller_identity()).unwrap().token_id;
        let tokens = self.rt.block_on(self.client.list_tokens(true)).unwrap();
        tokens.into_iter().filter(|t| Some(&t.id) != caller.as_ref()).map(|t| (t.id.clone(), t)).collect()
    }

    /// The token id `secret` authenticates as, or the error status.
    fn whoami(&self, secret: &str) -> Option<String> {
        let c = Client::new(ClientOptions::new(&self.server.url, Secret::new(secret))).unwrap();
        self.rt.block_on(c.caller_identity()).ok().and_then(|i| i.token_id)
    }

    /// The plan as JSON.
    fn plan_json(&self) -> Value {
        let out = self.run(&["plan", "--format", "json"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// address → secret (null when unknown), from `output --format json`.
    fn outputs(&self) -> BTreeMap<String, Value> {
        let out = self.run(&["output", "--format", "json", "--identity", self.identity.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        rows.into_iter().map(|r| (r["address"].as_str().unwrap().to_owned(), r["secret"].clone())).collect()
    }

    /// Every file's name and bytes in the config dir (the identity aside).
    fn files(&self) -> BTreeMap<String, String> {
        std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_name() != "identity.txt")
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    String::from_utf8_lossy(&std::fs::read(e.path()).unwrap()).into_owned(),
                )
            })
            .collect()
    }
}

fn post(name: &str, role: Option<Role>) -> TokenPost {
    TokenPost { name: Some(name.into()), role, service_token: Some(true), ..TokenPost::default() }
}

fn secret_of(t: &Token) -> String {
    t.token.as_ref().unwrap().expose().to_owned()
}

fn kinds(plan: &Value) -> Vec<String> {
    plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["change"]["type"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn adopt_imports_every_unmanaged_token_and_changes_nothing_live() {
    let env = Onboard::start();
    env.write(
        "main.hcl",
        &env.settings("unmanaged {\n  ignore_names = [\"ignored-*\"]\n}\n\ntoken \"kept\" {\n  name = \"kept\"\n  role = \"reader\"\n}\n"),
    );
    env.ok_text(&["apply", "--auto-approve"]);
    let deploy_role = env.rt.block_on(env.client.custom_role("deploy")).unwrap().unwrap();
    env.create(post("hand writer (ops)", Some(Role::Writer)));
    env.create(TokenPost {
        description: Some("made by hand".into()),
        default_api_version: Some(20_240_415),
        ..post("hand-writer ops", Some(Role::Reader))
    });
    env.create(TokenPost {
        inline_role: Some(vec![Statement {
            effect: Effect::Allow,
            actions: Some(vec!["viewProject".into()]),
            resources: Some(vec!["proj/*".into()]),
            not_actions: None,
            not_resources: None,
        }]),
        ..post("auditor ${x}", None)
    });
    env.create(TokenPost { custom_role_ids: Some(vec![deploy_role.id.clone()]), ..post("deployer", None) });
    env.create(post("ignored-legacy", Some(Role::Reader)));
    let before = env.live();

    let out = env.ok_text(&["adopt"]);
    assert!(out.contains("Wrote 4 import block(s)"), "{out}");
    let adopted = std::fs::read_to_string(env.path("adopted.hcl")).unwrap();
    assert!(
        adopted.contains("token \"hand_writer_ops\"") && adopted.contains("token \"hand_writer_ops_2\""),
        "{adopted}"
    );
    assert!(adopted.contains("custom_roles  = [\"deploy\"]"), "{adopted}");
    assert!(!adopted.contains("ignored-legacy") && !adopted.contains("\"kept\""), "{adopted}");
    env.ok_text(&["fmt", "--check"]);

    assert_eq!(
        kinds(&env.plan_json()),
        ["import"; 4],
        "exactly the adopted tokens are imported, nothing else"
    );
    env.ok_text(&["apply", "--auto-approve"]);
    let after = env.live();
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>(),
        "no token created or deleted"
    );
    for (id, t) in &after {
        assert_eq!(t.expiry, None, "{id} got an expiry");
        assert_eq!(t.name, before[id].name);
    }
    assert_eq!(env.run(&["plan", "--detailed-exitcode"]).status.code(), Some(0));
    let outputs = env.outputs();
    assert_eq!(outputs["token.hand_writer_ops"], Value::Null, "an adopted token's secret stays unknown");

    // Nothing left to adopt; an existing file is never overwritten.
    assert!(env.ok_text(&["adopt"]).contains("No unmanaged tokens"));
    env.create(post("late", Some(Role::Reader)));
    let out = env.run(&["adopt"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("already exists"));
    assert_eq!(std::fs::read_to_string(env.path("adopted.hcl")).unwrap(), adopted);
    let out = env.ok_text(&["adopt", "--match", "la*", "-o", env.path("late.hcl").to_str().unwrap()]);
    assert!(out.contains("Wrote 1 import block(s)"), "{out}");
}

#[test]
fn generate_config_out_writes_the_missing_token_blocks() {
    let env = Onboard::start();
    let made = env
        .create(TokenPost { description: Some("by hand".into()), ..post("legacy ci", Some(Role::Reader)) });
    env.write(
        "main.hcl",
        &env.settings(&format!("import {{\n  to = token.legacy\n  id = \"{}\"\n}}\n", made.id)),
    );
    assert_eq!(env.run(&["validate"]).status.code(), Some(1), "an import without its block is an error");
    let out = env.ok_text(&["plan", "-generate-config-out=generated.hcl"]);
    assert!(out.contains("Wrote 1 token block(s)"), "{out}");
    assert!(out.contains("1 to import"), "{out}");
    let generated = std::fs::read_to_string(env.path("generated.hcl")).unwrap();
    assert!(
        generated.contains("token \"legacy\" {") && generated.contains("= \"legacy ci\"\n"),
        "{generated}"
    );
    assert_eq!(kinds(&env.plan_json()), ["import"]);

    // Every import has its block now: nothing to write, and the file is left alone.
    let out = env.ok_text(&["plan", "-generate-config-out", "other.hcl"]);
    assert!(out.contains("wrote nothing"), "{out}");
    assert!(!env.path("other.hcl").exists());
    // FILE must not exist.
    std::fs::remove_file(env.path("generated.hcl")).unwrap();
    env.write("taken.hcl", "# mine\n");
    let out = env.run(&["plan", "-generate-config-out", env.path("taken.hcl").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(env.path("taken.hcl")).unwrap(), "# mine\n");
}

#[test]
fn an_import_block_creates_and_rotates_nothing_until_asked() {
    let env = Onboard::start();
    let made = env.create(post("hand made", Some(Role::Reader)));
    let secret = secret_of(&made);
    env.write(
        "main.hcl",
        &env.settings(&format!(
            "import {{\n  to = token.hand\n  id = \"{}\"\n}}\n\ntoken \"hand\" {{\n  name          = \"hand made\"\n  role          = \"reader\"\n  service_token = true\n\n  rotation {{\n    every = \"90d\"\n    grace = \"1h\"\n  }}\n}}\n",
            made.id
        )),
    );
    let before = env.live();
    let applied = env.ok_text(&["apply", "--auto-approve"]);
    assert_eq!(
        env.live().keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>(),
        "nothing created:\n{applied}"
    );
    assert_eq!(env.get(&made.id).expiry, None, "the imported token was not rotated");
    assert_eq!(env.whoami(&secret).as_deref(), Some(made.id.as_str()), "its secret still works");
    assert_eq!(env.run(&["plan", "--detailed-exitcode"]).status.code(), Some(0));

    env.ok_text(&["apply", "--auto-approve", "--rotate", "token.hand"]);
    let new_id = env.state()["tokens"]["token.hand"]["id"].as_str().unwrap().to_owned();
    assert_ne!(new_id, made.id, "the rotation made a successor");
    let new_secret = env.outputs()["token.hand"].as_str().unwrap().to_owned();
    assert_eq!(env.whoami(&new_secret).as_deref(), Some(new_id.as_str()));
    let expiry = env.get(&made.id).expiry.expect("the old token got the grace");
    let left = expiry - jiff::Timestamp::now().as_millisecond();
    assert!(left > 0 && left <= 3_600_000, "grace left: {left} ms");
    assert_eq!(
        env.whoami(&secret).as_deref(),
        Some(made.id.as_str()),
        "the old secret works during the grace"
    );
}

/// A raw v4 Terraform state holding `instances` (resource JSON objects).
fn tf_state(resources: &[Value]) -> Vec<u8> {
    serde_json::to_vec_pretty(&json!({
        "version": 4, "terraform_version": "1.9.8", "serial": 12,
        "lineage": "4c0f4a8e-5a9e-4d3b-9d3a-0e6f0a9b8c7d", "outputs": {}, "resources": resources,
        "check_results": null
    }))
    .unwrap()
}

fn tf_resource(module: Option<&str>, name: &str, instances: Vec<Value>) -> Value {
    let mut r = json!({"mode": "managed", "type": "launchdarkly_access_token", "name": name,
        "provider": "provider[\"registry.terraform.io/launchdarkly/launchdarkly\"]", "instances": instances});
    if let Some(m) = module {
        r["module"] = json!(m);
    }
    r
}

/// A schema 1 (v3.x) instance of a live token, with its secret.
fn tf_instance(t: &Token, secret: &str, key: Option<Value>) -> Value {
    let mut i = json!({"schema_version": 1, "sensitive_attributes": [], "attributes": {
        "id": t.id, "name": t.name, "role": t.role, "custom_roles": null, "inline_roles": null,
        "service_token": t.service_token, "default_api_version": t.default_api_version.unwrap_or(20_240_415),
        "token": secret}});
    if let Some(k) = key {
        i["index_key"] = k;
    }
    i
}

#[test]
fn migrate_terraform_takes_over_tokens_with_their_current_secrets() {
    let env = Onboard::start();
    let ci =
        env.create(TokenPost { default_api_version: Some(20_240_415), ..post("ci", Some(Role::Reader)) });
    let deploy = env.create(TokenPost {
        default_api_version: Some(20_240_415),
        ..post("deploy-prod", Some(Role::Writer))
    });
    let reset = env
        .create(TokenPost { default_api_version: Some(20_240_415), ..post("rotated", Some(Role::Reader)) });
    let gone =
        env.create(TokenPost { default_api_version: Some(20_240_415), ..post("gone", Some(Role::Reader)) });
    let old = env.create(TokenPost {
        default_api_version: Some(20_240_415),
        inline_role: Some(vec![Statement {
            effect: Effect::Allow,
            actions: Some(vec!["*".into()]),
            resources: Some(vec!["proj/*:env/staging".into()]),
            not_actions: None,
            not_resources: None,
        }]),
        ..post("v2 token", None)
    });
    // schema 0 (v2.x): policy_statements, empty strings and lists, and `expire`.
    let v2 = json!({"schema_version": 0, "attributes": {
        "id": old.id, "name": "v2 token", "role": "", "custom_roles": [], "inline_roles": [],
        "policy_statements": [{"effect": "allow", "actions": ["*"], "not_actions": [],
                               "resources": ["proj/*:env/staging"], "not_resources": []}],
        "service_token": true, "default_api_version": 20_240_415, "expire": 1_700_000_000_000_i64,
        "token": secret_of(&old)}});
    let state_bytes = tf_state(&[
        tf_resource(None, "ci", vec![tf_instance(&ci, &secret_of(&ci), Some(json!(0)))]),
        tf_resource(
            Some("module.team[\"prod\"]"),
            "deploy",
            vec![tf_instance(&deploy, &secret_of(&deploy), Some(json!("prod")))],
        ),
        tf_resource(None, "rotated", vec![tf_instance(&reset, &secret_of(&reset), None)]),
        tf_resource(None, "gone", vec![tf_instance(&gone, &secret_of(&gone), None)]),
        tf_resource(None, "legacy", vec![v2]),
        json!({"mode": "managed", "type": "launchdarkly_project", "name": "p",
         "provider": "provider[\"registry.terraform.io/launchdarkly/launchdarkly\"]",
         "instances": [{"schema_version": 1, "attributes": {"key": "p"}}]}),
    ]);
    // After Terraform saw them: one secret reset, one token deleted.
    let reset_now = env.rt.block_on(env.client.reset_token(&reset.id, None)).unwrap();
    env.rt.block_on(env.client.delete_token(&gone.id)).unwrap();
    let tf_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tf_file.path(), &state_bytes).unwrap();
    let tf_path = tf_file.path().to_str().unwrap();
    let secrets = [&ci, &deploy, &reset, &gone, &old].map(secret_of);
    let no_secret = |what: &str, s: &str| {
        for secret in secrets.iter().chain([&secret_of(&reset_now)]) {
            assert!(!s.contains(secret.as_str()), "{what} holds a secret:\n{s}");
        }
    };

    // Dry runs, from a file and from stdin, write nothing.
    let before = env.files();
    let out = env.ok_text(&["migrate", "terraform", tf_path, "--dry-run"]);
    assert!(out.contains("dry run"), "{out}");
    assert!(out.contains("gone live, skipped"), "{out}");
    no_secret("dry-run output", &out);
    let out = env.run_stdin(&["migrate", "terraform", "-", "-dry-run"], &state_bytes);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    no_secret("stdin dry-run output", &text(&out));
    assert_eq!(env.files(), before, "a dry run wrote something");

    let out = env.ok_text(&["migrate", "terraform", tf_path]);
    no_secret("migrate output", &out);
    assert!(out.contains("would make Terraform destroy the tokens"), "{out}");
    assert!(out.contains("launchdarkly_access_token.legacy: `expire` dropped"), "{out}");
    assert_eq!(std::fs::read(tf_file.path()).unwrap(), state_bytes, "the Terraform state was modified");
    let files = env.files();
    for (name, body) in &files {
        no_secret(name, body);
    }
    let removed = &files["terraform-removed.tf"];
    for from in [
        "launchdarkly_access_token.ci\n",
        "module.team.launchdarkly_access_token.deploy\n",
        "launchdarkly_access_token.gone\n",
        "launchdarkly_access_token.legacy\n",
    ] {
        assert!(removed.contains(&format!("from = {from}")), "{removed}");
    }
    assert_eq!(removed.matches("destroy = false").count(), 5, "{removed}");
    let migrated = &files["terraform-migrated.hcl"];
    assert!(!migrated.contains("\"gone\""), "a token gone live gets no block:\n{migrated}");
    env.ok_text(&["fmt", "--check"]);

    let state = env.state();
    assert_eq!(state["tokens"].as_object().unwrap().len(), 4);
    assert_eq!(
        state["tokens"]["token.team_prod_deploy_prod"]["terraform_address"],
        "module.team[\"prod\"].launchdarkly_access_token.deploy[\"prod\"]"
    );
    let shown = env.ok_text(&["state", "show", "token.ci_0"]);
    assert!(shown.contains("terraform_address = \"launchdarkly_access_token.ci[0]\""), "{shown}");

    assert_eq!(
        env.run(&["plan", "--detailed-exitcode"]).status.code(),
        Some(0),
        "{}",
        env.ok_text(&["plan"])
    );
    let outputs = env.outputs();
    assert_eq!(outputs["token.ci_0"], json!(secret_of(&ci)));
    assert_eq!(outputs["token.team_prod_deploy_prod"], json!(secret_of(&deploy)));
    assert_eq!(outputs["token.legacy"], json!(secret_of(&old)));
    assert_eq!(outputs["token.rotated"], Value::Null, "a stale secret is never recorded");

    // Again: refused, as every address is already in state.
    std::fs::rename(env.path("terraform-migrated.hcl"), env.path("kept.hcl")).unwrap();
    std::fs::remove_file(env.path("terraform-removed.tf")).unwrap();
    let out = env.run(&["migrate", "terraform", tf_path]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("already in the state"), "{}", text(&out));
    assert!(!env.path("terraform-migrated.hcl").exists());
}

#[test]
fn migrate_refuses_bad_states_and_writes_nothing() {
    let env = Onboard::start();
    let big = {
        let mut v = b"{\"version\": 4, \"resources\": [], \"pad\": \"".to_vec();
        v.resize(10 * 1024 * 1024, b'x');
        v.extend_from_slice(b"\"}");
        v
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("not json", b"<html>".to_vec(), "not valid JSON"),
        ("version 3", br#"{"version": 3, "modules": []}"#.to_vec(), "version 3"),
        (
            "encrypted",
            br#"{"encrypted_data": "AAAA", "encryption_version": "v0", "meta": {}}"#.to_vec(),
            "tofu state pull",
        ),
        (
            "both lists",
            tf_state(&[tf_resource(
                None,
                "x",
                vec![json!({"schema_version": 0, "attributes": {
            "id": "61095542756dba551110ae21", "name": "x",
            "inline_roles": [{"effect": "allow", "actions": ["*"], "resources": ["*"]}],
            "policy_statements": [{"effect": "allow", "actions": ["*"], "resources": ["*"]}]}})],
            )]),
            "both policy_statements and inline_roles",
        ),
        (
            "no id",
            tf_state(&[tf_resource(
                None,
                "x",
                vec![json!({"schema_version": 1, "attributes": {"name": "x", "role": "reader"}})],
            )]),
            "has no `id`",
        ),
        ("10 MB", big, "larger than 8 MiB"),
    ];
    let before = env.files();
    for (what, bytes, says) in cases {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), &bytes).unwrap();
        let out = env.run(&["migrate", "terraform", file.path().to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{what}: {}", text(&out));
        assert!(text(&out).contains(says), "{what}: {}", text(&out));
        assert!(!text(&out).contains("panicked"), "{what}: {}", text(&out));
        let out = env.run_stdin(&["migrate", "terraform", "-"], &bytes);
        assert_eq!(out.status.code(), Some(1), "{what} on stdin: {}", text(&out));
    }
    assert_eq!(env.files(), before, "a refused state wrote something");
    let missing = env.run(&["migrate", "terraform", "no-such.tfstate"]);
    assert_eq!(missing.status.code(), Some(1));
}

#[test]
fn migrate_writes_where_o_says_and_reports_fields_that_differ_live() {
    let env = Onboard::start();
    let same =
        env.create(TokenPost { default_api_version: Some(20_240_415), ..post("same", Some(Role::Reader)) });
    let edited =
        env.create(TokenPost { default_api_version: Some(20_240_415), ..post("edited", Some(Role::Reader)) });
    // Terraform last saw `edited` as a writer; someone made it a reader by hand since.
    let mut tf_edited = tf_instance(&edited, &secret_of(&edited), None);
    tf_edited["attributes"]["role"] = json!("writer");
    let state_bytes = tf_state(&[
        tf_resource(None, "same", vec![tf_instance(&same, &secret_of(&same), None)]),
        tf_resource(None, "edited", vec![tf_edited]),
    ]);
    env.write("tf.tfstate", std::str::from_utf8(&state_bytes).unwrap());

    let out = env.ok_text(&["migrate", "terraform", "tf.tfstate", "-o", "from-terraform.hcl"]);
    let edited_line = out.lines().position(|l| l.contains("launchdarkly_access_token.edited")).unwrap();
    let report = out.lines().skip(edited_line).take(3).collect::<Vec<_>>().join("\n");
    assert!(report.contains("differs live from Terraform"), "{out}");
    assert!(report.contains("role"), "the differing field is named:\n{out}");
    let same_line = out.lines().position(|l| l.contains("launchdarkly_access_token.same")).unwrap();
    assert!(
        !out.lines().nth(same_line + 1).unwrap_or_default().contains("differs live"),
        "a matching token reports no difference:\n{out}"
    );
    assert!(out.contains("from-terraform.hcl"), "{out}");
    let files = env.files();
    assert!(files.contains_key("from-terraform.hcl"), "{files:?}");
    assert!(!files.contains_key("terraform-migrated.hcl"), "-o replaces the default file name");
    let hcl = &files["from-terraform.hcl"];
    assert!(hcl.contains("\"writer\""), "values come from the state:\n{hcl}");

    // The next plan updates exactly the edited token back to what Terraform had.
    assert_eq!(env.run(&["plan", "--detailed-exitcode"]).status.code(), Some(2));
    let plan = env.plan_json();
    assert_eq!(kinds(&plan), ["update"], "{plan:#}");
    env.ok_text(&["apply", "--auto-approve"]);
    assert_eq!(env.get(&edited.id).role.as_deref(), Some("writer"));
    assert_eq!(env.run(&["plan", "--detailed-exitcode"]).status.code(), Some(0));
}
