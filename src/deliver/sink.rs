//! What a `deliver` block declares: where a token's new secret goes. Pure data, recorded in
//! the plan (so `apply PLANFILE` runs exactly the sinks that were reviewed); never a secret.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::Address;

/// The default `timeout` of an exec sink.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 30;

/// The longest `timeout` an exec sink may ask for: apply holds the state lock meanwhile.
pub const MAX_TIMEOUT_SECONDS: u64 = 3600;

/// One `deliver "TYPE" { … }` block of a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Sink {
    /// Run a program with the secret on its stdin.
    Exec(ExecSink),
    /// Write the secret to a file under the configuration directory.
    File(FileSink),
}

/// `deliver "exec" { command = [...], timeout = "30s" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ExecSink {
    /// Program and arguments, run without a shell, in the configuration directory.
    pub command: Vec<String>,
    /// Killed (with its whole process group) after this long.
    pub timeout_seconds: u64,
}

/// `deliver "file" { path = "...", format = "raw" | "dotenv" | "json", key = "..." }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FileSink {
    /// Relative to the configuration directory, `/`-separated, never leaving it.
    pub path: String,
    pub format: FileFormat,
    /// The variable (dotenv) or field (json) that holds the secret; unused for raw.
    pub key: String,
}

/// How a file sink lays out the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    /// The secret alone, no trailing newline.
    Raw,
    /// `KEY=secret` and a newline.
    Dotenv,
    /// `{"KEY": "secret"}` and a newline.
    Json,
}

impl FileFormat {
    pub const ALL: [(&'static str, FileFormat); 3] =
        [("raw", FileFormat::Raw), ("dotenv", FileFormat::Dotenv), ("json", FileFormat::Json)];

    pub fn as_str(self) -> &'static str {
        match self {
            FileFormat::Raw => "raw",
            FileFormat::Dotenv => "dotenv",
            FileFormat::Json => "json",
        }
    }
}

/// Why a secret is being delivered (`TOKENFORM_EVENT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// A new token.
    Create,
    /// A rotation (successor or reset).
    Rotate,
    /// A replacement forced by a changed attribute.
    Replace,
    /// `tokenform deliver`: the current secret, sent again.
    Deliver,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Create => "create",
            Event::Rotate => "rotate",
            Event::Replace => "replace",
            Event::Deliver => "deliver",
        }
    }
}

impl Sink {
    /// `exec`/`file`, as the block's label.
    pub fn kind(&self) -> &'static str {
        match self {
            Sink::Exec(_) => "exec",
            Sink::File(_) => "file",
        }
    }

    /// `exec "gh secret set LD_API_TOKEN"` / `file "out/ci.env"`: how messages and the state's
    /// `undelivered` list name the sink (never a secret: the configuration's own words).
    pub fn describe(&self) -> String {
        format!("{} {}", self.kind(), crate::escape::quoted(&self.target()))
    }

    /// What the sink does, in one line for plans and messages: the command line (arguments
    /// quoted where they need it, cut after 60 characters) or the file's path.
    pub fn target(&self) -> String {
        match self {
            Sink::Exec(e) => {
                let line = e.command.iter().map(|a| shell_quote(a)).collect::<Vec<_>>().join(" ");
                if line.chars().count() > 60 {
                    let cut: String = line.chars().take(59).collect();
                    format!("{cut}…")
                } else {
                    line
                }
            }
            Sink::File(f) => f.path.clone(),
        }
    }
}

/// `arg` as a POSIX shell would need it written (for display only: no shell ever runs it).
fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty() && arg.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c));
    if plain { arg.to_owned() } else { format!("'{}'", arg.replace('\'', "'\\''")) }
}

/// The dotenv key a file sink uses when its block sets none: the token's label (and the
/// `for_each` key), upper-cased, every character other than A–Z, 0–9 and `_` turned into
/// `_`, with a leading `_` before a digit. `token "ci-reader"` → `CI_READER`;
/// `token "ci"` with key `"eu-1"` → `CI_EU_1`.
pub fn default_key(address: &Address) -> String {
    let mut raw = address.label.clone();
    if let Some(k) = &address.key {
        raw.push('_');
        raw.push_str(k);
    }
    let mut out: String =
        raw.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// True for a key a dotenv file can hold unquoted: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_env_key(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_keys_come_from_the_label() {
        for (address, want) in [
            (Address::new("ci_reader"), "CI_READER"),
            (Address::new("ci-reader"), "CI_READER"),
            (Address::keyed("ci", "eu-1"), "CI_EU_1"),
            (Address::keyed("ci", "9 lives"), "CI_9_LIVES"),
            (Address::new("_x"), "_X"),
        ] {
            assert_eq!(default_key(&address), want, "{address}");
            assert!(is_env_key(&default_key(&address)));
        }
        assert!(!is_env_key("1A") && !is_env_key("") && !is_env_key("A-B"));
    }

    #[test]
    fn targets_read_like_a_command_line() {
        let exec = Sink::Exec(ExecSink {
            command: vec!["gh".into(), "secret".into(), "set".into(), "LD TOKEN".into()],
            timeout_seconds: 30,
        });
        assert_eq!(exec.target(), "gh secret set 'LD TOKEN'");
        let long = Sink::Exec(ExecSink { command: vec!["x".repeat(80)], timeout_seconds: 30 });
        assert_eq!(long.target().chars().count(), 60);
        let file =
            Sink::File(FileSink { path: "out/ci.env".into(), format: FileFormat::Dotenv, key: "K".into() });
        assert_eq!((file.kind(), file.target().as_str()), ("file", "out/ci.env"));
    }
}
