//! The HTTP routes of the emulated token API, strictly per `docs/ld-openapi/tokens.openapi.json`: list
//! (limit/offset/showAll, `totalCount` = all visible tokens), create (201, full secret once),
//! get, JSON Patch, delete, legacy reset, caller identity, custom roles. Error bodies are
//! `{code, message}`. Limits and faults live in `limits`; who may do what in `auth`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::auth::{Caller, authenticate};
use super::store::{PreviousSecret, SeedToken, Store, new_object_id, new_secret, now_ms, write_atomic};

/// State shared by the handlers.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Arc<Mutex<Store>>,
    /// Where mutations are persisted (`--data`).
    pub data: Option<PathBuf>,
    pub page_max: u32,
}

/// An error answer: status, LaunchDarkly `code`, message.
#[derive(Debug)]
pub struct Fail(StatusCode, &'static str, String);

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        error_response(self.0, self.1, &self.2)
    }
}

/// `{code, message}` with `status`.
pub fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({"code": code, "message": message}))).into_response()
}

fn bad(message: impl Into<String>) -> Fail {
    Fail(StatusCode::BAD_REQUEST, "invalid_request", message.into())
}

fn unauthorized() -> Fail {
    Fail(StatusCode::UNAUTHORIZED, "unauthorized", "Invalid access token".into())
}

fn forbidden() -> Fail {
    Fail(StatusCode::FORBIDDEN, "forbidden", "Forbidden. Access to the requested resource was denied.".into())
}

fn not_found() -> Fail {
    Fail(StatusCode::NOT_FOUND, "not_found", "Invalid resource identifier".into())
}

fn patch_failed(message: impl Into<String>) -> Fail {
    Fail(StatusCode::UNPROCESSABLE_ENTITY, "patch_failed", message.into())
}

type Answer = Result<Response, Fail>;
type Params = Result<Query<HashMap<String, String>>, QueryRejection>;

/// The router (without the limits layer).
pub fn router(state: AppState) -> axum::Router {
    axum::Router::new()
        .route("/api/v2/tokens", get(list_tokens).post(create_token))
        .route("/api/v2/tokens/{id}", get(get_token).patch(patch_token).delete(delete_token))
        .route("/api/v2/tokens/{id}/reset", axum::routing::post(reset_token))
        .route("/api/v2/caller-identity", get(caller_identity))
        .route("/api/v2/roles", get(list_roles))
        .route("/api/v2/roles/{key}", get(get_role))
        .fallback(|| async { not_found() })
        .method_not_allowed_fallback(|| async {
            Fail(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "Method not allowed".into())
        })
        .with_state(state)
}

