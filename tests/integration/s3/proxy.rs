//! A forwarding proxy on 127.0.0.1:0 in front of the real S3 server, for what SeaweedFS
//! cannot be made to do on cue: refuse a LIST, answer 503 or 409 once, lose the answer to
//! a request it did carry out. Requests reach the server unchanged (the `Host` header
//! too, so their SigV4 signatures still verify) and the real server decides every write;
//! the proxy only replaces an answer, or answers instead of it.

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};

/// One request the proxy was sent.
#[derive(Debug, Clone)]
pub(super) struct Seen {
    pub method: Method,
    /// `/BUCKET/KEY…` (path-style requests).
    pub path: String,
    pub query: String,
    /// Its `x-amz-security-token` header (`AWS_SESSION_TOKEN`), if any.
    pub session_token: Option<String>,
}

impl Seen {
    /// A bucket-level GET: LIST (ListObjects, ListObjectsV2), which tokenform never sends.
    pub(super) fn is_list(&self) -> bool {
        self.method == Method::GET
            && (!self.path.trim_matches('/').contains('/') || self.query.contains("list-type"))
    }
}

/// What the proxy does with one request.
#[derive(Debug, Clone, Copy)]
pub(super) enum Step {
    /// Pass it on, and the server's answer back.
    Forward,
    /// Answer `status` with the S3 error `code`; the server never sees the request.
    Answer(u16, &'static str),
    /// Pass it on (the server carries it out), then answer `status` with `code` instead
    /// of the server's answer: an answer lost on the way back.
    LoseAnswer(u16, &'static str),
}

/// Decides a request's [`Step`], given how many requests with the same method and path
/// came before it.
type Rule = dyn Fn(&Seen, usize) -> Step + Send + Sync;

struct Inner {
    upstream: String,
    client: reqwest::Client,
    rule: Box<Rule>,
    seen: Mutex<Vec<Seen>>,
}

/// A running proxy (its thread ends with the test process).
pub(super) struct Proxy {
    /// `http://127.0.0.1:PORT`: the endpoint to configure.
    pub url: String,
    inner: Arc<Inner>,
}

impl Proxy {
    pub(super) fn start(
        upstream: &str,
        rule: impl Fn(&Seen, usize) -> Step + Send + Sync + 'static,
    ) -> Proxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        // Bodies pass through as they are: no decompression, no proxy from the environment.
        let client = reqwest::Client::builder().no_gzip().no_proxy().build().unwrap();
        let inner = Arc::new(Inner {
            upstream: upstream.trim_end_matches('/').to_owned(),
            client,
            rule: Box::new(rule),
            seen: Mutex::new(Vec::new()),
        });
        let shared = inner.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
                    let inner = shared.clone();
                    async move { handle(&inner, request).await }
                });
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, app).await.unwrap();
            });
        });
        Proxy { url, inner }
    }

    /// Every request so far, in arrival order.
    pub(super) fn seen(&self) -> Vec<Seen> {
        self.inner.seen.lock().unwrap().clone()
    }

    /// How many requests had `method` and a path ending in `suffix`.
    pub(super) fn count(&self, method: &Method, suffix: &str) -> usize {
        self.seen().iter().filter(|s| s.method == *method && s.path.ends_with(suffix)).count()
    }
}

fn s3_error(status: u16, code: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap();
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{code} (from the test proxy)</Message></Error>"
    );
    (status, [("content-type", "application/xml")], body).into_response()
}

async fn handle(inner: &Inner, request: axum::extract::Request) -> Response {
    let (parts, body) = request.into_parts();
    let seen = Seen {
        method: parts.method.clone(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        session_token: parts
            .headers
            .get("x-amz-security-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    };
    let step = {
        let mut all = inner.seen.lock().unwrap();
        let before = all.iter().filter(|s| s.method == seen.method && s.path == seen.path).count();
        all.push(seen.clone());
        (inner.rule)(&seen, before)
    };
    if let Step::Answer(status, code) = step {
        return s3_error(status, code);
    }
    let Ok(bytes) = axum::body::to_bytes(body, 256 << 20).await else {
        return s3_error(400, "IncompleteBody");
    };
    let mut headers: HeaderMap = parts.headers.clone();
    for hop in ["connection", "transfer-encoding", "keep-alive"] {
        headers.remove(hop);
    }
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let sent = inner
        .client
        .request(parts.method.clone(), format!("{}{target}", inner.upstream))
        .headers(headers)
        .body(bytes)
        .send()
        .await;
    let answer = match sent {
        Ok(answer) => answer,
        Err(e) => return s3_error(502, &format!("UpstreamUnreachable: {e}")),
    };
    let status = answer.status();
    let mut headers = answer.headers().clone();
    let body = answer.bytes().await.unwrap_or_default();
    if let Step::LoseAnswer(status, code) = step {
        return s3_error(status, code);
    }
    for hop in ["connection", "transfer-encoding", "keep-alive"] {
        headers.remove(hop);
    }
    let mut response = Response::new(axum::body::Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}
