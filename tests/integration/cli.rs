//! Integration tests: the command line itself.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::support::tokenform;

/// `tokenform ARGS --help` at a fixed width (clap wraps to COLUMNS, at most 100), in an
/// empty environment (clap shows an `[env: NAME=value]` it finds set), with the version
/// filtered out.
fn help(args: &[&str]) -> String {
    let out = tokenform()
        .env_clear()
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100")
        .env("LINES", "50")
        .args(args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?} --help: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).replace(env!("CARGO_PKG_VERSION"), "[VERSION]")
}

/// The subcommands a help text lists under `Commands:` (`help` aside).
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|name| name != "help")
        .collect()
}

/// `--help` of the binary and of every subcommand, nested ones too, is a snapshot: a
/// changed flag, default or text shows up in review.
#[test]
fn help_of_every_command_is_snapshotted() {
    let top = help(&[]);
    let commands = subcommands(&top);
    for cmd in [
        "init",
        "keygen",
        "validate",
        "fmt",
        "plan",
        "apply",
        "destroy",
        "show",
        "drift",
        "check",
        "import",
        "adopt",
        "migrate",
        "state",
        "secret",
        "output",
        "rekey",
        "force-unlock",
        "dev-server",
        "completions",
    ] {
        assert!(top.contains(cmd), "{cmd} missing from --help");
        assert!(commands.iter().any(|c| c == cmd), "{cmd} missing from the Commands: list");
    }
    insta::assert_snapshot!("help", top);
    let mut todo: Vec<Vec<String>> = commands.into_iter().map(|c| vec![c]).collect();
    let mut seen = 0;
    while let Some(path) = todo.pop() {
        let args: Vec<&str> = path.iter().map(String::as_str).collect();
        let text = help(&args);
        for sub in subcommands(&text) {
            todo.push([path.clone(), vec![sub]].concat());
        }
        insta::assert_snapshot!(format!("help-{}", path.join("-")), text);
        seen += 1;
    }
    assert!(seen >= 20, "only {seen} subcommands found");
}

#[test]
fn completions_are_generated() {
    let out = tokenform().args(["completions", "bash"]).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("tokenform"));
}

#[test]
fn unknown_command_exits_nonzero_not_two() {
    let out = tokenform().arg("frobnicate").output().unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert_ne!(out.status.code(), Some(1 + 1));
}

#[test]
fn man_prints_the_top_page_or_writes_one_per_command() {
    let out = tokenform().arg("man").output().unwrap();
    assert!(out.status.success());
    let top = String::from_utf8_lossy(&out.stdout);
    assert!(top.contains(".TH tokenform 1") && top.contains("tokenform\\-plan(1)"), "{top}");

    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("man1");
    let out = tokenform().args(["man", "--out-dir"]).arg(&pages).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut names: Vec<String> = std::fs::read_dir(&pages)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in ["tokenform.1", "tokenform-apply.1", "tokenform-drift.1", "tokenform-state-pull.1"] {
        assert!(names.iter().any(|n| n == name), "{name}: {names:?}");
    }
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("Wrote {} man pages", names.len())));
    let apply = std::fs::read_to_string(pages.join("tokenform-apply.1")).unwrap();
    assert!(apply.contains("Examples:") && apply.contains("tokenform apply tf.plan"), "{apply}");
    // Where man(1) is installed, the page renders, examples and flags included.
    if let Ok(rendered) = std::process::Command::new("man")
        .arg("-l")
        .arg(pages.join("tokenform-apply.1"))
        .env("MANWIDTH", "100")
        .env("MANPAGER", "cat")
        .output()
        && rendered.status.success()
    {
        let text = String::from_utf8_lossy(&rendered.stdout);
        assert!(
            text.contains("--auto-approve") && text.contains("tokenform apply -json -auto-approve"),
            "{text}"
        );
    }
}

