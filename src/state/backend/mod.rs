//! The seam between the state store and where the state lives. A [`Backend`] stores
//! opaque bytes: the state document (JSON, or age armor with `encrypt = "file"`), journal
//! lines, the last [`PREVIOUS`] documents, and a lock with its holder's [`LockInfo`]. The
//! store above it does everything else (parsing, age, journal replay, serials), the same
//! way for every backend, so commands never know which one they use.
//!
//! Contract every implementation keeps:
//! - [`Backend::write`] is a compare-and-swap on the [`Version`] read (or last written):
//!   when the stored document is not that version any more, nothing is written and the
//!   error is [`StateError::Conflict`]. A successful write also keeps the replaced
//!   document as a previous version and empties the journal, as one step where the
//!   backend can (PostgreSQL: one transaction).
//! - A journal append is durable when it returns; appends of one call land together or
//!   not at all (or as a prefix of whole lines, for the local file).
//! - The lock is held from [`Backend::lock`] until the backend is dropped; a holder that
//!   dies releases it (OS file lock, PostgreSQL session lock, …) and its recorded
//!   [`LockInfo`] stays until the next holder replaces it or `force-unlock` removes it.
//!
//! The trait is synchronous: the store's callers (apply's single ledger task, the state
//! commands) wait for every write before the next step anyway. Backends with async
//! clients run them on a private runtime through [`bridge::Bridge`].
//!
//! Backends read no environment: commands pass credentials in through [`BackendEnv`].

use std::collections::BTreeMap;
use std::time::Duration;

use crate::secret::Secret;
use crate::state::error::StateError;
use crate::state::journal::{JournalContents, JournalHeader};
use crate::state::lock::{ForceUnlocked, LockInfo};
use crate::state::settings::{BackendSettings, StateSettings};

pub mod bridge;
pub mod local;
pub mod pg;
pub mod s3;

/// How many previous documents every backend keeps (local: `.backup.1` … `.backup.5`).
pub const PREVIOUS: usize = 5;

/// Which stored document a read saw, for the compare-and-swap of the next write.
/// Opaque outside the backend that made it (a serial, an ETag, file metadata).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Version {
    /// Nothing is stored yet: the write must create.
    Absent,
    /// The stored document, as the backend identifies it.
    At(String),
}

/// What a read found.
#[derive(Debug)]
pub struct Stored {
    /// The document's bytes; `None` when there is none yet.
    pub document: Option<Vec<u8>>,
    pub version: Version,
    /// The journal, when one is stored.
    pub journal: Option<JournalContents>,
}

/// A document to write, with the serial and lineage it carries (backends that index by
/// them, like PostgreSQL, cannot read them from an encrypted document).
#[derive(Debug, Clone, Copy)]
pub struct Document<'a> {
    pub bytes: &'a [u8],
    pub serial: u64,
    pub lineage: &'a str,
}

/// Where the state lives. See the module docs for the contract.
pub trait Backend: Send + std::fmt::Debug {
    /// The stored state, named for people: `the state file ./tokenform.state.json`.
    fn describe(&self) -> String;

    /// The journal, named for people.
    fn describe_journal(&self) -> String;

    /// How a user gets the previous version back here (ends an error's help).
    fn restore_hint(&self) -> String;

    /// Takes the lock for `holder`, retrying until `timeout` has passed (zero: one try).
    /// A held lock is [`StateError::Locked`] with the holder's Lock Info.
    fn lock(&mut self, holder: &LockInfo, timeout: Duration) -> Result<(), StateError>;

    /// Reads the document and the journal as one consistent view where the backend can.
    fn read(&mut self) -> Result<Stored, StateError>;

    /// Appends journal lines (each one record, no newline) to the journal extending
    /// `header`, durably. Only called while holding the lock.
    fn append_journal(&mut self, header: &JournalHeader, lines: &[String]) -> Result<(), StateError>;

    /// Replaces the document if it is still `expected` (see the module docs); returns the
    /// new version. Only called while holding the lock.
    fn write(&mut self, expected: &Version, document: Document<'_>) -> Result<Version, StateError>;

    /// Empties the journal. Only called while holding the lock.
    fn clear_journal(&mut self) -> Result<(), StateError>;

    /// The `n`-th previous document (1 is the newest), if kept.
    fn previous(&mut self, n: usize) -> Result<Option<Vec<u8>>, StateError>;

    /// Removes the lock record `id` when its holder is gone; refuses while it runs.
    fn force_unlock(&mut self, id: &str) -> Result<ForceUnlocked, StateError>;
}

/// What a backend may need from outside the configuration, read by the command (never by
/// library code): the environment variables its settings name, and who is running.
#[derive(Debug, Clone, Default)]
pub struct BackendEnv {
    vars: BTreeMap<String, Secret>,
    /// The user running the command (`$USER`), for the lock's `Who: user@host`.
    pub user: Option<String>,
}

impl BackendEnv {
    /// An environment holding `vars` (name, value), run by `user`.
    pub fn new(vars: impl IntoIterator<Item = (String, Secret)>, user: Option<String>) -> Self {
        Self { vars: vars.into_iter().collect(), user }
    }

    /// The value of `name`, when set and not empty.
    pub fn var(&self, name: &str) -> Option<&Secret> {
        self.vars.get(name).filter(|v| !v.expose().is_empty())
    }
}

/// Opens the backend `settings` name (connecting, for a remote one). Takes no lock.
pub fn open(settings: &StateSettings, env: &BackendEnv) -> Result<Box<dyn Backend>, StateError> {
    Ok(match &settings.backend {
        BackendSettings::Local => Box::new(local::LocalBackend::new(&settings.path)),
        BackendSettings::Pg(pg) => Box::new(pg::PgBackend::connect(pg, env)?),
        BackendSettings::S3(s3) => Box::new(s3::S3Backend::connect(s3, env)?),
    })
}
