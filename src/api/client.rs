//! The HTTP client: auth header, API version, the calls, paging. How one request is sent
//! (pacing, retries, body cap, waits on stderr) lives in `send`.
//!
//! `Authorization: <token>` (no `Bearer`), `LD-API-Version`, `User-Agent: tokenform/<version>`,
//! rustls, timeouts. The base URL passes [`endpoint::check`] (LaunchDarkly's hosts, loopback,
//! or hosts the environment allows). GET/PATCH/DELETE are retried on 429, 409, 5xx and
//! connection errors; a create or reset is repeated only after a definite "not performed"
//! answer (429, 503) and otherwise fails with `OutcomeUnknown`. It never logs, prints or
//! returns a secret except the `token` of a create/reset answer (a `Secret`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderValue};
use serde::de::DeserializeOwned;

pub use super::error::ApiError;
use super::model::{CallerIdentity, CustomRole, Live, PatchOp, Token, TokenPost};
use super::pacer::Pacer;
use super::paging::{Page, WalkError, fetch_all};
use super::retry::{Repeat, RetryPolicy};
use super::send::Req;
use super::trace::TraceSink;
use crate::endpoint::{self, AllowedHosts, BaseUrl};
use crate::secret::Secret;

/// Everything a [`Client`] is built from (commands build it through `commands::session::connect`).
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// `https://app.launchdarkly.com`, or http on loopback. No `/api/v2` suffix.
    pub base_url: String,
    pub token: Secret,
    /// Sent as `LD-API-Version`.
    pub api_version: u32,
    /// Whole-request timeout.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub retry: RetryPolicy,
    /// The `limit` asked for on list pages (the server may cap it lower).
    pub page_limit: u32,
    /// List pages in flight at once; 1 is a sequential page-by-page walk.
    pub page_concurrency: usize,
    /// `-v`: where the redacted trace goes.
    pub trace: Option<TraceSink>,
    /// Where to say what the client waits for (rate limits, retries); `None`: silent.
    pub notices: Option<TraceSink>,
    /// The largest response body read ([`MAX_BODY`] by default).
    pub max_body: usize,
    /// Hosts besides LaunchDarkly's the token may go to (see [`crate::endpoint`]).
    pub allowed_hosts: AllowedHosts,
}

/// The largest response body read: a page of 100 tokens is a few hundred KB, so 8 MiB
/// leaves a wide margin while a server streaming gigabytes is cut off early.
pub const MAX_BODY: usize = 8 << 20;

impl ClientOptions {
    pub fn new(base_url: impl Into<String>, token: Secret) -> Self {
        Self {
            base_url: base_url.into(),
            token,
            api_version: 20_240_415,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            page_limit: 100,
            page_concurrency: 8,
            trace: None,
            notices: None,
            max_body: MAX_BODY,
            allowed_hosts: AllowedHosts::none(),
        }
    }
}

#[derive(Debug)]
pub(super) struct Inner {
    pub(super) http: reqwest::Client,
    pub(super) base: String,
    /// `host:port` of the base URL, for notices and errors.
    pub(super) host: String,
    pub(super) auth: HeaderValue,
    pub(super) retry: RetryPolicy,
    pub(super) timeout: Duration,
    pub(super) max_body: usize,
    page_limit: u32,
    page_concurrency: usize,
    pub(super) trace: Option<TraceSink>,
    pub(super) notices: Option<TraceSink>,
    pub(super) pacer: Pacer,
    pub(super) requests: AtomicU64,
    /// Custom roles by key, as looked up so far.
    roles: Mutex<BTreeMap<String, CustomRole>>,
    /// Kept alive for as long as any clone of the client ([`Client::keeping_alive`]).
    _guard: Option<Box<dyn std::any::Any + Send + Sync>>,
}

/// A connected LaunchDarkly client. Cheap to clone; safe to share across tasks.
#[derive(Debug, Clone)]
pub struct Client {
    pub(super) inner: Arc<Inner>,
}

/// Percent-encodes one path segment (ids come from users through `import`).
fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

