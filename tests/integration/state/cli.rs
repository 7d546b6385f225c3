//! `state list|show|rm|mv`, `secret`, `output`, `rekey`, `force-unlock` through the real
//! binary: what they print, lock races between processes, a crash injected between the
//! temp file and the rename, and every bad input exiting 1 with the state byte-for-byte.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use tokenform::config::EncryptMode;
use tokenform::model::Address;
use tokenform::secret::Secret;
use tokenform::state::journal::journal_path;
use tokenform::state::lock::lock_path;
use tokenform::state::model::{RetiringToken, State, TokenState};
use tokenform::state::{Identities, JournalRecord, LockMode, StateStore};

use super::{age_key, settings};
use crate::support::{lock_field, stderr, stdout, tokenform};

const READER: &str = "api-0a1b2c3d-0000-4000-8000-00000000beef";
const DEPLOY: &str = "api-0a1b2c3d-0000-4000-8000-0000000cafe1";

/// A config dir with an identity, a `main.hcl` whose state block uses its recipient, and
/// a state holding `token.ci_reader` and `token.deployer["staging"]` (with secrets) and
/// `token.legacy` (imported: no secret).
struct Env {
    dir: tempfile::TempDir,
    key: PathBuf,
    recipient: String,
    encrypt: EncryptMode,
}

impl Env {
    fn new(encrypt: EncryptMode) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let (key, recipient) = age_key(dir.path(), "tokenform.key");
        let env = Env { dir, key, recipient, encrypt };
        let recipients = [env.recipient.clone()];
        env.config(&recipients, "");
        env.seed();
        env
    }

    /// Rewrites `main.hcl` with these state recipients and extra HCL.
    fn config(&self, recipients: &[String], extra: &str) {
        let list = recipients.iter().map(|r| format!("\"{r}\"")).collect::<Vec<_>>().join(", ");
        let encrypt = if self.encrypt == EncryptMode::File { "file" } else { "secrets" };
        std::fs::write(
            self.dir.path().join("main.hcl"),
            format!("state {{\n  recipients = [{list}]\n  encrypt    = \"{encrypt}\"\n}}\n{extra}"),
        )
        .unwrap();
    }

    fn ids(&self) -> Identities {
        Identities::load(&self.key).unwrap()
    }

    fn seed(&self) {
        let ids = self.ids();
        let settings = settings(self.dir.path(), &[&self.recipient], self.encrypt);
        let lock = LockMode::Exclusive { timeout: Duration::ZERO, command: "seed".into() };
        let mut store = StateStore::open(&settings, lock, Some(&ids)).unwrap();
        let now: jiff::Timestamp = "2026-05-01T12:00:00Z".parse().unwrap();
        for (address, secret) in [
            (Address::new("ci_reader"), Some(READER)),
            (Address::keyed("deployer", "staging"), Some(DEPLOY)),
            (Address::new("legacy"), None),
        ] {
            let secret = secret.map(|s| store.seal(&Secret::new(s), &[], now).unwrap());
            store
                .record(JournalRecord::Upsert {
                    address: address.clone(),
                    token: Box::new(token(&address, secret)),
                })
                .unwrap();
        }
        store.save().unwrap();
    }

    fn state_path(&self) -> PathBuf {
        self.dir.path().join("tokenform.state.json")
    }

    fn bytes(&self) -> Vec<u8> {
        std::fs::read(self.state_path()).unwrap()
    }

    fn state(&self) -> State {
        let settings = settings(self.dir.path(), &[&self.recipient], self.encrypt);
        StateStore::open(&settings, LockMode::Shared, Some(&self.ids())).unwrap().state().clone()
    }

    fn cmd(&self) -> Command {
        let mut cmd = tokenform();
        cmd.arg("-C").arg(self.dir.path());
        cmd
    }

    /// A command with `--identity` (or, in file mode, the env var: state subcommands have no flag).
    fn with_identity(&self, args: &[&str]) -> Command {
        let mut cmd = self.cmd();
        cmd.args(args).env("TOKENFORM_IDENTITY_FILE", &self.key);
        cmd
    }
}

