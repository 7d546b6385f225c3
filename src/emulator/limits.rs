//! Rate limits and fault injection, as one axum middleware. With `rate_limit` set, the limit
//! is account-wide (LaunchDarkly's "global" limit) and every answer carries its headers as
//! docs/ld-api-notes.md §5 describes them: `X-Ratelimit-Global-Limit`,
//! `X-Ratelimit-Global-Remaining` (after this request) and `X-Ratelimit-Reset` (the window's
//! end, epoch milliseconds); past the limit the answer is 429 `rate_limited` with the same
//! headers (no `Retry-After`: that one belongs to IP limits). Without a limit no rate-limit
//! header is sent ("each set of headers appears only when the limit is enforced"). Then
//! `latency` is added and `fail_rate` turns a request into 503 `service_unavailable` BEFORE
//! the handler runs, so a 503 never performed anything. Knows nothing about tokens.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::routes::error_response;
use super::store::now_ms;

/// Fault and limit knobs.
#[derive(Debug, Clone)]
pub(super) struct Limits {
    /// Requests per window, across all routes (0 = unlimited).
    pub rate_limit: u32,
    /// The window: 10 s like LaunchDarkly; tests shorten it.
    pub window: Duration,
    pub latency: Duration,
    /// Probability of a 503, 0..1.
    pub fail_rate: f64,
    /// Probability that an operation is performed but its answer is lost (502), 0..1.
    pub lost_rate: f64,
}

#[derive(Debug)]
struct Window {
    started: Instant,
    started_ms: i64,
    global: u32,
}

/// Shared limiter state.
#[derive(Debug, Clone)]
pub(super) struct Limiter {
    pub limits: Limits,
    /// The current window; `None` until the first request opens one.
    window: Arc<Mutex<Option<Window>>>,
}

/// What one request was allowed.
struct Verdict {
    allowed: bool,
    remaining: u32,
    reset_ms: i64,
}

impl Limiter {
    pub(super) fn new(limits: Limits) -> Self {
        Self { limits, window: Arc::new(Mutex::new(None)) }
    }

    /// Counts one request against the window (a fixed window that starts at the first
    /// request after the last one ended, the very first one included: a server that idled
    /// since it started gives its first client a whole window). `None` when no limit is set.
    fn admit(&self) -> Option<Verdict> {
        if self.limits.rate_limit == 0 {
            return None;
        }
        let mut current = self.window.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let w = match &mut *current {
            Some(w) if w.started.elapsed() < self.limits.window => w,
            stale => stale.insert(Window { started: Instant::now(), started_ms: now_ms(), global: 0 }),
        };
        let window_ms = i64::try_from(self.limits.window.as_millis()).unwrap_or(10_000);
        let allowed = w.global < self.limits.rate_limit;
        if allowed {
            w.global += 1;
        }
        Some(Verdict {
            allowed,
            remaining: self.limits.rate_limit.saturating_sub(w.global),
            reset_ms: w.started_ms + window_ms,
        })
    }
}

/// The middleware.
pub(super) async fn middleware(State(limiter): State<Limiter>, req: Request, next: Next) -> Response {
    let verdict = limiter.admit();
    let mut resp = if verdict.as_ref().is_none_or(|v| v.allowed) {
        if !limiter.limits.latency.is_zero() {
            tokio::time::sleep(limiter.limits.latency).await;
        }
        if limiter.limits.fail_rate > 0.0 && rand::random::<f64>() < limiter.limits.fail_rate {
            error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                "Service unavailable (injected by --fail-rate). Nothing was changed.",
            )
        } else {
            let resp = next.run(req).await;
            if resp.status().is_success()
                && limiter.limits.lost_rate > 0.0
                && rand::random::<f64>() < limiter.limits.lost_rate
            {
                // The operation ran; the answer is lost on the way back (a proxy failing).
                error_response(
                    StatusCode::BAD_GATEWAY,
                    "bad_gateway",
                    "Bad gateway (injected by --lost-rate). The operation may have been performed.",
                )
            } else {
                resp
            }
        }
    } else {
        error_response(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "You've exceeded the API rate limit. Try again later.",
        )
        .into_response()
    };
    if let Some(v) = verdict {
        let headers = resp.headers_mut();
        for (name, value) in [
            ("x-ratelimit-global-limit", limiter.limits.rate_limit.to_string()),
            ("x-ratelimit-global-remaining", v.remaining.to_string()),
            ("x-ratelimit-reset", v.reset_ms.to_string()),
        ] {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_window_opens_at_the_first_request_not_at_start_up() {
        let l = Limiter::new(Limits {
            rate_limit: 1,
            window: Duration::from_millis(200),
            latency: Duration::ZERO,
            fail_rate: 0.0,
            lost_rate: 0.0,
        });
        std::thread::sleep(Duration::from_millis(150));
        let first = l.admit().unwrap();
        assert!(first.allowed);
        assert!(first.reset_ms >= now_ms() + 150, "a whole window from the first request");
        assert!(!l.admit().unwrap().allowed, "the same window, 150 ms after start-up");
    }

    #[test]
    fn limiter_counts_and_resets() {
        let l = Limiter::new(Limits {
            rate_limit: 2,
            window: Duration::from_millis(50),
            latency: Duration::ZERO,
            fail_rate: 0.0,
            lost_rate: 0.0,
        });
        assert!(l.admit().unwrap().allowed);
        let v = l.admit().unwrap();
        assert!(v.allowed);
        assert_eq!(v.remaining, 0);
        let refused = l.admit().unwrap();
        assert!(!refused.allowed);
        assert_eq!(refused.reset_ms, v.reset_ms, "a 429 names the window's end");
        assert!(v.reset_ms > now_ms() && v.reset_ms <= now_ms() + 50, "epoch milliseconds");
        std::thread::sleep(Duration::from_millis(60));
        assert!(l.admit().unwrap().allowed);
        let unlimited = Limiter::new(Limits { rate_limit: 0, ..l.limits.clone() });
        assert!(unlimited.admit().is_none(), "no limit, no headers");
    }
}
