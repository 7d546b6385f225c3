//! Reading a Terraform or OpenTofu state for its `launchdarkly_access_token` instances:
//! raw v4 JSON (`terraform state pull`, a `.tfstate` file) or `terraform show -json`
//! (told apart by `format_version`). Any module, any provider alias, both registries,
//! provider schema 0 (v2.x) and 1 (v3.x), `count` and `for_each` instances; every other
//! resource is skipped without being decoded.
//!
//! Pure: bytes in, typed instances out. The `token` attribute (the plaintext secret) goes
//! straight into [`Secret`]; no error message quotes the input (serde's own messages do,
//! so they are reduced to their position and what was expected).

use std::fmt;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::model::{Effect, Statement};
use crate::secret::{Secret, redact_secrets};

/// The resource type of the LaunchDarkly provider's access tokens.
pub const RESOURCE_TYPE: &str = "launchdarkly_access_token";

/// The provider schema versions this reader understands: 0 (v2.x, SDKv2) and 1 (v3.x).
pub const SCHEMA_VERSIONS: [u64; 2] = [0, 1];

/// Why a Terraform state cannot be read. Never quotes the input.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum TerraformError {
    #[error("the Terraform state is not valid JSON (line {line}, column {column}): {reason}")]
    #[diagnostic(
        code(tokenform::terraform::not_json),
        help("give the output of `terraform state pull` or `terraform show -json`, or a .tfstate file")
    )]
    NotJson { line: usize, column: usize, reason: String },

    #[error("the Terraform state is encrypted (OpenTofu state encryption)")]
    #[diagnostic(
        code(tokenform::terraform::encrypted),
        help(
            "run `tofu state pull` first: it prints the decrypted state, e.g. `tofu state pull | tokenform migrate terraform -`"
        )
    )]
    Encrypted,

    #[error(
        "this JSON is neither a Terraform state (`version`) nor `terraform show -json` output (`format_version`)"
    )]
    #[diagnostic(
        code(tokenform::terraform::unknown_format),
        help("give the output of `terraform state pull` or `terraform show -json`")
    )]
    UnknownFormat,

    #[error("Terraform state version {version} is not supported (only version 4, Terraform 0.12 and later)")]
    #[diagnostic(
        code(tokenform::terraform::unsupported_version),
        help(
            "run `terraform apply -refresh-only` once with Terraform 0.12 or later: it rewrites the state as version 4"
        )
    )]
    UnsupportedVersion { version: u64 },

    #[error("`terraform show -json` format_version {format_version} is not supported (only 1.x)")]
    #[diagnostic(
        code(tokenform::terraform::unsupported_version),
        help("use `terraform state pull` instead: its raw version 4 state is read too")
    )]
    UnsupportedShowFormat { format_version: String },

    #[error("the Terraform state does not have the expected shape at {at}: {reason}")]
    #[diagnostic(code(tokenform::terraform::bad_shape))]
    Shape { at: String, reason: String },

    #[error("{address}: {reason}")]
    #[diagnostic(code(tokenform::terraform::bad_instance))]
    Instance { address: String, reason: String },

    #[error("{address} sets both policy_statements and inline_roles")]
    #[diagnostic(
        code(tokenform::terraform::both_statement_lists),
        help("the provider allows only one; run `terraform apply` with one of them removed, then migrate")
    )]
    BothStatementLists { address: String },

    #[error("{address} has no `id`: Terraform never created it")]
    #[diagnostic(
        code(tokenform::terraform::missing_id),
        help("run `terraform apply` (or remove the resource) first, then migrate")
    )]
    MissingId { address: String },

    #[error("{address} uses provider schema version {version}, which this tokenform does not know (0 and 1)")]
    #[diagnostic(
        code(tokenform::terraform::unknown_schema_version),
        help("a newer provider may store tokens differently; please report it")
    )]
    SchemaVersion { address: String, version: u64 },
}

/// An instance key: `count` (integer) or `for_each` (string).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IndexKey {
    Int(i64),
    Str(String),
}

impl fmt::Display for IndexKey {
    /// As Terraform writes it in an address: `[0]`, `["prod"]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IndexKey::Int(i) => write!(f, "[{i}]"),
            IndexKey::Str(s) => write!(f, "[{}]", serde_json::Value::String(s.clone())),
        }
    }
}

