//! The state store: load (replaying the journal), atomic save with backups, the lock,
//! the append-only journal, and sealing secrets with age. The only state I/O.
//!
//! CONTRACT STUB laid by the lead: the signatures are the interface other modules use;
//! the bodies are to be written by the state issue.
#![allow(clippy::needless_pass_by_value)] // stub bodies; removed with them

use std::path::Path;
use std::time::Duration;

use crate::config::StateSettings;
use crate::model::Address;
use crate::secret::Secret;
use crate::state::model::{PendingCreate, RetiringToken, SecretRecord, State, TokenState};

/// Errors of the state store.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum StateError {
    #[error("state operation `{what}` is not implemented yet")]
    #[diagnostic(code(tokenform::state::not_implemented))]
    NotImplemented { what: &'static str },
}

/// age identities that can open secrets (`--identity` / `TOKENFORM_IDENTITY_FILE`).
pub struct Identities {
    pub identities: Vec<Box<dyn age::Identity + Send + Sync>>,
}

impl std::fmt::Debug for Identities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identities({} keys)", self.identities.len())
    }
}

impl Identities {
    /// Reads an age identity file (several keys, comments) or an OpenSSH private key.
    pub fn load(path: &Path) -> Result<Identities, StateError> {
        let _ = path;
        Err(StateError::NotImplemented { what: "Identities::load" })
    }
}

/// Whether a command takes the state lock.
#[derive(Debug, Clone)]
pub enum LockMode {
    /// Read only: no lock (plan, drift, state list/show, secret, output).
    Shared,
    /// May write: hold `<state path>.lock`, waiting up to `timeout`; `command` is recorded as owner info.
    Exclusive { timeout: Duration, command: String },
}

/// One journal record: a change apply made, persisted (fsynced) before the next step.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum JournalRecord {
    /// Insert or replace the token at `address`.
    Upsert {
        address: Address,
        token: Box<TokenState>,
    },
    /// Stop tracking `address`.
    Remove {
        address: Address,
    },
    /// A create is about to be sent.
    PendingCreate {
        pending: PendingCreate,
    },
    /// The create for `address` has its answer (or was abandoned).
    ClearPending {
        address: Address,
    },
    AddRetiring {
        retiring: RetiringToken,
    },
    RemoveRetiring {
        id: String,
    },
}

/// An open state: the document in memory, the lock (when exclusive), the journal.
#[derive(Debug)]
pub struct StateStore {
    state: State,
}

impl StateStore {
    /// Opens (or starts empty) the state at `settings.path`. A leftover journal is replayed
    /// (and, with an exclusive lock, compacted). `identities` is needed only for `encrypt = "file"`.
    pub fn open(
        settings: &StateSettings,
        lock: LockMode,
        identities: Option<&Identities>,
    ) -> Result<Self, StateError> {
        let _ = (settings, lock, identities);
        Err(StateError::NotImplemented { what: "StateStore::open" })
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// Encrypts `secret` to the state's recipients plus `extra` (ASCII-armored age).
    /// Errors when there is no recipient at all.
    pub fn seal(
        &self,
        secret: &Secret,
        extra: &[String],
        issued_at: jiff::Timestamp,
    ) -> Result<SecretRecord, StateError> {
        let _ = (secret, extra, issued_at);
        Err(StateError::NotImplemented { what: "StateStore::seal" })
    }

    /// Decrypts one secret.
    pub fn unseal(record: &SecretRecord, identities: &Identities) -> Result<Secret, StateError> {
        let _ = (record, identities);
        Err(StateError::NotImplemented { what: "StateStore::unseal" })
    }

    /// Applies `record` in memory and appends it to the journal (fsynced) before returning.
    pub fn record(&mut self, record: JournalRecord) -> Result<(), StateError> {
        let _ = record;
        Err(StateError::NotImplemented { what: "StateStore::record" })
    }

    /// Writes the whole state atomically (serial + 1, backups rotated), then drops the journal.
    pub fn save(&mut self) -> Result<(), StateError> {
        Err(StateError::NotImplemented { what: "StateStore::save" })
    }
}
