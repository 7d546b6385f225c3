//! Snapshots of the three plan printers over one plan holding every action, and the
//! guards around them (schema file, size budget, no secret).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::plan::fixtures::{World, desired, every_action_world};
use crate::plan::{ActionKind, Plan, PlanOptions};
use crate::render::{human, json, markdown};

fn every_action_plan() -> Plan {
    let mut plan = every_action_world().plan();
    plan.warnings.push("example warning: 201 service tokens after this plan".into());
    plan
}

#[test]
fn the_fixture_plan_has_every_action_kind() {
    let plan = every_action_plan();
    for kind in [
        ActionKind::Import,
        ActionKind::Create,
        ActionKind::Update,
        ActionKind::Replace,
        ActionKind::Rotate,
        ActionKind::Retire,
        ActionKind::Delete,
        ActionKind::Forget,
    ] {
        assert!(plan.count(kind) > 0, "{kind:?} missing");
    }
    assert_eq!(plan.drift.len(), 3);
}

#[test]
fn human_snapshot() {
    insta::assert_snapshot!(human::plan(&every_action_plan(), false));
}

#[test]
fn human_colour_only_when_asked() {
    let plan = every_action_plan();
    assert!(!human::plan(&plan, false).contains('\x1b'));
    let coloured = human::plan(&plan, true);
    assert!(coloured.contains("\x1b[32m+\x1b[0m") && coloured.contains("\x1b[36m@\x1b[0m"));
}

#[test]
fn human_refresh_only_snapshot() {
    let opts = PlanOptions { refresh_only: true, ..PlanOptions::default() };
    insta::assert_snapshot!(human::plan(&every_action_world().plan_with(&opts).unwrap(), false));
}

#[test]
fn json_snapshot() {
    insta::assert_snapshot!(json::plan(&every_action_plan()));
}

#[test]
fn markdown_snapshot() {
    insta::assert_snapshot!(markdown::plan(&every_action_plan()));
}

