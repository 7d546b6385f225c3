//! The state's tokens for `tokenform show` without a plan file: as JSON (schema:
//! `schemas/show.schema.json`, generated from [`StateDocument`] and guarded by a test) and as
//! a markdown table. (The human form is `state show`'s block per token.)
//!
//! Never a secret, nor a ciphertext, nor a secret's last characters: a secret is known (with
//! its issue time and recipients) or unknown (imported or adopted). Pure.

use std::fmt::Write as _;

use schemars::JsonSchema;
use serde::Serialize;

use crate::model::{Address, Statement};
use crate::state::model::{State, TokenState};

/// Bumped when [`StateDocument`] changes incompatibly.
pub const SHOW_FORMAT_VERSION: u32 = 1;

/// `tokenform show --format json` without a plan file.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct StateDocument {
    pub format_version: u32,
    /// The state's lineage and serial (a plan file names the ones it was made against).
    pub lineage: String,
    pub serial: u64,
    /// Managed tokens, by address.
    pub tokens: Vec<TokenEntry>,
    /// Old generations of rotated tokens, deleted once their grace ends.
    pub retiring: Vec<RetiringEntry>,
}

/// One managed token, as the state records it.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct TokenEntry {
    pub address: Address,
    pub name: String,
    /// The LaunchDarkly token id.
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The base role (`reader`, `writer`, `admin`), when the token has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Custom role keys as the configuration names them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_roles: Vec<String>,
    /// The custom roles' ids, as LaunchDarkly knows them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_role_ids: Vec<String>,
    /// The inline policy, one entry per statement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<Vec<Statement>>,
    pub service_token: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub expires_at: Option<jiff::Timestamp>,
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub created_at: jiff::Timestamp,
    pub prevent_destroy: bool,
    pub secret: SecretEntry,
    /// The sinks the current secret has not reached yet (a failed or interrupted delivery;
    /// the next apply rotates again). Absent once delivered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub undelivered: Vec<String>,
}

/// What is known of a token's secret, never the secret.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SecretEntry {
    /// tokenform holds the secret, age-encrypted to `recipients`.
    Known {
        #[schemars(with = "String", extend("format" = "date-time"))]
        issued_at: jiff::Timestamp,
        recipients: Vec<String>,
    },
    /// Imported or adopted: LaunchDarkly never shows an existing secret; rotating takes it over.
    Unknown,
}

/// An old generation working until `expires_at`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct RetiringEntry {
    pub address: Address,
    pub id: String,
    pub name: String,
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub expires_at: jiff::Timestamp,
    /// Held for its successor's delivery: no expiry is set yet, and `expires_at` is only the
    /// latest it may end. Absent (false) once its grace runs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub held: bool,
}

impl TokenEntry {
    pub fn new(address: &Address, t: &TokenState) -> Self {
        Self {
            address: address.clone(),
            name: t.name.clone(),
            id: t.id.clone(),
            description: t.description.clone(),
            role: t.role.clone(),
            custom_roles: t.custom_role_keys.clone(),
            custom_role_ids: t.custom_role_ids.clone(),
            policy: t.inline_role.clone(),
            service_token: t.service_token,
            api_version: t.api_version,
            expires_at: t.expiry,
            created_at: t.created_at,
            prevent_destroy: t.prevent_destroy,
            secret: match &t.secret {
                Some(s) => SecretEntry::Known { issued_at: s.issued_at, recipients: s.recipients.clone() },
                None => SecretEntry::Unknown,
            },
            undelivered: t.undelivered.clone(),
        }
    }
}

impl StateDocument {
    pub fn new(state: &State) -> Self {
        Self {
            format_version: SHOW_FORMAT_VERSION,
            lineage: state.lineage.clone(),
            serial: state.serial,
            tokens: state.tokens.iter().map(|(a, t)| TokenEntry::new(a, t)).collect(),
            retiring: state
                .retiring
                .iter()
                .map(|r| RetiringEntry {
                    address: r.address.clone(),
                    id: r.id.clone(),
                    name: r.name.clone(),
                    expires_at: r.expires_at,
                    held: r.is_held(),
                })
                .collect(),
        }
    }
}

/// The state document, pretty-printed, with a final newline.
pub fn json(state: &State) -> String {
    // Plain data (strings, numbers, lists): serializing cannot fail.
    let mut s =
        crate::escape::json(serde_json::to_string_pretty(&StateDocument::new(state)).unwrap_or_default());
    s.push('\n');
    s
}

/// The JSON Schema of [`StateDocument`] (`schemas/show.schema.json`).
pub fn schema() -> String {
    let mut s = serde_json::to_string_pretty(&schemars::schema_for!(StateDocument)).unwrap_or_default();
    s.push('\n');
    s
}

