//! The state store: load (replaying the journal), compare-and-swap saves with previous
//! versions, the lock, the append-only journal, and sealing secrets with age. The only
//! state I/O, all of it through a [`Backend`] (the local file, or a database), so the
//! rules below hold on every backend and commands never know which one they use.
//!
//! Invariants: a state that fails to parse, to decrypt, or comes from a newer format is
//! an error and is never overwritten (no store exists to write it); every write happens
//! under the lock and is a compare-and-swap on the version read; the in-memory `serial`
//! is always what the stored document will say once the pending changes are saved
//! (stored serial + 1 while a journal is open).

use std::path::Path;
use std::time::Duration;

use crate::secret::Secret;
use crate::state::backend::{self, Backend, BackendEnv, Document, Version};
use crate::state::crypto::{self, Recipients};
use crate::state::journal::{self, JournalHeader, JournalLine};
use crate::state::lock::LockInfo;
use crate::state::model::{FORMAT_VERSION, SecretRecord, State};
use crate::state::settings::{EncryptMode, StateSettings};

pub use crate::state::error::StateError;
pub use crate::state::identity::Identities;
pub use crate::state::journal::JournalRecord;

/// Whether a command takes the state lock.
#[derive(Debug, Clone)]
pub enum LockMode {
    /// Read only: no lock (plan, drift, state list/show, secret, output).
    Shared,
    /// May write: hold the backend's lock, waiting up to `timeout`; `command` is recorded
    /// as the holder's operation.
    Exclusive { timeout: Duration, command: String },
}

/// An open state: the document in memory, the backend (locked when exclusive), the journal.
#[derive(Debug)]
pub struct StateStore {
    state: State,
    settings: StateSettings,
    backend: Box<dyn Backend>,
    /// Opened `Exclusive`: the backend holds the lock for the life of the store.
    locked: bool,
    /// The serial of the stored document (0 when there is none yet).
    disk_serial: u64,
    /// The version read or last written: the next write is a compare-and-swap on it.
    version: Version,
}

impl StateStore {
    /// Opens (or starts empty) the state `settings` name, with no backend credentials
    /// (enough for the local file). See [`StateStore::open_in`].
    pub fn open(
        settings: &StateSettings,
        lock: LockMode,
        identities: Option<&Identities>,
    ) -> Result<Self, StateError> {
        Self::open_in(settings, &BackendEnv::default(), lock, identities)
    }

    /// Opens (or starts empty) the state of `settings`' backend, with the credentials in
    /// `env`. A leftover journal is replayed (and, with an exclusive lock, compacted).
    /// `identities` is needed only for `encrypt = "file"`.
    pub fn open_in(
        settings: &StateSettings,
        env: &BackendEnv,
        lock: LockMode,
        identities: Option<&Identities>,
    ) -> Result<Self, StateError> {
        let backend = backend::open(settings, env)?;
        Self::with_backend(backend, settings, env.user.as_deref(), lock, identities)
    }

