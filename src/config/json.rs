//! A small JSON reader that keeps byte spans, for `*.hcl.json` files. Strings are decoded
//! here; the caller then reads them as HCL templates (as Terraform does for `*.tf.json`).
//! Pure: no I/O.

use std::ops::Range;

/// A JSON value with the byte span it was read from.
#[derive(Debug, Clone)]
pub(super) struct Json {
    pub kind: Kind,
    pub span: Range<usize>,
}

#[derive(Debug, Clone)]
pub(super) enum Kind {
    Null,
    Bool(bool),
    /// The number as written.
    Number(String),
    String(String),
    Array(Vec<Json>),
    /// Members in order: key, key span, value.
    Object(Vec<(String, Range<usize>, Json)>),
}

/// Where and why the text is not JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct JsonError {
    pub offset: usize,
    pub message: String,
}

/// Nesting limit, so hostile input cannot overflow the stack.
const MAX_DEPTH: usize = 128;

struct Reader<'a> {
    text: &'a str,
    pos: usize,
}

/// Parses a whole JSON document.
pub(super) fn parse(text: &str) -> Result<Json, JsonError> {
    let mut r = Reader { text, pos: 0 };
    let v = r.value(0)?;
    r.ws();
    if r.pos < text.len() {
        return Err(r.err("trailing characters after the JSON value"));
    }
    Ok(v)
}

impl Reader<'_> {
    fn err(&self, message: &str) -> JsonError {
        JsonError { offset: self.pos, message: message.to_owned() }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: u8, what: &str) -> Result<(), JsonError> {
        self.ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(&format!("expected {what}")))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nested too deeply"));
        }
        self.ws();
        let start = self.pos;
        let kind = match self.peek() {
            Some(b'{') => self.object(depth)?,
            Some(b'[') => self.array(depth)?,
            Some(b'"') => Kind::String(self.string()?),
            Some(b't') => self.word("true", Kind::Bool(true))?,
            Some(b'f') => self.word("false", Kind::Bool(false))?,
            Some(b'n') => self.word("null", Kind::Null)?,
            Some(b'-' | b'0'..=b'9') => self.number()?,
            Some(_) => return Err(self.err("expected a JSON value")),
            None => return Err(self.err("unexpected end of file")),
        };
        Ok(Json { kind, span: start..self.pos })
    }

    fn word(&mut self, w: &str, k: Kind) -> Result<Kind, JsonError> {
        if self.text[self.pos..].starts_with(w) {
            self.pos += w.len();
            Ok(k)
        } else {
            Err(self.err("expected a JSON value"))
        }
    }

    fn number(&mut self) -> Result<Kind, JsonError> {
        let start = self.pos;
        while matches!(self.peek(), Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')) {
            self.pos += 1;
        }
        let s = &self.text[start..self.pos];
        if s.parse::<f64>().is_err() {
            self.pos = start;
            return Err(self.err("invalid number"));
        }
        Ok(Kind::Number(s.to_owned()))
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.pos += 1; // opening quote
        let mut out = String::new();
        loop {
            let rest = &self.text[self.pos..];
            let Some(c) = rest.chars().next() else { return Err(self.err("unterminated string")) };
            match c {
                '"' => {
                    self.pos += 1;
                    return Ok(out);
                }
                '\\' => {
                    self.pos += 1;
                    let e = self.peek().ok_or_else(|| self.err("unterminated string"))?;
                    self.pos += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => out.push(self.unicode()?),
                        _ => {
                            self.pos -= 1;
                            return Err(self.err("invalid escape"));
                        }
                    }
                }
                c if (c as u32) < 0x20 => return Err(self.err("control character in string")),
                c => {
                    out.push(c);
                    self.pos += c.len_utf8();
                }
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let h = self.text.get(self.pos..self.pos + 4).ok_or_else(|| self.err("invalid \\u escape"))?;
        let n = u32::from_str_radix(h, 16).map_err(|_| self.err("invalid \\u escape"))?;
        self.pos += 4;
        Ok(n)
    }

    fn unicode(&mut self) -> Result<char, JsonError> {
        let hi = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&hi) {
            if !self.text[self.pos..].starts_with("\\u") {
                return Err(self.err("unpaired surrogate"));
            }
            self.pos += 2;
            let lo = self.hex4()?;
            if !(0xDC00..0xE000).contains(&lo) {
                return Err(self.err("unpaired surrogate"));
            }
            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
        } else {
            hi
        };
        char::from_u32(code).ok_or_else(|| self.err("invalid \\u escape"))
    }

    fn array(&mut self, depth: usize) -> Result<Kind, JsonError> {
        self.pos += 1;
        let mut items = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Kind::Array(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Kind::Array(items));
                }
                _ => return Err(self.err("expected , or ]")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Kind, JsonError> {
        self.pos += 1;
        let mut members = Vec::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Kind::Object(members));
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.err("expected a string key"));
            }
            let start = self.pos;
            let key = self.string()?;
            let key_span = start..self.pos;
            self.eat(b':', ":")?;
            let v = self.value(depth + 1)?;
            members.push((key, key_span, v));
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Kind::Object(members));
                }
                _ => return Err(self.err("expected , or }")),
            }
        }
    }
}

/// HCL source text for a JSON value: strings become quoted HCL templates (so `${…}` is
/// evaluated), everything else keeps its JSON shape.
pub(super) fn to_hcl(v: &Json) -> String {
    let mut out = String::new();
    write_hcl(v, &mut out);
    out
}

fn write_hcl(v: &Json, out: &mut String) {
    match &v.kind {
        Kind::Null => out.push_str("null"),
        Kind::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Kind::Number(n) => out.push_str(n),
        Kind::String(s) => quote(s, out),
        Kind::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_hcl(item, out);
            }
            out.push(']');
        }
        Kind::Object(members) => {
            out.push('{');
            for (i, (k, _, item)) in members.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                // Keys are literal strings: escape template markers.
                quote(&k.replace("${", "$${").replace("%{", "%%{"), out);
                out.push_str(" = ");
                write_hcl(item, out);
            }
            out.push('}');
        }
    }
}

/// An HCL quoted string whose `${…}` parts stay templates: quotes and backslashes are
/// escaped only outside interpolations.
fn quote(s: &str, out: &mut String) {
    out.push('"');
    let mut depth = 0usize;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' | '%' if depth == 0 && chars.peek() == Some(&'{') => {
                out.push(c);
                out.push('{');
                chars.next();
                depth = 1;
            }
            '{' if depth > 0 => {
                depth += 1;
                out.push(c);
            }
            '}' if depth > 0 => {
                depth -= 1;
                out.push(c);
            }
            _ if depth > 0 => out.push(c),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = std::fmt::Write::write_fmt(out, format_args!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_with_spans() {
        let text = r#"{"a": [1, true, null], "b": "x\"y"}"#;
        let v = parse(text).unwrap();
        let Kind::Object(m) = &v.kind else { panic!() };
        assert_eq!(&text[m[0].1.clone()], "\"a\"");
        assert_eq!(&text[m[1].2.span.clone()], r#""x\"y""#);
        assert_eq!(to_hcl(&m[1].2), r#""x\"y""#);
    }

    #[test]
    fn interpolations_keep_inner_quotes() {
        let v = parse(r#""${toset([\"a\"])}-x\"""#).unwrap();
        assert_eq!(to_hcl(&v), r#""${toset(["a"])}-x\"""#);
    }

    #[test]
    fn rejects_bad_json() {
        for bad in ["{", "[1,]", "{\"a\" 1}", "\"\\q\"", "tru", "{} x", "\"\u{1}\"", &"[".repeat(1000)] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
