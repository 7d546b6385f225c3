//! `tokenform completions <shell>`: a completion script on stdout.

use clap::CommandFactory;

use crate::ExitStatus;
use crate::cli::{Cli, CompletionsArgs};

pub(super) fn run(args: &CompletionsArgs) -> miette::Result<ExitStatus> {
    let mut cmd = Cli::command();
    // Into memory first: clap_complete panics when its writer fails (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "tokenform", &mut script);
    super::print(&String::from_utf8_lossy(&script))?;
    Ok(ExitStatus::Success)
}
