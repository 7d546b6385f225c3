//! `tokenform destroy`: a plan of deletes for everything managed (or `--target`ed), under the
//! same safety rules as apply (prevent_destroy, never the caller's own token), confirmed
//! the same way.

use super::Context;
use super::apply::{Mode, check_stream_approval, confirm, execute, no_changes, planned_session, show_plan};
use super::plan::{plan_options, runtime};
use super::ui::Ui;
use crate::ExitStatus;
use crate::cli::{DestroyArgs, SelectArgs};

pub(super) fn run(ctx: &Context, args: &DestroyArgs) -> miette::Result<ExitStatus> {
    let ui = Ui::new(args.stream());
    ui.run(|| runtime()?.block_on(run_async(ctx, args, ui)))
}

async fn run_async(ctx: &Context, args: &DestroyArgs, ui: Ui) -> miette::Result<ExitStatus> {
    check_stream_approval(ui, args.auto_approve, Mode::Destroy)?;
    let select = SelectArgs { targets: args.targets.clone(), ..SelectArgs::default() };
    let lock = super::state_access::exclusive(&args.lock, "destroy");
    let (mut s, plan) = planned_session(ctx, &args.vars, lock, &plan_options(&select, true)).await?;
    if !plan.has_changes() {
        no_changes(ctx, &plan, ui, Mode::Destroy, "No changes. No managed tokens to destroy.")?;
        return Ok(ExitStatus::Success);
    }
    show_plan(ctx, &plan, ui)?;
    if !args.auto_approve && !confirm(Mode::Destroy)? {
        super::print("Destroy cancelled.\n")?;
        return Ok(ExitStatus::Error);
    }
    execute(ctx, &mut s, &plan, None, Mode::Destroy, ui).await
}
