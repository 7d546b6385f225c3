//! Rule tables: per rule, a configuration (and for `--live` rules, a state and a live
//! list) where it fires, one where it does not, and the same finding suppressed by the
//! token's own `checks` block and by the top-level one. Configurations are real HCL loaded
//! through `config::load_problems`, so locations are real too. Fixed `now`.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use super::*;
use crate::api::model::{Live, Token};
use crate::config::{Config, VarInputs};
use crate::drift::tests::{live_token, state_token};
use crate::model::Address;
use crate::state::model::State;

pub(crate) const NOW: &str = "2026-11-28T12:00:00Z";
const DAY_MS: i64 = 86_400_000;

pub(crate) fn now() -> jiff::Timestamp {
    NOW.parse().unwrap()
}

/// Loads `text` as `main.hcl` of a temp dir; panics with the diagnostics when invalid.
pub(crate) fn load(text: &str) -> Config {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("main.hcl"), text).unwrap();
    let mut config = crate::config::load_problems(dir.path(), &VarInputs::default())
        .unwrap_or_else(|ps| panic!("{}", crate::config::diagnostics::render(&ps, false)));
    // Reports name the directory: keep it stable for snapshots.
    config.dir = "tokens".into();
    config
}

/// A token that breaks no rule: a rotated reader service token.
const CLEAN: &str = r#"token "t" {
  role          = "reader"
  service_token = true
  rotation {
    every = "30d"
  }
}
"#;

/// The live side: `token.t` managed (id `id-t`, used yesterday) plus `extra` live tokens.
pub(crate) fn world(config: &Config, extra: Vec<Token>) -> (State, Live) {
    let (_, mut state, mut live) = crate::drift::tests::world(&[]);
    for address in config.tokens.keys() {
        let id = format!("id-{}", address.label);
        state.tokens.insert(address.clone(), state_token(&id, &address.label));
        live.tokens.push(live_token(&id, &address.label));
    }
    live.tokens.extend(extra);
    (state, live)
}

fn run(config: &Config, live: Option<(&State, &Live)>) -> CheckReport {
    let input = live.map(|(state, live)| LiveInput { state, live });
    check(config, input, now(), &CheckOptions::default())
}

fn codes(r: &CheckReport) -> Vec<Code> {
    r.open().map(|f| f.code).collect()
}

struct Case {
    code: Code,
    /// HCL where the rule fires (and no other rule).
    fires: &'static str,
    /// The same, changed so that it does not fire.
    clean: &'static str,
    /// Applied to both configurations after loading (what HCL validation would refuse).
    tweak: fn(&mut Config),
    /// Extra live tokens (live rules only; `None` runs without `--live`).
    live: Option<fn() -> Vec<Token>>,
}

fn no_tweak(_: &mut Config) {}

fn admin_unmanaged() -> Vec<Token> {
    let mut t = live_token("id-hand", "made-by-hand");
    t.role = Some("admin".into());
    vec![t]
}

fn stale_unmanaged() -> Vec<Token> {
    let mut t = live_token("id-old", "old-ci");
    t.last_used = Some(now().as_millisecond() - 200 * DAY_MS);
    vec![t]
}

fn many_service_tokens() -> Vec<Token> {
    (0..SERVICE_LIMIT).map(|i| live_token(&format!("id-{i:03}"), &format!("svc-{i}"))).collect()
}

const SERVICE_LIMIT: usize = crate::plan::SERVICE_TOKEN_LIMIT;

