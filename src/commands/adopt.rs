//! `tokenform adopt [--match GLOB]… [-o FILE]`: an `import` block and a `token` block for
//! every unmanaged live token (drift's definition), written to a new file. Reads the
//! state (no lock: it writes only the new file) and one live snapshot; changes nothing
//! live and nothing in state: the next `plan`/`apply` does the importing.

use super::Context;
use super::generated::{ensure_absent, in_config_dir, out_path, reload, write_new};
use super::plan::{role_keys, runtime};
use crate::ExitStatus;
use crate::cli::AdoptArgs;
use crate::state::LockMode;

/// Where the blocks go unless `-o FILE` says otherwise.
const DEFAULT_FILE: &str = "adopted.hcl";

pub(super) fn run(ctx: &Context, args: &AdoptArgs) -> miette::Result<ExitStatus> {
    runtime()?.block_on(run_async(ctx, args))
}

async fn run_async(ctx: &Context, args: &AdoptArgs) -> miette::Result<ExitStatus> {
    let config = crate::config::load(&ctx.global.dir, &ctx.var_inputs(&args.vars)?)?;
    let path = out_path(ctx, args.out.as_deref(), DEFAULT_FILE);
    let store =
        super::state_access::open_metadata(&config, LockMode::Shared, ctx.global.identity.as_deref())?;
    let client = ctx.connect(&config).await?;
    let live = client.fetch_live(&role_keys(&config), true).await?;
    let adoption =
        crate::onboard::adopt(&config, store.state(), &live, &args.matches, jiff::Timestamp::now());

    for (name, id, why) in &adoption.skipped {
        eprintln!("Warning: not adopting {} (id {id}): {why}", crate::onboard::generate::quote(name));
    }
    if adoption.adopted.is_empty() {
        if !ctx.global.quiet {
            super::print("No unmanaged tokens to adopt: nothing written.\n")?;
        }
        return Ok(ExitStatus::Success);
    }
    ensure_absent(&path, "-o FILE")?;
    let text = crate::onboard::adoption_file(&adoption).map_err(|e| {
        miette::miette!(code = "tokenform::onboard::generate", "could not lay out the generated file: {e}")
    })?;
    write_new(&path, &text)?;
    let n = adoption.adopted.len();
    let shown = path.display();
    if in_config_dir(&path, &ctx.global.dir) {
        reload(ctx, &args.vars, &[&path])?;
        if !ctx.global.quiet {
            super::print(&format!(
                "Wrote {n} import block(s) and {n} token block(s) to {shown}.\n\n\
                 `tokenform plan` now shows {n} to import and nothing else; `tokenform apply` imports them\n\
                 without changing any live token. Their secrets stay unknown (someone may be using them)\n\
                 until `tokenform apply --rotate ADDR` takes one over.\n"
            ))?;
        }
    } else if !ctx.global.quiet {
        super::print(&format!(
            "Wrote {n} import block(s) and {n} token block(s) to {shown}.\n\n\
             It is not part of the configuration in {}: move it there (as a .hcl file) to import them.\n",
            ctx.global.dir.display()
        ))?;
    }
    Ok(ExitStatus::Success)
}
