//! `tokenform check`: least-privilege and hygiene rules over the configuration and, with
//! `--live`, over the live token list and the state. Pure: no I/O, no clock (the caller
//! passes `now`), no network; printers are in `render::check`.
//!
//! Each rule has a stable code (`TKN001`…, [`code`]), a severity, a one-line why and help,
//! and points at the configuration (the attribute to change, or the block). Live rules
//! reuse the drift detector's definitions of unmanaged and stale tokens
//! ([`crate::drift::detect`]) and the planner's service-token limit
//! ([`crate::plan::SERVICE_TOKEN_LIMIT`]), so `check`, `drift` and `plan` agree.
//!
//! Suppressions come from the configuration's `checks { skip }` blocks (a token's own, with
//! its reason, before the top-level one); a suppressed finding stays in the report, marked,
//! and never fails the run. `--severity` drops findings below the threshold.

pub mod code;
mod live;
pub mod model;
mod rules;
#[cfg(test)]
pub(crate) mod tests;

use std::time::Duration;

pub use code::{Code, RuleInfo, Severity, catalogue};
pub use model::{
    CHECK_FORMAT_VERSION, CheckOptionsUsed, CheckReport, Finding, LiveTokenRef, Location, Summary,
    Suppression, SuppressionScope,
};

use crate::api::model::Live;
use crate::config::Config;
use crate::config::sites::Site;
use crate::model::{Address, format_duration};
use crate::state::model::State;

/// The thresholds of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckOptions {
    /// `--severity`: findings below it are left out.
    pub threshold: Severity,
    /// `--max-rotation`: a `rotation.every` longer than this is TKN005 (default 90 days).
    pub max_rotation: Duration,
    /// `--stale-after`: a live token unused this long is TKN011 (default 90 days).
    pub stale_after: Duration,
}

impl Default for CheckOptions {
    fn default() -> Self {
        Self {
            threshold: Severity::Low,
            max_rotation: Duration::from_hours(90 * 24),
            stale_after: Duration::from_hours(90 * 24),
        }
    }
}

/// What `--live` adds: the state (which live tokens are managed) and one live snapshot.
#[derive(Debug, Clone, Copy)]
pub struct LiveInput<'a> {
    pub state: &'a State,
    pub live: &'a Live,
}

/// Runs every configuration rule, and the live rules when `live` is given, at `now`.
pub fn check(
    config: &Config,
    live: Option<LiveInput<'_>>,
    now: jiff::Timestamp,
    opts: &CheckOptions,
) -> CheckReport {
    let mut all = Vec::new();
    rules::config_rules(config, now, opts, &mut all);
    if let Some(input) = live {
        live::live_rules(config, input, now, opts, &mut all);
    }
    for f in &mut all {
        f.suppressed = suppression(config, f);
    }
    all.sort_by(|a, b| {
        (a.location.is_none(), &a.location, a.code, &a.address, a.live_token.as_ref().map(|t| &t.id)).cmp(&(
            b.location.is_none(),
            &b.location,
            b.code,
            &b.address,
            b.live_token.as_ref().map(|t| &t.id),
        ))
    });
    let total = all.len();
    let findings: Vec<Finding> = all.into_iter().filter(|f| f.severity >= opts.threshold).collect();
    let mut summary = Summary {
        tokens_checked: config.tokens.len(),
        live_tokens_checked: live.map_or(0, |l| l.live.tokens.len()),
        below_threshold: total - findings.len(),
        ..Summary::default()
    };
    for f in &findings {
        if f.suppressed.is_some() {
            summary.suppressed += 1;
            continue;
        }
        summary.findings += 1;
        match f.severity {
            Severity::Low => summary.low += 1,
            Severity::Medium => summary.medium += 1,
            Severity::High => summary.high += 1,
            Severity::Critical => summary.critical += 1,
        }
    }
    CheckReport {
        format_version: CHECK_FORMAT_VERSION,
        checked_at: now,
        config_dir: config.dir.display().to_string(),
        live: live.is_some(),
        options: CheckOptionsUsed {
            threshold: opts.threshold,
            max_rotation: format_duration(opts.max_rotation),
            stale_after: format_duration(opts.stale_after),
        },
        findings_found: summary.findings > 0,
        summary,
        findings,
    }
}

/// A finding of `code` with the catalogue's severity, why and help.
fn finding(code: Code, message: String, address: Option<&Address>, site: Option<&Site>) -> Finding {
    let info = code.info();
    Finding {
        code,
        rule: info.name.to_owned(),
        severity: info.severity,
        message,
        why: info.why.to_owned(),
        help: info.help.to_owned(),
        address: address.cloned(),
        live_token: None,
        location: site.map(location),
        suppressed: None,
    }
}

fn location(site: &Site) -> Location {
    Location {
        file: site.file.clone(),
        line: site.start.line,
        column: site.start.column,
        end_line: site.end.line,
        end_column: site.end.column,
    }
}

/// The `checks` block that suppresses `f`, if any: the token's own first, then the top-level one.
fn suppression(config: &Config, f: &Finding) -> Option<Suppression> {
    let label = f.address.as_ref().map(|a| a.label.as_str());
    let (reason, own) = config.checks.suppression(f.code, label)?;
    let site = if own {
        label.and_then(|l| config.sites.tokens.get(l)).and_then(|t| t.checks.as_ref())
    } else {
        config.sites.checks.as_ref()
    };
    Some(Suppression {
        scope: if own { SuppressionScope::Token } else { SuppressionScope::Configuration },
        reason: reason.map(str::to_owned),
        location: site.and_then(|s| s.header.as_ref()).map(location),
    })
}

/// Where a finding about the account as a whole points: `prefer` (e.g. the `unmanaged`
/// block), else the `launchdarkly` block, else the start of the first file.
fn account_site<'a>(config: &'a Config, prefer: Option<&'a Site>) -> Option<&'a Site> {
    prefer
        .or_else(|| config.sites.launchdarkly.as_ref().and_then(|b| b.header.as_ref()))
        .or(config.sites.first_file.as_ref())
}
