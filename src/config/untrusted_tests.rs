//! The configuration as an attacker writes it (issue 11 items 1, 2, 5): files it names
//! stay inside the configuration directory, every read is bounded and regular-only, and
//! no diagnostic quotes a file's content beyond one masked, recipient-shaped word. Every
//! file lives under a temp directory; nothing outside it is read.

use std::path::Path;

use super::diagnostics::{Problem, render};
use super::*;

const KEY: &str = "age17rmdjdkhln5l0d4srq5swyt4k68mpqpxf84dgs3xy8hw6fv9rykssqlygq";
const FAKE_GH: &str = "ghp_FakeFakeFake0123456789abcdefABCDEF01";

fn write(dir: &Path, name: &str, body: &[u8]) {
    std::fs::write(dir.join(name), body).unwrap();
}

fn problems(dir: &Path) -> Vec<Problem> {
    load_problems(dir, &VarInputs::default()).err().unwrap_or_default()
}

fn state_block(body: &str) -> String {
    format!("state {{\n  recipients = [\"{KEY}\"]\n  {body}\n}}\n")
}

/// Every problem rendered as a person sees it (source snippets included).
fn shown(ps: &[Problem]) -> String {
    render(ps, false)
}

#[test]
fn an_environment_block_in_a_recipients_file_is_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let environ = format!(
        "PATH=/usr/bin\0HOME=/home/runner\0GITHUB_TOKEN={FAKE_GH}\0LAUNCHDARKLY_ACCESS_TOKEN=api-0a1b2c3d-0000-4000-8000-00000000beef\0"
    );
    write(dir.path(), "env.txt", environ.as_bytes());
    write(dir.path(), "main.hcl", state_block("recipients_file = \"env.txt\"").as_bytes());
    let ps = problems(dir.path());
    assert!(!ps.is_empty());
    let out = shown(&ps);
    for leak in ["ghp_", "FakeFake", "GITHUB_TOKEN", "HOME=", "/home/runner", "beef", "PATH="] {
        assert!(!out.contains(leak), "{leak} leaked:\n{out}");
    }
    assert!(out.contains("\"env.txt\" line 1"), "{out}");
}

#[test]
fn a_password_file_gives_a_few_masked_problems_not_one_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let passwd = (0..24)
        .map(|i| format!("user{i}:x:{i}:{i}:User {i}:/home/user{i}:/bin/bash"))
        .collect::<Vec<_>>()
        .join("\n");
    write(dir.path(), "passwd", passwd.as_bytes());
    write(dir.path(), "main.hcl", state_block("recipients_file = \"passwd\"").as_bytes());
    let ps = problems(dir.path());
    assert_eq!(ps.len(), 6, "five line problems and one 'and 19 more'");
    assert!(ps.last().is_some_and(|p| p.message.contains("19 more bad lines")));
    let out = shown(&ps);
    assert!(!out.contains("/bin/bash") && !out.contains("user3"), "{out}");
}

#[test]
fn recipients_files_outside_the_directory_are_refused_unread() {
    let outside = tempfile::tempdir().unwrap();
    write(outside.path(), "secret.txt", format!("GITHUB_TOKEN={FAKE_GH}\n").as_bytes());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(outside.path().join("secret.txt"), d.join("link.txt")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", d.join("zero")).unwrap();
        std::os::unix::fs::symlink(outside.path(), d.join("shared")).unwrap();
    }
    let absolute = outside.path().join("secret.txt").display().to_string();
    let cases: Vec<(String, &str)> = vec![
        (absolute, "it is an absolute path"),
        ("/dev/zero".into(), "it is an absolute path"),
        ("../secret.txt".into(), "it goes up with `..`"),
        #[cfg(unix)]
        ("link.txt".into(), "a symbolic link on it leads out"),
        #[cfg(unix)]
        ("zero".into(), "a symbolic link on it leads out"),
        #[cfg(unix)]
        ("shared/secret.txt".into(), "a symbolic link on it leads out"),
    ];
    for (named, why) in cases {
        write(d, "main.hcl", state_block(&format!("recipients_file = \"{named}\"")).as_bytes());
        let ps = problems(d);
        assert_eq!(ps.len(), 1, "{named}: {ps:?}");
        assert_eq!(ps[0].rule.name(), "bad_recipients_file");
        assert!(
            ps[0].message.contains("is outside the configuration directory") && ps[0].message.contains(why),
            "{}",
            ps[0].message
        );
        assert!(!shown(&ps).contains("Fake"), "{named}");
    }
}

