//! tokenform: Terraform-style declarative management of LaunchDarkly API access tokens.
//!
//! # Architecture
//!
//! Stages are nouns with one verb each; only the API client, the state store and apply do I/O.
//!
//! ```text
//! config::load(dir, &VarInputs)                  -> Config      HCL → typed desired tokens, with spans
//! api::Client::fetch_live(role_keys, show_all)   -> Live        one snapshot: all pages, roles, caller
//! state::StateStore::open_in(settings, env, lock, ids) -> StateStore  any backend: CAS saves, lock, journal, age
//! plan::plan(&Config, &State, &Live, now, &PlanOptions) -> Plan PURE: no async, no I/O, no clock
//! render::{human, json, markdown}::plan(&Plan)   -> String      one model, several printers
//! render::stream::plan(&Plan, now)               -> Vec<Message> the `-json` NDJSON lines (apply's come from its Progress)
//! apply::apply_until(&Plan, &Client, &mut StateStore, ApplyOptions, interrupt) -> Outcome  journals every step
//! drift::detect(&Config, &State, &Live, now, &DriftOptions) -> DriftReport the same comparison, read for drift
//! check::check(&Config, Option<LiveInput>, now, &CheckOptions) -> CheckReport least-privilege rules (TKN001…)
//! ```
//!
//! `commands::session::connect` starts a command's session: it checks the base URL, takes
//! the token the edge read from the environment, or starts the embedded emulator and hands
//! the client its URL and token (`api` does not depend on `emulator`).
//! [`plan::refresh`] is the one state-vs-live comparison both the planner and drift use.
//! [`plan::scope`] is the one home of who owns a live token (the caller's token, orphans, the
//! unmanaged scope), used by the planner, apply and drift.
//! `prepare` in `src/commands/plan.rs` is the one load → fetch → plan path that plan, apply
//! and destroy share.
//!
//! - [`model`]: the vocabulary shared by every stage (addresses, roles, policy statements).
//! - [`deliver`]: the sinks a token's new secret goes to (exec on stdin, 0600 file); run only by apply.
//! - [`secret`]: the redacting, zeroizing secret type; every token value lives in one.
//! - [`endpoint`]: the one base-URL rule (which hosts may receive the token), for config and client.
//! - [`files`]: every file read bounded (a cap per kind), regular files only, paths the
//!   configuration names confined to its directory.
//! - [`escape`]: the one escaping of outside text (API names, file names) before printing.
//! - [`emulator`]: a LaunchDarkly-compatible token API server (`dev-server`, `base_url = "embedded"`).
//! - [`onboard`]: configuration generated from live tokens and from a Terraform state
//!   (`adopt`, `plan -generate-config-out`, `migrate terraform`).
//! - [`cli`] and [`commands`]: clap definitions and one thin wrapper per subcommand.

// Unit tests may read their fixtures' environment (TOKENFORM_UPDATE_SCHEMAS, PATH).
#![cfg_attr(test, allow(clippy::disallowed_methods))]

pub mod api;
pub mod apply;
pub mod check;
pub mod cli;
pub mod commands;
pub mod config;
pub mod deliver;
pub mod drift;
pub mod emulator;
pub mod endpoint;
pub mod escape;
pub mod files;
pub mod model;
pub mod onboard;
pub mod plan;
pub mod render;
pub mod secret;
pub mod state;

/// How a command ends, as an exit code: success 0, error 1, changes (or drift) 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Success = 0,
    Error = 1,
    Changes = 2,
}

impl ExitStatus {
    pub fn code(self) -> i32 {
        self as i32
    }
}
