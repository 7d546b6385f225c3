//! Typed models of the LaunchDarkly token API (`docs/ld-openapi/tokens.openapi.json`). Unknown fields are
//! tolerated on read; optional fields are omitted on write.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{Role, Statement};
use crate::secret::Secret;

/// `MemberSummary`: who created a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct MemberSummary {
    #[serde(rename = "_id")]
    pub id: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
}

/// `Token`: an access token as the API returns it. `token` is the full secret only in
/// the responses of create and reset; elsewhere it is the last four characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Token {
    #[serde(rename = "_id")]
    pub id: String,
    #[serde(default)]
    pub owner_id: String,
    #[serde(default)]
    pub member_id: String,
    #[serde(rename = "_member", default, skip_serializing_if = "Option::is_none")]
    pub member: Option<MemberSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Unix milliseconds.
    #[serde(default)]
    pub creation_date: i64,
    #[serde(default)]
    pub last_modified: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used: Option<i64>,
    /// null and [] mean the same (an API quirk); use [`Token::custom_role_ids`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_role_ids: Option<Vec<String>>,
    /// null and [] mean the same; use [`Token::inline_role`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline_role: Option<Vec<Statement>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Full secret after create/reset, else the last four characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<Secret>,
    #[serde(default)]
    pub service_token: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_api_version: Option<i64>,
    /// Unix milliseconds after which the token stops working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<i64>,
    #[serde(rename = "_links", default)]
    pub links: serde_json::Value,
}

impl Token {
    pub fn custom_role_ids(&self) -> &[String] {
        self.custom_role_ids.as_deref().unwrap_or(&[])
    }

    /// The inline policy, with an empty list read as none.
    pub fn inline_role(&self) -> Option<&[Statement]> {
        self.inline_role.as_deref().filter(|s| !s.is_empty())
    }

    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }
}

/// `AccessTokenPost`: the body of a create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct TokenPost {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_role_ids: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inline_role: Option<Vec<Statement>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_token: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_api_version: Option<i64>,
    /// Unix milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiry: Option<i64>,
}

/// One RFC 6902 operation (`PatchOperation`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PatchOp {
    pub op: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
}

impl PatchOp {
    pub fn replace(path: &str, value: serde_json::Value) -> Self {
        Self { op: "replace".into(), path: path.into(), value: Some(value) }
    }

    pub fn add(path: &str, value: serde_json::Value) -> Self {
        Self { op: "add".into(), path: path.into(), value: Some(value) }
    }

    pub fn remove(path: &str) -> Self {
        Self { op: "remove".into(), path: path.into(), value: None }
    }
}

/// `Tokens`: one page of the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenPage {
    #[serde(default)]
    pub items: Vec<Token>,
    #[serde(rename = "_links", default)]
    pub links: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_count: Option<u64>,
}

/// `CallerIdentityRep`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct CallerIdentity {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_token: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
}

/// `CustomRole` (the fields tokenform needs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomRole {
    #[serde(rename = "_id")]
    pub id: String,
    pub key: String,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub policy: Vec<Statement>,
    #[serde(rename = "_links", default)]
    pub links: serde_json::Value,
}

/// One consistent snapshot of everything the planner and drift need from the API.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Live {
    /// Every token the caller can see (all pages; `showAll` when asked).
    pub tokens: Vec<Token>,
    /// Who tokenform is authenticated as; its `token_id` is never deleted.
    pub caller: CallerIdentity,
    /// Custom roles by KEY: the keys configuration names, plus any whose ids live tokens use
    /// when they could be resolved.
    pub custom_roles: BTreeMap<String, CustomRole>,
}

impl Live {
    pub fn token(&self, id: &str) -> Option<&Token> {
        self.tokens.iter().find(|t| t.id == id)
    }

    pub fn role_id(&self, key: &str) -> Option<&str> {
        self.custom_roles.get(key).map(|r| r.id.as_str())
    }

    pub fn role_key(&self, id: &str) -> Option<&str> {
        self.custom_roles.values().find(|r| r.id == id).map(|r| r.key.as_str())
    }
}
