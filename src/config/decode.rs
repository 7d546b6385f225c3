//! The schema walker: checks every block against [`super::schema`] and turns the evaluated
//! attributes into the typed [`Config`], reporting each broken rule of SPEC §2 where it is
//! written. Reads only `state.recipients_file`; no network.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use hcl::Value;
use hcl::edit::Span as _;
use hcl::edit::expr::{Expression as EditExpr, TraversalOperator};

use super::diagnostics::{Problem, Rule, Sink, SourceFile};
use super::eval::{Each, Env};
use super::parse::{self, Attr, Block, Body, File};
use super::schema::{self, BlockSchema};
use super::{
    BaseUrl, Config, DesiredToken, EncryptMode, ImportBlock, LaunchDarkly, Lifecycle, RemovedBlock, Rotation,
    StateSettings, Unmanaged, UnmanagedMode,
};
use crate::model::{
    Access, Address, Effect, Role, RotationMethod, Statement, TokenField, is_identifier, parse_duration,
};
use crate::state::recipient::{parse_recipient, recipients_from_text};

const DURATION_HELP: &str = "write a duration like 90d, 24h, 30m, 45s, 2w or 1d12h";

struct Cx<'a> {
    env: &'a Env,
    files: &'a [File],
    sink: &'a mut Sink,
}

fn value_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "map",
    }
}

impl Cx<'_> {
    fn src(&self, file: usize) -> &SourceFile {
        &self.files[file].src
    }

    fn at(
        &self,
        rule: Rule,
        msg: impl Into<String>,
        file: usize,
        span: Range<usize>,
        label: impl Into<String>,
    ) -> Problem {
        Problem::at(rule, msg, self.src(file), span, label)
    }

    fn value(&mut self, a: &Attr, each: Option<&Each>) -> Option<Value> {
        self.env.eval(a, &self.files[a.file].src, each, self.sink)
    }

    fn wrong_type(&mut self, a: &Attr, want: &str, got: &Value) {
        let help = match (want, got) {
            ("true or false" | "a number", Value::String(_)) => format!("write {want} without quotes"),
            ("a list of strings", Value::String(_)) => format!("wrap it in brackets: {} = [\"…\"]", a.key),
            _ => format!("`{}` takes {want}", a.key),
        };
        let p = self
            .at(
                Rule::WrongType,
                format!("`{}` must be {want}", a.key),
                a.file,
                a.span.clone(),
                format!("this is a {}", value_type(got)),
            )
            .with_help(help);
        self.sink.push(p);
    }

    /// Flags an evaluated string that holds a secret (from a variable, say); a literal one
    /// was already reported by the raw scan of the file.
    fn no_secret(&mut self, a: &Attr, s: &str) -> bool {
        if crate::secret::find_secret(s).is_none() {
            return true;
        }
        let literal = self
            .src(a.file)
            .source
            .inner()
            .get(a.span.clone())
            .is_some_and(|t| t.contains("api-****") || t.contains("sdk-****"));
        if !literal {
            let p = self
                .at(
                    Rule::SecretInConfig,
                    format!("`{}` evaluates to something that looks like an access token secret", a.key),
                    a.file,
                    a.span.clone(),
                    "secret-shaped value",
                )
                .with_help("secrets never live in configuration; check the variable that feeds this value");
            self.sink.push(p);
        }
        false
    }

    fn string(&mut self, a: &Attr, each: Option<&Each>) -> Option<String> {
        let v = self.value(a, each)?;
        match v {
            Value::String(s) => self.no_secret(a, &s).then_some(s),
            Value::Number(_) | Value::Bool(_) => super::functions::to_display(&v),
            other => {
                self.wrong_type(a, "a string", &other);
                None
            }
        }
    }

    fn boolean(&mut self, a: &Attr, each: Option<&Each>) -> Option<bool> {
        match self.value(a, each)? {
            Value::Bool(b) => Some(b),
            other => {
                self.wrong_type(a, "true or false", &other);
                None
            }
        }
    }

    fn integer(&mut self, a: &Attr, each: Option<&Each>, min: u64, max: u64) -> Option<u64> {
        let v = self.value(a, each)?;
        let n = match &v {
            Value::Number(n) => n.as_u64(),
            _ => None,
        };
        match n {
            Some(n) if (min..=max).contains(&n) => Some(n),
            Some(_) | None if matches!(v, Value::Number(_)) => {
                let p = self.at(
                    Rule::InvalidValue,
                    format!("`{}` must be a whole number from {min} to {max}", a.key),
                    a.file,
                    a.span.clone(),
                    "out of range",
                );
                self.sink.push(p);
                None
            }
            _ => {
                self.wrong_type(a, "a number", &v);
                None
            }
        }
    }

    fn strings(&mut self, a: &Attr, each: Option<&Each>) -> Option<Vec<String>> {
        let v = self.value(a, each)?;
        let Value::Array(items) = &v else {
            self.wrong_type(a, "a list of strings", &v);
            return None;
        };
        let mut out = Vec::new();
        for i in items {
            match i {
                Value::String(s) => {
                    if !self.no_secret(a, s) {
                        return None;
                    }
                    out.push(s.clone());
                }
                other => {
                    let p = self.at(
                        Rule::WrongType,
                        format!("`{}` must be a list of strings", a.key),
                        a.file,
                        a.span.clone(),
                        format!("holds a {}", value_type(other)),
                    );
                    self.sink.push(p);
                    return None;
                }
            }
        }
        Some(out)
    }

    fn one_of<T: Copy>(&mut self, a: &Attr, each: Option<&Each>, choices: &[(&str, T)]) -> Option<T> {
        let s = self.string(a, each)?;
        if let Some((_, t)) = choices.iter().find(|(n, _)| *n == s) {
            return Some(*t);
        }
        let names: Vec<String> = choices.iter().map(|(n, _)| format!("\"{n}\"")).collect();
        let p = self
            .at(
                Rule::InvalidValue,
                format!("`{}` cannot be {:?}", a.key, crate::secret::redact_secrets(&s)),
                a.file,
                a.span.clone(),
                "not an allowed value",
            )
            .with_help(format!("use one of {}", names.join(", ")));
        self.sink.push(p);
        None
    }

    fn duration(&mut self, a: &Attr, each: Option<&Each>, allow_zero: bool) -> Option<Duration> {
        let s = self.string(a, each)?;
        match parse_duration(&s) {
            Some(d) if allow_zero || !d.is_zero() => Some(d),
            Some(_) => {
                let p = self
                    .at(
                        Rule::BadDuration,
                        format!("`{}` must be longer than zero", a.key),
                        a.file,
                        a.span.clone(),
                        "zero duration",
                    )
                    .with_help(DURATION_HELP);
                self.sink.push(p);
                None
            }
            None => {
                let p = self
                    .at(
                        Rule::BadDuration,
                        format!("{s:?} is not a duration"),
                        a.file,
                        a.span.clone(),
                        "not a duration",
                    )
                    .with_help(DURATION_HELP);
                self.sink.push(p);
                None
            }
        }
    }
}

