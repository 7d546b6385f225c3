//! `tokenform rekey`.

use super::Context;
use crate::ExitStatus;

pub fn run(_ctx: &Context, _args: &crate::cli::IdentityArgs) -> miette::Result<ExitStatus> {
    super::not_implemented("rekey")
}
