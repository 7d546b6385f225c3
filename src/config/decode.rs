//! The schema walker: checks every block against [`super::schema`] and turns the evaluated
//! attributes into the typed [`Config`], reporting each broken rule of `docs/spec.md` §2 where it is
//! written. Reads only `state.recipients_file`; no network.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use hcl::edit::expr::{Expression as EditExpr, TraversalOperator};

use super::diagnostics::{Problem, Rule, Sink, SourceFile};
use super::eval::Env;
use super::parse::{self, Attr, Block, Body, File};
use super::schema::{self, BlockSchema};
use super::token::decode_tokens;
use super::values::{Cx, check_recipient};
use super::{
    Config, EncryptMode, ImportBlock, LaunchDarkly, RemovedBlock, StateSettings, Unmanaged, UnmanagedMode,
};
use crate::endpoint::AllowedHosts;
use crate::model::Address;
use crate::state::recipient::{parse_recipient, recipients_from_text};
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

pub(super) fn attr<'a>(body: &'a Body, key: &str) -> Option<&'a Attr> {
    body.attrs.iter().find(|a| a.key == key)
}

/// What [`decode`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scope {
    /// Every block.
    All,
    /// Only the `state` block (for the commands that read or edit the state and plan
    /// nothing); every other block is left unread, and unchecked.
    State,
}

/// Decodes every file into a [`Config`]; problems go to `sink`.
pub(super) fn decode(
    dir: &Path,
    files: &[File],
    env: &Env,
    allowed: &AllowedHosts,
    sink: &mut Sink,
) -> Config {
    decode_scoped(dir, files, env, allowed, Scope::All, sink)
}

