//! `tokenform import`.

use super::Context;
use crate::ExitStatus;

pub fn run(_ctx: &Context, _args: &crate::cli::ImportArgs) -> miette::Result<ExitStatus> {
    super::not_implemented("import")
}
