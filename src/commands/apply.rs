//! `tokenform apply [PLANFILE]`: plan (or read a saved plan), show it, ask, execute.
//! Also the session shared with `destroy`: open everything under the state lock, plan,
//! confirm, run, report.

use std::io::{BufRead, IsTerminal};
use std::path::Path;

use miette::IntoDiagnostic;

use super::Context;
use super::plan::{Prepared, plan_options, prepare, print, render, role_keys, runtime};
use super::ui::{Ui, emit_applied, emit_plan};
use crate::ExitStatus;
use crate::api::Client;
use crate::api::model::Live;
use crate::apply::{ApplyOptions, Counts, Outcome, check_saved_plan};
use crate::cli::{ApplyArgs, Format};
use crate::config::Config;
use crate::plan::PlanOptions;
use crate::plan::model::{PLAN_FORMAT_VERSION, Plan, PlanFileError};
use crate::render::stream::Operation;
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

/// Loads the configuration, takes the state lock, connects, and fetches one live snapshot
/// (`apply PLANFILE` and `import`, which do not plan).
pub(super) async fn open_session(
    ctx: &Context,
    vars: &crate::cli::VarArgs,
    lock: &crate::cli::LockArgs,
    command: &str,
) -> miette::Result<Session> {
    let config = crate::config::load(&ctx.global.dir, &ctx.var_inputs(vars)?)?;
    let store = super::state_access::open_metadata(
        &config,
        super::state_access::exclusive(lock, command),
        ctx.global.identity.as_deref(),
    )?;
    let client = ctx.connect(&config).await?;
    // showAll always: a managed personal token of another member must not look deleted.
    // The planner itself leaves other members' tokens alone unless unmanaged.personal.
    let live = client.fetch_live(&role_keys(&config), true).await?;
    Ok(Session { config, store, client, live })
}

/// Reads a plan saved by `plan -out`.
pub(super) fn read_plan(path: &Path) -> miette::Result<Plan> {
    let bytes = crate::files::read(path, crate::files::Kind::Plan).map_err(|e| {
        if e.is_not_found() {
            miette::miette!(
                code = "tokenform::apply::no_plan_file",
                help =
                    "save one with `tokenform plan -out FILE`; `tokenform apply` without a file plans first",
                "there is no plan file {}",
                crate::escape::text(&path.display().to_string())
            )
        } else {
            miette::Report::new(e)
        }
    })?;
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        miette::miette!(
            code = "tokenform::apply::bad_plan_file",
            help = "make one with `tokenform plan -out FILE`",
            "{} is not a tokenform plan file: it is not UTF-8 text",
            path.display()
        )
    })?;
    Plan::from_json(text).map_err(|e| match e {
        PlanFileError::Version { found } => miette::miette!(
            code = "tokenform::apply::plan_format",
            help = "the plan was saved by another version of tokenform: re-run plan (`tokenform plan -out FILE`)",
            "{}: plan file format version {found}; this tokenform reads version {PLAN_FORMAT_VERSION}",
            path.display()
        ),
        PlanFileError::Malformed(why) => miette::miette!(
            code = "tokenform::apply::bad_plan_file",
            help = "make one with `tokenform plan -out FILE`",
            "{} is not a tokenform plan file: {why}",
            path.display()
        ),
    })
}

/// The plan, for people (the human renderer `plan` uses), or as stream lines.
pub(super) fn show_plan(ctx: &Context, plan: &Plan, ui: Ui) -> miette::Result<()> {
    match ui {
        Ui::Stream => emit_plan(plan),
        Ui::Human if ctx.global.quiet => Ok(()),
        Ui::Human => print(&render(plan, Format::Human, ctx.color)),
    }
}

/// `-json` cannot answer a prompt: without a plan file it needs `--auto-approve`, checked
/// before anything is read or sent (as Terraform does).
pub(super) fn check_stream_approval(ui: Ui, approved: bool, mode: Mode) -> miette::Result<()> {
    if ui == Ui::Stream && !approved {
        let command = if mode == Mode::Destroy { "destroy" } else { "apply" };
        return Err(miette::miette!(
            code = "tokenform::apply::json_needs_auto_approve",
            help = "pass --auto-approve, or apply a plan file saved by `tokenform plan -out FILE`",
            "{command} with -json (--format json-stream) cannot ask for approval: nothing was changed"
        ));
    }
    Ok(())
}

/// What is said when there is nothing to do: the line for people, or the stream's plan and
/// a zero summary.
pub(super) fn no_changes(ctx: &Context, plan: &Plan, ui: Ui, mode: Mode, text: &str) -> miette::Result<()> {
    match ui {
        Ui::Stream => {
            emit_plan(plan)?;
            let counts = Counts::default();
            emit_applied(operation(mode), &counts, format!("{} complete! {}", verb(mode), counts.summary()))
        }
        Ui::Human if ctx.global.quiet => Ok(()),
        Ui::Human => print(&format!("{text}\n")),
    }
}

