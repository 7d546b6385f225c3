//! `token { deliver "exec" { … }  deliver "file" { … } }`: where a token's new secret goes
//! (`docs/spec.md` §10), decoded into [`Sink`]s. Paths are checked to stay inside the
//! configuration directory here, and again when written. No I/O.

use std::collections::BTreeMap;
use std::ops::Range;

use super::decode::attr;
use super::diagnostics::Rule;
use super::eval::Each;
use super::parse::{Attr, Block};
use super::values::Cx;
use crate::deliver::{
    DEFAULT_TIMEOUT_SECONDS, ExecSink, FileFormat, FileSink, MAX_TIMEOUT_SECONDS, Sink, default_key,
    is_confined, is_env_key,
};
use crate::model::Address;

/// The sink types this build knows.
const TYPES: &[&str] = &["exec", "file"];
const EXEC_ATTRS: &[&str] = &["command", "timeout"];
const FILE_ATTRS: &[&str] = &["path", "format", "key"];

/// Where each file sink's path was first written, across all tokens: two sinks writing one
/// file would overwrite each other.
pub(super) type FileSites = BTreeMap<String, (Address, usize, Range<usize>)>;

/// Decodes one `deliver` block of the token at `address`; `None` (with problems reported)
/// when it is unusable.
pub(super) fn decode(
    cx: &mut Cx<'_>,
    b: &Block,
    each: Option<&Each>,
    address: &Address,
    files: &mut FileSites,
) -> Option<Sink> {
    let label = b.labels.first()?;
    let allowed = match label.value.as_str() {
        "exec" => EXEC_ATTRS,
        "file" => FILE_ATTRS,
        other => {
            let help = match super::schema::suggest(other, TYPES) {
                Some(s) => format!("did you mean \"{s}\"?"),
                None => {
                    "a sink is deliver \"exec\" { command = [...] } or deliver \"file\" { path = \"...\" }"
                        .into()
                }
            };
            let p = cx
                .at(
                    Rule::InvalidValue,
                    format!("unknown sink type {:?}", crate::secret::redact_secrets(other)),
                    b.file,
                    label.span.clone(),
                    "not exec or file",
                )
                .with_help(help);
            cx.sink.push(p);
            return None;
        }
    };
    let mut ok = true;
    for a in &b.body.attrs {
        if !allowed.contains(&a.key.as_str()) {
            let help = match super::schema::suggest(&a.key, allowed) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("a `deliver \"{}\"` block accepts: {}", label.value, allowed.join(", ")),
            };
            let p = cx
                .at(
                    Rule::UnknownAttribute,
                    format!("unknown attribute `{}` in a `deliver \"{}\"` block", a.key, label.value),
                    a.file,
                    a.key_span.clone(),
                    "not allowed here",
                )
                .with_help(help);
            cx.sink.push(p);
            ok = false;
        }
    }
    let sink = if label.value == "exec" { exec(cx, b, each) } else { file(cx, b, each, address, files) };
    sink.filter(|_| ok)
}

fn missing(cx: &mut Cx<'_>, b: &Block, what: &str, help: &str) {
    let p = cx
        .at(
            Rule::MissingAttribute,
            format!("a `deliver \"{}\"` block needs `{what}`", b.labels[0].value),
            b.file,
            b.ident_span.clone(),
            format!("no {what}"),
        )
        .with_help(help.to_owned());
    cx.sink.push(p);
}

fn invalid(cx: &mut Cx<'_>, a: &Attr, msg: impl Into<String>, label: &str, help: &str) {
    let p = cx.at(Rule::InvalidValue, msg, a.file, a.span.clone(), label).with_help(help.to_owned());
    cx.sink.push(p);
}

