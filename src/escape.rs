//! The one escaping of text that came from outside tokenform (token names, descriptions,
//! member emails and role keys from the API; file names from a configuration directory)
//! before a printer writes it to a terminal or a comment. Control characters (C0, DEL,
//! C1: ESC sequences, BEL, NUL, line breaks) and the Unicode bidirectional overrides
//! become visible escapes (`\u{1b}`, `\n`), so such text cannot move the cursor, clear
//! the screen, recolour, ring, split a line or reorder what a reviewer reads.
//!
//! Every printer (human, markdown, progress lines, errors) goes through [`text`] or
//! [`quoted`]; JSON output needs neither (serde escapes control characters itself).
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
    fn quoted_matches_debug_for_ordinary_text_and_escapes_the_rest() {
        for s in ["plain", "with \"quotes\" and \\", "tab\there", "line\nbreak", "ünïcode ✓", ""] {
            assert_eq!(quoted(s), format!("{s:?}"), "{s}");
        }
        let q = quoted(EVIL);
        assert!(!q.chars().any(is_unsafe), "{q}");
        assert!(q.starts_with("\"evil\\u{1b}[2J"), "{q}");
    }
}