fn token(address: &Address, secret: Option<tokenform::state::SecretRecord>) -> TokenState {
    TokenState {
        id: format!("61095542756dba551110{:04x}", address.label.len()),
        name: address.to_string().replace("token.", ""),
        description: None,
        role: Some("reader".into()),
        custom_role_ids: vec![],
        custom_role_keys: vec![],
        inline_role: None,
        service_token: true,
        api_version: None,
        expiry: None,
        created_at: "2026-05-01T12:00:00Z".parse().unwrap(),
        member_id: None,
        prevent_destroy: false,
        secret,
        terraform_address: None,
        undelivered: Vec::new(),
    }
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap()
}

#[track_caller]
fn ok(out: &Output) {
    assert!(out.status.success(), "exit {:?}\n{}", out.status.code(), stderr(out));
}

/// Runs `cmd` expecting exit 1 with `code` in the diagnostic, no secret anywhere in the
/// output, and the state file (and its absence of a journal) exactly as before.
#[track_caller]
fn refused(env: &Env, cmd: &mut Command, code: &str) -> String {
    let before = env.bytes();
    let out = run(cmd);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{cmd:?}\n{err}");
    assert!(err.contains(code), "expected {code} in:\n{err}");
    for s in [READER, DEPLOY] {
        assert!(!err.contains(s) && !stdout(&out).contains(s), "a secret leaked:\n{err}");
    }
    assert_eq!(env.bytes(), before, "the state file changed");
    assert!(!journal_path(&env.state_path()).exists(), "a journal was left");
    err
}

#[test]
fn list_and_show_print_metadata_and_never_a_secret() {
    let env = Env::new(EncryptMode::Secrets);
    let out = run(env.cmd().args(["state", "list"]));
    ok(&out);
    assert_eq!(stdout(&out), "token.ci_reader\ntoken.deployer[\"staging\"]\ntoken.legacy\n");

    let out = run(env.cmd().args(["state", "show", "token.deployer[\"staging\"]"]));
    ok(&out);
    let text = stdout(&out);
    assert!(text.starts_with("# token.deployer[\"staging\"]\n"), "{text}");
    assert!(text.contains("secret_last4      = \"afe1\""), "{text}");
    assert!(text.contains("secret_issued_at  = \"2026-05-01T12:00:00Z\""), "{text}");
    assert!(text.contains(&env.recipient));
    assert!(!text.contains(DEPLOY) && !text.contains("BEGIN AGE"), "{text}");

    let out = run(env.cmd().args(["state", "show", "token.legacy"]));
    ok(&out);
    assert!(stdout(&out).contains("secret          = null"), "{}", stdout(&out));

    refused(&env, env.cmd().args(["state", "show", "token.nope"]), "tokenform::state::unknown_address");
    refused(&env, env.cmd().args(["state", "show", "nope"]), "tokenform::cli::bad_address");
}

#[test]
fn secret_prints_one_secret_with_the_identity_from_the_flag_or_the_env() {
    let env = Env::new(EncryptMode::Secrets);
    let out = run(env.cmd().args(["secret", "token.ci_reader", "--identity"]).arg(&env.key));
    ok(&out);
    assert_eq!(stdout(&out), format!("{READER}\n"));
    let out = run(&mut env.with_identity(&["secret", "token.deployer[\"staging\"]"]));
    ok(&out);
    assert_eq!(stdout(&out), format!("{DEPLOY}\n"));

    refused(&env, env.cmd().args(["secret", "token.ci_reader"]), "tokenform::state::no_identity");
    let (stranger, _) = age_key(env.dir.path(), "stranger.key");
    let err = refused(
        &env,
        env.cmd().args(["secret", "token.ci_reader", "--identity"]).arg(&stranger),
        "tokenform::state::decrypt",
    );
    assert!(err.contains("token.ci_reader"), "{err}");
    refused(&env, &mut env.with_identity(&["secret", "token.legacy"]), "tokenform::state::no_secret");
    refused(&env, &mut env.with_identity(&["secret", "token.gone"]), "tokenform::state::unknown_address");
    let junk = env.dir.path().join("junk.key");
    std::fs::write(&junk, "AGE-SECRET-KEY-1NOTAKEY\n").unwrap();
    let err = refused(
        &env,
        env.cmd().args(["secret", "token.ci_reader", "--identity"]).arg(&junk),
        "tokenform::state::identity",
    );
    assert!(!err.contains("NOTAKEY"), "the identity file is never quoted: {err}");
}

