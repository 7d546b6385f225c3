//! Printers over one model: human (Terraform's conventions), JSON, markdown.
//!
//! Each printer is a pure function from a value (`Plan`, later the drift report) to a
//! `String`; commands decide where it goes. No printer reads the clock, the environment
//! or a terminal: colour is an argument. No printer ever shows a secret (plans hold none;
//! where a secret would be, `(sensitive value)` is printed).

pub mod check;
pub mod drift;
pub mod human;
pub mod json;
pub mod markdown;
pub(crate) mod plan_text;
pub mod policy;
pub mod state;
pub mod stream;
#[cfg(test)]
mod tests;
