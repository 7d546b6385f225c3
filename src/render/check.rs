//! Printers of a [`CheckReport`]: human (a terminal or a CI log), JSON (the schema in
//! `schemas/check.schema.json`), markdown (a pull-request comment) and SARIF 2.1.0
//! ([`sarif`], for GitHub code scanning). They only format: no I/O, no clock.

pub mod sarif;
#[cfg(test)]
mod tests;

use std::fmt::Write as _;

use super::drift::cell;
use crate::check::{CheckReport, Code, Finding, Location, Severity, SuppressionScope};

/// GitHub refuses comments over 65,536 characters; stay clear of it.
pub const MARKDOWN_LIMIT: usize = 60_000;

/// The hidden marker the markdown starts with, so a workflow can find its own comment.
pub const MARKDOWN_MARKER: &str = "<!-- tokenform-check -->";

/// The report as pretty JSON, with a final newline.
pub fn json(report: &CheckReport) -> String {
    let mut out = crate::escape::json(
        serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}")),
    );
    out.push('\n');
    out
}

/// The JSON Schema of [`json`]'s output (what `schemas/check.schema.json` holds).
pub fn schema() -> String {
    let schema = schemars::schema_for!(CheckReport);
    let mut out = serde_json::to_string_pretty(&schema).unwrap_or_default();
    out.push('\n');
    out
}

/// Text with control characters escaped, so a file name or a reason cannot drive the terminal.
fn plain(s: &str) -> String {
    crate::escape::text(s).into_owned()
}

/// `tokens/main.hcl:12:3`: the file relative to where the command ran (the config dir as given).
pub fn place(report: &CheckReport, l: &Location) -> String {
    let dir = report.config_dir.trim_end_matches('/');
    let file = if dir.is_empty() || dir == "." { l.file.clone() } else { format!("{dir}/{}", l.file) };
    plain(&format!("{file}:{}:{}", l.line, l.column))
}

fn counts(report: &CheckReport) -> String {
    let s = &report.summary;
    let parts: Vec<String> =
        [(s.critical, "critical"), (s.high, "high"), (s.medium, "medium"), (s.low, "low")]
            .into_iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, what)| format!("{n} {what}"))
            .collect();
    parts.join(", ")
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The first line: what was checked and what was found.
fn headline(report: &CheckReport) -> String {
    let s = &report.summary;
    let scope = if report.live {
        format!(
            "{} and {}",
            plural(s.tokens_checked, "configured token", "configured tokens"),
            plural(s.live_tokens_checked, "live token", "live tokens")
        )
    } else {
        plural(s.tokens_checked, "configured token", "configured tokens")
    };
    let mut line = if report.findings_found {
        format!("{} ({}) in {scope}", plural(s.findings, "finding", "findings"), counts(report))
    } else {
        format!("No findings in {scope}")
    };
    if s.suppressed > 0 {
        let _ = write!(line, "; {} suppressed", s.suppressed);
    }
    if s.below_threshold > 0 {
        let _ = write!(
            line,
            "; {} below the {} threshold not shown",
            s.below_threshold, report.options.threshold
        );
    }
    line.push('.');
    line
}

fn suppression_note(f: &Finding) -> String {
    let Some(s) = &f.suppressed else { return String::new() };
    let by = match s.scope {
        SuppressionScope::Token => "the token's checks block",
        SuppressionScope::Configuration => "the top-level checks block",
    };
    match &s.reason {
        Some(r) => format!("skipped by {by}: {:?}", plain(r)),
        None => format!("skipped by {by}"),
    }
}

struct Paint(bool);

impl Paint {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.0 { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_owned() }
    }
    fn severity(&self, s: Severity) -> String {
        let label = format!("[{}]", s.as_str().to_uppercase());
        match s {
            Severity::Critical | Severity::High => self.wrap("1;31", &label),
            Severity::Medium => self.wrap("33", &label),
            Severity::Low => self.wrap("36", &label),
        }
    }
    fn dim(&self, s: &str) -> String {
        self.wrap("2", s)
    }
    fn bold(&self, s: &str) -> String {
        self.wrap("1", s)
    }
}

