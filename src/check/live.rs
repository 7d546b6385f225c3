//! The `--live` rules (TKN010–TKN012), over the live token list and the state. Which live
//! tokens are unmanaged or stale is exactly what `drift` says ([`crate::drift::detect`]:
//! `unmanaged.ignore_names`, other members' personal tokens and the caller's own token are
//! handled there); the service-token limit is the planner's. Pure.

use std::collections::HashSet;

use crate::config::Config;
use crate::drift::{self, DriftOptions, TokenRef};
use crate::escape::quoted;
use crate::plan::SERVICE_TOKEN_LIMIT;

use super::{CheckOptions, Code, Finding, LiveInput, LiveTokenRef, account_site, finding};

pub(super) fn live_rules(
    config: &Config,
    input: LiveInput<'_>,
    now: jiff::Timestamp,
    opts: &CheckOptions,
    out: &mut Vec<Finding>,
) {
    let drift_opts =
        DriftOptions { stale_after: opts.stale_after, expiring_within: std::time::Duration::ZERO };
    let report = drift::detect(config, input.state, input.live, now, &drift_opts);
    let unmanaged_site = config.sites.unmanaged.as_ref().and_then(|b| b.header.as_ref());

    // TKN010
    for u in report.unmanaged.iter().filter(|u| u.role.as_deref() == Some("admin")) {
        let kind = if u.service_token { "service token" } else { "personal token" };
        let mut f = finding(
            Code::UnmanagedAdmin,
            format!("unmanaged live {kind} {} has the admin role", describe(&u.token)),
            None,
            account_site(config, unmanaged_site),
        );
        f.live_token = Some(live_ref(&u.token));
        out.push(f);
    }

    // TKN011
    for s in &report.stale {
        let age = match s.token.last_used {
            Some(used) => {
                format!("has not been used for {} days", (now.as_second() - used.as_second()) / 86_400)
            }
            None => "has never been used".to_owned(),
        };
        let site = match &s.token.address {
            Some(a) => config.sites.tokens.get(&a.label).and_then(|t| t.block.header.as_ref()),
            None => account_site(config, unmanaged_site),
        };
        let who = match &s.token.address {
            Some(a) => format!("{a} ({}, id {})", quoted(&s.token.name), s.token.id),
            None => format!("unmanaged live token {}", describe(&s.token)),
        };
        let mut f = finding(Code::StaleToken, format!("{who} {age}"), s.token.address.as_ref(), site);
        f.live_token = Some(live_ref(&s.token));
        out.push(f);
    }

    // TKN012: live service tokens, plus configured ones not live yet (what apply would create).
    let live_ids: HashSet<&str> = input.live.tokens.iter().map(|t| t.id.as_str()).collect();
    let live_service = input.live.tokens.iter().filter(|t| t.service_token).count();
    let to_create = config
        .tokens
        .iter()
        .filter(|(_, t)| t.service_token)
        .filter(|(a, _)| {
            let in_state = input.state.tokens.get(*a).is_some_and(|s| live_ids.contains(s.id.as_str()));
            let imported = config.imports.iter().any(|i| &i.to == *a && live_ids.contains(i.id.as_str()));
            !(in_state || imported)
        })
        .count();
    if live_service + to_create > SERVICE_TOKEN_LIMIT {
        out.push(finding(
            Code::ServiceTokenLimit,
            format!(
                "{} service tokens ({live_service} live, {to_create} to create) are more than LaunchDarkly's default limit of {SERVICE_TOKEN_LIMIT}",
                live_service + to_create
            ),
            None,
            account_site(config, None),
        ));
    }
}

/// `"name" (id …, created by …)`, names quoted so they cannot pass for something else.
/// The message keeps the rest as the API gave it: every printer escapes the message.
fn describe(t: &TokenRef) -> String {
    match &t.creator {
        Some(c) => format!("{} (id {}, created by {c})", quoted(&t.name), t.id),
        None => format!("{} (id {})", quoted(&t.name), t.id),
    }
}

fn live_ref(t: &TokenRef) -> LiveTokenRef {
    LiveTokenRef { id: t.id.clone(), name: t.name.clone() }
}
