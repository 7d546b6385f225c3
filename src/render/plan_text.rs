//! Words and attribute lines shared by the human and markdown plan printers, so both
//! say the same thing. Pure.

use serde_json::Value;

use crate::model::{RotationMethod, TokenField, format_duration};
use crate::plan::model::{Action, ActionKind, AttributeDiff, Plan, Reason, TokenSpec};
use crate::render::policy;

/// The `(sensitive value)` marker printed where a secret would be.
pub const SENSITIVE: &str = "(sensitive value)";

/// How a line of a token block changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sign {
    Add,
    Remove,
    Change,
    Same,
}

impl Sign {
    pub fn symbol(self) -> &'static str {
        match self {
            Sign::Add => "+",
            Sign::Remove => "-",
            Sign::Change => "~",
            Sign::Same => " ",
        }
    }
}

/// One line inside a token block. Lines nest: a `policy { … }` block or a list shown one
/// element per line opens at some depth, its content sits one level deeper, and its
/// closing line is back at the opener's depth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub sign: Sign,
    /// 0 for the token's own attributes, 1 inside a `policy` block or a top-level list, …
    pub depth: usize,
    pub shape: Shape,
    /// `# forces replacement` and similar trailing notes.
    pub note: Option<&'static str>,
}

/// What one [`Line`] holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// `key = new`, `key = old -> new` (a change) or `key = old -> null` (a removal).
    Attr { key: String, old: Option<String>, new: Option<String> },
    /// `key = [`: a list shown one element per line, up to its [`Shape::Close`].
    OpenList { key: String },
    /// `name {`: a nested block (one `policy` statement), up to its [`Shape::Close`].
    OpenBlock { name: String },
    /// `]` or `}`; `to_null` when the whole list went away (`] -> null`).
    Close { bracket: char, to_null: bool },
    /// One element of a list shown one per line (printed with a trailing comma).
    Element { text: String },
    /// `# (2 unchanged elements hidden)`.
    Comment { text: String },
    /// `deliver exec "gh secret set …"`: where the new secret goes (a `deliver` block).
    Deliver { kind: &'static str, target: String },
}

impl Line {
    /// `sign key = value` at the token's own level (added, unchanged).
    pub fn attr(sign: Sign, key: &str, value: String) -> Self {
        Self::at(0, sign, Shape::Attr { key: key.to_owned(), old: None, new: Some(value) })
    }

    /// `~ key = old -> new` at the token's own level.
    pub fn change(key: &str, old: String, new: String) -> Self {
        Self::at(0, Sign::Change, Shape::Attr { key: key.to_owned(), old: Some(old), new: Some(new) })
    }

    /// `- key = old -> null` at the token's own level.
    pub fn removed(key: &str, old: String) -> Self {
        Self::at(0, Sign::Remove, Shape::Attr { key: key.to_owned(), old: Some(old), new: None })
    }

    /// A line of any shape at `depth`.
    pub fn at(depth: usize, sign: Sign, shape: Shape) -> Self {
        Self { sign, depth, shape, note: None }
    }

    /// The same line with a trailing note.
    pub fn with_note(self, note: Option<&'static str>) -> Self {
        Self { note, ..self }
    }

    /// The key `=` is aligned on, for attributes and lists.
    pub fn key(&self) -> Option<&str> {
        match &self.shape {
            Shape::Attr { key, .. } | Shape::OpenList { key } => Some(key),
            _ => None,
        }
    }

    /// The line's text after its sign and indentation, with the key padded to `width`;
    /// a change reads `old -> new`. Values come from the API: control characters JSON
    /// quoting leaves (C1, bidi overrides) are escaped here, for every printer of lines.
    pub fn content(&self, width: usize) -> String {
        crate::escape::text(&self.raw_content(width)).into_owned()
    }

    fn raw_content(&self, width: usize) -> String {
        match &self.shape {
            Shape::Attr { key, old, new } => {
                let value = match (old, new) {
                    (Some(old), Some(new)) => format!("{old} -> {new}"),
                    (Some(old), None) => format!("{old} -> null"),
                    (None, Some(new)) => new.clone(),
                    (None, None) => "null".to_owned(),
                };
                format!("{key:<width$} = {value}")
            }
            Shape::OpenList { key } => format!("{key:<width$} = ["),
            Shape::OpenBlock { name } => format!("{name} {{"),
            Shape::Close { bracket, to_null: true } => format!("{bracket} -> null"),
            Shape::Close { bracket, to_null: false } => bracket.to_string(),
            Shape::Element { text } => format!("{text},"),
            Shape::Comment { text } => text.clone(),
            Shape::Deliver { kind, target } => format!("deliver {kind} {}", crate::escape::quoted(target)),
        }
    }
}