    /// Opens the state held by `backend` (`user` is recorded in the lock's `Who`).
    pub fn with_backend(
        mut backend: Box<dyn Backend>,
        settings: &StateSettings,
        user: Option<&str>,
        lock: LockMode,
        identities: Option<&Identities>,
    ) -> Result<Self, StateError> {
        let locked = match lock {
            LockMode::Shared => false,
            LockMode::Exclusive { timeout, command } => {
                let holder = LockInfo::new(&command, user, &backend.describe());
                backend.lock(&holder, timeout)?;
                true
            }
        };
        // A reader holds no lock: a writer may save and start a new journal between our
        // two reads, pairing a state with a journal that is not its own. Read again then.
        let mut attempts = if locked { 1 } else { 3 };
        let Loaded { state, disk_serial, version, replayed } = loop {
            attempts -= 1;
            match load(backend.as_mut(), identities) {
                Err(StateError::Journal { .. } | StateError::JournalLineage { .. }) if attempts > 0 => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                other => break other?,
            }
        };

        let mut store =
            StateStore { state, settings: settings.clone(), backend, locked, disk_serial, version };
        if store.locked {
            if replayed {
                store.write_current()?;
            } else {
                // A journal older than the state (a save whose cleanup was lost), or one
                // with a torn header: nothing in it applies.
                store.backend.clear_journal()?;
            }
        }
        Ok(store)
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// The local state file's path (meaningful for the local backend only).
    pub fn path(&self) -> &Path {
        &self.settings.path
    }

    /// Where the state lives, named for people (`the state file ./x.json`, `PostgreSQL …`).
    pub fn describe(&self) -> String {
        self.backend.describe()
    }

    /// The serial of the stored document (0 when nothing is stored yet).
    pub fn stored_serial(&self) -> u64 {
        self.disk_serial
    }

    /// The settings the store was opened with.
    pub fn settings(&self) -> &StateSettings {
        &self.settings
    }

    /// Encrypts `secret` to the state's recipients plus `extra` (ASCII-armored age).
    /// Errors when there is no recipient at all.
    pub fn seal(
        &self,
        secret: &Secret,
        extra: &[String],
        issued_at: jiff::Timestamp,
    ) -> Result<SecretRecord, StateError> {
        let recipients =
            Recipients::parse(crypto::merge_recipients(&self.settings.recipients, extra), "a secret")?;
        let ciphertext = recipients.encrypt_armored(secret.expose().as_bytes(), "a secret")?;
        Ok(SecretRecord { ciphertext, last4: secret.last4(), issued_at, recipients: recipients.strings })
    }

    /// Decrypts one secret.
    pub fn unseal(record: &SecretRecord, identities: &Identities) -> Result<Secret, StateError> {
        Self::unseal_named(record, identities, "the secret")
    }

    /// Decrypts one secret, naming it (e.g. by address) in errors.
    pub fn unseal_named(
        record: &SecretRecord,
        identities: &Identities,
        what: &str,
    ) -> Result<Secret, StateError> {
        let plaintext = crypto::decrypt(record.ciphertext.as_bytes(), identities, what)?;
        let text = std::str::from_utf8(&plaintext).map_err(|_| StateError::Decrypt {
            what: what.to_owned(),
            reason: "the plaintext is not text".to_owned(),
        })?;
        Ok(Secret::new(text))
    }

    /// Applies `record` in memory and appends it to the journal (fsynced) before returning.
    pub fn record(&mut self, record: JournalRecord) -> Result<(), StateError> {
        self.record_all(vec![record])
    }

    /// Like [`StateStore::record`] for many changes at once (one write, one fsync): for
    /// bulk edits such as `rekey`. Nothing is applied when encoding any of them fails.
    pub fn record_all(&mut self, records: Vec<JournalRecord>) -> Result<(), StateError> {
        self.require_lock()?;
        if records.is_empty() {
            return Ok(());
        }
        let file_recipients = match self.settings.encrypt {
            EncryptMode::Secrets => None,
            EncryptMode::File => Some(self.file_recipients()?),
        };
        let mut lines = Vec::with_capacity(records.len());
        for record in &records {
            let json = serde_json::to_string(record)
                .map_err(|e| StateError::Serialize { message: e.to_string() })?;
            lines.push(match &file_recipients {
                None => json,
                Some(recipients) => {
                    let sealed = recipients.encrypt_armored(json.as_bytes(), "a state journal record")?;
                    serde_json::to_string(&JournalLine::Sealed { sealed })
                        .map_err(|e| StateError::Serialize { message: e.to_string() })?
                }
            });
        }
        let header = JournalHeader {
            journal: journal::JOURNAL_VERSION,
            lineage: self.state.lineage.clone(),
            base_serial: self.disk_serial,
        };
        self.backend.append_journal(&header, &lines)?;
        for record in records {
            record.apply_to(&mut self.state);
        }
        self.state.serial = self.disk_serial + 1;
        Ok(())
    }

    /// Writes the whole state atomically (serial + 1, backups rotated), then drops the journal.
    pub fn save(&mut self) -> Result<(), StateError> {
        self.require_lock()?;
        let previous = self.state.serial;
        self.state.serial = self.disk_serial + 1;
        if let Err(e) = self.write_current() {
            self.state.serial = previous;
            return Err(e);
        }
        Ok(())
    }

    /// Replaces the whole state with `state` (`state push`, `state migrate`), as one
    /// compare-and-swap write; `state.serial` is written as is and must be above the
    /// stored one. Nothing changes in memory when the write fails.
    pub fn replace(&mut self, state: State) -> Result<(), StateError> {
        self.require_lock()?;
        if let Some((id, first, second)) = state.duplicate_id() {
            let (first, second) = (first.to_string(), second.to_string());
            return Err(StateError::DuplicateId { what: "the new state".into(), id, first, second });
        }
        let previous = std::mem::replace(&mut self.state, state);
        if let Err(e) = self.write_current() {
            self.state = previous;
            return Err(e);
        }
        Ok(())
    }

    /// The state document as JSON (what a save writes before any `encrypt = "file"`
    /// wrapping): `state pull`. Secrets stay ciphertexts.
    pub fn document(&self) -> Result<Vec<u8>, StateError> {
        let mut bytes = serde_json::to_vec_pretty(&self.state)
            .map_err(|e| StateError::Serialize { message: e.to_string() })?;
        bytes.push(b'\n');
        Ok(bytes)
    }

    /// The `n`-th previous version (1 is the newest), decrypted when `encrypt = "file"`
    /// wrapped it (`identities` needed then); `None` when the backend keeps no such version.
    pub fn previous(
        &mut self,
        n: usize,
        identities: Option<&Identities>,
    ) -> Result<Option<State>, StateError> {
        let what = format!("previous version {n} of {}", self.backend.describe());
        let restore = self.backend.restore_hint();
        match self.backend.previous(n)? {
            None => Ok(None),
            Some(bytes) => decode_document(&bytes, identities, &what, &restore).map(Some),
        }
    }

    /// Removes the lock record `id` when its holder is gone (`force-unlock`).
    pub fn force_unlock(&mut self, id: &str) -> Result<crate::state::lock::ForceUnlocked, StateError> {
        self.backend.force_unlock(id)
    }

    /// Writes the in-memory state as is (its serial included); the backend empties the journal.
    fn write_current(&mut self) -> Result<(), StateError> {
        let mut bytes = self.document()?;
        if self.settings.encrypt == EncryptMode::File {
            bytes = self.file_recipients()?.encrypt_armored(&bytes, "the state file")?.into_bytes();
        }
        let document = Document { bytes: &bytes, serial: self.state.serial, lineage: &self.state.lineage };
        self.version = self.backend.write(&self.version, document)?;
        self.disk_serial = self.state.serial;
        Ok(())
    }

    fn file_recipients(&self) -> Result<Recipients, StateError> {
        Recipients::parse(
            crypto::merge_recipients(&self.settings.recipients, &[]),
            "the state file (encrypt = \"file\")",
        )
    }

    fn require_lock(&self) -> Result<(), StateError> {
        if self.locked { Ok(()) } else { Err(StateError::ReadOnly { what: self.backend.describe() }) }
    }
}

/// A stored state with its journal replayed.
struct Loaded {
    state: State,
    /// The serial of the stored document itself (0 when there is none).
    disk_serial: u64,
    version: Version,
    /// Journal records were applied (the in-memory serial is disk + 1).
    replayed: bool,
}

fn load(backend: &mut dyn Backend, identities: Option<&Identities>) -> Result<Loaded, StateError> {
    let stored = backend.read()?;
    let what = backend.describe();
    let journal_what = backend.describe_journal();
    let on_disk = match &stored.document {
        Some(bytes) => Some(decode_document(bytes, identities, &what, &backend.restore_hint())?),
        None => None,
    };
    let disk_serial = on_disk.as_ref().map_or(0, |s| s.serial);
    let had_file = on_disk.is_some();
    let mut state = on_disk.unwrap_or_default();
    let mut replayed = false;
    if let Some(contents) = stored.journal {
        let header = &contents.header;
        if !had_file {
            // First apply crashed before any save: the journal carries the lineage.
            state.lineage.clone_from(&header.lineage);
            state.serial = header.base_serial;
        } else if header.lineage != state.lineage {
            return Err(StateError::JournalLineage {
                what: journal_what,
                journal_lineage: header.lineage.clone(),
                state_lineage: state.lineage.clone(),
            });
        }
        if header.base_serial > state.serial {
            return Err(StateError::Journal {
                what: journal_what,
                line: 1,
                reason: format!(
                    "it extends serial {} but the state has serial {} (was the state restored \
                     from a backup?)",
                    header.base_serial, state.serial
                ),
            });
        }
        // A journal older than the state was saved already; only its removal was lost.
        if header.base_serial == state.serial && !contents.lines.is_empty() {
            let base = header.base_serial;
            for (i, line) in contents.lines.into_iter().enumerate() {
                decode_line(line, identities, &journal_what, i + 2)?.apply_to(&mut state);
            }
            state.serial = base + 1;
            replayed = true;
        }
    }
    if let Some((id, first, second)) = state.duplicate_id() {
        let what = if replayed { format!("{what} (with its journal)") } else { what };
        return Err(StateError::DuplicateId {
            what,
            id,
            first: first.to_string(),
            second: second.to_string(),
        });
    }
    Ok(Loaded { state, disk_serial, version: stored.version, replayed })
}

/// Decrypts (when age-wrapped) and parses a stored document; `what` names it in errors.
fn decode_document(
    bytes: &[u8],
    identities: Option<&Identities>,
    what: &str,
    restore: &str,
) -> Result<State, StateError> {
    let plaintext;
    let json: &[u8] = if crypto::is_age(bytes) {
        let ids = identities.ok_or_else(|| StateError::NoIdentity { what: what.to_owned() })?;
        plaintext = crypto::decrypt(bytes, ids, what)?;
        &plaintext
    } else {
        bytes
    };
    parse_state(what, restore, json)
}

/// Parses a state document, refusing newer formats (whatever else they hold). `what`
/// names it and `restore` says how to get the previous version back, for errors.
pub fn parse_state(what: &str, restore: &str, json: &[u8]) -> Result<State, StateError> {
    #[derive(serde::Deserialize)]
    struct Probe {
        format_version: u64,
    }
    let newer =
        |found: u64| StateError::NewerFormat { what: what.to_owned(), found, supported: FORMAT_VERSION };
    match serde_json::from_slice::<State>(json) {
        Ok(state) if state.format_version > FORMAT_VERSION => Err(newer(state.format_version.into())),
        Ok(state) => Ok(state),
        Err(e) => match serde_json::from_slice::<Probe>(json) {
            Ok(probe) if probe.format_version > u64::from(FORMAT_VERSION) => Err(newer(probe.format_version)),
            _ => Err(StateError::Parse {
                what: what.to_owned(),
                line: e.line(),
                column: e.column(),
                // serde quotes what it could not read: the file's text.
                message: crate::escape::excerpt(e.to_string().split(" at line ").next().unwrap_or_default()),
                restore: restore.to_owned(),
            }),
        },
    }
}

fn decode_line(
    line: JournalLine,
    identities: Option<&Identities>,
    what: &str,
    line_no: usize,
) -> Result<JournalRecord, StateError> {
    match line {
        JournalLine::Clear(record) => Ok(record),
        JournalLine::Sealed { sealed } => {
            let ids = identities.ok_or_else(|| StateError::NoIdentity { what: what.to_owned() })?;
            let plain = crypto::decrypt(sealed.as_bytes(), ids, &format!("{what} record {line_no}"))?;
            serde_json::from_slice(&plain).map_err(|e| StateError::Journal {
                what: what.to_owned(),
                line: line_no,
                reason: crate::escape::excerpt(&e.to_string()),
            })
        }
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
