//! `cargo bench -- fetch_live`: one `fetch_live` of 1,000 and 10,000 tokens against the
//! in-process emulator with 50 ms latency per request, concurrent paging vs a sequential
//! page-by-page walk (same page size), and the naive default (`limit` 25, sequential).
//! Prints wall time and HTTP requests; no assertions beyond correctness of the count.

use std::time::{Duration, Instant};

use tokenform::api::{Client, ClientOptions};
use tokenform::emulator::{Emulator, EmulatorOptions, Seed, SeedToken};

fn seed(n: usize) -> Seed {
    Seed {
        tokens: (0..n)
            .map(|i| SeedToken {
                name: Some(format!("bench-{i}")),
                role: Some("reader".into()),
                service_token: true,
                ..SeedToken::default()
            })
            .collect(),
        ..Seed::default()
    }
}

pub(crate) fn run() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        println!("fetch_live (emulator --latency-ms 50, page_max 1000)");
        println!("{:>7}  {:<34} {:>9} {:>9}", "tokens", "client", "wall", "requests");
        for n in [1_000usize, 10_000] {
            let emu = Emulator::start(EmulatorOptions {
                seed: Some(seed(n)),
                latency: Duration::from_millis(50),
                ..EmulatorOptions::default()
            })
            .await
            .unwrap();
            for (label, limit, concurrency) in [
                ("concurrent pages (limit 100, 8)", 100, 8),
                ("sequential page-by-page (limit 100)", 100, 1),
                ("sequential, default limit 25", 25, 1),
            ] {
                let mut o = ClientOptions::new(emu.url(), emu.admin_token().clone());
                o.page_limit = limit;
                o.page_concurrency = concurrency;
                let client = Client::new(o).unwrap();
                let started = Instant::now();
                let live = client.fetch_live(&[], false).await.unwrap();
                let wall = started.elapsed();
                assert_eq!(live.tokens.len(), n + 1);
                println!("{:>7}  {:<34} {:>7} ms {:>9}", n, label, wall.as_millis(), client.request_count());
            }
        }
    });
}
