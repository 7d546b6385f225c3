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

use std::ops::Deref;
use std::path::PathBuf;
use std::sync::Arc;

use futures::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::support::{DevServer, Env, Test};

/// The test server, from `.ci/s3.sh`'s environment (or a caller's own).
#[derive(Clone)]
pub(crate) struct S3 {
    pub endpoint: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
    /// The server's data directory, when it runs on this machine.
    pub data_dir: Option<PathBuf>,
}

/// The server, or `None` (the test returns) when `TOKENFORM_TEST_NO_S3=1` says to skip.
pub(crate) fn s3() -> Option<S3> {
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
pub(crate) fn flat(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace() && !matches!(c, '│' | '×' | '·')).collect()
}

/// A key prefix no other test uses.
pub(crate) fn fresh_key() -> String {
    format!("t-{:016x}/tokenform.state.json", rand::random::<u64>())
}

/// Direct access to the bucket, behind tokenform's back (what an old tool or a hand edit does).
pub(crate) struct Bucket {
    store: Arc<AmazonS3>,
    runtime: tokio::runtime::Runtime,
}

impl Bucket {
    pub(crate) fn new(s3: &S3) -> Self {
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

    pub(crate) fn get(&self, key: &str) -> Option<Vec<u8>> {
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
    pub(crate) fn put(&self, key: &str, bytes: Vec<u8>) {
        let path = ObjectPath::from(key);
        self.runtime.block_on(async { self.store.put(&path, PutPayload::from(bytes)).await.unwrap() });
    }

    /// Every key under `prefix`, sorted (LIST: the tests may, tokenform never does).
    pub(crate) fn list(&self, prefix: &str) -> Vec<String> {
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
pub(crate) struct Machine<'a> {
    env: Env<'a>,
    pub s3: S3,
    pub key: String,
}

impl<'a> Deref for Machine<'a> {
    type Target = Env<'a>;
    fn deref(&self) -> &Env<'a> {
        &self.env
    }
}

/// The state block's s3 backend (a 3 s lock lease).
fn backend(bucket: &str, key: &str, endpoint: &str) -> String {
    format!(
        "  backend \"s3\" {{\n    bucket     = \"{bucket}\"\n    key        = \"{key}\"\n    endpoint   = \"{endpoint}\"\n    lock_lease = \"3s\"\n  }}\n"
    )
}

impl<'a> Machine<'a> {
    pub(crate) fn new(server: &'a DevServer, s3: &S3, key: &str) -> Self {
        let env = Test::new()
            .on(server)
            .parallelism(2)
            .state(&backend(&s3.bucket, key, &s3.endpoint))
            .env("AWS_ACCESS_KEY_ID", &s3.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &s3.secret_key)
            .start();
        Machine { env, s3: s3.clone(), key: key.to_owned() }
    }

    /// A second machine on the same key (same identity, its own empty dir).
    pub(crate) fn twin(&self) -> Machine<'_> {
        Machine { env: self.env.twin(), s3: self.s3.clone(), key: self.key.clone() }
    }

    /// From now on, the backend block's `endpoint` is `endpoint` (a proxy in front of the
    /// test server).
    pub(crate) fn point_at(&mut self, endpoint: &str) {
        self.env.state = backend(&self.s3.bucket, &self.key, endpoint);
    }

    /// Writes `main.hcl` with this bucket and endpoint, this once.
    pub(crate) fn config_with(&self, tokens: &str, bucket: &str, endpoint: &str) {
        self.env.config_with(&backend(bucket, &self.key, endpoint), tokens);
    }
}
