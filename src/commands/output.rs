//! `tokenform output [--format json|env|dotenv]`: every managed token's address, id, name
//! and decrypted secret (needs the identity). Buffers holding secrets are zeroized.
//! Env var names come from addresses: `token.ci_reader` → `TOKENFORM_CI_READER`,
//! `token.deployer["staging"]` → `TOKENFORM_DEPLOYER_STAGING`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use zeroize::Zeroizing;

use super::Context;
use super::state_access;
use crate::ExitStatus;
use crate::cli::OutputFormat;
use crate::model::Address;
use crate::secret::Secret;
use crate::state::{LockMode, StateStore};

/// One token as printed.
struct Row<'a> {
    address: &'a Address,
    id: &'a str,
    name: &'a str,
    secret: Option<Secret>,
}

pub(super) fn run(ctx: &Context, args: &crate::cli::OutputArgs) -> miette::Result<ExitStatus> {
    let config = state_access::load_state_settings(ctx)?;
    let ids = state_access::require_identities(ctx.global.identity.as_deref(), "the secrets")?;
    let store = state_access::open(&config, LockMode::Shared, Some(&ids))?;
    let mut rows = Vec::new();
    for (address, token) in &store.state().tokens {
        let secret = match &token.secret {
            Some(record) => Some(
                StateStore::unseal_named(record, &ids, &format!("the secret of {address}"))
                    .map_err(miette::Report::new)?,
            ),
            None => None,
        };
        rows.push(Row { address, id: &token.id, name: &token.name, secret });
    }
    let text = match args.format {
        OutputFormat::Json => json(&rows),
        OutputFormat::Env | OutputFormat::Dotenv => {
            for row in rows.iter().filter(|r| r.secret.is_none()) {
                if !ctx.global.quiet {
                    eprintln!(
                        "note: {} has no secret in the state (imported or adopted); skipped",
                        row.address
                    );
                }
            }
            env(&rows, args.format == OutputFormat::Env)?
        }
    };
    super::print(&text)?;
    Ok(ExitStatus::Success)
}

fn json(rows: &[Row<'_>]) -> Zeroizing<String> {
    let value: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "address": r.address.to_string(),
                "id": r.id,
                "name": r.name,
                "secret": r.secret.as_ref().map(Secret::expose),
            })
        })
        .collect();
    let mut text = Zeroizing::new(serde_json::to_string_pretty(&value).unwrap_or_default());
    text.push('\n');
    text
}

/// `TOKENFORM_` + the address in upper snake case.
pub(super) fn env_name(address: &Address) -> String {
    let mut name = String::from("TOKENFORM");
    for part in std::iter::once(address.label.as_str()).chain(address.key.as_deref()) {
        name.push('_');
        let mut last_underscore = true;
        for c in part.chars() {
            if c.is_ascii_alphanumeric() {
                name.push(c.to_ascii_uppercase());
                last_underscore = false;
            } else if !last_underscore {
                name.push('_');
                last_underscore = true;
            }
        }
        while name.ends_with('_') {
            name.pop();
        }
    }
    name
}

fn env(rows: &[Row<'_>], export: bool) -> miette::Result<Zeroizing<String>> {
    let mut seen: BTreeMap<String, &Address> = BTreeMap::new();
    let mut text = Zeroizing::new(String::new());
    for row in rows {
        let Some(secret) = &row.secret else { continue };
        let name = env_name(row.address);
        if let Some(other) = seen.insert(name.clone(), row.address) {
            return Err(miette::miette!(
                code = "tokenform::output::name_collision",
                help = "rename one of the tokens (`tokenform state mv`), or use --format json",
                "{other} and {} both map to the variable {name}",
                row.address
            ));
        }
        let value = secret.expose();
        // Written straight into the zeroized buffer: no stray copies of the secret.
        if export {
            // Single quotes: nothing inside is special to a POSIX shell except `'` itself.
            let _ = write!(text, "export {name}='");
            for c in value.chars() {
                if c == '\'' { text.push_str(r"'\''") } else { text.push(c) }
            }
            text.push_str("'\n");
        } else if value.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:/+=@".contains(c)) {
            let _ = writeln!(text, "{name}={value}");
        } else {
            let _ = write!(text, "{name}=\"");
            for c in value.chars() {
                match c {
                    '\\' => text.push_str(r"\\"),
                    '"' => text.push_str("\\\""),
                    '\n' => text.push_str(r"\n"),
                    c => text.push(c),
                }
            }
            text.push_str("\"\n");
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_follow_addresses() {
        assert_eq!(env_name(&Address::new("ci_reader")), "TOKENFORM_CI_READER");
        assert_eq!(env_name(&Address::keyed("deployer", "staging")), "TOKENFORM_DEPLOYER_STAGING");
        assert_eq!(env_name(&Address::keyed("deploy-x", "eu west/1")), "TOKENFORM_DEPLOY_X_EU_WEST_1");
    }

    #[test]
    fn env_and_dotenv_quote_and_collisions_fail() {
        let a = Address::new("a_b");
        let b = Address::keyed("a", "b");
        let c = Address::new("c");
        let rows = vec![
            Row { address: &a, id: "1", name: "n", secret: Some(Secret::new("api-x")) },
            Row { address: &c, id: "3", name: "n", secret: Some(Secret::new("it's \"odd\"")) },
        ];
        assert_eq!(
            env(&rows, true).unwrap().as_str(),
            "export TOKENFORM_A_B='api-x'\nexport TOKENFORM_C='it'\\''s \"odd\"'\n"
        );
        assert_eq!(
            env(&rows, false).unwrap().as_str(),
            "TOKENFORM_A_B=api-x\nTOKENFORM_C=\"it's \\\"odd\\\"\"\n"
        );
        let clash = vec![
            Row { address: &a, id: "1", name: "n", secret: Some(Secret::new("s1")) },
            Row { address: &b, id: "2", name: "n", secret: Some(Secret::new("s2")) },
        ];
        let err = env(&clash, false).unwrap_err();
        assert!(!format!("{err:?}").contains("s1"));
        assert!(err.to_string().contains("TOKENFORM_A_B"));
    }
}
