//! Typed errors of the API client. Each names the request (method, path: never a token),
//! the status and LaunchDarkly's `code`/`message` when the server answered. Text from the
//! server goes through [`crate::escape::excerpt`] (secrets redacted, cut short, control
//! characters escaped) before it is stored.

/// Errors of the API client. Never carries a secret.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ApiError {
    /// 401: the token is unknown, revoked or expired.
    #[error("{method} {path} was refused: 401 {}: {message}", code.as_deref().unwrap_or("unauthorized"))]
    #[diagnostic(
        code(tokenform::api::unauthorized),
        help(
            "check the access token in the env var named by launchdarkly.access_token_env; it may be expired"
        )
    )]
    Unauthorized { method: String, path: String, status: u16, code: Option<String>, message: String },

    /// 403: the token lacks the permission (e.g. a reader creating tokens).
    #[error("{method} {path} was refused: 403 {}: {message}", code.as_deref().unwrap_or("forbidden"))]
    #[diagnostic(
        code(tokenform::api::forbidden),
        help("managing tokens needs the admin role or a custom role allowing token actions")
    )]
    Forbidden { method: String, path: String, status: u16, code: Option<String>, message: String },

    /// 404: no such token or role.
    #[error("{method} {path}: 404 {}: {message}", code.as_deref().unwrap_or("not_found"))]
    #[diagnostic(code(tokenform::api::not_found))]
    NotFound { method: String, path: String, status: u16, code: Option<String>, message: String },

    /// Any other error status (400, 409, 422, 429 and 5xx after the retries ran out, …).
    #[error("{method} {path} failed: {status} {}: {message}", code.as_deref().unwrap_or("error"))]
    #[diagnostic(code(tokenform::api::http))]
    Http { method: String, path: String, status: u16, code: Option<String>, message: String },

    /// A create (or reset) may have reached the server, but no answer came back.
    #[error("{method} {path}: the request may have been performed, but no usable answer came back ({why})")]
    #[diagnostic(
        code(tokenform::api::outcome_unknown),
        help("it was not repeated blindly; list the tokens to find out whether it happened")
    )]
    OutcomeUnknown { method: String, path: String, why: String },

    /// The connection failed (or timed out) and retrying did not help. `reason` names the
    /// host and the cause ("cannot connect to 127.0.0.1:9 (connection refused)").
    #[error("{method} {url}: {reason}")]
    #[diagnostic(code(tokenform::api::transport), help("is the base URL reachable?"))]
    Transport { method: String, url: String, reason: String },

    /// A 3xx: the token is sent to the configured host only, so redirects are not followed.
    #[error("{method} {url}: answered {status} (redirects are not followed){}", location.as_deref().map(|l| format!(" to {l}")).unwrap_or_default())]
    #[diagnostic(
        code(tokenform::api::redirect),
        help("launchdarkly.base_url must name the API itself; a proxy or captive portal may be in the way")
    )]
    Redirect { method: String, url: String, status: u16, location: Option<String> },

    /// A success status whose body is declared as something other than JSON.
    #[error("{method} {url}: answered {content_type}, not JSON")]
    #[diagnostic(
        code(tokenform::api::not_json),
        help(
            "launchdarkly.base_url must name the LaunchDarkly API (a web page, proxy or portal answered instead)"
        )
    )]
    NotJson { method: String, url: String, content_type: String },

    /// The answer's body was larger than the client accepts.
    #[error("{method} {url}: the answer is larger than {limit} bytes; refusing to read it")]
    #[diagnostic(
        code(tokenform::api::body_too_large),
        help("a page of 100 tokens is a few hundred KB; the server (or something between) is misbehaving")
    )]
    BodyTooLarge { method: String, url: String, limit: usize },

    /// A paginated list that does not advance (the same page again, or more pages than it announced).
    #[error("the server does not advance the list at {url}: {reason}")]
    #[diagnostic(
        code(tokenform::api::list_stuck),
        help("a proxy or cache that drops the query string (limit, offset) can cause this")
    )]
    ListStuck { url: String, reason: String },

    /// The request waited (rate limits, retries, slow answers) longer than allowed in total.
    #[error("{method} {url}: gave up after {waited}, as waiting on would pass the limit of {max}: {last}")]
    #[diagnostic(
        code(tokenform::api::gave_up),
        help("raise the limit with --max-wait (or TOKENFORM_MAX_WAIT), e.g. --max-wait 30m")
    )]
    GaveUp { method: String, url: String, waited: String, max: String, last: String },

    /// The answer was not the expected JSON.
    #[error("{method} {path}: unexpected response body: {reason}")]
    #[diagnostic(code(tokenform::api::decode))]
    Decode { method: String, path: String, reason: String },

    /// The env var that should hold the access token is unset or empty.
    #[error("the environment variable {env} holding the LaunchDarkly access token is not set or empty")]
    #[diagnostic(
        code(tokenform::api::missing_token),
        help("export {env}=api-…, or set launchdarkly.access_token_env to another variable")
    )]
    MissingToken { env: String },

    /// The env var holds something that is not shaped like a LaunchDarkly access token
    /// (`api-` + UUID). Its value is neither sent nor printed.
    #[error(
        "the environment variable {env} does not hold a LaunchDarkly access token (api-xxxxxxxx-…); it was not sent"
    )]
    #[diagnostic(
        code(tokenform::api::invalid_token),
        help(
            "launchdarkly.access_token_env names the variable holding the token; point it at one that holds an api-… token"
        )
    )]
    InvalidToken { env: String },

    /// The base URL may not receive the token ([`crate::endpoint`]).
    #[error(transparent)]
    #[diagnostic(transparent)]
    Endpoint(#[from] crate::endpoint::EndpointError),

    /// A base URL that does not parse.
    #[error("`{url}` is not a usable base URL: {reason}")]
    #[diagnostic(code(tokenform::api::bad_url))]
    BadUrl { url: String, reason: String },

    /// `base_url = "embedded"`: the in-process emulator did not start.
    #[error("the embedded emulator did not start: {reason}")]
    #[diagnostic(code(tokenform::api::embedded))]
    Embedded { reason: String },
}

