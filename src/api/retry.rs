//! When and how long to wait before repeating a request: 429 waits for `X-Ratelimit-Reset`
//! (epoch ms; past means a short wait) or `Retry-After` (seconds); 5xx, 409 and connection
//! errors back off exponentially; all with jitter. Pure decisions: the client sleeps.

use std::time::Duration;

use reqwest::header::HeaderMap;

/// Retry knobs.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts after the first, for 5xx/409/connection errors.
    pub max_retries: u32,
    /// Attempts after the first, for 429s (rate limits are expected in bulk runs).
    pub max_rate_limit_retries: u32,
    /// First backoff; doubles each attempt.
    pub base: Duration,
    /// Largest backoff, and largest wait for a rate-limit reset (a `Retry-After` may ask more).
    pub cap: Duration,
    /// The most one request may spend in all, attempts and waits together (`--max-wait`).
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 5,
            max_rate_limit_retries: 12,
            base: Duration::from_millis(200),
            cap: Duration::from_secs(30),
            max_wait: Duration::from_mins(5),
        }
    }
}

/// What kind of request this is, for what may be repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// GET, PATCH, DELETE: safe to send again.
    Safe,
    /// POST create/reset: only after a definite "not performed" answer (429, 503) or a
    /// connection that never opened.
    NotPerformedOnly,
}

fn jitter(d: Duration, fraction: f64) -> Duration {
    let r: f64 = rand::random();
    d + d.mul_f64(fraction * r)
}

impl RetryPolicy {
    /// Exponential backoff with jitter for attempt `n` (0-based).
    pub fn backoff(&self, n: u32) -> Duration {
        let exp = self.base.saturating_mul(2u32.saturating_pow(n.min(16)));
        jitter(exp.min(self.cap), 0.5).min(self.cap)
    }

    /// How long to wait after a 429, from its headers; `now_ms` is the current epoch ms.
    /// A reset (`X-Ratelimit-Reset`, `X-Ratelimit-Auth-Token-Reset`: epoch ms) is waited for
    /// up to `cap` (windows are 10 s; more is clock skew); a `Retry-After` (seconds) in full:
    /// the caller gives up when it is more than `max_wait` allows.
    pub fn rate_limit_wait(&self, headers: &HeaderMap, now_ms: i64, n: u32) -> Duration {
        let header_i64 = |name: &str| {
            headers.get(name).and_then(|v| v.to_str().ok()).and_then(|s| s.trim().parse::<i64>().ok())
        };
        let from_reset = ["x-ratelimit-reset", "x-ratelimit-auth-token-reset"]
            .into_iter()
            .filter_map(header_i64)
            .max()
            .map(|reset| {
                let delta = reset - now_ms;
                // A reset in the past (clock skew, seen in the wild): a short wait, not none.
                let d = if delta <= 0 {
                    self.base
                } else {
                    Duration::from_millis(u64::try_from(delta).unwrap_or(0))
                };
                d.min(self.cap)
            });
        let from_retry_after =
            header_i64("retry-after").map(|s| Duration::from_secs(u64::try_from(s.max(0)).unwrap_or(0)));
        let wait = match (from_reset, from_retry_after) {
            (Some(a), Some(b)) => a.max(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => return self.backoff(n),
        };
        // A little jitter spreads concurrent waiters; a lot would only waste the new window.
        let spread = wait.mul_f64(0.1).min(Duration::from_millis(250));
        wait.max(Duration::from_millis(10)) + spread.mul_f64(rand::random::<f64>())
    }
}

/// Whether an answered status may be retried for this kind of request.
pub fn retryable_status(status: u16, repeat: Repeat) -> bool {
    match repeat {
        Repeat::Safe => status == 429 || status == 409 || status >= 500,
        // 429 and 503 are definite refusals: the operation did not run.
        Repeat::NotPerformedOnly => status == 429 || status == 503,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn rate_limit_waits_follow_headers() {
        let p = RetryPolicy::default();
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-reset", HeaderValue::from_static("10500"));
        let w = p.rate_limit_wait(&h, 10_000, 0);
        assert!(w >= Duration::from_millis(500) && w <= Duration::from_millis(550), "{w:?}");
        // in the past: a short wait
        let w = p.rate_limit_wait(&h, 20_000, 0);
        assert!(w >= Duration::from_millis(10) && w <= Duration::from_millis(300), "{w:?}");
        h.insert("retry-after", HeaderValue::from_static("2"));
        let w = p.rate_limit_wait(&h, 20_000, 0);
        assert!(w >= Duration::from_secs(2), "{w:?}");
        // a Retry-After is honoured in full (the caller decides whether that is too long);
        // a reset far away is clock skew and capped
        h.insert("retry-after", HeaderValue::from_static("3600"));
        assert!(p.rate_limit_wait(&h, 20_000, 0) >= Duration::from_hours(1));
        let mut far = HeaderMap::new();
        far.insert("x-ratelimit-reset", HeaderValue::from_static("999999999999"));
        assert!(p.rate_limit_wait(&far, 20_000, 0) <= p.cap + Duration::from_millis(250));
    }

    #[test]
    fn creates_are_repeated_only_after_definite_refusals() {
        assert!(retryable_status(503, Repeat::NotPerformedOnly));
        assert!(retryable_status(429, Repeat::NotPerformedOnly));
        assert!(!retryable_status(500, Repeat::NotPerformedOnly));
        assert!(!retryable_status(409, Repeat::NotPerformedOnly));
        assert!(retryable_status(500, Repeat::Safe));
        assert!(retryable_status(409, Repeat::Safe));
        assert!(!retryable_status(404, Repeat::Safe));
    }

    #[test]
    fn backoff_is_bounded() {
        let p = RetryPolicy::default();
        assert!(p.backoff(0) >= Duration::from_millis(200));
        assert!(p.backoff(40) <= p.cap);
    }
}
