//! Words and attribute lines shared by the human and markdown plan printers, so both
//! say the same thing. Pure.

use serde_json::Value;
use similar::{ChangeTag, TextDiff};

use crate::model::{RotationMethod, TokenField, format_duration};
use crate::plan::model::{Action, ActionKind, AttributeDiff, Plan, Reason, TokenSpec};

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

/// One line inside a token block: `sign key = value`, or a raw line of a policy diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub sign: Sign,
    /// Attribute name; empty for the lines of a policy diff.
    pub key: String,
    /// The value; empty on the header line of a multi-line value (a policy).
    pub text: String,
    /// `# forces replacement` and similar trailing notes.
    pub note: Option<&'static str>,
}

impl Line {
    fn attr(sign: Sign, key: &str, text: String) -> Self {
        Self { sign, key: key.to_owned(), text, note: None }
    }
}

/// The action's symbol: Terraform's where it has one. `@` (rotate) reads as a circular
/// arrow and is unused by Terraform; `<=` (import) is Terraform's "read" marker, which is
/// what an import does to the state; `.` (forget) marks a token left exactly as it is.
pub fn symbol(action: &Action) -> &'static str {
    match action.kind {
        ActionKind::Import => "<=",
        ActionKind::Create => "+",
        ActionKind::Update => "~",
        ActionKind::Replace if action.create_before_destroy => "+/-",
        ActionKind::Replace => "-/+",
        ActionKind::Rotate => "@",
        ActionKind::Retire | ActionKind::Delete => "-",
        ActionKind::Forget => ".",
    }
}

/// Legend text for a symbol.
pub fn legend(action: &Action) -> &'static str {
    match action.kind {
        ActionKind::Import => "import (record an existing token in state)",
        ActionKind::Create => "create",
        ActionKind::Update => "update in-place",
        ActionKind::Replace if action.create_before_destroy => "create replacement and then destroy",
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
        None => format!("unmanaged token {:?}", action.name),
    }
}

/// `token.x will be created` and so on.
pub fn heading(action: &Action) -> String {
    let who = subject(action);
    match action.kind {
        ActionKind::Import => format!("{who} will be imported"),
        ActionKind::Create => format!("{who} will be created"),
        ActionKind::Update => format!("{who} will be updated in-place"),
        ActionKind::Replace => format!("{who} must be replaced"),
        ActionKind::Rotate => format!("{who} will be rotated"),
        ActionKind::Retire => {
            format!("{who} (old generation {}) will be retired", action.token_id.as_deref().unwrap_or("?"))
        }
        ActionKind::Delete if action.reason == Reason::OrphanDiscarded => {
            format!("{who} (orphan {}) will be destroyed", action.token_id.as_deref().unwrap_or("?"))
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
        Reason::GraceEnded => "because its grace period has ended",
        Reason::RemovedFromConfig => "because its token block is no longer in the configuration",
        Reason::RemovedBlock => "because of a removed block",
        Reason::DestroyRequested => "because destroy was requested",
        Reason::Unmanaged => {
            "because unmanaged.mode = \"delete\" and neither configuration nor state knows it"
        }
    })
}

/// A value as HCL-ish text: strings quoted, lists inline.
pub fn value(v: &Value) -> String {
    match v {
        Value::Array(items) => {
            format!("[{}]", items.iter().map(value).collect::<Vec<_>>().join(", "))
        }
        other => other.to_string(),
    }
}

/// Pretty JSON lines of a policy (for line diffs).
fn policy_lines(v: Option<&Value>) -> String {
    v.and_then(|v| serde_json::to_string_pretty(v).ok()).map(|s| s + "\n").unwrap_or_default()
}

/// The line diff of two policies, as signed lines (`similar`).
pub fn policy_diff(old: Option<&Value>, new: Option<&Value>) -> Vec<Line> {
    let (old, new) = (policy_lines(old), policy_lines(new));
    let diff = TextDiff::from_lines(&old, &new);
    diff.iter_all_changes()
        .map(|c| {
            let sign = match c.tag() {
                ChangeTag::Delete => Sign::Remove,
                ChangeTag::Insert => Sign::Add,
                ChangeTag::Equal => Sign::Same,
            };
            Line { sign, key: String::new(), text: c.value().trim_end_matches('\n').to_owned(), note: None }
        })
        .collect()
}

