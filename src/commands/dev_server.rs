//! `tokenform dev-server`.

use super::Context;
use crate::ExitStatus;

pub fn run(_ctx: &Context, _args: &crate::cli::DevServerArgs) -> miette::Result<ExitStatus> {
    super::not_implemented("dev-server")
}
