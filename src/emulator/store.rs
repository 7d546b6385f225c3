//! The emulator's in-memory store: members, custom roles and tokens, loaded from a seed or
//! data file, rendered to the wire shapes of `docs/ld-openapi/tokens.openapi.json`, and persisted with atomic
//! writes. No HTTP here: `routes` decides who may do what; this module only keeps the data.
//!
//! Secrets are kept as SHA-256 hashes (and their last four characters, which lists show):
//! the emulator only has to recognise a secret, and its data file lives in the config dir
//! (`base_url = "embedded"`), next to files that get committed. A full secret exists only
//! in the answer that creates or resets it. A seed (or a data file of the old format) may
//! still give `secret` in full: it is hashed on load and never written back.

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroize as _;

use crate::secret::Secret;

/// A member of the emulated account (`MemberSummary`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeedMember {
    #[serde(rename = "_id", default)]
    pub id: String,
    #[serde(default)]
    pub email: String,
    /// Member role: `reader`, `writer`, `admin`, `owner`, `no_access`.
    #[serde(default)]
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
}

/// A custom role (`CustomRole`, the fields the emulator serves).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeedRole {
    #[serde(rename = "_id", default)]
    pub id: String,
    pub key: String,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Policy statements in wire shape (`Statement`).
    #[serde(default)]
    pub policy: Vec<Value>,
}

/// The SHA-256 of a secret, lower-case hex: what the store keeps to recognise it.
pub fn secret_hash(secret: &str) -> String {
    Sha256::digest(secret.as_bytes()).iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Whether `s` is a hash as [`secret_hash`] writes it.
fn is_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A secret that stopped being current (after a reset) and works until `expiry` (Unix ms).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PreviousSecret {
    /// [`secret_hash`] of the old secret.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub secret_hash: String,
    /// The old format kept the secret itself: read (and hashed on load), never written.
    #[serde(default, skip_serializing)]
    pub secret: String,
    pub expiry: i64,
}

impl std::fmt::Debug for PreviousSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreviousSecret")
            .field("secret_hash", &self.secret_hash)
            .field("expiry", &self.expiry)
            .finish_non_exhaustive()
    }
}

/// A token as seeded or persisted: the `Token` fields plus its secret(s).
/// Everything but `secret`-derived data is optional in a seed; missing ids and dates are generated.
#[derive(Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SeedToken {
    #[serde(rename = "_id", default)]
    pub id: String,
    #[serde(default)]
    pub member_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_role_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inline_role: Vec<Value>,
    #[serde(default)]
    pub service_token: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_api_version: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<i64>,
    #[serde(default)]
    pub creation_date: i64,
    #[serde(default)]
    pub last_modified: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used: Option<i64>,
    /// A seed's full secret (`api-` + UUIDv4): hashed on load, then cleared; never written.
    /// Without it (and without `secretHash`) a random secret nobody knows is made up.
    #[serde(default, skip_serializing)]
    pub secret: String,
    /// [`secret_hash`] of the current secret.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub secret_hash: String,
    /// The secret's last four characters, which lists show (as LaunchDarkly's do).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub secret_last4: String,
    /// Secrets replaced by a reset that still work until their expiry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous_secrets: Vec<PreviousSecret>,
}

impl std::fmt::Debug for SeedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeedToken")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("role", &self.role)
            .field("service_token", &self.service_token)
            .field("expiry", &self.expiry)
            .field("secret_last4", &self.secret_last4)
            .finish_non_exhaustive()
    }
}

impl SeedToken {
    /// Makes `secret` the token's current secret: its hash and last four are kept, not it.
    pub fn set_secret(&mut self, secret: &str) {
        self.secret_hash = secret_hash(secret);
        let chars: Vec<char> = secret.chars().collect();
        self.secret_last4 = chars[chars.len().saturating_sub(4)..].iter().collect();
    }

