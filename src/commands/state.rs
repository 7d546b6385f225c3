//! `tokenform state list|show|rm|mv`: inspect or edit the state (`pull|push|migrate` are
//! in state_transfer.rs). Never prints a secret: `show` gives its last four characters,
//! issue time and recipients only.

use std::fmt::Write as _;

use super::Context;
use super::state_access::{self, unknown_address};
use super::state_transfer;
use crate::ExitStatus;
use crate::cli::StateCommand;
use crate::model::Address;
use crate::state::model::{State, TokenState};
use crate::state::{JournalRecord, LockMode};

pub(super) fn run(ctx: &Context, cmd: &StateCommand) -> miette::Result<ExitStatus> {
    let config = state_access::load_state_settings(ctx)?;
    let ids = state_access::identities(ctx.global.identity.as_deref())?;

    match cmd {
        StateCommand::List => {
            let store = state_access::open(&config, LockMode::Shared, ids.as_ref())?;
            let mut text = String::new();
            for address in store.state().tokens.keys() {
                let _ = writeln!(text, "{address}");
            }
            super::print(&text)?;
        }
        StateCommand::Show { address } => {
            let store = state_access::open(&config, LockMode::Shared, ids.as_ref())?;
            let Some(token) = store.state().tokens.get(address) else {
                return Err(unknown_address(address, &store));
            };
            super::print(&show(address, token, store.state()))?;
        }
        StateCommand::Rm { address, lock } => {
            let mode = state_access::exclusive(lock, "state rm");
            let mut store = state_access::open(&config, mode, ids.as_ref())?;
            let Some(token) = store.state().tokens.get(address) else {
                return Err(unknown_address(address, &store));
            };
            let id = token.id.clone();
            // Its old generations go too: left behind, the next apply would delete live tokens
            // of an address the user asked tokenform to stop managing.
            let retiring: Vec<String> = store
                .state()
                .retiring
                .iter()
                .filter(|r| &r.address == address)
                .map(|r| r.id.clone())
                .collect();
            let records = std::iter::once(JournalRecord::Remove { address: address.clone() })
                .chain(retiring.iter().map(|id| JournalRecord::RemoveRetiring { id: id.clone() }))
                .collect();
            store.record_all(records).map_err(miette::Report::new)?;
            store.save().map_err(miette::Report::new)?;
            if !ctx.global.quiet {
                eprintln!("Removed {address} (id {id}) from the state; the live token is untouched.");
                if !retiring.is_empty() {
                    eprintln!(
                        "Also removed its {} retiring generation{} (id {}): tokenform will not delete {}; \
                         {} still stop{} working at the expiry the rotation set.",
                        retiring.len(),
                        if retiring.len() == 1 { "" } else { "s" },
                        retiring.join(", "),
                        if retiring.len() == 1 { "it" } else { "them" },
                        if retiring.len() == 1 { "it" } else { "they" },
                        if retiring.len() == 1 { "s" } else { "" },
                    );
                }
            }
        }
        StateCommand::Mv { from, to, lock } => {
            let mode = state_access::exclusive(lock, "state mv");
            let mut store = state_access::open(&config, mode, ids.as_ref())?;
            if !store.state().tokens.contains_key(from) {
                return Err(unknown_address(from, &store));
            }
            if store.state().tokens.contains_key(to) {
                return Err(miette::miette!(
                    code = "tokenform::state::address_taken",
                    help = "remove or move the token there first",
                    "{to} is already in the state"
                ));
            }
            if from != to {
                store
                    .record(JournalRecord::Move { from: from.clone(), to: to.clone() })
                    .map_err(miette::Report::new)?;
                store.save().map_err(miette::Report::new)?;
            }
            if !ctx.global.quiet {
                eprintln!("Moved {from} to {to}.");
            }
        }
        StateCommand::Pull { previous } => state_transfer::pull(&config, ids.as_ref(), *previous)?,
        StateCommand::Push { file, force, lock } => {
            state_transfer::push(ctx, &config, ids.as_ref(), file, *force, lock)?;
        }
        StateCommand::Migrate { from, lock } => {
            state_transfer::migrate(ctx, &config, ids.as_ref(), from, lock)?;
        }
    }
    Ok(ExitStatus::Success)
}

