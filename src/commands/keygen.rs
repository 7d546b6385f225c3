//! `tokenform keygen [-o FILE]`: a new age X25519 identity in the `age-keygen` format.
//! With `-o` the identity goes to FILE (0600, never overwritten) and the recipient to
//! stdout; without, the identity goes to stdout and the recipient to stderr.

use std::io::Write as _;
use std::path::Path;

use super::Context;
use crate::ExitStatus;
use crate::state::identity::generate_identity_file;

pub(super) fn run(ctx: &Context, args: &crate::cli::KeygenArgs) -> miette::Result<ExitStatus> {
    let (text, recipient) = generate_identity_file(jiff::Timestamp::now());
    if let Some(path) = &args.output {
        write_new_private_file(path, text.as_bytes())?;
        if !ctx.global.quiet {
            eprintln!("Wrote the identity to {} (keep it secret). Its recipient:", path.display());
        }
        super::print(&format!("{recipient}\n"))?;
    } else {
        super::print(&text)?;
        eprintln!("Public key: {recipient}");
    }
    Ok(ExitStatus::Success)
}

/// Creates `path` with mode 0600 and `bytes`; refuses when it exists.
pub(super) fn write_new_private_file(path: &Path, bytes: &[u8]) -> miette::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut file = opts.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            miette::miette!(
                code = "tokenform::keygen::exists",
                help = "tokenform never overwrites an identity; choose another file name",
                "{} already exists",
                path.display()
            )
        } else {
            miette::miette!(code = "tokenform::keygen::io", "could not create {}: {e}", path.display())
        }
    })?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(|e| {
        miette::miette!(code = "tokenform::keygen::io", "could not write {}: {e}", path.display())
    })
}
