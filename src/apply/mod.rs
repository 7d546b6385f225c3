//! Executes a [`crate::plan::Plan`]: concurrent, rate-limit aware, persisting state after
//! every successful mutation.
