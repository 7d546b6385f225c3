//! Shared test support: run the real binary, start `tokenform dev-server` on 127.0.0.1:0.
#![allow(dead_code)]

pub mod hostile;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// The path of the binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tokenform")
}

/// `tokenform` with a clean, colourless environment (no inherited identity or token).
pub fn tokenform() -> Command {
    let mut cmd = Command::new(bin());
    cmd.env("NO_COLOR", "1")
        .env_remove("TOKENFORM_IDENTITY_FILE")
        .env_remove("LAUNCHDARKLY_ACCESS_TOKEN")
        .env_remove("TOKENFORM_ALLOWED_HOSTS")
        .stdin(Stdio::null());
    cmd
}

/// A running `tokenform dev-server`, killed on drop.
pub struct DevServer {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// The admin token (an `api-…` secret the emulator accepts).
    pub admin_token: String,
    pub dir: tempfile::TempDir,
}

impl DevServer {
    /// Starts the emulator with extra flags (e.g. `["--page-max", "20"]`).
    pub fn start(extra: &[&str]) -> DevServer {
        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("admin-token");
        let mut child = Command::new(bin())
            .args(["dev-server", "--listen", "127.0.0.1:0", "--admin-token-file"])
            .arg(&token_file)
            .args(extra)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        // Contract: the first stdout line is `tokenform dev-server listening on http://127.0.0.1:PORT`.
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let url = line.trim().rsplit(' ').next().unwrap_or_default().to_owned();
        assert!(url.starts_with("http://127.0.0.1:"), "unexpected dev-server banner: {line:?}");
        let admin_token = std::fs::read_to_string(&token_file).unwrap().trim().to_owned();
        DevServer { child, url, admin_token, dir }
    }

    /// A `tokenform` command authenticated with the admin token.
    pub fn tokenform(&self, config_dir: &Path) -> Command {
        let mut cmd = tokenform();
        cmd.arg("-C").arg(config_dir).env("LAUNCHDARKLY_ACCESS_TOKEN", &self.admin_token);
        cmd
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temp config dir holding `files` (name, contents).
pub fn config_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
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
pub fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
