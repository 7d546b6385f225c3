//! A LaunchDarkly-compatible server for the access-token API (axum), run by
//! `tokenform dev-server` and in-process by `base_url = "embedded"` and by tests.
//! It follows `docs/ld-openapi/tokens.openapi.json` strictly (where the real API is unconfirmed, it is
//! strict: e.g. `customRoleIds` must be ids, exactly one of role/customRoleIds/inlineRole on
//! create, only the documented PATCH paths). It never listens on a non-loopback address.
//!
//! # Seed and data file format (`--seed FILE`, `--data FILE`)
//!
//! One JSON document; every key is optional:
//!
//! ```json
//! {
//!   "accountId": "…",
//!   "members": [{"_id": "5f…", "email": "ana@example.com", "role": "owner",
//!                "firstName": "Ana", "lastName": "Lee"}],
//!   "customRoles": [{"_id": "60…", "key": "deploy-staging", "name": "Deploy staging",
//!                    "description": "…", "policy": [{"effect": "allow", "actions": ["*"],
//!                                                    "resources": ["proj/*:env/staging"]}]}],
//!   "tokens": [{"_id": "61…", "memberId": "5f…", "name": "ci", "description": "…",
//!               "role": "reader", "customRoleIds": [], "inlineRole": [],
//!               "serviceToken": true, "defaultApiVersion": 20240415,
//!               "creationDate": 1700000000000, "lastModified": 1700000000000,
//!               "lastUsed": 1700000000000, "expiry": 1900000000000,
//!               "secret": "api-xxxxxxxx-xxxx-4xxx-xxxx-xxxxxxxxxxxx",
//!               "previousSecrets": [{"secret": "api-…", "expiry": 1800000000000}]}]
//! }
//! ```
//!
//! Missing ids are generated (24 hex), a missing `memberId` is the account owner, missing
//! dates are "now", `lastUsed` absent means never used. A token with a `secret` authenticates
//! with it (until its `expiry`); without one it gets a random secret nobody knows. With no
//! member, an owner member is made up. The `--data` file has the same format (the emulator
//! writes it, mode 0600, atomically, after every mutation and at shutdown), except that it
//! holds no secret: each `secret` is written as `secretHash` (SHA-256, hex) and
//! `secretLast4`, which a seed may give instead. When the data file exists it is loaded
//! instead of the seed; one of the old format (full `secret`s) still loads, and is rewritten
//! hashed.

mod auth;
mod limits;
pub mod routes;
pub mod store;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use store::{Seed, SeedMember, SeedRole, SeedToken, StoreError};

use crate::secret::Secret;

/// How to run the emulator.
#[derive(Debug, Clone)]
pub struct EmulatorOptions {
    /// Loopback only; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Persist the store here (atomic writes); loaded when it exists.
    pub data: Option<PathBuf>,
    /// Initial content when there is no data file.
    pub seed: Option<Seed>,
    /// Read the admin token from here, or generate it and write it here (0600).
    pub admin_token_file: Option<PathBuf>,
    /// Use this admin token (wins over the file).
    pub admin_token: Option<Secret>,
    pub latency: Duration,
    /// Requests per `rate_window` (0 = unlimited).
    pub rate_limit: u32,
    /// 10 s like LaunchDarkly; tests shorten it.
    pub rate_window: Duration,
    /// Probability (0..1) of a 503 before the operation runs.
    pub fail_rate: f64,
    /// Probability (0..1) that a successful operation's answer is replaced by a 502.
    pub lost_rate: f64,
    /// Largest page the lists return.
    pub page_max: u32,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data: None,
            seed: None,
            admin_token_file: None,
            admin_token: None,
            latency: Duration::ZERO,
            rate_limit: 0,
            rate_window: Duration::from_secs(10),
            fail_rate: 0.0,
            lost_rate: 0.0,
            page_max: 1000,
        }
    }
}

