//! The state store: load (replaying the journal), atomic save with backups, the lock,
//! the append-only journal, and sealing secrets with age. The only state I/O.
//!
//! Invariants: a state that fails to parse, to decrypt, or comes from a newer format is
//! an error and is never overwritten (no store exists to write it); every write happens
//! under the lock; the in-memory `serial` is always what the file will say once the
//! pending changes are saved (disk serial + 1 while a journal is open).

use std::path::Path;
use std::time::Duration;

use crate::config::{EncryptMode, StateSettings};
use crate::secret::Secret;
use crate::state::atomic;
use crate::state::crypto::{self, Recipients};
use crate::state::journal::{self, Journal, JournalHeader, JournalLine};
use crate::state::lock::{StateLock, lock_path};
use crate::state::model::{FORMAT_VERSION, SecretRecord, State};

pub use crate::state::error::StateError;
pub use crate::state::identity::Identities;
pub use crate::state::journal::JournalRecord;

/// Whether a command takes the state lock.
#[derive(Debug, Clone)]
pub enum LockMode {
    /// Read only: no lock (plan, drift, state list/show, secret, output).
    Shared,
    /// May write: hold `<state path>.lock`, waiting up to `timeout`; `command` is recorded as owner info.
    Exclusive { timeout: Duration, command: String },
}

/// An open state: the document in memory, the lock (when exclusive), the journal.
#[derive(Debug)]
pub struct StateStore {
    state: State,
    settings: StateSettings,
    /// Held for the life of the store when opened `Exclusive`.
    lock: Option<StateLock>,
    /// The serial of the file on disk (0 when there is none yet).
    disk_serial: u64,
    /// The journal being appended to, once the first record since the last save is written.
    journal: Option<Journal>,
}

impl StateStore {
    /// Opens (or starts empty) the state at `settings.path`. A leftover journal is replayed
    /// (and, with an exclusive lock, compacted). `identities` is needed only for `encrypt = "file"`.
    pub fn open(
        settings: &StateSettings,
        lock: LockMode,
        identities: Option<&Identities>,
    ) -> Result<Self, StateError> {
        let path = &settings.path;
        let lock = match lock {
            LockMode::Shared => None,
            LockMode::Exclusive { timeout, command } => {
                // A writer may be the first: `state { path = "state/prod.json" }` in a fresh checkout.
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
                    std::fs::create_dir_all(dir)
                        .map_err(StateError::io("create the state directory", dir))?;
                }
                Some(StateLock::acquire(&lock_path(path), timeout, &command)?)
            }
        };
        let journal_path = journal::journal_path(path);
        // A reader holds no lock: a writer may save and start a new journal between our
        // two reads, pairing a state with a journal that is not its own. Read again then.
        let mut attempts = if lock.is_some() { 1 } else { 3 };
        let Loaded { state, disk_serial, replayed, stale_journal } = loop {
            attempts -= 1;
            match load(path, &journal_path, identities) {
                Err(StateError::Journal { .. } | StateError::JournalLineage { .. }) if attempts > 0 => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                other => break other?,
            }
        };

