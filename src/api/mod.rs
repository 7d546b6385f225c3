//! The LaunchDarkly REST client: auth, paging, retries, pacing by rate-limit headers, typed errors.
//! `client` holds the calls, `send` one request's attempts, `pacer` the rate-limit windows.
//! Reads (`fetch_live`) are split from writes (create/patch/delete/reset).

pub mod model;

pub use model::{CallerIdentity, CustomRole, Live, PatchOp, Token, TokenPost};
pub mod client;
pub mod error;
pub mod pacer;
pub mod paging;
pub mod retry;
mod send;
pub mod trace;

pub use client::{ApiError, Client, ClientOptions, MAX_BODY};
pub use retry::RetryPolicy;
pub use trace::TraceSink;
