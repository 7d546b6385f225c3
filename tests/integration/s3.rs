//! Integration tests of the S3 state backend against a real S3 server (SeaweedFS, which
//! honours `If-None-Match` / `If-Match` atomically), started by `.ci/s3.sh` from
//! `.ci/test` (which exports `TOKENFORM_TEST_S3_*`). No mock store stands in for it; the
//! one fake store here exists to be refused.
//!
//! - `e2e`: two config dirs ("machines") on one key: shared state, the lock's Lock Info,
//!   SIGKILL and recovery on the other machine, CAS, what the server's data dir holds.
//! - `failures`: every failure exits 1 naming the bucket and key, with nothing written;
//!   a store that ignores conditional writes is refused by the probe.
//! - `transfer`: `state pull | push | migrate` and `force-unlock` on S3.
//! - `proxy`: a forwarding proxy in front of the real server that refuses LIST, or answers
//!   503 / 409 once, or loses an answer, for the retry and recovery paths.
//!
//! Without `TOKENFORM_TEST_S3_ENDPOINT` these tests fail, saying how to get a server; set
//! `TOKENFORM_TEST_NO_S3=1` to skip them on purpose.

mod e2e;
mod failures;
mod proxy;
mod transfer;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;

use age::secrecy::ExposeSecret;
use futures::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde_json::Value;

use crate::apply::{collect_secrets, http};
use crate::pg::text;
use crate::support::DevServer;

/// The test server, from `.ci/s3.sh`'s environment (or a caller's own).
#[derive(Clone)]
pub struct S3 {
    pub endpoint: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
    /// The server's data directory, when it runs on this machine.
    pub data_dir: Option<PathBuf>,
}

/// The server, or `None` (the test returns) when `TOKENFORM_TEST_NO_S3=1` says to skip.
pub fn s3() -> Option<S3> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let Some(endpoint) = var("TOKENFORM_TEST_S3_ENDPOINT") else {
        if var("TOKENFORM_TEST_NO_S3").as_deref() == Some("1") {
            eprintln!("skipped: TOKENFORM_TEST_NO_S3=1");
            return None;
        }
        panic!(
            "TOKENFORM_TEST_S3_ENDPOINT is not set: run the suite with `bash .ci/test` (it starts \
             SeaweedFS with .ci/s3.sh), or set TOKENFORM_TEST_NO_S3=1 to skip the S3 tests"
        );
    };
    let need = |name: &str| var(name).unwrap_or_else(|| panic!("{name} is not set (see .ci/s3.sh)"));
    Some(S3 {
        endpoint,
        bucket: need("TOKENFORM_TEST_S3_BUCKET"),
        access_key: need("TOKENFORM_TEST_S3_ACCESS_KEY_ID"),
        secret_key: need("TOKENFORM_TEST_S3_SECRET_ACCESS_KEY"),
        data_dir: var("TOKENFORM_TEST_S3_DATA_DIR").map(PathBuf::from),
    })
}

/// `text` without whitespace and miette's box drawing, so that a wrapped message still
/// contains what it names (compare with `flat` of the expected text too).
pub fn flat(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace() && !matches!(c, '│' | '×' | '·')).collect()
}

/// A key prefix no other test uses.
pub fn fresh_key() -> String {
    format!("t-{:016x}/tokenform.state.json", rand::random::<u64>())
}

/// Direct access to the bucket, behind tokenform's back (what an old tool or a hand edit does).
pub struct Bucket {
    store: Arc<AmazonS3>,
    runtime: tokio::runtime::Runtime,
}

impl Bucket {
    pub fn new(s3: &S3) -> Self {
        let store = AmazonS3Builder::new()
            .with_endpoint(&s3.endpoint)
            .with_allow_http(true)
            .with_bucket_name(&s3.bucket)
            .with_region("us-east-1")
            .with_access_key_id(&s3.access_key)
            .with_secret_access_key(&s3.secret_key)
            .build()
            .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        Bucket { store: Arc::new(store), runtime }
    }

    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        let path = ObjectPath::from(key);
        self.runtime.block_on(async {
            match self.store.get(&path).await {
                Ok(r) => Some(r.bytes().await.unwrap().to_vec()),
                Err(object_store::Error::NotFound { .. }) => None,
                Err(e) => panic!("GET {key}: {e}"),
            }
        })
    }

    /// A plain (unconditional) PUT, as a tool that ignores the lock would do.
    pub fn put(&self, key: &str, bytes: Vec<u8>) {
        let path = ObjectPath::from(key);
        self.runtime.block_on(async { self.store.put(&path, PutPayload::from(bytes)).await.unwrap() });
    }

    /// Every key under `prefix`, sorted (LIST: the tests may, tokenform never does).
    pub fn list(&self, prefix: &str) -> Vec<String> {
        let prefix = ObjectPath::from(prefix);
        self.runtime.block_on(async {
            let mut keys: Vec<String> = self
                .store
                .list(Some(&prefix))
                .map(|m| m.unwrap().location.to_string())
                .collect::<Vec<_>>()
                .await;
            keys.sort();
            keys
        })
    }
}

/// One "machine": its own config dir (no local state) on a shared dev-server, with the
/// state in `bucket`/`key` of the test server.
pub struct Machine<'a> {
    pub server: &'a DevServer,
    pub s3: S3,
    pub dir: tempfile::TempDir,
    pub identity: PathBuf,
    pub recipient: String,
    pub key: String,
    /// The backend block's `endpoint` (the test server's, unless a test points elsewhere).
    pub endpoint: String,
}

impl<'a> Machine<'a> {
    pub fn new(server: &'a DevServer, s3: &S3, key: &str, identity: Option<(&PathBuf, &str)>) -> Self {
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
            s3: s3.clone(),
            dir,
            identity,
            recipient,
            key: key.to_owned(),
            endpoint: s3.endpoint.clone(),
        };
        m.config("");
        m
    }

    /// A second machine on the same key (same identity, its own empty dir).
    pub fn twin(&self) -> Machine<'a> {
        Machine::new(self.server, &self.s3, &self.key, Some((&self.identity, &self.recipient)))
    }

    /// Writes `main.hcl`: the s3 backend (a 3 s lock lease) plus `tokens`.
    pub fn config(&self, tokens: &str) {
        self.config_with(tokens, &self.s3.bucket, &self.endpoint);
    }

    pub fn config_with(&self, tokens: &str, bucket: &str, endpoint: &str) {
        let body = format!(
            "launchdarkly {{\n  base_url = \"{}\"\n  parallelism = 2\n}}\n\nstate {{\n  recipients = [\"{}\"]\n  backend \"s3\" {{\n    bucket     = \"{bucket}\"\n    key        = \"{}\"\n    endpoint   = \"{endpoint}\"\n    lock_lease = \"3s\"\n  }}\n}}\n\nunmanaged {{\n  personal = true\n}}\n\n{tokens}",
            self.server.url, self.recipient, self.key
        );
        std::fs::write(self.dir.path().join("main.hcl"), body).unwrap();
    }

    pub fn cmd(&self) -> Command {
        let mut cmd = self.server.tokenform(self.dir.path());
        cmd.env("AWS_ACCESS_KEY_ID", &self.s3.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &self.s3.secret_key)
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION");
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
