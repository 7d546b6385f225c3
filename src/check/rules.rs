//! The configuration rules (TKN001–TKN009): one function per rule over one desired token
//! (or the `launchdarkly` block), each pointing at the attribute a fix changes. Pure.

use crate::config::Config;
use crate::config::sites::{BlockSites, TokenSites};
use crate::model::{Access, Effect, Role, Statement, format_duration};

use super::{CheckOptions, Code, Finding, finding};

/// LaunchDarkly's API versions and their end of life (docs/ld-api-notes.md §1, "Version
/// table"); `20240415`, the current one, has none. A version between two listed ones
/// behaves as the older one.
const API_VERSIONS_EOL: [(u32, &str); 4] = [
    (20_160_426, "2020-12-12"),
    (20_191_212, "2022-07-29"),
    (20_210_729, "2023-06-03"),
    (20_220_603, "2025-04-15"),
];

/// Runs TKN001–TKN009 over every configured token and the `launchdarkly` block.
pub(super) fn config_rules(
    config: &Config,
    now: jiff::Timestamp,
    opts: &CheckOptions,
    out: &mut Vec<Finding>,
) {
    let empty = TokenSites::default();
    for (address, t) in &config.tokens {
        let sites = config.sites.tokens.get(&address.label).unwrap_or(&empty);
        let header = sites.block.header.as_ref();
        let at = |key: &str| sites.block.attr_or_header(key);
        let mut push =
            |code: Code, message: String, site| out.push(finding(code, message, Some(address), site));

        // TKN001
        if t.service_token && t.access == Access::Role(Role::Admin) {
            push(
                Code::AdminServiceToken,
                format!("{address} is a service token with the admin role"),
                at("role"),
            );
        }
        // TKN002, TKN003
        if let Access::Policy(statements) = &t.access {
            for (i, s) in statements.iter().enumerate() {
                let block = sites.policies.get(i);
                let in_block = |key: &str| block.and_then(|b| b.attr_or_header(key)).or(header);
                if let Some(resource) = wildcard_grant(s) {
                    push(
                        Code::WildcardPolicy,
                        format!(
                            "{address}: policy statement {} allows every action (\"*\") on {resource:?}",
                            i + 1
                        ),
                        in_block("actions"),
                    );
                }
                if s.effect == Effect::Allow && (s.not_actions.is_some() || s.not_resources.is_some()) {
                    let key = if s.not_actions.is_some() { "not_actions" } else { "not_resources" };
                    push(
                        Code::NegatedAllow,
                        format!("{address}: policy statement {} allows everything but its `{key}`", i + 1),
                        in_block(key),
                    );
                }
            }
        }
        // TKN004
        if t.rotation.is_none() && t.expires_at.is_none() {
            push(
                Code::NoExpiryNoRotation,
                format!(
                    "{address} has no rotation block and no expires_at: its secret never changes or ends"
                ),
                header,
            );
        }
        if let Some(r) = &t.rotation {
            let rot = sites.rotation.as_ref();
            let in_rotation = |key: &str| rot.and_then(|b| b.attr_or_header(key));
            // TKN005
            if r.every > opts.max_rotation {
                push(
                    Code::LongRotation,
                    format!(
                        "{address} rotates every {}, longer than the limit of {}",
                        format_duration(r.every),
                        format_duration(opts.max_rotation)
                    ),
                    in_rotation("every"),
                );
            }
            // TKN006
            if r.grace > r.every {
                let site = rot.and_then(|b| b.attrs.get("grace")).or_else(|| in_rotation("every"));
                push(
                    Code::GraceLongerThanRotation,
                    format!(
                        "{address}: rotation grace {} is longer than its interval {}",
                        format_duration(r.grace),
                        format_duration(r.every)
                    ),
                    site,
                );
            }
        }
        // TKN007
        if !t.service_token {
            push(
                Code::PersonalToken,
                format!("{address} is a personal token (service_token is not true)"),
                at("service_token"),
            );
        }
        // TKN008
        if let Some(expiry) = t.expires_at.filter(|e| *e <= now) {
            push(Code::ExpiredInConfig, format!("{address} expired at {expiry}"), at("expires_at"));
        }
        // TKN009
        if let Some((v, eol)) = t.api_version.and_then(|v| end_of_life(v, now).map(|e| (v, e))) {
            push(
                Code::EndOfLifeApiVersion,
                format!("{address} uses api_version {v}, which reached its end of life on {eol}"),
                at("api_version"),
            );
        }
    }
    api_version_rule(config, now, out);
}

/// TKN009 on `launchdarkly { api_version }`, the version tokenform itself sends.
fn api_version_rule(config: &Config, now: jiff::Timestamp, out: &mut Vec<Finding>) {
    let v = config.launchdarkly.api_version;
    let Some(eol) = end_of_life(v, now) else { return };
    let site = config.sites.launchdarkly.as_ref().and_then(|b: &BlockSites| b.attr_or_header("api_version"));
    out.push(finding(
        Code::EndOfLifeApiVersion,
        format!("launchdarkly.api_version is {v}, which reached its end of life on {eol}"),
        None,
        site.or(config.sites.first_file.as_ref()),
    ));
}

/// The end-of-life date (`YYYY-MM-DD`, UTC) of API version `v` when it is on or before `now`.
fn end_of_life(v: u32, now: jiff::Timestamp) -> Option<&'static str> {
    if v > API_VERSIONS_EOL[API_VERSIONS_EOL.len() - 1].0 {
        return None;
    }
    let (_, date) = API_VERSIONS_EOL.iter().rev().find(|(version, _)| *version <= v)?;
    let at: jiff::Timestamp = format!("{date}T00:00:00Z").parse().ok()?;
    (at <= now).then_some(*date)
}

/// The first resource of an allow statement with `*` actions that covers all projects
/// (`proj/*`) or all environments (`env/*`) of something, or everything (`*`).
/// Resource specifiers look like `proj/*:env/production` or `proj/web;tag:env/*:flag/*`;
/// a `;tags` filter narrows a wildcard, so `proj/*;mobile` is not "all projects".
fn wildcard_grant(s: &Statement) -> Option<&str> {
    if s.effect != Effect::Allow || !s.actions.as_ref().is_some_and(|a| a.iter().any(|x| x.trim() == "*")) {
        return None;
    }
    s.resources.as_ref()?.iter().map(String::as_str).find(|r| {
        let r = r.trim();
        r == "*" || r.split(':').any(|segment| matches!(segment.split_once('/'), Some(("proj" | "env", "*"))))
    })
}

#[cfg(test)]
pub(super) fn is_wildcard_grant(s: &Statement) -> bool {
    wildcard_grant(s).is_some()
}

#[cfg(test)]
pub(super) fn eol(v: u32, now: jiff::Timestamp) -> Option<&'static str> {
    end_of_life(v, now)
}
