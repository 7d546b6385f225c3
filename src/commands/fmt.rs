//! `tokenform fmt [--check]`: rewrites the `*.hcl` files of the config dir in canonical
//! layout (comments kept) and names each file it changed; `--check` only names the files that
//! are not formatted and exits 1 if any. `*.hcl.json` files are left alone.

use std::io::Write;

use super::Context;
use crate::ExitStatus;
use crate::config::diagnostics::{self, Problem, Rule, SourceFile};
use crate::config::format::{FormatError, format_source};

#[allow(clippy::unnecessary_wraps)] // every command has this signature
pub(super) fn run(ctx: &Context, args: &crate::cli::FmtArgs) -> miette::Result<ExitStatus> {
    let dir = &ctx.global.dir;
    let mut problems = Vec::new();
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .filter(|e| e.path().is_file())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| {
                std::path::Path::new(n).extension().is_some_and(|x| x == "hcl") && !n.starts_with('.')
            })
            .collect(),
        Err(e) => {
            problems.push(Problem::new(Rule::DirNotFound, format!("cannot read {}: {e}", dir.display())));
            Vec::new()
        }
    };
    names.sort();
    let mut unformatted = Vec::new();
    for name in &names {
        let path = dir.join(name);
        let text = match crate::files::read(&path, crate::files::Kind::Config)
            .map(|b| String::from_utf8(b.to_vec()))
        {
            Ok(Ok(t)) => t,
            Ok(Err(_)) => {
                problems.push(Problem::new(
                    Rule::InvalidUtf8,
                    format!("{} is not valid UTF-8", crate::escape::text(name)),
                ));
                continue;
            }
            Err(e) => {
                problems.push(Problem::new(Rule::ReadError, e.to_string()));
                continue;
            }
        };
        match format_source(&text) {
            Ok(out) if out == text => {}
            Ok(out) => {
                if !args.check
                    && let Err(e) = write_atomic(&path, &out)
                {
                    problems.push(Problem::new(Rule::ReadError, format!("cannot write {name}: {e}")));
                    continue;
                }
                unformatted.push(name.clone());
            }
            Err(FormatError::Syntax { message, offset, .. }) => {
                let src = SourceFile::new(name, &text);
                let end = (offset + 1..=text.len()).find(|e| text.is_char_boundary(*e)).unwrap_or(offset);
                problems.push(
                    Problem::at(
                        Rule::Syntax,
                        format!("syntax error in {name}: {message}"),
                        &src,
                        offset..end,
                        message,
                    )
                    .with_help("fmt only formats files that parse; `tokenform validate` shows every problem"),
                );
            }
            Err(e @ FormatError::Changed) => {
                problems.push(Problem::new(Rule::Syntax, format!("{name}: {e}")));
            }
        }
    }
    let mut out = std::io::stdout().lock();
    if !ctx.global.quiet || args.check {
        for name in &unformatted {
            let _ = writeln!(out, "{}", dir.join(name).display());
        }
    }
    if !problems.is_empty() {
        let _ = write!(std::io::stderr().lock(), "{}", diagnostics::render(&problems, ctx.color));
        return Ok(ExitStatus::Error);
    }
    Ok(if args.check && !unformatted.is_empty() { ExitStatus::Error } else { ExitStatus::Success })
}

/// Replaces `path` through a temporary file and a rename, keeping its permissions, so an
/// interrupted `fmt` never leaves a half-written configuration.
fn write_atomic(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("hcl.fmt-tmp");
    std::fs::write(&tmp, text)?;
    if let Ok(meta) = std::fs::metadata(path) {
        std::fs::set_permissions(&tmp, meta.permissions())?;
    }
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}
