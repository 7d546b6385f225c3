//! `tokenform rekey`: re-encrypts every secret to the current recipients (the state's,
//! plus each token's own from configuration), keeping its issue time. A secret no given
//! identity opens is reported and left as it is; the command then exits 1.

use super::Context;
use super::state_access;
use crate::ExitStatus;
use crate::state::{JournalRecord, StateStore};

pub(super) fn run(ctx: &Context, args: &crate::cli::LockArgs) -> miette::Result<ExitStatus> {
    let config = state_access::load_config(ctx)?;
    let ids = state_access::require_identities(ctx.global.identity.as_deref(), "the secrets")?;
    let mode = state_access::exclusive(args, "rekey");
    let mut store = state_access::open(&config, mode, Some(&ids))?;

    let mut records = Vec::new();
    let mut left = Vec::new();
    for (address, token) in &store.state().tokens {
        let Some(record) = &token.secret else { continue };
        match StateStore::unseal_named(record, &ids, &format!("the secret of {address}")) {
            Ok(secret) => {
                let extra = config.tokens.get(address).map(|d| d.recipients.as_slice()).unwrap_or_default();
                let sealed = store.seal(&secret, extra, record.issued_at).map_err(miette::Report::new)?;
                let mut token = token.clone();
                token.secret = Some(sealed);
                records.push(JournalRecord::Upsert { address: address.clone(), token: Box::new(token) });
            }
            Err(e) => left.push(format!("{address}: {e}")),
        }
    }
    let rekeyed = records.len();
    // In `encrypt = "file"` mode the document itself is re-encrypted too, even with no secret.
    if rekeyed > 0 || config.state.encrypt == crate::config::EncryptMode::File {
        store.record_all(records).map_err(miette::Report::new)?;
        store.save().map_err(miette::Report::new)?;
    }
    if !ctx.global.quiet {
        eprintln!(
            "Re-encrypted {rekeyed} secret{} to {} recipient{}.",
            if rekeyed == 1 { "" } else { "s" },
            config.state.recipients.len(),
            if config.state.recipients.len() == 1 { "" } else { "s" }
        );
    }
    if left.is_empty() {
        Ok(ExitStatus::Success)
    } else {
        Err(miette::miette!(
            code = "tokenform::rekey::left_as_is",
            help = "pass an identity that opens them (--identity), or rotate those tokens \
                    (`tokenform apply --rotate ADDR`) to get new secrets",
            "{} secret{} could not be decrypted and {} left as {}:\n  {}",
            left.len(),
            if left.len() == 1 { "" } else { "s" },
            if left.len() == 1 { "was" } else { "were" },
            if left.len() == 1 { "it was" } else { "they were" },
            left.join("\n  ")
        ))
    }
}
