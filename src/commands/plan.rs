//! `tokenform plan`.

use super::Context;
use crate::ExitStatus;

pub fn run(_ctx: &Context, _args: &crate::cli::PlanArgs) -> miette::Result<ExitStatus> {
    super::not_implemented("plan")
}
