//! Bringing existing tokens under management (`docs/spec.md` §9): configuration generated
//! from live tokens (`adopt`, `plan -generate-config-out`) and from a Terraform state
//! (`migrate terraform`).
//!
//! - [`terraform`]: reads a Terraform/OpenTofu state for its `launchdarkly_access_token`s.
//! - [`migrate`]: translates a Terraform instance into a desired token; checks its secret.
//! - [`labels`]: token labels from names and Terraform addresses, made unique.
//! - [`generate`]: HCL text of `token`, `import` and `removed` blocks, in `fmt` layout.
//! - [`input`]: bounded reads of the state given on the command line.
//!
//! Everything here but [`input`] is pure: no network, no state store, no clock (callers
//! pass `now`). Writing files, sealing secrets and recording state is the commands' job.
//! Which live tokens are unmanaged is drift's rule ([`crate::drift::detect`]), not a copy.

pub mod generate;
pub mod input;
pub mod labels;
pub mod migrate;
pub mod terraform;

use std::collections::BTreeSet;

use crate::api::model::{Live, Token};
use crate::config::{Config, DesiredToken};
use crate::drift::{DriftOptions, detect, glob_match};
use crate::model::{Access, Address, Role, Statement};
use crate::plan::diff::normalize_policy;
use crate::plan::refresh::ms_to_timestamp;
use crate::state::model::State;

/// The `api_version` values configuration accepts (`yyyymmdd`).
const API_VERSIONS: std::ops::RangeInclusive<i64> = 20_160_426..=99_991_231;

/// The token block that matches `token` as it is live, at `address`, so that importing it
/// plans no other change. `Err` says why no block can say what the token is.
pub fn desired_from_live(token: &Token, live: &Live, address: Address) -> Result<DesiredToken, String> {
    let name = token.name();
    if name.trim().is_empty() {
        return Err("it has no name, and a token block needs one".to_owned());
    }
    let policy = normalize_policy(token.inline_role());
    let ids = token.custom_role_ids();
    let role = token.role.as_deref().filter(|r| !r.is_empty());
    let kinds = usize::from(policy.is_some()) + usize::from(!ids.is_empty()) + usize::from(role.is_some());
    if kinds > 1 {
        return Err("it has more than one kind of access (role, custom roles, inline policy)".to_owned());
    }
    let access = if let Some(statements) = policy {
        if let Some(bad) = statements.iter().position(|s| !expressible(s)) {
            return Err(format!(
                "its inline policy statement {} does not have exactly one of actions/not_actions and of resources/not_resources",
                bad + 1
            ));
        }
        Access::Policy(statements)
    } else if !ids.is_empty() {
        let keys = ids
            .iter()
            .map(|id| {
                live.role_key(id).map(str::to_owned).ok_or_else(|| format!("its custom role {id} is unknown"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Access::CustomRoles(keys)
    } else if let Some(r) = role {
        Access::Role(Role::parse(r).ok_or_else(|| "its role is not reader, writer or admin".to_owned())?)
    } else {
        return Err("it has no role, custom role or inline policy".to_owned());
    };
    let mut desired = DesiredToken::new(address, name, access);
    desired.description = token.description.clone().filter(|d| !d.is_empty());
    desired.service_token = token.service_token;
    desired.api_version =
        token.default_api_version.filter(|v| API_VERSIONS.contains(v)).and_then(|v| u32::try_from(v).ok());
    desired.expires_at = token.expiry.and_then(ms_to_timestamp);
    Ok(desired)
}

/// What configuration can say of a statement: exactly one of each pair.
fn expressible(s: &Statement) -> bool {
    s.actions.is_some() != s.not_actions.is_some() && s.resources.is_some() != s.not_resources.is_some()
}

/// One live token `adopt` writes blocks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Adopted {
    pub id: String,
    pub desired: DesiredToken,
    /// Who created it, for the comment above its block.
    pub creator: Option<String>,
}

/// What `adopt` found: tokens to adopt, and those it left out with the reason.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Adoption {
    pub adopted: Vec<Adopted>,
    /// (name, id, why) of unmanaged tokens no block was written for.
    pub skipped: Vec<(String, String, String)>,
}

/// Every unmanaged live token (drift's definition: neither in state nor imported, minus
/// `unmanaged.ignore_names` and other members' personal tokens unless
/// `unmanaged.personal`) whose name matches one of `matches` (all when empty), with a
/// unique label derived from its name.
pub fn adopt(
    config: &Config,
    state: &State,
    live: &Live,
    matches: &[String],
    now: jiff::Timestamp,
) -> Adoption {
    let report = detect(config, state, live, now, &DriftOptions::default());
    let taken = config.tokens.keys().chain(state.tokens.keys()).map(|a| a.label.clone());
    let mut labels = labels::Labels::new(taken);
    let configured: BTreeSet<&str> = config.tokens.values().map(|t| t.name.as_str()).collect();
    let mut out = Adoption::default();
    for u in &report.unmanaged {
        if !matches.is_empty() && !matches.iter().any(|g| glob_match(g, &u.token.name)) {
            continue;
        }
        let Some(live_token) = live.token(&u.token.id) else { continue };
        let skip = |why: String| (live_token.name().to_owned(), live_token.id.clone(), why);
        if configured.contains(live_token.name()) {
            out.skipped.push(skip(
                "a token block already has its name; add an import block for it by hand".to_owned(),
            ));
            continue;
        }
        // The label is only taken once the token is known to be adoptable.
        let base = labels::from_name(live_token.name());
        match desired_from_live(live_token, live, Address::new(&base)) {
            Ok(mut desired) => {
                desired.address = Address::new(labels.unique(&base));
                out.adopted.push(Adopted {
                    id: live_token.id.clone(),
                    desired,
                    creator: u.token.creator.clone(),
                });
            }
            Err(why) => out.skipped.push(skip(why)),
        }
    }
    out
}

/// The `import` and `token` blocks of an adoption, as one file.
pub fn adoption_file(adoption: &Adoption) -> Result<String, crate::config::format::FormatError> {
    let mut blocks = Vec::new();
    for a in &adoption.adopted {
        blocks.push(generate::import_block(&a.desired.address, &a.id));
        let mut comment = format!("Adopted from LaunchDarkly: id {}", a.id);
        if let Some(c) = &a.creator {
            comment.push_str(", created by ");
            comment.push_str(&generate::quote(c));
        }
        blocks.push(generate::token_block(&a.desired.address.label, &a.desired, &[comment]));
    }
    generate::document(
        &[
            "Written by `tokenform adopt`: one import block and one token block per unmanaged token."
                .to_owned(),
            "Applying imports them and changes nothing live; their secrets stay unknown until".to_owned(),
            "`tokenform apply --rotate ADDR` takes one over.".to_owned(),
        ],
        &blocks,
    )
}

#[cfg(test)]
mod tests;
