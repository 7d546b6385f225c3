//! `tokenform force-unlock`: removes a state lock whose owner is gone; refuses while the
//! owner process still runs on this host.

use super::Context;
use super::state_access;
use crate::ExitStatus;
use crate::state::lock::{self, ForceUnlock};

pub fn run(ctx: &Context) -> miette::Result<ExitStatus> {
    let config = state_access::load_config(ctx)?;
    let path = lock::lock_path(&config.state.path);
    let outcome = lock::force_unlock(&path).map_err(miette::Report::new)?;
    if !ctx.global.quiet {
        match outcome {
            ForceUnlock::NotLocked => {
                eprintln!("The state is not locked ({} does not exist).", path.display());
            }
            ForceUnlock::RemovedStale { owner } => eprintln!(
                "Removed the stale lock {} (left by {}).",
                path.display(),
                owner.map_or_else(|| "an unknown owner".to_owned(), |o| o.describe())
            ),
            ForceUnlock::RemovedOrphaned { owner } => eprintln!(
                "Removed the lock {}: its owner ({}) is gone, though a descriptor still held it.",
                path.display(),
                owner.describe()
            ),
        }
    }
    Ok(ExitStatus::Success)
}
