//! The plan value: what `plan` shows and `apply` executes. Serialized as the plan file
//! (`plan -out`), so it never holds a secret. Renderers live in `render/`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::api::model::{PatchOp, TokenPost};
use crate::deliver::{Event, Sink};
use crate::escape::excerpt;
use crate::model::{Access, Address, Role, RotationMethod, Statement, TokenField};

/// Bumped when the plan file changes incompatibly.
/// Version 2: each action's change is the typed [`Change`] (version 1 had a flat bag of
/// optional fields). Version 3: changes that make a secret carry the sinks it is delivered
/// to (a version 2 file, silent about them, would skip deliveries the configuration asks for).
/// Version 4: a desired token is its API fields (`api`, one `access` with custom roles as
/// key/id pairs) and what only state records (`state`); version 3 kept them in one flat
/// object with role keys and ids in parallel lists.
pub const PLAN_FORMAT_VERSION: u32 = 4;

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
    /// `unmanaged { mode = "report" }` (the default): the live tokens no address owns, by
    /// name then id, listed and left alone (`drift` says more about each). Never a reason
    /// for `--detailed-exitcode` to exit 2; empty for targeted, destroy and refresh-only plans.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmanaged: Vec<UnmanagedToken>,
}

/// A live token in neither state nor configuration, as a plan lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UnmanagedToken {
    pub id: String,
    pub name: String,
}

impl Plan {
    /// A plan of `actions` against the state `lineage`/`serial`, with nothing else (tests).
    #[cfg(test)]
    pub(crate) fn of(lineage: &str, serial: u64, actions: Vec<Action>) -> Plan {
        Plan {
            format_version: PLAN_FORMAT_VERSION,
            lineage: lineage.to_owned(),
            serial,
            config_digest: String::new(),
            refresh_only: false,
            actions,
            drift: vec![],
            warnings: vec![],
            notes: vec![],
            unmanaged: vec![],
        }
    }

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
        self.actions.iter().filter(|a| a.kind() == kind).count()
    }

    /// Reads a plan file (`plan -out`, or `plan --format json`: the extra fields are
    /// ignored). Everything apply relies on is checked here, once: the format version
    /// (an older plan file is refused before its actions are looked at), the shape of each
    /// change, and that exactly the unmanaged deletes lack an address.
    pub fn from_json(text: &str) -> Result<Plan, PlanFileError> {
        #[derive(Deserialize)]
        struct Version {
            format_version: u32,
        }
        let version: Version =
            serde_json::from_str(text).map_err(|e| PlanFileError::Malformed(excerpt(&e.to_string())))?;
        if version.format_version != PLAN_FORMAT_VERSION {
            return Err(PlanFileError::Version { found: version.format_version });
        }
        let plan: Plan =
            serde_json::from_str(text).map_err(|e| PlanFileError::Malformed(excerpt(&e.to_string())))?;
        for (index, action) in plan.actions.iter().enumerate() {
            if let Some(why) = action.change.desired().and_then(|d| d.api.malformed()) {
                let name = excerpt(&action.name);
                return Err(PlanFileError::Malformed(format!("action {index} ({name}): {why}")));
            }
            let unmanaged = matches!(action.change, Change::DeleteUnmanaged { .. });
            if action.address.is_some() == unmanaged {
                let why = if unmanaged {
                    "an unmanaged token's delete names an address"
                } else {
                    "a managed token's change names no address"
                };
                let name = excerpt(&action.name);
                return Err(PlanFileError::Malformed(format!("action {index} ({name}): {why}")));
            }
        }
        Ok(plan)
    }
}

/// Why a plan file cannot be applied or shown. Never echoes the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanFileError {
    #[error("the plan file has format version {found}; this tokenform reads version {PLAN_FORMAT_VERSION}")]
    Version { found: u32 },
    #[error("the plan file is malformed: {0}")]
    Malformed(String),
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
    /// The last new secret did not reach every sink (a failed check or delivery, or an
    /// interrupted apply): a new secret is made and delivered, and only then does the grace
    /// of the generations held for it start.
    DeliveryIncomplete,
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

