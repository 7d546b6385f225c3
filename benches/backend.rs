//! State backends: PostgreSQL (`backend`) and S3 (`backend_s3`) against the local file,
//! on the same machine.
//!
//! - apply of 1,000 creates (the real binary against `tokenform dev-server`, no latency):
//!   total and per create;
//! - load and save of 10,000 tokens with secrets (the store, in process);
//! - one journal record, and lock acquire + release (open exclusive, drop).
//!
//! Uses the cluster in `TOKENFORM_TEST_PG_URL`, or starts one with `.ci/pg.sh` (fsync on,
//! and stops it); the S3 server in `TOKENFORM_TEST_S3_*`, or starts SeaweedFS with
//! `.ci/s3.sh` (and stops it).

#![allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)] // figures for people

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use tokenform::model::Address;
use tokenform::secret::Secret;
use tokenform::state::model::TokenState;
use tokenform::state::settings::{DEFAULT_LOCK_LEASE, PgSettings, S3Settings};
use tokenform::state::{
    BackendEnv, BackendSettings, EncryptMode, Identities, JournalRecord, LockMode, StateSettings, StateStore,
};

/// A cluster started for the benchmark, stopped on drop.
struct Cluster {
    dir: Option<String>,
    url: String,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = Command::new("bash").args([".ci/pg.sh", "stop", dir]).status();
        }
    }
}

fn cluster() -> Cluster {
    if let Ok(url) = std::env::var("TOKENFORM_TEST_PG_URL") {
        return Cluster { dir: None, url };
    }
    // Durable commits, like the local file's fsyncs: a fair comparison.
    let out =
        Command::new("bash").args([".ci/pg.sh", "start"]).env("TOKENFORM_PG_FSYNC", "on").output().unwrap();
    assert!(out.status.success(), "pg.sh start: {}", String::from_utf8_lossy(&out.stderr));
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let env = std::fs::read_to_string(format!("{dir}/env")).unwrap();
    let url = env
        .lines()
        .find_map(|l| l.strip_prefix("export TOKENFORM_TEST_PG_URL='"))
        .and_then(|v| v.strip_suffix('\''))
        .unwrap()
        .to_owned();
    Cluster { dir: Some(dir), url }
}

fn schema() -> String {
    format!("bench_{:08x}", rand::random::<u32>())
}

