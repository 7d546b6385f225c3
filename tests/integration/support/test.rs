//! The end-to-end builder: `Test` says what a config dir holds and which dev-server it
//! talks to; `start` makes it, an `Env`, whose methods run the real binary there and read
//! back the state, the outputs and the live tokens.
//!
//! ```ignore
//! let env = Test::new().server(&["--latency-ms", "15"]).config(&tokens(3)).start();
//! env.apply(&[]);
//! assert_eq!(env.server.live_names(), names(3));
//! ```

use std::collections::BTreeMap;
use std::fmt::{Display, Write as _};
use std::io::Write as _;
use std::ops::Deref;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

use age::secrecy::ExposeSecret;
use serde_json::Value;

use super::{DevServer, text};

/// What to start: the dev-server (its flags and seed, or one already running) and the
/// config dir's settings. `new()` is the usual e2e setup: `parallelism = 4` and
/// `unmanaged { personal = true }`.
#[must_use]
pub(crate) struct Test<'s> {
    shared: Option<&'s DevServer>,
    flags: Vec<String>,
    seed: Option<String>,
    parallelism: Option<u32>,
    personal: bool,
    state: String,
    vars: Vec<(String, String)>,
    tokens: String,
}

impl Default for Test<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'s> Test<'s> {
    pub(crate) fn new() -> Self {
        Test {
            shared: None,
            flags: Vec::new(),
            seed: None,
            parallelism: Some(4),
            personal: true,
            state: String::new(),
            vars: Vec::new(),
            tokens: String::new(),
        }
    }

    /// Flags for the dev-server this test starts (e.g. `["--page-max", "20"]`).
    pub(crate) fn server(mut self, flags: &[&str]) -> Self {
        self.flags = flags.iter().map(|f| (*f).to_owned()).collect();
        self
    }

    /// The dev-server's `--seed` document.
    pub(crate) fn seed(mut self, seed: &impl Display) -> Self {
        self.seed = Some(seed.to_string());
        self
    }

    /// Talk to a dev-server that is already running (several config dirs on one account).
    pub(crate) fn on(mut self, server: &'s DevServer) -> Self {
        self.shared = Some(server);
        self
    }

    /// `parallelism = n` in the launchdarkly block.
    pub(crate) fn parallelism(mut self, n: u32) -> Self {
        self.parallelism = Some(n);
        self
    }

    /// Only `base_url` and `recipients`, in `fmt` layout (no parallelism, no unmanaged
    /// block), for tests that judge the file with `fmt --check`.
    pub(crate) fn bare(mut self) -> Self {
        self.parallelism = None;
        self.personal = false;
        self
    }

    /// Lines added to the state block after `recipients` (a backend block, a `path`).
    pub(crate) fn state(mut self, hcl: &str) -> Self {
        hcl.clone_into(&mut self.state);
        self
    }

    /// An environment variable for every command the env runs.
    pub(crate) fn env(mut self, name: &str, value: &str) -> Self {
        self.vars.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Token blocks (HCL) written with the settings at start.
    pub(crate) fn config(mut self, tokens: &str) -> Self {
        tokens.clone_into(&mut self.tokens);
        self
    }

    pub(crate) fn start(self) -> Env<'s> {
        let server = if let Some(shared) = self.shared {
            Server::Shared(shared)
        } else {
            let flags: Vec<&str> = self.flags.iter().map(String::as_str).collect();
            Server::Own(match &self.seed {
                Some(seed) => DevServer::seeded(seed, &flags),
                None => DevServer::start(&flags),
            })
        };
        let id = age::x25519::Identity::generate();
        let dir = tempfile::tempdir().unwrap();
        let identity = dir.path().join("identity.txt");
        std::fs::write(&identity, format!("{}\n", id.to_string().expose_secret())).unwrap();
        let env = Env {
            server,
            dir,
            identity,
            recipient: id.to_public().to_string(),
            parallelism: self.parallelism,
            personal: self.personal,
            state: self.state,
            vars: self.vars,
        };
        env.config(&self.tokens);
        env
    }
}

