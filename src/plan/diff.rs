//! Desired (configuration) against live (API): per-field differences and the JSON Patch
//! that closes them. Pure: no I/O, no clock.
//!
//! Equality follows the API's quirks (`docs/ld-api-notes.md`): null and empty lists are equal,
//! an empty description equals none, custom roles compare as sets of ids, an `api_version`
//! left unset in configuration is whatever the API picked. A `remove` is only emitted for a
//! field the live token has (LaunchDarkly answers 422 otherwise); a value the live token
//! lacks is `add`ed, never `replace`d (RFC 6902 `replace` needs the path to exist).

use serde_json::{Value, json};

use crate::api::model::{Live, PatchOp, Token};
use crate::config::DesiredToken;
use crate::model::{Access, Address, Role, Statement, TokenField};
use crate::plan::PlanError;
use crate::plan::model::{
    AttributeDiff, CustomRole, StateFields, TokenFields, TokenSpec, normalize_statements,
};
use crate::state::model::TokenState;

/// The token a configuration block asks for, with custom role keys resolved to ids and
/// its fields normalised.
pub fn spec(desired: &DesiredToken, live: &Live) -> Result<TokenSpec, PlanError> {
    let access = match &desired.access {
        Access::Role(r) => Access::Role(*r),
        Access::CustomRoles(keys) => Access::CustomRoles(
            keys.iter()
                .map(|key| {
                    let id = live.role_id(key).ok_or_else(|| PlanError::UnknownCustomRole {
                        address: desired.address.to_string(),
                        key: key.clone(),
                    })?;
                    Ok(CustomRole { key: key.clone(), id: id.to_owned() })
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Access::Policy(p) => Access::Policy(p.clone()),
    };
    let api = TokenFields {
        name: desired.name.clone(),
        description: desired.description.clone(),
        access,
        service_token: desired.service_token,
        api_version: desired.api_version,
        expiry: desired.expires_at,
    };
    Ok(TokenSpec {
        api: api.normalised(),
        state: StateFields {
            recipients: desired.recipients.clone(),
            prevent_destroy: desired.lifecycle.prevent_destroy,
        },
    })
}

/// A live policy as desired ones read ([`normalize_statements`]); an empty one is none.
pub fn normalize_policy(p: Option<&[Statement]>) -> Option<Vec<Statement>> {
    p.filter(|s| !s.is_empty()).map(normalize_statements)
}

fn sorted(ids: &[String]) -> Vec<String> {
    let mut v = ids.to_vec();
    v.sort();
    v
}

/// Custom role ids shown as keys where the snapshot knows them.
fn role_keys_value(ids: &[String], live: &Live) -> Option<Value> {
    (!ids.is_empty()).then(|| json!(ids.iter().map(|id| live.role_key(id).unwrap_or(id)).collect::<Vec<_>>()))
}

fn ts_value(ms: Option<i64>) -> Option<Value> {
    ms.map(|ms| jiff::Timestamp::from_millisecond(ms).map_or_else(|_| json!(ms), |t| json!(t.to_string())))
}

/// The fields of `spec` that differ from `token`, `old` = live, `new` = desired, in
/// [`TokenField::ALL`] order. `state` supplies the `api_version` when the live token does
/// not show one.
pub fn field_diffs(
    spec: &TokenFields,
    token: &Token,
    state: Option<&TokenState>,
    live: &Live,
) -> Vec<AttributeDiff> {
    let mut out = Vec::new();
    let mut push = |field: TokenField, old: Option<Value>, new: Option<Value>, differs: bool| {
        if differs {
            out.push(AttributeDiff { field, old, new, forces_replacement: field.forces_replacement() });
        }
    };
    push(TokenField::Name, Some(json!(token.name())), Some(json!(spec.name)), token.name() != spec.name);
    let live_desc = token.description.as_deref().filter(|d| !d.is_empty());
    push(
        TokenField::Description,
        live_desc.map(|d| json!(d)),
        spec.description.as_deref().map(|d| json!(d)),
        live_desc != spec.description.as_deref(),
    );
    let live_role = token.role.as_deref().filter(|r| !r.is_empty());
    let want_role = spec.role().map(Role::as_str);
    let want_ids = spec.custom_role_ids();
    push(TokenField::Role, live_role.map(|r| json!(r)), want_role.map(|r| json!(r)), live_role != want_role);
    push(
        TokenField::CustomRoles,
        role_keys_value(token.custom_role_ids(), live),
        role_keys_value(&want_ids, live),
        sorted(token.custom_role_ids()) != sorted(&want_ids),
    );
    let live_policy = normalize_policy(token.inline_role());
    let want_policy = spec.policy();
    push(
        TokenField::Policy,
        live_policy.as_ref().map(|p| json!(p)),
        want_policy.map(|p| json!(p)),
        live_policy.as_deref() != want_policy,
    );
    push(
        TokenField::ServiceToken,
        Some(json!(token.service_token)),
        Some(json!(spec.service_token)),
        token.service_token != spec.service_token,
    );
    if let Some(want) = spec.api_version {
        let have = token.default_api_version.or_else(|| state.and_then(|s| s.api_version).map(i64::from));
        push(
            TokenField::ApiVersion,
            have.map(|v| json!(v)),
            Some(json!(want)),
            have != Some(i64::from(want)),
        );
    }
    let want_ms = spec.expiry.map(jiff::Timestamp::as_millisecond);
    push(TokenField::ExpiresAt, ts_value(token.expiry), ts_value(want_ms), token.expiry != want_ms);
    out
}

/// The JSON Patch turning `token` into `spec` for the given (in-place) fields.
pub fn patch(spec: &TokenFields, token: &Token, fields: &[TokenField]) -> Vec<PatchOp> {
    let mut ops = Vec::new();
    let mut set = |path: &str, had: bool, want: Option<Value>| match (want, had) {
        (Some(v), true) => ops.push(PatchOp::replace(path, v)),
        (Some(v), false) => ops.push(PatchOp::add(path, v)),
        (None, true) => ops.push(PatchOp::remove(path)),
        (None, false) => {}
    };
    for field in fields {
        match field {
            TokenField::Name => set("/name", token.name.is_some(), Some(json!(spec.name))),
            TokenField::Description => {
                set("/description", token.description.is_some(), spec.description.as_ref().map(|d| json!(d)));
            }
            TokenField::Role => set("/role", token.role.is_some(), spec.role().map(|r| json!(r))),
            TokenField::CustomRoles => {
                let ids = spec.custom_role_ids();
                set("/customRoleIds", token.custom_role_ids.is_some(), (!ids.is_empty()).then(|| json!(ids)));
            }
            TokenField::Policy => {
                set("/inlineRole", token.inline_role.is_some(), spec.policy().map(|p| json!(p)));
            }
            TokenField::ExpiresAt => {
                set("/expiry", token.expiry.is_some(), spec.expiry.map(|t| json!(t.as_millisecond())));
            }
            // Replacement fields are never patched.
            TokenField::ServiceToken | TokenField::ApiVersion => {}
        }
    }
    ops
}

/// Whether `target` selects `address`: equal, or a bare `token.x` selecting every `token.x["k"]`.
pub fn target_matches(target: &Address, address: &Address) -> bool {
    target == address || (target.key.is_none() && target.label == address.label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let bare = Address::new("d");
        assert!(target_matches(&bare, &Address::keyed("d", "k")));
        assert!(!target_matches(&Address::keyed("d", "k"), &Address::keyed("d", "j")));
        assert!(!target_matches(&bare, &Address::new("e")));
    }
}
