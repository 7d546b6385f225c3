//! Parsing age recipients: X25519 (`age1…`) and OpenSSH (`ssh-ed25519 …`, `ssh-rsa …`).

use std::str::FromStr;

/// A recipient string that is not a key, with why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{shown} is not an age recipient: {why}")]
pub struct RecipientError {
    /// The input, shortened for messages.
    pub shown: String,
    pub why: String,
}

/// Parses one recipient line.
pub fn parse_recipient(s: &str) -> Result<Box<dyn age::Recipient + Send + Sync>, RecipientError> {
    let s = s.trim();
    // Never more than the first word, and nothing of a secret-shaped one (a private key
    // pasted here, or a line of some other file).
    let err = |why: &str| RecipientError { shown: crate::secret::quote_token(s), why: why.to_owned() };
    if s.starts_with("age1") {
        age::x25519::Recipient::from_str(s)
            .map(|r| Box::new(r) as Box<dyn age::Recipient + Send + Sync>)
            .map_err(&err)
    } else if s.starts_with("ssh-") {
        age::ssh::Recipient::from_str(s)
            .map(|r| Box::new(r) as Box<dyn age::Recipient + Send + Sync>)
            // Not age's own text: `Unsupported` carries the key type read from the line.
            .map_err(|e| {
                use age::ssh::ParseRecipientKeyError as E;
                err(match e {
                    E::RsaModulusTooLarge => "the ssh-rsa key is larger than age supports",
                    E::RsaModulusTooSmall => "the ssh-rsa key is shorter than 2048 bits",
                    E::Unsupported(_) => "an OpenSSH key type age does not support (ssh-ed25519 or ssh-rsa)",
                    _ => "not a valid OpenSSH public key",
                })
            })
    } else if s.starts_with("AGE-SECRET-KEY-") {
        Err(err("this is a private identity; use its public recipient (age1…)"))
    } else {
        Err(err("expected an age1… X25519 recipient or an ssh-ed25519/ssh-rsa public key"))
    }
}

/// Recipients from a file: one a line, `#` comments and blank lines skipped.
pub fn recipients_from_text(text: &str) -> Vec<String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_x25519_and_rejects_junk() {
        let id = age::x25519::Identity::generate();
        let r = id.to_public().to_string();
        assert!(parse_recipient(&r).is_ok());
        assert!(parse_recipient("age1nope").is_err());
        assert!(parse_recipient("hello").is_err());
        assert_eq!(recipients_from_text("# c\n\nage1x\n  age1y  \n"), vec!["age1x", "age1y"]);
    }
}
