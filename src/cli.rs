//! The command line (clap derive): the `///` comments are the help text.

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::TypedValueParser;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::PARALLELISM;
use crate::model::{Address, parse_duration};

/// Declarative LaunchDarkly API access tokens: plan, apply, rotate, detect drift.
#[derive(Debug, Parser)]
#[command(name = "tokenform", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Configuration directory (all its *.hcl and *.hcl.json files).
    #[arg(short = 'C', long = "dir", global = true, default_value = ".", value_name = "DIR")]
    pub dir: PathBuf,
    /// Never use colour (also honoured: NO_COLOR, and output that is not a terminal).
    #[arg(long, global = true)]
    pub no_color: bool,
    /// Print only errors and requested output.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Trace HTTP requests on stderr (Authorization and secrets redacted).
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// age identity file (AGE-SECRET-KEY-1… lines or an OpenSSH private key); default: env
    /// TOKENFORM_IDENTITY_FILE. Needed by secret, output and rekey, and by every command
    /// when the state is `encrypt = "file"`.
    #[arg(long, global = true, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// The most one LaunchDarkly API request may take in all (rate-limit waits, retries,
    /// slow answers) before tokenform gives up on it, e.g. 30s, 10m.
    #[arg(
        long,
        global = true,
        value_name = "DURATION",
        env = "TOKENFORM_MAX_WAIT",
        default_value = "5m",
        value_parser = Typed(max_wait)
    )]
    pub max_wait: Duration,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a starter main.hcl and an age identity (tokenform.key).
    Init(InitArgs),
    /// Generate an age X25519 identity; prints its recipient.
    Keygen(KeygenArgs),
    /// Check the configuration (no network, no state).
    Validate(VarArgs),
    /// Rewrite *.hcl files in canonical format, comments kept.
    Fmt(FmtArgs),
    /// Show what apply would change.
    #[command(after_help = PLAN_EXAMPLES)]
    Plan(PlanArgs),
    /// Create, update, rotate and delete tokens to match the configuration.
    #[command(after_help = APPLY_EXAMPLES)]
    Apply(ApplyArgs),
    /// Delete every managed token.
    Destroy(DestroyArgs),
    /// Print a saved plan exactly as `plan` did, or (without a file) the state's tokens.
    Show(ShowArgs),
    /// Report drift: changed, missing, unmanaged, rotation due, expiring and stale tokens.
    #[command(after_help = DRIFT_EXAMPLES)]
    Drift(DriftArgs),
    /// Least-privilege checks (TKN001…): over the configuration, and the live tokens with --live.
    Check(CheckArgs),
    /// Adopt an existing live token into state (its secret stays unknown).
    Import(ImportArgs),
    /// Write an import block and a token block for every unmanaged live token.
    Adopt(AdoptArgs),
    /// Move tokens managed by another tool into tokenform.
    #[command(subcommand, after_help = MIGRATE_EXAMPLES)]
    Migrate(MigrateCommand),
    /// Inspect or edit the state.
    #[command(subcommand)]
    State(StateCommand),
    /// Print one decrypted secret (needs the identity).
    Secret(SecretArgs),
    /// Print every managed token with its decrypted secret (needs the identity).
    Output(OutputArgs),
    /// Deliver the current secrets again to their `deliver` sinks (needs the identity).
    #[command(after_help = DELIVER_EXAMPLES)]
    Deliver(DeliverArgs),
    /// Re-encrypt every secret to the current recipients (needs the identity).
    Rekey(LockArgs),
    /// Remove a stale state lock (LOCK_ID from its Lock Info) after checking its owner is gone.
    ForceUnlock(ForceUnlockArgs),
    /// Run the LaunchDarkly emulator on loopback.
    DevServer(DevServerArgs),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    /// Write man pages (roff), generated from these definitions: tokenform.1 on stdout, or
    /// one page per command into --out-dir.
    Man(ManArgs),
}