/// One step of a module path: `module.NAME` with its instance key, if any.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ModuleStep {
    pub name: String,
    pub key: Option<IndexKey>,
}

/// Where a resource lives: module path and resource name (`launchdarkly_access_token.NAME`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceAddress {
    pub module: Vec<ModuleStep>,
    pub name: String,
}

impl ResourceAddress {
    /// The address with module keys and without an instance key, as a `removed { from }`
    /// block needs it.
    pub fn without_keys(&self) -> String {
        let mut out = String::new();
        for m in &self.module {
            out.push_str("module.");
            out.push_str(&m.name);
            out.push('.');
        }
        out.push_str(RESOURCE_TYPE);
        out.push('.');
        out.push_str(&self.name);
        out
    }

    /// The full address of one instance: `module.a["x"].launchdarkly_access_token.ci[0]`.
    pub fn instance(&self, key: Option<&IndexKey>) -> String {
        let mut out = String::new();
        for m in &self.module {
            out.push_str("module.");
            out.push_str(&m.name);
            if let Some(k) = &m.key {
                out.push_str(&k.to_string());
            }
            out.push('.');
        }
        out.push_str(RESOURCE_TYPE);
        out.push('.');
        out.push_str(&self.name);
        if let Some(k) = key {
            out.push_str(&k.to_string());
        }
        out
    }
}

/// One `launchdarkly_access_token` instance, its attributes as the state holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub resource: ResourceAddress,
    pub key: Option<IndexKey>,
    /// The provider configuration, e.g. `provider["registry.terraform.io/launchdarkly/launchdarkly"].eu`
    /// (raw state) or `registry.opentofu.org/launchdarkly/launchdarkly` (`show -json`).
    pub provider: String,
    pub schema_version: u64,
    /// The token's `_id`.
    pub id: String,
    /// `name`; `None` when unset or empty.
    pub name: Option<String>,
    /// `role`; `None` when unset or empty.
    pub role: Option<String>,
    /// `custom_roles`: custom role keys.
    pub custom_roles: Vec<String>,
    /// `inline_roles` or (schema 0) `policy_statements`, whichever is set.
    pub statements: Vec<Statement>,
    pub service_token: bool,
    /// `default_api_version`; `None` when unset or 0.
    pub default_api_version: Option<i64>,
    /// `expire` (schema 0 only; tokenform has no equivalent).
    pub expire: Option<i64>,
    /// `token`: the plaintext secret, when Terraform created the token.
    pub secret: Option<Secret>,
    /// Marked tainted: Terraform would replace it on its next apply.
    pub tainted: bool,
}

impl Instance {
    /// The instance's full Terraform address.
    pub fn address(&self) -> String {
        self.resource.instance(self.key.as_ref())
    }
}

/// Which of Terraform's two JSON forms was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// Raw state (`terraform state pull`, `.tfstate`), version 4.
    Raw { terraform_version: Option<String>, lineage: Option<String>, serial: Option<u64> },
    /// `terraform show -json`.
    Show { format_version: String },
}

/// What a state holds for tokenform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerraformState {
    pub format: Format,
    /// Every `launchdarkly_access_token` instance, in state order.
    pub instances: Vec<Instance>,
    /// Every `launchdarkly_access_token` resource, instances or not, in state order
    /// without repeats (one `removed` block each).
    pub resources: Vec<ResourceAddress>,
    /// What was left out and why (deposed objects), for warnings.
    pub notes: Vec<String>,
}

#[derive(Deserialize)]
struct Top<'a> {
    #[serde(default)]
    version: Option<serde_json::Number>,
    #[serde(default)]
    format_version: Option<String>,
    #[serde(default, borrow)]
    encrypted_data: Option<&'a RawValue>,
    #[serde(default, borrow)]
    encryption_version: Option<&'a RawValue>,
    #[serde(default)]
    terraform_version: Option<String>,
    #[serde(default)]
    lineage: Option<String>,
    #[serde(default)]
    serial: Option<u64>,
    #[serde(default, borrow)]
    resources: Option<&'a RawValue>,
    #[serde(default, borrow)]
    values: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct RawResource<'a> {
    #[serde(default)]
    module: Option<String>,
    #[serde(default)]
    mode: String,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    provider: String,
    #[serde(default, borrow)]
    instances: Vec<RawInstance<'a>>,
}

