//! The plan for machines (`plan --format json`, and the `-out` plan file): the [`Plan`]
//! itself, plus Terraform-style `resource_changes` (action lists such as
//! `["delete", "create"]` for a replacement) and the summary counts. Schema:
//! `schemas/plan.schema.json`, generated from [`PlanDocument`] and guarded by a test.
//!
//! `apply FILE` reads this document back as a [`Plan`]: the extra fields are ignored on read.

use schemars::JsonSchema;
use serde::Serialize;

use crate::model::Address;
use crate::plan::model::{ActionKind, Plan, Reason};
use crate::render::plan_text::Counts;

/// One action as Terraform's `resource_changes` show it.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ResourceChange {
    /// The managed address; absent for an unmanaged live token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    /// The live token acted on (absent for a create).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
    pub name: String,
    /// What happens, in order: `create`, `update`, `delete`, `import`, `rotate`, `forget`;
    /// a replacement is `["delete","create"]`, or `["create","delete"]` with create_before_destroy.
    pub actions: Vec<&'static str>,
    pub reason: Reason,
}

/// The JSON plan document: the plan, its resource changes and counts.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct PlanDocument {
    #[serde(flatten)]
    pub plan: Plan,
    /// Whether applying changes anything (`--detailed-exitcode` exits 2 on it).
    pub has_changes: bool,
    pub summary: Counts,
    pub resource_changes: Vec<ResourceChange>,
}

impl PlanDocument {
    pub fn new(plan: &Plan) -> Self {
        let resource_changes = plan
            .actions
            .iter()
            .map(|a| ResourceChange {
                address: a.address.clone(),
                token_id: a.token_id().map(str::to_owned),
                name: a.name.clone(),
                actions: match a.kind() {
                    ActionKind::Import => vec!["import"],
                    ActionKind::Create => vec!["create"],
                    ActionKind::Update => vec!["update"],
                    ActionKind::Replace if a.create_before_destroy() => vec!["create", "delete"],
                    ActionKind::Replace => vec!["delete", "create"],
                    ActionKind::Rotate => vec!["rotate"],
                    ActionKind::Retire | ActionKind::Delete => vec!["delete"],
                    ActionKind::Forget => vec!["forget"],
                },
                reason: a.reason,
            })
            .collect();
        Self {
            plan: plan.clone(),
            has_changes: plan.has_changes(),
            summary: Counts::of(plan),
            resource_changes,
        }
    }
}

/// The JSON plan document, pretty-printed, with a final newline.
pub fn plan(plan: &Plan) -> String {
    // Serializing plain data (strings, numbers, maps with string keys) cannot fail.
    let mut s =
        crate::escape::json(serde_json::to_string_pretty(&PlanDocument::new(plan)).unwrap_or_default());
    s.push('\n');
    s
}

/// The JSON Schema of the plan document (`schemas/plan.schema.json`).
pub fn plan_schema() -> String {
    let schema = schemars::schema_for!(PlanDocument);
    let mut s = serde_json::to_string_pretty(&schema).unwrap_or_default();
    s.push('\n');
    s
}
