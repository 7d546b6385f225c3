//! Integration tests of the PostgreSQL state backend against a real server, started by
//! `.ci/pg.sh` from `.ci/test` (which exports `TOKENFORM_TEST_PG_*`). No mock database.
//!
//! - `e2e`: two config dirs ("machines") on one workspace: shared state, the lock's
//!   Lock Info, SIGKILL and lost-connection recovery, CAS, what `pg_dump` holds.
//! - `failures`: every failure exits 1 naming the backend, with nothing written.
//! - `transfer`: `state pull | push | migrate` and `force-unlock` on PostgreSQL.
//!
//! Without `TOKENFORM_TEST_PG_URL` these tests fail, saying how to get a server; set
//! `TOKENFORM_TEST_NO_PG=1` to skip them on purpose.

mod e2e;
mod failures;
mod transfer;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use age::secrecy::ExposeSecret;
use serde_json::Value;

use crate::apply::{collect_secrets, http};
use crate::support::DevServer;

/// The test cluster's URLs, from `.ci/pg.sh`'s environment.
pub struct Pg {
    /// Superuser, `sslmode=disable` (loopback).
    pub url: String,
    /// Superuser, `sslmode=verify-full` with the cluster's CA.
    pub tls_url: String,
    pub other_ca: String,
    /// A user without CREATE on the database.
    pub limited_url: String,
    /// A transaction-pooling pgbouncer in front of the cluster, when installed.
    pub bouncer_url: Option<String>,
}

/// The cluster, or `None` (the test returns) when `TOKENFORM_TEST_NO_PG=1` says to skip.
pub fn pg() -> Option<Pg> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let Some(url) = var("TOKENFORM_TEST_PG_URL") else {
        if var("TOKENFORM_TEST_NO_PG").as_deref() == Some("1") {
            eprintln!("skipped: TOKENFORM_TEST_NO_PG=1");
            return None;
        }
        panic!(
            "TOKENFORM_TEST_PG_URL is not set: run the suite with `bash .ci/test` (it starts a \
             PostgreSQL cluster with .ci/pg.sh), or set TOKENFORM_TEST_NO_PG=1 to skip the pg tests"
        );
    };
    let need = |name: &str| var(name).unwrap_or_else(|| panic!("{name} is not set (see .ci/pg.sh)"));
    Some(Pg {
        url,
        tls_url: need("TOKENFORM_TEST_PG_TLS_URL"),
        other_ca: need("TOKENFORM_TEST_PG_OTHER_CA"),
        limited_url: need("TOKENFORM_TEST_PG_LIMITED_URL"),
        bouncer_url: var("TOKENFORM_TEST_PGBOUNCER_URL"),
    })
}

/// A schema name no other test uses.
pub fn fresh_schema() -> String {
    format!("t_{:016x}", rand::random::<u64>())
}