/// The attributes of a token to be created.
pub fn spec_lines(spec: &TokenSpec, sign: Sign) -> Vec<Line> {
    let mut out = vec![Line::attr(sign, "name", value(&Value::from(spec.name.clone())))];
    if let Some(d) = &spec.description {
        out.push(Line::attr(sign, "description", value(&Value::from(d.clone()))));
    }
    if let Some(r) = spec.role {
        out.push(Line::attr(sign, "role", format!("{:?}", r.as_str())));
    }
    if !spec.custom_role_keys.is_empty() {
        out.push(Line::attr(sign, "custom_roles", value(&serde_json::json!(spec.custom_role_keys))));
    }
    if let Some(p) = &spec.inline_role {
        out.push(Line::attr(sign, "policy", String::new()));
        for l in policy_diff(None, Some(&serde_json::json!(p))) {
            out.push(Line { sign, ..l });
        }
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

/// One attribute difference as lines (`~ key = old -> new`, or a policy line diff).
pub fn diff_lines(d: &AttributeDiff) -> Vec<Line> {
    let key = d.field.as_str();
    let note = d.forces_replacement.then_some("# forces replacement");
    if d.field == TokenField::Policy {
        let sign = match (&d.old, &d.new) {
            (None, Some(_)) => Sign::Add,
            (Some(_), None) => Sign::Remove,
            _ => Sign::Change,
        };
        // The header line has no value: the JSON line diff below it is the value.
        let mut out = vec![Line { sign, key: key.to_owned(), text: String::new(), note }];
        out.extend(policy_diff(d.old.as_ref(), d.new.as_ref()));
        return out;
    }
    let line = match (&d.old, &d.new) {
        (None, Some(new)) => Line::attr(Sign::Add, key, value(new)),
        (Some(old), None) => Line::attr(Sign::Remove, key, format!("{} -> null", value(old))),
        (Some(old), Some(new)) => Line::attr(Sign::Change, key, format!("{} -> {}", value(old), value(new))),
        (None, None) => Line::attr(Sign::Same, key, "null".into()),
    };
    vec![Line { note, ..line }]
}

fn quoted(s: &str) -> String {
    Value::from(s).to_string()
}

/// The body of an action's token block, sign by sign.
pub fn action_lines(action: &Action) -> Vec<Line> {
    let id = action.token_id.as_deref().map(quoted);
    let mut out = Vec::new();
    match action.kind {
        ActionKind::Create => {
            if let Some(spec) = &action.desired {
                out.extend(spec_lines(spec, Sign::Add));
            }
            out.push(Line::attr(Sign::Add, "id", "(known after apply)".into()));
            out.push(Line::attr(Sign::Add, "secret", SENSITIVE.into()));
        }
        ActionKind::Update => {
            if let Some(id) = id {
                out.push(Line::attr(Sign::Same, "id", id));
            }
            out.extend(action.diffs.iter().flat_map(diff_lines));
            if action.diffs.is_empty()
                && let Some(spec) = &action.desired
            {
                out.push(Line {
                    note: Some("# recorded in state only"),
                    ..Line::attr(
                        Sign::Change,
                        "prevent_destroy",
                        format!("{} -> {}", !spec.prevent_destroy, spec.prevent_destroy),
                    )
                });
            }
        }
        ActionKind::Replace => {
            if let Some(id) = id {
                out.push(Line::attr(Sign::Change, "id", format!("{id} -> (known after apply)")));
            }
            out.extend(action.diffs.iter().flat_map(diff_lines));
            out.push(Line::attr(Sign::Change, "secret", format!("{SENSITIVE} -> {SENSITIVE}")));
        }
        ActionKind::Rotate => {
            if let Some(id) = id {
                out.push(Line::attr(Sign::Same, "id", id));
            }
            out.push(Line::attr(Sign::Same, "name", quoted(&action.name)));
            out.push(Line::attr(Sign::Change, "secret", format!("{SENSITIVE} -> {SENSITIVE}")));
            if let Some(step) = action.rotation {
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
                out.push(Line::attr(Sign::Remove, "id", format!("{id} -> null")));
            }
            out.push(Line::attr(Sign::Remove, "name", format!("{} -> null", quoted(&action.name))));
        }
        ActionKind::Import | ActionKind::Forget => {
            if let Some(id) = id {
                out.push(Line::attr(Sign::Same, "id", id));
            }
            out.push(Line::attr(Sign::Same, "name", quoted(&action.name)));
        }
    }
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
            *match a.kind {
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
        .filter(|a| matches!(a.kind, ActionKind::Delete | ActionKind::Replace))
        .map(|a| {
            let id = a.token_id.as_deref().unwrap_or("?");
            match (&a.address, a.kind) {
                (Some(addr), ActionKind::Replace) => format!("{addr} (id {id}, replaced)"),
                (Some(addr), _) if a.reason == Reason::OrphanDiscarded => {
                    format!("{addr} (id {id}, orphan of an interrupted create: nobody has its secret)")
                }
                (Some(addr), _) => format!("{addr} (id {id})"),
                (None, _) => format!("unmanaged token {:?} (id {id})", a.name),
            }
        })
        .collect()
}

/// Drift entry heading: `token.x has changed` / `has been deleted`.
pub fn drift_heading(entry: &crate::plan::model::DriftEntry) -> String {
    match entry.kind {
        crate::plan::model::DriftKind::Changed => format!("{} has changed", entry.address),
        crate::plan::model::DriftKind::Missing => format!("{} has been deleted", entry.address),
    }
}
