//! `cargo bench -- planner`: the planner's CPU time alone (no I/O): `plan::plan` over N
//! managed tokens, with a realistic mix of work (10% config edits, 5% live drift, 5% new
//! tokens, N/10 unmanaged tokens in `delete` mode), plus rendering in the three formats.
//!
//! `cargo bench -- plan_live`: what `tokenform plan` does after reading its files: one live
//! snapshot from the in-process emulator with 50 ms latency per request, the plan and the
//! human rendering, for 1,000 and 10,000 managed tokens (wall time and HTTP requests).

use std::time::{Duration, Instant};

use tokenform::api::model::{CallerIdentity, Live, Token};
use tokenform::config::{Config, DesiredToken, UnmanagedMode};
use tokenform::model::{Access, Address, Role};
use tokenform::plan::refresh::state_from_live;
use tokenform::plan::{PlanOptions, plan};
use tokenform::state::model::State;

fn token(id: u64, name: &str, now: jiff::Timestamp) -> Token {
    Token {
        id: format!("{id:024x}"),
        owner_id: "o".into(),
        member_id: "m".into(),
        member: None,
        name: Some(name.to_owned()),
        description: Some("bench".into()),
        creation_date: now.as_millisecond(),
        last_modified: now.as_millisecond(),
        last_used: None,
        custom_role_ids: None,
        inline_role: None,
        role: Some("reader".into()),
        token: None,
        service_token: true,
        default_api_version: Some(20_240_415),
        expiry: None,
        links: serde_json::Value::Null,
    }
}

fn world(n: u64, now: jiff::Timestamp) -> (Config, State, Live) {
    let mut config = Config::empty("/bench");
    config.unmanaged.mode = UnmanagedMode::Delete;
    let mut state = State::new();
    let mut live = Live {
        caller: CallerIdentity {
            token_id: Some("caller".into()),
            member_id: Some("m".into()),
            ..CallerIdentity::default()
        },
        ..Live::default()
    };
    for i in 0..n {
        let label = format!("t{i:06}");
        let address = Address::new(&label);
        let mut d = DesiredToken {
            description: Some("bench".into()),
            service_token: true,
            ..DesiredToken::new(address.clone(), label.clone(), Access::Role(Role::Reader))
        };
        if i % 20 == 0 {
            config.tokens.insert(address, d); // new: create
            continue;
        }
        let t = token(i + 1, &label, now);
        let mut ts = state_from_live(&t, &live, None);
        ts.secret = None;
        state.tokens.insert(address.clone(), ts);
        let mut t = t;
        if i % 20 == 1 {
            t.role = Some("admin".into()); // drift
        }
        live.tokens.push(t);
        if i % 10 == 2 {
            d.description = Some("edited".into()); // update
        }
        config.tokens.insert(address, d);
    }
    for j in 0..n / 10 {
        live.tokens.push(token(10_000_000 + j, &format!("stray{j}"), now));
    }
    // Secrets are set only to keep the plan to the mix above (no secret_unknown rotations).
    let issued = now;
    for ts in state.tokens.values_mut() {
        ts.secret = Some(tokenform::state::model::SecretRecord {
            ciphertext: String::new(),
            last4: "0000".into(),
            issued_at: issued,
            recipients: Vec::new(),
        });
    }
    (config, state, live)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The live half of `tokenform plan` against the emulator at 50 ms per request.
pub(crate) fn run_live() {
    use tokenform::api::{Client, ClientOptions};
    use tokenform::emulator::{Emulator, EmulatorOptions, Seed, SeedToken};

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        println!("plan_live (emulator --latency-ms 50): fetch_live + plan + human rendering");
        println!("{:>7} {:>9} {:>9} {:>9} {:>9}", "tokens", "actions", "wall", "of which", "requests");
        for n in [1_000usize, 10_000] {
            let seed = Seed {
                tokens: (0..n)
                    .map(|i| SeedToken {
                        name: Some(format!("t{i:06}")),
                        description: Some("bench".into()),
                        role: Some("reader".into()),
                        service_token: true,
                        ..SeedToken::default()
                    })
                    .collect(),
                ..Seed::default()
            };
            let emu = Emulator::start(EmulatorOptions {
                seed: Some(seed),
                latency: Duration::from_millis(50),
                ..EmulatorOptions::default()
            })
            .await
            .unwrap();
            // State and configuration that match the seeded tokens, with 10% edited in config.
            let setup = Client::new(ClientOptions::new(emu.url(), emu.admin_token().clone())).unwrap();
            let snapshot = setup.fetch_live(&[], false).await.unwrap();
            let mut config = Config::empty("/bench");
            let mut state = State::new();
            for (i, t) in snapshot
                .tokens
                .iter()
                .filter(|t| t.name().strip_prefix('t').is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())))
                .enumerate()
            {
                let address = Address::new(t.name());
                state.tokens.insert(address.clone(), state_from_live(t, &snapshot, None));
                let mut ts = state.tokens[&address].clone();
                ts.secret = Some(tokenform::state::model::SecretRecord {
                    ciphertext: String::new(),
                    last4: "0000".into(),
                    issued_at: jiff::Timestamp::now(),
                    recipients: Vec::new(),
                });
                state.tokens.insert(address.clone(), ts);
                config.tokens.insert(
                    address.clone(),
                    DesiredToken {
                        description: Some(if i % 10 == 0 { "edited" } else { "bench" }.into()),
                        service_token: true,
                        ..DesiredToken::new(address, t.name(), Access::Role(Role::Reader))
                    },
                );
            }
            let client = Client::new(ClientOptions::new(emu.url(), emu.admin_token().clone())).unwrap();
            let started = Instant::now();
            let live = client.fetch_live(&[], false).await.unwrap();
            let fetched = started.elapsed();
            let p = plan(&config, &state, &live, jiff::Timestamp::now(), &PlanOptions::default()).unwrap();
            let text = tokenform::render::human::plan(&p, false);
            let wall = started.elapsed();
            std::hint::black_box(text);
            println!(
                "{n:>7} {:>9} {:>6} ms {:>6} ms {:>9}   (\"of which\" = fetch_live)",
                p.actions.len(),
                wall.as_millis(),
                fetched.as_millis(),
                client.request_count()
            );
        }
    });
}

