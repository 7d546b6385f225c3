//! The rule catalogue of `tokenform check`: each rule's stable code (`TKN001`…), its name,
//! severity, one-line title, why it matters and how to fix it, in LaunchDarkly's words.
//! Pure data with no dependency on the rest of the crate, so the configuration decoder can
//! check the codes a `checks { skip = [...] }` block names without depending on the rules.
//! Codes are never renumbered or reused: a retired rule keeps its number.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How much a finding matters. Ordered: `Low < Medium < High < Critical`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    #[default]
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [Severity::Low, Severity::Medium, Severity::High, Severity::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        Self::ALL.into_iter().find(|l| l.as_str() == s)
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rule's stable code. Serialized as the code itself (`"TKN001"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Code {
    #[serde(rename = "TKN001")]
    AdminServiceToken,
    #[serde(rename = "TKN002")]
    WildcardPolicy,
    #[serde(rename = "TKN003")]
    NegatedAllow,
    #[serde(rename = "TKN004")]
    NoExpiryNoRotation,
    #[serde(rename = "TKN005")]
    LongRotation,
    #[serde(rename = "TKN006")]
    GraceLongerThanRotation,
    #[serde(rename = "TKN007")]
    PersonalToken,
    #[serde(rename = "TKN008")]
    ExpiredInConfig,
    #[serde(rename = "TKN009")]
    EndOfLifeApiVersion,
    #[serde(rename = "TKN010")]
    UnmanagedAdmin,
    #[serde(rename = "TKN011")]
    StaleToken,
    #[serde(rename = "TKN012")]
    ServiceTokenLimit,
}

/// What the catalogue says about one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleInfo {
    pub code: Code,
    /// Kebab-case name, stable like the code (`admin-service-token`).
    pub name: &'static str,
    pub severity: Severity,
    /// One line: what the rule finds.
    pub title: &'static str,
    /// One line: why it matters.
    pub why: &'static str,
    /// One line: how to fix it.
    pub help: &'static str,
    /// Needs `--live` (the live token list), not only the configuration.
    pub live: bool,
    /// Its findings can belong to one configured token, so a token's own
    /// `checks { skip }` may name it.
    pub per_token: bool,
}

const CATALOGUE: [RuleInfo; 12] = [
    RuleInfo {
        code: Code::AdminServiceToken,
        name: "admin-service-token",
        severity: Severity::High,
        title: "A service token has the Admin role",
        why: "Admin can do everything in the account, including creating and deleting access tokens, members and custom roles; a leaked service token keeps that power until someone revokes it.",
        help: "Give the token role = \"reader\" or \"writer\", or a custom role or policy blocks that allow only the actions it needs.",
        live: false,
        per_token: true,
    },
    RuleInfo {
        code: Code::WildcardPolicy,
        name: "wildcard-policy",
        severity: Severity::High,
        title: "An inline policy statement allows every action on all projects or environments",
        why: "actions = [\"*\"] on a resource such as proj/* or proj/*:env/* lets the token change every flag, segment and setting there, production included.",
        help: "List the actions the token needs (e.g. updateOn, updateFallthrough) and name the projects and environments (proj/web:env/staging) instead of *.",
        live: false,
        per_token: true,
    },
    RuleInfo {
        code: Code::NegatedAllow,
        name: "negated-allow",
        severity: Severity::High,
        title: "An allow statement uses not_actions or not_resources",
        why: "effect = \"allow\" with not_actions or not_resources grants everything except what is listed, including actions and resources LaunchDarkly adds later.",
        help: "Allow with actions and resources that list what is granted; use not_actions / not_resources only with effect = \"deny\".",
        live: false,
        per_token: true,
    },
    RuleInfo {
        code: Code::NoExpiryNoRotation,
        name: "no-expiry-no-rotation",
        severity: Severity::Medium,
        title: "A token has neither a rotation nor an expiry",
        why: "A secret that is never rotated and never expires stays valid forever wherever it was copied: CI logs, laptops, old deployments.",
        help: "Add rotation { every = \"90d\" } so apply replaces the secret regularly, or expires_at for a token that should end.",
        live: false,
        per_token: true,
    },
    RuleInfo {
        code: Code::LongRotation,
        name: "long-rotation",
        severity: Severity::Medium,
        title: "A token rotates less often than the limit",
        why: "The longer a secret lives, the longer a leaked copy works; the limit (--max-rotation, 90 days by default) is how long a secret may stay valid.",
        help: "Shorten rotation.every to the limit or less (e.g. every = \"30d\").",
        live: false,
        per_token: true,
    },
    RuleInfo {
        code: Code::GraceLongerThanRotation,
        name: "grace-longer-than-rotation",
        severity: Severity::Medium,
        title: "A rotation's grace is longer than its interval",
        why: "When grace exceeds every, the old secret still works when the next rotation starts, so several generations of the secret are valid at once.",
        help: "Make rotation.grace shorter than rotation.every (a few hours to a day is enough for consumers to pick up the new secret).",
        live: false,
        per_token: true,
    },
    RuleInfo {
        code: Code::PersonalToken,
        name: "personal-token",
        severity: Severity::Medium,
        title: "A personal access token is kept in infrastructure code",
        why: "A personal token acts as the member who created it: it changes when their role changes, stops working when they leave, and its actions are logged under their name.",
        help: "Set service_token = true for tokens that services use; keep personal tokens out of shared configuration.",
        live: false,
        per_token: true,
    },
    RuleInfo {
        code: Code::ExpiredInConfig,
        name: "expired-in-config",
        severity: Severity::Medium,
        title: "A token's expires_at is in the past",
        why: "An expired token no longer authenticates: apply would create a token that is dead on arrival, and whatever uses the live one is already failing.",
        help: "Move expires_at into the future, or delete the token block (with a removed block if the live token should stay).",
        live: false,
        per_token: true,
    },
    RuleInfo {
        code: Code::EndOfLifeApiVersion,
        name: "end-of-life-api-version",
        severity: Severity::Medium,
        title: "An API version at or past its end of life",
        why: "LaunchDarkly stops supporting an API version at its end of life (20220603 ended on 2025-04-15; 20240415 is current): requests made with it may change behaviour or fail.",
        help: "Use api_version = 20240415 (changing a token's api_version replaces the token).",
        live: false,
        per_token: true,
    },
    RuleInfo {
        code: Code::UnmanagedAdmin,
        name: "unmanaged-admin-token",
        severity: Severity::Critical,
        title: "A live token with the Admin role that no configuration or state knows",
        why: "An admin token nobody reviews in code can do everything in the account, and nothing rotates or expires it.",
        help: "Bring it under management with an import block (and review its role), or delete it on the Authorization page of the LaunchDarkly account settings.",
        live: true,
        per_token: false,
    },
    RuleInfo {
        code: Code::StaleToken,
        name: "stale-token",
        severity: Severity::Medium,
        title: "A live token unused for longer than --stale-after, or never used",
        why: "A token nobody uses is pure risk: a leaked copy would work, and nobody would miss it if it were deleted.",
        help: "Delete it (remove its token block, or delete it in LaunchDarkly when unmanaged), or, for a configured token that must stay, skip TKN011 in its checks block with the reason.",
        live: true,
        per_token: true,
    },
    RuleInfo {
        code: Code::ServiceTokenLimit,
        name: "service-token-limit",
        severity: Severity::Medium,
        title: "More service tokens than the account limit",
        why: "LaunchDarkly allows 200 service tokens per account by default; past the limit creates are refused, so a rotation with method = \"replace\" cannot create the successor.",
        help: "Delete unused service tokens (see TKN011), or ask LaunchDarkly support to raise the limit.",
        live: true,
        per_token: false,
    },
];

