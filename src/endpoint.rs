//! Where the access token may be sent: the one base-URL rule, shared by `config` (so
//! `validate` refuses what `plan` would) and the API client (checked again before it
//! connects). By default only LaunchDarkly's three hosts, loopback (decided by IP address,
//! never by name) and `embedded`; any other https host needs the consent of the environment
//! (`TOKENFORM_ALLOWED_HOSTS`), never of the configuration, which in CI comes from a pull
//! request sitting next to a real credential.
//!
//! Pure: no I/O and no environment reads. The command reads `TOKENFORM_ALLOWED_HOSTS` and
//! passes the parsed [`AllowedHosts`] in as a value.

use std::net::IpAddr;

use reqwest::Url;

/// The environment variable naming extra https hosts the token may be sent to.
pub const ALLOWED_HOSTS_ENV: &str = "TOKENFORM_ALLOWED_HOSTS";

/// LaunchDarkly's API hosts: commercial, EU, federal (docs/ld-api-notes.md §1).
pub const LAUNCHDARKLY_HOSTS: [&str; 3] =
    ["app.launchdarkly.com", "app.eu.launchdarkly.com", "app.launchdarkly.us"];

/// Where the API is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseUrl {
    /// An http(s) URL as the URL parser normalised it, without a trailing slash.
    Url(String),
    /// Run the emulator inside the process (`base_url = "embedded"`).
    Embedded,
}

/// Hosts the environment allows besides LaunchDarkly's (normalised: lower case, IDNA).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts(Vec<String>);

/// Why a base URL (or an entry of `TOKENFORM_ALLOWED_HOSTS`) is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum EndpointError {
    #[error("`{url}` is not a URL ({reason})")]
    #[diagnostic(
        code(tokenform::endpoint::not_a_url),
        help("write it in full, e.g. https://app.launchdarkly.com")
    )]
    NotAUrl { url: String, reason: String },

    #[error("`{url}`: unsupported scheme `{scheme}` (https, or http on loopback)")]
    #[diagnostic(code(tokenform::endpoint::scheme))]
    Scheme { url: String, scheme: String },

    #[error("`{url}` has no host")]
    #[diagnostic(code(tokenform::endpoint::no_host))]
    NoHost { url: String },

    #[error("`{url}` holds a user name or password; the token would go to {host}")]
    #[diagnostic(
        code(tokenform::endpoint::userinfo),
        help("a base URL never carries credentials: remove the `…@` part")
    )]
    Userinfo { url: String, host: String },

    #[error("`{url}` has a query or fragment; a base URL is scheme, host, port and an optional path")]
    #[diagnostic(code(tokenform::endpoint::query))]
    Query { url: String },

    #[error("refusing to send the access token over plain http to {host}")]
    #[diagnostic(
        code(tokenform::endpoint::plain_http),
        help("use https; plain http only for a loopback IP address (127.0.0.1, [::1])")
    )]
    PlainHttp { url: String, host: String },

    #[error("`{host}` is a name, not a loopback address; plain http needs the IP address")]
    #[diagnostic(
        code(tokenform::endpoint::loopback_name),
        help("write http://127.0.0.1:PORT (or [::1]): a name could resolve anywhere")
    )]
    LoopbackName { url: String, host: String },

    #[error(
        "refusing to send the access token to {host}: not a LaunchDarkly host, and not allowed by {ALLOWED_HOSTS_ENV}"
    )]
    #[diagnostic(
        code(tokenform::endpoint::host_not_allowed),
        help(
            "LaunchDarkly's hosts are app.launchdarkly.com, app.eu.launchdarkly.com and app.launchdarkly.us; \
             to use another (a relay or proxy you trust), set {ALLOWED_HOSTS_ENV}={host} in the environment \
             of the run: the configuration cannot allow a host"
        )
    )]
    NotAllowed { url: String, host: String },

    #[error("{ALLOWED_HOSTS_ENV} entry `{entry}` is not a host name: {reason}")]
    #[diagnostic(
        code(tokenform::endpoint::bad_allowed_host),
        help("list bare host names separated by commas, e.g. {ALLOWED_HOSTS_ENV}=relay.corp.example")
    )]
    BadAllowedHost { entry: String, reason: String },
}

