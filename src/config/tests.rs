//! Table tests for the loader: one snippet per rule → the expected code, typed results of
//! valid configurations, variable precedence, JSON syntax, and rendered-diagnostic snapshots.

use std::path::Path;

use super::diagnostics::Problem;
use super::*;
use crate::model::{Effect, Role};

const KEY: &str = "age17rmdjdkhln5l0d4srq5swyt4k68mpqpxf84dgs3xy8hw6fv9rykssqlygq";

fn dir_with(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, body) in files {
        std::fs::write(dir.path().join(name), body).unwrap();
    }
    dir
}

fn load_with(
    files: &[(&str, &str)],
    inputs: &VarInputs,
) -> (tempfile::TempDir, Result<Config, Vec<Problem>>) {
    let bytes: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (*n, b.as_bytes())).collect();
    let dir = dir_with(&bytes);
    let r = load_problems(dir.path(), inputs);
    (dir, r)
}

fn load_str(text: &str) -> Result<Config, Vec<Problem>> {
    load_with(&[("main.hcl", text)], &VarInputs::default()).1
}

fn codes(text: &str) -> Vec<String> {
    match load_str(text) {
        Ok(_) => Vec::new(),
        Err(ps) => ps.iter().map(|p| p.rule.name().to_owned()).collect(),
    }
}