fn settings(dir: &Path, pg: Option<&str>, recipient: &str) -> StateSettings {
    let mut s = StateSettings::local(
        dir.join("tokenform.state.json"),
        vec![recipient.to_owned()],
        EncryptMode::Secrets,
    );
    if let Some(schema) = pg {
        s.backend = BackendSettings::Pg(PgSettings { schema: schema.to_owned(), ..PgSettings::default() });
    }
    s
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

pub(crate) fn run() {
    let cluster = cluster();
    let env =
        BackendEnv::new([("PG_CONN_STR".to_owned(), Secret::new(cluster.url.clone()))], Some("bench".into()));
    let id = age::x25519::Identity::generate();
    let recipient = id.to_public().to_string();
    let ids = Identities { identities: vec![Box::new(id)] };

    println!("backend: PostgreSQL (loopback, sslmode=disable) against the local file");
    println!(
        "  (lock = open exclusive + drop: for pg that includes connecting and the pooling probe's 2nd connection)"
    );
    for (name, pg) in [("local", None), ("pg   ", Some(schema()))] {
        let dir = tempfile::tempdir().unwrap();
        let s = settings(dir.path(), pg.as_deref(), &recipient);
        store_figures(name, &s, &env, &ids);
    }

    let server = crate::apply::server(&[]);
    for (name, pg) in [("local", None), ("pg   ", Some(schema()))] {
        let dir = tempfile::tempdir().unwrap();
        let backend =
            pg.map_or_else(String::new, |s| format!("  backend \"pg\" {{\n    schema = \"{s}\"\n  }}\n"));
        config(dir.path(), &server.url, &recipient, &backend, 1000);
        apply_figure(name, dir.path(), &server, &[("PG_CONN_STR", &cluster.url)]);
    }
}

/// Lock acquire + release, save and load of 10,000 tokens with secrets, one journal record.
fn store_figures(name: &str, s: &StateSettings, env: &BackendEnv, ids: &Identities) {
    let exclusive = || LockMode::Exclusive { timeout: Duration::ZERO, command: "bench".into() };
    // Lock acquire + release: open exclusive on an empty state, drop.
    let rounds = 50;
    drop(StateStore::open_in(s, env, exclusive(), None).unwrap()); // creates the schema
    let start = Instant::now();
    for _ in 0..rounds {
        drop(StateStore::open_in(s, env, exclusive(), None).unwrap());
    }
    let lock = start.elapsed() / rounds;
    // 10,000 tokens with secrets: save (the first creates the document, the later ones
    // also keep the replaced one as a previous version), load.
    let mut store = StateStore::open_in(s, env, exclusive(), None).unwrap();
    let now = jiff::Timestamp::now();
    let records: Vec<JournalRecord> = (0..10_000)
        .map(|i| {
            let secret = Secret::new(format!("api-0a1b2c3d-0000-4000-8000-{i:012x}"));
            let mut t = TokenState::new(format!("{i:024x}"), format!("token-{i}"), "reader", now);
            t.secret = Some(store.seal(&secret, &[], now).unwrap());
            JournalRecord::Upsert { address: Address::keyed("t", i.to_string()), token: Box::new(t) }
        })
        .collect();
    store.record_all(records).unwrap();
    let mut saves = Vec::new();
    for _ in 0..3 {
        let start = Instant::now();
        store.save().unwrap();
        saves.push(start.elapsed());
    }
    // One journal record on a 10,000-token state (what apply pays per change).
    let k = 200;
    let start = Instant::now();
    for i in 0..k {
        let t = TokenState::new(format!("{i:024x}"), format!("renamed-{i}"), "reader", now);
        store
            .record(JournalRecord::Upsert { address: Address::keyed("t", i.to_string()), token: Box::new(t) })
            .unwrap();
    }
    let record = start.elapsed() / k;
    store.save().unwrap();
    drop(store);
    let mut load = Duration::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        let store = StateStore::open_in(s, env, LockMode::Shared, Some(ids)).unwrap();
        load = load.min(start.elapsed());
        assert_eq!(store.state().tokens.len(), 10_000);
    }
    let replacing = saves[1].min(saves[2]);
    println!(
        "  {name}: lock acquire+release {}  | 10,000 tokens: save {} (first {}, replacing {})  load {}  | record() one change {}",
        ms(lock),
        ms(saves[0].min(replacing)),
        ms(saves[0]),
        ms(replacing),
        ms(load),
        ms(record)
    );
}

/// `tokenform apply --auto-approve -q` of the configuration in `dir` (1,000 creates), as a
/// process with `vars` in its environment.
fn apply_figure(name: &str, dir: &Path, server: &crate::apply::Server, vars: &[(&str, &str)]) {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_tokenform"))
        .arg("-C")
        .arg(dir)
        .args(["apply", "--auto-approve", "-q"])
        .env("LAUNCHDARKLY_ACCESS_TOKEN", &server.admin)
        .envs(vars.iter().copied())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let took = start.elapsed();
    assert!(out.status.success(), "apply failed: {}", String::from_utf8_lossy(&out.stderr));
    println!(
        "  {name}: apply of 1,000 creates (parallelism 8, no latency): {:.2} s, {} per create",
        took.as_secs_f64(),
        ms(took / 1000)
    );
}

/// A SeaweedFS started for the benchmark by `.ci/s3.sh` (stopped on drop), or the caller's
/// server from `TOKENFORM_TEST_S3_*`.
struct SeaweedFs {
    dir: Option<String>,
    endpoint: String,
    bucket: String,
    access_key: String,
    secret_key: String,
}

impl Drop for SeaweedFs {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = Command::new("bash").args([".ci/s3.sh", "stop", dir]).status();
        }
    }
}

