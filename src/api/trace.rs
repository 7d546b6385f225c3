//! The `-v` request trace: one line per request and per answer, on stderr (or a test sink),
//! with `Authorization` never printed and every `token` field and secret-shaped string
//! redacted. Bodies are cut to a readable length.

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::secret::redact_secrets;

/// Where trace lines go.
#[derive(Clone)]
pub struct TraceSink(Arc<Mutex<dyn Write + Send>>);

impl std::fmt::Debug for TraceSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TraceSink")
    }
}

impl TraceSink {
    pub fn stderr() -> Self {
        Self(Arc::new(Mutex::new(std::io::stderr())))
    }

    /// Any writer (tests pass a shared buffer).
    pub fn new(w: Arc<Mutex<dyn Write + Send>>) -> Self {
        Self(w)
    }

    pub fn line(&self, line: &str) {
        let mut w = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = writeln!(w, "{}", redact_secrets(line));
    }
}

const BODY_MAX: usize = 600;

fn redact_value(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                if k.eq_ignore_ascii_case("token") || k.eq_ignore_ascii_case("secret") {
                    *val = Value::String("<redacted>".into());
                } else {
                    redact_value(val);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_value),
        _ => {}
    }
}

/// A body for the trace: JSON with `token` fields redacted, cut to a readable length.
pub fn body_for_trace(body: &[u8]) -> String {
    if body.is_empty() {
        return String::new();
    }
    let text = match serde_json::from_slice::<Value>(body) {
        Ok(mut v) => {
            redact_value(&mut v);
            v.to_string()
        }
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    };
    let text = redact_secrets(&text);
    if text.chars().count() > BODY_MAX {
        let cut: String = text.chars().take(BODY_MAX).collect();
        format!("{cut}… ({} bytes)", body.len())
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_fields_are_redacted_even_last4() {
        let b =
            br#"{"items":[{"_id":"x","token":"beef"}],"token":"api-0a1b2c3d-0000-4000-8000-00000000beef"}"#;
        let t = body_for_trace(b);
        assert!(!t.contains("beef"), "{t}");
        assert!(t.contains("<redacted>"));
        assert!(t.contains("\"_id\":\"x\""));
    }
}