#[test]
fn every_rule_has_a_diagnostic() {
    let secret = "api-0a1b2c3d-0000-4000-8000-00000000beef";
    let cases: Vec<(&str, String)> = vec![
        ("syntax", "token \"a\" {\n  role = \"reader\"\n".into()),
        ("syntax", "token \"a\" {\n  name = \"unterminated\n}\n".into()),
        ("unknown_block", "tokens \"a\" {\n}\n".into()),
        ("unknown_block", "token \"a\" {\n  role = \"reader\"\n  rotate {\n  }\n}\n".into()),
        ("unknown_attribute", "token \"a\" {\n  role = \"reader\"\n  colour = \"red\"\n}\n".into()),
        ("unknown_attribute", "x = 1\n".into()),
        ("duplicate_attribute", "token \"a\" {\n  role = \"reader\"\n  role = \"writer\"\n}\n".into()),
        ("duplicate_block", "state {\n}\nstate {\n}\n".into()),
        ("duplicate_block", "token \"a\" {\n  role = \"reader\"\n  rotation {\n    every = \"1d\"\n  }\n  rotation {\n    every = \"2d\"\n  }\n}\n".into()),
        ("bad_label", "token {\n  role = \"reader\"\n}\n".into()),
        ("bad_label", "token \"1a\" {\n  role = \"reader\"\n}\n".into()),
        ("duplicate_label", "token \"a\" {\n  role = \"reader\"\n}\ntoken \"a\" {\n  role = \"writer\"\n}\n".into()),
        ("duplicate_name", "token \"a\" {\n  role = \"reader\"\n}\ntoken \"b\" {\n  name = \"a\"\n  role = \"writer\"\n}\n".into()),
        ("duplicate_name", "token \"a\" {\n  for_each = toset([\"x\", \"y\"])\n  role = \"reader\"\n}\n".into()),
        ("conflicting_access", "token \"a\" {\n  role = \"reader\"\n  custom_roles = [\"x\"]\n}\n".into()),
        ("no_access", "token \"a\" {\n  description = \"nothing\"\n}\n".into()),
        ("invalid_role", "token \"a\" {\n  role = \"owner\"\n}\n".into()),
        ("invalid_role", "token \"a\" {\n  role = \"no_access\"\n}\n".into()),
        ("invalid_role", "token \"a\" {\n  role = \"superuser\"\n}\n".into()),
        ("invalid_policy", "token \"a\" {\n  policy {\n    effect = \"allow\"\n    actions = [\"*\"]\n    not_actions = [\"x\"]\n    resources = [\"proj/*\"]\n  }\n}\n".into()),
        ("invalid_policy", "token \"a\" {\n  policy {\n    effect = \"allow\"\n    actions = [\"*\"]\n  }\n}\n".into()),
        ("missing_attribute", "token \"a\" {\n  policy {\n    actions = [\"*\"]\n    resources = [\"*\"]\n  }\n}\n".into()),
        ("missing_attribute", "token \"a\" {\n  role = \"reader\"\n  rotation {\n    grace = \"1h\"\n  }\n}\n".into()),
        ("invalid_value", "token \"a\" {\n  policy {\n    effect = \"maybe\"\n    actions = [\"*\"]\n    resources = [\"*\"]\n  }\n}\n".into()),
        ("invalid_value", "state {\n  encrypt = \"everything\"\n}\n".into()),
        ("invalid_value", "token \"a\" {\n  role = \"reader\"\n  lifecycle {\n    ignore_changes = [colour]\n  }\n}\n".into()),
        ("invalid_value", "launchdarkly {\n  parallelism = 0\n}\n".into()),
        ("bad_duration", "token \"a\" {\n  role = \"reader\"\n  rotation {\n    every = \"3 months\"\n  }\n}\n".into()),
        ("bad_duration", "token \"a\" {\n  role = \"reader\"\n  rotation {\n    every = \"0d\"\n  }\n}\n".into()),
        ("bad_timestamp", "token \"a\" {\n  role = \"reader\"\n  expires_at = \"2027-13-01\"\n}\n".into()),
        ("bad_url", "launchdarkly {\n  base_url = \"http://app.launchdarkly.com\"\n}\n".into()),
        ("bad_url", "launchdarkly {\n  base_url = \"app.launchdarkly.com\"\n}\n".into()),
        ("bad_address", "token \"a\" {\n  role = \"reader\"\n}\nimport {\n  to = a\n  id = \"61095542756dba551110ae21\"\n}\n".into()),
        ("unknown_address", "import {\n  to = token.nope\n  id = \"61095542756dba551110ae21\"\n}\n".into()),
        ("still_configured", "token \"a\" {\n  role = \"reader\"\n}\nremoved {\n  from = token.a\n}\n".into()),
        ("unknown_variable", "token \"a\" {\n  role = var.role\n}\n".into()),
        ("missing_variable", "variable \"v\" {\n  type = string\n}\n".into()),
        ("bad_variable", "variable \"v\" {\n  type = strin\n  default = \"x\"\n}\n".into()),
        ("bad_variable", "variable \"v\" {\n  default = local.x\n}\nlocals {\n  x = 1\n}\n".into()),
        ("wrong_type", "variable \"v\" {\n  type = number\n  default = \"ten\"\n}\n".into()),
        ("wrong_type", "token \"a\" {\n  role = \"reader\"\n  service_token = \"yes\"\n}\n".into()),
        ("wrong_type", "token \"a\" {\n  custom_roles = \"one\"\n}\n".into()),
        ("unknown_local", "token \"a\" {\n  role = local.role\n}\n".into()),
        ("duplicate_local", "locals {\n  a = 1\n}\nlocals {\n  a = 2\n}\n".into()),
        ("locals_cycle", "locals {\n  a = local.b\n  b = local.a\n}\n".into()),
        ("locals_cycle", "locals {\n  a = \"${local.a}x\"\n}\n".into()),
        ("unknown_reference", "token \"a\" {\n  role = \"reader\"\n  name = each.key\n}\n".into()),
        ("unknown_reference", "token \"a\" {\n  role = reader\n}\n".into()),
        ("unknown_function", "token \"a\" {\n  role = lowercase(\"READER\")\n}\n".into()),
        ("eval_error", "token \"a\" {\n  role = \"reader\"\n  name = format(\"%d\", \"x\")\n}\n".into()),
        ("bad_for_each", "token \"a\" {\n  for_each = \"x\"\n  role = \"reader\"\n}\n".into()),
        ("secret_in_config", format!("token \"a\" {{\n  role = \"reader\"\n  description = \"{secret}\"\n}}\n")),
        ("secret_in_config", format!("# old: {secret}\ntoken \"a\" {{\n  role = \"reader\"\n}}\n")),
        ("bad_recipient", "state {\n  recipients = [\"age1nope\"]\n}\n".into()),
        ("bad_recipient", "token \"a\" {\n  role = \"reader\"\n  recipients = [\"AGE-SECRET-KEY-1XYZ\"]\n}\n".into()),
        ("bad_recipients_file", "state {\n  recipients_file = \"missing.txt\"\n}\n".into()),
        ("invalid_value", "import {\n  to = token.a\n  id = \"not-an-id\"\n}\ntoken \"a\" {\n  role = \"reader\"\n}\n".into()),
    ];
    for (want, text) in &cases {
        let problems = load_str(text).err().unwrap_or_default();
        let hit = problems.iter().find(|p| p.rule.name() == *want);
        let got: Vec<&str> = problems.iter().map(|p| p.rule.name()).collect();
        let hit = hit.unwrap_or_else(|| panic!("expected {want} for:\n{text}\ngot {got:?}"));
        // Every rule in a file points at the offending text.
        assert!(hit.file.is_some() && hit.span.is_some(), "{want} has no span for:\n{text}");
    }
}

