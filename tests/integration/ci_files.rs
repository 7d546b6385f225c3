//! The files other tools run tokenform from: `.pre-commit-hooks.yaml` (and, with the
//! composite action, `action.yml`). They parse, call only real commands and flags (checked
//! against the built binary's `--help`), and do what they say when run.

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