fn cases() -> Vec<Case> {
    vec![
        Case {
            code: Code::AdminServiceToken,
            fires: "token \"t\" {\n  role          = \"admin\"\n  service_token = true\n  rotation {\n    every = \"30d\"\n  }\n}\n",
            clean: "token \"t\" {\n  role          = \"writer\"\n  service_token = true\n  rotation {\n    every = \"30d\"\n  }\n}\n",
            tweak: no_tweak,
            live: None,
        },
        Case {
            code: Code::WildcardPolicy,
            fires: "token \"t\" {\n  service_token = true\n  policy {\n    effect    = \"allow\"\n    actions   = [\"*\"]\n    resources = [\"proj/*:env/production\"]\n  }\n  rotation {\n    every = \"30d\"\n  }\n}\n",
            clean: "token \"t\" {\n  service_token = true\n  policy {\n    effect    = \"allow\"\n    actions   = [\"*\"]\n    resources = [\"proj/web:env/staging\"]\n  }\n  rotation {\n    every = \"30d\"\n  }\n}\n",
            tweak: no_tweak,
            live: None,
        },
        Case {
            code: Code::NegatedAllow,
            fires: "token \"t\" {\n  service_token = true\n  policy {\n    effect      = \"allow\"\n    not_actions = [\"deleteFlag\"]\n    resources   = [\"proj/web:env/staging\"]\n  }\n  rotation {\n    every = \"30d\"\n  }\n}\n",
            clean: "token \"t\" {\n  service_token = true\n  policy {\n    effect      = \"deny\"\n    not_actions = [\"deleteFlag\"]\n    resources   = [\"proj/web:env/staging\"]\n  }\n  rotation {\n    every = \"30d\"\n  }\n}\n",
            tweak: no_tweak,
            live: None,
        },
        Case {
            code: Code::NoExpiryNoRotation,
            fires: "token \"t\" {\n  role          = \"reader\"\n  service_token = true\n}\n",
            clean: "token \"t\" {\n  role          = \"reader\"\n  service_token = true\n  expires_at    = \"2099-01-01T00:00:00Z\"\n}\n",
            tweak: no_tweak,
            live: None,
        },
        Case {
            code: Code::LongRotation,
            fires: "token \"t\" {\n  role          = \"reader\"\n  service_token = true\n  rotation {\n    every = \"91d\"\n  }\n}\n",
            clean: "token \"t\" {\n  role          = \"reader\"\n  service_token = true\n  rotation {\n    every = \"90d\"\n  }\n}\n",
            tweak: no_tweak,
            live: None,
        },
        Case {
            code: Code::GraceLongerThanRotation,
            // Validation may refuse such a grace: the tweak sets it after loading.
            fires: "token \"t\" {\n  role          = \"reader\"\n  service_token = true\n  rotation {\n    every = \"2d\"\n    grace = \"1d\"\n  }\n}\n",
            clean: "token \"t\" {\n  role          = \"reader\"\n  service_token = true\n  rotation {\n    every = \"4d\"\n    grace = \"1d\"\n  }\n}\n",
            tweak: |c| {
                for t in c.tokens.values_mut() {
                    if let Some(r) = &mut t.rotation {
                        r.grace = Duration::from_hours(72);
                    }
                }
            },
            live: None,
        },
        Case {
            code: Code::PersonalToken,
            fires: "token \"t\" {\n  role = \"reader\"\n  rotation {\n    every = \"30d\"\n  }\n}\n",
            clean: CLEAN,
            tweak: no_tweak,
            live: None,
        },
        Case {
            code: Code::ExpiredInConfig,
            // Validation may refuse a past expiry: the tweak moves it after loading.
            fires: "token \"t\" {\n  role          = \"reader\"\n  service_token = true\n  expires_at    = \"2099-01-01T00:00:00Z\"\n}\n",
            clean: "token \"t\" {\n  role          = \"reader\"\n  service_token = true\n  expires_at    = \"2099-01-01T00:00:00Z\"\n}\n",
            tweak: |c| {
                let past: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
                for t in c.tokens.values_mut() {
                    if t.expires_at.is_some() && c.dir.to_str() == Some("tokens-fires") {
                        t.expires_at = Some(past);
                    }
                }
            },
            live: None,
        },
        Case {
            code: Code::EndOfLifeApiVersion,
            fires: "token \"t\" {\n  role          = \"reader\"\n  service_token = true\n  api_version   = 20220603\n  rotation {\n    every = \"30d\"\n  }\n}\n",
            clean: "token \"t\" {\n  role          = \"reader\"\n  service_token = true\n  api_version   = 20240415\n  rotation {\n    every = \"30d\"\n  }\n}\n",
            tweak: no_tweak,
            live: None,
        },
        Case {
            code: Code::UnmanagedAdmin,
            fires: CLEAN,
            clean: CLEAN,
            tweak: no_tweak,
            live: Some(admin_unmanaged),
        },
        Case {
            code: Code::StaleToken,
            fires: CLEAN,
            clean: CLEAN,
            tweak: no_tweak,
            live: Some(stale_unmanaged),
        },
        Case {
            code: Code::ServiceTokenLimit,
            fires: CLEAN,
            clean: CLEAN,
            tweak: no_tweak,
            live: Some(many_service_tokens),
        },
    ]
}

