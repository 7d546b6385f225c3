//! Pacing from the rate-limit headers of every answer, so bulk runs meet no 429: each answer
//! says how many requests its window still allows (`X-Ratelimit-Global-Remaining`,
//! `X-Ratelimit-Route-Remaining` with `X-Ratelimit-Reset`; `X-Ratelimit-Auth-Token-Remaining`
//! with `X-Ratelimit-Auth-Token-Reset`; resets are epoch ms, docs/ld-api-notes.md §5). When a
//! window is spent, requests wait for its reset and then all go at once; a `Retry-After`
//! (IP limits) pauses everyone. Headers that are absent mean no limit is enforced.
//!
//! Counting with requests in flight: request number `seq` (in its scope) answered with
//! `remaining = r` means the server admits requests up to number `seq + r` in that window,
//! so a scope is spent once `sent >= seq + r` (the smallest such bound of the window wins;
//! answers of an older window are ignored). Pure bookkeeping plus sleeping: no HTTP, and
//! the clock is passed in to the decisions so tests can drive them.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::HeaderMap;

/// Waking this long after a reset keeps a slightly slow server clock from answering 429.
const RESET_MARGIN_MS: i64 = 25;

/// A reset further away than this is clock skew or nonsense (LaunchDarkly's windows are 10 s).
const LONGEST_WINDOW_MS: i64 = 60_000;

/// One rate-limit scope (the account, the token, or one route).
#[derive(Debug, Default)]
struct Scope {
    /// Requests sent in this scope so far.
    sent: u64,
    /// The window the newest answer described: `(reset_ms, admits requests up to this number)`.
    /// `None`: nothing known, or the window passed and no answer from the next one yet.
    window: Option<(i64, u64)>,
    /// The window's size, when the server says (`*-Limit`): what a new window allows.
    limit: Option<u64>,
    /// The reset of the last window that passed: answers from it (or older) arrive late.
    passed: i64,
}

/// `window.0` of a new window whose reset no answer has told yet.
const UNKNOWN_RESET: i64 = i64::MAX;

/// How often a request blocked on a window of unknown reset looks again (answers in flight tell).
const POLL_MS: i64 = 50;

impl Scope {
    /// When a request may go, if it may not now: the window's reset.
    fn blocked_until(&self, now_ms: i64) -> Option<i64> {
        let (reset, admits) = self.window?;
        if self.sent < admits {
            return None;
        }
        if reset == UNKNOWN_RESET {
            return Some(now_ms + POLL_MS);
        }
        (now_ms < reset + RESET_MARGIN_MS).then_some(reset + RESET_MARGIN_MS)
    }

    /// Takes a slot; returns the request's number in this scope.
    fn take(&mut self, now_ms: i64) -> u64 {
        if let Some((reset, _)) = self.window
            && reset != UNKNOWN_RESET
            && now_ms >= reset + RESET_MARGIN_MS
        {
            // The window passed: the next one allows `limit` (when known) until answers say more.
            self.passed = reset;
            self.window = self.limit.map(|l| (UNKNOWN_RESET, self.sent + l));
        }
        self.sent += 1;
        self.sent
    }

    fn observe(&mut self, seq: u64, remaining: u64, reset_ms: i64, limit: Option<u64>) {
        if reset_ms <= self.passed {
            return; // from a window that passed, arriving late
        }
        let admits = seq.saturating_add(remaining);
        self.window = match self.window {
            // An answer from the same window: the tighter bound wins.
            Some((r, a)) if r == reset_ms => Some((r, a.min(admits))),
            // An answer from an older window than the newest seen, arriving late.
            Some((r, _)) if r != UNKNOWN_RESET && reset_ms < r => return,
            _ => Some((reset_ms, admits)),
        };
        if limit.is_some() {
            self.limit = limit;
        }
    }
}

#[derive(Debug, Default)]
struct State {
    global: Scope,
    auth_token: Scope,
    routes: HashMap<String, Scope>,
    /// `Retry-After`: nobody sends before this (epoch ms).
    paused_until: Option<i64>,
    /// The reset last announced on stderr, so a spent window is mentioned once.
    announced: Option<i64>,
}

/// The slot one request took: its number in each scope, to read its answer's headers against.
#[derive(Debug, Clone)]
pub struct Ticket {
    route: String,
    global: u64,
    auth_token: u64,
    in_route: u64,
}

/// Not yet: wait `wait`, then ask again. `announce` when this wait is news (the first
/// waiter of a window, for a second or more); `limit` is the requests per window, when known.
#[derive(Debug, PartialEq, Eq)]
pub struct Wait {
    pub wait: Duration,
    pub announce: bool,
    pub limit: Option<u64>,
}

