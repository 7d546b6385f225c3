//! `tokenform destroy`.

use super::Context;
use crate::ExitStatus;

pub fn run(_ctx: &Context, _args: &crate::cli::DestroyArgs) -> miette::Result<ExitStatus> {
    super::not_implemented("destroy")
}