#[test]
fn output_prints_every_token_as_json_env_or_dotenv() {
    let env = Env::new(EncryptMode::Secrets);
    let out = run(&mut env.with_identity(&["output"]));
    ok(&out);
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 3);
    assert_eq!(json[0]["address"], "token.ci_reader");
    assert_eq!(json[0]["secret"], READER);
    assert_eq!(json[1]["address"], "token.deployer[\"staging\"]");
    assert_eq!(json[1]["name"], "deployer[\"staging\"]");
    assert!(json[1]["id"].as_str().unwrap().starts_with("61095542756dba551110"));
    assert_eq!(json[2]["secret"], serde_json::Value::Null);

    let out = run(&mut env.with_identity(&["output", "--format", "env"]));
    ok(&out);
    assert_eq!(
        stdout(&out),
        format!("export TOKENFORM_CI_READER='{READER}'\nexport TOKENFORM_DEPLOYER_STAGING='{DEPLOY}'\n")
    );
    assert!(stderr(&out).contains("token.legacy has no secret"));
    let out = run(&mut env.with_identity(&["output", "--format", "dotenv"]));
    ok(&out);
    assert_eq!(stdout(&out), format!("TOKENFORM_CI_READER={READER}\nTOKENFORM_DEPLOYER_STAGING={DEPLOY}\n"));

    refused(&env, env.cmd().arg("output"), "tokenform::state::no_identity");
}

#[test]
fn rm_and_mv_edit_the_state_with_a_new_serial_and_a_backup() {
    let env = Env::new(EncryptMode::Secrets);
    let before = env.state();
    let original = env.bytes();
    ok(&run(env.cmd().args(["state", "rm", "token.legacy"])));
    let after = env.state();
    assert_eq!(after.serial, before.serial + 1);
    assert_eq!(after.lineage, before.lineage);
    assert!(!after.tokens.contains_key(&Address::new("legacy")));
    assert_eq!(std::fs::read(tokenform::state::atomic::backup_path(&env.state_path(), 1)).unwrap(), original);
    assert_eq!(std::fs::metadata(env.state_path()).unwrap().permissions().mode() & 0o777, 0o600);

    ok(&run(env.cmd().args(["state", "mv", "token.ci_reader", "token.reader[\"ci\"]"])));
    let moved = env.state();
    assert_eq!(moved.serial, before.serial + 2);
    let token = &moved.tokens[&Address::keyed("reader", "ci")];
    assert_eq!(token, &before.tokens[&Address::new("ci_reader")], "moved as is, secret included");
    let out = run(&mut env.with_identity(&["secret", "token.reader[\"ci\"]"]));
    assert_eq!(stdout(&out), format!("{READER}\n"));

    refused(&env, env.cmd().args(["state", "rm", "token.legacy"]), "tokenform::state::unknown_address");
    refused(
        &env,
        env.cmd().args(["state", "mv", "token.reader[\"ci\"]", "token.deployer[\"staging\"]"]),
        "tokenform::state::address_taken",
    );
    refused(
        &env,
        env.cmd().args(["state", "rm", "token.x", "--lock-timeout", "soon"]),
        "tokenform::cli::bad_duration",
    );
}

