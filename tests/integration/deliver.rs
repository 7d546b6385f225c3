//! Delivering new secrets (`docs/spec.md` §10, `docs/delivery.md`): the real binary against
//! the emulator, with a sink script that records its argv, stdin and environment beside
//! itself and echoes what it read.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use crate::apply::Env;
use crate::support::text;

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
    let env = Env::start(&[]);
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
