//! The state store: the state model, age encryption of secrets, compare-and-swap saves
//! with previous versions, the lock, and the append-only journal apply writes after
//! every mutation, on any backend.
//!
//! - [`model`]: the document (pure data), [`recipient`]: parsing recipient strings,
//!   [`settings`]: what a `state { … }` block configures (shared with `config`).
//! - [`store`]: [`StateStore`], the only state I/O, through a [`backend::Backend`]: the
//!   local file ([`backend::local`], built from [`atomic`], [`lock`] and [`journal`]) or
//!   PostgreSQL ([`backend::pg`]). [`crypto`] (age) and [`identity`] (identity files)
//!   serve every backend.

pub mod atomic;
pub mod backend;
pub mod crypto;
pub mod error;
pub mod identity;
pub mod journal;
pub mod lock;
pub mod model;
pub mod recipient;
pub mod settings;

pub use model::{PendingCreate, RetiringToken, SecretRecord, State, TokenState};
pub mod store;

pub use backend::BackendEnv;
pub use lock::{ForceUnlocked, LockInfo};
pub use settings::{BackendSettings, EncryptMode, StateSettings};
pub use store::{Identities, JournalRecord, LockMode, StateError, StateStore};
