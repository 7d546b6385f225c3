//! Printers of a [`DriftReport`]: human (a terminal or a CI log), JSON (the schema in
//! `schemas/drift.schema.json`), markdown (an issue or pull-request comment). They only
//! format: no I/O, no clock (ages are relative to the report's `checked_at`).

use std::fmt::Write as _;

use crate::drift::{DriftReport, ExpirySource, RotationReason, TokenRef};

/// GitHub refuses comments over 65,536 characters; stay clear of it.
pub const MARKDOWN_LIMIT: usize = 60_000;

/// The hidden marker the markdown starts with, so a workflow can find its own issue or comment.
pub const MARKDOWN_MARKER: &str = "<!-- tokenform-drift -->";

/// The report as pretty JSON, with a final newline.
pub fn json(report: &DriftReport) -> String {
    let mut out = crate::escape::json(
        serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}")),
    );
    out.push('\n');
    out
}

/// The JSON Schema of [`json`]'s output (what `schemas/drift.schema.json` holds).
pub fn schema() -> String {
    let schema = schemars::schema_for!(DriftReport);
    let mut out = serde_json::to_string_pretty(&schema).unwrap_or_default();
    out.push('\n');
    out
}

// ---------------------------------------------------------------------------------------
// human

struct Paint(bool);

impl Paint {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.0 { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_owned() }
    }
    fn bold(&self, s: &str) -> String {
        self.wrap("1", s)
    }
    fn red(&self, s: &str) -> String {
        self.wrap("31", s)
    }
    fn green(&self, s: &str) -> String {
        self.wrap("32", s)
    }
    fn yellow(&self, s: &str) -> String {
        self.wrap("33", s)
    }
    fn magenta(&self, s: &str) -> String {
        self.wrap("35", s)
    }
    fn cyan(&self, s: &str) -> String {
        self.wrap("36", s)
    }
    fn dim(&self, s: &str) -> String {
        self.wrap("2", s)
    }
}

/// How old `t` is at `now` (`3d ago`), or how far ahead (`in 5h`).
pub fn relative(t: jiff::Timestamp, now: jiff::Timestamp) -> String {
    let secs = now.as_second() - t.as_second();
    let span = secs.unsigned_abs();
    let amount = if span >= 86_400 {
        format!("{}d", span / 86_400)
    } else if span >= 3600 {
        format!("{}h", span / 3600)
    } else if span >= 60 {
        format!("{}m", span / 60)
    } else {
        return "just now".into();
    };
    if secs >= 0 { format!("{amount} ago") } else { format!("in {amount}") }
}

