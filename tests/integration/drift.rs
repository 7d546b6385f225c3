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
pub(crate) struct Invocation {
    pub command: Vec<String>,
    pub flags: Vec<String>,
}

/// Global flags that take a value, so the word after them is not the subcommand.
const GLOBAL_WITH_VALUE: [&str; 2] = ["-C", "--dir"];
/// Words that end a command in a shell line.
const SHELL_OPERATORS: [&str; 10] = ["|", "||", "&&", ";", ">", ">>", "2>", "2>&1", ")", "&"];
/// Words after which a new command starts.
const COMMAND_STARTS: [&str; 11] = ["|", "||", "&&", ";", "!", "if", "then", "do", "else", "time", "$("];

/// Every `tokenform` invocation in a shell script (continuation lines joined).
pub(crate) fn invocations(script: &str) -> Vec<Invocation> {
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
/// The steps that use the tokenform action (`action.yml`), in every job.
pub(crate) fn action_steps(doc: &Yaml) -> Vec<Yaml> {
    let mut out = Vec::new();
    if let Some(jobs) = doc["jobs"].as_hash() {
        for job in jobs.values() {
            for step in job["steps"].as_vec().map(Vec::as_slice).unwrap_or_default() {
                if step["uses"].as_str().is_some_and(|u| u.starts_with("your-org/tokenform@")) {
                    out.push(step.clone());
                }
            }
        }
    }
    out
}

/// What each tokenform action step runs: its `command` and the flags of its `args`, plus
/// the `--dir` the action passes.
fn action_invocations(doc: &Yaml) -> Vec<Invocation> {
    action_steps(doc)
        .iter()
        .map(|step| {
            let command = step["with"]["command"].as_str().unwrap_or_default();
            let args = step["with"]["args"].as_str().unwrap_or_default();
            let (flags, words): (Vec<&str>, Vec<&str>) =
                command.split_whitespace().chain(args.split_whitespace()).partition(|w| w.starts_with('-'));
            let mut flags: Vec<String> =
                flags.iter().map(|f| f.split('=').next().unwrap_or(f).to_owned()).collect();
            flags.insert(0, "--dir".into());
            let command =
                command.split_whitespace().filter(|w| words.contains(w)).map(str::to_owned).collect();
            Invocation { command, flags }
        })
        .collect()
}

pub(crate) fn run_scripts(doc: &Yaml) -> Vec<String> {
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

/// Fails unless each invocation names a real command and passes only flags its `--help`
/// lists (the real binary's, so a renamed flag breaks the examples' test, not a user's CI).
pub(crate) fn assert_real<'a>(all: impl IntoIterator<Item = &'a Invocation>) {
    for inv in all {
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
}

#[test]
fn workflows_parse_and_use_only_real_commands_and_flags() {
    let mut names: Vec<String> = std::fs::read_dir(workflows_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| Path::new(n).extension().is_some_and(|e| e == "yml"))
        .collect();
    names.sort();
    assert_eq!(names, ["apply.yml", "check.yml", "drift.yml", "plan.yml"]);

    let mut all = BTreeSet::new();
    for name in &names {
        let (_, doc) = load_workflow(name);
        assert!(doc["on"].as_hash().is_some(), "{name}: has triggers");
        let mut found: Vec<Invocation> = run_scripts(&doc).iter().flat_map(|s| invocations(s)).collect();
        found.extend(action_invocations(&doc));
        assert!(!found.is_empty(), "{name}: runs tokenform");
        all.extend(found);
    }
    assert_real(&all);
    // The jobs the examples promise.
    let has = |cmd: &str, flags: &[&str]| {
        all.iter().any(|i| i.command == [cmd] && flags.iter().all(|f| i.flags.iter().any(|g| g == f)))
    };
    assert!(has("plan", &["--detailed-exitcode"]));
    assert!(has("apply", &["--auto-approve"]));
    assert!(has("drift", &["--format"]));
    assert!(has("check", &["--format", "--live", "--stale-after"]));
    assert!(has("check", &["--severity"]));
}

#[test]
fn plan_and_drift_jobs_need_no_identity_and_no_other_secret() {
    for name in ["plan.yml", "drift.yml", "apply.yml", "check.yml"] {
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

// ---------------------------------------------------------------------------------------
// End to end: the real binary against `tokenform dev-server`.

use crate::support::{DevServer, config_dir};

/// The public recipient of `examples/quickstart/demo.key` (a demo identity, public).
const DEMO_RECIPIENT: &str = "age17rmdjdkhln5l0d4srq5swyt4k68mpqpxf84dgs3xy8hw6fv9rykssqlygq";
const DAY_MS: i64 = 86_400_000;

/// Seeded account: the owner (who the admin token belongs to) and bob; tokens made by hand
/// before tokenform arrived.
fn seed() -> serde_json::Value {
    let owner = "5f0000000000000000000001";
    let bob = "5f0000000000000000000002";
    serde_json::json!({
        "members": [
            {"_id": owner, "email": "owner@example.com", "role": "owner"},
            {"_id": bob, "email": "bob@example.com", "role": "writer"}
        ],
        "tokens": [
            {"_id": "610000000000000000000001", "memberId": owner, "name": "stale-long-ago", "role": "reader",
             "serviceToken": true, "lastUsed": tokenform::emulator::store::now_ms() - 200 * DAY_MS, "creationDate": tokenform::emulator::store::now_ms() - 400 * DAY_MS},
            {"_id": "610000000000000000000002", "memberId": owner, "name": "never-used-seeded", "role": "reader",
             "serviceToken": true, "creationDate": tokenform::emulator::store::now_ms() - 100 * DAY_MS},
            {"_id": "610000000000000000000003", "memberId": owner, "name": "expiring-hand", "role": "reader",
             "serviceToken": true, "lastUsed": tokenform::emulator::store::now_ms() - DAY_MS, "expiry": tokenform::emulator::store::now_ms() + 3 * DAY_MS},
            {"_id": "610000000000000000000004", "memberId": owner, "name": "legacy-ci", "role": "writer",
             "serviceToken": true, "lastUsed": tokenform::emulator::store::now_ms() - DAY_MS},
            {"_id": "610000000000000000000005", "memberId": bob, "name": "bobs-personal", "role": "reader",
             "serviceToken": false}
        ]
    })
}

fn config_hcl(url: &str, expires_at: &str, unmanaged: &str) -> String {
    format!(
        r#"
launchdarkly {{
  base_url = "{url}"
}}

state {{
  recipients = ["{DEMO_RECIPIENT}"]
}}

token "edited" {{
  role          = "reader"
  service_token = true
}}

token "renamed" {{
  role          = "reader"
  service_token = true
}}

token "policy_edit" {{
  service_token = true
  policy {{
    effect    = "allow"
    actions   = ["viewProject"]
    resources = ["proj/*"]
  }}
}}

token "deleted" {{
  role          = "reader"
  service_token = true
}}

token "rotating" {{
  role          = "reader"
  service_token = true
  rotation {{
    every = "30d"
  }}
}}

token "expiring_soon" {{
  role          = "reader"
  service_token = true
  expires_at    = "{expires_at}"
}}

{unmanaged}
"#
    )
}

/// One request to the emulator with the admin token: (status, JSON body or null).
fn api(
    server: &DevServer,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = client
            .request(method, format!("{}{path}", server.url))
            .header("Authorization", &server.admin_token)
            .header("LD-API-Version", "20240415");
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
    })
}

/// Creates each `(label, POST body)` token through the API and writes the state file that
/// an apply would have written for them (metadata from the API's answer, the secret sealed
/// to the demo recipient and issued now). Stands in for `apply` so drift is tested alone.
fn manage(server: &DevServer, dir: &Path, tokens: &[(&str, serde_json::Value)]) {
    use tokenform::api::model::{Live, Token};
    use tokenform::state::{LockMode, StateStore};
    let mut settings = tokenform::config::Config::empty(dir).state;
    settings.recipients = vec![DEMO_RECIPIENT.to_owned()];
    let store = StateStore::open(&settings, LockMode::Shared, None).unwrap();
    let mut state = tokenform::state::State::new();
    for (label, body) in tokens {
        let (status, created) = api(server, "POST", "/api/v2/tokens", Some(body.clone()));
        assert_eq!(status, 201, "{created}");
        let token: Token = serde_json::from_value(created).unwrap();
        let mut record = tokenform::plan::refresh::state_from_live(&token, &Live::default(), None);
        let secret = token.token.clone().unwrap();
        record.secret = Some(store.seal(&secret, &[], jiff::Timestamp::now()).unwrap());
        state.tokens.insert(tokenform::model::Address::new(*label), record);
    }
    state.serial = 1;
    std::fs::write(state_path(dir), serde_json::to_vec_pretty(&state).unwrap()).unwrap();
}

/// The managed tokens of [`config_hcl`], as create bodies.
fn managed_tokens(expiry_ms: i64) -> Vec<(&'static str, serde_json::Value)> {
    let reader = |name: &str| serde_json::json!({"name": name, "role": "reader", "serviceToken": true});
    let mut expiring = reader("expiring_soon");
    expiring["expiry"] = serde_json::json!(expiry_ms);
    vec![
        ("edited", reader("edited")),
        ("renamed", reader("renamed")),
        (
            "policy_edit",
            serde_json::json!({"name": "policy_edit", "serviceToken": true,
            "inlineRole": [{"effect": "allow", "actions": ["viewProject"], "resources": ["proj/*"]}]}),
        ),
        ("deleted", reader("deleted")),
        ("rotating", reader("rotating")),
        ("expiring_soon", expiring),
    ]
}

/// An RFC 3339 instant `days` from now, in whole seconds (HCL and the API agree on it).
fn days_from_now(days: i64) -> (String, i64) {
    let secs = jiff::Timestamp::now().as_second() + days * 86_400;
    let t = jiff::Timestamp::from_second(secs).unwrap();
    (t.to_string(), t.as_millisecond())
}

fn state_path(dir: &Path) -> PathBuf {
    dir.join("tokenform.state.json")
}

fn state_id(dir: &Path, address: &str) -> String {
    let state: serde_json::Value = serde_json::from_slice(&std::fs::read(state_path(dir)).unwrap()).unwrap();
    state["tokens"][address]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{address} not in state: {state:#}"))
        .to_owned()
}

/// `drift --format FORMAT`: (exit code, stdout, stderr).
fn drift(server: &DevServer, dir: &Path, format: &str) -> (i32, String, String) {
    let out = server.tokenform(dir).args(["drift", "--format", format]).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn schema_validator() -> jsonschema::Validator {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/drift.schema.json"))
            .unwrap();
    jsonschema::options().should_validate_formats(true).build(&serde_json::from_str(&text).unwrap()).unwrap()
}

/// `(list, name)` pairs of a JSON report, for set comparisons.
fn findings(report: &serde_json::Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for list in ["changed", "missing", "unmanaged", "rotation_due", "expiring", "stale"] {
        for entry in report[list].as_array().unwrap() {
            out.insert((list.to_owned(), entry["name"].as_str().unwrap().to_owned()));
        }
    }
    out
}

#[test]
fn drift_end_to_end_reports_every_finding_in_every_format() {
    let server = DevServer::seeded(&seed(), &[]);
    let (expires_at, _) = days_from_now(5);
    let dir = config_dir(&[("main.hcl", &config_hcl(&server.url, &expires_at, ""))]);
    let dir = dir.path();
    let out = server.tokenform(dir).args(["apply", "--auto-approve"]).output().unwrap();
    assert!(out.status.success(), "apply: {}", String::from_utf8_lossy(&out.stderr));

    // Out-of-band changes with the admin token.
    let edited = state_id(dir, "token.edited");
    let patch = serde_json::json!([{"op": "replace", "path": "/role", "value": "writer"}]);
    assert_eq!(api(&server, "PATCH", &format!("/api/v2/tokens/{edited}"), Some(patch)).0, 200);
    let renamed = state_id(dir, "token.renamed");
    let patch = serde_json::json!([{"op": "replace", "path": "/name", "value": "renamed-by-hand"}]);
    assert_eq!(api(&server, "PATCH", &format!("/api/v2/tokens/{renamed}"), Some(patch)).0, 200);
    let policy = state_id(dir, "token.policy_edit");
    let patch = serde_json::json!([{"op": "replace", "path": "/inlineRole",
        "value": [{"effect": "allow", "actions": ["*"], "resources": ["proj/*"]}]}]);
    assert_eq!(api(&server, "PATCH", &format!("/api/v2/tokens/{policy}"), Some(patch)).0, 200);
    let deleted = state_id(dir, "token.deleted");
    assert_eq!(api(&server, "DELETE", &format!("/api/v2/tokens/{deleted}"), None).0, 204);
    let body = serde_json::json!({"name": "made-by-hand", "role": "reader", "serviceToken": true});
    assert_eq!(api(&server, "POST", "/api/v2/tokens", Some(body)).0, 201);

    // A rotation overdue: the secret's metadata is in clear; age it by 40 days.
    let mut state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state_path(dir)).unwrap()).unwrap();
    let issued = jiff::Timestamp::from_millisecond(tokenform::emulator::store::now_ms() - 40 * DAY_MS)
        .unwrap()
        .to_string();
    state["tokens"]["token.rotating"]["secret"]["issued_at"] = serde_json::json!(issued);
    std::fs::write(state_path(dir), serde_json::to_vec_pretty(&state).unwrap()).unwrap();

    let (code, json, stderr) = drift(&server, dir, "json");
    assert_eq!(code, 2, "drift exits 2 on drift; stderr: {stderr}");
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let errors: Vec<String> = schema_validator().iter_errors(&report).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let got = findings(&report);
    let s = |l: &str, n: &str| (l.to_owned(), n.to_owned());
    let want = BTreeSet::from([
        s("changed", "edited"),
        s("changed", "renamed-by-hand"),
        s("changed", "policy_edit"),
        s("missing", "deleted"),
        s("unmanaged", "made-by-hand"),
        s("unmanaged", "stale-long-ago"),
        s("unmanaged", "never-used-seeded"),
        s("unmanaged", "expiring-hand"),
        s("rotation_due", "rotating"),
        s("expiring", "expiring_soon"),
        s("expiring", "expiring-hand"),
        s("unmanaged", "legacy-ci"),
        s("stale", "stale-long-ago"),
        s("stale", "never-used-seeded"),
    ]);
    // Tokens created moments ago and not used yet are not stale; bob's personal token and
    // the admin token tokenform runs with are in no list.
    assert_eq!(got, want, "{json}");
    assert!(report["drift_found"].as_bool().unwrap());

    // Per-field values: state value and live value.
    let changed = report["changed"].as_array().unwrap();
    let edited_entry = changed.iter().find(|c| c["name"] == "edited").unwrap();
    assert_eq!(edited_entry["address"], "token.edited");
    assert_eq!(edited_entry["id"], edited.as_str());
    assert_eq!(
        edited_entry["fields"][0],
        serde_json::json!({"field": "role", "state": "reader", "live": "writer"})
    );
    let policy_entry = changed.iter().find(|c| c["name"] == "policy_edit").unwrap();
    assert_eq!(policy_entry["fields"][0]["field"], "policy");
    let rotation = &report["rotation_due"][0];
    assert_eq!((rotation["reason"].as_str(), rotation["every"].as_str()), (Some("overdue"), Some("30d")));
    let stale_seeded =
        report["stale"].as_array().unwrap().iter().find(|e| e["name"] == "stale-long-ago").unwrap();
    assert_eq!(stale_seeded["creator"], "owner@example.com");
    assert!(stale_seeded["last_used"].is_string());
    // A missing token's creator is named like the others: by email, not member id.
    let missing = &report["missing"][0];
    assert_eq!(
        (missing["name"].as_str(), missing["creator"].as_str()),
        (Some("deleted"), Some("owner@example.com"))
    );

    // Every finding in the human and markdown forms too.
    let (code_h, human, _) = drift(&server, dir, "human");
    let (code_m, markdown, _) = drift(&server, dir, "markdown");
    assert_eq!((code_h, code_m), (2, 2));
    assert!(!human.contains('\x1b'), "no colour when not a terminal");
    for (_, name) in &want {
        assert!(human.contains(name.as_str()), "human lacks {name}:\n{human}");
        assert!(markdown.contains(name.as_str()), "markdown lacks {name}:\n{markdown}");
    }
    for id in [&edited, &deleted] {
        assert!(human.contains(id.as_str()) && markdown.contains(id.as_str()));
    }
    assert!(markdown.starts_with("<!-- tokenform-drift -->\n### tokenform drift: drift found"));

    // ignore_names hides a hand-made token (and only it); personal = true shows bob's.
    let unmanaged = r#"
unmanaged {
  ignore_names = ["made-by-*", "legacy-?"]
  personal     = true
}
"#;
    std::fs::write(dir.join("main.hcl"), config_hcl(&server.url, &expires_at, unmanaged)).unwrap();
    let (code, json, stderr) = drift(&server, dir, "json");
    assert_eq!(code, 2, "{stderr}");
    let got = findings(&serde_json::from_str(&json).unwrap());
    assert!(!got.contains(&s("unmanaged", "made-by-hand")), "{got:?}");
    assert!(got.contains(&s("unmanaged", "legacy-ci")), "`legacy-?` matches one character only: {got:?}");
    assert!(got.contains(&s("unmanaged", "bobs-personal")), "{got:?}");
}

#[test]
fn drift_right_after_management_is_clean_and_stale_alone_exits_zero() {
    let server = DevServer::start(&[]);
    let (far, far_ms) = days_from_now(100);
    let dir = config_dir(&[("main.hcl", &config_hcl(&server.url, &far, ""))]);
    let dir = dir.path();
    manage(&server, dir, &managed_tokens(far_ms));
    assert_clean(&server, dir, 6);
}

#[test]
fn drift_after_apply_is_clean() {
    let server = DevServer::start(&[]);
    let (far, _) = days_from_now(100);
    let dir = config_dir(&[("main.hcl", &config_hcl(&server.url, &far, ""))]);
    let dir = dir.path();
    let out = server.tokenform(dir).args(["apply", "--auto-approve"]).output().unwrap();
    assert!(out.status.success(), "apply: {}", String::from_utf8_lossy(&out.stderr));
    assert_clean(&server, dir, 6);
}

/// Drift right after management finds nothing at all: the `managed` tokens were just made,
/// so never having been used does not make them stale. With `--stale-after 0s` they are
/// stale, which alone still exits 0.
fn assert_clean(server: &DevServer, dir: &Path, managed: usize) {
    let (code, json, stderr) = drift(server, dir, "json");
    assert_eq!(code, 0, "{stderr}\n{json}");
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(schema_validator().is_valid(&report));
    assert_eq!(findings(&report), BTreeSet::new(), "{json}");
    let (code, human, _) = drift(server, dir, "human");
    assert_eq!(code, 0);
    assert!(human.starts_with("No drift."), "{human}");
    let (code, markdown, _) = drift(server, dir, "markdown");
    assert_eq!(code, 0);
    assert!(markdown.contains("### tokenform drift: no drift"), "{markdown}");

    let out =
        server.tokenform(dir).args(["drift", "--format", "json", "--stale-after", "0s"]).output().unwrap();
    let json = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{json}");
    let got = findings(&serde_json::from_str(&json).unwrap());
    // Only the new, never-used tokens; the emulator's admin token is the caller.
    assert!(got.iter().all(|(list, _)| list == "stale"), "{got:?}");
    assert_eq!(got.len(), managed, "{got:?}");
    let out = server.tokenform(dir).args(["drift", "--stale-after", "0s"]).output().unwrap();
    let human = String::from_utf8_lossy(&out.stdout);
    assert!(human.starts_with(&format!("No drift ({managed} stale, informational).")), "{human}");
}

#[test]
fn drift_errors_exit_one_never_two() {
    // An API that is not there.
    let dir = config_dir(&[("main.hcl", "launchdarkly {\n  base_url = \"http://127.0.0.1:9\"\n}\n")]);
    let out = tokenform()
        .arg("-C")
        .arg(dir.path())
        .arg("drift")
        .env("LAUNCHDARKLY_ACCESS_TOKEN", "x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    // A configuration that does not load.
    let dir = config_dir(&[("main.hcl", "token \"a\" {\n  role = \"owner\"\n}\n")]);
    let out = tokenform().arg("-C").arg(dir.path()).arg("drift").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn bad_durations_exit_one_before_anything_else() {
    let dir = config_dir(&[]);
    for flags in [["--stale-after", "3 months"], ["--expiring-within", "14"]] {
        let out = tokenform().arg("-C").arg(dir.path()).arg("drift").args(flags).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{flags:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("tokenform::drift::bad_duration") && stderr.contains(flags[1]), "{stderr}");
        assert!(out.stdout.is_empty());
    }
}

/// Runs the `run:` script of step `id` of `workflow` the way GitHub does (`bash -eo
/// pipefail`), with this build's `tokenform` first on PATH, in a fresh working directory.
/// Returns (exit code, the step's `$GITHUB_OUTPUT`, the working directory).
pub(crate) fn run_step(
    workflow: &str,
    id: &str,
    config: &Path,
    token: &str,
) -> (i32, String, tempfile::TempDir) {
    let (_, doc) = load_workflow(workflow);
    let jobs = doc["jobs"].as_hash().unwrap();
    let script = jobs
        .values()
        .flat_map(|job| job["steps"].as_vec().cloned().unwrap_or_default())
        .find(|step| step["id"].as_str() == Some(id))
        .and_then(|step| step["run"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("{workflow} has no step {id}"));
    let cwd = tempfile::tempdir().unwrap();
    let output = cwd.path().join("github-output");
    let bin_dir = Path::new(crate::support::bin()).parent().unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let status = std::process::Command::new("bash")
        .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", &script])
        .current_dir(cwd.path())
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .env("TOKENFORM_DIR", config)
        .env("LAUNCHDARKLY_ACCESS_TOKEN", token)
        .env("GITHUB_OUTPUT", &output)
        .env("GITHUB_STEP_SUMMARY", cwd.path().join("summary"))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
        .status;
    (status.code().unwrap_or(-1), std::fs::read_to_string(output).unwrap_or_default(), cwd)
}

#[test]
fn drift_workflow_step_maps_exit_codes() {
    let server = DevServer::start(&[]);
    let config =
        config_dir(&[("main.hcl", &format!("launchdarkly {{\n  base_url = \"{}\"\n}}\n", server.url))]);

    // Clean: the step passes and says 0.
    let (code, out, _) = run_step("drift.yml", "drift", config.path(), &server.admin_token);
    assert_eq!((code, out.as_str()), (0, "exitcode=0\n"));

    // A token made by hand: the step passes, says 2 (the issue step runs), and leaves the report.
    let body = serde_json::json!({"name": "made-by-hand", "role": "reader", "serviceToken": true});
    assert_eq!(api(&server, "POST", "/api/v2/tokens", Some(body)).0, 201);
    let (code, out, cwd) = run_step("drift.yml", "drift", config.path(), &server.admin_token);
    assert_eq!((code, out.as_str()), (0, "exitcode=2\n"));
    let report = std::fs::read_to_string(cwd.path().join("drift.md")).unwrap();
    assert!(report.starts_with("<!-- tokenform-drift -->") && report.contains("made-by-hand"), "{report}");
    assert_eq!(std::fs::read_to_string(cwd.path().join("summary")).unwrap(), report);

    // An error (a refused token): the step fails.
    let (code, out, _) =
        run_step("drift.yml", "drift", config.path(), "api-00000000-0000-4000-8000-000000000000");
    assert_eq!((code, out.as_str()), (1, "exitcode=1\n"));
}

/// The plan job runs the action's plan (its exit codes and markdown are the action's test,
/// `ci_files::the_action_plans_comments_applies_and_fails_against_dev_server`) and posts
/// the action's markdown.
#[test]
fn the_plan_workflow_comments_the_markdown_the_action_made() {
    let (_, doc) = load_workflow("plan.yml");
    let steps = doc["jobs"]["plan"]["steps"].as_vec().unwrap();
    let plan = steps.iter().find(|s| s["id"].as_str() == Some("plan")).unwrap();
    assert!(plan["uses"].as_str().unwrap().starts_with("your-org/tokenform@"));
    assert_eq!(plan["with"]["command"].as_str(), Some("plan"));
    assert_eq!(plan["with"]["args"].as_str(), Some("--detailed-exitcode"));
    let comment = steps
        .iter()
        .find(|s| s["uses"].as_str().is_some_and(|u| u.starts_with("actions/github-script@")))
        .unwrap();
    assert_eq!(comment["env"]["PLAN_MARKDOWN"].as_str(), Some("${{ steps.plan.outputs.markdown }}"));
    assert_eq!(comment["env"]["EXITCODE"].as_str(), Some("${{ steps.plan.outputs.exitcode }}"));
    assert!(comment["with"]["script"].as_str().unwrap().contains("process.env.PLAN_MARKDOWN"));
    // Every workflow installs tokenform through the action.
    for name in ["plan.yml", "apply.yml", "drift.yml", "check.yml"] {
        let (_, doc) = load_workflow(name);
        assert!(!action_steps(&doc).is_empty(), "{name} does not use the action");
        assert!(
            !run_scripts(&doc).iter().any(|s| s.contains("cargo install")),
            "{name} installs tokenform itself"
        );
    }
}
