//! Where a command's session starts: the API client, connected to the URL the
//! configuration names or to the embedded emulator this module starts in-process. The
//! library below (`api`) knows nothing of the emulator; the emulator knows nothing of
//! the client.

use std::path::Path;
use std::time::Duration;

use crate::api::{ApiError, Client, ClientOptions, RetryPolicy, TraceSink};
use crate::config::LaunchDarkly;
use crate::emulator::Emulator;
use crate::endpoint::{self, AllowedHosts, BaseUrl};
use crate::secret::Secret;

/// What [`connect`] takes from outside the configuration. The command reads it
/// from the environment and the command line; the library reads no environment.
#[derive(Debug, Clone, Default)]
pub struct ConnectInputs {
    /// The value of the env var `launchdarkly.access_token_env` names (`None`: unset).
    pub token: Option<Secret>,
    /// `TOKENFORM_ALLOWED_HOSTS`, parsed.
    pub allowed_hosts: AllowedHosts,
    /// `-v`: a redacted request trace on stderr.
    pub verbose: bool,
    /// Say on stderr what the client waits for (off with `-q`).
    pub notices: bool,
    /// The most one request may wait in all (`--max-wait`); `None`: [`RetryPolicy`]'s default.
    pub max_wait: Option<Duration>,
}

/// Resolves the base URL (checked by [`endpoint::check`] against `inputs.allowed_hosts`;
/// `embedded` starts the emulator in-process, persisted under `<config_dir>/.tokenform/`)
/// and takes the access token from `inputs` (the value of `settings.access_token_env`),
/// refusing one that is not `api-…`-shaped without sending or printing it.
pub async fn connect(
    settings: &LaunchDarkly,
    config_dir: &Path,
    inputs: &ConnectInputs,
) -> Result<Client, ApiError> {
    let trace = inputs.verbose.then(TraceSink::stderr);
    let notices = inputs.notices.then(TraceSink::stderr);
    let mut retry = RetryPolicy::default();
    if let Some(max) = inputs.max_wait {
        retry.max_wait = max;
    }
    match &settings.base_url {
        BaseUrl::Embedded => {
            let running = Emulator::start_embedded(config_dir)
                .await
                .map_err(|e| ApiError::Embedded { reason: e.to_string() })?;
            let mut options = ClientOptions::new(running.url(), running.admin_token().clone());
            options.api_version = settings.api_version;
            options.trace = trace;
            options.notices = notices;
            options.retry = retry;
            Client::keeping_alive(options, running)
        }
        BaseUrl::Url(url) => {
            endpoint::check(url, &inputs.allowed_hosts)?;
            let env = &settings.access_token_env;
            let token = inputs.token.as_ref().map(|t| t.expose().trim()).filter(|t| !t.is_empty());
            let token = token.ok_or_else(|| ApiError::MissingToken { env: env.clone() })?;
            // access_token_env comes from the configuration: it may name GITHUB_TOKEN.
            if !crate::secret::is_access_token(token) {
                return Err(ApiError::InvalidToken { env: env.clone() });
            }
            let mut options = ClientOptions::new(url.clone(), Secret::new(token));
            options.api_version = settings.api_version;
            options.trace = trace;
            options.notices = notices;
            options.retry = retry;
            options.allowed_hosts = inputs.allowed_hosts.clone();
            Client::new(options)
        }
    }
}
