//! age encryption for the state: ASCII-armored files to a list of recipients, and
//! decryption of armored or binary age files with the user's identities.
//! No file I/O here; plaintext buffers that may hold a secret are zeroized.

use std::io::{Read, Write};

use age::armor::{ArmoredReader, ArmoredWriter, Format};
use zeroize::Zeroizing;

use crate::state::error::StateError;
use crate::state::identity::Identities;
use crate::state::recipient::parse_recipient;

/// The first line of an ASCII-armored age file.
pub const ARMOR_BEGIN: &str = "-----BEGIN AGE ENCRYPTED FILE-----";
/// The first bytes of a binary age file.
pub const BINARY_MAGIC: &[u8] = b"age-encryption.org/";

/// True when `bytes` look like an age file (armored or binary), not JSON.
pub fn is_age(bytes: &[u8]) -> bool {
    let trimmed = trim_ascii_start(bytes);
    trimmed.starts_with(ARMOR_BEGIN.as_bytes()) || trimmed.starts_with(BINARY_MAGIC)
}

fn trim_ascii_start(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(bytes.len());
    &bytes[start..]
}

/// Recipient strings, deduplicated in order (state recipients first, then extras).
pub fn merge_recipients(base: &[String], extra: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(base.len() + extra.len());
    for r in base.iter().chain(extra) {
        let r = r.trim();
        if !r.is_empty() && !out.iter().any(|o| o == r) {
            out.push(r.to_owned());
        }
    }
    out
}

/// Parsed recipients, ready to encrypt to (parse once, encrypt many times).
pub struct Recipients {
    keys: Vec<Box<dyn age::Recipient + Send + Sync>>,
    /// The strings they came from, for `SecretRecord::recipients`.
    pub strings: Vec<String>,
}

impl std::fmt::Debug for Recipients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recipients").field("strings", &self.strings).finish_non_exhaustive()
    }
}

impl Recipients {
    /// Parses every recipient; the first bad one is the error. `what` names the payload
    /// for the "no recipients" error.
    pub fn parse(strings: Vec<String>, what: &str) -> Result<Self, StateError> {
        if strings.is_empty() {
            return Err(StateError::NoRecipients { what: what.to_owned() });
        }
        let keys = strings.iter().map(|s| parse_recipient(s)).collect::<Result<Vec<_>, _>>()?;
        Ok(Self { keys, strings })
    }

    /// Encrypts `plaintext` into an ASCII-armored age file.
    pub fn encrypt_armored(&self, plaintext: &[u8], what: &str) -> Result<String, StateError> {
        let fail = |reason: String| StateError::Encrypt { what: what.to_owned(), reason };
        let encryptor =
            age::Encryptor::with_recipients(self.keys.iter().map(|k| k.as_ref() as &dyn age::Recipient))
                .map_err(|e| fail(e.to_string()))?;
        let mut out = Vec::with_capacity(plaintext.len() * 4 / 3 + 400);
        let armor =
            ArmoredWriter::wrap_output(&mut out, Format::AsciiArmor).map_err(|e| fail(e.to_string()))?;
        let mut writer = encryptor.wrap_output(armor).map_err(|e| fail(e.to_string()))?;
        writer.write_all(plaintext).map_err(|e| fail(e.to_string()))?;
        writer.finish().and_then(ArmoredWriter::finish).map_err(|e| fail(e.to_string()))?;
        String::from_utf8(out).map_err(|e| fail(e.to_string()))
    }
}

/// Decrypts an age file (armored or binary). `what` names it in errors (a path or an
/// address). The plaintext is zeroized when dropped.
pub fn decrypt(
    ciphertext: &[u8],
    identities: &Identities,
    what: &str,
) -> Result<Zeroizing<Vec<u8>>, StateError> {
    let fail = |reason: String| StateError::Decrypt { what: what.to_owned(), reason };
    let decryptor =
        age::Decryptor::new_buffered(ArmoredReader::new(ciphertext)).map_err(|e| fail(describe(&e)))?;
    let mut reader = decryptor
        .decrypt(identities.identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
        .map_err(|e| fail(describe(&e)))?;
    let mut plaintext = Zeroizing::new(Vec::new());
    reader.read_to_end(&mut plaintext).map_err(|e| fail(format!("the ciphertext is damaged ({e})")))?;
    Ok(plaintext)
}

fn describe(e: &age::DecryptError) -> String {
    match e {
        age::DecryptError::NoMatchingKeys => {
            "none of the given identities is a recipient of it (wrong identity?)".to_owned()
        }
        age::DecryptError::InvalidHeader | age::DecryptError::UnknownFormat => {
            "it is not a valid age file (truncated or edited?)".to_owned()
        }
        age::DecryptError::InvalidMac | age::DecryptError::DecryptionFailed => {
            "its integrity check failed (the ciphertext was altered)".to_owned()
        }
        age::DecryptError::Io(io) => format!("it is not a valid age file ({io})"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> (Identities, String) {
        let id = age::x25519::Identity::generate();
        let r = id.to_public().to_string();
        (Identities { identities: vec![Box::new(id)] }, r)
    }

    #[test]
    fn round_trips_and_names_failures() {
        let (ids, r) = key();
        let (other, _) = key();
        let rs = Recipients::parse(vec![r], "test").unwrap();
        let ct = rs.encrypt_armored(b"hello", "test").unwrap();
        assert!(ct.starts_with(ARMOR_BEGIN));
        assert!(is_age(ct.as_bytes()));
        assert!(!is_age(b"{\"format_version\":1}"));
        assert_eq!(decrypt(ct.as_bytes(), &ids, "x").unwrap().as_slice(), b"hello");

        let wrong = decrypt(ct.as_bytes(), &other, "x").unwrap_err();
        assert!(wrong.to_string().contains("wrong identity"), "{wrong}");

        let truncated = &ct.as_bytes()[..ct.len() / 2];
        assert!(matches!(decrypt(truncated, &ids, "x"), Err(StateError::Decrypt { .. })));
    }

    #[test]
    fn refuses_empty_and_bad_recipients() {
        assert!(matches!(Recipients::parse(vec![], "a secret"), Err(StateError::NoRecipients { .. })));
        assert!(matches!(
            Recipients::parse(vec!["nope".into()], "a secret"),
            Err(StateError::BadRecipient { .. })
        ));
        assert_eq!(merge_recipients(&["a".into(), "b".into()], &["b".into(), " c ".into()]), ["a", "b", "c"]);
    }
}
