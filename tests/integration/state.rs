//! Integration tests: the state store and its commands.
//! - `interop`: the stock `age` / `age-keygen` / `ssh-keygen` tools read what tokenform writes and the other way round.
//! - `keys`: `keygen` and `init` through the real binary.
//! - `cli`: `state`, `secret`, `output`, `rekey`, `force-unlock` through the real binary:
//!   lock races, crash injection, and every bad input leaving the state byte-for-byte.

mod cli;
mod interop;
mod keys;
mod transfer;

use std::path::{Path, PathBuf};

use tokenform::config::{EncryptMode, StateSettings};

/// Runs a tool, panicking with its stderr when it fails; returns stdout.
pub(crate) fn tool(cmd: &mut std::process::Command) -> Vec<u8> {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// A fresh age identity written to `dir/name`; returns (path, recipient).
pub(crate) fn age_key(dir: &Path, name: &str) -> (PathBuf, String) {
    let (text, recipient) = tokenform::state::identity::generate_identity_file(jiff::Timestamp::now());
    let path = dir.join(name);
    std::fs::write(&path, text.as_bytes()).unwrap();
    (path, recipient)
}

/// Store settings for a state file at `dir/tokenform.state.json`.
pub(crate) fn settings(dir: &Path, recipients: &[&str], encrypt: EncryptMode) -> StateSettings {
    StateSettings::local(
        dir.join("tokenform.state.json"),
        recipients.iter().map(|r| (*r).to_owned()).collect(),
        encrypt,
    )
}
