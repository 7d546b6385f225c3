//! `tokenform force-unlock`.

use super::Context;
use crate::ExitStatus;

pub fn run(_ctx: &Context) -> miette::Result<ExitStatus> {
    super::not_implemented("force-unlock")
}
