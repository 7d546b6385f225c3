//! The vocabulary every stage shares: token addresses, base roles, policy statements,
//! attribute names and durations. Pure data, no I/O.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `token.LABEL` or `token.LABEL["KEY"]` (for_each instances).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address {
    pub label: String,
    pub key: Option<String>,
}

impl Address {
    pub fn new(label: impl Into<String>) -> Self {
        Self { label: label.into(), key: None }
    }

    pub fn keyed(label: impl Into<String>, key: impl Into<String>) -> Self {
        Self { label: label.into(), key: Some(key.into()) }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            None => write!(f, "token.{}", self.label),
            Some(k) => write!(f, "token.{}[{}]", self.label, serde_json::Value::String(k.clone())),
        }
    }
}

/// Why a string is not an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a token address: expected token.NAME or token.NAME[\"KEY\"]")]
pub struct AddressParseError {
    pub input: String,
}

/// True for an HCL identifier: a letter or `_`, then letters, digits, `_` or `-`.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl FromStr for Address {
    type Err = AddressParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || AddressParseError { input: s.to_owned() };
        let rest = s.strip_prefix("token.").ok_or_else(err)?;
        match rest.find('[') {
            None if is_identifier(rest) => Ok(Address::new(rest)),
            None => Err(err()),
            Some(open) => {
                let label = &rest[..open];
                let inner =
                    rest[open..].strip_prefix('[').and_then(|r| r.strip_suffix(']')).ok_or_else(err)?;
                let key: String = serde_json::from_str(inner).map_err(|_| err())?;
                if is_identifier(label) { Ok(Address::keyed(label, key)) } else { Err(err()) }
            }
        }
    }
}

impl Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Address {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Address".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "token.NAME or token.NAME[\"KEY\"]",
            "pattern": "^token\\.[A-Za-z_][A-Za-z0-9_-]*(\\[\".*\"\\])?$"
        })
    }
}

/// A built-in base role a token can have. `owner` and `no_access` are member roles, not token roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Reader,
    Writer,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Writer => "writer",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "reader" => Some(Role::Reader),
            "writer" => Some(Role::Writer),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    Allow,
    Deny,
}

/// One policy statement, in the API's wire shape (`StatementPost` / `Statement`).
/// Exactly one of `actions`/`not_actions` and of `resources`/`not_resources` is set
/// when it comes from configuration.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Statement {
    pub effect: Effect,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_resources: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_actions: Option<Vec<String>>,
}

/// What a token may do: exactly one of a base role, custom roles, or an inline policy.
/// `R` is how a custom role is named: its key as written in configuration (the default),
/// or, once the planner has resolved it, the key together with the id the API takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Access<R = String> {
    Role(Role),
    CustomRoles(Vec<R>),
    Policy(Vec<Statement>),
}

/// The attributes of a `token` block, as named in configuration (`ignore_changes`, diffs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenField {
    Name,
    Description,
    Role,
    CustomRoles,
    Policy,
    ServiceToken,
    ApiVersion,
    ExpiresAt,
}

impl TokenField {
    pub const ALL: [TokenField; 8] = [
        TokenField::Name,
        TokenField::Description,
        TokenField::Role,
        TokenField::CustomRoles,
        TokenField::Policy,
        TokenField::ServiceToken,
        TokenField::ApiVersion,
        TokenField::ExpiresAt,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TokenField::Name => "name",
            TokenField::Description => "description",
            TokenField::Role => "role",
            TokenField::CustomRoles => "custom_roles",
            TokenField::Policy => "policy",
            TokenField::ServiceToken => "service_token",
            TokenField::ApiVersion => "api_version",
            TokenField::ExpiresAt => "expires_at",
        }
    }

    pub fn parse(s: &str) -> Option<TokenField> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// Changing this field cannot be done in place: the token is replaced.
    pub fn forces_replacement(self) -> bool {
        matches!(self, TokenField::ServiceToken | TokenField::ApiVersion)
    }
}

impl fmt::Display for TokenField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a rotation obtains the new secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RotationMethod {
    /// Create a successor token, then set `expiry` on the old one (the documented way).
    #[default]
    Replace,
    /// The legacy `POST /tokens/{id}/reset?expiry=`.
    Reset,
}

/// Parses `90d`, `24h`, `30m`, `45s`, `2w` and sums like `1d12h`. Zero is allowed.
pub fn parse_duration(s: &str) -> Option<std::time::Duration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: u64 = digits.parse().ok()?;
        digits.clear();
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
    }
    if !digits.is_empty() {
        return None;
    }
    Some(std::time::Duration::from_secs(total))
}

/// The inverse of [`parse_duration`] for display: `90d`, `1d12h`, `0s`.
pub fn format_duration(d: std::time::Duration) -> String {
    let mut secs = d.as_secs();
    if secs == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out += &(secs / size).to_string();
            out += unit;
            secs %= size;
        }
    }
    out
}

/// Whether `id` has the shape of a LaunchDarkly token `_id`: 24 hex characters. The one
/// check behind `import` blocks and `tokenform import ADDR ID`.
pub fn is_token_id(id: &str) -> bool {
    id.len() == 24 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Matches `name` against a glob where `*` is any run of characters and `?` one character.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    // Where the last `*` was, and the name position it currently swallows up to.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && p[pi] == n[ni])) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip() {
        for s in ["token.a", "token.deploy[\"staging\"]", "token.x_y-z[\"a \\\"q\\\"\"]"] {
            let a: Address = s.parse().unwrap();
            assert_eq!(a.to_string(), s);
        }
        for bad in ["a", "token.", "token.1x", "token.a[staging]", "token.a[\"x\"", "tokens.a"] {
            assert!(bad.parse::<Address>().is_err(), "{bad}");
        }
    }

    #[test]
    fn globs() {
        assert!(glob_match("legacy-*", "legacy-ci"));
        assert!(glob_match("legacy-*", "legacy-"));
        assert!(!glob_match("legacy-*", "ci-legacy"));
        assert!(glob_match("*-bot-?", "x-bot-1"));
        assert!(!glob_match("*-bot-?", "x-bot-12"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90d").unwrap().as_secs(), 90 * 86_400);
        assert_eq!(parse_duration("1d12h").unwrap().as_secs(), 86_400 + 12 * 3600);
        assert!(parse_duration("12").is_none());
        assert!(parse_duration("1y").is_none());
        assert!(parse_duration("").is_none());
        assert_eq!(format_duration(parse_duration("1d12h").unwrap()), "1d12h");
    }
}
