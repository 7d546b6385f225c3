//! The LaunchDarkly REST client: auth, paging, retries, rate limits, typed errors.
//! Reads (`fetch_live`) are split from writes (create/patch/delete/reset).

pub mod model;

pub use model::{CallerIdentity, CustomRole, Live, PatchOp, Token, TokenPost};
pub mod client;
pub mod error;
pub mod paging;
pub mod retry;
pub mod trace;

pub use client::{ApiError, Client, ClientOptions, ConnectInputs};
pub use retry::RetryPolicy;
pub use trace::TraceSink;
