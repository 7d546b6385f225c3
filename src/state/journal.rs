//! The append-only journal beside the state (`<state path>.journal`): one JSON line per
//! change apply makes, fsynced before the next step, so a crash never loses a secret that
//! was already received. A header line ties it to the state it extends (lineage and
//! serial); `save` removes it, and the next load replays whatever a crash left.
//! Cost per record is one small append and one fsync, whatever the size of the state.
//!
//! This module reads and writes lines and applies records to a `State`; it does not
//! decide when to compact (the store does) and knows nothing of age (sealed lines are
//! opaque strings here).

use std::fs::{File, OpenOptions};
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::Address;
use crate::state::error::StateError;
use crate::state::model::{PendingCreate, RetiringToken, State, TokenState};

/// The journal format this build writes.
pub const JOURNAL_VERSION: u32 = 1;

/// One journal record: a change apply made, persisted (fsynced) before the next step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// Move everything known at `from` (token, retiring generations, pending creates) to `to`.
    Move {
        from: Address,
        to: Address,
    },
}

impl JournalRecord {
    /// Applies this change to `state` in memory.
    pub fn apply_to(self, state: &mut State) {
        match self {
            JournalRecord::Upsert { address, token } => {
                state.tokens.insert(address, *token);
            }
            JournalRecord::Remove { address } => {
                state.tokens.remove(&address);
            }
            JournalRecord::PendingCreate { pending } => {
                state.pending_creates.retain(|p| p.address != pending.address);
                state.pending_creates.push(pending);
            }
            JournalRecord::ClearPending { address } => {
                state.pending_creates.retain(|p| p.address != address);
            }
            JournalRecord::AddRetiring { retiring } => {
                state.retiring.retain(|r| r.id != retiring.id);
                state.retiring.push(retiring);
            }
            JournalRecord::RemoveRetiring { id } => state.retiring.retain(|r| r.id != id),
            JournalRecord::Move { from, to } => {
                if let Some(token) = state.tokens.remove(&from) {
                    state.tokens.insert(to.clone(), token);
                }
                for r in state.retiring.iter_mut().filter(|r| r.address == from) {
                    r.address = to.clone();
                }
                for p in state.pending_creates.iter_mut().filter(|p| p.address == from) {
                    p.address = to.clone();
                }
            }
        }
    }
}

/// The first line of a journal: which state it extends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalHeader {
    pub journal: u32,
    pub lineage: String,
    /// The serial of the state file the records apply on top of.
    pub base_serial: u64,
}

/// One line of a journal after the header: a record in clear, or sealed with age
/// (`encrypt = "file"`), the armored text kept in a JSON string so it stays one line.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum JournalLine {
    Sealed { sealed: String },
    Clear(JournalRecord),
}

/// The journal path for a state path: `<state path>.journal`.
pub fn journal_path(state_path: &Path) -> PathBuf {
    let mut s = state_path.as_os_str().to_owned();
    s.push(".journal");
    PathBuf::from(s)
}

/// What a journal on disk holds.
#[derive(Debug)]
pub struct JournalContents {
    pub header: JournalHeader,
    /// Complete lines after the header (a torn last line, from a crash mid-append, is dropped).
    pub lines: Vec<JournalLine>,
}

/// serde's complaint about a line, which quotes the line's text: redacted, cut, escaped.
fn excerpt(e: &serde_json::Error) -> String {
    crate::escape::excerpt(&e.to_string())
}