// Examples under `--help` (and in the man pages' EXTRA section). Addresses are quoted: a
// shell would glob `token.a["k"]`.
const PLAN_EXAMPLES: &str = "\
Examples:
  tokenform plan                                    what apply would change
  tokenform plan -out tf.plan                       save it; `apply tf.plan` applies exactly it
  tokenform plan --detailed-exitcode                exit 0 no changes, 2 changes, 1 error
  tokenform plan --format markdown > plan.md        a pull-request comment
  tokenform plan -json                              NDJSON (schemas/stream.schema.json)
  tokenform plan --rotate token.ci_reader           rotate a token now
  tokenform plan --target 'token.deploy[\"staging\"]'
                                                    only that token
  tokenform plan -var team=web -var-file prod.hcl   set variables";

const APPLY_EXAMPLES: &str = "\
Examples:
  tokenform apply                                   plan, show, ask, then apply
  tokenform apply tf.plan                           a saved plan (no prompt: it was reviewed)
  tokenform apply --auto-approve --parallelism 4    in CI
  tokenform apply --rotate token.ci_reader          rotate now; the old secret works its grace
  tokenform apply -json -auto-approve               NDJSON progress for wrappers";

const DELIVER_EXAMPLES: &str = "\
Examples:
  tokenform deliver --identity key.txt              every token with deliver blocks
  tokenform deliver token.ci_reader                 one token (token.x names each token.x[\"k\"])";

const DRIFT_EXAMPLES: &str = "\
Examples:
  tokenform drift                                   changed, missing, unmanaged, due, stale...
  tokenform drift --format markdown > drift.md      an issue body; exit 2 when drift is found
  tokenform drift --format json                     schemas/drift.schema.json
  tokenform drift --stale-after 30d --expiring-within 7d";

const MIGRATE_EXAMPLES: &str = "\
Examples:
  terraform state pull | tokenform migrate terraform - --dry-run
                                                    check everything, write nothing
  terraform state pull | tokenform migrate terraform -
                                                    take the tokens over, secrets sealed
  tokenform migrate terraform terraform.tfstate -o tokens/migrated.hcl
                                                    from a state file
  terraform show -json | tokenform migrate terraform -
                                                    show -json works too";

#[derive(Debug, Clone, Args, Default)]
pub struct VarArgs {
    /// Set a variable (NAME=VALUE); repeatable, later wins.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Read variables from an HCL file; repeatable.
    #[arg(long = "var-file", value_name = "FILE")]
    pub var_files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct LockArgs {
    /// How long to wait for the state lock (e.g. 30s); 0 fails at once.
    #[arg(long, default_value = "0s", value_name = "DURATION", value_parser = Typed(lock_timeout))]
    pub lock_timeout: Duration,
}

#[derive(Debug, Clone, Args)]
pub struct ForceUnlockArgs {
    /// The `ID:` of the lock, as the Lock Info of a locked-state error shows it.
    #[arg(value_name = "LOCK_ID")]
    pub lock_id: String,
}

#[derive(Debug, Clone, Args)]
pub struct InitArgs {}

#[derive(Debug, Clone, Args)]
pub struct KeygenArgs {
    /// Write the identity to FILE (mode 0600) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct FmtArgs {
    /// Do not write; exit 1 when a file is not formatted.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    #[default]
    Human,
    Json,
    Markdown,
}

/// Output formats of `plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum PlanFormat {
    #[default]
    Human,
    Json,
    Markdown,
    /// One JSON object per line, as Terraform's `-json` (schemas/stream.schema.json).
    JsonStream,
}

/// Output formats of `apply` and `destroy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ApplyFormat {
    #[default]
    Human,
    /// One JSON object per line, as Terraform's `-json` (schemas/stream.schema.json);
    /// needs --auto-approve unless a plan file is applied.
    JsonStream,
}

/// What plan (and apply without a plan file) selects.
#[derive(Debug, Clone, Args, Default)]
pub struct SelectArgs {
    /// Only plan these addresses (repeatable).
    #[arg(long = "target", value_name = "ADDR", value_parser = Typed(address))]
    pub targets: Vec<Address>,
    /// Rotate these tokens now (repeatable).
    #[arg(long = "rotate", value_name = "ADDR", value_parser = Typed(address))]
    pub rotate: Vec<Address>,
    /// Only record live changes into state; change no token.
    #[arg(long)]
    pub refresh_only: bool,
    #[command(flatten)]
    pub vars: VarArgs,
}

#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    /// Save the plan (JSON, no secrets) for `apply FILE`.
    #[arg(long = "out", short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Exit 2 when the plan has changes.
    #[arg(long)]
    pub detailed_exitcode: bool,
    #[arg(long, value_enum, default_value_t)]
    pub format: PlanFormat,
    /// The same as --format json-stream (Terraform's -json).
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Write a token block, from the live token, for each import block whose `to` has no
    /// token block (FILE must not exist), then plan with it.
    #[arg(long, value_name = "FILE")]
    pub generate_config_out: Option<PathBuf>,
    #[command(flatten)]
    pub select: SelectArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ApplyArgs {
    /// A plan saved by `plan -out`.
    #[arg(value_name = "PLANFILE")]
    pub plan_file: Option<PathBuf>,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub auto_approve: bool,
    /// Concurrent mutating requests, 1 to 64 (default: launchdarkly.parallelism).
    #[arg(long, value_name = "N", value_parser = Typed(parallelism))]
    pub parallelism: Option<usize>,
    #[arg(long, value_enum, default_value_t)]
    pub format: ApplyFormat,
    /// The same as --format json-stream (Terraform's -json).
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub lock: LockArgs,
}

#[derive(Debug, Clone, Args)]
pub struct DestroyArgs {
    /// Do not ask for confirmation.
    #[arg(long)]
    pub auto_approve: bool,
    #[arg(long, value_enum, default_value_t)]
    pub format: ApplyFormat,
    /// The same as --format json-stream (Terraform's -json).
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Only destroy these addresses (repeatable).
    #[arg(long = "target", value_name = "ADDR", value_parser = Typed(address))]
    pub targets: Vec<Address>,
    #[command(flatten)]
    pub vars: VarArgs,
    #[command(flatten)]
    pub lock: LockArgs,
}

impl PlanArgs {
    /// `--json` or `--format json-stream`.
    pub fn stream(&self) -> bool {
        self.json || self.format == PlanFormat::JsonStream
    }
}

impl ApplyArgs {
    /// `--json` or `--format json-stream`.
    pub fn stream(&self) -> bool {
        self.json || self.format == ApplyFormat::JsonStream
    }
}

impl DestroyArgs {
    /// `--json` or `--format json-stream`.
    pub fn stream(&self) -> bool {
        self.json || self.format == ApplyFormat::JsonStream
    }
}

#[derive(Debug, Clone, Args)]
pub struct ShowArgs {
    /// A plan saved by `plan -out`; without it, the tokens in the state (never a secret).
    #[arg(value_name = "PLANFILE")]
    pub plan_file: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Clone, Args)]
