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

use std::ops::Deref;
use std::process::Command;

use crate::support::{DevServer, Env, Test};

/// The test cluster's URLs, from `.ci/pg.sh`'s environment.
pub(crate) struct Pg {
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
pub(crate) fn pg() -> Option<Pg> {
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
pub(crate) fn fresh_schema() -> String {
    format!("t_{:016x}", rand::random::<u64>())
}

/// Runs SQL through `psql` (unaligned, tuples only) and returns its output, trimmed.
pub(crate) fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([url, "-X", "-qAt", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("psql runs");
    assert!(out.status.success(), "psql failed on {sql}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// One "machine": its own config dir (no local state) on a shared dev-server, with the
/// state in PostgreSQL `schema` (workspace `default`) reached through `PG_CONN_STR`.
pub(crate) struct Machine<'a> {
    env: Env<'a>,
    pub schema: String,
}

impl<'a> Deref for Machine<'a> {
    type Target = Env<'a>;
    fn deref(&self) -> &Env<'a> {
        &self.env
    }
}

impl<'a> Machine<'a> {
    pub(crate) fn new(server: &'a DevServer, conn_str: &str, schema: &str) -> Self {
        let backend =
            format!("  backend \"pg\" {{\n    schema    = \"{schema}\"\n    workspace = \"default\"\n  }}\n");
        let env = Test::new().on(server).parallelism(2).state(&backend).env("PG_CONN_STR", conn_str).start();
        Machine { env, schema: schema.to_owned() }
    }

    /// A second machine on the same workspace (same identity, its own empty dir).
    pub(crate) fn twin(&self) -> Machine<'_> {
        Machine { env: self.env.twin(), schema: self.schema.clone() }
    }

    /// The same machine reaching the cluster through another connection string.
    #[must_use]
    pub(crate) fn with_conn(self, conn_str: &str) -> Self {
        Machine { env: self.env.with_var("PG_CONN_STR", conn_str), schema: self.schema }
    }

    /// `schema.table`, quoted as tokenform quotes it.
    pub(crate) fn table(&self, table: &str) -> String {
        format!("\"{}\".{table}", self.schema)
    }
}
