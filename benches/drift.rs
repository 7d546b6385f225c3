//! `cargo bench -- drift`: the detector and the three printers over a large account
//! (managed tokens in state and live, some edited, plus many unmanaged ones).
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use tokenform::api::model::{CallerIdentity, Live, Token};
use tokenform::config::{Config, DesiredToken};
use tokenform::drift::{DriftOptions, detect};
use tokenform::model::{Access, Address, Role};
use tokenform::state::model::{State, TokenState};

fn token(i: usize, now_ms: i64) -> Token {
    serde_json::from_value(serde_json::json!({
        "_id": format!("{i:024x}"), "ownerId": "o", "memberId": "m-1",
        "_member": {"_id": "m-1", "email": "ana@example.com"},
        "name": format!("token-{i}"), "role": "reader", "serviceToken": true,
        "creationDate": now_ms - 400 * 86_400_000_i64, "lastModified": now_ms,
        "lastUsed": now_ms - i64::try_from(i % 200).unwrap() * 86_400_000,
        "expiry": if i.is_multiple_of(50) { Some(now_ms + 86_400_000) } else { None },
        "_links": {}
    }))
    .unwrap()
}

fn world(managed: usize, unmanaged: usize) -> (Config, State, Live) {
    let now_ms = jiff::Timestamp::now().as_millisecond();
    let mut config = Config::empty("/bench");
    let mut state = State::new();
    let mut live = Live {
        caller: CallerIdentity { member_id: Some("m-1".into()), ..Default::default() },
        ..Default::default()
    };
    for i in 0..managed {
        let address = Address::new(format!("t{i}"));
        let mut t = token(i, now_ms);
        state.tokens.insert(
            address.clone(),
            TokenState {
                id: t.id.clone(),
                name: t.name().to_owned(),
                description: None,
                role: Some("reader".into()),
                custom_role_ids: Vec::new(),
                custom_role_keys: Vec::new(),
                inline_role: None,
                service_token: true,
                api_version: None,
                expiry: t.expiry.and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok()),
                created_at: jiff::Timestamp::UNIX_EPOCH,
                member_id: Some("m-1".into()),
                prevent_destroy: false,
                secret: None,
                terraform_address: None,
                undelivered: Vec::new(),
            },
        );
        config.tokens.insert(
            address.clone(),
            DesiredToken {
                service_token: true,
                ..DesiredToken::new(address, t.name(), Access::Role(Role::Reader))
            },
        );
        if i.is_multiple_of(10) {
            t.role = Some("writer".into());
        }
        live.tokens.push(t);
    }
    for i in managed..managed + unmanaged {
        live.tokens.push(token(i, now_ms));
    }
    (config, state, live)
}

fn time<T>(label: &str, reps: u32, mut f: impl FnMut() -> T) {
    let start = Instant::now();
    for _ in 0..reps {
        std::hint::black_box(f());
    }
    let per: Duration = start.elapsed() / reps;
    println!("  {label:<44} {per:>12.2?} per run");
}

pub(crate) fn run() {
    println!("drift");
    for (managed, unmanaged) in [(200, 50), (5_000, 5_000)] {
        let (config, state, live) = world(managed, unmanaged);
        let now = jiff::Timestamp::now();
        let opts = DriftOptions::default();
        let reps = if managed > 1000 { 20 } else { 500 };
        time(&format!("detect, {managed} managed + {unmanaged} unmanaged"), reps, || {
            detect(&config, &state, &live, now, &opts)
        });
        let report = detect(&config, &state, &live, now, &opts);
        time("  render human", reps, || tokenform::render::drift::human(&report, false));
        time("  render json", reps, || tokenform::render::drift::json(&report));
        time("  render markdown (shortened to 60k)", reps, || tokenform::render::drift::markdown(&report));
    }
}
