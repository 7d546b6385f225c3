//! Rate limits and fault injection, as one axum middleware: every response carries the
//! `X-Ratelimit-*` headers; past `rate_limit` requests per window the answer is 429
//! `rate_limited` with `Retry-After`; then `latency` is added and `fail_rate` turns a request
//! into 503 `service_unavailable` BEFORE the handler runs, so a 503 never performed anything.
//! Knows nothing about tokens.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::routes::error_response;
use super::store::now_ms;

/// The route limit reported when no `--rate-limit` is set (the real numbers are unpublished).
const NOMINAL_LIMIT: u32 = 1_000_000;

/// Fault and limit knobs.
#[derive(Debug, Clone)]
pub struct Limits {
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
    routes: HashMap<String, u32>,
}

/// Shared limiter state.
#[derive(Debug, Clone)]
pub struct Limiter {
    pub limits: Limits,
    window: Arc<Mutex<Window>>,
}

/// What one request was allowed.
struct Verdict {
    allowed: bool,
    global_remaining: u32,
    route_remaining: u32,
    reset_ms: i64,
}

impl Limiter {
    pub fn new(limits: Limits) -> Self {
        let window =
            Window { started: Instant::now(), started_ms: now_ms(), global: 0, routes: HashMap::new() };
        Self { limits, window: Arc::new(Mutex::new(window)) }
    }

    fn admit(&self, route: &str) -> Verdict {
        let mut w = self.window.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if w.started.elapsed() >= self.limits.window {
            *w = Window { started: Instant::now(), started_ms: now_ms(), global: 0, routes: HashMap::new() };
        }
        let window_ms = i64::try_from(self.limits.window.as_millis()).unwrap_or(10_000);
        let reset_ms = w.started_ms + window_ms;
        let limit = if self.limits.rate_limit == 0 { NOMINAL_LIMIT } else { self.limits.rate_limit };
        let allowed = self.limits.rate_limit == 0 || w.global < limit;
        if allowed {
            w.global += 1;
            *w.routes.entry(route.to_owned()).or_insert(0) += 1;
        }
        let route_used = w.routes.get(route).copied().unwrap_or(0);
        Verdict {
            allowed,
            global_remaining: limit.saturating_sub(w.global),
            route_remaining: limit.saturating_sub(route_used),
            reset_ms,
        }
    }
}

/// `GET /api/v2/tokens/61095542756dba551110ae21` → `GET /api/v2/tokens/{id}`.
fn route_key(method: &Method, path: &str) -> String {
    let pattern: Vec<&str> = path
        .split('/')
        .enumerate()
        .map(|(i, seg)| match (i, seg) {
            (4, s) if !s.is_empty() => "{id}",
            _ => seg,
        })
        .collect();
    format!("{method} {}", pattern.join("/"))
}

/// The middleware.
pub async fn middleware(State(limiter): State<Limiter>, req: Request, next: Next) -> Response {
    let route = route_key(req.method(), req.uri().path());
    let verdict = limiter.admit(&route);
    let mut resp = if verdict.allowed {
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
        let mut r = error_response(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "You've exceeded the API rate limit. Try again later.",
        )
        .into_response();
        let wait_s = (verdict.reset_ms - now_ms()).max(0).div_euclid(1000) + 1;
        if let Ok(v) = HeaderValue::from_str(&wait_s.to_string()) {
            r.headers_mut().insert("retry-after", v);
        }
        r
    };
    let limit = if limiter.limits.rate_limit == 0 { NOMINAL_LIMIT } else { limiter.limits.rate_limit };
    let headers = resp.headers_mut();
    for (name, value) in [
        ("x-ratelimit-global-limit", limit.to_string()),
        ("x-ratelimit-global-remaining", verdict.global_remaining.to_string()),
        ("x-ratelimit-route-limit", limit.to_string()),
        ("x-ratelimit-route-remaining", verdict.route_remaining.to_string()),
        ("x-ratelimit-reset", verdict.reset_ms.to_string()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_keys_collapse_ids() {
        assert_eq!(route_key(&Method::GET, "/api/v2/tokens/abc"), "GET /api/v2/tokens/{id}");
        assert_eq!(route_key(&Method::POST, "/api/v2/tokens/abc/reset"), "POST /api/v2/tokens/{id}/reset");
        assert_eq!(route_key(&Method::GET, "/api/v2/tokens"), "GET /api/v2/tokens");
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
        assert!(l.admit("a").allowed);
        let v = l.admit("b");
        assert!(v.allowed);
        assert_eq!(v.global_remaining, 0);
        assert_eq!(v.route_remaining, 1);
        assert!(!l.admit("a").allowed);
        std::thread::sleep(Duration::from_millis(60));
        assert!(l.admit("a").allowed);
    }
}
