//! Integration tests: `tokenform plan` end to end, the real binary against `dev-server`.

use std::path::Path;
use std::process::Output;

use crate::support::{DevServer, config_dir, stderr, stdout};

const SEED: &str = r#"{
  "customRoles": [{"_id": "600000000000000000000001", "key": "deploy-staging", "name": "Deploy staging",
                   "policy": [{"effect": "allow", "actions": ["*"], "resources": ["proj/*:env/staging"]}]}],
  "tokens": [{"_id": "610000000000000000000001", "name": "stray-bot", "role": "reader", "serviceToken": true},
             {"_id": "610000000000000000000002", "name": "legacy-kept", "role": "reader", "serviceToken": true}]
}"#;

fn server() -> DevServer {
    DevServer::seeded(&SEED, &[])
}

fn config(server: &DevServer, extra: &str) -> tempfile::TempDir {
    let main = format!(
        r#"launchdarkly {{
  base_url = "{}"
}}

token "ci_reader" {{
  name          = "ci-reader"
  description   = "Read-only token for CI"
  role          = "reader"
  service_token = true
}}

token "deployer" {{
  name          = "deployer"
  custom_roles  = ["deploy-staging"]
  service_token = true
}}
{extra}"#,
        server.url
    );
    config_dir(&[("main.hcl", &main)])
}

/// `tokenform -C DIR ARGS…`, run from DIR too (so `-out FILE` lands there).
fn run(server: &DevServer, dir: &Path, args: &[&str]) -> Output {
    server.tokenform(dir).current_dir(dir).args(args).output().unwrap()
}

