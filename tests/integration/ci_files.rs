//! The files other tools run tokenform from: `.pre-commit-hooks.yaml` (and, with the
//! composite action, `action.yml`). They parse, call only real commands and flags (checked
//! against the built binary's `--help`), and do what they say when run.

use std::collections::BTreeMap;
use std::path::Path;

use yaml_rust2::{Yaml, YamlLoader};

use crate::drift::{Invocation, assert_real, invocations};
use crate::support::{config_dir, text, tokenform};

fn load(file: &str) -> Yaml {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
    let mut docs = YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{file} is not YAML: {e}"));
    assert_eq!(docs.len(), 1, "{file}: one document");
    docs.remove(0)
}

const FORMATTED: &str = "token \"ci\" {\n  role          = \"reader\"\n  service_token = true\n}\n";
const UNFORMATTED: &str = "token \"ci\" {\nrole = \"reader\"\n    service_token = true\n}\n";
const INVALID: &str = "token \"ci\" {\n  role = \"overlord\"\n}\n";

/// Runs a hook as pre-commit does: its `entry` split on whitespace, then `args`, in the
/// repository root (here: a directory holding the configuration).
fn run_hook(entry: &str, args: &[&str], cwd: &Path) -> std::process::Output {
    let mut words = entry.split_whitespace();
    assert_eq!(words.next(), Some("tokenform"), "{entry}");
    tokenform().args(words).args(args).current_dir(cwd).output().unwrap()
}

#[test]
fn pre_commit_hooks_parse_call_real_flags_and_fail_exactly_when_they_should() {
    let doc = load(".pre-commit-hooks.yaml");
    let hooks = doc.as_vec().expect("a list of hooks");
    let ids: Vec<&str> = hooks.iter().filter_map(|h| h["id"].as_str()).collect();
    assert_eq!(ids, ["tokenform-fmt", "tokenform-validate"]);
    let mut calls: Vec<Invocation> = Vec::new();
    for hook in hooks {
        let id = hook["id"].as_str().unwrap();
        for key in ["name", "entry", "language", "files"] {
            assert!(hook[key].as_str().is_some(), "{id}: {key}");
        }
        // Built from this repository by pre-commit; reads a directory, not file names.
        assert_eq!(hook["language"].as_str(), Some("rust"), "{id}");
        assert_eq!(hook["pass_filenames"].as_bool(), Some(false), "{id}");
        let pattern = hook["files"].as_str().unwrap();
        assert!(pattern.starts_with("\\.hcl"), "{id}: {pattern}");
        calls.extend(invocations(hook["entry"].as_str().unwrap()));
    }
    assert_eq!(
        calls,
        [
            Invocation { command: vec!["fmt".into()], flags: vec!["--check".into()] },
            Invocation { command: vec!["validate".into()], flags: vec![] },
        ]
    );
    assert_real(&calls);
    // The documented way to point a hook at another directory is a real flag too.
    assert_real(&[Invocation { command: vec!["fmt".into()], flags: vec!["-C".into()] }]);

    let entry = |id: &str| {
        hooks.iter().find(|h| h["id"].as_str() == Some(id)).unwrap()["entry"].as_str().unwrap().to_owned()
    };
    let repo = config_dir(&[("tokens/main.hcl", FORMATTED)]);
    let tokens = repo.path().join("tokens");
    let args = ["-C", "tokens"];
    for id in ["tokenform-fmt", "tokenform-validate"] {
        let out = run_hook(&entry(id), &args, repo.path());
        assert_eq!(out.status.code(), Some(0), "{id}: {}", text(&out));
    }
    std::fs::write(tokens.join("main.hcl"), UNFORMATTED).unwrap();
    let out = run_hook(&entry("tokenform-fmt"), &args, repo.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("main.hcl"), "names the file: {}", text(&out));
    assert_eq!(
        std::fs::read_to_string(tokens.join("main.hcl")).unwrap(),
        UNFORMATTED,
        "--check writes nothing"
    );
    std::fs::write(tokens.join("main.hcl"), INVALID).unwrap();
    let out = run_hook(&entry("tokenform-validate"), &args, repo.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("main.hcl:2"), "{}", text(&out));
}

