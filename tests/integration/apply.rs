//! Integration tests: `apply`, `destroy` and `import`, the real binary against
//! `tokenform dev-server`. Secrets are checked the only way that matters: each one
//! `tokenform output` prints must authenticate against the emulator.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::{Env, Test, config_dir, read_completions, text, token_block, tokens};

#[test]
fn lifecycle_create_update_replace_recreate_delete() {
    let env = Test::new().start();
    let tokens = |a_role: &str, b_service: bool, with_b: bool| {
        let mut s = token_block("a", &format!("  name = \"ci-a\"\n  role = \"{a_role}\""));
        if with_b {
            s += &token_block(
                "b",
                &format!("  name = \"ci-b\"\n  role = \"writer\"\n  service_token = {b_service}"),
            );
        }
        s
    };
    env.config(&tokens("reader", false, true));
    let out = env.apply(&[]);
    assert!(out.contains("token.a: Creation complete [id="), "{out}");
    assert!(out.contains("Apply complete! Tokens: 2 created, 0 updated, 0 rotated, 0 deleted."), "{out}");
    assert_eq!(env.plan_exit(), Some(0), "idempotent: nothing left to do");
    assert_eq!(env.server.live_names(), ["ci-a", "ci-b"]);
    let ids = env.state_ids();
    let secrets = env.secrets();
    assert_eq!(secrets.len(), 2);
    for (id, secret) in &secrets {
        assert!(!out.contains(secret.as_str()), "apply never prints a secret");
        assert_eq!(
            env.server.whoami(secret).as_deref(),
            Ok(id.as_str()),
            "each stored secret authenticates as its token"
        );
    }

    // A role change updates in place.
    env.config(&tokens("writer", false, true));
    assert_eq!(env.plan_exit(), Some(2));
    let out = env.apply(&[]);
    assert!(out.contains("token.a: Modifications complete"), "{out}");
    assert_eq!(env.state_ids()["token.a"], ids["token.a"]);
    let (_, live_a) = env.server.api("GET", &format!("/api/v2/tokens/{}", ids["token.a"]));
    assert_eq!(live_a["role"], "writer");

    // A service_token change replaces.
    env.config(&tokens("writer", true, true));
    let out = env.apply(&[]);
    assert!(out.contains("token.b: Replacement complete"), "{out}");
    let new_b = env.state_ids()["token.b"].clone();
    assert_ne!(new_b, ids["token.b"]);
    assert_eq!(env.server.api("GET", &format!("/api/v2/tokens/{}", ids["token.b"])).0, 404);
    let secrets = env.secrets();
    assert_eq!(env.server.whoami(&secrets[&new_b]).as_deref(), Ok(new_b.as_str()));

    // Deleted behind tokenform's back: re-created.
    let (status, _) = env.server.api("DELETE", &format!("/api/v2/tokens/{}", ids["token.a"]));
    assert_eq!(status, 204);
    assert_eq!(env.plan_exit(), Some(2));
    env.apply(&[]);
    let new_a = env.state_ids()["token.a"].clone();
    assert_ne!(new_a, ids["token.a"]);
    assert_eq!(env.server.live_names(), ["ci-a", "ci-b"]);

    // Removing a block deletes the token.
    env.config(&tokens("writer", true, false));
    let out = env.apply(&[]);
    assert!(out.contains("token.b: Destruction complete"), "{out}");
    assert_eq!(env.server.live_names(), ["ci-a"]);
    assert!(!env.state_ids().contains_key("token.b"));
    assert_eq!(env.plan_exit(), Some(0));
    for (id, secret) in env.secrets() {
        assert_eq!(env.server.whoami(&secret), Ok(id));
    }
}