/// Issue 10 §7: a required variable the tokens use does not stop the commands that only
/// read or edit the state (they take no -var, as `terraform state list` needs none).
#[test]
fn state_secret_output_and_show_need_no_variables() {
    let env = Env::new(EncryptMode::Secrets);
    // Issue 10 §7 wording (it said "the secrets is age-encrypted").
    let err = refused(&env, env.cmd().arg("rekey"), "tokenform::state::no_identity");
    assert!(err.contains("no identity was given to decrypt the secrets"), "{err}");
    let recipients = [env.recipient.clone()];
    env.config(
        &recipients,
        "variable \"team\" {\n  type = string\n}\n\ntoken \"ci_reader\" {\n  name = \"${var.team}-reader\"\n  role = \"reader\"\n}\n",
    );
    for args in [
        &["state", "list"][..],
        &["state", "show", "token.legacy"],
        &["secret", "token.ci_reader"],
        &["output"],
        &["show"],
        &["state", "pull"],
        &["state", "mv", "token.legacy", "token.old"],
        &["state", "rm", "token.old"],
    ] {
        let out = run(&mut env.with_identity(args));
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
    assert_eq!(
        stdout(&run(env.cmd().args(["state", "list"]))),
        "token.ci_reader\ntoken.deployer[\"staging\"]\n"
    );
    // What needs the tokens still needs the variable.
    refused(&env, &mut env.with_identity(&["rekey"]), "tokenform::config::missing_variable");

    // A state block that uses a variable without a value is an error, said once.
    let main = format!(
        "variable \"team\" {{\n  type = string\n}}\nvariable \"where\" {{\n  type = string\n}}\nlocals {{\n  file = \"${{var.where}}.json\"\n}}\nstate {{\n  path       = local.file\n  recipients = [\"{}\"]\n}}\n",
        env.recipient
    );
    std::fs::write(env.dir.path().join("main.hcl"), main).unwrap();
    let err = refused(&env, env.cmd().args(["state", "list"]), "tokenform::config::missing_variable");
    assert!(err.contains("variable `where` has no value") && !err.contains("`team`"), "{err}");
    assert!(err.contains("TOKENFORM_VAR_where"), "{err}");
    let out = run(env.cmd().args(["state", "list"]).env("TOKENFORM_VAR_where", "tokenform.state"));
    assert_eq!(stdout(&out), "token.ci_reader\ntoken.deployer[\"staging\"]\n", "{}", stderr(&out));
}

/// Issue 10 §7: `state rm ADDR` forgets ADDR's retiring generations too, or the next apply
/// would delete a token the user asked tokenform to stop managing.
#[test]
fn state_rm_forgets_the_retiring_generations_of_the_address() {
    let env = Env::new(EncryptMode::Secrets);
    {
        let settings = settings(env.dir.path(), &[&env.recipient], env.encrypt);
        let lock = LockMode::Exclusive { timeout: Duration::ZERO, command: "seed".into() };
        let mut store = StateStore::open(&settings, lock, Some(&env.ids())).unwrap();
        let expires_at: jiff::Timestamp = "2026-05-02T12:00:00Z".parse().unwrap();
        for (address, id) in [
            (Address::new("ci_reader"), "61095542756dba5511100a01"),
            (Address::new("ci_reader"), "61095542756dba5511100a02"),
            (Address::new("legacy"), "61095542756dba5511100b01"),
        ] {
            let retiring = RetiringToken::new(address, id, "old", expires_at);
            store.record(JournalRecord::AddRetiring { retiring }).unwrap();
        }
        store.save().unwrap();
    }
    let out = run(env.cmd().args(["state", "rm", "token.ci_reader"]));
    ok(&out);
    let err = stderr(&out);
    assert!(
        err.contains(
            "Also removed its 2 retiring generations (id 61095542756dba5511100a01, 61095542756dba5511100a02)"
        ),
        "{err}"
    );
    let left: Vec<String> = env.state().retiring.iter().map(|r| r.id.clone()).collect();
    assert_eq!(left, ["61095542756dba5511100b01"], "only the other address's generation is kept");
    // Without generations, nothing extra is said.
    let out = run(env.cmd().args(["state", "rm", "token.deployer[\"staging\"]"]));
    ok(&out);
    assert!(!stderr(&out).contains("retiring"), "{}", stderr(&out));
}

#[test]
fn rekey_reencrypts_to_the_current_recipients_and_reports_what_it_cannot_open() {
    let env = Env::new(EncryptMode::Secrets);
    let (new_key, new_recipient) = age_key(env.dir.path(), "new.key");
    let (extra_key, extra_recipient) = age_key(env.dir.path(), "extra.key");
    env.config(
        std::slice::from_ref(&new_recipient),
        &format!("token \"ci_reader\" {{\n  role = \"reader\"\n  recipients = [\"{extra_recipient}\"]\n}}\n"),
    );
    let before = env.state();
    let out = run(&mut env.with_identity(&["rekey"]));
    ok(&out);
    assert!(stderr(&out).contains("Re-encrypted 2 secrets"), "{}", stderr(&out));

    let secret_with = |key: &Path, address: &str| {
        let out = run(env.cmd().args(["secret", address, "--identity"]).arg(key));
        (out.status.code(), stdout(&out))
    };
    assert_eq!(secret_with(&new_key, "token.ci_reader"), (Some(0), format!("{READER}\n")));
    assert_eq!(secret_with(&extra_key, "token.ci_reader"), (Some(0), format!("{READER}\n")));
    assert_eq!(secret_with(&new_key, "token.deployer[\"staging\"]"), (Some(0), format!("{DEPLOY}\n")));
    assert_eq!(secret_with(&extra_key, "token.deployer[\"staging\"]").0, Some(1), "extra only for its token");
    assert_eq!(secret_with(&env.key, "token.ci_reader").0, Some(1), "the old key no longer opens it");
    let after = env.state_with(&new_key);
    let record = after.tokens[&Address::new("ci_reader")].secret.clone().unwrap();
    assert_eq!(record.recipients, vec![new_recipient.clone(), extra_recipient]);
    assert_eq!(
        record.issued_at,
        before.tokens[&Address::new("ci_reader")].secret.as_ref().unwrap().issued_at
    );

    // Now the old identity opens nothing: both are reported and left as they are.
    let mut cmd = env.cmd();
    cmd.args(["rekey", "--identity"]).arg(&env.key);
    let err = refused(&env, &mut cmd, "tokenform::rekey::left_as_is");
    assert!(err.contains("token.ci_reader") && err.contains("token.deployer[\"staging\"]"), "{err}");
}

impl Env {
    fn state_with(&self, key: &Path) -> State {
        let settings = settings(self.dir.path(), &[&self.recipient], self.encrypt);
        let ids = Identities::load(key).unwrap();
        StateStore::open(&settings, LockMode::Shared, Some(&ids)).unwrap().state().clone()
    }

    /// Holds the state lock from this test process, as another tokenform would.
    fn hold_lock(&self) -> StateStore {
        let settings = settings(self.dir.path(), &[&self.recipient], self.encrypt);
        let lock = LockMode::Exclusive { timeout: Duration::ZERO, command: "apply".into() };
        StateStore::open(&settings, lock, Some(&self.ids())).unwrap()
    }
}

#[test]
fn a_held_lock_fails_clearly_and_lock_timeout_waits_for_it() {
    let env = Env::new(EncryptMode::Secrets);
    let held = env.hold_lock();
    let err = refused(&env, env.cmd().args(["state", "rm", "token.legacy"]), "tokenform::state::locked");
    // Terraform's shape, so scripts can read the holder: one `Key: value` line each.
    let id = lock_field(&err, "ID");
    assert_eq!(id, held_lock_id(&env), "{err}");
    assert_eq!(lock_field(&err, "Operation"), "apply", "{err}");
    assert!(lock_field(&err, "Who").ends_with(&format!("@{}", tokenform::state::lock::hostname())));
    assert!(lock_field(&err, "Created").ends_with('Z'), "{err}");
    assert!(err.contains("the state is locked") && err.contains("Lock Info:"), "{err}");
    assert!(err.contains(&format!("force-unlock {id}")), "{err}");
    // Readers need no lock.
    ok(&run(env.cmd().args(["state", "list"])));

    let child = env.cmd().args(["state", "rm", "token.legacy", "--lock-timeout", "20s"]).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(400));
    drop(held);
    let out = child.wait_with_output().unwrap();
    ok(&out);
    assert!(!env.state().tokens.contains_key(&Address::new("legacy")));
}

