//! A small hostile HTTP server on 127.0.0.1:0 for the client's defences: each connection gets
//! one request (its head is read, any body ignored) and `answer` writes whatever raw bytes it
//! likes (endless bodies, HTML, redirects, one byte a second), then the connection closes.
//! Nothing of tokenform's own is mocked: the real client (or binary) talks to it over TCP.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A running hostile server (its threads end with the test process).
pub(crate) struct Hostile {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    hits: Arc<AtomicUsize>,
    targets: Arc<Mutex<Vec<String>>>,
}

/// What `answer` is given: the request target (`/api/v2/tokens?limit=100&offset=0`) and the
/// number of the request (0-based).
pub(crate) type Answer = dyn Fn(&str, usize, &mut TcpStream) + Send + Sync;

impl Hostile {
    pub(crate) fn start(answer: impl Fn(&str, usize, &mut TcpStream) + Send + Sync + 'static) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let targets = Arc::new(Mutex::new(Vec::new()));
        let answer: Arc<Answer> = Arc::new(answer);
        let (h, t) = (hits.clone(), targets.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let (h, t, answer) = (h.clone(), t.clone(), answer.clone());
                std::thread::spawn(move || {
                    let Some(target) = read_head(&stream) else { return };
                    let n = h.fetch_add(1, Ordering::SeqCst);
                    t.lock().unwrap().push(target.clone());
                    answer(&target, n, &mut stream);
                    let _ = stream.flush();
                });
            }
        });
        Hostile { url, hits, targets }
    }

    /// Requests answered so far.
    pub(crate) fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// The request targets seen, in arrival order.
    pub(crate) fn targets(&self) -> Vec<String> {
        self.targets.lock().unwrap().clone()
    }
}

/// Reads the request line and headers; returns the target.
fn read_head(stream: &TcpStream) -> Option<String> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let target = line.split_whitespace().nth(1)?.to_owned();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 || header == "\r\n" {
            break;
        }
    }
    Some(target)
}

/// Writes a complete answer: status line, `headers`, a `Content-Length` and `body`.
pub(crate) fn respond(stream: &mut TcpStream, status: &str, headers: &[(&str, &str)], body: &str) {
    let mut head = format!("HTTP/1.1 {status}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        let _ = write!(head, "{k}: {v}\r\n");
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
}

/// A JSON answer.
pub(crate) fn json(stream: &mut TcpStream, status: &str, body: &str) {
    respond(stream, status, &[("Content-Type", "application/json")], body);
}