#[test]
fn a_new_configuration_plans_creates_and_saves_a_plan_file() {
    let server = server();
    let dir = config(&server, "");
    let out = run(&server, dir.path(), &["plan", "-out", "tf.plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(2), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("# token.ci_reader will be created"), "{text}");
    assert!(text.contains("+ custom_roles  = [\"deploy-staging\"]"), "{text}");
    assert!(text.contains("Plan: 2 to create, 0 to update, 0 to rotate, 0 to delete."), "{text}");
    // The note goes to stderr: stdout is exactly the plan (what `show tf.plan` prints).
    let note = stderr(&out);
    assert!(
        note.contains("Saved the plan to: tf.plan") && note.contains("tokenform apply tf.plan"),
        "{note}"
    );
    assert!(!text.contains("Saved the plan"), "{text}");

    let saved = std::fs::read_to_string(dir.path().join("tf.plan")).unwrap();
    assert!(!tokenform::secret::looks_like_secret(&saved), "a plan file never holds a secret");
    assert!(!saved.contains(&server.admin_token));
    let doc: serde_json::Value = serde_json::from_str(&saved).unwrap();
    assert_eq!(doc["serial"], 0);
    assert!(!doc["lineage"].as_str().unwrap().is_empty());
    assert_eq!(doc["resource_changes"][0]["actions"], serde_json::json!(["create"]));
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/plan.schema.json"))
            .unwrap(),
    )
    .unwrap();
    assert!(jsonschema::is_valid(&schema, &doc));
    let plan: tokenform::plan::Plan = serde_json::from_value(doc).unwrap();
    assert_eq!(plan.actions.len(), 2);
}

#[test]
fn json_and_markdown_formats_come_from_the_same_plan() {
    let server = server();
    let dir = config(&server, "");
    let json = run(&server, dir.path(), &["plan", "--format", "json"]);
    assert_eq!(json.status.code(), Some(0), "{}", stderr(&json));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(doc["has_changes"], true);
    assert_eq!(doc["summary"]["create"], 2);

    let md = run(&server, dir.path(), &["plan", "--format", "markdown"]);
    let text = stdout(&md);
    assert!(text.contains("| create | 2 |") && text.contains("```diff"), "{text}");
    assert!(!text.contains('\x1b'));
}

#[test]
fn authoritative_mode_deletes_strays_but_not_ignored_names_nor_the_caller() {
    let server = server();
    let dir = config(&server, "unmanaged {\n  mode = \"delete\"\n  ignore_names = [\"legacy-*\"]\n}\n");
    let out = run(&server, dir.path(), &["plan"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(text.contains("# unmanaged token \"stray-bot\" will be destroyed"), "{text}");
    assert!(!text.contains("legacy-kept"), "{text}");
    // Deletions are announced before the list of actions.
    let warning = text.find("Warning: this plan destroys 1 token").unwrap();
    assert!(warning < text.find("will perform the following actions").unwrap());
}

/// Issue 10 §7: `report` mode (the default) makes plan list the unmanaged tokens, as
/// docs/config.md says, in every format, and exit 0 for them with `--detailed-exitcode`.
#[test]
fn report_mode_lists_unmanaged_tokens_and_they_are_no_change() {
    let server = server();
    let dir = applied(&server);
    let out = run(&server, dir.path(), &["plan", "--detailed-exitcode"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(text.starts_with("No changes. Tokens match the configuration."), "{text}");
    assert!(
        text.contains(
            "Unmanaged: 2 live tokens are in neither state nor configuration (unmanaged.mode = \"report\": listed, \
             left alone):\n  ? \"legacy-kept\" (id 610000000000000000000002)\n  ? \"stray-bot\" (id \
             610000000000000000000001)\n"
        ),
        "{text}"
    );
    assert!(text.contains("`tokenform drift` reports them in full"), "{text}");
    assert!(!text.contains("tokenform-emulator-admin"), "the caller's own token is not listed: {text}");
    let md = stdout(&run(&server, dir.path(), &["plan", "--format", "markdown"]));
    assert!(md.contains("**Unmanaged:** 2 live tokens are in neither state nor configuration"), "{md}");
    let json = stdout(&run(&server, dir.path(), &["plan", "--format", "json"]));
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let names: Vec<&str> =
        doc["unmanaged"].as_array().unwrap().iter().filter_map(|u| u["name"].as_str()).collect();
    assert_eq!(names, ["legacy-kept", "stray-bot"]);
    assert_eq!(doc["has_changes"], false);
    // `ignore_names` takes a token out of the list, as it does for drift.
    let main = std::fs::read_to_string(dir.path().join("main.hcl")).unwrap();
    std::fs::write(
        dir.path().join("main.hcl"),
        format!("{main}\nunmanaged {{\n  ignore_names = [\"legacy-*\"]\n}}\n"),
    )
    .unwrap();
    let text = stdout(&run(&server, dir.path(), &["plan"]));
    assert!(
        text.contains("Unmanaged: 1 live token is in neither") && !text.contains("legacy-kept"),
        "{text}"
    );
}

/// Issue 10 §7: after the state file is lost, the plan creates every token again; each
/// create whose name a live token already has asks whether to import it instead.
#[test]
fn a_create_named_like_a_live_unmanaged_token_asks_to_import_it() {
    let server = server();
    let dir = applied(&server);
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("tokenform.state.json")).unwrap())
            .unwrap();
    let id = state["tokens"]["token.ci_reader"]["id"].as_str().unwrap().to_owned();
    std::fs::remove_file(dir.path().join("tokenform.state.json")).unwrap();
    let out = run(&server, dir.path(), &["plan"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(text.contains("Plan: 2 to create"), "{text}");
    let said = text.replace('\n', " ");
    assert!(
        said.contains(&format!(
            "Warning: a live token named \"ci-reader\" exists (id {id}) that no address manages: import it? An \
             `import` block with `to = token.ci_reader` and `id = \"{id}\"` keeps the secret its users hold"
        )),
        "{text}"
    );
    assert!(said.contains("a live token named \"deployer\" exists"), "{text}");
}

#[test]
fn an_unknown_custom_role_is_an_error_naming_it() {
    let server = server();
    let dir = config(&server, "token \"x\" {\n  custom_roles = [\"no-such-role\"]\n}\n");
    let out = run(&server, dir.path(), &["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("no-such-role") && err.contains("tokenform::plan::unknown_custom_role"), "{err}");
}

/// The 1-based line of `main.hcl` in `dir` that contains `needle`.
fn line_of(dir: &Path, needle: &str) -> usize {
    let text = std::fs::read_to_string(dir.join("main.hcl")).unwrap();
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn every_unknown_custom_role_is_reported_where_it_is_written() {
    // Issue 10: only the first unknown role was reported, with no file:line.
    let server = server();
    let dir = config(
        &server,
        "\ntoken \"x\" {\n  custom_roles = [\"no-such-role\", \"deploy-staging\", \"nor-this\"]\n}\n\n\
         token \"y\" {\n  custom_roles = [\"also-missing\"]\n}\n",
    );
    let out = run(&server, dir.path(), &["plan"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let (x, y) = (line_of(dir.path(), "\"no-such-role\""), line_of(dir.path(), "\"also-missing\""));
    for line in [
        "3 custom roles do not exist in this LaunchDarkly account:".to_owned(),
        format!("main.hcl:{x}:3: token.x names custom role `no-such-role`"),
        format!("main.hcl:{x}:3: token.x names custom role `nor-this`"),
        format!("main.hcl:{y}:3: token.y names custom role `also-missing`"),
    ] {
        assert!(err.contains(&line), "missing {line:?} in:\n{err}");
    }
    assert!(!err.contains("`deploy-staging`"), "{err}");
    assert!(err.contains("tokenform::plan::unknown_custom_role"), "{err}");
}

#[test]
fn an_expires_at_in_the_past_is_located_at_validate_and_plan() {
    let server = server();
    let dir = config(
        &server,
        "\ntoken \"late\" {\n  role       = \"reader\"\n  expires_at = \"2020-01-01T00:00:00Z\"\n}\n",
    );
    let line = line_of(dir.path(), "expires_at");
    // validate reads no state: a warning, located, and the configuration is valid.
    let out = run(&server, dir.path(), &["validate"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let want = format!("Warning: main.hcl:{line}:3: token.late: expires_at 2020-01-01T00:00:00Z has passed");
    assert!(stderr(&out).contains(&want), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("Success!"), "{}", stdout(&out));
    // plan knows the token would be new: an error, at the same place.
    let out = run(&server, dir.path(), &["plan"]);
    assert_eq!(out.status.code(), Some(1));
    let want = format!("main.hcl:{line}:3: token.late has expires_at 2020-01-01T00:00:00Z");
    assert!(stderr(&out).contains(&want), "{}", stderr(&out));
}

#[test]
fn bad_target_addresses_are_usage_errors() {
    let server = server();
    let dir = config(&server, "");
    let out = run(&server, dir.path(), &["plan", "--target", "ci_reader"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--target"), "{}", stderr(&out));
    let out = run(&server, dir.path(), &["plan", "--target", "token.ci_reader"]);
    let text = stdout(&out);
    assert!(text.contains("targeting is in effect") && !text.contains("token.deployer"), "{text}");
}

/// A config dir with a state recipient, applied: every token managed.
fn applied(server: &DevServer) -> tempfile::TempDir {
    let dir = config(server, "");
    let key = dir.path().join("k");
    let keygen = crate::support::tokenform().args(["keygen", "-o"]).arg(&key).output().unwrap();
    let recipient = stdout(&keygen).lines().find(|l| l.starts_with("age1")).unwrap_or_default().to_owned();
    assert!(!recipient.is_empty(), "keygen printed no recipient: {}", stderr(&keygen));
    let main = std::fs::read_to_string(dir.path().join("main.hcl")).unwrap();
    let with_state = format!("{main}\nstate {{\n  recipients = [\"{recipient}\"]\n}}\n");
    std::fs::write(dir.path().join("main.hcl"), with_state).unwrap();
    let applied = run(server, dir.path(), &["apply", "--auto-approve"]);
    assert_eq!(applied.status.code(), Some(0), "{}{}", stdout(&applied), stderr(&applied));
    dir
}

/// Renames a live token behind tokenform's back, with the admin token.
fn rename_live(server: &DevServer, dir: &Path, address: &str, name: &str) {
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("tokenform.state.json")).unwrap()).unwrap();
    let id = state["tokens"][address]["id"].as_str().unwrap().to_owned();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let r = reqwest::Client::new()
            .patch(format!("{}/api/v2/tokens/{id}", server.url))
            .header("Authorization", &server.admin_token)
            .json(&serde_json::json!([{"op": "replace", "path": "/name", "value": name}]))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
    });
}

#[test]
fn after_apply_the_plan_is_empty_and_live_edits_show_as_drift() {
    let server = server();
    let dir = applied(&server);
    let out = run(&server, dir.path(), &["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("No changes. Tokens match the configuration."));

    // Rename one token outside tokenform: the plan reports it and renames it back.
    rename_live(&server, dir.path(), "token.ci_reader", "edited-by-hand");
    let out = run(&server, dir.path(), &["plan", "--detailed-exitcode"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("# token.ci_reader has changed"), "{text}");
    assert!(text.contains("~ name = \"edited-by-hand\" -> \"ci-reader\""), "{text}");
    assert!(text.contains("(because it was changed outside tokenform)"), "{text}");
}

#[test]
fn rotate_and_refresh_only_after_apply() {
    let server = server();
    let dir = applied(&server);
    let out = run(&server, dir.path(), &["plan", "--rotate", "token.deployer", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["resource_changes"].as_array().unwrap().len(), 1, "{doc:#}");
    assert_eq!(doc["resource_changes"][0]["actions"], serde_json::json!(["rotate"]));
    assert_eq!(doc["resource_changes"][0]["reason"], "rotation_requested");

    rename_live(&server, dir.path(), "token.deployer", "renamed");
    let out = run(&server, dir.path(), &["plan", "--refresh-only", "--detailed-exitcode"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(2), "drift to record is a change: {text}");
    assert!(text.contains("refresh-only plan") && !text.contains("will be updated"), "{text}");
}

/// Issue 10 §7: `plan -out` never writes over the configuration (nor adds a `*.hcl` to it),
/// nor over an existing file that is not a tokenform plan; a plan it saved is replaced.
#[test]
fn plan_out_refuses_configuration_files_and_files_that_are_not_plans() {
    let server = server();
    let dir = config(&server, "");
    let d = dir.path();
    let main = std::fs::read(d.join("main.hcl")).unwrap();
    std::fs::write(d.join("notes.txt"), "mine\n").unwrap();
    std::fs::write(d.join("state.json"), r#"{"format_version": 1, "lineage": "x", "tokens": {}}"#).unwrap();
    for (out, code) in [
        ("main.hcl", "tokenform::plan::out_is_config"),
        ("./extra.hcl", "tokenform::plan::out_is_config"),
        ("extra.hcl.json", "tokenform::plan::out_is_config"),
        ("notes.txt", "tokenform::plan::out_exists"),
        ("state.json", "tokenform::plan::out_exists"),
    ] {
        let out_arg = format!("-out={out}");
        let o = server.tokenform(d).current_dir(d).args(["plan", &out_arg]).output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{out}: {}", stderr(&o));
        assert!(stderr(&o).contains(code), "{out}: {}", stderr(&o));
        assert!(o.stdout.is_empty(), "refused before planning: {}", stdout(&o));
    }
    assert_eq!(std::fs::read(d.join("main.hcl")).unwrap(), main);
    assert_eq!(std::fs::read_to_string(d.join("notes.txt")).unwrap(), "mine\n");
    assert!(!d.join("extra.hcl").exists() && !d.join("extra.hcl.json").exists());
    // A plan file is replaced, as Terraform does; from another directory too.
    let elsewhere = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let o = run(&server, d, &["plan", "-out", "tf.plan"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    let o = server
        .tokenform(d)
        .current_dir(elsewhere.path())
        .args(["plan", "-out", "main.hcl"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "main.hcl outside the configuration is just a name: {}", stderr(&o));
}

/// Issue 10 §7: an apply that cannot store secrets says why once (it was printed twice).
#[test]
fn no_recipients_is_said_once() {
    let server = server();
    let dir = config(&server, "");
    let o = run(&server, dir.path(), &["apply", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("tokenform::apply::no_recipient"), "{err}");
    assert_eq!(err.matches("no recipients to encrypt").count(), 1, "{err}");
}