#[cfg(unix)]
#[test]
fn non_regular_and_oversized_recipients_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("adir")).unwrap();
    assert!(std::process::Command::new("mkfifo").arg(d.join("fifo")).status().unwrap().success());
    let cap = usize::try_from(crate::files::Kind::Recipients.cap()).unwrap();
    write(d, "big.txt", &vec![b'#'; cap + 1]);
    for (named, says) in [
        ("adir", "is a directory, not a regular file"),
        // No writer ever opens the FIFO: a blocking open would hang the test.
        ("fifo", "is a FIFO, not a regular file"),
        ("big.txt", "is larger than 1 MiB, more than tokenform reads for a recipients file"),
    ] {
        write(d, "main.hcl", state_block(&format!("recipients_file = \"{named}\"")).as_bytes());
        let ps = problems(d);
        assert_eq!(ps.len(), 1, "{named}: {ps:?}");
        assert!(ps[0].message.contains(says), "{}", ps[0].message);
    }
}

#[test]
fn the_state_path_stays_inside_the_configuration_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (path, why) in [
        ("../../victim.json", "it goes up with `..`"),
        ("/tmp/victim.json", "it is an absolute path"),
        ("/dev/zero", "it is an absolute path"),
        ("state/../../victim.json", "it goes up with `..`"),
    ] {
        write(d, "main.hcl", state_block(&format!("path = \"{path}\"")).as_bytes());
        let ps = problems(d);
        assert_eq!(ps.len(), 1, "{path}: {ps:?}");
        assert_eq!(ps[0].rule.name(), "invalid_value");
        assert!(ps[0].message.contains(why), "{}", ps[0].message);
        assert!(ps[0].span.is_some(), "points at the attribute");
    }
    write(d, "main.hcl", state_block("path = \"state/prod.json\"").as_bytes());
    let config = load_problems(d, &VarInputs::default()).unwrap();
    assert_eq!(config.state.path, d.join("state/prod.json"), "a directory that does not exist yet is fine");
}

#[cfg(unix)]
#[test]
fn a_state_directory_linked_out_is_refused() {
    let outside = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("state")).unwrap();
    write(dir.path(), "main.hcl", state_block("path = \"state/prod.json\"").as_bytes());
    let ps = problems(dir.path());
    assert_eq!(ps.len(), 1, "{ps:?}");
    assert!(ps[0].message.contains("a symbolic link on it leads out"), "{}", ps[0].message);
}

#[cfg(unix)]
#[test]
fn a_configuration_file_linked_out_is_not_read_or_quoted() {
    let outside = tempfile::tempdir().unwrap();
    write(outside.path(), "env", format!("GITHUB_TOKEN={FAKE_GH}\n{{{{ not hcl").as_bytes());
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "main.hcl", state_block("").as_bytes());
    std::os::unix::fs::symlink(outside.path().join("env"), dir.path().join("extra.hcl")).unwrap();
    let ps = problems(dir.path());
    assert_eq!(ps.len(), 1, "{ps:?}");
    assert_eq!(ps[0].rule.name(), "read_error");
    assert!(!shown(&ps).contains("Fake"), "{}", shown(&ps));
}