/// Runs one side of a case. Live cases differ between `fires` and `clean` only in the
/// extra live tokens (none on the clean side).
fn run_case(case: &Case, text: &str, firing: bool) -> CheckReport {
    let mut config = load(text);
    config.dir = if firing { "tokens-fires".into() } else { "tokens".into() };
    (case.tweak)(&mut config);
    match case.live {
        None => run(&config, None),
        Some(extra) => {
            let (state, live) = world(&config, if firing { extra() } else { Vec::new() });
            run(&config, Some((&state, &live)))
        }
    }
}

#[test]
fn every_rule_has_a_case() {
    let covered: Vec<Code> = cases().iter().map(|c| c.code).collect();
    assert_eq!(covered, Code::ALL.to_vec());
}

#[test]
fn each_rule_fires_alone_and_not_on_the_fixed_config() {
    for case in cases() {
        let fired = run_case(&case, case.fires, true);
        assert_eq!(codes(&fired), vec![case.code], "{} should fire alone: {fired:#?}", case.code);
        assert!(fired.findings_found);
        let f = &fired.findings[0];
        let info = case.code.info();
        assert_eq!((f.severity, f.why.as_str(), f.help.as_str()), (info.severity, info.why, info.help));
        assert!(f.location.is_some(), "{}: every finding points somewhere", case.code);
        let clean = run_case(&case, case.clean, false);
        assert!(codes(&clean).is_empty(), "{} should not fire: {clean:#?}", case.code);
        assert!(!clean.findings_found);
    }
}

#[test]
fn each_rule_is_suppressed_by_the_top_level_block() {
    for case in cases() {
        let text = format!(
            "{}\nchecks {{\n  skip   = [\"{}\"]\n  reason = \"accepted by security\"\n}}\n",
            case.fires, case.code
        );
        let r = run_case(&case, &text, true);
        assert!(codes(&r).is_empty() && !r.findings_found, "{}: {r:#?}", case.code);
        let s: Vec<&Finding> = r.suppressed().collect();
        assert_eq!(s.len(), 1, "{}: the suppressed finding is still listed", case.code);
        let sup = s[0].suppressed.as_ref().unwrap();
        assert_eq!(sup.scope, SuppressionScope::Configuration);
        assert_eq!(sup.reason.as_deref(), Some("accepted by security"));
        assert_eq!(
            sup.location.as_ref().map(|l| l.line),
            Some(text.lines().position(|l| l == "checks {").unwrap() + 1)
        );
        assert_eq!(r.summary.suppressed, 1);
    }
}

#[test]
fn per_token_rules_are_suppressed_by_the_tokens_own_block() {
    for case in cases().into_iter().filter(|c| c.code.info().per_token) {
        // TKN011 needs a managed stale token: make token.t itself unused for 200 days.
        let text = case.fires.replacen(
            "token \"t\" {\n",
            &format!(
                "token \"t\" {{\n  checks {{\n    skip   = [\"{}\"]\n    reason = \"ticket SEC-12\"\n  }}\n",
                case.code
            ),
            1,
        );
        let mut config = load(&text);
        config.dir = "tokens-fires".into();
        (case.tweak)(&mut config);
        let r = if case.live.is_some() {
            let (state, mut live) = world(&config, Vec::new());
            live.tokens[0].last_used = Some(now().as_millisecond() - 200 * DAY_MS);
            run(&config, Some((&state, &live)))
        } else {
            run(&config, None)
        };
        assert!(codes(&r).is_empty(), "{}: {r:#?}", case.code);
        let s: Vec<&Finding> = r.suppressed().collect();
        assert_eq!(s.len(), 1, "{}", case.code);
        let sup = s[0].suppressed.as_ref().unwrap();
        assert_eq!((sup.scope, sup.reason.as_deref()), (SuppressionScope::Token, Some("ticket SEC-12")));
        assert_eq!(sup.location.as_ref().map(|l| (l.line, l.column)), Some((2, 3)), "{}", case.code);
        assert_eq!(s[0].address, Some(Address::new("t")));
    }
}

