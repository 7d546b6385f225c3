//! The configuration language: every `*.hcl` / `*.hcl.json` file of one directory,
//! parsed with spans (hcl-edit), evaluated (variables, locals, functions, for_each),
//! validated, and turned into a typed [`Config`]. No network, no state.
//!
//! ```text
//! parse    files → one syntax tree with byte spans (HCL via hcl-edit; *.hcl.json via json)
//! eval     variables (variables.rs) and locals → an Env; one attribute at a time, refs checked
//! decode   blocks checked against schema.rs; typed reads (values.rs); tokens (token.rs)
//! ```
//!
//! Every broken rule becomes a [`Problem`] (diagnostics.rs) with a stable code, a label on
//! its span and help; [`load`] returns all of them. `format` is `tokenform fmt`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::model::{Access, Address, RotationMethod, TokenField};

mod arith;
mod backend;
mod checks;
mod decode;
mod deliver;
pub mod diagnostics;
mod eval;
pub mod format;
mod functions;
mod json;
pub mod parse;
mod schema;
pub mod sites;
#[cfg(test)]
mod tests;
mod token;
#[cfg(test)]
mod untrusted_tests;
mod values;
mod variables;

pub use checks::{Checks, TokenChecks};
pub use diagnostics::{Problem, Rule};
// The state block's types live in `state` (config → state, never back).
pub use crate::state::settings::{BackendSettings, EncryptMode, PgSettings, StateSettings};

/// Where variables come from, in increasing precedence after `default`:
/// `-var-file` files, `TOKENFORM_VAR_<name>` env vars, then `-var name=value`.
#[derive(Debug, Clone, Default)]
pub struct VarInputs {
    /// `-var-file FILE`, in command-line order.
    pub var_files: Vec<PathBuf>,
    /// `-var name=value`, in command-line order.
    pub vars: Vec<(String, String)>,
    /// Environment variables (name, value), read by the command (the edge), not here.
    pub env: Vec<(String, String)>,
    /// Hosts besides LaunchDarkly's that `base_url` may name (`TOKENFORM_ALLOWED_HOSTS`,
    /// read by the command: never from the configuration).
    pub allowed_hosts: crate::endpoint::AllowedHosts,
}

/// The whole desired configuration of one directory.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The config directory (as given; `-C`).
    pub dir: PathBuf,
    pub launchdarkly: LaunchDarkly,
    pub state: StateSettings,
    pub tokens: BTreeMap<Address, DesiredToken>,
    pub imports: Vec<ImportBlock>,
    pub removed: Vec<RemovedBlock>,
    pub unmanaged: Unmanaged,
    /// `checks { skip }` suppressions for `tokenform check`.
    pub checks: Checks,
    /// Where each block and attribute is written (for findings made after loading).
    pub sites: sites::Sites,
    /// sha256 (hex) over the configuration files' names and bytes, in name order.
    pub digest: String,
}

impl Config {
    /// A configuration with no tokens and every setting at its default (for tests and tools).
    pub fn empty(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        Self {
            state: StateSettings::local(dir.join("tokenform.state.json"), Vec::new(), EncryptMode::Secrets),
            dir,
            launchdarkly: LaunchDarkly::default(),
            tokens: BTreeMap::new(),
            imports: Vec::new(),
            removed: Vec::new(),
            unmanaged: Unmanaged::default(),
            checks: Checks::default(),
            sites: sites::Sites::default(),
            digest: String::new(),
        }
    }
}

/// Every problem found in a configuration (all of them, not just the first).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("the configuration in {dir} is not valid ({})", count(problems.len()))]
#[diagnostic(code(tokenform::config::invalid))]
pub struct ConfigErrors {
    pub dir: String,
    #[related]
    pub problems: Vec<miette::Report>,
}

/// "1 problem", "3 problems".
fn count(n: usize) -> String {
    if n == 1 { "1 problem".to_owned() } else { format!("{n} problems") }
}

impl ConfigErrors {
    /// The stable codes of every problem, in order (for tests and tools).
    pub fn codes(&self) -> Vec<String> {
        self.problems.iter().filter_map(|p| p.code().map(|c| c.to_string())).collect()
    }
}

/// Loads, evaluates and validates the configuration of `dir`. No network, no state.
/// Every problem of the run is in the error, each with its file, span, code and help.
pub fn load(dir: &std::path::Path, inputs: &VarInputs) -> Result<Config, ConfigErrors> {
    load_problems(dir, inputs).map_err(|problems| ConfigErrors {
        dir: dir.display().to_string(),
        problems: problems.into_iter().map(miette::Report::new).collect(),
    })
}

/// [`load`], with the problems as typed values.
pub fn load_problems(dir: &std::path::Path, inputs: &VarInputs) -> Result<Config, Vec<Problem>> {
    let mut sink = diagnostics::Sink::default();
    let parsed = parse::parse_dir(dir, &mut sink);
    let env = eval::environment(&parsed.files, inputs, &mut sink);
    let mut config = decode::decode(dir, &parsed.files, &env, &inputs.allowed_hosts, &mut sink);
    config.digest = parsed.digest;
    config.sites = sites::collect(&parsed.files);
    if sink.is_empty() { Ok(config) } else { Err(sink.into_sorted()) }
}

