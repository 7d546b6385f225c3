//! `tokenform plan -generate-config-out FILE` (as Terraform 1.5): for each `import` block
//! whose `to` no `token` block declares, a token block written from the live token into
//! FILE, so the plan that follows imports it with no other change. FILE must not exist;
//! nothing is written when every import is declared.

use std::path::Path;

use super::Context;
use super::generated::{ensure_absent, in_config_dir, reload, write_new};
use super::plan::role_keys;
use crate::cli::PlanArgs;
use crate::onboard::generate;

/// What the plan that follows may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Then {
    /// Plan with the configuration as it now is.
    Plan,
    /// Stop: FILE was written outside the configuration, which still lacks the blocks.
    Stop,
}

/// Writes FILE when some import block needs a token block.
pub(super) async fn generate(ctx: &Context, args: &PlanArgs, path: &Path) -> miette::Result<Then> {
    // With -json, stdout is the NDJSON stream: the notes go to stderr.
    let note = |text: &str| match (ctx.global.quiet, args.stream()) {
        (true, _) => Ok(()),
        (false, true) => {
            eprintln!("{text}");
            Ok(())
        }
        (false, false) => super::print(&format!("{text}\n")),
    };
    let (config, undeclared) =
        crate::config::load_with_undeclared_imports(&ctx.global.dir, &ctx.var_inputs(&args.select.vars)?)?;
    if undeclared.is_empty() {
        note("Every import block has its token block: -generate-config-out wrote nothing.\n")?;
        return Ok(Then::Plan);
    }
    ensure_absent(path, "-generate-config-out")?;
    for (i, import) in undeclared.iter().enumerate() {
        if import.to.key.is_some() {
            return Err(miette::miette!(
                code = "tokenform::plan::generate_keyed",
                help = "write the for_each token block by hand; generation writes one block per token",
                "cannot generate a token block for {}: it is an instance of a for_each block",
                import.to
            ));
        }
        if undeclared[..i].iter().any(|o| o.to == import.to) {
            return Err(miette::miette!(
                code = "tokenform::config::duplicate_block",
                "{} is imported twice",
                import.to
            ));
        }
    }
    let client = ctx.connect(&config).await?;
    let live = client.fetch_live(&role_keys(&config), true).await?;
    let mut blocks = Vec::new();
    for import in &undeclared {
        let Some(token) = live.token(&import.id) else {
            return Err(miette::Report::new(crate::plan::PlanError::ImportNotFound {
                address: import.to.to_string(),
                id: import.id.clone(),
            }));
        };
        if let Some(other) = config.tokens.values().find(|t| t.name == token.name()) {
            return Err(miette::miette!(
                code = "tokenform::plan::generate_duplicate_name",
                help = "token names are unique within a configuration; import the live token into that block instead",
                "cannot generate {}: {} already has the name of token {}",
                import.to,
                other.address,
                import.id
            ));
        }
        let desired = crate::onboard::desired_from_live(token, &live, import.to.clone()).map_err(|why| {
            miette::miette!(
                code = "tokenform::plan::generate_unsupported",
                help = "write its token block by hand",
                "cannot generate a token block for {} (token {}): {why}",
                import.to,
                import.id
            )
        })?;
        let comment =
            format!("Generated from live token {} by `tokenform plan -generate-config-out`", import.id);
        blocks.push(generate::token_block(&import.to.label, &desired, &[comment]));
    }
    let text = generate::document(&[], &blocks).map_err(|e| {
        miette::miette!(code = "tokenform::onboard::generate", "could not lay out the generated file: {e}")
    })?;
    write_new(path, &text)?;
    let inside = in_config_dir(path, &ctx.global.dir);
    note(&format!(
        "Wrote {} token block(s) to {} for the import blocks without one.\n",
        blocks.len(),
        path.display()
    ))?;
    if inside {
        // The plan that follows loads it; a generated file that does not validate is not kept.
        reload(ctx, &args.select.vars, &[path])?;
        return Ok(Then::Plan);
    }
    note(&format!(
        "{} is not part of the configuration in {}: move it there (as a .hcl file), then plan again.",
        path.display(),
        ctx.global.dir.display()
    ))?;
    Ok(Then::Stop)
}