#[test]
fn a_tokens_skip_does_not_cover_other_tokens() {
    let text = "token \"a\" {\n  role = \"reader\"\n  service_token = true\n  checks {\n    skip   = [\"TKN004\"]\n    reason = \"short-lived\"\n  }\n}\ntoken \"b\" {\n  role = \"reader\"\n  service_token = true\n}\n";
    let r = run(&load(text), None);
    let open: Vec<(Code, Option<Address>)> = r.open().map(|f| (f.code, f.address.clone())).collect();
    assert_eq!(open, vec![(Code::NoExpiryNoRotation, Some(Address::new("b")))]);
    assert_eq!(r.suppressed().count(), 1);
}

#[test]
fn locations_point_at_the_attribute_to_change() {
    let text = "token \"ci\" {\n  role          = \"admin\"\n  service_token = true\n  api_version   = 20191212\n  rotation {\n    every = \"180d\"\n  }\n}\n";
    let r = run(&load(text), None);
    let at: Vec<(Code, usize, usize, usize, usize)> = r
        .findings
        .iter()
        .map(|f| {
            let l = f.location.as_ref().unwrap();
            (f.code, l.line, l.column, l.end_line, l.end_column)
        })
        .collect();
    assert_eq!(
        at,
        vec![
            (Code::AdminServiceToken, 2, 3, 2, 26),
            (Code::EndOfLifeApiVersion, 4, 3, 4, 27),
            (Code::LongRotation, 6, 5, 6, 19),
        ]
    );
    assert!(r.findings.iter().all(|f| f.location.as_ref().unwrap().file == "main.hcl"));
}

#[test]
fn for_each_instances_each_get_a_finding_at_the_shared_block() {
    let text = "token \"d\" {\n  for_each = toset([\"a\", \"b\"])\n  name     = \"d-${each.key}\"\n  role     = \"reader\"\n  service_token = true\n}\n";
    let r = run(&load(text), None);
    let found: Vec<String> = r.open().map(|f| f.address.as_ref().unwrap().to_string()).collect();
    assert_eq!(found, ["token.d[\"a\"]", "token.d[\"b\"]"]);
    assert!(r.open().all(|f| f.location.as_ref().unwrap().line == 1));
}

#[test]
fn wildcard_resources() {
    use crate::model::{Effect, Statement};
    let st = |effect, actions: &[&str], resources: &[&str]| Statement {
        effect,
        actions: Some(actions.iter().map(|s| (*s).to_owned()).collect()),
        not_actions: None,
        resources: Some(resources.iter().map(|s| (*s).to_owned()).collect()),
        not_resources: None,
    };
    for (effect, actions, resources, want) in [
        (Effect::Allow, &["*"][..], &["proj/*"][..], true),
        (Effect::Allow, &["*"], &["proj/*:env/*"], true),
        (Effect::Allow, &["*"], &["proj/*:env/production:flag/*"], true),
        (Effect::Allow, &["*"], &["proj/web:env/*"], true),
        (Effect::Allow, &["*"], &["*"], true),
        (Effect::Allow, &["*"], &["proj/web:env/staging", "proj/*"], true),
        (Effect::Allow, &["*"], &["proj/web:env/staging"], false),
        (Effect::Allow, &["*"], &["proj/*;mobile:env/staging"], false),
        (Effect::Allow, &["updateOn"], &["proj/*:env/*"], false),
        (Effect::Deny, &["*"], &["proj/*:env/*"], false),
    ] {
        assert_eq!(
            rules::is_wildcard_grant(&st(effect, actions, resources)),
            want,
            "{actions:?} {resources:?}"
        );
    }
}

#[test]
fn api_versions_end_of_life_by_date() {
    assert_eq!(rules::eol(20_220_603, now()), Some("2025-04-15"));
    assert_eq!(rules::eol(20_191_212, now()), Some("2022-07-29"));
    assert_eq!(rules::eol(20_200_101, now()), Some("2022-07-29"), "between versions: the older one applies");
    assert_eq!(rules::eol(20_240_415, now()), None);
    let before: jiff::Timestamp = "2025-04-14T23:59:59Z".parse().unwrap();
    assert_eq!(rules::eol(20_220_603, before), None, "not yet at its end of life");
    // The launchdarkly block's own version is checked too.
    let r = run(&load(&format!("launchdarkly {{\n  api_version = 20210729\n}}\n{CLEAN}")), None);
    let f: Vec<&Finding> = r.open().collect();
    assert_eq!(f.len(), 1);
    assert_eq!(
        (f[0].code, f[0].address.as_ref(), f[0].location.as_ref().unwrap().line),
        (Code::EndOfLifeApiVersion, None, 2)
    );
}

