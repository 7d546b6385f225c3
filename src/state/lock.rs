//! The state lock. [`LockInfo`] is what every backend records about a holder and shows a
//! second writer, in Terraform's shape. The rest is the local backend's lock:
//! `<state path>.lock`, held with an OS file lock (`File::try_lock`, so a crashed holder
//! never blocks anyone) and carrying JSON owner info (lock id, user@host, pid, command,
//! time) for messages and `force-unlock`. Polls until a timeout; never blocks forever.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::state::error::StateError;

/// How often a waiting command retries the lock.
pub const POLL: Duration = Duration::from_millis(50);

/// Who holds a state lock, on any backend: what a second writer is shown (Terraform's
/// `Lock Info`) and what `force-unlock LOCK_ID` must name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// A fresh UUID per acquisition: the argument of `force-unlock`.
    pub id: String,
    /// `user@host` of the holder.
    pub who: String,
    /// The command holding it (`apply`, `state rm`, …).
    pub operation: String,
    pub created: jiff::Timestamp,
    /// The holder's tokenform version.
    pub version: String,
    /// What is locked: the state file, or the backend's schema and workspace.
    pub path: String,
}

impl LockInfo {
    /// A new holder record for this process: `operation` by `user` (None: unknown) on this host.
    pub fn new(operation: &str, user: Option<&str>, path: &str) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            who: format!("{}@{}", user.filter(|u| !u.is_empty()).unwrap_or("unknown"), hostname()),
            operation: operation.to_owned(),
            created: jiff::Timestamp::now(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            path: path.to_owned(),
        }
    }

    /// The `Lock Info:` block, as Terraform prints it (one `Key: value` line each).
    pub fn render(&self) -> String {
        let id = if self.id.is_empty() { "(none recorded)" } else { &self.id };
        // The fields come from a lock file (or a database row) another process wrote.
        let t = crate::escape::text;
        format!(
            "Lock Info:\n  ID:        {}\n  Path:      {}\n  Operation: {}\n  Who:       {}\n  Version:   {}\n  Created:   {}",
            t(id),
            t(&self.path),
            t(&self.operation),
            t(&self.who),
            t(&self.version),
            self.created.strftime("%Y-%m-%dT%H:%M:%SZ")
        )
    }
}

/// The body of a local lock file: the holder's [`LockInfo`] plus its pid and host, so
/// `force-unlock` can tell whether it still runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockOwner {
    /// Lock files written before lock ids existed have none.
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub who: String,
    pub pid: u32,
    pub host: String,
    pub command: String,
    pub created_at: jiff::Timestamp,
    #[serde(default)]
    pub version: String,
}

impl LockOwner {
    fn from_info(info: &LockInfo) -> Self {
        Self {
            id: info.id.clone(),
            who: info.who.clone(),
            pid: std::process::id(),
            host: hostname(),
            command: info.operation.clone(),
            created_at: info.created,
            version: info.version.clone(),
        }
    }

    /// The Lock Info of this owner, for the lock file at `path`.
    pub fn info(&self, path: &Path) -> LockInfo {
        LockInfo {
            id: self.id.clone(),
            who: if self.who.is_empty() { format!("unknown@{}", self.host) } else { self.who.clone() },
            operation: self.command.clone(),
            created: self.created_at,
            version: self.version.clone(),
            path: path.display().to_string(),
        }
    }

    /// `pid 42 on host ci-7, running `apply`, since 2026-…`
    pub fn describe(&self) -> String {
        format!(
            "pid {} on host {}, running `{}`, since {}",
            self.pid,
            self.host,
            self.command,
            self.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        )
    }
}

/// The lock file path for a state path: `<state path>.lock`.
pub fn lock_path(state_path: &Path) -> PathBuf {
    let mut s = state_path.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
}

/// A held state lock; released (and its file removed) on drop.
#[derive(Debug)]
pub struct StateLock {
    file: File,
    path: PathBuf,
}

