//! The planner: pure (no async, no I/O, no clock read).
//! `plan(&Config, &State, &Live, now, &PlanOptions) -> Result<Plan, PlanError>`.
//!
//! - [`model`]: the plan value (what `plan` shows, `-out` saves and `apply` executes).
//! - [`refresh`]: state against live (drift), shared with `drift`.
//! - [`diff`]: configuration against live: field differences and the JSON Patch.
//! - [`scope`]: who a live token belongs to (the caller's token, orphans, the unmanaged
//!   scope), shared with apply and `drift`.
//! - `planner`: the rules of `docs/spec.md` §5 that turn the three inputs into ordered actions.
//!
//! Determinism: every collection is walked in a fixed order (BTreeMap, sorted lists), so
//! the same inputs give the same plan, byte for byte once serialized.

pub mod diff;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod model;
mod planner;
#[cfg(test)]
mod proptests;
pub mod refresh;
pub mod scope;
#[cfg(test)]
mod tests;

pub use model::{Action, ActionKind, AttributeDiff, Change, Plan, Reason, Rotation, TokenSpec};
pub use planner::SERVICE_TOKEN_LIMIT;

use crate::api::model::Live;
use crate::config::Config;
use crate::model::Address;
use crate::state::model::State;

/// What the command line selects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanOptions {
    /// `--target`: only these addresses (empty = all).
    pub targets: Vec<Address>,
    /// `--rotate`: rotate these now.
    pub rotate: Vec<Address>,
    /// `--refresh-only`.
    pub refresh_only: bool,
    /// `destroy`: delete everything managed (in `targets` when given).
    pub destroy: bool,
}

/// Why no plan could be made. Never carries a secret.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PlanError {
    #[error("{address} names custom role `{key}`, which does not exist in this LaunchDarkly account")]
    #[diagnostic(
        code(tokenform::plan::unknown_custom_role),
        help("check the role key (custom roles are named by key, not by name or id)")
    )]
    UnknownCustomRole { address: String, key: String },

    /// Every custom role key of the configuration that the account lacks, each where it is
    /// written (one plan reports them all, not the first).
    #[error("{}", unknown_roles_message(roles))]
    #[diagnostic(
        code(tokenform::plan::unknown_custom_role),
        help("check the role keys (custom roles are named by key, not by name or id)")
    )]
    UnknownCustomRoles { roles: Vec<UnknownRole> },

    #[error("{address} is already managed (token {id})")]
    #[diagnostic(
        code(tokenform::plan::import_address_taken),
        help("`tokenform state rm` it first, or import to another address")
    )]
    ImportAddressTaken { address: String, id: String },

    #[error("cannot import {address}: no live token has id {id}")]
    #[diagnostic(
        code(tokenform::plan::import_not_found),
        help("check the `id` of the import block; the caller must be able to see the token")
    )]
    ImportNotFound { address: String, id: String },

    #[error("cannot import token {id} as {address}: {managed_as} already holds it")]
    #[diagnostic(
        code(tokenform::plan::import_already_managed),
        help("remove the import block, or move the token with `tokenform state mv {managed_as} {address}`")
    )]
    ImportAlreadyManaged { address: String, id: String, managed_as: String },

    #[error("token {id} is imported twice: as {first} and as {second}")]
    #[diagnostic(
        code(tokenform::plan::imported_twice),
        help("a live token belongs to one address: keep one of the two import blocks")
    )]
    ImportedTwice { id: String, first: String, second: String },

    #[error("the import block targets {address}, which no token block declares")]
    #[diagnostic(
        code(tokenform::plan::import_without_config),
        help("add a `token` block for {address}, or remove the import block")
    )]
    ImportWithoutConfig { address: String },

    #[error("{address} has lifecycle.prevent_destroy set, and this plan would {action} it")]
    #[diagnostic(
        code(tokenform::plan::prevent_destroy),
        help(
            "to allow it, set `prevent_destroy = false` in the lifecycle block of {address} and apply that first; \
             or stop managing the token without deleting it: `tokenform state rm {address}`"
        )
    )]
    PreventDestroy { address: String, action: &'static str },

    #[error("{address} is the token tokenform authenticates with (id {id}); this plan would {action} it")]
    #[diagnostic(
        code(tokenform::plan::caller_token),
        help(
            "authenticate with another token (its env var is launchdarkly.access_token_env), then plan again"
        )
    )]
    CallerToken { address: String, id: String, action: &'static str },

    #[error("{at}{address} has expires_at {expires_at}, which has passed: the new token would never work")]
    #[diagnostic(
        code(tokenform::plan::expires_in_past),
        help("move expires_at into the future, or remove it")
    )]
    ExpiresInPast {
        address: String,
        expires_at: String,
        /// Where `expires_at` is written, as `main.hcl:4:3: `, or empty.
        at: String,
    },

    #[error("{address}: a rotation grace of {seconds}s ends past the year 9999")]
    #[diagnostic(
        code(tokenform::plan::grace_out_of_range),
        help("rotation.grace is at most 365d and no longer than rotation.every")
    )]
    GraceOutOfRange { address: String, seconds: u64 },

    #[error("--rotate {address}: no such token in the configuration or the state")]
    #[diagnostic(
        code(tokenform::plan::unknown_address),
        help("`tokenform state list` shows the managed addresses")
    )]
    UnknownRotateAddress { address: String },
}

