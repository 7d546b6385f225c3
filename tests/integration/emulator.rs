//! The emulator against the contract: every response of every operation (success and
//! error) validates against its response schema in `docs/ld-openapi/tokens.openapi.json`
//! (the repo's copy of the contract), carries the rate-limit headers, and the behaviour the spec and
//! the API notes describe holds (secrets once, last4 later, reset grace, expiry, visibility,
//! paging, roles, faults, persistence).

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};
use tokenform::emulator::{Emulator, EmulatorOptions, RunningEmulator, Seed, SeedToken};

/// The OpenAPI document of the token API, as copied into the repo (`docs/ld-openapi/SOURCE.md`).
pub(crate) fn spec() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/ld-openapi/tokens.openapi.json");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Validates one response against the spec. Statuses the spec does not list for the
/// operation (400 on a list, 405, 503 from fault injection) must still be `{code, message}`
/// error bodies. Returns the name of the schema used.
pub(crate) fn check_response(
    spec: &Value,
    method: &str,
    template: &str,
    status: u16,
    body: &Value,
) -> String {
    let op = &spec["paths"][template][method.to_lowercase()];
    assert!(op.is_object(), "{method} {template} is not in the spec");
    let response = &op["responses"][status.to_string()];
    let schema_ref = if response.is_object() {
        if let Some(r) = response["content"]["application/json"]["schema"]["$ref"].as_str() {
            r.to_owned()
        } else {
            assert_eq!(status, 204, "{method} {template} {status}: no schema");
            assert!(body.is_null(), "{method} {template} 204 must have no body, got {body}");
            return "(empty)".into();
        }
    } else {
        assert!(status >= 400, "{method} {template}: undocumented success status {status}");
        "#/components/schemas/UnauthorizedErrorRep".to_owned()
    };
    let schema = json!({"$ref": schema_ref, "components": spec["components"]});
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> =
        validator.iter_errors(body).map(|e| format!("{e} at {}", e.instance_path())).collect();
    assert!(
        errors.is_empty(),
        "{method} {template} {status} does not match {schema_ref}: {errors:?}\n{body}"
    );
    if status >= 400 {
        assert!(body["code"].is_string() && body["message"].is_string(), "error body {body}");
    }
    schema_ref.rsplit('/').next().unwrap_or_default().to_owned()
}

/// A raw HTTP caller that checks every answer against the spec and the header contract.
pub(crate) struct Raw {
    http: reqwest::Client,
    pub url: String,
    spec: Value,
    /// (method, template, status, schema) of every response seen.
    pub seen: std::sync::Mutex<Vec<(String, String, u16, String)>>,
}

impl Raw {
    pub(crate) fn new(url: &str) -> Raw {
        Raw {
            http: reqwest::Client::new(),
            url: url.to_owned(),
            spec: spec(),
            seen: std::sync::Mutex::default(),
        }
    }

    /// Sends and validates; returns (status, body, headers).
    pub(crate) async fn call(
        &self,
        method: &str,
        path: &str,
        template: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut req = self.http.request(method.parse().unwrap(), format!("{}{}", self.url, path));
        if let Some(t) = token {
            req = req.header("Authorization", t);
        }
        req = req.header("LD-API-Version", "20240415");
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.unwrap();
        let body: Value =
            if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
        // docs/ld-api-notes.md §5: a set of rate-limit headers appears only with its limit
        // enforced (the emulator's is account-wide: the global set), the reset in epoch ms.
        let limited = headers.contains_key("x-ratelimit-global-limit");
        for h in ["x-ratelimit-global-limit", "x-ratelimit-global-remaining", "x-ratelimit-reset"] {
            let v = headers.get(h).map(|v| v.to_str().unwrap().parse::<i64>().unwrap());
            assert_eq!(v.is_some(), limited, "{method} {path} {status}: {h} without the rest of its set");
        }
        assert!(!headers.contains_key("x-ratelimit-route-remaining"), "no route limit is enforced");
        let schema = check_response(&self.spec, method, template, status, &body);
        self.seen.lock().unwrap().push((method.into(), template.into(), status, schema));
        (status, body, headers)
    }
}

