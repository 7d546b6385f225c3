//! Reading a config directory and parsing its files, with byte spans, into one syntax tree
//! shared by both syntaxes: native HCL (`*.hcl`, via hcl-edit) and JSON (`*.hcl.json`, mapped
//! onto the same blocks and attributes through the schema). Only this module reads config
//! files; it evaluates nothing.

use std::ops::Range;
use std::path::Path;

use hcl::edit::expr::Expression as EditExpr;
use hcl::edit::structure::{BlockLabel, Body as EditBody, Structure};
use hcl::edit::template::Element;
use sha2::{Digest as _, Sha256};

use super::diagnostics::{Problem, Rule, Sink, SourceFile};
use super::json::{self, Json, Kind};
use super::schema::{self, BlockSchema};

/// One parsed file.
#[derive(Debug)]
pub struct File {
    pub src: SourceFile,
    pub body: Body,
}

/// The attributes and blocks of one body, in source order.
#[derive(Debug, Default)]
pub struct Body {
    pub attrs: Vec<Attr>,
    pub blocks: Vec<Block>,
}

/// `key = value`.
#[derive(Debug)]
pub struct Attr {
    pub key: String,
    pub key_span: Range<usize>,
    /// The value with its spans (for reference checks and labels).
    pub value: EditExpr,
    pub span: Range<usize>,
    /// Index into the file list.
    pub file: usize,
    /// Spans inside `value` are not file positions (JSON syntax): label `span` instead.
    pub coarse: bool,
}

/// A block label and where it is.
#[derive(Debug, Clone)]
pub struct Label {
    pub value: String,
    pub span: Range<usize>,
}

/// `ident "label" { body }`.
#[derive(Debug)]
pub struct Block {
    pub ident: String,
    pub ident_span: Range<usize>,
    pub labels: Vec<Label>,
    pub body: Body,
    /// The whole block (used when an attribute is missing).
    pub span: Range<usize>,
    pub file: usize,
}

/// Every configuration file of a directory, read and parsed.
#[derive(Debug, Default)]
pub struct Parsed {
    pub files: Vec<File>,
    /// sha256 hex over each file's name and bytes, in name order.
    pub digest: String,
}

/// True for a file name tokenform reads as configuration.
#[allow(clippy::case_sensitive_file_extension_comparisons)] // like terraform: lowercase names only
pub fn is_config_file(name: &str) -> bool {
    name.ends_with(".hcl") || name.ends_with(".hcl.json")
}

/// The config file names of `dir`, sorted; problems for a missing or unreadable dir.
pub fn list_files(dir: &Path, sink: &mut Sink) -> Vec<String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            let what = if dir.exists() {
                format!("cannot read {}: {e}", dir.display())
            } else {
                format!("the directory {} does not exist", dir.display())
            };
            sink.push(
                Problem::new(Rule::DirNotFound, what)
                    .with_help("pass the configuration directory with -C DIR"),
            );
            return Vec::new();
        }
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| is_config_file(n) && !n.starts_with('.'))
        .collect();
    names.sort();
    if names.is_empty() {
        sink.push(
            Problem::new(Rule::NoConfigFiles, format!("no *.hcl or *.hcl.json files in {}", dir.display()))
                .with_help("write one (`tokenform init` writes a starter main.hcl) or pass another directory with -C DIR"),
        );
    }
    names
}

/// Reads and parses every config file of `dir`.
pub fn parse_dir(dir: &Path, sink: &mut Sink) -> Parsed {
    let names = list_files(dir, sink);
    let mut hasher = Sha256::new();
    let mut files = Vec::new();
    for name in names {
        // A configuration file may be a link, but not to outside the directory (a
        // `main.hcl -> /proc/self/environ` would be quoted back in its syntax errors).
        let read =
            crate::files::confine(dir, &name).map_err(|e| format!("cannot read {e}")).and_then(|path| {
                crate::files::read(&path, crate::files::Kind::Config).map_err(|e| e.to_string())
            });
        let bytes = match read {
            Ok(b) => b,
            Err(message) => {
                sink.push(Problem::new(Rule::ReadError, message));
                continue;
            }
        };
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(bytes.len().to_string().as_bytes());
        hasher.update([0]);
        hasher.update(&bytes);
        let index = files.len();
        if let Some(file) = parse_file(&name, &bytes, index, sink) {
            files.push(file);
        } else {
            // Keep indices aligned with `files`: a file that failed still has no body.
            files.push(File {
                src: SourceFile::new(&name, &String::from_utf8_lossy(&bytes)),
                body: Body::default(),
            });
        }
    }
    let digest = hasher.finalize().iter().fold(String::new(), |mut s, b| {
        let _ = std::fmt::Write::write_fmt(&mut s, format_args!("{b:02x}"));
        s
    });
    Parsed { files, digest }
}

