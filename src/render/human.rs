//! The plan for people, after Terraform: drift first, a deletion warning, a legend of the
//! symbols in use, one block per action with attribute-level `+`/`~`/`-` lines, the
//! summary line and the warnings. ANSI colour only when the caller asks for it.
//!
//! Symbols: `+` create, `~` update in-place, `-/+` destroy then create (`+/-` with
//! create_before_destroy), `@` rotate, `-` destroy (delete and retire), `<=` import,
//! `.` forget. See [`plan_text::symbol`] for why those three were chosen.

use std::fmt::Write as _;

use crate::plan::model::{DriftKind, Plan};
use crate::render::plan_text::{self, Counts, Line, Shape, Sign};

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const CYAN: &str = "\x1b[36m";

struct Painter {
    color: bool,
}

impl Painter {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color { format!("{code}{s}{RESET}") } else { s.to_owned() }
    }

    fn symbol(&self, sym: &str) -> String {
        let code = match sym {
            "+" => GREEN,
            "-" => RED,
            "~" => YELLOW,
            "@" | "<=" | "." => CYAN,
            "-/+" | "+/-" => {
                // Two colours, as Terraform does.
                return if self.color {
                    sym.chars()
                        .map(|c| match c {
                            '+' => self.paint(GREEN, "+"),
                            '-' => self.paint(RED, "-"),
                            other => other.to_string(),
                        })
                        .collect()
                } else {
                    sym.to_owned()
                };
            }
            _ => return sym.to_owned(),
        };
        self.paint(code, sym)
    }

    fn sign(&self, sign: Sign) -> String {
        self.symbol(sign.symbol())
    }
}

/// Writes one token block: `  # heading`, optional reason, `SYM header {`, lines, `}`.
fn block(
    out: &mut String,
    p: &Painter,
    heading: &str,
    reason: Option<&str>,
    sym: &str,
    header: &str,
    lines: &[Line],
) {
    // Headings and headers name unmanaged tokens by their live names: escaped.
    let (heading, header) = (crate::escape::text(heading), crate::escape::text(header));
    let _ = writeln!(out, "  {}", p.paint(BOLD, &format!("# {heading}")));
    if let Some(r) = reason {
        let _ = writeln!(out, "  # ({r})");
    }
    // Symbols are right-aligned in a 3-column gutter, as in Terraform.
    let _ =
        writeln!(out, "{:>pad$}{} {header} {{", "", p.symbol(sym), pad = 5usize.saturating_sub(sym.len()));
    for (l, width) in lines.iter().zip(plan_text::key_widths(lines)) {
        let note = l.note.map(|n| format!(" {}", p.paint(RED, n))).unwrap_or_default();
        let indent = "    ".repeat(l.depth);
        // Closing brackets and comments have no sign, as in Terraform.
        let sign = match l.shape {
            Shape::Close { .. } | Shape::Comment { .. } => " ".to_owned(),
            _ => p.sign(l.sign),
        };
        let _ = writeln!(out, "      {indent}{sign} {}{note}", l.content(width));
    }
    let _ = writeln!(out, "    }}");
    out.push('\n');
}

fn drift_section(out: &mut String, p: &Painter, plan: &Plan) {
    if plan.drift.is_empty() {
        return;
    }
    let _ = writeln!(out, "{}", p.paint(BOLD, "Note: Tokens have changed outside of tokenform"));
    out.push('\n');
    out.push_str("tokenform compared the state with the live tokens and found these changes:\n\n");
    for entry in &plan.drift {
        let header = entry.address.to_string();
        let heading = plan_text::drift_heading(entry);
        match entry.kind {
            DriftKind::Changed => {
                let lines = plan_text::all_diffs_lines(&entry.fields);
                block(out, p, &heading, None, "~", &header, &lines);
            }
            DriftKind::Missing => {
                let lines = [Line::removed("id", crate::escape::quoted(&entry.token_id))];
                block(out, p, &heading, None, "-", &header, &lines);
            }
        }
    }
    if plan.refresh_only {
        out.push_str(
            "This is a refresh-only plan: applying it records these values in the state and changes no token.\n\n",
        );
    } else {
        out.push_str("Unless ignore_changes covers a field, the actions below undo these changes.\n\n");
    }
}

