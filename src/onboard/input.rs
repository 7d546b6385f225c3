//! What onboarding takes in (a Terraform state, from a file or stdin), read through the
//! project-wide [`crate::files`] rules: a file is a regular file of at most
//! [`Kind::TerraformState`]'s cap, standard input is cut off at the same cap. No path
//! confinement: the paths here come from the command line, not from configuration.

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::files::{self, FileError, Kind};

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

    #[error(transparent)]
    #[diagnostic(transparent)]
    File(FileError),
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
            Source::File(p) => crate::escape::text(&p.display().to_string()).into_owned(),
        }
    }
}

/// Reads all of a Terraform state from `source` (zeroized when dropped: a Terraform state
/// holds secrets in plaintext), refusing more than [`Kind::TerraformState`]'s cap.
pub fn read_terraform_state(source: &Source) -> Result<Zeroizing<Vec<u8>>, InputError> {
    let kind = Kind::TerraformState;
    let too_large =
        || InputError::TooLarge { what: source.describe(), limit_mib: kind.cap().div_ceil(1024 * 1024) };
    match source {
        Source::Stdin => files::read_limited(std::io::stdin().lock(), kind.cap())
            .map_err(|source_error| InputError::Io { what: source.describe(), source: source_error })?
            .ok_or_else(too_large),
        Source::File(path) => files::read(path, kind).map_err(|e| match e {
            FileError::TooLarge { .. } => too_large(),
            other => InputError::File(other),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_file_is_refused_with_the_jq_hint_and_a_directory_as_not_regular() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.tfstate");
        let cap = usize::try_from(Kind::TerraformState.cap()).unwrap();
        std::fs::write(&path, vec![b' '; cap + 1]).unwrap();
        let err = read_terraform_state(&Source::File(path)).unwrap_err();
        assert!(matches!(err, InputError::TooLarge { limit_mib: 8, .. }), "{err}");
        assert!(matches!(
            read_terraform_state(&Source::File(dir.path().to_path_buf())),
            Err(InputError::File(FileError::NotRegular { .. }))
        ));
    }
}