impl Client {
    /// Builds a client for an explicit URL and token.
    pub fn new(options: ClientOptions) -> Result<Client, ApiError> {
        Self::build(options, None)
    }

    /// [`Client::new`], keeping `guard` alive for as long as any clone of the client (the
    /// in-process emulator of `base_url = "embedded"`, which the caller started).
    pub fn keeping_alive(
        options: ClientOptions,
        guard: impl std::any::Any + Send + Sync,
    ) -> Result<Client, ApiError> {
        Self::build(options, Some(Box::new(guard)))
    }

    fn build(
        options: ClientOptions,
        guard: Option<Box<dyn std::any::Any + Send + Sync>>,
    ) -> Result<Client, ApiError> {
        let BaseUrl::Url(base) = endpoint::check(&options.base_url, &options.allowed_hosts)? else {
            return Err(ApiError::BadUrl {
                url: options.base_url.clone(),
                reason:
                    "`embedded` is a configuration value; start the emulator with commands::session::connect"
                        .into(),
            });
        };
        let mut auth =
            HeaderValue::from_str(options.token.expose().trim()).map_err(|_| ApiError::BadUrl {
                url: base.clone(),
                reason: "the access token is not a valid header value".into(),
            })?;
        auth.set_sensitive(true);
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&options.api_version.to_string()) {
            headers.insert("ld-api-version", v);
        }
        headers.insert(reqwest::header::ACCEPT, HeaderValue::from_static("application/json"));
        let mut builder = reqwest::Client::builder();
        if reqwest::Url::parse(&base).ok().and_then(|u| u.host_str().map(endpoint::is_loopback_host))
            == Some(true)
        {
            // A system proxy must never see the loopback emulator's traffic (or its token).
            builder = builder.no_proxy();
        }
        let http = builder
            // The token is sent to the configured host only: no redirects.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("tokenform/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .connect_timeout(options.connect_timeout)
            .build()
            .map_err(|e| ApiError::BadUrl { url: base.clone(), reason: e.to_string() })?;
        let host = reqwest::Url::parse(&base)
            .ok()
            .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?)))
            .unwrap_or_else(|| base.clone());
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                host,
                auth,
                retry: options.retry,
                timeout: options.timeout,
                max_body: options.max_body.max(1),
                page_limit: options.page_limit.max(1),
                page_concurrency: options.page_concurrency.max(1),
                trace: options.trace,
                notices: options.notices,
                pacer: Pacer::default(),
                requests: AtomicU64::new(0),
                roles: Mutex::new(BTreeMap::new()),
                _guard: guard,
            }),
        })
    }

    /// The base URL requests go to (for embedded mode: the in-process emulator's).
    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    async fn send_json<T: DeserializeOwned>(&self, req: &Req) -> Result<T, ApiError> {
        let answer = self.send(req).await?;
        serde_json::from_slice(&answer.body).map_err(|e| ApiError::Decode {
            method: req.method.as_str().into(),
            path: req.path.clone(),
            // serde quotes what it could not read (`unknown variant …`): the server's text.
            reason: crate::escape::excerpt(&e.to_string()),
        })
    }

    fn body<T: serde::Serialize + ?Sized>(value: &T) -> Vec<u8> {
        // Serializing plain models cannot fail; an empty body would be refused by the server anyway.
        serde_json::to_vec(value).unwrap_or_default()
    }

    /// One snapshot: every token (all pages; `show_all` asks for other members' personal
    /// tokens), the caller identity, and the custom roles named by `role_keys` (plus those
    /// live tokens use, when resolvable).
    pub async fn fetch_live(&self, role_keys: &[String], show_all: bool) -> Result<Live, ApiError> {
        let (tokens, caller, custom_roles) =
            tokio::try_join!(self.list_tokens(show_all), self.caller_identity(), self.roles_for(role_keys))?;
        Ok(Live { tokens, caller, custom_roles })
    }

    /// Every custom role (when the token may list them), else those of `keys`, by key.
    async fn roles_for(&self, keys: &[String]) -> Result<BTreeMap<String, CustomRole>, ApiError> {
        match self.list_custom_roles().await {
            Ok(roles) => Ok(roles.into_iter().map(|r| (r.key.clone(), r)).collect()),
            Err(ApiError::Forbidden { .. }) => {
                let mut out = BTreeMap::new();
                for key in keys {
                    if let Some(role) = self.custom_role(key).await? {
                        out.insert(role.key.clone(), role);
                    }
                }
                Ok(out)
            }
            Err(e) => Err(e),
        }
    }

    async fn page<T: DeserializeOwned>(
        &self,
        path: &str,
        offset: u64,
        extra: &[(&'static str, String)],
    ) -> Result<Page<T>, ApiError> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Raw<T> {
            #[serde(default = "Vec::new")]
            items: Vec<T>,
            #[serde(default)]
            total_count: Option<u64>,
        }
        let mut req = Req::get(path.to_owned());
        req.query = vec![("limit", self.inner.page_limit.to_string()), ("offset", offset.to_string())];
        req.query.extend(extra.iter().cloned());
        let raw: Raw<T> = self.send_json(&req).await?;
        Ok(Page { items: raw.items, total: raw.total_count })
    }

    /// Every token the caller can see, all pages.
    pub async fn list_tokens(&self, show_all: bool) -> Result<Vec<Token>, ApiError> {
        let extra = if show_all { vec![("showAll", "true".to_owned())] } else { Vec::new() };
        let extra = &extra;
        let walk = fetch_all(
            |offset| async move { self.page::<Token>("/api/v2/tokens", offset, extra).await },
            |t: &Token| t.id.clone(),
            self.inner.page_concurrency,
        )
        .await;
        self.walked("/api/v2/tokens", extra, walk)
    }

    /// A walk's items, or its error; a stall names the URL of the page that showed it.
    fn walked<T>(
        &self,
        path: &str,
        extra: &[(&'static str, String)],
        walk: Result<Vec<T>, WalkError<ApiError>>,
    ) -> Result<Vec<T>, ApiError> {
        walk.map_err(|e| match e {
            WalkError::Fetch(e) => e,
            WalkError::Stalled(stall) => {
                let mut url = format!(
                    "{}{path}?limit={}&offset={}",
                    self.inner.base, self.inner.page_limit, stall.offset
                );
                for (k, v) in extra {
                    let _ = write!(url, "&{k}={v}");
                }
                ApiError::ListStuck { url, reason: stall.reason }
            }
        })
    }

    pub async fn get_token(&self, id: &str) -> Result<Token, ApiError> {
        self.send_json(&Req::get(format!("/api/v2/tokens/{}", segment(id)))).await
    }

    /// POST a create. Never retried blindly: when the request may have reached the server
    /// but no answer came, the error says the outcome is unknown (apply reconciles by listing).
    pub async fn create_token(&self, body: &TokenPost) -> Result<Token, ApiError> {
        let req = Req {
            method: Method::POST,
            path: "/api/v2/tokens".into(),
            query: Vec::new(),
            body: Some(Self::body(body)),
            repeat: Repeat::NotPerformedOnly,
            not_found_ok_after_retry: false,
        };
        self.send_json(&req).await
    }

    pub async fn patch_token(&self, id: &str, ops: &[PatchOp]) -> Result<Token, ApiError> {
        let req = Req {
            method: Method::PATCH,
            path: format!("/api/v2/tokens/{}", segment(id)),
            query: Vec::new(),
            body: Some(Self::body(ops)),
            repeat: Repeat::Safe,
            not_found_ok_after_retry: false,
        };
        self.send_json(&req).await
    }

    /// DELETE; a 404 after a retried attempt that may have been performed (5xx other than
    /// 503, or a connection lost after sending) counts as success.
    pub async fn delete_token(&self, id: &str) -> Result<(), ApiError> {
        let req = Req {
            method: Method::DELETE,
            path: format!("/api/v2/tokens/{}", segment(id)),
            query: Vec::new(),
            body: None,
            repeat: Repeat::Safe,
            not_found_ok_after_retry: true,
        };
        let answer = self.send(&req).await?;
        let _ = answer.status;
        Ok(())
    }

    /// Legacy reset: a new secret; the old one works until `expiry_ms` (Unix ms).
    /// Sends the expiry both as the query parameter (spec) and in a JSON body (older clients).
    pub async fn reset_token(&self, id: &str, expiry_ms: Option<i64>) -> Result<Token, ApiError> {
        let body = match expiry_ms {
            Some(e) => serde_json::json!({ "expiry": e }),
            None => serde_json::json!({}),
        };
        let req = Req {
            method: Method::POST,
            path: format!("/api/v2/tokens/{}/reset", segment(id)),
            query: expiry_ms.map(|e| vec![("expiry", e.to_string())]).unwrap_or_default(),
            body: Some(Self::body(&body)),
            repeat: Repeat::NotPerformedOnly,
            not_found_ok_after_retry: false,
        };
        self.send_json(&req).await
    }

    pub async fn caller_identity(&self) -> Result<CallerIdentity, ApiError> {
        self.send_json(&Req::get("/api/v2/caller-identity".into())).await
    }

    /// Who `token` authenticates as: the same host and settings, another credential (apply
    /// checks a new secret with it before delivering it). Nothing of the token is shown.
    pub async fn caller_identity_of(&self, token: &Secret) -> Result<CallerIdentity, ApiError> {
        let inner = &*self.inner;
        let mut auth = HeaderValue::from_str(token.expose().trim()).map_err(|_| ApiError::BadUrl {
            url: inner.base.clone(),
            reason: "the new secret is not a valid header value".into(),
        })?;
        auth.set_sensitive(true);
        let other = Client {
            inner: Arc::new(Inner {
                http: inner.http.clone(),
                base: inner.base.clone(),
                host: inner.host.clone(),
                auth,
                retry: inner.retry.clone(),
                timeout: inner.timeout,
                max_body: inner.max_body,
                page_limit: inner.page_limit,
                page_concurrency: inner.page_concurrency,
                trace: inner.trace.clone(),
                notices: inner.notices.clone(),
                // Rate limits are counted per credential.
                pacer: Pacer::default(),
                requests: AtomicU64::new(0),
                roles: Mutex::new(BTreeMap::new()),
                // Whatever `self` keeps alive (an embedded emulator) outlives this call.
                _guard: None,
            }),
        };
        let answer = other.caller_identity().await;
        inner.requests.fetch_add(other.request_count(), Ordering::Relaxed);
        answer
    }

    /// Every custom role (all pages); fills the key → role cache.
    pub async fn list_custom_roles(&self) -> Result<Vec<CustomRole>, ApiError> {
        let walk = fetch_all(
            |offset| async move { self.page::<CustomRole>("/api/v2/roles", offset, &[]).await },
            |r: &CustomRole| r.id.clone(),
            self.inner.page_concurrency,
        )
        .await;
        let roles = self.walked("/api/v2/roles", &[], walk)?;
        let mut cache = self.inner.roles.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for r in &roles {
            cache.insert(r.key.clone(), r.clone());
        }
        Ok(roles)
    }

    /// One custom role by key (cached); `None` when there is no such role.
    pub async fn custom_role(&self, key: &str) -> Result<Option<CustomRole>, ApiError> {
        if let Some(r) = self.inner.roles.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(key) {
            return Ok(Some(r.clone()));
        }
        match self.send_json::<CustomRole>(&Req::get(format!("/api/v2/roles/{}", segment(key)))).await {
            Ok(role) => {
                let mut cache = self.inner.roles.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                cache.insert(key.to_owned(), role.clone());
                Ok(Some(role))
            }
            Err(ApiError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Custom role keys → ids (cached); unknown keys are left out.
    pub async fn resolve_role_keys(&self, keys: &[String]) -> Result<BTreeMap<String, String>, ApiError> {
        let mut out = BTreeMap::new();
        for key in keys {
            if let Some(role) = self.custom_role(key).await? {
                out.insert(key.clone(), role.id);
            }
        }
        Ok(out)
    }

    /// HTTP requests sent so far (retries included), for benchmarks and tests.
    pub fn request_count(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(segment("61095542756dba551110ae21"), "61095542756dba551110ae21");
        assert_eq!(segment("../x y"), "..%2Fx%20y");
    }
}
