//! The drift report: what `tokenform drift` found, for people (human, markdown) and
//! machines (JSON, `schemas/drift.schema.json`). Pure data; the printers live in
//! `render::drift`. Never holds a secret: only names, ids, dates and field values.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::{Address, TokenField};

/// Schema stand-in for a `jiff::Timestamp`: an RFC 3339 string.
pub(crate) struct Rfc3339;

impl JsonSchema for Rfc3339 {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Rfc3339".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string", "format": "date-time"})
    }
}

/// Bumped when the JSON shape changes incompatibly.
pub const DRIFT_FORMAT_VERSION: u32 = 1;

/// Everything one `drift` run found, each list in a stable order (managed tokens by
/// address, then unmanaged ones by name and id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DriftReport {
    pub format_version: u32,
    /// The instant the comparison was made against (ages and windows are relative to it).
    #[schemars(with = "Rfc3339")]
    pub checked_at: jiff::Timestamp,
    /// The thresholds used, as durations like `90d`.
    pub options: ReportOptions,
    /// True when anything but `stale` was found (the command then exits 2).
    pub drift_found: bool,
    /// Managed tokens edited outside tokenform: per field, the state value and the live value.
    pub changed: Vec<Changed>,
    /// Managed tokens deleted outside tokenform (in state, gone live).
    pub missing: Vec<Missing>,
    /// Live tokens neither in state nor in configuration.
    pub unmanaged: Vec<Unmanaged>,
    /// Managed tokens whose secret is older than `rotation.every`, or unknown.
    pub rotation_due: Vec<RotationDue>,
    /// Tokens whose expiry falls within `--expiring-within` (or has passed).
    pub expiring: Vec<Expiring>,
    /// Tokens never used, or not used for `--stale-after`. Informational: no exit 2.
    pub stale: Vec<Stale>,
}

impl DriftReport {
    /// Anything but `stale`: what makes `drift` exit 2.
    pub fn has_drift(&self) -> bool {
        !(self.changed.is_empty()
            && self.missing.is_empty()
            && self.unmanaged.is_empty()
            && self.rotation_due.is_empty()
            && self.expiring.is_empty())
    }

    /// Nothing at all, not even stale tokens.
    pub fn is_clean(&self) -> bool {
        !self.has_drift() && self.stale.is_empty()
    }
}

/// The thresholds a report was made with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReportOptions {
    /// `--stale-after`, e.g. `90d`.
    pub stale_after: String,
    /// `--expiring-within`, e.g. `14d`.
    pub expiring_within: String,
}

/// Which token an entry is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TokenRef {
    /// The managed address; absent for an unmanaged token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    /// The live name (the state's name when the token is gone).
    pub name: String,
    /// The token's `_id`.
    pub id: String,
    /// Who created it: the member's email when known, else the member id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator: Option<String>,
    /// Last use as the API reports it; absent when never used or unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Rfc3339>")]
    pub last_used: Option<jiff::Timestamp>,
}

/// A managed token edited outside tokenform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Changed {
    #[serde(flatten)]
    pub token: TokenRef,
    /// Only the fields that differ (fields in `lifecycle.ignore_changes` are left out).
    pub fields: Vec<FieldChange>,
}

/// One field of a [`Changed`] token: what state remembers, what the API shows now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FieldChange {
    pub field: TokenField,
    /// The value in state; absent when unset there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<serde_json::Value>,
    /// The live value; absent when unset live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<serde_json::Value>,
}

/// A managed token deleted outside tokenform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Missing {
    #[serde(flatten)]
    pub token: TokenRef,
}

/// A live token no state or configuration knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Unmanaged {
    #[serde(flatten)]
    pub token: TokenRef,
    pub service_token: bool,
    /// Base role, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[schemars(with = "Option<Rfc3339>")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<jiff::Timestamp>,
}

/// Why a rotation is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RotationReason {
    /// The secret is older than `rotation.every`.
    Overdue,
    /// tokenform does not know the secret (imported or adopted): rotate to take it over.
    SecretUnknown,
}

/// A managed token whose rotation is due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RotationDue {
    #[serde(flatten)]
    pub token: TokenRef,
    pub reason: RotationReason,
    /// `rotation.every`, e.g. `90d`.
    pub every: String,
    /// When the current secret was issued; absent when the secret is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Rfc3339>")]
    pub issued_at: Option<jiff::Timestamp>,
    /// `issued_at + every`; absent when the secret is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Rfc3339>")]
    pub due_at: Option<jiff::Timestamp>,
}

/// Where an expiry comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExpirySource {
    /// The live token's `expiry`.
    Live,
    /// The expiry state recorded.
    State,
    /// `expires_at` in configuration (applied at the next `apply`).
    Config,
}

/// A token whose expiry is near (or past).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Expiring {
    #[serde(flatten)]
    pub token: TokenRef,
    /// The earliest known expiry.
    #[schemars(with = "Rfc3339")]
    pub expires_at: jiff::Timestamp,
    pub source: ExpirySource,
    /// The expiry has already passed: the token no longer works.
    pub expired: bool,
}

/// A token not used for a long time, or never.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Stale {
    #[serde(flatten)]
    pub token: TokenRef,
    pub never_used: bool,
    #[schemars(with = "Option<Rfc3339>")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<jiff::Timestamp>,
}