#[test]
fn var_file_and_recipients_file_problems() {
    let text = "variable \"team\" {\n  default = \"x\"\n}\n";
    let missing = VarInputs { var_files: vec!["/no/such/file.tfvars".into()], ..VarInputs::default() };
    assert_eq!(load_with(&[("main.hcl", text)], &missing).1.unwrap_err()[0].rule.name(), "bad_var_file");
    let with_block = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(with_block.path(), "team = \"y\"\nlocals {\n}\n").unwrap();
    let inputs = VarInputs { var_files: vec![with_block.path().to_owned()], ..VarInputs::default() };
    let e = load_with(&[("main.hcl", text)], &inputs).1.unwrap_err();
    assert_eq!(e[0].rule.name(), "bad_var_file");
    assert!(e[0].span.is_some());

    let state = "state {\n  recipients_file = \"r.txt\"\n}\n";
    let (_d, r) = load_with(
        &[("main.hcl", state), ("r.txt", &format!("# ok\n{KEY}\nage1broken\n"))],
        &VarInputs::default(),
    );
    let e = r.unwrap_err();
    assert_eq!(e[0].rule.name(), "bad_recipient");
    // The problem points at the attribute in main.hcl and names the line: the recipients
    // file itself is never shown as source.
    assert_eq!(e[0].file.as_ref().unwrap().name, "main.hcl");
    assert_eq!(e[0].file.as_ref().unwrap().line_col(e[0].span.as_ref().unwrap().start), (2, 21));
    assert!(
        e[0].message.contains("\"r.txt\" line 3: `age1broken` is not an age recipient"),
        "{}",
        e[0].message
    );
}

#[test]
fn directory_problems() {
    let missing = load_problems(Path::new("/definitely/not/here"), &VarInputs::default()).unwrap_err();
    assert_eq!(missing[0].rule.name(), "dir_not_found");
    let empty = tempfile::tempdir().unwrap();
    let e = load_problems(empty.path(), &VarInputs::default()).unwrap_err();
    assert_eq!(e[0].rule.name(), "no_config_files");
    let bad = dir_with(&[("main.hcl", b"token \"a\" {\n  name = \"\xff\"\n}\n")]);
    let e = load_problems(bad.path(), &VarInputs::default()).unwrap_err();
    assert_eq!(e[0].rule.name(), "invalid_utf8");
}

#[test]
fn all_problems_in_one_run() {
    let text = "token \"a\" {\n  role = \"owner\"\n}\ntoken \"b\" {\n  colour = 1\n  role = \"reader\"\n}\nlocals {\n  x = local.x\n}\n";
    let got = codes(text);
    for want in ["invalid_role", "unknown_attribute", "locals_cycle"] {
        assert!(got.iter().any(|c| c == want), "{want} missing from {got:?}");
    }
}

