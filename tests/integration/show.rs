//! Integration tests: `tokenform show`, the real binary against `dev-server`. A saved plan
//! shows byte for byte what `plan` printed, in every format; without a file, the state's
//! tokens, never a secret.

use std::path::Path;
use std::process::Output;

use crate::support::{DevServer, config_dir};

/// The public recipient of `examples/quickstart/demo.key` (a demo identity, public).
const DEMO_RECIPIENT: &str = "age17rmdjdkhln5l0d4srq5swyt4k68mpqpxf84dgs3xy8hw6fv9rykssqlygq";
const STRAY_ID: &str = "610000000000000000000001";

fn server() -> DevServer {
    let body = format!(
        r#"{{"tokens": [{{"_id": "{STRAY_ID}", "name": "stray-bot", "role": "reader", "serviceToken": true}}]}}"#
    );
    DevServer::seeded(&body, &[])
}

fn hcl(server: &DevServer, tokens: &str) -> String {
    format!(
        "launchdarkly {{\n  base_url = \"{}\"\n}}\n\nstate {{\n  recipients = [\"{DEMO_RECIPIENT}\"]\n}}\n\n{tokens}",
        server.url
    )
}

const FIRST: &str = r#"
token "ci_reader" {
  description   = "Read-only token for CI"
  role          = "reader"
  service_token = true
}

token "auditor" {
  service_token = true

  policy {
    effect    = "allow"
    actions   = ["viewProject"]
    resources = ["proj/*"]
  }
}
"#;

/// An update (description), a policy edit, a create, and an unmanaged-free rest.
const SECOND: &str = r#"
token "ci_reader" {
  description   = "Read-only token for CI jobs"
  role          = "reader"
  service_token = true
}

token "auditor" {
  service_token = true

  policy {
    effect    = "allow"
    actions   = ["viewProject", "viewAuditLog"]
    resources = ["proj/*"]
  }

  policy {
    effect    = "deny"
    actions   = ["deleteProject"]
    resources = ["proj/*"]
  }
}

token "writer" {
  role          = "writer"
  service_token = true
}
"#;

fn run(server: &DevServer, dir: &Path, args: &[&str]) -> Output {
    let out = server.tokenform(dir).current_dir(dir).args(args).output().unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 2)),
        "tokenform {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `plan -out FILE --format F` and `show FILE --format F` print the same bytes, for every format.
fn assert_show_matches_plan(server: &DevServer, dir: &Path) {
    for format in ["human", "json", "markdown"] {
        let file = format!("{format}.plan");
        let planned = run(server, dir, &["plan", "-out", &file, "--format", format, "--detailed-exitcode"]);
        assert_eq!(planned.status.code(), Some(2), "the plan has changes");
        // `show` needs no server, no configuration and no credential: only the file.
        let shown = crate::support::tokenform()
            .current_dir(dir)
            .args(["show", &file, "--format", format])
            .output()
            .unwrap();
        assert!(shown.status.success(), "{}", String::from_utf8_lossy(&shown.stderr));
        assert!(!planned.stdout.is_empty());
        assert!(
            planned.stdout == shown.stdout,
            "{format}: show differs from plan\n--- plan\n{}\n--- show\n{}",
            String::from_utf8_lossy(&planned.stdout),
            String::from_utf8_lossy(&shown.stdout)
        );
        if format == "human" {
            let note = String::from_utf8_lossy(&planned.stderr);
            assert!(note.contains(&format!("Saved the plan to: {file}")), "{note}");
        }
    }
}

#[test]
fn show_planfile_prints_what_plan_printed_in_every_format() {
    let server = server();
    let dir = config_dir(&[("main.hcl", &hcl(&server, FIRST))]);
    // Creates only, against an empty state.
    assert_show_matches_plan(&server, dir.path());
    run(&server, dir.path(), &["apply", "--auto-approve"]);
    // Updates, a policy diff and a create, against a written state.
    std::fs::write(dir.path().join("main.hcl"), hcl(&server, SECOND)).unwrap();
    assert_show_matches_plan(&server, dir.path());
    let human =
        String::from_utf8_lossy(&run(&server, dir.path(), &["show", "human.plan"]).stdout).into_owned();
    assert!(human.contains("~ policy {") && human.contains("+ policy {"), "{human}");

    // The saved plan still applies, and was what show showed.
    run(&server, dir.path(), &["apply", "human.plan"]);
    let after = run(&server, dir.path(), &["plan", "--detailed-exitcode"]);
    assert_eq!(after.status.code(), Some(0));
}

#[test]
fn show_of_a_file_that_is_not_a_plan_is_an_error() {
    let dir = config_dir(&[("bad.plan", "{\"not\": \"a plan\"}")]);
    let out =
        crate::support::tokenform().current_dir(dir.path()).args(["show", "bad.plan"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tokenform::apply::bad_plan_file"));
}

#[test]
fn show_without_a_file_lists_the_state_tokens_and_never_a_secret() {
    let server = server();
    let dir = config_dir(&[("main.hcl", &hcl(&server, FIRST))]);
    let empty = String::from_utf8_lossy(&run(&server, dir.path(), &["show"]).stdout).into_owned();
    assert_eq!(empty, "No tokens are managed: the state is empty.\n");
    run(&server, dir.path(), &["apply", "--auto-approve"]);
    let stray = "token \"stray\" {\n  name          = \"stray-bot\"\n  role          = \"reader\"\n  service_token = true\n}\n";
    std::fs::write(dir.path().join("stray.hcl"), stray).unwrap();
    run(&server, dir.path(), &["import", "token.stray", STRAY_ID]);
    let state_text = std::fs::read_to_string(dir.path().join("tokenform.state.json")).unwrap();
    let ciphertext_line =
        state_text.lines().find(|l| l.contains("BEGIN AGE ENCRYPTED FILE")).map(str::to_owned).unwrap();

    let human = String::from_utf8_lossy(&run(&server, dir.path(), &["show"]).stdout).into_owned();
    for address in ["# token.auditor", "# token.ci_reader", "# token.stray"] {
        assert!(human.contains(address), "{human}");
    }
    assert!(human.contains("secret_issued_at") && human.contains("null # unknown"), "{human}");

    let json = run(&server, dir.path(), &["show", "--format", "json"]);
    let text = String::from_utf8_lossy(&json.stdout).into_owned();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/show.schema.json"))
            .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let tokens = doc["tokens"].as_array().unwrap();
    let by_address = |a: &str| tokens.iter().find(|t| t["address"] == a).unwrap();
    assert_eq!(by_address("token.ci_reader")["role"], "reader");
    assert_eq!(by_address("token.ci_reader")["secret"]["status"], "known");
    assert!(by_address("token.ci_reader")["secret"]["issued_at"].is_string());
    assert_eq!(by_address("token.auditor")["policy"][0]["actions"], serde_json::json!(["viewProject"]));
    assert_eq!(by_address("token.stray")["secret"], serde_json::json!({"status": "unknown"}));
    assert_eq!(by_address("token.stray")["id"], STRAY_ID);

    let markdown =
        String::from_utf8_lossy(&run(&server, dir.path(), &["show", "--format", "markdown"]).stdout)
            .into_owned();
    assert!(
        markdown.contains("| `token.stray` | stray-bot | `610000000000000000000001` | reader | unknown"),
        "{markdown}"
    );
    for out in [&human, &text, &markdown] {
        assert!(!tokenform::secret::looks_like_secret(out), "{out}");
        assert!(
            !out.contains("AGE ENCRYPTED")
                && !out.contains(&ciphertext_line)
                && !out.contains(&server.admin_token)
        );
    }
}
