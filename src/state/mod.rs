//! The state store: the state model, age encryption of secrets, atomic saves with
//! backups, the lock, and the append-only journal apply writes after every mutation.
//!
//! - [`model`]: the document (pure data) and [`recipient`]: parsing recipient strings.
//! - [`store`]: [`StateStore`], the only state I/O, built from [`atomic`] (temp file,
//!   fsync, rename, backups), [`lock`] (`<path>.lock` with owner info), [`journal`]
//!   (`<path>.journal`), [`crypto`] (age) and [`identity`] (identity files).

pub mod atomic;
pub mod crypto;
pub mod error;
pub mod identity;
pub mod journal;
pub mod lock;
pub mod model;
pub mod recipient;

pub use model::{PendingCreate, RetiringToken, SecretRecord, State, TokenState};
pub mod store;

pub use store::{Identities, JournalRecord, LockMode, StateError, StateStore};
