//! How a command reaches the state: load the configuration (for `state { … }`), turn
//! `--lock-timeout` into a [`LockMode`], find the identity (`--identity` or
//! `TOKENFORM_IDENTITY_FILE`), open the store. Errors become `miette::Report` here.
//! No state logic of its own: that is `crate::state`.

use std::path::{Path, PathBuf};

use super::Context;
use crate::cli::LockArgs;
use crate::config::{Config, EncryptMode};
use crate::model::Address;
use crate::secret::Secret;
use crate::state::backend::{self, Backend};
use crate::state::{BackendEnv, BackendSettings, Identities, LockMode, StateStore};

/// The environment variable naming the identity file (also read by clap for `--identity`).
pub const IDENTITY_ENV: &str = "TOKENFORM_IDENTITY_FILE";

/// Loads the configuration of `-C DIR` with no `-var` inputs (`rekey` takes none): every
/// block, so a variable without a default makes it fail.
pub fn load_config(ctx: &Context) -> miette::Result<Config> {
    crate::config::load(&ctx.global.dir, &ctx.var_inputs(&crate::cli::VarArgs::default())?)
        .map_err(miette::Report::new)
}

/// Loads only the `state` block of `-C DIR` ([`crate::config::load_for_state`]): for the
/// commands that read or edit the state and plan nothing, which need no variables.
pub fn load_state_settings(ctx: &Context) -> miette::Result<Config> {
    crate::config::load_for_state(&ctx.global.dir, &ctx.var_inputs(&crate::cli::VarArgs::default())?)
        .map_err(miette::Report::new)
}

/// An exclusive lock mode from `--lock-timeout`, with `command` as owner info.
pub fn exclusive(lock: &LockArgs, command: &str) -> LockMode {
    LockMode::Exclusive { timeout: lock.lock_timeout, command: command.to_owned() }
}

/// The identity file from `explicit` (`--identity`, which clap also fills from the env)
/// or else `TOKENFORM_IDENTITY_FILE`; `None` when neither is set.
pub fn identity_path(explicit: Option<&Path>) -> Option<PathBuf> {
    explicit
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os(IDENTITY_ENV).filter(|v| !v.is_empty()).map(PathBuf::from))
}

/// Loads the identities when an identity file is given.
pub fn identities(explicit: Option<&Path>) -> miette::Result<Option<Identities>> {
    identity_path(explicit).map(|p| Identities::load(&p).map_err(miette::Report::new)).transpose()
}

/// Loads the identities, which this command needs (`what` says for what).
pub fn require_identities(explicit: Option<&Path>, what: &str) -> miette::Result<Identities> {
    identities(explicit)?
        .ok_or_else(|| miette::Report::new(crate::state::StateError::NoIdentity { what: what.to_owned() }))
}

/// What the configured backend needs from this process's environment: the variables its
/// settings name (a connection string, credentials) and the user, for the lock's `Who`.
/// The only place the backend's environment is read.
pub fn backend_env(config: &Config) -> BackendEnv {
    let vars = config
        .state
        .backend
        .env_names()
        .into_iter()
        .filter_map(|name| std::env::var(name).ok().map(|v| (name.to_owned(), Secret::new(v))));
    let user = ["USER", "LOGNAME"].iter().find_map(|n| std::env::var(n).ok().filter(|u| !u.is_empty()));
    BackendEnv::new(vars, user)
}

/// The configured backend, connected, without a lock (`force-unlock`).
pub fn backend(config: &Config) -> miette::Result<Box<dyn Backend>> {
    backend::open(&config.state, &backend_env(config)).map_err(miette::Report::new)
}

/// Opens the configured state. With `encrypt = "file"` the identity is required up front.
pub fn open(config: &Config, mode: LockMode, ids: Option<&Identities>) -> miette::Result<StateStore> {
    // A local file that exists can be checked before taking the lock; on another backend
    // the store reports a missing identity as soon as it reads an encrypted document.
    let local_file = config.state.backend == BackendSettings::Local && config.state.path.exists();
    if config.state.encrypt == EncryptMode::File && ids.is_none() && local_file {
        return Err(miette::Report::new(crate::state::StateError::NoIdentity {
            what: format!("the state file {} (encrypt = \"file\")", config.state.path.display()),
        }));
    }
    StateStore::open_in(&config.state, &backend_env(config), mode, ids).map_err(miette::Report::new)
}

/// Opens the state for a command that never decrypts a secret (plan, apply, drift): the
/// identity (`TOKENFORM_IDENTITY_FILE`) is read only when `encrypt = "file"` needs it.
pub fn open_metadata(config: &Config, mode: LockMode, identity: Option<&Path>) -> miette::Result<StateStore> {
    let ids = if config.state.encrypt == EncryptMode::File { identities(identity)? } else { None };
    open(config, mode, ids.as_ref())
}

/// The error for an address the state does not track.
pub fn unknown_address(address: &Address, store: &StateStore) -> miette::Report {
    let known: Vec<String> = store.state().tokens.keys().take(5).map(ToString::to_string).collect();
    let help = if known.is_empty() {
        "the state tracks no token yet".to_owned()
    } else {
        format!("`tokenform state list` shows the tracked addresses (e.g. {})", known.join(", "))
    };
    miette::miette!(code = "tokenform::state::unknown_address", help = help, "{address} is not in the state")
}