/// Addresses and durations are typed by clap (issue 12 item 5): a bad one is refused before
/// any file is read or request made, exit 1, with one code (and one help text) per kind.
#[test]
fn bad_addresses_and_durations_are_refused_while_parsing() {
    // No configuration directory at all: nothing may be read before the refusal.
    let missing = tempfile::tempdir().unwrap();
    let dir = missing.path().join("absent");
    let cases: &[(&[&str], &str, &str)] = &[
        (&["plan", "--target", "ci"], "tokenform::cli::bad_address", "--target: `ci`"),
        (&["apply", "--rotate", "token.a[x]"], "tokenform::cli::bad_address", "--rotate"),
        (&["destroy", "--target", "a.b"], "tokenform::cli::bad_address", "--target"),
        (&["import", "legacy", "61095542756dba551110ae21"], "tokenform::cli::bad_address", "ADDR: `legacy`"),
        (&["state", "mv", "token.a", "b"], "tokenform::cli::bad_address", "TO: `b`"),
        (&["secret", "token"], "tokenform::cli::bad_address", "ADDR"),
        (&["apply", "--lock-timeout", "soon"], "tokenform::cli::bad_duration", "--lock-timeout `soon`"),
        (&["check", "--max-rotation", "1y"], "tokenform::drift::bad_duration", "--max-rotation `1y`"),
        (&["plan", "--max-wait", "0s"], "tokenform::cli::max_wait", "`0s`"),
        (&["dev-server", "--listen", "localhost"], "tokenform::emulator::bad_listen", "`localhost`"),
        // Issue 10 §7: the same 1-64 range as `launchdarkly { parallelism }`.
        (&["apply", "--parallelism", "0"], "tokenform::cli::bad_parallelism", "from 1 to 64"),
        (&["apply", "--parallelism", "1000"], "tokenform::cli::bad_parallelism", "`1000`"),
        // Issue 10 §7: a missing plan file has its code and help, before anything else is read.
        (&["apply", "nonexist.json"], "tokenform::apply::no_plan_file", "tokenform plan -out FILE"),
    ];
    for (args, code, says) in cases {
        let out = tokenform().arg("-C").arg(&dir).args(*args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}\n{err}");
        assert!(err.contains(code) && err.contains(says), "{args:?}\n{err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    let out =
        tokenform().arg("-C").arg(&dir).arg("plan").env("TOKENFORM_MAX_WAIT", "later").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code() == Some(1) && err.contains("tokenform::cli::max_wait"), "{err}");
}

/// `plan` takes no write lock, so it takes no `--lock-timeout` (it used to accept and ignore it).
#[test]
fn plan_has_no_lock_timeout() {
    let out = tokenform().args(["plan", "--lock-timeout", "5s"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("--lock-timeout"), "{err}");
    let out = tokenform().args(["apply", "--help"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("--lock-timeout"));
}

/// Issue 10 §7: a closed stdout (`tokenform … | head -1`) is a quiet exit, for every
/// command: no panic (clap_complete's used to exit 101), no error, exit 0.
#[test]
fn a_closed_stdout_is_a_quiet_exit() {
    let dir = crate::support::config_dir(&[("main.hcl", "token \"a\" {\n  role = \"reader\"\n}\n")]);
    // The reader (`true`) is gone before tokenform writes: every write fails with EPIPE.
    let script = r#"for args in "completions bash" "man" "validate" "show" "--help"; do
  ( sleep 0.2; "$0" -C "$1" $args; echo "$args: exit $?" >&2 ) | true
done"#;
    let out = Command::new("bash")
        .args(["-c", script, crate::support::bin()])
        .arg(dir.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    for args in ["completions bash", "man", "validate", "show", "--help"] {
        assert!(err.contains(&format!("{args}: exit 0")), "{args}:\n{err}");
    }
    assert!(!err.contains("panicked") && !err.contains("Broken pipe") && !err.contains("×"), "{err}");
}

/// Issue 10 §7: `--listen localhost:PORT` is accepted (the name resolves to loopback).
#[test]
fn dev_server_listens_on_a_name_that_resolves_to_loopback() {
    let mut child = tokenform()
        .args(["dev-server", "--listen", "localhost:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let read = BufReader::new(child.stdout.take().unwrap()).read_line(&mut line);
    let _ = child.kill();
    let status = child.wait().unwrap();
    read.unwrap();
    assert!(
        line.starts_with("tokenform dev-server listening on http://127.0.0.1:")
            || line.starts_with("tokenform dev-server listening on http://[::1]:"),
        "{line:?} (exit {status})"
    );
}
