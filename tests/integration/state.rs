//! Integration tests: state.