/// Checks a block's attributes and nested blocks against its schema (recursively).
fn check_block(cx: &mut Cx<'_>, schema: &BlockSchema, b: &Block) {
    let src = cx.src(b.file).clone();
    if b.labels.len() != schema.labels {
        let (span, msg) = match (schema.labels, b.labels.get(schema.labels)) {
            (0, Some(l)) => (l.span.clone(), format!("a `{}` block takes no label", b.ident)),
            (_, Some(l)) => (l.span.clone(), format!("a `{}` block takes exactly one label", b.ident)),
            _ => (
                b.ident_span.clone(),
                format!("a `{}` block needs a {}: {} \"NAME\" {{ … }}", b.ident, schema.label_name, b.ident),
            ),
        };
        cx.sink.push(Problem::at(Rule::BadLabel, msg, &src, span, "wrong labels"));
    }
    check_body(cx, schema, &b.body, &src);
}

fn check_body(cx: &mut Cx<'_>, schema: &BlockSchema, body: &Body, src: &SourceFile) {
    let mut seen: BTreeMap<&str, Range<usize>> = BTreeMap::new();
    for a in &body.attrs {
        if let Some(allowed) = schema.attrs
            && !allowed.contains(&a.key.as_str())
        {
            let help = match schema::suggest(&a.key, allowed) {
                Some(s) => format!("did you mean `{s}`?"),
                None if schema.blocks.contains(&a.key.as_str()) => {
                    format!("`{}` is a block: write {} {{ … }}", a.key, a.key)
                }
                None => format!("a `{}` block accepts: {}", schema.name, allowed.join(", ")),
            };
            cx.sink.push(
                Problem::at(
                    Rule::UnknownAttribute,
                    format!("unknown attribute `{}` in a `{}` block", a.key, schema.name),
                    src,
                    a.key_span.clone(),
                    "not allowed here",
                )
                .with_help(help),
            );
            continue;
        }
        if let Some(first) = seen.get(a.key.as_str()) {
            cx.sink.push(
                Problem::at(
                    Rule::DuplicateAttribute,
                    format!("`{}` is set twice", a.key),
                    src,
                    a.key_span.clone(),
                    "set again here",
                )
                .with_other(first.clone(), "first set here")
                .with_help("remove one of them"),
            );
        } else {
            seen.insert(&a.key, a.key_span.clone());
        }
    }
    let mut seen_blocks: BTreeMap<&str, Range<usize>> = BTreeMap::new();
    for b in &body.blocks {
        let Some(nested) = schema::nested(schema, &b.ident) else {
            let attr_help = schema.attrs.is_some_and(|a| a.contains(&b.ident.as_str()));
            let mut p = parse::unknown_block(src, &b.ident, b.ident_span.clone(), schema.blocks);
            if attr_help {
                p = p.with_help(format!("`{}` is an attribute: write {} = …", b.ident, b.ident));
            }
            cx.sink.push(p);
            continue;
        };
        if !nested.repeatable {
            if let Some(first) = seen_blocks.get(b.ident.as_str()) {
                cx.sink.push(
                    Problem::at(
                        Rule::DuplicateBlock,
                        format!("a `{}` block may have only one `{}` block", schema.name, b.ident),
                        src,
                        b.ident_span.clone(),
                        "second block",
                    )
                    .with_other(first.clone(), "first block"),
                );
                continue;
            }
            seen_blocks.insert(&b.ident, b.ident_span.clone());
        }
        check_block(cx, nested, b);
    }
}

