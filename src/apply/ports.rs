//! The two things the executor talks to, as narrow traits: the token API ([`TokenApi`],
//! implemented by [`crate::api::Client`]) and the state ledger ([`Ledger`], implemented by
//! [`crate::state::StateStore`]). Unit tests put in-memory fakes behind them. This file only
//! adapts; it decides nothing.

use std::future::Future;

use crate::api::model::{PatchOp, Token, TokenPost};
use crate::api::{ApiError, Client};
use crate::secret::Secret;
use crate::state::model::{SecretRecord, State};
use crate::state::{JournalRecord, StateError, StateStore};

/// How the executor must treat a failed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The request may have been performed, but no answer came (a create must be reconciled).
    OutcomeUnknown,
    /// 404: the token is not there (success for a delete).
    NotFound,
    /// Anything else: the request failed and was not performed.
    Failed,
}

/// A failed API call, as the executor sees it. `message` names method, path and status,
/// never a secret (it is the `ApiError`'s own text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    pub class: ErrorClass,
    pub message: String,
}

impl CallError {
    pub fn failed(message: impl Into<String>) -> Self {
        Self { class: ErrorClass::Failed, message: message.into() }
    }
}

/// Classifies a client error. Kept in one place so the executor does not depend on the
/// client's variant list.
pub fn classify(err: &ApiError) -> CallError {
    let class = classify_kind(err);
    CallError { class, message: crate::secret::redact_secrets(&err.to_string()) }
}

fn classify_kind(err: &ApiError) -> ErrorClass {
    match err {
        ApiError::OutcomeUnknown { .. } => ErrorClass::OutcomeUnknown,
        e if e.is_not_found() => ErrorClass::NotFound,
        _ => ErrorClass::Failed,
    }
}

/// The token API calls apply makes.
pub(crate) trait TokenApi {
    fn create(&self, body: &TokenPost) -> impl Future<Output = Result<Token, CallError>>;
    fn patch(&self, id: &str, ops: &[PatchOp]) -> impl Future<Output = Result<Token, CallError>>;
    fn delete(&self, id: &str) -> impl Future<Output = Result<(), CallError>>;
    fn reset(&self, id: &str, expiry_ms: Option<i64>) -> impl Future<Output = Result<Token, CallError>>;
    fn get(&self, id: &str) -> impl Future<Output = Result<Token, CallError>>;
    fn list(&self) -> impl Future<Output = Result<Vec<Token>, CallError>>;
    /// `GET /api/v2/caller-identity` authenticated with `secret`: the token id it is.
    fn identify(&self, secret: &Secret) -> impl Future<Output = Result<Option<String>, CallError>>;
}

impl TokenApi for Client {
    async fn create(&self, body: &TokenPost) -> Result<Token, CallError> {
        self.create_token(body).await.map_err(|e| classify(&e))
    }

    async fn patch(&self, id: &str, ops: &[PatchOp]) -> Result<Token, CallError> {
        self.patch_token(id, ops).await.map_err(|e| classify(&e))
    }

    async fn delete(&self, id: &str) -> Result<(), CallError> {
        self.delete_token(id).await.map_err(|e| classify(&e))
    }

    async fn reset(&self, id: &str, expiry_ms: Option<i64>) -> Result<Token, CallError> {
        self.reset_token(id, expiry_ms).await.map_err(|e| classify(&e))
    }

    async fn get(&self, id: &str) -> Result<Token, CallError> {
        self.get_token(id).await.map_err(|e| classify(&e))
    }

    async fn list(&self) -> Result<Vec<Token>, CallError> {
        // `showAll`: a service-token caller's plain list hides every personal token, including
        // the ones it just created. Callers that may not use it get the plain list.
        match self.list_tokens(true).await {
            Ok(tokens) => Ok(tokens),
            Err(e) if matches!(e.status(), Some(400 | 403)) => {
                self.list_tokens(false).await.map_err(|e| classify(&e))
            }
            Err(e) => Err(classify(&e)),
        }
    }

    async fn identify(&self, secret: &Secret) -> Result<Option<String>, CallError> {
        self.caller_identity_of(secret).await.map(|c| c.token_id).map_err(|e| classify(&e))
    }
}

/// Where apply persists what it did.
pub(crate) trait Ledger {
    fn state(&self) -> &State;
    fn seal(
        &self,
        secret: &Secret,
        extra: &[String],
        issued_at: jiff::Timestamp,
    ) -> Result<SecretRecord, StateError>;
    /// Applied in memory and durable (fsynced) before it returns.
    fn record(&mut self, record: JournalRecord) -> Result<(), StateError>;
    /// Several records in one durable write (all or none).
    fn record_all(&mut self, records: Vec<JournalRecord>) -> Result<(), StateError> {
        records.into_iter().try_for_each(|r| self.record(r))
    }
    fn save(&mut self) -> Result<(), StateError>;
}

impl Ledger for StateStore {
    fn state(&self) -> &State {
        StateStore::state(self)
    }

    fn seal(
        &self,
        secret: &Secret,
        extra: &[String],
        issued_at: jiff::Timestamp,
    ) -> Result<SecretRecord, StateError> {
        StateStore::seal(self, secret, extra, issued_at)
    }

    fn record(&mut self, record: JournalRecord) -> Result<(), StateError> {
        StateStore::record(self, record)
    }

    fn record_all(&mut self, records: Vec<JournalRecord>) -> Result<(), StateError> {
        StateStore::record_all(self, records)
    }

    fn save(&mut self) -> Result<(), StateError> {
        StateStore::save(self)
    }
}
