//! Where the credential may go (issue 11 item 6), through the real binary: `validate` refuses
//! exactly the base URLs `plan` refuses, only the environment can allow another host, and a
//! value that is not an `api-…` token is never sent nor printed. The only server is a
//! listener on 127.0.0.1 that records whether anything connected.

use std::net::TcpListener;
use std::path::Path;

use crate::support::{config_dir, stderr, tokenform, words};

fn main_hcl(base_url: &str, extra: &str) -> String {
    format!(
        "launchdarkly {{\n  base_url = \"{base_url}\"\n{extra}}}\n\nstate {{\n  recipients = [\"age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\"]\n}}\n\ntoken \"ci\" {{\n  role = \"reader\"\n}}\n"
    )
}

/// (exit code, stderr) of `tokenform -C dir ARGS` with `env` set.
fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = tokenform();
    cmd.arg("-C").arg(dir).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    // miette wraps long lines: compare words, not layout.
    (out.status.code().unwrap_or(-1), words(&stderr(&out)))
}

const TOKEN: (&str, &str) = ("LAUNCHDARKLY_ACCESS_TOKEN", "api-0a1b2c3d-0000-4000-8000-00000000beef");

#[test]
fn validate_refuses_every_base_url_plan_refuses() {
    // `.invalid` never resolves (RFC 2606): a broken check could not reach anyone either.
    for (url, code) in [
        ("https://app.launchdarkly.com.evil.invalid", "host_not_allowed"),
        ("https://evil.invalid/app.launchdarkly.com", "host_not_allowed"),
        ("http://127.0.0.1.evil.invalid", "plain_http"),
        ("http://127.0.0.1@evil.invalid", "userinfo"),
        ("https://app.launchdarkly.com@evil.invalid", "userinfo"),
        ("http://localhost:9", "loopback_name"),
    ] {
        let dir = config_dir(&[("main.hcl", &main_hcl(url, ""))]);
        let (validate, v_err) = run(dir.path(), &["validate"], &[TOKEN]);
        let (plan, p_err) = run(dir.path(), &["plan"], &[TOKEN]);
        assert_eq!((validate, plan), (1, 1), "{url}:\n{v_err}\n{p_err}");
        for (what, err) in [("validate", &v_err), ("plan", &p_err)] {
            assert!(err.contains("bad_url") || err.contains(code), "{what} {url}: {err}");
        }
        assert!(v_err.contains("the token may not be sent here"), "{v_err}");
    }
}

#[test]
fn only_the_environment_can_allow_another_host() {
    let dir = config_dir(&[("main.hcl", &main_hcl("https://relay.corp.invalid", ""))]);
    let (code, err) = run(dir.path(), &["validate"], &[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("TOKENFORM_ALLOWED_HOSTS=relay.corp.invalid"),
        "the refusal names the way out: {err}"
    );
    assert!(err.contains("configuration cannot"), "{err}");
    let (code, err) =
        run(dir.path(), &["validate"], &[("TOKENFORM_ALLOWED_HOSTS", "other.invalid, relay.corp.invalid")]);
    assert_eq!(code, 0, "{err}");
    // the configuration has no say: there is no attribute for it
    let dir = config_dir(&[(
        "main.hcl",
        &main_hcl("https://relay.corp.invalid", "  allowed_hosts = [\"relay.corp.invalid\"]\n"),
    )]);
    let (code, err) = run(dir.path(), &["validate"], &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("unknown attribute `allowed_hosts`"), "{err}");
    // a malformed consent is an error, not an empty list
    let (code, err) =
        run(dir.path(), &["validate"], &[("TOKENFORM_ALLOWED_HOSTS", "https://relay.corp.invalid")]);
    assert_eq!(code, 1);
    assert!(err.contains("bad_allowed_host"), "{err}");
}

#[test]
fn a_value_that_is_not_an_access_token_is_never_sent() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let extra = "  access_token_env = \"GITHUB_TOKEN\"\n";
    let dir = config_dir(&[("main.hcl", &main_hcl(&url, extra))]);
    let value = "ghp_NotALaunchDarklyToken0123456789abcd";
    let (code, err) = run(dir.path(), &["plan"], &[("GITHUB_TOKEN", value)]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("GITHUB_TOKEN does not hold a LaunchDarkly access token"), "{err}");
    assert!(!err.contains("NotALaunchDarkly") && !err.contains("ghp_"), "the value is never printed: {err}");
    assert!(listener.accept().is_err(), "nothing may connect: the value must not be sent");
}
