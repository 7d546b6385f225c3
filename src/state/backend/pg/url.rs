//! Parses a libpq-style connection URL (`postgres://USER:PASSWORD@HOST:PORT/DB?sslmode=…`)
//! into typed parameters. tokenform parses it itself because tokio-postgres reads only
//! `disable`/`prefer`/`require` and rejects `verify-full` and `sslrootcert`.
//!
//! Errors say what is wrong without quoting the URL (it holds a password). Pure: no I/O.

use std::time::Duration;

use crate::secret::Secret;

/// How the connection is protected (libpq's `sslmode`, minus the modes that fall back to
/// plaintext silently).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// No TLS: loopback only.
    Disable,
    /// TLS, the certificate unchecked (libpq: checked against `sslrootcert` when one is given).
    Require,
    /// TLS, the certificate chain checked against `sslrootcert`; any host name.
    VerifyCa,
    /// TLS, the chain and the host name checked.
    VerifyFull,
}

/// Where `verify-ca`/`verify-full` find the trusted certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCert {
    /// A PEM file of CA certificates.
    File(String),
    /// The operating system's trust store (`sslrootcert=system`, as libpq 16).
    System,
}

/// A parsed connection URL.
#[derive(Debug, Clone)]
pub struct ConnParams {
    pub host: String,
    pub port: u16,
    /// `None`: the OS user running tokenform (libpq's default).
    pub user: Option<String>,
    pub password: Option<Secret>,
    /// `None`: the user name (libpq's default).
    pub dbname: Option<String>,
    pub sslmode: SslMode,
    pub root_cert: Option<RootCert>,
    pub connect_timeout: Duration,
    pub application_name: String,
}

impl ConnParams {
    /// `host:port/db` for messages (never the user's password).
    pub fn target(&self, user: &str) -> String {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        format!("{user}@{host}:{}/{}", self.port, self.dbname.as_deref().unwrap_or(user))
    }

    /// True when the host is this machine (where `sslmode=disable` is allowed).
    pub fn is_loopback(&self) -> bool {
        let h = self.host.as_str();
        h == "localhost" || h == "::1" || h.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
    }
}

/// The default connect timeout when the URL sets none.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Parses `url`. The default `sslmode` is `require` (TLS always; what lib/pq and
/// Terraform's pg backend use), never libpq's `prefer`, which falls back to plaintext.
pub fn parse(url: &str) -> Result<ConnParams, String> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .ok_or("it must start with postgres:// or postgresql://")?;
    if rest.contains('#') {
        return Err("it has a fragment (#…); percent-encode # in a password as %23".into());
    }
    let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = before_query.split_once('/').unwrap_or((before_query, ""));
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (user, password) = match userinfo {
        None => (None, None),
        Some(u) => {
            let (name, pass) = u.split_once(':').map_or((u, None), |(n, p)| (n, Some(p)));
            let name = decode(name, "the user name")?;
            let pass = pass.map(|p| decode(p, "the password").map(Secret::new)).transpose()?;
            (Some(name).filter(|n| !n.is_empty()), pass)
        }
    };
    let (host, port) = host_port(hostport)?;
    let dbname = Some(decode(path, "the database name")?).filter(|d| !d.is_empty());
    let mut params = ConnParams {
        host,
        port: port.unwrap_or(5432),
        user,
        password,
        dbname,
        sslmode: SslMode::Require,
        root_cert: None,
        connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        application_name: "tokenform".to_owned(),
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').ok_or("a query parameter has no `=`")?;
        let key = decode(key, "a parameter name")?;
        let value = decode(value, &format!("the value of {key}"))?;
        apply(&mut params, &key, &value)?;
    }
    if params.host.is_empty() {
        return Err("it names no host (tokenform connects over TCP: postgres://USER@HOST/DB)".into());
    }
    Ok(params)
}

fn apply(params: &mut ConnParams, key: &str, value: &str) -> Result<(), String> {
    match key {
        "sslmode" => {
            params.sslmode = match value {
                "disable" => SslMode::Disable,
                "require" => SslMode::Require,
                "verify-ca" => SslMode::VerifyCa,
                "verify-full" => SslMode::VerifyFull,
                "allow" | "prefer" => {
                    return Err(format!(
                        "sslmode={value} may fall back to plaintext without telling; use require or verify-full \
                         (or disable, on loopback)"
                    ));
                }
                _ => return Err("sslmode must be disable, require, verify-ca or verify-full".into()),
            }
        }
        "sslrootcert" => {
            params.root_cert =
                Some(if value == "system" { RootCert::System } else { RootCert::File(value.to_owned()) });
        }
        "connect_timeout" => {
            let secs: u64 = value.parse().map_err(|_| "connect_timeout must be a whole number of seconds")?;
            params.connect_timeout = Duration::from_secs(secs.clamp(1, 300));
        }
        "application_name" => value.clone_into(&mut params.application_name),
        "host" => value.clone_into(&mut params.host),
        "port" => params.port = value.parse().map_err(|_| "port must be a number from 1 to 65535")?,
        "user" => params.user = Some(value.to_owned()),
        "password" => params.password = Some(Secret::new(value)),
        "dbname" => params.dbname = Some(value.to_owned()),
        other => {
            return Err(format!(
                "tokenform does not support the parameter `{}` (supported: sslmode, sslrootcert, \
                 connect_timeout, application_name, host, port, user, password, dbname)",
                shorten(other)
            ));
        }
    }
    if params.host.starts_with('/') {
        return Err("Unix-domain sockets are not supported; connect over TCP (host=127.0.0.1)".into());
    }
    Ok(())
}

