//! The machine-readable UI (`-json`, `--format json-stream` on plan, apply and destroy):
//! one JSON object per line (NDJSON), shaped like Terraform's machine-readable UI so the
//! wrappers written for it (PR bots, dashboards) read it with small changes. Schema:
//! `schemas/stream.schema.json`, generated from [`Message`] and guarded by a test.
//!
//! Every line has `@level`, `@message`, `@module`, `@timestamp` and `type`. A stream opens
//! with `version`; a plan follows with `resource_drift`, `planned_change` and a
//! `change_summary` (`operation: plan`); an apply adds `apply_start`, `apply_progress`,
//! `apply_complete` / `apply_errored` per task and a closing `change_summary`; warnings
//! and errors are `diagnostic` lines. Pure: the caller passes the time. Never a secret:
//! lines carry addresses, names, token ids and error messages (which hold no secret).

use schemars::JsonSchema;
use serde::Serialize;

use crate::apply::Counts as ApplyCounts;
use crate::model::Address;
use crate::plan::model::{ActionKind, DriftKind, Plan};
use crate::render::json::PlanDocument;
use crate::render::plan_text::Counts;

/// Bumped when a line changes incompatibly (a field renamed or removed, a meaning changed).
pub const UI_VERSION: &str = "1.0";

/// The `@module` of every line.
pub const MODULE: &str = "tokenform.ui";

/// One line of the stream.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Message {
    #[serde(rename = "@level")]
    pub level: Level,
    /// The line for a person (what the human output would say).
    #[serde(rename = "@message")]
    pub message: String,
    /// Always `tokenform.ui`.
    #[serde(rename = "@module")]
    pub module: &'static str,
    #[serde(rename = "@timestamp")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub timestamp: jiff::Timestamp,
    #[serde(flatten)]
    pub body: Body,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Info,
    Warn,
    Error,
}

/// What a line is about, by its `type`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Body {
    /// Always first: which tokenform, which version of this stream.
    Version { tokenform: String, ui: String },
    /// A managed token changed or deleted outside tokenform (before the planned changes).
    ResourceDrift { change: Change },
    /// One action of the plan.
    PlannedChange { change: Change },
    /// The plan's counts (`operation: plan`), or what an apply or destroy did.
    ChangeSummary { changes: ChangeSummary },
    /// A task starts.
    ApplyStart { hook: Hook },
    /// A task moves on to its next request (a rotation's expiry, a replacement's delete, a
    /// reconciling list), or says something on the way.
    ApplyProgress { hook: Hook },
    /// A task is done; `id_value` is the token it leaves (or deleted).
    ApplyComplete { hook: Hook },
    /// A task failed; `@message` says why. The command's closing diagnostic repeats it.
    ApplyErrored { hook: Hook },
    /// A warning or an error.
    Diagnostic { diagnostic: Diagnostic },
}

/// What a line is about: a managed address, or an unmanaged live token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Resource {
    /// The address (`token.NAME`, `token.NAME["KEY"]`), or `token id ID` for an unmanaged token.
    pub addr: String,
    /// `token`, for wrappers that read Terraform's `resource_type`.
    pub resource_type: &'static str,
    /// The block label (absent for an unmanaged token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    /// The `for_each` key, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_key: Option<String>,
    /// The live token acted on, when known before the task runs (absent for a create).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
}

impl Resource {
    /// `address` if managed, else the unmanaged token `token_id`.
    pub fn new(address: Option<&Address>, token_id: Option<&str>) -> Self {
        let addr = match (address, token_id) {
            (Some(a), _) => a.to_string(),
            (None, Some(id)) => format!("token id {id}"),
            (None, None) => "token".to_owned(),
        };
        Self {
            addr,
            resource_type: "token",
            resource_name: address.map(|a| a.label.clone()),
            resource_key: address.and_then(|a| a.key.clone()),
            token_id: token_id.map(str::to_owned),
        }
    }
}

/// A planned (or drifted) change.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Change {
    pub resource: Resource,
    /// `create`, `update`, `replace`, `rotate`, `retire`, `delete`, `import`, `forget`;
    /// for drift, `update` (changed outside) or `delete` (deleted outside).
    pub action: &'static str,
    /// The same as `resource_changes[].actions` of `plan --format json`: a replacement is
    /// `["delete","create"]`, or `["create","delete"]` with create_before_destroy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<&'static str>,
    /// Why (`plan --format json`'s `reason`), for planned changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<crate::plan::model::Reason>,
    /// The token's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where the change's new secret is delivered, in order (its `deliver` blocks, as the
    /// plan file records them; the secret itself never appears).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deliver: Vec<crate::deliver::Sink>,
}