pub struct DriftArgs {
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// A token unused for this long is stale.
    #[arg(long, default_value = "90d", value_name = "DURATION", value_parser = Typed(window))]
    pub stale_after: Duration,
    /// Report tokens whose expires_at falls within this window.
    #[arg(long, default_value = "14d", value_name = "DURATION", value_parser = Typed(window))]
    pub expiring_within: Duration,
    #[command(flatten)]
    pub vars: VarArgs,
}

/// Output formats of `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum CheckFormat {
    #[default]
    Human,
    Json,
    Markdown,
    /// SARIF 2.1.0, for GitHub code scanning.
    Sarif,
}

/// A finding severity, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum SeverityArg {
    #[default]
    Low,
    Medium,
    High,
    Critical,
}

/// Exit 0 when no unsuppressed finding is at or above --severity, 2 when there is one,
/// 1 on any error (never 2). Rules, fixes and suppression: docs/checks.md.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    #[arg(long, value_enum, default_value_t)]
    pub format: CheckFormat,
    /// Report (and fail on) findings of this severity or higher only.
    #[arg(long, value_enum, default_value_t, value_name = "LEVEL")]
    pub severity: SeverityArg,
    /// Also check the live token list and the state (needs the API token): unmanaged admin
    /// tokens, stale tokens, the service-token limit.
    #[arg(long)]
    pub live: bool,
    /// With --live: a token unused for this long is stale (TKN011).
    #[arg(long, default_value = "90d", value_name = "DURATION", value_parser = Typed(window))]
    pub stale_after: Duration,
    /// A rotation.every longer than this is a finding (TKN005).
    #[arg(long, default_value = "90d", value_name = "DURATION", value_parser = Typed(window))]
    pub max_rotation: Duration,
    #[command(flatten)]
    pub vars: VarArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// Address to record the token at, e.g. token.legacy.
    #[arg(value_name = "ADDR", value_parser = Typed(address))]
    pub address: Address,
    /// The live token's id (24 hex characters).
    #[arg(value_name = "ID")]
    pub id: String,
    #[command(flatten)]
    pub vars: VarArgs,
    #[command(flatten)]
    pub lock: LockArgs,
}

