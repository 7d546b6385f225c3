//! Integration tests: the machine-readable stream (`-json`, `--format json-stream`) of
//! plan, apply and destroy, the real binary against `dev-server`. Every line is one JSON
//! object following `schemas/stream.schema.json`; no line holds a secret.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::support::{DevServer, config_dir, text};

/// The public recipient of `examples/quickstart/demo.key` (a demo identity, public).
const DEMO_RECIPIENT: &str = "age17rmdjdkhln5l0d4srq5swyt4k68mpqpxf84dgs3xy8hw6fv9rykssqlygq";

fn demo_identity() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart/demo.key")
}

fn hcl(server: &DevServer, tokens: &str) -> String {
    format!(
        "launchdarkly {{\n  base_url = \"{}\"\n}}\n\nstate {{\n  recipients = [\"{DEMO_RECIPIENT}\"]\n}}\n\n{tokens}",
        server.url
    )
}

const FIRST: &str = r#"
token "kept" {
  description   = "before"
  role          = "reader"
  service_token = true
}

token "rotated" {
  role          = "reader"
  service_token = true

  rotation {
    every = "90d"
    grace = "1h"
  }
}
"#;

/// `kept` is updated, `rotated` rotated (with --rotate), `fresh` created, and `broken`
/// fails: the emulator refuses an API version LaunchDarkly never had.
const SECOND: &str = r#"
token "kept" {
  description   = "after"
  role          = "reader"
  service_token = true
}

token "rotated" {
  role          = "reader"
  service_token = true

  rotation {
    every = "90d"
    grace = "1h"
  }
}

token "fresh" {
  role          = "writer"
  service_token = true
}

token "broken" {
  role          = "reader"
  service_token = true
  api_version   = 20200101
}
"#;

fn validator() -> jsonschema::Validator {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/stream.schema.json"))
            .unwrap();
    jsonschema::options().should_validate_formats(true).build(&serde_json::from_str(&text).unwrap()).unwrap()
}

/// stdout, line by line, each validated against the schema.
fn stream_lines(out: &Output) -> Vec<Value> {
    let validator = validator();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.ends_with('\n'), "{}", text(out));
    let lines: Vec<Value> = stdout
        .lines()
        .map(|line| {
            let doc: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not one JSON object: {line:?}: {e}"));
            let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{line}\n{errors:#?}");
            doc
        })
        .collect();
    assert_eq!(lines.first().map(|l| l["type"].clone()), Some("version".into()), "{stdout}");
    lines
}

fn of_type<'a>(lines: &'a [Value], kind: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["type"] == kind).collect()
}

