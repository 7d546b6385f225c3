//! `tokenform validate`: loads the configuration (no network, no state) and prints either a
//! one-line success or every diagnostic.

use std::io::Write;

use super::Context;
use crate::ExitStatus;
use crate::config;

#[allow(clippy::unnecessary_wraps)] // every command has this signature
pub fn run(ctx: &Context, args: &crate::cli::VarArgs) -> miette::Result<ExitStatus> {
    let inputs = ctx.var_inputs(args)?;
    match config::load_problems(&ctx.global.dir, &inputs) {
        Ok(cfg) => {
            if !ctx.global.quiet {
                let n = cfg.tokens.len();
                let noun = if n == 1 { "token" } else { "tokens" };
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "Success! The configuration is valid ({n} {noun}).");
            }
            Ok(ExitStatus::Success)
        }
        Err(problems) => {
            let color = ctx.color && std::io::IsTerminal::is_terminal(&std::io::stderr());
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "{}", config::diagnostics::render(&problems, color));
            let n = problems.len();
            let _ = writeln!(
                err,
                "Error: the configuration is not valid ({n} problem{}).",
                if n == 1 { "" } else { "s" }
            );
            Ok(ExitStatus::Error)
        }
    }
}
