//! `tokenform import ADDR ID`: reads the live token and records it at ADDR (secret unknown:
//! nothing live changes until `apply --rotate ADDR` takes it over). Refuses, each with one
//! error: an id that is not a token id (checked before any request, as the `import` block
//! is), an address already in state, an id another address (or a retiring generation)
//! already holds, an id that does not exist, and an address the configuration does not
//! declare (the next apply would delete the token again).

use super::Context;
use super::apply::{Mode, execute, open_session};
use super::plan::runtime;
use crate::ExitStatus;
use crate::cli::ImportArgs;

pub(super) fn run(ctx: &Context, args: &ImportArgs) -> miette::Result<ExitStatus> {
    runtime()?.block_on(run_async(ctx, args))
}

async fn run_async(ctx: &Context, args: &ImportArgs) -> miette::Result<ExitStatus> {
    if !crate::model::is_token_id(&args.id) {
        return Err(miette::miette!(
            code = "tokenform::import::bad_id",
            help = "the id is the token's `_id` (24 hex characters, e.g. 61095542756dba551110ae21), never its secret",
            "{:?} is not a LaunchDarkly token id",
            args.id
        ));
    }
    let mut s = open_session(ctx, &args.vars, &args.lock, "import").await?;
    // The snapshot lists with showAll (every member's tokens): a token it lacks does not exist
    // for this caller, said once by the planner rather than as a failed step.
    let plan = crate::plan::import(&s.config, s.store.state(), &s.live, &args.address, &args.id)?;
    execute(ctx, &mut s, &plan, Some(1), Mode::Import, super::ui::Ui::Human).await
}