fn exec(cx: &mut Cx<'_>, b: &Block, each: Option<&Each>) -> Option<Sink> {
    let Some(command_attr) = attr(&b.body, "command") else {
        missing(
            cx,
            b,
            "command",
            "command = [\"gh\", \"secret\", \"set\", \"LD_API_TOKEN\"]: the program and its arguments, no shell",
        );
        return None;
    };
    let command = cx.strings(command_attr, each);
    if let Some(c) = &command
        && c.first().is_none_or(|p| p.trim().is_empty())
    {
        invalid(
            cx,
            command_attr,
            "`command` needs a program to run",
            "empty command",
            "list the program and its arguments: command = [\"vault\", \"kv\", \"put\", \"secret/ld\", \"value=-\"]",
        );
        return None;
    }
    let timeout_seconds = match attr(&b.body, "timeout") {
        None => Some(DEFAULT_TIMEOUT_SECONDS),
        Some(a) => cx.duration(a, each, false).and_then(|d| {
            let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
            if secs > MAX_TIMEOUT_SECONDS {
                invalid(
                    cx,
                    a,
                    format!("`timeout` may be at most {}h", MAX_TIMEOUT_SECONDS / 3600),
                    "too long",
                    "apply holds the state lock while a sink runs: keep it under a few minutes",
                );
                None
            } else {
                Some(secs)
            }
        }),
    };
    Some(Sink::Exec(ExecSink { command: command?, timeout_seconds: timeout_seconds? }))
}

fn file(
    cx: &mut Cx<'_>,
    b: &Block,
    each: Option<&Each>,
    address: &Address,
    files: &mut FileSites,
) -> Option<Sink> {
    let Some(path_attr) = attr(&b.body, "path") else {
        missing(cx, b, "path", "path = \"out/ci.env\", relative to the configuration directory");
        return None;
    };
    let path = cx.string(path_attr, each).and_then(|p| {
        if is_confined(&p) {
            Some(normalize(&p))
        } else {
            let p = cx
                .at(
                    Rule::OutsideConfigDir,
                    format!("the file sink path {:?} is not inside the configuration directory", crate::secret::redact_secrets(&p)),
                    path_attr.file,
                    path_attr.span.clone(),
                    "leaves the configuration directory",
                )
                .with_help("write a relative path to a file, without `..`, e.g. path = \"out/ci.env\" (and keep out/ in .gitignore)");
            cx.sink.push(p);
            None
        }
    });
    let format = match attr(&b.body, "format") {
        None => Some(FileFormat::Raw),
        Some(a) => cx.one_of(a, each, &FileFormat::ALL),
    };
    let key = match (attr(&b.body, "key"), format) {
        (None, _) => Some(default_key(address)),
        (Some(a), Some(FileFormat::Raw)) => {
            invalid(
                cx,
                a,
                "`key` is for the dotenv and json formats",
                "unused by raw",
                "set format = \"dotenv\" or \"json\", or remove `key`",
            );
            None
        }
        (Some(a), Some(FileFormat::Dotenv)) => cx.string(a, each).filter(|k| {
            let fine = is_env_key(k);
            if !fine {
                invalid(
                    cx,
                    a,
                    "a dotenv `key` must be a variable name",
                    "not [A-Za-z_][A-Za-z0-9_]*",
                    "e.g. key = \"LD_API_TOKEN\"",
                );
            }
            fine
        }),
        (Some(a), _) => cx.string(a, each).filter(|k| {
            let fine = !k.is_empty() && !k.chars().any(char::is_control);
            if !fine {
                invalid(
                    cx,
                    a,
                    "a json `key` must be a non-empty field name",
                    "empty",
                    "e.g. key = \"token\"",
                );
            }
            fine
        }),
    };
    let path = path?;
    if let Some((first, file, span)) = files.get(&path) {
        let msg = if first == address {
            format!("{address} delivers to {path:?} twice")
        } else {
            format!("{address} and {first} both deliver to {path:?}")
        };
        let mut p = cx.at(Rule::InvalidValue, msg, path_attr.file, path_attr.span.clone(), "written twice");
        if *file == path_attr.file && *span != path_attr.span {
            p = p.with_other(span.clone(), format!("{first} writes it here"));
        }
        cx.sink.push(
            p.with_help("each file sink owns its file: give each its own path (e.g. with ${each.key})"),
        );
        return None;
    }
    files.insert(path.clone(), (address.clone(), path_attr.file, path_attr.span.clone()));
    Some(Sink::File(FileSink { path, format: format?, key: key? }))
}