impl StateLock {
    /// Takes the lock at `path` for `holder`, retrying until `timeout` has passed (zero: one try).
    pub fn acquire(path: &Path, timeout: Duration, holder: &LockInfo) -> Result<StateLock, StateError> {
        let deadline = Instant::now() + timeout;
        loop {
            let mut file = open_lock_file(path)?;
            match file.try_lock() {
                Ok(()) => {
                    // The previous holder removes the file on release; a lock on a removed
                    // (or replaced) file guards nothing, so start over on the new one.
                    if !same_file(&file, path) {
                        continue;
                    }
                    write_owner(&mut file, &LockOwner::from_info(holder))
                        .map_err(StateError::io("write the lock file", path))?;
                    return Ok(StateLock { file, path: path.to_owned() });
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    let now = Instant::now();
                    if now >= deadline {
                        let info =
                            read_owner(&mut file).map_or_else(|| unknown_holder(path), |o| o.info(path));
                        return Err(StateError::Locked {
                            backend: format!("the state file's lock {}", path.display()),
                            info: Box::new(info),
                        });
                    }
                    std::thread::sleep(POLL.min(deadline - now));
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(StateError::Io { action: "lock", path: path.to_owned(), source: e });
                }
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The Lock Info shown when the holder has not written its record yet (it just took the lock).
fn unknown_holder(path: &Path) -> LockInfo {
    LockInfo {
        id: String::new(),
        who: "unknown (the holder has not recorded itself yet)".to_owned(),
        operation: "unknown".to_owned(),
        created: jiff::Timestamp::now(),
        version: String::new(),
        path: path.display().to_string(),
    }
}

impl Drop for StateLock {
    fn drop(&mut self) {
        // Remove the file while still holding the lock, so a waiter that then gets the
        // old file sees it was removed and retries on a fresh one. Best effort: a leftover
        // file is harmless (the OS lock is what counts).
        if same_file(&self.file, &self.path) {
            let _ = std::fs::remove_file(&self.path);
        }
        let _ = self.file.unlock();
    }
}

/// What `force-unlock` did, on any backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForceUnlocked {
    /// No lock was recorded.
    NotLocked,
    /// The lock record of a holder that is gone was removed; `note` says how that was known.
    Removed { info: Option<LockInfo>, note: String },
}

/// Removes the lock file at `path` when `id` names its holder and that holder is gone;
/// refuses while the holder still runs (or cannot be checked), or when `id` is another lock's.
pub fn force_unlock(path: &Path, id: &str) -> Result<ForceUnlocked, StateError> {
    let mut file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ForceUnlocked::NotLocked),
        Err(e) => {
            return Err(StateError::Io { action: "open the lock file", path: path.to_owned(), source: e });
        }
    };
    let owner = read_owner(&mut file);
    let info = owner.as_ref().map(|o| o.info(path));
    if let Some(info) = info.as_ref().filter(|i| !i.id.is_empty() && i.id != id) {
        return Err(StateError::LockIdMismatch { given: id.to_owned(), info: Box::new(info.clone()) });
    }
    match file.try_lock() {
        Ok(()) => {
            std::fs::remove_file(path).map_err(StateError::io("remove the lock file", path))?;
            Ok(ForceUnlocked::Removed {
                info,
                note: "no process held it any more (its holder exited or was killed)".to_owned(),
            })
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let refuse = |why: String| StateError::LockOwnerAlive {
                info: Box::new(info.clone().unwrap_or_else(|| unknown_holder(path))),
                why,
            };
            let Some(owner) = owner.clone() else {
                return Err(refuse("the lock is held and its owner is not recorded".to_owned()));
            };
            if owner.host != hostname() {
                return Err(refuse(format!(
                    "the lock is held from host {}, where this machine cannot check the process",
                    owner.host
                )));
            }
            if pid_alive(owner.pid) {
                return Err(refuse(format!("process {} is still running on this host", owner.pid)));
            }
            std::fs::remove_file(path).map_err(StateError::io("remove the lock file", path))?;
            Ok(ForceUnlocked::Removed {
                info,
                note: format!(
                    "its owner ({}) is gone, though a descriptor still held the file lock",
                    owner.describe()
                ),
            })
        }
        Err(std::fs::TryLockError::Error(e)) => {
            Err(StateError::Io { action: "lock", path: path.to_owned(), source: e })
        }
    }
}

/// Reads the owner info of the lock file at `path`, if any.
pub fn read_owner_at(path: &Path) -> Option<LockOwner> {
    let mut file = File::open(path).ok()?;
    read_owner(&mut file)
}

fn open_lock_file(path: &Path) -> Result<File, StateError> {
    let mut opts = OpenOptions::new();
    opts.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path).map_err(StateError::io("create the lock file", path))
}

