//! Bounded reads of what onboarding takes in (a Terraform state, from a file or stdin), so
//! a huge or endless input fails with a clear error in bounded memory instead of
//! exhausting it. Meant to give way to the project-wide bounded-read module once that
//! exists; it must not grow policy of its own (no path confinement: the paths here come
//! from the command line, not from configuration).

use std::io::Read;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

/// Why an input could not be read.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum InputError {
    #[error("{what} is larger than {limit_mib} MiB, more than tokenform reads")]
    #[diagnostic(
        code(tokenform::onboard::input_too_large),
        help(
            "keep only the access tokens first, e.g. `terraform state pull | jq '.resources |= map(select(.type == \"launchdarkly_access_token\"))' | tokenform migrate terraform -`"
        )
    )]
    TooLarge { what: String, limit_mib: u64 },

    #[error("could not read {what}: {source}")]
    #[diagnostic(code(tokenform::onboard::input_unreadable))]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// Where an input comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Stdin,
    File(PathBuf),
}

impl Source {
    /// `-` is stdin; anything else a path.
    pub fn from_arg(arg: &Path) -> Self {
        if arg.as_os_str() == "-" { Source::Stdin } else { Source::File(arg.to_path_buf()) }
    }

    /// How errors name it.
    pub fn describe(&self) -> String {
        match self {
            Source::Stdin => "standard input".to_owned(),
            Source::File(p) => p.display().to_string(),
        }
    }
}

/// Reads all of `source`, refusing more than `limit` bytes. The buffer is zeroized when
/// dropped (a Terraform state holds secrets in plaintext) and is allocated once, so no
/// reallocation leaves an unzeroized copy behind.
pub fn read_bounded(source: &Source, limit: u64) -> Result<Zeroizing<Vec<u8>>, InputError> {
    let what = source.describe();
    let too_large = || InputError::TooLarge { what: what.clone(), limit_mib: limit.div_ceil(1024 * 1024) };
    let io = |source: std::io::Error| InputError::Io { what: what.clone(), source };
    match source {
        Source::Stdin => read_limited(std::io::stdin().lock(), limit).map_err(io)?.ok_or_else(too_large),
        Source::File(path) => {
            let file = std::fs::File::open(path).map_err(io)?;
            let meta = file.metadata().map_err(io)?;
            if meta.is_dir() {
                return Err(io(std::io::Error::other("it is a directory")));
            }
            if meta.is_file() && meta.len() > limit {
                return Err(too_large());
            }
            read_limited(file, limit).map_err(io)?.ok_or_else(too_large)
        }
    }
}

/// Reads `reader` to its end, or `None` once it has given more than `limit` bytes.
pub fn read_limited(reader: impl Read, limit: u64) -> std::io::Result<Option<Zeroizing<Vec<u8>>>> {
    let cap = usize::try_from(limit.saturating_add(1)).unwrap_or(usize::MAX);
    let mut buf = Zeroizing::new(Vec::with_capacity(cap));
    reader.take(limit.saturating_add(1)).read_to_end(&mut buf)?;
    if buf.len() as u64 > limit { Ok(None) } else { Ok(Some(buf)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_up_to_the_limit_and_no_further() {
        let exact = read_limited(&b"12345"[..], 5).unwrap().unwrap();
        assert_eq!(&exact[..], b"12345");
        assert!(read_limited(&b"123456"[..], 5).unwrap().is_none());
        // An endless reader stops at the limit.
        assert!(read_limited(std::io::repeat(b'x'), 1024).unwrap().is_none());
    }

    #[test]
    fn a_large_file_is_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.tfstate");
        std::fs::write(&path, vec![b' '; 2048]).unwrap();
        let err = read_bounded(&Source::File(path), 1024).unwrap_err();
        assert!(matches!(err, InputError::TooLarge { .. }), "{err}");
        assert!(matches!(
            read_bounded(&Source::File(dir.path().to_path_buf()), 1024),
            Err(InputError::Io { .. })
        ));
    }
}