/// `./out//ci.env` → `out/ci.env` (the path is already confined).
fn normalize(p: &str) -> String {
    std::path::Path::new(p)
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, Problem, VarInputs, load_problems};
    use crate::deliver::{ExecSink, FileFormat, FileSink, Sink};

    fn load_files(files: &[(&str, &str)]) -> Result<Config, Vec<Problem>> {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        load_problems(dir.path(), &VarInputs::default())
    }

    fn load(blocks: &str) -> Result<Config, Vec<Problem>> {
        load_files(&[("main.hcl", &format!("token \"ci_reader\" {{\n  role = \"reader\"\n{blocks}}}\n"))])
    }

    #[test]
    fn deliver_blocks_decode_in_order_with_defaults() {
        let c = load(concat!(
            "  deliver \"exec\" {\n    command = [\"gh\", \"secret\", \"set\", \"LD_API_TOKEN\"]\n  }\n",
            "  deliver \"file\" {\n    path = \"./out//ci.env\"\n    format = \"dotenv\"\n  }\n",
            "  deliver \"exec\" {\n    command = [\"true\"]\n    timeout = \"2m\"\n  }\n",
            "  deliver \"file\" {\n    path = \"out/ci.json\"\n    format = \"json\"\n    key = \"token\"\n  }\n",
            "  deliver \"file\" {\n    path = \"out/raw\"\n  }\n",
        ))
        .unwrap();
        let exec = |c: &[&str], t| {
            Sink::Exec(ExecSink { command: c.iter().map(|s| (*s).to_owned()).collect(), timeout_seconds: t })
        };
        let file = |p: &str, format, k: &str| Sink::File(FileSink { path: p.into(), format, key: k.into() });
        assert_eq!(
            c.tokens.values().next().unwrap().deliver,
            [
                exec(&["gh", "secret", "set", "LD_API_TOKEN"], 30),
                file("out/ci.env", FileFormat::Dotenv, "CI_READER"),
                exec(&["true"], 120),
                file("out/ci.json", FileFormat::Json, "token"),
                file("out/raw", FileFormat::Raw, "CI_READER"),
            ]
        );
    }

    #[test]
    fn for_each_instances_get_their_own_paths_and_keys() {
        let c = load_files(&[(
            "main.hcl",
            "token \"ci\" {\n  for_each = toset([\"eu\", \"us\"])\n  role = \"reader\"\n  name = \"ci-${each.key}\"\n  deliver \"file\" {\n    path = \"out/${each.key}.env\"\n    format = \"dotenv\"\n  }\n}\n",
        )])
        .unwrap();
        let sinks: Vec<Sink> = c.tokens.values().flat_map(|t| t.deliver.clone()).collect();
        assert_eq!(
            sinks,
            [
                Sink::File(FileSink {
                    path: "out/eu.env".into(),
                    format: FileFormat::Dotenv,
                    key: "CI_EU".into()
                }),
                Sink::File(FileSink {
                    path: "out/us.env".into(),
                    format: FileFormat::Dotenv,
                    key: "CI_US".into()
                }),
            ]
        );
    }

    #[test]
    fn the_json_syntax_takes_deliver_blocks_too() {
        let c = load_files(&[(
            "main.hcl.json",
            r#"{"token": {"a": {"role": "reader", "deliver": {"exec": [{"command": ["true"]}, {"command": ["false"], "timeout": "5s"}], "file": {"path": "a.txt"}}}}}"#,
        )])
        .unwrap();
        let kinds: Vec<String> = c.tokens.values().next().unwrap().deliver.iter().map(Sink::target).collect();
        assert_eq!(kinds, ["true", "false", "a.txt"]);
    }

    #[test]
    fn bad_deliver_blocks_are_located_diagnostics() {
        let cases: &[(&str, &[&str], (usize, usize))] = &[
            (
                "  deliver \"exec\" {\n    command = [\"true\"]\n    comand = [\"x\"]\n  }\n",
                &["unknown_attribute"],
                (5, 5),
            ),
            (
                "  deliver \"file\" {\n    path = \"a\"\n    command = [\"x\"]\n  }\n",
                &["unknown_attribute"],
                (5, 5),
            ),
            ("  deliver \"exec\" {\n    timeout = \"5s\"\n  }\n", &["missing_attribute"], (3, 3)),
            ("  deliver \"exec\" {\n    command = []\n  }\n", &["invalid_value"], (4, 15)),
            ("  deliver \"exec\" {\n    command = [\"\", \"x\"]\n  }\n", &["invalid_value"], (4, 15)),
            ("  deliver \"exec\" {\n    command = \"gh secret set X\"\n  }\n", &["wrong_type"], (4, 15)),
            (
                "  deliver \"exec\" {\n    command = [\"true\"]\n    timeout = \"soon\"\n  }\n",
                &["bad_duration"],
                (5, 15),
            ),
            (
                "  deliver \"exec\" {\n    command = [\"true\"]\n    timeout = \"0s\"\n  }\n",
                &["bad_duration"],
                (5, 15),
            ),
            (
                "  deliver \"exec\" {\n    command = [\"true\"]\n    timeout = \"2h\"\n  }\n",
                &["invalid_value"],
                (5, 15),
            ),
            ("  deliver \"file\" {\n    format = \"raw\"\n  }\n", &["missing_attribute"], (3, 3)),
            ("  deliver \"file\" {\n    path = \"../ci.env\"\n  }\n", &["outside_config_dir"], (4, 12)),
            ("  deliver \"file\" {\n    path = \"/etc/ci.env\"\n  }\n", &["outside_config_dir"], (4, 12)),
            ("  deliver \"file\" {\n    path = \"out/../../x\"\n  }\n", &["outside_config_dir"], (4, 12)),
            ("  deliver \"file\" {\n    path = \"out/\"\n  }\n", &["outside_config_dir"], (4, 12)),
            (
                "  deliver \"file\" {\n    path = \"a\"\n    format = \"yaml\"\n  }\n",
                &["invalid_value"],
                (5, 14),
            ),
            ("  deliver \"file\" {\n    path = \"a\"\n    key = \"K\"\n  }\n", &["invalid_value"], (5, 11)),
            (
                "  deliver \"file\" {\n    path = \"a\"\n    format = \"dotenv\"\n    key = \"LD-TOKEN\"\n  }\n",
                &["invalid_value"],
                (6, 11),
            ),
            (
                "  deliver \"file\" {\n    path = \"a\"\n  }\n  deliver \"file\" {\n    path = \"./a\"\n  }\n",
                &["invalid_value"],
                (7, 12),
            ),
            ("  deliver \"slack\" {\n  }\n", &["invalid_value"], (3, 11)),
            ("  deliver {\n    command = [\"true\"]\n  }\n", &["bad_label"], (3, 3)),
        ];
        for (blocks, want, (line, col)) in cases {
            let problems = load(blocks).err().unwrap_or_default();
            let got: Vec<&str> = problems.iter().map(|p| p.rule.name()).collect();
            assert_eq!(&got, want, "for:\n{blocks}");
            let p = &problems[0];
            let at = p.file.as_ref().unwrap().line_col(p.span.as_ref().unwrap().start);
            assert_eq!(at, (*line, *col), "{want:?} points elsewhere for:\n{blocks}");
        }
    }

    #[test]
    fn two_tokens_writing_one_file_is_a_problem() {
        let problems = load_files(&[(
            "main.hcl",
            "token \"a\" {\n  role = \"reader\"\n  deliver \"file\" {\n    path = \"ci.env\"\n  }\n}\ntoken \"b\" {\n  role = \"reader\"\n  deliver \"file\" {\n    path = \"ci.env\"\n  }\n}\n",
        )])
        .unwrap_err();
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].message.contains("token.b and token.a both deliver to \"ci.env\""),
            "{}",
            problems[0].message
        );
    }
}
