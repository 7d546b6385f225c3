//! HCL text for generated configuration: `token` blocks (from a [`DesiredToken`]),
//! `import` blocks, and Terraform `removed` blocks, laid out by `tokenform fmt`
//! ([`crate::config::format`]) so a generated file is already canonical. Pure: values in,
//! text out; writes no file. Every string goes through [`quote`], so no name can break
//! out of its literal or start a template.

use std::fmt::Write as _;

use crate::config::DesiredToken;
use crate::config::format::{FormatError, format_source};
use crate::model::{Access, Address, Effect, Statement, format_duration};

/// `s` as an HCL quoted string: `"`, `\` and control characters escaped, and `${` / `%{`
/// doubled so they stay literal text instead of starting a template.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn list(items: &[String]) -> String {
    format!("[{}]", items.iter().map(|s| quote(s)).collect::<Vec<_>>().join(", "))
}

/// One `token` block for `t` (its address must have no for_each key), `comments` as `#`
/// lines above it. Attributes at their defaults are left out.
pub fn token_block(label: &str, t: &DesiredToken, comments: &[String]) -> String {
    let mut out = String::new();
    for c in comments {
        for line in c.lines() {
            let _ = writeln!(out, "# {line}");
        }
    }
    let _ = writeln!(out, "token {} {{", quote(label));
    let _ = writeln!(out, "name = {}", quote(&t.name));
    if let Some(d) = t.description.as_deref().filter(|d| !d.is_empty()) {
        let _ = writeln!(out, "description = {}", quote(d));
    }
    match &t.access {
        Access::Role(r) => {
            let _ = writeln!(out, "role = {}", quote(r.as_str()));
        }
        Access::CustomRoles(keys) => {
            let _ = writeln!(out, "custom_roles = {}", list(keys));
        }
        Access::Policy(_) => {}
    }
    if t.service_token {
        out.push_str("service_token = true\n");
    }
    if let Some(v) = t.api_version {
        let _ = writeln!(out, "api_version = {v}");
    }
    // Full precision: the API's expiry is in milliseconds, and a rounded one would differ.
    if let Some(e) = t.expires_at {
        let _ = writeln!(out, "expires_at = {}", quote(&e.to_string()));
    }
    if !t.recipients.is_empty() {
        let _ = writeln!(out, "recipients = {}", list(&t.recipients));
    }
    if let Access::Policy(statements) = &t.access {
        for s in statements {
            out.push('\n');
            out.push_str(&policy_block(s));
        }
    }
    if let Some(r) = &t.rotation {
        let _ = write!(
            out,
            "\nrotation {{\nevery = {}\ngrace = {}\n",
            quote(&format_duration(r.every)),
            quote(&format_duration(r.grace))
        );
        if r.method == crate::model::RotationMethod::Reset {
            out.push_str("method = \"reset\"\n");
        }
        out.push_str("}\n");
    }
    let lc = &t.lifecycle;
    if lc.prevent_destroy || lc.create_before_destroy || !lc.ignore_changes.is_empty() {
        out.push_str("\nlifecycle {\n");
        if lc.prevent_destroy {
            out.push_str("prevent_destroy = true\n");
        }
        if lc.create_before_destroy {
            out.push_str("create_before_destroy = true\n");
        }
        if !lc.ignore_changes.is_empty() {
            let fields: Vec<&str> = lc.ignore_changes.iter().map(|f| f.as_str()).collect();
            let _ = writeln!(out, "ignore_changes = [{}]", fields.join(", "));
        }
        out.push_str("}\n");
    }
    out.push_str("}\n");
    out
}

fn policy_block(s: &Statement) -> String {
    let mut out = String::from("policy {\n");
    let effect = match s.effect {
        Effect::Allow => "allow",
        Effect::Deny => "deny",
    };
    let _ = writeln!(out, "effect = {}", quote(effect));
    for (key, value) in [
        ("actions", &s.actions),
        ("not_actions", &s.not_actions),
        ("resources", &s.resources),
        ("not_resources", &s.not_resources),
    ] {
        if let Some(v) = value {
            let _ = writeln!(out, "{key} = {}", list(v));
        }
    }
    out.push_str("}\n");
    out
}

/// `import { to = ADDR  id = "ID" }`.
pub fn import_block(to: &Address, id: &str) -> String {
    format!("import {{\nto = {to}\nid = {}\n}}\n", quote(id))
}

/// A Terraform `removed` block that forgets `from` (a resource address without instance
/// keys) and keeps the real object (`destroy = false`).
pub fn removed_block(from: &str) -> String {
    format!("removed {{\nfrom = {from}\n\nlifecycle {{\ndestroy = false\n}}\n}}\n")
}

/// A whole file: `header` comment lines, then `blocks` one blank line apart, in canonical
/// `fmt` layout.
pub fn document(header: &[String], blocks: &[String]) -> Result<String, FormatError> {
    let mut text = String::new();
    for line in header {
        let _ = writeln!(text, "# {line}");
    }
    for b in blocks {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(b);
    }
    format_source(&text)
}

#[cfg(test)]
#[path = "generate_tests.rs"]
mod tests;