    /// Whether `secret` is this token's current secret, or a previous one still valid at `now`.
    fn recognises(&self, hash: &str, now: i64) -> bool {
        self.secret_hash == hash
            || self.previous_secrets.iter().any(|p| p.secret_hash == hash && p.expiry > now)
    }

    /// Replaces every full secret (seed, old data file) by its hash; makes up a secret when
    /// there is none at all.
    pub(super) fn hash_secrets(&mut self) {
        if !self.secret.is_empty() {
            let secret = std::mem::take(&mut self.secret);
            self.set_secret(&secret);
            let mut secret = secret;
            secret.zeroize();
        } else if self.secret_hash.is_empty() {
            self.set_secret(&new_secret());
        }
        for p in &mut self.previous_secrets {
            if !p.secret.is_empty() {
                p.secret_hash = secret_hash(&p.secret);
                p.secret.zeroize();
                p.secret.clear();
            }
        }
    }
}

/// The `--seed` file (and the `--data` file, which adds secrets of reset tokens).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Seed {
    /// The account id `caller-identity` reports; generated when absent.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub account_id: String,
    #[serde(default)]
    pub members: Vec<SeedMember>,
    #[serde(default)]
    pub custom_roles: Vec<SeedRole>,
    #[serde(default)]
    pub tokens: Vec<SeedToken>,
}

/// Why a seed or data file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file's own error names the path (and the cap, when it is too large).
    #[error("{reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{path} is not a valid emulator seed/data file: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error("cannot write {path}: {reason}")]
    Write { path: PathBuf, reason: String },
}

impl Seed {
    /// Reads a seed or data file.
    pub fn from_file(path: &Path) -> Result<Seed, StoreError> {
        let text = crate::files::read(path, crate::files::Kind::EmulatorData)
            .map_err(|e| StoreError::Read { path: path.to_owned(), reason: e.to_string() })?;
        let seed: Seed = serde_json::from_slice(&text)
            // serde quotes what it could not read: the file's text.
            .map_err(|e| StoreError::Parse {
                path: path.to_owned(),
                reason: crate::escape::excerpt(&e.to_string()),
            })?;
        seed.check_hashes().map_err(|reason| StoreError::Parse { path: path.to_owned(), reason })?;
        Ok(seed)
    }

    /// Every `secretHash` is a SHA-256 in hex (a hand-edited one would lock the token out silently).
    fn check_hashes(&self) -> Result<(), String> {
        for t in &self.tokens {
            let hashes =
                std::iter::once(&t.secret_hash).chain(t.previous_secrets.iter().map(|p| &p.secret_hash));
            if hashes.filter(|h| !h.is_empty()).any(|h| !is_hash(h)) {
                return Err(format!(
                    "token {:?}: `secretHash` must be the SHA-256 of the secret in lower-case hex (64 characters)",
                    crate::escape::text(&t.id)
                ));
            }
        }
        Ok(())
    }
}