/// A custom role key no live custom role has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownRole {
    pub address: String,
    pub key: String,
    /// Where the token's `custom_roles` is written (`main.hcl:4:3`).
    pub site: Option<String>,
}

fn unknown_roles_message(roles: &[UnknownRole]) -> String {
    // Keys and for_each addresses come from the configuration: control characters escaped.
    let line = |r: &UnknownRole| {
        let (address, key) = (crate::escape::text(&r.address), crate::escape::text(&r.key));
        match &r.site {
            Some(s) => format!("{s}: {address} names custom role `{key}`"),
            None => format!("{address} names custom role `{key}`"),
        }
    };
    if let [one] = roles {
        return format!("{}, which does not exist in this LaunchDarkly account", line(one));
    }
    let mut out = format!("{} custom roles do not exist in this LaunchDarkly account:", roles.len());
    for r in roles {
        out.push_str("\n  ");
        out.push_str(&line(r));
    }
    out
}

/// Diffs configuration, state and one live snapshot into a plan.
///
/// Pure and deterministic: the same inputs give an equal plan. `now` is the only clock.
pub fn plan(
    config: &Config,
    state: &State,
    live: &Live,
    now: jiff::Timestamp,
    opts: &PlanOptions,
) -> Result<Plan, PlanError> {
    planner::Planner::new(config, state, live, now, opts).run()
}

/// `tokenform import ADDR ID`: the plan that records live token `id` at `address` (secret
/// unknown), by the same rules as an `import` block: the address is declared and free, no
/// address holds the id, and the id is live. Nothing else is planned: the next `plan`
/// brings the token to its configuration.
pub fn import(
    config: &Config,
    state: &State,
    live: &Live,
    address: &Address,
    id: &str,
) -> Result<Plan, PlanError> {
    if let Some(t) = state.tokens.get(address) {
        return Err(PlanError::ImportAddressTaken { address: address.to_string(), id: t.id.clone() });
    }
    if let Some(other) = state.holder_of(id) {
        return Err(PlanError::ImportAlreadyManaged {
            address: address.to_string(),
            id: id.to_owned(),
            managed_as: other.to_string(),
        });
    }
    let desired = config
        .tokens
        .get(address)
        .ok_or_else(|| PlanError::ImportWithoutConfig { address: address.to_string() })?;
    let token = live
        .token(id)
        .ok_or_else(|| PlanError::ImportNotFound { address: address.to_string(), id: id.to_owned() })?;
    let spec = diff::spec(desired, live)?;
    Ok(Plan {
        format_version: model::PLAN_FORMAT_VERSION,
        lineage: state.lineage.clone(),
        serial: state.serial,
        config_digest: config.digest.clone(),
        refresh_only: false,
        actions: vec![planner::import_action(address, token, spec)],
        drift: Vec::new(),
        warnings: Vec::new(),
        notes: Vec::new(),
    })
}
