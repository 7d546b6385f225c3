//! Every way the PostgreSQL backend fails: exit 1, a message naming the backend and what
//! to do, and nothing written (no schema, no row) — never a password in the output.

use super::{Machine, Pg, fresh_schema, pg, psql};
use crate::support::{DevServer, text, tokens};

/// The password of the test cluster's URLs (to check it never leaks).
fn password(pg: &Pg) -> String {
    pg.url.split(':').nth(2).and_then(|s| s.split('@').next()).unwrap_or_default().to_owned()
}

/// Replaces the password in `url` (`postgres://user:PASS@…`).
fn with_password(url: &str, new: &str) -> String {
    let (head, rest) = url.split_once("://").unwrap();
    let (userinfo, tail) = rest.split_once('@').unwrap();
    let user = userinfo.split(':').next().unwrap();
    format!("{head}://{user}:{new}@{tail}")
}

fn schema_exists(pg: &Pg, schema: &str) -> bool {
    psql(&pg.url, &format!("SELECT count(*) FROM pg_namespace WHERE nspname = '{schema}'")) == "1"
}

#[test]
fn each_connection_failure_exits_1_names_the_backend_and_writes_nothing() {
    let Some(pg) = pg() else { return };
    let server = DevServer::start(&[]);
    let secret = password(&pg);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let cases = [
        (
            format!(
                "postgres://tokenform:{secret}@127.0.0.1:{port}/tokenform?sslmode=disable&connect_timeout=2"
            ),
            "tokenform::state::pg::connect",
        ),
        (with_password(&pg.url, "wrong-password"), "tokenform::state::pg::auth"),
        (pg.url.replace("/tokenform?", "/no_such_database?"), "tokenform::state::pg::no_database"),
        (pg.url.replace("sslmode=disable", "sslmode=bogus"), "tokenform::state::pg::bad_conn_str"),
        (pg.url.replace("127.0.0.1", "10.255.255.1"), "tokenform::state::pg::bad_conn_str"),
    ];
    for (url, code) in cases {
        let schema = fresh_schema();
        let m = Machine::new(&server, &url, &schema);
        m.config(&tokens(1));
        for args in [&["apply", "--auto-approve"][..], &["plan"], &["state", "list"]] {
            let err = m.fails(args, code);
            assert!(
                err.contains("127.0.0.1") || err.contains("PG_CONN_STR") || err.contains("10.255.255.1"),
                "{err}"
            );
            assert!(!err.contains(&secret) && !err.contains("wrong-password"), "a password leaked:\n{err}");
        }
        assert!(!schema_exists(&pg, &schema), "{code}: nothing is created");
        m.assert_no_local_state();
    }
    // plain text to a remote host is refused before any connection is tried.
    let m = Machine::new(&server, &pg.url.replace("127.0.0.1", "10.255.255.1"), &fresh_schema());
    assert!(m.fails(&["state", "list"], "bad_conn_str").contains("loopback"));

    // No connection string at all.
    let m = Machine::new(&server, "", &fresh_schema());
    let out = m.cmd().env_remove("PG_CONN_STR").args(["plan"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("tokenform::state::pg::no_conn_str") && text(&out).contains("PG_CONN_STR"));
}

#[test]
fn a_user_without_create_on_the_database_is_told_which_grant_is_missing() {
    let Some(pg) = pg() else { return };
    let server = DevServer::start(&[]);
    let schema = fresh_schema();
    let m = Machine::new(&server, &pg.limited_url, &schema);
    m.config(&tokens(1));
    // Reading an empty workspace needs nothing; the first write must create the schema.
    assert_eq!(m.plan_exit(), Some(2));
    let err = m.fails(&["apply", "--auto-approve"], "tokenform::state::pg::permission");
    assert!(err.contains(&schema) && err.contains("CREATE SCHEMA"), "{err}");
    assert!(!schema_exists(&pg, &schema));
    assert!(server.live_names().is_empty(), "no token was created before the state could be written");

    // Once an admin made the schema and tables for someone else, the user may not use them.
    let owner = Machine::new(&server, &pg.url, &schema);
    owner.config(&tokens(1));
    owner.ok(&["apply", "--auto-approve"]);
    let err = m.fails(&["state", "list"], "tokenform::state::pg::permission");
    assert!(err.contains("permission denied"), "{err}");
}

#[test]
fn tls_verify_full_and_require_work_and_the_wrong_ca_is_refused() {
    let Some(pg) = pg() else { return };
    let server = DevServer::start(&[]);
    let schema = fresh_schema();
    let full = Machine::new(&server, &pg.tls_url, &schema);
    full.config(&tokens(1));
    full.ok(&["apply", "--auto-approve"]);
    assert_eq!(full.plan_exit(), Some(0));
    // The same state over `require` (encrypted, certificate unchecked).
    let require = full.twin();
    let require_url = pg.tls_url.split('?').next().unwrap().to_owned() + "?sslmode=require";
    let require = require.with_conn(&require_url);
    require.config(&tokens(1));
    assert_eq!(require.plan_exit(), Some(0));
    // A CA that did not sign the server's certificate.
    let other = pg.tls_url.replace(&std::env::var("TOKENFORM_TEST_PG_CA").unwrap(), &pg.other_ca);
    let wrong = full.twin().with_conn(&other);
    wrong.config(&tokens(1));
    let err = wrong.fails(&["state", "list"], "tokenform::state::pg::connect");
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    // verify-full without a CA file is refused up front.
    let no_ca = full.twin().with_conn(pg.tls_url.split('&').next().unwrap());
    no_ca.config(&tokens(1));
    assert!(no_ca.fails(&["state", "list"], "tokenform::state::pg::tls").contains("sslrootcert"));
}

#[test]
fn a_transaction_pooling_proxy_is_refused() {
    let Some(pg) = pg() else { return };
    let Some(bouncer) = pg.bouncer_url.clone() else {
        panic!(
            "TOKENFORM_TEST_PGBOUNCER_URL is not set: .ci/test installs pgbouncer and .ci/pg.sh starts it"
        );
    };
    let server = DevServer::start(&[]);
    let schema = fresh_schema();
    // The schema exists (made directly), so only the lock decides.
    let direct = Machine::new(&server, &pg.url, &schema);
    direct.config(&tokens(1));
    direct.ok(&["apply", "--auto-approve"]);
    let pooled = direct.twin().with_conn(&bouncer);
    pooled.config(&tokens(2));
    let err = pooled.fails(&["apply", "--auto-approve"], "tokenform::state::pg::pooled");
    assert!(err.contains("transaction-pooling"), "{err}");
    assert_eq!(server.live_names(), ["t000"], "nothing was created");
    assert_eq!(direct.plan_exit(), Some(0), "the state is as the direct apply left it");
}
