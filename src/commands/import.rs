//! `tokenform import ADDR ID`: reads the live token and records it at ADDR (secret unknown:
//! nothing live changes until `apply --rotate ADDR` takes it over). Refuses, each with one
//! error: an id that is not a token id (checked before any request, as the `import` block
//! is), an address already in state, an id another address (or a retiring generation)
//! already holds, an id that does not exist, and an address the configuration does not
//! declare (the next apply would delete the token again).

use super::Context;
use super::apply::{Mode, execute, open_session};
use super::plan::runtime;
use crate::ExitStatus;
use crate::cli::ImportArgs;
use crate::model::Address;
use crate::plan::model::{Action, ActionKind, PLAN_FORMAT_VERSION, Plan, Reason, TokenSpec};

pub fn run(ctx: &Context, args: &ImportArgs) -> miette::Result<ExitStatus> {
    runtime()?.block_on(run_async(ctx, args))
}

async fn run_async(ctx: &Context, args: &ImportArgs) -> miette::Result<ExitStatus> {
    let address: Address = args.address.parse().map_err(|e| {
        miette::miette!(
            code = "tokenform::cli::bad_address",
            help = "e.g. token.legacy or token.deploy[\"prod\"]",
            "{e}"
        )
    })?;
    if !crate::model::is_token_id(&args.id) {
        return Err(miette::miette!(
            code = "tokenform::import::bad_id",
            help = "the id is the token's `_id` (24 hex characters, e.g. 61095542756dba551110ae21), never its secret",
            "{:?} is not a LaunchDarkly token id",
            args.id
        ));
    }
    let mut s = open_session(ctx, &args.vars, &args.lock.lock_timeout, "import").await?;
    let state = s.store.state();
    if let Some(t) = state.tokens.get(&address) {
        return Err(miette::miette!(
            code = "tokenform::import::address_taken",
            help = "`tokenform state rm` it first, or import to another address",
            "{address} is already managed (token {})",
            t.id
        ));
    }
    if let Some(other) = state.holder_of(&args.id) {
        return Err(miette::miette!(
            code = "tokenform::import::already_managed",
            help =
                "a live token belongs to one address; `tokenform state mv` moves a token to another address",
            "cannot import token {} as {address}: {other} already holds it",
            args.id
        ));
    }
    let Some(desired) = s.config.tokens.get(&address) else {
        return Err(miette::miette!(
            code = "tokenform::import::not_in_config",
            help = "add a `token` block for it first, so the next apply keeps it",
            "{address} is not declared in the configuration"
        ));
    };
    // The snapshot lists with showAll (every member's tokens): a token it lacks does not exist
    // for this caller, said once here rather than as a failed step.
    let Some(name) = s.live.token(&args.id).map(|t| t.name().to_owned()) else {
        return Err(miette::miette!(
            code = "tokenform::import::not_found",
            help = "check the id; `tokenform drift` lists the unmanaged live tokens with their ids",
            "no live token has id {}",
            args.id
        ));
    };
    // Only the protection flag and the token's readers matter to an import: the rest is read live.
    let spec = TokenSpec {
        name: name.clone(),
        description: None,
        role: None,
        custom_role_ids: Vec::new(),
        custom_role_keys: Vec::new(),
        inline_role: None,
        service_token: false,
        api_version: None,
        expiry: None,
        recipients: desired.recipients.clone(),
        prevent_destroy: desired.lifecycle.prevent_destroy,
    };
    let plan = Plan {
        format_version: PLAN_FORMAT_VERSION,
        lineage: state.lineage.clone(),
        serial: state.serial,
        config_digest: s.config.digest.clone(),
        refresh_only: false,
        actions: vec![Action {
            address: Some(address),
            kind: ActionKind::Import,
            reason: Reason::ImportRequested,
            token_id: Some(args.id.clone()),
            name,
            desired: Some(spec),
            patch: Vec::new(),
            diffs: Vec::new(),
            create_before_destroy: false,
            rotation: None,
        }],
        drift: Vec::new(),
        warnings: Vec::new(),
        notes: Vec::new(),
    };
    execute(ctx, &mut s, &plan, Some(1), Mode::Import, super::ui::Ui::Human).await
}
