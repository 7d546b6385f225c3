//! The one escaping of text that came from outside tokenform (token names, descriptions,
//! member emails and role keys from the API; file names from a configuration directory)
//! before a printer writes it to a terminal or a comment. Control characters (C0, DEL,
//! C1: ESC sequences, BEL, NUL, line breaks) and the Unicode bidirectional overrides
//! become visible escapes (`\u{1b}`, `\n`), so such text cannot move the cursor, clear
//! the screen, recolour, ring, split a line or reorder what a reviewer reads.
//!
//! Every printer (human, markdown, progress lines, errors) goes through [`text`] or
//! [`quoted`]; JSON output needs neither (serde escapes control characters itself).
//! Errors that quote what a server or a file said use [`excerpt`] (redacted, cut short).
//! Pure: no I/O.

use std::borrow::Cow;
use std::fmt::Write as _;

/// True for a character that must not reach a terminal raw.
fn is_unsafe(c: char) -> bool {
    // U+202A..U+202E (embeddings, overrides) and U+2066..U+2069 (isolates): "Trojan source".
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c => {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        }
    }
}

/// `s` with every control character (and bidi override) written as an escape; borrowed
/// when there is none, which is nearly always.
pub fn text(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `s` in double quotes, `"` and `\` backslash-escaped and control characters escaped as
/// by [`text`]: `"evil\u{1b}[2J"`. The same as Rust's `{:?}` for ordinary text.
pub fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if is_unsafe(c) => push_escaped(&mut out, c),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The most characters of foreign text (a server's message, a parser's complaint about a
/// file) an error quotes.
pub const EXCERPT_CHARS: usize = 240;

/// Text from a server or a file quoted inside an error message (a JSON parser's `unknown
/// variant …`, a server's `message`): LaunchDarkly-shaped secrets redacted, cut to
/// [`EXCERPT_CHARS`] characters, control characters escaped as by [`text`].
pub fn excerpt(s: &str) -> String {
    let redacted = crate::secret::redact_secrets(s);
    let mut cut: String = redacted.chars().take(EXCERPT_CHARS).collect();
    if redacted.chars().nth(EXCERPT_CHARS).is_some() {
        cut.push('…');
    }
    text(&cut).into_owned()
}

/// JSON text (serde's output) with the characters serde leaves raw inside strings (DEL,
/// C1 controls, bidi overrides) written as `\uXXXX` escapes: the same JSON value, safe on a
/// terminal. serde already escapes C0 controls, and outside strings its output is ASCII.
pub fn json(s: String) -> String {
    // Below DEL only C0 is unsafe, which serde escapes (raw line breaks are layout).
    if !s.chars().any(|c| is_unsafe(c) && u32::from(c) >= 0x7f) {
        return s;
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if is_unsafe(c) && u32::from(c) >= 0x7f {
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVIL: &str = "evil\u{1b}[2J\u{1b}[31mRED\u{7}\0\r\n\u{9b}2J\u{202e}";

    #[test]
    fn control_characters_become_visible_escapes() {
        let shown = text(EVIL);
        assert_eq!(shown, "evil\\u{1b}[2J\\u{1b}[31mRED\\u{7}\\u{0}\\r\\n\\u{9b}2J\\u{202e}");
        assert!(!shown.chars().any(is_unsafe));
        assert!(matches!(text("café – ok"), Cow::Borrowed("café – ok")));
    }

    #[test]
    fn json_keeps_the_value_and_escapes_what_serde_leaves_raw() {
        let raw = serde_json::to_string_pretty(&serde_json::json!({"name": EVIL, "del": "\u{7f}"})).unwrap();
        let safe = json(raw);
        assert!(!safe.chars().any(|c| is_unsafe(c) && c != '\n'), "{safe}");
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back["name"], EVIL);
        assert_eq!(back["del"], "\u{7f}");
    }

    #[test]
    fn excerpts_are_redacted_cut_and_escaped() {
        let long =
            format!("unknown variant `{EVIL}api-0a1b2c3d-0000-4000-8000-00000000beef{}`", "x".repeat(500));
        let shown = excerpt(&long);
        assert!(!shown.chars().any(is_unsafe), "{shown}");
        assert!(shown.contains("evil\\u{1b}[2J") && shown.contains("api-<redacted>"), "{shown}");
        assert!(!shown.contains("beef"), "{shown}");
        assert!(shown.ends_with('…') && shown.chars().count() < EXCERPT_CHARS + 64, "{shown}");
        assert_eq!(excerpt("expected value"), "expected value");
    }

    #[test]
    fn quoted_matches_debug_for_ordinary_text_and_escapes_the_rest() {
        for s in ["plain", "with \"quotes\" and \\", "tab\there", "line\nbreak", "ünïcode ✓", ""] {
            assert_eq!(quoted(s), format!("{s:?}"), "{s}");
        }
        let q = quoted(EVIL);
        assert!(!q.chars().any(is_unsafe), "{q}");
        assert!(q.starts_with("\"evil\\u{1b}[2J"), "{q}");
    }
}
