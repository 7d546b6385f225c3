//! `tokenform migrate terraform [STATE|-] [-o FILE] [--dry-run]`: moves the
//! `launchdarkly_access_token`s of a Terraform state into tokenform (`docs/spec.md` §9):
//! token blocks from the state's values, each live token checked first, each recorded in
//! state with Terraform's secret sealed to the recipients at once (when it is still the
//! live one), and `terraform-removed.tf` so Terraform forgets the tokens without
//! destroying them.
//!
//! It never writes the Terraform state, never prints a secret, and needs no identity.
//! Everything is checked before anything is written; `--dry-run` stops there.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::IsTerminal as _;

use futures::StreamExt as _;

use super::Context;
use super::generated::{ensure_absent, in_config_dir, out_path, reload, remove_created, write_new};
use super::plan::{print, runtime};
use crate::ExitStatus;
use crate::api::model::{Live, Token};
use crate::api::{ApiError, Client};
use crate::cli::MigrateTerraformArgs;
use crate::config::Config;
use crate::model::{Access, Address};
use crate::onboard::generate;
use crate::onboard::input::{Source, read_terraform_state};
use crate::onboard::labels::{Labels, from_terraform};
use crate::onboard::migrate::{SecretCheck, Translation, check_secret, translate};
use crate::onboard::terraform::{self, Instance, TerraformState};
use crate::plan::model::AttributeDiff;
use crate::plan::refresh::{ms_to_timestamp, state_from_live};
use crate::state::model::{State, TokenState};
use crate::state::{JournalRecord, LockMode, StateStore};

/// The token blocks' file unless `-o FILE` says otherwise.
const DEFAULT_FILE: &str = "terraform-migrated.hcl";
/// Terraform's side: one `removed` block per resource, beside the token blocks.
const REMOVED_FILE: &str = "terraform-removed.tf";

pub fn run(ctx: &Context, args: &MigrateTerraformArgs) -> miette::Result<ExitStatus> {
    runtime()?.block_on(run_async(ctx, args))
}

/// One Terraform instance on its way in.
struct Item<'a> {
    inst: &'a Instance,
    translation: Translation,
    /// The live token, or `None` when it is gone.
    live: Option<Token>,
}

/// What happens to one live token's secret.
fn fate(check: SecretCheck) -> &'static str {
    match check {
        SecretCheck::Current => "secret taken over from Terraform (sealed to the state's recipients)",
        SecretCheck::Stale => {
            "secret unknown: it was reset since Terraform saw it (Terraform's copy is stale and is not kept)"
        }
        SecretCheck::Absent => "secret unknown: Terraform holds none (an imported resource)",
        SecretCheck::Unverifiable => {
            "secret unknown: the API shows no last four characters to check Terraform's copy against"
        }
    }
}

