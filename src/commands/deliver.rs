//! `tokenform deliver [ADDR]…`: delivers the current secrets again to their sinks (needs the
//! identity), for a sink added later or a consumer that lost its copy (`docs/delivery.md`).
//! Every managed token with `deliver` blocks when no address is given; `token.x` also names
//! each `token.x["key"]`. Sinks are the configuration's, in order, with
//! `TOKENFORM_EVENT=deliver`; a token stops at its first failed sink, the others go on.
//!
//! When the secret is one an apply did not finish delivering (`undelivered`, or old
//! generations held for it), a complete delivery here finishes that job: the secret is first
//! checked against `caller-identity`, then the record is cleared and every held generation
//! starts its grace (the API is only needed then).

use std::fmt::Write as _;

use super::Context;
use super::state_access::{self, unknown_address};
use crate::ExitStatus;
use crate::api::Client;
use crate::api::model::PatchOp;
use crate::cli::DeliverArgs;
use crate::deliver::{Event, Runner, Subject};
use crate::model::Address;
use crate::plan::diff::target_matches;
use crate::secret::Secret;
use crate::state::model::RetiringToken;
use crate::state::{JournalRecord, StateStore};

/// One token that could not be delivered (never a secret: sink output is redacted).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("{count} {} not delivered", if *count == 1 { "token" } else { "tokens" })]
#[diagnostic(
    code(tokenform::deliver::incomplete),
    help("each failure names its token and sink; fix the sink and run `tokenform deliver ADDR` again")
)]
struct DeliverFailed {
    count: usize,
    #[related]
    failures: Vec<miette::Report>,
}

pub(super) fn run(ctx: &Context, args: &DeliverArgs) -> miette::Result<ExitStatus> {
    super::plan::runtime()?.block_on(run_async(ctx, args))
}

async fn run_async(ctx: &Context, args: &DeliverArgs) -> miette::Result<ExitStatus> {
    let config = crate::config::load(&ctx.global.dir, &ctx.var_inputs(&args.vars)?)?;
    let ids = state_access::require_identities(ctx.global.identity.as_deref(), "the secrets to deliver")?;
    let mut store = state_access::open(&config, state_access::exclusive(&args.lock, "deliver"), Some(&ids))?;
    for wanted in &args.addresses {
        if !store.state().tokens.keys().any(|a| target_matches(wanted, a)) {
            return Err(unknown_address(wanted, &store));
        }
    }
    let chosen: Vec<Address> = store
        .state()
        .tokens
        .keys()
        .filter(|a| args.addresses.is_empty() || args.addresses.iter().any(|w| target_matches(w, a)))
        .cloned()
        .collect();
    let runner = super::apply::sink_runner(ctx, &config);
    let mut client: Option<Client> = None;
    let mut failures: Vec<String> = Vec::new();
    let mut delivered = 0;
    for address in chosen {
        let sinks = config.tokens.get(&address).map(|d| d.deliver.clone()).unwrap_or_default();
        if sinks.is_empty() {
            if !args.addresses.is_empty() {
                failures.push(format!("{address}: its token block has no deliver blocks"));
            }
            continue;
        }
        let Some(token) = store.state().tokens.get(&address).cloned() else { continue };
        let Some(record) = &token.secret else {
            failures.push(format!(
                "{address}: the state holds no secret for it (imported or adopted); \
                 `tokenform apply --rotate {address}` makes one and delivers it"
            ));
            continue;
        };
        let secret = StateStore::unseal_named(record, &ids, &format!("the secret of {address}"))
            .map_err(miette::Report::new)?;
        let unfinished = !token.undelivered.is_empty()
            || store.state().retiring.iter().any(|r| r.address == address && r.is_held());
        if unfinished {
            // A secret an apply did not finish with may be one that never worked.
            let api = connected(ctx, &config, &mut client).await?;
            match api.caller_identity_of(&secret).await {
                Ok(who) if who.token_id.as_deref().is_none_or(|id| id == token.id) => {}
                Ok(who) => {
                    failures.push(format!(
                        "{address}: its secret authenticates as token {}, not {}; not delivered",
                        who.token_id.unwrap_or_default(),
                        token.id
                    ));
                    continue;
                }
                Err(e) => {
                    failures.push(format!(
                        "{address}: its secret does not authenticate ({}); not delivered: \
                         `tokenform apply` rotates it",
                        crate::secret::redact_secrets(&e.to_string())
                    ));
                    continue;
                }
            }
        }
        let subject =
            Subject { address: &address, token_id: &token.id, name: &token.name, event: Event::Deliver };
        if let Err(failure) = deliver_all(&runner, &sinks, &subject, &secret).await {
            failures.push(format!("{address}: {failure}"));
            continue;
        }
        delivered += 1;
        if unfinished {
            let api = connected(ctx, &config, &mut client).await?;
            let released = finish_apply(&mut store, api, &address).await?;
            let mut line = format!("{address}: the unfinished delivery of id={} is complete", token.id);
            for (note, failed) in released {
                if failed {
                    failures.push(format!("{address}: {note}"));
                } else {
                    let _ = write!(line, ", {note}");
                }
            }
            super::print(&format!("{}\n", crate::escape::text(&line)))?;
        }
    }
    store.save().map_err(miette::Report::new)?;
    if !ctx.global.quiet {
        super::print(&format!("\nDelivered {delivered} token(s).\n"))?;
    }
    if failures.is_empty() {
        return Ok(ExitStatus::Success);
    }
    Err(DeliverFailed {
        count: failures.len(),
        failures: failures.into_iter().map(|f| miette::miette!("{f}")).collect(),
    }
    .into())
}