/// Parses one file's bytes; `None` (with a problem) when it is not UTF-8 or not valid syntax.
pub fn parse_file(name: &str, bytes: &[u8], index: usize, sink: &mut Sink) -> Option<File> {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let lossy = String::from_utf8_lossy(bytes);
            let src = SourceFile::new(name, &lossy);
            let at = e.valid_up_to();
            sink.push(
                Problem::at(
                    Rule::InvalidUtf8,
                    format!("{name} is not valid UTF-8"),
                    &src,
                    at..at + 3,
                    "this byte is not UTF-8",
                )
                .with_help("configuration files must be UTF-8 text"),
            );
            return None;
        }
    };
    let src = SourceFile::new(name, text);
    scan_secrets(&src, text, sink);
    let body = if name.ends_with(".hcl.json") {
        parse_json(text, index, &src, sink)?
    } else {
        parse_hcl(text, index, &src, sink)?
    };
    Some(File { src, body })
}

/// A JSON var file: one object of `name: value` attributes (strings are templates).
pub fn parse_json_attrs(name: &str, text: &str, sink: &mut Sink) -> Option<File> {
    let src = SourceFile::new(name, text);
    scan_secrets(&src, text, sink);
    let doc = match json::parse(text) {
        Ok(d) => d,
        Err(e) => {
            sink.push(syntax_problem(&src, text, e.offset, &e.message));
            return None;
        }
    };
    let Kind::Object(members) = &doc.kind else {
        sink.push(Problem::at(
            Rule::BadVarFile,
            format!("{name} must hold a JSON object of variable values"),
            &src,
            doc.span.clone(),
            "expected an object",
        ));
        return None;
    };
    let mut body = Body::default();
    for (key, key_span, v) in members {
        match hcl::edit::parser::parse_expr(&json::to_hcl(v)) {
            Ok(expr) => body.attrs.push(Attr {
                key: key.clone(),
                key_span: key_span.clone(),
                value: unwrap_single_interpolation(expr),
                span: v.span.clone(),
                file: 0,
                coarse: true,
            }),
            Err(e) => sink.push(Problem::at(
                Rule::Syntax,
                format!("`{key}` is not a valid expression: {}", e.message()),
                &src,
                v.span.clone(),
                "invalid template",
            )),
        }
    }
    Some(File { src, body })
}

/// Every secret-shaped literal in a file's raw text is an error.
pub fn scan_secrets(src: &SourceFile, text: &str, sink: &mut Sink) {
    let mut from = 0;
    while let Some(at) = crate::secret::find_secret(&text[from..]) {
        let start = from + at;
        sink.push(
            Problem::at(Rule::SecretInConfig, "this looks like a LaunchDarkly access token secret", src, start..start + 40, "secret-shaped value")
                .with_help("secrets never live in configuration: tokenform creates tokens and keeps their secrets encrypted in state; revoke this one if it is real"),
        );
        from = start + 40;
    }
}

fn syntax_problem(src: &SourceFile, text: &str, offset: usize, message: &str) -> Problem {
    let mut end = (offset + 1).min(text.len());
    while end < text.len() && !text.is_char_boundary(end) {
        end += 1;
    }
    let mut start = offset.min(text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    Problem::at(
        Rule::Syntax,
        format!("syntax error in {}: {message}", src.name),
        src,
        start..end,
        message.to_owned(),
    )
}

fn parse_hcl(text: &str, index: usize, src: &SourceFile, sink: &mut Sink) -> Option<Body> {
    match hcl::edit::parser::parse_body(text) {
        Ok(body) => Some(convert_body(&body, index)),
        Err(e) => {
            let mut p = syntax_problem(src, text, e.location().offset(), e.message());
            if e.message().contains("redefined attribute") {
                p.rule = Rule::DuplicateAttribute;
                p.message = format!("an attribute is set twice in {}", src.name);
                p.label = Some("set again here".into());
                p = p.with_help("remove one of them");
            } else if let Some(at) = unterminated_string(text) {
                p = syntax_problem(src, text, at, "unterminated string");
                p = p.with_help(
                    "close the string with \" on the same line (use a heredoc <<EOT … EOT for several lines)",
                );
            } else if one_line_block(text, e.location().offset()) {
                p = p.with_help("a block written on one line may hold only one attribute; put each attribute on its own line");
            }
            sink.push(p);
            None
        }
    }
}

/// Offset of the opening quote of the first string that does not end on its line.
fn unterminated_string(text: &str) -> Option<usize> {
    let mut offset = 0;
    let mut heredoc: Option<String> = None;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        if let Some(m) = &heredoc {
            if line.trim() == m {
                heredoc = None;
            }
            continue;
        }
        let b = line.as_bytes();
        let (mut i, mut open, mut interp) = (0, None, 0usize);
        while i < b.len() {
            match (open, b[i]) {
                (None, b'#') => break,
                (None, b'/') if b.get(i + 1) == Some(&b'/') => break,
                (None, b'<') if b.get(i + 1) == Some(&b'<') => {
                    let m: String = line[i + 2..]
                        .trim_start_matches('-')
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if !m.is_empty() {
                        heredoc = Some(m);
                    }
                    break;
                }
                (None, b'"') => open = Some(start + i),
                (Some(_), b'\\') => i += 1,
                (Some(_), b'{') if interp > 0 || (i > 0 && b[i - 1] == b'$') => interp += 1,
                (Some(_), b'}') if interp > 0 => interp -= 1,
                (Some(_), b'"') if interp == 0 => open = None,
                _ => {}
            }
            i += 1;
        }
        if open.is_some() {
            return open;
        }
    }
    None
}

