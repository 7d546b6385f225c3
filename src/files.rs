//! Reading the files tokenform is told to read (by the configuration, the command line or
//! the environment) as untrusted input. Every read is bounded by a cap for its [`Kind`];
//! only regular files are read (a device such as `/dev/zero`, a FIFO or a directory is
//! refused before a byte is read, and a FIFO is opened without waiting for a writer); a
//! path the configuration names is [`confine`]d to the configuration directory (no
//! absolute path, no `..`, no symbolic link leading out). Errors name the path and the
//! cap and never quote the file.
//!
//! Knows nothing of what the files mean; decides nothing but whether to read them.

use std::fmt;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use zeroize::Zeroizing;

const MIB: u64 = 1024 * 1024;

/// What a file is, which sets how much of it tokenform reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A `*.hcl` / `*.hcl.json` file of the configuration directory.
    Config,
    /// A `-var-file`.
    VarFile,
    /// `state { recipients_file = … }`.
    Recipients,
    /// A state file (or one of its backups), local or pushed.
    State,
    /// The journal beside a local state file.
    Journal,
    /// A plan saved by `plan -out`.
    Plan,
    /// An age identity file or an OpenSSH private key.
    Identity,
    /// A Terraform state read by onboarding.
    TerraformState,
    /// The embedded emulator's seed or data file.
    EmulatorData,
    /// A file holding one access token (the emulator's admin token).
    TokenFile,
    /// A PEM file of CA certificates.
    Certificates,
}

impl Kind {
    /// The most bytes read for this kind. State, journal and plan are sized for 100,000
    /// tokens (~11 KB a token at most in `BENCHMARKS.md`'s measures: 150 MB for a
    /// 100,000-token state with `encrypt = "file"`, ~120 MB of journal for as many creates).
    pub const fn cap(self) -> u64 {
        match self {
            Kind::Config | Kind::VarFile => 32 * MIB,
            Kind::State | Kind::Journal | Kind::Plan | Kind::EmulatorData => 256 * MIB,
            // Only access tokens are wanted: filter a larger state with jq first (the error says how).
            Kind::TerraformState => 8 * MIB,
            Kind::Recipients | Kind::Identity => MIB,
            Kind::Certificates => 4 * MIB,
            Kind::TokenFile => 4096,
        }
    }

    /// How errors name it.
    pub const fn noun(self) -> &'static str {
        match self {
            Kind::Config => "a configuration file",
            Kind::VarFile => "a var file",
            Kind::Recipients => "a recipients file",
            Kind::State => "a state file",
            Kind::Journal => "a state journal",
            Kind::Plan => "a plan file",
            Kind::Identity => "an identity file",
            Kind::TerraformState => "a Terraform state",
            Kind::EmulatorData => "an emulator data file",
            Kind::TokenFile => "a token file",
            Kind::Certificates => "a certificate file",
        }
    }
}

/// A byte count for people: `256 MiB`, `4096 bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 >= MIB && self.0.is_multiple_of(MIB) {
            write!(f, "{} MiB", self.0 / MIB)
        } else {
            write!(f, "{} bytes", self.0)
        }
    }
}

/// A path as errors show it: control characters escaped.
fn shown(path: &Path) -> String {
    crate::escape::text(&path.display().to_string()).into_owned()
}

/// Why a file was not read.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum FileError {
    #[error("{} is larger than {cap}, more than tokenform reads for {}", shown(path), kind.noun())]
    #[diagnostic(
        code(tokenform::file::too_large),
        help("this is not {}; check the path", kind.noun())
    )]
    TooLarge { path: PathBuf, kind: Kind, cap: Size },

    #[error("{} is {what}, not a regular file; tokenform reads {} only from a regular file", shown(path), kind.noun())]
    #[diagnostic(
        code(tokenform::file::not_regular),
        help("name a regular file (not a device, FIFO, socket or directory)")
    )]
    NotRegular { path: PathBuf, kind: Kind, what: &'static str },

    #[error("cannot read {} ({}): {source}", shown(path), kind.noun())]
    #[diagnostic(code(tokenform::file::unreadable))]
    Io {
        path: PathBuf,
        kind: Kind,
        #[source]
        source: std::io::Error,
    },
}

