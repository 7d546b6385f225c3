//! `tokenform drift`.

use super::Context;
use crate::ExitStatus;

pub fn run(_ctx: &Context, _args: &crate::cli::DriftArgs) -> miette::Result<ExitStatus> {
    super::not_implemented("drift")
}
