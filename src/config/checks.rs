//! `checks` blocks: which `tokenform check` rules the configuration suppresses, reviewed
//! like code. Top level: `checks { skip = ["TKN004"] reason = "…" }` (reason optional)
//! for the whole configuration; inside a `token` block: `checks { skip = [...] reason =
//! "…" }` (reason required) for that token's findings. Each code must exist; a code whose
//! findings never belong to one token (TKN010, TKN012) is refused in a token's block.
//! Evaluated once per block (no `each`): a `for_each` block's skip applies to every instance.
//! No I/O.

use std::collections::BTreeMap;

use super::decode::attr;
use super::diagnostics::Rule;
use super::parse::{Attr, Block, File};
use super::values::{Cx, element_span};
use crate::check::Code;

/// What the configuration suppresses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Checks {
    /// The top-level block's codes: suppressed for every finding.
    pub skip: Vec<Code>,
    /// The top-level block's reason, if it gives one.
    pub reason: Option<String>,
    /// Per token block label.
    pub tokens: BTreeMap<String, TokenChecks>,
}

/// One token block's `checks { skip, reason }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenChecks {
    pub skip: Vec<Code>,
    pub reason: String,
}

impl Checks {
    /// The reason `code` is suppressed for the token block `label` (or for everything),
    /// and whether the suppression is the token's own.
    pub fn suppression(&self, code: Code, label: Option<&str>) -> Option<(Option<&str>, bool)> {
        if let Some(t) = label.and_then(|l| self.tokens.get(l))
            && t.skip.contains(&code)
        {
            return Some((Some(t.reason.as_str()), true));
        }
        self.skip.contains(&code).then_some((self.reason.as_deref(), false))
    }
}

/// Decodes the top-level `checks` block and every token's; problems go to the sink.
pub(super) fn decode(cx: &mut Cx<'_>, files: &[File]) -> Checks {
    let mut checks = Checks::default();
    let mut seen_global = false;
    for f in files {
        for b in &f.body.blocks {
            match b.ident.as_str() {
                // A second top-level block is already a duplicate-block problem.
                "checks" if !seen_global => {
                    seen_global = true;
                    let (skip, reason) = block(cx, b, None);
                    checks.skip = skip.unwrap_or_default();
                    checks.reason = reason;
                }
                "token" => {
                    let Some(label) = b.labels.first() else { continue };
                    let Some(nested) = b.body.blocks.iter().find(|n| n.ident == "checks") else {
                        continue;
                    };
                    let (skip, reason) = block(cx, nested, Some(&label.value));
                    if let (Some(skip), Some(reason)) = (skip, reason) {
                        checks.tokens.entry(label.value.clone()).or_insert(TokenChecks { skip, reason });
                    }
                }
                _ => {}
            }
        }
    }
    checks
}

/// One block's codes and reason; `token` is the label of the token block it sits in.
fn block(cx: &mut Cx<'_>, b: &Block, token: Option<&str>) -> (Option<Vec<Code>>, Option<String>) {
    let skip = if let Some(a) = attr(&b.body, "skip") {
        codes(cx, a, token)
    } else {
        let p = cx
            .at(
                Rule::MissingAttribute,
                "a checks block needs `skip`",
                b.file,
                b.ident_span.clone(),
                "no skip",
            )
            .with_help("checks { skip = [\"TKN004\"] … }: the codes of the rules to suppress");
        cx.sink.push(p);
        None
    };
    let reason = match attr(&b.body, "reason") {
        Some(a) => match cx.string(a, None) {
            Some(r) if r.trim().is_empty() => {
                let p = cx
                    .at(
                        Rule::InvalidValue,
                        "the reason of a checks block is empty",
                        a.file,
                        a.span.clone(),
                        "empty",
                    )
                    .with_help("say why the finding is accepted, for whoever reviews this configuration");
                cx.sink.push(p);
                None
            }
            r => r,
        },
        None if token.is_some() => {
            let p = cx
                .at(
                    Rule::MissingAttribute,
                    format!("the checks block of token.{} needs a `reason`", token.unwrap_or_default()),
                    b.file,
                    b.ident_span.clone(),
                    "no reason",
                )
                .with_help("a token's suppression says why: reason = \"…\" (reviewed like code)");
            cx.sink.push(p);
            None
        }
        None => None,
    };
    (skip, reason)
}