/// [`decode`], reading only what `scope` names.
pub(super) fn decode_scoped(
    dir: &Path,
    files: &[File],
    env: &Env,
    allowed: &AllowedHosts,
    scope: Scope,
    sink: &mut Sink,
) -> Config {
    let mut cx = Cx { env, files, sink };
    let mut config = Config::empty(dir);
    let mut singles: BTreeMap<&str, (usize, Range<usize>)> = BTreeMap::new();
    let mut tokens: Vec<&Block> = Vec::new();
    for (fi, f) in files.iter().enumerate() {
        for a in f.body.attrs.iter().filter(|_| scope == Scope::All) {
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
        for b in f.body.blocks.iter().filter(|b| scope == Scope::All || b.ident == "state") {
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
                "launchdarkly" => config.launchdarkly = launchdarkly(&mut cx, b, allowed),
                "state" => config.state = state(&mut cx, dir, b),
                "unmanaged" => config.unmanaged = unmanaged(&mut cx, b),
                "token" => tokens.push(b),
                _ => {}
            }
        }
    }
    if scope == Scope::State {
        return config;
    }
    config.tokens = decode_tokens(&mut cx, &tokens);
    config.checks = super::checks::decode(&mut cx, files);
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

fn launchdarkly(cx: &mut Cx<'_>, b: &Block, allowed: &AllowedHosts) -> LaunchDarkly {
    let mut ld = LaunchDarkly::default();
    for a in &b.body.attrs {
        match a.key.as_str() {
            "base_url" => {
                if let Some(s) = cx.string(a, None) {
                    // The client checks again with the same function: validate refuses what plan would.
                    match crate::endpoint::check(&s, allowed) {
                        Ok(u) => ld.base_url = u,
                        Err(why) => {
                            let help = miette::Diagnostic::help(&why).map(|h| h.to_string());
                            let help = help.unwrap_or_else(|| "use https://app.launchdarkly.com (or app.eu.launchdarkly.com, app.launchdarkly.us), an http://127.0.0.1:PORT loopback URL, or \"embedded\"".into());
                            let p = cx
                                .at(
                                    Rule::BadUrl,
                                    format!("base_url {s:?} is not usable: {why}"),
                                    a.file,
                                    a.span.clone(),
                                    "the token may not be sent here",
                                )
                                .with_help(help);
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
                let (min, max) = (*super::PARALLELISM.start() as u64, *super::PARALLELISM.end() as u64);
                if let Some(n) = cx.integer(a, None, min, max) {
                    ld.parallelism = usize::try_from(n).unwrap_or(ld.parallelism);
                }
            }
            _ => {}
        }
    }
    ld
}

pub(super) fn is_env_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
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
                        match crate::files::confine(dir, &s) {
                            Ok(path) => st.path = path,
                            Err(e) => {
                                let p = cx
                                    .at(Rule::InvalidValue, format!("the state path {e}"), a.file, a.span.clone(), "outside")
                                    .with_help("the state path is relative to the configuration directory and stays inside it (a backend keeps state elsewhere)");
                                cx.sink.push(p);
                            }
                        }
                    }
                }
            }
            "recipients" => {
                if let Some(list) = cx.strings(a, None) {
                    for (i, r) in list.iter().enumerate() {
                        check_recipient(cx, a, i, r);
                    }
                    st.recipients.extend(list);
                }
            }
            "recipients_file" => {
                if let Some(s) = cx.string(a, None)
                    && let Some((path, recipients)) = recipients_file(cx, a, dir, &s)
                {
                    extra = recipients;
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
    for blk in b.body.blocks.iter().filter(|blk| blk.ident == "backend") {
        if let Some(backend) = super::backend::decode(cx, blk) {
            st.backend = backend;
        }
        if let Some(a) = attr(&b.body, "path") {
            let p = cx
                .at(
                    Rule::InvalidValue,
                    "`path` names the local state file, but a backend is configured",
                    a.file,
                    a.key_span.clone(),
                    "unused with a backend",
                )
                .with_help("remove `path`, or the `backend` block to keep the state in a local file");
            cx.sink.push(p);
        }
    }
    st
}
/// Problems about single lines of a recipients file, before one "and N more".
const MAX_LINE_PROBLEMS: usize = 5;

/// Reads `state.recipients_file` (confined to `dir`, bounded, a regular file). Problems
/// point at the attribute and name the line: the file's text is never quoted, only the
/// offending recipient-shaped word, masked when it looks like any secret.
fn recipients_file(
    cx: &mut Cx<'_>,
    a: &Attr,
    dir: &Path,
    named: &str,
) -> Option<(std::path::PathBuf, Vec<String>)> {
    let shown = crate::escape::quoted(named);
    let problem = |cx: &mut Cx<'_>, rule: Rule, message: String, label: &str| {
        let p = cx
            .at(rule, message, a.file, a.span.clone(), label)
            .with_help("one recipient a line (age1… or ssh-ed25519 …), # starts a comment; the path is relative to the configuration directory and stays inside it");
        cx.sink.push(p);
    };
    let path = match crate::files::confine(dir, named) {
        Ok(p) => p,
        Err(e) => {
            problem(cx, Rule::BadRecipientsFile, format!("recipients_file {e}"), "outside");
            return None;
        }
    };
    let text = match crate::files::read_text(&path, crate::files::Kind::Recipients) {
        Ok(t) => t,
        Err(e) => {
            problem(cx, Rule::BadRecipientsFile, format!("recipients_file {shown}: {e}"), "unreadable");
            return None;
        }
    };
    let mut bad = 0_usize;
    for (n, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let message = if crate::secret::find_secret(t).is_some() {
            (
                Rule::SecretInConfig,
                format!(
                    "recipients_file {shown} line {} holds a LaunchDarkly access token secret; revoke it if it is real",
                    n + 1
                ),
            )
        } else if let Err(e) = parse_recipient(t) {
            (Rule::BadRecipient, format!("recipients_file {shown} line {}: {e}", n + 1))
        } else {
            continue;
        };
        bad += 1;
        if bad <= MAX_LINE_PROBLEMS {
            problem(cx, message.0, message.1, "bad recipient in this file");
        }
    }
    if bad > MAX_LINE_PROBLEMS {
        let more = bad - MAX_LINE_PROBLEMS;
        problem(
            cx,
            Rule::BadRecipientsFile,
            format!("recipients_file {shown} has {more} more bad lines: is it a recipients file?"),
            "not a recipients file",
        );
    }
    Some((path, recipients_from_text(&text)))
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
        && !crate::model::is_token_id(id)
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
        // Kept in the (failed) result: `plan -generate-config-out` writes its token block.
        return id.map(|id| ImportBlock { to, id });
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
