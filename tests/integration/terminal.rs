//! Issue 11 item 7: text the API supplies (token names, descriptions, member emails) cannot
//! drive the terminal. A live token renamed to `evil\u{1b}[2J\u{1b}[31mRED\u{7}` (and an
//! unmanaged one, and a creator's email, carrying the same) goes through plan, drift,
//! check --live, apply, show, state and adopt in every format; no output holds a control character
//! other than a line break, and the text is still there, escaped.

use std::process::Output;

use crate::support::{DevServer, config_dir, text};

const EVIL: &str = "evil\u{1b}[2J\u{1b}[31mRED\u{7}\u{0}\u{9b}1m\u{202e}";
const RECIPIENT: &str = "age17rmdjdkhln5l0d4srq5swyt4k68mpqpxf84dgs3xy8hw6fv9rykssqlygq";

/// The first character that must not reach a terminal, if any (line breaks and tabs are
/// layout; everything else in C0/C1, DEL and the bidi overrides is not).
fn unsafe_char(s: &str) -> Option<char> {
    s.chars().find(|c| {
        (c.is_control() && !matches!(c, '\n' | '\t'))
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    })
}

fn assert_clean(what: &str, out: &Output) {
    for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let s = String::from_utf8_lossy(bytes);
        if let Some(c) = unsafe_char(&s) {
            panic!("{what} wrote {c:?} raw to {stream}:\n{}", text(out));
        }
    }
}

fn seed() -> serde_json::Value {
    let owner = "5f0000000000000000000001";
    serde_json::json!({
        "members": [
            {"_id": owner, "email": "owner@example.com", "role": "owner"},
            {"_id": "5f0000000000000000000002", "email": format!("{EVIL}@example.com"), "role": "writer"}
        ],
        "tokens": [
            {"_id": "610000000000000000000001", "memberId": "5f0000000000000000000002", "name": EVIL,
             "description": EVIL, "role": "reader", "serviceToken": true}
        ]
    })
}

fn main_hcl(url: &str) -> String {
    format!(
        "launchdarkly {{\n  base_url = \"{url}\"\n}}\n\nstate {{\n  recipients = [\"{RECIPIENT}\"]\n}}\n\n\
         token \"ci\" {{\n  role        = \"reader\"\n  description = \"ours\"\n}}\n\n\
         unmanaged {{\n  mode = \"report\"\n}}\n"
    )
}

/// PATCHes the live token `id` to carry [`EVIL`] as name and description.
fn rename_live(server: &DevServer, id: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let patch = serde_json::json!([
            {"op": "replace", "path": "/name", "value": EVIL},
            {"op": "replace", "path": "/description", "value": EVIL}
        ]);
        let resp = reqwest::Client::new()
            .patch(format!("{}/api/v2/tokens/{id}", server.url))
            .header("Authorization", &server.admin_token)
            .header("LD-API-Version", "20240415")
            .json(&patch)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    });
}

#[test]
fn names_from_the_api_are_escaped_in_every_output() {
    let server = DevServer::seeded(&seed(), &[]);
    let dir = config_dir(&[("main.hcl", &main_hcl(&server.url))]);
    let d = dir.path();
    let run = |args: &[&str]| {
        // In the temp dir: whatever a command writes to a relative path lands there, not in the repository.
        let out = server.tokenform(d).current_dir(d).args(args).output().unwrap();
        assert_clean(&args.join(" "), &out);
        out
    };

    let created = run(&["apply", "--auto-approve"]);
    assert!(created.status.success(), "{}", text(&created));
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("tokenform.state.json")).unwrap()).unwrap();
    let id = state["tokens"]["token.ci"]["id"].as_str().unwrap().to_owned();
    rename_live(&server, &id);

    // The escaped form is shown, so a reviewer still sees what the token is called.
    let plan = run(&["plan"]);
    assert!(String::from_utf8_lossy(&plan.stdout).contains("evil\\u{1b}[2J"), "{}", text(&plan));
    for format in ["json", "markdown", "json-stream"] {
        run(&["plan", "--format", format]);
    }
    // Inside the temp dir: a relative -out is relative to where the test runs (the repository).
    let saved = d.join("saved.plan");
    let saved = saved.to_str().unwrap();
    run(&["plan", "-out", saved]);
    run(&["show", saved]);
    run(&["show", "--format", "markdown", saved]);
    let shows = |out: &Output, escaped: &str| {
        let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(all.contains(escaped), "no {escaped} in:\n{}", text(out));
    };
    for (format, escaped) in
        [("human", "evil\\u{1b}[2J"), ("json", "evil\\u001b[2J"), ("markdown", "`evil\\u{1b}[2J")]
    {
        // The managed token renamed, and the unmanaged one with its creator's email.
        shows(&run(&["drift", "--format", format]), escaped);
        run(&["show", "--format", format]);
    }
    // check --live --stale-after 0s: both tokens are stale (never used; just made, they are
    // not stale by the default 90d), so its findings name the renamed token and the
    // unmanaged one with its creator's email, in every format.
    for (format, escaped) in [
        ("human", "evil\\u{1b}[2J"),
        ("json", "evil\\u001b[2J"),
        ("markdown", "evil\\\\u{1b}"),
        ("sarif", "evil\\u001b[2J"),
    ] {
        let out = run(&["check", "--live", "--stale-after", "0s", "--severity", "low", "--format", format]);
        assert_eq!(out.status.code(), Some(2), "check --live --format {format}: {}", text(&out));
        shows(&out, escaped);
    }
    run(&["apply", "--refresh-only", "--auto-approve"]);
    // After refresh-only the state records the live name: state printers show it.
    for args in [&["state", "list"][..], &["show"], &["show", "--format", "markdown"]] {
        run(args);
    }
    shows(&run(&["state", "show", "token.ci"]), "evil\\u{1b}[2J");
    run(&["apply", "--auto-approve"]);
    run(&["apply", "--auto-approve", "--format", "json-stream"]);
    run(&["adopt", "--match", "*"]);
}
