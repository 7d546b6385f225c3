//! Comparing what state remembers with what the API shows now. Shared by the planner
//! (drift is planned back) and `drift` (drift is reported). Pure.

use serde_json::{Value, json};

use crate::api::model::{Live, Token};
use crate::model::{Statement, TokenField};
use crate::plan::model::AttributeDiff;
use crate::state::model::TokenState;

/// Unix milliseconds → timestamp (None when out of range).
pub fn ms_to_timestamp(ms: i64) -> Option<jiff::Timestamp> {
    jiff::Timestamp::from_millisecond(ms).ok()
}

fn policy_value(p: Option<&[Statement]>) -> Option<Value> {
    p.filter(|s| !s.is_empty()).map(|s| json!(s))
}

fn list_value(l: &[String]) -> Option<Value> {
    (!l.is_empty()).then(|| json!(l))
}

/// The per-field differences between state (old) and live (new). null and empty lists are
/// equal (the API returns either); an absent description equals an empty one.
pub fn live_changes(state: &TokenState, live: &Token) -> Vec<AttributeDiff> {
    let mut out = Vec::new();
    let mut push = |field: TokenField, old: Option<Value>, new: Option<Value>| {
        if old != new {
            out.push(AttributeDiff { field, old, new, forces_replacement: field.forces_replacement() });
        }
    };
    let some_str = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(|s| json!(s));
    push(TokenField::Name, Some(json!(state.name)), Some(json!(live.name())));
    push(
        TokenField::Description,
        some_str(state.description.as_deref()),
        some_str(live.description.as_deref()),
    );
    push(TokenField::Role, some_str(state.role.as_deref()), some_str(live.role.as_deref()));
    let mut state_ids = state.custom_role_ids.clone();
    let mut live_ids = live.custom_role_ids().to_vec();
    state_ids.sort();
    live_ids.sort();
    push(TokenField::CustomRoles, list_value(&state_ids), list_value(&live_ids));
    push(TokenField::Policy, policy_value(state.inline_role.as_deref()), policy_value(live.inline_role()));
    push(TokenField::ServiceToken, Some(json!(state.service_token)), Some(json!(live.service_token)));
    // A token created without an api_version gets the API's default: only a set value is compared.
    if let Some(v) = state.api_version {
        push(TokenField::ApiVersion, Some(json!(v)), live.default_api_version.map(|v| json!(v)));
    }
    push(
        TokenField::ExpiresAt,
        state.expiry.map(|t| json!(t.to_string())),
        live.expiry.and_then(ms_to_timestamp).map(|t| json!(t.to_string())),
    );
    out
}

/// The state record of a live token: metadata from the API, the secret and the
/// protection flag kept from `prev` (the API never shows an existing secret).
pub fn state_from_live(live: &Token, snapshot: &Live, prev: Option<&TokenState>) -> TokenState {
    let ids = live.custom_role_ids().to_vec();
    let keys = ids.iter().map(|id| snapshot.role_key(id).map_or_else(|| id.clone(), str::to_owned)).collect();
    TokenState {
        id: live.id.clone(),
        name: live.name().to_owned(),
        description: live.description.clone().filter(|d| !d.is_empty()),
        role: live.role.clone().filter(|r| !r.is_empty()),
        custom_role_ids: ids,
        custom_role_keys: keys,
        inline_role: live.inline_role().map(<[Statement]>::to_vec),
        service_token: live.service_token,
        api_version: live
            .default_api_version
            .and_then(|v| u32::try_from(v).ok())
            .or_else(|| prev.and_then(|p| p.api_version)),
        expiry: live.expiry.and_then(ms_to_timestamp),
        created_at: ms_to_timestamp(live.creation_date).unwrap_or(jiff::Timestamp::UNIX_EPOCH),
        member_id: (!live.member_id.is_empty()).then(|| live.member_id.clone()),
        prevent_destroy: prev.is_some_and(|p| p.prevent_destroy),
        secret: prev.and_then(|p| p.secret.clone()),
        terraform_address: prev.and_then(|p| p.terraform_address.clone()),
        undelivered: prev.map(|p| p.undelivered.clone()).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Effect;

    fn live_token() -> Token {
        serde_json::from_value(json!({
            "_id": "61095542756dba551110ae21", "ownerId": "o", "memberId": "m",
            "creationDate": 1_700_000_000_000_i64, "lastModified": 1_700_000_000_000_i64, "_links": {},
            "name": "ci", "role": "reader", "serviceToken": false, "customRoleIds": [], "inlineRole": []
        }))
        .unwrap()
    }

    #[test]
    fn refreshed_state_has_no_changes() {
        let live = live_token();
        let st = state_from_live(&live, &Live::default(), None);
        assert!(live_changes(&st, &live).is_empty());
    }

    #[test]
    fn edits_are_reported_per_field() {
        let mut live = live_token();
        let st = state_from_live(&live, &Live::default(), None);
        live.role = Some("writer".into());
        live.inline_role = Some(vec![Statement {
            effect: Effect::Allow,
            actions: Some(vec!["*".into()]),
            resources: Some(vec!["proj/*".into()]),
            not_actions: None,
            not_resources: None,
        }]);
        let fields: Vec<_> = live_changes(&st, &live).iter().map(|d| d.field).collect();
        assert_eq!(fields, vec![TokenField::Role, TokenField::Policy]);
    }
}