// ---------------------------------------------------------------------------------------
// action.yml: the composite action, its steps run the way the runner runs them.

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `${{ inputs.X }}`, `${{ steps.ID.outputs.X }}` (and `||` defaults) in `text`.
fn expand(text: &str, inputs: &BTreeMap<String, String>, steps: &BTreeMap<String, Outputs>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let end = start + rest[start..].find("}}").unwrap_or_else(|| panic!("unclosed: {text}"));
        let expr = rest[start + 3..end].trim();
        let value = if let Some(name) = expr.strip_prefix("inputs.") {
            inputs.get(name).cloned().unwrap_or_else(|| panic!("no input {name}"))
        } else if let Some(path) = expr.strip_prefix("steps.") {
            let (id, output) = path.split_once(".outputs.").unwrap_or_else(|| panic!("{expr}"));
            steps.get(id).and_then(|o| o.get(output)).cloned().unwrap_or_default()
        } else {
            panic!("an expression the test runner does not know: {expr}")
        };
        out.push_str(&value);
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

type Outputs = BTreeMap<String, String>;

/// `$GITHUB_OUTPUT`'s `name=value` and `name<<DELIMITER … DELIMITER` entries.
fn parse_outputs(text: &str) -> Outputs {
    let mut out = Outputs::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delimiter)) = line.split_once("<<") {
            let value: Vec<&str> = lines.by_ref().take_while(|l| *l != delimiter).collect();
            out.insert(name.to_owned(), value.join("\n"));
        } else if let Some((name, value)) = line.split_once('=') {
            out.insert(name.to_owned(), value.to_owned());
        }
    }
    out
}

/// One run of the action.
struct ActionRun {
    /// The action's outputs.
    outputs: Outputs,
    /// Whether every step passed (the runner stops at the first that fails).
    success: bool,
    /// What the steps printed, for assertion messages.
    log: String,
    /// The arguments each `cargo` call got.
    cargo: String,
    step_summary: String,
}

/// A fake GitHub runner for the action: one home, temp and tool directory per test.
struct Runner {
    home: tempfile::TempDir,
    stub: tempfile::TempDir,
}

