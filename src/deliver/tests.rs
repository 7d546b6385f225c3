//! The sinks against real processes and files in a temp directory.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use super::*;

const SECRET: &str = "api-0a1b2c3d-0000-4000-8000-00000000beef";

fn subject(address: &Address) -> Subject<'_> {
    Subject { address, token_id: "61095542756dba551110ae21", name: "ci-reader", event: Event::Rotate }
}

fn exec(command: &[&str], timeout_seconds: u64) -> Sink {
    Sink::Exec(ExecSink { command: command.iter().map(|s| (*s).to_owned()).collect(), timeout_seconds })
}

/// A sink script that records its argv, stdin, environment and working directory beside
/// itself, echoes what it read, then runs `tail` (shell code).
fn script(dir: &Path, tail: &str) -> String {
    let path = dir.join("sink.sh");
    let body = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$@\" > argv.txt\ncat > stdin.txt\nenv > env.txt\npwd > cwd.txt\necho \"got: $(cat stdin.txt)\"\n{tail}\n"
    );
    std::fs::write(&path, body).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

fn runner(dir: &Path) -> Runner {
    let vars: Vec<(OsString, OsString)> = [
        ("PATH", std::env::var("PATH").unwrap_or_default()),
        ("LAUNCHDARKLY_ACCESS_TOKEN", "api-11111111-2222-4333-8444-555555555555".to_owned()),
        ("MY_LD", "api-11111111-2222-4333-8444-555555555555".to_owned()),
        ("TOKENFORM_IDENTITY", "AGE-SECRET-KEY-1XYZ".to_owned()),
        ("GH_TOKEN", "ghp_kept".to_owned()),
        ("CUSTOM_LD_ENV", "whatever".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.into(), v.into()))
    .collect();
    Runner::new(dir, child_env(vars, &["CUSTOM_LD_ENV"]))
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap()
}

#[tokio::test]
async fn an_exec_sink_gets_the_secret_on_stdin_only() {
    let dir = tempfile::tempdir().unwrap();
    let sh = script(dir.path(), "");
    let address = Address::new("ci_reader");
    let out = runner(dir.path())
        .deliver(&exec(&[&sh, "set", "LD TOKEN"], 30), &subject(&address), &Secret::new(SECRET))
        .await
        .unwrap();
    assert_eq!(read(dir.path(), "stdin.txt"), SECRET, "exactly the secret, no newline");
    assert_eq!(read(dir.path(), "argv.txt"), "set\nLD TOKEN\n", "arguments as written, no shell");
    assert_eq!(
        Path::new(read(dir.path(), "cwd.txt").trim()).canonicalize().unwrap(),
        dir.path().canonicalize().unwrap()
    );
    let env = read(dir.path(), "env.txt");
    for want in [
        "TOKENFORM_ADDRESS=token.ci_reader",
        "TOKENFORM_TOKEN_ID=61095542756dba551110ae21",
        "TOKENFORM_TOKEN_NAME=ci-reader",
        "TOKENFORM_EVENT=rotate",
        "GH_TOKEN=ghp_kept",
    ] {
        assert!(env.lines().any(|l| l == want), "{want} missing from\n{env}");
    }
    for gone in ["LAUNCHDARKLY_ACCESS_TOKEN", "MY_LD=", "TOKENFORM_IDENTITY", "CUSTOM_LD_ENV", "api-"] {
        assert!(!env.contains(gone), "{gone} reached the sink:\n{env}");
    }
    assert!(!env.contains("beef") && !read(dir.path(), "argv.txt").contains("beef"));
    assert_eq!(out.trim(), "got: (sensitive value)", "the echo is redacted");
}

#[tokio::test]
async fn a_failing_exec_sink_is_an_error_with_redacted_output() {
    let dir = tempfile::tempdir().unwrap();
    let sh = script(dir.path(), "echo \"oops $(cat stdin.txt)\" >&2\nexit 3");
    let address = Address::new("x");
    let err = runner(dir.path())
        .deliver(&exec(&[&sh], 30), &subject(&address), &Secret::new(SECRET))
        .await
        .unwrap_err();
    assert!(matches!(err, DeliverError::Exit { code: 3, .. }), "{err:?}");
    assert!(err.output().contains("oops (sensitive value)"), "{}", err.output());
    assert!(!format!("{err:?} {err}").contains("beef"));

    let sh = script(dir.path(), "kill -TERM $$");
    let err = runner(dir.path())
        .deliver(&exec(&[&sh], 30), &subject(&address), &Secret::new(SECRET))
        .await
        .unwrap_err();
    assert!(matches!(err, DeliverError::Signal { signal: 15, .. }), "{err:?}");

    let err = runner(dir.path())
        .deliver(&exec(&["./no-such-program"], 30), &subject(&address), &Secret::new(SECRET))
        .await
        .unwrap_err();
    assert!(matches!(err, DeliverError::Spawn { .. }), "{err:?}");
}