impl AllowedHosts {
    /// No host besides LaunchDarkly's and loopback.
    pub fn none() -> Self {
        Self::default()
    }

    /// Parses the value of `TOKENFORM_ALLOWED_HOSTS`: host names (or IP addresses) separated
    /// by commas or whitespace. No scheme, port, path or wildcard.
    pub fn parse(value: &str) -> Result<Self, EndpointError> {
        let mut hosts = Vec::new();
        for entry in value.split(|c: char| c == ',' || c.is_whitespace()).filter(|e| !e.is_empty()) {
            let bad = |reason: &str| EndpointError::BadAllowedHost {
                entry: entry.to_owned(),
                reason: reason.into(),
            };
            if entry.contains(['/', '@', '*', '?', '#']) || entry.contains("://") {
                return Err(bad("write only the host, without scheme, path, user or wildcard"));
            }
            if entry.contains("]:") || (!entry.starts_with('[') && entry.contains(':')) {
                return Err(bad("a port is not part of the host"));
            }
            let url = Url::parse(&format!("https://{entry}/")).map_err(|e| bad(&e.to_string()))?;
            match url.host_str() {
                Some(h) if !h.is_empty() => hosts.push(h.to_owned()),
                _ => return Err(bad("empty host")),
            }
        }
        Ok(Self(hosts))
    }

    /// The hosts, normalised.
    pub fn hosts(&self) -> &[String] {
        &self.0
    }

    fn contains(&self, host: &str) -> bool {
        self.0.iter().any(|h| h == host)
    }
}

/// The one base-URL check: `"embedded"`, or a URL whose host may receive the token.
/// Returns the URL as parsed (host lower-cased, default port dropped) without a trailing `/`,
/// so the client connects to exactly what was checked.
pub fn check(value: &str, allowed: &AllowedHosts) -> Result<BaseUrl, EndpointError> {
    if value == "embedded" {
        return Ok(BaseUrl::Embedded);
    }
    let url = value.to_owned();
    let parsed =
        Url::parse(value).map_err(|e| EndpointError::NotAUrl { url: url.clone(), reason: e.to_string() })?;
    let scheme = parsed.scheme();
    if scheme != "https" && scheme != "http" {
        return Err(EndpointError::Scheme { url, scheme: scheme.to_owned() });
    }
    let host = match parsed.host_str() {
        Some(h) if !h.is_empty() => h.to_owned(),
        _ => return Err(EndpointError::NoHost { url }),
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(EndpointError::Userinfo { url, host });
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(EndpointError::Query { url });
    }
    let loopback = is_loopback_host(&host);
    if scheme == "http" && !loopback {
        if host == "localhost" {
            return Err(EndpointError::LoopbackName { url, host });
        }
        return Err(EndpointError::PlainHttp { url, host });
    }
    if !loopback && !LAUNCHDARKLY_HOSTS.contains(&host.as_str()) && !allowed.contains(&host) {
        return Err(EndpointError::NotAllowed { url, host });
    }
    Ok(BaseUrl::Url(parsed.as_str().trim_end_matches('/').to_owned()))
}