fn attr<'a>(body: &'a Body, key: &str) -> Option<&'a Attr> {
    body.attrs.iter().find(|a| a.key == key)
}

/// Decodes every file into a [`Config`]; problems go to `sink`.
pub fn decode(dir: &Path, files: &[File], env: &Env, sink: &mut Sink) -> Config {
    let mut cx = Cx { env, files, sink };
    let mut config = Config::empty(dir);
    let mut singles: BTreeMap<&str, (usize, Range<usize>)> = BTreeMap::new();
    let mut tokens: Vec<&Block> = Vec::new();
    for (fi, f) in files.iter().enumerate() {
        for a in &f.body.attrs {
            let p = Problem::at(
                Rule::UnknownAttribute,
                format!("unknown top-level attribute `{}`", a.key),
                &f.src,
                a.key_span.clone(),
                "attributes belong inside a block",
            )
            .with_help("put it in a locals block to name a value, or inside the block it configures");
            cx.sink.push(p);
        }
        for b in &f.body.blocks {
            let Some(s) = schema::top(&b.ident) else {
                cx.sink.push(parse::unknown_block(
                    &f.src,
                    &b.ident,
                    b.ident_span.clone(),
                    &schema::top_names(),
                ));
                continue;
            };
            check_block(&mut cx, s, b);
            if !s.repeatable {
                if let Some((pf, pspan)) = singles.get(b.ident.as_str()) {
                    let mut p = Problem::at(
                        Rule::DuplicateBlock,
                        format!("only one `{}` block is allowed", b.ident),
                        &f.src,
                        b.ident_span.clone(),
                        "second block",
                    );
                    if *pf == fi {
                        p = p.with_other(pspan.clone(), "first block");
                    } else {
                        let (l, c) = files[*pf].src.line_col(pspan.start);
                        p = p.with_help(format!("the first one is at {}:{l}:{c}", files[*pf].src.name));
                    }
                    cx.sink.push(p);
                    continue;
                }
                singles.insert(&b.ident, (fi, b.ident_span.clone()));
            }
            match b.ident.as_str() {
                "launchdarkly" => config.launchdarkly = launchdarkly(&mut cx, b),
                "state" => config.state = state(&mut cx, dir, b),
                "unmanaged" => config.unmanaged = unmanaged(&mut cx, b),
                "token" => tokens.push(b),
                _ => {}
            }
        }
    }
    config.tokens = decode_tokens(&mut cx, &tokens);
    for f in files {
        for b in &f.body.blocks {
            match b.ident.as_str() {
                "import" => {
                    if let Some(i) = import(&mut cx, b, &config) {
                        config.imports.push(i);
                    }
                }
                "removed" => {
                    if let Some(r) = removed(&mut cx, b, &config) {
                        config.removed.push(r);
                    }
                }
                _ => {}
            }
        }
    }
    config
}

fn launchdarkly(cx: &mut Cx<'_>, b: &Block) -> LaunchDarkly {
    let mut ld = LaunchDarkly::default();
    for a in &b.body.attrs {
        match a.key.as_str() {
            "base_url" => {
                if let Some(s) = cx.string(a, None) {
                    match base_url(&s) {
                        Ok(u) => ld.base_url = u,
                        Err(why) => {
                            let p = cx
                                .at(Rule::BadUrl, format!("base_url {s:?} is not usable: {why}"), a.file, a.span.clone(), why)
                                .with_help("use https://app.launchdarkly.com (or app.eu.launchdarkly.com, app.launchdarkly.us), an http://127.0.0.1:PORT loopback URL, or \"embedded\"");
                            cx.sink.push(p);
                        }
                    }
                }
            }
            "access_token_env" => {
                if let Some(s) = cx.string(a, None) {
                    if is_env_name(&s) {
                        ld.access_token_env = s;
                    } else {
                        let p = cx.at(Rule::InvalidValue, format!("{s:?} is not an environment variable name"), a.file, a.span.clone(), "not an env var name").with_help("name the variable that holds the token, e.g. LAUNCHDARKLY_ACCESS_TOKEN; never the token itself");
                        cx.sink.push(p);
                    }
                }
            }
            "api_version" => {
                if let Some(n) = cx.integer(a, None, 20_160_426, 99_991_231) {
                    ld.api_version = u32::try_from(n).unwrap_or(ld.api_version);
                }
            }
            "parallelism" => {
                if let Some(n) = cx.integer(a, None, 1, 64) {
                    ld.parallelism = usize::try_from(n).unwrap_or(ld.parallelism);
                }
            }
            _ => {}
        }
    }
    ld
}

