//! Snapshots of the four printers over one report holding findings of every severity, a
//! suppressed one and live ones; the guard on `schemas/check.schema.json`; the SARIF
//! validated against the official OASIS SARIF 2.1.0 schema vendored in `tests/data/sarif`.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use super::sarif::{ArtifactBase, sarif};
use super::*;
use crate::check::tests::{load, now, world};
use crate::check::{CheckOptions, LiveInput, check};
use crate::drift::tests::live_token;

const SAMPLE: &str = r#"launchdarkly {
  base_url = "embedded"
}

unmanaged {
  ignore_names = ["legacy-*"]
}

checks {
  skip   = ["TKN007"]
  reason = "personal tokens are reviewed in the quarterly access review"
}

token "deployer" {
  role          = "admin"
  service_token = true
}

token "auditor" {
  service_token = true
  policy {
    effect    = "allow"
    actions   = ["*"]
    resources = ["proj/*:env/production"]
  }
  policy {
    effect        = "allow"
    actions       = ["viewProject"]
    not_resources = ["proj/secret"]
  }
  rotation {
    every = "180d"
  }
}

token "laptop" {
  role = "reader"
  checks {
    skip   = ["TKN004"]
    reason = "ticket SEC-42"
  }
}
"#;

pub(crate) fn sample_report() -> CheckReport {
    let config = load(SAMPLE);
    let mut admin = live_token("61aa00000000000000000001", "made-by-hand");
    admin.role = Some("admin".into());
    admin.last_used = Some(now().as_millisecond() - 400 * 86_400_000);
    let (state, live) = world(&config, vec![admin]);
    check(&config, Some(LiveInput { state: &state, live: &live }), now(), &CheckOptions::default())
}

fn repo(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn sarif_validator() -> jsonschema::Validator {
    let text = std::fs::read(repo("tests/data/sarif/sarif-schema-2.1.0.json")).unwrap();
    // The vendored file is verbatim: its digest is the one tests/data/sarif/README.md records.
    let digest = sha2::Sha256::digest(&text).iter().fold(String::new(), |mut s, b| {
        let _ = std::fmt::Write::write_fmt(&mut s, format_args!("{b:02x}"));
        s
    });
    assert_eq!(digest, "80cd7ffb9b62a4162d541aa9170862dd264f6cce0f04c57f1ac9f2337b808958");
    let schema: serde_json::Value = serde_json::from_slice(&text).unwrap();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .should_validate_formats(true)
        .build(&schema)
        .unwrap()
}

use sha2::Digest as _;

fn base() -> ArtifactBase {
    ArtifactBase::Relative { prefix: "tokens/".into() }
}

#[test]
fn sample_has_every_kind_of_finding() {
    let r = sample_report();
    let codes: Vec<&str> = r.findings.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(
        codes,
        ["TKN010", "TKN011", "TKN004", "TKN001", "TKN002", "TKN003", "TKN005", "TKN004", "TKN007"],
        "{r:#?}"
    );
    assert_eq!(r.summary.suppressed, 2);
    assert!(r.findings_found);
}

#[test]
fn human_snapshot() {
    insta::assert_snapshot!(human(&sample_report(), false));
}

#[test]
fn markdown_snapshot() {
    insta::assert_snapshot!(markdown(&sample_report()));
}

#[test]
fn json_snapshot() {
    insta::assert_snapshot!(json(&sample_report()));
}

#[test]
fn sarif_snapshot() {
    insta::assert_snapshot!(sarif(&sample_report(), &base()));
}

#[test]
fn clean_report_in_every_format() {
    let config = load(
        "token \"t\" {\n  role = \"reader\"\n  service_token = true\n  rotation {\n    every = \"30d\"\n  }\n}\n",
    );
    let r = check(&config, None, now(), &CheckOptions::default());
    assert_eq!(human(&r, false), "No findings in 1 configured token.\n");
    assert!(markdown(&r).contains("### tokenform check: no findings"));
    let log: serde_json::Value = serde_json::from_str(&sarif(&r, &base())).unwrap();
    assert_eq!(log["runs"][0]["results"], serde_json::json!([]));
    assert!(sarif_validator().is_valid(&log));
}

#[test]
fn sarif_validates_against_the_official_schema() {
    let validator = sarif_validator();
    for b in [
        base(),
        ArtifactBase::Relative { prefix: String::new() },
        ArtifactBase::Absolute { dir: "file:///home/ci/my%20repo/tokens/".into() },
    ] {
        let log: serde_json::Value = serde_json::from_str(&sarif(&sample_report(), &b)).unwrap();
        let errors: Vec<String> =
            validator.iter_errors(&log).map(|e| format!("{e} at {}", e.instance_path())).collect();
        assert!(errors.is_empty(), "{errors:#?}");
    }
    // The schema does constrain: a result without a message, or a bad suppression kind, fails.
    let mut bad: serde_json::Value = serde_json::from_str(&sarif(&sample_report(), &base())).unwrap();
    bad["runs"][0]["results"][0].as_object_mut().unwrap().remove("message");
    assert!(!validator.is_valid(&bad));
    let mut bad: serde_json::Value = serde_json::from_str(&sarif(&sample_report(), &base())).unwrap();
    let suppressed = bad["runs"][0]["results"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|r| r.get("suppressions").is_some())
        .unwrap();
    suppressed["suppressions"][0]["kind"] = serde_json::json!("comment");
    assert!(!validator.is_valid(&bad));
}

#[test]
fn sarif_has_rules_regions_and_suppressions() {
    let r = sample_report();
    let log: serde_json::Value = serde_json::from_str(&sarif(&r, &base())).unwrap();
    let run = &log["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 12);
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), r.findings.len());
    for (res, f) in results.iter().zip(&r.findings) {
        assert_eq!(res["ruleId"], f.code.as_str());
        assert_eq!(
            rules[usize::try_from(res["ruleIndex"].as_u64().unwrap()).unwrap()]["id"],
            f.code.as_str()
        );
        let loc = &res["locations"][0]["physicalLocation"];
        let l = f.location.as_ref().unwrap();
        assert_eq!(loc["artifactLocation"]["uri"], format!("tokens/{}", l.file));
        assert_eq!(loc["artifactLocation"]["uriBaseId"], "%SRCROOT%");
        assert_eq!(loc["region"]["startLine"], l.line);
        assert_eq!(loc["region"]["startColumn"], l.column);
        assert_eq!(res.get("suppressions").is_some(), f.suppressed.is_some());
    }
    let justifications: Vec<&str> =
        results.iter().filter_map(|r| r["suppressions"][0]["justification"].as_str()).collect();
    assert_eq!(
        justifications,
        ["ticket SEC-42", "personal tokens are reviewed in the quarterly access review"]
    );
    assert!(results.iter().filter_map(|r| r.get("suppressions")).all(|s| s[0]["kind"] == "inSource"));
}

