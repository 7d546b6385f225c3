//! The one integration test binary: the real `tokenform` binary against the emulator on
//! 127.0.0.1 (port 0). Each area has its own module; `support` holds the shared builders.
#![allow(clippy::disallowed_methods)] // tests read their fixtures' env (TOKENFORM_TEST_*)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod support;

mod api;
mod apply;
mod at_rest;
mod check;
mod ci_files;
mod cli;
mod config;
mod credential;
mod deliver;
mod drift;
mod emulator;
mod file_mode;
mod hostile;
mod onboard;
mod pg;
mod plan;
mod repo;
mod s3;
mod show;
mod state;
mod stream;
mod terminal;