fn is_env_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `"embedded"`, or an https URL (http only for loopback), without a trailing slash.
pub fn base_url(s: &str) -> Result<BaseUrl, String> {
    if s == "embedded" {
        return Ok(BaseUrl::Embedded);
    }
    let (scheme, rest) = s.split_once("://").ok_or("not a URL (expected https://HOST)")?;
    let hostport = rest.split('/').next().unwrap_or("");
    if rest.contains(['?', '#', ' ']) {
        return Err("a base URL has no query, fragment or spaces".into());
    }
    let host = if let Some(h) = hostport.strip_prefix('[') {
        h.split(']').next().unwrap_or("")
    } else {
        hostport.rsplit_once(':').map_or(hostport, |(h, _)| h)
    };
    if host.is_empty() {
        return Err("the URL has no host".into());
    }
    let loopback = host == "localhost" || host == "::1" || host.starts_with("127.");
    match scheme {
        "https" => {}
        "http" if loopback => {}
        "http" => return Err("plain http is only allowed on loopback (127.x, localhost, [::1])".into()),
        _ => return Err(format!("unsupported scheme {scheme:?}")),
    }
    Ok(BaseUrl::Url(s.trim_end_matches('/').to_owned()))
}

fn state(cx: &mut Cx<'_>, dir: &Path, b: &Block) -> StateSettings {
    let mut st = Config::empty(dir).state;
    let mut extra = Vec::new();
    for a in &b.body.attrs {
        match a.key.as_str() {
            "path" => {
                if let Some(s) = cx.string(a, None) {
                    if s.trim().is_empty() {
                        let p = cx.at(
                            Rule::InvalidValue,
                            "the state path is empty",
                            a.file,
                            a.span.clone(),
                            "empty",
                        );
                        cx.sink.push(p);
                    } else {
                        st.path = dir.join(s);
                    }
                }
            }
            "recipients" => {
                if let Some(list) = cx.strings(a, None) {
                    for r in &list {
                        check_recipient(cx, a, r);
                    }
                    st.recipients.extend(list);
                }
            }
            "recipients_file" => {
                if let Some(s) = cx.string(a, None) {
                    let path = dir.join(&s);
                    extra = recipients_file(cx, a, &path, &s);
                    st.recipients_file = Some(path);
                }
            }
            "encrypt" => {
                if let Some(m) =
                    cx.one_of(a, None, &[("secrets", EncryptMode::Secrets), ("file", EncryptMode::File)])
                {
                    st.encrypt = m;
                }
            }
            _ => {}
        }
    }
    st.recipients.extend(extra);
    st
}

fn check_recipient(cx: &mut Cx<'_>, a: &Attr, r: &str) -> bool {
    match parse_recipient(r) {
        Ok(_) => true,
        Err(e) => {
            let p = cx
                .at(Rule::BadRecipient, e.to_string(), a.file, a.span.clone(), "bad recipient")
                .with_help("a recipient is an age public key (age1…, from `tokenform keygen`) or an ssh-ed25519/ssh-rsa public key line");
            cx.sink.push(p);
            false
        }
    }
}

fn recipients_file(cx: &mut Cx<'_>, a: &Attr, path: &Path, shown: &str) -> Vec<String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            let p = cx
                .at(
                    Rule::BadRecipientsFile,
                    format!("cannot read recipients_file {shown:?}: {e}"),
                    a.file,
                    a.span.clone(),
                    "unreadable",
                )
                .with_help("the path is relative to the configuration directory");
            cx.sink.push(p);
            return Vec::new();
        }
    };
    let src = SourceFile::new(shown, &text);
    parse::scan_secrets(&src, &text, cx.sink);
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        if !t.is_empty()
            && !t.starts_with('#')
            && let Err(e) = parse_recipient(t)
        {
            let start = offset + (line.len() - line.trim_start().len());
            cx.sink.push(
                Problem::at(Rule::BadRecipient, e.to_string(), &src, start..start + t.len(), "bad recipient")
                    .with_help("one recipient a line (age1… or ssh-ed25519 …); # starts a comment"),
            );
        }
        offset += line.len();
    }
    recipients_from_text(&text)
}

fn unmanaged(cx: &mut Cx<'_>, b: &Block) -> Unmanaged {
    let mut u = Unmanaged::default();
    for a in &b.body.attrs {
        match a.key.as_str() {
            "mode" => {
                if let Some(m) = cx.one_of(
                    a,
                    None,
                    &[("report", UnmanagedMode::Report), ("delete", UnmanagedMode::Delete)],
                ) {
                    u.mode = m;
                }
            }
            "ignore_names" => u.ignore_names = cx.strings(a, None).unwrap_or_default(),
            "personal" => u.personal = cx.boolean(a, None).unwrap_or(false),
            _ => {}
        }
    }
    u
}