/// True when the line of `offset` holds a block opened and closed with two attributes in it.
fn one_line_block(text: &str, offset: usize) -> bool {
    let start = text[..offset.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next().unwrap_or("");
    line.contains('{') && line.contains('}') && line.matches('=').count() >= 2
}

fn span_of(s: &impl hcl::edit::Span) -> Range<usize> {
    s.span().unwrap_or(0..0)
}

fn convert_body(body: &EditBody, file: usize) -> Body {
    let mut out = Body::default();
    for s in body {
        match s {
            Structure::Attribute(a) => out.attrs.push(Attr {
                key: a.key.as_str().to_owned(),
                key_span: span_of(&a.key),
                value: unwrap_single_interpolation(a.value.clone()),
                span: span_of(&a.value),
                file,
                coarse: false,
            }),
            Structure::Block(b) => out.blocks.push(Block {
                ident: b.ident.as_str().to_owned(),
                ident_span: span_of(&b.ident),
                labels: b
                    .labels
                    .iter()
                    .map(|l| Label {
                        value: l.as_str().to_owned(),
                        span: match l {
                            BlockLabel::Ident(i) => span_of(i),
                            BlockLabel::String(s) => span_of(s),
                        },
                    })
                    .collect(),
                body: convert_body(&b.body, file),
                span: span_of(b),
                file,
            }),
        }
    }
    out
}

/// `"${expr}"` is `expr` itself (keeps its type), as in Terraform.
fn unwrap_single_interpolation(expr: EditExpr) -> EditExpr {
    if let EditExpr::StringTemplate(t) = &expr
        && let Some(Element::Interpolation(i)) = t.as_single_element()
    {
        return i.expr.clone();
    }
    expr
}

// ---- JSON syntax -------------------------------------------------------------------------

fn parse_json(text: &str, index: usize, src: &SourceFile, sink: &mut Sink) -> Option<Body> {
    let doc = match json::parse(text) {
        Ok(d) => d,
        Err(e) => {
            sink.push(syntax_problem(src, text, e.offset, &e.message));
            return None;
        }
    };
    let Kind::Object(members) = &doc.kind else {
        sink.push(Problem::at(
            Rule::Syntax,
            format!("{} must hold a JSON object", src.name),
            src,
            doc.span.clone(),
            "expected an object of blocks",
        ));
        return None;
    };
    let mut body = Body::default();
    for (name, key_span, value) in members {
        if name == "//" {
            continue; // a comment, as in Terraform's JSON syntax
        }
        let Some(schema) = schema::top(name) else {
            sink.push(unknown_block(src, name, key_span.clone(), &schema::top_names()));
            continue;
        };
        json_blocks(
            schema,
            name,
            key_span,
            value,
            Vec::new(),
            &mut JsonCx { file: index, src, sink },
            &mut body.blocks,
        );
    }
    Some(body)
}

pub(super) fn unknown_block(src: &SourceFile, name: &str, span: Range<usize>, allowed: &[&str]) -> Problem {
    let help = match schema::suggest(name, allowed) {
        Some(s) => format!("did you mean `{s}`?"),
        None if allowed.is_empty() => "this block takes no nested blocks".to_owned(),
        None => format!("expected one of: {}", allowed.join(", ")),
    };
    Problem::at(
        Rule::UnknownBlock,
        format!("unknown block type `{name}`"),
        src,
        span,
        "not a block tokenform knows",
    )
    .with_help(help)
}

struct JsonCx<'a> {
    file: usize,
    src: &'a SourceFile,
    sink: &'a mut Sink,
}

