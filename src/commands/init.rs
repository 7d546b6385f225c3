//! `tokenform init`.

use super::Context;
use crate::ExitStatus;

pub fn run(_ctx: &Context, _args: &crate::cli::InitArgs) -> miette::Result<ExitStatus> {
    super::not_implemented("init")
}