/// The `hook.action` of `addr`'s `kind` lines.
fn hooks(lines: &[Value], kind: &str, addr: &str) -> Vec<String> {
    of_type(lines, kind)
        .into_iter()
        .filter(|l| l["hook"]["resource"]["addr"] == addr)
        .map(|l| l["hook"]["action"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// id → secret of every managed token.
fn secrets(server: &DevServer, dir: &Path) -> BTreeMap<String, String> {
    let out = server
        .tokenform(dir)
        .args(["output", "--format", "json", "--identity"])
        .arg(demo_identity())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let mut found = BTreeMap::new();
    crate::support::collect_secrets(&serde_json::from_slice(&out.stdout).unwrap(), &mut found);
    found
}

#[test]
fn an_apply_with_a_create_an_update_a_rotation_and_a_failure_streams_valid_lines_and_no_secret() {
    let server = DevServer::start(&[]);
    let dir = config_dir(&[("main.hcl", &hcl(&server, FIRST))]);
    let first = server.tokenform(dir.path()).args(["apply", "--auto-approve"]).output().unwrap();
    assert!(first.status.success(), "{}", text(&first));
    let mut known = secrets(&server, dir.path());
    assert_eq!(known.len(), 2);
    let ids: BTreeMap<String, String> = {
        let state: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("tokenform.state.json")).unwrap())
                .unwrap();
        state["tokens"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v["id"].to_string())).collect()
    };

    std::fs::write(dir.path().join("main.hcl"), hcl(&server, SECOND)).unwrap();
    // Terraform's spelling, normalised to --json.
    let out = server
        .tokenform(dir.path())
        .args(["apply", "-json", "-auto-approve", "-rotate", "token.rotated"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "a step failed: {}", text(&out));
    let lines = stream_lines(&out);

    let planned: BTreeMap<String, String> = of_type(&lines, "planned_change")
        .iter()
        .map(|l| {
            (
                l["change"]["resource"]["addr"].as_str().unwrap().to_owned(),
                l["change"]["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(planned["token.fresh"], "create");
    assert_eq!(planned["token.broken"], "create");
    assert_eq!(planned["token.kept"], "update");
    assert_eq!(planned["token.rotated"], "rotate");

    for (addr, action) in [("token.fresh", "create"), ("token.kept", "update"), ("token.rotated", "rotate")] {
        assert_eq!(hooks(&lines, "apply_start", addr), [action], "{addr}");
        assert_eq!(hooks(&lines, "apply_complete", addr), [action], "{addr}");
    }
    assert_eq!(hooks(&lines, "apply_start", "token.broken"), ["create"]);
    assert_eq!(hooks(&lines, "apply_errored", "token.broken"), ["create"]);
    assert!(hooks(&lines, "apply_complete", "token.broken").is_empty());
    // The rotation's second request (the old token's expiry) is progress of the same task.
    assert!(hooks(&lines, "apply_progress", "token.rotated").contains(&"rotate".to_owned()), "{lines:#?}");

    // The update keeps its id, the rotation names its successor.
    let complete = |addr: &str| {
        of_type(&lines, "apply_complete")
            .into_iter()
            .find(|l| l["hook"]["resource"]["addr"] == addr)
            .map(|l| l["hook"]["id_value"].to_string())
            .unwrap()
    };
    assert_eq!(complete("token.kept"), ids["token.kept"]);
    assert_ne!(complete("token.rotated"), ids["token.rotated"]);

    let summaries = of_type(&lines, "change_summary");
    assert_eq!(summaries.len(), 2, "the plan's and the apply's");
    assert_eq!(summaries[0]["changes"]["operation"], "plan");
    assert_eq!(summaries[1]["changes"]["operation"], "apply");
    assert_eq!(summaries[1]["changes"]["applied"]["created"], 1);
    assert_eq!(summaries[1]["changes"]["applied"]["updated"], 1);
    assert_eq!(summaries[1]["changes"]["applied"]["rotated"], 1);
    let errors: Vec<&Value> = of_type(&lines, "diagnostic")
        .into_iter()
        .filter(|l| l["diagnostic"]["severity"] == "error")
        .collect();
    assert_eq!(errors[0]["diagnostic"]["code"], "tokenform::apply::incomplete");
    assert!(errors.iter().any(|e| e["diagnostic"]["summary"].as_str().unwrap().starts_with("token.broken")));
    assert_eq!(lines.last().unwrap()["type"], "diagnostic", "the error closes the stream");

    known.extend(secrets(&server, dir.path()));
    assert_eq!(known.len(), 4, "the old and new secret of the rotation, and fresh's");
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    for secret in known.values().chain([&server.admin_token]) {
        assert!(!all.contains(secret.as_str()), "a secret is in the stream");
    }
    assert!(!all.contains("AGE ENCRYPTED") && !tokenform::secret::looks_like_secret(&all), "{all}");
}

#[test]
fn plan_and_destroy_stream_and_a_prompt_is_refused_before_anything_is_read() {
    let server = DevServer::start(&[]);
    let dir = config_dir(&[("main.hcl", &hcl(&server, FIRST))]);
    let plan = server
        .tokenform(dir.path())
        .args(["plan", "--format", "json-stream", "--detailed-exitcode"])
        .output()
        .unwrap();
    assert_eq!(plan.status.code(), Some(2), "{}", text(&plan));
    let lines = stream_lines(&plan);
    assert_eq!(of_type(&lines, "planned_change").len(), 2);
    assert_eq!(lines.last().unwrap()["changes"]["add"], 2);

    // No terminal, no --auto-approve: a diagnostic, and nothing changed.
    for command in ["apply", "destroy"] {
        let out = server.tokenform(dir.path()).args([command, "-json"]).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let lines = stream_lines(&out);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["diagnostic"]["code"], "tokenform::apply::json_needs_auto_approve");
    }
    assert!(!dir.path().join("tokenform.state.json").exists());

    // A saved plan is its own approval.
    let saved = server
        .tokenform(dir.path())
        .current_dir(dir.path())
        .args(["plan", "-out", "tf.plan"])
        .output()
        .unwrap();
    assert!(saved.status.success(), "{}", text(&saved));
    let out = server
        .tokenform(dir.path())
        .current_dir(dir.path())
        .args(["apply", "--json", "tf.plan"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(of_type(&stream_lines(&out), "apply_complete").len(), 2);

    let out = server
        .tokenform(dir.path())
        .args(["destroy", "--format", "json-stream", "--auto-approve"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let lines = stream_lines(&out);
    assert_eq!(hooks(&lines, "apply_complete", "token.kept"), ["delete"]);
    assert_eq!(lines.last().unwrap()["changes"]["operation"], "destroy");
    assert_eq!(lines.last().unwrap()["changes"]["remove"], 2);

    // Nothing left: the stream still says so, in order.
    let out = server.tokenform(dir.path()).args(["destroy", "-json", "-auto-approve"]).output().unwrap();
    let lines = stream_lines(&out);
    let types: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["version", "change_summary", "change_summary"]);
}

#[test]
fn generating_config_keeps_stdout_one_json_object_per_line() {
    let server = DevServer::seeded(
        &r#"{"tokens": [{"_id": "610000000000000000000001", "name": "legacy", "role": "reader", "serviceToken": true}]}"#,
        &[],
    );
    let import = "import {\n  to = token.legacy\n  id = \"610000000000000000000001\"\n}\n";
    let dir = config_dir(&[("main.hcl", &hcl(&server, import))]);
    let out = server
        .tokenform(dir.path())
        .current_dir(dir.path())
        .args(["plan", "-json", "-generate-config-out=generated.hcl"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let lines = stream_lines(&out);
    let planned = of_type(&lines, "planned_change");
    assert_eq!(planned.len(), 1);
    assert_eq!(planned[0]["change"]["action"], "import");
    // The note about the written file went to stderr.
    assert!(String::from_utf8_lossy(&out.stderr).contains("Wrote 1 token block(s)"), "{}", text(&out));
}