/// Shared by every clone of a client.
#[derive(Debug, Default)]
pub struct Pacer {
    state: Mutex<State>,
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

fn header_i64(headers: &HeaderMap, name: &str) -> Option<i64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

impl Pacer {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes a slot for a request on `route` at `now_ms`, or says how long to wait first.
    pub fn admit(&self, route: &str, now_ms: i64) -> Result<Ticket, Wait> {
        let mut st = self.lock();
        let paused = st.paused_until.filter(|&p| now_ms < p);
        let blocked = [
            paused,
            st.global.blocked_until(now_ms),
            st.auth_token.blocked_until(now_ms),
            st.routes.get(route).and_then(|s| s.blocked_until(now_ms)),
        ]
        .into_iter()
        .flatten()
        .max();
        if let Some(until) = blocked {
            let until = until.min(now_ms + LONGEST_WINDOW_MS);
            // Short waits (and polls for news of a new window) are not worth a line on stderr.
            let announce = until - now_ms >= 1_000 && st.announced != Some(until);
            if announce {
                st.announced = Some(until);
            }
            let limit =
                st.global.limit.or(st.auth_token.limit).or(st.routes.get(route).and_then(|s| s.limit));
            let wait = Duration::from_millis(u64::try_from(until - now_ms).unwrap_or(0).max(1));
            return Err(Wait { wait, announce, limit });
        }
        let global = st.global.take(now_ms);
        let auth_token = st.auth_token.take(now_ms);
        let in_route = st.routes.entry(route.to_owned()).or_default().take(now_ms);
        Ok(Ticket { route: route.to_owned(), global, auth_token, in_route })
    }

