//! `tokenform plan`: load the configuration, read the state (no lock, no identity), take
//! one live snapshot, plan, print; `-out FILE` saves the plan as JSON (never a secret).
//!
//! [`prepare`] is the shared front half of `plan`, `apply` (without a plan file) and
//! `destroy`: everything up to and including the plan value.

use std::io::Write as _;
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

/// Prints to stdout; a closed pipe (`tokenform plan | head`) is not an error.
pub(crate) fn print(text: &str) -> miette::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).into_diagnostic().wrap_err("could not write to stdout")
        }
        _ => Ok(()),
    }
}

pub fn run(ctx: &Context, args: &PlanArgs) -> miette::Result<ExitStatus> {
    super::ui::Ui::new(args.stream()).run(|| run_plan(ctx, args))
}

fn run_plan(ctx: &Context, args: &PlanArgs) -> miette::Result<ExitStatus> {
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
