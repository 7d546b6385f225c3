//! The one type that holds a token secret: redacted in `Debug`/`Display`/`Serialize`,
//! zeroized on drop. Reading the value needs an explicit [`Secret::expose`].

use std::fmt;

use zeroize::Zeroizing;

/// A LaunchDarkly access-token secret (or any other credential).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }

    /// The secret itself. Callers must not log or print it.
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }

    /// The last four characters, which LaunchDarkly itself shows in clear.
    pub fn last4(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        let start = chars.len().saturating_sub(4);
        chars[start..].iter().collect()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(sensitive value)")
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Secret::new(s))
    }
}

/// Serializes as a redaction marker, so a secret can never leak through a JSON dump.
impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("(sensitive value)")
    }
}

/// True when `s` contains something shaped like an access-token secret (`api-` + UUID).
pub fn looks_like_secret(s: &str) -> bool {
    find_secret(s).is_some()
}

/// True when `s` is exactly a LaunchDarkly access token: `api-` + a UUID-shaped run (40 characters).
pub fn is_access_token(s: &str) -> bool {
    s.len() == 40 && s.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("api-")) && find_secret(s) == Some(0)
}

/// Byte offset of the first `api-`/`sdk-` + UUID-shaped run in `s`.
pub fn find_secret(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let shape: &[usize] = &[8, 4, 4, 4, 12];
    let mut i = 0;
    while i + 40 <= bytes.len() {
        let prefix = &bytes[i..i + 4];
        if prefix.eq_ignore_ascii_case(b"api-") || prefix.eq_ignore_ascii_case(b"sdk-") {
            let mut j = i + 4;
            let mut ok = true;
            for (n, len) in shape.iter().enumerate() {
                if n > 0 {
                    if bytes.get(j) != Some(&b'-') {
                        ok = false;
                        break;
                    }
                    j += 1;
                }
                for _ in 0..*len {
                    if !bytes.get(j).is_some_and(u8::is_ascii_hexdigit) {
                        ok = false;
                        break;
                    }
                    j += 1;
                }
                if !ok {
                    break;
                }
            }
            if ok {
                return Some(i);
            }
        }
        i += 1;
    }
    None
}

/// Replaces every secret-shaped run in `s` with `api-<redacted>` (for traces and errors).
pub fn redact_secrets(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = find_secret(rest) {
        out.push_str(&rest[..at]);
        out.push_str("api-<redacted>");
        rest = &rest[at + 40..];
    }
    out.push_str(rest);
    out
}