impl Runner {
    fn new() -> Runner {
        // `cargo install` is a stub that records its arguments and "installs" the binary
        // under test at --root: building tokenform again would take minutes.
        let stub = tempfile::tempdir().unwrap();
        let cargo = stub.path().join("cargo");
        std::fs::write(
            &cargo,
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >> \"$CARGO_LOG\"\nroot=\nwhile [ $# -gt 0 ]; do\n  [ \"$1\" = --root ] && root=\"$2\"\n  shift\ndone\nmkdir -p \"$root/bin\" && ln -sf \"$TOKENFORM_BIN\" \"$root/bin/tokenform\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&cargo, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        Runner { home: tempfile::tempdir().unwrap(), stub }
    }

    /// Runs the action's steps in order with `with` as its inputs (defaults from action.yml),
    /// skipping `uses:` steps (the cache: always a miss here).
    fn run(&self, with: &[(&str, &str)], cwd: &Path, token: &str) -> ActionRun {
        let action = load("action.yml");
        let mut inputs: BTreeMap<String, String> = BTreeMap::new();
        for (name, spec) in action["inputs"].as_hash().unwrap() {
            inputs
                .insert(name.as_str().unwrap().to_owned(), spec["default"].as_str().unwrap_or("").to_owned());
        }
        for (name, value) in with {
            assert!(inputs.contains_key(*name), "action.yml has no input {name}");
            inputs.insert((*name).to_owned(), (*value).to_owned());
        }
        let temp = tempfile::tempdir().unwrap();
        let path_file = temp.path().join("github-path");
        let summary = temp.path().join("summary");
        let cargo_log = temp.path().join("cargo-log");
        let mut steps: BTreeMap<String, Outputs> = BTreeMap::new();
        let mut log = String::new();
        let mut success = true;
        for step in action["runs"]["steps"].as_vec().unwrap() {
            let Some(script) = step["run"].as_str() else { continue };
            if let Some(cond) = step["if"].as_str() {
                assert_eq!(
                    cond, "steps.cache.outputs.cache-hit != 'true'",
                    "a condition the runner does not know"
                );
            }
            assert_eq!(step["shell"].as_str(), Some("bash"), "composite run steps name their shell");
            let output = temp.path().join(format!("output-{}", steps.len()));
            let extra_path: Vec<String> = std::fs::read_to_string(&path_file)
                .unwrap_or_default()
                .lines()
                .rev()
                .map(str::to_owned)
                .collect();
            let path =
                [extra_path, vec![self.stub.path().display().to_string(), std::env::var("PATH").unwrap()]]
                    .concat()
                    .join(":");
            let mut cmd = std::process::Command::new("bash");
            cmd.args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
                .current_dir(cwd)
                .env_clear()
                .env("PATH", path)
                .env("HOME", self.home.path())
                .env("NO_COLOR", "1")
                .env("RUNNER_TEMP", temp.path())
                .env("RUNNER_OS", "Linux")
                .env("RUNNER_ARCH", "X64")
                .env("GITHUB_ACTION_PATH", repo_root())
                .env("GITHUB_OUTPUT", &output)
                .env("GITHUB_PATH", &path_file)
                .env("GITHUB_STEP_SUMMARY", &summary)
                .env("LAUNCHDARKLY_ACCESS_TOKEN", token)
                .env("CARGO_LOG", &cargo_log)
                .env("TOKENFORM_BIN", crate::support::bin())
                .stdin(std::process::Stdio::null());
            if let Some(env) = step["env"].as_hash() {
                for (k, v) in env {
                    cmd.env(k.as_str().unwrap(), expand(v.as_str().unwrap(), &inputs, &steps));
                }
            }
            let out = cmd.output().unwrap();
            log.push_str(&text(&out));
            let id = step["id"].as_str().map_or_else(|| format!("#{}", steps.len()), str::to_owned);
            steps.insert(id, parse_outputs(&std::fs::read_to_string(&output).unwrap_or_default()));
            if !out.status.success() {
                success = false;
                break;
            }
        }
        let mut outputs = Outputs::new();
        for (name, spec) in action["outputs"].as_hash().unwrap() {
            outputs.insert(
                name.as_str().unwrap().to_owned(),
                expand(spec["value"].as_str().unwrap(), &inputs, &steps),
            );
        }
        // Keep what the tests read before the temp directory goes.
        let stdout =
            outputs.get("stdout").filter(|p| !p.is_empty()).and_then(|p| std::fs::read_to_string(p).ok());
        if let Some(stdout) = stdout {
            outputs.insert("stdout".into(), stdout);
        }
        if let Some(plan) = outputs.get("planfile").filter(|p| !p.is_empty()) {
            let kept = cwd.join("kept.plan");
            std::fs::copy(plan, &kept).unwrap();
            outputs.insert("planfile".into(), kept.display().to_string());
        }
        ActionRun {
            outputs,
            success,
            log,
            cargo: std::fs::read_to_string(&cargo_log).unwrap_or_default(),
            step_summary: std::fs::read_to_string(&summary).unwrap_or_default(),
        }
    }
}

#[test]
fn the_action_parses_and_calls_only_real_commands_and_flags() {
    let action = load("action.yml");
    assert_eq!(action["runs"]["using"].as_str(), Some("composite"));
    for input in ["command", "dir", "args", "version"] {
        assert!(action["inputs"][input]["description"].as_str().is_some(), "input {input}");
    }
    assert_eq!(action["inputs"]["command"]["required"].as_bool(), Some(true));
    for output in ["exitcode", "markdown", "planfile", "stdout"] {
        assert!(action["outputs"][output]["value"].as_str().is_some(), "output {output}");
    }
    let steps = action["runs"]["steps"].as_vec().unwrap();
    assert!(
        steps.iter().any(|s| s["uses"].as_str().is_some_and(|u| u.starts_with("actions/cache@"))),
        "the install is cached"
    );
    let scripts: Vec<&str> = steps.iter().filter_map(|s| s["run"].as_str()).collect();
    let mut installs = 0;
    for script in &scripts {
        // Inputs come through `env:`: an expression in a script would be spliced into the shell.
        assert!(!script.contains("${{"), "an expression inside a run script:\n{script}");
        for line in script.lines().filter(|l| l.contains("cargo install")) {
            installs += 1;
            assert!(line.contains("--locked"), "{line}");
        }
    }
    assert_eq!(installs, 2, "a crates.io version, or the action's own source");
    let calls: Vec<Invocation> = scripts.iter().flat_map(|s| invocations(s)).collect();
    // The command the user names is a shell array: its flags must be global ones.
    let (dynamic, fixed): (Vec<Invocation>, Vec<Invocation>) =
        calls.into_iter().partition(|i| i.command.first().is_some_and(|c| c.starts_with("\"$")));
    assert!(
        fixed.iter().any(|i| i.command == ["plan"] && i.flags.contains(&"--out".to_owned())),
        "{fixed:?}"
    );
    assert!(
        fixed.iter().any(|i| i.command == ["show"] && i.flags.contains(&"--format".to_owned())),
        "{fixed:?}"
    );
    assert_eq!(dynamic.len(), 1, "{dynamic:?}");
    assert_real(&fixed);
    assert_real(
        dynamic
            .iter()
            .map(|i| Invocation { command: vec![], flags: i.flags.clone() })
            .collect::<Vec<_>>()
            .iter(),
    );
}

#[test]
fn the_action_plans_comments_applies_and_fails_against_dev_server() {
    let server = crate::support::DevServer::start(&[]);
    let work = tempfile::tempdir().unwrap();
    let tokens = work.path().join("tokens");
    std::fs::create_dir(&tokens).unwrap();
    let hcl = format!(
        "launchdarkly {{\n  base_url = \"{}\"\n}}\n\nstate {{\n  recipients = [\"{}\"]\n}}\n\n{FORMATTED}",
        server.url, "age17rmdjdkhln5l0d4srq5swyt4k68mpqpxf84dgs3xy8hw6fv9rykssqlygq"
    );
    std::fs::write(tokens.join("main.hcl"), hcl).unwrap();
    let runner = Runner::new();
    let token = server.admin_token.as_str();

    let plan = runner.run(
        &[("command", "plan"), ("dir", "tokens"), ("args", "--detailed-exitcode")],
        work.path(),
        token,
    );
    assert!(plan.success, "{}", plan.log);
    assert!(
        plan.cargo.contains(&format!(
            "install --locked --root {}",
            runner.home.path().join(".tokenform-action").display()
        )),
        "{}",
        plan.cargo
    );
    assert!(plan.cargo.contains(&format!("--path {}", repo_root().display())), "{}", plan.cargo);
    assert_eq!(plan.outputs["exitcode"], "2", "{}", plan.log);
    let markdown = &plan.outputs["markdown"];
    assert!(markdown.contains("token.ci"), "{markdown}");
    // The comment is exactly what `plan --format markdown` prints, and the job summary has it.
    let direct = server
        .tokenform(&tokens)
        .args(["show", &plan.outputs["planfile"], "--format", "markdown"])
        .output()
        .unwrap();
    assert_eq!(format!("{markdown}\n"), String::from_utf8_lossy(&direct.stdout));
    assert!(plan.step_summary.contains("token.ci"));
    assert!(plan.outputs["stdout"].contains("token.ci will be created"), "the human plan is in the log");
    assert!(!plan.log.contains(token) && !markdown.contains(token));

    // Applying the saved plan: exactly it.
    let apply = runner.run(
        &[("command", "apply"), ("dir", "tokens"), ("args", &plan.outputs["planfile"])],
        work.path(),
        token,
    );
    assert!(apply.success, "{}", apply.log);
    assert_eq!(apply.outputs["exitcode"], "0");
    assert!(apply.outputs["markdown"].is_empty(), "no plan markdown for apply");
    assert!(apply.outputs["stdout"].contains("Apply complete!"), "{}", apply.log);

    // Installed once per job: a second use finds the binary (the cache saves it at the end).
    assert!(apply.cargo.is_empty(), "{}", apply.cargo);
    let again = runner.run(
        &[("command", "plan"), ("dir", "tokens"), ("args", "--detailed-exitcode")],
        work.path(),
        token,
    );
    assert_eq!(again.outputs["exitcode"], "0", "{}", again.log);
    let list = runner.run(&[("command", "state list"), ("dir", "tokens")], work.path(), token);
    assert_eq!(list.outputs["stdout"], "token.ci\n", "{}", list.log);

    // An error fails the step and still says its exit code; no markdown is offered.
    std::fs::write(tokens.join("broken.hcl"), INVALID.replace("\"ci\"", "\"other\"")).unwrap();
    let broken = runner.run(&[("command", "plan"), ("dir", "tokens")], work.path(), token);
    assert!(!broken.success);
    assert_eq!(broken.outputs["exitcode"], "1");
    assert!(broken.outputs["markdown"].is_empty() && broken.outputs["planfile"].is_empty());
    assert!(broken.log.contains("::error::tokenform plan failed (exit 1)"), "{}", broken.log);

    // Install only, for steps that call tokenform themselves.
    let install = runner.run(&[("command", "--version")], work.path(), token);
    assert!(install.success && install.outputs["stdout"].starts_with("tokenform "), "{}", install.log);

    // A pinned version is installed from crates.io, cached under its own key.
    let pinned =
        runner.run(&[("command", "validate"), ("dir", "tokens"), ("version", "0.1.0")], work.path(), token);
    assert!(
        pinned.cargo.contains("install --locked --root")
            && pinned.cargo.contains("tokenform --version 0.1.0"),
        "{}",
        pinned.cargo
    );
}
