//! The plan value: what `plan` shows and `apply` executes. Serialized as the plan file
//! (`plan -out`), so it never holds a secret. Renderers live in `render/`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::api::model::PatchOp;
use crate::model::{Address, Role, RotationMethod, Statement, TokenField};

/// Bumped when the plan file changes incompatibly.
pub const PLAN_FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Plan {
    pub format_version: u32,
    /// Lineage and serial of the state this plan was made against (`apply FILE` checks them).
    pub lineage: String,
    pub serial: u64,
    /// sha256 of the configuration files, for reviewers and stale-plan checks.
    pub config_digest: String,
    /// `--refresh-only`: record drift into state, change no token.
    #[serde(default)]
    pub refresh_only: bool,
    /// In plan order: import, create, update, replace, rotate, retire, delete, forget.
    pub actions: Vec<Action>,
    /// Managed tokens changed or deleted outside tokenform.
    #[serde(default)]
    pub drift: Vec<DriftEntry>,
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Things a reviewer should know that change nothing (e.g. a secret tokenform does not
    /// hold). Never a reason for `--detailed-exitcode` to exit 2.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// Whether applying this plan changes anything: an action, or (refresh-only) drift to record.
    /// `--detailed-exitcode` exits 2 on this.
    pub fn has_changes(&self) -> bool {
        !self.actions.is_empty() || (self.refresh_only && !self.drift.is_empty())
    }

    /// How many actions of `kind` the plan holds.
    pub fn count(&self, kind: ActionKind) -> usize {
        self.actions.iter().filter(|a| a.kind == kind).count()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Import,
    Create,
    Update,
    Replace,
    Rotate,
    Retire,
    Delete,
    Forget,
}

/// Why an action is planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// An `import` block or `tokenform import`.
    ImportRequested,
    /// A token created just before its answer was lost (a crash, a timeout): its secret was
    /// never seen, so it is deleted at once.
    OrphanDiscarded,
    /// In configuration, not in state.
    NotInState,
    /// In state, gone live: deleted outside tokenform.
    DeletedOutside,
    /// Configuration differs from state.
    ConfigChanged,
    /// Live differs from state: edited outside tokenform.
    ChangedOutside,
    /// `service_token` or `api_version` changed.
    ForcesReplacement,
    /// The secret is older than `rotation.every`.
    RotationDue,
    /// `--rotate ADDR`.
    RotationRequested,
    /// A retired generation is past its grace.
    GraceEnded,
    /// In state, no longer in configuration.
    RemovedFromConfig,
    /// A `removed` block with `destroy = false` (forget) or `true` (delete).
    RemovedBlock,
    /// `destroy` command.
    DestroyRequested,
    /// `unmanaged { mode = "delete" }`.
    Unmanaged,
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Action {
    /// The managed address; `None` for an unmanaged live token.
    pub address: Option<Address>,
    pub kind: ActionKind,
    pub reason: Reason,
    /// The live token acted on (everything but create).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
    /// The token's name (desired for create/replace, current otherwise).
    pub name: String,
    /// What to create (create, replace, rotate with `method = "replace"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<TokenSpec>,
    /// The JSON Patch for an update: only the changed paths.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patch: Vec<PatchOp>,
    /// Attribute-level differences, for renderers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diffs: Vec<AttributeDiff>,
    /// Replace order: create the new token before deleting the old.
    #[serde(default)]
    pub create_before_destroy: bool,
    /// For rotate: how, and how long the old secret keeps working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<RotationStep>,
}

/// Everything apply needs to create a token and record it in state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TokenSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_role_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_role_keys: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline_role: Option<Vec<Statement>>,
    pub service_token: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub expiry: Option<jiff::Timestamp>,
    /// The token's own extra recipients (beyond the state's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<String>,
    #[serde(default)]
    pub prevent_destroy: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RotationStep {
    pub method: RotationMethod,
    pub grace_seconds: u64,
}

/// One attribute's change: `old` → `new` (None = absent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AttributeDiff {
    pub field: TokenField,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<serde_json::Value>,
    #[serde(default)]
    pub forces_replacement: bool,
}

/// A managed token changed or deleted outside tokenform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DriftEntry {
    pub address: Address,
    pub token_id: String,
    pub kind: DriftKind,
    /// For `changed`: per field, the state value and the live value.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<AttributeDiff>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    Changed,
    Missing,
}
