//! The `tokenform` binary: parse, run, map to an exit code.

use clap::Parser;
use tokenform::{ExitStatus, cli::Cli, commands};

fn main() {
    let cli = match Cli::try_parse_from(tokenform::cli::normalize_args(std::env::args_os())) {
        Ok(cli) => cli,
        Err(err) => {
            // A value that did not parse into its type is reported as every other error is.
            if let Some(typed) = tokenform::cli::ArgError::of(&err) {
                eprintln!("{}", commands::error_text(&miette::Report::new(typed.clone())));
                std::process::exit(ExitStatus::Error.code());
            }
            // clap exits 2 on usage errors; 2 means "changes" here, so errors exit 1.
            let _ = err.print();
            let code = if err.use_stderr() { ExitStatus::Error } else { ExitStatus::Success };
            std::process::exit(code.code());
        }
    };
    let status = match commands::run(cli) {
        Ok(status) => status,
        Err(report) => {
            eprintln!("{}", commands::error_text(&report));
            ExitStatus::Error
        }
    };
    std::process::exit(status.code());
}
