//! `token` blocks: labels, `for_each` instances, every attribute, `policy`, `rotation` and
//! `lifecycle`, exactly-one-access and unique names. No I/O.

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

use hcl::Value;
use hcl::edit::Span as _;
use hcl::edit::expr::Expression as EditExpr;

use super::decode::attr;
use super::diagnostics::Rule;
use super::eval::Each;
use super::parse::{Attr, Block};
use super::values::{Cx, check_recipient, value_type};
use super::{DesiredToken, Lifecycle, Rotation};
use crate::model::{
    Access, Address, Effect, Role, RotationMethod, Statement, TokenField, format_duration, is_identifier,
};

/// Where a token's name came from, for duplicate-name labels.
struct NameSite {
    address: Address,
    file: usize,
    span: Range<usize>,
    explicit: bool,
}

pub(super) fn decode_tokens(cx: &mut Cx<'_>, blocks: &[&Block]) -> BTreeMap<Address, DesiredToken> {
    let mut out = BTreeMap::new();
    let mut labels: BTreeMap<&str, &Block> = BTreeMap::new();
    let mut names: BTreeMap<String, NameSite> = BTreeMap::new();
    let mut files = super::deliver::FileSites::new();
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
            let Some(t) = token(cx, b, address.clone(), each.as_ref(), &mut files) else { continue };
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
                let same_block = first.address.label == address.label;
                let help = if same_block && explicit {
                    "every instance of this for_each block gets the same name; put each.key in it".to_owned()
                } else if explicit || first.explicit {
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
            let mut out: Vec<(String, Each)> = Vec::with_capacity(items.len());
            let mut seen = std::collections::HashSet::with_capacity(items.len());
            for i in items {
                let Some(k) = super::functions::to_display(&i) else {
                    return bad(cx, format!("must hold strings, not a {}", value_type(&i)));
                };
                if seen.insert(k.clone()) {
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
fn token(
    cx: &mut Cx<'_>,
    b: &Block,
    address: Address,
    each: Option<&Each>,
    files: &mut super::deliver::FileSites,
) -> Option<DesiredToken> {
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
                    for (i, r) in list.iter().enumerate() {
                        check_recipient(cx, a, i, r);
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

    let deliver: Vec<_> = b
        .body
        .blocks
        .iter()
        .filter(|n| n.ident == "deliver")
        .filter_map(|d| super::deliver::decode(cx, d, each, &address, files))
        .collect();

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
        deliver,
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

/// How long an old secret keeps working by default.
const DEFAULT_GRACE: Duration = Duration::from_hours(24);
/// The longest grace (`docs/config.md`): the old secret's end must be a time the API takes.
const MAX_GRACE: Duration = Duration::from_hours(365 * 24);

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
    let grace_attr = attr(&b.body, "grace");
    let mut grace = match grace_attr {
        Some(a) => cx.duration(a, each, true),
        None => Some(DEFAULT_GRACE),
    };
    // The old secret's end is sent as a time: bounded, so it is never past the end of time,
    // and no longer than `every`, so generations do not pile up.
    if let (Some(e), Some(g)) = (every, grace) {
        let (file, span, label, shown) = match grace_attr {
            Some(a) => (a.file, a.span.clone(), "too long", format!("grace {}", format_duration(g))),
            None => (
                every_attr.file,
                every_attr.span.clone(),
                "shorter than the default grace",
                "grace 24h (the default)".into(),
            ),
        };
        let why = if g > MAX_GRACE {
            Some(format!("rotation {shown} is longer than the limit of 365d"))
        } else if g > e {
            Some(format!("rotation {shown} is longer than every {}", format_duration(e)))
        } else {
            None
        };
        if let Some(why) = why {
            let p = cx.at(Rule::BadDuration, why, file, span, label).with_help(
                "the old secret works for grace after each rotation: at most 365d, and no longer than every",
            );
            cx.sink.push(p);
            grace = None;
        }
    }
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