impl AppState {
    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Persists the store after a mutation (when `--data` is set).
    fn persist(&self, store: &Store) -> Result<(), Fail> {
        let Some(path) = &self.data else { return Ok(()) };
        let bytes = serde_json::to_vec_pretty(&store.to_seed())
            .map_err(|e| Fail(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", e.to_string()))?;
        write_atomic(path, &bytes)
            .map_err(|e| Fail(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", e.to_string()))
    }
}

fn caller(store: &mut Store, headers: &HeaderMap) -> Result<Caller, Fail> {
    authenticate(store, headers).ok_or_else(unauthorized)
}

fn params(q: Params) -> Result<HashMap<String, String>, Fail> {
    q.map(|Query(m)| m).map_err(|e| bad(format!("invalid query string: {e}")))
}

fn int_param(p: &HashMap<String, String>, name: &str) -> Result<Option<i64>, Fail> {
    p.get(name).map(|v| v.parse::<i64>().map_err(|_| bad(format!("`{name}` must be an integer")))).transpose()
}

fn paging(p: &HashMap<String, String>, default_limit: i64, page_max: u32) -> Result<(usize, usize), Fail> {
    let limit = int_param(p, "limit")?.unwrap_or(default_limit);
    let offset = int_param(p, "offset")?.unwrap_or(0);
    if limit < 1 {
        return Err(bad("`limit` must be at least 1"));
    }
    if offset < 0 {
        return Err(bad("`offset` must not be negative"));
    }
    let limit = usize::try_from(limit.min(i64::from(page_max))).unwrap_or(usize::MAX);
    Ok((limit, usize::try_from(offset).unwrap_or(usize::MAX)))
}

async fn list_tokens(State(st): State<AppState>, headers: HeaderMap, q: Params) -> Answer {
    let p = params(q)?;
    let mut store = st.lock();
    let who = caller(&mut store, &headers)?;
    let show_all = match p.get("showAll").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(bad("`showAll` must be true or false")),
    };
    let (limit, offset) = paging(&p, 25, st.page_max)?;
    let visible: Vec<&SeedToken> = store.tokens.iter().filter(|t| who.sees_in_list(t, show_all)).collect();
    let items: Vec<Value> =
        visible.iter().skip(offset).take(limit).map(|t| store.render_token(t, None)).collect();
    let body = json!({
        "items": items,
        "totalCount": visible.len(),
        "_links": {"self": {"href": format!("/api/v2/tokens?limit={limit}&offset={offset}"), "type": "application/json"}},
    });
    Ok(Json(body).into_response())
}

fn json_body(body: &Bytes) -> Result<Value, Fail> {
    serde_json::from_slice(body).map_err(|e| bad(format!("Invalid request body: {e}")))
}

fn opt_string(v: Option<&Value>, name: &str) -> Result<Option<String>, Fail> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(bad(format!("`{name}` must be a string"))),
    }
}

fn check_role(v: &Value) -> Result<String, Fail> {
    match v.as_str() {
        Some(r @ ("reader" | "writer" | "admin")) => Ok(r.to_owned()),
        _ => Err(bad(format!("role must be one of reader, writer, admin (got {v})"))),
    }
}

fn check_role_ids(store: &Store, v: &Value) -> Result<Vec<String>, Fail> {
    let arr = v.as_array().ok_or_else(|| bad("`customRoleIds` must be an array of custom role ids"))?;
    arr.iter()
        .map(|id| {
            let id = id.as_str().ok_or_else(|| bad("`customRoleIds` must hold strings"))?;
            // Strict: ids only, even where the real API might accept keys (unconfirmed).
            if store.roles.iter().any(|r| r.id == id) {
                Ok(id.to_owned())
            } else {
                Err(bad(format!("unknown custom role id `{id}`")))
            }
        })
        .collect()
}

fn check_statements(v: &Value) -> Result<Vec<Value>, Fail> {
    let arr = v.as_array().ok_or_else(|| bad("`inlineRole` must be an array of statements"))?;
    for s in arr {
        let obj = s.as_object().ok_or_else(|| bad("a statement must be an object"))?;
        match obj.get("effect").and_then(Value::as_str) {
            Some("allow" | "deny") => {}
            _ => return Err(bad("statement `effect` must be allow or deny")),
        }
        for (a, b) in [("resources", "notResources"), ("actions", "notActions")] {
            let mut present = 0;
            for k in [a, b] {
                match obj.get(k) {
                    None | Some(Value::Null) => {}
                    Some(Value::Array(items)) if items.iter().all(Value::is_string) => present += 1,
                    Some(_) => return Err(bad(format!("statement `{k}` must be an array of strings"))),
                }
            }
            if present != 1 {
                return Err(bad(format!("a statement needs exactly one of `{a}` and `{b}`")));
            }
        }
    }
    Ok(arr.clone())
}

fn check_expiry(v: &Value) -> Result<Option<i64>, Fail> {
    match v {
        Value::Null => Ok(None),
        v => v.as_i64().map(Some).ok_or_else(|| bad("`expiry` must be an integer (Unix milliseconds)")),
    }
}

const API_VERSIONS: [i64; 5] = [20_240_415, 20_220_603, 20_210_729, 20_191_212, 20_160_426];

async fn create_token(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Answer {
    let mut store = st.lock();
    let who = caller(&mut store, &headers)?;
    if !who.can_manage_tokens {
        return Err(forbidden());
    }
    let body = json_body(&body)?;
    let obj = body.as_object().ok_or_else(|| bad("Invalid request body: expected an object"))?;
    let mut t = SeedToken {
        id: new_object_id(),
        member_id: who.member_id.clone(),
        name: opt_string(obj.get("name"), "name")?,
        description: opt_string(obj.get("description"), "description")?,
        ..SeedToken::default()
    };
    // The full secret lives only in this answer; the store keeps its hash.
    let secret = zeroize::Zeroizing::new(new_secret());
    t.set_secret(&secret);
    let mut kinds = 0;
    if let Some(r) = obj.get("role").filter(|v| !v.is_null()) {
        t.role = Some(check_role(r)?);
        kinds += 1;
    }
    if let Some(ids) = obj.get("customRoleIds").filter(|v| !v.is_null()) {
        t.custom_role_ids = check_role_ids(&store, ids)?;
        kinds += usize::from(!t.custom_role_ids.is_empty());
    }
    if let Some(s) = obj.get("inlineRole").filter(|v| !v.is_null()) {
        t.inline_role = check_statements(s)?;
        kinds += usize::from(!t.inline_role.is_empty());
    }
    if kinds != 1 {
        return Err(bad("exactly one of `role`, `customRoleIds` or `inlineRole` is required"));
    }
    match obj.get("serviceToken") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) => t.service_token = *b,
        Some(_) => return Err(bad("`serviceToken` must be a boolean")),
    }
    match obj.get("defaultApiVersion") {
        None | Some(Value::Null) => t.default_api_version = Some(API_VERSIONS[0]),
        Some(v) => match v.as_i64() {
            Some(0) => t.default_api_version = Some(API_VERSIONS[0]),
            Some(n) if API_VERSIONS.contains(&n) => t.default_api_version = Some(n),
            _ => return Err(bad(format!("unknown `defaultApiVersion` {v}"))),
        },
    }
    if let Some(e) = obj.get("expiry") {
        t.expiry = check_expiry(e)?;
    }
    let now = now_ms();
    t.creation_date = now;
    t.last_modified = now;
    let rendered = store.render_token(&t, Some(&secret));
    store.tokens.push(t);
    st.persist(&store)?;
    Ok((StatusCode::CREATED, Json(rendered)).into_response())
}

