//! `tokenform state`.

use super::Context;
use crate::ExitStatus;

pub fn run(_ctx: &Context, _cmd: &crate::cli::StateCommand) -> miette::Result<ExitStatus> {
    super::not_implemented("state")
}