/// One token as `key = value` lines, Terraform `state show` style; the secret as metadata.
pub(super) fn show(address: &Address, t: &TokenState, state: &State) -> String {
    // Names and descriptions came from the API: quoted with control characters escaped.
    let q = crate::escape::quoted;
    let list = |v: &[String]| format!("[{}]", v.iter().map(|s| q(s)).collect::<Vec<_>>().join(", "));
    let ts = |t: &jiff::Timestamp| q(&t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
    let mut rows: Vec<(&str, String)> = vec![("id", q(&t.id)), ("name", q(&t.name))];
    if let Some(d) = &t.description {
        rows.push(("description", q(d)));
    }
    if let Some(r) = &t.role {
        rows.push(("role", q(r)));
    }
    if !t.custom_role_keys.is_empty() {
        rows.push(("custom_roles", list(&t.custom_role_keys)));
    }
    if !t.custom_role_ids.is_empty() {
        rows.push(("custom_role_ids", list(&t.custom_role_ids)));
    }
    if let Some(policy) = &t.inline_role {
        rows.push(("policy", crate::escape::json(serde_json::to_string(policy).unwrap_or_default())));
    }
    rows.push(("service_token", t.service_token.to_string()));
    if let Some(v) = t.api_version {
        rows.push(("api_version", v.to_string()));
    }
    if let Some(e) = &t.expiry {
        rows.push(("expires_at", ts(e)));
    }
    rows.push(("created_at", ts(&t.created_at)));
    if let Some(m) = &t.member_id {
        rows.push(("member_id", q(m)));
    }
    rows.push(("prevent_destroy", t.prevent_destroy.to_string()));
    if let Some(tf) = &t.terraform_address {
        rows.push(("terraform_address", q(tf)));
    }
    if !t.undelivered.is_empty() {
        rows.push(("undelivered", list(&t.undelivered)));
    }
    match &t.secret {
        Some(s) => {
            rows.push(("secret", "(sensitive value)".to_owned()));
            rows.push(("secret_last4", q(&s.last4)));
            rows.push(("secret_issued_at", ts(&s.issued_at)));
            rows.push(("secret_recipients", list(&s.recipients)));
        }
        None => rows.push((
            "secret",
            format!("null # unknown (imported): `tokenform apply --rotate {address}` takes it over"),
        )),
    }
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut text = format!("# {address}\n");
    for (k, v) in rows {
        let _ = writeln!(text, "{k:<width$} = {v}");
    }
    for r in state.retiring.iter().filter(|r| &r.address == address) {
        if r.is_held() {
            let _ = writeln!(
                text,
                "# retiring: id {} ({}) held: no expiry until the current secret reaches every sink",
                r.id,
                q(&r.name)
            );
        } else {
            let _ = writeln!(text, "# retiring: id {} ({}) expires {}", r.id, q(&r.name), ts(&r.expires_at));
        }
    }
    for p in state.pending_creates.iter().filter(|p| &p.address == address) {
        let _ = writeln!(
            text,
            "# pending create of {} since {} (interrupted apply)",
            q(&p.name),
            ts(&p.intent_at)
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::model::SecretRecord;

    #[test]
    fn show_never_prints_the_ciphertext_and_lists_metadata() {
        let mut state = State::new();
        let address = Address::keyed("deployer", "staging");
        let token = TokenState {
            id: "61095542756dba551110ae21".into(),
            name: "deploy-staging".into(),
            description: Some("CI".into()),
            role: None,
            custom_role_ids: vec!["r1".into()],
            custom_role_keys: vec!["deploy-staging".into()],
            inline_role: None,
            service_token: true,
            api_version: Some(20_240_415),
            expiry: None,
            created_at: jiff::Timestamp::UNIX_EPOCH,
            member_id: None,
            prevent_destroy: true,
            secret: Some(SecretRecord {
                ciphertext: "-----BEGIN AGE ENCRYPTED FILE-----\nSECRETBYTES\n".into(),
                last4: "beef".into(),
                issued_at: jiff::Timestamp::UNIX_EPOCH,
                recipients: vec!["age1abc".into()],
            }),
            terraform_address: Some("module.ops.launchdarkly_access_token.deployer[\"staging\"]".into()),
            undelivered: vec![],
        };
        state.tokens.insert(address.clone(), token.clone());
        let text = show(&address, &token, &state);
        assert!(!text.contains("SECRETBYTES"));
        insta::assert_snapshot!(text);
    }
}
