//! `tokenform man [--out-dir DIR]`: man pages (roff) generated from the clap definitions, so
//! they never disagree with `--help`: tokenform.1 on stdout, or one page per command.

use std::path::Path;

use clap::CommandFactory;
use miette::{Context as _, IntoDiagnostic as _};

use super::Context;
use crate::ExitStatus;
use crate::cli::{Cli, ManArgs};

/// Every page: (file name, roff), tokenform.1 first, then each command and subcommand
/// (`tokenform-state-list.1`), hidden ones left out.
pub(crate) fn pages() -> Vec<(String, String)> {
    fn walk(cmd: &clap::Command, out: &mut Vec<(String, String)>) {
        let man = clap_mangen::Man::new(cmd.clone())
            .manual("tokenform manual")
            .source(concat!("tokenform ", env!("CARGO_PKG_VERSION")));
        let mut roff = Vec::new();
        // Into a Vec: writing cannot fail.
        let _ = man.render(&mut roff);
        out.push((man.get_filename(), String::from_utf8_lossy(&roff).into_owned()));
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            walk(sub, out);
        }
    }
    let mut cmd = Cli::command().disable_help_subcommand(true);
    // Gives subcommands their display names (`tokenform-state-list`) and global flags.
    cmd.build();
    let mut out = Vec::new();
    walk(&cmd, &mut out);
    out
}

pub(super) fn run(ctx: &Context, args: &ManArgs) -> miette::Result<ExitStatus> {
    let pages = pages();
    let Some(dir) = &args.out_dir else {
        let top = pages.first().map(|(_, roff)| roff.as_str()).unwrap_or_default();
        super::print(top)?;
        return Ok(ExitStatus::Success);
    };
    write_pages(dir, &pages)?;
    if !ctx.global.quiet {
        super::print(&format!("Wrote {} man pages to {}.\n", pages.len(), dir.display()))?;
    }
    Ok(ExitStatus::Success)
}

fn write_pages(dir: &Path, pages: &[(String, String)]) -> miette::Result<()> {
    std::fs::create_dir_all(dir)
        .into_diagnostic()
        .wrap_err_with(|| format!("could not create {}", dir.display()))?;
    for (name, roff) in pages {
        let path = dir.join(name);
        std::fs::write(&path, roff)
            .into_diagnostic()
            .wrap_err_with(|| format!("could not write {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    #[test]
    fn a_page_per_command_with_its_flags_and_examples() {
        let pages = super::pages();
        let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names[0], "tokenform.1");
        for name in
            ["tokenform-plan.1", "tokenform-state-list.1", "tokenform-migrate-terraform.1", "tokenform-man.1"]
        {
            assert!(names.contains(&name), "{name} missing: {names:?}");
        }
        assert!(!names.iter().any(|n| n.starts_with("tokenform-help")), "{names:?}");
        let page = |name: &str| &pages.iter().find(|(n, _)| n == name).unwrap().1;
        for (_, roff) in &pages {
            assert!(roff.starts_with(".ie \\n(.g .ds Aq") || roff.contains(".TH "), "{roff}");
        }
        let plan = page("tokenform-plan.1");
        assert!(plan.contains(".TH tokenform-plan 1"), "{plan}");
        assert!(plan.contains(concat!("\"tokenform ", env!("CARGO_PKG_VERSION"), "\"")), "{plan}");
        // roff spells '-' as '\-'.
        assert!(plan.contains("\\-\\-detailed\\-exitcode") && plan.contains("json\\-stream"), "{plan}");
        assert!(plan.contains("tokenform plan \\-out tf.plan"), "the examples: {plan}");
        // Global flags are on every page.
        assert!(plan.contains("\\-\\-dir"), "{plan}");
        assert!(page("tokenform.1").contains("tokenform\\-plan(1)"), "the top page lists the commands");
    }
}
