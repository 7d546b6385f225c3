//! Canonical layout of `*.hcl` files (`tokenform fmt`), in the style of `terraform fmt`:
//! two-space indentation by nesting, `key = value` spacing with the `=` of consecutive
//! one-line attributes aligned, single spaces in block headers, no trailing whitespace, at
//! most one blank line in a row, one final newline. Comments, strings and heredocs are kept
//! byte for byte. The file must parse first (hcl-edit), and the result is checked to mean
//! the same as the input. Pure: text in, text out.

/// Why a file cannot be formatted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("syntax error at line {line}, column {column}: {message}")]
    Syntax { message: String, line: usize, column: usize, offset: usize },
    /// A safety net: the formatter would have changed the file's meaning, so it did nothing.
    #[error("formatting would change the meaning of the file; it was left as it is")]
    Changed,
}

/// The canonical form of `text`.
pub fn format_source(text: &str) -> Result<String, FormatError> {
    let before = parse(text)?;
    let out = layout(text);
    match parse(&out) {
        Ok(after) if after == before => Ok(out),
        _ => Err(FormatError::Changed),
    }
}

fn parse(text: &str) -> Result<hcl::Body, FormatError> {
    hcl::edit::parser::parse_body(text).map(hcl::Body::from).map_err(|e| FormatError::Syntax {
        message: e.message().to_owned(),
        line: e.location().line(),
        column: e.location().column(),
        offset: e.location().offset(),
    })
}

#[derive(Debug, Clone, PartialEq)]
enum Mode {
    Str,
    /// Inside `${…}` / `%{…}` of a string: the count of unclosed `{`.
    Interp(usize),
    BlockComment,
}

/// One output line before alignment.
struct Line {
    /// Indentation level; `None` keeps the line verbatim (heredoc body, block comment).
    level: Option<usize>,
    text: String,
    /// `Some(key_len)` for `key = value` lines (the key is `text[..key_len]`).
    attr_key: Option<usize>,
    /// The trailing `#`/`//` comment of an attribute line, aligned separately.
    comment: Option<String>,
}

struct Lexer {
    modes: Vec<Mode>,
    depth: usize,
    /// Bracket depths at which an indentation level was opened.
    levels: Vec<usize>,
    /// Pending heredoc: (marker, the body is indented `<<-`).
    heredoc: Option<String>,
}

fn layout(text: &str) -> String {
    let mut lx = Lexer { modes: Vec::new(), depth: 0, levels: Vec::new(), heredoc: None };
    let mut lines: Vec<Line> = Vec::new();
    for raw in text.lines() {
        if let Some(marker) = &lx.heredoc {
            if raw.trim() == marker {
                lx.heredoc = None;
            }
            lines.push(Line { level: None, text: raw.to_owned(), attr_key: None, comment: None });
            continue;
        }
        if lx.modes.last() == Some(&Mode::BlockComment) {
            lx.scan(raw, false);
            lines.push(Line { level: None, text: raw.trim_end().to_owned(), attr_key: None, comment: None });
            continue;
        }
        let content = raw.trim();
        // Leading closers dedent this line.
        let mut lead = 0;
        for c in content.chars() {
            if matches!(c, '}' | ']' | ')') && lx.modes.is_empty() {
                lead += 1;
            } else {
                break;
            }
        }
        for _ in 0..lead {
            lx.close();
        }
        let level = lx.levels.len();
        let start_depth = lx.depth;
        let comment = lx.scan(&content[lead..], true).map(|p| p + lead);
        if lx.depth > start_depth {
            lx.levels.push(start_depth);
        }
        let (text, attr_key, comment) = normalize(content, comment);
        lines.push(Line { level: Some(level), text, attr_key, comment });
    }
    align(&mut lines);
    render(&lines)
}

impl Lexer {
    fn close(&mut self) {
        self.depth = self.depth.saturating_sub(1);
        while self.levels.last().is_some_and(|l| *l >= self.depth) {
            self.levels.pop();
        }
    }