pub(crate) fn run() {
    let now: jiff::Timestamp = "2027-01-15T08:00:00Z".parse().unwrap();
    for n in [1_000_u64, 10_000] {
        let (config, state, live) = world(n, now);
        let opts = PlanOptions::default();
        let runs = if n >= 10_000 { 10 } else { 30 };
        let mut plan_times = Vec::new();
        let mut render_times = Vec::new();
        let mut actions = 0;
        for _ in 0..runs {
            let start = Instant::now();
            let p = plan(&config, &state, &live, now, &opts).unwrap();
            plan_times.push(start.elapsed());
            actions = p.actions.len();
            let start = Instant::now();
            let h = tokenform::render::human::plan(&p, false);
            let j = tokenform::render::json::plan(&p);
            let m = tokenform::render::markdown::plan(&p);
            render_times.push(start.elapsed());
            std::hint::black_box((h, j, m));
        }
        println!(
            "planner: {n:>6} tokens, {actions:>5} actions: plan median {:>9.3} ms (min {:.3} ms); render human+json+markdown median {:.3} ms ({runs} runs)",
            median(plan_times.clone()).as_secs_f64() * 1e3,
            plan_times.iter().min().unwrap().as_secs_f64() * 1e3,
            median(render_times).as_secs_f64() * 1e3,
        );
    }
}