/// A new 24-hex ObjectId-shaped id.
pub fn new_object_id() -> String {
    let bytes: [u8; 12] = rand::random();
    bytes.iter().fold(String::with_capacity(24), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A new token secret: `api-` + UUIDv4 (40 characters).
pub fn new_secret() -> String {
    format!("api-{}", uuid::Uuid::new_v4())
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis(),
    )
    .unwrap_or(i64::MAX)
}

/// The live store.
#[derive(Debug, Default)]
pub struct Store {
    pub account_id: String,
    pub members: Vec<SeedMember>,
    pub roles: Vec<SeedRole>,
    pub tokens: Vec<SeedToken>,
}

/// Name of the admin token the emulator creates for itself.
pub const ADMIN_TOKEN_NAME: &str = "tokenform-emulator-admin";

impl Store {
    /// Builds a store from a seed, filling generated ids, dates and secrets.
    pub fn from_seed(seed: Seed) -> Store {
        let now = now_ms();
        let mut store = Store {
            account_id: if seed.account_id.is_empty() { new_object_id() } else { seed.account_id },
            members: seed.members,
            roles: seed.custom_roles,
            tokens: seed.tokens,
        };
        for m in &mut store.members {
            if m.id.is_empty() {
                m.id = new_object_id();
            }
        }
        if store.members.is_empty() {
            store.members.push(SeedMember {
                id: new_object_id(),
                email: "owner@tokenform.invalid".into(),
                role: "owner".into(),
                first_name: None,
                last_name: None,
            });
        }
        for r in &mut store.roles {
            if r.id.is_empty() {
                r.id = new_object_id();
            }
            if r.name.is_empty() {
                r.name.clone_from(&r.key);
            }
        }
        let owner = store.owner_id();
        for t in &mut store.tokens {
            if t.id.is_empty() {
                t.id = new_object_id();
            }
            if t.member_id.is_empty() {
                t.member_id.clone_from(&owner);
            }
            t.hash_secrets();
            if t.creation_date == 0 {
                t.creation_date = now;
            }
            if t.last_modified == 0 {
                t.last_modified = t.creation_date;
            }
        }
        store
    }

    /// The data-file form of the store.
    pub fn to_seed(&self) -> Seed {
        Seed {
            account_id: self.account_id.clone(),
            members: self.members.clone(),
            custom_roles: self.roles.clone(),
            tokens: self.tokens.clone(),
        }
    }

    /// The account owner's member id (the first `owner`, else the first `admin`, else the first member).
    pub fn owner_id(&self) -> String {
        self.members
            .iter()
            .find(|m| m.role == "owner")
            .or_else(|| self.members.iter().find(|m| m.role == "admin"))
            .or_else(|| self.members.first())
            .map(|m| m.id.clone())
            .unwrap_or_default()
    }

    /// Makes sure a service token with role admin holds `secret`; returns its id. The
    /// emulator's own admin token (by name) takes a new secret rather than a second token
    /// being made: embedded mode starts with a fresh admin secret each time, so none is kept
    /// in a file.
    pub fn ensure_admin(&mut self, secret: &Secret) -> String {
        let hash = secret_hash(secret.expose());
        if let Some(t) = self.tokens.iter().find(|t| t.secret_hash == hash) {
            return t.id.clone();
        }
        let now = now_ms();
        if let Some(t) = self.tokens.iter_mut().find(|t| {
            t.name.as_deref() == Some(ADMIN_TOKEN_NAME)
                && t.role.as_deref() == Some("admin")
                && t.service_token
        }) {
            t.set_secret(secret.expose());
            t.previous_secrets.clear();
            if t.expiry.is_some_and(|e| e <= now) {
                t.expiry = None;
            }
            return t.id.clone();
        }
        let mut token = SeedToken {
            id: new_object_id(),
            member_id: self.owner_id(),
            name: Some(ADMIN_TOKEN_NAME.into()),
            description: Some("the emulator's own admin token".into()),
            role: Some("admin".into()),
            service_token: true,
            default_api_version: Some(20_240_415),
            creation_date: now,
            last_modified: now,
            ..SeedToken::default()
        };
        token.set_secret(secret.expose());
        let id = token.id.clone();
        self.tokens.push(token);
        id
    }

    /// The token `secret` authenticates (current secret, or a previous one not yet expired),
    /// unless the token itself has expired. Marks it used.
    pub fn authenticate(&mut self, secret: &str, now: i64) -> Option<usize> {
        let hash = secret_hash(secret);
        let index = self.tokens.iter().position(|t| t.recognises(&hash, now))?;
        let token = &mut self.tokens[index];
        if token.expiry.is_some_and(|e| e <= now) {
            return None;
        }
        token.last_used = Some(now);
        Some(index)
    }

    pub fn token_index(&self, id: &str) -> Option<usize> {
        self.tokens.iter().position(|t| t.id == id)
    }

    pub fn member(&self, id: &str) -> Option<&SeedMember> {
        self.members.iter().find(|m| m.id == id)
    }

    /// A custom role by key or id.
    pub fn role(&self, key_or_id: &str) -> Option<&SeedRole> {
        self.roles
            .iter()
            .find(|r| r.key == key_or_id)
            .or_else(|| self.roles.iter().find(|r| r.id == key_or_id))
    }

    /// The wire `Token`: `token` is `full_secret` (the answer of a create or reset, which
    /// just made it), else the secret's last four characters.
    pub fn render_token(&self, t: &SeedToken, full_secret: Option<&str>) -> Value {
        let secret_shown = full_secret.map_or_else(|| t.secret_last4.clone(), str::to_owned);
        let mut v = json!({
            "_id": t.id,
            "ownerId": self.owner_id(),
            "memberId": t.member_id,
            "creationDate": t.creation_date,
            "lastModified": t.last_modified,
            "serviceToken": t.service_token,
            "token": secret_shown,
            "_links": {
                "parent": {"href": "/api/v2/tokens", "type": "application/json"},
                "self": {"href": format!("/api/v2/tokens/{}", t.id), "type": "application/json"},
            },
        });
        let obj = v.as_object_mut();
        if let Some(obj) = obj {
            if let Some(m) = self.member(&t.member_id) {
                let mut member = json!({
                    "_id": m.id,
                    "email": m.email,
                    "role": m.role,
                    "_links": {"self": {"href": format!("/api/v2/members/{}", m.id), "type": "application/json"}},
                });
                if let Some(mo) = member.as_object_mut() {
                    if let Some(f) = &m.first_name {
                        mo.insert("firstName".into(), json!(f));
                    }
                    if let Some(l) = &m.last_name {
                        mo.insert("lastName".into(), json!(l));
                    }
                }
                obj.insert("_member".into(), member);
            }
            let mut put = |k: &str, val: Option<Value>| {
                if let Some(val) = val {
                    obj.insert(k.into(), val);
                }
            };
            put("name", t.name.as_ref().map(|s| json!(s)));
            put("description", t.description.as_ref().map(|s| json!(s)));
            put("role", t.role.as_ref().map(|s| json!(s)));
            put("customRoleIds", (!t.custom_role_ids.is_empty()).then(|| json!(t.custom_role_ids)));
            put("inlineRole", (!t.inline_role.is_empty()).then(|| json!(t.inline_role)));
            put("defaultApiVersion", t.default_api_version.map(|n| json!(n)));
            put("expiry", t.expiry.map(|n| json!(n)));
            put("lastUsed", t.last_used.map(|n| json!(n)));
        }
        v
    }

    /// The wire `CustomRole`.
    pub fn render_role(r: &SeedRole) -> Value {
        let mut v = json!({
            "_id": r.id,
            "key": r.key,
            "name": r.name,
            "policy": r.policy,
            "_links": {
                "parent": {"href": "/api/v2/roles", "type": "application/json"},
                "self": {"href": format!("/api/v2/roles/{}", r.key), "type": "application/json"},
            },
        });
        if let (Some(d), Some(obj)) = (&r.description, v.as_object_mut()) {
            obj.insert("description".into(), json!(d));
        }
        v
    }
}

/// Writes `bytes` to `path` atomically: temp file in the same directory (mode 0600), fsync,
/// rename, fsync of the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let err = |e: std::io::Error| StoreError::Write { path: path.to_owned(), reason: e.to_string() };
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir).map_err(err)?;
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp).map_err(err)?;
        f.write_all(bytes).map_err(err)?;
        f.sync_all().map_err(err)?;
    }
    std::fs::rename(&tmp, path).map_err(err)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_fills_ids_and_secrets_and_renders_last4() {
        let seed: Seed = serde_json::from_value(json!({
            "tokens": [{"name": "a", "role": "reader", "secret": "api-00000000-0000-4000-8000-00000000beef"}]
        }))
        .unwrap();
        let store = Store::from_seed(seed);
        assert_eq!(store.members.len(), 1);
        let t = &store.tokens[0];
        assert_eq!(t.id.len(), 24);
        assert_eq!(t.member_id, store.members[0].id);
        let v = store.render_token(t, None);
        assert_eq!(v["token"], "beef");
        assert_eq!(v["_member"]["role"], "owner");
        // only the hash is kept: the seed's secret is gone from memory and from the data file
        assert!(t.secret.is_empty());
        assert_eq!(t.secret_hash, secret_hash("api-00000000-0000-4000-8000-00000000beef"));
        let written = serde_json::to_string(&store.to_seed()).unwrap();
        assert!(!written.contains("api-00000000"), "{written}");
        assert!(
            written.contains(&t.secret_hash) && written.contains("\"secretLast4\":\"beef\""),
            "{written}"
        );
    }

    #[test]
    fn a_data_file_of_the_old_format_loads_and_is_rewritten_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("emulator.json");
        let old = "api-0a1b2c3d-0000-4000-8000-00000000beef";
        let older = "api-0a1b2c3d-0000-4000-8000-00000000dead";
        let far = now_ms() + 3_600_000;
        let data = json!({"tokens": [{"_id": "610000000000000000000001", "name": "ci", "role": "reader",
            "secret": old, "previousSecrets": [{"secret": older, "expiry": far}]}]});
        std::fs::write(&path, data.to_string()).unwrap();
        let mut store = Store::from_seed(Seed::from_file(&path).unwrap());
        assert!(store.authenticate(old, now_ms()).is_some(), "the old secret still works");
        assert!(store.authenticate(older, now_ms()).is_some(), "and the previous one until its expiry");
        assert!(store.authenticate("api-0a1b2c3d-0000-4000-8000-000000000000", now_ms()).is_none());
        write_atomic(&path, &serde_json::to_vec(&store.to_seed()).unwrap()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("api-0a1b2c3d"), "{text}");
        assert!(text.contains(&secret_hash(older)), "{text}");
        let mut again = Store::from_seed(Seed::from_file(&path).unwrap());
        assert!(again.authenticate(old, now_ms()).is_some(), "the rewritten file recognises it");

        // a hand-edited hash is a clear error, not a token nobody can use
        std::fs::write(&path, r#"{"tokens": [{"_id": "x", "secretHash": "api-not-a-hash"}]}"#).unwrap();
        let err = Seed::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("secretHash") && err.contains("SHA-256"), "{err}");
    }

    #[test]
    fn the_emulator_admin_token_takes_a_new_secret_instead_of_a_second_token() {
        let mut store = Store::from_seed(Seed::default());
        let first = Secret::new(new_secret());
        let id = store.ensure_admin(&first);
        let second = Secret::new(new_secret());
        assert_eq!(store.ensure_admin(&second), id);
        assert_eq!(store.tokens.len(), 1);
        assert!(store.authenticate(second.expose(), now_ms()).is_some());
        assert!(store.authenticate(first.expose(), now_ms()).is_none(), "the old admin secret is revoked");
    }

    #[test]
    fn authenticate_honours_expiry_and_previous_secrets() {
        let mut store = Store::from_seed(Seed::default());
        let s = Secret::new(new_secret());
        store.ensure_admin(&s);
        let now = now_ms();
        assert!(store.authenticate(s.expose(), now).is_some());
        assert!(store.tokens[0].last_used.is_some());
        store.tokens[0].previous_secrets.push(PreviousSecret {
            secret_hash: secret_hash("old"),
            expiry: now + 1000,
            ..PreviousSecret::default()
        });
        assert!(store.authenticate("old", now).is_some());
        assert!(store.authenticate("old", now + 1000).is_none());
        store.tokens[0].expiry = Some(now - 1);
        assert!(store.authenticate(s.expose(), now).is_none());
    }
}