#[test]
fn two_processes_racing_for_the_lock_never_both_write() {
    let env = Env::new(EncryptMode::Secrets);
    let serial = env.state().serial;
    // Waiting writers: both get their turn, one after the other; no update is lost.
    let a = env.cmd().args(["state", "rm", "token.legacy", "--lock-timeout", "30s"]).spawn().unwrap();
    let b = env
        .cmd()
        .args(["state", "mv", "token.ci_reader", "token.ci", "--lock-timeout", "30s"])
        .spawn()
        .unwrap();
    ok(&a.wait_with_output().unwrap());
    ok(&b.wait_with_output().unwrap());
    let state = env.state();
    assert_eq!(state.serial, serial + 2);
    let addresses: Vec<String> = state.tokens.keys().map(ToString::to_string).collect();
    assert_eq!(addresses, ["token.ci", "token.deployer[\"staging\"]"]);

    // Impatient writers: each either wins or fails clearly; the state shows exactly the winners.
    for round in 0..5 {
        let serial = env.state().serial;
        let children: Vec<_> = [["token.ci", "token.x"], ["token.x", "token.ci"]]
            .iter()
            .map(|[from, to]| {
                env.cmd()
                    .args(["state", "mv", from, to])
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut wins = 0;
        for child in children {
            let out = child.wait_with_output().unwrap();
            match out.status.code() {
                Some(0) => wins += 1,
                Some(1) => {
                    let err = stderr(&out);
                    assert!(
                        err.contains("tokenform::state::locked")
                            || err.contains("tokenform::state::unknown_address"),
                        "{err}"
                    );
                }
                other => panic!("exit {other:?}: {}", stderr(&out)),
            }
        }
        let state = env.state();
        assert_eq!(state.serial, serial + wins, "round {round}: every successful write is one serial");
        assert_eq!(state.tokens.len(), 2);
    }
}

/// The lock id the held local lock file records.
fn held_lock_id(env: &Env) -> String {
    tokenform::state::lock::read_owner_at(&lock_path(&env.state_path())).unwrap().id
}

#[test]
fn force_unlock_refuses_while_the_owner_runs_and_removes_a_dead_owners_lock() {
    let env = Env::new(EncryptMode::Secrets);
    let lock = lock_path(&env.state_path());
    let out = run(env.cmd().args(["force-unlock", "no-such-lock"]));
    ok(&out);
    assert!(stderr(&out).contains("not locked"));
    refused(&env, env.cmd().arg("force-unlock"), "LOCK_ID");

    let held = env.hold_lock();
    let id = held_lock_id(&env);
    let err = refused(&env, env.cmd().args(["force-unlock", "0000"]), "tokenform::state::lock_id_mismatch");
    assert_eq!(lock_field(&err, "ID"), id);
    let err = refused(&env, env.cmd().args(["force-unlock", &id]), "tokenform::state::lock_owner_alive");
    assert!(err.contains(&std::process::id().to_string()), "{err}");
    assert!(lock.exists());
    drop(held);

    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let host = tokenform::state::lock::hostname();
    std::fs::write(
        &lock,
        format!(
            r#"{{"id":"dead-1","who":"ci@{host}","pid":{dead},"host":"{host}","command":"apply","created_at":"2026-05-01T12:00:00Z"}}"#
        ),
    )
    .unwrap();
    let out = run(env.cmd().args(["force-unlock", "dead-1"]));
    ok(&out);
    assert!(
        stderr(&out).contains(&format!("Removed the lock dead-1 (held by ci@{host}")),
        "{}",
        stderr(&out)
    );
    assert!(!lock.exists());
}

/// Needs the crash point of the `fault-injection` feature (`.ci/test` enables it).
#[cfg(feature = "fault-injection")]
#[test]
fn a_crash_between_the_temp_file_and_the_rename_keeps_the_previous_state() {
    let env = Env::new(EncryptMode::Secrets);
    let before = env.bytes();
    let out = run(env
        .cmd()
        .args(["state", "rm", "token.legacy"])
        .env("__TOKENFORM_TEST_FAULT", "save-before-rename"));
    assert!(!out.status.success(), "the injected crash aborts the process");
    assert_eq!(env.bytes(), before, "the state file is untouched");
    let temps: Vec<_> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert_eq!(temps.len(), 1, "the crash left its temp file: {temps:?}");
    // The previous file still parses on its own…
    let previous: State = serde_json::from_slice(&before).unwrap();
    assert!(previous.tokens.contains_key(&Address::new("legacy")));
    // …and the journaled removal is not lost: readers see it, the next writer compacts it.
    let out = run(env.cmd().args(["state", "list"]));
    ok(&out);
    assert!(!stdout(&out).contains("token.legacy"), "{}", stdout(&out));
    ok(&run(env.cmd().args(["state", "mv", "token.ci_reader", "token.ci"])));
    let names: Vec<String> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains(".tmp-") || n.ends_with(".journal")), "{names:?}");
    assert_eq!(env.state().serial, previous.serial + 2);
}