/// `tokenform plan` as a process against `tokenform dev-server --latency-ms 50`, with a
/// configuration and a state file that manage N seeded tokens (10% edited in config):
/// wall time and HTTP requests (counted from the `-v` trace).
pub(crate) fn run_cli() {
    use std::fmt::Write as _;
    use std::io::BufRead as _;
    use std::process::{Command, Stdio};

    use tokenform::api::{Client, ClientOptions};
    use tokenform::secret::Secret;

    let bin = env!("CARGO_BIN_EXE_tokenform");
    println!("plan_cli (tokenform plan process vs tokenform dev-server --latency-ms 50)");
    println!("{:>7} {:>11} {:>9}   summary", "tokens", "wall", "requests");
    for n in [1_000usize, 10_000] {
        let dir = tempfile::tempdir().unwrap();
        let seed: Vec<serde_json::Value> = (0..n)
            .map(|i| {
                serde_json::json!({"name": format!("t{i:06}"), "description": "bench", "role": "reader",
                                   "serviceToken": true})
            })
            .collect();
        let seed_path = dir.path().join("seed.json");
        std::fs::write(&seed_path, serde_json::json!({ "tokens": seed }).to_string()).unwrap();
        let admin_file = dir.path().join("admin-token");
        let mut server = Command::new(bin)
            .args(["dev-server", "--listen", "127.0.0.1:0", "--latency-ms", "50", "--seed"])
            .arg(&seed_path)
            .arg("--admin-token-file")
            .arg(&admin_file)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut banner = String::new();
        std::io::BufReader::new(server.stdout.take().unwrap()).read_line(&mut banner).unwrap();
        let url = banner.trim().rsplit(' ').next().unwrap().to_owned();
        let admin = std::fs::read_to_string(&admin_file).unwrap().trim().to_owned();

        // The state and configuration of an earlier apply.
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        let snapshot = rt
            .block_on(
                Client::new(ClientOptions::new(url.clone(), Secret::new(admin.clone())))
                    .unwrap()
                    .fetch_live(&[], false),
            )
            .unwrap();
        let mut state = State::new();
        let mut hcl = format!("launchdarkly {{\n  base_url = \"{url}\"\n}}\n\n");
        for t in snapshot.tokens.iter().filter(|t| t.name().starts_with("t0")) {
            let mut ts = state_from_live(t, &snapshot, None);
            ts.secret = Some(tokenform::state::model::SecretRecord {
                ciphertext: String::new(),
                last4: "0000".into(),
                issued_at: jiff::Timestamp::now(),
                recipients: Vec::new(),
            });
            state.tokens.insert(Address::new(t.name()), ts);
            let i: usize = t.name()[1..].parse().unwrap();
            let description = if i.is_multiple_of(10) { "edited" } else { "bench" };
            writeln!(
                hcl,
                "token \"{0}\" {{\n  name          = \"{0}\"\n  description   = \"{description}\"\n  role          = \"reader\"\n  service_token = true\n}}\n",
                t.name()
            )
            .unwrap();
        }
        std::fs::write(dir.path().join("main.hcl"), hcl).unwrap();
        std::fs::write(
            dir.path().join("tokenform.state.json"),
            serde_json::to_string_pretty(&state).unwrap(),
        )
        .unwrap();

        let mut walls = Vec::new();
        let mut requests = 0;
        let mut actions = String::new();
        for _ in 0..3 {
            let started = Instant::now();
            let out = Command::new(bin)
                .arg("-C")
                .arg(dir.path())
                .args(["-v", "plan", "--detailed-exitcode"])
                .env("LAUNCHDARKLY_ACCESS_TOKEN", &admin)
                .env("NO_COLOR", "1")
                .output()
                .unwrap();
            walls.push(started.elapsed());
            assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
            requests = String::from_utf8_lossy(&out.stderr).lines().filter(|l| l.starts_with("-> ")).count();
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .find(|l| l.starts_with("Plan: "))
                .unwrap_or_default()
                .clone_into(&mut actions);
        }
        let _ = server.kill();
        let _ = server.wait();
        println!(
            "{n:>7} {:>9} {:>8} ms {requests:>9}   {actions}",
            actions.split(' ').nth(3).unwrap_or("?"),
            median(walls).as_millis()
        );
    }
}