    /// Reads an answer's rate-limit headers (any status, 429 included).
    pub fn observe(&self, ticket: &Ticket, headers: &HeaderMap, now_ms: i64) {
        let mut st = self.lock();
        // A reset in the past (clock skew) or absurdly far tells nothing reliable about the window.
        let plausible = |r: i64| r > now_ms - LONGEST_WINDOW_MS && r < now_ms + LONGEST_WINDOW_MS;
        let reset = header_i64(headers, "x-ratelimit-reset").filter(|&r| plausible(r));
        if let (Some(rem), Some(reset)) = (header_u64(headers, "x-ratelimit-global-remaining"), reset) {
            st.global.observe(ticket.global, rem, reset, header_u64(headers, "x-ratelimit-global-limit"));
        }
        if let (Some(rem), Some(reset)) = (header_u64(headers, "x-ratelimit-route-remaining"), reset) {
            let limit = header_u64(headers, "x-ratelimit-route-limit");
            st.routes.entry(ticket.route.clone()).or_default().observe(ticket.in_route, rem, reset, limit);
        }
        let token_reset = header_i64(headers, "x-ratelimit-auth-token-reset").filter(|&r| plausible(r));
        if let (Some(rem), Some(reset)) =
            (header_u64(headers, "x-ratelimit-auth-token-remaining"), token_reset)
        {
            let limit = header_u64(headers, "x-ratelimit-auth-token-limit");
            st.auth_token.observe(ticket.auth_token, rem, reset, limit);
        }
        if let Some(secs) = header_i64(headers, "retry-after").filter(|s| *s > 0) {
            let until = now_ms.saturating_add(secs.saturating_mul(1000));
            st.paused_until = Some(st.paused_until.map_or(until, |p| p.max(until)));
        }
    }
}

/// The route an answer's route limit applies to: the method and the path with ids collapsed
/// (`GET /api/v2/tokens/{id}`), as LaunchDarkly keys route limits (per URL pattern and verb).
pub fn route_of(method: &str, path: &str) -> String {
    let pattern: Vec<&str> = path
        .split('/')
        .enumerate()
        .map(|(i, seg)| if i == 4 && !seg.is_empty() { "{id}" } else { seg })
        .collect();
    format!("{method} {}", pattern.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn global(remaining: u64, reset: i64) -> HeaderMap {
        headers(&[
            ("x-ratelimit-global-limit", "5".into()),
            ("x-ratelimit-global-remaining", remaining.to_string()),
            ("x-ratelimit-reset", reset.to_string()),
        ])
    }

    const R: &str = "POST /api/v2/tokens";

    #[test]
    fn a_spent_window_waits_for_its_reset_then_every_slot_goes() {
        let p = Pacer::default();
        let now = 1_000_000;
        let reset = now + 10_000;
        // 3 in flight; the answers (any order) say 4, 3, 2 remain: two more may go
        let t: Vec<Ticket> = (0..3).map(|_| p.admit(R, now).unwrap()).collect();
        p.observe(&t[2], &global(2, reset), now);
        p.observe(&t[0], &global(4, reset), now);
        p.observe(&t[1], &global(3, reset), now);
        assert!(p.admit(R, now).is_ok());
        assert!(p.admit(R, now).is_ok());
        let Err(Wait { wait, announce: true, limit: Some(5) }) = p.admit(R, now + 100) else {
            panic!("the window is spent")
        };
        assert_eq!(wait, Duration::from_millis(9_900 + 25));
        assert!(matches!(p.admit(R, now + 200), Err(Wait { announce: false, .. })), "said once");
        // at the reset: the new window's 5 slots, all at once, then a wait for answers' news
        let later = reset + 30;
        for _ in 0..5 {
            assert!(p.admit(R, later).is_ok());
        }
        let Err(Wait { wait, .. }) = p.admit(R, later) else { panic!("the limit of 5 holds") };
        assert_eq!(wait, Duration::from_millis(50), "until an answer tells the new window's reset");
    }

    #[test]
    fn late_answers_of_an_old_window_are_ignored() {
        let p = Pacer::default();
        let now = 1_000_000;
        let old = p.admit(R, now).unwrap();
        let new = p.admit(R, now).unwrap();
        p.observe(&new, &global(4, now + 20_000), now);
        p.observe(&old, &global(0, now + 10_000), now);
        assert!(p.admit(R, now).is_ok(), "a 0 from the window before must not stop the new one");

        // after a window passed, its late answers neither block nor hand out a fresh window
        let p = Pacer::default();
        let reset = now + 1_000;
        let first = p.admit(R, now).unwrap();
        let slow = p.admit(R, now).unwrap();
        p.observe(&first, &global(1, reset), now);
        assert!(p.admit(R, now).is_err(), "spent: the one slot left went to `slow`");
        let later = reset + 100;
        let taken = (0..10).take_while(|_| p.admit(R, later).is_ok()).count();
        assert_eq!(taken, 5, "the new window allows its limit");
        p.observe(&slow, &global(3, reset), later);
        assert!(p.admit(R, later).is_err(), "a late answer of the passed window changes nothing");
    }

    #[test]
    fn without_headers_nothing_waits_and_retry_after_pauses_everyone() {
        let p = Pacer::default();
        let now = 5_000;
        for _ in 0..1000 {
            let t = p.admit(R, now).unwrap();
            p.observe(&t, &HeaderMap::new(), now);
        }
        let t = p.admit(R, now).unwrap();
        p.observe(&t, &headers(&[("retry-after", "3".into())]), now);
        let Err(Wait { wait, .. }) = p.admit("GET /api/v2/tokens", now) else { panic!("paused") };
        assert_eq!(wait, Duration::from_secs(3));
        assert!(p.admit(R, now + 3_000).is_ok());
    }

    #[test]
    fn route_and_token_scopes_count_on_their_own() {
        let p = Pacer::default();
        let now = 1_000_000;
        let t = p.admit(R, now).unwrap();
        let route = headers(&[
            ("x-ratelimit-route-remaining", "0".into()),
            ("x-ratelimit-reset", (now + 5_000).to_string()),
        ]);
        p.observe(&t, &route, now);
        assert!(p.admit(R, now).is_err(), "the create route is spent");
        assert!(p.admit("GET /api/v2/tokens", now).is_ok(), "another route is not");
        let t = p.admit("GET /api/v2/tokens", now).unwrap();
        let token = headers(&[
            ("x-ratelimit-auth-token-remaining", "0".into()),
            ("x-ratelimit-auth-token-reset", (now + 2_000).to_string()),
        ]);
        p.observe(&t, &token, now);
        assert!(p.admit("GET /api/v2/tokens", now).is_err(), "the token's own limit is spent");
    }

    #[test]
    fn implausible_resets_are_not_trusted() {
        let p = Pacer::default();
        let now = 1_000_000_000;
        let t = p.admit(R, now).unwrap();
        p.observe(&t, &global(0, now + 3_600_000), now);
        assert!(p.admit(R, now).is_ok(), "an hour-long window is clock skew");
    }

    #[test]
    fn routes_collapse_ids() {
        assert_eq!(route_of("GET", "/api/v2/tokens/abc"), "GET /api/v2/tokens/{id}");
        assert_eq!(route_of("POST", "/api/v2/tokens/abc/reset"), "POST /api/v2/tokens/{id}/reset");
        assert_eq!(route_of("GET", "/api/v2/tokens"), "GET /api/v2/tokens");
    }
}
