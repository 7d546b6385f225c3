//! SARIF 2.1.0 for GitHub code scanning: one run, the whole rule catalogue as the driver's
//! rules (so `ruleIndex` is stable), one result per finding with a file/line/column region,
//! and `suppressions` (`kind: "inSource"`, the `checks` block's reason as justification)
//! on suppressed findings. Validated against the official OASIS schema in the tests.
//!
//! Where URIs point ([`ArtifactBase`]): relative to the directory tokenform ran in (the
//! repository root in CI) with `uriBaseId: "%SRCROOT%"`, as GitHub expects; or absolute
//! `file://` URIs when the configuration is outside that directory.

use std::fmt::Write as _;

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::check::{CheckReport, Code, Finding, Location, Severity, catalogue};

/// How artifact URIs are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArtifactBase {
    /// `prefix` + file name, relative to the source root (`%SRCROOT%`); `prefix` is the
    /// configuration directory relative to it, with a trailing `/` (empty for the root).
    Relative { prefix: String },
    /// `dir` + file name, where `dir` is an absolute `file:///…/` URI of the configuration directory.
    Absolute { dir: String },
}

impl ArtifactBase {
    /// The base for a configuration directory given as `dir`, seen from `cwd` (both
    /// absolute or `dir` relative): relative when `dir` is inside `cwd`, else absolute.
    pub fn for_dir(dir: &std::path::Path, cwd: &std::path::Path) -> Self {
        let abs = if dir.is_absolute() { dir.to_path_buf() } else { cwd.join(dir) };
        let normal = normalize(&abs);
        if let Ok(rel) = normal.strip_prefix(normalize(cwd)) {
            let mut prefix: String = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            if !prefix.is_empty() {
                prefix.push('/');
            }
            ArtifactBase::Relative { prefix: encode(&prefix) }
        } else {
            let path = normal.to_string_lossy().replace('\\', "/");
            let path = if path.starts_with('/') { path } else { format!("/{path}") };
            let mut dir = format!("file://{}", encode(&path));
            if !dir.ends_with('/') {
                dir.push('/');
            }
            ArtifactBase::Absolute { dir }
        }
    }

    fn artifact(&self, file: &str) -> Value {
        match self {
            ArtifactBase::Relative { prefix } => {
                json!({"uri": format!("{prefix}{}", encode(file)), "uriBaseId": "%SRCROOT%"})
            }
            ArtifactBase::Absolute { dir } => json!({"uri": format!("{dir}{}", encode(file))}),
        }
    }
}

/// `a/./b/../c` → `a/c`, without touching the file system.
fn normalize(p: &std::path::Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut out = std::path::PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Percent-encodes everything but unreserved characters and `/` (RFC 3986).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// SARIF's level for a severity: what code scanning shows as error, warning or note.
fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "note",
    }
}

/// GitHub's `security-severity` (a CVSS-like score) for a severity.
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
    }
}

fn region(l: &Location) -> Value {
    json!({"startLine": l.line, "startColumn": l.column, "endLine": l.end_line, "endColumn": l.end_column})
}

fn physical(base: &ArtifactBase, l: &Location) -> Value {
    json!({"physicalLocation": {"artifactLocation": base.artifact(&l.file), "region": region(l)}})
}

/// A fingerprint that survives the finding moving to another line.
fn fingerprint(f: &Finding) -> String {
    let mut h = Sha256::new();
    for part in [
        f.code.as_str(),
        &f.address.as_ref().map(ToString::to_string).unwrap_or_default(),
        f.live_token.as_ref().map_or("", |t| t.id.as_str()),
        &f.message,
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.finalize().iter().take(16).fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn rule(code: Code) -> Value {
    let info = code.info();
    json!({
        "id": code.as_str(),
        "name": info.name,
        "shortDescription": {"text": info.title},
        "fullDescription": {"text": info.why},
        "help": {
            "text": format!("{} {}", info.why, info.help),
            "markdown": format!("**{}** ({})\n\n{}\n\n**Fix:** {}\n\nSee docs/checks.md#{}.", info.title, code, info.why, info.help, code.as_str().to_lowercase()),
        },
        "defaultConfiguration": {"level": level(info.severity)},
        "properties": {
            "tags": ["security", "launchdarkly", "access-token"],
            "precision": "very-high",
            "problem.severity": level(info.severity),
            "security-severity": security_severity(info.severity),
            "severity": info.severity.as_str(),
            "live": info.live,
        },
    })
}

fn result(report: &CheckReport, f: &Finding, base: &ArtifactBase) -> Value {
    let mut r = json!({
        "ruleId": f.code.as_str(),
        "ruleIndex": f.code as usize,
        "level": level(f.severity),
        "message": {"text": f.message},
        "partialFingerprints": {"tokenform/v1": fingerprint(f)},
        "properties": {"severity": f.severity.as_str()},
    });
    if let Some(l) = &f.location {
        r["locations"] = json!([physical(base, l)]);
    }
    if let Some(a) = &f.address {
        r["properties"]["address"] = json!(a.to_string());
    }
    if let Some(t) = &f.live_token {
        r["properties"]["liveTokenId"] = json!(t.id);
        r["properties"]["liveTokenName"] = json!(t.name);
    }
    if let Some(s) = &f.suppressed {
        let justification = s.reason.clone().unwrap_or_else(|| {
            format!("skipped for the whole configuration by the checks block in {}", report.config_dir)
        });
        let mut sup = json!({"kind": "inSource", "state": "accepted", "justification": justification});
        if let Some(l) = &s.location {
            sup["location"] = physical(base, l);
        }
        r["suppressions"] = json!([sup]);
    }
    r
}

/// The report as a SARIF 2.1.0 log, pretty-printed with a final newline.
pub fn sarif(report: &CheckReport, base: &ArtifactBase) -> String {
    let rules: Vec<Value> = catalogue().iter().map(|r| rule(r.code)).collect();
    let results: Vec<Value> = report.findings.iter().map(|f| result(report, f, base)).collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "tokenform",
                "fullName": "tokenform check",
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "invocations": [{
                "executionSuccessful": true,
                "endTimeUtc": report.checked_at.to_string(),
            }],
            "columnKind": "unicodeCodePoints",
            "results": results,
            "properties": {
                "live": report.live,
                "threshold": report.options.threshold.as_str(),
            },
        }],
    });
    let mut out = crate::escape::json(serde_json::to_string_pretty(&doc).unwrap_or_default());
    out.push('\n');
    out
}
