//! `tokenform state pull | push FILE [--force] | migrate --from FILE`: move whole state
//! documents in and out of whichever backend is configured (the local file too).
//! Documents travel as they are: secrets stay age ciphertexts; with `encrypt = "file"`
//! the identity opens the document and the backend gets it re-sealed.

use std::path::Path;

use super::Context;
use super::state_access;
use crate::cli::LockArgs;
use crate::config::Config;
use crate::state::backend::PREVIOUS;
use crate::state::crypto;
use crate::state::model::State;
use crate::state::store::parse_state;
use crate::state::{BackendSettings, Identities, LockMode, StateSettings, StateStore};

/// `state pull [--previous N]`: the document on stdout.
pub(super) fn pull(config: &Config, ids: Option<&Identities>, previous: Option<u8>) -> miette::Result<()> {
    let mut store = state_access::open(config, LockMode::Shared, ids)?;
    let bytes = match previous {
        None => store.document().map_err(miette::Report::new)?,
        Some(n) => {
            let Some(state) = store.previous(usize::from(n), ids).map_err(miette::Report::new)? else {
                return Err(miette::miette!(
                    code = "tokenform::state::no_previous",
                    help = format!("{} keeps the last {PREVIOUS} versions once they exist", store.describe()),
                    "there is no previous version {n} of {}",
                    store.describe()
                ));
            };
            let mut bytes = serde_json::to_vec_pretty(&state).map_err(|e| miette::miette!("{e}"))?;
            bytes.push(b'\n');
            bytes
        }
    };
    super::plan::print(&String::from_utf8_lossy(&bytes))
}

/// `state push FILE [--force]`: replaces the stored state with FILE's.
pub(super) fn push(
    ctx: &Context,
    config: &Config,
    ids: Option<&Identities>,
    file: &Path,
    force: bool,
    lock: &LockArgs,
) -> miette::Result<()> {
    let mut pushed = read_state_file(file, ids)?;
    let mode = state_access::exclusive(lock, "state push");
    let mut store = state_access::open(config, mode, ids)?;
    let current = store.state();
    let stored = store.stored_serial() > 0;
    if stored && pushed.lineage != current.lineage && !force {
        return Err(miette::miette!(
            code = "tokenform::state::push_lineage",
            help = "a state of another lineage is another state: pass --force only if you mean to replace it",
            "{} has lineage {}, the stored state {}; nothing was written",
            file.display(),
            pushed.lineage,
            current.lineage
        ));
    }
    if stored && pushed.serial <= current.serial {
        if !force {
            return Err(miette::miette!(
                code = "tokenform::state::push_serial",
                help = "the stored state is as new or newer; `tokenform state pull` shows it. \
                        --force writes FILE anyway (its serial is then raised)",
                "{} has serial {}, not above the stored serial {}; nothing was written",
                file.display(),
                pushed.serial,
                current.serial
            ));
        }
        // Serials only grow, so every later write still compares against the right one.
        pushed.serial = current.serial + 1;
    }
    // A stored document always has a serial of at least 1 (0 means "nothing stored").
    pushed.serial = pushed.serial.max(1);
    let (serial, tokens) = (pushed.serial, pushed.tokens.len());
    store.replace(pushed).map_err(miette::Report::new)?;
    if !ctx.global.quiet {
        eprintln!("Pushed {} to {} (serial {serial}, {tokens} tokens).", file.display(), store.describe());
    }
    Ok(())
}

/// `state migrate --from FILE`: a local state and its journal into the configured backend.
pub(super) fn migrate(
    ctx: &Context,
    config: &Config,
    ids: Option<&Identities>,
    from: &Path,
    lock: &LockArgs,
) -> miette::Result<()> {
    if config.state.backend == BackendSettings::Local && same_file(from, &config.state.path) {
        return Err(miette::miette!(
            code = "tokenform::state::migrate_same",
            help = "configure the target first: state { backend \"pg\" { … } }",
            "{} is the configured state itself; nothing to migrate",
            from.display()
        ));
    }
    // The source is read without its lock taken for writing, and never written: the journal
    // a crash left is replayed in memory and travels inside the migrated document.
    let source_settings = StateSettings::local(from, config.state.recipients.clone(), config.state.encrypt);
    let source = StateStore::open(&source_settings, LockMode::Shared, ids).map_err(miette::Report::new)?;
    let state = source.state().clone();
    if state.serial == 0 {
        return Err(miette::miette!(
            code = "tokenform::state::migrate_nothing",
            help = "--from names the local state file (tokenform.state.json)",
            "{} holds no state (no file, no journal); nothing was written",
            from.display()
        ));
    }
    let mode = state_access::exclusive(lock, "state migrate");
    let mut target = state_access::open(config, mode, ids)?;
    let what = target.describe();
    if target.stored_serial() > 0 {
        let held = target.state();
        if held.lineage != state.lineage {
            return Err(miette::miette!(
                code = "tokenform::state::migrate_lineage",
                help = "that backend already holds another state; point the configuration at an empty \
                        workspace, or (if you mean to replace it) use `tokenform state push --force`",
                "{what} already holds lineage {}, {} lineage {}; nothing was written",
                held.lineage,
                from.display(),
                state.lineage
            ));
        }
        if held.serial >= state.serial {
            if !ctx.global.quiet {
                eprintln!(
                    "{what} already holds this state (serial {}, {} here): nothing to migrate.",
                    held.serial, state.serial
                );
            }
            return Ok(());
        }
    }
    let (serial, tokens, pending) = (state.serial, state.tokens.len(), state.pending_creates.len());
    target.replace(state).map_err(miette::Report::new)?;
    if !ctx.global.quiet {
        eprintln!(
            "Migrated {} to {what}: serial {serial}, {tokens} tokens{}. The local file is left as it \
             was; remove it and its .journal and .backup.N files once you have checked the backend.",
            from.display(),
            if pending == 0 {
                String::new()
            } else {
                format!(", {pending} interrupted create(s) to reconcile")
            }
        );
    }
    Ok(())
}

/// Reads a state document from `path` (bounded), decrypting it when it is age-wrapped.
fn read_state_file(path: &Path, ids: Option<&Identities>) -> miette::Result<State> {
    let bytes = crate::files::read(path, crate::files::Kind::State).map_err(miette::Report::new)?;
    let what = format!("the state file {}", path.display());
    let plaintext;
    let json: &[u8] = if crypto::is_age(&bytes) {
        let ids = ids.ok_or_else(|| {
            miette::Report::new(crate::state::StateError::NoIdentity { what: what.clone() })
        })?;
        plaintext = crypto::decrypt(&bytes, ids, &what).map_err(miette::Report::new)?;
        &plaintext
    } else {
        &bytes
    };
    parse_state(&what, "fix the file", json).map_err(miette::Report::new)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}