#[derive(Debug, Clone, Args)]
pub struct AdoptArgs {
    /// Only tokens whose name matches this glob (`*`, `?`); repeatable, any may match.
    #[arg(long = "match", value_name = "GLOB")]
    pub matches: Vec<String>,
    /// The file to write (default: adopted.hcl in the configuration directory); never overwritten.
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub vars: VarArgs,
}

#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    #[command(after_help = MIGRATE_EXAMPLES)]
    /// Take over the launchdarkly_access_tokens of a Terraform (or OpenTofu) state, with
    /// their secrets; the Terraform state itself is never modified.
    Terraform(MigrateTerraformArgs),
}

#[derive(Debug, Clone, Args)]
pub struct MigrateTerraformArgs {
    /// A raw state (`terraform state pull`, a .tfstate file) or `terraform show -json`
    /// output; `-` or nothing reads standard input.
    #[arg(value_name = "STATE")]
    pub state: Option<PathBuf>,
    /// The token blocks' file (default: terraform-migrated.hcl in the configuration
    /// directory, where it must be); never overwritten. terraform-removed.tf goes beside it.
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Check everything and print what would be done; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub vars: VarArgs,
    #[command(flatten)]
    pub lock: LockArgs,
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// List managed addresses.
    List,
    /// Show one token's state (never its secret).
    Show {
        #[arg(value_name = "ADDR", value_parser = Typed(address))]
        address: Address,
    },
    /// Stop managing a token without deleting it.
    Rm {
        #[arg(value_name = "ADDR", value_parser = Typed(address))]
        address: Address,
        #[command(flatten)]
        lock: LockArgs,
    },
    /// Move a token to another address.
    Mv {
        #[arg(value_name = "FROM", value_parser = Typed(address))]
        from: Address,
        #[arg(value_name = "TO", value_parser = Typed(address))]
        to: Address,
        #[command(flatten)]
        lock: LockArgs,
    },
    /// Print the state document (JSON; secrets stay age ciphertexts), from any backend.
    Pull {
        /// Print the N-th previous version instead (1 is the newest; 5 are kept).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=5))]
        previous: Option<u8>,
    },
    /// Replace the state with FILE (same lineage and a higher serial, unless --force).
    Push {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Write FILE even with another lineage or a serial not above the current one
        /// (its serial is then raised above the current one).
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        lock: LockArgs,
    },
    /// Copy a local state file, its journal included, into the configured backend.
    Migrate {
        /// The local state file (its `.journal` beside it is replayed into the copy).
        #[arg(long = "from", value_name = "FILE")]
        from: PathBuf,
        #[command(flatten)]
        lock: LockArgs,
    },
}

#[derive(Debug, Clone, Args)]
pub struct DeliverArgs {
    /// The tokens to deliver; default: every managed token with `deliver` blocks.
    #[arg(value_name = "ADDR", value_parser = Typed(address))]
    pub addresses: Vec<Address>,
    #[command(flatten)]
    pub vars: VarArgs,
    #[command(flatten)]
    pub lock: LockArgs,
}

#[derive(Debug, Clone, Args)]
pub struct SecretArgs {
    #[arg(value_name = "ADDR", value_parser = Typed(address))]
    pub address: Address,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    #[default]
    Json,
    Env,
    Dotenv,
}

#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