/// What an apply task does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HookAction {
    Create,
    Update,
    Replace,
    Rotate,
    Retire,
    Delete,
    Import,
    Forget,
    /// `--refresh-only`: record the live token into state.
    Refresh,
}

impl HookAction {
    /// `Creating`, `Modifying`, … as in `token.a: Creating...`.
    pub fn progressive(self) -> &'static str {
        match self {
            HookAction::Create => "Creating",
            HookAction::Update => "Modifying",
            HookAction::Replace => "Replacing",
            HookAction::Rotate => "Rotating",
            HookAction::Retire => "Retiring",
            HookAction::Delete => "Destroying",
            HookAction::Import => "Importing",
            HookAction::Forget => "Forgetting",
            HookAction::Refresh => "Refreshing",
        }
    }
}

/// One apply task, in `apply_*` lines.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Hook {
    pub resource: Resource,
    pub action: HookAction,
    /// Whole seconds since the task's `apply_start` (progress, complete, errored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elapsed_seconds: Option<u64>,
    /// `id` when `id_value` is set, as Terraform names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_key: Option<&'static str>,
    /// The token the finished task leaves in state (or deleted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_value: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    Plan,
    Apply,
    Destroy,
}

/// `change_summary`'s counts: Terraform's four, then tokenform's own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ChangeSummary {
    pub operation: Operation,
    /// Tokens created (replacements included).
    pub add: usize,
    /// Tokens updated or rotated in place.
    pub change: usize,
    /// Tokens deleted (replacements and retired generations included).
    pub remove: usize,
    pub import: usize,
    /// For `plan`: the plan's counts per action kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned: Option<Counts>,
    /// For `apply` and `destroy`: what was done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<ApplyCounts>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Warning,
    Error,
}

/// A warning or an error: its message, help and stable code (never a source snippet:
/// configuration contents are not echoed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Diagnostic {
    pub severity: Severity,
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The stable code, e.g. `tokenform::apply::stale_plan`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

impl Message {
    pub fn new(level: Level, message: impl Into<String>, body: Body, at: jiff::Timestamp) -> Self {
        Self { level, message: message.into(), module: MODULE, timestamp: at, body }
    }

    /// The line: compact JSON and a newline. Control characters are escaped by JSON, so a
    /// name cannot break the one-object-per-line framing.
    pub fn line(&self) -> String {
        // Plain data (strings, numbers, maps with string keys): serializing cannot fail.
        let mut s = crate::escape::json(serde_json::to_string(self).unwrap_or_default());
        s.push('\n');
        s
    }
}

/// The first line of every stream.
pub fn version(at: jiff::Timestamp) -> Message {
    let tokenform = env!("CARGO_PKG_VERSION");
    Message::new(
        Level::Info,
        format!("tokenform {tokenform}"),
        Body::Version { tokenform: tokenform.to_owned(), ui: UI_VERSION.to_owned() },
        at,
    )
}

/// A plan as lines: its warnings, its drift, one `planned_change` per action, and the
/// `change_summary` (no `version`: the stream has one already).
pub fn plan(plan: &Plan, at: jiff::Timestamp) -> Vec<Message> {
    let mut out: Vec<Message> = plan.warnings.iter().map(|w| warning(w, at)).collect();
    for d in &plan.drift {
        let (action, what) = match d.kind {
            DriftKind::Changed => ("update", "has changed outside tokenform"),
            DriftKind::Missing => ("delete", "has been deleted outside tokenform"),
        };
        let resource = Resource::new(Some(&d.address), Some(&d.token_id));
        out.push(Message::new(
            Level::Info,
            format!("{}: {what}", resource.addr),
            Body::ResourceDrift {
                change: Change {
                    resource,
                    action,
                    actions: Vec::new(),
                    reason: None,
                    name: None,
                    deliver: Vec::new(),
                },
            },
            at,
        ));
    }
    let doc = PlanDocument::new(plan);
    for (a, c) in plan.actions.iter().zip(doc.resource_changes) {
        let resource = Resource::new(c.address.as_ref(), c.token_id.as_deref());
        let action = kind_name(a.kind());
        out.push(Message::new(
            Level::Info,
            format!("{}: Plan to {action}", resource.addr),
            Body::PlannedChange {
                change: Change {
                    resource,
                    action,
                    actions: c.actions,
                    reason: Some(c.reason),
                    name: Some(c.name),
                    deliver: a.change.deliveries().to_vec(),
                },
            },
            at,
        ));
    }
    let counts = doc.summary;
    out.push(Message::new(
        Level::Info,
        if plan.has_changes() {
            counts.summary()
        } else {
            "No changes. Tokens match the configuration.".into()
        },
        Body::ChangeSummary {
            changes: ChangeSummary {
                operation: Operation::Plan,
                add: counts.create + counts.replace,
                change: counts.update + counts.rotate,
                remove: counts.delete + counts.retire + counts.replace,
                import: counts.import,
                planned: Some(counts),
                applied: None,
            },
        },
        at,
    ));
    out
}