/// [`load`] for the commands that read or edit the state and plan nothing (`state`,
/// `secret`, `output`, `show`, `force-unlock`): only the `state` block is read, so they
/// need no `-var` (as `terraform state list`). A variable with no value is a problem only
/// when the `state` block uses it (directly or through a local); the other blocks are not
/// checked. The result holds the state settings; its tokens, imports and checks are empty.
pub fn load_for_state(dir: &std::path::Path, inputs: &VarInputs) -> Result<Config, ConfigErrors> {
    let mut sink = diagnostics::Sink::default();
    let parsed = parse::parse_dir(dir, &mut sink);
    let mut env = eval::environment_deferring_unset(&parsed.files, inputs, &mut sink);
    let state_blocks = parsed.files.iter().flat_map(|f| f.body.blocks.iter().filter(|b| b.ident == "state"));
    for name in eval::unset_used_by(state_blocks, &parsed.files, &env) {
        if let Some(problem) = env.unset.remove(&name) {
            sink.push(problem.with_help(format!(
                "the state block uses it, and the state commands take no -var: give it a default, \
                 or set TOKENFORM_VAR_{name}"
            )));
        }
    }
    let mut config = decode::decode_scoped(
        dir,
        &parsed.files,
        &env,
        &inputs.allowed_hosts,
        decode::Scope::State,
        &mut sink,
    );
    config.digest = parsed.digest;
    config.sites = sites::collect(&parsed.files);
    if sink.is_empty() {
        Ok(config)
    } else {
        Err(ConfigErrors {
            dir: dir.display().to_string(),
            problems: sink.into_sorted().into_iter().map(miette::Report::new).collect(),
        })
    }
}

/// [`load`] for `plan -generate-config-out`: an `import` block whose target no `token`
/// block declares is not a problem here. Returns the configuration (with only the
/// declared imports) and the undeclared imports, in file order; every other problem is
/// still an error.
pub fn load_with_undeclared_imports(
    dir: &std::path::Path,
    inputs: &VarInputs,
) -> Result<(Config, Vec<ImportBlock>), ConfigErrors> {
    let mut sink = diagnostics::Sink::default();
    let parsed = parse::parse_dir(dir, &mut sink);
    let env = eval::environment(&parsed.files, inputs, &mut sink);
    let mut config = decode::decode(dir, &parsed.files, &env, &inputs.allowed_hosts, &mut sink);
    config.digest = parsed.digest;
    let problems: Vec<Problem> =
        sink.into_sorted().into_iter().filter(|p| p.rule != Rule::UnknownAddress).collect();
    if !problems.is_empty() {
        return Err(ConfigErrors {
            dir: dir.display().to_string(),
            problems: problems.into_iter().map(miette::Report::new).collect(),
        });
    }
    let (declared, undeclared) = config.imports.into_iter().partition(|i| config.tokens.contains_key(&i.to));
    config.imports = declared;
    Ok((config, undeclared))
}

/// Where the API is (the rule lives in [`crate::endpoint`]).
pub use crate::endpoint::BaseUrl;

/// The values `launchdarkly { parallelism }` and `apply --parallelism` accept.
pub const PARALLELISM: std::ops::RangeInclusive<usize> = 1..=64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchDarkly {
    pub base_url: BaseUrl,
    /// Name of the env var holding the access token tokenform authenticates with.
    pub access_token_env: String,
    /// Sent as `LD-API-Version`.
    pub api_version: u32,
    /// Concurrent mutating requests.
    pub parallelism: usize,
}

impl Default for LaunchDarkly {
    fn default() -> Self {
        Self {
            base_url: BaseUrl::Url("https://app.launchdarkly.com".into()),
            access_token_env: "LAUNCHDARKLY_ACCESS_TOKEN".into(),
            api_version: 20_240_415,
            parallelism: 4,
        }
    }
}

/// One desired token (one `token` block, or one instance of a `for_each` block).
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredToken {
    pub address: Address,
    pub name: String,
    pub description: Option<String>,
    pub access: Access,
    pub service_token: bool,
    pub api_version: Option<u32>,
    pub expires_at: Option<jiff::Timestamp>,
    /// Extra readers of this token's secret.
    pub recipients: Vec<String>,
    pub rotation: Option<Rotation>,
    pub lifecycle: Lifecycle,
    /// Where each new secret goes (`deliver` blocks), in order.
    pub deliver: Vec<crate::deliver::Sink>,
}

impl DesiredToken {
    /// A token as a block setting only its access would declare it: every other attribute
    /// at its default (personal token, no description, expiry, rotation or lifecycle).
    pub fn new(address: Address, name: impl Into<String>, access: Access) -> Self {
        Self {
            address,
            name: name.into(),
            description: None,
            access,
            service_token: false,
            api_version: None,
            expires_at: None,
            recipients: Vec::new(),
            rotation: None,
            lifecycle: Lifecycle::default(),
            deliver: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    pub every: Duration,
    /// Default 24h.
    pub grace: Duration,
    pub method: RotationMethod,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Lifecycle {
    pub prevent_destroy: bool,
    pub create_before_destroy: bool,
    pub ignore_changes: Vec<TokenField>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportBlock {
    pub to: Address,
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovedBlock {
    pub from: Address,
    /// false: stop managing, keep the live token.
    pub destroy: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnmanagedMode {
    #[default]
    Report,
    Delete,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Unmanaged {
    pub mode: UnmanagedMode,
    /// Globs (`*`, `?`) on token names.
    pub ignore_names: Vec<String>,
    /// Also consider other members' personal tokens.
    pub personal: bool,
}
