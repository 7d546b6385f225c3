//! `tokenform init`: a starter `main.hcl` (a sample token, and a `state` block whose
//! recipient is the identity's), an age identity `tokenform.key` (0600) unless one
//! exists, and `.tokenform/` (the embedded emulator's data) and `tokenform.key` in `.gitignore`. Never
//! overwrites a file (`.gitignore` is appended to, once); never writes `main.hcl` into a
//! directory that already has a configuration.

use std::path::Path;

use super::Context;
use super::keygen::write_new_private_file;
use crate::ExitStatus;
use crate::state::identity::{generate_identity_file, recipients_of};

/// The identity file `init` creates in the config dir.
pub(super) const KEY_FILE: &str = "tokenform.key";

pub(super) fn run(ctx: &Context, _args: &crate::cli::InitArgs) -> miette::Result<ExitStatus> {
    let dir = &ctx.global.dir;
    std::fs::create_dir_all(dir).map_err(|e| {
        miette::miette!(code = "tokenform::init::io", "could not create {}: {e}", dir.display())
    })?;
    let say = |msg: String| {
        if !ctx.global.quiet {
            eprintln!("{msg}");
        }
    };

    let key_path = dir.join(KEY_FILE);
    let recipient = if key_path.exists() {
        let bytes =
            crate::files::read(&key_path, crate::files::Kind::Identity).map_err(miette::Report::new)?;
        let recipients = recipients_of(&bytes).map_err(|why| {
            miette::miette!(
                code = "tokenform::init::bad_key",
                help = "move it away, or write main.hcl by hand with its recipient",
                "{} exists but is not an age identity file: {why}",
                key_path.display()
            )
        })?;
        say(format!("{} exists; kept it.", key_path.display()));
        recipients.into_iter().next().ok_or_else(|| {
            miette::miette!(code = "tokenform::init::bad_key", "{} holds no identity", key_path.display())
        })?
    } else {
        let (text, recipient) = generate_identity_file(jiff::Timestamp::now());
        write_new_private_file(&key_path, text.as_bytes())?;
        say(format!(
            "Wrote the identity {} (mode 0600): keep it secret, out of version control.",
            key_path.display()
        ));
        recipient
    };

    if let Some(done) = ignore_embedded_data(&dir.join(".gitignore"))? {
        say(done);
    }

    let main = dir.join("main.hcl");
    if let Some(existing) = existing_config(dir) {
        say(format!("{existing} exists; left the configuration as it is. Add to its state block:"));
        say(format!("  recipients = [\"{recipient}\"]"));
    } else {
        write_new_file(&main, starter_config(&recipient).as_bytes())?;
        say(format!(
            "Wrote {}. Next: export LAUNCHDARKLY_ACCESS_TOKEN, then `tokenform plan`.",
            main.display()
        ));
    }
    Ok(ExitStatus::Success)
}

/// The line `init` keeps in `.gitignore`: the embedded emulator's data directory.
pub(super) const GITIGNORE_LINE: &str = ".tokenform/";

/// What `init` keeps out of git: (pattern, the comment above it). The identity is a private
/// key: committed, it opens every secret the state holds.
const IGNORED: [(&str, &str); 2] = [
    (GITIGNORE_LINE, "the embedded emulator's data (base_url = \"embedded\")"),
    (KEY_FILE, "the age identity init wrote: private, it opens the state's secrets"),
];

/// Whether a `.gitignore` line already ignores `pattern` (`.tokenform/` or `tokenform.key`)
/// at the config dir's root, in any of its usual spellings.
fn ignores(line: &str, pattern: &str) -> bool {
    // Leading blanks are part of a pattern in git; trailing ones are not.
    let line = line.trim_end();
    let name = line.strip_prefix('/').or_else(|| line.strip_prefix("**/")).unwrap_or(line);
    let bare = pattern.trim_end_matches('/');
    name == bare || (pattern.ends_with('/') && name == pattern)
}

/// Adds each of [`IGNORED`] to the `.gitignore` at `path` (creating it) unless a line
/// already ignores it; says what it did, or `None` when there was nothing to do.
fn ignore_embedded_data(path: &Path) -> miette::Result<Option<String>> {
    use std::fmt::Write as _;
    use std::io::Write as _;
    let existing =
        crate::files::read_optional(path, crate::files::Kind::Config).map_err(miette::Report::new)?;
    let io = |e: std::io::Error| {
        miette::miette!(code = "tokenform::init::io", "could not write {}: {e}", path.display())
    };
    let text = existing.as_ref().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
    let missing: Vec<&str> =
        IGNORED.iter().filter(|(p, _)| !text.lines().any(|l| ignores(l, p))).map(|(p, _)| *p).collect();
    if missing.is_empty() {
        return Ok(None);
    }
    let mut entry = String::new();
    for (p, why) in IGNORED.iter().filter(|(p, _)| missing.contains(p)) {
        let _ = writeln!(entry, "# {why}\n{p}");
    }
    let list = missing.join(", ");
    match existing {
        None => {
            write_new_file(path, entry.as_bytes())?;
            Ok(Some(format!("Wrote {} (ignoring {list}).", path.display())))
        }
        Some(bytes) => {
            let mut file = std::fs::OpenOptions::new().append(true).open(path).map_err(io)?;
            let sep = if bytes.is_empty() || bytes.ends_with(b"\n") { "" } else { "\n" };
            file.write_all(format!("{sep}{entry}").as_bytes()).map_err(io)?;
            Ok(Some(format!("Added {list} to {}.", path.display())))
        }
    }
}

/// The first `*.hcl` / `*.hcl.json` file of `dir`, if any.
fn existing_config(dir: &Path) -> Option<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        // The loader's rule: `*.hcl` and `*.hcl.json`, case-sensitive, hidden files skipped.
        .filter(|n| !n.starts_with('.'))
        .filter(|n| {
            let path = Path::new(n);
            path.extension().is_some_and(|e| e == "hcl")
                || (path.extension().is_some_and(|e| e == "json")
                    && Path::new(path.file_stem().unwrap_or_default())
                        .extension()
                        .is_some_and(|e| e == "hcl"))
        })
        .collect();
    names.sort();
    names.into_iter().next()
}

fn write_new_file(path: &Path, bytes: &[u8]) -> miette::Result<()> {
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(path).map_err(|e| {
        miette::miette!(code = "tokenform::init::io", "could not create {}: {e}", path.display())
    })?;
    file.write_all(bytes)
        .map_err(|e| miette::miette!(code = "tokenform::init::io", "could not write {}: {e}", path.display()))
}

/// The starter configuration, encrypting secrets to `recipient`.
pub(super) fn starter_config(recipient: &str) -> String {
    format!(
        r#"# tokenform configuration: every *.hcl file in this directory is read.
# `tokenform plan` shows what `tokenform apply` would change.

launchdarkly {{
  # The API token tokenform authenticates with is read from this env var.
  access_token_env = "LAUNCHDARKLY_ACCESS_TOKEN"
  # base_url = "embedded"   # try tokenform without an account: a local emulator
}}

state {{
  path = "tokenform.state.json"
  # Who can read the secrets in state: public keys only (`tokenform keygen` makes one).
  # The matching identity (tokenform.key) is needed only by `secret`, `output` and `rekey`.
  recipients = ["{recipient}"]
}}

token "ci_reader" {{
  description   = "Read-only token for CI"
  role          = "reader"
  service_token = true

  rotation {{
    every = "90d"
  }}
}}
"#
    )
}
