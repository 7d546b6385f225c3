//! `tokenform dev-server` on 127.0.0.1:0, and what the tests read and change through its
//! API behind tokenform's back (as the admin, or as any secret).

use std::fmt::Display;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use super::http::{http, send_json};
use super::{bin, tokenform};

/// A running `tokenform dev-server`, killed on drop.
pub(crate) struct DevServer {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// The admin token (an `api-…` secret the emulator accepts).
    pub admin_token: String,
    pub dir: tempfile::TempDir,
}

impl DevServer {
    /// Starts the emulator with extra flags (e.g. `["--page-max", "20"]`).
    pub(crate) fn start(extra: &[&str]) -> DevServer {
        Self::launch(None, extra)
    }

    /// Starts the emulator seeded with `seed` (the `--seed` JSON document) and extra flags.
    pub(crate) fn seeded(seed: &impl Display, extra: &[&str]) -> DevServer {
        Self::launch(Some(&seed.to_string()), extra)
    }

    fn launch(seed: Option<&str>, extra: &[&str]) -> DevServer {
        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("admin-token");
        let mut cmd = Command::new(bin());
        cmd.args(["dev-server", "--listen", "127.0.0.1:0", "--admin-token-file"]).arg(&token_file);
        if let Some(seed) = seed {
            let path = dir.path().join("seed.json");
            std::fs::write(&path, seed).unwrap();
            cmd.arg("--seed").arg(path);
        }
        let mut child = cmd
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
    pub(crate) fn tokenform(&self, config_dir: &Path) -> Command {
        let mut cmd = tokenform();
        cmd.arg("-C").arg(config_dir).env("LAUNCHDARKLY_ACCESS_TOKEN", &self.admin_token);
        cmd
    }

    /// `method path` as the admin, no body: status and JSON body.
    pub(crate) fn api(&self, method: &str, path: &str) -> (u16, Value) {
        http(&self.url, method, path, &self.admin_token)
    }

    /// `method path` as the admin with a JSON `body`: the JSON answer.
    pub(crate) fn send(&self, method: &str, path: &str, body: &str) -> Value {
        send_json(&self.url, method, path, &self.admin_token, body)
    }

    /// The token id a secret authenticates as, or the HTTP status it got.
    pub(crate) fn whoami(&self, secret: &str) -> Result<String, u16> {
        match http(&self.url, "GET", "/api/v2/caller-identity", secret) {
            (200, body) => Ok(body["tokenId"].as_str().unwrap_or_default().to_owned()),
            (status, _) => Err(status),
        }
    }

    /// Every live token (all members) but the admin's own: (id, name).
    pub(crate) fn live(&self) -> Vec<(String, String)> {
        let admin = self.whoami(&self.admin_token).unwrap();
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            let (status, body) =
                self.api("GET", &format!("/api/v2/tokens?limit=100&offset={offset}&showAll=true"));
            assert_eq!(status, 200, "{body}");
            let items = body["items"].as_array().cloned().unwrap_or_default();
            for t in &items {
                let id = t["_id"].as_str().unwrap_or_default().to_owned();
                if id != admin {
                    out.push((id, t["name"].as_str().unwrap_or_default().to_owned()));
                }
            }
            if items.len() < 100 {
                return out;
            }
            offset += items.len();
        }
    }

    /// The names of `live()`, sorted.
    pub(crate) fn live_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.live().into_iter().map(|(_, n)| n).collect();
        names.sort();
        names
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
