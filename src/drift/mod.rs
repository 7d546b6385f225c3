//! Drift detection: config, state and one live snapshot read for what rotted or moved.