impl FileError {
    /// True when the file does not exist (callers for which absence is normal).
    pub fn is_not_found(&self) -> bool {
        matches!(self, FileError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

/// Why a path the configuration names is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} is outside the configuration directory: {why}", crate::escape::quoted(named))]
pub struct OutsideError {
    /// The path as the configuration wrote it.
    pub named: String,
    pub why: Outside,
}

/// How a path leaves the configuration directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outside {
    Absolute,
    ParentDir,
    SymlinkOut,
}

impl fmt::Display for Outside {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outside::Absolute => "it is an absolute path",
            Outside::ParentDir => "it goes up with `..`",
            Outside::SymlinkOut => "a symbolic link on it leads out of the directory (or nowhere)",
        })
    }
}

/// `dir/named`, when `named` stays inside `dir`: relative, without `..`, and with every
/// part that exists resolving (symbolic links followed) inside `dir`. The file itself
/// need not exist (a state file before the first apply). The path returned is the
/// joined one, not the resolved one, so messages show what the configuration wrote.
pub fn confine(dir: &Path, named: &str) -> Result<PathBuf, OutsideError> {
    let refuse = |why| OutsideError { named: named.to_owned(), why };
    let rel = Path::new(named);
    for c in rel.components() {
        match c {
            Component::Prefix(_) | Component::RootDir => return Err(refuse(Outside::Absolute)),
            Component::ParentDir => return Err(refuse(Outside::ParentDir)),
            Component::CurDir | Component::Normal(_) => {}
        }
    }
    let joined = dir.join(rel);
    // The deepest part that exists (as a name: a dangling link exists) decides.
    let Some(existing) = joined.ancestors().find(|p| std::fs::symlink_metadata(p).is_ok()) else {
        return Ok(joined);
    };
    let (Ok(root), resolved) = (std::fs::canonicalize(dir), std::fs::canonicalize(existing)) else {
        // The directory itself is unreadable: loading it reports that.
        return Ok(joined);
    };
    match resolved {
        Ok(r) if r.starts_with(&root) => Ok(joined),
        _ => Err(refuse(Outside::SymlinkOut)),
    }
}

/// Reads all of `path` (a regular file, at most `kind.cap()` bytes). The buffer is zeroized
/// when dropped: state, identity and Terraform files hold secrets.
pub fn read(path: &Path, kind: Kind) -> Result<Zeroizing<Vec<u8>>, FileError> {
    read_with_metadata(path, kind).map(|(bytes, _)| bytes)
}

/// [`read`], with the metadata of the very file read (not of the path, which another
/// process may replace in between).
pub fn read_with_metadata(
    path: &Path,
    kind: Kind,
) -> Result<(Zeroizing<Vec<u8>>, std::fs::Metadata), FileError> {
    let io = |source| FileError::Io { path: path.to_owned(), kind, source };
    let file = open_no_wait(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(FileError::NotRegular { path: path.to_owned(), kind, what: what_is(&meta) });
    }
    let cap = kind.cap();
    let too_large = || FileError::TooLarge { path: path.to_owned(), kind, cap: Size(cap) };
    if meta.len() > cap {
        return Err(too_large());
    }
    // Sized from the metadata (not the cap): a zeroizing buffer wipes its whole capacity.
    let hint = usize::try_from(meta.len().saturating_add(1)).unwrap_or(usize::MAX);
    let bytes = read_limited_into(file, cap, Zeroizing::new(Vec::with_capacity(hint)))
        .map_err(io)?
        .ok_or_else(too_large)?;
    Ok((bytes, meta))
}

/// [`read`], with `None` when the file does not exist.
pub fn read_optional(path: &Path, kind: Kind) -> Result<Option<Zeroizing<Vec<u8>>>, FileError> {
    match read(path, kind) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// [`read`] as UTF-8 text; invalid UTF-8 is an I/O error of kind `InvalidData`.
pub fn read_text(path: &Path, kind: Kind) -> Result<Zeroizing<String>, FileError> {
    let mut bytes = read(path, kind)?;
    match String::from_utf8(std::mem::take(&mut *bytes)) {
        Ok(text) => Ok(Zeroizing::new(text)),
        Err(e) => {
            // Wipe what was read before reporting.
            drop(Zeroizing::new(e.into_bytes()));
            Err(FileError::Io {
                path: path.to_owned(),
                kind,
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, "it is not UTF-8 text"),
            })
        }
    }
}