#[tokio::test]
async fn a_hanging_exec_sink_is_killed_with_its_process_group() {
    let dir = tempfile::tempdir().unwrap();
    // The grandchild would outlive a kill of the child alone.
    let sh = script(dir.path(), "sleep 120 &\necho $! > grandchild.txt\nwait");
    let address = Address::new("x");
    let err = runner(dir.path())
        .deliver(&exec(&[&sh], 1), &subject(&address), &Secret::new(SECRET))
        .await
        .unwrap_err();
    assert!(matches!(err, DeliverError::Timeout { seconds: 1, .. }), "{err:?}");
    let pid = read(dir.path(), "grandchild.txt");
    // Gone, or a zombie waiting for its reaper: either way no longer running. SIGKILL
    // lands when the process is next scheduled, which on a loaded machine takes a moment.
    let mut stat = String::new();
    for _ in 0..200 {
        stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
        let state = stat.rsplit(')').next().unwrap_or("").trim_start().chars().next();
        if matches!(state, None | Some('Z' | 'X')) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the grandchild still runs: {stat}");
}

#[tokio::test]
async fn exec_output_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let sh = script(
        dir.path(),
        "i=0; while [ $i -lt 3000 ]; do echo 0123456789012345678901234567890123456789; i=$((i+1)); done",
    );
    let address = Address::new("x");
    let out = runner(dir.path())
        .deliver(&exec(&[&sh], 30), &subject(&address), &Secret::new(SECRET))
        .await
        .unwrap();
    assert!(out.len() <= exec::OUTPUT_LIMIT + 100, "{}", out.len());
    assert!(out.contains("(output cut)"));
}

#[test]
fn a_secret_straddling_the_cut_is_never_shown_in_part() {
    let mut out = "x".repeat(exec::OUTPUT_LIMIT - 10).into_bytes();
    out.extend_from_slice(SECRET.as_bytes());
    let shown = exec::shown_output(&(out, false), &(Vec::new(), false), &Secret::new(SECRET));
    assert!(!shown.contains("api-0a1b"), "a prefix of the secret is shown");
    assert!(shown.contains("(output cut)"));
}

fn file(path: &str, format: FileFormat, key: &str) -> Sink {
    Sink::File(FileSink { path: path.into(), format, key: key.into() })
}

#[tokio::test]
async fn a_file_sink_writes_0600_atomically_in_each_format() {
    let dir = tempfile::tempdir().unwrap();
    let address = Address::new("ci");
    let r = runner(dir.path());
    for (format, want) in [
        (FileFormat::Raw, SECRET.to_owned()),
        (FileFormat::Dotenv, format!("CI_TOKEN={SECRET}\n")),
        (FileFormat::Json, format!("{{\"CI_TOKEN\":\"{SECRET}\"}}\n")),
    ] {
        r.deliver(&file("out/deep/ci.txt", format, "CI_TOKEN"), &subject(&address), &Secret::new(SECRET))
            .await
            .unwrap();
        let path = dir.path().join("out/deep/ci.txt");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), want, "{format:?}");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let left: Vec<_> =
        std::fs::read_dir(dir.path().join("out/deep")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, [std::ffi::OsString::from("ci.txt")], "no temp file is left");
}

#[tokio::test]
async fn a_file_sink_never_writes_outside_the_configuration_directory() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::create_dir(&config).unwrap();
    std::os::unix::fs::symlink(outside.path(), config.join("link")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("victim"), config.join("victim")).unwrap();
    let address = Address::new("ci");
    let r = runner(&config);
    for path in ["../x", "/tmp/x", "link/x"] {
        let err = r
            .deliver(&file(path, FileFormat::Raw, "K"), &subject(&address), &Secret::new(SECRET))
            .await
            .unwrap_err();
        assert!(matches!(err, DeliverError::Escapes { .. }), "{path}: {err:?}");
    }
    // A symlink in the file's own place is replaced, not followed.
    r.deliver(&file("victim", FileFormat::Raw, "K"), &subject(&address), &Secret::new(SECRET)).await.unwrap();
    assert!(!outside.path().join("victim").exists());
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    assert_eq!(std::fs::read_to_string(config.join("victim")).unwrap(), SECRET);
}

#[test]
fn confinement_is_lexical_too() {
    for ok in ["a", "out/ci.env", "./a/b"] {
        assert!(is_confined(ok), "{ok}");
    }
    for bad in ["", ".", "..", "../a", "a/../../b", "/etc/passwd", "a/", "a/.."] {
        assert!(!is_confined(bad), "{bad}");
    }
}