        let mut store = StateStore { state, settings: settings.clone(), lock, disk_serial, journal: None };
        if store.lock.is_some() {
            if replayed {
                store.write_current()?;
            } else if stale_journal || journal_path.exists() {
                remove_journal(&journal_path)?;
            }
        }
        Ok(store)
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// The state file's path.
    pub fn path(&self) -> &Path {
        &self.settings.path
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
        if self.journal.is_none() {
            let path = journal::journal_path(&self.settings.path);
            let header = JournalHeader {
                journal: journal::JOURNAL_VERSION,
                lineage: self.state.lineage.clone(),
                base_serial: self.disk_serial,
            };
            self.journal = Some(Journal::create(&path, &header)?);
        }
        if let Some(journal) = self.journal.as_mut() {
            journal.append_all(&lines)?;
        }
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

    /// Writes the in-memory state as is (its serial included), then removes the journal.
    fn write_current(&mut self) -> Result<(), StateError> {
        let mut bytes = serde_json::to_vec_pretty(&self.state)
            .map_err(|e| StateError::Serialize { message: e.to_string() })?;
        bytes.push(b'\n');
        if self.settings.encrypt == EncryptMode::File {
            bytes = self.file_recipients()?.encrypt_armored(&bytes, "the state file")?.into_bytes();
        }
        atomic::write_atomic(&self.settings.path, &bytes)?;
        self.disk_serial = self.state.serial;
        self.journal = None;
        remove_journal(&journal::journal_path(&self.settings.path))
    }

    fn file_recipients(&self) -> Result<Recipients, StateError> {
        Recipients::parse(
            crypto::merge_recipients(&self.settings.recipients, &[]),
            "the state file (encrypt = \"file\")",
        )
    }

    fn require_lock(&self) -> Result<(), StateError> {
        if self.lock.is_some() {
            Ok(())
        } else {
            Err(StateError::ReadOnly { path: self.settings.path.clone() })
        }
    }
}

/// A state file with its journal replayed.
struct Loaded {
    state: State,
    /// The serial of the file itself (0 when there is none).
    disk_serial: u64,
    /// Journal records were applied (the in-memory serial is disk + 1).
    replayed: bool,
    /// A journal older than the file was found (a save whose journal removal was lost).
    stale_journal: bool,
}

fn load(path: &Path, journal_path: &Path, identities: Option<&Identities>) -> Result<Loaded, StateError> {
    let on_disk = read_state(path, identities)?;
    let disk_serial = on_disk.as_ref().map_or(0, |s| s.serial);
    let contents = journal::read(journal_path)?;
    let had_file = on_disk.is_some();
    let mut state = on_disk.unwrap_or_default();
    let mut loaded = Loaded { state: State::new(), disk_serial, replayed: false, stale_journal: false };
    if let Some(contents) = contents {
        let header = &contents.header;
        if !had_file {
            // First apply crashed before any save: the journal carries the lineage.
            state.lineage.clone_from(&header.lineage);
            state.serial = header.base_serial;
        } else if header.lineage != state.lineage {
            return Err(StateError::JournalLineage {
                path: journal_path.to_owned(),
                journal_lineage: header.lineage.clone(),
                state_lineage: state.lineage.clone(),
            });
        }
        if header.base_serial < state.serial {
            // Saved after the journal was written; only the removal was lost.
            loaded.stale_journal = true;
        } else if header.base_serial > state.serial {
            return Err(StateError::Journal {
                path: journal_path.to_owned(),
                line: 1,
                reason: format!(
                    "it extends serial {} but the state file has serial {} (was the state restored \
                     from a backup?)",
                    header.base_serial, state.serial
                ),
            });
        } else if !contents.lines.is_empty() {
            let base = header.base_serial;
            for (i, line) in contents.lines.into_iter().enumerate() {
                decode_line(line, identities, journal_path, i + 2)?.apply_to(&mut state);
            }
            state.serial = base + 1;
            loaded.replayed = true;
        }
    }
    loaded.state = state;
    Ok(loaded)
}

/// Reads and checks the state file: `None` when there is none.
fn read_state(path: &Path, identities: Option<&Identities>) -> Result<Option<State>, StateError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(StateError::Io { action: "read the state file", path: path.to_owned(), source: e });
        }
    };
    let plaintext;
    let json: &[u8] = if crypto::is_age(&bytes) {
        let what = path.display().to_string();
        let ids =
            identities.ok_or_else(|| StateError::NoIdentity { what: format!("the state file {what}") })?;
        plaintext = crypto::decrypt(&bytes, ids, &what)?;
        &plaintext
    } else {
        &bytes
    };
    parse_state(path, json).map(Some)
}

/// Parses a state document, refusing newer formats (whatever else they hold).
pub fn parse_state(path: &Path, json: &[u8]) -> Result<State, StateError> {
    #[derive(serde::Deserialize)]
    struct Probe {
        format_version: u64,
    }
    let newer =
        |found: u64| StateError::NewerFormat { path: path.to_owned(), found, supported: FORMAT_VERSION };
    match serde_json::from_slice::<State>(json) {
        Ok(state) if state.format_version > FORMAT_VERSION => Err(newer(state.format_version.into())),
        Ok(state) => Ok(state),
        Err(e) => match serde_json::from_slice::<Probe>(json) {
            Ok(probe) if probe.format_version > u64::from(FORMAT_VERSION) => Err(newer(probe.format_version)),
            _ => Err(StateError::Parse {
                path: path.to_owned(),
                line: e.line(),
                column: e.column(),
                message: e.to_string().split(" at line ").next().unwrap_or_default().to_owned(),
            }),
        },
    }
}

fn decode_line(
    line: JournalLine,
    identities: Option<&Identities>,
    path: &Path,
    line_no: usize,
) -> Result<JournalRecord, StateError> {
    match line {
        JournalLine::Clear(record) => Ok(record),
        JournalLine::Sealed { sealed } => {
            let ids = identities.ok_or_else(|| StateError::NoIdentity {
                what: format!("the state journal {}", path.display()),
            })?;
            let plain =
                crypto::decrypt(sealed.as_bytes(), ids, &format!("{} line {line_no}", path.display()))?;
            serde_json::from_slice(&plain).map_err(|e| StateError::Journal {
                path: path.to_owned(),
                line: line_no,
                reason: e.to_string(),
            })
        }
    }
}

fn remove_journal(path: &Path) -> Result<(), StateError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => {
            Err(StateError::Io { action: "remove the state journal", path: path.to_owned(), source: e })
        }
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
