//! Integration tests: `encrypt = "file"` through plan, apply, drift and output. The whole
//! state is an age file, so these commands read the identity from `TOKENFORM_IDENTITY_FILE`.

use age::secrecy::ExposeSecret;

use crate::support::{DevServer, config_dir};

#[test]
fn plan_apply_and_drift_work_on_a_whole_file_encrypted_state() {
    let server = DevServer::start(&[]);
    let id = age::x25519::Identity::generate();
    let hcl = format!(
        "launchdarkly {{\n  base_url = \"{}\"\n}}\n\nstate {{\n  recipients = [\"{}\"]\n  encrypt    = \"file\"\n}}\n\ntoken \"reader\" {{\n  role = \"reader\"\n}}\n",
        server.url,
        id.to_public()
    );
    let dir = config_dir(&[("main.hcl", &hcl), ("id.txt", &format!("{}\n", id.to_string().expose_secret()))]);
    let identity = dir.path().join("id.txt");
    let run = |args: &[&str], with_identity: bool| {
        let mut cmd = server.tokenform(dir.path());
        if with_identity {
            cmd.env("TOKENFORM_IDENTITY_FILE", &identity);
        }
        cmd.args(args).output().unwrap()
    };

    let out = run(&["apply", "--auto-approve"], true);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let state = std::fs::read_to_string(dir.path().join("tokenform.state.json")).unwrap();
    assert!(state.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"), "state is not an age file");
    assert!(!state.contains("reader"), "metadata leaked out of the encrypted file");

    let out = run(&["plan", "--detailed-exitcode"], true);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&["drift", "--format", "json"], true);
    assert_ne!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));

    // Without the identity the state cannot be read: a clear error, never a guess.
    let out = run(&["plan"], false);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("identity"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // `--identity` works on every command, `state` ones included, as well as the env var.
    let out =
        server.tokenform(dir.path()).args(["state", "list", "--identity"]).arg(&identity).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "token.reader\n");
    let out =
        server.tokenform(dir.path()).arg("--identity").arg(&identity).args(["plan", "-q"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));

    let out = run(&["output", "--format", "json"], true);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("api-"));
}