#[test]
fn threshold_filters_and_counts() {
    // TKN001 (high) + TKN004 (medium) + TKN007 (medium).
    let config = load(
        "token \"t\" {\n  role = \"admin\"\n  service_token = true\n}\ntoken \"p\" {\n  role = \"reader\"\n  rotation {\n    every = \"30d\"\n  }\n}\n",
    );
    let all = check(&config, None, now(), &CheckOptions::default());
    // In file order: token.t's block header (TKN004), its role (TKN001), then token.p.
    assert_eq!(codes(&all), [Code::NoExpiryNoRotation, Code::AdminServiceToken, Code::PersonalToken]);
    assert_eq!((all.summary.high, all.summary.medium, all.summary.below_threshold), (1, 2, 0));
    let high =
        check(&config, None, now(), &CheckOptions { threshold: Severity::High, ..CheckOptions::default() });
    assert_eq!(codes(&high), [Code::AdminServiceToken]);
    assert_eq!((high.summary.findings, high.summary.below_threshold), (1, 2));
    let critical = check(
        &config,
        None,
        now(),
        &CheckOptions { threshold: Severity::Critical, ..CheckOptions::default() },
    );
    assert!(critical.findings.is_empty() && !critical.findings_found);
    assert_eq!(critical.options.threshold, Severity::Critical);
}

#[test]
fn live_rules_reuse_drifts_scope() {
    let mut config = load(&format!("{CLEAN}unmanaged {{\n  ignore_names = [\"legacy-*\"]\n}}\n"));
    config.dir = "tokens".into();
    let mut ignored = live_token("id-legacy", "legacy-admin");
    ignored.role = Some("admin".into());
    let mut caller = live_token("id-caller", "ci-bootstrap");
    caller.role = Some("admin".into());
    caller.last_used = None;
    let (state, live) = world(&config, vec![ignored, caller]);
    let r = run(&config, Some((&state, &live)));
    assert!(codes(&r).is_empty(), "ignored names and the caller's own token are not findings: {r:#?}");
    assert_eq!(r.summary.live_tokens_checked, 3);
    // An unmanaged admin token points at the `unmanaged` block.
    let (state, live) = world(&config, admin_unmanaged());
    let r = run(&config, Some((&state, &live)));
    let f = r.open().next().unwrap();
    assert_eq!(f.location.as_ref().unwrap().line, 8);
    assert_eq!(f.live_token.as_ref().map(|t| t.id.as_str()), Some("id-hand"));
    assert!(
        f.message.contains("\"made-by-hand\"") && f.message.contains("alice@example.com"),
        "{}",
        f.message
    );
}

#[test]
fn service_tokens_to_create_count_towards_the_limit() {
    let text = (0..3)
        .map(|i| format!("token \"n{i}\" {{\n  role = \"reader\"\n  service_token = true\n  rotation {{\n    every = \"30d\"\n  }}\n}}\n"))
        .collect::<Vec<_>>()
        .concat();
    let config = load(&text);
    let (mut state, mut live) = world(&config, Vec::new());
    // None of them is live yet; the live account already holds LIMIT - 2 service tokens.
    state.tokens.clear();
    live.tokens =
        (0..SERVICE_LIMIT - 2).map(|i| live_token(&format!("id-{i:03}"), &format!("svc-{i}"))).collect();
    for t in &mut live.tokens {
        t.last_used = Some(now().as_millisecond());
    }
    let r = run(&config, Some((&state, &live)));
    let over: Vec<&Finding> = r.open().filter(|f| f.code == Code::ServiceTokenLimit).collect();
    assert_eq!(over.len(), 1, "{r:#?}");
    assert!(over[0].message.starts_with("201 service tokens (198 live, 3 to create)"), "{}", over[0].message);
}

#[test]
fn never_used_and_long_unused_are_stale() {
    let config = load(CLEAN);
    let (state, mut live) = world(&config, Vec::new());
    live.tokens[0].last_used = None;
    let r = run(&config, Some((&state, &live)));
    let f = r.open().next().unwrap();
    assert_eq!((f.code, f.address.clone()), (Code::StaleToken, Some(Address::new("t"))));
    assert!(f.message.ends_with("has never been used"), "{}", f.message);
    assert_eq!(f.location.as_ref().unwrap().line, 1, "a managed stale token points at its block");
}
