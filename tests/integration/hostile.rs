//! The client against servers that misbehave (issue 11 items 3, 4, 7, 9): an endless body, a
//! list that never advances, redirects, HTML, a refused connection, a server that drips one
//! byte a second, and 429s asking for an hour. Each ends in bounded time and memory with an
//! error naming the URL (or host) and the cause, and every wait is said on stderr. Text
//! the server sends (undecodable values, error messages) reaches progress lines and errors
//! escaped, redacted and cut short. The
//! servers are small raw-TCP ones on 127.0.0.1:0 (`support::hostile`); the client is real.

use std::io::Write;
use std::net::TcpListener;
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokenform::api::{ApiError, Client, ClientOptions, MAX_BODY, RetryPolicy, TraceSink};
use tokenform::secret::Secret;

use crate::support::hostile::{Hostile, json, respond};
use crate::support::{config_dir, stderr, tokenform, words};

const TOKEN: &str = "api-0a1b2c3d-0000-4000-8000-00000000beef";

fn client(url: &str, tweak: impl FnOnce(&mut ClientOptions)) -> Client {
    let mut o = ClientOptions::new(url, Secret::new(TOKEN));
    o.retry = RetryPolicy {
        max_retries: 2,
        max_rate_limit_retries: 3,
        base: Duration::from_millis(5),
        cap: Duration::from_secs(2),
        max_wait: Duration::from_mins(1),
    };
    tweak(&mut o);
    Client::new(o).unwrap()
}

/// A buffer that collects notice (or trace) lines.
fn sink() -> (TraceSink, Arc<Mutex<Vec<u8>>>) {
    let buffer = Arc::new(Mutex::new(Vec::<u8>::new()));
    let writer: Arc<Mutex<dyn Write + Send>> = buffer.clone();
    (TraceSink::new(writer), buffer)
}

fn text(buffer: &Arc<Mutex<Vec<u8>>>) -> String {
    String::from_utf8_lossy(&buffer.lock().unwrap()).into_owned()
}

/// `tokenform plan` on a configuration whose base_url is `url`; stderr with miette's
/// wrapping undone (words, not layout).
fn plan(url: &str, args: &[&str]) -> (Output, String) {
    run(url, &[args, &["plan"]].concat())
}

/// `tokenform ARGS` on the same configuration.
fn run(url: &str, args: &[&str]) -> (Output, String) {
    let main = format!(
        "launchdarkly {{\n  base_url = \"{url}\"\n}}\n\nstate {{\n  recipients = [\"age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\"]\n}}\n\ntoken \"ci\" {{\n  role = \"reader\"\n}}\n"
    );
    let dir = config_dir(&[("main.hcl", &main)]);
    let out = tokenform()
        .arg("-C")
        .arg(dir.path())
        .args(args)
        .env("LAUNCHDARKLY_ACCESS_TOKEN", TOKEN)
        .output()
        .unwrap();
    let words = words(&stderr(&out));
    (out, words)
}