/// Reads `reader` to its end, or `None` once it has given more than `limit` bytes (for
/// standard input, where no metadata says how much comes).
pub fn read_limited(reader: impl Read, limit: u64) -> std::io::Result<Option<Zeroizing<Vec<u8>>>> {
    read_limited_into(reader, limit, Zeroizing::new(Vec::new()))
}

fn read_limited_into(
    reader: impl Read,
    limit: u64,
    mut buf: Zeroizing<Vec<u8>>,
) -> std::io::Result<Option<Zeroizing<Vec<u8>>>> {
    reader.take(limit.saturating_add(1)).read_to_end(&mut buf)?;
    if buf.len() as u64 > limit { Ok(None) } else { Ok(Some(buf)) }
}

/// Opens for reading without blocking on a FIFO that has no writer (the type check after
/// opening then refuses it); reads of a regular file are unaffected by the flag.
fn open_no_wait(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    options.open(path)
}

fn what_is(meta: &std::fs::Metadata) -> &'static str {
    if meta.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    "not a regular file"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_up_to_the_cap_and_no_further() {
        assert_eq!(&read_limited(&b"12345"[..], 5).unwrap().unwrap()[..], b"12345");
        assert!(read_limited(&b"123456"[..], 5).unwrap().is_none());
        assert!(read_limited(std::io::repeat(b'x'), 1024).unwrap().is_none(), "an endless reader stops");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, vec![b'a'; 4097]).unwrap();
        let err = read(&path, Kind::TokenFile).unwrap_err();
        assert!(matches!(err, FileError::TooLarge { cap: Size(4096), .. }), "{err}");
        assert!(
            err.to_string().contains("larger than 4096 bytes, more than tokenform reads for a token file")
        );
        std::fs::write(&path, b"ok").unwrap();
        assert_eq!(&read(&path, Kind::TokenFile).unwrap()[..], b"ok");
        assert!(read_optional(&dir.path().join("absent"), Kind::State).unwrap().is_none());
    }

    #[cfg(unix)]
    #[test]
    fn devices_fifos_and_directories_are_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        for (path, what) in [(Path::new("/dev/zero"), "a device"), (dir.path(), "a directory")] {
            let err = read(path, Kind::State).unwrap_err();
            assert!(matches!(err, FileError::NotRegular { what: w, .. } if w == what), "{err}");
        }
        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        // No writer ever opens it: a blocking open would hang here.
        let err = read(&fifo, Kind::Recipients).unwrap_err();
        assert!(matches!(err, FileError::NotRegular { what: "a FIFO", .. }), "{err}");
        assert!(
            err.to_string().contains("tokenform reads a recipients file only from a regular file"),
            "{err}"
        );
    }

    #[test]
    fn confine_keeps_paths_inside_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("sub")).unwrap();
        assert_eq!(confine(d, "r.txt").unwrap(), d.join("r.txt"));
        assert_eq!(confine(d, "sub/new/state.json").unwrap(), d.join("sub/new/state.json"));
        assert_eq!(confine(d, "./r.txt").unwrap(), d.join("./r.txt"));
        let why = |named: &str| confine(d, named).unwrap_err().why;
        assert_eq!(why("/etc/passwd"), Outside::Absolute);
        assert_eq!(why("../../victim.json"), Outside::ParentDir);
        assert_eq!(why("sub/../r.txt"), Outside::ParentDir);
        let err = confine(d, "/proc/self/environ").unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"/proc/self/environ\" is outside the configuration directory: it is an absolute path"
        );
    }

    #[cfg(unix)]
    #[test]
    fn confine_follows_symbolic_links() {
        let outside = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(outside.path().join("secret"), "x").unwrap();
        std::fs::write(d.join("inside.txt"), "x").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), d.join("out.txt")).unwrap();
        std::os::unix::fs::symlink(outside.path(), d.join("outdir")).unwrap();
        std::os::unix::fs::symlink(d.join("inside.txt"), d.join("in.txt")).unwrap();
        std::os::unix::fs::symlink("/nonexistent/x", d.join("dangling")).unwrap();
        assert!(confine(d, "in.txt").is_ok(), "a link inside is fine");
        for named in ["out.txt", "outdir/secret", "outdir/new.json", "dangling"] {
            assert_eq!(confine(d, named).unwrap_err().why, Outside::SymlinkOut, "{named}");
        }
    }
}
