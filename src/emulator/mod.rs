//! A LaunchDarkly-compatible server for the token API (`dev-server`, `base_url = "embedded"`).
