//! The API client against the emulator: paging over many pages, 429 storms, injected 503s
//! and lost answers, latency and timeouts, status → error mapping, redaction, `connect`
//! (URL and token rules, `base_url = "embedded"`), the `dev-server` command, and the
//! official LaunchDarkly Python client against `tokenform dev-server`.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokenform::api::{ApiError, Client, ClientOptions, PatchOp, RetryPolicy, TokenPost, TraceSink};
use tokenform::commands::session::{ConnectInputs, connect};
use tokenform::config::{BaseUrl, LaunchDarkly};
use tokenform::emulator::{EmulatorOptions, RunningEmulator, Seed, SeedToken};
use tokenform::endpoint::EndpointError;
use tokenform::model::Role;
use tokenform::secret::Secret;

use crate::emulator::start;
use crate::support::{DevServer, bin};

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_retries: 10,
        max_rate_limit_retries: 100,
        base: Duration::from_millis(5),
        cap: Duration::from_secs(2),
        max_wait: Duration::from_mins(2),
    }
}

fn client_for(emu: &RunningEmulator, tweak: impl FnOnce(&mut ClientOptions)) -> Client {
    let mut o = ClientOptions::new(emu.url(), emu.admin_token().clone());
    o.retry = fast_retry();
    tweak(&mut o);
    Client::new(o).unwrap()
}

fn service_tokens(n: usize) -> Seed {
    Seed {
        tokens: (0..n)
            .map(|i| SeedToken {
                name: Some(format!("svc-{i}")),
                role: Some("reader".into()),
                service_token: true,
                ..SeedToken::default()
            })
            .collect(),
        ..Seed::default()
    }
}

