//! Planner CPU time alone (no I/O): `plan::plan` over N managed tokens, with a realistic
//! mix of work (10% config edits, 5% live drift, 5% new tokens, N/10 unmanaged tokens in
//! `delete` mode), plus rendering the result in the three formats.

use std::time::{Duration, Instant};

use tokenform::api::model::{CallerIdentity, Live, Token};
use tokenform::config::{Config, DesiredToken, Lifecycle, UnmanagedMode};
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
            address: address.clone(),
            name: label.clone(),
            description: Some("bench".into()),
            access: Access::Role(Role::Reader),
            service_token: true,
            api_version: None,
            expires_at: None,
            recipients: Vec::new(),
            rotation: None,
            lifecycle: Lifecycle::default(),
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

pub fn run() {
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
