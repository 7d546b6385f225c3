//! Delivering new secrets (`docs/spec.md` §10, `docs/delivery.md`): the real binary against
//! the emulator, with a sink script that records its argv, stdin and environment beside
//! itself and echoes what it read.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use crate::support::{Env, Test, text};

/// Writes `sink.sh` into the config dir: each run appends its stdin to `stdin.log` (one
/// line per run), argv to `argv.log`, the environment to `env.log`, echoes `got: STDIN`,
/// then runs `tail` (shell code).
fn sink_script(dir: &Path, tail: &str) {
    let body = format!(
        "#!/bin/sh\nin=$(cat)\nprintf '%s\\n' \"$in\" >> stdin.log\nprintf '%s\\n' \"$0\" \"$@\" >> argv.log\nenv >> env.log\necho \"got: $in\"\n{tail}\n"
    );
    let path = dir.join("sink.sh");
    std::fs::write(&path, body).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// `token "ci"` delivering to `./sink.sh ARGS…` and to `out/ci.env`, with `rotation` extra.
fn ci_token(extra: &str) -> String {
    format!(
        "token \"ci\" {{\n  name = \"ci\"\n  role = \"reader\"\n{extra}\n  deliver \"exec\" {{\n    command = [\"./sink.sh\", \"set\", \"LD_API_TOKEN\"]\n    timeout = \"5s\"\n  }}\n  deliver \"file\" {{\n    path   = \"out/ci.env\"\n    format = \"dotenv\"\n  }}\n}}\n"
    )
}

#[test]
fn plan_lists_the_deliveries_in_every_format_and_runs_no_sink() {
    let env = Test::new().start();
    sink_script(env.dir.path(), "");
    env.config(&ci_token(""));
    let plan_file = env.dir.path().join("ci.plan");
    let out = env.run(&["plan", "-out", plan_file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let human = String::from_utf8_lossy(&out.stdout);
    assert!(human.contains("+ deliver exec \"./sink.sh set LD_API_TOKEN\""), "{human}");
    assert!(human.contains("+ deliver file \"out/ci.env\""), "{human}");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&plan_file).unwrap()).unwrap();
    let sinks = &saved["actions"][0]["change"]["deliver"];
    assert_eq!(sinks[0]["type"], "exec", "{saved}");
    assert_eq!(sinks[0]["command"][0], "./sink.sh");
    assert_eq!(sinks[1]["path"], "out/ci.env");
    let md = env.run(&["plan", "--format", "markdown"]);
    assert!(String::from_utf8_lossy(&md.stdout).contains("+ deliver file \"out/ci.env\""), "{}", text(&md));
    // `plan` never runs a sink.
    assert!(!env.dir.path().join("argv.log").exists() && !env.dir.path().join("out").exists());
}

/// The token's record in state.
fn state_token(env: &Env, address: &str) -> serde_json::Value {
    env.state()["tokens"][address].clone()
}

/// The live token's `expiry` (ms), as the admin sees it.
fn live_expiry(env: &Env, id: &str) -> Option<i64> {
    let (status, body) = env.server.api("GET", &format!("/api/v2/tokens/{id}"));
    assert_eq!(status, 200, "{body}");
    body["expiry"].as_i64()
}

/// The secret state holds for `address` (decrypted with the test's identity).
fn state_secret(env: &Env, address: &str) -> String {
    let id = state_token(env, address)["id"].as_str().unwrap().to_owned();
    env.secrets().remove(&id).unwrap_or_else(|| panic!("no secret for {id}"))
}

fn lines(env: &Env, name: &str) -> Vec<String> {
    std::fs::read_to_string(env.dir.path().join(name))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// `apply --auto-approve EXTRA…` with no identity anywhere (as in CI).
fn apply_without_identity(env: &Env, extra: &[&str]) -> std::process::Output {
    env.cmd()
        .args([&["apply", "--auto-approve"], extra].concat())
        .env_remove("TOKENFORM_IDENTITY_FILE")
        .output()
        .unwrap()
}

#[test]
fn a_create_delivers_the_state_secret_on_stdin_only_and_the_file_sink_is_0600() {
    let env = Test::new().start();
    sink_script(env.dir.path(), "");
    env.config(&ci_token(""));
    let out = apply_without_identity(&env, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let secret = state_secret(&env, "token.ci");
    let id = state_token(&env, "token.ci")["id"].as_str().unwrap().to_owned();
    assert_eq!(env.server.whoami(&secret), Ok(id.clone()), "the delivered secret works");
    assert_eq!(
        lines(&env, "stdin.log"),
        std::slice::from_ref(&secret),
        "exactly the state's secret, on stdin, once"
    );
    let argv = lines(&env, "argv.log").join("\n");
    let envs = lines(&env, "env.log").join("\n");
    assert!(argv.ends_with("set\nLD_API_TOKEN"), "{argv}");
    assert!(!argv.contains(&secret) && !envs.contains(&secret), "never in argv or the environment");
    assert!(!envs.contains(&env.server.admin_token), "nor tokenform's own credential");
    for want in ["TOKENFORM_EVENT=create", "TOKENFORM_ADDRESS=token.ci", "TOKENFORM_TOKEN_NAME=ci"] {
        assert!(envs.lines().any(|l| l == want), "{want} missing:\n{envs}");
    }
    assert!(envs.lines().any(|l| l == format!("TOKENFORM_TOKEN_ID={id}")), "{envs}");
    let shown = text(&out);
    assert!(!shown.contains(&secret), "tokenform's own output never shows it:\n{shown}");
    assert!(shown.contains("token.ci: Delivered to exec \"./sink.sh set LD_API_TOKEN\""), "{shown}");
    assert!(shown.contains("    got: (sensitive value)"), "the sink's echo, redacted:\n{shown}");
    assert!(shown.contains("delivered to 2 sinks"), "{shown}");
    let file = env.dir.path().join("out/ci.env");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), format!("CI={secret}\n"));
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(state_token(&env, "token.ci").get("undelivered").is_none(), "delivered: nothing left");
}

#[test]
fn a_sink_failing_during_a_rotation_keeps_the_old_secret_and_the_next_apply_finishes_the_job() {
    let env = Test::new().start();
    sink_script(env.dir.path(), "");
    env.config(&ci_token(""));
    env.apply(&[]);
    let first_id = state_token(&env, "token.ci")["id"].as_str().unwrap().to_owned();
    let first = state_secret(&env, "token.ci");

    // The sink breaks; a rotation is asked for, in CI (no identity).
    sink_script(env.dir.path(), "echo 'gh: HTTP 502' >&2; exit 1");
    let out = apply_without_identity(&env, &["--rotate", "token.ci"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = text(&out);
    assert!(shown.contains("token.ci"), "{shown}");
    assert!(shown.contains("delivery to exec \"./sink.sh set LD_API_TOKEN\" failed"), "{shown}");
    assert!(shown.contains("gh: HTTP 502"), "the sink's stderr is shown: {shown}");
    assert!(shown.contains("keeps working: no expiry was set"), "{shown}");
    assert_eq!(env.server.whoami(&first), Ok(first_id.clone()), "the old secret keeps working");
    assert_eq!(live_expiry(&env, &first_id), None, "its grace never started");
    let second_id = state_token(&env, "token.ci")["id"].as_str().unwrap().to_owned();
    assert_ne!(second_id, first_id);
    let second = state_secret(&env, "token.ci");
    assert!(!shown.contains(&second) && !shown.contains(&first), "{shown}");
    assert_eq!(lines(&env, "stdin.log").last(), Some(&second), "the sink got the new secret, then failed");
    let undelivered = state_token(&env, "token.ci")["undelivered"].clone();
    assert_eq!(undelivered[0], "exec \"./sink.sh set LD_API_TOKEN\"", "{undelivered}");
    assert_eq!(undelivered[1], "file \"out/ci.env\"", "a later sink is not run: {undelivered}");
    assert_eq!(env.state()["retiring"][0]["held_grace_seconds"], 86_400, "{}", env.state());

    // Mended: the next plan says why it rotates; apply delivers a new, working secret and
    // only then starts the old ones' grace. Still no identity.
    sink_script(env.dir.path(), "");
    let plan = env.run(&["plan"]);
    assert!(String::from_utf8_lossy(&plan.stdout).contains("did not reach every sink"), "{}", text(&plan));
    let out = apply_without_identity(&env, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let third = state_secret(&env, "token.ci");
    let third_id = state_token(&env, "token.ci")["id"].as_str().unwrap().to_owned();
    assert_eq!(env.server.whoami(&third), Ok(third_id.clone()));
    assert_eq!(lines(&env, "stdin.log").last(), Some(&third));
    assert_eq!(std::fs::read_to_string(env.dir.path().join("out/ci.env")).unwrap(), format!("CI={third}\n"));
    for old in [&first_id, &second_id] {
        let expiry = live_expiry(&env, old).unwrap_or_else(|| panic!("{old} has no expiry"));
        assert!(expiry > jiff::Timestamp::now().as_millisecond(), "a grace, not an end");
    }
    assert_eq!(env.server.whoami(&first), Ok(first_id), "still working during its grace");
    assert!(
        env.state()["retiring"].as_array().unwrap().iter().all(|r| r.get("held_grace_seconds").is_none())
    );
    assert_eq!(env.plan_exit(), Some(0), "nothing left to do");
}

#[test]
fn a_hanging_sink_is_killed_with_its_process_group_at_its_timeout() {
    let env = Test::new().start();
    env.config(
        "token \"ci\" {\n  role = \"reader\"\n  deliver \"exec\" {\n    command = [\"sh\", \"-c\", \"sleep 60 & echo $! > child.pid; wait\"]\n    timeout = \"1s\"\n  }\n}\n",
    );
    let started = std::time::Instant::now();
    let out = apply_without_identity(&env, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "{:?}", started.elapsed());
    assert!(
        text(&out).contains("did not finish within 1s: killed it and its process group"),
        "{}",
        text(&out)
    );
    let pid = std::fs::read_to_string(env.dir.path().join("child.pid")).unwrap();
    let mut gone = false;
    for _ in 0..50 {
        let alive = std::process::Command::new("kill").args(["-0", pid.trim()]).status().unwrap().success();
        if !alive {
            gone = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(gone, "the sink's own child ({}) was killed too", pid.trim());
    assert!(text(&out).contains("the next apply rotates it"), "{}", text(&out));
}

#[test]
fn sigkill_between_delivery_and_retirement_loses_nothing_and_skips_no_delivery() {
    let env = Test::new().start();
    sink_script(env.dir.path(), "");
    // A second sink that, when `hang` exists, says it is running and waits to be killed.
    let hanging = "cat >> second.log; echo >> second.log; if [ -e hang ]; then rm hang; echo $$ > sink.pid; touch ready; sleep 60; fi";
    env.config(&format!(
        "token \"ci\" {{\n  role = \"reader\"\n  deliver \"exec\" {{\n    command = [\"./sink.sh\"]\n  }}\n  deliver \"exec\" {{\n    command = [\"sh\", \"-c\", \"{hanging}\"]\n  }}\n}}\n"
    ));
    env.apply(&[]);
    let first_id = state_token(&env, "token.ci")["id"].as_str().unwrap().to_owned();
    let first = state_secret(&env, "token.ci");

    std::fs::write(env.dir.path().join("hang"), "").unwrap();
    let mut child = env
        .cmd()
        .args(["apply", "--auto-approve", "--rotate", "token.ci"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ready = env.dir.path().join("ready");
    for _ in 0..300 {
        if ready.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(ready.exists(), "the second sink never started");
    child.kill().unwrap(); // SIGKILL: the first sink has the new secret, the old one is held
    child.wait().unwrap();
    let pid = std::fs::read_to_string(env.dir.path().join("sink.pid")).unwrap();
    let _ = std::process::Command::new("kill")
        .args(["-9", pid.trim()])
        .stderr(std::process::Stdio::null())
        .status();
    assert_eq!(live_expiry(&env, &first_id), None, "killed before the grace started");
    let second = lines(&env, "stdin.log").last().cloned().unwrap();
    assert_ne!(second, first, "the first sink got the successor's secret");

    let out = apply_without_identity(&env, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let last = state_secret(&env, "token.ci");
    let last_id = state_token(&env, "token.ci")["id"].as_str().unwrap().to_owned();
    assert_eq!(env.server.whoami(&last), Ok(last_id.clone()), "the current secret works");
    assert_eq!(lines(&env, "stdin.log").last(), Some(&last), "the first sink has it");
    assert!(lines(&env, "second.log").contains(&last), "and so does the second: no delivery skipped");
    // Nothing lost, no duplicate: every live token is one state knows, and each old one
    // has its grace.
    let mut known: Vec<String> = vec![last_id];
    for r in env.state()["retiring"].as_array().unwrap() {
        let id = r["id"].as_str().unwrap().to_owned();
        assert!(live_expiry(&env, &id).is_some(), "{id}: grace started");
        known.push(id);
    }
    let mut live: Vec<String> = env.server.live().into_iter().map(|(id, _)| id).collect();
    live.sort();
    known.sort();
    assert_eq!(live, known);
    assert_eq!(known.len(), 3, "the original, the successor the kill interrupted, the current one");
    assert!(known.contains(&first_id));
    assert_eq!(env.server.whoami(&first), Ok(first_id), "the original secret still works during its grace");
    assert!(env.server.whoami(&second).is_ok(), "the interrupted successor too (a sink had it)");
}

#[test]
fn deliver_addr_resends_the_current_secret_and_finishes_an_unfinished_delivery() {
    let env = Test::new().start();
    sink_script(env.dir.path(), "");
    env.config(&ci_token(""));
    env.apply(&[]);
    let secret = state_secret(&env, "token.ci");
    std::fs::remove_file(env.dir.path().join("stdin.log")).unwrap();
    std::fs::remove_file(env.dir.path().join("env.log")).unwrap();
    std::fs::remove_file(env.dir.path().join("out/ci.env")).unwrap();

    let no_identity = env.run(&["deliver", "token.ci"]);
    assert_eq!(no_identity.status.code(), Some(1), "{}", text(&no_identity));
    assert!(!env.dir.path().join("stdin.log").exists(), "nothing ran without the identity");

    let identity = env.identity.to_str().unwrap();
    let out = env.run(&["deliver", "token.ci", "--identity", identity]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(lines(&env, "stdin.log"), std::slice::from_ref(&secret), "the current secret, again");
    assert!(lines(&env, "env.log").iter().any(|l| l == "TOKENFORM_EVENT=deliver"));
    assert_eq!(std::fs::read_to_string(env.dir.path().join("out/ci.env")).unwrap(), format!("CI={secret}\n"));
    let shown = text(&out);
    assert!(!shown.contains(&secret), "{shown}");
    assert!(
        shown.contains("token.ci: Delivered to file \"out/ci.env\"")
            && shown.contains("Delivered 1 token(s).")
    );

    // An apply whose delivery failed: `deliver` (with the identity) finishes the job
    // instead of the next apply's rotation.
    sink_script(env.dir.path(), "exit 1");
    let first_id = state_token(&env, "token.ci")["id"].as_str().unwrap().to_owned();
    let failed = apply_without_identity(&env, &["--rotate", "token.ci"]);
    assert_eq!(failed.status.code(), Some(1), "{}", text(&failed));
    sink_script(env.dir.path(), "");
    let out = env.run(&["deliver", "--identity", identity]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let current = state_secret(&env, "token.ci");
    assert_eq!(lines(&env, "stdin.log").last(), Some(&current));
    assert!(text(&out).contains("unfinished delivery of id="), "{}", text(&out));
    assert!(live_expiry(&env, &first_id).is_some(), "the held generation's grace started");
    assert!(state_token(&env, "token.ci").get("undelivered").is_none());
    assert_eq!(env.plan_exit(), Some(0), "nothing left for apply to finish");
}

#[test]
fn the_json_stream_lists_deliveries_and_reports_each_one_without_the_secret() {
    let env = Test::new().start();
    sink_script(env.dir.path(), "");
    env.config(&ci_token(""));
    let out = env.run(&["apply", "-json", "--auto-approve"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let docs: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let planned = docs.iter().find(|d| d["type"] == "planned_change").unwrap();
    assert_eq!(planned["change"]["deliver"][0]["command"][0], "./sink.sh", "{planned}");
    assert_eq!(planned["change"]["deliver"][1]["path"], "out/ci.env", "{planned}");
    let progress: Vec<&str> = docs
        .iter()
        .filter(|d| d["type"] == "apply_progress")
        .filter_map(|d| d["@message"].as_str())
        .collect();
    assert!(
        progress.iter().any(|m| m.starts_with("token.ci: Delivered to exec \"./sink.sh")),
        "{progress:?}"
    );
    assert!(progress.iter().any(|m| m.contains("got: (sensitive value)")), "{progress:?}");
    let secret = state_secret(&env, "token.ci");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&secret));
}