#[test]
fn decodes_a_full_token() {
    let text = format!(
        r#"
launchdarkly {{
  base_url    = "http://127.0.0.1:8765/"
  parallelism = 8
}}

state {{
  path            = "s/state.json"
  recipients      = ["{KEY}"]
  recipients_file = "recipients.txt"
  encrypt         = "file"
}}

token "ci" {{
  name          = "ci-reader"
  description   = "CI"
  role          = "reader"
  service_token = true
  api_version   = 20240415
  expires_at    = "2027-06-01T00:00:00Z"

  rotation {{
    every  = "90d"
    method = "reset"
  }}

  lifecycle {{
    prevent_destroy = true
    ignore_changes  = [description]
  }}
}}

token "auditor" {{
  policy {{
    effect    = "deny"
    actions   = ["deleteProject"]
    resources = ["proj/*"]
  }}
}}

token "legacy" {{
  custom_roles = ["ops"]
}}

import {{
  to = token.legacy
  id = "61095542756dba551110ae21"
}}

removed {{
  from = token.old
}}

unmanaged {{
  mode         = "delete"
  ignore_names = ["legacy-*"]
  personal     = true
}}
"#
    );
    let (dir, r) = load_with(
        &[("main.hcl", &text), ("recipients.txt", &format!("# team\n{KEY}\n"))],
        &VarInputs::default(),
    );
    let c = r.unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(c.launchdarkly.base_url, BaseUrl::Url("http://127.0.0.1:8765".into()));
    assert_eq!(c.launchdarkly.parallelism, 8);
    assert_eq!(c.state.path, dir.path().join("s/state.json"));
    assert_eq!(c.state.recipients, vec![KEY.to_owned(), KEY.to_owned()]);
    assert_eq!(c.state.encrypt, EncryptMode::File);
    let ci = &c.tokens[&Address::new("ci")];
    assert_eq!(ci.name, "ci-reader");
    assert_eq!(ci.access, Access::Role(Role::Reader));
    assert!(ci.service_token);
    assert_eq!(ci.api_version, Some(20_240_415));
    assert_eq!(ci.expires_at.unwrap().to_string(), "2027-06-01T00:00:00Z");
    let rot = ci.rotation.as_ref().unwrap();
    assert_eq!(
        (rot.every.as_secs(), rot.grace.as_secs(), rot.method),
        (90 * 86_400, 86_400, RotationMethod::Reset)
    );
    assert!(ci.lifecycle.prevent_destroy);
    assert_eq!(ci.lifecycle.ignore_changes, vec![TokenField::Description]);
    let aud = &c.tokens[&Address::new("auditor")];
    assert_eq!(aud.name, "auditor");
    let Access::Policy(st) = &aud.access else { panic!("policy expected") };
    assert_eq!(st[0].effect, Effect::Deny);
    assert_eq!(st[0].actions.as_deref(), Some(&["deleteProject".to_owned()][..]));
    assert_eq!(c.tokens[&Address::new("legacy")].access, Access::CustomRoles(vec!["ops".into()]));
    assert_eq!(
        c.imports,
        vec![ImportBlock { to: Address::new("legacy"), id: "61095542756dba551110ae21".into() }]
    );
    assert_eq!(c.removed, vec![RemovedBlock { from: Address::new("old"), destroy: false }]);
    assert_eq!(c.unmanaged.mode, UnmanagedMode::Delete);
    assert_eq!(c.digest.len(), 64);
}

#[test]
fn for_each_over_sets_and_maps() {
    let text = r#"
token "deploy" {
  for_each     = toset(["staging", "production"])
  name         = "deploy-${each.key}"
  custom_roles = ["deploy-${each.value}"]
}

token "svc" {
  for_each = { api = "reader", web = "writer" }
  name     = "svc-${each.key}"
  role     = each.value
}
"#;
    let c = load_str(text).unwrap_or_else(|e| panic!("{e:#?}"));
    let t = &c.tokens[&Address::keyed("deploy", "staging")];
    assert_eq!(t.name, "deploy-staging");
    assert_eq!(t.access, Access::CustomRoles(vec!["deploy-staging".into()]));
    assert_eq!(c.tokens[&Address::keyed("svc", "web")].access, Access::Role(Role::Writer));
    assert_eq!(c.tokens.len(), 4);
}

