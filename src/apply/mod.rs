//! Executes a [`crate::plan::Plan`]: concurrent, rate-limit aware (the client honours 429s;
//! apply bounds concurrency), persisting state after every successful mutation.
//!
//! ```text
//! apply(plan, &Client, &mut StateStore, ApplyOptions) -> Result<Outcome, ApplyError>
//! ```
//!
//! - [`step`]: the order a plan's changes run in: phases, and what each step ends (pure).
//! - [`executor`]: the concurrent state machine that sends requests (`executor.rs`) and records
//!   answers (`executor/answers.rs`).
//! - [`progress`]: progress lines, the bar, the summary.
//! - [`ports`]: the narrow API and ledger traits the executor talks to.
//!
//! A change that makes a secret and has `deliver` blocks checks the new secret
//! (`caller-identity`), delivers it to every sink in order, and only then starts the grace
//! of the old generation, held until then (`executor/delivery.rs`).
//!
//! Guarantees: every mutation's result is journaled (fsynced) before the next step that
//! depends on it; a create is journaled as an intent before it is sent and reconciled by
//! listing when its answer is lost, so a create is never repeated blindly (no duplicates);
//! a received secret is sealed and recorded at once, never printed. Apply does not plan, and
//! does not render plans.

pub mod executor;
pub mod ports;
pub mod progress;
pub mod step;

#[cfg(test)]
mod delivery_tests;
#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;

use std::future::Future;

pub use executor::{Report, StepFailure};
pub use progress::{Counts, Progress};

use crate::api::Client;
use crate::api::model::Live;
use crate::model::Address;
use crate::plan::model::{Change, PLAN_FORMAT_VERSION, Plan};
use crate::plan::scope;
use crate::secret::Secret;
use crate::state::model::State;
use crate::state::{JournalRecord, StateError, StateStore};
use ports::Ledger;
use step::Step;

/// How to run an apply.
#[derive(Debug)]
pub struct ApplyOptions {
    /// Concurrent requests (`--parallelism`, else `launchdarkly.parallelism`); at least 1.
    pub parallelism: usize,
    /// The live snapshot the plan was made from: the caller (whose member id marks our
    /// creates, whose token is never deleted) and the custom roles (ids → keys).
    pub live: Live,
    pub progress: Progress,
    /// Runs the sinks of the plan's `deliver` blocks (in the configuration directory).
    pub sinks: crate::deliver::Runner,
}

/// What an apply did. `is_success` is false when a task failed or the run was interrupted;
/// the state holds everything that did happen either way.
pub type Outcome = Report;

impl Report {
    pub fn is_success(&self) -> bool {
        self.failures.is_empty() && !self.interrupted && self.ledger_error.is_none()
    }
}

/// Why apply did nothing, or stopped.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ApplyError {
    #[error(
        "stale plan: it was made against state serial {plan_serial}, but the state is now at {state_serial}"
    )]
    #[diagnostic(
        code(tokenform::apply::stale_plan),
        help("the state changed since the plan was saved; run `tokenform plan -out FILE` again")
    )]
    StalePlan { plan_serial: u64, state_serial: u64 },
    #[error("the plan was made for a state of a different lineage ({plan}), not this one ({state})")]
    #[diagnostic(
        code(tokenform::apply::different_lineage),
        help("the plan belongs to another state file; plan again against this configuration")
    )]
    DifferentLineage { plan: String, state: String },
    #[error("the plan file has format version {found}; this tokenform reads {expected}")]
    #[diagnostic(
        code(tokenform::apply::plan_format),
        help("the plan was saved by another version of tokenform: re-run plan (`tokenform plan -out FILE`)")
    )]
    PlanFormat { found: u32, expected: u32 },
    #[error("{address} has lifecycle.prevent_destroy set; the plan would delete or replace it")]
    #[diagnostic(
        code(tokenform::apply::prevent_destroy),
        help("remove prevent_destroy from its lifecycle block (and apply that first) if you mean it")
    )]
    PreventDestroy { address: Address },
    #[error(
        "the plan would end token {id} (delete, retire, rotate or expire it), the token tokenform authenticates with"
    )]
    #[diagnostic(
        code(tokenform::apply::own_token),
        help(
            "tokenform never deletes, rotates or expires its own credential: rotate it from another credential"
        )
    )]
    OwnToken { id: String },
    // The reason is the source, which the report prints beneath: not repeated here.
    #[error("new secrets cannot be stored")]
    #[diagnostic(
        code(tokenform::apply::no_recipient),
        help("add at least one age recipient to `state {{ recipients = [...] }}` (see `tokenform keygen`)")
    )]
    CannotSeal { source: StateError },
    /// The state's own error (its code and help say what to do on that backend).
    #[error(transparent)]
    #[diagnostic(transparent)]
    State {
        #[from]
        source: StateError,
    },
}