/// What a token may do, in a few words: its role, custom roles, or policy size.
pub fn access(t: &TokenState) -> String {
    let mut parts = Vec::new();
    if let Some(r) = &t.role {
        parts.push(r.clone());
    }
    if !t.custom_role_keys.is_empty() {
        parts.push(format!("custom roles {}", t.custom_role_keys.join(", ")));
    } else if !t.custom_role_ids.is_empty() {
        parts.push(format!("custom role ids {}", t.custom_role_ids.join(", ")));
    }
    if let Some(p) = &t.inline_role {
        parts.push(format!("policy of {} statement{}", p.len(), if p.len() == 1 { "" } else { "s" }));
    }
    if parts.is_empty() { "no access".into() } else { parts.join("; ") }
}

/// A markdown table cell: no line breaks, no column breaks, no HTML.
fn cell(s: &str) -> String {
    super::markdown::escape(s).replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// The state's tokens as a markdown table (for a pull-request comment or a job summary).
pub fn markdown(state: &State) -> String {
    let mut out = String::from("## tokenform state\n\n");
    if state.tokens.is_empty() {
        out.push_str("No tokens are managed: the state is empty.\n");
        return out;
    }
    out.push_str("| address | name | id | access | secret |\n| --- | --- | --- | --- | --- |\n");
    for (address, t) in &state.tokens {
        let secret = match &t.secret {
            Some(s) => format!("issued {}", s.issued_at.strftime("%Y-%m-%dT%H:%M:%SZ")),
            None => "unknown (imported)".to_owned(),
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | `{}` | {} | {secret} |",
            cell(&address.to_string()).replace('`', "'"),
            cell(&t.name),
            cell(&t.id).replace('`', "'"),
            cell(&access(t)),
        );
    }
    if !state.retiring.is_empty() {
        let _ = writeln!(out, "\n{} old generation(s) retiring after their grace.", state.retiring.len());
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::plan::fixtures::every_action_world;

    fn state() -> State {
        let mut state = every_action_world().state;
        // One token with a secret tokenform does not know (imported), one with a policy.
        let legacy = state.tokens.values_mut().next().unwrap();
        legacy.secret = None;
        legacy.name = "pipe | and <b>".into();
        state
    }

    #[test]
    fn json_follows_the_schema_and_holds_no_secret() {
        let state = state();
        let text = json(&state);
        assert!(!text.contains("AGE ENCRYPTED") && !text.contains("beef"), "{text}");
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let validator = jsonschema::validator_for(&serde_json::from_str(&schema()).unwrap()).unwrap();
        let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:#?}");
        assert_eq!(doc["tokens"].as_array().unwrap().len(), state.tokens.len());
        assert_eq!(doc["tokens"][0]["secret"], serde_json::json!({"status": "unknown"}));
        assert_eq!(doc["tokens"][1]["secret"]["status"], "known");
        assert_eq!(doc["retiring"].as_array().unwrap().len(), 1);
        assert!(doc["retiring"][0].get("held").is_none() && doc["tokens"][1].get("undelivered").is_none());
        insta::assert_snapshot!(text);

        // A delivery that did not finish: the sinks left, and the generation held for it.
        let mut state = state;
        state.retiring[0].held_grace_seconds = Some(3600);
        let address = state.tokens.keys().nth(1).unwrap().clone();
        state.tokens.get_mut(&address).unwrap().undelivered = vec!["file \"out/ci.env\"".into()];
        let doc: serde_json::Value = serde_json::from_str(&json(&state)).unwrap();
        assert!(validator.iter_errors(&doc).next().is_none());
        assert_eq!(doc["retiring"][0]["held"], true);
        assert_eq!(doc["tokens"][1]["undelivered"][0], "file \"out/ci.env\"");
    }

    #[test]
    fn markdown_is_one_row_per_token_with_cells_escaped() {
        let text = markdown(&state());
        assert!(text.contains("| pipe \\| and &lt;b&gt; |"), "{text}");
        assert!(!text.contains("AGE ENCRYPTED") && !text.contains("beef"));
        insta::assert_snapshot!(text);
        assert!(markdown(&State::new()).contains("the state is empty"));
    }

    /// The committed schema is the generated one. Regenerate with
    /// `TOKENFORM_UPDATE_SCHEMAS=1 cargo test --lib render::state::tests::show_schema_file_is_current`.
    #[test]
    fn show_schema_file_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/show.schema.json");
        let generated = schema();
        if std::env::var_os("TOKENFORM_UPDATE_SCHEMAS").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "schemas/show.schema.json is stale: regenerate it (see this test's doc)"
        );
    }
}