/// The index of token `id`, if this caller may address it.
fn target(store: &Store, who: &Caller, id: &str) -> Result<usize, Fail> {
    let i = store.token_index(id).ok_or_else(not_found)?;
    if who.sees(&store.tokens[i]) { Ok(i) } else { Err(not_found()) }
}

async fn get_token(State(st): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Answer {
    let mut store = st.lock();
    let who = caller(&mut store, &headers)?;
    let i = target(&store, &who, &id)?;
    Ok(Json(store.render_token(&store.tokens[i], None)).into_response())
}

async fn delete_token(State(st): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Answer {
    let mut store = st.lock();
    let who = caller(&mut store, &headers)?;
    if !who.can_manage_tokens {
        return Err(forbidden());
    }
    let i = target(&store, &who, &id)?;
    store.tokens.remove(i);
    st.persist(&store)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn reset_token(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    query: Params,
    body: Bytes,
) -> Answer {
    let p = params(query)?;
    let mut store = st.lock();
    let who = caller(&mut store, &headers)?;
    if !who.can_manage_tokens {
        return Err(forbidden());
    }
    let i = target(&store, &who, &id)?;
    // The query form (spec, Python client) wins; the JSON-body form (older Terraform) is accepted too.
    let mut expiry = int_param(&p, "expiry")?;
    if expiry.is_none() && !body.iter().all(u8::is_ascii_whitespace) {
        let v = json_body(&body)?;
        match v.get("expiry") {
            None => {}
            Some(e) => expiry = check_expiry(e)?,
        }
    }
    let now = now_ms();
    let t = &mut store.tokens[i];
    let secret = zeroize::Zeroizing::new(new_secret());
    let old = std::mem::take(&mut t.secret_hash);
    t.set_secret(&secret);
    let old_expiry = expiry.unwrap_or(now);
    t.previous_secrets.retain(|p| p.expiry > now);
    if old_expiry > now {
        t.previous_secrets.push(PreviousSecret {
            secret_hash: old,
            expiry: old_expiry,
            ..PreviousSecret::default()
        });
    }
    t.last_modified = now;
    let rendered = store.render_token(&store.tokens[i], Some(&secret));
    st.persist(&store)?;
    Ok(Json(rendered).into_response())
}

/// The fields RFC 6902 ops may touch, and whether a remove would find something.
const PATCH_PATHS: [&str; 6] = ["/name", "/description", "/role", "/customRoleIds", "/inlineRole", "/expiry"];

fn field_present(t: &SeedToken, path: &str) -> bool {
    match path {
        "/name" => t.name.is_some(),
        "/description" => t.description.is_some(),
        "/role" => t.role.is_some(),
        "/customRoleIds" => !t.custom_role_ids.is_empty(),
        "/inlineRole" => !t.inline_role.is_empty(),
        "/expiry" => t.expiry.is_some(),
        _ => false,
    }
}

fn field_value(t: &SeedToken, path: &str) -> Value {
    match path {
        "/name" => json!(t.name),
        "/description" => json!(t.description),
        "/role" => json!(t.role),
        "/customRoleIds" => json!(t.custom_role_ids),
        "/inlineRole" => json!(t.inline_role),
        "/expiry" => json!(t.expiry),
        _ => Value::Null,
    }
}

fn apply_op(store: &Store, t: &mut SeedToken, op: &Value) -> Result<(), Fail> {
    let kind = op.get("op").and_then(Value::as_str).ok_or_else(|| bad("each patch operation needs `op`"))?;
    let path =
        op.get("path").and_then(Value::as_str).ok_or_else(|| bad("each patch operation needs `path`"))?;
    if !PATCH_PATHS.contains(&path) {
        return Err(bad(format!("`{path}` cannot be patched")));
    }
    let value = op.get("value");
    match kind {
        "remove" => {
            if !field_present(t, path) {
                return Err(patch_failed(format!(
                    "Unprocessable entity. Could not apply patch: `{path}` is not set"
                )));
            }
            match path {
                "/name" => t.name = None,
                "/description" => t.description = None,
                "/role" => t.role = None,
                "/customRoleIds" => t.custom_role_ids.clear(),
                "/inlineRole" => t.inline_role.clear(),
                _ => t.expiry = None,
            }
        }
        "add" | "replace" => {
            let v = value.ok_or_else(|| bad(format!("`{kind}` on `{path}` needs a value")))?;
            match path {
                "/name" => {
                    t.name =
                        Some(opt_string(Some(v), "name")?.ok_or_else(|| bad("`name` must be a string"))?);
                }
                "/description" => t.description = opt_string(Some(v), "description")?,
                "/role" => t.role = Some(check_role(v)?),
                "/customRoleIds" => t.custom_role_ids = check_role_ids(store, v)?,
                "/inlineRole" => t.inline_role = check_statements(v)?,
                _ => t.expiry = check_expiry(v)?,
            }
        }
        "test" => {
            if value != Some(&field_value(t, path)) {
                return Err(patch_failed(format!("Unprocessable entity. Test of `{path}` failed")));
            }
        }
        other => return Err(bad(format!("unsupported patch operation `{other}`"))),
    }
    Ok(())
}

async fn patch_token(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Answer {
    let mut store = st.lock();
    let who = caller(&mut store, &headers)?;
    if !who.can_manage_tokens {
        return Err(forbidden());
    }
    let i = target(&store, &who, &id)?;
    let ops = json_body(&body)?;
    let ops = ops.as_array().ok_or_else(|| bad("Invalid request body: expected a JSON Patch array"))?;
    // All or nothing: apply to a copy.
    let mut t = store.tokens[i].clone();
    for op in ops {
        apply_op(&store, &mut t, op)?;
    }
    t.last_modified = now_ms();
    let rendered = store.render_token(&t, None);
    store.tokens[i] = t;
    st.persist(&store)?;
    Ok(Json(rendered).into_response())
}

async fn caller_identity(State(st): State<AppState>, headers: HeaderMap) -> Answer {
    let mut store = st.lock();
    let who = caller(&mut store, &headers)?;
    let mut body = json!({
        "accountId": store.account_id,
        "authKind": "token",
        "tokenKind": if who.service_token { "service" } else { "personal" },
        "tokenId": who.token_id,
        "memberId": who.member_id,
        "serviceToken": who.service_token,
    });
    if let (Some(name), Some(obj)) = (&who.token_name, body.as_object_mut()) {
        obj.insert("tokenName".into(), json!(name));
    }
    Ok(Json(body).into_response())
}

async fn list_roles(State(st): State<AppState>, headers: HeaderMap, q: Params) -> Answer {
    let p = params(q)?;
    let mut store = st.lock();
    caller(&mut store, &headers)?;
    let (limit, offset) = paging(&p, 20, st.page_max)?;
    let items: Vec<Value> = store.roles.iter().skip(offset).take(limit).map(Store::render_role).collect();
    let body = json!({
        "items": items,
        "totalCount": store.roles.len(),
        "_links": {"self": {"href": "/api/v2/roles", "type": "application/json"}},
    });
    Ok(Json(body).into_response())
}

async fn get_role(State(st): State<AppState>, headers: HeaderMap, Path(key): Path<String>) -> Answer {
    let mut store = st.lock();
    caller(&mut store, &headers)?;
    let role = store.role(&key).ok_or_else(not_found)?;
    Ok(Json(Store::render_role(role)).into_response())
}
