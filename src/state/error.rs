//! The errors of the state store: one enum, named fields, stable `tokenform::state::*`
//! codes and help. No variant ever holds a secret, key material or decrypted plaintext:
//! only paths, addresses, public recipients and messages from parsers and age.

use std::path::PathBuf;

use crate::state::recipient::RecipientError;

/// Errors of the state store (load, save, lock, journal, age).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum StateError {
    /// Another process holds the state lock.
    #[error("the state is locked by another tokenform process ({owner})")]
    #[diagnostic(
        code(tokenform::state::locked),
        help(
            "wait for it to finish (or retry with --lock-timeout 30s); if that process is gone, \
             run `tokenform force-unlock`. Lock file: {}",
            lock_path.display()
        )
    )]
    Locked {
        lock_path: PathBuf,
        /// pid, host, command and time of the holder, as one readable phrase.
        owner: String,
    },

    /// A file operation failed.
    #[error("could not {action} {path}")]
    #[diagnostic(code(tokenform::state::io))]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The state (or its decrypted content) is not a valid state document.
    #[error("the state file {path} is not valid JSON state: {message} (line {line}, column {column})")]
    #[diagnostic(
        code(tokenform::state::parse),
        help(
            "tokenform never overwrites a state it cannot read. Fix the file, or restore the \
             previous version from {}.backup.1",
            path.display()
        )
    )]
    Parse { path: PathBuf, line: usize, column: usize, message: String },

    /// The state was written by a newer tokenform.
    #[error("the state file {path} has format_version {found}; this tokenform reads up to {supported}")]
    #[diagnostic(code(tokenform::state::newer_format), help("upgrade tokenform; the file is left untouched"))]
    NewerFormat { path: PathBuf, found: u64, supported: u32 },

    /// age could not decrypt the state file or one secret.
    #[error("could not decrypt {what}: {reason}")]
    #[diagnostic(
        code(tokenform::state::decrypt),
        help(
            "pass an identity whose recipient the ciphertext was encrypted to (--identity FILE or \
             TOKENFORM_IDENTITY_FILE); a truncated or edited ciphertext cannot be decrypted"
        )
    )]
    Decrypt { what: String, reason: String },

    /// Something needs decrypting but no identity was given.
    #[error("{what} is age-encrypted and no identity was given")]
    #[diagnostic(
        code(tokenform::state::no_identity),
        help("pass --identity FILE or set TOKENFORM_IDENTITY_FILE (an age identity or OpenSSH private key)")
    )]
    NoIdentity { what: String },

    /// A secret (or the whole file) must be encrypted, but there is nobody to encrypt to.
    #[error("no recipients to encrypt {what} to")]
    #[diagnostic(
        code(tokenform::state::no_recipients),
        help(
            "add at least one recipient to the state block: `state {{ recipients = [\"age1…\"] }}` \
             (`tokenform keygen` makes one)"
        )
    )]
    NoRecipients { what: String },

    /// A configured recipient is not a key.
    #[error(transparent)]
    #[diagnostic(
        code(tokenform::state::bad_recipient),
        help("recipients are age X25519 keys (age1…) or OpenSSH public keys (ssh-ed25519 …, ssh-rsa …)")
    )]
    BadRecipient {
        #[from]
        source: RecipientError,
    },

    /// age refused to encrypt.
    #[error("could not encrypt {what}: {reason}")]
    #[diagnostic(code(tokenform::state::encrypt))]
    Encrypt { what: String, reason: String },

    /// The identity file is unreadable or holds no usable key.
    #[error("the identity file {path} is not usable: {reason}")]
    #[diagnostic(
        code(tokenform::state::identity),
        help(
            "an identity file holds AGE-SECRET-KEY-1… lines (from `tokenform keygen` or age-keygen) \
             or one unencrypted OpenSSH private key"
        )
    )]
    Identity { path: PathBuf, reason: String },

    /// The journal beside the state has a damaged record before its last line.
    #[error("the state journal {path} is damaged at line {line}: {reason}")]
    #[diagnostic(
        code(tokenform::state::journal),
        help(
            "the journal holds changes not yet compacted into the state; tokenform leaves both files \
             untouched. Inspect it, then remove it to fall back to the state file alone"
        )
    )]
    Journal { path: PathBuf, line: usize, reason: String },

    /// The journal belongs to another state (a different lineage).
    #[error("the state journal {path} belongs to lineage {journal_lineage}, the state to {state_lineage}")]
    #[diagnostic(
        code(tokenform::state::journal_lineage),
        help("a journal from another state was left beside this one; move it away and retry")
    )]
    JournalLineage { path: PathBuf, journal_lineage: String, state_lineage: String },

    /// A write was attempted on a store opened without the lock.
    #[error("the state at {path} was opened read-only (without the lock) and cannot be written")]
    #[diagnostic(code(tokenform::state::read_only))]
    ReadOnly { path: PathBuf },

    /// `force-unlock` refused: the lock's owner still runs (or cannot be checked).
    #[error("the state lock {lock_path} is held by a running process ({owner})")]
    #[diagnostic(
        code(tokenform::state::lock_owner_alive),
        help("{why}; let it finish, or stop that process first")
    )]
    LockOwnerAlive { lock_path: PathBuf, owner: String, why: String },

    /// The state could not be serialized (should not happen).
    #[error("could not serialize the state: {message}")]
    #[diagnostic(code(tokenform::state::serialize))]
    Serialize { message: String },
}

impl StateError {
    /// An [`StateError::Io`] for `action` on `path`.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| StateError::Io { action, path, source }
    }
}
