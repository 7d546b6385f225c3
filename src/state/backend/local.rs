//! The local backend: the state file beside the configuration (`state.path`), with
//! `<path>.journal`, `<path>.lock` and `<path>.backup.1` … `.5`. Built from [`atomic`]
//! (temp file, fsync, rename), [`journal`] (the append-only file) and [`lock`] (the OS
//! file lock with owner info). The version a write compares against is the file's
//! identity and metadata (device, inode, size, modification and change times): the
//! atomic rename gives every write a new file, so any other writer's save changes it.
//!
//! Knows nothing of age or of the document's content.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::files::{self, Kind};
use crate::state::atomic;
use crate::state::backend::{Backend, Document, Stored, Version};
use crate::state::error::StateError;
use crate::state::journal::{self, Journal, JournalHeader};
use crate::state::lock::{self, ForceUnlocked, LockInfo, StateLock};

/// The state file at a path.
#[derive(Debug)]
pub struct LocalBackend {
    path: PathBuf,
    lock: Option<StateLock>,
    /// The journal being appended to, once the first record since the last save is written.
    journal: Option<Journal>,
}

impl LocalBackend {
    /// The state file at `path` (it need not exist yet). Touches nothing.
    pub fn new(path: &Path) -> Self {
        Self { path: path.to_owned(), lock: None, journal: None }
    }

    fn journal_path(&self) -> PathBuf {
        journal::journal_path(&self.path)
    }
}

/// A path as messages show it: the configuration chose it, so control characters are escaped.
fn shown(path: &Path) -> String {
    crate::escape::text(&path.display().to_string()).into_owned()
}

impl Backend for LocalBackend {
    fn describe(&self) -> String {
        format!("the state file {}", shown(&self.path))
    }

    fn describe_journal(&self) -> String {
        format!("the state journal {}", shown(&self.journal_path()))
    }

    fn restore_hint(&self) -> String {
        format!("restore the previous version from {}", shown(&atomic::backup_path(&self.path, 1)))
    }

    fn lock(&mut self, holder: &LockInfo, timeout: Duration) -> Result<(), StateError> {
        self.refuse_links()?;
        // A writer may be the first: `state { path = "state/prod.json" }` in a fresh checkout.
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
            std::fs::create_dir_all(dir).map_err(StateError::io("create the state directory", dir))?;
        }
        self.lock = Some(StateLock::acquire(&lock::lock_path(&self.path), timeout, holder)?);
        Ok(())
    }

    fn read(&mut self) -> Result<Stored, StateError> {
        self.refuse_links()?;
        let (document, version) = match files::read_with_metadata(&self.path, Kind::State) {
            // The version is the metadata of the very file read (not of the path, which
            // a writer may replace between the two).
            Ok((mut bytes, meta)) => (Some(std::mem::take(&mut *bytes)), file_version(&meta)),
            Err(e) if e.is_not_found() => (None, Version::Absent),
            Err(e) => return Err(e.into()),
        };
        let journal = journal::read(&self.journal_path())?;
        Ok(Stored { document, version, journal })
    }

    fn append_journal(&mut self, header: &JournalHeader, lines: &[String]) -> Result<(), StateError> {
        if self.journal.is_none() {
            self.journal = Some(Journal::create(&self.journal_path(), header)?);
        }
        match self.journal.as_mut() {
            Some(journal) => journal.append_all(lines),
            None => Ok(()),
        }
    }

    fn write(&mut self, expected: &Version, document: Document<'_>) -> Result<Version, StateError> {
        let current = current_version(&self.path)?;
        if &current != expected {
            return Err(StateError::Conflict {
                what: self.describe(),
                detail: "the file was replaced or edited".to_owned(),
            });
        }
        atomic::write_atomic(&self.path, document.bytes)?;
        let version = current_version(&self.path)?;
        self.clear_journal()?;
        Ok(version)
    }

    fn clear_journal(&mut self) -> Result<(), StateError> {
        self.journal = None;
        let path = self.journal_path();
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StateError::Io { action: "remove the state journal", path, source: e }),
        }
    }

    fn previous(&mut self, n: usize) -> Result<Option<Vec<u8>>, StateError> {
        let path = atomic::backup_path(&self.path, n);
        refuse_link(&path)?;
        Ok(files::read_optional(&path, Kind::State)?.map(|mut bytes| std::mem::take(&mut *bytes)))
    }

    fn force_unlock(&mut self, id: &str) -> Result<ForceUnlocked, StateError> {
        lock::force_unlock(&lock::lock_path(&self.path), id)
    }
}

impl LocalBackend {
    /// The state file, its journal and its lock are never symbolic links (see
    /// [`StateError::Symlink`]): refused before anything is read or written.
    fn refuse_links(&self) -> Result<(), StateError> {
        refuse_link(&self.path)?;
        refuse_link(&self.journal_path())?;
        refuse_link(&lock::lock_path(&self.path))
    }
}

fn refuse_link(path: &Path) -> Result<(), StateError> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(StateError::Symlink { path: path.to_owned() }),
        _ => Ok(()),
    }
}

fn current_version(path: &Path) -> Result<Version, StateError> {
    match std::fs::metadata(path) {
        Ok(meta) => Ok(file_version(&meta)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Version::Absent),
        Err(e) => Err(StateError::Io { action: "read the metadata of", path: path.to_owned(), source: e }),
    }
}

#[cfg(unix)]
fn file_version(meta: &std::fs::Metadata) -> Version {
    use std::os::unix::fs::MetadataExt;
    Version::At(format!(
        "{}:{}:{}:{}.{}:{}.{}",
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec()
    ))
}

#[cfg(not(unix))]
fn file_version(meta: &std::fs::Metadata) -> Version {
    let modified = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
    Version::At(format!("{}:{:?}", meta.len(), modified))
}
