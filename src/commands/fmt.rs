//! `tokenform fmt`.

use super::Context;
use crate::ExitStatus;

pub fn run(_ctx: &Context, _args: &crate::cli::FmtArgs) -> miette::Result<ExitStatus> {
    super::not_implemented("fmt")
}
