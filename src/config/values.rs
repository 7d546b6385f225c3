//! Typed reads of evaluated attributes for the schema walker: each helper evaluates one
//! attribute and either returns the value in the type the language wants or reports why not
//! (wrong type, bad duration, value outside its set, a secret). No I/O.

use std::ops::Range;
use std::time::Duration;

use hcl::Value;
use hcl::edit::expr::Expression as EditExpr;

use super::diagnostics::{Problem, Rule, Sink, SourceFile};
use super::eval::{Each, Env};
use super::parse::{Attr, File};
use crate::model::parse_duration;
use crate::state::recipient::parse_recipient;

const DURATION_HELP: &str = "write a duration like 90d, 24h, 30m, 45s, 2w or 1d12h";

pub(super) struct Cx<'a> {
    pub(super) env: &'a Env,
    pub(super) files: &'a [File],
    pub(super) sink: &'a mut Sink,
}

pub(super) fn value_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "map",
    }
}

impl Cx<'_> {
    pub(super) fn src(&self, file: usize) -> &SourceFile {
        &self.files[file].src
    }

    pub(super) fn at(
        &self,
        rule: Rule,
        msg: impl Into<String>,
        file: usize,
        span: Range<usize>,
        label: impl Into<String>,
    ) -> Problem {
        Problem::at(rule, msg, self.src(file), span, label)
    }

    pub(super) fn value(&mut self, a: &Attr, each: Option<&Each>) -> Option<Value> {
        self.env.eval(a, &self.files[a.file].src, each, self.sink)
    }

    pub(super) fn wrong_type(&mut self, a: &Attr, want: &str, got: &Value) {
        let help = match (want, got) {
            ("true or false" | "a number", Value::String(_)) => format!("write {want} without quotes"),
            ("a list of strings", Value::String(_)) => format!("wrap it in brackets: {} = [\"…\"]", a.key),
            _ => format!("`{}` takes {want}", a.key),
        };
        let p = self
            .at(
                Rule::WrongType,
                format!("`{}` must be {want}", a.key),
                a.file,
                a.span.clone(),
                format!("this is a {}", value_type(got)),
            )
            .with_help(help);
        self.sink.push(p);
    }

    /// Flags an evaluated string that holds a secret (from a variable, say); a literal one
    /// was already reported by the raw scan of the file.
    pub(super) fn no_secret(&mut self, a: &Attr, s: &str) -> bool {
        if crate::secret::find_secret(s).is_none() {
            return true;
        }
        let literal = self
            .src(a.file)
            .source
            .inner()
            .get(a.span.clone())
            .is_some_and(|t| t.contains("api-****") || t.contains("sdk-****"));
        if !literal {
            let p = self
                .at(
                    Rule::SecretInConfig,
                    format!("`{}` evaluates to something that looks like an access token secret", a.key),
                    a.file,
                    a.span.clone(),
                    "secret-shaped value",
                )
                .with_help("secrets never live in configuration; check the variable that feeds this value");
            self.sink.push(p);
        }
        false
    }

    pub(super) fn string(&mut self, a: &Attr, each: Option<&Each>) -> Option<String> {
        let v = self.value(a, each)?;
        match v {
            Value::String(s) => self.no_secret(a, &s).then_some(s),
            Value::Number(_) | Value::Bool(_) => super::functions::to_display(&v),
            other => {
                self.wrong_type(a, "a string", &other);
                None
            }
        }
    }

    pub(super) fn boolean(&mut self, a: &Attr, each: Option<&Each>) -> Option<bool> {
        match self.value(a, each)? {
            Value::Bool(b) => Some(b),
            other => {
                self.wrong_type(a, "true or false", &other);
                None
            }
        }
    }

    pub(super) fn integer(&mut self, a: &Attr, each: Option<&Each>, min: u64, max: u64) -> Option<u64> {
        let v = self.value(a, each)?;
        let Value::Number(number) = &v else {
            self.wrong_type(a, "a number", &v);
            return None;
        };
        match number.as_u64() {
            Some(n) if (min..=max).contains(&n) => Some(n),
            // Negative, fractional or out of range.
            _ => {
                let p = self.at(
                    Rule::InvalidValue,
                    format!("`{}` must be a whole number from {min} to {max}", a.key),
                    a.file,
                    a.span.clone(),
                    "out of range",
                );
                self.sink.push(p);
                None
            }
        }
    }

    pub(super) fn strings(&mut self, a: &Attr, each: Option<&Each>) -> Option<Vec<String>> {
        let v = self.value(a, each)?;
        let Value::Array(items) = &v else {
            self.wrong_type(a, "a list of strings", &v);
            return None;
        };
        let mut out = Vec::new();
        for i in items {
            match i {
                Value::String(s) => {
                    if !self.no_secret(a, s) {
                        return None;
                    }
                    out.push(s.clone());
                }
                other => {
                    let p = self.at(
                        Rule::WrongType,
                        format!("`{}` must be a list of strings", a.key),
                        a.file,
                        a.span.clone(),
                        format!("holds a {}", value_type(other)),
                    );
                    self.sink.push(p);
                    return None;
                }
            }
        }
        Some(out)
    }

    pub(super) fn one_of<T: Copy>(
        &mut self,
        a: &Attr,
        each: Option<&Each>,
        choices: &[(&str, T)],
    ) -> Option<T> {
        let s = self.string(a, each)?;
        if let Some((_, t)) = choices.iter().find(|(n, _)| *n == s) {
            return Some(*t);
        }
        let names: Vec<String> = choices.iter().map(|(n, _)| format!("\"{n}\"")).collect();
        let p = self
            .at(
                Rule::InvalidValue,
                format!("`{}` cannot be {:?}", a.key, crate::secret::redact_secrets(&s)),
                a.file,
                a.span.clone(),
                "not an allowed value",
            )
            .with_help(format!("use one of {}", names.join(", ")));
        self.sink.push(p);
        None
    }

    pub(super) fn duration(&mut self, a: &Attr, each: Option<&Each>, allow_zero: bool) -> Option<Duration> {
        let s = self.string(a, each)?;
        match parse_duration(&s) {
            Some(d) if allow_zero || !d.is_zero() => Some(d),
            Some(_) => {
                let p = self
                    .at(
                        Rule::BadDuration,
                        format!("`{}` must be longer than zero", a.key),
                        a.file,
                        a.span.clone(),
                        "zero duration",
                    )
                    .with_help(DURATION_HELP);
                self.sink.push(p);
                None
            }
            None => {
                let p = self
                    .at(
                        Rule::BadDuration,
                        format!("{s:?} is not a duration"),
                        a.file,
                        a.span.clone(),
                        "not a duration",
                    )
                    .with_help(DURATION_HELP);
                self.sink.push(p);
                None
            }
        }
    }
}

/// The span of element `i` of a list literal, or the whole value.
pub(super) fn element_span(a: &Attr, i: usize) -> Range<usize> {
    match &a.value {
        EditExpr::Array(items) if !a.coarse => {
            items.get(i).and_then(hcl::edit::Span::span).unwrap_or(a.span.clone())
        }
        _ => a.span.clone(),
    }
}

pub(super) fn check_recipient(cx: &mut Cx<'_>, a: &Attr, index: usize, r: &str) -> bool {
    match parse_recipient(r) {
        Ok(_) => true,
        Err(e) => {
            let p = cx
                .at(Rule::BadRecipient, e.to_string(), a.file, element_span(a, index), "bad recipient")
                .with_help("a recipient is an age public key (age1…, from `tokenform keygen`) or an ssh-ed25519/ssh-rsa public key line");
            cx.sink.push(p);
            false
        }
    }
}