/// For each line, the width its key is padded to: the longest key among the attributes at
/// the same depth in the same block, so the `=` of siblings line up (as `terraform fmt` does).
pub fn key_widths(lines: &[Line]) -> Vec<usize> {
    let mut widths = vec![0; lines.len()];
    let mut done = vec![false; lines.len()];
    for i in 0..lines.len() {
        if lines[i].key().is_none() || done[i] {
            continue;
        }
        let depth = lines[i].depth;
        // The enclosing block: the run of lines around `i` at this depth or deeper.
        let start = lines[..i].iter().rposition(|l| l.depth < depth).map_or(0, |p| p + 1);
        let end = lines[i..].iter().position(|l| l.depth < depth).map_or(lines.len(), |p| i + p);
        let siblings = || (start..end).filter(|&j| lines[j].depth == depth && lines[j].key().is_some());
        let width = siblings().filter_map(|j| lines[j].key()).map(str::len).max().unwrap_or(0);
        for j in siblings() {
            widths[j] = width;
            done[j] = true;
        }
    }
    widths
}

/// The action's symbol: Terraform's where it has one. `@` (rotate) reads as a circular
/// arrow and is unused by Terraform; `<=` (import) is Terraform's "read" marker, which is
/// what an import does to the state; `.` (forget) marks a token left exactly as it is.
pub fn symbol(action: &Action) -> &'static str {
    match action.kind() {
        ActionKind::Import => "<=",
        ActionKind::Create => "+",
        ActionKind::Update => "~",
        ActionKind::Replace if action.create_before_destroy() => "+/-",
        ActionKind::Replace => "-/+",
        ActionKind::Rotate => "@",
        ActionKind::Retire | ActionKind::Delete => "-",
        ActionKind::Forget => ".",
    }
}

/// Legend text for a symbol.
pub fn legend(action: &Action) -> &'static str {
    match action.kind() {
        ActionKind::Import => "import (record an existing token in state)",
        ActionKind::Create => "create",
        ActionKind::Update => "update in-place",
        ActionKind::Replace if action.create_before_destroy() => "create replacement and then destroy",
        ActionKind::Replace => "destroy and then create replacement",
        ActionKind::Rotate => "rotate (new secret)",
        ActionKind::Retire | ActionKind::Delete => "destroy",
        ActionKind::Forget => "forget (stop managing; the token stays)",
    }
}

/// What the action is about: the address, or the unmanaged token's name.
pub fn subject(action: &Action) -> String {
    match &action.address {
        Some(a) => a.to_string(),
        None => format!("unmanaged token {}", crate::escape::quoted(&action.name)),
    }
}

/// `token.x will be created` and so on.
pub fn heading(action: &Action) -> String {
    let who = subject(action);
    match action.kind() {
        ActionKind::Import => format!("{who} will be imported"),
        ActionKind::Create => format!("{who} will be created"),
        ActionKind::Update => format!("{who} will be updated in-place"),
        ActionKind::Replace => format!("{who} must be replaced"),
        ActionKind::Rotate => format!("{who} will be rotated"),
        ActionKind::Retire => {
            format!("{who} (old generation {}) will be retired", action.token_id().unwrap_or("?"))
        }
        ActionKind::Delete if action.reason == Reason::OrphanDiscarded => {
            format!("{who} (orphan {}) will be destroyed", action.token_id().unwrap_or("?"))
        }
        ActionKind::Delete => format!("{who} will be destroyed"),
        ActionKind::Forget => format!("{who} will no longer be managed by tokenform"),
    }
}

