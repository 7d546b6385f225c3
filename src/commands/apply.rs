//! `tokenform apply`.

use super::Context;
use crate::ExitStatus;

pub fn run(_ctx: &Context, _args: &crate::cli::ApplyArgs) -> miette::Result<ExitStatus> {
    super::not_implemented("apply")
}