#[test]
fn variable_precedence() {
    let text = "variable \"team\" {\n  default = \"d\"\n}\ntoken \"a\" {\n  name = var.team\n  role = \"reader\"\n}\n";
    let var_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(var_file.path(), "team = \"file\"\n").unwrap();
    let name = |inputs: &VarInputs| {
        load_with(&[("main.hcl", text)], inputs).1.unwrap().tokens[&Address::new("a")].name.clone()
    };
    let mut inputs = VarInputs::default();
    assert_eq!(name(&inputs), "d");
    inputs.var_files.push(var_file.path().to_owned());
    assert_eq!(name(&inputs), "file");
    inputs.env.push(("TOKENFORM_VAR_team".into(), "env".into()));
    assert_eq!(name(&inputs), "env");
    inputs.vars.push(("team".into(), "flag".into()));
    assert_eq!(name(&inputs), "flag");

    let json_file = tempfile::Builder::new().suffix(".json").tempfile().unwrap();
    std::fs::write(json_file.path(), r#"{"team": "json"}"#).unwrap();
    let json = VarInputs { var_files: vec![json_file.path().to_owned()], ..VarInputs::default() };
    assert_eq!(name(&json), "json");

    let bad = VarInputs { vars: vec![(String::new(), "team".into())], ..VarInputs::default() };
    let e = load_with(&[("main.hcl", text)], &bad).1.unwrap_err();
    assert_eq!(e[0].rule.name(), "bad_variable");
    let undeclared = VarInputs { vars: vec![("nope".into(), "x".into())], ..VarInputs::default() };
    assert_eq!(
        load_with(&[("main.hcl", text)], &undeclared).1.unwrap_err()[0].rule.name(),
        "undeclared_variable"
    );
}

#[test]
fn typed_variables() {
    let text = r#"
variable "teams" {
  type = set(string)
}
variable "n" {
  type    = number
  default = 20240415
}
token "t" {
  for_each    = var.teams
  role        = "reader"
  name        = "t-${each.key}"
  api_version = var.n
}
"#;
    let inputs =
        VarInputs { vars: vec![("teams".into(), r#"["b", "a", "b"]"#.into())], ..VarInputs::default() };
    let c = load_with(&[("main.hcl", text)], &inputs).1.unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(c.tokens.len(), 2);
    assert_eq!(c.tokens[&Address::keyed("t", "a")].api_version, Some(20_240_415));
    let bad = VarInputs { vars: vec![("teams".into(), "nope(".into())], ..VarInputs::default() };
    assert_eq!(load_with(&[("main.hcl", text)], &bad).1.unwrap_err()[0].rule.name(), "wrong_type");
}

#[test]
fn json_syntax_matches_hcl() {
    let json = format!(
        r#"{{
  "//": "comments are keys named //",
  "state": {{ "recipients": ["{KEY}"] }},
  "variable": {{ "team": {{ "default": "platform" }} }},
  "token": {{
    "ci": {{
      "name": "ci-${{var.team}}",
      "role": "reader",
      "rotation": {{ "every": "30d" }}
    }},
    "deploy": {{
      "for_each": "${{toset([\"a\", \"b\"])}}",
      "name": "deploy-${{each.key}}",
      "role": "writer",
      "//": "ignored",
      "lifecycle": {{ "ignore_changes": ["description"] }}
    }}
  }},
  "import": [{{ "to": "token.ci", "id": "61095542756dba551110ae21" }}]
}}"#
    );
    let (_d, r) = load_with(&[("main.hcl.json", &json)], &VarInputs::default());
    let c = r.unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(c.tokens[&Address::new("ci")].name, "ci-platform");
    assert_eq!(
        c.tokens[&Address::keyed("deploy", "b")].lifecycle.ignore_changes,
        vec![TokenField::Description]
    );
    assert_eq!(c.imports.len(), 1);
    let bad = r#"{"token": {"a": {"role": "reader", "colour": "red"}}, "tokens": {}}"#;
    let got: Vec<String> = load_with(&[("main.hcl.json", bad)], &VarInputs::default())
        .1
        .unwrap_err()
        .iter()
        .map(|p| p.rule.name().to_owned())
        .collect();
    assert_eq!(got, vec!["unknown_attribute", "unknown_block"]);
}

#[test]
fn secrets_never_reach_messages_or_snippets() {
    let secret = "api-0a1b2c3d-0000-4000-8000-00000000beef";
    let text = format!("token \"a\" {{\n  role = \"{secret}\"\n}}\n");
    let problems = load_str(&text).unwrap_err();
    let rendered = super::diagnostics::render(&problems, false);
    assert!(rendered.contains("secret_in_config"), "{rendered}");
    assert!(!rendered.contains("beef"), "{rendered}");
    // From a variable: flagged on the attribute, not echoed.
    let text = "variable \"d\" {\n}\ntoken \"a\" {\n  role = \"reader\"\n  description = var.d\n}\n";
    let inputs = VarInputs { env: vec![("TOKENFORM_VAR_d".into(), secret.into())], ..VarInputs::default() };
    let problems = load_with(&[("main.hcl", text)], &inputs).1.unwrap_err();
    assert_eq!(problems[0].rule.name(), "secret_in_config");
    assert!(!super::diagnostics::render(&problems, false).contains("beef"));
    // In a label, where messages quote it.
    let text = format!(
        "token \"{secret}\" {{\n  role = \"reader\"\n}}\ntoken \"{secret}\" {{\n  role = \"reader\"\n}}\n"
    );
    let problems = load_str(&text).unwrap_err();
    assert!(problems.iter().any(|p| p.rule.name() == "duplicate_label"));
    assert!(!format!("{problems:?}").contains("beef"));
    assert!(!super::diagnostics::render(&problems, false).contains("beef"));
}

#[test]
fn digest_changes_with_content_only() {
    let a = load_str("token \"a\" {\n  role = \"reader\"\n}\n").unwrap();
    let b = load_str("token \"a\" {\n  role = \"reader\"\n}\n").unwrap();
    let c = load_str("token \"a\" {\n  role = \"writer\"\n}\n").unwrap();
    assert_eq!(a.digest, b.digest);
    assert_ne!(a.digest, c.digest);
}

/// The problems of `text` as (rule, line, column, message).
fn located(text: &str) -> Vec<(String, usize, usize, String)> {
    load_str(text)
        .err()
        .unwrap_or_default()
        .iter()
        .map(|p| {
            let (l, c) = p.file.as_ref().unwrap().line_col(p.span.as_ref().unwrap().start);
            (p.rule.name().to_owned(), l, c, p.message.clone())
        })
        .collect()
}

#[test]
fn the_error_counts_problems_in_words() {
    let one = dir_with(&[("main.hcl", b"token \"a\" {\n  role = \"owner\"\n}\n")]);
    let e = load(one.path(), &VarInputs::default()).unwrap_err();
    assert!(e.to_string().ends_with("is not valid (1 problem)"), "{e}");
    let two = dir_with(&[("main.hcl", b"token \"a\" {\n  role = \"owner\"\n}\ntoken \"b\" {\n}\n")]);
    let e = load(two.path(), &VarInputs::default()).unwrap_err();
    assert!(e.to_string().ends_with("is not valid (2 problems)"), "{e}");
}

#[test]
fn grace_is_at_most_365_days_and_no_longer_than_every() {
    let token =
        |rotation: &str| format!("token \"a\" {{\n  role = \"reader\"\n  rotation {{\n{rotation}  }}\n}}\n");
    // Issue 10: this grace used to validate, and the apply set the old token's expiry to now.
    let p = located(&token("    every = \"90d\"\n    grace = \"99999999d\"\n"));
    assert_eq!(
        p,
        [("bad_duration".into(), 5, 13, "rotation grace 99999999d is longer than the limit of 365d".into())]
    );
    let p = located(&token("    every = \"400d\"\n    grace = \"366d\"\n"));
    assert_eq!(p[0].3, "rotation grace 366d is longer than the limit of 365d");
    let p = located(&token("    every = \"2d\"\n    grace = \"3d\"\n"));
    assert_eq!(p, [("bad_duration".into(), 5, 13, "rotation grace 3d is longer than every 2d".into())]);
    // The default grace (24h) counts too: the problem is at `every`.
    let p = located(&token("    every = \"12h\"\n"));
    assert_eq!(
        p,
        [("bad_duration".into(), 4, 13, "rotation grace 24h (the default) is longer than every 12h".into())]
    );
    for ok in [
        "    every = \"400d\"\n    grace = \"365d\"\n",
        "    every = \"2d\"\n    grace = \"2d\"\n",
        "    every = \"24h\"\n",
        "    every = \"1h\"\n    grace = \"0s\"\n",
    ] {
        let c = load_str(&token(ok)).unwrap_or_else(|e| panic!("{ok}: {e:?}"));
        assert!(c.tokens.values().next().unwrap().rotation.is_some());
    }
}

#[test]
fn division_by_zero_and_overflow_are_located_errors() {
    // Issue 10: `1/0` evaluated to 1.797e308; `1 % 0` and an integer overflow panicked.
    let p = located("locals {\n  a = 1/0\n  b = 5 % (2 - 2)\n  c = 18446744073709551615 + 1\n}\n");
    assert_eq!(
        p,
        [
            ("eval_error".into(), 2, 7, "cannot evaluate `a`: division by zero".into()),
            ("eval_error".into(), 3, 7, "cannot evaluate `b`: modulo by zero".into()),
            ("eval_error".into(), 4, 7, "cannot evaluate `c`: the result of `+` is out of range".into()),
        ]
    );
    // Inside a for_each instance, the failing operation is labelled, not the attribute.
    let p = located(
        "token \"a\" {\n  for_each = { x = 0 }\n  role     = \"reader\"\n  name     = \"n-${10 / each.value}\"\n}\n",
    );
    assert_eq!(p, [("eval_error".into(), 4, 19, "cannot evaluate `name`: division by zero".into())]);
    // Arithmetic that can be computed still is.
    let c = load_str("locals {\n  half = 1 / 2\n}\ntoken \"a\" {\n  role = \"reader\"\n  name = \"t-${local.half}-${7 % 4}-${2 * 3}\"\n}\n")
        .unwrap();
    assert_eq!(c.tokens.values().next().unwrap().name, "t-0.5-3-6");
    // A -var value is evaluated the same way, without a panic.
    let inputs = VarInputs { vars: vec![("n".into(), "[1 % 0]".into())], ..VarInputs::default() };
    let (_d, r) = load_with(&[("main.hcl", "variable \"n\" {\n  type = list(number)\n}\n")], &inputs);
    let e = r.unwrap_err();
    assert!(e[0].message.contains("modulo by zero"), "{}", e[0].message);
}

#[test]
fn for_each_over_a_var_file_list_keeps_one_instance_per_name() {
    let vars = tempfile::NamedTempFile::new().unwrap();
    let names: Vec<String> = (0..300).map(|i| format!("\"n{}\"", i % 200)).collect();
    std::fs::write(vars.path(), format!("n = [{}]\n", names.join(", "))).unwrap();
    let inputs = VarInputs { var_files: vec![vars.path().to_owned()], ..VarInputs::default() };
    let text = "variable \"n\" {\n  type = list(string)\n}\ntoken \"s\" {\n  for_each = toset(var.n)\n  name     = \"svc-${each.key}\"\n  role     = \"reader\"\n}\n";
    let (_d, r) = load_with(&[("main.hcl", text)], &inputs);
    let c = r.unwrap();
    assert_eq!(c.tokens.len(), 200);
    let t = &c.tokens[&Address::keyed("s", "n42".to_owned())];
    assert_eq!(t.name, "svc-n42");
}

/// Rendered diagnostics as users see them: no colour, 100 columns, file names relative.
fn rendered(files: &[(&str, &str)]) -> String {
    let problems = load_with(files, &VarInputs::default()).1.expect_err("expected problems");
    let handler =
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor()).with_width(100);
    super::diagnostics::render_with(&problems, &handler)
}

#[test]
fn rendered_diagnostics() {
    let secret = "api-0a1b2c3d-0000-4000-8000-00000000beef";
    let secret_cfg =
        format!("token \"ci\" {{\n  role        = \"reader\"\n  description = \"old: {secret}\"\n}}\n");
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("syntax", vec![("main.hcl", "token \"ci\" {\n  role = \"reader\n}\n")]),
        (
            "unknown_attribute",
            vec![("main.hcl", "token \"ci\" {\n  role  = \"reader\"\n  scope = \"all\"\n}\n")],
        ),
        ("unknown_block", vec![("main.hcl", "tokens \"ci\" {\n  role = \"reader\"\n}\n")]),
        (
            "duplicate_label",
            vec![(
                "main.hcl",
                "token \"ci\" {\n  role = \"reader\"\n}\n\ntoken \"ci\" {\n  role = \"writer\"\n}\n",
            )],
        ),
        (
            "duplicate_name",
            vec![(
                "main.hcl",
                "token \"deploy\" {\n  for_each = toset([\"staging\", \"production\"])\n  role     = \"writer\"\n}\n",
            )],
        ),
        (
            "conflicting_access",
            vec![("main.hcl", "token \"ci\" {\n  role         = \"reader\"\n  custom_roles = [\"ci\"]\n}\n")],
        ),
        ("no_access", vec![("main.hcl", "token \"ci\" {\n  description = \"CI\"\n}\n")]),
        ("invalid_role_owner", vec![("main.hcl", "token \"ci\" {\n  role = \"owner\"\n}\n")]),
        (
            "bad_duration",
            vec![(
                "main.hcl",
                "token \"ci\" {\n  role = \"reader\"\n\n  rotation {\n    every = \"3 months\"\n  }\n}\n",
            )],
        ),
        (
            "bad_timestamp",
            vec![(
                "main.hcl",
                "token \"ci\" {\n  role       = \"reader\"\n  expires_at = \"June 2027\"\n}\n",
            )],
        ),
        (
            "unknown_variable",
            vec![(
                "main.hcl",
                "variable \"team\" {\n  default = \"x\"\n}\n\ntoken \"ci\" {\n  name = \"ci-${var.teem}\"\n  role = \"reader\"\n}\n",
            )],
        ),
        ("locals_cycle", vec![("main.hcl", "locals {\n  a = \"${local.b}-a\"\n  b = \"${local.a}-b\"\n}\n")]),
        ("secret_in_config", vec![("main.hcl", secret_cfg.as_str())]),
        ("bad_recipient", vec![("main.hcl", "state {\n  recipients = [\"age1notakey\"]\n}\n")]),
        (
            "wrong_type",
            vec![(
                "main.hcl",
                "token \"ci\" {\n  role          = \"reader\"\n  service_token = \"yes\"\n}\n",
            )],
        ),
        ("bad_url", vec![("main.hcl", "launchdarkly {\n  base_url = \"http://app.launchdarkly.com\"\n}\n")]),
        ("unknown_function", vec![("main.hcl", "token \"ci\" {\n  role = lowercase(\"READER\")\n}\n")]),
        ("missing_variable", vec![("main.hcl", "variable \"team\" {\n  type = string\n}\n")]),
        (
            "json_unknown_attribute",
            vec![(
                "main.hcl.json",
                "{\n  \"token\": {\n    \"ci\": {\n      \"role\": \"reader\",\n      \"colour\": \"red\"\n    }\n  }\n}\n",
            )],
        ),
    ];
    for (name, files) in cases {
        let out = rendered(&files);
        assert!(out.contains("tokenform::config::"), "{name}: {out}");
        assert!(!out.contains("beef"), "{name} leaks a secret");
        insta::assert_snapshot!(name, out);
    }
}