fn reader(name: &str) -> TokenPost {
    TokenPost {
        name: Some(name.into()),
        role: Some(Role::Reader),
        service_token: Some(true),
        ..TokenPost::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_live_reads_1000_tokens_through_page_max_20() {
    let emu = start(EmulatorOptions {
        seed: Some(service_tokens(1000)),
        page_max: 20,
        ..EmulatorOptions::default()
    })
    .await;
    let expected: BTreeSet<String> = emu.snapshot().tokens.into_iter().map(|t| t.id).collect();
    assert_eq!(expected.len(), 1001);

    let client = client_for(&emu, |_| {});
    let live = client.fetch_live(&[], false).await.unwrap();
    let got: BTreeSet<String> = live.tokens.iter().map(|t| t.id.clone()).collect();
    assert_eq!(live.tokens.len(), 1001, "no duplicates");
    assert_eq!(got, expected);
    assert_eq!(live.caller.token_id.as_deref(), Some(emu.admin_token_id()));
    // 51 pages of 20 (asked for 100, advanced by what came), one identity, one (empty) role page
    assert_eq!(client.request_count(), 51 + 1 + 1);

    let sequential = client_for(&emu, |o| o.page_concurrency = 1);
    let tokens = sequential.list_tokens(false).await.unwrap();
    assert_eq!(tokens.iter().map(|t| t.id.clone()).collect::<BTreeSet<_>>(), expected);
    assert_eq!(sequential.request_count(), 51);
}

/// Six creates, each from its own client (six CI jobs at once: no pacer knows of the
/// others, so each create goes before any answer could tell it about the window), and a
/// listing from a seventh, against a limit of 4 per 1 s window: at least three are answered
/// 429 however loaded the machine is (the emulator's first window opens at the first
/// request; only a stall of a second between the first seven could spread them over two
/// windows). Every 429 is waited out, the listing sees every token once, each create
/// happens once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_storm_is_waited_out() {
    let emu = start(EmulatorOptions {
        seed: Some(service_tokens(60)),
        page_max: 10,
        rate_limit: 4,
        rate_window: Duration::from_secs(1),
        latency: Duration::from_millis(50),
        ..EmulatorOptions::default()
    })
    .await;
    let buffer = Arc::new(Mutex::new(Vec::<u8>::new()));
    let traced = || {
        let sink: Arc<Mutex<dyn std::io::Write + Send>> = buffer.clone();
        client_for(&emu, |o| o.trace = Some(TraceSink::new(sink)))
    };
    let lister = traced();
    let jobs: Vec<Client> = (0..6).map(|_| traced()).collect();
    let seeded: BTreeSet<String> = emu.snapshot().tokens.into_iter().map(|t| t.id).collect();
    let creates = jobs
        .iter()
        .enumerate()
        .map(|(i, c)| async move { c.create_token(&reader(&format!("storm-{i}"))).await });
    let (live, outcomes) = tokio::join!(lister.fetch_live(&[], false), futures::future::join_all(creates));
    // creates append while the list is read: every seeded token is there, each once
    let live = live.unwrap();
    let ids: BTreeSet<String> = live.tokens.iter().map(|t| t.id.clone()).collect();
    assert_eq!(ids.len(), live.tokens.len());
    assert!(ids.is_superset(&seeded) && ids.len() <= 67);
    for c in outcomes {
        c.unwrap();
    }
    let trace = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
    let refused = trace.lines().filter(|l| l.starts_with("<- 429 ")).count();
    assert!(refused >= 3, "7 requests went blind against a limit of 4, {refused} answered 429:\n{trace}");
    let names: Vec<String> = emu.snapshot().tokens.into_iter().filter_map(|t| t.name).collect();
    for i in 0..6 {
        assert_eq!(names.iter().filter(|n| **n == format!("storm-{i}")).count(), 1, "storm-{i} created once");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_503s_are_retried_and_never_duplicate_a_create() {
    let emu = start(EmulatorOptions {
        seed: Some(service_tokens(100)),
        page_max: 10,
        fail_rate: 0.3,
        ..EmulatorOptions::default()
    })
    .await;
    let client = client_for(&emu, |_| {});
    assert_eq!(client.fetch_live(&[], false).await.unwrap().tokens.len(), 101);
    let mut ids = Vec::new();
    for i in 0..8 {
        ids.push(client.create_token(&reader(&format!("flaky-{i}"))).await.unwrap().id);
    }
    client.patch_token(&ids[0], &[PatchOp::replace("/name", json!("renamed"))]).await.unwrap();
    client.delete_token(&ids[1]).await.unwrap();
    let names: Vec<String> = emu.snapshot().tokens.into_iter().filter_map(|t| t.name).collect();
    for i in 2..8 {
        assert_eq!(names.iter().filter(|n| **n == format!("flaky-{i}")).count(), 1);
    }
    assert!(names.contains(&"renamed".to_owned()));
    assert!(client.request_count() > 11 + 3, "no 503 was injected");

    // always failing: a create is refused with the 503, and nothing was created
    let emu = start(EmulatorOptions { fail_rate: 1.0, ..EmulatorOptions::default() }).await;
    let client = client_for(&emu, |o| o.retry.max_retries = 2);
    let err = client.create_token(&reader("never")).await.unwrap_err();
    assert_eq!(err.status(), Some(503), "{err}");
    assert_eq!(err.code(), Some("service_unavailable"));
    assert_eq!(client.request_count(), 3, "503 is a definite refusal: a create may be repeated");
    assert_eq!(emu.snapshot().tokens.len(), 1, "only the admin token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_answers_make_creates_unknown_and_deletes_idempotent() {
    let emu = start(EmulatorOptions { lost_rate: 1.0, ..EmulatorOptions::default() }).await;
    let client = client_for(&emu, |o| o.retry.max_retries = 3);
    let err = client.create_token(&reader("maybe")).await.unwrap_err();
    assert!(matches!(err, ApiError::OutcomeUnknown { .. }), "{err:?}");
    assert_eq!(client.request_count(), 1, "a create whose answer was lost is not repeated");
    let created: Vec<SeedToken> =
        emu.snapshot().tokens.into_iter().filter(|t| t.name.as_deref() == Some("maybe")).collect();
    assert_eq!(created.len(), 1, "it did happen: apply must reconcile by listing");

    // the delete runs, its answer is lost, the retry finds 404: that is success
    let id = created[0].id.clone();
    client.delete_token(&id).await.unwrap();
    assert_eq!(client.request_count(), 3);
    assert!(emu.snapshot().tokens.iter().all(|t| t.id != id));
    // a 404 on the first attempt is still an error
    let emu = start(EmulatorOptions::default()).await;
    let err = client_for(&emu, |_| {}).delete_token("000000000000000000000000").await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_beyond_the_timeout_is_a_transport_error_or_unknown_outcome() {
    let emu =
        start(EmulatorOptions { latency: Duration::from_millis(400), ..EmulatorOptions::default() }).await;
    let slow = client_for(&emu, |o| {
        o.timeout = Duration::from_millis(100);
        o.retry.max_retries = 1;
    });
    let err = slow.create_token(&reader("late")).await.unwrap_err();
    assert!(
        matches!(err, ApiError::OutcomeUnknown { ref method, ref path, .. } if method == "POST" && path == "/api/v2/tokens"),
        "{err:?}"
    );
    let err = slow.reset_token("000000000000000000000000", Some(1)).await.unwrap_err();
    assert!(matches!(err, ApiError::OutcomeUnknown { .. }), "{err:?}");
    let err = slow.caller_identity().await.unwrap_err();
    assert!(matches!(err, ApiError::Transport { .. }), "{err:?}");
    assert_eq!(slow.request_count(), 1 + 1 + 2, "GET retried once, POSTs never");

    // with a timeout above the latency, everything works
    let patient = client_for(&emu, |_| {});
    assert!(patient.caller_identity().await.unwrap().token_id.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_map_to_typed_errors() {
    let seed: Seed = serde_json::from_value(json!({"tokens": [
        {"name": "ro", "role": "reader", "serviceToken": true, "secret": "api-11111111-1111-4111-8111-111111111111"}
    ]}))
    .unwrap();
    let emu = start(EmulatorOptions { seed: Some(seed), ..EmulatorOptions::default() }).await;
    let admin = client_for(&emu, |_| {});

    let mut o = ClientOptions::new(emu.url(), Secret::new("api-00000000-0000-4000-8000-000000000000"));
    o.retry = fast_retry();
    let err = Client::new(o).unwrap().list_tokens(false).await.unwrap_err();
    assert!(
        matches!(err, ApiError::Unauthorized { status: 401, ref code, .. } if code.as_deref() == Some("unauthorized")),
        "{err:?}"
    );

    let mut o = ClientOptions::new(emu.url(), Secret::new("api-11111111-1111-4111-8111-111111111111"));
    o.retry = fast_retry();
    let ro = Client::new(o).unwrap();
    assert_eq!(ro.list_tokens(false).await.unwrap().len(), 2, "a reader may read");
    let err = ro.create_token(&reader("nope")).await.unwrap_err();
    assert!(
        matches!(err, ApiError::Forbidden { ref method, status: 403, .. } if method == "POST"),
        "{err:?}"
    );

    let err = admin.get_token("000000000000000000000000").await.unwrap_err();
    assert!(
        matches!(err, ApiError::NotFound { ref path, .. } if path == "/api/v2/tokens/000000000000000000000000"),
        "{err:?}"
    );
    let t = admin.create_token(&reader("target")).await.unwrap();
    let err = admin.patch_token(&t.id, &[PatchOp::remove("/inlineRole")]).await.unwrap_err();
    assert!(
        matches!(err, ApiError::Http { status: 422, ref code, .. } if code.as_deref() == Some("patch_failed")),
        "{err:?}"
    );
    let err = admin.patch_token(&t.id, &[PatchOp::replace("/role", json!("owner"))]).await.unwrap_err();
    assert_eq!((err.status(), err.code()), (Some(400), Some("invalid_request")));
    assert_eq!(admin.request_count(), 4, "4xx answers are not retried");

    // a patch, a reset, roles by key
    let patched = admin
        .patch_token(
            &t.id,
            &[PatchOp::replace("/name", json!("t2")), PatchOp::add("/description", json!("d"))],
        )
        .await
        .unwrap();
    assert_eq!((patched.name(), patched.description.as_deref()), ("t2", Some("d")));
    let reset = admin.reset_token(&t.id, Some(tokenform::emulator::store::now_ms() + 60_000)).await.unwrap();
    let new_secret = reset.token.unwrap();
    assert_eq!(new_secret.expose().len(), 40);
    assert!(admin.custom_role("missing").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_debug_errors_or_the_trace() {
    let emu = start(EmulatorOptions::default()).await;
    let buffer = Arc::new(Mutex::new(Vec::<u8>::new()));
    let sink: Arc<Mutex<dyn std::io::Write + Send>> = buffer.clone();
    let client = client_for(&emu, |o| o.trace = Some(TraceSink::new(sink)));
    let created = client.create_token(&reader("traced")).await.unwrap();
    let secret = created.token.clone().unwrap().expose().to_owned();
    let reset = client.reset_token(&created.id, None).await.unwrap();
    let second = reset.token.clone().unwrap().expose().to_owned();
    client.fetch_live(&[], true).await.unwrap();
    let err = client.patch_token(&created.id, &[PatchOp::remove("/description")]).await.unwrap_err();

    let trace = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
    assert!(trace.contains("-> POST") && trace.contains("<- 201"), "trace is empty or partial:\n{trace}");
    assert!(trace.contains("Authorization: <redacted>"));
    let admin = emu.admin_token().expose();
    for (what, text) in [
        ("trace", trace),
        ("Debug of Token", format!("{created:?} {reset:?}")),
        ("Debug of Client", format!("{client:?}")),
        ("error", format!("{err} {err:?}")),
    ] {
        for s in [secret.as_str(), second.as_str(), admin] {
            assert!(!text.contains(s), "{what} leaks a secret");
        }
        assert!(!tokenform::secret::looks_like_secret(&text), "{what} holds a secret-shaped string");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_refuses_plain_http_foreign_hosts_and_tokens_not_api_shaped() {
    let dir = tempfile::tempdir().unwrap();
    let settings = |url: &str, env: &str| LaunchDarkly {
        base_url: BaseUrl::Url(url.into()),
        access_token_env: env.into(),
        ..LaunchDarkly::default()
    };
    let good = Secret::new("api-0a1b2c3d-0000-4000-8000-00000000beef");
    let with = |token: Option<&Secret>| ConnectInputs { token: token.cloned(), ..ConnectInputs::default() };
    let err = connect(&settings("http://app.launchdarkly.com", "T"), dir.path(), &with(Some(&good)))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ApiError::Endpoint(EndpointError::PlainHttp { ref host, .. }) if host == "app.launchdarkly.com"),
        "{err:?}"
    );
    // the client checks on its own, whatever the configuration loader let through
    let evil = settings("https://app.launchdarkly.com.evil.invalid", "T");
    let err = connect(&evil, dir.path(), &with(Some(&good))).await.unwrap_err();
    assert!(matches!(err, ApiError::Endpoint(EndpointError::NotAllowed { .. })), "{err:?}");

    let env = "TOKENFORM_TEST_TOKEN_THAT_IS_NEVER_SET";
    let err =
        connect(&settings("https://app.launchdarkly.com", env), dir.path(), &with(None)).await.unwrap_err();
    assert!(matches!(err, ApiError::MissingToken { env: ref e } if e == env), "{err:?}");
    assert!(err.to_string().contains(env));

    // access_token_env = "GITHUB_TOKEN": a value that is not api-… is never sent, never shown
    let github = Secret::new("ghp_R3alLookingGitHubTokenValue0123456789");
    let err = connect(&settings("http://127.0.0.1:9", "GITHUB_TOKEN"), dir.path(), &with(Some(&github)))
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::InvalidToken { ref env } if env == "GITHUB_TOKEN"), "{err:?}");
    let shown = format!("{err} {err:?}");
    let shown = format!("{shown} {:?}", miette::Report::new(err));
    assert!(!shown.contains("R3alLooking") && !shown.contains("ghp_"), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_mode_runs_the_emulator_in_process_and_persists() {
    let dir = tempfile::tempdir().unwrap();
    let settings = LaunchDarkly { base_url: BaseUrl::Embedded, ..LaunchDarkly::default() };
    let client = connect(&settings, dir.path(), &ConnectInputs::default()).await.unwrap();
    assert!(client.base_url().starts_with("http://127.0.0.1:"));
    let me = client.caller_identity().await.unwrap();
    let created = client.create_token(&reader("embedded")).await.unwrap();
    drop(client);

    // issue 11 item 8: the config dir holds no secret, only hashes (and no admin-token file)
    assert!(!dir.path().join(".tokenform/admin-token").exists());
    let data = std::fs::read_to_string(dir.path().join(".tokenform/emulator.json")).unwrap();
    assert!(tokenform::secret::find_secret(&data).is_none(), "a secret in the data file: {data}");
    assert!(
        data.contains(&tokenform::emulator::store::secret_hash(created.token.as_ref().unwrap().expose()))
    );

    let client = connect(&settings, dir.path(), &ConnectInputs::default()).await.unwrap();
    assert_eq!(client.caller_identity().await.unwrap().token_id, me.token_id, "same admin token");
    let live = client.fetch_live(&[], false).await.unwrap();
    assert!(live.token(&created.id).is_some(), "the token survived the restart");
}

fn seed() -> serde_json::Value {
    json!({
        "customRoles": [{"_id": "600000000000000000000001", "key": "deploy", "name": "Deploy",
                          "policy": [{"effect": "allow", "actions": ["*"], "resources": ["proj/*"]}]}],
        "tokens": (0..30).map(|i| json!({"name": format!("seeded-{i}"), "role": "reader", "serviceToken": true,
                                          "lastUsed": 1_600_000_000_000_i64})).collect::<Vec<_>>()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_server_serves_a_seed_to_the_client() {
    let server = DevServer::seeded(&seed(), &["--page-max", "7"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(server.dir.path().join("admin-token")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let mut o = ClientOptions::new(&server.url, Secret::new(server.admin_token.clone()));
    o.retry = fast_retry();
    let client = Client::new(o).unwrap();
    let live = client.fetch_live(&["deploy".to_owned()], false).await.unwrap();
    assert_eq!(live.tokens.len(), 31);
    assert_eq!(live.role_id("deploy"), Some("600000000000000000000001"));
    let seeded = live.tokens.iter().find(|t| t.name() == "seeded-3").unwrap();
    assert_eq!(seeded.last_used, Some(1_600_000_000_000));
    assert_eq!(
        client.resolve_role_keys(&["deploy".to_owned()]).await.unwrap().get("deploy").map(String::as_str),
        Some("600000000000000000000001")
    );
}

#[test]
fn dev_server_prints_its_admin_token_once_and_refuses_non_loopback() {
    let out = Command::new(bin())
        .args(["dev-server", "--listen", "0.0.0.0:0"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));

    let mut child = Command::new(bin())
        .args(["dev-server", "--listen", "127.0.0.1:0"])
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let second = lines.next().unwrap().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(first.starts_with("tokenform dev-server listening on http://127.0.0.1:"), "{first}");
    let token = second.strip_prefix("admin token: ").unwrap();
    assert!(tokenform::secret::looks_like_secret(token) && token.len() == 40, "{second}");
}

/// The official Python client (PyPI `launchdarkly-api==25.0.1`) against `tokenform dev-server`.
#[test]
fn the_official_python_client_works_against_dev_server() {
    let Ok(venv) = std::env::var("TOKENFORM_PY_VENV") else {
        panic!("TOKENFORM_PY_VENV is not set: run the suite through `.ci/test` (it sets up the Python venv)");
    };
    let server = DevServer::seeded(&seed(), &["--page-max", "10"]);
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/ld_client_conformance.py");
    let out = Command::new(std::path::Path::new(&venv).join("bin/python"))
        .arg(script)
        .arg(&server.url)
        .arg(&server.admin_token)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "python conformance failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("conformance: ok"), "{stdout}");
}

#[test]
fn client_is_clone_send_sync() {
    fn assert_shareable<T: Clone + Send + Sync + 'static>() {}
    assert_shareable::<Client>();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_server_persists_its_data_file_and_stops_on_sigterm() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data.json");
    let token_file = tmp.path().join("admin");
    let mut child = Command::new(bin())
        .args(["dev-server", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .arg("--admin-token-file")
        .arg(&token_file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_owned();
    let admin = std::fs::read_to_string(&token_file).unwrap().trim().to_owned();
    let mut o = ClientOptions::new(&url, Secret::new(admin));
    o.retry = fast_retry();
    let client = Client::new(o).unwrap();
    let created = client.create_token(&reader("kept")).await.unwrap();

    let status = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert_eq!(exit.code(), Some(0), "SIGTERM is a clean stop");
    let saved = Seed::from_file(&data).unwrap();
    let kept =
        saved.tokens.iter().find(|t| t.id == created.id).expect("the created token is in the data file");
    assert_eq!(kept.secret_hash, tokenform::emulator::store::secret_hash(created.token.unwrap().expose()));
    let admin_entry =
        saved.tokens.iter().find(|t| t.name.as_deref() == Some("tokenform-emulator-admin")).unwrap();
    assert!(admin_entry.last_used.is_some(), "lastUsed is written at shutdown");
}

/// A scripted server: answers each request with the next (status, body) of `script`
/// (the last one repeats), so retry decisions can be checked exactly.
async fn scripted(script: Vec<(u16, serde_json::Value)>) -> (String, Arc<Mutex<usize>>) {
    let hits = Arc::new(Mutex::new(0usize));
    let counter = hits.clone();
    let script = Arc::new(script);
    let app = axum::Router::new().fallback(move || {
        let (counter, script) = (counter.clone(), script.clone());
        async move {
            let n = {
                let mut c = counter.lock().unwrap();
                *c += 1;
                *c - 1
            };
            let (status, body) = script[n.min(script.len() - 1)].clone();
            let mut resp = axum::response::IntoResponse::into_response((
                axum::http::StatusCode::from_u16(status).unwrap(),
                axum::Json(body),
            ));
            if status == 429 {
                resp.headers_mut().insert("retry-after", axum::http::HeaderValue::from_static("0"));
            }
            resp
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, hits)
}

fn scripted_client(url: &str) -> Client {
    let mut o = ClientOptions::new(url, Secret::new("api-00000000-0000-4000-8000-000000000000"));
    o.retry = fast_retry();
    Client::new(o).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_decisions_follow_what_each_answer_proves() {
    let not_found = json!({"code": "not_found", "message": "Invalid resource identifier"});
    let token = json!({"_id": "61095542756dba551110ae21", "ownerId": "o", "memberId": "m",
                       "creationDate": 1, "lastModified": 1, "_links": {}, "name": "n"});

    // DELETE: a 500 may have deleted it, so the 404 that follows is success
    let (url, hits) =
        scripted(vec![(500, json!({"code": "internal", "message": "x"})), (404, not_found.clone())]).await;
    scripted_client(&url).delete_token("61095542756dba551110ae21").await.unwrap();
    assert_eq!(*hits.lock().unwrap(), 2);

    // DELETE: a 503 or 429 proves nothing was done, so a 404 after it is a real 404
    let (url, _) = scripted(vec![
        (503, json!({"code": "service_unavailable", "message": "x"})),
        (404, not_found.clone()),
    ])
    .await;
    assert!(scripted_client(&url).delete_token("x").await.unwrap_err().is_not_found());
    let (url, _) =
        scripted(vec![(429, json!({"code": "rate_limited", "message": "x"})), (404, not_found)]).await;
    assert!(scripted_client(&url).delete_token("x").await.unwrap_err().is_not_found());

    // PATCH: a 409 optimistic-locking conflict is retried
    let (url, hits) = scripted(vec![
        (409, json!({"code": "optimistic_locking_error", "message": "x"})),
        (200, token.clone()),
    ])
    .await;
    let t = scripted_client(&url).patch_token("x", &[PatchOp::replace("/name", json!("n"))]).await.unwrap();
    assert_eq!((t.name(), *hits.lock().unwrap()), ("n", 2));

    // POST create: a 500 is not repeated (it may have created the token); a 409 is not either
    let (url, hits) =
        scripted(vec![(500, json!({"code": "internal", "message": "x"})), (201, token.clone())]).await;
    let err = scripted_client(&url).create_token(&reader("x")).await.unwrap_err();
    assert!(matches!(err, ApiError::OutcomeUnknown { .. }), "{err:?}");
    assert_eq!(*hits.lock().unwrap(), 1);
    let (url, hits) =
        scripted(vec![(409, json!({"message": "conflict, and no code"})), (201, token.clone())]).await;
    let err = scripted_client(&url).create_token(&reader("x")).await.unwrap_err();
    assert_eq!((err.status(), err.code(), *hits.lock().unwrap()), (Some(409), None, 1));

    // POST create: a 429 (Retry-After only) is waited out and repeated
    let (url, hits) =
        scripted(vec![(429, json!({"code": "rate_limited", "message": "x"})), (201, token)]).await;
    scripted_client(&url).create_token(&reader("x")).await.unwrap();
    assert_eq!(*hits.lock().unwrap(), 2);
}
