//! One thin file per subcommand: resolve arguments, call the library, render, map to an
//! [`ExitStatus`]. Errors become `miette::Report` here, at the edge.

// The edge: the one place (with main) that reads the environment.
#![allow(clippy::disallowed_methods)]

use std::io::IsTerminal;

use crate::ExitStatus;
use crate::api::Client;
use crate::cli::{Cli, Command, GlobalArgs, VarArgs};
use crate::config::{Config, VarInputs};
use crate::endpoint::{ALLOWED_HOSTS_ENV, AllowedHosts, EndpointError};
use crate::secret::Secret;

mod adopt;
mod apply;
mod check;
mod completions;
mod deliver;
mod destroy;
mod dev_server;
mod drift;
mod fmt;
mod force_unlock;
mod generate_config;
mod generated;
mod import;
mod init;
mod keygen;
mod man;
mod migrate;
mod output;
mod plan;
mod rekey;
mod secret;
pub mod session;
mod show;
mod state;
pub mod state_access;
mod state_transfer;
mod ui;
mod validate;

/// What every command needs besides its own arguments.
#[derive(Debug, Clone)]
pub struct Context {
    pub global: GlobalArgs,
    /// Colour on stdout: a terminal, no `--no-color`, no `NO_COLOR`.
    pub color: bool,
    /// `TOKENFORM_ALLOWED_HOSTS`, parsed (an error is reported by the commands that need it).
    allowed_hosts: Result<AllowedHosts, EndpointError>,
}

impl Context {
    pub fn new(global: GlobalArgs) -> Self {
        let no_color_env = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let color = !global.no_color && !no_color_env && std::io::stdout().is_terminal();
        let allowed_hosts = AllowedHosts::parse(&std::env::var(ALLOWED_HOSTS_ENV).unwrap_or_default());
        Self { global, color, allowed_hosts }
    }

    /// The hosts the environment allows `base_url` to name, besides LaunchDarkly's.
    pub fn allowed_hosts(&self) -> miette::Result<AllowedHosts> {
        self.allowed_hosts.clone().map_err(miette::Report::new)
    }

    /// Everything [`crate::config::load`] takes from outside the configuration.
    pub fn var_inputs(&self, vars: &VarArgs) -> miette::Result<VarInputs> {
        Ok(VarInputs {
            var_files: vars.var_files.clone(),
            // A `-var` without `=` is kept as `("", arg)`: `config::load` reports it (no name is empty).
            vars: vars
                .vars
                .iter()
                .map(|v| match v.split_once('=') {
                    Some((k, val)) if !k.is_empty() => (k.to_owned(), val.to_owned()),
                    _ => (String::new(), v.clone()),
                })
                .collect(),
            env: std::env::vars().collect(),
            allowed_hosts: self.allowed_hosts()?,
        })
    }

    /// Connects to the API `config` names, with the token from the env var its
    /// `access_token_env` names (read here: the library reads no environment).
    pub async fn connect(&self, config: &Config) -> miette::Result<Client> {
        let settings = &config.launchdarkly;
        let token = std::env::var(&settings.access_token_env).ok().map(Secret::new);
        let inputs = session::ConnectInputs {
            token,
            allowed_hosts: self.allowed_hosts()?,
            verbose: self.global.verbose,
            notices: !self.global.quiet,
            max_wait: Some(self.global.max_wait),
        };
        Ok(session::connect(settings, &config.dir, &inputs).await?)
    }
}

/// An error as the user sees it on stderr. The locked-state error is printed plainly in
/// Terraform's shape (`Error: the state is locked`, then `Lock Info:` with one
/// `Key: value` line each), so scripts can read the holder; everything else through miette.
pub fn error_text(report: &miette::Report) -> String {
    use miette::Diagnostic as _;
    if let Some(err @ crate::state::StateError::Locked { .. }) =
        report.downcast_ref::<crate::state::StateError>()
    {
        let help = err.help().map(|h| format!("\n{h}")).unwrap_or_default();
        let code = err.code().map(|c| format!("\n[{c}]")).unwrap_or_default();
        return format!("Error: {err}\n{help}{code}");
    }
    format!("{report:?}")
}

/// Writes `text` to stdout: the one way every command prints its output. A closed pipe
/// (`tokenform state list | head -1`) is not an error: the rest of the output is dropped,
/// quietly, and the command finishes as it would have (an apply still completes and keeps
/// its exit status).
pub(crate) fn print(text: &str) -> miette::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(miette::Report::new(StdoutError { source: e }))
        }
        _ => Ok(()),
    }
}

/// Stdout could not be written (other than a closed pipe, which [`print`] ignores).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("could not write to stdout")]
#[diagnostic(code(tokenform::cli::stdout))]
struct StdoutError {
    source: std::io::Error,
}

/// Runs one parsed command line.
pub fn run(cli: Cli) -> miette::Result<ExitStatus> {
    let ctx = Context::new(cli.global);
    match cli.command {
        Command::Init(args) => init::run(&ctx, &args),
        Command::Keygen(args) => keygen::run(&ctx, &args),
        Command::Validate(args) => validate::run(&ctx, &args),
        Command::Fmt(args) => fmt::run(&ctx, &args),
        Command::Plan(args) => plan::run(&ctx, &args),
        Command::Apply(args) => apply::run(&ctx, &args),
        Command::Destroy(args) => destroy::run(&ctx, &args),
        Command::Show(args) => show::run(&ctx, &args),
        Command::Drift(args) => drift::run(&ctx, &args),
        Command::Check(args) => check::run(&ctx, &args),
        Command::Import(args) => import::run(&ctx, &args),
        Command::Adopt(args) => adopt::run(&ctx, &args),
        Command::Migrate(crate::cli::MigrateCommand::Terraform(args)) => migrate::run(&ctx, &args),
        Command::State(cmd) => state::run(&ctx, &cmd),
        Command::Secret(args) => secret::run(&ctx, &args),
        Command::Output(args) => output::run(&ctx, &args),
        Command::Deliver(args) => deliver::run(&ctx, &args),
        Command::Rekey(args) => rekey::run(&ctx, &args),
        Command::ForceUnlock(args) => force_unlock::run(&ctx, &args),
        Command::DevServer(args) => dev_server::run(&ctx, &args),
        Command::Completions(args) => completions::run(&args),
        Command::Man(args) => man::run(&ctx, &args),
    }
}