/// The plan in Terraform's style. `color` adds ANSI colours (the command decides: tty,
/// `--no-color`, `NO_COLOR`).
pub fn plan(plan: &Plan, color: bool) -> String {
    let p = Painter { color };
    let mut out = String::new();
    // Deletions are announced before anything else: the one thing a reviewer must not miss.
    let destroyed = plan_text::destroyed(plan);
    if !destroyed.is_empty() {
        let noun = if destroyed.len() == 1 { "token" } else { "tokens" };
        let _ = writeln!(
            out,
            "{} this plan destroys {} {noun}; their secrets stop working at once:",
            p.paint(&format!("{BOLD}{RED}"), "Warning:"),
            destroyed.len()
        );
        for d in &destroyed {
            let _ = writeln!(out, "  - {}", crate::escape::text(d));
        }
        out.push('\n');
    }
    drift_section(&mut out, &p, plan);
    if let Some(summary) = plan_text::refresh_only_summary(plan) {
        let _ = writeln!(out, "{}", p.paint(BOLD, &summary));
        warnings(&mut out, &p, plan);
        return out;
    }
    if plan.actions.is_empty() {
        let msg = if plan.refresh_only {
            "No changes. The state matches the live tokens."
        } else {
            "No changes. Tokens match the configuration."
        };
        let _ = writeln!(out, "{}", p.paint(&format!("{BOLD}{GREEN}"), msg));
        warnings(&mut out, &p, plan);
        return out;
    }
    out.push_str("tokenform used the configuration, the state and the live tokens to make this plan.\n");
    out.push_str("Actions are indicated with the following symbols:\n");
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for a in &plan.actions {
        let entry = (plan_text::symbol(a), plan_text::legend(a));
        if !seen.contains(&entry) {
            seen.push(entry);
        }
    }
    for (sym, text) in &seen {
        let _ = writeln!(out, "{:>pad$}{} {text}", "", p.symbol(sym), pad = 5usize.saturating_sub(sym.len()));
    }
    out.push('\n');
    out.push_str("tokenform will perform the following actions:\n\n");
    for a in &plan.actions {
        let header = match &a.address {
            Some(addr) => addr.to_string(),
            None => format!("unmanaged {}", crate::escape::quoted(&a.name)),
        };
        block(
            &mut out,
            &p,
            &plan_text::heading(a),
            plan_text::reason(a),
            plan_text::symbol(a),
            &header,
            &plan_text::action_lines(a),
        );
    }
    let _ = writeln!(out, "{}", p.paint(BOLD, &Counts::of(plan).summary()));
    warnings(&mut out, &p, plan);
    out
}

/// The unmanaged tokens' short section, warnings, then notes (none changes anything).
fn warnings(out: &mut String, p: &Painter, plan: &Plan) {
    if let Some((title, listed, more, hint)) = plan_text::unmanaged_section(plan) {
        let _ = writeln!(out, "\n{} {title}", p.paint(BOLD, "Unmanaged:"));
        for t in &listed {
            let _ = writeln!(out, "  ? {t}");
        }
        if more > 0 {
            let _ = writeln!(out, "  … and {more} more");
        }
        let _ = writeln!(out, "{hint}");
    }
    for w in &plan.warnings {
        let _ =
            writeln!(out, "\n{} {}", p.paint(&format!("{BOLD}{YELLOW}"), "Warning:"), crate::escape::text(w));
    }
    for n in &plan.notes {
        let _ = writeln!(out, "\n{} {}", p.paint(BOLD, "Note:"), crate::escape::text(n));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_plans_say_so() {
        let plan = crate::plan::fixtures::World::new().plan();
        assert_eq!(super::plan(&plan, false), "No changes. Tokens match the configuration.\n");
        assert!(super::plan(&plan, true).contains("\x1b["));
    }

    #[test]
    fn cyan_is_for_rotate_import_forget() {
        let p = Painter { color: true };
        assert!(p.symbol("@").starts_with(CYAN));
        assert_eq!(Painter { color: false }.symbol("-/+"), "-/+");
    }
}