    /// Follows strings, comments and brackets through one line; returns where a trailing
    /// `#`/`//` comment starts.
    fn scan(&mut self, line: &str, count: bool) -> Option<usize> {
        let b = line.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            let next = b.get(i + 1).copied();
            match self.modes.last().cloned() {
                Some(Mode::BlockComment) => {
                    if c == b'*' && next == Some(b'/') {
                        self.modes.pop();
                        i += 1;
                    }
                }
                Some(Mode::Str) => match c {
                    b'\\' => i += 1,
                    b'"' => {
                        self.modes.pop();
                    }
                    b'$' | b'%' if next == Some(b'$') || next == Some(b'%') => i += 1,
                    b'$' | b'%' if next == Some(b'{') => {
                        self.modes.push(Mode::Interp(0));
                        i += 1;
                    }
                    _ => {}
                },
                mode => {
                    let in_interp = matches!(mode, Some(Mode::Interp(_)));
                    match c {
                        b'#' => return Some(i),
                        b'/' if next == Some(b'/') => return Some(i),
                        b'/' if next == Some(b'*') => {
                            self.modes.push(Mode::BlockComment);
                            i += 1;
                        }
                        b'"' => self.modes.push(Mode::Str),
                        b'<' if next == Some(b'<') && !in_interp => {
                            let rest = line[i + 2..].trim_start_matches('-');
                            let marker: String =
                                rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                            if !marker.is_empty() {
                                self.heredoc = Some(marker);
                                return None;
                            }
                            i += 1;
                        }
                        b'{' if in_interp => {
                            if let Some(Mode::Interp(n)) = self.modes.last_mut() {
                                *n += 1;
                            }
                        }
                        b'}' if in_interp => {
                            if let Some(Mode::Interp(n)) = self.modes.last_mut() {
                                if *n == 0 {
                                    self.modes.pop();
                                } else {
                                    *n -= 1;
                                }
                            }
                        }
                        b'{' | b'[' | b'(' if count && !in_interp => self.depth += 1,
                        b'}' | b']' | b')' if count && !in_interp => self.close(),
                        _ => {}
                    }
                }
            }
            i += 1;
        }
        None
    }
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// `key   =  value  # c` → `key = value` and its comment; `block  "a"   {` → `block "a" {`.
fn normalize(content: &str, comment: Option<usize>) -> (String, Option<usize>, Option<String>) {
    let key_len = content.chars().take_while(|c| is_ident_char(*c)).count();
    if key_len > 0 && content.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') {
        let code = comment.map_or(content, |p| &content[..p]);
        let rest = code[key_len..].trim_start();
        if let Some(value) = rest.strip_prefix('=')
            && !value.starts_with('=')
            && !value.trim().is_empty()
        {
            let text = format!("{} = {}", &content[..key_len], value.trim());
            return (text, Some(key_len), comment.map(|p| content[p..].to_owned()));
        }
        if let Some(header) = block_header(content) {
            return (header, None, None);
        }
    }
    (content.to_owned(), None, None)
}

/// A block header line (`ident "label" ident {`), with single spaces; `None` otherwise.
fn block_header(content: &str) -> Option<String> {
    let body = content.strip_suffix('{')?;
    let mut parts = Vec::new();
    let mut rest = body.trim();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('"') {
            // A plain label: no escapes or templates, so the quote ends it.
            let end = r.find('"')?;
            if r[..end].contains(['\\', '$', '%']) {
                return None;
            }
            parts.push(format!("\"{}\"", &r[..end]));
            rest = r[end + 1..].trim_start();
        } else {
            let n = rest.chars().take_while(|c| is_ident_char(*c)).count();
            if n == 0 {
                return None;
            }
            parts.push(rest[..n].to_owned());
            rest = rest[n..].trim_start();
        }
    }
    parts.push("{".to_owned());
    Some(parts.join(" "))
}