pub(crate) async fn start(options: EmulatorOptions) -> RunningEmulator {
    Emulator::start(options).await.unwrap()
}

const TOKENS: &str = "/api/v2/tokens";
const TOKEN: &str = "/api/v2/tokens/{id}";
const RESET: &str = "/api/v2/tokens/{id}/reset";
const IDENTITY: &str = "/api/v2/caller-identity";
const ROLES: &str = "/api/v2/roles";
const ROLE: &str = "/api/v2/roles/{customRoleKey}";

fn role_seed() -> Seed {
    serde_json::from_value(json!({
        "members": [
            {"_id": "5f0000000000000000000001", "email": "owner@example.com", "role": "owner"},
            {"_id": "5f0000000000000000000002", "email": "dev@example.com", "role": "writer", "firstName": "Dev"}
        ],
        "customRoles": [
            {"_id": "600000000000000000000001", "key": "deploy-staging", "name": "Deploy staging",
             "policy": [{"effect": "allow", "actions": ["*"], "resources": ["proj/*:env/staging"]}]}
        ],
        "tokens": [
            {"name": "reader", "role": "reader", "serviceToken": true,
             "secret": "api-11111111-1111-4111-8111-111111111111"},
            {"name": "dev personal", "role": "writer", "memberId": "5f0000000000000000000002",
             "secret": "api-22222222-2222-4222-8222-222222222222", "lastUsed": 1000},
            {"name": "expired", "role": "admin", "serviceToken": true, "expiry": 1000,
             "secret": "api-33333333-3333-4333-8333-333333333333"}
        ]
    }))
    .unwrap()
}