/// Reads the journal at `path`: `None` when there is none, or when a crash left only part
/// of its header (no record was ever acknowledged then).
pub fn read(path: &Path) -> Result<Option<JournalContents>, StateError> {
    let Some(bytes) = crate::files::read_optional(path, crate::files::Kind::Journal)? else {
        return Ok(None);
    };
    let what = format!("the state journal {}", crate::escape::text(&path.display().to_string()));
    let damaged = |line: usize, reason: String| StateError::Journal { what: what.clone(), line, reason };
    // Only newline-terminated lines were fully written; record() returns after the newline is synced.
    let complete = match bytes.iter().rposition(|b| *b == b'\n') {
        Some(end) => &bytes[..=end],
        None => return Ok(None),
    };
    let mut lines = complete.split(|b| *b == b'\n').filter(|l| !l.is_empty()).enumerate();
    let Some((_, first)) = lines.next() else { return Ok(None) };
    let header: JournalHeader =
        serde_json::from_slice(first).map_err(|e| damaged(1, format!("bad header ({})", excerpt(&e))))?;
    if header.journal > JOURNAL_VERSION {
        return Err(damaged(
            1,
            format!("journal version {} is newer than this tokenform reads", header.journal),
        ));
    }
    let mut out = Vec::new();
    for (i, line) in lines {
        out.push(serde_json::from_slice(line).map_err(|e| damaged(i + 1, excerpt(&e)))?);
    }
    Ok(Some(JournalContents { header, lines: out }))
}

/// An open journal, appending.
#[derive(Debug)]
pub struct Journal {
    file: File,
    path: PathBuf,
    /// Bytes acknowledged so far (every line up to here is complete and synced).
    len: u64,
    /// A failed append could not be cut back: refuse more (a torn line mid-file reads as damage).
    poisoned: bool,
}

