//! The HTTP client: auth header, API version, paging, retries and rate limits.
//!
//! CONTRACT STUB laid by the lead: the signatures are the interface other modules use;
//! the bodies are to be written by the API issue.
#![allow(clippy::unused_async)] // stub bodies; removed with them

use std::path::Path;

use crate::api::model::{CallerIdentity, Live, PatchOp, Token, TokenPost};
use crate::config::LaunchDarkly;

/// Errors of the API client. Never carries a secret.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ApiError {
    #[error("API operation `{what}` is not implemented yet")]
    #[diagnostic(code(tokenform::api::not_implemented))]
    NotImplemented { what: &'static str },
}

/// A connected LaunchDarkly client. Cheap to clone; safe to share across tasks.
#[derive(Debug, Clone)]
pub struct Client {}

impl Client {
    /// Resolves the base URL (https, or http on loopback; `embedded` starts the emulator
    /// in-process, persisted under `<config_dir>/.tokenform/`) and the access token from the
    /// env var `settings.access_token_env`. `verbose` prints a redacted request trace on stderr.
    pub async fn connect(
        settings: &LaunchDarkly,
        config_dir: &Path,
        verbose: bool,
    ) -> Result<Client, ApiError> {
        let _ = (settings, config_dir, verbose);
        Err(ApiError::NotImplemented { what: "connect" })
    }

    /// One snapshot: every token (all pages; `show_all` asks for other members' personal
    /// tokens), the caller identity, and the custom roles named by `role_keys` (plus those
    /// live tokens use, when resolvable).
    pub async fn fetch_live(&self, role_keys: &[String], show_all: bool) -> Result<Live, ApiError> {
        let _ = (role_keys, show_all);
        Err(ApiError::NotImplemented { what: "fetch_live" })
    }

    pub async fn list_tokens(&self, show_all: bool) -> Result<Vec<Token>, ApiError> {
        let _ = show_all;
        Err(ApiError::NotImplemented { what: "list_tokens" })
    }

    pub async fn get_token(&self, id: &str) -> Result<Token, ApiError> {
        let _ = id;
        Err(ApiError::NotImplemented { what: "get_token" })
    }

    /// POST a create. Never retried blindly: when the request may have reached the server
    /// but no answer came, the error says the outcome is unknown (apply reconciles by listing).
    pub async fn create_token(&self, body: &TokenPost) -> Result<Token, ApiError> {
        let _ = body;
        Err(ApiError::NotImplemented { what: "create_token" })
    }

    pub async fn patch_token(&self, id: &str, ops: &[PatchOp]) -> Result<Token, ApiError> {
        let _ = (id, ops);
        Err(ApiError::NotImplemented { what: "patch_token" })
    }

    /// DELETE; a 404 after a retried attempt counts as success.
    pub async fn delete_token(&self, id: &str) -> Result<(), ApiError> {
        let _ = id;
        Err(ApiError::NotImplemented { what: "delete_token" })
    }

    /// Legacy reset: a new secret; the old one works until `expiry_ms` (Unix ms).
    pub async fn reset_token(&self, id: &str, expiry_ms: Option<i64>) -> Result<Token, ApiError> {
        let _ = (id, expiry_ms);
        Err(ApiError::NotImplemented { what: "reset_token" })
    }

    pub async fn caller_identity(&self) -> Result<CallerIdentity, ApiError> {
        Err(ApiError::NotImplemented { what: "caller_identity" })
    }

    /// HTTP requests sent so far (retries included), for benchmarks and tests.
    pub fn request_count(&self) -> u64 {
        0
    }
}