/// The same refusals as properties: whatever path a configuration names for its
/// recipients file or state, and whatever the named file holds (control characters,
/// secrets of any issuer, an environment block, junk), loading never panics, refuses with
/// a typed problem, and never echoes the file beyond one masked word.
#[cfg(unix)]
mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::config::diagnostics::Rule;

    /// Fake secrets of several issuers; none may reach a message, even in part.
    const PLANTED: &[&str] = &[
        "api-0a1b2c3d-0000-4000-8000-00000000beef",
        FAKE_GH,
        "AKIAIOSFODNN7EXAMPLE",
        "xoxb-1234567890-abcdefABCDEF",
        "AGE-SECRET-KEY-1GQ9778VQXMMJVE8SK7J6VT8UJ4HDQAJUVSFCWCM02D8GEWQ72PVQ2Y5J33",
        "glpat-Zx8wQ3rT5yU7iO9pA1sD",
    ];

    /// What a configuration names.
    #[derive(Debug, Clone)]
    enum Named {
        /// An absolute path to a file outside the directory.
        Absolute,
        /// `../…` up and out.
        Parent,
        /// A link in the directory to a file outside it.
        LinkOut,
        /// `shared/secret.txt`, `shared` a link to a directory outside.
        DirLinkOut,
        /// A link to `/dev/zero` (never opened: the link leads out).
        LinkToDevice,
        Fifo,
        Directory,
        /// One byte over the recipients cap.
        Oversize,
        /// A regular file inside, holding these lines.
        Lines(Vec<String>),
    }

    /// One hostile line: a planted secret (bare, `KEY=…`, `user:…`, NUL-joined as in
    /// `/proc/self/environ`), wrapped in control characters or junk, or a recipient.
    fn line() -> impl Strategy<Value = String> {
        let secret = prop::sample::select(PLANTED);
        let wrapped = (
            prop::sample::select(&["", "\u{1b}[2J", "\u{7}", "\0", "\u{9b}1m", "\u{202e}", "\t", "  "][..]),
            secret,
            prop::sample::select(
                &["", "GITHUB_TOKEN=", "user:", "ssh-", "export AWS_SECRET=", "HOME=/root\0TOKEN="][..],
            ),
            prop::sample::select(&["", "\u{1b}[0m", " trailing words", "\0PATH=/usr/bin"][..]),
        )
            .prop_map(|(ctrl, secret, key, tail)| format!("{ctrl}{key}{secret}{tail}"));
        prop_oneof![
            4 => wrapped,
            1 => Just(KEY.to_owned()),
            1 => Just("# a comment".to_owned()),
            1 => Just(String::new()),
            1 => Just("ssh-ed25519 AAAA-not-base64".to_owned()),
            1 => "[ -~]{0,40}",
            1 => "\\PC{0,30}",
        ]
    }

    fn named() -> impl Strategy<Value = Named> {
        prop_oneof![
            1 => Just(Named::Absolute),
            1 => Just(Named::Parent),
            1 => Just(Named::LinkOut),
            1 => Just(Named::DirLinkOut),
            1 => Just(Named::LinkToDevice),
            1 => Just(Named::Fifo),
            1 => Just(Named::Directory),
            1 => Just(Named::Oversize),
            4 => prop::collection::vec(line(), 0..12).prop_map(Named::Lines),
        ]
    }

    /// Lays `named` out under `dir` (with `outside` holding a secret); returns the path
    /// as the configuration writes it.
    fn lay_out(dir: &Path, outside: &Path, named: &Named) -> String {
        let secret_file = outside.join("secret.txt");
        std::fs::write(&secret_file, PLANTED.join("\n")).unwrap();
        match named {
            Named::Absolute => secret_file.display().to_string(),
            Named::Parent => format!("../{}/secret.txt", outside.file_name().unwrap().to_string_lossy()),
            Named::LinkOut => {
                std::os::unix::fs::symlink(&secret_file, dir.join("link.txt")).unwrap();
                "link.txt".into()
            }
            Named::DirLinkOut => {
                std::os::unix::fs::symlink(outside, dir.join("shared")).unwrap();
                "shared/secret.txt".into()
            }
            Named::LinkToDevice => {
                std::os::unix::fs::symlink("/dev/zero", dir.join("zero")).unwrap();
                "zero".into()
            }
            Named::Fifo => {
                let fifo = dir.join("fifo");
                assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
                "fifo".into()
            }
            Named::Directory => {
                std::fs::create_dir(dir.join("adir")).unwrap();
                "adir".into()
            }
            Named::Oversize => {
                let cap = crate::files::Kind::Recipients.cap();
                let file = std::fs::File::create(dir.join("big.txt")).unwrap();
                // Sparse: the size is what is refused, before a byte is read.
                file.set_len(cap + 1).unwrap();
                "big.txt".into()
            }
            Named::Lines(lines) => {
                write(dir, "r.txt", lines.join("\n").as_bytes());
                "r.txt".into()
            }
        }
    }

    /// Panics when `out` holds a planted secret (or a distinctive part of one), or a
    /// control character other than a line break.
    fn assert_quotes_nothing(out: &str) {
        for secret in PLANTED {
            let core = &secret[4..16];
            assert!(!out.contains(core), "{secret} leaked:\n{out}");
        }
        assert!(!out.contains("/root") && !out.contains("PATH="), "an environment block leaked:\n{out}");
        if let Some(c) = out.chars().find(|c| c.is_control() && *c != '\n') {
            panic!("raw {c:?} in:\n{out}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn whatever_a_recipients_file_is_loading_refuses_it_typed_and_quotes_nothing(named in named()) {
            let outside = tempfile::tempdir().unwrap();
            let dir = tempfile::tempdir().unwrap();
            let path = lay_out(dir.path(), outside.path(), &named);
            let body = state_block(&format!("recipients_file = {}", crate::escape::quoted(&path)));
            write(dir.path(), "main.hcl", body.as_bytes());
            let ps = problems(dir.path());
            let out = shown(&ps);
            assert_quotes_nothing(&out);
            for p in &ps {
                assert_quotes_nothing(&p.message);
                prop_assert!(
                    matches!(p.rule, Rule::BadRecipientsFile | Rule::BadRecipient | Rule::SecretInConfig),
                    "{:?}: {}", p.rule, p.message
                );
            }
            if let Named::Lines(lines) = &named {
                // One problem a bad line, five at most, then one "and N more".
                prop_assert!(ps.len() <= 6, "{} problems", ps.len());
                let bad = lines.iter().any(|l| {
                    let t = l.trim();
                    !t.is_empty() && !t.starts_with('#') && t != KEY
                });
                prop_assert_eq!(bad, !ps.is_empty(), "{:?}", ps);
            } else {
                prop_assert_eq!(ps.len(), 1, "{:?}", ps);
                prop_assert!(matches!(ps[0].rule, Rule::BadRecipientsFile), "{:?}", ps[0].rule);
            }
        }

        #[test]
        fn a_state_path_leading_out_is_refused_typed(named in named()) {
            let outside = tempfile::tempdir().unwrap();
            let dir = tempfile::tempdir().unwrap();
            let path = lay_out(dir.path(), outside.path(), &named);
            let body = state_block(&format!("path = {}", crate::escape::quoted(&path)));
            write(dir.path(), "main.hcl", body.as_bytes());
            let ps = problems(dir.path());
            assert_quotes_nothing(&shown(&ps));
            let leads_out = matches!(
                named,
                Named::Absolute | Named::Parent | Named::LinkOut | Named::DirLinkOut | Named::LinkToDevice
            );
            if leads_out {
                prop_assert_eq!(ps.len(), 1, "{:?}", ps);
                prop_assert!(matches!(ps[0].rule, Rule::InvalidValue), "{:?}", ps[0].rule);
                prop_assert!(ps[0].message.contains("outside the configuration directory"), "{}", ps[0].message);
            } else {
                // Inside: the configuration is fine; the state store judges the file (its own properties).
                prop_assert!(ps.is_empty(), "{:?}", ps);
            }
        }
    }
}
