//! Drift detection: configuration, state and one live snapshot read for what moved or
//! rotted since the last apply. `detect` is pure: no I/O, no clock (the caller passes
//! `now`), no identity (it never opens a secret, only reads `issued_at`).
//!
//! Scope rules, in one place:
//! - managed tokens are the addresses in state; `changed` and `missing` compare them with
//!   the live list (fields in `lifecycle.ignore_changes` are not drift);
//! - a live token is known when state, a retiring generation, an `import` block or the
//!   caller identity names its id; every other live token is `unmanaged`, except names
//!   matching `unmanaged.ignore_names` and, unless `unmanaged.personal`, other members'
//!   personal tokens (those two are left out of every list);
//! - `rotation_due` needs a `rotation` block in configuration;
//! - `expiring` and `stale` look at every live token in scope (managed and reported
//!   unmanaged); the caller's own token is checked for expiry but never called stale,
//!   since this very run uses it.

pub mod model;

pub use model::{
    Changed, DriftReport, Expiring, ExpirySource, FieldChange, Missing, ReportOptions, RotationDue,
    RotationReason, Stale, TokenRef, Unmanaged,
};

use std::collections::HashMap;

use serde_json::Value;
use std::time::Duration;

use crate::api::model::{Live, Token};
use crate::config::Config;
use crate::model::{TokenField, format_duration};
use crate::plan::refresh::{live_changes, ms_to_timestamp};
use crate::plan::scope;
use crate::state::model::{State, TokenState};

/// The thresholds of one run (`--stale-after`, `--expiring-within`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DriftOptions {
    /// A token unused for this long is stale (default 90 days).
    pub stale_after: Duration,
    /// Expiries within this window are reported (default 14 days).
    pub expiring_within: Duration,
}

impl Default for DriftOptions {
    fn default() -> Self {
        Self { stale_after: Duration::from_hours(90 * 24), expiring_within: Duration::from_hours(14 * 24) }
    }
}

/// Compares configuration, state and the live snapshot at instant `now`.
pub fn detect(
    config: &Config,
    state: &State,
    live: &Live,
    now: jiff::Timestamp,
    opts: &DriftOptions,
) -> DriftReport {
    let mut report = DriftReport {
        format_version: model::DRIFT_FORMAT_VERSION,
        checked_at: now,
        options: ReportOptions {
            stale_after: format_duration(opts.stale_after),
            expiring_within: format_duration(opts.expiring_within),
        },
        drift_found: false,
        changed: Vec::new(),
        missing: Vec::new(),
        unmanaged: Vec::new(),
        rotation_due: Vec::new(),
        expiring: Vec::new(),
        stale: Vec::new(),
    };
    let expiring_before = add(now, opts.expiring_within);
    let stale_before = sub(now, opts.stale_after);

    // One index instead of a scan per managed token: accounts hold thousands of tokens.
    let by_id: HashMap<&str, &Token> = live.tokens.iter().map(|t| (t.id.as_str(), t)).collect();
    // State keeps only the creator's member id; the live list names members by email.
    let emails: HashMap<&str, &str> = live
        .tokens
        .iter()
        .filter_map(|t| t.member.as_ref())
        .filter(|m| !m.id.is_empty() && !m.email.is_empty())
        .map(|m| (m.id.as_str(), m.email.as_str()))
        .collect();
    for (address, st) in &state.tokens {
        let desired = config.tokens.get(address);
        let Some(token) = by_id.get(st.id.as_str()).copied() else {
            report.missing.push(Missing { token: state_ref(address, st, &emails) });
            continue;
        };
        let tref = TokenRef { address: Some(address.clone()), ..live_ref(token) };

        let ignored = desired.map(|d| d.lifecycle.ignore_changes.as_slice()).unwrap_or_default();
        let fields: Vec<FieldChange> = live_changes(st, token)
            .into_iter()
            .filter(|d| !ignored.contains(&d.field))
            .map(|d| FieldChange {
                field: d.field,
                state: role_keys(d.field, d.old, live),
                live: role_keys(d.field, d.new, live),
            })
            .collect();
        if !fields.is_empty() {
            report.changed.push(Changed { token: tref.clone(), fields });
        }

        if let Some(rotation) = desired.and_then(|d| d.rotation.as_ref()) {
            let every = format_duration(rotation.every);
            match &st.secret {
                None => report.rotation_due.push(RotationDue {
                    token: tref.clone(),
                    reason: RotationReason::SecretUnknown,
                    every,
                    issued_at: None,
                    due_at: None,
                }),
                Some(secret) => {
                    if let Some(due_at) = add(secret.issued_at, rotation.every).filter(|due| *due <= now) {
                        report.rotation_due.push(RotationDue {
                            token: tref.clone(),
                            reason: RotationReason::Overdue,
                            every,
                            issued_at: Some(secret.issued_at),
                            due_at: Some(due_at),
                        });
                    }
                }
            }
        }

        let candidates = [
            token.expiry.and_then(ms_to_timestamp).map(|t| (t, ExpirySource::Live)),
            st.expiry.map(|t| (t, ExpirySource::State)),
            desired.and_then(|d| d.expires_at).map(|t| (t, ExpirySource::Config)),
        ];
        check_expiry(&mut report, &tref, candidates.into_iter().flatten(), now, expiring_before);
        if !scope::is_callers(&live.caller, &token.id) {
            check_stale(&mut report, &tref, token, stale_before);
        }
    }

    for token in scope::unmanaged(config, state, live, |_| false) {
        let tref = live_ref(token);
        let expiry = token.expiry.and_then(ms_to_timestamp).map(|t| (t, ExpirySource::Live));
        check_expiry(&mut report, &tref, expiry.into_iter(), now, expiring_before);
        if scope::is_callers(&live.caller, &token.id) {
            // The token this run authenticates with is known to the operator by definition.
            continue;
        }
        check_stale(&mut report, &tref, token, stale_before);
        report.unmanaged.push(Unmanaged {
            token: tref,
            service_token: token.service_token,
            role: token.role.clone().filter(|r| !r.is_empty()),
            created_at: ms_to_timestamp(token.creation_date).filter(|_| token.creation_date > 0),
        });
    }

    report.drift_found = report.has_drift();
    report
}

