//! The files `adopt`, `migrate terraform` and `plan -generate-config-out` write: where
//! they go, that they never overwrite anything, and that what they wrote validates.
//! No generation here: that is `crate::onboard`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use miette::{Context as _, IntoDiagnostic as _};

use super::Context;
use crate::cli::VarArgs;
use crate::config::Config;

/// `explicit` as given (relative to the working directory, like `-out` and `-var-file`),
/// or `default_name` in the configuration directory.
pub(super) fn out_path(ctx: &Context, explicit: Option<&Path>, default_name: &str) -> PathBuf {
    explicit.map_or_else(|| ctx.global.dir.join(default_name), Path::to_path_buf)
}

/// Errors when `path` exists: generated files never replace anything.
pub(super) fn ensure_absent(path: &Path, flag: &str) -> miette::Result<()> {
    if std::fs::symlink_metadata(path).is_ok() {
        return Err(miette::miette!(
            code = "tokenform::onboard::file_exists",
            help = format!("tokenform never overwrites it: move it away, or name another file with {flag}"),
            "{} already exists",
            path.display()
        ));
    }
    Ok(())
}

/// True when `path` would be read as part of the configuration in `dir`.
pub(super) fn in_config_dir(path: &Path, dir: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let same = match (parent.canonicalize(), dir.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    same && crate::config::parse::is_config_file(name)
}

/// Creates `path` (it must not exist; never follows a symlink placed there) and writes `text`.
pub(super) fn write_new(path: &Path, text: &str) -> miette::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .into_diagnostic()
        .wrap_err_with(|| format!("could not create {}", path.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .into_diagnostic()
        .wrap_err_with(|| format!("could not write {}", path.display()))
}

/// Removes files this run created, when a later step failed (best effort: the error that
/// made it necessary is the one to report).
pub(super) fn remove_created(paths: &[&Path]) {
    for p in paths {
        let _ = std::fs::remove_file(p);
    }
}

/// Loads the configuration again with the new files in it; when it does not validate, the
/// new files are removed and the problems returned (a generated file that does not load
/// is a bug, and must not be left for the next command to trip over).
pub(super) fn reload(ctx: &Context, vars: &VarArgs, created: &[&Path]) -> miette::Result<Config> {
    crate::config::load(&ctx.global.dir, &ctx.var_inputs(vars)?).map_err(|e| {
        remove_created(created);
        miette::Report::new(e).wrap_err(
            "the generated configuration does not validate with the rest of the directory, so it was not kept",
        )
    })
}