/// Whether a host, as the URL parser wrote it, is a loopback IP address (`127.0.0.0/8`,
/// `[::1]`, or `[::ffff:127.x.y.z]`). Names never are, not even `localhost`.
pub fn is_loopback_host(host: &str) -> bool {
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    match bare.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => ip.is_loopback(),
        Ok(IpAddr::V6(ip)) => ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> BaseUrl {
        BaseUrl::Url(s.into())
    }

    /// Every base URL rule, through the one function `config` and the client both call.
    #[test]
    fn base_url_table() {
        let relay = AllowedHosts::parse("relay.corp.example, 10.1.2.3").unwrap();
        let none = AllowedHosts::none();
        #[rustfmt::skip]
        let cases: Vec<(&str, &AllowedHosts, Result<BaseUrl, &str>)> = vec![
            ("embedded", &none, Ok(BaseUrl::Embedded)),
            ("https://app.launchdarkly.com", &none, Ok(url("https://app.launchdarkly.com"))),
            ("https://app.launchdarkly.com/", &none, Ok(url("https://app.launchdarkly.com"))),
            ("https://APP.LaunchDarkly.com:443/", &none, Ok(url("https://app.launchdarkly.com"))),
            ("https://app.eu.launchdarkly.com", &none, Ok(url("https://app.eu.launchdarkly.com"))),
            ("https://app.launchdarkly.us", &none, Ok(url("https://app.launchdarkly.us"))),
            ("http://127.0.0.1:8765/", &none, Ok(url("http://127.0.0.1:8765"))),
            ("http://127.1:8765", &none, Ok(url("http://127.0.0.1:8765"))),
            ("http://[::1]:80", &none, Ok(url("http://[::1]"))),
            ("https://127.0.0.1:9", &none, Ok(url("https://127.0.0.1:9"))),
            ("https://relay.corp.example/ld", &relay, Ok(url("https://relay.corp.example/ld"))),
            ("https://10.1.2.3", &relay, Ok(url("https://10.1.2.3"))),
            // look-alikes and tricks
            ("https://app.launchdarkly.com.evil.com", &none, Err("host_not_allowed")),
            ("https://evil.com/app.launchdarkly.com", &none, Err("host_not_allowed")),
            ("https://app.launchdarkly.com.", &none, Err("host_not_allowed")),
            ("https://relay.corp.example", &none, Err("host_not_allowed")),
            ("https://sub.relay.corp.example", &relay, Err("host_not_allowed")),
            ("http://127.0.0.1.example.com", &none, Err("plain_http")),
            ("http://127.0.0.1@example.com", &none, Err("userinfo")),
            ("https://user:pw@app.launchdarkly.com", &none, Err("userinfo")),
            ("https://app.launchdarkly.com@evil.com", &none, Err("userinfo")),
            ("http://localhost:1", &none, Err("loopback_name")),
            ("http://app.launchdarkly.com", &none, Err("plain_http")),
            ("http://relay.corp.example", &relay, Err("plain_http")),
            ("http://10.0.0.1", &none, Err("plain_http")),
            ("https://app.launchdarkly.com/?x=1", &none, Err("query")),
            ("https://app.launchdarkly.com/#f", &none, Err("query")),
            ("ftp://app.launchdarkly.com", &none, Err("scheme")),
            ("app.launchdarkly.com", &none, Err("not_a_url")),
            ("not a url", &none, Err("not_a_url")),
            ("https://", &none, Err("not_a_url")),
            ("Embedded", &none, Err("not_a_url")),
        ];
        for (input, allowed, want) in cases {
            let got = check(input, allowed).map_err(|e| {
                let code = miette::Diagnostic::code(&e).map(|c| c.to_string()).unwrap_or_default();
                code.trim_start_matches("tokenform::endpoint::").to_owned()
            });
            assert_eq!(got, want.map_err(str::to_owned), "{input}");
        }
    }

    #[test]
    fn refusals_name_the_host_and_the_way_out() {
        let e = check("https://app.launchdarkly.com.evil.com", &AllowedHosts::none()).unwrap_err();
        let help = miette::Diagnostic::help(&e).map(|h| h.to_string()).unwrap_or_default();
        assert!(e.to_string().contains("app.launchdarkly.com.evil.com"), "{e}");
        assert!(help.contains("TOKENFORM_ALLOWED_HOSTS=app.launchdarkly.com.evil.com"), "{help}");
        assert!(help.contains("configuration cannot"), "{help}");
        let e = check("http://127.0.0.1@example.com", &AllowedHosts::none()).unwrap_err();
        assert!(
            e.to_string().contains("user name or password") && e.to_string().contains("example.com"),
            "{e}"
        );
    }

    #[test]
    fn allowed_hosts_are_bare_hosts() {
        assert_eq!(AllowedHosts::parse("").unwrap(), AllowedHosts::none());
        assert_eq!(
            AllowedHosts::parse(" Relay.Corp.example,b.example  c.example ").unwrap().hosts(),
            ["relay.corp.example", "b.example", "c.example"]
        );
        for bad in ["https://relay.example", "relay.example:443", "*.example", "a/b", "u@h", "a b%"] {
            assert!(AllowedHosts::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn loopback_is_decided_by_ip() {
        for host in ["127.0.0.1", "127.255.0.9", "[::1]", "[::ffff:127.0.0.1]"] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in ["localhost", "127.0.0.1.example.com", "10.0.0.1", "[::2]", "0.0.0.0"] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }
}
