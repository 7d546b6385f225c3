//! `tokenform validate`.

use super::Context;
use crate::ExitStatus;

pub fn run(_ctx: &Context, _args: &crate::cli::VarArgs) -> miette::Result<ExitStatus> {
    super::not_implemented("validate")
}
