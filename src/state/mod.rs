//! The state store: the state model, age encryption of secrets, atomic saves with
//! backups, the lock, and the append-only journal apply writes after every mutation.

pub mod model;
pub mod recipient;

pub use model::{PendingCreate, RetiringToken, SecretRecord, State, TokenState};
pub mod store;

pub use store::{Identities, JournalRecord, LockMode, StateError, StateStore};