const READER: &str = "api-11111111-1111-4111-8111-111111111111";
const DEV: &str = "api-22222222-2222-4222-8222-222222222222";
const EXPIRED: &str = "api-33333333-3333-4333-8333-333333333333";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_and_error_matches_the_spec() {
    let emu = start(EmulatorOptions { seed: Some(role_seed()), ..EmulatorOptions::default() }).await;
    let admin = emu.admin_token().expose().to_owned();
    let a = Some(admin.as_str());
    let raw = Raw::new(emu.url());
    let bogus = Some("api-00000000-0000-4000-8000-000000000000");

    // list
    assert_eq!(raw.call("GET", TOKENS, TOKENS, a, None).await.0, 200);
    assert_eq!(raw.call("GET", "/api/v2/tokens?limit=1&offset=1&showAll=true", TOKENS, a, None).await.0, 200);
    assert_eq!(raw.call("GET", "/api/v2/tokens?limit=x", TOKENS, a, None).await.0, 400);
    assert_eq!(raw.call("GET", "/api/v2/tokens?limit=0", TOKENS, a, None).await.0, 400);
    assert_eq!(raw.call("GET", TOKENS, TOKENS, None, None).await.0, 401);
    assert_eq!(raw.call("GET", TOKENS, TOKENS, bogus, None).await.0, 401);
    assert_eq!(raw.call("GET", TOKENS, TOKENS, Some(EXPIRED), None).await.0, 401);

    // create
    let (s, created, _) = raw
        .call("POST", TOKENS, TOKENS, a, Some(json!({"name": "ci", "role": "reader", "serviceToken": true})))
        .await;
    assert_eq!(s, 201);
    let id = created["_id"].as_str().unwrap().to_owned();
    let inline = json!({"name": "inline", "inlineRole": [{"effect": "allow", "actions": ["*"], "resources": ["proj/*:env/staging"]}]});
    assert_eq!(raw.call("POST", TOKENS, TOKENS, a, Some(inline)).await.0, 201);
    let custom = json!({"name": "custom", "customRoleIds": ["600000000000000000000001"]});
    assert_eq!(raw.call("POST", TOKENS, TOKENS, a, Some(custom)).await.0, 201);
    for bad in [
        json!({"role": "owner"}),
        json!({"role": "reader", "inlineRole": [{"effect": "allow", "actions": ["*"], "resources": ["*"]}]}),
        json!({"name": "no access given"}),
        json!({"customRoleIds": ["deploy-staging"]}),
        json!({"inlineRole": [{"effect": "maybe", "actions": ["*"], "resources": ["*"]}]}),
        json!({"inlineRole": [{"effect": "allow", "actions": ["*"]}]}),
        json!({"role": "reader", "serviceToken": "yes"}),
        json!({"role": "reader", "defaultApiVersion": 1}),
        json!([1, 2]),
    ] {
        let (s, body, _) = raw.call("POST", TOKENS, TOKENS, a, Some(bad.clone())).await;
        assert_eq!((s, body["code"].as_str()), (400, Some("invalid_request")), "{bad}");
    }
    assert_eq!(raw.call("POST", TOKENS, TOKENS, None, Some(json!({"role": "reader"}))).await.0, 401);
    assert_eq!(raw.call("POST", TOKENS, TOKENS, Some(READER), Some(json!({"role": "reader"}))).await.0, 403);

    // get
    let one = format!("/api/v2/tokens/{id}");
    assert_eq!(raw.call("GET", &one, TOKEN, a, None).await.0, 200);
    assert_eq!(raw.call("GET", "/api/v2/tokens/000000000000000000000000", TOKEN, a, None).await.0, 404);
    assert_eq!(raw.call("GET", &one, TOKEN, None, None).await.0, 401);

    // patch
    let ok = json!([{"op": "replace", "path": "/name", "value": "ci-2"}, {"op": "add", "path": "/description", "value": "d"}]);
    assert_eq!(raw.call("PATCH", &one, TOKEN, a, Some(ok)).await.0, 200);
    let (s, body, _) =
        raw.call("PATCH", &one, TOKEN, a, Some(json!([{"op": "remove", "path": "/inlineRole"}]))).await;
    assert_eq!((s, body["code"].as_str()), (422, Some("patch_failed")));
    let (s, body, _) = raw
        .call("PATCH", &one, TOKEN, a, Some(json!([{"op": "replace", "path": "/role", "value": "owner"}])))
        .await;
    assert_eq!((s, body["code"].as_str()), (400, Some("invalid_request")));
    for bad in [
        json!([{"op": "replace", "path": "/serviceToken", "value": false}]),
        json!([{"op": "move", "path": "/name", "from": "/description"}]),
        json!({"op": "replace"}),
    ] {
        assert_eq!(raw.call("PATCH", &one, TOKEN, a, Some(bad)).await.0, 400);
    }
    let rename = json!([{"op": "replace", "path": "/name", "value": "x"}]);
    assert_eq!(
        raw.call("PATCH", "/api/v2/tokens/000000000000000000000000", TOKEN, a, Some(rename.clone())).await.0,
        404
    );
    assert_eq!(raw.call("PATCH", &one, TOKEN, Some(READER), Some(rename.clone())).await.0, 403);
    assert_eq!(raw.call("PATCH", &one, TOKEN, None, Some(rename)).await.0, 401);

    // reset
    let reset = format!("/api/v2/tokens/{id}/reset?expiry=1893456000000");
    assert_eq!(raw.call("POST", &reset, RESET, a, None).await.0, 200);
    assert_eq!(
        raw.call("POST", "/api/v2/tokens/000000000000000000000000/reset", RESET, a, None).await.0,
        404
    );
    assert_eq!(raw.call("POST", &reset, RESET, Some(READER), None).await.0, 403);
    assert_eq!(raw.call("POST", &reset, RESET, None, None).await.0, 401);
    assert_eq!(raw.call("POST", &format!("{one}/reset?expiry=soon"), RESET, a, None).await.0, 400);

    // caller identity, roles
    let (s, me, _) = raw.call("GET", IDENTITY, IDENTITY, a, None).await;
    assert_eq!(s, 200);
    assert_eq!(me["tokenId"], emu.admin_token_id());
    assert_eq!(raw.call("GET", IDENTITY, IDENTITY, None, None).await.0, 401);
    assert_eq!(raw.call("GET", ROLES, ROLES, a, None).await.0, 200);
    assert_eq!(raw.call("GET", ROLES, ROLES, None, None).await.0, 401);
    assert_eq!(raw.call("GET", "/api/v2/roles/deploy-staging", ROLE, a, None).await.0, 200);
    assert_eq!(raw.call("GET", "/api/v2/roles/600000000000000000000001", ROLE, a, None).await.0, 200);
    assert_eq!(raw.call("GET", "/api/v2/roles/nope", ROLE, a, None).await.0, 404);
    assert_eq!(raw.call("GET", "/api/v2/roles/nope", ROLE, None, None).await.0, 401);

    // delete
    assert_eq!(raw.call("DELETE", &one, TOKEN, Some(READER), None).await.0, 403);
    assert_eq!(raw.call("DELETE", &one, TOKEN, None, None).await.0, 401);
    assert_eq!(raw.call("DELETE", &one, TOKEN, a, None).await.0, 204);
    assert_eq!(raw.call("DELETE", &one, TOKEN, a, None).await.0, 404);

    // off the spec's map: still `{code, message}` errors (no limit set here: no rate-limit headers)
    let http = reqwest::Client::new();
    for (method, path, status) in [("PUT", TOKENS, 405), ("GET", "/api/v2/flags", 404)] {
        let resp =
            http.request(method.parse().unwrap(), format!("{}{path}", emu.url())).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), status, "{method} {path}");
        assert!(!resp.headers().contains_key("x-ratelimit-reset"));
        let body: Value = resp.json().await.unwrap();
        assert!(body["code"].is_string() && body["message"].is_string(), "{body}");
    }

    // every documented operation was exercised
    let seen = raw.seen.lock().unwrap().clone();
    for (m, t) in [
        ("GET", TOKENS),
        ("POST", TOKENS),
        ("GET", TOKEN),
        ("PATCH", TOKEN),
        ("DELETE", TOKEN),
        ("POST", RESET),
        ("GET", IDENTITY),
        ("GET", ROLES),
        ("GET", ROLE),
    ] {
        assert!(seen.iter().any(|(sm, st, s, _)| sm == m && st == t && *s < 300), "{m} {t} never succeeded");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_and_injected_faults_match_the_spec() {
    let emu = start(EmulatorOptions {
        rate_limit: 3,
        rate_window: Duration::from_secs(30),
        ..EmulatorOptions::default()
    })
    .await;
    let admin = emu.admin_token().expose().to_owned();
    let raw = Raw::new(emu.url());
    let mut statuses = Vec::new();
    let mut last_headers = None;
    for _ in 0..5 {
        let (s, body, h) = raw.call("GET", TOKENS, TOKENS, Some(&admin), None).await;
        if s == 429 {
            assert_eq!(body["code"], "rate_limited");
        }
        statuses.push(s);
        last_headers = Some(h);
    }
    assert_eq!(statuses, vec![200, 200, 200, 429, 429]);
    let h = last_headers.unwrap();
    assert!(h.get("retry-after").is_none(), "Retry-After belongs to IP limits, not the global one");
    assert_eq!(h["x-ratelimit-global-remaining"], "0");
    assert_eq!(h["x-ratelimit-global-limit"], "3");
    let reset: i64 = h["x-ratelimit-reset"].to_str().unwrap().parse().unwrap();
    let now = tokenform::emulator::store::now_ms();
    assert!(reset > now && reset <= now + 30_000, "reset is the window's end in epoch ms: {reset} vs {now}");

    // without --rate-limit nothing is enforced, so no rate-limit header is sent
    let emu = start(EmulatorOptions::default()).await;
    let (_, _, h) =
        Raw::new(emu.url()).call("GET", IDENTITY, IDENTITY, Some(emu.admin_token().expose()), None).await;
    assert!(!h.keys().any(|k| k.as_str().starts_with("x-ratelimit-")), "{h:?}");

    let emu = start(EmulatorOptions { fail_rate: 1.0, ..EmulatorOptions::default() }).await;
    let admin = emu.admin_token().expose().to_owned();
    let raw = Raw::new(emu.url());
    let before = emu.snapshot().tokens.len();
    let (s, body, _) = raw.call("POST", TOKENS, TOKENS, Some(&admin), Some(json!({"role": "reader"}))).await;
    assert_eq!((s, body["code"].as_str()), (503, Some("service_unavailable")));
    assert_eq!(emu.snapshot().tokens.len(), before, "a 503 never performs the operation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_show_once_and_reset_keeps_the_old_one_until_expiry() {
    let emu = start(EmulatorOptions::default()).await;
    let admin = emu.admin_token().expose().to_owned();
    let raw = Raw::new(emu.url());
    let (_, created, _) = raw
        .call("POST", TOKENS, TOKENS, Some(&admin), Some(json!({"role": "admin", "serviceToken": true})))
        .await;
    let secret = created["token"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 40);
    let uuid = uuid::Uuid::parse_str(secret.strip_prefix("api-").unwrap()).unwrap();
    assert_eq!(uuid.get_version_num(), 4);
    let one = format!("/api/v2/tokens/{}", created["_id"].as_str().unwrap());
    let (_, got, _) = raw.call("GET", &one, TOKEN, Some(&admin), None).await;
    assert_eq!(got["token"].as_str().unwrap(), &secret[36..]);
    assert!(got.get("lastUsed").is_none(), "never used yet");

    // the new token authenticates, and lastUsed records it
    assert_eq!(raw.call("GET", IDENTITY, IDENTITY, Some(&secret), None).await.0, 200);
    let (_, got, _) = raw.call("GET", &one, TOKEN, Some(&admin), None).await;
    assert!(got["lastUsed"].as_i64().unwrap() > 0);

    // reset with a grace period (query form): both secrets work
    let later = tokenform::emulator::store::now_ms() + 60_000;
    let (s, reset, _) =
        raw.call("POST", &format!("{one}/reset?expiry={later}"), RESET, Some(&admin), None).await;
    assert_eq!(s, 200);
    let second = reset["token"].as_str().unwrap().to_owned();
    assert_ne!(second, secret);
    assert_eq!(raw.call("GET", IDENTITY, IDENTITY, Some(&secret), None).await.0, 200);
    assert_eq!(raw.call("GET", IDENTITY, IDENTITY, Some(&second), None).await.0, 200);

    // reset with the JSON-body form and an expiry in the past: the previous secret stops at once
    let (s, reset, _) =
        raw.call("POST", &format!("{one}/reset"), RESET, Some(&admin), Some(json!({"expiry": 1}))).await;
    assert_eq!(s, 200);
    let third = reset["token"].as_str().unwrap().to_owned();
    assert_eq!(raw.call("GET", IDENTITY, IDENTITY, Some(&second), None).await.0, 401);
    assert_eq!(
        raw.call("GET", IDENTITY, IDENTITY, Some(&secret), None).await.0,
        200,
        "first grace still runs"
    );
    assert_eq!(raw.call("GET", IDENTITY, IDENTITY, Some(&third), None).await.0, 200);

    // expiry patched into the past: the token stops working
    let past = json!([{"op": "replace", "path": "/expiry", "value": 1}]);
    assert_eq!(raw.call("PATCH", &one, TOKEN, Some(&admin), Some(past)).await.0, 200);
    assert_eq!(raw.call("GET", IDENTITY, IDENTITY, Some(&third), None).await.0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_pages_caps_and_visibility() {
    let mut seed = role_seed();
    for i in 0..60 {
        seed.tokens.push(SeedToken {
            name: Some(format!("svc-{i}")),
            role: Some("reader".into()),
            service_token: true,
            ..SeedToken::default()
        });
    }
    let emu = start(EmulatorOptions { seed: Some(seed), page_max: 20, ..EmulatorOptions::default() }).await;
    let admin = emu.admin_token().expose().to_owned();
    let raw = Raw::new(emu.url());
    // service tokens: reader, expired, 60 svc, admin = 63; the personal one is only seen with showAll
    let (_, page, _) = raw.call("GET", TOKENS, TOKENS, Some(&admin), None).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 20, "default 25, capped by --page-max 20");
    assert_eq!(page["totalCount"], 63);
    let (_, page, _) =
        raw.call("GET", "/api/v2/tokens?limit=100&offset=60", TOKENS, Some(&admin), None).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 3);
    let (_, page, _) =
        raw.call("GET", "/api/v2/tokens?showAll=true&limit=5", TOKENS, Some(&admin), None).await;
    assert_eq!(page["totalCount"], 64);
    // a personal writer token sees service tokens plus its own member's personal tokens, and cannot manage
    let (_, page, _) =
        raw.call("GET", "/api/v2/tokens?showAll=true&limit=100", TOKENS, Some(DEV), None).await;
    assert_eq!(page["totalCount"], 64);
    let names: BTreeSet<String> =
        page["items"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_owned()).collect();
    assert!(names.contains("dev personal"));
    assert_eq!(raw.call("POST", TOKENS, TOKENS, Some(DEV), Some(json!({"role": "reader"}))).await.0, 403);
    // a reader service token does not see the personal token, even with showAll
    let (_, page, _) = raw.call("GET", "/api/v2/tokens?showAll=true", TOKENS, Some(READER), None).await;
    assert_eq!(page["totalCount"], 63);
    // seeded lastUsed survives; the personal token's member is described
    let (_, page, _) =
        raw.call("GET", "/api/v2/tokens?showAll=true&limit=100", TOKENS, Some(&admin), None).await;
    let dev = page["items"].as_array().unwrap().iter().find(|t| t["name"] == "dev personal").unwrap().clone();
    assert_eq!(dev["_member"]["email"], "dev@example.com");
    assert_eq!(dev["serviceToken"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_file_persists_across_restarts_with_private_mode() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("state/emulator.json");
    let token_file = dir.path().join("state/admin-token");
    let options = EmulatorOptions {
        data: Some(data.clone()),
        admin_token_file: Some(token_file.clone()),
        ..EmulatorOptions::default()
    };
    let emu = start(options.clone()).await;
    let admin = emu.admin_token().expose().to_owned();
    let raw = Raw::new(emu.url());
    let (_, created, _) =
        raw.call("POST", TOKENS, TOKENS, Some(&admin), Some(json!({"name": "kept", "role": "reader"}))).await;
    let secret = created["token"].as_str().unwrap().to_owned();
    drop(emu);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in [&data, &token_file] {
            assert_eq!(std::fs::metadata(f).unwrap().permissions().mode() & 0o777, 0o600, "{}", f.display());
        }
    }
    let emu = start(options).await;
    assert_eq!(emu.admin_token().expose(), admin, "the admin token file is reused");
    let raw = Raw::new(emu.url());
    let (s, me, _) = raw.call("GET", IDENTITY, IDENTITY, Some(&secret), None).await;
    assert_eq!(s, 200, "a created token authenticates after a restart");
    assert_eq!(me["tokenId"], created["_id"]);
    let admins = emu
        .snapshot()
        .tokens
        .iter()
        .filter(|t| t.name.as_deref() == Some("tokenform-emulator-admin"))
        .count();
    assert_eq!(admins, 1);
}

#[test]
fn the_schema_check_rejects_what_the_spec_forbids() {
    let spec = spec();
    let bad_token = json!({"_id": "x", "ownerId": "o", "memberId": "m", "creationDate": "yesterday", "lastModified": 1, "_links": {}});
    let caught = std::panic::catch_unwind(|| check_response(&spec, "GET", TOKEN, 200, &bad_token));
    assert!(caught.is_err(), "a string creationDate must fail validation");
    let no_code = json!({"message": "nope"});
    let caught = std::panic::catch_unwind(|| check_response(&spec, "GET", TOKEN, 404, &no_code));
    assert!(caught.is_err(), "an error body without code must fail validation");
    let ok = json!({"_id": "x", "ownerId": "o", "memberId": "m", "creationDate": 1, "lastModified": 1, "_links": {}});
    assert_eq!(check_response(&spec, "GET", TOKEN, 200, &ok), "Token");
}
