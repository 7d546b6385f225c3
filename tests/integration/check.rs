//! Integration tests: `tokenform check` end to end (exit codes, every format, SARIF paths,
//! suppressions), `--live` against `tokenform dev-server` with seeded tokens, and the
//! GitHub Actions example that uploads the SARIF.

use std::path::Path;

use crate::support::{DevServer, config_dir, tokenform};

const CLEAN: &str = "token \"ci\" {\n  role          = \"reader\"\n  service_token = true\n  rotation {\n    every = \"30d\"\n  }\n}\n";
const ADMIN: &str = "token \"ops\" {\n  role          = \"admin\"\n  service_token = true\n  rotation {\n    every = \"30d\"\n  }\n}\n";

/// Runs `tokenform -C tokens check ARGS` from the parent of a `tokens/` dir holding `main.hcl`.
fn check_in(main_hcl: &str, args: &[&str]) -> (i32, String, String) {
    let root = config_dir(&[("tokens/main.hcl", main_hcl)]);
    let out =
        tokenform().current_dir(root.path()).args(["-C", "tokens", "check"]).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn exit_codes() {
    assert_eq!(check_in(CLEAN, &[]).0, 0, "no findings");
    let (code, out, _) = check_in(ADMIN, &[]);
    assert_eq!(code, 2, "findings: {out}");
    assert!(out.contains("TKN001") && out.contains("tokens/main.hcl:2:3"), "{out}");
    assert_eq!(check_in(ADMIN, &["--severity", "critical"]).0, 0, "below the threshold");
    assert_eq!(check_in(ADMIN, &["--severity", "high"]).0, 2);
    // Suppressed findings never fail the run.
    let skipped = format!(
        "{ADMIN}checks {{\n  skip   = [\"TKN001\"]\n  reason = \"break-glass token, reviewed\"\n}}\n"
    );
    let (code, out, _) = check_in(&skipped, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Suppressed (1)") && out.contains("break-glass token, reviewed"), "{out}");
    // Errors exit 1, never 2: a broken config, an unknown skip code, bad flags.
    let (code, _, err) = check_in("token \"x\" {\n  role = \"root\"\n}\n", &[]);
    assert_eq!(code, 1, "{err}");
    let (code, _, err) = check_in(&format!("{ADMIN}checks {{\n  skip = [\"TKN404\"]\n}}\n"), &[]);
    assert_eq!(code, 1);
    assert!(err.contains("unknown_check") && err.contains("main.hcl:"), "{err}");
    assert_eq!(check_in(ADMIN, &["--stale-after", "soon"]).0, 1);
    assert_eq!(check_in(ADMIN, &["--max-rotation", "forever"]).0, 1);
    assert_eq!(check_in(ADMIN, &["--severity", "severe"]).0, 1);
    assert_eq!(check_in(ADMIN, &["--format", "xml"]).0, 1);
}

#[test]
fn every_format_reports_the_same_findings() {
    let text = format!("{ADMIN}token \"laptop\" {{\n  role = \"reader\"\n}}\n");
    let (code, json, _) = check_in(&text, &["--format", "json"]);
    assert_eq!(code, 2);
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let codes: Vec<&str> =
        report["findings"].as_array().unwrap().iter().map(|f| f["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["TKN001", "TKN004", "TKN007"]);
    assert_eq!(report["config_dir"], "tokens");
    assert_eq!(report["findings"][0]["location"]["file"], "main.hcl");

    let (code, sarif, _) = check_in(&text, &["--format", "sarif"]);
    assert_eq!(code, 2);
    let log: serde_json::Value = serde_json::from_str(&sarif).unwrap();
    let results = log["runs"][0]["results"].as_array().unwrap();
    let ids: Vec<&str> = results.iter().map(|r| r["ruleId"].as_str().unwrap()).collect();
    assert_eq!(ids, codes);
    // Relative to the directory tokenform ran in: the repository root in CI.
    let artifact = &results[0]["locations"][0]["physicalLocation"]["artifactLocation"];
    assert_eq!(artifact["uri"], "tokens/main.hcl");
    assert_eq!(artifact["uriBaseId"], "%SRCROOT%");
    assert_eq!(results[0]["locations"][0]["physicalLocation"]["region"]["startLine"], 2);

    let (code, md, _) = check_in(&text, &["--format", "markdown"]);
    assert_eq!(code, 2);
    assert!(md.starts_with("<!-- tokenform-check -->") && md.contains("TKN007"), "{md}");
    let (_, human, _) = check_in(&text, &[]);
    assert!(codes.iter().all(|c| human.contains(c)), "{human}");
}

#[test]
fn sarif_of_a_config_outside_the_working_dir_uses_absolute_uris() {
    let dir = config_dir(&[("main.hcl", ADMIN)]);
    let out = tokenform().arg("-C").arg(dir.path()).args(["check", "--format", "sarif"]).output().unwrap();
    let log: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let uri = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(uri.starts_with("file:///") && uri.ends_with("/main.hcl"), "{uri}");
}

#[test]
fn live_without_a_token_is_an_error_not_findings() {
    let (code, _, err) =
        check_in(&format!("launchdarkly {{\n  base_url = \"http://127.0.0.1:9\"\n}}\n{CLEAN}"), &["--live"]);
    assert_eq!(code, 1, "{err}");
}

const DAY_MS: i64 = 86_400_000;

fn seed() -> serde_json::Value {
    let now = jiff::Timestamp::now().as_millisecond();
    let owner = "5f0000000000000000000001";
    serde_json::json!({
        "members": [{"_id": owner, "email": "owner@example.com", "role": "owner"}],
        "tokens": [
            {"_id": "620000000000000000000001", "memberId": owner, "name": "hand-admin", "role": "admin",
             "serviceToken": true, "lastUsed": now - DAY_MS, "creationDate": now - 30 * DAY_MS},
            {"_id": "620000000000000000000002", "memberId": owner, "name": "forgotten", "role": "reader",
             "serviceToken": true, "lastUsed": now - 200 * DAY_MS, "creationDate": now - 400 * DAY_MS},
            {"_id": "620000000000000000000003", "memberId": owner, "name": "legacy-admin", "role": "admin",
             "serviceToken": true, "lastUsed": now - DAY_MS, "creationDate": now - 30 * DAY_MS}
        ]
    })
}

#[test]
fn live_rules_against_the_emulator() {
    let server = DevServer::seeded(&seed(), &[]);
    let text = format!(
        "launchdarkly {{\n  base_url = \"{}\"\n}}\n\nunmanaged {{\n  ignore_names = [\"legacy-*\"]\n}}\n\n{CLEAN}",
        server.url
    );
    let dir = config_dir(&[("main.hcl", &text)]);

    // Without --live, the configuration alone is clean: no request is needed.
    let out = tokenform().arg("-C").arg(dir.path()).arg("check").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));

    let out = server.tokenform(dir.path()).args(["check", "--live", "--format", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["live"], true);
    let found: Vec<(String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_owned(),
                f["live_token"]["name"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    // hand-admin is an unmanaged admin token; forgotten has not been used for 200 days;
    // legacy-admin is ignored by name; the admin token the run uses is never a finding.
    assert_eq!(
        found,
        [("TKN010".to_owned(), "hand-admin".to_owned()), ("TKN011".to_owned(), "forgotten".to_owned())],
        "{report:#}"
    );
    // Live findings point at the unmanaged block.
    assert_eq!(report["findings"][0]["location"]["line"], 5);

    // A longer --stale-after makes `forgotten` fresh; the global skip suppresses TKN010.
    let skipped = format!(
        "{text}\nchecks {{\n  skip   = [\"TKN010\"]\n  reason = \"owned by the platform team\"\n}}\n"
    );
    std::fs::write(dir.path().join("main.hcl"), skipped).unwrap();
    let out = server
        .tokenform(dir.path())
        .args(["check", "--live", "--stale-after", "365d", "--format", "sarif"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let log: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = log["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["ruleId"], "TKN010");
    assert_eq!(results[0]["suppressions"][0]["kind"], "inSource");
    assert_eq!(results[0]["suppressions"][0]["justification"], "owned by the platform team");
}

#[test]
fn the_check_workflow_uploads_sarif() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/github-actions/check.yml");
    let text = std::fs::read_to_string(path).unwrap();
    let doc = yaml_rust2::YamlLoader::load_from_str(&text).unwrap().remove(0);
    assert_eq!(doc["permissions"]["security-events"].as_str(), Some("write"));
    let steps = doc["jobs"]["check"]["steps"].as_vec().unwrap();
    let upload = steps
        .iter()
        .find(|s| s["uses"].as_str().is_some_and(|u| u.starts_with("github/codeql-action/upload-sarif@")))
        .expect("an upload-sarif step");
    assert_eq!(upload["with"]["sarif_file"].as_str(), Some("tokenform.sarif"));
    // It uploads after findings (exit 2) too, never after an error.
    assert_eq!(
        upload["if"].as_str(),
        Some("steps.check.outputs.exitcode == '0' || steps.check.outputs.exitcode == '2'")
    );
    let run = steps.iter().find(|s| s["id"].as_str() == Some("check")).unwrap()["run"].as_str().unwrap();
    assert!(run.contains("--format sarif > tokenform.sarif"));
    assert!(run.contains("*) echo \"::error::tokenform check failed (exit $code)\"; exit 1 ;;"));
}

#[test]
fn check_workflow_step_maps_exit_codes() {
    let run = |hcl: &str| {
        let config = config_dir(&[("main.hcl", hcl)]);
        let (code, out, cwd) = crate::drift::run_step("check.yml", "check", config.path(), "");
        let sarif = std::fs::read_to_string(cwd.path().join("tokenform.sarif")).unwrap_or_default();
        (code, out, sarif)
    };
    let (code, out, sarif) = run(CLEAN);
    assert_eq!((code, out.as_str()), (0, "exitcode=0\n"));
    assert!(sarif.contains("\"version\": \"2.1.0\""));
    let (code, out, sarif) = run(ADMIN);
    assert_eq!((code, out.as_str()), (0, "exitcode=2\n"), "findings pass the step; the upload runs");
    assert!(sarif.contains("TKN001"));
    let (code, out, _) = run("token \"x\" {\n}\n");
    assert_eq!((code, out.as_str()), (1, "exitcode=1\n"));
}
