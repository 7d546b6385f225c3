//! State store: save + load of 1,000 and 10,000 tokens with secrets (age X25519), in
//! both encryption modes, plus what apply pays per change (one journal record) and what
//! `output` pays (unsealing every secret).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation
)]

use std::time::{Duration, Instant};

use tokenform::config::{EncryptMode, StateSettings};
use tokenform::model::Address;
use tokenform::secret::Secret;
use tokenform::state::model::TokenState;
use tokenform::state::{Identities, JournalRecord, LockMode, StateStore};

fn token(i: usize) -> TokenState {
    TokenState {
        id: format!("{i:024x}"),
        name: format!("token-{i}"),
        description: Some(format!("benchmark token {i}")),
        role: Some("reader".into()),
        custom_role_ids: vec![],
        custom_role_keys: vec![],
        inline_role: None,
        service_token: i.is_multiple_of(2),
        api_version: Some(20_240_415),
        expiry: None,
        created_at: jiff::Timestamp::UNIX_EPOCH,
        member_id: Some("5f0000000000000000000001".into()),
        prevent_destroy: false,
        secret: None,
        terraform_address: None,
        undelivered: Vec::new(),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let start = Instant::now();
        let out = f();
        best = best.min(start.elapsed());
        last = Some(out);
    }
    (best, last.unwrap())
}

pub(crate) fn run() {
    let id = age::x25519::Identity::generate();
    let recipient = id.to_public().to_string();
    let ids = Identities { identities: vec![Box::new(id)] };
    println!("state: save + load with secrets (best of 3; fsync included)");
    for n in [1_000usize, 10_000] {
        for mode in [EncryptMode::Secrets, EncryptMode::File] {
            let dir = tempfile::tempdir().unwrap();
            let settings =
                StateSettings::local(dir.path().join("tokenform.state.json"), vec![recipient.clone()], mode);
            let exclusive = || LockMode::Exclusive { timeout: Duration::ZERO, command: "bench".into() };
            let mut store = StateStore::open(&settings, exclusive(), Some(&ids)).unwrap();
            let now = jiff::Timestamp::now();
            let start = Instant::now();
            let records: Vec<JournalRecord> = (0..n)
                .map(|i| {
                    let secret = Secret::new(format!("api-0a1b2c3d-0000-4000-8000-{i:012x}"));
                    let mut t = token(i);
                    t.secret = Some(store.seal(&secret, &[], now).unwrap());
                    JournalRecord::Upsert { address: Address::keyed("t", i.to_string()), token: Box::new(t) }
                })
                .collect();
            let seal = start.elapsed();
            store.record_all(records).unwrap();
            let (save, ()) = best_of(3, || store.save().unwrap());
            drop(store);
            let size = std::fs::metadata(&settings.path).unwrap().len();
            let (load, store) =
                best_of(3, || StateStore::open(&settings, LockMode::Shared, Some(&ids)).unwrap());
            assert_eq!(store.state().tokens.len(), n);
            let label = if mode == EncryptMode::File { "encrypt=file   " } else { "encrypt=secrets" };
            println!(
                "  {n:>6} tokens {label}: save {:>9}  load {:>9}  ({:.1} MB; sealing {n} secrets took {})",
                ms(save),
                ms(load),
                size as f64 / 1e6,
                ms(seal)
            );
            if mode == EncryptMode::Secrets {
                let start = Instant::now();
                for t in store.state().tokens.values() {
                    StateStore::unseal(t.secret.as_ref().unwrap(), &ids).unwrap();
                }
                println!("  {n:>6} tokens unseal all (output): {}", ms(start.elapsed()));
                drop(store);
                let mut store = StateStore::open(&settings, exclusive(), Some(&ids)).unwrap();
                let k = 200;
                let start = Instant::now();
                for i in 0..k {
                    let mut t = token(i);
                    t.name = format!("renamed-{i}");
                    store
                        .record(JournalRecord::Upsert {
                            address: Address::keyed("t", i.to_string()),
                            token: Box::new(t),
                        })
                        .unwrap();
                }
                let per = start.elapsed() / k as u32;
                println!(
                    "  {n:>6} tokens record() one change: {:.3} ms each (journal append + fsync)",
                    per.as_secs_f64() * 1000.0
                );
                drop(store);
                let (replay, store) =
                    best_of(1, || StateStore::open(&settings, LockMode::Shared, Some(&ids)).unwrap());
                assert_eq!(store.state().tokens[&Address::keyed("t", "0")].name, "renamed-0");
                println!("  {n:>6} tokens load + replay {k} journal records: {}", ms(replay));
            }
        }
    }
}