#[test]
fn json_output_follows_the_schema_file_and_reads_back_as_a_plan() {
    let schema: serde_json::Value = serde_json::from_str(&json::plan_schema()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let plan = every_action_plan();
    let doc: serde_json::Value = serde_json::from_str(&json::plan(&plan)).unwrap();
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let back: Plan = serde_json::from_value(doc.clone()).unwrap();
    assert_eq!(back, plan);
    let actions: Vec<_> =
        doc["resource_changes"].as_array().unwrap().iter().map(|c| c["actions"].clone()).collect();
    assert!(actions.contains(&serde_json::json!(["create", "delete"])), "{actions:?}");
}

/// The committed schema is the generated one. Regenerate with
/// `TOKENFORM_UPDATE_SCHEMAS=1 cargo test --lib render::tests::plan_schema_file_is_current`.
#[test]
fn plan_schema_file_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/plan.schema.json");
    let generated = json::plan_schema();
    if std::env::var_os("TOKENFORM_UPDATE_SCHEMAS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(committed == generated, "schemas/plan.schema.json is stale: regenerate it (see this test's doc)");
}

#[test]
fn markdown_stays_under_the_budget_and_says_what_was_cut() {
    let mut w = World::new();
    for n in 0..3000 {
        let mut d = desired(&format!("token_number_{n:05}"));
        d.description = Some("a description long enough to make each section weigh something".into());
        w.declare(d);
    }
    let out = markdown::plan(&w.plan());
    assert!(out.chars().count() <= markdown::MAX_CHARS, "{} chars", out.chars().count());
    assert!(out.contains("Shortened to fit a pull-request comment"));
    assert!(out.contains("| create | 3000 |"));
    // Sections kept in full come first; the first one is complete.
    assert!(out.contains("token.token_number_00000 will be created</summary>"));

    let small = markdown::plan(&every_action_plan());
    assert!(!small.contains("Shortened"));
}

#[test]
fn no_printer_shows_a_secret_or_a_ciphertext() {
    let plan = every_action_plan();
    for out in [human::plan(&plan, false), json::plan(&plan), markdown::plan(&plan)] {
        assert!(!out.contains("AGE ENCRYPTED") && !crate::secret::looks_like_secret(&out));
        assert!(out.contains("(sensitive value)") || out.contains("\"rotation\""));
    }
}

/// A plan whose policies change every way: a statement edited, added and removed, a long
/// resource list edited in two places, a token created with a policy, a policy replaced by
/// a role, and a policy edited outside tokenform (drift).
fn policy_plan() -> Plan {
    use crate::model::{Access, Effect, Role, Statement};
    let list = |l: &[&str]| Some(l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
    let stmt = |effect, actions: &[&str], resources: &[&str]| Statement {
        effect,
        actions: list(actions),
        resources: list(resources),
        not_actions: None,
        not_resources: None,
    };
    let projects: Vec<String> = (1..=12).map(|n| format!("proj/team-{n:02}")).collect();
    let projects: Vec<&str> = projects.iter().map(String::as_str).collect();
    let mut w = World::new();
    let with_policy = |label: &str, p: Vec<Statement>| {
        let mut d = desired(label);
        d.access = Access::Policy(p);
        d
    };
    let reader = stmt(Effect::Allow, &["viewProject"], &["proj/*"]);
    let no_delete = stmt(Effect::Deny, &["deleteProject"], &["proj/*"]);
    let flags = stmt(Effect::Allow, &["updateOn", "updateFallthrough"], &["proj/*:env/staging:flag/*"]);
    w.managed(with_policy("auditor", vec![reader.clone(), no_delete, flags.clone()]));
    let audit = stmt(Effect::Allow, &["viewProject", "viewAuditLog"], &["proj/*"]);
    let segments = stmt(Effect::Allow, &["updateSegment"], &["proj/*:env/staging:segment/*"]);
    w.declare(with_policy("auditor", vec![audit, flags, segments]));

    let mut fewer = projects.clone();
    fewer.remove(8);
    fewer.insert(3, "proj/team-new");
    w.managed(with_policy("catalog", vec![stmt(Effect::Allow, &["viewProject"], &projects)]));
    w.declare(with_policy("catalog", vec![stmt(Effect::Allow, &["viewProject"], &fewer)]));

    w.declare(with_policy(
        "experiments",
        vec![
            stmt(
                Effect::Allow,
                &["updateExperiment", "createExperiment"],
                &["proj/checkout:env/*:experiment/*"],
            ),
            Statement {
                effect: Effect::Deny,
                actions: list(&["*"]),
                resources: None,
                not_actions: None,
                not_resources: list(&["proj/checkout:env/staging:experiment/*"]),
            },
        ],
    ));

    w.managed(with_policy("to_role", vec![reader.clone()]));
    let mut role = desired("to_role");
    role.access = Access::Role(Role::Reader);
    w.declare(role);

    let mut quiet = with_policy("hand_edited", vec![reader.clone()]);
    quiet.lifecycle.ignore_changes = vec![crate::model::TokenField::Policy];
    let id = w.managed(quiet);
    w.live_mut(&id).inline_role =
        Some(vec![stmt(Effect::Allow, &["viewProject", "updateProject"], &["proj/*"])]);
    w.plan()
}

#[test]
fn human_policy_snapshot() {
    insta::assert_snapshot!(human::plan(&policy_plan(), false));
}

#[test]
fn markdown_policy_snapshot() {
    insta::assert_snapshot!(markdown::plan(&policy_plan()));
}

/// `unmanaged { mode = "report" }`: every printer gives the unmanaged tokens a short section
/// (count, the first names, a pointer to `drift`), also when nothing changes.
#[test]
fn unmanaged_tokens_get_a_short_section_in_every_printer() {
    let mut w = World::new();
    w.managed(desired("a"));
    w.live_only(&desired("hand\u{1b}[31mmade"));
    let plan = w.plan();
    assert!(!plan.has_changes());
    let text = human::plan(&plan, false);
    assert!(text.starts_with("No changes. Tokens match the configuration.\n"), "{text}");
    assert!(
        text.contains("Unmanaged: 1 live token is in neither state nor configuration (unmanaged.mode = \"report\": listed, left alone):\n  ? \"hand\\u{1b}[31mmade\" (id "),
        "{text}"
    );
    assert!(text.contains("`tokenform drift` reports them in full"), "{text}");
    assert!(!text.contains('\x1b'), "a live name cannot drive the terminal: {text}");
    let md = markdown::plan(&plan);
    assert!(md.contains("**Unmanaged:** 1 live token is in neither state"), "{md}");
    assert!(md.contains("`tokenform drift` reports them in full"), "{md}");
    let doc: serde_json::Value = serde_json::from_str(&json::plan(&plan)).unwrap();
    assert_eq!(doc["unmanaged"][0]["name"], "hand\u{1b}[31mmade");
    assert_eq!(doc["has_changes"], false);

    // Short: ten names, then a count of the rest.
    for n in 0..12 {
        w.live_only(&desired(&format!("stray-{n:02}")));
    }
    let plan = w.plan();
    let text = human::plan(&plan, false);
    assert!(text.contains("Unmanaged: 13 live tokens are in neither"), "{text}");
    assert_eq!(text.matches("\n  ? ").count(), 10, "{text}");
    assert!(text.contains("  … and 3 more\n"), "{text}");
    assert!(markdown::plan(&plan).contains(", … and 3 more."));
}
