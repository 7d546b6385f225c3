//! From one Terraform `launchdarkly_access_token` instance to tokenform (`docs/spec.md`
//! §9): the desired token its state values describe, and whether the secret Terraform
//! holds is still the live one. Pure: no network, no state store; the secret is compared
//! by its last four characters only and never leaves its [`Secret`].

use crate::api::model::Token;
use crate::config::DesiredToken;
use crate::model::{Access, Address, Role};
use crate::onboard::terraform::Instance;
use crate::secret::Secret;

/// Why an instance cannot become a token block. Names the resource, never a value.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum TranslateError {
    #[error("{address}: its role is not reader, writer or admin")]
    #[diagnostic(
        code(tokenform::migrate::bad_role),
        help("LaunchDarkly tokens take reader, writer or admin")
    )]
    BadRole { address: String },

    #[error("{address} has no role, custom_roles or inline_roles")]
    #[diagnostic(
        code(tokenform::migrate::no_access),
        help(
            "the provider refuses such a token; refresh the state (`terraform apply -refresh-only`) and migrate again"
        )
    )]
    NoAccess { address: String },

    #[error(
        "{address}: inline role statement {index} needs exactly one of actions/not_actions and of resources/not_resources"
    )]
    #[diagnostic(code(tokenform::migrate::bad_statement))]
    BadStatement { address: String, index: usize },
}

/// A translated instance and what did not carry over.
#[derive(Debug, Clone, PartialEq)]
pub struct Translation {
    pub desired: DesiredToken,
    pub warnings: Vec<String>,
}

/// The token block Terraform's state values describe, at `address`: `inline_roles` /
/// `policy_statements` → `policy` blocks, `custom_roles` keys kept, `default_api_version`
/// → `api_version`, `expire` dropped (with a warning), the provider's precedence (inline >
/// custom > role) when more than one kind of access is set.
pub fn translate(inst: &Instance, address: Address) -> Result<Translation, TranslateError> {
    let tf = inst.address();
    let mut warnings = Vec::new();
    let kinds = [!inst.statements.is_empty(), !inst.custom_roles.is_empty(), inst.role.is_some()];
    if kinds.iter().filter(|k| **k).count() > 1 {
        warnings.push(format!(
            "{tf} sets more than one of inline_roles, custom_roles and role: kept the one the provider sends (inline > custom > role)"
        ));
    }
    let access = if !inst.statements.is_empty() {
        if let Some(i) = inst.statements.iter().position(|s| {
            s.actions.is_some() == s.not_actions.is_some()
                || s.resources.is_some() == s.not_resources.is_some()
        }) {
            return Err(TranslateError::BadStatement { address: tf, index: i + 1 });
        }
        Access::Policy(inst.statements.clone())
    } else if !inst.custom_roles.is_empty() {
        Access::CustomRoles(inst.custom_roles.clone())
    } else if let Some(role) = &inst.role {
        Access::Role(Role::parse(role).ok_or(TranslateError::BadRole { address: tf.clone() })?)
    } else {
        return Err(TranslateError::NoAccess { address: tf });
    };
    let name = inst.name.clone().unwrap_or_else(|| {
        warnings.push(format!(
            "{tf} has no name in Terraform: its block takes the label {:?} as name, so the next plan renames it",
            address.label
        ));
        address.label.clone()
    });
    let mut desired = DesiredToken::new(address, name, access);
    desired.service_token = inst.service_token;
    desired.api_version = inst.default_api_version.and_then(|v| {
        let version = u32::try_from(v).ok().filter(|v| (20_160_426..=99_991_231).contains(v));
        if version.is_none() {
            warnings.push(format!("{tf}: default_api_version {v} is not a yyyymmdd version; left out"));
        }
        version
    });
    if inst.expire.is_some() {
        warnings.push(format!(
            "{tf}: `expire` dropped (tokenform has no equivalent; a `rotation` block renews the secret instead)"
        ));
    }
    if inst.tainted {
        warnings.push(format!(
            "{tf} is tainted in Terraform (it would have replaced it); migrated as it is live"
        ));
    }
    Ok(Translation { desired, warnings })
}

/// How the secret Terraform holds compares with the live token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretCheck {
    /// Its last four characters are the live token's: the secret still works.
    Current,
    /// The live token shows other last four characters: it was reset since Terraform saw it.
    Stale,
    /// Terraform holds no secret (an imported token).
    Absent,
    /// The live token shows no last four characters to compare with.
    Unverifiable,
}

/// Compares `secret` with what the API shows of `live`'s (its last four characters).
pub fn check_secret(secret: Option<&Secret>, live: &Token) -> SecretCheck {
    let Some(secret) = secret else { return SecretCheck::Absent };
    match live.token.as_ref().filter(|t| !t.is_empty()) {
        None => SecretCheck::Unverifiable,
        Some(shown) if shown.last4() == secret.last4() => SecretCheck::Current,
        Some(_) => SecretCheck::Stale,
    }
}
