//! Finding the token a create left behind when its answer was lost. The rule itself is
//! [`crate::plan::orphan`], shared with the planner; this adds what the executor needs to
//! apply it to the ledger. Pure: the executor lists, this decides.

use std::collections::HashSet;

pub use crate::plan::orphan::{CLOCK_SKEW, orphans};
use crate::state::model::State;

/// The ids state already accounts for (managed tokens and retiring generations).
pub fn known_ids(state: &State) -> HashSet<String> {
    state.tokens.values().map(|t| t.id.clone()).chain(state.retiring.iter().map(|r| r.id.clone())).collect()
}