fn write_owner(file: &mut File, owner: &LockOwner) -> std::io::Result<()> {
    let json = serde_json::to_vec(owner).map_err(std::io::Error::other)?;
    file.set_len(0)?;
    file.rewind()?;
    file.write_all(&json)?;
    file.write_all(b"\n")?;
    file.sync_data()
}

fn read_owner(file: &mut File) -> Option<LockOwner> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.take(64 * 1024).read_to_string(&mut text).ok()?;
    serde_json::from_str(text.trim()).ok()
}

/// True when `file` is the file currently at `path` (same device and inode).
fn same_file(file: &File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), std::fs::metadata(path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        path.exists()
    }
}

/// This machine's host name (for lock owner info): `uname`'s node name, read from the
/// kernel, not from the environment (the library reads no environment).
pub fn hostname() -> String {
    #[cfg(unix)]
    let name = rustix::system::uname().nodename().to_string_lossy().trim().to_owned();
    #[cfg(not(unix))]
    let name = String::new();
    if name.is_empty() { "unknown".to_owned() } else { name }
}

/// True while a process with `pid` exists on this host.
#[cfg(unix)]
#[allow(unsafe_code)]
pub fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill(2) with signal 0 delivers nothing; it only asks the kernel whether the
    // pid exists and may be signalled. No memory is shared or touched.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Without a way to check, assume the owner still runs (refusing is the safe answer).
#[cfg(not(unix))]
pub fn pid_alive(_pid: u32) -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(operation: &str) -> LockInfo {
        LockInfo::new(operation, Some("alice"), "s.json")
    }

    #[test]
    fn second_holder_gets_the_first_ones_lock_info_then_the_lock_after_release() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json.lock");
        let first = holder("apply");
        let held = StateLock::acquire(&path, Duration::ZERO, &first).unwrap();
        let err = StateLock::acquire(&path, Duration::from_millis(120), &holder("state rm")).unwrap_err();
        let StateError::Locked { info, .. } = &err else { panic!("{err:?}") };
        assert_eq!(info.id, first.id);
        assert_eq!(info.operation, "apply");
        assert_eq!(info.who, format!("alice@{}", hostname()));
        let text = err.to_string();
        assert!(text.starts_with("the state is locked\nLock Info:\n  ID:        "), "{text}");
        assert!(text.contains("\n  Operation: apply\n"), "{text}");
        drop(held);
        assert!(!path.exists(), "release removes the lock file");
        let again = StateLock::acquire(&path, Duration::ZERO, &holder("state rm")).unwrap();
        assert_eq!(read_owner_at(&path).unwrap().command, "state rm");
        assert_eq!(read_owner_at(&path).unwrap().pid, std::process::id());
        drop(again);
    }

    #[test]
    fn waiter_gets_the_lock_when_the_holder_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json.lock");
        let held = StateLock::acquire(&path, Duration::ZERO, &holder("apply")).unwrap();
        let p2 = path.clone();
        let waiter = std::thread::spawn(move || {
            StateLock::acquire(&p2, Duration::from_secs(10), &holder("plan")).map(drop)
        });
        std::thread::sleep(Duration::from_millis(150));
        drop(held);
        waiter.join().unwrap().unwrap();
    }

    #[test]
    fn force_unlock_needs_the_holders_id_refuses_a_live_owner_and_removes_a_dead_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json.lock");
        assert_eq!(force_unlock(&path, "any").unwrap(), ForceUnlocked::NotLocked);

        let info = holder("apply");
        let held = StateLock::acquire(&path, Duration::ZERO, &info).unwrap();
        let err = force_unlock(&path, "not-the-id").unwrap_err();
        assert!(matches!(&err, StateError::LockIdMismatch { info: i, .. } if i.id == info.id), "{err:?}");
        let err = force_unlock(&path, &info.id).unwrap_err();
        assert!(matches!(err, StateError::LockOwnerAlive { .. }), "{err:?}");
        assert!(path.exists());
        drop(held);

        // A lock file left by a process that has exited (no OS lock held any more).
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let owner = LockOwner { pid: dead, ..LockOwner::from_info(&info) };
        std::fs::write(&path, serde_json::to_vec(&owner).unwrap()).unwrap();
        assert!(!pid_alive(dead));
        let ForceUnlocked::Removed { info: Some(removed), .. } = force_unlock(&path, &info.id).unwrap()
        else {
            panic!("not removed")
        };
        assert_eq!(removed.id, info.id);
        assert!(!path.exists());
    }
}
