//! The check report: every finding of one `tokenform check` run, for people (human,
//! markdown) and machines (JSON with `schemas/check.schema.json`, SARIF). Pure data; the
//! printers live in `render::check`. Never holds a secret: names, ids, places and rules.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::code::{Code, Severity};
use crate::drift::model::Rfc3339;
use crate::model::Address;

/// Bumped when the JSON shape changes incompatibly.
pub const CHECK_FORMAT_VERSION: u32 = 1;

/// Everything one run found, at or above the threshold, in a stable order (by file, line
/// and column; findings about the account as a whole last).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CheckReport {
    pub format_version: u32,
    /// The instant expiries and ages were judged at.
    #[schemars(with = "Rfc3339")]
    pub checked_at: jiff::Timestamp,
    /// The configuration directory, as given (`-C DIR`); finding files are relative to it.
    pub config_dir: String,
    /// True when the live token list was checked too (`--live`).
    pub live: bool,
    /// The options the rules ran with.
    pub options: CheckOptionsUsed,
    /// True when an unsuppressed finding is at or above the threshold (exit 2).
    pub findings_found: bool,
    pub summary: Summary,
    /// Findings at or above the threshold, suppressed ones included (marked).
    pub findings: Vec<Finding>,
}

/// The thresholds of a run, as written on the command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CheckOptionsUsed {
    /// `--severity`: findings below it are left out and do not fail the run.
    pub threshold: Severity,
    /// `--max-rotation`, e.g. `90d` (TKN005).
    pub max_rotation: String,
    /// `--stale-after`, e.g. `90d` (TKN011, with `--live`).
    pub stale_after: String,
}

/// Counts over the whole run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
pub struct Summary {
    /// Tokens in the configuration (each `for_each` instance counts).
    pub tokens_checked: usize,
    /// Live tokens looked at (0 without `--live`).
    pub live_tokens_checked: usize,
    /// Unsuppressed findings at or above the threshold.
    pub findings: usize,
    /// Suppressed findings at or above the threshold.
    pub suppressed: usize,
    /// Findings below the threshold (left out of `findings`).
    pub below_threshold: usize,
    /// Unsuppressed findings at or above the threshold, per severity.
    pub low: usize,
    pub medium: usize,
    pub high: usize,
    pub critical: usize,
}

/// One broken rule, at one place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Finding {
    /// The rule's stable code, e.g. `TKN001`.
    pub code: Code,
    /// The rule's stable name, e.g. `admin-service-token`.
    pub rule: String,
    pub severity: Severity,
    /// What was found, naming the token.
    pub message: String,
    /// Why the rule matters (one line, the same for every finding of the rule).
    pub why: String,
    /// How to fix it (one line).
    pub help: String,
    /// The configured token it is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    /// The live token it is about (`--live` rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_token: Option<LiveTokenRef>,
    /// Where in the configuration it points (the attribute to change, or the block).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// Present when a `checks { skip }` block suppresses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<Suppression>,
}

/// A live token, by id and name (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LiveTokenRef {
    pub id: String,
    pub name: String,
}

/// A range of one configuration file, 1-based; `end_column` is the column just after the
/// last character (as SARIF counts). Columns count Unicode characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct Location {
    /// Relative to the configuration directory, e.g. `main.hcl`.
    pub file: String,
    #[schemars(range(min = 1))]
    pub line: usize,
    #[schemars(range(min = 1))]
    pub column: usize,
    #[schemars(range(min = 1))]
    pub end_line: usize,
    #[schemars(range(min = 1))]
    pub end_column: usize,
}

/// Which block suppresses a finding, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Suppression {
    /// `token`: the token's own `checks` block; `configuration`: the top-level one.
    pub scope: SuppressionScope,
    /// The block's `reason` (required in a token's block, optional at top level).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Where the suppressing `checks` block is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SuppressionScope {
    Token,
    Configuration,
}

impl CheckReport {
    /// The unsuppressed findings.
    pub fn open(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.suppressed.is_none())
    }

    /// The suppressed findings.
    pub fn suppressed(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.suppressed.is_some())
    }
}
