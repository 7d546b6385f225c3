//! `tokenform output`.

use super::Context;
use crate::ExitStatus;

pub fn run(_ctx: &Context, _args: &crate::cli::OutputArgs) -> miette::Result<ExitStatus> {
    super::not_implemented("output")
}
