//! `state { backend "TYPE" { … } }`: which backend holds the state, decoded into
//! [`BackendSettings`]. Credentials never come from here: the block names the environment
//! variable that holds them (`conn_str_env`), and a literal connection string is a
//! diagnostic that never quotes it. No I/O, no environment.

use super::decode::is_env_name;
use super::diagnostics::Rule;
use super::parse::{Attr, Block};
use super::values::Cx;
use crate::state::backend::s3::names;
use crate::state::settings::{BackendSettings, DEFAULT_LOCK_LEASE, PgSettings, S3Settings};

/// The backend types this build knows.
const TYPES: &[&str] = &["pg", "s3"];

/// Decodes one `backend` block; `None` (with problems reported) when it is unusable.
pub(super) fn decode(cx: &mut Cx<'_>, b: &Block) -> Option<BackendSettings> {
    let label = b.labels.first()?;
    match label.value.as_str() {
        "pg" => pg(cx, b).map(BackendSettings::Pg),
        "s3" => s3(cx, b).map(BackendSettings::S3),
        other => {
            let help = match super::schema::suggest(other, TYPES) {
                Some(s) => format!("did you mean \"{s}\"?"),
                None => {
                    format!("backends: {} (the local file is the default: omit the block)", TYPES.join(", "))
                }
            };
            let p = cx
                .at(
                    Rule::InvalidValue,
                    format!("unknown state backend {:?}", crate::secret::redact_secrets(other)),
                    b.file,
                    label.span.clone(),
                    "not a backend tokenform knows",
                )
                .with_help(help);
            cx.sink.push(p);
            None
        }
    }
}

fn pg(cx: &mut Cx<'_>, b: &Block) -> Option<PgSettings> {
    let mut pg = PgSettings::default();
    let mut ok = true;
    for a in &b.body.attrs {
        match a.key.as_str() {
            "conn_str_env" => match cx.string(a, None) {
                Some(s) if is_env_name(&s) => pg.conn_str_env = s,
                Some(s) => {
                    // Never quote the value: it may be the connection string itself.
                    let looks_like_url = s.contains("://") || s.contains('=');
                    let (msg, label) = if looks_like_url {
                        (
                            "`conn_str_env` holds a connection string, not the name of a variable",
                            "a connection string",
                        )
                    } else {
                        ("`conn_str_env` is not an environment variable name", "not an env var name")
                    };
                    let p = cx.at(Rule::SecretInConfig, msg, a.file, a.span.clone(), label).with_help(
                        "name the variable that holds the postgres:// URL (e.g. conn_str_env = \"PG_CONN_STR\") \
                         and set it in the environment; the URL and its password never go in the configuration",
                    );
                    cx.sink.push(p);
                    ok = false;
                }
                None => ok = false,
            },
            "conn_str" => {
                let p = cx
                    .at(
                        Rule::SecretInConfig,
                        "a connection string in the configuration",
                        a.file,
                        a.key_span.clone(),
                        "connection strings never go here",
                    )
                    .with_help(
                        "remove it and put the URL in an environment variable: tokenform reads \
                         PG_CONN_STR by default, or the variable conn_str_env names. Rotate that \
                         password if this file was committed",
                    );
                cx.sink.push(p);
                ok = false;
            }
            "schema" => match cx.string(a, None) {
                Some(s) if is_identifier(&s) => pg.schema = s,
                Some(_) => {
                    invalid(
                        cx,
                        a,
                        "`schema` must be a PostgreSQL identifier",
                        "letters, digits and _, at most 63, not starting with a digit",
                    );
                    ok = false;
                }
                None => ok = false,
            },
            "workspace" => match cx.string(a, None) {
                Some(s) if !s.is_empty() && s.len() <= 255 && !s.chars().any(char::is_control) => {
                    pg.workspace = s;
                }
                Some(_) => {
                    invalid(
                        cx,
                        a,
                        "`workspace` must be a non-empty name",
                        "1 to 255 characters, no control characters",
                    );
                    ok = false;
                }
                None => ok = false,
            },
            _ => {
                let p = cx
                    .at(
                        Rule::UnknownAttribute,
                        format!("unknown attribute `{}` in a `backend \"pg\"` block", a.key),
                        a.file,
                        a.key_span.clone(),
                        "not allowed here",
                    )
                    .with_help("a `backend \"pg\"` block accepts: conn_str_env, schema, workspace");
                cx.sink.push(p);
                ok = false;
            }
        }
    }
    ok.then_some(pg)
}

