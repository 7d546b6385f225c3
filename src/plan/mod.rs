//! The planner: pure (no async, no I/O, no clock read). `plan(&Config, &State, &Live, now, &Options) -> Plan`.

pub mod model;
pub mod refresh;

pub use model::{Action, ActionKind, AttributeDiff, Plan, Reason, TokenSpec};
