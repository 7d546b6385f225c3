//! Identities that open secrets: age identity files (`AGE-SECRET-KEY-1…` lines, several
//! keys, `#` comments) and unencrypted OpenSSH private keys (ed25519, RSA). Reads the one
//! file it is given; never prints or keeps key text beyond parsing (buffers are zeroized).

use std::io::BufReader;
use std::path::Path;

use zeroize::Zeroizing;

use crate::state::error::StateError;

/// age identities that can open secrets (`--identity` / `TOKENFORM_IDENTITY_FILE`).
pub struct Identities {
    pub identities: Vec<Box<dyn age::Identity + Send + Sync>>,
}

impl std::fmt::Debug for Identities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identities({} keys)", self.identities.len())
    }
}

impl Identities {
    /// Reads an age identity file (several keys, comments) or an OpenSSH private key.
    pub fn load(path: &Path) -> Result<Identities, StateError> {
        let text = crate::files::read(path, crate::files::Kind::Identity)?;
        Self::parse(&text).map_err(|reason| StateError::Identity { path: path.to_owned(), reason })
    }

    /// Parses identity file contents; the error says why, never quoting the file.
    pub fn parse(bytes: &[u8]) -> Result<Identities, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".to_owned())?;
        if text.contains("-----BEGIN") && text.contains("PRIVATE KEY-----") {
            return Self::parse_ssh(text);
        }
        // age's parser wants bare lines: trim indentation and CR so hand-edited files work.
        let cleaned = Zeroizing::new(text.lines().map(str::trim).collect::<Vec<_>>().join("\n"));
        let file = age::IdentityFile::from_buffer(BufReader::new(cleaned.as_bytes()))
            .map_err(|e| format!("{e} (expected AGE-SECRET-KEY-1… lines)"))?;
        let identities = file.into_identities().map_err(|e| e.to_string())?;
        if identities.is_empty() {
            return Err("it holds no AGE-SECRET-KEY-1… line".to_owned());
        }
        Ok(Identities { identities })
    }

    fn parse_ssh(text: &str) -> Result<Identities, String> {
        let identity = age::ssh::Identity::from_buffer(BufReader::new(text.as_bytes()), None)
            .map_err(|e| format!("not a readable OpenSSH private key ({e})"))?;
        match identity {
            age::ssh::Identity::Unencrypted(_) => Ok(Identities { identities: vec![Box::new(identity)] }),
            age::ssh::Identity::Encrypted(_) => {
                Err("the OpenSSH key is passphrase-protected; tokenform cannot prompt for it \
                 (use an age identity, or an unencrypted copy of the key)"
                    .to_owned())
            }
            age::ssh::Identity::Unsupported(_) => {
                Err("this OpenSSH key type is not supported by age (use ed25519 or RSA)".to_owned())
            }
        }
    }
}

/// A new X25519 identity in the `age-keygen` file format, and its recipient.
pub fn generate_identity_file(now: jiff::Timestamp) -> (Zeroizing<String>, String) {
    use age::secrecy::ExposeSecret;
    let id = age::x25519::Identity::generate();
    let recipient = id.to_public().to_string();
    let text = Zeroizing::new(format!(
        "# created: {}\n# public key: {recipient}\n{}\n",
        now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        id.to_string().expose_secret()
    ));
    (text, recipient)
}

/// The recipients (public keys) of an age identity file's X25519 keys.
pub fn recipients_of(bytes: &[u8]) -> Result<Vec<String>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".to_owned())?;
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let id: age::x25519::Identity =
            line.parse().map_err(|_| "it holds a line that is not an AGE-SECRET-KEY-1… key".to_owned())?;
        out.push(id.to_public().to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_several_keys_with_comments_and_indentation() {
        let (a, ra) = generate_identity_file(jiff::Timestamp::UNIX_EPOCH);
        let (b, rb) = generate_identity_file(jiff::Timestamp::UNIX_EPOCH);
        let text = format!("{}\n\n  # another\r\n{}", a.as_str(), b.replace('\n', "\r\n"));
        let ids = Identities::parse(text.as_bytes()).unwrap();
        assert_eq!(ids.identities.len(), 2);
        assert_eq!(recipients_of(text.as_bytes()).unwrap(), vec![ra, rb]);
        assert!(a.starts_with("# created: 1970-01-01T00:00:00Z\n# public key: age1"));
    }

    #[test]
    fn rejects_junk_without_quoting_it() {
        let err = Identities::parse(b"AGE-SECRET-KEY-1NOTAKEYATALL\n").err().unwrap();
        assert!(!err.contains("NOTAKEY"), "{err}");
        assert!(Identities::parse(b"# only a comment\n").is_err());
        assert!(Identities::parse(b"-----BEGIN OPENSSH PRIVATE KEY-----\ngarbage\n").is_err());
    }
}
