//! Who is calling and what they may do: the `Authorization` header holds a token secret
//! (raw, no `Bearer`); expired tokens and unknown secrets get 401. Token management needs
//! the admin role, or an inline/custom-role policy allowing actions on `member/*:token/*`.
//! Visibility follows the LaunchDarkly rules for personal vs service tokens. No HTTP routing.

use axum::http::HeaderMap;
use serde_json::Value;

use super::store::{SeedToken, Store, now_ms};

/// The authenticated caller.
#[derive(Debug, Clone)]
pub(super) struct Caller {
    pub token_id: String,
    pub token_name: Option<String>,
    pub member_id: String,
    pub service_token: bool,
    pub admin: bool,
    pub can_manage_tokens: bool,
}

/// Authenticates the request against the store (and records `lastUsed`). `None` means 401.
pub(super) fn authenticate(store: &mut Store, headers: &HeaderMap) -> Option<Caller> {
    let secret = headers.get("authorization")?.to_str().ok()?.trim();
    if secret.is_empty() {
        return None;
    }
    let index = store.authenticate(secret, now_ms())?;
    let t = &store.tokens[index];
    let admin = t.role.as_deref() == Some("admin");
    let can_manage_tokens = admin || policy_allows_tokens(store, t);
    Some(Caller {
        token_id: t.id.clone(),
        token_name: t.name.clone(),
        member_id: t.member_id.clone(),
        service_token: t.service_token,
        admin,
        can_manage_tokens,
    })
}

/// True when an inline or custom-role statement allows token actions.
fn policy_allows_tokens(store: &Store, t: &SeedToken) -> bool {
    let custom = t.custom_role_ids.iter().filter_map(|id| store.role(id)).flat_map(|r| r.policy.iter());
    let statements: Vec<&Value> = t.inline_role.iter().chain(custom).collect();
    let strs = |v: &Value, k: &str| -> Vec<String> {
        v.get(k)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default()
    };
    let allows = statements.iter().any(|s| {
        s.get("effect").and_then(Value::as_str) == Some("allow")
            && strs(s, "resources")
                .iter()
                .any(|r| r == "*" || (r.starts_with("member/") && r.contains("token/")))
            && strs(s, "actions").iter().any(|a| a == "*" || a.contains("AccessToken"))
    });
    let denies = statements.iter().any(|s| {
        s.get("effect").and_then(Value::as_str) == Some("deny")
            && strs(s, "resources")
                .iter()
                .any(|r| r == "*" || (r.starts_with("member/") && r.contains("token/")))
    });
    allows && !denies
}

impl Caller {
    /// Whether `t` shows up in this caller's list: service tokens always; personal tokens
    /// when they belong to the caller's member (for a service token: the member who created
    /// it, so the personal tokens it creates stay visible to it), or (admin, `showAll`) anyone's.
    pub(super) fn sees_in_list(&self, t: &SeedToken, show_all: bool) -> bool {
        t.service_token || t.member_id == self.member_id || (show_all && self.admin)
    }

    /// Whether `t` can be read or addressed by id: listed without `showAll`, or the caller is admin.
    pub(super) fn sees(&self, t: &SeedToken) -> bool {
        self.sees_in_list(t, false) || self.admin
    }
}
