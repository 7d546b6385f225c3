//! The state document (`tokenform.state.json`): token metadata in clear, each secret an
//! ASCII-armored age ciphertext. Pure data; the store does the I/O.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::{Address, Statement};

/// The newest `format_version` this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// The state document: what tokenform manages, with every secret sealed to age recipients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct State {
    /// The document format; a newer one than this build knows is refused, never overwritten.
    pub format_version: u32,
    /// Fixed for the life of the state (a UUID).
    pub lineage: String,
    /// Incremented on every write.
    pub serial: u64,
    /// Managed tokens by address.
    #[serde(default)]
    pub tokens: BTreeMap<Address, TokenState>,
    /// Old generations of rotated tokens (`method = "replace"`), deleted after their grace.
    #[serde(default)]
    pub retiring: Vec<RetiringToken>,
    /// Creates that were about to be sent; a leftover one means a crash mid-create.
    #[serde(default)]
    pub pending_creates: Vec<PendingCreate>,
}

impl State {
    /// An empty state with a fresh lineage and serial 0.
    pub fn new() -> Self {
        Self {
            format_version: FORMAT_VERSION,
            lineage: uuid::Uuid::new_v4().to_string(),
            serial: 0,
            tokens: BTreeMap::new(),
            retiring: Vec::new(),
            pending_creates: Vec::new(),
        }
    }
}

/// Where a state holds a live token id: at an address, or as an address's retiring generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdHolder {
    Token(Address),
    Retiring(Address),
}

impl std::fmt::Display for IdHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdHolder::Token(a) => write!(f, "{a}"),
            IdHolder::Retiring(a) => write!(f, "{a} (a retiring generation)"),
        }
    }
}

impl State {
    /// Who holds live token `id`, if anyone (managed tokens first, then retiring generations).
    pub fn holder_of(&self, id: &str) -> Option<IdHolder> {
        self.tokens.iter().find(|(_, t)| t.id == id).map(|(a, _)| IdHolder::Token(a.clone())).or_else(|| {
            self.retiring.iter().find(|r| r.id == id).map(|r| IdHolder::Retiring(r.address.clone()))
        })
    }

    /// The first live token id two entries share, with both holders: one live id belongs to
    /// one address, and a state breaking that is refused (the loader and every writer check).
    pub fn duplicate_id(&self) -> Option<(String, IdHolder, IdHolder)> {
        let mut seen: std::collections::HashMap<&str, IdHolder> = std::collections::HashMap::new();
        let entries = self
            .tokens
            .iter()
            .map(|(a, t)| (t.id.as_str(), IdHolder::Token(a.clone())))
            .chain(self.retiring.iter().map(|r| (r.id.as_str(), IdHolder::Retiring(r.address.clone()))));
        for (id, holder) in entries {
            if let Some(first) = seen.get(id) {
                return Some((id.to_owned(), first.clone(), holder));
            }
            seen.insert(id, holder);
        }
        None
    }
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}

/// What tokenform knows of one managed token (as last applied or refreshed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TokenState {
    /// The token's `_id`.
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Base role (`reader`/`writer`/`admin`) when the token has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_role_ids: Vec<String>,
    /// The keys configuration used for `custom_role_ids`, same order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_role_keys: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline_role: Option<Vec<Statement>>,
    #[serde(default)]
    pub service_token: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<u32>,
    /// Hard expiry of the token, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub expiry: Option<jiff::Timestamp>,
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub created_at: jiff::Timestamp,
    /// Member who created the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_id: Option<String>,
    /// `lifecycle.prevent_destroy`, kept here so it survives deleting the block.
    #[serde(default)]
    pub prevent_destroy: bool,
    /// null for imported or adopted tokens: the API never shows an existing secret.
    pub secret: Option<SecretRecord>,
    /// The Terraform address the token was migrated from (`tokenform migrate terraform`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terraform_address: Option<String>,
    /// The sinks the current secret has not reached yet, in order (`exec "…"`, `file "…"`):
    /// its check or delivery failed, or the run was cut short. Empty once delivered. While
    /// anything is left here the next plan rotates again (`docs/delivery.md`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub undelivered: Vec<String>,
}

impl TokenState {
    /// A personal token `id` named `name` with base role `role`, created at `created_at`,
    /// every other field empty (no secret): the one minimal record for tests and tools.
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        role: &str,
        created_at: jiff::Timestamp,
    ) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            description: None,
            role: Some(role.to_owned()),
            custom_role_ids: Vec::new(),
            custom_role_keys: Vec::new(),
            inline_role: None,
            service_token: false,
            api_version: None,
            expiry: None,
            created_at,
            member_id: None,
            prevent_destroy: false,
            secret: None,
            terraform_address: None,
            undelivered: Vec::new(),
        }
    }
}

/// One secret: an age ciphertext, with what may be known without decrypting it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SecretRecord {
    /// ASCII-armored age file; `age -d -i KEY` decrypts it.
    pub ciphertext: String,
    /// Last four characters of the secret, in clear (LaunchDarkly shows them too).
    pub last4: String,
    /// When LaunchDarkly issued the secret (rotation age is measured from here).
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub issued_at: jiff::Timestamp,
    /// Who can decrypt `ciphertext`.
    pub recipients: Vec<String>,
}

/// An old generation left by a `replace` rotation (or a `create_before_destroy`
/// replacement), working until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RetiringToken {
    pub address: Address,
    pub id: String,
    pub name: String,
    /// When its grace ends. While `held`, the latest it may end: its own hard expiry, if any.
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub expires_at: jiff::Timestamp,
    /// Held: its successor has not reached every sink yet, so consumers may still need it and
    /// no expiry is set. The grace of this many seconds starts once a delivery of the
    /// address completes (0: deleted then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_grace_seconds: Option<u64>,
}

impl RetiringToken {
    /// An old generation working until `expires_at` (not held).
    pub fn new(
        address: Address,
        id: impl Into<String>,
        name: impl Into<String>,
        expires_at: jiff::Timestamp,
    ) -> Self {
        Self { address, id: id.into(), name: name.into(), expires_at, held_grace_seconds: None }
    }

    /// Whether it waits for its successor's delivery (no expiry set yet).
    pub fn is_held(&self) -> bool {
        self.held_grace_seconds.is_some()
    }
}

/// A create about to be sent (written before the POST).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PendingCreate {
    pub address: Address,
    pub name: String,
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub intent_at: jiff::Timestamp,
    /// The member tokenform authenticates as: the creator the orphan would show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_id: Option<String>,
}

/// The JSON Schema of the state document (`schemas/state.schema.json`).
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(State)).unwrap_or_default()
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