/// An address written as a traversal (`token.x`, `token.x["k"]`) or a string.
fn address(cx: &mut Cx<'_>, a: &Attr) -> Option<Address> {
    let parsed = match &a.value {
        EditExpr::Traversal(t) => match (&t.expr, t.operators.as_slice()) {
            (EditExpr::Variable(root), [first, rest @ ..]) if root.as_str() == "token" => {
                match (first.value(), rest) {
                    (TraversalOperator::GetAttr(label), []) => Some(Address::new(label.as_str())),
                    (TraversalOperator::GetAttr(label), [key]) => match key.value() {
                        TraversalOperator::Index(EditExpr::String(k)) => {
                            Some(Address::keyed(label.as_str(), k.as_str()))
                        }
                        _ => None,
                    },
                    _ => None,
                }
            }
            _ => None,
        },
        EditExpr::String(s) => s.as_str().parse::<Address>().ok(),
        _ => None,
    };
    if parsed.is_none() {
        let p = cx
            .at(
                Rule::BadAddress,
                format!("`{}` must be a token address", a.key),
                a.file,
                a.span.clone(),
                "not an address",
            )
            .with_help("write token.NAME or token.NAME[\"KEY\"]");
        cx.sink.push(p);
    }
    parsed
}

fn import(cx: &mut Cx<'_>, b: &Block, config: &Config) -> Option<ImportBlock> {
    let (to_attr, id_attr) = (attr(&b.body, "to"), attr(&b.body, "id"));
    let mut missing = Vec::new();
    if to_attr.is_none() {
        missing.push("to");
    }
    if id_attr.is_none() {
        missing.push("id");
    }
    if !missing.is_empty() {
        let p = cx
            .at(
                Rule::MissingAttribute,
                format!("an import block needs {}", missing.join(" and ")),
                b.file,
                b.ident_span.clone(),
                "incomplete",
            )
            .with_help("import { to = token.NAME  id = \"<24-hex token id>\" }, one attribute a line");
        cx.sink.push(p);
        return None;
    }
    let (to_attr, id_attr) = (to_attr?, id_attr?);
    let to = address(cx, to_attr);
    let id = cx.string(id_attr, None);
    if let Some(id) = &id
        && (id.len() != 24 || !id.chars().all(|c| c.is_ascii_hexdigit()))
    {
        let p = cx
            .at(
                Rule::InvalidValue,
                format!("{id:?} is not a LaunchDarkly token id"),
                id_attr.file,
                id_attr.span.clone(),
                "expected 24 hex characters",
            )
            .with_help("the id is the token's `_id` (e.g. 61095542756dba551110ae21), never its secret");
        cx.sink.push(p);
        return None;
    }
    let to = to?;
    if !config.tokens.contains_key(&to) {
        let p = cx
            .at(
                Rule::UnknownAddress,
                format!("import target {to} is not in the configuration"),
                to_attr.file,
                to_attr.span.clone(),
                "no such token block",
            )
            .with_help(format!("add the token block for {to} that the imported token should match"));
        cx.sink.push(p);
        return None;
    }
    if config.imports.iter().any(|i| i.to == to) {
        let p = cx.at(
            Rule::DuplicateBlock,
            format!("{to} is imported twice"),
            to_attr.file,
            to_attr.span.clone(),
            "second import",
        );
        cx.sink.push(p);
        return None;
    }
    Some(ImportBlock { to, id: id? })
}

fn removed(cx: &mut Cx<'_>, b: &Block, config: &Config) -> Option<RemovedBlock> {
    let Some(from_attr) = attr(&b.body, "from") else {
        let p = cx
            .at(
                Rule::MissingAttribute,
                "a removed block needs `from`",
                b.file,
                b.ident_span.clone(),
                "no from",
            )
            .with_help("removed { from = token.NAME }");
        cx.sink.push(p);
        return None;
    };
    let from = address(cx, from_attr)?;
    let destroy = match attr(&b.body, "destroy") {
        Some(a) => cx.boolean(a, None)?,
        None => false,
    };
    let still = config.tokens.keys().any(|k| k == &from || (from.key.is_none() && k.label == from.label));
    if still {
        let p = cx
            .at(
                Rule::StillConfigured,
                format!("{from} is removed but still has a token block"),
                from_attr.file,
                from_attr.span.clone(),
                "still configured",
            )
            .with_help("delete the token block as well, or drop this removed block");
        cx.sink.push(p);
        return None;
    }
    Some(RemovedBlock { from, destroy })
}

/// Where a token's name came from, for duplicate-name labels.
struct NameSite {
    address: Address,
    file: usize,
    span: Range<usize>,
    explicit: bool,
}

