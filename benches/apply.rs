//! Apply benchmarks: the real binary against `tokenform dev-server`.
//!
//! - `apply-rate-limited`: 200 creates with `--latency-ms 50` and `--rate-limit 120`
//!   (per 10 s window); wall time against the bound the rate limit sets.
//! - `apply-5000`: 5,000 creates without latency; wall time, and bytes the apply process
//!   wrote to disk (getrusage `ru_oublock` × 512: journal, compaction, backup, lock), next
//!   to the final state file's size.

#![allow(clippy::cast_precision_loss)] // figures for people

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tokenform")
}

pub(crate) struct Server {
    child: Child,
    pub(crate) url: String,
    pub(crate) admin: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn server(flags: &[&str]) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("admin-token");
    let mut child = Command::new(bin())
        .args(["dev-server", "--listen", "127.0.0.1:0", "--admin-token-file"])
        .arg(&token_file)
        .args(flags)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().rsplit(' ').next().unwrap_or_default().to_owned();
    let admin = std::fs::read_to_string(&token_file).unwrap().trim().to_owned();
    Server { child, url, admin, _dir: dir }
}

fn config(dir: &Path, url: &str, n: usize, parallelism: usize) {
    let recipient = age::x25519::Identity::generate().to_public().to_string();
    let mut body = format!(
        "launchdarkly {{\n  base_url = \"{url}\"\n  parallelism = {parallelism}\n}}\nstate {{\n  recipients = [\"{recipient}\"]\n}}\n"
    );
    for i in 0..n {
        let _ = write!(body, "token \"t{i:05}\" {{\n  role = \"reader\"\n}}\n");
    }
    std::fs::write(dir.join("main.hcl"), body).unwrap();
}

fn blocks_written_by_children() -> i64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // std has no getrusage; the call only fills the struct it is given.
    #[allow(unsafe_code)]
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_CHILDREN, usage.as_mut_ptr());
        usage.assume_init()
    };
    usage.ru_oublock
}

/// Runs `apply --auto-approve`; wall time and bytes written to disk.
/// What one apply cost.
struct Cost {
    took: Duration,
    /// Bytes the apply process caused to be written to disk (page granularity).
    disk: i64,
    /// The journal's largest size seen while it ran (polled every 5 ms: a lower bound).
    journal: u64,
}

fn apply(s: &Server, dir: &Path) -> Cost {
    let journal_path = dir.join("tokenform.state.json.journal");
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut max = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                max = max.max(std::fs::metadata(&journal_path).map_or(0, |m| m.len()));
                std::thread::sleep(Duration::from_millis(5));
            }
            max
        })
    };
    let before = blocks_written_by_children();
    let start = Instant::now();
    let out = Command::new(bin())
        .args(["-C"])
        .arg(dir)
        .args(["apply", "--auto-approve", "-q"])
        .env("LAUNCHDARKLY_ACCESS_TOKEN", &s.admin)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let took = start.elapsed();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let journal = poller.join().unwrap_or(0);
    assert!(out.status.success(), "apply failed: {}", String::from_utf8_lossy(&out.stderr));
    Cost { took, disk: (blocks_written_by_children() - before) * 512, journal }
}

pub(crate) fn rate_limited() {
    let (n, limit, latency) = (200, 120, 50);
    let s = server(&["--latency-ms", &latency.to_string(), "--rate-limit", &limit.to_string()]);
    let dir = tempfile::tempdir().unwrap();
    config(dir.path(), &s.url, n, 8);
    let took = apply(&s, dir.path()).took;
    // Requests: n creates plus the reads (caller identity, list). With `limit` per 10 s
    // window, request k (0-based) cannot start before window k / limit.
    let requests = n + 2;
    let windows = (requests - 1) / limit;
    let bound = Duration::from_secs(10 * windows as u64);
    let latency_bound = Duration::from_millis((latency * n / 8) as u64);
    println!(
        "apply-rate-limited: {n} creates, latency {latency} ms, rate limit {limit}/10s, parallelism 8: \
         {:.2} s (rate-limit bound ≥ {:.0} s, latency/parallelism bound ≥ {:.2} s, overhead {:.2} s)",
        took.as_secs_f64(),
        bound.as_secs_f64(),
        latency_bound.as_secs_f64(),
        took.as_secs_f64() - bound.max(latency_bound).as_secs_f64()
    );
}

/// 1,000 then 5,000 creates: the cost per create must not grow with the state.
pub(crate) fn five_thousand() {
    for n in [1000, 5000] {
        creates(n);
    }
}

fn creates(n: usize) {
    let s = server(&[]);
    let dir = tempfile::tempdir().unwrap();
    config(dir.path(), &s.url, n, 8);
    let cost = apply(&s, dir.path());
    let state = std::fs::metadata(dir.path().join("tokenform.state.json")).map_or(0, |m| m.len());
    println!(
        "apply-{n}: {n} creates, no latency, parallelism 8: {:.2} s ({:.0} creates/s); \
         journal ≥ {:.1} MB ({} B per create), final state {:.1} MB; \
         {:.1} MB written to disk by apply in all ({:.1} KB per create: each fsynced append rewrites a 4 KB page)",
        cost.took.as_secs_f64(),
        n as f64 / cost.took.as_secs_f64(),
        cost.journal as f64 / 1e6,
        cost.journal / n as u64,
        state as f64 / 1e6,
        cost.disk as f64 / 1e6,
        cost.disk as f64 / 1e3 / n as f64,
    );
}
