//! `tokenform apply [PLANFILE]`: plan (or read a saved plan), show it, ask, execute.
//! Also the session shared with `destroy`: open everything under the state lock, plan,
//! confirm, run, report.

use std::fmt::Write as _;
use std::io::{BufRead, IsTerminal, Write as _};
use std::path::Path;
use std::time::Duration;

use miette::{Context as _, IntoDiagnostic};

use super::Context;
use crate::ExitStatus;
use crate::api::Client;
use crate::api::model::Live;
use crate::apply::{ApplyOptions, Outcome, Progress, check_saved_plan};
use crate::cli::{ApplyArgs, SelectArgs};
use crate::config::{Config, VarInputs};
use crate::model::{Access, Address, parse_duration};
use crate::plan::PlanOptions;
use crate::plan::model::{ActionKind, Plan};
use crate::state::{LockMode, StateStore};

/// Everything an apply needs, opened under the exclusive state lock.
pub(super) struct Session {
    pub config: Config,
    pub store: StateStore,
    pub client: Client,
    pub live: Live,
}

/// Which command is running: wording of prompts and summaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Apply,
    Destroy,
    Import,
}

/// `--lock-timeout` as a duration.
pub(super) fn lock_timeout(text: &str) -> miette::Result<Duration> {
    parse_duration(text).ok_or_else(|| {
        miette::miette!(
            code = "tokenform::cli::bad_duration",
            help = "use a duration such as 0s, 30s, 5m",
            "`{text}` is not a duration"
        )
    })
}

/// A runtime for one command.
pub(super) fn runtime() -> miette::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .into_diagnostic()
        .wrap_err("could not start the async runtime")
}

/// Loads the configuration, takes the state lock, connects, and fetches one live snapshot.
pub(super) async fn open_session(
    ctx: &Context,
    vars: &crate::cli::VarArgs,
    lock_timeout_text: &str,
    command: &str,
) -> miette::Result<Session> {
    let config = crate::config::load(&ctx.global.dir, &VarInputs::from_args(vars))?;
    let timeout = lock_timeout(lock_timeout_text)?;
    let store =
        StateStore::open(&config.state, LockMode::Exclusive { timeout, command: command.to_owned() }, None)?;
    let client = Client::connect(&config.launchdarkly, &config.dir, ctx.global.verbose).await?;
    let live = client.fetch_live(&role_keys(&config), config.unmanaged.personal).await?;
    Ok(Session { config, store, client, live })
}

