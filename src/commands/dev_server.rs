//! `tokenform dev-server`: runs the LaunchDarkly emulator on loopback until SIGINT/SIGTERM.
//! The first stdout line is exactly `tokenform dev-server listening on http://127.0.0.1:PORT`
//! (tests and scripts parse it); without `--admin-token-file` the admin token is printed once
//! on the second line. Seed/data format: see [`crate::emulator`].

use std::fmt::Write as _;
use std::time::Duration;

use miette::{IntoDiagnostic, WrapErr};

use super::Context;
use crate::ExitStatus;
use crate::cli::DevServerArgs;
use crate::emulator::{Emulator, EmulatorOptions, Seed};

pub(super) fn run(_ctx: &Context, args: &DevServerArgs) -> miette::Result<ExitStatus> {
    let seed = match &args.seed {
        Some(path) => Some(Seed::from_file(path).map_err(crate::emulator::EmulatorError::from)?),
        None => None,
    };
    let options = EmulatorOptions {
        listen: args.listen,
        data: args.data.clone(),
        seed,
        admin_token_file: args.admin_token_file.clone(),
        admin_token: None,
        latency: Duration::from_millis(args.latency_ms),
        rate_limit: args.rate_limit,
        rate_window: Duration::from_secs(10),
        fail_rate: args.fail_rate,
        lost_rate: args.lost_rate,
        page_max: args.page_max,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .into_diagnostic()
        .wrap_err("cannot start the async runtime")?;
    runtime.block_on(async move {
        let running = Emulator::start(options).await?;
        let mut banner =
            zeroize::Zeroizing::new(format!("tokenform dev-server listening on {}\n", running.url()));
        if args.admin_token_file.is_none() {
            let _ = writeln!(banner, "admin token: {}", running.admin_token().expose());
        }
        super::print(&banner)?;
        wait_for_signal().await;
        running.stop()?;
        Ok(ExitStatus::Success)
    })
}

/// Resolves on SIGINT or SIGTERM.
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