#[test]
fn artifact_bases() {
    let cwd = Path::new("/home/ci/repo");
    assert_eq!(
        ArtifactBase::for_dir(Path::new("tokens"), cwd),
        ArtifactBase::Relative { prefix: "tokens/".into() }
    );
    assert_eq!(
        ArtifactBase::for_dir(Path::new("./a/../tokens/"), cwd),
        ArtifactBase::Relative { prefix: "tokens/".into() }
    );
    assert_eq!(ArtifactBase::for_dir(Path::new("."), cwd), ArtifactBase::Relative { prefix: String::new() });
    assert_eq!(
        ArtifactBase::for_dir(Path::new("/home/ci/repo/infra/ld tokens"), cwd),
        ArtifactBase::Relative { prefix: "infra/ld%20tokens/".into() }
    );
    assert_eq!(
        ArtifactBase::for_dir(Path::new("/srv/tokens"), cwd),
        ArtifactBase::Absolute { dir: "file:///srv/tokens/".into() }
    );
    assert_eq!(
        ArtifactBase::for_dir(Path::new("../elsewhere"), cwd),
        ArtifactBase::Absolute { dir: "file:///home/ci/elsewhere/".into() }
    );
}

#[test]
fn schema_snapshot_and_file_are_current() {
    let generated = schema();
    insta::assert_snapshot!(generated);
    let path = repo("schemas/check.schema.json");
    // TOKENFORM_UPDATE_SCHEMAS=1 rewrites the published file; otherwise it must match exactly.
    if std::env::var_os("TOKENFORM_UPDATE_SCHEMAS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "schemas/check.schema.json is out of date: run TOKENFORM_UPDATE_SCHEMAS=1 cargo test --lib render::check"
    );
}

#[test]
fn json_validates_against_its_schema_and_reads_back() {
    let schema: serde_json::Value = serde_json::from_str(&schema()).unwrap();
    let validator = jsonschema::options().should_validate_formats(true).build(&schema).unwrap();
    let report = sample_report();
    let instance: serde_json::Value = serde_json::from_str(&json(&report)).unwrap();
    let errors: Vec<String> = validator.iter_errors(&instance).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let back: CheckReport = serde_json::from_value(instance.clone()).unwrap();
    assert_eq!(back, report);
    let mut bad = instance;
    bad["findings"][0]["code"] = serde_json::json!("TKN999");
    assert!(!validator.is_valid(&bad));
}

#[test]
fn colour_only_when_asked_and_names_stay_inert() {
    let r = sample_report();
    assert!(human(&r, true).contains("\x1b[1;31m"));
    assert!(!human(&r, false).contains('\x1b'));
    let config = load("token \"t\" {\n  name = \"evil\\u001b[31m|x\\n# h\"\n  role = \"reader\"\n}\n");
    let r = check(&config, None, now(), &CheckOptions::default());
    assert!(!human(&r, false).contains('\x1b'));
    let md = markdown(&r);
    assert!(!md.contains('\x1b') && !md.contains("\n# h"));
}

#[test]
fn markdown_is_shortened_to_fit_a_comment() {
    let text: String = (0..2000)
        .map(|i| format!("token \"t{i}\" {{\n  role = \"reader\"\n}}\n"))
        .collect::<Vec<_>>()
        .concat();
    let r = check(&load(&text), None, now(), &CheckOptions::default());
    assert_eq!(r.summary.findings, 4000);
    let md = markdown(&r);
    assert!(md.len() <= MARKDOWN_LIMIT, "{}", md.len());
    assert!(md.contains("more, not shown here"));
    assert!(md.contains("| medium | 4000 |"), "the counts stay exact");
}
