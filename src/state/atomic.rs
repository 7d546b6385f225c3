//! Atomic file replacement for the state: write a temp file in the same directory, fsync
//! it, rotate the backups, rename it over the state, fsync the directory. A crash at any
//! point leaves either the old file or the new one, never a mix. Mode 0600.
//!
//! Callers hold the state lock; this module does not lock.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::state::error::StateError;

/// How many previous versions are kept (`.backup.1` newest … `.backup.5` oldest).
pub const BACKUPS: usize = 5;

/// `<state path>.backup.N`
pub fn backup_path(path: &Path, n: usize) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".backup.{n}"));
    PathBuf::from(s)
}

/// Where a fault can be injected in a save (tests of crash safety).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPoint {
    /// The temp file is written and synced; the rename has not happened.
    BeforeRename,
}

/// The environment variable that makes the binary crash (abort) at a fault point, for
/// end-to-end crash tests: `__TOKENFORM_TEST_FAULT=save-before-rename`. Only in builds with
/// the `fault-injection` feature (which `.ci/test` enables): a shipped binary has no such hook.
#[cfg(feature = "fault-injection")]
pub const FAULT_ENV: &str = "__TOKENFORM_TEST_FAULT";

#[cfg(test)]
thread_local! {
    /// Unit tests: make the save on this thread fail with an error at this point.
    pub static INJECT: std::cell::Cell<Option<FaultPoint>> = const { std::cell::Cell::new(None) };
}

#[allow(clippy::unnecessary_wraps)] // only unit-test builds return the error
#[cfg_attr(not(any(test, feature = "fault-injection")), allow(unused_variables))]
#[allow(clippy::disallowed_methods)] // the crash point is a test hook, not configuration
fn fault(point: FaultPoint) -> std::io::Result<()> {
    #[cfg(test)]
    if INJECT.with(std::cell::Cell::get) == Some(point) {
        return Err(std::io::Error::other("injected fault"));
    }
    #[cfg(feature = "fault-injection")]
    {
        let name = match point {
            FaultPoint::BeforeRename => "save-before-rename",
        };
        if std::env::var(FAULT_ENV).is_ok_and(|v| v == name) {
            // A real crash: no destructors, no cleanup, exactly what a kill -9 would leave.
            std::process::abort();
        }
    }
    Ok(())
}

/// The prefix of temp files for `path` (`.<name>.tmp-`), so leftovers can be found.
fn temp_prefix(path: &Path) -> String {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    format!(".{name}.tmp-")
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Replaces `path` with `bytes` atomically, keeping the previous file as `.backup.1`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let dir = parent_dir(path);
    remove_stale_temps(path, dir);
    let tmp = dir.join(format!("{}{}-{:016x}", temp_prefix(path), std::process::id(), rand::random::<u64>()));
    let result = write_then_rename(path, dir, &tmp, bytes);
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn write_then_rename(path: &Path, dir: &Path, tmp: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut file = opts.open(tmp).map_err(StateError::io("create a temp file in", dir))?;
    file.write_all(bytes).map_err(StateError::io("write", tmp))?;
    file.sync_all().map_err(StateError::io("sync", tmp))?;
    drop(file);
    fault(FaultPoint::BeforeRename).map_err(StateError::io("save (injected fault before rename)", path))?;
    rotate_backups(path)?;
    std::fs::rename(tmp, path).map_err(StateError::io("rename the temp file over", path))?;
    sync_dir(dir)
}

/// Shifts `.backup.1..4` up by one (dropping `.backup.5`) and links the current file as `.backup.1`.
fn rotate_backups(path: &Path) -> Result<(), StateError> {
    if !path.exists() {
        return Ok(());
    }
    for n in (1..BACKUPS).rev() {
        let from = backup_path(path, n);
        if from.exists() {
            let to = backup_path(path, n + 1);
            std::fs::rename(&from, &to).map_err(StateError::io("rotate the backup", &from))?;
        }
    }
    let first = backup_path(path, 1);
    // A hard link is instant and keeps the bytes and mode; copy where links are unsupported.
    if std::fs::hard_link(path, &first).is_err() {
        std::fs::copy(path, &first).map_err(StateError::io("back up the state to", &first))?;
    }
    Ok(())
}

/// Removes temp files a crashed save left beside `path` (we hold the lock: nobody else writes).
fn remove_stale_temps(path: &Path, dir: &Path) {
    let prefix = temp_prefix(path);
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Makes a directory's entries (a rename, a new file) durable.
pub fn sync_dir(dir: &Path) -> Result<(), StateError> {
    #[cfg(unix)]
    {
        let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(StateError::io("sync the directory", dir))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_five_backups_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        for i in 0..8 {
            write_atomic(&path, format!("v{i}").as_bytes()).unwrap();
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "v7");
        for n in 1..=5 {
            assert_eq!(std::fs::read_to_string(backup_path(&path, n)).unwrap(), format!("v{}", 7 - n));
        }
        assert!(!backup_path(&path, 6).exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 6, "no temp file left: {names:?}");
    }

    #[test]
    fn a_fault_before_rename_leaves_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        write_atomic(&path, b"old").unwrap();
        INJECT.with(|f| f.set(Some(FaultPoint::BeforeRename)));
        let err = write_atomic(&path, b"new").unwrap_err();
        INJECT.with(|f| f.set(None));
        assert!(err.to_string().contains("injected fault"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("s.json")]);
    }
}
