//! `tokenform secret`.

use super::Context;
use crate::ExitStatus;

pub fn run(_ctx: &Context, _args: &crate::cli::SecretArgs) -> miette::Result<ExitStatus> {
    super::not_implemented("secret")
}
