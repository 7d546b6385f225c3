//! Integration tests: `tokenform drift` end to end, and the GitHub Actions examples
//! (they parse as YAML and use only commands and flags that exist).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use yaml_rust2::{Yaml, YamlLoader};

use crate::support::tokenform;

fn workflows_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/github-actions")
}

/// One `tokenform …` invocation found in a workflow: the subcommand (`state list` counts
/// as `state list`) and the flags it passes (without values).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Invocation {
    command: Vec<String>,
    flags: Vec<String>,
}

/// Global flags that take a value, so the word after them is not the subcommand.
const GLOBAL_WITH_VALUE: [&str; 2] = ["-C", "--dir"];
/// Words that end a command in a shell line.
const SHELL_OPERATORS: [&str; 10] = ["|", "||", "&&", ";", ">", ">>", "2>", "2>&1", ")", "&"];
/// Words after which a new command starts.
const COMMAND_STARTS: [&str; 11] = ["|", "||", "&&", ";", "!", "if", "then", "do", "else", "time", "$("];

/// Every `tokenform` invocation in a shell script (continuation lines joined).
fn invocations(script: &str) -> Vec<Invocation> {
    let script = script.replace("\\\n", " ");
    let mut found = Vec::new();
    for line in script.lines() {
        let line = line.replace(';', " ; ").replace("$(", " $( ").replace(')', " ) ");
        let words: Vec<&str> = line.split_whitespace().collect();
        for (i, w) in words.iter().enumerate() {
            let at_command_position = i == 0 || COMMAND_STARTS.contains(&words[i - 1]);
            if !(*w == "tokenform" && at_command_position) {
                continue;
            }
            let mut rest =
                words[i + 1..].iter().copied().take_while(|w| !SHELL_OPERATORS.contains(w)).peekable();
            let mut command = Vec::new();
            let mut flags = Vec::new();
            while let Some(word) = rest.next() {
                if let Some(flag) = word.strip_prefix('-').map(|_| word.split('=').next().unwrap_or(word)) {
                    if GLOBAL_WITH_VALUE.contains(&flag) && !word.contains('=') {
                        rest.next();
                    }
                    flags.push(flag.to_owned());
                } else if command.is_empty() || command == ["state"] {
                    command.push(word.to_owned());
                }
            }
            found.push(Invocation { command, flags });
        }
    }
    found
}

/// Every `run:` script of every step of every job.
fn run_scripts(doc: &Yaml) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(jobs) = doc["jobs"].as_hash() {
        for job in jobs.values() {
            for step in job["steps"].as_vec().map(Vec::as_slice).unwrap_or_default() {
                if let Some(run) = step["run"].as_str() {
                    out.push(run.to_owned());
                }
            }
        }
    }
    out
}

fn load_workflow(name: &str) -> (String, Yaml) {
    let text = std::fs::read_to_string(workflows_dir().join(name)).unwrap();
    let mut docs = YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{name} is not YAML: {e}"));
    assert_eq!(docs.len(), 1, "{name}: one document");
    (text, docs.remove(0))
}

#[test]
fn invocation_parser_reads_shell_lines() {
    let got = invocations(
        "set +e\ntokenform -C \"$DIR\" plan --detailed-exitcode --format=markdown > plan.md\n\
         cargo install --git x tokenform\nif ! tokenform --no-color state list; then exit 1; fi\n\
         echo tokenform drift\nout=$(tokenform drift --format json)",
    );
    assert_eq!(
        got,
        vec![
            Invocation {
                command: vec!["plan".into()],
                flags: vec!["-C".into(), "--detailed-exitcode".into(), "--format".into()]
            },
            Invocation { command: vec!["state".into(), "list".into()], flags: vec!["--no-color".into()] },
            Invocation { command: vec!["drift".into()], flags: vec!["--format".into()] },
        ]
    );
}

#[test]
fn workflows_parse_and_use_only_real_commands_and_flags() {
    let mut names: Vec<String> = std::fs::read_dir(workflows_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["apply.yml", "drift.yml", "plan.yml"]);

    let mut all = BTreeSet::new();
    for name in &names {
        let (_, doc) = load_workflow(name);
        assert!(doc["on"].as_hash().is_some(), "{name}: has triggers");
        let found: Vec<Invocation> = run_scripts(&doc).iter().flat_map(|s| invocations(s)).collect();
        assert!(!found.is_empty(), "{name}: runs tokenform");
        all.extend(found);
    }
    for inv in &all {
        let out = tokenform().args(&inv.command).arg("--help").output().unwrap();
        assert!(
            out.status.success(),
            "`tokenform {} --help` fails: the command does not exist",
            inv.command.join(" ")
        );
        let help = String::from_utf8_lossy(&out.stdout);
        for flag in &inv.flags {
            let listed = help
                .split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']')
                .any(|w| w == flag);
            assert!(listed, "`tokenform {}` has no flag {flag}:\n{help}", inv.command.join(" "));
        }
    }
    // The three jobs the examples promise.
    let has = |cmd: &str, flags: &[&str]| {
        all.iter().any(|i| i.command == [cmd] && flags.iter().all(|f| i.flags.iter().any(|g| g == f)))
    };
    assert!(has("plan", &["--format", "--detailed-exitcode"]));
    assert!(has("apply", &["--auto-approve"]));
    assert!(has("drift", &["--format"]));
}

#[test]
fn plan_and_drift_jobs_need_no_identity_and_no_other_secret() {
    for name in ["plan.yml", "drift.yml", "apply.yml"] {
        let (text, _) = load_workflow(name);
        assert!(!text.contains("TOKENFORM_IDENTITY_FILE") && !text.contains("--identity"), "{name}");
        let secrets: BTreeSet<&str> = text
            .match_indices("secrets.")
            .map(|(i, _)| {
                let rest = &text[i + "secrets.".len()..];
                &rest[..rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len())]
            })
            .collect();
        assert_eq!(secrets, BTreeSet::from(["LAUNCHDARKLY_ACCESS_TOKEN"]), "{name}");
    }
    // Drift: exit 2 opens or updates the issue, anything but 0 and 2 fails the job.
    let (_, doc) = load_workflow("drift.yml");
    let steps = doc["jobs"]["drift"]["steps"].as_vec().unwrap();
    let conditions: Vec<&str> = steps.iter().filter_map(|s| s["if"].as_str()).collect();
    assert!(conditions.contains(&"steps.drift.outputs.exitcode == '2'"), "{conditions:?}");
    let scripts = run_scripts(&doc).join("\n");
    assert!(scripts.contains("gh issue create") && scripts.contains("gh issue edit"));
    assert!(scripts.contains("*) echo \"::error::tokenform drift failed (exit $code)\"; exit 1 ;;"));
}