/// Why the emulator could not start.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum EmulatorError {
    #[error("the emulator listens on loopback only, not on {addr}")]
    #[diagnostic(
        code(tokenform::emulator::not_loopback),
        help("use 127.0.0.1:PORT or [::1]:PORT; the emulator has no real authentication")
    )]
    NotLoopback { addr: String },
    #[error("cannot listen on {addr}: {reason}")]
    #[diagnostic(code(tokenform::emulator::bind))]
    Bind { addr: String, reason: String },
    #[error("the admin token file {path} cannot be used: {reason}")]
    #[diagnostic(code(tokenform::emulator::admin_token))]
    AdminToken { path: PathBuf, reason: String },
    #[error("--fail-rate and --lost-rate must be between 0 and 1, not {value}")]
    #[diagnostic(code(tokenform::emulator::fail_rate))]
    FailRate { value: f64 },
    #[error(transparent)]
    #[diagnostic(code(tokenform::emulator::store))]
    Store(#[from] StoreError),
    /// `.tokenform` (or its data file) is a link leading out of the configuration directory.
    #[error("the embedded emulator's data {0}")]
    #[diagnostic(
        code(tokenform::emulator::outside),
        help(
            "remove the link: the embedded emulator keeps its data in .tokenform/ inside the configuration directory"
        )
    )]
    Outside(crate::files::OutsideError),
}

/// Entry point.
#[derive(Debug)]
pub struct Emulator;

/// A running emulator: stops (and persists) when dropped.
#[derive(Debug)]
pub struct RunningEmulator {
    url: String,
    admin_token: Secret,
    admin_token_id: String,
    state: routes::AppState,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

fn read_or_create_admin_token(path: &Path) -> Result<Secret, EmulatorError> {
    let err = |reason: String| EmulatorError::AdminToken { path: path.to_owned(), reason };
    match crate::files::read_text(path, crate::files::Kind::TokenFile) {
        Ok(text) => {
            let token = text.trim();
            if token.is_empty() {
                return Err(err("the file is empty".into()));
            }
            Ok(Secret::new(token))
        }
        Err(e) if e.is_not_found() => {
            let token = Secret::new(store::new_secret());
            let mut line = token.expose().to_owned();
            line.push('\n');
            store::write_atomic(path, line.as_bytes()).map_err(|e| err(e.to_string()))?;
            Ok(token)
        }
        Err(e) => Err(err(e.to_string())),
    }
}

/// The data file of `base_url = "embedded"`, under the config dir.
pub const EMBEDDED_DIR: &str = ".tokenform";

impl Emulator {
    /// Starts the emulator of `base_url = "embedded"`, persisted in `<config_dir>/.tokenform/`.
    /// Its admin token is new on every start (the store's admin token takes it), so no
    /// secret is kept in the config dir; the `admin-token` file earlier versions wrote there
    /// is removed.
    pub async fn start_embedded(config_dir: &Path) -> Result<RunningEmulator, EmulatorError> {
        // A configuration (and what sits beside it) may come from a pull request: a
        // `.tokenform` linked elsewhere must not make the emulator write there.
        let data = crate::files::confine(config_dir, &format!("{EMBEDDED_DIR}/emulator.json"))
            .map_err(EmulatorError::Outside)?;
        let dir = config_dir.join(EMBEDDED_DIR);
        let legacy = dir.join("admin-token");
        match std::fs::symlink_metadata(&legacy) {
            Ok(meta) if meta.is_file() => {
                std::fs::remove_file(&legacy)
                    .map_err(|e| EmulatorError::AdminToken { path: legacy.clone(), reason: e.to_string() })?;
            }
            _ => {}
        }
        Self::start(EmulatorOptions {
            data: Some(data),
            admin_token: Some(Secret::new(store::new_secret())),
            ..EmulatorOptions::default()
        })
        .await
    }