/// One step of a plan: who, why, what the reviewer sees, and the change itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Action {
    /// The managed address; `None` only for [`Change::DeleteUnmanaged`] (checked when a plan
    /// file is read: [`Plan::from_json`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    pub reason: Reason,
    /// The token's name (desired for create/replace, current otherwise).
    pub name: String,
    /// Attribute-level differences, for renderers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diffs: Vec<AttributeDiff>,
    /// What apply does, with exactly what it needs.
    pub change: Change,
}

/// What apply does for one action. Each variant carries what its execution needs and
/// nothing else, so apply executes it as it is: no field is optional at run time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Change {
    /// Record the live token in state (secret unknown); `desired` gives what state keeps
    /// of the configuration (protection, readers, role keys).
    Import { token_id: String, desired: TokenSpec },
    /// Create a token and record it with its sealed secret, then deliver it to `deliver`.
    Create {
        desired: TokenSpec,
        /// The sinks the new secret goes to, in order (`deliver` blocks, as planned).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        deliver: Vec<Sink>,
    },
    /// PATCH the live token with `patch` (only the changed paths); an empty patch changes
    /// only what state records (`prevent_destroy`, role keys).
    Update { token_id: String, patch: Vec<PatchOp>, desired: TokenSpec },
    /// Delete and create (or, with `create_before_destroy`, create, deliver, then delete).
    Replace {
        token_id: String,
        desired: TokenSpec,
        create_before_destroy: bool,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        deliver: Vec<Sink>,
    },
    /// A new secret for the token, delivered to `deliver`; only then does the old one's
    /// grace start.
    Rotate {
        token_id: String,
        rotation: Rotation,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        deliver: Vec<Sink>,
    },
    /// Delete a retiring generation whose grace has ended.
    Retire { token_id: String },
    /// Delete a managed token and drop it from state.
    Delete { token_id: String },
    /// Delete the orphan of a create whose answer was lost: nobody has its secret. Runs
    /// first, so no create of the address adopts it again.
    DiscardOrphan { token_id: String },
    /// Stop managing the address; the live token (if any) stays.
    Forget { token_id: String },
    /// Delete a live token no address owns (`unmanaged { mode = "delete" }`).
    DeleteUnmanaged { token_id: String },
    /// Refresh-only apply: record the live token's current fields, keeping the secret.
    /// Made by apply from a refresh-only plan's drift, never part of a plan's actions.
    #[serde(skip)]
    Refresh { token_id: String },
}

/// How a rotation gives the token a new secret, and how long the old secret keeps working.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Rotation {
    /// Create a successor from `desired`, then expire the old token after the grace.
    Replace { grace_seconds: u64, desired: TokenSpec },
    /// The legacy reset: same token, new secret, the old one expiring after the grace.
    Reset { grace_seconds: u64 },
}

impl Rotation {
    pub fn grace_seconds(&self) -> u64 {
        match self {
            Rotation::Replace { grace_seconds, .. } | Rotation::Reset { grace_seconds } => *grace_seconds,
        }
    }
}

impl Change {
    /// The kind of action, as renderers and counts group them.
    pub fn kind(&self) -> ActionKind {
        match self {
            Change::Import { .. } => ActionKind::Import,
            Change::Create { .. } => ActionKind::Create,
            Change::Update { .. } => ActionKind::Update,
            Change::Replace { .. } => ActionKind::Replace,
            Change::Rotate { .. } => ActionKind::Rotate,
            Change::Retire { .. } => ActionKind::Retire,
            Change::Delete { .. } | Change::DiscardOrphan { .. } | Change::DeleteUnmanaged { .. } => {
                ActionKind::Delete
            }
            Change::Forget { .. } | Change::Refresh { .. } => ActionKind::Forget,
        }
    }

    /// The live token acted on (every change but a create).
    pub fn token_id(&self) -> Option<&str> {
        match self {
            Change::Create { .. } => None,
            Change::Import { token_id, .. }
            | Change::Update { token_id, .. }
            | Change::Replace { token_id, .. }
            | Change::Rotate { token_id, .. }
            | Change::Retire { token_id }
            | Change::Delete { token_id }
            | Change::DiscardOrphan { token_id }
            | Change::Forget { token_id }
            | Change::DeleteUnmanaged { token_id }
            | Change::Refresh { token_id } => Some(token_id),
        }
    }