#[test]
fn forced_rotation_gives_new_secrets_and_old_ones_work_until_the_grace_ends() {
    let env = Test::new().start();
    let rotation = |method: &str| {
        format!(
            "  role = \"reader\"\n  rotation {{\n    every = \"90d\"\n    grace = \"3s\"\n    method = \"{method}\"\n  }}"
        )
    };
    env.config(&(token_block("rep", &rotation("replace")) + &token_block("res", &rotation("reset"))));
    env.apply(&[]);
    let before_ids = env.state_ids();
    let before = env.secrets();
    let old_replaced = before[&before_ids["token.rep"]].clone();
    let old_reset = before[&before_ids["token.res"]].clone();

    let out = env.apply(&["--rotate", "token.rep", "--rotate", "token.res"]);
    assert!(out.contains("Tokens: 0 created, 0 updated, 2 rotated, 0 deleted."), "{out}");
    let after_ids = env.state_ids();
    let after = env.secrets();
    assert_ne!(after_ids["token.rep"], before_ids["token.rep"], "replace makes a successor token");
    assert_eq!(after_ids["token.res"], before_ids["token.res"], "reset keeps the token");
    let new_replaced = after[&after_ids["token.rep"]].clone();
    let new_reset = after[&after_ids["token.res"]].clone();
    assert_ne!(new_replaced, old_replaced);
    assert_ne!(new_reset, old_reset);
    // Both generations authenticate during the grace.
    assert_eq!(env.server.whoami(&new_replaced), Ok(after_ids["token.rep"].clone()));
    assert_eq!(env.server.whoami(&new_reset), Ok(after_ids["token.res"].clone()));
    assert_eq!(env.server.whoami(&old_replaced), Ok(before_ids["token.rep"].clone()));
    assert_eq!(env.server.whoami(&old_reset), Ok(before_ids["token.res"].clone()));
    let retiring = env.state()["retiring"].clone();
    assert_eq!(retiring.as_array().map(Vec::len), Some(1), "{retiring}");

    // After the grace the old secrets stop working; the next apply deletes the old generation.
    std::thread::sleep(std::time::Duration::from_millis(3500));
    assert!(env.server.whoami(&old_replaced).is_err());
    assert!(env.server.whoami(&old_reset).is_err());
    assert_eq!(env.server.whoami(&new_replaced), Ok(after_ids["token.rep"].clone()));
    let out = env.apply(&[]);
    assert!(out.contains("Retired old generation"), "{out}");
    // The summary uses the plan's word ("to retire"): a retirement is not a deletion.
    assert!(out.contains("Tokens: 0 created, 0 updated, 0 rotated, 0 deleted, 1 retired."), "{out}");
    assert_eq!(env.state()["retiring"].as_array().map_or(0, Vec::len), 0);
    let live: BTreeSet<String> = env.server.live().into_iter().map(|(id, _)| id).collect();
    assert!(!live.contains(&before_ids["token.rep"]));
    assert_eq!(env.plan_exit(), Some(0));
}