/// Runs SQL through `psql` (unaligned, tuples only) and returns its output, trimmed.
pub fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([url, "-X", "-qAt", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("psql runs");
    assert!(out.status.success(), "psql failed on {sql}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Polls `check` until it is true (at most 60 s: a loaded machine is slow, not stuck).
pub fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_mins(1);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// stdout and stderr of a finished command, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// One "machine": its own config dir (no local state) on a shared dev-server, with the
/// state in PostgreSQL `schema`/`workspace` reached through `conn_str`.
pub struct Machine<'a> {
    pub server: &'a DevServer,
    pub dir: tempfile::TempDir,
    pub identity: PathBuf,
    pub recipient: String,
    pub conn_str: String,
    pub schema: String,
    pub workspace: String,
}

impl<'a> Machine<'a> {
    /// A machine using `identity` (path, recipient) for the state's secrets.
    pub fn new(
        server: &'a DevServer,
        conn_str: &str,
        schema: &str,
        identity: Option<(&PathBuf, &str)>,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (identity, recipient) = identity.map_or_else(
            || {
                let id = age::x25519::Identity::generate();
                let path = dir.path().join("identity.txt");
                std::fs::write(&path, format!("{}\n", id.to_string().expose_secret())).unwrap();
                (path, id.to_public().to_string())
            },
            |(path, recipient)| (path.clone(), recipient.to_owned()),
        );
        let m = Machine {
            server,
            dir,
            identity,
            recipient,
            conn_str: conn_str.to_owned(),
            schema: schema.to_owned(),
            workspace: "default".to_owned(),
        };
        m.config("");
        m
    }

    /// A second machine on the same workspace (same identity, its own empty dir).
    pub fn twin(&self) -> Machine<'a> {
        let mut m =
            Machine::new(self.server, &self.conn_str, &self.schema, Some((&self.identity, &self.recipient)));
        m.workspace.clone_from(&self.workspace);
        m
    }

    /// Writes `main.hcl`: the pg backend plus `tokens`.
    pub fn config(&self, tokens: &str) {
        let body = format!(
            "launchdarkly {{\n  base_url = \"{}\"\n  parallelism = 2\n}}\n\nstate {{\n  recipients = [\"{}\"]\n  backend \"pg\" {{\n    schema    = \"{}\"\n    workspace = \"{}\"\n  }}\n}}\n\nunmanaged {{\n  personal = true\n}}\n\n{tokens}",
            self.server.url, self.recipient, self.schema, self.workspace
        );
        std::fs::write(self.dir.path().join("main.hcl"), body).unwrap();
    }

    pub fn cmd(&self) -> Command {
        let mut cmd = self.server.tokenform(self.dir.path());
        cmd.env("PG_CONN_STR", &self.conn_str);
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    /// Runs `args` and expects exit 1 with `code` in stderr; returns stderr.
    #[track_caller]
    pub fn fails(&self, args: &[&str], code: &str) -> String {
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}:\n{}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(err.contains(code), "expected {code} from {args:?}:\n{err}");
        err
    }

    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}:\n{}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn plan_exit(&self) -> Option<i32> {
        self.run(&["plan", "--detailed-exitcode"]).status.code()
    }

    /// Starts `apply --auto-approve` in the background, its stdout piped.
    pub fn spawn_apply(&self) -> Child {
        self.cmd()
            .args(["apply", "--auto-approve"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// The state document, through `state pull`.
    pub fn state(&self) -> Value {
        serde_json::from_str(&self.ok(&["state", "pull"])).unwrap()
    }

    /// id → secret, from `tokenform output --format json`.
    pub fn secrets(&self) -> BTreeMap<String, String> {
        let out = self
            .cmd()
            .args(["output", "--format", "json", "--identity"])
            .arg(&self.identity)
            .output()
            .unwrap();
        assert!(out.status.success(), "output failed:\n{}", text(&out));
        let mut found = BTreeMap::new();
        collect_secrets(&serde_json::from_slice(&out.stdout).unwrap(), &mut found);
        found
    }

    /// `schema.table`, quoted as tokenform quotes it.
    pub fn table(&self, table: &str) -> String {
        format!("\"{}\".{table}", self.schema)
    }

    /// No local state file was written in the config dir.
    pub fn assert_no_local_state(&self) {
        let names: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .filter(|n| n.starts_with("tokenform.state"))
            .collect();
        assert!(names.is_empty(), "local state files: {names:?}");
    }
}

/// Live token names (all members), minus the admin's own token, sorted.
pub fn live_names(server: &DevServer) -> Vec<String> {
    let (_, me) = http(&server.url, "GET", "/api/v2/caller-identity", &server.admin_token);
    let admin = me["tokenId"].as_str().unwrap_or_default().to_owned();
    let (status, body) =
        http(&server.url, "GET", "/api/v2/tokens?limit=100&showAll=true", &server.admin_token);
    assert_eq!(status, 200, "{body}");
    let mut names: Vec<String> = body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|t| t["_id"].as_str() != Some(&admin))
        .map(|t| t["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    names.sort();
    names
}

/// Every secret the state holds authenticates, as the token the state says it is.
pub fn assert_every_secret_authenticates(m: &Machine<'_>) {
    let state = m.state();
    let ids: Vec<String> = state["tokens"]
        .as_object()
        .map(|t| t.values().filter_map(|v| v["id"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let secrets = m.secrets();
    assert!(!secrets.is_empty());
    for (id, secret) in secrets {
        assert!(ids.contains(&id), "a secret of {id}, which the state does not list");
        let (status, body) = http(&m.server.url, "GET", "/api/v2/caller-identity", &secret);
        assert_eq!(status, 200, "the secret of {id} does not authenticate: {body}");
        assert_eq!(body["tokenId"].as_str(), Some(id.as_str()));
    }
}

/// `n` token blocks `t000` … (reader role).
pub fn tokens(n: usize) -> String {
    (0..n).fold(String::new(), |mut out, i| {
        let _ = writeln!(out, "token \"t{i:03}\" {{\n  role = \"reader\"\n}}");
        out
    })
}

/// The names `tokens(n)` declares.
pub fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("t{i:03}")).collect()
}

/// Reads `child`'s stdout until `n` creates completed (or it ended); returns the lines.
pub fn read_completions(child: &mut Child, n: usize) -> Vec<String> {
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    while seen.iter().filter(|l: &&String| l.contains("complete [id=")).count() < n {
        match lines.next() {
            Some(Ok(line)) => seen.push(line),
            _ => break,
        }
    }
    // Keep draining in the background so the child never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    seen
}

/// The value of `Key:` in a `Lock Info:` block.
pub fn lock_field(err: &str, key: &str) -> String {
    let prefix = format!("{key}:");
    err.lines()
        .find_map(|l| l.trim().strip_prefix(&prefix).map(|v| v.trim().to_owned()))
        .unwrap_or_else(|| panic!("no {key}: in\n{err}"))
}