    /// Starts the server on the current tokio runtime. Returns once it accepts connections.
    pub async fn start(options: EmulatorOptions) -> Result<RunningEmulator, EmulatorError> {
        if !options.listen.ip().is_loopback() {
            return Err(EmulatorError::NotLoopback { addr: options.listen.to_string() });
        }
        for value in [options.fail_rate, options.lost_rate] {
            if !(0.0..=1.0).contains(&value) {
                return Err(EmulatorError::FailRate { value });
            }
        }
        let admin_token = match (&options.admin_token, &options.admin_token_file) {
            (Some(t), _) => t.clone(),
            (None, Some(path)) => read_or_create_admin_token(path)?,
            (None, None) => Secret::new(store::new_secret()),
        };
        let seed = match &options.data {
            Some(path) if path.exists() => Seed::from_file(path)?,
            _ => options.seed.clone().unwrap_or_default(),
        };
        let mut store = store::Store::from_seed(seed);
        let admin_token_id = store.ensure_admin(&admin_token);
        let state = routes::AppState {
            store: Arc::new(Mutex::new(store)),
            data: options.data.clone(),
            page_max: options.page_max.max(1),
        };
        persist(&state)?;
        let limiter = limits::Limiter::new(limits::Limits {
            rate_limit: options.rate_limit,
            window: options.rate_window,
            latency: options.latency,
            fail_rate: options.fail_rate,
            lost_rate: options.lost_rate,
        });
        let app = routes::router(state.clone())
            .layer(axum::middleware::from_fn_with_state(limiter, limits::middleware));
        let listener = tokio::net::TcpListener::bind(options.listen)
            .await
            .map_err(|e| EmulatorError::Bind { addr: options.listen.to_string(), reason: e.to_string() })?;
        let addr = listener
            .local_addr()
            .map_err(|e| EmulatorError::Bind { addr: options.listen.to_string(), reason: e.to_string() })?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(RunningEmulator {
            url: format!("http://{addr}"),
            admin_token,
            admin_token_id,
            state,
            shutdown: Some(tx),
            task,
        })
    }
}

fn persist(state: &routes::AppState) -> Result<(), EmulatorError> {
    if let Some(path) = &state.data {
        let store = state.store.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let bytes = serde_json::to_vec_pretty(&store.to_seed())
            .map_err(|e| StoreError::Write { path: path.clone(), reason: e.to_string() })?;
        store::write_atomic(path, &bytes)?;
    }
    Ok(())
}

impl RunningEmulator {
    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The admin token (a service token with role admin in the store).
    pub fn admin_token(&self) -> &Secret {
        &self.admin_token
    }

    /// The admin token's `_id`.
    pub fn admin_token_id(&self) -> &str {
        &self.admin_token_id
    }

    /// A copy of the whole store, in the seed/data format (secret hashes, no secret).
    pub fn snapshot(&self) -> Seed {
        self.state.store.lock().unwrap_or_else(std::sync::PoisonError::into_inner).to_seed()
    }

    /// Adds tokens (seed format) to the running store; returns their ids.
    pub fn add_tokens(&self, tokens: Vec<SeedToken>) -> Vec<String> {
        let mut store = self.state.store.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let owner = store.owner_id();
        let now = store::now_ms();
        let mut ids = Vec::with_capacity(tokens.len());
        for mut t in tokens {
            if t.id.is_empty() {
                t.id = store::new_object_id();
            }
            if t.member_id.is_empty() {
                t.member_id.clone_from(&owner);
            }
            t.hash_secrets();
            if t.creation_date == 0 {
                t.creation_date = now;
                t.last_modified = now;
            }
            ids.push(t.id.clone());
            store.tokens.push(t);
        }
        ids
    }

    /// Stops accepting requests and persists the store.
    pub fn stop(mut self) -> Result<(), EmulatorError> {
        self.halt();
        persist(&self.state)
    }

    fn halt(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.abort();
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        if self.shutdown.is_some() {
            self.halt();
            // lastUsed changes since the last mutation; a failure here has nobody to tell.
            let _ = persist(&self.state);
        }
    }
}
