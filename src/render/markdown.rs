//! The plan for pull-request comments (GitHub-flavoured markdown): a counts table, the
//! deletion warning first, drift, then a `<details>` section per action with a ```diff
//! block. The whole stays under [`MAX_CHARS`]: past the budget, sections are collapsed
//! into a one-line list, and a note says how many were cut.

use std::fmt::Write as _;

use crate::plan::model::{DriftKind, Plan};
use crate::render::plan_text::{self, Counts, Line, Shape, Sign};

/// GitHub refuses comments over 65,536 characters; stay well under it.
pub const MAX_CHARS: usize = 60_000;

/// Room kept for the closing note and the list of collapsed actions' lead-in.
const NOTE_RESERVE: usize = 600;

/// `&`, `<` and `>` as HTML entities: text from a token cannot open a tag; control
/// characters escaped ([`crate::escape::text`]): it cannot drive a terminal either.
pub(crate) fn escape(s: &str) -> String {
    crate::escape::text(s).replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A code fence longer than any backtick run in `body`.
fn fence(body: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in body.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    "`".repeat((longest + 1).max(3))
}

/// Lines in `diff` syntax: `+`/`-` first, a `~` change split into `-` old / `+` new,
/// nesting as indentation after the marker.
fn diff_body(lines: &[Line]) -> String {
    let mut out = String::new();
    for (l, width) in lines.iter().zip(plan_text::key_widths(lines)) {
        let note = l.note.map(|n| format!(" {n}")).unwrap_or_default();
        let indent = "    ".repeat(l.depth);
        let marker = match l.sign {
            Sign::Add => '+',
            Sign::Remove => '-',
            Sign::Change | Sign::Same => ' ',
        };
        match &l.shape {
            Shape::Attr { key, old: Some(old), new: Some(new) } if l.sign == Sign::Change => {
                let (old, new) = (crate::escape::text(old), crate::escape::text(new));
                let _ = writeln!(out, "- {indent}{key:<width$} = {old}");
                let _ = writeln!(out, "+ {indent}{key:<width$} = {new}{note}");
            }
            Shape::Attr { key, old: Some(old), new: None } => {
                let _ = writeln!(out, "- {indent}{key:<width$} = {}{note}", crate::escape::text(old));
            }
            Shape::Close { bracket, .. } => {
                let _ = writeln!(out, "{marker} {indent}{bracket}");
            }
            _ => {
                let _ = writeln!(out, "{marker} {indent}{}{note}", l.content(width));
            }
        }
    }
    out
}

fn details(summary: &str, lines: &[Line]) -> String {
    let body = diff_body(lines);
    let f = fence(&body);
    format!("<details><summary>{summary}</summary>\n\n{f}diff\n{body}{f}\n\n</details>\n\n")
}

/// The plan as a pull-request comment, at most [`MAX_CHARS`] characters.
pub fn plan(plan: &Plan) -> String {
    let mut head = String::from("## tokenform plan\n\n");
    let destroyed = plan_text::destroyed(plan);
    if !destroyed.is_empty() {
        let _ = writeln!(
            head,
            "> [!WARNING]\n> **This plan destroys {} token{}**; their secrets stop working at once:",
            destroyed.len(),
            if destroyed.len() == 1 { "" } else { "s" }
        );
        // The list of deletions is never collapsed, but it is bounded like the rest.
        let mut listed = 0;
        for d in &destroyed {
            if head.len() > MAX_CHARS / 4 {
                break;
            }
            let _ = writeln!(head, "> - `{}`", d.replace('`', "'"));
            listed += 1;
        }
        if listed < destroyed.len() {
            let _ = writeln!(head, "> - … and {} more", destroyed.len() - listed);
        }
        head.push('\n');
    }
    for w in &plan.warnings {
        let _ = writeln!(head, "> [!NOTE]\n> {}\n", escape(w));
    }
    for n in &plan.notes {
        let _ = writeln!(head, "- {}", escape(n));
    }
    if !plan.notes.is_empty() {
        head.push('\n');
    }
    if let Some((title, listed, more, hint)) = plan_text::unmanaged_section(plan) {
        let more = if more > 0 { format!(", … and {more} more") } else { String::new() };
        let _ = writeln!(
            head,
            "**Unmanaged:** {}\n{}{more}.\n{}\n",
            escape(&title),
            listed.iter().map(|t| escape(t)).collect::<Vec<_>>().join(", "),
            escape(hint)
        );
    }
    if let Some(summary) = plan_text::refresh_only_summary(plan) {
        let _ = writeln!(head, "**{}**\n", escape(&summary));
    } else if plan.actions.is_empty() {
        head.push_str(if plan.refresh_only {
            "**No changes.** The state matches the live tokens.\n\n"
        } else {
            "**No changes.** Tokens match the configuration.\n\n"
        });
    } else {
        head.push_str("| action | count |\n| --- | ---: |\n");
        for (label, n) in Counts::of(plan).entries() {
            let _ = writeln!(head, "| {label} | {n} |");
        }
        head.push('\n');
    }

    let mut sections: Vec<(String, String)> = Vec::new(); // (full section, one-line form)
    for entry in &plan.drift {
        let summary = format!("⚠️ {} outside tokenform", escape(&plan_text::drift_heading(entry)));
        let lines: Vec<Line> = match entry.kind {
            DriftKind::Changed => plan_text::all_diffs_lines(&entry.fields),
            DriftKind::Missing => vec![Line::removed("id", crate::escape::quoted(&entry.token_id))],
        };
        sections
            .push((details(&summary, &lines), format!("- {}\n", escape(&plan_text::drift_heading(entry)))));
    }
    for a in &plan.actions {
        let mut summary =
            format!("<code>{}</code> {}", escape(plan_text::symbol(a)), escape(&plan_text::heading(a)));
        if let Some(r) = plan_text::reason(a) {
            let _ = write!(summary, " <em>({})</em>", escape(r));
        }
        let short =
            format!("- `{}` {}\n", plan_text::symbol(a), escape(&plan_text::heading(a)).replace('`', "'"));
        sections.push((details(&summary, &plan_text::action_lines(a)), short));
    }
    render_within_budget(head, &sections)
}

/// Full sections while they fit, then one-line entries, then a count of what was left out.
fn render_within_budget(mut out: String, sections: &[(String, String)]) -> String {
    let total = sections.len();
    let mut full = 0;
    for (section, _) in sections {
        if out.len() + section.len() + NOTE_RESERVE > MAX_CHARS {
            break;
        }
        out.push_str(section);
        full += 1;
    }
    if full == total {
        return out;
    }
    let mut listed = full;
    let mut list = String::new();
    for (_, short) in &sections[full..] {
        if out.len() + list.len() + short.len() + NOTE_RESERVE > MAX_CHARS {
            break;
        }
        list.push_str(short);
        listed += 1;
    }
    let _ = write!(
        out,
        "> [!NOTE]\n> Shortened to fit a pull-request comment ({MAX_CHARS} characters): the diffs of {} of {total} \
         sections are not shown{}. Run `tokenform plan` for the full plan.\n\n",
        total - full,
        if listed < total {
            format!(", and {} of them are not listed", total - listed)
        } else {
            String::new()
        },
    );
    out.push_str(&list);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_outgrow_backticks() {
        assert_eq!(fence("a"), "```");
        assert_eq!(fence("a ```` b"), "`````");
    }

    #[test]
    fn changes_split_into_minus_and_plus() {
        let lines = vec![Line::change("role", "\"a\"".into(), "\"b\"".into())];
        assert_eq!(diff_body(&lines), "- role = \"a\"\n+ role = \"b\"\n");
    }
}
