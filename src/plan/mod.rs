//! The planner: pure (no async, no I/O, no clock read).
//! `plan(&Config, &State, &Live, now, &PlanOptions) -> Result<Plan, PlanError>`.
//!
//! CONTRACT STUB laid by the lead for `plan`: the signature is the interface; the body is
//! to be written by the planner issue.

pub mod model;
pub mod refresh;

pub use model::{Action, ActionKind, AttributeDiff, Plan, Reason, TokenSpec};

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

/// Why no plan could be made.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PlanError {
    #[error("the planner is not implemented yet")]
    #[diagnostic(code(tokenform::plan::not_implemented))]
    NotImplemented,
}

/// Diffs configuration, state and one live snapshot into a plan.
pub fn plan(
    config: &Config,
    state: &State,
    live: &Live,
    now: jiff::Timestamp,
    opts: &PlanOptions,
) -> Result<Plan, PlanError> {
    let _ = (config, state, live, now, opts);
    Err(PlanError::NotImplemented)
}