#[derive(Debug, Clone, Args)]
pub struct DevServerArgs {
    /// Address to listen on; loopback only.
    #[arg(long, default_value = "127.0.0.1:8765", value_name = "ADDR", value_parser = Typed(listen))]
    pub listen: SocketAddr,
    /// Persist the store to FILE (atomic writes).
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,
    /// Seed tokens, members and custom roles from a JSON file.
    #[arg(long, value_name = "FILE")]
    pub seed: Option<PathBuf>,
    /// Read the admin token from FILE, or generate and write it there (0600).
    #[arg(long, value_name = "FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// Added latency per request, in milliseconds.
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub latency_ms: u64,
    /// Requests allowed per 10 s window (0 = unlimited).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub rate_limit: u32,
    /// Probability (0..1) of answering 503.
    #[arg(long, default_value_t = 0.0, value_name = "P")]
    pub fail_rate: f64,
    /// Probability (0..1) that an operation is performed but its answer is lost (502).
    #[arg(long, default_value_t = 0.0, value_name = "P")]
    pub lost_rate: f64,
    /// Largest page the list returns, whatever `limit` asks.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub page_max: u32,
}

#[derive(Debug, Clone, Args)]
pub struct ManArgs {
    /// Write tokenform.1 and one page per command (tokenform-plan.1, tokenform-state-list.1,
    /// …) into DIR (created if missing) instead of printing tokenform.1.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// A command-line value clap could not turn into its type. `main` renders it as every other
/// error (miette, with its code and help) and exits 1, before any command runs.
#[derive(Debug, Clone, thiserror::Error, miette::Diagnostic)]
pub enum ArgError {
    #[error("{arg}: {reason}")]
    #[diagnostic(
        code(tokenform::cli::bad_address),
        help(
            "addresses look like token.NAME or token.NAME[\"KEY\"]; quote the key for your shell: 'token.deploy[\"staging\"]'"
        )
    )]
    BadAddress { arg: String, reason: String },

    #[error("{arg} `{value}` is not a duration")]
    #[diagnostic(code(tokenform::cli::bad_duration), help("durations look like 30s, 5m, 1h or 1m30s"))]
    BadDuration { arg: String, value: String },

    /// A reporting window of `drift` or `check` (`--stale-after`, `--expiring-within`, `--max-rotation`).
    #[error("{arg} `{value}` is not a duration")]
    #[diagnostic(code(tokenform::drift::bad_duration), help("write a duration like 90d, 2w, 36h or 1d12h"))]
    BadWindow { arg: String, value: String },

    #[error("--max-wait (or TOKENFORM_MAX_WAIT) `{value}` is not a duration")]
    #[diagnostic(code(tokenform::cli::max_wait), help("a duration such as 30s, 10m or 1h"))]
    MaxWait { value: String },

    #[error("--parallelism `{value}` is not a number from {} to {}", PARALLELISM.start(), PARALLELISM.end())]
    #[diagnostic(
        code(tokenform::cli::bad_parallelism),
        help("the same range as `launchdarkly {{ parallelism = N }}`, e.g. --parallelism 8")
    )]
    BadParallelism { value: String },

    #[error("--listen `{value}`: {why}")]
    #[diagnostic(
        code(tokenform::emulator::bad_listen),
        help(
            "the emulator listens on loopback only: 127.0.0.1:8765, [::1]:8765 or localhost:8765 (port 0 picks a free one)"
        )
    )]
    BadListen { value: String, why: String },
}

impl ArgError {
    /// The typed error behind a clap error, when a value parser of this file failed.
    pub fn of(err: &clap::Error) -> Option<&ArgError> {
        std::error::Error::source(err).and_then(|e| e.downcast_ref::<ArgError>())
    }
}

fn address(arg: String, value: &str) -> Result<Address, ArgError> {
    value
        .parse()
        .map_err(|e: crate::model::AddressParseError| ArgError::BadAddress { arg, reason: e.to_string() })
}

fn lock_timeout(arg: String, value: &str) -> Result<Duration, ArgError> {
    parse_duration(value).ok_or_else(|| ArgError::BadDuration { arg, value: value.to_owned() })
}

fn window(arg: String, value: &str) -> Result<Duration, ArgError> {
    parse_duration(value).ok_or_else(|| ArgError::BadWindow { arg, value: value.to_owned() })
}

