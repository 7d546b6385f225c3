//! The file sink: writes the secret under the configuration directory, atomically (a temp
//! file beside it, fsynced, renamed over it), mode 0600, creating its parent directories.
//! A reader sees the old file or the new one, never a half-written one.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Component, Path, PathBuf};

use zeroize::Zeroizing;

use super::DeliverError;
use super::sink::{FileFormat, FileSink};
use crate::secret::Secret;

/// The file's bytes.
pub(super) fn contents(sink: &FileSink, secret: &Secret) -> Zeroizing<Vec<u8>> {
    let s = secret.expose();
    Zeroizing::new(match sink.format {
        FileFormat::Raw => s.as_bytes().to_vec(),
        FileFormat::Dotenv => format!("{}={s}\n", sink.key).into_bytes(),
        FileFormat::Json => {
            // Serializing a str cannot fail; the quoted copy is zeroized like the rest.
            let quoted = Zeroizing::new(serde_json::to_string(s).unwrap_or_default());
            let key = serde_json::to_string(&sink.key).unwrap_or_default();
            format!("{{{key}:{}}}\n", quoted.as_str()).into_bytes()
        }
    })
}

/// True when `path` is relative and stays inside the directory it is relative to (no `..`,
/// no root, no prefix), and names a file (not empty, not `.`).
pub fn is_confined(path: &str) -> bool {
    let p = Path::new(path);
    let mut normal = 0;
    for c in p.components() {
        match c {
            Component::Normal(_) => normal += 1,
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    normal > 0 && !path.ends_with('/')
}

/// Writes the secret to `sink.path` under `dir`.
pub(super) fn write(sink: &FileSink, dir: &Path, secret: &Secret) -> Result<(), DeliverError> {
    let shown = sink.path.clone();
    if !is_confined(&sink.path) {
        return Err(DeliverError::Escapes { path: shown });
    }
    let err = |what: &'static str| {
        let path = shown.clone();
        move |source| DeliverError::Write { path, what, source }
    };
    let root = dir.canonicalize().map_err(err("find the configuration directory for"))?;
    let rel = Path::new(&sink.path);
    let name = rel.file_name().ok_or_else(|| DeliverError::Escapes { path: shown.clone() })?;
    let parent = root.join(rel.parent().unwrap_or(Path::new("")));
    std::fs::create_dir_all(&parent).map_err(err("create the directory of"))?;
    // A symlinked directory on the way may point anywhere: resolve it and check again.
    let parent = parent.canonicalize().map_err(err("find the directory of"))?;
    if !parent.starts_with(&root) {
        return Err(DeliverError::Escapes { path: shown });
    }
    let target = parent.join(name);
    let tmp = temp_path(&parent, name);
    let bytes = contents(sink, secret);
    let result = write_then_rename(&tmp, &target, &parent, &bytes).map_err(err("write"));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn temp_path(parent: &Path, name: &std::ffi::OsStr) -> PathBuf {
    let mut n = std::ffi::OsString::from(".");
    n.push(name);
    n.push(format!(".tmp-{}-{:016x}", std::process::id(), rand::random::<u64>()));
    parent.join(n)
}

fn write_then_rename(tmp: &Path, target: &Path, parent: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut file = opts.open(tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    // rename replaces a symlink at `target` itself, never the file it points to.
    std::fs::rename(tmp, target)?;
    std::fs::File::open(parent)?.sync_all()
}