/// Custom role ids shown by key where the snapshot resolves them (people write keys).
fn role_keys(field: TokenField, value: Option<Value>, live: &Live) -> Option<Value> {
    match (field, value) {
        (TokenField::CustomRoles, Some(Value::Array(ids))) => Some(Value::Array(
            ids.into_iter()
                .map(|id| match id.as_str().and_then(|i| live.role_key(i)) {
                    Some(key) => Value::String(key.to_owned()),
                    None => id,
                })
                .collect(),
        )),
        (_, value) => value,
    }
}

fn check_expiry(
    report: &mut DriftReport,
    tref: &TokenRef,
    candidates: impl Iterator<Item = (jiff::Timestamp, ExpirySource)>,
    now: jiff::Timestamp,
    before: Option<jiff::Timestamp>,
) {
    // The earliest expiry any source knows of: a later one would not save the token.
    let Some((expires_at, source)) = candidates.min_by_key(|(t, _)| *t) else { return };
    if before.is_none_or(|b| expires_at <= b) {
        report.expiring.push(Expiring {
            token: tref.clone(),
            expires_at,
            source,
            expired: expires_at <= now,
        });
    }
}

/// Stale: last used before `before`, or never used and created before it (a token made
/// moments ago has had no chance to be used; one of unknown age may have).
fn check_stale(report: &mut DriftReport, tref: &TokenRef, token: &Token, before: Option<jiff::Timestamp>) {
    let created_at = ms_to_timestamp(token.creation_date).filter(|_| token.creation_date > 0);
    let Some(before) = before else { return };
    let stale = match tref.last_used {
        None => created_at.is_none_or(|c| c < before),
        Some(used) => used < before,
    };
    if stale {
        report.stale.push(Stale { token: tref.clone(), never_used: tref.last_used.is_none(), created_at });
    }
}

fn live_ref(token: &Token) -> TokenRef {
    let email = token.member.as_ref().map(|m| m.email.as_str()).filter(|e| !e.is_empty());
    let member_id = Some(token.member_id.as_str()).filter(|m| !m.is_empty());
    TokenRef {
        address: None,
        name: token.name().to_owned(),
        id: token.id.clone(),
        creator: email.or(member_id).map(str::to_owned),
        // 0 is how some API versions say "never".
        last_used: token.last_used.filter(|ms| *ms > 0).and_then(ms_to_timestamp),
    }
}

/// A token gone live, as state remembers it; the creator by email when some live token
/// names the same member, else by member id.
fn state_ref(address: &crate::model::Address, st: &TokenState, emails: &HashMap<&str, &str>) -> TokenRef {
    let creator = st.member_id.as_deref().filter(|m| !m.is_empty());
    TokenRef {
        address: Some(address.clone()),
        name: st.name.clone(),
        id: st.id.clone(),
        creator: creator.map(|m| emails.get(m).copied().unwrap_or(m).to_owned()),
        last_used: None,
    }
}

/// `t + d`, or None past the end of time.
fn add(t: jiff::Timestamp, d: Duration) -> Option<jiff::Timestamp> {
    jiff::SignedDuration::try_from(d).ok().and_then(|d| t.checked_add(d).ok())
}

/// `t - d`, or None before the beginning of time.
fn sub(t: jiff::Timestamp, d: Duration) -> Option<jiff::Timestamp> {
    jiff::SignedDuration::try_from(d).ok().and_then(|d| t.checked_sub(d).ok())
}

pub use crate::model::glob_match;

#[cfg(test)]
pub(crate) mod tests;