/// A request needs some time: zero would give up before the first attempt.
fn max_wait(_arg: String, value: &str) -> Result<Duration, ArgError> {
    parse_duration(value)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| ArgError::MaxWait { value: value.to_owned() })
}

fn parallelism(_arg: String, value: &str) -> Result<usize, ArgError> {
    value
        .parse()
        .ok()
        .filter(|n| PARALLELISM.contains(n))
        .ok_or_else(|| ArgError::BadParallelism { value: value.to_owned() })
}

/// `IP:PORT`, or `HOST:PORT` for a host name that resolves to loopback addresses only
/// (`localhost:8765`); the first address it resolves to is used.
fn listen(_arg: String, value: &str) -> Result<SocketAddr, ArgError> {
    let bad = |why: &str| ArgError::BadListen { value: value.to_owned(), why: why.to_owned() };
    if let Ok(addr) = value.parse::<SocketAddr>() {
        return Ok(addr);
    }
    // Only a name and a port are resolved: anything else would be an odd thing to look up.
    let Some((host, port)) = value.rsplit_once(':') else { return Err(bad("not HOST:PORT")) };
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(bad("not HOST:PORT"));
    }
    let addrs: Vec<SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(value)
        .map_err(|_| bad(&format!("`{host}` does not resolve")))?
        .collect();
    match addrs.first() {
        Some(first) if addrs.iter().all(|a| a.ip().is_loopback()) => Ok(*first),
        Some(_) => Err(bad(&format!("`{host}` resolves to an address that is not loopback"))),
        None => Err(bad(&format!("`{host}` resolves to no address"))),
    }
}

/// A value parser from a function of (the argument's name as the user wrote it, its value).
#[derive(Clone)]
struct Typed<T>(fn(String, &str) -> Result<T, ArgError>);

impl<T: Clone + Send + Sync + 'static> TypedValueParser for Typed<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        let name = arg.map_or_else(String::new, |a| match a.get_long() {
            Some(long) => format!("--{long}"),
            None => a
                .get_value_names()
                .and_then(<[_]>::first)
                .map_or_else(|| a.get_id().to_string(), ToString::to_string),
        });
        (self.0)(name, &value.to_string_lossy()).map_err(|error| {
            // clap's own error for a value that did not parse, so the typed error travels as its source.
            let fail = move |_: &str| Err::<(), ArgError>(error.clone());
            fail.parse_ref(cmd, arg, value)
                .err()
                .unwrap_or_else(|| clap::Error::new(clap::error::ErrorKind::ValueValidation))
        })
    }
}