/// The shortest and longest `lock_lease`.
const LEASE_RANGE: std::ops::RangeInclusive<std::time::Duration> =
    std::time::Duration::from_secs(2)..=std::time::Duration::from_hours(1);

fn s3(cx: &mut Cx<'_>, b: &Block) -> Option<S3Settings> {
    let (mut bucket, mut key, mut region, mut endpoint) = (None, None, None, None);
    let mut lock_lease = DEFAULT_LOCK_LEASE;
    let mut ok = true;
    for a in &b.body.attrs {
        let checked = |cx: &mut Cx<'_>, check: fn(&str) -> Result<(), String>, what: &str| {
            let s = cx.string(a, None)?;
            match check(&s) {
                Ok(()) => Some(s),
                Err(why) => {
                    invalid(cx, a, &format!("`{}` is not a usable {what}", a.key), &why);
                    None
                }
            }
        };
        let value = match a.key.as_str() {
            "bucket" => checked(cx, names::check_bucket, "bucket name").map(|s| bucket = Some(s)),
            "key" => checked(cx, names::check_key, "object key").map(|s| key = Some(s)),
            "region" => checked(cx, names::check_region, "region").map(|s| region = Some(s)),
            "endpoint" => match cx.string(a, None) {
                Some(s) => match names::check_endpoint(&s) {
                    Ok(url) => {
                        endpoint = Some(url);
                        Some(())
                    }
                    Err(why) => {
                        let p = cx
                            .at(Rule::BadUrl, "`endpoint` is not usable", a.file, a.span.clone(), why)
                            .with_help(
                                "give the store's base URL: https://HOST[:PORT] (plain http only to 127.0.0.1, \
                                 [::1] or localhost); leave it out for AWS S3",
                            );
                        cx.sink.push(p);
                        None
                    }
                },
                None => None,
            },
            "lock_lease" => match cx.duration(a, None, false) {
                Some(d) if LEASE_RANGE.contains(&d) => {
                    lock_lease = d;
                    Some(())
                }
                Some(_) => {
                    invalid(cx, a, "`lock_lease` is out of range", "a lease between 2s and 1h");
                    None
                }
                None => None,
            },
            "access_key" | "secret_key" | "access_key_id" | "secret_access_key" | "token"
            | "session_token" | "profile" => {
                let p = cx
                    .at(
                        Rule::SecretInConfig,
                        format!("`{}` in a `backend \"s3\"` block", a.key),
                        a.file,
                        a.key_span.clone(),
                        "credentials never go here",
                    )
                    .with_help(
                        "remove it: the S3 backend reads AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and \
                         AWS_SESSION_TOKEN from the environment only. Rotate that key if this file was committed",
                    );
                cx.sink.push(p);
                None
            }
            _ => {
                let p = cx
                    .at(
                        Rule::UnknownAttribute,
                        format!("unknown attribute `{}` in a `backend \"s3\"` block", a.key),
                        a.file,
                        a.key_span.clone(),
                        "not allowed here",
                    )
                    .with_help("a `backend \"s3\"` block accepts: bucket, key, region, endpoint, lock_lease");
                cx.sink.push(p);
                None
            }
        };
        ok &= value.is_some();
    }
    let missing: Vec<&str> =
        [("bucket", bucket.is_none()), ("key", key.is_none())].iter().filter(|m| m.1).map(|m| m.0).collect();
    let given = |name: &str| b.body.attrs.iter().any(|a| a.key == name);
    let missing: Vec<&str> = missing.into_iter().filter(|m| !given(m)).collect();
    if !missing.is_empty() {
        let p = cx
            .at(
                Rule::MissingAttribute,
                format!("a `backend \"s3\"` block needs {}", missing.join(" and ")),
                b.file,
                b.ident_span.clone(),
                "incomplete",
            )
            .with_help("backend \"s3\" { bucket = \"my-bucket\"  key = \"tokenform/state.json\" }, one attribute a line");
        cx.sink.push(p);
        return None;
    }
    match (ok, bucket, key) {
        (true, Some(bucket), Some(key)) => Some(S3Settings { bucket, key, region, endpoint, lock_lease }),
        _ => None,
    }
}