fn seaweedfs() -> SeaweedFs {
    let from = |vars: &dyn Fn(&str) -> Option<String>, dir: Option<String>| SeaweedFs {
        dir,
        endpoint: vars("TOKENFORM_TEST_S3_ENDPOINT").unwrap(),
        bucket: vars("TOKENFORM_TEST_S3_BUCKET").unwrap(),
        access_key: vars("TOKENFORM_TEST_S3_ACCESS_KEY_ID").unwrap(),
        secret_key: vars("TOKENFORM_TEST_S3_SECRET_ACCESS_KEY").unwrap(),
    };
    if std::env::var("TOKENFORM_TEST_S3_ENDPOINT").is_ok() {
        return from(&|name: &str| std::env::var(name).ok(), None);
    }
    let out = Command::new("bash").args([".ci/s3.sh", "start"]).output().unwrap();
    assert!(out.status.success(), "s3.sh start: {}", String::from_utf8_lossy(&out.stderr));
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let env = std::fs::read_to_string(format!("{dir}/env")).unwrap();
    let var = |name: &str| {
        env.lines()
            .find_map(|l| l.strip_prefix(&format!("export {name}='")))
            .and_then(|v| v.strip_suffix('\''))
            .map(str::to_owned)
    };
    from(&var, Some(dir))
}

/// S3 (SeaweedFS on loopback) against the local file: the same figures as [`run`].
pub(crate) fn run_s3() {
    let s3 = seaweedfs();
    let env = BackendEnv::new(
        [
            ("AWS_ACCESS_KEY_ID".to_owned(), Secret::new(s3.access_key.clone())),
            ("AWS_SECRET_ACCESS_KEY".to_owned(), Secret::new(s3.secret_key.clone())),
        ],
        Some("bench".into()),
    );
    let id = age::x25519::Identity::generate();
    let recipient = id.to_public().to_string();
    let ids = Identities { identities: vec![Box::new(id)] };
    let key = || format!("bench-{:08x}/tokenform.state.json", rand::random::<u32>());
    let s3_settings = |key: String| S3Settings {
        bucket: s3.bucket.clone(),
        key,
        region: None,
        endpoint: Some(s3.endpoint.clone()),
        lock_lease: DEFAULT_LOCK_LEASE,
    };

    println!("backend: S3 (SeaweedFS `weed mini` on loopback, plain http, SigV4) against the local file");
    println!(
        "  (lock = open exclusive + drop: for S3 that includes the probe's 4 conditional PUTs, HEAD and DELETE, \
         reading the state and the journal, taking and releasing the lock object)"
    );
    for (name, on_s3) in [("local", false), ("s3   ", true)] {
        let dir = tempfile::tempdir().unwrap();
        let mut s = settings(dir.path(), None, &recipient);
        if on_s3 {
            s.backend = BackendSettings::S3(s3_settings(key()));
        }
        store_figures(name, &s, &env, &ids);
    }

    let server = crate::apply::server(&[]);
    for (name, on_s3) in [("local", false), ("s3   ", true)] {
        let dir = tempfile::tempdir().unwrap();
        let backend = if on_s3 {
            format!(
                "  backend \"s3\" {{\n    bucket   = \"{}\"\n    key      = \"{}\"\n    endpoint = \"{}\"\n  }}\n",
                s3.bucket,
                key(),
                s3.endpoint
            )
        } else {
            String::new()
        };
        config(dir.path(), &server.url, &recipient, &backend, 1000);
        let vars = [
            ("AWS_ACCESS_KEY_ID", s3.access_key.as_str()),
            ("AWS_SECRET_ACCESS_KEY", s3.secret_key.as_str()),
        ];
        apply_figure(name, dir.path(), &server, &vars);
    }
}

/// `main.hcl` with `n` creates and `backend` (a backend block, or nothing) in its state.
fn config(dir: &Path, url: &str, recipient: &str, backend: &str, n: usize) {
    let mut body = format!(
        "launchdarkly {{\n  base_url = \"{url}\"\n  parallelism = 8\n}}\nstate {{\n  recipients = [\"{recipient}\"]\n{backend}}}\n"
    );
    for i in 0..n {
        let _ = write!(body, "token \"t{i:05}\" {{\n  role = \"reader\"\n}}\n");
    }
    std::fs::write(dir.join("main.hcl"), body).unwrap();
}