#[derive(Deserialize)]
struct RawInstance<'a> {
    #[serde(default)]
    index_key: Option<serde_json::Value>,
    #[serde(default)]
    schema_version: Option<u64>,
    #[serde(default, borrow)]
    attributes: Option<&'a RawValue>,
    #[serde(default, borrow)]
    attributes_flat: Option<&'a RawValue>,
    #[serde(default)]
    deposed: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

#[derive(Deserialize)]
struct ShowValues<'a> {
    #[serde(default, borrow)]
    root_module: Option<ShowModule<'a>>,
}

#[derive(Deserialize)]
struct ShowModule<'a> {
    #[serde(default)]
    address: Option<String>,
    #[serde(default, borrow)]
    resources: Vec<ShowResource<'a>>,
    #[serde(default, borrow)]
    child_modules: Vec<ShowModule<'a>>,
}

#[derive(Deserialize)]
struct ShowResource<'a> {
    #[serde(default)]
    mode: String,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    index: Option<serde_json::Value>,
    #[serde(default)]
    provider_name: String,
    #[serde(default)]
    schema_version: Option<u64>,
    #[serde(default, borrow)]
    values: Option<&'a RawValue>,
    #[serde(default)]
    deposed_key: Option<String>,
    #[serde(default)]
    tainted: bool,
}

/// The provider's attributes, in both schema versions; unknown ones are ignored.
#[derive(Deserialize)]
struct Attributes {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    custom_roles: Option<Vec<String>>,
    #[serde(default)]
    inline_roles: Option<Vec<RawStatement>>,
    #[serde(default)]
    policy_statements: Option<Vec<RawStatement>>,
    #[serde(default)]
    service_token: Option<bool>,
    #[serde(default)]
    default_api_version: Option<i64>,
    #[serde(default)]
    expire: Option<i64>,
    #[serde(default)]
    token: Option<Secret>,
}

#[derive(Deserialize)]
struct RawStatement {
    #[serde(default)]
    effect: Option<String>,
    #[serde(default)]
    actions: Option<Vec<String>>,
    #[serde(default)]
    not_actions: Option<Vec<String>>,
    #[serde(default)]
    resources: Option<Vec<String>>,
    #[serde(default)]
    not_resources: Option<Vec<String>>,
}

/// serde's message without the input it quotes: where, and what was expected.
fn reason(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let msg = msg.split(" at line ").next().unwrap_or_default();
    let text = match e.classify() {
        serde_json::error::Category::Data => match msg.rsplit_once(", expected ") {
            Some((_, expected)) => format!("expected {expected}"),
            None if msg.starts_with("missing field") => msg.to_owned(),
            None => "a value of the wrong type".to_owned(),
        },
        serde_json::error::Category::Eof => "the input ends too early".to_owned(),
        serde_json::error::Category::Syntax | serde_json::error::Category::Io => msg.to_owned(),
    };
    redact_secrets(&text)
}

fn shape(at: impl Into<String>, e: &serde_json::Error) -> TerraformError {
    TerraformError::Shape { at: at.into(), reason: reason(e) }
}