/// Checks a saved plan against the state it will be applied to (`apply PLANFILE`).
pub fn check_saved_plan(plan: &Plan, state: &State) -> Result<(), ApplyError> {
    if plan.format_version != PLAN_FORMAT_VERSION {
        return Err(ApplyError::PlanFormat { found: plan.format_version, expected: PLAN_FORMAT_VERSION });
    }
    // Serial 0 is a state never written, whose lineage is drawn afresh on each read: a plan
    // made against nothing applies to nothing, and is stale once anything was written.
    if plan.serial == 0 {
        let never_written = state.serial == 0 && state.tokens.is_empty() && state.retiring.is_empty();
        return if never_written {
            Ok(())
        } else {
            Err(ApplyError::StalePlan { plan_serial: 0, state_serial: state.serial })
        };
    }
    if plan.lineage != state.lineage {
        return Err(ApplyError::DifferentLineage {
            plan: plan.lineage.clone(),
            state: state.lineage.clone(),
        });
    }
    if plan.serial != state.serial {
        return Err(ApplyError::StalePlan { plan_serial: plan.serial, state_serial: state.serial });
    }
    Ok(())
}

/// Refuses, before anything is sent, a plan that deletes a protected token or the
/// caller's own token.
pub fn check_safety(steps: &[Step], state: &State, live: &Live) -> Result<(), ApplyError> {
    for step in steps {
        if let Some(id) = step.ends()
            && scope::is_callers(&live.caller, id)
        {
            return Err(ApplyError::OwnToken { id: id.to_owned() });
        }
        let Some(id) = step.destroys() else { continue };
        if let Some(address) = &step.address
            && state.tokens.get(address).is_some_and(|t| t.prevent_destroy && t.id == id)
        {
            return Err(ApplyError::PreventDestroy { address: address.clone() });
        }
    }
    Ok(())
}

/// Executes `plan` against the API, recording into `store`; saves the state at the end
/// (also after Ctrl-C or a failed task). The plan must be fresh or checked with
/// [`check_saved_plan`]. With the caller's own interrupt: when `interrupt` resolves, no new work starts,
/// in-flight answers are recorded, the state is saved (the command adds "a second Ctrl-C
/// exits at once").
pub async fn apply_until(
    plan: &Plan,
    client: &Client,
    store: &mut StateStore,
    opts: ApplyOptions,
    interrupt: impl Future<Output = ()>,
) -> Result<Outcome, ApplyError> {
    run(plan, client, store, opts, interrupt).await
}

/// [`apply`] over any API and ledger, with an explicit interrupt (tests, benchmarks).
pub(crate) async fn run<A: ports::TokenApi, L: Ledger>(
    plan: &Plan,
    api: &A,
    ledger: &mut L,
    opts: ApplyOptions,
    interrupt: impl Future<Output = ()>,
) -> Result<Outcome, ApplyError> {
    let steps = step::steps(plan);
    check_safety(&steps, ledger.state(), &opts.live)?;
    if let Some(extra) = steps.iter().find_map(Step::new_secret_readers) {
        // Learn that no secret can be stored before a token is made whose secret would be lost.
        let probe = Secret::new("tokenform-seal-probe");
        ledger
            .seal(&probe, extra, jiff::Timestamp::now())
            .map_err(|source| ApplyError::CannotSeal { source })?;
    }
    clear_settled_intents(ledger, &steps, &opts.live)?;
    let ApplyOptions { parallelism, live, mut progress, sinks } = opts;
    progress.start(steps.len());
    let exec = executor::Executor::new(api, &sinks, ledger, &live, parallelism, progress.clone());
    let report = exec.run(steps, interrupt).await;
    progress.finish();
    // Saved whatever happened: the journal already holds every step, this compacts it.
    ledger.save()?;
    Ok(report)
}

/// [`clear_settled_intents`] for a plan with nothing to do (`apply` prints "No changes."):
/// a leftover intent with no orphan is dropped and the state saved, so it cannot later take
/// a token made by hand for an orphan. Returns how many were dropped (0: nothing written).
pub fn settle_intents(plan: &Plan, store: &mut StateStore, live: &Live) -> Result<usize, ApplyError> {
    let steps = step::steps(plan);
    let before = store.state().pending_creates.len();
    clear_settled_intents(store, &steps, live)?;
    let dropped = before - store.state().pending_creates.len();
    if dropped > 0 {
        Ledger::save(store)?;
    }
    Ok(dropped)
}

/// Drops create intents that are settled: their token is already recorded at their address
/// (a crash between recording the token and clearing the intent), or the snapshot the plan
/// was made from shows no orphan of theirs and no task of this run looks at them again (a
/// run killed before its create reached the server). A stale intent is not harmless: within
/// its window it would take a token made by hand under the same name for an orphan.
fn clear_settled_intents<L: Ledger>(ledger: &mut L, steps: &[Step], live: &Live) -> Result<(), StateError> {
    let state = ledger.state();
    let known = scope::state_ids(state);
    let revisited = |address: &Address| {
        steps.iter().any(|s| {
            s.address.as_ref() == Some(address)
                && (s.makes_token() || matches!(s.change, Change::DiscardOrphan { .. }))
        })
    };
    let settled: Vec<Address> = state
        .pending_creates
        .iter()
        .filter(|p| {
            let recorded = state.tokens.get(&p.address).is_some_and(|t| t.created_at >= scope::earliest(p));
            let no_orphan =
                || scope::orphans(p, &live.tokens, &live.caller, |id| known.contains(id)).is_empty();
            recorded || (!revisited(&p.address) && no_orphan())
        })
        .map(|p| p.address.clone())
        .collect();
    for address in settled {
        ledger.record(JournalRecord::ClearPending { address })?;
    }
    Ok(())
}
