//! Every way the S3 backend fails: exit 1, a message naming the bucket and key and what
//! to do, and nothing written. A store that ignores conditional writes is refused.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Bucket, Machine, flat, fresh_key, s3};
use crate::pg::{live_names, tokens};
use crate::support::DevServer;

#[test]
fn each_store_failure_exits_1_names_the_bucket_and_key_and_writes_nothing() {
    let Some(s3) = s3() else { return };
    let server = DevServer::start(&[]);
    let key = fresh_key();
    let m = Machine::new(&server, &s3, &key, None);
    m.config(&tokens(2));
    let names = flat(&format!("s3://{}/{key}", s3.bucket));

    // No credentials (either half missing): nothing is even sent.
    for unset in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
        let out = m.cmd().env_remove(unset).args(["apply", "--auto-approve"]).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        let err = flat(&String::from_utf8_lossy(&out.stderr));
        assert!(err.contains("tokenform::state::s3::no_credentials") && err.contains(unset), "{err}");
        assert!(err.contains(&names), "{err}");
    }
    // Wrong secret key: 403, named, and the key never shown.
    let out = m
        .cmd()
        .env("AWS_SECRET_ACCESS_KEY", "not-the-secret")
        .args(["apply", "--auto-approve"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = flat(&String::from_utf8_lossy(&out.stderr));
    assert!(err.contains("tokenform::state::s3::denied") && err.contains(&names), "{err}");
    assert!(err.contains("AWS_SECRET_ACCESS_KEY"), "says what to check: {err}");
    assert!(!err.contains(&s3.secret_key) && !err.contains("not-the-secret"), "{err}");
    // A bucket that does not exist.
    m.config_with(&tokens(2), "no-such-bucket-here", &s3.endpoint);
    let err = flat(&m.fails(&["apply", "--auto-approve"], "tokenform::state::s3::no_bucket"));
    assert!(err.contains("no-such-bucket-here"), "{err}");
    // Network down: nothing listens on the endpoint.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    m.config_with(&tokens(2), &s3.bucket, &format!("http://127.0.0.1:{port}"));
    let err = flat(&m.fails(&["apply", "--auto-approve"], "tokenform::state::s3::unreachable"));
    assert!(err.contains(&format!("127.0.0.1:{port}")) && err.contains(&key), "{err}");
    let err = flat(&m.fails(&["plan"], "tokenform::state::s3::unreachable"));
    assert!(err.contains(&key), "{err}");

    assert!(Bucket::new(&s3).list(key.split('/').next().unwrap()).is_empty(), "nothing was written");
    assert!(live_names(&server).is_empty(), "no token was created");
    m.assert_no_local_state();
}

/// How the fake store answers.
#[derive(Clone, Copy)]
enum Fake {
    /// 200 to every PUT, whatever its conditions say; 404 to every GET.
    AcceptsEveryPut,
    /// 503 to everything.
    Unavailable,
    /// 409 ConditionalRequestConflict to every PUT; 404 to every GET.
    Conflicts,
}

/// A tiny HTTP server on 127.0.0.1:0 answering as `fake`; returns its URL and a request count.
fn fake_store(fake: Fake) -> (String, Arc<AtomicUsize>) {
    use axum::http::{Method, StatusCode};
    use axum::response::IntoResponse;
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let app = axum::Router::new().fallback(move |method: Method| {
                let n = seen.fetch_add(1, Ordering::SeqCst);
                async move {
                    let xml = |code: &str| format!("<?xml version=\"1.0\"?><Error><Code>{code}</Code><Message>{code}</Message></Error>");
                    match (fake, method) {
                        (Fake::Unavailable, _) => (StatusCode::SERVICE_UNAVAILABLE, xml("ServiceUnavailable")).into_response(),
                        (Fake::Conflicts, Method::PUT) => (StatusCode::CONFLICT, xml("ConditionalRequestConflict")).into_response(),
                        (_, Method::PUT) => (StatusCode::OK, [("etag", format!("\"etag-{n}\""))], "").into_response(),
                        (_, Method::DELETE) => StatusCode::NO_CONTENT.into_response(),
                        _ => (StatusCode::NOT_FOUND, xml("NoSuchKey")).into_response(),
                    }
                }
            });
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    (url, count)
}

#[test]
fn a_store_that_ignores_conditional_writes_is_refused_by_the_probe() {
    let Some(s3) = s3() else { return };
    let server = DevServer::start(&[]);
    let (url, _) = fake_store(Fake::AcceptsEveryPut);
    let m = Machine::new(&server, &s3, &fresh_key(), None);
    m.config_with(&tokens(2), &s3.bucket, &url);
    let err = flat(&m.fails(&["apply", "--auto-approve"], "tokenform::state::s3::unconditional"));
    assert!(err.contains("ignoresconditionalwrites") && err.contains("answered200,not412"), "{err}");
    assert!(err.contains(&m.key), "{err}");
    assert!(live_names(&server).is_empty(), "refused before any token was created");
    // The real server passes the same probe.
    m.config(&tokens(2));
    m.ok(&["apply", "--auto-approve"]);
}

#[test]
fn server_errors_are_retried_with_backoff_and_conflicts_re_read_then_fail() {
    let Some(s3) = s3() else { return };
    let server = DevServer::start(&[]);
    let m = Machine::new(&server, &s3, &fresh_key(), None);

    let (url, count) = fake_store(Fake::Unavailable);
    m.config_with(&tokens(1), &s3.bucket, &url);
    let err = flat(&m.fails(&["plan"], "tokenform::state::s3::server"));
    assert!(err.contains("HTTP503") && err.contains(&m.key), "{err}");
    assert!(count.load(Ordering::SeqCst) > 1, "the GET was retried");

    let (url, count) = fake_store(Fake::Conflicts);
    m.config_with(&tokens(1), &s3.bucket, &url);
    let err = flat(&m.fails(&["apply", "--auto-approve"], "tokenform::state::s3::server"));
    assert!(err.contains("HTTP409ConditionalRequestConflict") && err.contains("retried"), "{err}");
    assert!(count.load(Ordering::SeqCst) > 2, "re-read and retried");
    assert!(live_names(&server).is_empty());
}