fn page(ids: std::ops::Range<u32>, total: Option<u64>, next: Option<&str>) -> String {
    let items: Vec<_> = ids
        .map(|i| {
            json!({"_id": format!("{i:024x}"), "ownerId": "o", "memberId": "m", "name": format!("t{i}"),
                         "creationDate": 1, "lastModified": 1, "_links": {}})
        })
        .collect();
    let mut body = json!({"items": items, "_links": {}});
    if let Some(t) = total {
        body["totalCount"] = json!(t);
    }
    if let Some(n) = next {
        body["_links"]["next"] = json!({"href": n, "type": "application/json"});
    }
    body.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_body_is_cut_off_with_an_error_naming_the_url() {
    // 200 on the list with no Content-Length, streaming forever (the issue saw 4.3 GB)
    let server = Hostile::start(|_, _, stream| {
        let _ = stream.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{\"items\":[",
        );
        let chunk = vec![b' '; 64 * 1024];
        while stream.write_all(&chunk).is_ok() {}
    });
    let err = client(&server.url, |_| {}).list_tokens(false).await.unwrap_err();
    assert!(matches!(err, ApiError::BodyTooLarge { limit, .. } if limit == MAX_BODY), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&format!("{}/api/v2/tokens?limit=100&offset=0", server.url)), "{msg}");
    assert!(msg.contains("larger than 8388608 bytes"), "{msg}");

    // a declared length over the cap is refused before reading anything
    let server = Hostile::start(|_, _, stream| {
        let _ = stream.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4294967296\r\n\r\n",
        );
    });
    let err = client(&server.url, |o| o.max_body = 1000).caller_identity().await.unwrap_err();
    assert!(matches!(err, ApiError::BodyTooLarge { limit: 1000, .. }), "{err:?}");
    // through the binary: the same error, exit 1
    let server = Hostile::start(|_, _, stream| {
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n[");
        let chunk = vec![b' '; 64 * 1024];
        while stream.write_all(&chunk).is_ok() {}
    });
    let (out, err) = plan(&server.url, &[]);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("body_too_large") && err.contains(&server.url), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_that_never_advances_stops_as_soon_as_a_page_brings_nothing_new() {
    // a cache that drops the query: the same page at every offset, in three flavours
    for (total, next) in [(Some(1_000_000_000), None), (None, Some("/api/v2/tokens")), (None, None)] {
        let body = page(0..20, total, next);
        let server = Hostile::start(move |_, _, stream| json(stream, "200 OK", &body));
        let err = client(&server.url, |_| {}).list_tokens(false).await.unwrap_err();
        let ApiError::ListStuck { ref url, ref reason } = err else { panic!("{err:?}") };
        assert_eq!(url, &format!("{}/api/v2/tokens?limit=100&offset=20", server.url));
        assert!(reason.contains("no new item"), "{reason}");
        assert!(err.to_string().contains("does not advance the list"), "{err}");
        assert!(server.hits() <= 1 + 8, "{} requests for {total:?}/{next:?}", server.hits());
    }
    // fresh items forever, past the 30 announced
    let server = Hostile::start(|target, _, stream| {
        let offset: u32 = target.rsplit("offset=").next().and_then(|o| o.parse().ok()).unwrap_or(0);
        json(stream, "200 OK", &page(offset..offset + 20, Some(30), None));
    });
    let err = client(&server.url, |o| o.page_concurrency = 1).list_tokens(false).await.unwrap_err();
    assert!(matches!(err, ApiError::ListStuck { ref reason, .. } if reason.contains("30 items")), "{err:?}");
    assert_eq!(server.hits(), 3);
    // through the binary
    let body = page(0..20, Some(1_000_000_000), None);
    let server = Hostile::start(move |target, _, stream| {
        if target.starts_with("/api/v2/tokens") {
            json(stream, "200 OK", &body);
        } else {
            json(stream, "200 OK", &json!({"items": [], "totalCount": 0, "tokenId": "x"}).to_string());
        }
    });
    let (out, err) = plan(&server.url, &[]);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("does not advance the list") && err.contains(&server.url), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_and_html_are_named_not_followed() {
    let server = Hostile::start(|_, _, stream| {
        respond(stream, "301 Moved Permanently", &[("Location", "https://login.evil.invalid/")], "");
    });
    let err = client(&server.url, |_| {}).caller_identity().await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ApiError::Redirect { status: 301, .. }), "{err:?}");
    assert!(msg.contains("answered 301 (redirects are not followed)") && msg.contains(&server.url), "{msg}");
    assert_eq!(server.hits(), 1, "the redirect target is never contacted, nor the request repeated");

    let server = Hostile::start(|_, _, stream| {
        respond(stream, "200 OK", &[("Content-Type", "text/html; charset=utf-8")], "<html>Sign in</html>");
    });
    let err = client(&server.url, |_| {}).caller_identity().await.unwrap_err();
    assert!(err.to_string().contains("answered text/html; charset=utf-8, not JSON"), "{err}");
    let (out, err) = plan(&server.url, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("not JSON") && !err.contains("Sign in"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transport_errors_name_host_and_cause_and_each_retry_is_said() {
    // a port nobody listens on
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let (notices, buffer) = sink();
    let err = client(&url, |o| o.notices = Some(notices)).caller_identity().await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&format!("cannot connect to 127.0.0.1:{port} (connection refused)")), "{msg}");
    let said = text(&buffer);
    assert!(said.contains("(connection refused); retrying in") && said.contains("attempt 3 of 3"), "{said}");

    // a server that drips one byte a second: each attempt times out, and says so
    let server = Hostile::start(|_, _, stream| {
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n");
        for _ in 0..100 {
            if stream.write_all(b" ").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    let (notices, buffer) = sink();
    let drip = client(&server.url, |o| {
        o.timeout = Duration::from_millis(1500);
        o.retry.max_retries = 1;
        o.notices = Some(notices);
    });
    let err = drip.caller_identity().await.unwrap_err();
    let host = server.url.trim_start_matches("http://");
    assert!(err.to_string().contains(&format!("no answer from {host} within 1.5 s (timed out)")), "{err}");
    assert!(text(&buffer).contains("(timed out); retrying in"), "{}", text(&buffer));
    assert_eq!(server.hits(), 2);

    // the binary: notices on stderr without -v, and --max-wait ends the retries early
    let (out, err) = plan(&url, &["--max-wait", "1s"]);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("cannot connect to 127.0.0.1:{port} (connection refused); retrying in")),
        "{err}"
    );
    assert!(err.contains("gave up after") && err.contains("--max-wait"), "{err}");
    let (_, quiet) = plan(&url, &["-q", "--max-wait", "1s"]);
    assert!(!quiet.contains("retrying in") && quiet.contains("gave up"), "-q keeps only the error: {quiet}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_waits_are_said_and_capped() {
    // Retry-After: 3600 (the issue saw 12 silent waits of 30 s): more than --max-wait allows,
    // so it gives up at once, saying why
    let server = Hostile::start(|_, _, stream| {
        respond(
            stream,
            "429 Too Many Requests",
            &[("Retry-After", "3600"), ("Content-Type", "application/json")],
            r#"{"code":"rate_limited","message":"slow down"}"#,
        );
    });
    let (out, err) = plan(&server.url, &[]);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("asks to wait 60 min") && err.contains("the limit of 5 min"), "{err}");
    assert!(server.hits() <= 3, "at most one 429 per request (list, identity, roles), none repeated");

    // Retry-After: 1, forever: each wait is said with its attempt number, then --max-wait ends it
    let server = Hostile::start(|_, _, stream| {
        respond(
            stream,
            "429 Too Many Requests",
            &[("Retry-After", "1"), ("Content-Type", "application/json")],
            r#"{"code":"rate_limited","message":"slow down"}"#,
        );
    });
    let host = server.url.trim_start_matches("http://").to_owned();
    let (out, err) = plan(&server.url, &["--max-wait", "2s"]);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("rate limited by {host}: waiting 1")), "{err}");
    assert!(err.contains("attempt 2 of 13"), "{err}");
    assert!(err.contains("gave_up") && err.contains("the limit of 2 s"), "{err}");
}