/// One JSON property holding block(s) of `schema`: labels are nested object keys, then the
/// body is an object (or an array of objects for repeated blocks).
fn json_blocks(
    schema: &BlockSchema,
    ident: &str,
    ident_span: &Range<usize>,
    value: &Json,
    labels: Vec<Label>,
    cx: &mut JsonCx<'_>,
    out: &mut Vec<Block>,
) {
    if labels.len() < schema.labels {
        let Kind::Object(members) = &value.kind else {
            let p = Problem::at(
                Rule::WrongType,
                format!("`{ident}` needs an object keyed by {}", schema.label_name),
                cx.src,
                value.span.clone(),
                "expected an object",
            );
            cx.sink.push(p);
            return;
        };
        for (name, span, v) in members {
            let mut labels = labels.clone();
            labels.push(Label { value: name.clone(), span: span.clone() });
            json_blocks(schema, ident, ident_span, v, labels, cx, out);
        }
        return;
    }
    match &value.kind {
        Kind::Object(members) => {
            let body = json_body(schema, members, cx);
            out.push(Block {
                ident: ident.to_owned(),
                ident_span: ident_span.clone(),
                labels,
                body,
                span: value.span.clone(),
                file: cx.file,
            });
        }
        Kind::Array(items) => {
            for v in items {
                json_blocks(schema, ident, ident_span, v, labels.clone(), cx, out);
            }
        }
        _ => {
            let p = Problem::at(
                Rule::WrongType,
                format!("the body of a `{ident}` block must be a JSON object"),
                cx.src,
                value.span.clone(),
                "expected an object",
            );
            cx.sink.push(p);
        }
    }
}

fn json_body(schema: &BlockSchema, members: &[(String, Range<usize>, Json)], cx: &mut JsonCx<'_>) -> Body {
    let mut body = Body::default();
    let mut seen: Vec<(&str, Range<usize>)> = Vec::new();
    for (name, key_span, v) in members {
        if name == "//" {
            continue;
        }
        if let Some(nested) = schema::nested(schema, name) {
            json_blocks(nested, name, key_span, v, Vec::new(), cx, &mut body.blocks);
            continue;
        }
        if let Some((_, first)) = seen.iter().find(|(n, _)| *n == name) {
            let p = Problem::at(
                Rule::DuplicateAttribute,
                format!("`{name}` is set twice"),
                cx.src,
                key_span.clone(),
                "set again here",
            )
            .with_other(first.clone(), "first set here");
            cx.sink.push(p);
            continue;
        }
        seen.push((name, key_span.clone()));
        // Strings are templates, as in Terraform's JSON syntax: re-read the value as HCL.
        match hcl::edit::parser::parse_expr(&json::to_hcl(v)) {
            Ok(expr) => body.attrs.push(Attr {
                key: name.clone(),
                key_span: key_span.clone(),
                value: unwrap_single_interpolation(expr),
                span: v.span.clone(),
                file: cx.file,
                coarse: true,
            }),
            Err(e) => {
                let p = Problem::at(
                    Rule::Syntax,
                    format!("`{name}` is not a valid expression: {}", e.message()),
                    cx.src,
                    v.span.clone(),
                    "invalid template",
                );
                cx.sink.push(p);
            }
        }
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(name: &str, text: &str) -> (Option<File>, Vec<Rule>) {
        let mut sink = Sink::default();
        let f = parse_file(name, text.as_bytes(), 0, &mut sink);
        (f, sink.into_sorted().into_iter().map(|p| p.rule).collect())
    }

    #[test]
    fn hcl_blocks_and_attrs_keep_spans() {
        let text = "token \"a\" {\n  role = \"reader\"\n}\n";
        let (f, rules) = parse("a.hcl", text);
        assert!(rules.is_empty());
        let f = f.unwrap();
        let b = &f.body.blocks[0];
        assert_eq!(b.labels[0].value, "a");
        assert_eq!(&text[b.body.attrs[0].span.clone()], "\"reader\"");
        assert_eq!(&text[b.body.attrs[0].key_span.clone()], "role");
    }

    #[test]
    fn json_maps_onto_blocks() {
        let text = r#"{"token": {"a": {"role": "reader", "rotation": {"every": "90d"}}}, "import": [{"to": "token.a", "id": "x"}]}"#;
        let (f, rules) = parse("a.hcl.json", text);
        assert!(rules.is_empty(), "{rules:?}");
        let f = f.unwrap();
        assert_eq!(f.body.blocks.len(), 2);
        let t = &f.body.blocks[0];
        assert_eq!(t.labels[0].value, "a");
        assert_eq!(t.body.blocks[0].ident, "rotation");
        assert_eq!(&text[t.body.attrs[0].span.clone()], "\"reader\"");
    }

    #[test]
    fn syntax_and_utf8_problems() {
        assert_eq!(parse("a.hcl", "token \"a\" {").1, vec![Rule::Syntax]);
        assert_eq!(parse("a.hcl.json", "{\"token\": ").1, vec![Rule::Syntax]);
        let mut sink = Sink::default();
        assert!(parse_file("a.hcl", b"x = \"\xff\"", 0, &mut sink).is_none());
        assert_eq!(sink.into_sorted()[0].rule, Rule::InvalidUtf8);
    }
}