/// Replaces the password of every `scheme://user:PASSWORD@host` URL and every
/// `password=VALUE` pair in `s` with `*`, byte for byte (offsets stay valid): a
/// connection string pasted into a configuration is never shown back.
pub fn mask_url_passwords(s: &str) -> String {
    let mut bytes = s.as_bytes().to_vec();
    let ends = |b: u8| b.is_ascii_whitespace() || matches!(b, b'"' | b'\'' | b'/' | b'?' | b'#' | b'`');
    let mut from = 0;
    while let Some(at) = s[from..].find("://") {
        let start = from + at + 3;
        let end = s.as_bytes()[start..].iter().position(|b| ends(*b)).map_or(s.len(), |n| start + n);
        let authority = &s.as_bytes()[start..end];
        if let (Some(colon), Some(at_sign)) =
            (authority.iter().position(|b| *b == b':'), authority.iter().rposition(|b| *b == b'@'))
            && colon < at_sign
        {
            bytes[start + colon + 1..start + at_sign].fill(b'*');
        }
        from = end.max(start);
    }
    let lower = s.to_ascii_lowercase();
    let mut from = 0;
    while let Some(at) = lower[from..].find("password=") {
        let start = from + at + "password=".len();
        let end =
            s.as_bytes()[start..].iter().position(|b| ends(*b) || *b == b'&').map_or(s.len(), |n| start + n);
        bytes[start..end].fill(b'*');
        from = end;
    }
    mask_credential_attributes(&lower, &mut bytes);
    // Only whole bytes of the original were replaced by ASCII: still UTF-8 unless a
    // multi-byte character was cut, which `from_utf8_lossy` then masks too.
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Prefixes of well-known credentials (GitHub, GitLab, Slack, AWS, Stripe, npm, PyPI,
/// Google, age, PEM), so a value read from a file is masked whoever issued it.
const CREDENTIAL_PREFIXES: &[&str] = &[
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "xoxa-",
    "xoxb-",
    "xoxp-",
    "xoxr-",
    "xoxs-",
    "xapp-",
    "AKIA",
    "ASIA",
    "sk_live_",
    "sk_test_",
    "rk_live_",
    "npm_",
    "pypi-",
    "AIza",
    "AGE-SECRET-KEY-",
    "-----BEGIN",
    "eyJ",
    "api-",
    "sdk-",
    "mob-",
];

/// The bech32 alphabet of an age recipient (`age1…`), which is public and may be shown.
const BECH32: &str = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

/// True when `word` (text read from a file) may be a credential of any kind: a
/// LaunchDarkly secret, a well-known prefix (`ghp_`, `AKIA`, `xoxb-`, `AGE-SECRET-KEY-`…),
/// a `KEY=value` or `user:password` pair, a NUL-separated environment block, or a long
/// high-entropy run. Public recipient shapes (`age1` + bech32, an `ssh-…` key type) are not.
pub fn looks_sensitive(word: &str) -> bool {
    if let Some(rest) = word.strip_prefix("age1")
        && rest.chars().all(|c| BECH32.contains(c))
    {
        return false;
    }
    if word.starts_with("ssh-")
        && word.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return false;
    }
    if find_secret(word).is_some()
        || CREDENTIAL_PREFIXES.iter().any(|p| word.starts_with(p))
        || word.contains(['=', ':', '\0'])
    {
        return true;
    }
    high_entropy(word)
}

/// 16 characters or more, letters and digits mixed, more than 3 bits a character: random,
/// not a word.
fn high_entropy(word: &str) -> bool {
    let n = word.chars().count();
    if n < 16 || !word.chars().any(|c| c.is_ascii_digit()) || !word.chars().any(char::is_alphabetic) {
        return false;
    }
    let mut counts = std::collections::HashMap::new();
    for c in word.chars() {
        *counts.entry(c).or_insert(0_u32) += 1;
    }
    #[allow(clippy::cast_precision_loss)] // counts of a short word
    let bits: f64 = counts
        .values()
        .map(|&k| {
            let p = f64::from(k) / n as f64;
            -p * p.log2()
        })
        .sum();
    bits > 3.0
}

/// How a message may quote a value read from a file: its first word only, at most 24
/// characters, control characters escaped, in backticks; or a placeholder when it
/// [`looks_sensitive`].
pub fn quote_token(s: &str) -> String {
    let s = s.trim();
    let mut words = s.split_whitespace();
    let first = words.next().unwrap_or_default();
    if looks_sensitive(first) {
        return format!("(a secret-shaped value of {} characters, not shown)", s.chars().count());
    }
    let mut shown: String = first.chars().take(24).collect();
    if first.chars().count() > 24 || words.next().is_some() {
        shown.push('…');
    }
    format!("`{}`", crate::escape::text(&shown))
}

/// The value of an S3 credential written as an attribute (`secret_key = "…"`, or
/// `"secret_key": "…"` in JSON), masked in `bytes` (the text, `lower` its lower case).
fn mask_credential_attributes(lower: &str, bytes: &mut [u8]) {
    const NAMES: &[&str] =
        &["secret_key", "secret_access_key", "access_key", "access_key_id", "session_token", "token"];
    let b = lower.as_bytes();
    for name in NAMES {
        let mut from = 0;
        while let Some(at) = lower[from..].find(name) {
            let start = from + at;
            from = start + name.len();
            let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
            if start > 0 && ident(b[start - 1]) || b.get(from).is_some_and(|c| ident(*c)) {
                continue;
            }
            let mut i = from;
            i += usize::from(b.get(i) == Some(&b'"'));
            while b.get(i).is_some_and(|c| *c == b' ' || *c == b'\t') {
                i += 1;
            }
            if !matches!(b.get(i), Some(b'=' | b':')) {
                continue;
            }
            i += 1;
            while b.get(i).is_some_and(|c| *c == b' ' || *c == b'\t') {
                i += 1;
            }
            if b.get(i) != Some(&b'"') {
                continue;
            }
            let value = i + 1;
            let end =
                b[value..].iter().position(|c| matches!(c, b'"' | b'\n')).map_or(b.len(), |n| value + n);
            bytes[value..end].fill(b'*');
            from = end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_credential_attributes_are_masked_keeping_offsets() {
        let text = "secret_key = \"wJalrXUtnFEMI\"\n\"access_key\": \"AKIAEXAMPLE\", key = \"state.json\" tokens = \"x\"";
        let masked = mask_url_passwords(text);
        assert_eq!(masked.len(), text.len());
        assert!(!masked.contains("wJalr") && !masked.contains("AKIA"), "{masked}");
        assert!(masked.contains("key = \"state.json\"") && masked.contains("tokens = \"x\""), "{masked}");
    }

    #[test]
    fn url_passwords_are_masked_keeping_offsets() {
        let text = "conn_str = \"postgres://alice:hunter2@db:5432/x?password=also\" # ok";
        let masked = mask_url_passwords(text);
        assert_eq!(masked.len(), text.len());
        assert!(!masked.contains("hunter2") && !masked.contains("also"), "{masked}");
        assert!(masked.contains("postgres://alice:*******@db:5432/x"), "{masked}");
        assert_eq!(mask_url_passwords("https://example.com/a:b@c"), "https://example.com/a:b@c");
        assert_eq!(mask_url_passwords("host=h password=pw user=u"), "host=h password=** user=u");
    }

    const S: &str = "api-0a1b2c3d-0000-4000-8000-00000000beef";

    #[test]
    fn debug_and_display_redact() {
        let s = Secret::new(S);
        assert!(!format!("{s:?}").contains("beef"));
        assert_eq!(format!("{s}"), "(sensitive value)");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"(sensitive value)\"");
        assert_eq!(s.last4(), "beef");
    }

    #[test]
    fn finds_secret_shapes() {
        assert!(looks_like_secret(&format!("token = \"{S}\"")));
        assert!(!looks_like_secret("api-not-a-secret"));
        assert_eq!(redact_secrets(&format!("a {S} b")), "a api-<redacted> b");
        assert!(is_access_token(S));
        for not in [
            "ghp_0123456789abcdefghijklmnopqrstuvwxyz",
            "sdk-0a1b2c3d-0000-4000-8000-00000000beef",
            "",
            "api-x",
        ] {
            assert!(!is_access_token(not), "{not}");
        }
        assert!(!is_access_token(&format!("{S}x")) && !is_access_token(&format!(" {S}")));
    }

    #[test]
    fn any_credential_shape_is_masked_and_public_recipients_are_not() {
        for secret in [
            S,
            "ghp_0123456789abcdefABCDEF0123456789abcd",
            "AKIAIOSFODNN7EXAMPLE",
            "xoxb-1234-5678-abcdef",
            "GITHUB_TOKEN=ghp_xyz",
            "PATH=/usr/bin\0HOME=/root",
            "root:x:0:0:root:/root:/bin/bash",
            "AGE-SECRET-KEY-1QQQ",
            "3f9a1c0e7b2d4a6f8e1c3b5d7f9a2c4e",
        ] {
            assert!(looks_sensitive(secret), "{secret}");
            let q = quote_token(secret);
            assert!(q.starts_with("(a secret-shaped value"), "{q}");
        }
        for public in [
            "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p",
            "ssh-ed25519",
            "hello",
            "age1nope",
        ] {
            assert!(!looks_sensitive(public), "{public}");
        }
        assert_eq!(quote_token("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5"), "`ssh-ed25519…`");
        assert_eq!(quote_token("hello\u{1b}[2J"), "`hello\\u{1b}[2J`");
    }
}
