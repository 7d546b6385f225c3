//! Integration tests: the command line itself.

use crate::support::tokenform;

#[test]
fn help_lists_every_command() {
    let out = tokenform().arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
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
        assert!(help.contains(cmd), "{cmd} missing from --help");
    }
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
