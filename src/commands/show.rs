//! `tokenform show [PLANFILE]`: a saved plan printed by the very renderer `plan` used, so
//! the output is byte for byte what `plan` printed in that format (CI plans once, comments
//! from the file, applies the same file); without a file, the state's tokens. No network,
//! no lock held, never a secret.

use std::fmt::Write as _;

use super::Context;
use super::apply::read_plan;
use super::plan::{print, render};
use crate::ExitStatus;
use crate::cli::{Format, ShowArgs};
use crate::state::LockMode;

pub(super) fn run(ctx: &Context, args: &ShowArgs) -> miette::Result<ExitStatus> {
    if let Some(path) = &args.plan_file {
        let plan = read_plan(path)?;
        print(&render(&plan, args.format, ctx.color))?;
        return Ok(ExitStatus::Success);
    }
    let config = super::state_access::load_state_settings(ctx)?;
    let store =
        super::state_access::open_metadata(&config, LockMode::Shared, ctx.global.identity.as_deref())?;
    let state = store.state();
    let text = match args.format {
        Format::Json => crate::render::state::json(state),
        Format::Markdown => crate::render::state::markdown(state),
        Format::Human if state.tokens.is_empty() => "No tokens are managed: the state is empty.\n".to_owned(),
        Format::Human => {
            // Terraform's `show`: every resource as `state show` prints it.
            let mut text = String::new();
            for (address, token) in &state.tokens {
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(&super::state::show(address, token, state));
            }
            // Generations whose token has left the state are still deleted after their grace.
            for r in state.retiring.iter().filter(|r| !state.tokens.contains_key(&r.address)) {
                // A held generation has no expiry yet: its `expires_at` is only a placeholder.
                let until = if r.is_held() {
                    "held: no expiry until its successor reaches every sink".to_owned()
                } else {
                    format!("expires {}", r.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ"))
                };
                let _ = write!(text, "\n# retiring: {} id {} ({:?}) {until}\n", r.address, r.id, r.name);
            }
            text
        }
    };
    print(&text)?;
    Ok(ExitStatus::Success)
}