impl Code {
    /// Every code, in number order.
    pub const ALL: [Code; 12] = [
        Code::AdminServiceToken,
        Code::WildcardPolicy,
        Code::NegatedAllow,
        Code::NoExpiryNoRotation,
        Code::LongRotation,
        Code::GraceLongerThanRotation,
        Code::PersonalToken,
        Code::ExpiredInConfig,
        Code::EndOfLifeApiVersion,
        Code::UnmanagedAdmin,
        Code::StaleToken,
        Code::ServiceTokenLimit,
    ];

    /// `TKN001`…
    pub fn as_str(self) -> &'static str {
        match self {
            Code::AdminServiceToken => "TKN001",
            Code::WildcardPolicy => "TKN002",
            Code::NegatedAllow => "TKN003",
            Code::NoExpiryNoRotation => "TKN004",
            Code::LongRotation => "TKN005",
            Code::GraceLongerThanRotation => "TKN006",
            Code::PersonalToken => "TKN007",
            Code::ExpiredInConfig => "TKN008",
            Code::EndOfLifeApiVersion => "TKN009",
            Code::UnmanagedAdmin => "TKN010",
            Code::StaleToken => "TKN011",
            Code::ServiceTokenLimit => "TKN012",
        }
    }

    /// Exactly `TKN001`…`TKN012` (upper case).
    pub fn parse(s: &str) -> Option<Code> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The catalogue entry.
    pub fn info(self) -> &'static RuleInfo {
        &CATALOGUE[self as usize]
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every rule, in code order.
pub fn catalogue() -> &'static [RuleInfo] {
    &CATALOGUE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_numbered_and_round_trip() {
        for (i, code) in Code::ALL.into_iter().enumerate() {
            assert_eq!(code.as_str(), format!("TKN{:03}", i + 1));
            assert_eq!(Code::parse(code.as_str()), Some(code));
            assert_eq!(code.info().code, code, "catalogue order matches the enum");
            let json = serde_json::to_string(&code).unwrap_or_default();
            assert_eq!(json, format!("\"{code}\""));
        }
        assert_eq!(Code::parse("tkn001"), None);
        assert_eq!(Code::parse("TKN013"), None);
        let names: std::collections::BTreeSet<&str> = catalogue().iter().map(|r| r.name).collect();
        assert_eq!(names.len(), catalogue().len(), "names are unique");
    }

    #[test]
    fn severities_order_and_parse() {
        assert!(Severity::Low < Severity::Medium && Severity::High < Severity::Critical);
        assert_eq!(Severity::parse("high"), Some(Severity::High));
        assert_eq!(Severity::parse("HIGH"), None);
    }
}