/// Why, when the heading does not already say it.
pub fn reason(action: &Action) -> Option<&'static str> {
    Some(match action.reason {
        Reason::NotInState | Reason::ConfigChanged | Reason::ForcesReplacement => return None,
        Reason::ImportRequested => "because of an import block",
        Reason::OrphanDiscarded => {
            "because a create of this address lost its answer (an interrupted apply); nobody has its secret"
        }
        Reason::DeletedOutside => "because it was deleted outside tokenform",
        Reason::ChangedOutside => "because it was changed outside tokenform",
        Reason::RotationDue => "because its secret is older than rotation.every",
        Reason::RotationRequested => "because --rotate asked for it",
        Reason::DeliveryIncomplete => {
            "because its last new secret did not reach every sink; the old secret is held until one does"
        }
        Reason::GraceEnded => "because its grace period has ended",
        Reason::RemovedFromConfig => "because its token block is no longer in the configuration",
        Reason::RemovedBlock => "because of a removed block",
        Reason::DestroyRequested => "because destroy was requested",
        Reason::Unmanaged => {
            "because unmanaged.mode = \"delete\" and neither configuration nor state knows it"
        }
    })
}

/// A value as HCL-ish text: strings quoted (control characters escaped, as everywhere:
/// [`crate::escape::quoted`]), lists inline.
pub fn value(v: &Value) -> String {
    match v {
        Value::Array(items) => {
            format!("[{}]", items.iter().map(value).collect::<Vec<_>>().join(", "))
        }
        Value::String(s) => crate::escape::quoted(s),
        other => other.to_string(),
    }
}

/// The attributes of a token to be created; its `policy` blocks come from [`spec_blocks`].
pub fn spec_lines(spec: &TokenSpec, sign: Sign) -> Vec<Line> {
    let spec = &spec.api;
    let mut out = vec![Line::attr(sign, "name", value(&Value::from(spec.name.clone())))];
    if let Some(d) = &spec.description {
        out.push(Line::attr(sign, "description", value(&Value::from(d.clone()))));
    }
    if let Some(r) = spec.role() {
        out.push(Line::attr(sign, "role", format!("{:?}", r.as_str())));
    }
    let keys: Vec<&str> = spec.custom_roles().iter().map(|r| r.key.as_str()).collect();
    if !keys.is_empty() {
        out.push(Line::attr(sign, "custom_roles", value(&serde_json::json!(keys))));
    }
    out.push(Line::attr(sign, "service_token", spec.service_token.to_string()));
    if let Some(v) = spec.api_version {
        out.push(Line::attr(sign, "api_version", v.to_string()));
    }
    if let Some(t) = spec.expiry {
        out.push(Line::attr(sign, "expires_at", format!("{:?}", t.to_string())));
    }
    out
}

/// The `policy` blocks of a token to be created (nested blocks follow the attributes, as
/// in Terraform).
pub fn spec_blocks(spec: &TokenSpec) -> Vec<Line> {
    spec.api.policy().map(|p| policy::blocks(None, Some(p))).unwrap_or_default()
}

/// One attribute difference as lines: `~ key = old -> new`, or for `policy` the
/// statement-by-statement block diff of [`policy::diff`].
pub fn diff_lines(d: &AttributeDiff) -> Vec<Line> {
    let key = d.field.as_str();
    let note = d.forces_replacement.then_some("# forces replacement");
    if d.field == TokenField::Policy
        && let Some(lines) = policy::diff(d.old.as_ref(), d.new.as_ref())
    {
        return lines;
    }
    let line = match (&d.old, &d.new) {
        (None, Some(new)) => Line::attr(Sign::Add, key, value(new)),
        (Some(old), None) => Line::removed(key, value(old)),
        (Some(old), Some(new)) => Line::change(key, value(old), value(new)),
        (None, None) => Line::attr(Sign::Same, key, "null".into()),
    };
    vec![line.with_note(note)]
}

/// The lines of several attribute differences: plain attributes first, then the nested
/// `policy` blocks (Terraform's order), so the attributes' `=` stay aligned.
pub fn diffs_lines(diffs: &[AttributeDiff]) -> (Vec<Line>, Vec<Line>) {
    let (blocks, attrs): (Vec<&AttributeDiff>, Vec<&AttributeDiff>) =
        diffs.iter().partition(|d| d.field == TokenField::Policy);
    (attrs.into_iter().flat_map(diff_lines).collect(), blocks.into_iter().flat_map(diff_lines).collect())
}

/// [`diffs_lines`] as one list (a drift entry's block): the attributes, then the blocks.
pub fn all_diffs_lines(diffs: &[AttributeDiff]) -> Vec<Line> {
    let (mut lines, blocks) = diffs_lines(diffs);
    lines.extend(blocks);
    lines
}

