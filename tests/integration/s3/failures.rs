//! Every way the S3 backend fails: exit 1, a message naming the bucket and key and what
//! to do, and nothing written. A store that ignores conditional writes is refused.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::Method;

use super::proxy::{Proxy, Step};
use super::{Bucket, Machine, flat, fresh_key, s3};
use crate::support::{DevServer, names, text, tokens};

#[test]
fn each_store_failure_exits_1_names_the_bucket_and_key_and_writes_nothing() {
    let Some(s3) = s3() else { return };
    let server = DevServer::start(&[]);
    let key = fresh_key();
    let m = Machine::new(&server, &s3, &key);
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
    // The region comes from AWS_REGION when the block has none: a bad one is refused
    // before anything is sent, naming the variable.
    m.config(&tokens(2));
    let out = m.cmd().env("AWS_REGION", "Not A Region").args(["apply", "--auto-approve"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = flat(&String::from_utf8_lossy(&out.stderr));
    assert!(err.contains("AWS_REGION") && err.contains(&names), "{err}");

    assert!(Bucket::new(&s3).list(key.split('/').next().unwrap()).is_empty(), "nothing was written");
    assert!(server.live_names().is_empty(), "no token was created");
    m.assert_no_local_state();
}

/// How the fake store answers.
#[derive(Clone, Copy)]
enum Fake {
    /// 200 to every PUT, whatever its conditions say; 404 to every GET.
    AcceptsEveryPut,
    /// Honours `If-None-Match: *` (412 once the key exists) but ignores `If-Match`.
    IgnoresIfMatch,
    /// 503 to everything.
    Unavailable,
    /// 409 ConditionalRequestConflict to every PUT; 404 to every GET.
    Conflicts,
}

/// A tiny HTTP server on 127.0.0.1:0 answering as `fake`; returns its URL and a request count.
fn fake_store(fake: Fake) -> (String, Arc<AtomicUsize>) {
    use axum::http::{HeaderMap, StatusCode, Uri};
    use axum::response::IntoResponse;
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let created = Arc::new(Mutex::new(HashSet::new()));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let app = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap| {
                let n = seen.fetch_add(1, Ordering::SeqCst);
                let fresh = method == Method::PUT && created.lock().unwrap().insert(uri.path().to_owned());
                async move {
                    let xml = |code: &str| format!("<?xml version=\"1.0\"?><Error><Code>{code}</Code><Message>{code}</Message></Error>");
                    match (fake, method) {
                        (Fake::IgnoresIfMatch, Method::PUT) if headers.contains_key("if-none-match") && !fresh => {
                            (StatusCode::PRECONDITION_FAILED, xml("PreconditionFailed")).into_response()
                        }
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
    let m = Machine::new(&server, &s3, &fresh_key());
    m.config_with(&tokens(2), &s3.bucket, &url);
    let err = flat(&m.fails(&["apply", "--auto-approve"], "tokenform::state::s3::unconditional"));
    assert!(err.contains("ignoresconditionalwrites") && err.contains("answered200,not412"), "{err}");
    assert!(err.contains(&m.key), "{err}");
    assert!(server.live_names().is_empty(), "refused before any token was created");
    // One that honours If-None-Match but not If-Match would give a lock, but no
    // compare-and-swap of the state: refused too.
    let (url, _) = fake_store(Fake::IgnoresIfMatch);
    m.config_with(&tokens(2), &s3.bucket, &url);
    let err = flat(&m.fails(&["apply", "--auto-approve"], "tokenform::state::s3::unconditional"));
    assert!(err.contains("astaleIf-Matchanswered200,not412") && err.contains(&m.key), "{err}");
    assert!(server.live_names().is_empty());
    // The real server passes the same probe.
    m.config(&tokens(2));
    m.ok(&["apply", "--auto-approve"]);
}

#[test]
fn server_errors_are_retried_with_backoff_and_conflicts_re_read_then_fail() {
    let Some(s3) = s3() else { return };
    let server = DevServer::start(&[]);
    let m = Machine::new(&server, &s3, &fresh_key());

    let (url, count) = fake_store(Fake::Unavailable);
    m.config_with(&tokens(1), &s3.bucket, &url);
    let err = flat(&m.fails(&["plan"], "tokenform::state::s3::server"));
    assert!(err.contains("HTTP503") && err.contains(&m.key), "{err}");
    assert!(count.load(Ordering::SeqCst) > 1, "the GET was retried");

    let (url, count) = fake_store(Fake::Conflicts);
    m.config_with(&tokens(1), &s3.bucket, &url);
    let err = flat(&m.fails(&["apply", "--auto-approve"], "tokenform::state::s3::server"));
    assert!(err.contains("HTTP409ConditionalRequestConflict") && err.contains("retried"), "{err}");
    assert!(err.contains(&m.key), "{err}");
    assert!(count.load(Ordering::SeqCst) > 2, "re-read and retried");
    assert!(server.live_names().is_empty());
}

#[test]
fn transient_errors_and_lost_answers_are_retried_and_the_apply_still_succeeds() {
    let Some(s3) = s3() else { return };
    let bucket = Bucket::new(&s3);
    let server = DevServer::start(&[]);
    let key = fresh_key();
    // In front of the real server: each of these fails once, then passes.
    let (state, lock) = (format!("/{}/{key}", s3.bucket), format!("/{}/{key}.lock", s3.bucket));
    let (journal, previous) = (format!("{state}.journal/"), format!("{state}.previous/"));
    let proxy = Proxy::start(&s3.endpoint, move |r, before| match (r.method.as_str(), before) {
        _ if r.is_list() => Step::Answer(403, "AccessDenied"),
        // A 5xx on a read: retried with backoff.
        ("GET", 0) if r.path == state => Step::Answer(503, "ServiceUnavailable"),
        // Another conditional write in flight: re-read and retried.
        ("PUT", 0) if r.path == lock => Step::Answer(409, "ConditionalRequestConflict"),
        // Carried out, but the answer is lost: the retry gets 412 and the re-read finds
        // the bytes it sent. The first save (If-None-Match: *; PUT 1 is its retry), the
        // second (If-Match), each journal object (If-None-Match: *).
        ("PUT", 0 | 2) if r.path == state => Step::LoseAnswer(500, "InternalError"),
        ("PUT", 0) if r.path.starts_with(&journal) => Step::LoseAnswer(503, "SlowDown"),
        ("PUT", 0) if r.path.starts_with(&previous) => Step::Answer(503, "ServiceUnavailable"),
        _ => Step::Forward,
    });
    let mut m = Machine::new(&server, &s3, &key);
    m.point_at(&proxy.url);
    m.config(&tokens(3));
    m.ok(&["apply", "--auto-approve"]);
    m.config(&tokens(5));
    m.ok(&["apply", "--auto-approve"]);

    assert_eq!(m.plan_exit(), Some(0));
    assert_eq!(server.live_names(), names(5), "no duplicate token");
    m.assert_every_secret_authenticates();
    assert_eq!(m.state()["serial"], 2);
    assert!(bucket.list(&format!("{key}.journal")).is_empty(), "compacted");
    let suffix = |s: &str| format!("{key}{s}");
    assert!(proxy.count(&Method::PUT, &key) >= 4, "each save was sent again: {:?}", proxy.seen());
    assert!(proxy.count(&Method::PUT, &suffix(".lock")) >= 3, "the lock create was retried");
    assert!(proxy.count(&Method::GET, &key) >= 3, "the state GET was retried");
    assert!(proxy.seen().iter().all(|r| !r.is_list()), "tokenform never lists");
}

#[test]
fn a_session_token_from_the_environment_signs_every_request_and_is_never_shown() {
    let Some(s3) = s3() else { return };
    let server = DevServer::start(&[]);
    let proxy = Proxy::start(&s3.endpoint, |_, _| Step::Forward);
    let mut m = Machine::new(&server, &s3, &fresh_key());
    m.point_at(&proxy.url);
    m.config(&tokens(1));
    let token = "FQoGZXIvYXdzEXAMPLEsessiontokenforthetest0123456789";
    // Whatever the server makes of a token it did not issue, tokenform sends it (as
    // AWS_SESSION_TOKEN says) and never prints it.
    let out = m.cmd().env("AWS_SESSION_TOKEN", token).args(["plan"]).output().unwrap();
    assert!(!text(&out).contains(token), "{}", text(&out));
    let seen = proxy.seen();
    assert!(!seen.is_empty());
    assert!(seen.iter().all(|r| r.session_token.as_deref() == Some(token)), "{seen:?}");
    // Without it, none is sent.
    let before = seen.len();
    m.run(&["plan"]);
    assert!(proxy.seen()[before..].iter().all(|r| r.session_token.is_none()));
}