fn decode_tokens(cx: &mut Cx<'_>, blocks: &[&Block]) -> BTreeMap<Address, DesiredToken> {
    let mut out = BTreeMap::new();
    let mut labels: BTreeMap<&str, &Block> = BTreeMap::new();
    let mut names: BTreeMap<String, NameSite> = BTreeMap::new();
    for b in blocks {
        let Some(label) = b.labels.first() else { continue };
        if !is_identifier(&label.value) {
            let p = cx
                .at(Rule::BadLabel, format!("{:?} is not a valid token label", label.value), b.file, label.span.clone(), "not an identifier")
                .with_help("a label starts with a letter or _, then letters, digits, _ or -; put free text in `name`");
            cx.sink.push(p);
            continue;
        }
        if let Some(first) = labels.get(label.value.as_str()) {
            let mut p = cx.at(
                Rule::DuplicateLabel,
                format!("token.{} is declared twice", label.value),
                b.file,
                label.span.clone(),
                "declared again here",
            );
            if first.file == b.file {
                p = p.with_other(first.labels[0].span.clone(), "first declared here");
            } else {
                let (l, c) = cx.src(first.file).line_col(first.labels[0].span.start);
                p = p.with_help(format!(
                    "the first is at {}:{l}:{c}; labels must be unique across all files",
                    cx.src(first.file).name
                ));
            }
            cx.sink.push(p);
            continue;
        }
        labels.insert(&label.value, b);

        let instances: Vec<(Address, Option<Each>)> = match attr(&b.body, "for_each") {
            None => vec![(Address::new(&label.value), None)],
            Some(fe) => match for_each(cx, fe) {
                Some(list) => {
                    list.into_iter().map(|e| (Address::keyed(&label.value, e.0.clone()), Some(e.1))).collect()
                }
                None => continue,
            },
        };
        for (address, each) in instances {
            let Some(t) = token(cx, b, address.clone(), each.as_ref()) else { continue };
            let name_attr = attr(&b.body, "name");
            let (file, span, explicit) = match name_attr {
                Some(a) => (a.file, a.span.clone(), true),
                None => (b.file, label.span.clone(), false),
            };
            if let Some(first) = names.get(&t.name) {
                let mut p = cx.at(
                    Rule::DuplicateName,
                    format!("{} and {} both have the name {:?}", first.address, address, t.name),
                    file,
                    span.clone(),
                    "same name",
                );
                if first.file == file && first.span != span {
                    p = p.with_other(first.span.clone(), format!("{} has it too", first.address));
                }
                let help = if explicit || first.explicit {
                    "token names must be unique within a configuration; change one `name`".to_owned()
                } else {
                    format!(
                        "the name defaults to the block label; set name = \"{}-${{each.key}}\" to make each instance unique",
                        address.label
                    )
                };
                cx.sink.push(p.with_help(help));
                continue;
            }
            names.insert(t.name.clone(), NameSite { address: address.clone(), file, span, explicit });
            out.insert(address, t);
        }
    }
    out
}

fn for_each(cx: &mut Cx<'_>, a: &Attr) -> Option<Vec<(String, Each)>> {
    let v = cx.value(a, None)?;
    let bad = |cx: &mut Cx<'_>, why: String| {
        let p = cx
            .at(
                Rule::BadForEach,
                format!("for_each {why}"),
                a.file,
                a.span.clone(),
                "not a set or map of strings",
            )
            .with_help("use a set of strings (toset([\"a\", \"b\"])) or a map");
        cx.sink.push(p);
        None
    };
    match v {
        Value::Array(items) => {
            let mut out: Vec<(String, Each)> = Vec::new();
            for i in items {
                let Some(k) = super::functions::to_display(&i) else {
                    return bad(cx, format!("must hold strings, not a {}", value_type(&i)));
                };
                if !out.iter().any(|(e, _)| *e == k) {
                    out.push((k.clone(), Each { key: Value::from(k.clone()), value: Value::from(k) }));
                }
            }
            Some(out)
        }
        Value::Object(map) => {
            Some(map.into_iter().map(|(k, v)| (k.clone(), Each { key: Value::from(k), value: v })).collect())
        }
        other => bad(cx, format!("must be a set or a map, not a {}", value_type(&other))),
    }
}