fn verb(mode: Mode) -> &'static str {
    match mode {
        Mode::Apply => "Apply",
        Mode::Destroy => "Destroy",
        Mode::Import => "Import",
    }
}

fn operation(mode: Mode) -> Operation {
    match mode {
        Mode::Apply | Mode::Import => Operation::Apply,
        Mode::Destroy => Operation::Destroy,
    }
}

/// Plans under the exclusive lock (the planner's shared front half), as a session.
pub(super) async fn planned_session(
    ctx: &Context,
    vars: &crate::cli::VarArgs,
    lock: LockMode,
    opts: &PlanOptions,
) -> miette::Result<(Session, Plan)> {
    let Prepared { config, store, client, live, plan } = prepare(ctx, vars, lock, opts).await?;
    Ok((Session { config, store, client, live }, plan))
}

/// Asks `Only 'yes' will be accepted`; without a terminal, refuses.
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
    print(&format!(
        "\n{question}\n  tokenform will perform the actions described above.\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: "
    ))?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).into_diagnostic()?;
    Ok(answer.trim() == "yes")
}

/// Runs the plan and reports. Interrupts, failures and ledger errors exit 1.
pub(super) async fn execute(
    ctx: &Context,
    s: &mut Session,
    plan: &Plan,
    parallelism: Option<usize>,
    mode: Mode,
    ui: Ui,
) -> miette::Result<ExitStatus> {
    let opts = ApplyOptions {
        parallelism: parallelism.unwrap_or(s.config.launchdarkly.parallelism).max(1),
        live: s.live.clone(),
        progress: ui.progress(ctx.global.quiet),
        sinks: sink_runner(ctx, &s.config),
    };
    let outcome: Outcome =
        crate::apply::apply_until(plan, &s.client, &mut s.store, opts, interrupt()).await?;
    let verb = verb(mode);
    let summary = if outcome.is_success() {
        format!("{verb} complete! {}", outcome.counts.summary())
    } else {
        format!("{verb} incomplete. {}", outcome.counts.summary())
    };
    match ui {
        Ui::Stream => emit_applied(operation(mode), &outcome.counts, summary)?,
        Ui::Human => print(&format!("\n{summary}\n"))?,
    }
    if outcome.is_success() {
        return Ok(ExitStatus::Success);
    }
    Err(ApplyFailed::from_outcome(&outcome).into())
}

/// Sinks run in the configuration directory, with this process's environment minus
/// tokenform's own credentials (the access token's variable, the state backend's).
pub(super) fn sink_runner(ctx: &Context, config: &Config) -> crate::deliver::Runner {
    let mut withheld = vec![config.launchdarkly.access_token_env.as_str()];
    withheld.extend(config.state.backend.env_names());
    crate::deliver::Runner::new(&ctx.global.dir, crate::deliver::child_env(std::env::vars_os(), &withheld))
}

/// Resolves on the first Ctrl-C; a second one exits at once (every finished step is already
/// in the fsynced journal, which the next command replays).
async fn interrupt() {
    if tokio::signal::ctrl_c().await.is_err() {
        // No signal handler: there is no Ctrl-C to wait for.
        std::future::pending::<()>().await;
    }
    tokio::spawn(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("Two interrupts received: exiting now. Finished steps are in the state journal.");
            std::process::exit(ExitStatus::Error.code());
        }
    });
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

pub(super) fn run(ctx: &Context, args: &ApplyArgs) -> miette::Result<ExitStatus> {
    let ui = Ui::new(args.stream());
    ui.run(|| runtime()?.block_on(run_async(ctx, args, ui)))
}

async fn run_async(ctx: &Context, args: &ApplyArgs, ui: Ui) -> miette::Result<ExitStatus> {
    // A saved plan was reviewed when it was made: applying it is the approval.
    check_stream_approval(ui, args.auto_approve || args.plan_file.is_some(), Mode::Apply)?;
    let (mut s, plan) = if let Some(path) = &args.plan_file {
        // The file first: a wrong name is said before any lock, state or request.
        let plan = read_plan(path)?;
        let s = open_session(ctx, &args.select.vars, &args.lock, "apply").await?;
        check_saved_plan(&plan, s.store.state())?;
        (s, plan)
    } else {
        let lock = super::state_access::exclusive(&args.lock, "apply");
        planned_session(ctx, &args.select.vars, lock, &plan_options(&args.select, false)).await?
    };
    if !plan.has_changes() {
        crate::apply::settle_intents(&plan, &mut s.store, &s.live)?;
        no_changes(ctx, &plan, ui, Mode::Apply, "No changes. Tokens match the configuration.")?;
        return Ok(ExitStatus::Success);
    }
    if args.plan_file.is_none() || ui == Ui::Stream {
        show_plan(ctx, &plan, ui)?;
    }
    if args.plan_file.is_none() && !args.auto_approve && !confirm(Mode::Apply)? {
        print("Apply cancelled.\n")?;
        return Ok(ExitStatus::Error);
    }
    execute(ctx, &mut s, &plan, args.parallelism, Mode::Apply, ui).await
}
