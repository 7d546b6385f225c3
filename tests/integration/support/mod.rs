//! Shared test support: run the real binary, start `tokenform dev-server` on 127.0.0.1:0
//! (`server`), read and poke its API behind tokenform's back (`http`), and the `Test`
//! builder of a config dir wired to it (`test`).
#![allow(dead_code)]

pub(crate) mod hostile;
pub(crate) mod http;
pub(crate) mod server;
pub(crate) mod test;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub(crate) use server::DevServer;
pub(crate) use test::{Env, Test, collect_secrets, names, token_block, tokens};

/// The path of the binary under test.
pub(crate) fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tokenform")
}

/// `tokenform` with a clean, colourless environment (no inherited identity, token, or AWS
/// session and region: an S3 test sets what it means to).
pub(crate) fn tokenform() -> Command {
    let mut cmd = Command::new(bin());
    cmd.env("NO_COLOR", "1")
        .env_remove("TOKENFORM_IDENTITY_FILE")
        .env_remove("LAUNCHDARKLY_ACCESS_TOKEN")
        .env_remove("TOKENFORM_ALLOWED_HOSTS")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .stdin(Stdio::null());
    cmd
}

/// A temp config dir holding `files` (name, contents).
pub(crate) fn config_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, body) in files {
        let path: PathBuf = dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, body).unwrap();
    }
    dir
}

/// A command's exit code, stdout and stderr, for assertion messages.
pub(crate) fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub(crate) fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A diagnostic's words with miette's wrapping and box drawing undone: compare words, not
/// layout.
pub(crate) fn words(text: &str) -> String {
    text.replace(['│', '×'], " ").split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The value of `Key:` in a `Lock Info:` block (miette's margin aside).
pub(crate) fn lock_field(err: &str, key: &str) -> String {
    let prefix = format!("{key}:");
    err.lines()
        .find_map(|l| {
            let l = l.trim_start_matches(|c: char| c.is_whitespace() || c == '│');
            l.strip_prefix(&prefix).map(|v| v.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no {key}: line in\n{err}"))
}

/// Polls `check` until it is true (at most 60 s: a loaded machine is slow, not stuck).
pub(crate) fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_mins(1);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Reads `child`'s stdout until `n` creates completed (or it ended); returns the lines.
/// The rest is drained in the background, so the child never blocks on a full pipe.
pub(crate) fn read_completions(child: &mut Child, n: usize) -> Vec<String> {
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    while seen.iter().filter(|l: &&String| l.contains("complete [id=")).count() < n {
        match lines.next() {
            Some(Ok(line)) => seen.push(line),
            _ => break,
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    seen
}