#[allow(clippy::too_many_lines)]
fn token(cx: &mut Cx<'_>, b: &Block, address: Address, each: Option<&Each>) -> Option<DesiredToken> {
    let before = cx.sink.len();
    let label = &b.labels[0];
    let mut name = None;
    let mut description = None;
    let mut service_token = false;
    let mut api_version = None;
    let mut expires_at = None;
    let mut recipients = Vec::new();
    let mut role: Option<(Role, &Attr)> = None;
    let mut custom: Option<(Vec<String>, &Attr)> = None;
    for a in &b.body.attrs {
        match a.key.as_str() {
            "name" => {
                if let Some(s) = cx.string(a, each) {
                    if s.trim().is_empty() {
                        let p = cx.at(
                            Rule::InvalidValue,
                            "a token name cannot be empty",
                            a.file,
                            a.span.clone(),
                            "empty name",
                        );
                        cx.sink.push(p);
                    } else {
                        name = Some(s);
                    }
                }
            }
            "description" => description = cx.string(a, each),
            "service_token" => service_token = cx.boolean(a, each).unwrap_or(false),
            "api_version" => {
                api_version = cx.integer(a, each, 20_160_426, 99_991_231).and_then(|n| u32::try_from(n).ok());
            }
            "expires_at" => {
                if let Some(s) = cx.string(a, each) {
                    match s.parse::<jiff::Timestamp>() {
                        Ok(t) => expires_at = Some(t),
                        Err(e) => {
                            let p = cx
                                .at(
                                    Rule::BadTimestamp,
                                    format!("{s:?} is not an RFC 3339 timestamp"),
                                    a.file,
                                    a.span.clone(),
                                    e.to_string(),
                                )
                                .with_help("write a UTC timestamp like 2027-06-01T00:00:00Z");
                            cx.sink.push(p);
                        }
                    }
                }
            }
            "recipients" => {
                if let Some(list) = cx.strings(a, each) {
                    for r in &list {
                        check_recipient(cx, a, r);
                    }
                    recipients = list;
                }
            }
            "role" => {
                if let Some(s) = cx.string(a, each) {
                    if let Some(r) = Role::parse(&s) {
                        role = Some((r, a));
                    } else {
                        let help = if s == "owner" || s == "no_access" {
                            format!(
                                "`{s}` is a member role, not a token role: LaunchDarkly tokens take reader, writer or admin (or custom_roles / a policy)"
                            )
                        } else {
                            "a token role is reader, writer or admin; for finer access use custom_roles or policy blocks".to_owned()
                        };
                        let p = cx
                            .at(
                                Rule::InvalidRole,
                                format!("{:?} is not a token role", crate::secret::redact_secrets(&s)),
                                a.file,
                                a.span.clone(),
                                "not reader, writer or admin",
                            )
                            .with_help(help);
                        cx.sink.push(p);
                        // Counted as set, so a second access kind is still a conflict.
                        role = Some((Role::Reader, a));
                    }
                }
            }
            "custom_roles" => {
                if let Some(list) = cx.strings(a, each) {
                    if list.is_empty() || list.iter().any(|s| s.trim().is_empty()) {
                        let p = cx
                            .at(
                                Rule::InvalidValue,
                                "custom_roles needs at least one non-empty custom role key",
                                a.file,
                                a.span.clone(),
                                "empty",
                            )
                            .with_help("list custom role keys, e.g. [\"deploy-staging\"]");
                        cx.sink.push(p);
                    }
                    custom = Some((list, a));
                }
            }
            _ => {}
        }
    }

    let mut statements = Vec::new();
    let policies: Vec<&Block> = b.body.blocks.iter().filter(|n| n.ident == "policy").collect();
    for p in &policies {
        if let Some(s) = statement(cx, p, each) {
            statements.push(s);
        }
    }

    // Exactly one access kind: labels on each that is set.
    let mut set: Vec<(&str, usize, Range<usize>)> = Vec::new();
    if let Some((_, a)) = &role {
        set.push(("role", a.file, a.key_span.clone()));
    } else if let Some(a) = attr(&b.body, "role") {
        set.push(("role", a.file, a.key_span.clone()));
    }
    if let Some((_, a)) = &custom {
        set.push(("custom_roles", a.file, a.key_span.clone()));
    } else if let Some(a) = attr(&b.body, "custom_roles") {
        set.push(("custom_roles", a.file, a.key_span.clone()));
    }
    if let Some(p) = policies.first() {
        set.push(("policy", p.file, p.ident_span.clone()));
    }
    let access = match set.len() {
        0 => {
            let p = cx
                .at(Rule::NoAccess, format!("{address} says nothing about what it may do"), b.file, label.span.clone(), "no role, custom_roles or policy")
                .with_help("set exactly one of: role = \"reader\" | \"writer\" | \"admin\", custom_roles = [\"KEY\"], or policy { … } blocks");
            cx.sink.push(p);
            None
        }
        1 => match (role, custom) {
            (Some((r, _)), _) => Some(Access::Role(r)),
            (_, Some((c, _))) => Some(Access::CustomRoles(c)),
            _ if !policies.is_empty() => Some(Access::Policy(statements)),
            _ => None,
        },
        _ => {
            let kinds: Vec<&str> = set.iter().map(|s| s.0).collect();
            let (_, file, span) = set[1].clone();
            let mut p = cx.at(
                Rule::ConflictingAccess,
                format!("{address} sets {}: choose one", kinds.join(" and ")),
                file,
                span,
                "second kind of access",
            );
            if set[0].1 == file {
                p = p.with_other(set[0].2.clone(), "first kind of access");
            }
            cx.sink.push(p.with_help("a token has exactly one of role, custom_roles or policy blocks"));
            None
        }
    };

    let mut rotation = None;
    if let Some(rb) = b.body.blocks.iter().find(|n| n.ident == "rotation") {
        rotation = rotation_block(cx, rb, each);
    }
    let mut lifecycle = Lifecycle::default();
    if let Some(lb) = b.body.blocks.iter().find(|n| n.ident == "lifecycle") {
        lifecycle = lifecycle_block(cx, lb, each);
    }

    if cx.sink.len() > before {
        return None;
    }
    Some(DesiredToken {
        name: name.unwrap_or_else(|| label.value.clone()),
        address,
        description,
        access: access?,
        service_token,
        api_version,
        expires_at,
        recipients,
        rotation,
        lifecycle,
    })
}

