//! The errors of the state store: one enum, named fields, stable `tokenform::state::*`
//! codes and help. No variant ever holds a secret, key material or decrypted plaintext:
//! only paths, addresses, public recipients and messages from parsers and age.

use std::path::PathBuf;

use crate::state::backend::pg::PgError;
use crate::state::backend::s3::S3Error;
use crate::state::lock::LockInfo;
use crate::state::recipient::RecipientError;

/// Errors of the state store (load, save, lock, journal, age).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum StateError {
    /// Another run holds the state lock. The message is Terraform's shape (`Lock Info:`
    /// and one `Key: value` line each), so scripts can read the holder from it.
    #[error("the state is locked\n{}", info.render())]
    #[diagnostic(
        code(tokenform::state::locked),
        help(
            "{backend} is held by another tokenform run: wait for it to finish (or retry with \
             --lock-timeout 30s); if that run is gone, run `tokenform force-unlock {}`",
            info.id
        )
    )]
    Locked {
        /// The lock, named for people (`the state file's lock …`, `PostgreSQL …`).
        backend: String,
        info: Box<LockInfo>,
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
    #[error("{what} is not valid JSON state: {message} (line {line}, column {column})")]
    #[diagnostic(
        code(tokenform::state::parse),
        help("tokenform never overwrites a state it cannot read. Fix it, or {restore}")
    )]
    Parse {
        /// What was read (`the state file ./x.json`, `the state in PostgreSQL …`).
        what: String,
        line: usize,
        column: usize,
        message: String,
        /// How to get the previous version back on this backend.
        restore: String,
    },

    /// The state was written by a newer tokenform.
    #[error("{what} has format_version {found}; this tokenform reads up to {supported}")]
    #[diagnostic(
        code(tokenform::state::newer_format),
        help("upgrade tokenform; the state is left untouched")
    )]
    NewerFormat { what: String, found: u64, supported: u32 },

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
    #[error("no identity was given to decrypt {what}")]
    #[diagnostic(
        code(tokenform::state::no_identity),
        help("pass --identity FILE or set TOKENFORM_IDENTITY_FILE (an age identity or OpenSSH private key)")
    )]
    NoIdentity { what: String },

    /// Two entries of one state hold the same live token id. Applying such a state could
    /// rotate, retire or delete one token twice, so it is never loaded.
    #[error("{what} records token {} twice: at {first} and at {second}", crate::escape::text(id))]
    #[diagnostic(
        code(tokenform::state::duplicate_id),
        help(
            "a live token belongs to one address. Keep the entry that is right and delete the other \
             from the state file by hand (the live token is untouched), or restore a backup \
             (`<state path>.backup.1` …)"
        )
    )]
    DuplicateId { what: String, id: String, first: String, second: String },

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
    #[error("{what} is damaged at record {line}: {reason}")]
    #[diagnostic(
        code(tokenform::state::journal),
        help(
            "the journal holds changes not yet compacted into the state; tokenform leaves both files \
             untouched. Inspect it, then remove it to fall back to the state file alone"
        )
    )]
    Journal {
        /// The journal, named for people (`the state journal ./x.json.journal`).
        what: String,
        /// 1 is the header line (local file); records count from 2.
        line: usize,
        reason: String,
    },

    /// The journal belongs to another state (a different lineage).
    #[error(
        "{what} belongs to lineage {}, the state to {}",
        crate::escape::excerpt(journal_lineage),
        crate::escape::excerpt(state_lineage)
    )]
    #[diagnostic(
        code(tokenform::state::journal_lineage),
        help("a journal from another state was left beside this one; move it away and retry")
    )]
    JournalLineage { what: String, journal_lineage: String, state_lineage: String },

    /// A write was attempted on a store opened without the lock.
    #[error("{what} was opened read-only (without the lock) and cannot be written")]
    #[diagnostic(code(tokenform::state::read_only))]
    ReadOnly { what: String },

    /// `force-unlock` refused: the lock's owner still runs (or cannot be checked).
    #[error("the state lock is held by a running tokenform\n{}", info.render())]
    #[diagnostic(
        code(tokenform::state::lock_owner_alive),
        help("{why}; let it finish, or stop that process first")
    )]
    LockOwnerAlive { info: Box<LockInfo>, why: String },

    /// `force-unlock LOCK_ID` named another lock than the one held.
    #[error("the lock ID {given} is not the lock on the state\n{}", info.render())]
    #[diagnostic(
        code(tokenform::state::lock_id_mismatch),
        help("pass the ID the Lock Info shows; nothing was unlocked")
    )]
    LockIdMismatch { given: String, info: Box<LockInfo> },

    /// The state changed between this command's read and its write (compare-and-swap).
    #[error(
        "{what} was changed by another writer since this command read it ({detail}); nothing was overwritten"
    )]
    #[diagnostic(
        code(tokenform::state::conflict),
        help(
            "another run wrote the state although this one held the lock (a lock lost or broken \
             by force-unlock). Run the command again: it reads the new state first"
        )
    )]
    Conflict { what: String, detail: String },

    /// The PostgreSQL backend failed (connection, credentials, permissions, the lock).
    #[error(transparent)]
    #[diagnostic(transparent)]
    Pg(Box<PgError>),

    /// A state, journal or backup file is too large, not a regular file, or unreadable.
    #[error(transparent)]
    #[diagnostic(transparent)]
    File(#[from] crate::files::FileError),

    /// A local state file (or its journal or lock) is a symbolic link. Every save replaces
    /// the state file by rename, which would silently turn the link into a regular file
    /// and leave its target behind, so a link is refused rather than written through.
    #[error("{} is a symbolic link; tokenform does not read or write state through a link", crate::escape::text(&path.display().to_string()))]
    #[diagnostic(
        code(tokenform::state::symlink),
        help(
            "point `state {{ path = … }}` at the file itself, inside the configuration directory, and remove the link"
        )
    )]
    Symlink { path: PathBuf },

    /// The S3 backend failed (credentials, bucket, network, the store's conditional writes).
    #[error(transparent)]
    #[diagnostic(transparent)]
    S3(Box<S3Error>),

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
