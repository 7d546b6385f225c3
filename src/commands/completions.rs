//! `tokenform completions <shell>`: a completion script on stdout.

use clap::CommandFactory;

use crate::ExitStatus;
use crate::cli::{Cli, CompletionsArgs};

#[allow(clippy::unnecessary_wraps)] // every command has the same signature
pub fn run(args: &CompletionsArgs) -> miette::Result<ExitStatus> {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "tokenform", &mut std::io::stdout());
    Ok(ExitStatus::Success)
}