mod no_panic {
    use proptest::prelude::*;

    use super::*;

    fn seeds() -> Vec<(String, String)> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        let mut out = Vec::new();
        for d in std::fs::read_dir(root).unwrap() {
            for f in std::fs::read_dir(d.unwrap().path()).unwrap() {
                let p = f.unwrap().path();
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                if super::super::parse::is_config_file(&name) {
                    let kind = if name.contains(".json") { "main.hcl.json" } else { "main.hcl" };
                    out.push((kind.to_owned(), std::fs::read_to_string(p).unwrap()));
                }
            }
        }
        out.sort();
        out
    }

    /// Edits that keep a config almost valid, where parsers and evaluators break.
    fn mutate(seed: &str, edits: &[(usize, usize, String)]) -> String {
        let mut s = seed.as_bytes().to_vec();
        for (at, del, ins) in edits {
            let at = at % (s.len() + 1);
            let end = (at + del % 8).min(s.len());
            s.splice(at..end, ins.bytes());
        }
        String::from_utf8_lossy(&s).into_owned()
    }

    fn load_bytes(name: &str, bytes: &[u8]) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(name), bytes).unwrap();
        let _ = load_problems(dir.path(), &VarInputs::default());
        if let Ok(text) = std::str::from_utf8(bytes)
            && let Ok(once) = super::super::format::format_source(text)
        {
            // Idempotent: formatting a formatted file changes nothing.
            assert_eq!(super::super::format::format_source(&once).as_ref(), Ok(&once), "input: {text:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400), json in any::<bool>()) {
            load_bytes(if json { "a.hcl.json" } else { "a.hcl" }, &bytes);
        }

        #[test]
        fn mutated_examples(
            pick in any::<prop::sample::Index>(),
            edits in proptest::collection::vec(
                (any::<usize>(), any::<usize>(), "[{}\\[\\]()\"=$%#\n a-z0-9_.,:<>\\\\-]{0,6}"),
                1..6,
            ),
        ) {
            let seeds = seeds();
            let (name, seed) = &seeds[pick.index(seeds.len())];
            load_bytes(name, mutate(seed, &edits).as_bytes());
        }
    }
}

