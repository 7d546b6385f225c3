//! The S3 backend's errors: each names the bucket and key (and the endpoint when it is
//! not AWS: never a credential) and says what to do. Stable codes `tokenform::state::s3::*`.

/// Errors of the S3 backend.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum S3Error {
    /// No access key in the environment.
    #[error("the S3 state backend needs credentials for {target}, and {missing} not set")]
    #[diagnostic(
        code(tokenform::state::s3::no_credentials),
        help(
            "export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary \
             credentials); tokenform reads no profile file and no instance metadata. Nothing was written"
        )
    )]
    NoCredentials { target: String, missing: String },

    /// The store refused the credentials or the request (HTTP 401/403).
    #[error("{target} refused {action}: {why}")]
    #[diagnostic(
        code(tokenform::state::s3::denied),
        help(
            "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN, which expires), and \
             that their policy allows s3:GetObject, s3:PutObject and s3:DeleteObject on \
             arn:aws:s3:::{bucket}/{key}* and s3:ListBucket on arn:aws:s3:::{bucket} (tokenform never \
             lists, but without it AWS answers 403, not 404, for a missing object); nothing was written"
        )
    )]
    Denied { target: String, bucket: String, key: String, action: String, why: String },

    /// The bucket does not exist (or is in another account or region).
    #[error("{target}: the bucket {bucket} does not exist")]
    #[diagnostic(
        code(tokenform::state::s3::no_bucket),
        help(
            "create the bucket (tokenform creates only objects), or fix `bucket` / `region` / \
             `endpoint` in the state's backend block; nothing was written"
        )
    )]
    NoBucket { target: String, bucket: String },

    /// The store could not be reached (DNS, connection refused, TLS, timeout).
    #[error("cannot reach {target} while {action}: {why}")]
    #[diagnostic(
        code(tokenform::state::s3::unreachable),
        help(
            "check the network and the `endpoint` / `region` in the state's backend block; nothing \
             more was written. Every step recorded before is in the journal objects; the next run \
             (from any machine) replays them"
        )
    )]
    Unreachable { target: String, action: String, why: String },

    /// The store kept answering with server errors (5xx, throttling), retried with backoff.
    #[error("{target} failed while {action}: {why}")]
    #[diagnostic(
        code(tokenform::state::s3::server),
        help(
            "the store answered with server errors after retries with backoff; try again later. \
             Nothing more was written; what was recorded before is in the journal objects"
        )
    )]
    Server { target: String, action: String, why: String },

    /// The store accepts conditional writes it does not honour: no lock would hold.
    #[error("{target} ignores conditional writes: {why}")]
    #[diagnostic(
        code(tokenform::state::s3::unconditional),
        help(
            "tokenform's lock and compare-and-swap need If-None-Match: * and If-Match on PUT \
             (AWS S3 since 2024, SeaweedFS, MinIO, Cloudflare R2, …); this store or a proxy in front \
             of it ignores them, so two runs could both hold the lock. Use another store or \
             backend; nothing was written"
        )
    )]
    Unconditional { target: String, why: String },

    /// This run's lock was taken over or could not be renewed: nothing more is written.
    #[error("the lock on {target} was lost: {why}")]
    #[diagnostic(
        code(tokenform::state::s3::lock_lost),
        help(
            "nothing more was written by this run. Every step recorded before is in the journal \
             objects; the next run (from any machine) replays them and adopts a token whose \
             create was interrupted"
        )
    )]
    LockLost { target: String, why: String },

    /// A stored object is not what tokenform writes there.
    #[error("{target}: {what} {why}")]
    #[diagnostic(code(tokenform::state::s3::foreign_object), help("{help}; nothing was written"))]
    Foreign { target: String, what: String, why: String, help: String },

    /// Any other failure of the store or the client.
    #[error("{target}: {action} failed: {why}")]
    #[diagnostic(code(tokenform::state::s3::request), help("nothing more was written by this step"))]
    Request { target: String, action: String, why: String },
}