/// The dev-server an `Env` talks to: its own, or one it shares with other envs.
pub(crate) enum Server<'s> {
    Own(DevServer),
    Shared(&'s DevServer),
}

impl Deref for Server<'_> {
    type Target = DevServer;
    fn deref(&self) -> &DevServer {
        match self {
            Server::Own(s) => s,
            Server::Shared(s) => s,
        }
    }
}

/// A config dir wired to a dev-server, with an age identity (`identity.txt`) whose
/// recipient reads the state. Commands run with the config dir as their working dir too,
/// so relative paths land there.
pub(crate) struct Env<'s> {
    pub server: Server<'s>,
    pub dir: tempfile::TempDir,
    pub identity: PathBuf,
    pub recipient: String,
    parallelism: Option<u32>,
    personal: bool,
    /// Lines of the state block after `recipients` (empty: the local file).
    pub state: String,
    /// Set for every command.
    pub vars: Vec<(String, String)>,
}

impl Env<'_> {
    /// Another config dir on the same dev-server, with the same identity and settings and
    /// no tokens (another machine on one shared state).
    pub(crate) fn twin(&self) -> Env<'_> {
        let dir = tempfile::tempdir().unwrap();
        let env = Env {
            server: Server::Shared(&self.server),
            dir,
            identity: self.identity.clone(),
            recipient: self.recipient.clone(),
            parallelism: self.parallelism,
            personal: self.personal,
            state: self.state.clone(),
            vars: self.vars.clone(),
        };
        env.config("");
        env
    }

    /// Sets (or replaces) an environment variable of every command.
    #[must_use]
    pub(crate) fn with_var(mut self, name: &str, value: &str) -> Self {
        self.vars.retain(|(n, _)| n != name);
        self.vars.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The settings blocks (launchdarkly, state, unmanaged), in `fmt` layout.
    pub(crate) fn settings(&self) -> String {
        self.settings_with(&self.state)
    }

    fn settings_with(&self, state: &str) -> String {
        let mut hcl = format!("launchdarkly {{\n  base_url = \"{}\"\n", self.server.url);
        if let Some(n) = self.parallelism {
            let _ = writeln!(hcl, "  parallelism = {n}");
        }
        let _ = write!(hcl, "}}\n\nstate {{\n  recipients = [\"{}\"]\n{state}}}\n", self.recipient);
        if self.personal {
            // The admin token is a service token, and the emulator's plain list shows a
            // service-token caller no personal token at all, not even the ones it created;
            // `personal = true` makes the snapshot ask for `showAll`.
            hcl.push_str("\nunmanaged {\n  personal = true\n}\n");
        }
        hcl
    }

    /// Writes `main.hcl`: the settings blocks, then `tokens` (HCL).
    pub(crate) fn config(&self, tokens: &str) {
        self.config_with(&self.state, tokens);
    }

    /// `config` with other lines in the state block, this once.
    pub(crate) fn config_with(&self, state: &str, tokens: &str) {
        let mut hcl = self.settings_with(state);
        if !tokens.is_empty() {
            hcl.push('\n');
            hcl.push_str(tokens);
        }
        self.write("main.hcl", &hcl);
    }

    /// Writes a file into the config dir.
    pub(crate) fn write(&self, name: &str, body: &str) {
        std::fs::write(self.path(name), body).unwrap();
    }

    /// A path in the config dir.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `tokenform -C DIR`, authenticated as the admin, run from DIR.
    pub(crate) fn cmd(&self) -> Command {
        let mut cmd = self.server.tokenform(self.dir.path());
        cmd.current_dir(self.dir.path());
        for (name, value) in &self.vars {
            cmd.env(name, value);
        }
        cmd
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    /// Runs with `input` on stdin.
    pub(crate) fn run_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        let mut child = self
            .cmd()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // A refused input may be closed before it is all written.
        let _ = child.stdin.take().unwrap().write_all(input);
        child.wait_with_output().unwrap()
    }

    /// Runs `args`, which must exit 0; returns stdout.
    #[track_caller]
    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}:\n{}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `args`, which must exit 0; returns all it said (`text`: exit, stdout, stderr).
    #[track_caller]
    pub(crate) fn ok_text(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}:\n{}", text(&out));
        text(&out)
    }

    /// Runs `args` and expects exit 1 with `code` in stderr; returns stderr.
    #[track_caller]
    pub(crate) fn fails(&self, args: &[&str], code: &str) -> String {
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}:\n{}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(err.contains(code), "expected {code} from {args:?}:\n{err}");
        err
    }

    /// `apply --auto-approve` plus `extra`, which must succeed; returns stdout.
    #[track_caller]
    pub(crate) fn apply(&self, extra: &[&str]) -> String {
        self.ok(&[&["apply", "--auto-approve"], extra].concat())
    }

    pub(crate) fn plan_exit(&self) -> Option<i32> {
        self.run(&["plan", "--detailed-exitcode"]).status.code()
    }

    /// Starts `apply --auto-approve` in the background, stdout and stderr piped.
    pub(crate) fn spawn_apply(&self) -> Child {
        self.cmd()
            .args(["apply", "--auto-approve"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// The state document: the local file as it is on disk, or (with a backend) through
    /// `state pull`.
    pub(crate) fn state(&self) -> Value {
        if self.state.is_empty() {
            let raw = std::fs::read_to_string(self.path("tokenform.state.json")).unwrap();
            serde_json::from_str(&raw).unwrap()
        } else {
            serde_json::from_str(&self.ok(&["state", "pull"])).unwrap()
        }
    }

    /// address → token id, from state.
    pub(crate) fn state_ids(&self) -> BTreeMap<String, String> {
        self.state()["tokens"]
            .as_object()
            .map(|m| {
                m.iter().map(|(k, v)| (k.clone(), v["id"].as_str().unwrap_or_default().to_owned())).collect()
            })
            .unwrap_or_default()
    }

    /// id → secret, from `tokenform output --format json`.
    pub(crate) fn secrets(&self) -> BTreeMap<String, String> {
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

    /// There is a secret, and every secret the state holds authenticates as the token the
    /// state says it is.
    #[track_caller]
    pub(crate) fn assert_every_secret_authenticates(&self) {
        let ids: Vec<String> = self.state_ids().into_values().collect();
        let secrets = self.secrets();
        assert!(!secrets.is_empty());
        for (id, secret) in secrets {
            assert!(ids.contains(&id), "a secret of {id}, which the state does not list");
            assert_eq!(
                self.server.whoami(&secret),
                Ok(id.clone()),
                "the secret of {id} does not authenticate"
            );
        }
    }

    /// No local state file was written in the config dir.
    #[track_caller]
    pub(crate) fn assert_no_local_state(&self) {
        let names: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .filter(|n| n.starts_with("tokenform.state"))
            .collect();
        assert!(names.is_empty(), "local state files: {names:?}");
    }
}

/// Any object in `v` with string `id` and `secret` fields (the output format's shape aside).
pub(crate) fn collect_secrets(v: &Value, found: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(m) => {
            if let (Some(Value::String(id)), Some(Value::String(secret))) = (m.get("id"), m.get("secret")) {
                found.insert(id.clone(), secret.clone());
            }
            m.values().for_each(|x| collect_secrets(x, found));
        }
        Value::Array(a) => a.iter().for_each(|x| collect_secrets(x, found)),
        _ => {}
    }
}

/// `token "LABEL" { BODY }` (BODY: indented attribute lines).
pub(crate) fn token_block(label: &str, body: &str) -> String {
    format!("token \"{label}\" {{\n{body}\n}}\n")
}

/// `n` token blocks `t000` … (reader role).
pub(crate) fn tokens(n: usize) -> String {
    (0..n).map(|i| token_block(&format!("t{i:03}"), "  role = \"reader\"")).collect()
}

/// The names `tokens(n)` declares.
pub(crate) fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("t{i:03}")).collect()
}