/// The first character of `s` that must not reach a terminal raw (line breaks and tabs are layout).
fn unsafe_char(s: &str) -> Option<char> {
    s.chars().find(|c| {
        (c.is_control() && !matches!(c, '\n' | '\t'))
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_quoting_the_server_cannot_drive_the_terminal() {
    const EVIL: &str = "evil\u{1b}[2J\u{1b}[31mRED\u{7}\u{0}\u{9b}1m\u{202e}";
    // A page the client cannot decode, where serde quotes the offending value: an unknown
    // `effect` (serde writes `unknown variant `…`` with the text raw) carrying a secret too.
    let bad_effect = format!("{EVIL}{TOKEN}");
    let body = json!({"items": [{"_id": "t1", "name": "x", "inlineRole": [
        {"effect": bad_effect, "actions": ["*"], "resources": ["*"]}]}], "totalCount": 1})
    .to_string();
    let server = Hostile::start(move |target, _, stream| {
        if target.starts_with("/api/v2/tokens") {
            json(stream, "200 OK", &body);
        } else {
            json(stream, "200 OK", &json!({"items": [], "totalCount": 0, "tokenId": "x"}).to_string());
        }
    });
    let err = client(&server.url, |_| {}).list_tokens(false).await.unwrap_err();
    assert!(matches!(err, ApiError::Decode { .. }), "{err:?}");
    let msg = err.to_string();
    assert_eq!(unsafe_char(&msg), None, "{msg:?}");
    assert!(msg.contains("unknown variant `evil\\u{1b}[2J"), "{msg}");
    assert!(!msg.contains("beef") && msg.contains("api-<redacted>"), "{msg}");
    let (out, words) = plan(&server.url, &[]);
    assert_eq!(out.status.code(), Some(1), "{words}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(unsafe_char(&stderr), None, "{stderr:?}");
    assert!(words.contains("tokenform::api::decode") && !words.contains("beef"), "{words}");

    // An error status whose message (and code) carry the same, in a long message.
    let message = format!("{EVIL} {}", "x".repeat(10_000));
    let body = json!({"code": EVIL, "message": message}).to_string();
    let server = Hostile::start(move |_, _, stream| {
        respond(stream, "400 Bad Request", &[("Content-Type", "application/json")], &body);
    });
    let (out, words) = plan(&server.url, &[]);
    assert_eq!(out.status.code(), Some(1), "{words}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(unsafe_char(&stderr), None, "{stderr:?}");
    assert!(words.contains("evil\\u{1b}[2J"), "{words}");
    assert!(stderr.len() < 4_000, "the message is cut short: {} bytes", stderr.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_step_s_progress_line_and_error_cannot_drive_the_terminal() {
    const EVIL: &str = "evil\u{1b}[2J\u{1b}[31mRED\u{7}\u{0}\u{9b}1m\u{202e}";
    // Reads answer normally; the create (a POST to the bare list path) is refused with a
    // message carrying escape sequences, which apply's progress line and error repeat.
    let refusal = json!({"code": "invalid_request", "message": format!("bad name {EVIL}")}).to_string();
    let server = Hostile::start(move |target, _, stream| {
        if target == "/api/v2/tokens" {
            respond(stream, "400 Bad Request", &[("Content-Type", "application/json")], &refusal);
        } else if target.starts_with("/api/v2/tokens") {
            json(stream, "200 OK", &json!({"items": [], "totalCount": 0}).to_string());
        } else {
            json(stream, "200 OK", &json!({"items": [], "totalCount": 0, "tokenId": "x"}).to_string());
        }
    });
    let (out, words) = run(&server.url, &["apply", "--auto-approve"]);
    assert_eq!(out.status.code(), Some(1), "{words}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(unsafe_char(&stdout), None, "{stdout:?}");
    assert_eq!(unsafe_char(&stderr), None, "{stderr:?}");
    // The progress line (stdout) and the error (stderr) both show it, escaped.
    assert!(
        stdout.contains(
            "token.ci: Error: POST /api/v2/tokens failed: 400 invalid_request: bad name evil\\u{1b}[2J"
        ),
        "{stdout}"
    );
    assert!(words.contains("bad name evil\\u{1b}[2J"), "{words}");
}