/// A timestamp for people: minutes, UTC.
pub fn when(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

fn when_rel(t: jiff::Timestamp, now: jiff::Timestamp) -> String {
    format!("{} ({})", when(t), relative(t, now))
}

/// `token.a "name" (id …, created by …, last used …)`; names are quoted with escapes
/// ([`crate::escape`]) so a hand-made name cannot smuggle terminal control sequences.
fn describe(t: &TokenRef, now: jiff::Timestamp, p: &Paint) -> String {
    let mut out = String::new();
    if let Some(a) = &t.address {
        out += &p.bold(&a.to_string());
        out.push(' ');
    }
    let _ = write!(out, "{} (id {}", crate::escape::quoted(&t.name), crate::escape::text(&t.id));
    if let Some(c) = &t.creator {
        let _ = write!(out, ", created by {}", crate::escape::quoted(c));
    }
    match t.last_used {
        Some(u) => {
            let _ = write!(out, ", last used {}", when_rel(u, now));
        }
        None => out += ", never used",
    }
    out.push(')');
    out
}

fn value(v: Option<&serde_json::Value>) -> String {
    // JSON escapes C0 controls but not C1 or bidi overrides: those are escaped here.
    v.map_or_else(
        || "(none)".into(),
        |v| match v {
            serde_json::Value::String(s) => crate::escape::quoted(s),
            v => crate::escape::text(&serde_json::to_string(v).unwrap_or_default()).into_owned(),
        },
    )
}

fn headline_counts(r: &DriftReport) -> Vec<String> {
    let mut parts = Vec::new();
    let mut add = |n: usize, what: &str| {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    };
    add(r.changed.len(), "changed");
    add(r.missing.len(), "missing");
    add(r.unmanaged.len(), "unmanaged");
    add(r.rotation_due.len(), "rotation due");
    add(r.expiring.len(), "expiring");
    parts
}

/// The report for a terminal or a CI log; ANSI colour only when `color`.
pub fn human(r: &DriftReport, color: bool) -> String {
    let p = Paint(color);
    let now = r.checked_at;
    let mut out = String::new();
    let stale_note = match r.stale.len() {
        0 => String::new(),
        n => format!(" ({n} stale, informational)"),
    };
    if r.drift_found {
        let _ = writeln!(
            out,
            "{}: {}{stale_note}.",
            p.bold(&p.red("Drift found")),
            headline_counts(r).join(", ")
        );
    } else {
        let _ = writeln!(out, "{}{stale_note}.", p.bold(&p.green("No drift")));
    }

    if !r.changed.is_empty() {
        let _ = writeln!(
            out,
            "\n{}",
            p.bold(&format!("Changed outside tokenform ({}), state → live:", r.changed.len()))
        );
        for c in &r.changed {
            let _ = writeln!(out, "  {} {}", p.yellow("~"), describe(&c.token, now, &p));
            for f in &c.fields {
                let (old, new) = (value(f.state.as_ref()), value(f.live.as_ref()));
                if old.len() + new.len() > 60 {
                    let _ = writeln!(out, "      {}:", f.field);
                    let _ = writeln!(out, "        {} {old}", p.red("- state:"));
                    let _ = writeln!(out, "        {} {new}", p.green("+ live: "));
                } else {
                    let _ = writeln!(out, "      {}: {} → {}", f.field, p.red(&old), p.green(&new));
                }
            }
        }
    }
    if !r.missing.is_empty() {
        let _ = writeln!(
            out,
            "\n{}",
            p.bold(&format!("Missing: deleted outside tokenform ({}):", r.missing.len()))
        );
        for m in &r.missing {
            let _ = writeln!(out, "  {} {}", p.red("-"), describe(&m.token, now, &p));
        }
    }
    if !r.unmanaged.is_empty() {
        let title = format!("Unmanaged: in neither state nor configuration ({}):", r.unmanaged.len());
        let _ = writeln!(out, "\n{}", p.bold(&title));
        for u in &r.unmanaged {
            let kind = if u.service_token { "service token" } else { "personal token" };
            let role =
                u.role.as_deref().map(|r| format!(", role {}", crate::escape::text(r))).unwrap_or_default();
            let _ = writeln!(out, "  {} {} [{kind}{role}]", p.magenta("?"), describe(&u.token, now, &p));
        }
    }
    if !r.rotation_due.is_empty() {
        let _ = writeln!(out, "\n{}", p.bold(&format!("Rotation due ({}):", r.rotation_due.len())));
        for d in &r.rotation_due {
            let why = match (d.reason, d.issued_at, d.due_at) {
                (RotationReason::Overdue, Some(issued), Some(due)) => format!(
                    "secret issued {}, rotate every {}: due since {}",
                    when(issued),
                    d.every,
                    when_rel(due, now)
                ),
                _ => format!(
                    "secret unknown (imported or adopted): rotate to take it over (every {})",
                    d.every
                ),
            };
            let _ = writeln!(out, "  {} {}\n      {why}", p.cyan("@"), describe(&d.token, now, &p));
        }
    }
    if !r.expiring.is_empty() {
        let title = format!("Expiring within {} ({}):", r.options.expiring_within, r.expiring.len());
        let _ = writeln!(out, "\n{}", p.bold(&title));
        for e in &r.expiring {
            let verb = if e.expired { p.red("expired") } else { p.yellow("expires") };
            let _ = writeln!(
                out,
                "  {} {}\n      {verb} {}, per {}",
                p.yellow("!"),
                describe(&e.token, now, &p),
                when_rel(e.expires_at, now),
                source(e.source)
            );
        }
    }
    if !r.stale.is_empty() {
        let title = format!(
            "Stale: unused for {} or never ({}), informational:",
            r.options.stale_after,
            r.stale.len()
        );
        let _ = writeln!(out, "\n{}", p.bold(&title));
        for s in &r.stale {
            let _ = writeln!(out, "  {} {}", p.dim("."), describe(&s.token, now, &p));
        }
    }
    let hints = hints(r);
    if !hints.is_empty() {
        out.push('\n');
        for hint in hints {
            let _ = writeln!(out, "{}", p.dim(hint));
        }
    }
    out
}

/// What to do about what was found.
fn hints(r: &DriftReport) -> Vec<&'static str> {
    let mut out = Vec::new();
    if !(r.changed.is_empty() && r.missing.is_empty() && r.rotation_due.is_empty()) {
        out.push("`tokenform plan` shows how apply would bring managed tokens back in line.");
    }
    if !r.unmanaged.is_empty() {
        out.push(
            "Adopt an unmanaged token with an `import` block, delete it, or list its name in \
             `unmanaged { ignore_names }`.",
        );
    }
    if !r.expiring.is_empty() {
        out.push(
            "An expiring token stops working at its expiry: move `expires_at`, or replace it, before then.",
        );
    }
    out
}