fn invalid(cx: &mut Cx<'_>, a: &Attr, msg: &str, help: &str) {
    let p = cx.at(Rule::InvalidValue, msg, a.file, a.span.clone(), "invalid").with_help(help);
    cx.sink.push(p);
}

/// A plain (unquoted) PostgreSQL identifier of at most 63 bytes, lower case, so that the
/// name in the configuration is the name in `\dn` (tokenform quotes it anyway).
fn is_identifier(s: &str) -> bool {
    s.len() <= 63
        && s.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use crate::config::{BackendSettings, PgSettings, VarInputs, load_problems};
    use crate::state::settings::{DEFAULT_LOCK_LEASE, S3Settings};

    fn load(state_body: &str) -> Result<crate::config::Config, Vec<crate::config::Problem>> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("main.hcl"), format!("state {{\n{state_body}\n}}\n")).unwrap();
        load_problems(dir.path(), &VarInputs::default())
    }

    fn codes(state_body: &str) -> Vec<String> {
        load(state_body).err().unwrap_or_default().iter().map(|p| p.rule.name().to_owned()).collect()
    }

    #[test]
    fn a_pg_block_decodes_with_defaults() {
        let c = load("  backend \"pg\" {\n  }").unwrap();
        assert_eq!(c.state.backend, BackendSettings::Pg(PgSettings::default()));
        let c = load(
            "  backend \"pg\" {\n    conn_str_env = \"TF_PG\"\n    schema = \"tf_state\"\n    workspace = \"prod eu\"\n  }",
        )
        .unwrap();
        let BackendSettings::Pg(pg) = c.state.backend else { panic!() };
        assert_eq!(
            (pg.conn_str_env.as_str(), pg.schema.as_str(), pg.workspace.as_str()),
            ("TF_PG", "tf_state", "prod eu")
        );
        assert_eq!(load("").unwrap().state.backend, BackendSettings::Local);
    }

    #[test]
    fn bad_backend_blocks_are_located_diagnostics() {
        assert_eq!(codes("  backend \"s4\" {\n  }"), ["invalid_value"]);
        assert_eq!(codes("  backend {\n  }"), ["bad_label"]);
        assert_eq!(codes("  backend \"pg\" {\n    schema = \"Bad-Name\"\n  }"), ["invalid_value"]);
        assert_eq!(codes("  backend \"pg\" {\n    workspace = \"\"\n  }"), ["invalid_value"]);
        assert_eq!(codes("  backend \"pg\" {\n    host = \"db\"\n  }"), ["unknown_attribute"]);
        assert_eq!(codes("  backend \"pg\" {\n  }\n  backend \"pg\" {\n  }"), ["duplicate_block"]);
        assert_eq!(codes("  path = \"x.json\"\n  backend \"pg\" {\n  }"), ["invalid_value"]);
    }

    #[test]
    fn a_connection_string_in_the_configuration_is_refused_and_never_shown() {
        for body in [
            "  backend \"pg\" {\n    conn_str = \"postgres://alice:hunter2@db/x\"\n  }",
            "  backend \"pg\" {\n    conn_str_env = \"postgres://alice:hunter2@db/x\"\n  }",
            "  backend \"pg\" {\n    conn_str_env = \"host=db password=hunter2\"\n  }",
        ] {
            let problems = load(body).unwrap_err();
            assert_eq!(
                problems.iter().map(|p| p.rule.name()).collect::<Vec<_>>(),
                ["secret_in_config"],
                "{body}"
            );
            let report = miette::Report::new(problems[0].clone());
            let mut shown = String::new();
            miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
                .render_report(&mut shown, report.as_ref())
                .unwrap();
            assert!(shown.contains("main.hcl"), "located: {shown}");
            assert!(!shown.contains("hunter2"), "the password is shown:\n{shown}");
        }
    }

    #[test]
    fn an_s3_block_decodes() {
        let c = load("  backend \"s3\" {\n    bucket = \"tf-state\"\n    key = \"prod/tokenform.json\"\n  }")
            .unwrap();
        assert_eq!(
            c.state.backend,
            BackendSettings::S3(S3Settings {
                bucket: "tf-state".into(),
                key: "prod/tokenform.json".into(),
                region: None,
                endpoint: None,
                lock_lease: DEFAULT_LOCK_LEASE,
            })
        );
        let c = load(
            "  backend \"s3\" {\n    bucket = \"b-1\"\n    key = \"k\"\n    region = \"eu-west-1\"\n    endpoint = \"http://127.0.0.1:9000/\"\n    lock_lease = \"5s\"\n  }",
        )
        .unwrap();
        assert_eq!(c.state.backend.kind(), "s3");
        let BackendSettings::S3(s3) = c.state.backend else { panic!() };
        assert_eq!(s3.region.as_deref(), Some("eu-west-1"));
        assert_eq!(s3.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(s3.lock_lease, std::time::Duration::from_secs(5));
    }

    #[test]
    fn bad_s3_blocks_are_located_diagnostics() {
        let ok = "    bucket = \"b-1\"\n    key = \"k\"\n";
        let with = |extra: &str| codes(&format!("  backend \"s3\" {{\n{ok}{extra}  }}"));
        assert_eq!(codes("  backend \"s3\" {\n    key = \"k\"\n  }"), ["missing_attribute"]);
        assert_eq!(codes("  backend \"s3\" {\n  }"), ["missing_attribute"]);
        assert_eq!(
            codes("  backend \"s3\" {\n    bucket = \"Bad_Bucket\"\n    key = \"k\"\n  }"),
            ["invalid_value"]
        );
        assert_eq!(
            codes("  backend \"s3\" {\n    bucket = \"b-1\"\n    key = \"/abs\"\n  }"),
            ["invalid_value"]
        );
        assert_eq!(with("    region = \"Mars 1\"\n"), ["invalid_value"]);
        assert_eq!(with("    endpoint = \"http://s3.example.com\"\n"), ["bad_url"]);
        assert_eq!(with("    endpoint = \"http://10.1.2.3:9000\"\n"), ["bad_url"]);
        assert_eq!(with("    lock_lease = \"1s\"\n"), ["invalid_value"]);
        assert_eq!(with("    lock_lease = \"soon\"\n"), ["bad_duration"]);
        assert_eq!(with("    acl = \"private\"\n"), ["unknown_attribute"]);
    }

    #[test]
    fn s3_credentials_in_the_configuration_are_refused_and_never_shown() {
        for extra in [
            "    access_key = \"AKIAIOSFODNN7EXAMPLE\"\n",
            "    secret_key = \"wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY\"\n",
            "    endpoint = \"https://AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY@s3.example.com\"\n",
        ] {
            let body = format!("  backend \"s3\" {{\n    bucket = \"b-1\"\n    key = \"k\"\n{extra}  }}");
            let problems = load(&body).unwrap_err();
            assert_eq!(problems.len(), 1, "{body}");
            let report = miette::Report::new(problems[0].clone());
            let mut shown = String::new();
            miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
                .render_report(&mut shown, report.as_ref())
                .unwrap();
            assert!(shown.contains("main.hcl"), "located: {shown}");
            assert!(!shown.contains("wJalrXUtnFEMI"), "the secret key is shown:\n{shown}");
        }
    }
}
