//! `tokenform destroy`: a plan of deletes for everything managed (or `--target`ed), under the
//! same safety rules as apply (prevent_destroy, never the caller's own token), confirmed
//! the same way.

use super::Context;
use super::apply::{
    Mode, addresses, confirm, execute, make_plan, nothing_to_do, open_session, runtime, show_plan,
};
use crate::ExitStatus;
use crate::cli::DestroyArgs;
use crate::plan::PlanOptions;

pub fn run(ctx: &Context, args: &DestroyArgs) -> miette::Result<ExitStatus> {
    runtime()?.block_on(run_async(ctx, args))
}

#[allow(clippy::print_stdout)] // "No changes." and "Destroy cancelled." are this command's output
async fn run_async(ctx: &Context, args: &DestroyArgs) -> miette::Result<ExitStatus> {
    let mut s = open_session(ctx, &args.vars, &args.lock.lock_timeout, "destroy").await?;
    let opts = PlanOptions { targets: addresses(&args.targets)?, destroy: true, ..PlanOptions::default() };
    let plan = make_plan(&s, &opts)?;
    if nothing_to_do(&plan) {
        if !ctx.global.quiet {
            println!("No changes. No managed tokens to destroy.");
        }
        return Ok(ExitStatus::Success);
    }
    show_plan(ctx, &plan);
    if !args.auto_approve && !confirm(Mode::Destroy)? {
        println!("Destroy cancelled.");
        return Ok(ExitStatus::Error);
    }
    execute(ctx, &mut s, &plan, None, Mode::Destroy).await
}
