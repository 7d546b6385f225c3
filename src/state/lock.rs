//! The state lock: `<state path>.lock`, held with an OS file lock (`File::try_lock`, so a
//! crashed holder never blocks anyone) and carrying JSON owner info (pid, host, command,
//! time) for messages and `force-unlock`. Polls until a timeout; never blocks forever.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::state::error::StateError;

/// How often a waiting command retries the lock.
const POLL: Duration = Duration::from_millis(50);

/// Who holds (or last held) the lock, as written into the lock file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockOwner {
    pub pid: u32,
    pub host: String,
    pub command: String,
    pub created_at: jiff::Timestamp,
    #[serde(default)]
    pub version: String,
}

impl LockOwner {
    fn current(command: &str) -> Self {
        Self {
            pid: std::process::id(),
            host: hostname(),
            command: command.to_owned(),
            created_at: jiff::Timestamp::now(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }

    /// `pid 42 on host ci-7, running "apply", since 2026-…`
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

fn describe(owner: Option<&LockOwner>) -> String {
    owner.map_or_else(|| "owner unknown".to_owned(), LockOwner::describe)
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
    /// Takes the lock at `path`, retrying until `timeout` has passed (zero: one try).
    pub fn acquire(path: &Path, timeout: Duration, command: &str) -> Result<StateLock, StateError> {
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
                    write_owner(&mut file, &LockOwner::current(command))
                        .map_err(StateError::io("write the lock file", path))?;
                    return Ok(StateLock { file, path: path.to_owned() });
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(StateError::Locked {
                            lock_path: path.to_owned(),
                            owner: describe(read_owner(&mut file).as_ref()),
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

/// What `force-unlock` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForceUnlock {
    /// There was no lock file.
    NotLocked,
    /// The lock file was left by a process that is gone; removed.
    RemovedStale { owner: Option<LockOwner> },
    /// The lock was still held by a descriptor whose recorded owner is dead on this host; removed.
    RemovedOrphaned { owner: LockOwner },
}

/// Removes a lock whose owner is gone; refuses while the owner still runs (or cannot be checked).
pub fn force_unlock(path: &Path) -> Result<ForceUnlock, StateError> {
    let mut file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ForceUnlock::NotLocked),
        Err(e) => {
            return Err(StateError::Io { action: "open the lock file", path: path.to_owned(), source: e });
        }
    };
    let owner = read_owner(&mut file);
    match file.try_lock() {
        Ok(()) => {
            std::fs::remove_file(path).map_err(StateError::io("remove the lock file", path))?;
            Ok(ForceUnlock::RemovedStale { owner })
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let refuse = |why: String| StateError::LockOwnerAlive {
                lock_path: path.to_owned(),
                owner: describe(owner.as_ref()),
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
            Ok(ForceUnlock::RemovedOrphaned { owner })
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

/// This machine's host name (for lock owner info).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".to_owned())
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

    #[test]
    fn second_holder_fails_with_owner_then_gets_it_after_release() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json.lock");
        let held = StateLock::acquire(&path, Duration::ZERO, "apply").unwrap();
        let err = StateLock::acquire(&path, Duration::from_millis(120), "state rm").unwrap_err();
        let StateError::Locked { owner, .. } = &err else { panic!("{err:?}") };
        assert!(owner.contains(&format!("pid {}", std::process::id())), "{owner}");
        assert!(owner.contains("`apply`"), "{owner}");
        drop(held);
        assert!(!path.exists(), "release removes the lock file");
        let again = StateLock::acquire(&path, Duration::ZERO, "state rm").unwrap();
        assert_eq!(read_owner_at(&path).unwrap().command, "state rm");
        drop(again);
    }

    #[test]
    fn waiter_gets_the_lock_when_the_holder_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json.lock");
        let held = StateLock::acquire(&path, Duration::ZERO, "apply").unwrap();
        let p2 = path.clone();
        let waiter =
            std::thread::spawn(move || StateLock::acquire(&p2, Duration::from_secs(10), "plan").map(drop));
        std::thread::sleep(Duration::from_millis(150));
        drop(held);
        waiter.join().unwrap().unwrap();
    }

    #[test]
    fn force_unlock_refuses_a_live_owner_and_removes_a_dead_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json.lock");
        assert_eq!(force_unlock(&path).unwrap(), ForceUnlock::NotLocked);

        let held = StateLock::acquire(&path, Duration::ZERO, "apply").unwrap();
        let err = force_unlock(&path).unwrap_err();
        assert!(matches!(err, StateError::LockOwnerAlive { .. }), "{err:?}");
        assert!(path.exists());
        drop(held);

        // A lock file left by a process that has exited (no OS lock held any more).
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let owner = LockOwner { pid: dead, ..LockOwner::current("apply") };
        std::fs::write(&path, serde_json::to_vec(&owner).unwrap()).unwrap();
        assert!(!pid_alive(dead));
        assert_eq!(force_unlock(&path).unwrap(), ForceUnlock::RemovedStale { owner: Some(owner) });
        assert!(!path.exists());
    }
}