#[test]
fn bad_state_files_are_errors_exit_1_and_stay_byte_for_byte() {
    let env = Env::new(EncryptMode::Secrets);
    let good = env.bytes();
    let rm = || {
        let mut cmd = env.cmd();
        cmd.args(["state", "rm", "token.legacy"]);
        cmd
    };
    std::fs::write(env.state_path(), &good[..good.len() - 40]).unwrap();
    refused(&env, &mut rm(), "tokenform::state::parse");
    refused(&env, env.cmd().args(["state", "list"]), "tokenform::state::parse");

    let newer =
        String::from_utf8(good.clone()).unwrap().replace("\"format_version\": 1", "\"format_version\": 2");
    std::fs::write(env.state_path(), newer).unwrap();
    refused(&env, &mut rm(), "tokenform::state::newer_format");

    std::fs::write(env.state_path(), &good).unwrap();
    let held = env.hold_lock();
    refused(&env, &mut rm(), "tokenform::state::locked");
    drop(held);
}

#[test]
fn bad_secrets_and_recipients_are_errors_exit_1_and_stay_byte_for_byte() {
    let env = Env::new(EncryptMode::Secrets);
    // A ciphertext cut short, and one with a byte changed, in the state itself.
    let good = env.bytes();
    let text = String::from_utf8(good.clone()).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let ct = doc["tokens"]["token.ci_reader"]["secret"]["ciphertext"].as_str().unwrap().to_owned();
    let body_line = ct.lines().nth(2).unwrap().to_owned();
    let mut flipped = body_line.clone().into_bytes();
    flipped[5] = if flipped[5] == b'A' { b'B' } else { b'A' };
    for broken in
        [ct[..ct.len() / 2].to_owned(), ct.replace(&body_line, &String::from_utf8(flipped).unwrap())]
    {
        let mut doc = doc.clone();
        let doc = &mut doc;
        doc["tokens"]["token.ci_reader"]["secret"]["ciphertext"] = serde_json::Value::String(broken);
        std::fs::write(env.state_path(), serde_json::to_vec_pretty(&*doc).unwrap()).unwrap();
        refused(&env, &mut env.with_identity(&["secret", "token.ci_reader"]), "tokenform::state::decrypt");
        // rekey re-encrypts what it can open and leaves the broken one exactly as it was.
        let out = run(&mut env.with_identity(&["rekey"]));
        assert_eq!(out.status.code(), Some(1));
        let err = stderr(&out);
        assert!(err.contains("tokenform::rekey::left_as_is"), "{err}");
        assert!(err.contains("token.ci_reader") && !err.contains("token.deployer"), "{err}");
        let after = env.state();
        assert_eq!(
            after.tokens[&Address::new("ci_reader")].secret.as_ref().unwrap().ciphertext,
            doc["tokens"]["token.ci_reader"]["secret"]["ciphertext"].as_str().unwrap_or_default(),
            "unchanged ciphertext"
        );
        assert_eq!(after.serial, env_serial(&good) + 1, "the others were rekeyed and saved");
        std::fs::write(env.state_path(), &good).unwrap();
    }

    // A recipient that is not a key, and no recipient at all, when secrets must be written.
    // (The configuration loader already rejects it, with a span; the store would too.)
    env.config(&["age1notakey".to_owned()], "");
    let err = refused(&env, &mut env.with_identity(&["rekey"]), "::bad_recipient");
    assert!(
        err.contains("tokenform::config::bad_recipient") || err.contains("tokenform::state::bad_recipient")
    );
    assert!(err.contains("age1notakey"), "{err}");
    env.config(&[], "");
    refused(&env, &mut env.with_identity(&["rekey"]), "tokenform::state::no_recipients");
}