async fn run_async(ctx: &Context, args: &MigrateTerraformArgs) -> miette::Result<ExitStatus> {
    let source = args.state.as_deref().map_or(Source::Stdin, Source::from_arg);
    if source == Source::Stdin && std::io::stdin().is_terminal() {
        return Err(miette::miette!(
            code = "tokenform::migrate::no_input",
            help = "terraform state pull | tokenform migrate terraform -",
            "no Terraform state given: name a state file, or pipe one in"
        ));
    }
    let tf = {
        let bytes = read_terraform_state(&source)?;
        terraform::parse(&bytes)?
    };
    for note in &tf.notes {
        eprintln!("Warning: {note}");
    }
    if tf.instances.is_empty() {
        if !ctx.global.quiet {
            print(&format!(
                "No {} in {}: nothing to migrate.\n",
                terraform::RESOURCE_TYPE,
                source.describe()
            ))?;
        }
        return Ok(ExitStatus::Success);
    }

    let config = crate::config::load(&ctx.global.dir, &ctx.var_inputs(&args.vars)?)?;
    let out = out_path(ctx, args.out.as_deref(), DEFAULT_FILE);
    if !in_config_dir(&out, &ctx.global.dir) {
        return Err(miette::miette!(
            code = "tokenform::migrate::outside_config",
            help = format!(
                "name a .hcl file in {}: the migrated tokens are recorded in state, and without their blocks the next apply would delete them",
                ctx.global.dir.display()
            ),
            "{} would not be part of the configuration",
            out.display()
        ));
    }
    let removed_path = out.with_file_name(REMOVED_FILE);
    ensure_absent(&out, "-o FILE")?;
    ensure_absent(&removed_path, "-o FILE (terraform-removed.tf is written beside it)")?;

    let lock = if args.dry_run {
        LockMode::Shared
    } else {
        super::state_access::exclusive(&args.lock, "migrate terraform")
    };
    let mut store = super::state_access::open_metadata(&config, lock, ctx.global.identity.as_deref())?;
    refuse_known(store.state(), &tf)?;
    if store.settings().recipients.is_empty() && tf.instances.iter().any(|i| i.secret.is_some()) {
        return Err(miette::Report::new(crate::state::StateError::NoRecipients {
            what: "the secrets migrated from Terraform".to_owned(),
        }));
    }

    let taken = config.tokens.keys().chain(store.state().tokens.keys()).map(|a| a.label.clone());
    let mut labels = Labels::new(taken);
    let mut items = Vec::with_capacity(tf.instances.len());
    for inst in &tf.instances {
        let address = Address::new(labels.unique(&from_terraform(inst)));
        items.push(Item { inst, translation: translate(inst, address)?, live: None });
    }

    let client = ctx.connect(&config).await?;
    let live = fetch(&client, &config, &mut items).await?;

    let report = report(&tf, &items, &live, args.dry_run);
    for item in &items {
        for w in &item.translation.warnings {
            eprintln!("Warning: {w}");
        }
    }
    let migrated: Vec<&Item<'_>> = items.iter().filter(|i| i.live.is_some()).collect();
    let removed_text = removed_file(&tf)?;
    let migrated_text = token_file(&migrated)?;
    let state_path = store.path().to_path_buf();
    let files = |verb: &str| {
        format!(
            "\n{verb} {} ({} token block(s)) and {} ({} removed block(s)); {} {} token(s) in {}.\n",
            out.display(),
            migrated.len(),
            removed_path.display(),
            tf.resources.len(),
            if verb == "Wrote" { "recorded" } else { "would record" },
            migrated.len(),
            state_path.display()
        )
    };
    if args.dry_run {
        let text = format!("{report}{}This was a dry run: nothing was written.\n", files("Would write"));
        print(&text)?;
        return Ok(ExitStatus::Success);
    }

    let records = migrated
        .iter()
        .map(|item| record(&store, item, &live))
        .collect::<miette::Result<Vec<JournalRecord>>>()?;
    write_new(&out, &migrated_text)?;
    if let Err(e) = write_new(&removed_path, &removed_text) {
        remove_created(&[&out]);
        return Err(e);
    }
    reload(ctx, &args.vars, &[&out, &removed_path])?;
    if let Err(e) = store.record_all(records).and_then(|()| store.save()) {
        remove_created(&[&out, &removed_path]);
        return Err(
            miette::Report::new(e).wrap_err("the migrated tokens could not be recorded; nothing was kept")
        );
    }

    let mut text = format!("{report}{}", files("Wrote"));
    text.push_str(&next_steps());
    print(&text)?;
    Ok(ExitStatus::Success)
}

/// Terraform addresses already migrated, and token ids already managed, are refused: a
/// live id belongs to one address.
fn refuse_known(state: &State, tf: &TerraformState) -> miette::Result<()> {
    let mut seen = BTreeSet::new();
    for inst in &tf.instances {
        let tf_address = inst.address();
        if !seen.insert(inst.id.as_str()) {
            return Err(miette::miette!(
                code = "tokenform::migrate::duplicate_id",
                "token {} appears twice in the Terraform state (again at {tf_address})",
                inst.id
            ));
        }
        for (address, t) in &state.tokens {
            if t.terraform_address.as_deref() == Some(tf_address.as_str()) {
                return Err(miette::miette!(
                    code = "tokenform::migrate::already_migrated",
                    help = "it was migrated before; `tokenform state rm` it first to migrate it again",
                    "{tf_address} is already in the state as {address}"
                ));
            }
            if t.id == inst.id {
                return Err(miette::miette!(
                    code = "tokenform::migrate::already_managed",
                    help = "a live token belongs to one address; `tokenform state rm` it first to migrate it again",
                    "token {} ({tf_address}) is already managed as {address}",
                    inst.id
                ));
            }
        }
    }
    Ok(())
}