fn statement(cx: &mut Cx<'_>, b: &Block, each: Option<&Each>) -> Option<Statement> {
    let mut effect = None;
    let mut lists: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for a in &b.body.attrs {
        match a.key.as_str() {
            "effect" => effect = cx.one_of(a, each, &[("allow", Effect::Allow), ("deny", Effect::Deny)]),
            k @ ("actions" | "not_actions" | "resources" | "not_resources") => {
                let list = cx.strings(a, each)?;
                if list.is_empty() {
                    let p = cx
                        .at(
                            Rule::InvalidPolicy,
                            format!("`{k}` is empty"),
                            a.file,
                            a.span.clone(),
                            "empty list",
                        )
                        .with_help("list at least one entry, e.g. [\"*\"]");
                    cx.sink.push(p);
                    return None;
                }
                lists.insert(k, list);
            }
            _ => {}
        }
    }
    let mut ok = true;
    if attr(&b.body, "effect").is_none() {
        let p = cx
            .at(
                Rule::MissingAttribute,
                "a policy statement needs `effect`",
                b.file,
                b.ident_span.clone(),
                "no effect",
            )
            .with_help("effect = \"allow\" or \"deny\"");
        cx.sink.push(p);
        ok = false;
    }
    for (x, y) in [("actions", "not_actions"), ("resources", "not_resources")] {
        let n = usize::from(attr(&b.body, x).is_some()) + usize::from(attr(&b.body, y).is_some());
        if n != 1 {
            let msg = if n == 0 {
                format!("a policy statement needs `{x}` or `{y}`")
            } else {
                format!("a policy statement takes `{x}` or `{y}`, not both")
            };
            let span = attr(&b.body, y).map_or(b.ident_span.clone(), |a| a.key_span.clone());
            let p = cx
                .at(Rule::InvalidPolicy, msg, b.file, span, "exactly one of them")
                .with_help(format!("set exactly one of {x} / {y}"));
            cx.sink.push(p);
            ok = false;
        }
    }
    if !ok {
        return None;
    }
    Some(Statement {
        effect: effect?,
        actions: lists.remove("actions"),
        not_actions: lists.remove("not_actions"),
        resources: lists.remove("resources"),
        not_resources: lists.remove("not_resources"),
    })
}

fn rotation_block(cx: &mut Cx<'_>, b: &Block, each: Option<&Each>) -> Option<Rotation> {
    let Some(every_attr) = attr(&b.body, "every") else {
        let p = cx
            .at(
                Rule::MissingAttribute,
                "a rotation block needs `every`",
                b.file,
                b.ident_span.clone(),
                "no every",
            )
            .with_help("every = \"90d\"");
        cx.sink.push(p);
        return None;
    };
    let every = cx.duration(every_attr, each, false);
    let grace = match attr(&b.body, "grace") {
        Some(a) => cx.duration(a, each, true),
        None => Some(Duration::from_hours(24)),
    };
    let method = match attr(&b.body, "method") {
        Some(a) => {
            cx.one_of(a, each, &[("replace", RotationMethod::Replace), ("reset", RotationMethod::Reset)])
        }
        None => Some(RotationMethod::Replace),
    };
    Some(Rotation { every: every?, grace: grace?, method: method? })
}

fn lifecycle_block(cx: &mut Cx<'_>, b: &Block, each: Option<&Each>) -> Lifecycle {
    let mut l = Lifecycle::default();
    for a in &b.body.attrs {
        match a.key.as_str() {
            "prevent_destroy" => l.prevent_destroy = cx.boolean(a, each).unwrap_or(false),
            "create_before_destroy" => l.create_before_destroy = cx.boolean(a, each).unwrap_or(false),
            "ignore_changes" => l.ignore_changes = ignore_changes(cx, a),
            _ => {}
        }
    }
    l
}

/// `ignore_changes = [description, name]` (bare names, or strings in JSON).
fn ignore_changes(cx: &mut Cx<'_>, a: &Attr) -> Vec<TokenField> {
    let EditExpr::Array(items) = &a.value else {
        let p = cx
            .at(
                Rule::WrongType,
                "`ignore_changes` must be a list of attribute names",
                a.file,
                a.span.clone(),
                "not a list",
            )
            .with_help("ignore_changes = [description]");
        cx.sink.push(p);
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        let (text, mut span) = match item {
            EditExpr::Variable(v) => (v.as_str().to_owned(), v.span().unwrap_or(a.span.clone())),
            EditExpr::String(s) => (s.as_str().to_owned(), s.span().unwrap_or(a.span.clone())),
            other => (other.to_string(), other.span().unwrap_or(a.span.clone())),
        };
        if a.coarse {
            span = a.span.clone();
        }
        match TokenField::parse(text.trim()) {
            Some(f) if !out.contains(&f) => out.push(f),
            Some(_) => {}
            None => {
                let all: Vec<&str> = TokenField::ALL.iter().map(|f| f.as_str()).collect();
                let p = cx
                    .at(
                        Rule::InvalidValue,
                        format!("`{}` is not a token attribute", text.trim()),
                        a.file,
                        span,
                        "unknown attribute",
                    )
                    .with_help(format!("ignore_changes takes: {}", all.join(", ")));
                cx.sink.push(p);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert_eq!(base_url("embedded").unwrap(), BaseUrl::Embedded);
        assert_eq!(
            base_url("https://app.launchdarkly.com/").unwrap(),
            BaseUrl::Url("https://app.launchdarkly.com".into())
        );
        assert!(base_url("http://127.0.0.1:8765").is_ok());
        assert!(base_url("http://localhost:1").is_ok());
        assert!(base_url("http://[::1]:80").is_ok());
        assert!(base_url("http://example.com").is_err());
        assert!(base_url("ftp://x").is_err());
        assert!(base_url("app.launchdarkly.com").is_err());
    }
}
