//! Delivering a token's new secret to its consumers (`docs/spec.md` §10, `docs/delivery.md`):
//! the sinks `deliver` blocks declare ([`Sink`]) and running them. Only apply and
//! `tokenform deliver` call [`Runner::deliver`]; `plan` never runs a sink.
//!
//! The secret reaches an exec sink on stdin only: never in argv, never in the environment,
//! which is this process's minus tokenform's own credentials ([`child_env`]). A file sink
//! writes it 0600, atomically, under the configuration directory.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::model::Address;
use crate::secret::Secret;

mod exec;
mod file;
mod sink;
#[cfg(test)]
mod tests;

pub use file::is_confined;
pub use sink::{
    DEFAULT_TIMEOUT_SECONDS, Event, ExecSink, FileFormat, FileSink, MAX_TIMEOUT_SECONDS, Sink, default_key,
    is_env_key,
};

/// What a delivery is about: metadata an exec sink gets in `TOKENFORM_*` variables.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub address: &'a Address,
    pub token_id: &'a str,
    pub name: &'a str,
    pub event: Event,
}

/// A failed delivery. Never holds the secret: sink output in it is redacted.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum DeliverError {
    #[error("an exec sink has no command")]
    #[diagnostic(code(tokenform::deliver::empty_command))]
    EmptyCommand,
    #[error("cannot start `{program}`: {source}")]
    #[diagnostic(
        code(tokenform::deliver::spawn),
        help("the command runs without a shell, in the configuration directory, with this process's PATH")
    )]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{target}` exited with status {code}")]
    #[diagnostic(code(tokenform::deliver::exit))]
    Exit { target: String, code: i32, output: String },
    #[error("`{target}` was killed by signal {signal}")]
    #[diagnostic(code(tokenform::deliver::signal))]
    Signal { target: String, signal: i32, output: String },
    #[error("`{target}` did not finish within {seconds}s: killed it and its process group")]
    #[diagnostic(
        code(tokenform::deliver::timeout),
        help("raise the sink's `timeout`, or find what it waits for")
    )]
    Timeout { target: String, seconds: u64, output: String },
    #[error("cannot wait for `{target}`: {source}")]
    #[diagnostic(code(tokenform::deliver::wait))]
    Wait {
        target: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot {what} {path}: {source}")]
    #[diagnostic(code(tokenform::deliver::write))]
    Write {
        path: String,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is outside the configuration directory")]
    #[diagnostic(
        code(tokenform::deliver::escapes),
        help(
            "a file sink's path is relative to the configuration directory and stays in it (no `..`, no symlink out)"
        )
    )]
    Escapes { path: String },
}

impl DeliverError {
    /// What the sink printed (redacted, bounded), if it ran.
    pub fn output(&self) -> &str {
        match self {
            DeliverError::Exit { output, .. }
            | DeliverError::Signal { output, .. }
            | DeliverError::Timeout { output, .. } => output,
            _ => "",
        }
    }
}

/// Variables never passed to a sink, whatever the configuration says: tokenform's own
/// credentials and settings.
const WITHHELD: &[&str] = &["LAUNCHDARKLY_ACCESS_TOKEN", "PG_CONN_STR"];

/// The environment an exec sink gets: `vars` (this process's) without the variables named in
/// `withheld` (the configured `access_token_env`, a backend's credential variable), without
/// [`WITHHELD`] and every `TOKENFORM_*` variable (identities, `-var` values), and without any
/// variable whose value holds something shaped like an access token. What is left (PATH,
/// HOME, a `GH_TOKEN` or `VAULT_TOKEN` the sink needs) passes through.
pub fn child_env(
    vars: impl IntoIterator<Item = (OsString, OsString)>,
    withheld: &[&str],
) -> Vec<(OsString, OsString)> {
    vars.into_iter()
        .filter(|(k, v)| {
            let name = k.to_string_lossy();
            let upper = name.to_ascii_uppercase();
            !(withheld.contains(&name.as_ref())
                || WITHHELD.contains(&upper.as_str())
                || upper.starts_with("TOKENFORM_")
                || upper.starts_with("__TOKENFORM")
                || crate::secret::looks_like_secret(&v.to_string_lossy()))
        })
        .collect()
}

/// Runs sinks for one configuration directory.
#[derive(Debug, Clone)]
pub struct Runner {
    dir: PathBuf,
    env: Vec<(OsString, OsString)>,
}

impl Runner {
    /// Sinks run in `dir` (the configuration directory) with `env` ([`child_env`]).
    pub fn new(dir: impl Into<PathBuf>, env: Vec<(OsString, OsString)>) -> Self {
        Self { dir: dir.into(), env }
    }

    /// Delivers `secret` to `sink`. `Ok` holds what an exec sink printed, redacted and
    /// bounded (empty for a file).
    pub async fn deliver(
        &self,
        sink: &Sink,
        subject: &Subject<'_>,
        secret: &Secret,
    ) -> Result<String, DeliverError> {
        match sink {
            Sink::Exec(e) => exec::run(e, &self.dir, &self.env, subject, secret).await,
            Sink::File(f) => {
                let (f, dir, secret) = (f.clone(), self.dir.clone(), secret.clone());
                let path = f.path.clone();
                // fsync is blocking I/O: off the async workers.
                let written = tokio::task::spawn_blocking(move || file::write(&f, &dir, &secret)).await;
                match written {
                    Ok(result) => result.map(|()| String::new()),
                    Err(e) => Err(DeliverError::Write {
                        path,
                        what: "finish writing",
                        source: std::io::Error::other(e.to_string()),
                    }),
                }
            }
        }
    }
}