/// The state commands read only the `state` block: a required variable the tokens use is
/// no problem there (nor is a broken token block), one the state block uses is, even
/// through a local.
#[test]
fn the_state_block_alone_needs_only_its_own_variables() {
    let tokens = "variable \"team\" {\n  type = string\n}\ntoken \"a\" {\n  name = var.team\n  role = \"reader\"\n  bogus = 1\n}\n";
    let state = format!("state {{\n  path = \"s.json\"\n  recipients = [\"{KEY}\"]\n}}\n");
    let dir = dir_with(&[("main.hcl", format!("{tokens}{state}").as_bytes())]);
    assert!(load_problems(dir.path(), &VarInputs::default()).is_err(), "plan needs var.team");
    let config = load_for_state(dir.path(), &VarInputs::default()).unwrap();
    assert_eq!(config.state.path, dir.path().join("s.json"));
    assert_eq!(config.state.recipients, [KEY]);
    assert!(config.tokens.is_empty());

    let through_local = format!(
        "{tokens}variable \"where\" {{\n  type = string\n}}\nlocals {{\n  p = \"${{var.where}}.json\"\n}}\nstate {{\n  path = local.p\n}}\n"
    );
    let dir = dir_with(&[("main.hcl", through_local.as_bytes())]);
    let err = load_for_state(dir.path(), &VarInputs::default()).unwrap_err();
    assert_eq!(err.codes(), ["tokenform::config::missing_variable"], "only var.where: {err:?}");
    assert!(format!("{:?}", err.problems[0]).contains("TOKENFORM_VAR_where"));
    let inputs = VarInputs { env: vec![("TOKENFORM_VAR_where".into(), "w".into())], ..VarInputs::default() };
    assert_eq!(load_for_state(dir.path(), &inputs).unwrap().state.path, dir.path().join("w.json"));
}