/// Reads a Terraform state (raw v4 or `show -json`) for its access tokens.
pub fn parse(bytes: &[u8]) -> Result<TerraformState, TerraformError> {
    let top: Top<'_> = serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => shape("the top level", &e),
        _ => TerraformError::NotJson { line: e.line(), column: e.column(), reason: reason(&e) },
    })?;
    if top.encrypted_data.is_some() || top.encryption_version.is_some() {
        return Err(TerraformError::Encrypted);
    }
    let mut out = TerraformState {
        format: Format::Show { format_version: String::new() },
        instances: Vec::new(),
        resources: Vec::new(),
        notes: Vec::new(),
    };
    if let Some(format_version) = top.format_version {
        if format_version.split('.').next() != Some("1") {
            return Err(TerraformError::UnsupportedShowFormat {
                format_version: redact_secrets(&format_version),
            });
        }
        out.format = Format::Show { format_version };
        if let Some(values) = top.values {
            let values: ShowValues<'_> =
                serde_json::from_str(values.get()).map_err(|e| shape("values", &e))?;
            if let Some(root) = values.root_module {
                read_show_module(&root, &[], &mut out)?;
            }
        }
        return Ok(out);
    }
    let Some(version) = top.version else { return Err(TerraformError::UnknownFormat) };
    match version.as_u64() {
        Some(4) => {}
        Some(v) => return Err(TerraformError::UnsupportedVersion { version: v }),
        None => return Err(TerraformError::UnknownFormat),
    }
    out.format =
        Format::Raw { terraform_version: top.terraform_version, lineage: top.lineage, serial: top.serial };
    let resources: Vec<RawResource<'_>> = match top.resources {
        Some(r) => serde_json::from_str(r.get()).map_err(|e| shape("resources", &e))?,
        None => Vec::new(),
    };
    for (i, r) in resources.iter().enumerate() {
        if r.mode != "managed" || r.kind != RESOURCE_TYPE {
            continue;
        }
        let module = match &r.module {
            Some(m) if !m.is_empty() => parse_module(m).ok_or_else(|| TerraformError::Shape {
                at: format!("resources[{i}].module"),
                reason: "not a module address".to_owned(),
            })?,
            _ => Vec::new(),
        };
        let resource = resource_address(module, &r.name, || format!("resources[{i}].name"))?;
        push_resource(&mut out, &resource);
        for inst in &r.instances {
            let key = index_key(inst.index_key.as_ref(), &resource)?;
            let address = resource.instance(key.as_ref());
            if let Some(deposed) = &inst.deposed {
                out.notes.push(format!(
                    "{address}: deposed object {} skipped (Terraform is about to destroy it)",
                    redact_secrets(deposed)
                ));
                continue;
            }
            let Some(attrs) = inst.attributes else {
                let reason = if inst.attributes_flat.is_some() {
                    "only legacy flatmap attributes (a state from Terraform 0.11): run `terraform apply -refresh-only` first"
                } else {
                    "no attributes"
                };
                return Err(TerraformError::Instance { address, reason: reason.to_owned() });
            };
            out.instances.push(instance(
                resource.clone(),
                key,
                r.provider.clone(),
                inst.schema_version.unwrap_or(0),
                attrs,
                inst.status.as_deref() == Some("tainted"),
            )?);
        }
    }
    Ok(out)
}

/// A resource address, its name checked: it is written into generated files.
fn resource_address(
    module: Vec<ModuleStep>,
    name: &str,
    at: impl FnOnce() -> String,
) -> Result<ResourceAddress, TerraformError> {
    if !crate::model::is_identifier(name) {
        return Err(TerraformError::Shape { at: at(), reason: "not a resource name".to_owned() });
    }
    Ok(ResourceAddress { module, name: name.to_owned() })
}

fn push_resource(out: &mut TerraformState, resource: &ResourceAddress) {
    if !out.resources.iter().any(|r| r.without_keys() == resource.without_keys()) {
        out.resources.push(resource.clone());
    }
}

fn read_show_module(
    m: &ShowModule<'_>,
    parent: &[ModuleStep],
    out: &mut TerraformState,
) -> Result<(), TerraformError> {
    let module = match m.address.as_deref() {
        Some(a) if !a.is_empty() => parse_module(a).ok_or_else(|| TerraformError::Shape {
            at: "a child module".to_owned(),
            reason: "its address is not a module address".to_owned(),
        })?,
        _ => parent.to_vec(),
    };
    for r in &m.resources {
        if r.mode != "managed" || r.kind != RESOURCE_TYPE {
            continue;
        }
        let resource = resource_address(module.clone(), &r.name, || "a resource name".to_owned())?;
        push_resource(out, &resource);
        let key = index_key(r.index.as_ref(), &resource)?;
        let address = resource.instance(key.as_ref());
        if r.deposed_key.is_some() {
            out.notes.push(format!("{address}: deposed object skipped (Terraform is about to destroy it)"));
            continue;
        }
        let Some(values) = r.values else {
            return Err(TerraformError::Instance { address, reason: "no values".to_owned() });
        };
        out.instances.push(instance(
            resource,
            key,
            r.provider_name.clone(),
            r.schema_version.unwrap_or(0),
            values,
            r.tainted,
        )?);
    }
    for child in &m.child_modules {
        read_show_module(child, &module, out)?;
    }
    Ok(())
}