/// The report for a terminal or a CI log; ANSI colour only when `color`.
pub fn human(report: &CheckReport, color: bool) -> String {
    let p = Paint(color);
    let mut out = String::new();
    let _ = writeln!(out, "{}", p.bold(&headline(report)));
    // Why and help once per rule: a large configuration repeats a rule many times.
    let mut explained: Vec<Code> = Vec::new();
    for f in report.open() {
        let at = f.location.as_ref().map(|l| place(report, l)).unwrap_or_default();
        let _ = writeln!(out, "\n{} {} {}  {at}", p.severity(f.severity), p.bold(f.code.as_str()), f.rule);
        let _ = writeln!(out, "  {}", plain(&f.message));
        if !explained.contains(&f.code) {
            explained.push(f.code);
            let _ = writeln!(out, "  {} {}", p.dim("why: "), f.why);
            let _ = writeln!(out, "  {} {}", p.dim("help:"), f.help);
        }
    }
    let suppressed: Vec<&Finding> = report.suppressed().collect();
    if !suppressed.is_empty() {
        let _ = writeln!(out, "\n{}", p.bold(&format!("Suppressed ({}):", suppressed.len())));
        for f in suppressed {
            let at = f.location.as_ref().map(|l| place(report, l)).unwrap_or_default();
            let _ = writeln!(out, "  {} {at}  {}", f.code, plain(&f.message));
            let _ = writeln!(out, "      {}", p.dim(&suppression_note(f)));
        }
    }
    if report.findings_found {
        let _ = writeln!(
            out,
            "\n{}",
            p.dim("Fix the configuration, or suppress a finding with checks { skip = [\"TKNnnn\"] reason = \"…\" } (docs/checks.md).")
        );
    }
    out
}

// ---------------------------------------------------------------------------------------
// markdown

fn markdown_with(report: &CheckReport, max_rows: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{MARKDOWN_MARKER}");
    let title = if report.findings_found {
        plural(report.summary.findings, "finding", "findings")
    } else {
        "no findings".to_owned()
    };
    let _ = writeln!(out, "### tokenform check: {title}\n");
    let _ = writeln!(out, "{}\n", cell(&headline(report)));
    let s = &report.summary;
    let _ = writeln!(out, "| severity | findings |\n| --- | ---: |");
    for (sev, n) in [
        (Severity::Critical, s.critical),
        (Severity::High, s.high),
        (Severity::Medium, s.medium),
        (Severity::Low, s.low),
    ] {
        let _ = writeln!(out, "| {sev} | {n} |");
    }
    let _ = writeln!(out, "| suppressed | {} |", s.suppressed);

    let open: Vec<&Finding> = report.open().collect();
    if !open.is_empty() {
        let _ = writeln!(
            out,
            "\n#### Findings\n\n| severity | code | where | finding |\n| --- | --- | --- | --- |"
        );
        for f in open.iter().take(max_rows) {
            let at = f.location.as_ref().map(|l| place(report, l)).unwrap_or_default();
            let _ = writeln!(
                out,
                "| {} | {} | `{}` | {} |",
                f.severity,
                f.code,
                at.replace('`', "'"),
                cell(&f.message)
            );
        }
        if open.len() > max_rows {
            let _ = writeln!(out, "\n_… and {} more, not shown here._", open.len() - max_rows);
        }
    }
    let suppressed: Vec<&Finding> = report.suppressed().collect();
    if !suppressed.is_empty() {
        let _ = writeln!(
            out,
            "\n#### Suppressed\n\n| code | where | finding | why skipped |\n| --- | --- | --- | --- |"
        );
        for f in suppressed.iter().take(max_rows) {
            let at = f.location.as_ref().map(|l| place(report, l)).unwrap_or_default();
            let _ = writeln!(
                out,
                "| {} | `{}` | {} | {} |",
                f.code,
                at.replace('`', "'"),
                cell(&f.message),
                cell(&suppression_note(f))
            );
        }
        if suppressed.len() > max_rows {
            let _ = writeln!(out, "\n_… and {} more, not shown here._", suppressed.len() - max_rows);
        }
    }
    let mut seen: Vec<Code> = open.iter().map(|f| f.code).collect();
    seen.sort();
    seen.dedup();
    if !seen.is_empty() {
        let _ = writeln!(out, "\n#### Rules\n");
        for code in seen {
            let info = code.info();
            let _ = writeln!(out, "- **{code}** {}: {} {}", info.name, cell(info.why), cell(info.help));
        }
    }
    out
}

/// The report for a pull-request comment, shortened (fewer rows, with a note) to stay
/// under [`MARKDOWN_LIMIT`] characters.
pub fn markdown(report: &CheckReport) -> String {
    let mut max_rows = report.findings.len();
    loop {
        let out = markdown_with(report, max_rows);
        if out.len() <= MARKDOWN_LIMIT || max_rows == 0 {
            return out;
        }
        max_rows /= 2;
    }
}
