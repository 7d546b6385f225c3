//! `state pull | push | migrate` on the local file backend: the same contract as on
//! PostgreSQL and S3 (tests/integration/pg/transfer.rs, tests/integration/s3/).

use std::fmt::Write as _;

use crate::support::{Env, Test, text};

/// `main.hcl` with the state at `state` and `n` tokens `transfer-1` ….
fn config(env: &Env, state: &str, n: usize) {
    let mut tokens = String::new();
    for i in 1..=n {
        let _ = write!(tokens, "token \"t{i}\" {{\n  name = \"transfer-{i}\"\n  role = \"reader\"\n}}\n\n");
    }
    env.config_with(&format!("  path       = \"{state}\"\n"), &tokens);
}

fn doc(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn pull_push_and_migrate_work_on_the_local_file_too() {
    let env = Test::new().bare().start();
    let state = "tokenform.state.json";
    for n in 1..=3 {
        config(&env, state, n);
        env.ok(&["apply", "--auto-approve"]);
    }

    let pulled = env.ok(&["state", "pull"]);
    assert_eq!(doc(&pulled)["serial"], 3);
    assert!(pulled.contains("BEGIN AGE ENCRYPTED FILE"), "ciphertexts stay ciphertexts");
    let on_disk = std::fs::read_to_string(env.path(state)).unwrap();
    assert_eq!(doc(&pulled), doc(&on_disk), "pull prints the state document");
    let previous = env.ok(&["state", "pull", "--previous", "1"]);
    assert_eq!(doc(&previous)["serial"], 2);
    env.fails(&["state", "pull", "--previous", "3"], "tokenform::state::no_previous");

    // push: the same serial, then another lineage, are refused and change nothing.
    let file = env.path("pushed.json");
    std::fs::write(&file, &pulled).unwrap();
    let path = file.to_str().unwrap();
    env.fails(&["state", "push", path], "tokenform::state::push_serial");
    let mut other = doc(&pulled);
    other["lineage"] = "another-lineage".into();
    other["serial"] = 9.into();
    std::fs::write(&file, other.to_string()).unwrap();
    env.fails(&["state", "push", path], "tokenform::state::push_lineage");
    assert_eq!(std::fs::read_to_string(env.path(state)).unwrap(), on_disk, "nothing written");

    // A forced push of the previous version restores it above the current serial.
    std::fs::write(&file, &previous).unwrap();
    env.ok(&["state", "push", "--force", path]);
    let now = doc(&env.ok(&["state", "pull"]));
    assert_eq!(now["serial"], 4);
    assert_eq!(now["tokens"].as_object().unwrap().len(), 2);

    // migrate: the state moves into another configured local path; the target must not
    // already hold another lineage.
    let moved = "moved/tokenform.state.json";
    config(&env, moved, 2);
    let from = env.path(state);
    env.ok(&["state", "migrate", "--from", from.to_str().unwrap()]);
    let migrated = doc(&std::fs::read_to_string(env.path(moved)).unwrap());
    assert_eq!(migrated["lineage"], now["lineage"]);
    assert_eq!(migrated["tokens"], now["tokens"]);
    let out = env.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "the migrated state matches the live tokens:\n{}", text(&out));

    std::fs::write(&file, other.to_string()).unwrap();
    env.fails(&["state", "migrate", "--from", path], "tokenform::state::migrate_lineage");
    let after = doc(&std::fs::read_to_string(env.path(moved)).unwrap());
    assert_eq!(after["lineage"], now["lineage"], "another lineage is refused, nothing written");
}