fn index_key(
    v: Option<&serde_json::Value>,
    resource: &ResourceAddress,
) -> Result<Option<IndexKey>, TerraformError> {
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(IndexKey::Str(s.clone()))),
        Some(serde_json::Value::Number(n)) => {
            n.as_i64().map(|i| Some(IndexKey::Int(i))).ok_or_else(|| TerraformError::Instance {
                address: resource.without_keys(),
                reason: "an instance key is not an integer".to_owned(),
            })
        }
        Some(_) => Err(TerraformError::Instance {
            address: resource.without_keys(),
            reason: "an instance key is neither a number nor a string".to_owned(),
        }),
    }
}

fn instance(
    resource: ResourceAddress,
    key: Option<IndexKey>,
    provider: String,
    schema_version: u64,
    attrs: &RawValue,
    tainted: bool,
) -> Result<Instance, TerraformError> {
    let address = resource.instance(key.as_ref());
    if !SCHEMA_VERSIONS.contains(&schema_version) {
        return Err(TerraformError::SchemaVersion { address, version: schema_version });
    }
    let a: Attributes = serde_json::from_str(attrs.get())
        .map_err(|e| TerraformError::Instance { address: address.clone(), reason: reason(&e) })?;
    let non_empty = |s: Option<String>| s.filter(|s| !s.is_empty());
    let Some(id) = non_empty(a.id) else { return Err(TerraformError::MissingId { address }) };
    let inline = a.inline_roles.unwrap_or_default();
    let policy = a.policy_statements.unwrap_or_default();
    let raw_statements = match (inline.is_empty(), policy.is_empty()) {
        (false, false) => return Err(TerraformError::BothStatementLists { address }),
        (true, _) => policy,
        (false, true) => inline,
    };
    let statements = raw_statements
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            statement(s).map_err(|reason| TerraformError::Instance {
                address: address.clone(),
                reason: format!("statement {}: {reason}", i + 1),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Instance {
        resource,
        key,
        provider,
        schema_version,
        id,
        name: non_empty(a.name),
        role: non_empty(a.role),
        custom_roles: a.custom_roles.unwrap_or_default().into_iter().filter(|k| !k.is_empty()).collect(),
        statements,
        service_token: a.service_token.unwrap_or(false),
        default_api_version: a.default_api_version.filter(|v| *v != 0),
        expire: a.expire.filter(|v| *v != 0),
        secret: a.token.filter(|s| !s.is_empty()),
        tainted,
    })
}

fn statement(s: RawStatement) -> Result<Statement, String> {
    let effect = match s.effect.as_deref() {
        Some("allow") => Effect::Allow,
        Some("deny") => Effect::Deny,
        Some(_) => return Err("effect is neither allow nor deny".to_owned()),
        None => return Err("no effect".to_owned()),
    };
    // `[]` and null mean the same (v2 stored empty lists where v3 stores null).
    let list = |l: Option<Vec<String>>| l.filter(|l| !l.is_empty());
    Ok(Statement {
        effect,
        resources: list(s.resources),
        not_resources: list(s.not_resources),
        actions: list(s.actions),
        not_actions: list(s.not_actions),
    })
}

/// Parses `module.a["x"].module.b[0]` into its steps; `None` when it is not one.
pub fn parse_module(s: &str) -> Option<Vec<ModuleStep>> {
    let mut steps = Vec::new();
    let mut rest = s;
    loop {
        rest = rest.strip_prefix("module.")?;
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        let name = &rest[..end];
        if !crate::model::is_identifier(name) {
            return None;
        }
        rest = &rest[end..];
        let mut key = None;
        if let Some(after) = rest.strip_prefix('[') {
            if let Some(after_quote) = after.strip_prefix('"') {
                // A JSON string up to the closing quote that is not escaped.
                let mut escaped = false;
                let close = after_quote.char_indices().find_map(|(i, c)| {
                    let hit = c == '"' && !escaped;
                    escaped = c == '\\' && !escaped;
                    hit.then_some(i)
                })?;
                let literal = &after[..close + 2];
                key = Some(IndexKey::Str(serde_json::from_str(literal).ok()?));
                rest = after[close + 2..].strip_prefix(']')?;
            } else {
                let close = after.find(']')?;
                key = Some(IndexKey::Int(after[..close].parse().ok()?));
                rest = &after[close + 1..];
            }
        }
        steps.push(ModuleStep { name: name.to_owned(), key });
        if rest.is_empty() {
            return Some(steps);
        }
        rest = rest.strip_prefix('.')?;
    }
}

#[cfg(test)]
#[path = "terraform_tests.rs"]
mod tests;
