//! `tokenform drift`: load config and state (shared, no identity), fetch one live snapshot,
//! detect, print. Exit 2 when drift is found, 0 when clean (stale tokens alone are clean),
//! 1 on any error, bad flags included: an error never exits 2.

use miette::Diagnostic;

use super::Context;
use crate::ExitStatus;
use crate::cli::{DriftArgs, Format};
use crate::config;
use crate::drift::{self, DriftOptions};
use crate::model::{Access, parse_duration};
use crate::render;
use crate::state::LockMode;

/// A flag of `drift` that does not hold what it should.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("--{flag} `{value}` is not a duration")]
#[diagnostic(code(tokenform::drift::bad_duration), help("write a duration like 90d, 2w, 36h or 1d12h"))]
pub struct BadDuration {
    pub flag: &'static str,
    pub value: String,
}

fn duration(flag: &'static str, value: &str) -> Result<std::time::Duration, BadDuration> {
    parse_duration(value).ok_or_else(|| BadDuration { flag, value: value.to_owned() })
}

pub fn run(ctx: &Context, args: &DriftArgs) -> miette::Result<ExitStatus> {
    // Flags first: a typo must fail before any network call.
    let opts = DriftOptions {
        stale_after: duration("stale-after", &args.stale_after)?,
        expiring_within: duration("expiring-within", &args.expiring_within)?,
    };
    let config = config::load(&ctx.global.dir, &ctx.var_inputs(&args.vars)?).map_err(miette::Report::new)?;
    let store =
        super::state_access::open_metadata(&config, LockMode::Shared, ctx.global.identity.as_deref())?;

    // The custom roles configuration or state name, so changes can be shown by key.
    let mut role_keys: Vec<String> = config
        .tokens
        .values()
        .filter_map(|t| match &t.access {
            Access::CustomRoles(keys) => Some(keys.clone()),
            _ => None,
        })
        .flatten()
        .chain(store.state().tokens.values().flat_map(|t| t.custom_role_keys.clone()))
        .collect();
    role_keys.sort();
    role_keys.dedup();

    let live = super::plan::runtime()?.block_on(async {
        let client = ctx.connect(&config).await?;
        // Always ask for every member's tokens: a managed personal token of someone else
        // must not look deleted. The detector leaves other members' unmanaged personal
        // tokens out unless `unmanaged.personal`.
        client.fetch_live(&role_keys, true).await.map_err(miette::Report::new)
    })?;

    let report = drift::detect(&config, store.state(), &live, jiff::Timestamp::now(), &opts);
    let text = match args.format {
        Format::Human => render::drift::human(&report, ctx.color),
        Format::Json => render::drift::json(&report),
        Format::Markdown => render::drift::markdown(&report),
    };
    // A closed pipe (`tokenform drift | head`) is not an error.
    super::plan::print(&text)?;
    Ok(if report.drift_found { ExitStatus::Changes } else { ExitStatus::Success })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_checked() {
        assert_eq!(duration("stale-after", "90d").unwrap().as_secs(), 90 * 86_400);
        let err = duration("expiring-within", "14 days").unwrap_err();
        assert_eq!(err.to_string(), "--expiring-within `14 days` is not a duration");
        assert!(duration("stale-after", "").is_err());
    }
}
