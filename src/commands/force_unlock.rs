//! `tokenform force-unlock LOCK_ID`: removes the state lock LOCK_ID names when its holder
//! is gone, on any backend; refuses while the holder still runs, or when LOCK_ID is not
//! the lock that is held.

use super::Context;
use super::state_access;
use crate::ExitStatus;
use crate::cli::ForceUnlockArgs;
use crate::state::ForceUnlocked;

pub(super) fn run(ctx: &Context, args: &ForceUnlockArgs) -> miette::Result<ExitStatus> {
    let config = state_access::load_state_settings(ctx)?;
    let mut backend = state_access::backend(&config)?;
    let what = backend.describe();
    let outcome = backend.force_unlock(&args.lock_id).map_err(miette::Report::new)?;
    if !ctx.global.quiet {
        match outcome {
            ForceUnlocked::NotLocked => eprintln!("The state is not locked ({what})."),
            ForceUnlocked::Removed { info, note } => eprintln!(
                "Removed the lock {} on {what}: {note}.",
                info.map_or_else(
                    || args.lock_id.clone(),
                    |i| format!("{} (held by {}, `{}`)", i.id, i.who, i.operation)
                )
            ),
        }
    }
    Ok(ExitStatus::Success)
}
