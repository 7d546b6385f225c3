//! `tokenform plan`: load the configuration, read the state (no lock, no identity), take
//! one live snapshot, plan, print; `-out FILE` saves the plan as JSON (never a secret).
//!
//! [`prepare`] is the shared front half of `plan`, `apply` (without a plan file) and
//! `destroy`: everything up to and including the plan value.

use std::path::Path;

use miette::{Context as _, IntoDiagnostic as _};

use super::Context;
use crate::ExitStatus;
use crate::api::Client;
use crate::api::model::Live;
use crate::cli::{Format, PlanArgs, PlanFormat, SelectArgs, VarArgs};
use crate::config::Config;
use crate::model::Access;
use crate::plan::{Plan, PlanOptions};
use crate::render;
use crate::state::store::{LockMode, StateStore};

/// Everything a command needs after planning: the configuration, the open state (locked
/// as asked), the connected client, the live snapshot the plan was made from, and the plan.
#[derive(Debug)]
#[allow(dead_code)] // `plan` reads only the plan; apply and destroy use the rest.
pub(crate) struct Prepared {
    pub config: Config,
    pub store: StateStore,
    pub client: Client,
    pub live: Live,
    pub plan: Plan,
}

/// The tokio runtime of a command (multi-threaded, IO and timers enabled).
pub(crate) fn runtime() -> miette::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .into_diagnostic()
        .wrap_err("could not start the async runtime")
}

/// `--target`, `--rotate` and `--refresh-only` as planner options (`destroy` for the destroy command).
pub(crate) fn plan_options(select: &SelectArgs, destroy: bool) -> PlanOptions {
    PlanOptions {
        targets: select.targets.clone(),
        rotate: select.rotate.clone(),
        refresh_only: select.refresh_only,
        destroy,
    }
}

/// The custom role keys the configuration names, sorted and deduplicated (what
/// `fetch_live` must resolve).
pub(crate) fn role_keys(config: &Config) -> Vec<String> {
    let mut keys: Vec<String> = config
        .tokens
        .values()
        .filter_map(|t| match &t.access {
            Access::CustomRoles(keys) => Some(keys.iter().cloned()),
            _ => None,
        })
        .flatten()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// Loads the configuration of `ctx.global.dir` (with `vars`), opens the state with `lock`
/// (no identity: `encrypt = "file"` states need one and fail here), connects, takes one
/// live snapshot and plans with `opts` at the current time.
pub(crate) async fn prepare(
    ctx: &Context,
    vars: &VarArgs,
    lock: LockMode,
    opts: &PlanOptions,
) -> miette::Result<Prepared> {
    let config = crate::config::load(&ctx.global.dir, &ctx.var_inputs(vars)?)?;
    let store = super::state_access::open_metadata(&config, lock, ctx.global.identity.as_deref())?;
    let client = ctx.connect(&config).await?;
    // showAll always: a managed personal token of another member must not look deleted.
    // The planner itself leaves other members' tokens alone unless unmanaged.personal.
    let live = client.fetch_live(&role_keys(&config), true).await?;
    let plan = crate::plan::plan(&config, store.state(), &live, jiff::Timestamp::now(), opts)?;
    Ok(Prepared { config, store, client, live, plan })
}

/// The plan in the asked format.
pub(crate) fn render(plan: &Plan, format: Format, color: bool) -> String {
    match format {
        Format::Human => render::human::plan(plan, color),
        Format::Json => render::json::plan(plan),
        Format::Markdown => render::markdown::plan(plan),
    }
}

/// Writes the plan file: the JSON document (no secret: plans hold none).
pub(crate) fn save_plan(path: &Path, plan: &Plan) -> miette::Result<()> {
    std::fs::write(path, render::json::plan(plan))
        .into_diagnostic()
        .wrap_err_with(|| format!("could not write the plan file {}", path.display()))
}

pub(crate) use super::print;

/// Refuses a `-out FILE` that would destroy something: a configuration file of the
/// directory (`main.hcl`; a new `x.hcl` too, which the next command would read as
/// configuration), or an existing file that is not a plan tokenform saved. A plan is
/// replaced, as Terraform does.
pub(crate) fn check_out_path(ctx: &Context, path: &Path) -> miette::Result<()> {
    if super::generated::in_config_dir(path, &ctx.global.dir) {
        return Err(miette::miette!(
            code = "tokenform::plan::out_is_config",
            help = "name the plan file something else, e.g. -out tf.plan: the plan must not replace the configuration, nor be read as part of it",
            "-out {} names a configuration file (*.hcl, *.hcl.json) of the configuration directory",
            crate::escape::text(&path.display().to_string())
        ));
    }
    if std::fs::symlink_metadata(path).is_err() || is_saved_plan(path) {
        return Ok(());
    }
    Err(miette::miette!(
        code = "tokenform::plan::out_exists",
        help = "tokenform replaces only a plan it saved: move the file away, or name another with -out",
        "-out {} exists and is not a tokenform plan",
        crate::escape::text(&path.display().to_string())
    ))
}

/// Whether `path` holds a plan saved by `plan -out`, of this format or another (a state
/// file, which also has `format_version` and `lineage`, is not one).
fn is_saved_plan(path: &Path) -> bool {
    let Ok(bytes) = crate::files::read(path, crate::files::Kind::Plan) else { return false };
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(&bytes) else { return false };
    doc["format_version"].is_u64()
        && doc["lineage"].is_string()
        && doc["config_digest"].is_string()
        && doc["actions"].is_array()
}

pub(super) fn run(ctx: &Context, args: &PlanArgs) -> miette::Result<ExitStatus> {
    super::ui::Ui::new(args.stream()).run(|| run_plan(ctx, args))
}

fn run_plan(ctx: &Context, args: &PlanArgs) -> miette::Result<ExitStatus> {
    if let Some(path) = &args.out {
        check_out_path(ctx, path)?;
    }
    let opts = plan_options(&args.select, false);
    let rt = runtime()?;
    if let Some(path) = &args.generate_config_out
        && rt.block_on(super::generate_config::generate(ctx, args, path))?
            == super::generate_config::Then::Stop
    {
        return Ok(ExitStatus::Success);
    }
    let prepared = rt.block_on(prepare(ctx, &args.select.vars, LockMode::Shared, &opts))?;
    let plan = &prepared.plan;
    if let Some(path) = &args.out {
        save_plan(path, plan)?;
    }
    let format = match args.format {
        _ if args.json => None,
        PlanFormat::Human => Some(Format::Human),
        PlanFormat::Json => Some(Format::Json),
        PlanFormat::Markdown => Some(Format::Markdown),
        PlanFormat::JsonStream => None,
    };
    match format {
        Some(format) => print(&render(plan, format, ctx.color))?,
        None => super::ui::emit_plan(plan)?,
    }
    // On stderr, so stdout is exactly the plan: `tokenform show FILE` prints the same bytes.
    if let Some(path) = &args.out
        && format == Some(Format::Human)
        && !ctx.global.quiet
    {
        let shown = path.display();
        eprintln!(
            "\nSaved the plan to: {shown}\n\nTo perform exactly these actions, run:\n    tokenform apply {shown}"
        );
    }
    Ok(if args.detailed_exitcode && plan.has_changes() { ExitStatus::Changes } else { ExitStatus::Success })
}
