//! `tokenform keygen`.

use super::Context;
use crate::ExitStatus;

pub fn run(_ctx: &Context, _args: &crate::cli::KeygenArgs) -> miette::Result<ExitStatus> {
    super::not_implemented("keygen")
}