#[test]
fn file_mode_needs_the_identity_for_every_command_and_refuses_bad_input_unchanged() {
    let env = Env::new(EncryptMode::File);
    assert!(env.bytes().starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----"));
    let out = run(&mut env.with_identity(&["state", "list"]));
    ok(&out);
    assert_eq!(stdout(&out).lines().count(), 3);
    ok(&run(&mut env.with_identity(&["state", "rm", "token.legacy"])));
    assert!(env.bytes().starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----"));
    assert_eq!(env.state().tokens.len(), 2);

    refused(&env, env.cmd().args(["state", "list"]), "tokenform::state::no_identity");
    refused(&env, env.cmd().args(["state", "rm", "token.ci_reader"]), "tokenform::state::no_identity");
    let (stranger, _) = age_key(env.dir.path(), "stranger.key");
    refused(
        &env,
        env.cmd().args(["state", "rm", "token.ci_reader"]).env("TOKENFORM_IDENTITY_FILE", &stranger),
        "tokenform::state::decrypt",
    );
    let good = env.bytes();
    std::fs::write(env.state_path(), &good[..good.len() / 2]).unwrap();
    refused(&env, &mut env.with_identity(&["state", "rm", "token.ci_reader"]), "tokenform::state::decrypt");
    let mut tampered = good.clone();
    let at = good.len() / 2;
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    std::fs::write(env.state_path(), &tampered).unwrap();
    refused(&env, &mut env.with_identity(&["state", "rm", "token.ci_reader"]), "tokenform::state::decrypt");
    std::fs::write(env.state_path(), &good).unwrap();
    env.config(&[], "");
    refused(
        &env,
        &mut env.with_identity(&["state", "rm", "token.ci_reader"]),
        "tokenform::state::no_recipients",
    );
}

/// Tests run as root, where permission bits do not stop writes; so the command runs as
/// `nobody` (via `setpriv`) in a directory it may read but not write.
#[test]
fn a_read_only_directory_is_a_clear_error_and_the_state_stays() {
    use std::os::unix::fs::chown;
    if Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("skipped: setpriv (util-linux) is not installed");
        return;
    }
    let env = Env::new(EncryptMode::Secrets);
    let nobody = 65_534;
    for name in ["tokenform.state.json", "tokenform.key", "main.hcl"] {
        std::fs::set_permissions(env.dir.path().join(name), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    // The lock file may exist and be the command's own, so the failure is the save itself.
    let lock = lock_path(&env.state_path());
    std::fs::write(&lock, "").unwrap();
    chown(&lock, Some(nobody), Some(nobody)).unwrap();
    std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o555)).unwrap();
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(crate::support::bin())
        .arg("-C")
        .arg(env.dir.path())
        .args(["state", "rm", "token.legacy"])
        .env("NO_COLOR", "1");
    let err = refused(&env, &mut cmd, "tokenform::state::io");
    assert!(err.contains("could not create"), "{err}");
    std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn env_serial(bytes: &[u8]) -> u64 {
    serde_json::from_slice::<State>(bytes).unwrap().serial
}