/// The custom role keys the configuration names (the snapshot resolves them to ids).
pub(super) fn role_keys(config: &Config) -> Vec<String> {
    let mut keys: Vec<String> = config
        .tokens
        .values()
        .filter_map(|t| match &t.access {
            Access::CustomRoles(keys) => Some(keys.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// Parses `--target` / `--rotate` addresses.
pub(super) fn addresses(list: &[String]) -> miette::Result<Vec<Address>> {
    list.iter()
        .map(|a| {
            a.parse::<Address>().map_err(|e| {
                miette::miette!(
                    code = "tokenform::cli::bad_address",
                    help = "e.g. token.ci or token.deploy[\"prod\"]",
                    "{e}"
                )
            })
        })
        .collect()
}

pub(super) fn plan_options(select: &SelectArgs) -> miette::Result<PlanOptions> {
    Ok(PlanOptions {
        targets: addresses(&select.targets)?,
        rotate: addresses(&select.rotate)?,
        refresh_only: select.refresh_only,
        destroy: false,
    })
}

/// Plans against the session's state and snapshot.
pub(super) fn make_plan(s: &Session, opts: &PlanOptions) -> miette::Result<Plan> {
    Ok(crate::plan::plan(&s.config, s.store.state(), &s.live, jiff::Timestamp::now(), opts)?)
}

/// Reads a plan saved by `plan -out`.
fn read_plan(path: &Path) -> miette::Result<Plan> {
    let text = std::fs::read_to_string(path)
        .into_diagnostic()
        .wrap_err_with(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| {
        miette::miette!(
            code = "tokenform::apply::bad_plan_file",
            help = "make one with `tokenform plan -out FILE`",
            "{} is not a tokenform plan file: {e}",
            path.display()
        )
    })
}

/// True when the plan changes nothing (a refresh-only plan with drift still records it).
pub(super) fn nothing_to_do(plan: &Plan) -> bool {
    plan.is_empty() && (!plan.refresh_only || plan.drift.is_empty())
}

/// The plan, for people.
#[allow(clippy::print_stdout)] // the plan is this command's output
pub(super) fn show_plan(ctx: &Context, plan: &Plan) {
    if ctx.global.quiet {
        return;
    }
    println!("{}", describe(plan));
}

/// A plain listing of the actions and counts (render::human gives the full diff view).
fn describe(plan: &Plan) -> String {
    let mut out = String::new();
    let (mut create, mut update, mut rotate, mut delete) = (0, 0, 0, 0);
    for a in &plan.actions {
        let (symbol, what) = match a.kind {
            ActionKind::Import => ("<=", "will be imported"),
            ActionKind::Create => ("+", "will be created"),
            ActionKind::Update => ("~", "will be updated in-place"),
            ActionKind::Replace if a.create_before_destroy => ("+/-", "must be replaced"),
            ActionKind::Replace => ("-/+", "must be replaced"),
            ActionKind::Rotate => ("@", "will be rotated"),
            ActionKind::Retire => ("-", "old generation will be deleted"),
            ActionKind::Delete => ("-", "will be destroyed"),
            ActionKind::Forget => ("x", "will be removed from state (not deleted)"),
        };
        match a.kind {
            ActionKind::Create => create += 1,
            ActionKind::Update => update += 1,
            ActionKind::Replace => {
                create += 1;
                delete += 1;
            }
            ActionKind::Rotate => rotate += 1,
            ActionKind::Retire | ActionKind::Delete => delete += 1,
            ActionKind::Import | ActionKind::Forget => {}
        }
        let label = a.address.as_ref().map_or_else(
            || format!("token id {}", a.token_id.as_deref().unwrap_or("?")),
            ToString::to_string,
        );
        let _ = writeln!(out, "  {symbol} {label} ({}) {what}", a.name);
    }
    if plan.refresh_only {
        for d in &plan.drift {
            let _ = writeln!(out, "  ~ {} changed outside tokenform: state will be refreshed", d.address);
        }
    }
    let _ = write!(
        out,
        "\nPlan: {create} to create, {update} to update, {rotate} to rotate, {delete} to delete."
    );
    out
}

/// Asks `Only 'yes' will be accepted`; without a terminal, refuses.
#[allow(clippy::print_stdout)] // the prompt
pub(super) fn confirm(mode: Mode) -> miette::Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Err(miette::miette!(
            code = "tokenform::apply::needs_approval",
            help = "run it in a terminal to answer the prompt, or pass --auto-approve",
            "{} needs approval, and there is no terminal to ask: nothing was changed",
            match mode {
                Mode::Apply | Mode::Import => "apply",
                Mode::Destroy => "destroy",
            }
        ));
    }
    let question = match mode {
        Mode::Apply | Mode::Import => "Do you want to perform these actions?",
        Mode::Destroy => "Do you really want to destroy these tokens?",
    };
    print!(
        "\n{question}\n  tokenform will perform the actions described above.\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: "
    );
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).into_diagnostic()?;
    Ok(answer.trim() == "yes")
}

/// Runs the plan and reports. Interrupts, failures and ledger errors exit 1.
#[allow(clippy::print_stdout)] // the summary is this command's output
pub(super) async fn execute(
    ctx: &Context,
    s: &mut Session,
    plan: &Plan,
    parallelism: Option<usize>,
    mode: Mode,
) -> miette::Result<ExitStatus> {
    let opts = ApplyOptions {
        parallelism: parallelism.unwrap_or(s.config.launchdarkly.parallelism).max(1),
        live: s.live.clone(),
        progress: Progress::stdout(ctx.global.quiet),
    };
    let outcome: Outcome = crate::apply::apply(plan, &s.client, &mut s.store, opts).await?;
    let verb = match mode {
        Mode::Apply => "Apply",
        Mode::Destroy => "Destroy",
        Mode::Import => "Import",
    };
    if outcome.is_success() {
        println!("\n{verb} complete! {}", outcome.counts.summary());
        return Ok(ExitStatus::Success);
    }
    println!("\n{verb} incomplete. {}", outcome.counts.summary());
    Err(ApplyFailed::from_outcome(&outcome).into())
}

/// The end of an apply that did not finish cleanly.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("{summary}")]
#[diagnostic(
    code(tokenform::apply::incomplete),
    help("the state records everything that did happen; run `tokenform plan` to see what is left")
)]
struct ApplyFailed {
    summary: String,
    #[related]
    failures: Vec<miette::Report>,
}

impl ApplyFailed {
    fn from_outcome(o: &Outcome) -> Self {
        let mut parts = Vec::new();
        if !o.failures.is_empty() {
            parts.push(format!("{} step(s) failed", o.failures.len()));
        }
        if o.interrupted {
            parts.push(format!("interrupted ({} step(s) not started)", o.not_started));
        }
        if let Some(e) = &o.ledger_error {
            parts.push(format!("the state could not be written: {e}"));
        }
        Self {
            summary: parts.join("; "),
            failures: o.failures.iter().map(|f| miette::miette!("{}: {}", f.label, f.message)).collect(),
        }
    }
}

pub fn run(ctx: &Context, args: &ApplyArgs) -> miette::Result<ExitStatus> {
    runtime()?.block_on(run_async(ctx, args))
}

#[allow(clippy::print_stdout)] // "No changes." is this command's output
async fn run_async(ctx: &Context, args: &ApplyArgs) -> miette::Result<ExitStatus> {
    let mut s = open_session(ctx, &args.select.vars, &args.lock.lock_timeout, "apply").await?;
    let plan = match &args.plan_file {
        Some(path) => {
            let plan = read_plan(path)?;
            check_saved_plan(&plan, s.store.state())?;
            plan
        }
        None => make_plan(&s, &plan_options(&args.select)?)?,
    };
    if nothing_to_do(&plan) {
        if !ctx.global.quiet {
            println!("No changes. Tokens match the configuration.");
        }
        return Ok(ExitStatus::Success);
    }
    // A saved plan was reviewed when it was made: applying it is the approval.
    if args.plan_file.is_none() {
        show_plan(ctx, &plan);
        if !args.auto_approve && !confirm(Mode::Apply)? {
            println!("Apply cancelled.");
            return Ok(ExitStatus::Error);
        }
    }
    execute(ctx, &mut s, &plan, args.parallelism, Mode::Apply).await
}
