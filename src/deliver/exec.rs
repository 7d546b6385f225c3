//! The exec sink: runs the user's program (no shell) in the configuration directory with
//! the secret on stdin and only metadata in its environment, captures its output bounded and
//! redacted, and kills its whole process group at the timeout.

use std::ffi::OsString;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};

use super::sink::ExecSink;
use super::{DeliverError, Subject};
use crate::secret::Secret;

/// Bytes of each output stream kept for the user; the rest is read and dropped.
pub(super) const OUTPUT_LIMIT: usize = 16 * 1024;

/// Runs `sink` for `subject`. `env` is the cleared-down environment ([`super::child_env`]).
pub(super) async fn run(
    sink: &ExecSink,
    dir: &Path,
    env: &[(OsString, OsString)],
    subject: &Subject<'_>,
    secret: &Secret,
) -> Result<String, DeliverError> {
    let target = super::Sink::Exec(sink.clone()).target();
    let Some((program, args)) = sink.command.split_first() else {
        return Err(DeliverError::EmptyCommand);
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("TOKENFORM_ADDRESS", subject.address.to_string())
        .env("TOKENFORM_TOKEN_ID", subject.token_id)
        .env("TOKENFORM_TOKEN_NAME", subject.name)
        .env("TOKENFORM_EVENT", subject.event.as_str())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so a timeout kills whatever it started too.
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|source| DeliverError::Spawn { program: program.clone(), source })?;
    let pgid = child.id().and_then(|id| i32::try_from(id).ok());
    let (stdin, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    let limit = OUTPUT_LIMIT + secret.expose().len();

    let work = async {
        let feed = async {
            if let Some(mut stdin) = stdin {
                // A sink that never reads stdin closes it: a broken pipe is its business,
                // judged by its exit status.
                let _ = stdin.write_all(secret.expose().as_bytes()).await;
                let _ = stdin.shutdown().await;
            }
        };
        let (status, (), out, err) =
            tokio::join!(child.wait(), feed, capture(stdout, limit), capture(stderr, limit));
        (status, out, err)
    };
    let timeout = Duration::from_secs(sink.timeout_seconds);
    let Ok((status, out, err)) = tokio::time::timeout(timeout, work).await else {
        if let Some(pid) = pgid.and_then(rustix::process::Pid::from_raw) {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
        let _ = child.kill().await;
        return Err(DeliverError::Timeout { target, seconds: sink.timeout_seconds, output: String::new() });
    };
    let output = shown_output(&out, &err, secret);
    let status = status.map_err(|source| DeliverError::Wait { target: target.clone(), source })?;
    if status.success() {
        return Ok(output);
    }
    if let Some(code) = status.code() {
        Err(DeliverError::Exit { target, code, output })
    } else {
        let signal = std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0);
        Err(DeliverError::Signal { target, signal, output })
    }
}

/// Reads `from` to its end, keeping the first `limit` bytes.
async fn capture(from: Option<impl AsyncRead + Unpin>, limit: usize) -> (Vec<u8>, bool) {
    let Some(mut from) = from else { return (Vec::new(), false) };
    let mut kept = Vec::new();
    let mut cut = false;
    let mut buf = vec![0u8; 8192];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = limit.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
                cut |= n > room;
            }
        }
    }
    (kept, cut)
}

/// stdout then stderr, as text, every copy of the secret (and anything shaped like one)
/// replaced, then cut to [`OUTPUT_LIMIT`] bytes each. Redacting before cutting means a
/// secret straddling the cut is never shown in part.
pub(super) fn shown_output(out: &(Vec<u8>, bool), err: &(Vec<u8>, bool), secret: &Secret) -> String {
    let mut shown = String::new();
    for (bytes, cut) in [out, err] {
        let text = redact(&String::from_utf8_lossy(bytes), secret);
        let mut end = text.len().min(OUTPUT_LIMIT);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        shown.push_str(&text[..end]);
        if *cut || end < text.len() {
            shown.push_str("\n(output cut)\n");
        }
    }
    shown
}

/// `text` with every copy of `secret` and every secret-shaped run replaced.
pub(super) fn redact(text: &str, secret: &Secret) -> String {
    let s = secret.expose();
    let text = if s.is_empty() { text.to_owned() } else { text.replace(s, "(sensitive value)") };
    crate::secret::redact_secrets(&text)
}
