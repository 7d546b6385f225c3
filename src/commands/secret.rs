//! `tokenform secret ADDR`: prints one decrypted secret (needs the identity). The only
//! output is the secret and a newline, so `$(tokenform secret token.x)` works.

use zeroize::Zeroizing;

use super::Context;
use super::state_access::{self, unknown_address};
use crate::ExitStatus;
use crate::state::{LockMode, StateStore};

pub(super) fn run(ctx: &Context, args: &crate::cli::SecretArgs) -> miette::Result<ExitStatus> {
    let address = &args.address;
    let config = state_access::load_state_settings(ctx)?;
    let ids = state_access::require_identities(ctx.global.identity.as_deref(), "the secret")?;
    let store = state_access::open(&config, LockMode::Shared, Some(&ids))?;
    let Some(token) = store.state().tokens.get(address) else {
        return Err(unknown_address(address, &store));
    };
    let Some(record) = &token.secret else {
        return Err(miette::miette!(
            code = "tokenform::state::no_secret",
            help = format!(
                "imported and adopted tokens have no known secret; `tokenform apply --rotate {address}` gets a new one"
            ),
            "the state holds no secret for {address}"
        ));
    };
    let secret = StateStore::unseal_named(record, &ids, &format!("the secret of {address}"))
        .map_err(miette::Report::new)?;
    let line = Zeroizing::new(format!("{}\n", secret.expose()));
    super::print(&line)?;
    Ok(ExitStatus::Success)
}
