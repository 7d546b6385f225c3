//! `tokenform validate`: loads the configuration (no network, no state) and prints either a
//! one-line success (after any warnings) or every diagnostic.

use std::io::Write;

use super::Context;
use crate::ExitStatus;
use crate::config;

#[allow(clippy::unnecessary_wraps)] // every command has this signature
pub(super) fn run(ctx: &Context, args: &crate::cli::VarArgs) -> miette::Result<ExitStatus> {
    let inputs = ctx.var_inputs(args)?;
    match config::load_problems(&ctx.global.dir, &inputs) {
        Ok(cfg) => {
            warn_expired(&cfg, jiff::Timestamp::now());
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

/// An `expires_at` that has passed: `plan` refuses it for a token it would create and warns
/// for one already live. Without state, validate cannot tell which, so it warns, located.
fn warn_expired(cfg: &config::Config, now: jiff::Timestamp) {
    let mut err = std::io::stderr().lock();
    for (address, t) in &cfg.tokens {
        let Some(at) = t.expires_at.filter(|at| *at <= now) else { continue };
        let site =
            cfg.sites.token_attr(&address.label, "expires_at").map(|s| format!("{s}: ")).unwrap_or_default();
        let _ = writeln!(
            err,
            "Warning: {}",
            crate::escape::text(&format!(
                "{site}{address}: expires_at {at} has passed: plan refuses to create this token, and only \
                 warns if it is already live (validate reads no state, so it cannot tell which)"
            ))
        );
    }
}
