//! The stream printer: every line follows `schemas/stream.schema.json` (kept current by a
//! test), one object per line whatever a name holds, errors as diagnostics without the
//! source they point into.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::plan::fixtures::every_action_world;

fn at() -> jiff::Timestamp {
    "2026-12-01T10:00:00Z".parse().unwrap()
}

fn validator() -> jsonschema::Validator {
    let schema: serde_json::Value = serde_json::from_str(&schema()).unwrap();
    jsonschema::options().should_validate_formats(true).build(&schema).unwrap()
}

/// Each line parsed and checked against the schema.
fn checked(lines: &[Message]) -> Vec<serde_json::Value> {
    let validator = validator();
    lines
        .iter()
        .map(|m| {
            let line = m.line();
            assert!(line.ends_with('\n') && !line.trim_end().contains('\n'), "{line:?}");
            let doc: serde_json::Value = serde_json::from_str(&line).unwrap();
            let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{line}: {errors:#?}");
            doc
        })
        .collect()
}

#[test]
fn a_plan_is_drift_planned_changes_and_a_summary_each_following_the_schema() {
    let mut plan = every_action_world().plan();
    plan.warnings.push("example warning: 201 service tokens after this plan".into());
    let mut lines = vec![version(at())];
    lines.extend(super::plan(&plan, at()));
    let docs = checked(&lines);
    assert_eq!(docs[0]["type"], "version");
    assert_eq!(docs[1]["type"], "diagnostic");
    assert_eq!(docs[1]["diagnostic"]["severity"], "warning");
    let planned: Vec<_> = docs.iter().filter(|d| d["type"] == "planned_change").collect();
    assert_eq!(planned.len(), plan.actions.len());
    // Each change that makes a secret lists its deliveries, as the plan file does.
    for (doc, action) in planned.iter().zip(&plan.actions) {
        let want = serde_json::to_value(action.change.deliveries()).unwrap();
        let got = doc["change"].get("deliver").cloned().unwrap_or_else(|| serde_json::json!([]));
        assert_eq!(got, want, "{doc}");
    }
    assert!(planned.iter().any(|d| d["change"]["deliver"][0]["type"] == "exec"), "a plan with deliveries");
    assert_eq!(docs.iter().filter(|d| d["type"] == "resource_drift").count(), plan.drift.len());
    let last = docs.last().unwrap();
    assert_eq!(last["type"], "change_summary");
    assert_eq!(last["changes"]["operation"], "plan");
    for d in &docs {
        for key in ["@level", "@message", "@module", "@timestamp", "type"] {
            assert!(d.get(key).is_some(), "{key} missing in {d}");
        }
    }
    let text: String = lines.iter().map(Message::line).collect();
    assert!(!text.contains("AGE ENCRYPTED") && !crate::secret::looks_like_secret(&text));
    insta::assert_snapshot!(text);
}

#[test]
fn hooks_and_apply_summaries_follow_the_schema() {
    let resource = Resource::new(Some(&Address::keyed("svc", "a\nb")), Some("0123456789abcdef01234567"));
    let hook_of = |elapsed, id: Option<&str>| Hook {
        resource: resource.clone(),
        action: HookAction::Rotate,
        elapsed_seconds: elapsed,
        id_key: id.map(|_| "id"),
        id_value: id.map(str::to_owned),
    };
    let counts = ApplyCounts { created: 1, updated: 1, rotated: 1, ..ApplyCounts::default() };
    let lines = [
        hook(HookKind::Start, hook_of(None, None), "token.svc: Rotating...".into(), at()),
        hook(HookKind::Progress, hook_of(Some(3), None), "still".into(), at()),
        hook(HookKind::Complete, hook_of(Some(4), Some("76543210fedcba9876543210")), "done".into(), at()),
        hook(HookKind::Errored, hook_of(Some(0), None), "token.svc: Error: 400".into(), at()),
        applied(Operation::Apply, &counts, "Apply incomplete.".into(), at()),
    ];
    let docs = checked(&lines);
    assert_eq!(docs[0]["hook"]["resource"]["addr"], "token.svc[\"a\\nb\"]");
    assert_eq!(docs[0]["hook"]["resource"]["resource_key"], "a\nb");
    assert_eq!(docs[2]["hook"]["id_value"], "76543210fedcba9876543210");
    assert_eq!(docs[3]["@level"], "error");
    assert_eq!(docs[4]["changes"]["add"], 1);
    assert_eq!(docs[4]["changes"]["change"], 2);
    assert_eq!(docs[4]["changes"]["applied"]["rotated"], 1);
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("bad attribute")]
#[diagnostic(code(tokenform::config::unknown_attribute), help("remove it"))]
struct SourceError {
    #[source_code]
    src: String,
    #[label("here")]
    at: miette::SourceSpan,
    #[related]
    related: Vec<miette::Report>,
}

#[test]
fn errors_are_diagnostics_with_code_and_help_but_never_the_source() {
    let err = SourceError {
        src: "token \"a\" { hush = \"do-not-echo\" }".into(),
        at: (12, 4).into(),
        related: vec![miette::miette!("token.b: Error: 400 Bad Request")],
    };
    let lines = errors(&miette::Report::new(err), at());
    let docs = checked(&lines);
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0]["diagnostic"]["code"], "tokenform::config::unknown_attribute");
    assert_eq!(docs[0]["diagnostic"]["detail"], "remove it");
    assert_eq!(docs[1]["diagnostic"]["summary"], "token.b: Error: 400 Bad Request");
    let text: String = lines.iter().map(Message::line).collect();
    assert!(!text.contains("do-not-echo"), "{text}");

    // A wrapped error says its cause once.
    let wrapped = Err::<(), _>(std::io::Error::other("permission denied"))
        .map_err(|e| miette::Report::msg(e.to_string()).wrap_err("could not read x"))
        .unwrap_err();
    let docs = checked(&errors(&wrapped, at()));
    assert_eq!(docs[0]["diagnostic"]["summary"], "could not read x: permission denied");
}

/// The committed schema is the generated one. Regenerate with
/// `TOKENFORM_UPDATE_SCHEMAS=1 cargo test --lib render::stream::tests::stream_schema_file_is_current`.
#[test]
fn stream_schema_file_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/stream.schema.json");
    let generated = schema();
    if std::env::var_os("TOKENFORM_UPDATE_SCHEMAS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "schemas/stream.schema.json is stale: regenerate it (see this test's doc)"
    );
}

#[test]
fn the_schema_refuses_a_line_without_its_type_or_with_an_unknown_one() {
    let validator = validator();
    let good = version(at()).line();
    let mut doc: serde_json::Value = serde_json::from_str(&good).unwrap();
    assert!(validator.is_valid(&doc));
    doc["type"] = "planned_chnage".into();
    assert!(!validator.is_valid(&doc));
    doc.as_object_mut().unwrap().remove("type");
    assert!(!validator.is_valid(&doc));
}