    /// The desired token, where the change has one.
    pub fn desired(&self) -> Option<&TokenSpec> {
        match self {
            Change::Import { desired, .. }
            | Change::Create { desired, .. }
            | Change::Update { desired, .. }
            | Change::Replace { desired, .. }
            | Change::Rotate { rotation: Rotation::Replace { desired, .. }, .. } => Some(desired),
            _ => None,
        }
    }

    /// The token this change creates, if it creates one (create, replace, rotate by replace).
    pub fn new_token(&self) -> Option<&TokenSpec> {
        match self {
            Change::Create { desired, .. }
            | Change::Replace { desired, .. }
            | Change::Rotate { rotation: Rotation::Replace { desired, .. }, .. } => Some(desired),
            _ => None,
        }
    }

    /// The sinks the change's new secret is delivered to, in order (empty for a change that
    /// makes no secret).
    pub fn deliveries(&self) -> &[Sink] {
        match self {
            Change::Create { deliver, .. }
            | Change::Replace { deliver, .. }
            | Change::Rotate { deliver, .. } => deliver,
            _ => &[],
        }
    }

    /// Why a delivery of this change's secret happens (`TOKENFORM_EVENT`); `None` for a
    /// change that makes no secret.
    pub fn delivery_event(&self) -> Option<Event> {
        match self {
            Change::Create { .. } => Some(Event::Create),
            Change::Replace { .. } => Some(Event::Replace),
            Change::Rotate { .. } => Some(Event::Rotate),
            _ => None,
        }
    }

    /// Whether the change receives a new secret (and so needs a recipient to seal it to).
    pub fn makes_secret(&self) -> bool {
        self.new_token().is_some() || matches!(self, Change::Rotate { rotation: Rotation::Reset { .. }, .. })
    }
}

impl Action {
    pub fn kind(&self) -> ActionKind {
        self.change.kind()
    }

    pub fn token_id(&self) -> Option<&str> {
        self.change.token_id()
    }

    pub fn desired(&self) -> Option<&TokenSpec> {
        self.change.desired()
    }

    /// The JSON Patch of an update (empty otherwise).
    pub fn patch(&self) -> &[PatchOp] {
        match &self.change {
            Change::Update { patch, .. } => patch,
            _ => &[],
        }
    }

    /// Replace order: create the new token before deleting the old.
    pub fn create_before_destroy(&self) -> bool {
        matches!(self.change, Change::Replace { create_before_destroy: true, .. })
    }

    /// For a rotation: how, and how long the old secret keeps working.
    pub fn rotation(&self) -> Option<RotationStep> {
        match &self.change {
            Change::Rotate { rotation, .. } => Some(RotationStep {
                method: match rotation {
                    Rotation::Replace { .. } => RotationMethod::Replace,
                    Rotation::Reset { .. } => RotationMethod::Reset,
                },
                grace_seconds: rotation.grace_seconds(),
            }),
            _ => None,
        }
    }
}

/// Everything apply needs to create a token and record it in state: what the API is
/// asked for, and what only state keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TokenSpec {
    pub api: TokenFields,
    #[serde(default)]
    pub state: StateFields,
}

/// The token's fields as the API takes them, normalised once ([`TokenFields::normalised`]):
/// no empty description, policy statements without empty lists. A plan file whose fields
/// are not in that form is refused when it is read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TokenFields {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub access: Access<CustomRole>,
    pub service_token: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub expiry: Option<jiff::Timestamp>,
}

/// A custom role as configuration names it (`key`) and as the API takes it (`id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CustomRole {
    pub key: String,
    pub id: String,
}

/// What state records of a token beyond its API fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StateFields {
    /// The token's own extra recipients (beyond the state's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<String>,
    #[serde(default)]
    pub prevent_destroy: bool,
}

impl TokenFields {
    /// The one normalisation of desired fields: an empty description is none, and policy
    /// statements drop their empty lists ([`normalize_statements`]).
    #[must_use]
    pub fn normalised(mut self) -> TokenFields {
        self.description = self.description.filter(|d| !d.is_empty());
        if let Access::Policy(statements) = &mut self.access {
            *statements = normalize_statements(statements);
        }
        self
    }