/// The client, connected on first use.
async fn connected<'c>(
    ctx: &Context,
    config: &crate::config::Config,
    client: &'c mut Option<Client>,
) -> miette::Result<&'c Client> {
    if client.is_none() {
        *client = Some(ctx.connect(config).await?);
    }
    client.as_ref().ok_or_else(|| miette::miette!("no LaunchDarkly client"))
}

/// Every sink in order, each one's line (and output) printed as it succeeds; the first
/// failure ends the token's delivery.
async fn deliver_all(
    runner: &Runner,
    sinks: &[crate::deliver::Sink],
    subject: &Subject<'_>,
    secret: &Secret,
) -> Result<(), String> {
    for sink in sinks {
        let what = sink.describe();
        match runner.deliver(sink, subject, secret).await {
            Ok(output) => {
                let mut text = format!("{}: Delivered to {what}\n", subject.address);
                for line in output.trim_end().lines() {
                    let _ = writeln!(text, "    {line}");
                }
                let text: Vec<_> = text.split_inclusive('\n').map(crate::escape::text).collect();
                super::print(&text.concat()).map_err(|e| e.to_string())?;
            }
            Err(e) => {
                let mut why =
                    format!("delivery to {what} failed: {}", crate::secret::redact_secrets(&e.to_string()));
                let output = e.output().trim_end();
                if !output.is_empty() {
                    why.push_str("; it printed:");
                    for line in output.lines() {
                        let _ = write!(why, "\n    {line}");
                    }
                }
                return Err(why);
            }
        }
    }
    Ok(())
}

/// Clears the token's `undelivered` and starts the grace of every generation held at
/// `address`: each end recorded before its request, as apply does. Returns one note per
/// generation, and whether it failed.
async fn finish_apply(
    store: &mut StateStore,
    client: &Client,
    address: &Address,
) -> miette::Result<Vec<(String, bool)>> {
    if let Some(mut token) = store.state().tokens.get(address).cloned()
        && !token.undelivered.is_empty()
    {
        token.undelivered.clear();
        store
            .record(JournalRecord::Upsert { address: address.clone(), token: Box::new(token) })
            .map_err(miette::Report::new)?;
    }
    let held: Vec<RetiringToken> =
        store.state().retiring.iter().filter(|r| &r.address == address && r.is_held()).cloned().collect();
    let mut notes = Vec::new();
    for r in held {
        let grace = r.held_grace_seconds.unwrap_or(0);
        let end = i64::try_from(grace)
            .ok()
            .and_then(|s| jiff::Timestamp::now().checked_add(jiff::SignedDuration::from_secs(s)).ok())
            .unwrap_or(jiff::Timestamp::MAX)
            .min(r.expires_at);
        let released = RetiringToken { expires_at: end, held_grace_seconds: None, ..r.clone() };
        store.record(JournalRecord::AddRetiring { retiring: released }).map_err(miette::Report::new)?;
        let at = end.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        let sent = if grace == 0 {
            client.delete_token(&r.id).await.map(|()| format!("old id={} deleted", r.id))
        } else if end == r.expires_at {
            Ok(format!("old id={} expires at {at}", r.id))
        } else {
            let op = PatchOp::add("/expiry", serde_json::json!(end.as_millisecond()));
            client.patch_token(&r.id, &[op]).await.map(|_| format!("old id={} expires at {at}", r.id))
        };
        match sent {
            Ok(note) => {
                if grace == 0 {
                    store
                        .record(JournalRecord::RemoveRetiring { id: r.id.clone() })
                        .map_err(miette::Report::new)?;
                }
                notes.push((note, false));
            }
            Err(e) if e.is_not_found() => {
                store
                    .record(JournalRecord::RemoveRetiring { id: r.id.clone() })
                    .map_err(miette::Report::new)?;
                notes.push((format!("old id={} already gone", r.id), false));
            }
            Err(e) => notes.push((
                format!(
                    "ending old token {} failed ({}); state records its grace as ending {at}, when a later \
                     apply deletes it",
                    r.id,
                    crate::secret::redact_secrets(&e.to_string())
                ),
                true,
            )),
        }
    }
    Ok(notes)
}
