//! `tokenform check`: load the configuration, with `--live` also the state (shared, no
//! identity) and one live snapshot, run the rules, print. Exit 2 when an unsuppressed
//! finding is at or above `--severity`, 0 when none, 1 on any error (bad flags included):
//! an error never exits 2.

use super::Context;
use crate::ExitStatus;
use crate::check::{self, CheckOptions, LiveInput, Severity};
use crate::cli::{CheckArgs, CheckFormat, SeverityArg};
use crate::config;
use crate::render;
use crate::render::check::sarif::ArtifactBase;
use crate::state::LockMode;

fn threshold(s: SeverityArg) -> Severity {
    match s {
        SeverityArg::Low => Severity::Low,
        SeverityArg::Medium => Severity::Medium,
        SeverityArg::High => Severity::High,
        SeverityArg::Critical => Severity::Critical,
    }
}

pub(super) fn run(ctx: &Context, args: &CheckArgs) -> miette::Result<ExitStatus> {
    // Flags first: a typo must fail before any network call.
    let opts = CheckOptions {
        threshold: threshold(args.severity),
        max_rotation: args.max_rotation,
        stale_after: args.stale_after,
    };
    let config = config::load(&ctx.global.dir, &ctx.var_inputs(&args.vars)?).map_err(miette::Report::new)?;
    let now = jiff::Timestamp::now();
    let report = if args.live {
        let store =
            super::state_access::open_metadata(&config, LockMode::Shared, ctx.global.identity.as_deref())?;
        let live = super::plan::runtime()?.block_on(async {
            let client = ctx.connect(&config).await?;
            // Every member's tokens, as drift asks: the detector decides what is in scope.
            client.fetch_live(&super::plan::role_keys(&config), true).await.map_err(miette::Report::new)
        })?;
        check::check(&config, Some(LiveInput { state: store.state(), live: &live }), now, &opts)
    } else {
        check::check(&config, None, now, &opts)
    };
    let text = match args.format {
        CheckFormat::Human => render::check::human(&report, ctx.color),
        CheckFormat::Json => render::check::json(&report),
        CheckFormat::Markdown => render::check::markdown(&report),
        CheckFormat::Sarif => {
            // URIs relative to where tokenform runs (the repository root in CI).
            let cwd = std::env::current_dir().unwrap_or_default();
            render::check::sarif::sarif(&report, &ArtifactBase::for_dir(&ctx.global.dir, &cwd))
        }
    };
    super::plan::print(&text)?;
    Ok(if report.findings_found { ExitStatus::Changes } else { ExitStatus::Success })
}
