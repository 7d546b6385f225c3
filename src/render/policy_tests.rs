//! The policy diff's pairing and list rules, read as plain text (sign, indentation, content).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;

use super::*;
use crate::render::plan_text::key_widths;

fn r(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn stmt(effect: Effect, actions: &[&str], resources: &[&str]) -> Statement {
    let list = |l: &[&str]| Some(l.iter().map(|s| (*s).to_owned()).collect());
    Statement {
        effect,
        actions: list(actions),
        resources: list(resources),
        not_actions: None,
        not_resources: None,
    }
}

/// The lines as the human printer lays them out, without its fixed left margin.
fn text(lines: &[Line]) -> String {
    let mut out = String::new();
    for (l, w) in lines.iter().zip(key_widths(lines)) {
        let sign = match l.shape {
            Shape::Close { .. } | Shape::Comment { .. } => " ",
            _ => l.sign.symbol(),
        };
        let _ = writeln!(out, "{}{sign} {}", "    ".repeat(l.depth), l.content(w));
    }
    out
}

#[test]
fn an_added_statement_is_a_plus_block_in_hcl_shape() {
    let s = stmt(Effect::Allow, &["viewProject"], &["proj/*"]);
    assert_eq!(
        text(&blocks(None, Some(&[s]))),
        "+ policy {\n    + effect    = \"allow\"\n    + actions   = [\"viewProject\"]\n    + resources = [\"proj/*\"]\n  }\n"
    );
}

#[test]
fn a_removed_statement_goes_to_null() {
    let s = stmt(Effect::Deny, &["*"], &["proj/*"]);
    assert_eq!(
        text(&blocks(Some(&[s]), None)),
        "- policy {\n    - effect    = \"deny\" -> null\n    - actions   = [\"*\"] -> null\n    - resources = [\"proj/*\"] -> null\n  }\n"
    );
}

#[test]
fn an_edited_statement_shows_attribute_changes_and_hides_unchanged_blocks() {
    let keep = stmt(Effect::Deny, &["deleteProject"], &["proj/*"]);
    let old = [keep.clone(), stmt(Effect::Allow, &["a"], &["proj/x"])];
    let new = [keep, stmt(Effect::Allow, &["a", "b"], &["proj/x"])];
    assert_eq!(
        text(&blocks(Some(&old), Some(&new))),
        "~ policy {\n      effect    = \"allow\"\n    ~ actions   = [\"a\"] -> [\"a\", \"b\"]\n      resources = [\"proj/x\"]\n  }\n\
         \x20 # (1 unchanged policy block hidden)\n"
    );
}

#[test]
fn statements_sharing_nothing_are_not_paired() {
    let old = [stmt(Effect::Allow, &["a"], &["proj/x"])];
    let new = [stmt(Effect::Allow, &["b"], &["proj/y"])];
    let out = text(&blocks(Some(&old), Some(&new)));
    assert!(
        out.starts_with("- policy {") && out.contains("+ policy {") && !out.contains("~ policy"),
        "{out}"
    );
}

#[test]
fn an_insertion_before_unchanged_statements_is_only_an_insertion() {
    let a = stmt(Effect::Allow, &["a"], &["proj/a"]);
    let b = stmt(Effect::Allow, &["b"], &["proj/b"]);
    let c = stmt(Effect::Deny, &["c"], &["proj/c"]);
    let out = text(&blocks(Some(&[a.clone(), b.clone()]), Some(&[c, a, b])));
    assert!(out.starts_with("+ policy {\n    + effect    = \"deny\""), "{out}");
    assert!(out.ends_with("# (2 unchanged policy blocks hidden)\n") && !out.contains("~ policy"), "{out}");
}

#[test]
fn a_switch_from_actions_to_not_actions_is_a_removal_and_an_addition() {
    let old = stmt(Effect::Allow, &["a"], &["proj/x"]);
    let mut new = old.clone();
    new.not_actions = new.actions.take();
    new.effect = Effect::Deny;
    let out = text(&blocks(Some(&[old]), Some(&[new])));
    assert_eq!(
        out,
        "~ policy {\n    ~ effect      = \"allow\" -> \"deny\"\n    - actions     = [\"a\"] -> null\n    \
         + not_actions = [\"a\"]\n      resources   = [\"proj/x\"]\n  }\n"
    );
}

#[test]
fn long_lists_diff_element_by_element_with_one_neighbour_of_context() {
    let many: Vec<String> = (0..12).map(|n| format!("proj/p{n:02}")).collect();
    let mut more = many.clone();
    more.insert(6, "proj/new".into());
    more.remove(11);
    let old = stmt(Effect::Allow, &["viewProject"], &r(&many));
    let new = stmt(Effect::Allow, &["viewProject"], &r(&more));
    let out = text(&blocks(Some(&[old]), Some(&[new])));
    assert_eq!(
        out,
        "~ policy {\n      effect    = \"allow\"\n      actions   = [\"viewProject\"]\n    ~ resources = [\n          \
         # (5 unchanged elements hidden)\n          \"proj/p05\",\n        + \"proj/new\",\n          \"proj/p06\",\n          \
         # (2 unchanged elements hidden)\n          \"proj/p09\",\n        - \"proj/p10\",\n          \"proj/p11\",\n      ]\n  }\n"
    );
}

#[test]
fn a_one_element_gap_is_shown_not_counted_and_long_unchanged_lists_are_counted() {
    let resources: Vec<String> = (0..5).map(|n| format!("proj/p{n}")).collect();
    let r: Vec<&str> = resources.iter().map(String::as_str).collect();
    let acts = ["a1", "a2", "a3", "a4"];
    let mut acts2 = acts.to_vec();
    acts2[0] = "b1";
    acts2[3] = "b4";
    let out =
        text(&blocks(Some(&[stmt(Effect::Allow, &acts, &r)]), Some(&[stmt(Effect::Allow, &acts2, &r)])));
    // a2 and a3 are both neighbours of a change; nothing is hidden inside actions.
    assert!(out.contains("- \"a1\",\n        + \"b1\",\n          \"a2\",\n          \"a3\",\n        - \"a4\",\n        + \"b4\",\n"), "{out}");
    assert!(out.contains("    # (1 unchanged attribute hidden)\n"), "{out}");
}

#[test]
fn values_that_are_not_statements_fall_back() {
    assert!(diff(Some(&serde_json::json!("not a policy")), None).is_none());
    assert_eq!(diff(None, Some(&serde_json::json!([]))).unwrap(), Vec::new());
}