fn quoted(s: &str) -> String {
    crate::escape::quoted(s)
}

/// `+ deliver exec "…"` / `+ deliver file "…"`: one line per sink the action's new secret
/// goes to, in the order apply runs them (after the attributes, as nested blocks are).
pub fn delivery_lines(action: &Action) -> Vec<Line> {
    action
        .change
        .deliveries()
        .iter()
        .map(|sink| Line::at(0, Sign::Add, Shape::Deliver { kind: sink.kind(), target: sink.target() }))
        .collect()
}

/// The body of an action's token block, sign by sign.
pub fn action_lines(action: &Action) -> Vec<Line> {
    let id = action.token_id().map(quoted);
    let mut out = Vec::new();
    match action.kind() {
        ActionKind::Create => {
            if let Some(spec) = action.desired() {
                out.extend(spec_lines(spec, Sign::Add));
            }
            out.push(Line::attr(Sign::Add, "id", "(known after apply)".into()));
            out.push(Line::attr(Sign::Add, "secret", SENSITIVE.into()));
            if let Some(spec) = action.desired() {
                out.extend(spec_blocks(spec));
            }
        }
        ActionKind::Update => {
            if let Some(id) = id {
                out.push(Line::attr(Sign::Same, "id", id));
            }
            let (attrs, blocks) = diffs_lines(&action.diffs);
            out.extend(attrs);
            if action.diffs.is_empty()
                && let Some(spec) = action.desired()
            {
                out.push(
                    Line::change(
                        "prevent_destroy",
                        (!spec.state.prevent_destroy).to_string(),
                        spec.state.prevent_destroy.to_string(),
                    )
                    .with_note(Some("# recorded in state only")),
                );
            }
            out.extend(blocks);
        }
        ActionKind::Replace => {
            if let Some(id) = id {
                out.push(Line::change("id", id, "(known after apply)".into()));
            }
            let (attrs, blocks) = diffs_lines(&action.diffs);
            out.extend(attrs);
            out.push(Line::change("secret", SENSITIVE.into(), SENSITIVE.into()));
            out.extend(blocks);
        }
        ActionKind::Rotate => {
            if let Some(id) = id {
                out.push(Line::attr(Sign::Same, "id", id));
            }
            out.push(Line::attr(Sign::Same, "name", quoted(&action.name)));
            out.push(Line::change("secret", SENSITIVE.into(), SENSITIVE.into()));
            if let Some(step) = action.rotation() {
                let method = match step.method {
                    RotationMethod::Replace => "replace",
                    RotationMethod::Reset => "reset",
                };
                out.push(Line::attr(Sign::Same, "method", quoted(method)));
                out.push(Line::attr(
                    Sign::Same,
                    "grace",
                    quoted(&format_duration(std::time::Duration::from_secs(step.grace_seconds))),
                ));
            }
        }
        ActionKind::Retire | ActionKind::Delete => {
            if let Some(id) = id {
                out.push(Line::removed("id", id));
            }
            out.push(Line::removed("name", quoted(&action.name)));
        }
        ActionKind::Import | ActionKind::Forget => {
            if let Some(id) = id {
                out.push(Line::attr(Sign::Same, "id", id));
            }
            out.push(Line::attr(Sign::Same, "name", quoted(&action.name)));
        }
    }
    out.extend(delivery_lines(action));
    out
}

/// Per kind, how many actions: the summary line's numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Counts {
    pub import: usize,
    pub create: usize,
    pub update: usize,
    pub replace: usize,
    pub rotate: usize,
    pub retire: usize,
    pub delete: usize,
    pub forget: usize,
}

impl Counts {
    pub fn of(plan: &Plan) -> Self {
        let mut c = Counts::default();
        for a in &plan.actions {
            *match a.kind() {
                ActionKind::Import => &mut c.import,
                ActionKind::Create => &mut c.create,
                ActionKind::Update => &mut c.update,
                ActionKind::Replace => &mut c.replace,
                ActionKind::Rotate => &mut c.rotate,
                ActionKind::Retire => &mut c.retire,
                ActionKind::Delete => &mut c.delete,
                ActionKind::Forget => &mut c.forget,
            } += 1;
        }
        c
    }