/// GETs every token (a gone one is `None`) and the custom roles the blocks name, as one
/// snapshot for the planner's comparisons.
async fn fetch(client: &Client, config: &Config, items: &mut [Item<'_>]) -> miette::Result<Live> {
    let ids: Vec<String> = items.iter().map(|i| i.inst.id.clone()).collect();
    let answers: Vec<Result<Token, ApiError>> = futures::stream::iter(ids)
        .map(|id| async move { client.get_token(&id).await })
        .buffered(config.launchdarkly.parallelism.max(1))
        .collect()
        .await;
    let mut live = Live::default();
    for (item, answer) in items.iter_mut().zip(answers) {
        match answer {
            Ok(token) => {
                item.live = Some(token.clone());
                live.tokens.push(token);
            }
            Err(ApiError::NotFound { .. }) => {}
            Err(e) => return Err(miette::Report::new(e)),
        }
    }
    let keys: BTreeSet<&String> = items
        .iter()
        .filter_map(|i| match &i.translation.desired.access {
            Access::CustomRoles(keys) => Some(keys),
            _ => None,
        })
        .flatten()
        .collect();
    for key in keys {
        match client.custom_role(key).await? {
            Some(role) => {
                live.custom_roles.insert(key.clone(), role);
            }
            None => eprintln!(
                "Warning: custom role {} does not exist in this account: plans fail until it does",
                generate::quote(key)
            ),
        }
    }
    Ok(live)
}

/// The per-token lines: where each goes, what becomes of its secret, what differs live.
fn report(tf: &TerraformState, items: &[Item<'_>], live: &Live, dry_run: bool) -> String {
    let mut text = format!(
        "Terraform state: {} {} instance(s) in {} resource(s).\n\n",
        tf.instances.len(),
        terraform::RESOURCE_TYPE,
        tf.resources.len()
    );
    let verb = if dry_run { "would become" } else { "→" };
    for item in items {
        let tf_address = item.inst.address();
        let address = &item.translation.desired.address;
        let Some(token) = &item.live else {
            let _ = writeln!(
                text,
                "  {tf_address} (id {}): gone live, skipped (no block, nothing recorded)",
                item.inst.id
            );
            continue;
        };
        let check = check_secret(item.inst.secret.as_ref(), token);
        let _ = writeln!(text, "  {tf_address} {verb} {address} (id {}): {}", token.id, fate(check));
        if check != SecretCheck::Current {
            let _ = writeln!(text, "      `tokenform apply --rotate {address}` takes it over");
        }
        if let Ok(spec) = crate::plan::diff::spec(&item.translation.desired, live) {
            let diffs = crate::plan::diff::field_diffs(&spec.api, token, None, live);
            if !diffs.is_empty() {
                let _ = writeln!(
                    text,
                    "      differs live from Terraform: {} (the next plan updates it)",
                    diffs.iter().map(describe).collect::<Vec<_>>().join("; ")
                );
            }
        }
    }
    text
}

fn describe(d: &AttributeDiff) -> String {
    let show =
        |v: &Option<serde_json::Value>| v.as_ref().map_or_else(|| "(none)".to_owned(), ToString::to_string);
    format!("{} live {}, Terraform {}", d.field, show(&d.old), show(&d.new))
}

/// The state record of one migrated token: live metadata, Terraform's secret sealed when
/// it is still the live one, and the Terraform address.
fn record(store: &StateStore, item: &Item<'_>, live: &Live) -> miette::Result<JournalRecord> {
    let Some(token) = &item.live else {
        return Err(miette::miette!("internal: {} has no live token", item.inst.address()));
    };
    let mut ts: TokenState = state_from_live(token, live, None);
    ts.terraform_address = Some(item.inst.address());
    if let (SecretCheck::Current, Some(secret)) =
        (check_secret(item.inst.secret.as_ref(), token), item.inst.secret.as_ref())
    {
        // When Terraform got it is unknown; the creation date is the earliest it can be,
        // so a rotation policy counts from there and is never late.
        let issued_at = ms_to_timestamp(token.creation_date)
            .filter(|_| token.creation_date > 0)
            .unwrap_or_else(jiff::Timestamp::now);
        ts.secret = Some(
            store
                .seal(secret, &item.translation.desired.recipients, issued_at)
                .map_err(miette::Report::new)?,
        );
    }
    Ok(JournalRecord::Upsert { address: item.translation.desired.address.clone(), token: Box::new(ts) })
}

fn layout_error(e: &crate::config::format::FormatError) -> miette::Report {
    miette::miette!(code = "tokenform::onboard::generate", "could not lay out the generated file: {e}")
}

fn token_file(items: &[&Item<'_>]) -> miette::Result<String> {
    let blocks: Vec<String> = items
        .iter()
        .map(|i| {
            let comment = format!("From Terraform: {} (id {})", i.inst.address(), i.inst.id);
            generate::token_block(&i.translation.desired.address.label, &i.translation.desired, &[comment])
        })
        .collect();
    generate::document(
        &[
            "Migrated from a Terraform state by `tokenform migrate terraform`: the values are".to_owned(),
            "Terraform's state, not its configuration's expressions.".to_owned(),
        ],
        &blocks,
    )
    .map_err(|e| layout_error(&e))
}

fn removed_file(tf: &TerraformState) -> miette::Result<String> {
    let blocks: Vec<String> =
        tf.resources.iter().map(|r| generate::removed_block(&r.without_keys())).collect();
    generate::document(
        &[
            "Written by `tokenform migrate terraform`. Put this file in the root module of the Terraform"
                .to_owned(),
            "configuration, delete the launchdarkly_access_token resource blocks, and apply: Terraform then"
                .to_owned(),
            "forgets the tokens (tokenform manages them now) instead of destroying them.".to_owned(),
            "Needs Terraform 1.7 or OpenTofu 1.7; with older ones, `terraform state rm` each address."
                .to_owned(),
        ],
        &blocks,
    )
    .map_err(|e| layout_error(&e))
}

fn next_steps() -> String {
    format!(
        "\nNext, in the Terraform configuration:\n\
         \x20 1. copy {REMOVED_FILE} into its root module;\n\
         \x20 2. delete the {} resource blocks (and references to them);\n\
         \x20 3. `terraform plan` must show each token as no longer managed and nothing to destroy; then apply.\n\
         Deleting the Terraform resource blocks without these removed blocks would make Terraform destroy the tokens.\n\
         Then `tokenform plan` shows no changes for every token whose live fields match Terraform's.\n",
        terraform::RESOURCE_TYPE
    )
}