/// What an `object_store` error means here (the caller builds the [`S3Error`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Kind {
    NotFound,
    /// `If-None-Match: *` found the object (or a 409 on create).
    Exists,
    /// `If-Match` did not match.
    Precondition,
    /// 409 ConditionalRequestConflict: another conditional write to the key was in flight.
    Conflict,
    NoBucket,
    Denied,
    Server,
    Network,
    Other,
}

/// Sorts an error and describes it in one line (S3's `<Code>` and `<Message>` when the
/// body has them; the client's causes otherwise). Holds no credential: neither the
/// client nor S3 quotes one (SigV4 sends only the key id in a header, never in a URL).
pub(super) fn classify(err: &object_store::Error) -> (Kind, String) {
    use object_store::Error as E;
    let text = chain(err);
    let why = summarize(&text);
    let kind = match err {
        _ if text.contains("NoSuchBucket") => Kind::NoBucket,
        _ if status_of(&text) == Some(409) => Kind::Conflict,
        E::NotFound { .. } => Kind::NotFound,
        E::AlreadyExists { .. } => Kind::Exists,
        E::Precondition { .. } | E::NotModified { .. } => Kind::Precondition,
        E::PermissionDenied { .. } | E::Unauthenticated { .. } => Kind::Denied,
        _ if status_of(&text).is_some_and(|s| s >= 500 || s == 429 || s == 408) => Kind::Server,
        _ if text.contains("AccessDenied") || text.contains("SignatureDoesNotMatch") => Kind::Denied,
        E::Generic { .. } if status_of(&text).is_none() => Kind::Network,
        _ => Kind::Other,
    };
    (kind, why)
}

/// The error and its sources, joined.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// `non-2xx status code: 503 …` → 503.
fn status_of(text: &str) -> Option<u16> {
    let rest = text.split("status code: ").nth(1)?;
    rest.get(..3)?.parse().ok()
}

fn tag<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = text.find(&open)? + open.len();
    let len = text[start..].find("</")?;
    Some(&text[start..start + len])
}

/// One readable line: `HTTP 403 AccessDenied: Access Denied`, or the client's error
/// without the request URL's noise.
fn summarize(text: &str) -> String {
    let status = status_of(text).map(|s| format!("HTTP {s}"));
    let code = tag(text, "Code");
    let message = tag(text, "Message");
    let mut parts: Vec<String> = Vec::new();
    if let Some(s) = status {
        parts.push(s);
    }
    if let Some(c) = code {
        parts.push(c.to_owned());
    }
    let mut line = parts.join(" ");
    if let Some(m) = message {
        line = if line.is_empty() { m.to_owned() } else { format!("{line}: {m}") };
    }
    if line.is_empty() || (code.is_none() && message.is_none()) {
        // A transport error: keep its causes, which say what failed (connection refused, …).
        let tail = text.rsplit(" - ").next().unwrap_or(text);
        line = if line.is_empty() { tail.to_owned() } else { format!("{line}: {tail}") };
    }
    let mut line: String = line.chars().filter(|c| !c.is_control()).collect();
    if line.len() > 400 {
        let cut = (0..=400).rev().find(|&i| line.is_char_boundary(i)).unwrap_or(0);
        line.truncate(cut);
        line.push('…');
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_keep_the_code_and_message() {
        let text = "Generic S3 error: Error performing PUT http://127.0.0.1:1/b/k in 2ms - Server returned non-2xx status code: 403 Forbidden: <?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>Access Denied.</Message></Error>";
        assert_eq!(summarize(text), "HTTP 403 AccessDenied: Access Denied.");
        assert_eq!(status_of(text), Some(403));
        let net = "Generic S3 error: Error performing GET http://127.0.0.1:1/b/k in 2ms, after 3 retries - HTTP error: error sending request: client error (Connect): tcp connect error: Connection refused (os error 111)";
        assert!(summarize(net).contains("Connection refused"), "{}", summarize(net));
        assert_eq!(status_of(net), None);
    }
}