/// `create`, `retire`, … (the plan's action kinds, as `plan --format json` spells them).
fn kind_name(kind: ActionKind) -> &'static str {
    match kind {
        ActionKind::Import => "import",
        ActionKind::Create => "create",
        ActionKind::Update => "update",
        ActionKind::Replace => "replace",
        ActionKind::Rotate => "rotate",
        ActionKind::Retire => "retire",
        ActionKind::Delete => "delete",
        ActionKind::Forget => "forget",
    }
}

/// The closing `change_summary` of an apply or destroy; `message` is the human summary line.
pub fn applied(operation: Operation, counts: &ApplyCounts, message: String, at: jiff::Timestamp) -> Message {
    Message::new(
        Level::Info,
        message,
        Body::ChangeSummary {
            changes: ChangeSummary {
                operation,
                add: counts.created,
                change: counts.updated + counts.rotated,
                remove: counts.deleted + counts.discarded,
                import: counts.imported,
                planned: None,
                applied: Some(counts.clone()),
            },
        },
        at,
    )
}

/// An `apply_*` line.
pub fn hook(kind: HookKind, hook: Hook, message: String, at: jiff::Timestamp) -> Message {
    let (level, body) = match kind {
        HookKind::Start => (Level::Info, Body::ApplyStart { hook }),
        HookKind::Progress => (Level::Info, Body::ApplyProgress { hook }),
        HookKind::Complete => (Level::Info, Body::ApplyComplete { hook }),
        HookKind::Errored => (Level::Error, Body::ApplyErrored { hook }),
    };
    Message::new(level, message, body, at)
}

/// Which `apply_*` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookKind {
    Start,
    Progress,
    Complete,
    Errored,
}

/// A warning diagnostic.
pub fn warning(text: &str, at: jiff::Timestamp) -> Message {
    Message::new(
        Level::Warn,
        format!("Warning: {text}"),
        Body::Diagnostic {
            diagnostic: Diagnostic {
                severity: Severity::Warning,
                summary: text.to_owned(),
                detail: None,
                code: None,
            },
        },
        at,
    )
}

/// An error as diagnostics: the error itself, then each related error (an apply's failed
/// steps). Message, help and code only: never the source snippet.
pub fn errors(report: &miette::Report, at: jiff::Timestamp) -> Vec<Message> {
    let mut out = Vec::new();
    push_error(&mut out, report.as_ref(), at);
    out
}

fn push_error(out: &mut Vec<Message>, d: &dyn miette::Diagnostic, at: jiff::Timestamp) {
    // The causes too: `wrap_err` puts the useful part ("could not read …: permission
    // denied") below the outermost message.
    let mut summary = d.to_string();
    let mut source = std::error::Error::source(d);
    while let Some(cause) = source {
        let text = cause.to_string();
        // `#[error("…: {source}")]` already says it.
        if !summary.contains(&text) {
            summary.push_str(": ");
            summary.push_str(&text);
        }
        source = cause.source();
    }
    let diagnostic = Diagnostic {
        severity: Severity::Error,
        detail: d.help().map(|h| h.to_string()),
        code: d.code().map(|c| c.to_string()),
        summary,
    };
    out.push(Message::new(
        Level::Error,
        format!("Error: {}", diagnostic.summary),
        Body::Diagnostic { diagnostic },
        at,
    ));
    if let Some(related) = d.related() {
        for r in related {
            push_error(out, r, at);
        }
    }
}

/// The JSON Schema of one line (`schemas/stream.schema.json`).
pub fn schema() -> String {
    let schema = schemars::schema_for!(Message);
    let mut s = serde_json::to_string_pretty(&schema).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