#[cfg(test)]
thread_local! {
    /// Unit tests: the next append on this thread writes half its bytes, then fails.
    static FAIL_NEXT_APPEND: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl Journal {
    /// Starts a new journal at `path` (replacing any stale one) with `header`, durably.
    pub fn create(path: &Path, header: &JournalHeader) -> Result<Journal, StateError> {
        let mut opts = OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let file = opts.open(path).map_err(StateError::io("create the state journal", path))?;
        let mut journal = Journal { file, path: path.to_owned(), len: 0, poisoned: false };
        let line =
            serde_json::to_string(header).map_err(|e| StateError::Serialize { message: e.to_string() })?;
        journal.append(&line)?;
        if let Some(dir) = path.parent() {
            crate::state::atomic::sync_dir(dir)?;
        }
        Ok(journal)
    }

    /// Appends one line and waits until it is on disk.
    pub fn append(&mut self, line: &str) -> Result<(), StateError> {
        self.append_all(std::slice::from_ref(&line))
    }

    /// Appends several lines with one write and one sync. A crash may keep a prefix of
    /// them (each line stands alone), never a torn line that replays.
    pub fn append_all<S: AsRef<str>>(&mut self, lines: &[S]) -> Result<(), StateError> {
        let mut buf = Vec::with_capacity(lines.iter().map(|l| l.as_ref().len() + 1).sum());
        for line in lines {
            debug_assert!(!line.as_ref().contains('\n'));
            buf.extend_from_slice(line.as_ref().as_bytes());
            buf.push(b'\n');
        }
        if self.poisoned {
            return Err(StateError::Io {
                action: "append to the state journal (unusable after a failed write)",
                path: self.path.clone(),
                source: std::io::Error::other("an earlier append failed and could not be undone"),
            });
        }
        match self.write_synced(&buf) {
            Ok(()) => {
                self.len += buf.len() as u64;
                Ok(())
            }
            Err(source) => {
                // Cut off whatever part of the lines reached the file, so a later record
                // does not follow a torn line (which a replay would read as damage).
                let undone = self
                    .file
                    .set_len(self.len)
                    .and_then(|()| self.file.seek(std::io::SeekFrom::Start(self.len)))
                    .and_then(|_| self.file.sync_data());
                self.poisoned = undone.is_err();
                Err(StateError::Io { action: "append to the state journal", path: self.path.clone(), source })
            }
        }
    }

    fn write_synced(&mut self, buf: &[u8]) -> std::io::Result<()> {
        #[cfg(test)]
        if FAIL_NEXT_APPEND.with(|f| f.replace(false)) {
            self.file.write_all(&buf[..buf.len() / 2])?;
            return Err(std::io::Error::other("injected write failure"));
        }
        self.file.write_all(buf)?;
        self.file.sync_data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(id: &str) -> TokenState {
        TokenState {
            id: id.into(),
            name: id.into(),
            description: None,
            role: Some("reader".into()),
            custom_role_ids: vec![],
            custom_role_keys: vec![],
            inline_role: None,
            service_token: false,
            api_version: None,
            expiry: None,
            created_at: jiff::Timestamp::UNIX_EPOCH,
            member_id: None,
            prevent_destroy: false,
            secret: None,
            terraform_address: None,
            undelivered: Vec::new(),
        }
    }

    #[test]
    fn records_apply_and_move_carries_everything() {
        let mut s = State::new();
        let a = Address::new("a");
        let b = Address::keyed("b", "k");
        JournalRecord::Upsert { address: a.clone(), token: Box::new(token("1")) }.apply_to(&mut s);
        JournalRecord::AddRetiring {
            retiring: RetiringToken {
                address: a.clone(),
                id: "0".into(),
                name: "old".into(),
                expires_at: jiff::Timestamp::UNIX_EPOCH,
                held_grace_seconds: None,
            },
        }
        .apply_to(&mut s);
        let pending = PendingCreate {
            address: a.clone(),
            name: "n".into(),
            intent_at: jiff::Timestamp::UNIX_EPOCH,
            member_id: None,
        };
        JournalRecord::PendingCreate { pending: pending.clone() }.apply_to(&mut s);
        JournalRecord::PendingCreate { pending }.apply_to(&mut s);
        assert_eq!(s.pending_creates.len(), 1, "a repeated intent replaces the earlier one");
        JournalRecord::Move { from: a.clone(), to: b.clone() }.apply_to(&mut s);
        assert!(!s.tokens.contains_key(&a));
        assert_eq!(s.tokens[&b].id, "1");
        assert_eq!(s.retiring[0].address, b);
        assert_eq!(s.pending_creates[0].address, b);
        JournalRecord::ClearPending { address: b.clone() }.apply_to(&mut s);
        JournalRecord::RemoveRetiring { id: "0".into() }.apply_to(&mut s);
        JournalRecord::Remove { address: b }.apply_to(&mut s);
        assert!(s.tokens.is_empty() && s.retiring.is_empty() && s.pending_creates.is_empty());
    }

    #[test]
    fn torn_last_line_is_dropped_but_damage_inside_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.journal");
        let header = JournalHeader { journal: 1, lineage: "l".into(), base_serial: 3 };
        let mut j = Journal::create(&path, &header).unwrap();
        let rec = JournalRecord::Remove { address: Address::new("a") };
        j.append(&serde_json::to_string(&rec).unwrap()).unwrap();
        drop(j);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(b"{\"op\":\"remo");
        std::fs::write(&path, &bytes).unwrap();
        let c = read(&path).unwrap().unwrap();
        assert_eq!(c.header, header);
        assert_eq!(c.lines.len(), 1);

        bytes.extend_from_slice(b"\n{\"op\":\"remove\",\"address\":\"token.b\"}\n");
        std::fs::write(&path, &bytes).unwrap();
        assert!(matches!(read(&path), Err(StateError::Journal { line: 3, .. })));

        std::fs::write(&path, b"{\"journal\":1,\"line").unwrap();
        assert!(read(&path).unwrap().is_none(), "a torn header means nothing was acknowledged");
    }

    #[test]
    fn a_failed_append_is_cut_back_so_later_records_stay_readable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.journal");
        let header = JournalHeader { journal: 1, lineage: "l".into(), base_serial: 0 };
        let mut j = Journal::create(&path, &header).unwrap();
        let line =
            |l: &str| serde_json::to_string(&JournalRecord::Remove { address: Address::new(l) }).unwrap();
        j.append(&line("a")).unwrap();
        FAIL_NEXT_APPEND.with(|f| f.set(true));
        assert!(j.append(&line("b")).is_err());
        j.append(&line("c")).unwrap();
        let c = read(&path).unwrap().unwrap();
        let removed: Vec<String> = c
            .lines
            .into_iter()
            .map(|l| match l {
                JournalLine::Clear(JournalRecord::Remove { address }) => address.label,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(removed, ["a", "c"]);
    }
}