#[test]
fn without_a_terminal_or_auto_approve_nothing_changes() {
    let env = Test::new().start();
    env.config(&token_block("a", "  role = \"reader\""));
    let out = env.run(&["apply"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--auto-approve"), "{}", text(&out));
    assert!(env.server.live().is_empty(), "nothing was created");
    env.apply(&[]);
    let out = env.apply(&[]);
    assert!(out.contains("No changes."), "{out}");
}

#[test]
fn saved_plans_apply_once_and_only_to_their_state() {
    let env = Test::new().start();
    env.config(&token_block("a", "  role = \"reader\""));
    let plan_file = env.dir.path().join("p.json");
    assert_eq!(env.cmd().args(["plan", "--out"]).arg(&plan_file).output().unwrap().status.code(), Some(0));
    let saved = std::fs::read_to_string(&plan_file).unwrap();
    assert!(!saved.contains("api-"), "a plan file holds no secret");
    let out = env.cmd().arg("apply").arg(&plan_file).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(env.server.live_names(), ["a"]);
    let out = env.cmd().arg("apply").arg(&plan_file).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("stale plan"), "{}", text(&out));

    // A plan made for another state (another lineage) is refused, and nothing is done.
    let other = config_dir(&[]);
    let settings = std::fs::read_to_string(env.dir.path().join("main.hcl")).unwrap();
    let settings = &settings[..settings.find("token \"a\"").unwrap()];
    std::fs::write(
        other.path().join("main.hcl"),
        format!("{settings}{}", token_block("z", "  role = \"reader\"")),
    )
    .unwrap();
    let out = env.server.tokenform(other.path()).args(["apply", "--auto-approve"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let more = format!(
        "{settings}{}{}",
        token_block("z", "  role = \"reader\""),
        token_block("y", "  role = \"reader\"")
    );
    std::fs::write(other.path().join("main.hcl"), more).unwrap();
    let other_plan = other.path().join("p.json");
    let out = env.server.tokenform(other.path()).args(["plan", "--out"]).arg(&other_plan).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = env.cmd().arg("apply").arg(&other_plan).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("different lineage"), "{}", text(&out));
    assert_eq!(env.server.live_names(), ["a", "z"]);
}

#[test]
fn destroy_deletes_everything_managed_but_protected_tokens() {
    let env = Test::new().start();
    let keep = token_block("keep", "  role = \"reader\"\n  lifecycle {\n    prevent_destroy = true\n  }");
    env.config(
        &(keep.clone() + &token_block("a", "  role = \"reader\"") + &token_block("b", "  role = \"writer\"")),
    );
    env.apply(&[]);
    assert_eq!(env.server.live_names(), ["a", "b", "keep"]);

    let out = env.run(&["destroy", "--auto-approve"]);
    assert_eq!(out.status.code(), Some(1), "prevent_destroy blocks the whole plan:\n{}", text(&out));
    assert_eq!(env.server.live_names(), ["a", "b", "keep"]);

    let out = env.run(&["destroy", "--auto-approve", "--target", "token.a"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(env.server.live_names(), ["b", "keep"]);

    env.config(&(token_block("keep", "  role = \"reader\"") + &token_block("b", "  role = \"writer\"")));
    env.apply(&[]); // records prevent_destroy = false
    let out = env.run(&["destroy"]);
    assert_eq!(out.status.code(), Some(1), "no terminal, no --auto-approve: {}", text(&out));
    assert_eq!(env.server.live_names(), ["b", "keep"]);
    let out = env.run(&["destroy", "--auto-approve"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(env.server.live().is_empty());
    assert!(env.state_ids().is_empty());
}

#[test]
fn import_records_a_live_token_with_unknown_secret() {
    let env = Test::new().start();
    env.config(
        &(token_block("legacy", "  name = \"legacy\"\n  role = \"reader\"")
            + &token_block("other", "  name = \"legacy2\"\n  role = \"reader\"")),
    );
    // Not a token id: refused before any request, with one error.
    let out = env.run(&["-v", "import", "token.legacy", "zzzz"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("\"zzzz\" is not a LaunchDarkly token id").count(), 1, "{err}");
    assert!(!err.contains("-> GET"), "nothing is sent: {err}");
    // A token made outside tokenform.
    let body = r#"{"name":"legacy","role":"reader"}"#;
    let id = env.server.send("POST", "/api/v2/tokens", body)["_id"].as_str().unwrap().to_owned();
    let out = env.run(&["import", "token.legacy", "ffffffffffffffffffffffff"]);
    assert_eq!(out.status.code(), Some(1), "unknown id: {}", text(&out));
    let out = env.run(&["import", "token.legacy", &id]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let state = env.state();
    assert_eq!(state["tokens"]["token.legacy"]["id"], id.as_str());
    assert_eq!(state["tokens"]["token.legacy"]["secret"], Value::Null);
    let out = env.run(&["import", "token.legacy", &id]);
    assert_eq!(out.status.code(), Some(1), "already managed: {}", text(&out));
    // One live id, one address: a second address is refused, naming both.
    let out = env.run(&["import", "token.other", &id]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = text(&out).replace("\n  │ ", " ");
    assert!(
        said.contains(&format!("cannot import token {id} as token.other: token.legacy already holds it")),
        "{said}"
    );
    assert_eq!(env.server.live_names(), ["legacy"], "import creates nothing");
}

/// Re-runs apply until the plan is empty; at most `tries` times.
fn converge(env: &Env, tries: usize) {
    for _ in 0..tries {
        let _ = env.run(&["apply", "--auto-approve", "--parallelism", "8"]);
        if env.plan_exit() == Some(0) {
            return;
        }
    }
    panic!("apply did not converge in {tries} runs");
}

/// Live names, minus the old generations state lists as retiring.
fn live_managed_names(env: &Env) -> Vec<String> {
    let retiring: BTreeSet<String> = env.state()["retiring"]
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["id"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let mut names: Vec<String> =
        env.server.live().into_iter().filter(|(id, _)| !retiring.contains(id)).map(|(_, n)| n).collect();
    names.sort();
    names
}

#[test]
fn apply_converges_under_rate_limits_and_server_errors_without_duplicates() {
    let env = Test::new().server(&["--rate-limit", "100", "--fail-rate", "0.2"]).start();
    env.config(&tokens(100));
    // The first run traces its requests: both faults must actually have been met.
    let first = env.run(&["-v", "apply", "--auto-approve", "--parallelism", "8"]);
    let trace = String::from_utf8_lossy(&first.stderr);
    // 100 creates and the reads do not fit one window of 100: the client paces from the
    // headers and waits for the reset instead of running into 429s.
    assert!(trace.contains("for its reset"), "the client never waited for a rate-limit window");
    assert!(trace.contains("<- 503 POST"), "no create met a 503");
    converge(&env, 8);
    let expected: Vec<String> = (0..100).map(|i| format!("t{i:03}")).collect();
    assert_eq!(live_managed_names(&env), expected, "exactly the configured tokens, no duplicates");
    assert_eq!(env.state_ids().len(), 100);
    env.assert_every_secret_authenticates();
}

#[test]
fn sigkill_during_apply_never_duplicates_or_loses_tokens() {
    let env = Test::new().server(&["--latency-ms", "15"]).start();
    env.config(&tokens(50));
    // Kill after a few completions, then again further on, then let it finish.
    for kill_after in [3, 12, 25] {
        let mut child = env
            .cmd()
            .args(["apply", "--auto-approve", "--parallelism", "4"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        read_completions(&mut child, kill_after);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    converge(&env, 5);
    let expected: Vec<String> = (0..50).map(|i| format!("t{i:03}")).collect();
    assert_eq!(live_managed_names(&env), expected);
    env.assert_every_secret_authenticates();
}

/// A small xorshift, seeded from the clock: kill moments differ from run to run, and the
/// seed is in every assertion message so a failure can be replayed.
struct Moments(u64);

impl Moments {
    fn new() -> Self {
        let seed =
            std::env::var("TOKENFORM_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
                let nanos =
                    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
                u64::try_from(nanos % u128::from(u64::MAX)).unwrap() | 1
            });
        Moments(seed)
    }

    /// A number in `lo..hi`.
    fn next(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        lo + self.0 % (hi - lo)
    }
}

/// Issue 10 item 2: service tokens behind a slow API, apply SIGKILLed six times at random
/// moments (mid-create, mid-rotation, mid-orphan-cleanup), then apply twice: exactly one
/// live token per configured name, no orphan lingering through a grace and no slot held.
#[test]
fn sigkill_at_random_moments_leaves_exactly_one_live_token_per_name() {
    let env = Test::new().server(&["--latency-ms", "100"]).start();
    let mut moments = Moments::new();
    let seed = moments.0;
    // s00 and s01 rotate with no grace, so a finished rotation leaves one token too.
    let body = |i: usize| {
        let rotation =
            if i < 2 { "\n  rotation {\n    every = \"90d\"\n    grace = \"0s\"\n  }" } else { "" };
        format!("  role = \"reader\"\n  service_token = true{rotation}")
    };
    env.config(&(0..40).map(|i| token_block(&format!("s{i:02}"), &body(i))).collect::<String>());
    let mut waits = Vec::new();
    for round in 0..6 {
        // Half-way, rotate everything: kills then also land between a successor's create
        // and the old generation's expiry.
        let args: &[&str] = if round < 3 {
            &["apply", "--auto-approve", "--parallelism", "4"]
        } else {
            &[
                "apply",
                "--auto-approve",
                "--parallelism",
                "4",
                "--rotate",
                "token.s00",
                "--rotate",
                "token.s01",
            ]
        };
        let mut child = env.cmd().args(args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let wait = moments.next(150, 1_400);
        waits.push(wait);
        std::thread::sleep(std::time::Duration::from_millis(wait));
        let _ = child.kill(); // SIGKILL (a no-op when the run already ended)
        child.wait().unwrap();
    }
    let why = format!("seed {seed} (TOKENFORM_TEST_SEED), kills after {waits:?} ms");
    let first = env.run(&["apply", "--auto-approve", "--parallelism", "4"]);
    assert_eq!(first.status.code(), Some(0), "{why}\n{}", text(&first));
    let second = env.run(&["apply", "--auto-approve", "--parallelism", "4"]);
    assert_eq!(second.status.code(), Some(0), "{why}\n{}", text(&second));
    assert!(text(&second).contains("No changes."), "{why}\n{}", text(&second));

    let expected: Vec<String> = (0..40).map(|i| format!("s{i:02}")).collect();
    assert_eq!(env.server.live_names(), expected, "exactly one live token per name: {why}");
    let state = env.state();
    assert_eq!(state["retiring"].as_array().map_or(0, Vec::len), 0, "{why}");
    assert_eq!(state["pending_creates"].as_array().map_or(0, Vec::len), 0, "{why}");
    let live_ids: BTreeSet<String> = env.server.live().into_iter().map(|(id, _)| id).collect();
    let state_ids: BTreeSet<String> = env.state_ids().into_values().collect();
    assert_eq!(state_ids, live_ids, "{why}");
    env.assert_every_secret_authenticates();
    assert_eq!(env.secrets().len(), 40, "every address holds its secret: {why}");
}

#[test]
fn ctrl_c_stops_new_work_saves_state_and_exits_1() {
    let env = Test::new().server(&["--latency-ms", "30"]).start();
    env.config(&tokens(30));
    let mut child = env
        .cmd()
        .args(["apply", "--auto-approve", "--parallelism", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    while seen.iter().filter(|l: &&String| l.contains("complete [id=")).count() < 3 {
        match lines.next() {
            Some(Ok(line)) => seen.push(line),
            _ => panic!("apply ended before the interrupt: {seen:?}"),
        }
    }
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    seen.extend(lines.map_while(Result::ok));
    let out = child.wait().unwrap();
    assert_eq!(out.code(), Some(1), "{seen:?}");
    assert!(seen.iter().any(|l| l.contains("Interrupt received")), "{seen:?}");
    // Everything that happened is in the saved state (no journal left to replay), and
    // nothing more happened than what was started.
    let state_ids: BTreeSet<String> = env.state_ids().into_values().collect();
    let live_ids: BTreeSet<String> = env.server.live().into_iter().map(|(id, _)| id).collect();
    assert_eq!(state_ids, live_ids);
    assert!(state_ids.len() < 30, "new work stopped: {} created", state_ids.len());
    assert_eq!(env.state()["pending_creates"].as_array().map_or(0, Vec::len), 0);
    assert!(!env.dir.path().join("tokenform.state.json.journal").exists(), "compacted into the state");
    env.assert_every_secret_authenticates();
    converge(&env, 3);
    assert_eq!(env.state_ids().len(), 30);
}

#[test]
fn refresh_only_records_live_changes_without_touching_tokens() {
    let env = Test::new().start();
    env.config(&(token_block("a", "  role = \"reader\"") + &token_block("b", "  role = \"reader\"")));
    env.apply(&[]);
    let ids = env.state_ids();
    let patch = r#"[{"op":"replace","path":"/role","value":"writer"}]"#;
    env.server.send("PATCH", &format!("/api/v2/tokens/{}", ids["token.a"]), patch);
    assert_eq!(env.server.api("DELETE", &format!("/api/v2/tokens/{}", ids["token.b"])).0, 204);

    // As Terraform: the plan says what applying it records, and exits 2 for it.
    let plan = env.run(&["plan", "--refresh-only", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(2), "{}", text(&plan));
    assert!(!text(&plan).contains("No changes."), "{}", text(&plan));
    assert!(
        text(&plan).contains("applying it records 2 changes in the state and changes no token"),
        "{}",
        text(&plan)
    );
    let out = env.apply(&["--refresh-only"]);
    assert!(out.contains("token.a: Refreshed from live"), "{out}");
    let plan = env.run(&["plan", "--refresh-only", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    assert!(text(&plan).contains("No changes. The state matches the live tokens."), "{}", text(&plan));
    let state = env.state();
    assert_eq!(state["tokens"]["token.a"]["role"], "writer", "the live change is recorded");
    assert!(state["tokens"]["token.a"]["secret"].is_object(), "the secret is kept");
    assert!(state["tokens"].get("token.b").is_none(), "the token gone live leaves state");
    let (_, live_a) = env.server.api("GET", &format!("/api/v2/tokens/{}", ids["token.a"]));
    assert_eq!(live_a["role"], "writer", "refresh-only changes no token");
    assert_eq!(env.server.live_names(), ["a"]);

    // A normal apply then puts configuration back: a updated, b created.
    let out = env.apply(&[]);
    assert!(out.contains("Tokens: 1 created, 1 updated"), "{out}");
    assert_eq!(env.plan_exit(), Some(0));
}

#[test]
fn import_blocks_are_applied_with_the_rest_and_never_rotate_unasked() {
    let env = Test::new().start();
    let made = env.server.send("POST", "/api/v2/tokens", r#"{"name":"old","role":"reader"}"#);
    let id = made["_id"].as_str().unwrap().to_owned();
    let hand_secret = made["token"].as_str().unwrap().to_owned();
    let import = format!("import {{\n  to = token.old\n  id = \"{id}\"\n}}\n");
    env.config(
        &(import
            + &token_block(
                "old",
                "  name = \"old\"\n  role = \"reader\"\n  rotation {\n    every = \"90d\"\n    grace = \"3s\"\n  }",
            )
            + &token_block("new", "  role = \"reader\"")),
    );
    let note = "token.old: secret unknown: `tokenform apply --rotate token.old` takes it over";
    let plan = env.run(&["plan"]);
    assert!(text(&plan).contains(note), "{}", text(&plan));
    assert!(
        text(&plan).contains("Plan: 1 to import, 1 to create, 0 to update, 0 to rotate"),
        "{}",
        text(&plan)
    );

    let out = env.apply(&[]);
    assert!(out.contains("token.old: Import complete"), "{out}");
    assert!(out.contains("token.new: Creation complete"), "{out}");
    assert!(!out.contains("Rotation"), "{out}");
    // Nothing live changed for whoever holds the hand-made secret: same id, no expiry set.
    assert_eq!(env.state_ids()["token.old"], id);
    assert_eq!(env.state()["tokens"]["token.old"]["secret"], Value::Null);
    assert_eq!(env.state()["retiring"].as_array().map_or(0, Vec::len), 0);
    let (_, live_old) = env.server.api("GET", &format!("/api/v2/tokens/{id}"));
    assert!(live_old.get("expiry").is_none_or(Value::is_null), "{live_old}");
    assert_eq!(env.server.whoami(&hand_secret), Ok(id.clone()));
    assert_eq!(env.plan_exit(), Some(0), "an import alone leaves nothing to do");
    assert!(text(&env.run(&["plan"])).contains(note));
    // drift keeps reporting the unknown secret of a token with a rotation block.
    let drift = env.run(&["drift", "--format", "json"]);
    assert_eq!(drift.status.code(), Some(2), "{}", text(&drift));
    let report: Value = serde_json::from_slice(&drift.stdout).unwrap();
    assert_eq!(report["rotation_due"][0]["reason"], "secret_unknown", "{report}");

    // Asked for, the rotation takes the secret over and gives the old one its grace.
    let out = env.apply(&["--rotate", "token.old"]);
    assert!(out.contains("token.old: Rotation complete"), "{out}");
    let successor = env.state_ids()["token.old"].clone();
    assert_ne!(successor, id);
    assert_eq!(env.server.whoami(&env.secrets()[&successor]), Ok(successor));
    let retiring: Vec<String> = env.state()["retiring"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(retiring, std::slice::from_ref(&id));
    assert_eq!(env.server.whoami(&hand_secret), Ok(id), "the old secret works through the grace");
}

/// Issue 10 item 6: the caller's own token, imported with a short rotation, is never
/// rotated, reset or expired; the plan says so, and an explicit --rotate is refused.
#[test]
fn the_token_tokenform_runs_with_is_never_rotated_or_expired() {
    let env = Test::new().start();
    let me = env.server.whoami(&env.server.admin_token).unwrap();
    let block = |extra: &str| {
        format!(
            "import {{\n  to = token.ci\n  id = \"{me}\"\n}}\n{}",
            token_block(
                "ci",
                &format!(
                    "  name = \"tokenform-emulator-admin\"\n  description = \"the emulator's own admin token\"\n  \
                     role = \"admin\"\n  service_token = true\n  rotation {{\n    every = \"90d\"\n    grace = \"3s\"\n  }}\n{extra}"
                )
            )
        )
    };
    env.config(&block(""));
    let out = env.apply(&[]);
    assert!(out.contains("token.ci: Import complete"), "{out}");
    assert!(!out.contains("Rotation"), "{out}");
    let note = "token.ci is the token tokenform runs with: rotate it from another credential";
    let plan = env.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    assert!(text(&plan).contains(note), "{}", text(&plan));

    let out = env.run(&["apply", "--auto-approve", "--rotate", "token.ci"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("tokenform::plan::caller_token"), "{}", text(&out));

    // An expires_at on it is not sent either.
    env.config(&block("  expires_at = \"2031-01-01T00:00:00Z\"\n"));
    let plan = env.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    assert!(text(&plan).contains("its expires_at is not set from this plan"), "{}", text(&plan));
    env.apply(&[]);
    let (status, live) = env.server.api("GET", &format!("/api/v2/tokens/{me}"));
    assert_eq!(status, 200, "the admin token still authenticates: {live}");
    assert!(live.get("expiry").is_none_or(Value::is_null), "{live}");
    assert_eq!(env.state_ids()["token.ci"], me);
}

#[test]
fn a_token_missing_from_the_list_but_alive_is_never_duplicated() {
    let env = Test::new().start();
    env.config(&token_block("p", "  role = \"reader\""));
    env.apply(&[]);
    // Without `unmanaged { personal = true }`, the snapshot lists without showAll, and the
    // emulator shows a service-token caller (the admin token) no personal token at all.
    let body = std::fs::read_to_string(env.dir.path().join("main.hcl")).unwrap();
    std::fs::write(env.dir.path().join("main.hcl"), body.replace("  personal = true\n", "")).unwrap();
    let out = env.run(&["apply", "--auto-approve"]);
    let text = text(&out);
    assert!(
        (out.status.code() == Some(0) && text.contains("No changes."))
            || (out.status.code() == Some(1) && text.contains("still live")),
        "{text}"
    );
    assert_eq!(env.server.live_names(), ["p"], "no duplicate, whatever the list showed");
}

/// Issue 10 §7: after a `replace` rotation, `state rm ADDR` stops tokenform managing both
/// generations: past the grace, the next plan has nothing to retire and apply deletes
/// neither token.
#[test]
fn state_rm_after_a_rotation_leaves_the_old_generation_alone() {
    let env = Test::new().start();
    let body = "  role = \"reader\"\n  rotation {\n    every = \"90d\"\n    grace = \"1s\"\n    method = \"replace\"\n  }";
    env.config(&token_block("rep", body));
    env.apply(&[]);
    let old = env.state_ids()["token.rep"].clone();
    env.apply(&["--rotate", "token.rep"]);
    let new = env.state_ids()["token.rep"].clone();
    assert_eq!(env.state()["retiring"][0]["id"], old.as_str());

    let out = env.run(&["state", "rm", "token.rep"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("retiring generation (id {old})")),
        "{}",
        text(&out)
    );
    env.config("");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(env.plan_exit(), Some(0), "nothing of token.rep is managed any more");
    env.apply(&[]);
    let live: BTreeSet<String> = env.server.live().into_iter().map(|(id, _)| id).collect();
    assert!(live.contains(&old) && live.contains(&new), "{live:?}");
}