/// Terraform spells long flags with one dash (`-out FILE`, `-var k=v`, `-var-file F`,
/// `-auto-approve`, `-out=FILE`), and `docs/spec.md` §3 does too; clap would read `-out` as `-o ut`.
/// This rewrites `-NAME` and `-NAME=VALUE` to `--NAME…` when NAME is a long flag of some
/// tokenform command (two characters or more), before clap parses. Everything after `--`
/// is left alone, as are single-letter flags.
pub fn normalize_args<I: IntoIterator<Item = std::ffi::OsString>>(args: I) -> Vec<std::ffi::OsString> {
    use clap::CommandFactory;
    fn longs(cmd: &clap::Command, out: &mut std::collections::BTreeSet<String>) {
        out.extend(cmd.get_arguments().filter_map(|a| a.get_long()).map(str::to_owned));
        for sub in cmd.get_subcommands() {
            longs(sub, out);
        }
    }
    let mut known = std::collections::BTreeSet::new();
    longs(&Cli::command(), &mut known);
    let mut rest = false;
    args.into_iter()
        .map(|arg| {
            if rest {
                return arg;
            }
            let Some(text) = arg.to_str() else { return arg };
            if text == "--" {
                rest = true;
                return arg;
            }
            let Some(flag) = text.strip_prefix('-').filter(|f| !f.starts_with('-')) else { return arg };
            let name = flag.split('=').next().unwrap_or(flag);
            if name.len() > 1 && known.contains(name) { format!("-{text}").into() } else { arg }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn terraform_style_single_dash_flags_are_accepted() {
        let args =
            ["tokenform", "plan", "-out", "tf.plan", "-var", "a=b", "-var-file=v.hcl", "-v", "--", "-out"];
        let norm: Vec<String> = super::normalize_args(args.map(std::ffi::OsString::from))
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        assert_eq!(
            norm,
            ["tokenform", "plan", "--out", "tf.plan", "--var", "a=b", "--var-file=v.hcl", "-v", "--", "-out"]
        );
        let cli = <super::Cli as clap::Parser>::try_parse_from(&norm[..9]).unwrap();
        let super::Command::Plan(plan) = cli.command else { panic!("not plan") };
        assert_eq!(plan.out.as_deref(), Some(std::path::Path::new("tf.plan")));
        assert_eq!(plan.select.vars.vars, ["a=b"]);
    }

    /// Every example under `--help` is a command line tokenform accepts.
    #[test]
    fn help_examples_parse() {
        for text in
            [super::PLAN_EXAMPLES, super::APPLY_EXAMPLES, super::DRIFT_EXAMPLES, super::MIGRATE_EXAMPLES]
        {
            let mut seen = 0;
            for line in text.lines().skip(1) {
                let Some(start) = line.find("tokenform ") else { continue };
                // The command ends at the two spaces before its description, or at a redirect.
                let command = line[start..].split("  ").next().unwrap().split(" > ").next().unwrap();
                let words =
                    command.split_whitespace().map(|w| std::ffi::OsString::from(w.trim_matches('\'')));
                let parsed = <super::Cli as clap::Parser>::try_parse_from(super::normalize_args(words));
                assert!(parsed.is_ok(), "{line}: {}", parsed.unwrap_err());
                seen += 1;
            }
            assert!(seen >= 4, "{text}");
        }
    }

    fn parse(args: &[&str]) -> Result<super::Cli, clap::Error> {
        <super::Cli as clap::Parser>::try_parse_from(args)
    }

    /// The typed error a value parser of this file left behind `args`' clap error.
    fn typed_error(args: &[&str]) -> super::ArgError {
        super::ArgError::of(&parse(args).unwrap_err()).cloned().expect("a typed value error")
    }

    #[test]
    fn durations_are_checked() {
        let Ok(super::Cli { command: super::Command::Drift(drift), .. }) =
            parse(&["tokenform", "drift", "--stale-after", "90d"])
        else {
            panic!("not drift")
        };
        assert_eq!(drift.stale_after.as_secs(), 90 * 86_400);
        let err = typed_error(&["tokenform", "drift", "--expiring-within", "14 days"]);
        assert_eq!(err.to_string(), "--expiring-within `14 days` is not a duration");
        assert!(parse(&["tokenform", "drift", "--stale-after", ""]).is_err());
    }

    /// One code per kind of bad value, whichever command or argument it came in.
    #[test]
    fn each_bad_value_has_one_code() {
        use miette::Diagnostic as _;
        let code = |args: &[&str]| typed_error(args).code().map(|c| c.to_string()).unwrap_or_default();
        for args in [
            &["tokenform", "plan", "--target", "x"][..],
            &["tokenform", "apply", "--rotate", "token."],
            &["tokenform", "import", "x", "61095542756dba551110ae21"],
            &["tokenform", "state", "show", "token.a[b]"],
            &["tokenform", "secret", "a"],
        ] {
            assert_eq!(code(args), "tokenform::cli::bad_address", "{args:?}");
        }
        assert_eq!(
            typed_error(&["tokenform", "state", "mv", "token.a", "b"]).to_string().split(':').next(),
            Some("TO")
        );
        assert_eq!(code(&["tokenform", "rekey", "--lock-timeout", "1y"]), "tokenform::cli::bad_duration");
        assert_eq!(code(&["tokenform", "--max-wait", "0s", "plan"]), "tokenform::cli::max_wait");
        let Ok(super::Cli { global, command: super::Command::Apply(apply), .. }) =
            parse(&["tokenform", "apply", "--lock-timeout", "1m30s", "--target", "token.a[\"k\"]"])
        else {
            panic!("not apply")
        };
        assert_eq!(apply.lock.lock_timeout.as_secs(), 90);
        assert_eq!(apply.select.targets, [crate::model::Address::keyed("a", "k")]);
        assert!(global.max_wait.as_secs() > 0);
    }

    #[test]
    fn cli_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