impl ApiError {
    /// Builds the error for an answered request with an error status.
    pub fn from_status(method: &str, path: &str, status: u16, body: &[u8]) -> ApiError {
        let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
        // Both come from the server: secrets redacted, cut short, control characters escaped.
        let clean = crate::escape::excerpt;
        let code = parsed.as_ref().and_then(|v| v.get("code")).and_then(|c| c.as_str()).map(clean);
        let message = parsed.as_ref().and_then(|v| v.get("message")).and_then(|m| m.as_str()).map_or_else(
            || {
                let text = String::from_utf8_lossy(body);
                if text.trim().is_empty() { "(no message)".into() } else { clean(text.trim()) }
            },
            clean,
        );
        let (method, path) = (method.to_owned(), path.to_owned());
        match status {
            401 => ApiError::Unauthorized { method, path, status, code, message },
            403 => ApiError::Forbidden { method, path, status, code, message },
            404 => ApiError::NotFound { method, path, status, code, message },
            _ => ApiError::Http { method, path, status, code, message },
        }
    }

    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Unauthorized { status, .. }
            | ApiError::Forbidden { status, .. }
            | ApiError::NotFound { status, .. }
            | ApiError::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// LaunchDarkly's error `code`, when the answer had one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ApiError::Unauthorized { code, .. }
            | ApiError::Forbidden { code, .. }
            | ApiError::NotFound { code, .. }
            | ApiError::Http { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, ApiError::NotFound { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_messages_cannot_drive_the_terminal() {
        let body = br#"{"code":"bad\u001b[2J","message":"evil\u001b[31mRED\u0007"}"#;
        let shown = ApiError::from_status("GET", "/api/v2/tokens", 400, body).to_string();
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert!(shown.contains("evil\\u{1b}[31mRED\\u{7}"), "{shown}");
        let raw = ApiError::from_status("GET", "/x", 502, b"<html>\x1b[2J</html>").to_string();
        assert!(!raw.chars().any(char::is_control), "{raw:?}");
    }

    #[test]
    fn status_errors_keep_code_and_redact_message() {
        let body = br#"{"code":"invalid_request","message":"bad api-0a1b2c3d-0000-4000-8000-00000000beef"}"#;
        let e = ApiError::from_status("POST", "/api/v2/tokens", 400, body);
        assert_eq!(e.status(), Some(400));
        assert_eq!(e.code(), Some("invalid_request"));
        let text = format!("{e} {e:?}");
        assert!(!text.contains("beef"), "{text}");
        assert!(text.contains("POST /api/v2/tokens"));
        // code is optional (seen in the wild: a 400 with only a message)
        let e = ApiError::from_status("GET", "/x", 404, br#"{"message":"nope"}"#);
        assert!(e.is_not_found());
        assert_eq!(e.code(), None);
    }
}