    /// (label, count) in plan order; create, update, rotate and delete always, the others when non-zero.
    pub fn entries(&self) -> Vec<(&'static str, usize)> {
        [
            ("import", self.import, false),
            ("create", self.create, true),
            ("update", self.update, true),
            ("replace", self.replace, false),
            ("rotate", self.rotate, true),
            ("retire", self.retire, false),
            ("delete", self.delete, true),
            ("forget", self.forget, false),
        ]
        .into_iter()
        .filter(|(_, n, always)| *always || *n > 0)
        .map(|(l, n, _)| (l, n))
        .collect()
    }

    /// `Plan: 2 to create, 1 to update, 1 to rotate, 0 to delete.`
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self.entries().iter().map(|(l, n)| format!("{n} to {l}")).collect();
        format!("Plan: {}.", parts.join(", "))
    }
}

/// The tokens this plan destroys (deletes and replacements), for the warning shown first.
pub fn destroyed(plan: &Plan) -> Vec<String> {
    plan.actions
        .iter()
        .filter(|a| matches!(a.kind(), ActionKind::Delete | ActionKind::Replace))
        .map(|a| {
            let id = a.token_id().unwrap_or("?");
            match (&a.address, a.kind()) {
                (Some(addr), ActionKind::Replace) => format!("{addr} (id {id}, replaced)"),
                (Some(addr), _) if a.reason == Reason::OrphanDiscarded => {
                    format!("{addr} (id {id}, orphan of an interrupted create: nobody has its secret)")
                }
                (Some(addr), _) => format!("{addr} (id {id})"),
                (None, _) => format!(
                    "unmanaged token {} (id {})",
                    crate::escape::quoted(&a.name),
                    crate::escape::text(id)
                ),
            }
        })
        .collect()
}

/// How many unmanaged tokens a plan names before it says "and N more": the section is short,
/// `drift` has the full list.
pub const UNMANAGED_LISTED: usize = 10;

/// The plan's unmanaged section (`unmanaged { mode = "report" }`): its title, up to
/// [`UNMANAGED_LISTED`] tokens as `"name" (id ID)` (quoted and escaped: live names are
/// untrusted), how many more there are, and where to look. `None` when there are none.
pub fn unmanaged_section(plan: &Plan) -> Option<(String, Vec<String>, usize, &'static str)> {
    let n = plan.unmanaged.len();
    if n == 0 {
        return None;
    }
    let title = format!(
        "{n} live token{} in neither state nor configuration (unmanaged.mode = \"report\": listed, left alone):",
        if n == 1 { " is" } else { "s are" }
    );
    let listed = plan
        .unmanaged
        .iter()
        .take(UNMANAGED_LISTED)
        .map(|u| format!("{} (id {})", crate::escape::quoted(&u.name), crate::escape::text(&u.id)))
        .collect();
    let hint = "`tokenform drift` reports them in full; adopt one with an `import` block, or list its \
                name in `unmanaged { ignore_names }`.";
    Some((title, listed, n.saturating_sub(UNMANAGED_LISTED), hint))
}

/// What applying a refresh-only plan does, when it records something: Terraform's
/// "apply this plan to record the updated values … without changing any remote objects".
pub fn refresh_only_summary(plan: &Plan) -> Option<String> {
    if !plan.refresh_only || plan.drift.is_empty() {
        return None;
    }
    let changed = plan.drift.iter().filter(|d| d.kind == crate::plan::model::DriftKind::Changed).count();
    let missing = plan.drift.len() - changed;
    let mut parts = Vec::new();
    if changed > 0 {
        parts.push(format!("{changed} updated to their live values"));
    }
    if missing > 0 {
        parts.push(format!("{missing} dropped, deleted outside tokenform"));
    }
    let n = plan.drift.len();
    Some(format!(
        "Refresh-only plan: applying it records {n} change{} in the state and changes no token ({}).",
        if n == 1 { "" } else { "s" },
        parts.join("; ")
    ))
}

/// Drift entry heading: `token.x has changed` / `has been deleted`.
pub fn drift_heading(entry: &crate::plan::model::DriftEntry) -> String {
    match entry.kind {
        crate::plan::model::DriftKind::Changed => format!("{} has changed", entry.address),
        crate::plan::model::DriftKind::Missing => format!("{} has been deleted", entry.address),
    }
}