fn source(s: ExpirySource) -> &'static str {
    match s {
        ExpirySource::Live => "the live token",
        ExpirySource::State => "state",
        ExpirySource::Config => "configuration, set at the next apply",
    }
}

// ---------------------------------------------------------------------------------------
// markdown

/// Inline code safe inside a GFM table cell: control characters (line breaks too)
/// escaped by [`crate::escape::text`], `|` escaped, backticks fenced.
fn code(s: &str) -> String {
    let s = crate::escape::text(s).replace('|', "\\|");
    if s.is_empty() {
        return "` `".into();
    }
    if s.contains('`') { format!("`` {s} ``") } else { format!("`{s}`") }
}

/// Plain text safe inside a table cell (also used by `render::check`): control
/// characters escaped by [`crate::escape::text`] (line breaks too), markdown punctuation
/// backslash-escaped.
pub(crate) fn cell(s: &str) -> String {
    let s = crate::escape::text(s);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' | '<' | '>' | '*' | '_' | '`' | '[' | ']' | '\\' | '#' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

const BASE_HEAD: &str = "| address | name | id | creator | last used |";
const BASE_RULE: &str = "| --- | --- | --- | --- | --- |";

fn base_cells(t: &TokenRef) -> String {
    format!(
        "| {} | {} | {} | {} | {} |",
        t.address.as_ref().map_or_else(|| "_unmanaged_".into(), |a| code(&a.to_string())),
        code(&t.name),
        code(&t.id),
        t.creator.as_deref().map(cell).unwrap_or_default(),
        t.last_used.map_or_else(|| "never".into(), when),
    )
}

struct Table {
    title: String,
    head: String,
    rule: String,
    rows: Vec<String>,
}

impl Table {
    fn new(title: String, extra: &[&str]) -> Self {
        let mut head = BASE_HEAD.to_owned();
        let mut rule = BASE_RULE.to_owned();
        for e in extra {
            let _ = write!(head, " {e} |");
            rule += " --- |";
        }
        Self { title, head, rule, rows: Vec::new() }
    }

    fn row(&mut self, t: &TokenRef, extra: &[String]) {
        let mut row = base_cells(t);
        for e in extra {
            let _ = write!(row, " {e} |");
        }
        self.rows.push(row);
    }

    fn write(&self, out: &mut String, max_rows: usize) {
        if self.rows.is_empty() {
            return;
        }
        let _ = writeln!(out, "\n#### {}\n\n{}\n{}", self.title, self.head, self.rule);
        for row in self.rows.iter().take(max_rows) {
            let _ = writeln!(out, "{row}");
        }
        if self.rows.len() > max_rows {
            let _ = writeln!(out, "\n_… and {} more, not shown here._", self.rows.len() - max_rows);
        }
    }
}

fn tables(r: &DriftReport) -> Vec<Table> {
    let now = r.checked_at;
    let mut changed =
        Table::new(format!("Changed outside tokenform ({})", r.changed.len()), &["field: state → live"]);
    for c in &r.changed {
        let fields: Vec<String> = c
            .fields
            .iter()
            .map(|f| {
                format!("{}: {} → {}", f.field, code(&value(f.state.as_ref())), code(&value(f.live.as_ref())))
            })
            .collect();
        changed.row(&c.token, &[fields.join("<br>")]);
    }
    let mut missing = Table::new(format!("Missing: deleted outside tokenform ({})", r.missing.len()), &[]);
    for m in &r.missing {
        missing.row(&m.token, &[]);
    }
    let mut unmanaged = Table::new(
        format!("Unmanaged: in neither state nor configuration ({})", r.unmanaged.len()),
        &["kind", "created"],
    );
    for u in &r.unmanaged {
        let kind = if u.service_token { "service token" } else { "personal token" };
        let role = u.role.as_deref().map(|r| format!(", role {}", cell(r))).unwrap_or_default();
        unmanaged.row(&u.token, &[format!("{kind}{role}"), u.created_at.map(when).unwrap_or_default()]);
    }
    let mut rotation =
        Table::new(format!("Rotation due ({})", r.rotation_due.len()), &["why", "every", "due since"]);
    for d in &r.rotation_due {
        let why = match d.reason {
            RotationReason::Overdue => {
                format!("secret issued {}", d.issued_at.map(when).unwrap_or_default())
            }
            RotationReason::SecretUnknown => "secret unknown (imported or adopted)".into(),
        };
        let due = d.due_at.map_or_else(|| "now".into(), |t| when_rel(t, now));
        rotation.row(&d.token, &[why, d.every.clone(), due]);
    }
    let mut expiring = Table::new(
        format!("Expiring within {} ({})", r.options.expiring_within, r.expiring.len()),
        &["expires", "per"],
    );
    for e in &r.expiring {
        let verb = if e.expired { "**expired** " } else { "" };
        expiring
            .row(&e.token, &[format!("{verb}{}", when_rel(e.expires_at, now)), source(e.source).to_owned()]);
    }
    let mut stale = Table::new(
        format!("Stale: unused for {} or never ({}), informational", r.options.stale_after, r.stale.len()),
        &["created"],
    );
    for s in &r.stale {
        stale.row(&s.token, &[s.created_at.map(when).unwrap_or_default()]);
    }
    vec![changed, missing, unmanaged, rotation, expiring, stale]
}

fn markdown_with(r: &DriftReport, tables: &[Table], max_rows: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{MARKDOWN_MARKER}");
    if r.drift_found {
        let _ = writeln!(out, "### tokenform drift: drift found");
    } else {
        let _ = writeln!(out, "### tokenform drift: no drift");
    }
    let _ = writeln!(
        out,
        "\nChecked {} · stale after {} · expiring within {}\n",
        when(r.checked_at),
        r.options.stale_after,
        r.options.expiring_within
    );
    let _ = writeln!(out, "| finding | count |\n| --- | ---: |");
    for (what, n) in [
        ("changed outside tokenform", r.changed.len()),
        ("missing (deleted outside tokenform)", r.missing.len()),
        ("unmanaged", r.unmanaged.len()),
        ("rotation due", r.rotation_due.len()),
        ("expiring or expired", r.expiring.len()),
        ("stale (informational)", r.stale.len()),
    ] {
        let _ = writeln!(out, "| {what} | {n} |");
    }
    for t in tables {
        t.write(&mut out, max_rows);
    }
    let hints = hints(r);
    if !hints.is_empty() {
        out.push('\n');
        for hint in hints {
            let _ = writeln!(out, "- {hint}");
        }
    }
    out
}

/// The report for a GitHub issue or pull-request comment, shortened (fewer rows per
/// table, with a note) to stay under [`MARKDOWN_LIMIT`] characters.
pub fn markdown(r: &DriftReport) -> String {
    let tables = tables(r);
    let mut max_rows = tables.iter().map(|t| t.rows.len()).max().unwrap_or(0);
    loop {
        let out = markdown_with(r, &tables, max_rows);
        if out.len() <= MARKDOWN_LIMIT || max_rows == 0 {
            return out;
        }
        max_rows /= 2;
    }
}

#[cfg(test)]
mod tests;
