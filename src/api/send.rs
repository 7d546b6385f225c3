//! Sending one logical request: a slot from the [`Pacer`](super::pacer::Pacer), then attempts
//! with the retries its kind allows ([`super::retry`] decides). Each answer's body is read up
//! to a cap and a success must be JSON; redirects are refused (the token goes to the
//! configured host only); transport failures are named by host and cause. Every wait is
//! said on stderr (`notices`), and all the waiting of one request is capped
//! ([`RetryPolicy::max_wait`](super::RetryPolicy)). Nothing here prints a secret: bodies
//! reach the trace redacted, errors carry no body but LaunchDarkly's `code`/`message`.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use reqwest::Method;
use reqwest::header::HeaderMap;

use super::client::{Client, Inner};
use super::error::ApiError;
use super::pacer::{Ticket, Wait, route_of};
use super::retry::{Repeat, retryable_status};
use super::trace::body_for_trace;
use crate::endpoint::LAUNCHDARKLY_HOSTS;

/// How a request is sent and what it tolerates.
pub(super) struct Req {
    pub method: Method,
    pub path: String,
    pub query: Vec<(&'static str, String)>,
    pub body: Option<Vec<u8>>,
    pub repeat: Repeat,
    /// DELETE: a 404 after an attempt that may have been performed means it succeeded.
    pub not_found_ok_after_retry: bool,
}

impl Req {
    pub(super) fn get(path: String) -> Self {
        Req {
            method: Method::GET,
            path,
            query: Vec::new(),
            body: None,
            repeat: Repeat::Safe,
            not_found_ok_after_retry: false,
        }
    }
}

/// A successful (or tolerated) answer.
pub(super) struct Answer {
    pub status: u16,
    pub body: Bytes,
}

fn now_ms() -> i64 {
    crate::emulator::store::now_ms()
}

/// `1.5 s`, `30 s`, `2 min 5 s`: how long, for people.
pub(super) fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 10_000 && !ms.is_multiple_of(1000) {
        format!("{:.1} s", d.as_secs_f64())
    } else if d.as_secs() < 120 {
        format!("{} s", d.as_secs())
    } else if d.as_secs().is_multiple_of(60) {
        format!("{} min", d.as_secs() / 60)
    } else {
        format!("{} min {} s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

/// Why one attempt did not give a usable answer.
enum Failure {
    /// No (complete) answer: the request may or may not have been performed.
    Transport { reason: String, connect: bool },
    /// The server answered with a body too large to read.
    TooLarge,
}

/// The body, read chunk by chunk up to `cap` bytes (a body without a length is not trusted).
async fn read_capped(mut resp: reqwest::Response, cap: usize) -> Result<Bytes, ReadError> {
    if resp.content_length().is_some_and(|n| n > cap as u64) {
        return Err(ReadError::TooLarge);
    }
    let mut buf = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(ReadError::Http)? {
        if buf.len() + chunk.len() > cap {
            return Err(ReadError::TooLarge);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(buf))
}

enum ReadError {
    TooLarge,
    Http(reqwest::Error),
}

/// Whether a `Content-Type` value is JSON (`application/json`, `…+json`, with parameters).
fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

impl Inner {
    /// `LaunchDarkly` for its own hosts, else `host:port`: who answers, for notices.
    fn who(&self) -> String {
        let host = self.host.split(':').next().unwrap_or_default();
        if LAUNCHDARKLY_HOSTS.contains(&host) { "LaunchDarkly".into() } else { self.host.clone() }
    }

    fn notice(&self, line: &str) {
        if let Some(n) = &self.notices {
            n.line(line);
        }
    }

    fn trace(&self, line: &str) {
        if let Some(t) = &self.trace {
            t.line(line);
        }
    }

    /// A reqwest error in a few words naming the host: "cannot connect to 127.0.0.1:9
    /// (connection refused)", "no answer from … within 30 s (timed out)".
    fn describe(&self, e: &reqwest::Error, timeout: Duration) -> String {
        let host = &self.host;
        let mut chain = Vec::new();
        let mut src = std::error::Error::source(e);
        let mut io_kind = None;
        while let Some(inner) = src {
            if let Some(io) = inner.downcast_ref::<std::io::Error>() {
                io_kind.get_or_insert(io.kind());
            }
            chain.push(inner.to_string());
            src = inner.source();
        }
        let detail = chain.last().cloned().unwrap_or_else(|| e.to_string());
        if e.is_timeout() {
            return format!("no answer from {host} within {} (timed out)", human(timeout));
        }
        if e.is_connect() {
            let cause = match io_kind {
                Some(std::io::ErrorKind::ConnectionRefused) => "connection refused".to_owned(),
                Some(std::io::ErrorKind::TimedOut) => "timed out".to_owned(),
                _ if chain.iter().any(|c| c.contains("dns error")) => {
                    format!("cannot resolve the name: {detail}")
                }
                _ => detail,
            };
            return format!("cannot connect to {host} ({cause})");
        }
        if e.is_body() || e.is_decode() {
            return format!("the answer from {host} broke off ({detail})");
        }
        format!("{host}: {}", if chain.is_empty() { e.to_string() } else { chain.join(": ") })
    }
}

impl Client {
    /// Sends one logical request, with the retries its kind allows.
    pub(super) async fn send(&self, req: &Req) -> Result<Answer, ApiError> {
        let inner = &*self.inner;
        let method = req.method.as_str();
        let url = format!("{}{}", inner.base, req.path);
        let shown = if req.query.is_empty() {
            url.clone()
        } else {
            let q: Vec<String> = req.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{url}?{}", q.join("&"))
        };
        let route = route_of(method, &req.path);
        let policy = &inner.retry;
        let started = Instant::now();
        let mut retries = 0u32;
        let mut rate_limited = 0u32;
        // Whether an earlier attempt may have been performed (no definite refusal came back).
        let mut maybe_performed = false;
        let give_up = |last: String, maybe_performed: bool| {
            if req.repeat == Repeat::NotPerformedOnly && maybe_performed {
                ApiError::OutcomeUnknown { method: method.into(), path: req.path.clone(), why: last }
            } else {
                ApiError::GaveUp {
                    method: method.into(),
                    url: shown.clone(),
                    waited: human(started.elapsed()),
                    max: human(policy.max_wait),
                    last,
                }
            }
        };
        // Whether waiting `d` more stays within the request's budget.
        let affordable = |d: Duration| started.elapsed() + d <= policy.max_wait;
        loop {
            let ticket = loop {
                match inner.pacer.admit(&route, now_ms()) {
                    Ok(t) => break t,
                    Err(Wait { wait, announce, limit }) => {
                        if !affordable(wait) {
                            let asked = format!(
                                "rate limited by {}, which asks to wait {}",
                                inner.who(),
                                human(wait)
                            );
                            return Err(give_up(asked, maybe_performed));
                        }
                        inner.trace(&format!(
                            "   rate-limit window spent: waiting {} ms for its reset",
                            wait.as_millis()
                        ));
                        if announce {
                            let per =
                                limit.map(|l| format!(" ({l} requests per window)")).unwrap_or_default();
                            inner.notice(&format!(
                                "rate limit of {} reached{per}: waiting {} for the window to reset",
                                inner.who(),
                                human(wait)
                            ));
                        }
                        tokio::time::sleep(wait).await;
                    }
                }
            };
            let attempt = retries + rate_limited;
            let left = policy.max_wait.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Err(give_up("no time left".into(), maybe_performed));
            }
            let timeout = inner.timeout.min(left);
            inner.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut builder = inner
                .http
                .request(req.method.clone(), &url)
                .header("authorization", inner.auth.clone())
                .timeout(timeout);
            if !req.query.is_empty() {
                builder = builder.query(&req.query);
            }
            if let Some(body) = &req.body {
                builder = builder.header("content-type", "application/json").body(body.clone());
            }
            if inner.trace.is_some() {
                let retry = if attempt > 0 { format!(" (retry {attempt})") } else { String::new() };
                inner.trace(&format!("-> {method} {shown}{retry}  Authorization: <redacted>"));
                if let Some(body) = &req.body {
                    inner.trace(&format!("   {}", body_for_trace(body)));
                }
            }
            let sent_at = Instant::now();
            let outcome = self.attempt(builder, &ticket, timeout).await;
            let (status, headers, body) = match outcome {
                Ok(answer) => answer,
                Err(Failure::TooLarge) => {
                    inner.trace(&format!("<- {method} {} larger than {} bytes", req.path, inner.max_body));
                    if req.repeat == Repeat::NotPerformedOnly {
                        let why = format!("the answer was larger than {} bytes", inner.max_body);
                        return Err(ApiError::OutcomeUnknown {
                            method: method.into(),
                            path: req.path.clone(),
                            why,
                        });
                    }
                    return Err(ApiError::BodyTooLarge {
                        method: method.into(),
                        url: shown,
                        limit: inner.max_body,
                    });
                }
                Err(Failure::Transport { reason, connect }) => {
                    inner.trace(&format!("<- {method} {} failed: {reason}", req.path));
                    // A connection that never opened carried nothing; anything later may have.
                    if req.repeat == Repeat::NotPerformedOnly && !connect {
                        return Err(ApiError::OutcomeUnknown {
                            method: method.into(),
                            path: req.path.clone(),
                            why: reason,
                        });
                    }
                    maybe_performed |= !connect;
                    let wait = policy.backoff(retries);
                    if retries >= policy.max_retries {
                        return Err(ApiError::Transport { method: method.into(), url: shown, reason });
                    }
                    if !affordable(wait) {
                        return Err(give_up(reason, maybe_performed));
                    }
                    retries += 1;
                    inner.notice(&format!(
                        "{method} {shown}: {reason}; retrying in {}, attempt {} of {}",
                        human(wait),
                        retries + 1,
                        policy.max_retries + 1
                    ));
                    tokio::time::sleep(wait).await;
                    continue;
                }
            };
            if inner.trace.is_some() {
                let rl: Vec<String> = headers
                    .iter()
                    .filter(|(k, _)| k.as_str().starts_with("x-ratelimit-") || k.as_str() == "retry-after")
                    .filter_map(|(k, v)| v.to_str().ok().map(|v| format!("{k}={v}")))
                    .collect();
                inner.trace(&format!(
                    "<- {status} {method} {} in {} ms {}",
                    req.path,
                    sent_at.elapsed().as_millis(),
                    rl.join(" ")
                ));
                let b = body_for_trace(&body);
                if !b.is_empty() {
                    inner.trace(&format!("   {b}"));
                }
            }
            if (300..400).contains(&status) {
                let location =
                    headers.get("location").and_then(|v| v.to_str().ok()).map(crate::escape::excerpt);
                return Err(ApiError::Redirect { method: method.into(), url: shown, status, location });
            }
            let content_type =
                headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
            if (200..300).contains(&status)
                || (status == 404 && req.not_found_ok_after_retry && maybe_performed)
            {
                if (200..300).contains(&status)
                    && !body.is_empty()
                    && !content_type.is_empty()
                    && !is_json(&content_type)
                {
                    let shown_type: String = content_type.chars().take(80).collect();
                    if req.repeat == Repeat::NotPerformedOnly {
                        let why = format!("the answer was {shown_type}, not JSON");
                        return Err(ApiError::OutcomeUnknown {
                            method: method.into(),
                            path: req.path.clone(),
                            why,
                        });
                    }
                    return Err(ApiError::NotJson {
                        method: method.into(),
                        url: shown,
                        content_type: shown_type,
                    });
                }
                return Ok(Answer { status, body });
            }
            if status == 429 && rate_limited < policy.max_rate_limit_retries {
                let wait = policy.rate_limit_wait(&headers, now_ms(), rate_limited);
                if !affordable(wait) {
                    let asked =
                        format!("rate limited by {}, which asks to wait {}", inner.who(), human(wait));
                    return Err(give_up(asked, maybe_performed));
                }
                rate_limited += 1;
                inner.notice(&format!(
                    "rate limited by {}: waiting {}, attempt {} of {}",
                    inner.who(),
                    human(wait),
                    rate_limited + 1,
                    policy.max_rate_limit_retries + 1
                ));
                tokio::time::sleep(wait).await;
                continue;
            }
            if status != 429 && retryable_status(status, req.repeat) && retries < policy.max_retries {
                // 409 and 503 are refusals; other 5xx may come after the work was done.
                maybe_performed |= status >= 500 && status != 503;
                let wait = policy.backoff(retries);
                if !affordable(wait) {
                    return Err(give_up(format!("answered {status}"), maybe_performed));
                }
                retries += 1;
                inner.notice(&format!(
                    "{method} {shown}: answered {status}; retrying in {}, attempt {} of {}",
                    human(wait),
                    retries + 1,
                    policy.max_retries + 1
                ));
                tokio::time::sleep(wait).await;
                continue;
            }
            if req.repeat == Repeat::NotPerformedOnly && status >= 500 && status != 503 {
                // A 500/502/504 may come after the server (or a proxy) acted on it.
                let why = format!("it answered {status}");
                return Err(ApiError::OutcomeUnknown { method: method.into(), path: req.path.clone(), why });
            }
            return Err(ApiError::from_status(method, &req.path, status, &body));
        }
    }

    /// One attempt: the answer's status, headers and capped body (the pacer reads the headers).
    async fn attempt(
        &self,
        builder: reqwest::RequestBuilder,
        ticket: &Ticket,
        timeout: Duration,
    ) -> Result<(u16, HeaderMap, Bytes), Failure> {
        let inner = &*self.inner;
        // The error chain may carry what the server sent: redacted, cut, escaped.
        let transport = |e: &reqwest::Error| Failure::Transport {
            reason: crate::escape::excerpt(&inner.describe(e, timeout)),
            connect: e.is_connect(),
        };
        let resp = builder.send().await.map_err(|e| transport(&e))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        inner.pacer.observe(ticket, &headers, now_ms());
        match read_capped(resp, inner.max_body).await {
            Ok(body) => Ok((status, headers, body)),
            Err(ReadError::TooLarge) => Err(Failure::TooLarge),
            // The headers came, the body broke off: the request was received.
            Err(ReadError::Http(e)) => Err(Failure::Transport {
                reason: crate::escape::excerpt(&inner.describe(&e, timeout)),
                connect: false,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types() {
        for ct in [
            "application/json",
            "application/json; charset=utf-8",
            "application/problem+json",
            "Application/JSON",
        ] {
            assert!(is_json(ct), "{ct}");
        }
        for ct in ["text/html", "text/html; charset=utf-8", "text/plain", "application/jsonx"] {
            assert!(!is_json(ct), "{ct}");
        }
    }

    #[test]
    fn waits_read_like_a_person_wrote_them() {
        assert_eq!(human(Duration::from_millis(400)), "0.4 s");
        assert_eq!(human(Duration::from_secs(30)), "30 s");
        assert_eq!(human(Duration::from_millis(9_925)), "9.9 s");
        assert_eq!(human(Duration::from_hours(1)), "60 min");
        assert_eq!(human(Duration::from_secs(125)), "2 min 5 s");
    }
}
