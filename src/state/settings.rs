//! What a `state { … }` block configures: where the state lives (the local file or a
//! backend), who its secrets are encrypted to, and how. Both `config` (which decodes the
//! block) and `state` (which acts on it) use these types; they live here so that `state`
//! never imports `config` (the dependency runs one way: config → state).
//!
//! Pure data: no I/O, no environment. A backend's credentials are never part of the
//! settings; the settings only name the environment variables that hold them
//! ([`BackendSettings::env_names`]), which commands read and pass in.

use std::path::PathBuf;
use std::time::Duration;

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
    /// S3 or an S3-compatible store: objects under `key` in `bucket`.
    S3(S3Settings),
}

impl BackendSettings {
    /// The environment variables this backend reads its credentials from.
    pub fn env_names(&self) -> Vec<&str> {
        match self {
            BackendSettings::Local => Vec::new(),
            BackendSettings::Pg(pg) => vec![pg.conn_str_env.as_str()],
            BackendSettings::S3(_) => S3_ENV.to_vec(),
        }
    }

    /// The backend's name as the configuration spells it (`local`, `pg`).
    pub fn kind(&self) -> &'static str {
        match self {
            BackendSettings::Local => "local",
            BackendSettings::Pg(_) => "pg",
            BackendSettings::S3(_) => "s3",
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

/// The standard AWS variables the S3 backend reads its credentials and region from (and
/// nothing else: no profile files, no instance metadata).
pub const S3_ENV: &[&str] =
    &["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION"];

/// `backend "s3" { bucket, key, region, endpoint, lock_lease }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Settings {
    pub bucket: String,
    /// The state object's key; the lock, journal and previous versions live beside it
    /// (`<key>.lock`, `<key>.journal/…`, `<key>.previous/…`).
    pub key: String,
    /// `None`: `AWS_REGION` / `AWS_DEFAULT_REGION`, else `us-east-1`.
    pub region: Option<String>,
    /// An S3-compatible endpoint (`https://…`; plain `http://` only on loopback). `None`: AWS.
    pub endpoint: Option<String>,
    /// How long a lock that its holder stopped renewing (a killed run) keeps others out.
    pub lock_lease: Duration,
}

/// The default [`S3Settings::lock_lease`].
pub const DEFAULT_LOCK_LEASE: Duration = Duration::from_secs(30);