fn host_port(s: &str) -> Result<(String, Option<u16>), String> {
    if s.contains(',') {
        return Err("several hosts are not supported; name one".into());
    }
    let (host, port) = if let Some(inner) = s.strip_prefix('[') {
        let (h, after) = inner.split_once(']').ok_or("an IPv6 host lacks its closing ]")?;
        (h.to_owned(), after.strip_prefix(':'))
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (s.to_owned(), None),
        }
    };
    let port = match port {
        None | Some("") => None,
        Some(p) => Some(
            p.parse::<u16>().ok().filter(|p| *p > 0).ok_or("the port must be a number from 1 to 65535")?,
        ),
    };
    Ok((decode(&host, "the host")?, port))
}

/// Percent-decodes one URL component; `what` names it in the error.
fn decode(s: &str, what: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .ok_or_else(|| format!("{what} has a % not followed by two hex digits"))?;
            out.push(
                u8::from_str_radix(hex, 16)
                    .map_err(|_| format!("{what} has a % not followed by two hex digits"))?,
            );
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{what} is not UTF-8 once decoded"))
}

fn shorten(s: &str) -> String {
    let clean: String = s.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(32).collect();
    if clean.is_empty() { "?".to_owned() } else { clean }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_libpq_urls_with_the_tls_modes_tokio_postgres_rejects() {
        let p = parse("postgres://alice:p%40ss%3Aword@db.example.com:6432/state?sslmode=verify-full&sslrootcert=/etc/ca.pem&connect_timeout=3").unwrap();
        assert_eq!(p.host, "db.example.com");
        assert_eq!(p.port, 6432);
        assert_eq!(p.user.as_deref(), Some("alice"));
        assert_eq!(p.password.as_ref().map(Secret::expose), Some("p@ss:word"));
        assert_eq!(p.dbname.as_deref(), Some("state"));
        assert_eq!(p.sslmode, SslMode::VerifyFull);
        assert_eq!(p.root_cert, Some(RootCert::File("/etc/ca.pem".into())));
        assert_eq!(p.connect_timeout, Duration::from_secs(3));
        assert_eq!(p.target("alice"), "alice@db.example.com:6432/state");
        assert!(!p.is_loopback());

        let p = parse("postgresql://[::1]/x?sslmode=disable&sslrootcert=system").unwrap();
        assert_eq!((p.host.as_str(), p.port, p.sslmode), ("::1", 5432, SslMode::Disable));
        assert_eq!(p.root_cert, Some(RootCert::System));
        assert!(p.is_loopback());
        let p = parse("postgres://127.0.0.1").unwrap();
        assert_eq!(p.sslmode, SslMode::Require, "TLS unless told otherwise");
        assert!(p.user.is_none() && p.dbname.is_none() && p.password.is_none());
    }

    #[test]
    fn errors_say_what_is_wrong_without_quoting_the_password() {
        for (url, says) in [
            ("mysql://u:hunter2@h/db", "postgres://"),
            ("postgres://u:hunter2@h/db?sslmode=prefer", "fall back to plaintext"),
            ("postgres://u:hunter2@h/db?sslmode=bogus", "sslmode must be"),
            ("postgres://u:hunter2@h:99999/db", "port"),
            ("postgres://u:hunter2@h1,h2/db", "several hosts"),
            ("postgres://u:hunt%zzer2@h/db", "the password has a %"),
            ("postgres://u:hunter2@h/db?sslcert=hunter2", "`sslcert`"),
            ("postgres://u:hunter2@/db", "no host"),
            ("postgres://u:hunter2@h/db?host=/run/postgresql", "Unix-domain"),
            ("postgres://u:hunter2@h/db#frag", "fragment"),
        ] {
            let err = parse(url).unwrap_err();
            assert!(err.contains(says), "{url}: {err}");
            assert!(!err.contains("hunter2"), "{url}: {err}");
        }
    }
}
