//! `tokenform drift`: load config and state (shared, no identity), fetch one live snapshot,
//! detect, print. Exit 2 when drift is found, 0 when clean (stale tokens alone are clean),
//! 1 on any error, bad flags included: an error never exits 2.

use super::Context;
use crate::ExitStatus;
use crate::cli::{DriftArgs, Format};
use crate::config;
use crate::drift::{self, DriftOptions};
use crate::model::Access;
use crate::render;
use crate::state::LockMode;

pub(super) fn run(ctx: &Context, args: &DriftArgs) -> miette::Result<ExitStatus> {
    let opts = DriftOptions { stale_after: args.stale_after, expiring_within: args.expiring_within };
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