    /// Why these fields cannot be sent as they are (a hand-edited plan file): no custom
    /// role or statement at all, or fields not in their normalised form.
    pub(crate) fn malformed(&self) -> Option<&'static str> {
        match &self.access {
            Access::CustomRoles(roles) if roles.is_empty() => return Some("custom_roles is empty"),
            Access::Policy(statements) if statements.is_empty() => return Some("policy is empty"),
            _ => {}
        }
        (self.clone().normalised() != *self).then_some("the desired fields are not normalised")
    }

    pub fn role(&self) -> Option<Role> {
        match self.access {
            Access::Role(role) => Some(role),
            _ => None,
        }
    }

    /// The custom roles, key and id together (empty unless the access is custom roles).
    pub fn custom_roles(&self) -> &[CustomRole] {
        match &self.access {
            Access::CustomRoles(roles) => roles,
            _ => &[],
        }
    }

    /// The custom role ids, in configuration order.
    pub fn custom_role_ids(&self) -> Vec<String> {
        self.custom_roles().iter().map(|r| r.id.clone()).collect()
    }

    /// The inline policy, if the access is one.
    pub fn policy(&self) -> Option<&[Statement]> {
        match &self.access {
            Access::Policy(statements) => Some(statements),
            _ => None,
        }
    }

    /// The body of a create.
    pub fn post(&self) -> TokenPost {
        let ids = self.custom_role_ids();
        TokenPost {
            name: Some(self.name.clone()),
            description: self.description.clone(),
            role: self.role(),
            custom_role_ids: (!ids.is_empty()).then_some(ids),
            inline_role: self.policy().map(<[Statement]>::to_vec),
            service_token: Some(self.service_token),
            default_api_version: self.api_version.map(i64::from),
            expiry: self.expiry.map(jiff::Timestamp::as_millisecond),
        }
    }
}

/// Statements with empty lists read as absent, so `notActions: []` equals no `notActions`.
pub fn normalize_statements(statements: &[Statement]) -> Vec<Statement> {
    let norm = |l: &Option<Vec<String>>| l.clone().filter(|l| !l.is_empty());
    statements
        .iter()
        .map(|st| Statement {
            effect: st.effect,
            resources: norm(&st.resources),
            not_resources: norm(&st.not_resources),
            actions: norm(&st.actions),
            not_actions: norm(&st.not_actions),
        })
        .collect()
}

