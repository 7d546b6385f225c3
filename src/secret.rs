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
}