/// The codes of `skip`, each checked; `None` when any is wrong.
fn codes(cx: &mut Cx<'_>, a: &Attr, token: Option<&str>) -> Option<Vec<Code>> {
    let list = cx.strings(a, None)?;
    if list.is_empty() {
        let p = cx
            .at(Rule::InvalidValue, "`skip` lists no code", a.file, a.span.clone(), "empty list")
            .with_help("name the rules to suppress, e.g. skip = [\"TKN004\"], or delete the checks block");
        cx.sink.push(p);
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for (i, s) in list.iter().enumerate() {
        let span = element_span(a, i);
        match Code::parse(s) {
            Some(code) if token.is_some() && !code.info().per_token => {
                let p = cx
                    .at(
                        Rule::InvalidValue,
                        format!("{code} is about the account, not one token"),
                        a.file,
                        span,
                        "not a per-token rule",
                    )
                    .with_help(format!("skip {code} in the top-level checks block instead"));
                cx.sink.push(p);
                ok = false;
            }
            Some(code) => {
                if !out.contains(&code) {
                    out.push(code);
                }
            }
            None => {
                let upper = s.trim().to_ascii_uppercase();
                let help = match Code::parse(&upper) {
                    Some(c) => format!("did you mean \"{c}\"?"),
                    None => format!(
                        "check codes are {}…{} (see docs/checks.md)",
                        Code::ALL[0],
                        Code::ALL[Code::ALL.len() - 1]
                    ),
                };
                let p = cx
                    .at(
                        Rule::UnknownCheck,
                        format!("{:?} is not a check code", crate::secret::redact_secrets(s)),
                        a.file,
                        span,
                        "unknown code",
                    )
                    .with_help(help);
                cx.sink.push(p);
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use crate::check::Code;
    use crate::config::{VarInputs, load_problems};

    fn load(text: &str) -> Result<crate::config::Config, Vec<crate::config::Problem>> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("main.hcl"), text).unwrap();
        load_problems(dir.path(), &VarInputs::default())
    }

    /// (rule name, 1-based line, message) of every problem.
    fn problems(text: &str) -> Vec<(String, usize, String)> {
        load(text)
            .err()
            .unwrap_or_default()
            .iter()
            .map(|p| {
                let line = p.file.as_ref().zip(p.span.as_ref()).map_or(0, |(f, s)| f.line_col(s.start).0);
                (p.rule.name().to_owned(), line, p.message.clone())
            })
            .collect()
    }

    const TOKEN: &str = "token \"t\" {\n  role = \"reader\"\n";

    #[test]
    fn valid_blocks_decode() {
        let c = load(&format!(
            "checks {{\n  skip = [\"TKN007\", \"TKN007\", \"TKN012\"]\n}}\n{TOKEN}  checks {{\n    skip   = [\"TKN004\"]\n    reason = \"rotated by hand\"\n  }}\n}}\n"
        ))
        .unwrap();
        assert_eq!(c.checks.skip, [Code::PersonalToken, Code::ServiceTokenLimit]);
        assert_eq!(c.checks.reason, None);
        let t = &c.checks.tokens["t"];
        assert_eq!(
            (t.skip.as_slice(), t.reason.as_str()),
            (&[Code::NoExpiryNoRotation][..], "rotated by hand")
        );
        assert_eq!(
            c.checks.suppression(Code::NoExpiryNoRotation, Some("t")),
            Some((Some("rotated by hand"), true))
        );
        assert_eq!(c.checks.suppression(Code::NoExpiryNoRotation, Some("other")), None);
        assert_eq!(c.checks.suppression(Code::PersonalToken, Some("t")), Some((None, false)));
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn bad_blocks_are_located_diagnostics() {
        let cases: Vec<(String, Vec<(&str, usize, &str)>)> = vec![
            (
                format!("{TOKEN}  checks {{\n    skip = [\"TKN004\"]\n  }}\n}}\n"),
                vec![("missing_attribute", 3, "the checks block of token.t needs a `reason`")],
            ),
            (
                format!(
                    "{TOKEN}  checks {{\n    skip   = [\"TKN004\", \"TKN999\"]\n    reason = \"x\"\n  }}\n}}\n"
                ),
                vec![("unknown_check", 4, "\"TKN999\" is not a check code")],
            ),
            (
                "checks {\n  skip = [\"tkn004\"]\n}\n".to_owned(),
                vec![("unknown_check", 2, "\"tkn004\" is not a check code")],
            ),
            (
                "checks {\n  skip = \"TKN004\"\n}\n".to_owned(),
                vec![("wrong_type", 2, "`skip` must be a list of strings")],
            ),
            ("checks {\n  skip = []\n}\n".to_owned(), vec![("invalid_value", 2, "`skip` lists no code")]),
            (
                "checks {\n  reason = \"x\"\n}\n".to_owned(),
                vec![("missing_attribute", 1, "a checks block needs `skip`")],
            ),
            (
                "checks {\n  skip = [\"TKN004\"]\n  reason = \"  \"\n}\n".to_owned(),
                vec![("invalid_value", 3, "the reason of a checks block is empty")],
            ),
            (
                format!("{TOKEN}  checks {{\n    skip   = [\"TKN010\"]\n    reason = \"x\"\n  }}\n}}\n"),
                vec![("invalid_value", 4, "TKN010 is about the account, not one token")],
            ),
            (
                "checks {\n  skip = [\"TKN004\"]\n  ignore = true\n}\n".to_owned(),
                vec![("unknown_attribute", 3, "unknown attribute `ignore` in a `checks` block")],
            ),
            (
                "checks {\n  skip = [\"TKN004\"]\n}\nchecks {\n  skip = [\"TKN005\"]\n}\n".to_owned(),
                vec![("duplicate_block", 4, "only one `checks` block is allowed")],
            ),
        ];
        for (text, want) in cases {
            let got = problems(&format!("{text}token \"z\" {{\n  role = \"reader\"\n}}\n"));
            let want: Vec<(String, usize, String)> =
                want.into_iter().map(|(r, l, m)| (r.to_owned(), l, m.to_owned())).collect();
            assert_eq!(got, want, "{text}");
        }
    }

    #[test]
    fn unknown_code_suggests_the_upper_case_one() {
        let ps = load("checks {\n  skip = [\"tkn004\"]\n}\n").err().unwrap();
        assert_eq!(ps[0].help.as_deref(), Some("did you mean \"TKN004\"?"));
        assert_eq!(ps[0].rule.code(), "tokenform::config::unknown_check");
    }

    #[test]
    fn json_syntax_has_checks_blocks_too() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("main.hcl.json"),
            r#"{"checks": {"skip": ["TKN007"]}, "token": {"t": {"role": "reader", "checks": {"skip": ["TKN004"], "reason": "r"}}}}"#,
        )
        .unwrap();
        let c = load_problems(dir.path(), &VarInputs::default()).unwrap();
        assert_eq!(c.checks.skip.len(), 1);
        assert_eq!(c.checks.tokens["t"].reason, "r");
        assert!(c.sites.tokens["t"].checks.is_some());
    }
}
