//! What a `state { … }` block configures: where the state lives (the local file or a
//! backend), who its secrets are encrypted to, and how. Both `config` (which decodes the
//! block) and `state` (which acts on it) use these types; they live here so that `state`
//! never imports `config` (the dependency runs one way: config → state).
//!
//! Pure data: no I/O, no environment. A backend's credentials are never part of the
//! settings; the settings only name the environment variables that hold them
//! ([`BackendSettings::env_names`]), which commands read and pass in.

use std::path::PathBuf;

/// How much of the state age encrypts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EncryptMode {
    /// Metadata in clear, each secret an age ciphertext.
    #[default]
    Secrets,
    /// The whole file also wrapped in age.
    File,
}

/// The resolved `state { … }` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateSettings {
    /// The local state file, resolved against the config dir (unused by remote backends).
    pub path: PathBuf,
    /// Recipients from `recipients` plus those read from `recipients_file`, in order.
    pub recipients: Vec<String>,
    pub recipients_file: Option<PathBuf>,
    pub encrypt: EncryptMode,
    /// Where the state, its journal and its lock live.
    pub backend: BackendSettings,
}

impl StateSettings {
    /// The local file at `path`, secrets encrypted to `recipients`, with `encrypt`.
    pub fn local(path: impl Into<PathBuf>, recipients: Vec<String>, encrypt: EncryptMode) -> Self {
        Self {
            path: path.into(),
            recipients,
            recipients_file: None,
            encrypt,
            backend: BackendSettings::Local,
        }
    }
}

/// Which backend holds the state (`state { backend "pg" { … } }`; the local file by default).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum BackendSettings {
    /// `state.path` beside the configuration, with `.journal`, `.lock` and `.backup.N` files.
    #[default]
    Local,
    /// PostgreSQL: one row per workspace in `schema`.
    Pg(PgSettings),
}

impl BackendSettings {
    /// The environment variables this backend reads its credentials from.
    pub fn env_names(&self) -> Vec<&str> {
        match self {
            BackendSettings::Local => Vec::new(),
            BackendSettings::Pg(pg) => vec![pg.conn_str_env.as_str()],
        }
    }

    /// The backend's name as the configuration spells it (`local`, `pg`).
    pub fn kind(&self) -> &'static str {
        match self {
            BackendSettings::Local => "local",
            BackendSettings::Pg(_) => "pg",
        }
    }
}

/// `backend "pg" { conn_str_env, schema, workspace }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgSettings {
    /// The environment variable holding the `postgres://` URL (never the URL itself).
    pub conn_str_env: String,
    /// The schema holding tokenform's tables (created on first use).
    pub schema: String,
    /// One state per workspace.
    pub workspace: String,
}

impl Default for PgSettings {
    fn default() -> Self {
        Self { conn_str_env: "PG_CONN_STR".into(), schema: "tokenform".into(), workspace: "default".into() }
    }
}
