//! A minimal HTTP/1.1 client for reading and poking the emulator behind tokenform's back
//! (the tests need no HTTP client crate): one request a connection, JSON bodies.

use std::io::{Read, Write};
use std::net::TcpStream;

use serde_json::Value;

/// `method path` with `Authorization: auth` and no body: status and JSON body (`Null` when
/// the body is not JSON). 429 and 503 (the emulator's fault knobs) are retried.
pub(crate) fn http(base: &str, method: &str, path: &str, auth: &str) -> (u16, Value) {
    for _ in 0..50 {
        let (status, body) = request(base, method, path, auth, None);
        if status != 429 && status != 503 {
            return (status, body);
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    panic!("{method} {path}: still 429/503 after 50 tries");
}

/// `method path` with a JSON `body`, sent once: the JSON answer, which must be JSON.
pub(crate) fn send_json(base: &str, method: &str, path: &str, auth: &str, body: &str) -> Value {
    let (status, answer) = request(base, method, path, auth, Some(body));
    assert!(!answer.is_null(), "{method} {path}: {status} without a JSON body");
    answer
}

fn request(base: &str, method: &str, path: &str, auth: &str, body: Option<&str>) -> (u16, Value) {
    let host = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).unwrap();
    let (kind, body) = match body {
        Some(body) => ("Content-Type", body),
        None => ("Accept", ""),
    };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\n{kind}: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}
