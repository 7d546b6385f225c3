//! Snapshots of the three printers over one report holding every kind of finding, and the
//! guard on `schemas/drift.schema.json`.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::drift::tests::{live_token, now, sample_report, world};
use crate::drift::{DriftOptions, detect};

fn schema_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/drift.schema.json")
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
fn schema_snapshot_and_file_are_current() {
    let generated = schema();
    insta::assert_snapshot!(generated);
    // TOKENFORM_UPDATE_SCHEMAS=1 rewrites the published file; otherwise it must match exactly.
    if std::env::var_os("TOKENFORM_UPDATE_SCHEMAS").is_some() {
        std::fs::create_dir_all(schema_path().parent().unwrap()).unwrap();
        std::fs::write(schema_path(), &generated).unwrap();
    }
    let on_disk = std::fs::read_to_string(schema_path()).unwrap_or_default();
    assert!(
        on_disk == generated,
        "schemas/drift.schema.json is out of date: run TOKENFORM_UPDATE_SCHEMAS=1 cargo test --lib render::drift"
    );
}

#[test]
fn json_validates_against_the_schema() {
    let schema: serde_json::Value = serde_json::from_str(&schema()).unwrap();
    let validator = jsonschema::options().should_validate_formats(true).build(&schema).unwrap();
    for report in [
        sample_report(),
        detect(&world(&["a"]).0, &world(&["a"]).1, &world(&["a"]).2, now(), &DriftOptions::default()),
    ] {
        let instance: serde_json::Value = serde_json::from_str(&json(&report)).unwrap();
        let errors: Vec<String> = validator.iter_errors(&instance).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:#?}");
        // And it reads back into the same report.
        let back: DriftReport = serde_json::from_value(instance).unwrap();
        assert_eq!(back, report);
    }
    // The schema does constrain: a wrong type is rejected.
    let mut bad: serde_json::Value = serde_json::from_str(&json(&sample_report())).unwrap();
    bad["missing"][0]["id"] = serde_json::json!(12);
    assert!(!validator.is_valid(&bad));
}

#[test]
fn every_finding_appears_in_every_format() {
    let r = sample_report();
    let (h, m, j) = (human(&r, false), markdown(&r), json(&r));
    let ids: Vec<&str> = r
        .changed
        .iter()
        .map(|c| c.token.id.as_str())
        .chain(r.missing.iter().map(|x| x.token.id.as_str()))
        .chain(r.unmanaged.iter().map(|x| x.token.id.as_str()))
        .chain(r.rotation_due.iter().map(|x| x.token.id.as_str()))
        .chain(r.expiring.iter().map(|x| x.token.id.as_str()))
        .chain(r.stale.iter().map(|x| x.token.id.as_str()))
        .collect();
    assert_eq!(ids.len(), 10);
    for id in ids {
        assert!(h.contains(id) && m.contains(id) && j.contains(id), "{id}");
    }
}

#[test]
fn clean_and_stale_only_headlines() {
    let (config, state, mut live) = world(&["a"]);
    let clean = detect(&config, &state, &live, now(), &DriftOptions::default());
    assert_eq!(human(&clean, false), "No drift.\n");
    assert!(markdown(&clean).contains("### tokenform drift: no drift"));
    live.tokens[0].last_used = None;
    let only_stale = detect(&config, &state, &live, now(), &DriftOptions::default());
    assert!(human(&only_stale, false).starts_with("No drift (1 stale, informational).\n"));
}

#[test]
fn colour_only_when_asked() {
    let r = sample_report();
    assert!(human(&r, true).contains("\x1b[31m"));
    assert!(!human(&r, false).contains('\x1b'));
    assert!(!markdown(&r).contains('\x1b'));
}

#[test]
fn hostile_names_stay_in_their_cell_and_off_the_terminal() {
    let (config, state, mut live) = world(&[]);
    live.tokens.push(live_token("id-x", "a|b\n# heading `x` \x1b[31mred"));
    let r = detect(&config, &state, &live, now(), &DriftOptions::default());
    let h = human(&r, false);
    assert!(!h.contains('\x1b'), "control characters are escaped: {h}");
    let md = markdown(&r);
    assert!(!md.contains("\n# heading"));
    // Every row of the unmanaged table has as many unescaped pipes as its header.
    let section = md.split("#### Unmanaged").nth(1).unwrap();
    let pipes = |l: &str| l.replace("\\|", "").matches('|').count();
    let lines: Vec<&str> = section.lines().filter(|l| l.starts_with('|')).collect();
    assert_eq!(lines.len(), 3);
    assert!(lines.iter().all(|l| pipes(l) == pipes(lines[0])), "{lines:#?}");
}

#[test]
fn markdown_is_shortened_to_fit_a_comment() {
    let (config, state, mut live) = world(&[]);
    for i in 0..3000 {
        live.tokens.push(live_token(&format!("id-{i:05}"), &format!("hand-made-token-number-{i}")));
    }
    let r = detect(&config, &state, &live, now(), &DriftOptions::default());
    assert_eq!(r.unmanaged.len(), 3000);
    let md = markdown(&r);
    assert!(md.len() <= MARKDOWN_LIMIT, "{}", md.len());
    assert!(md.contains("more, not shown here"));
    assert!(md.contains("| unmanaged | 3000 |"), "the counts stay exact");
    // The human and JSON forms are never shortened.
    assert!(human(&r, false).contains("id-02999"));
}

#[test]
fn schema_checks_timestamp_formats() {
    let schema: serde_json::Value = serde_json::from_str(&schema()).unwrap();
    let validator = jsonschema::options().should_validate_formats(true).build(&schema).unwrap();
    let mut bad: serde_json::Value = serde_json::from_str(&json(&sample_report())).unwrap();
    bad["checked_at"] = serde_json::json!("yesterday");
    assert!(!validator.is_valid(&bad));
}