/// A rotation's method and grace, as renderers show it ([`Action::rotation`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn file(actions: &serde_json::Value) -> String {
        json!({
            "format_version": PLAN_FORMAT_VERSION, "lineage": "l", "serial": 1,
            "config_digest": "", "actions": actions,
        })
        .to_string()
    }

    fn spec() -> serde_json::Value {
        json!({"api": {"name": "ci", "access": {"role": "reader"}, "service_token": false}})
    }

    fn create_of(desired: &serde_json::Value) -> Result<Plan, PlanFileError> {
        Plan::from_json(&file(&json!([{"address": "token.a", "reason": "not_in_state", "name": "a",
             "change": {"type": "create", "desired": desired}}])))
    }

    #[test]
    fn a_plan_file_reads_back_each_change() {
        let text = file(&json!([
            {"address": "token.a", "reason": "not_in_state", "name": "a",
             "change": {"type": "create", "desired": spec()}},
            {"address": "token.r", "reason": "rotation_due", "name": "r",
             "change": {"type": "rotate", "token_id": "1",
                        "rotation": {"method": "reset", "grace_seconds": 5}}},
            {"reason": "unmanaged", "name": "stray",
             "change": {"type": "delete_unmanaged", "token_id": "2"}},
        ]));
        let plan = Plan::from_json(&text).unwrap();
        assert_eq!(plan.count(ActionKind::Create), 1);
        assert_eq!(
            plan.actions[1].change,
            Change::Rotate {
                token_id: "1".into(),
                rotation: Rotation::Reset { grace_seconds: 5 },
                deliver: vec![]
            }
        );
        assert_eq!(plan.actions[2].kind(), ActionKind::Delete);
    }

    #[test]
    fn malformed_actions_are_refused_when_the_file_is_read() {
        let refused = |change: serde_json::Value, address: Option<&str>| {
            let mut action = json!({"reason": "config_changed", "name": "x", "change": change});
            if let Some(a) = address {
                action["address"] = json!(a);
            }
            Plan::from_json(&file(&json!([action]))).unwrap_err()
        };
        // A create without what to create, a delete without its token, a rotation without
        // its method: each is refused before anything runs.
        let no_desired = refused(json!({"type": "create"}), Some("token.c"));
        assert!(no_desired.to_string().contains("desired"), "{no_desired}");
        let no_id = refused(json!({"type": "delete"}), Some("token.d"));
        assert!(no_id.to_string().contains("token_id"), "{no_id}");
        assert!(matches!(
            refused(
                json!({"type": "rotate", "token_id": "1", "rotation": {"grace_seconds": 5}}),
                Some("token.r")
            ),
            PlanFileError::Malformed(_)
        ));
        // Only an unmanaged delete goes without an address, and it never has one.
        let no_address = refused(json!({"type": "delete", "token_id": "1"}), None);
        assert!(no_address.to_string().contains("names no address"), "{no_address}");
        let managed_unmanaged =
            refused(json!({"type": "delete_unmanaged", "token_id": "1"}), Some("token.u"));
        assert!(managed_unmanaged.to_string().contains("names an address"), "{managed_unmanaged}");
        // The refresh a refresh-only apply makes is never read from a file.
        assert!(matches!(
            refused(json!({"type": "refresh", "token_id": "1"}), Some("token.r")),
            PlanFileError::Malformed(_)
        ));
    }

    #[test]
    fn a_version_1_plan_file_is_refused_before_its_actions_are_read() {
        let v1 = json!({
            "format_version": 1, "lineage": "l", "serial": 1, "config_digest": "",
            "actions": [{"address": "token.a", "kind": "create", "reason": "not_in_state", "name": "a"}],
        });
        assert_eq!(Plan::from_json(&v1.to_string()), Err(PlanFileError::Version { found: 1 }));
        assert!(matches!(Plan::from_json("not json"), Err(PlanFileError::Malformed(_))));
    }

    #[test]
    fn a_version_3_plan_file_with_flat_desired_tokens_is_refused() {
        let v3 = json!({
            "format_version": 3, "lineage": "l", "serial": 1, "config_digest": "",
            "actions": [{"address": "token.a", "reason": "not_in_state", "name": "a",
                "change": {"type": "create", "desired": {"name": "a", "role": "reader", "service_token": false}}}],
        });
        let refused = Plan::from_json(&v3.to_string()).unwrap_err();
        assert_eq!(refused, PlanFileError::Version { found: 3 });
    }

    #[test]
    fn desired_fields_not_in_their_normalised_form_are_refused_when_read() {
        assert!(create_of(&spec()).is_ok());
        let with = |path: &str, value: serde_json::Value| {
            let mut desired = spec();
            if let Some(serde_json::Value::Object(map)) = desired.pointer_mut("/api") {
                map.insert(path.to_owned(), value);
            }
            create_of(&desired)
        };
        let empty_description = with("description", json!("")).unwrap_err();
        assert!(empty_description.to_string().contains("not normalised"), "{empty_description}");
        let no_roles = with("access", json!({"custom_roles": []})).unwrap_err();
        assert!(no_roles.to_string().contains("custom_roles is empty"), "{no_roles}");
        let no_policy = with("access", json!({"policy": []})).unwrap_err();
        assert!(no_policy.to_string().contains("policy is empty"), "{no_policy}");
        let empty_list =
            with("access", json!({"policy": [{"effect": "allow", "actions": ["*"], "notResources": []}]}));
        assert!(matches!(empty_list, Err(PlanFileError::Malformed(_))), "{empty_list:?}");
        // Both parts of a custom role are needed: the key for state, the id for the API.
        let key_only = with("access", json!({"custom_roles": [{"key": "ops"}]}));
        assert!(matches!(key_only, Err(PlanFileError::Malformed(_))), "{key_only:?}");
        assert!(with("access", json!({"custom_roles": [{"key": "ops", "id": "r1"}]})).is_ok());
    }

    #[test]
    fn normalised_fields_post_exactly_what_the_api_takes() {
        use crate::model::Effect;
        let statement = |not_resources: Option<Vec<String>>| Statement {
            effect: Effect::Allow,
            resources: Some(vec!["proj/*".into()]),
            not_resources,
            actions: Some(vec!["*".into()]),
            not_actions: None,
        };
        let fields = TokenFields {
            name: "ci".into(),
            description: Some(String::new()),
            access: Access::Policy(vec![statement(Some(vec![]))]),
            service_token: true,
            api_version: Some(20_240_415),
            expiry: None,
        }
        .normalised();
        assert_eq!(fields.description, None);
        assert_eq!(fields.policy(), Some(&[statement(None)][..]));
        assert_eq!(fields.malformed(), None);
        let post = fields.post();
        assert_eq!(post.description, None);
        assert_eq!(post.inline_role, Some(vec![statement(None)]));
        assert_eq!((post.role, post.custom_role_ids), (None, None));
        assert_eq!((post.service_token, post.default_api_version), (Some(true), Some(20_240_415)));

        let roles = TokenFields {
            access: Access::CustomRoles(vec![
                CustomRole { key: "b".into(), id: "2".into() },
                CustomRole { key: "a".into(), id: "1".into() },
            ]),
            ..fields
        };
        // The ids in configuration order; the keys stay for state.
        assert_eq!(roles.post().custom_role_ids, Some(vec!["2".to_owned(), "1".to_owned()]));
        assert_eq!(roles.post().inline_role, None);
    }

    /// A plan file is an artifact a CI job may hand to another: whatever it holds, reading
    /// it never panics, and a refusal quotes no control character, no secret and no more
    /// than a short excerpt of it.
    mod hostile {
        use proptest::prelude::*;

        use super::*;

        const EVIL: &str = "\u{1b}[2J\u{7}\0\u{9b}1m\u{202e}";
        const SECRET: &str = "api-0a1b2c3d-0000-4000-8000-00000000beef";

        fn valid() -> serde_json::Value {
            serde_json::from_str(&file(&json!([
                {"address": "token.a", "reason": "not_in_state", "name": "a",
                 "change": {"type": "create", "desired": spec()}},
                {"reason": "unmanaged", "name": "stray",
                 "change": {"type": "delete_unmanaged", "token_id": "2"}},
            ])))
            .unwrap()
        }

        fn hostile_value() -> impl Strategy<Value = serde_json::Value> {
            prop_oneof![
                (any::<bool>(), 0..3000usize).prop_map(|(secret, n)| json!(format!(
                    "{EVIL}{}{}",
                    if secret { SECRET } else { "" },
                    "x".repeat(n)
                ))),
                Just(json!(null)),
                Just(json!(-1)),
                Just(json!(u64::MAX)),
                Just(json!([EVIL, SECRET])),
                Just(json!({"type": EVIL})),
            ]
        }

        const POINTERS: &[(&str, &str)] = &[
            ("", "format_version"),
            ("", "lineage"),
            ("", "actions"),
            ("/actions/0", "address"),
            ("/actions/0", "reason"),
            ("/actions/0", "name"),
            ("/actions/0", "change"),
            ("/actions/0/change", "type"),
            ("/actions/0/change", "desired"),
            ("/actions/0/change/desired", "api"),
            ("/actions/0/change/desired/api", "access"),
            ("/actions/1", "address"),
            ("/actions/1/change", "token_id"),
        ];

        proptest! {
            #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

            #[test]
            fn a_hostile_plan_file_is_refused_quoting_an_excerpt_only(
                field in 0..POINTERS.len(),
                value in hostile_value(),
                splice in proptest::option::of((any::<usize>(), prop::sample::select(&["\"", "{", EVIL, SECRET][..]))),
            ) {
                let mut doc = valid();
                let (parent, key) = POINTERS[field];
                if let Some(serde_json::Value::Object(map)) = doc.pointer_mut(parent) {
                    map.insert(key.to_owned(), value);
                }
                let mut text = doc.to_string();
                if let Some((at, junk)) = splice {
                    let mut at = at % (text.len() + 1);
                    while !text.is_char_boundary(at) {
                        at -= 1;
                    }
                    text.insert_str(at, junk);
                }
                if let Err(e) = Plan::from_json(&text) {
                    let shown = e.to_string();
                    prop_assert!(crate::secret::find_secret(&shown).is_none(), "a secret in: {shown}");
                    prop_assert!(!shown.chars().any(char::is_control), "raw control character in: {shown:?}");
                    prop_assert!(shown.chars().count() < 600, "{} characters: {shown}", shown.chars().count());
                }
            }
        }
    }
}