/// Pads keys so the `=` of consecutive attribute lines at one level line up.
fn align(lines: &mut [Line]) {
    let mut i = 0;
    while i < lines.len() {
        let (Some(level), Some(_)) = (lines[i].level, lines[i].attr_key) else {
            i += 1;
            continue;
        };
        let mut j = i;
        while j < lines.len() && lines[j].level == Some(level) && lines[j].attr_key.is_some() {
            j += 1;
        }
        let width = lines[i..j].iter().filter_map(|l| l.attr_key).max().unwrap_or(0);
        for l in &mut lines[i..j] {
            if let Some(k) = l.attr_key {
                let (key, rest) = l.text.split_at(k);
                l.text = format!("{key}{}{rest}", " ".repeat(width - k));
            }
        }
        // Trailing comments of the group line up one space after the longest line.
        let code_width =
            lines[i..j].iter().filter(|l| l.comment.is_some()).map(|l| l.text.chars().count()).max();
        for l in &mut lines[i..j] {
            if let (Some(c), Some(w)) = (l.comment.take(), code_width) {
                let pad = w - l.text.chars().count();
                l.text = format!("{}{} {c}", l.text, " ".repeat(pad));
            }
        }
        i = j;
    }
}

fn render(lines: &[Line]) -> String {
    let mut out = String::new();
    let mut blank_run = 0;
    for l in lines {
        match l.level {
            None => {
                blank_run = 0;
                out.push_str(&l.text);
            }
            Some(_) if l.text.is_empty() => {
                blank_run += 1;
                if blank_run > 1 || out.is_empty() {
                    continue;
                }
            }
            Some(level) => {
                blank_run = 0;
                out.push_str(&"  ".repeat(level));
                out.push_str(&l.text);
            }
        }
        out.push('\n');
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    if out.trim().is_empty() {
        return String::new();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_layout() {
        let input = "\n\n# top comment\ntoken   \"a\"   {\nname=\"x\"   # trailing\n    description     =   \"longer\"\n\n\n\n  rotation {\n every = \"90d\"\n}\n  policy {\n    actions = [\n  \"a\",   # why\n        \"b\",\n    ]\n    effect = \"allow\"\n  }\n}   \n";
        let want = "# top comment\ntoken \"a\" {\n  name        = \"x\" # trailing\n  description = \"longer\"\n\n  rotation {\n    every = \"90d\"\n  }\n  policy {\n    actions = [\n      \"a\",   # why\n      \"b\",\n    ]\n    effect = \"allow\"\n  }\n}\n";
        assert_eq!(format_source(input).unwrap(), want);
    }

    #[test]
    fn idempotent_and_keeps_strings_and_heredocs() {
        let input = "locals {\n  s = \"a   =   b { [\"\n  t = \"${join(\",\", [\"x\"])}\"\n  h = <<-EOT\n      keep   this\n    EOT\n  m = {\n    a = 1\n    bb = 2\n  }\n}\n";
        let once = format_source(input).unwrap();
        assert_eq!(format_source(&once).unwrap(), once);
        assert!(once.contains("\"a   =   b { [\""));
        assert!(once.contains("      keep   this\n    EOT\n"));
        assert!(once.contains("    a  = 1\n    bb = 2\n"));
    }

    #[test]
    fn aligns_trailing_comments_of_a_group() {
        let input = "locals {\n  a = 1 # one\n  bbb = \"long\"    // two\n  c = \"# not a comment\"\n}\n";
        let want =
            "locals {\n  a   = 1      # one\n  bbb = \"long\" // two\n  c   = \"# not a comment\"\n}\n";
        assert_eq!(format_source(input).unwrap(), want);
    }

    #[test]
    fn refuses_invalid_input() {
        assert!(matches!(format_source("token \"a\" {"), Err(FormatError::Syntax { .. })));
    }
}
