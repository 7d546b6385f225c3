//! `validate` on a generated configuration of 5,000 tokens (4,000 plain blocks, some with
//! rotation, lifecycle or a policy, plus 50 `for_each` blocks of 20 keys): wall time of the
//! in-process loader and of the real binary, and the loader's peak memory (VmHWM, reset
//! through /proc/self/clear_refs before each run). Then one `for_each = toset(var.n)` block
//! over 1,000, 4,000 and 10,000 names from a `-var-file` (issue 10: it was quadratic).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, clippy::cast_precision_loss)]

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use tokenform::config::{self, VarInputs};

const KEY: &str = "age17rmdjdkhln5l0d4srq5swyt4k68mpqpxf84dgs3xy8hw6fv9rykssqlygq";

/// Writes the config into `dir`, split over 10 files as a large repo would be.
pub(crate) fn generate(dir: &std::path::Path) -> usize {
    let mut tokens = 0;
    let mut header = String::new();
    writeln!(header, "state {{\n  recipients = [\"{KEY}\"]\n}}\n").unwrap();
    writeln!(header, "variable \"team\" {{\n  type    = string\n  default = \"platform\"\n}}\n").unwrap();
    writeln!(header, "locals {{\n  prefix = \"bench-${{var.team}}\"\n}}\n").unwrap();
    std::fs::write(dir.join("settings.hcl"), header).unwrap();
    for file in 0..10 {
        let mut s = String::new();
        for j in 0..400 {
            let i = file * 400 + j;
            writeln!(s, "token \"t{i}\" {{\n  name          = \"${{local.prefix}}-{i}\"\n  description   = \"generated token {i}\"").unwrap();
            match i % 4 {
                0 => writeln!(s, "  role          = \"reader\"\n  service_token = true\n\n  rotation {{\n    every = \"90d\"\n    grace = \"24h\"\n  }}").unwrap(),
                1 => writeln!(s, "  custom_roles  = [\"role-{}\"]\n\n  lifecycle {{\n    ignore_changes = [description]\n  }}", i % 10).unwrap(),
                2 => writeln!(s, "  policy {{\n    effect    = \"allow\"\n    actions   = [\"viewProject\"]\n    resources = [\"proj/p{i}\"]\n  }}").unwrap(),
                _ => writeln!(s, "  role          = \"writer\"\n  expires_at    = \"2030-01-01T00:00:00Z\"").unwrap(),
            }
            writeln!(s, "}}\n").unwrap();
            tokens += 1;
        }
        for k in 0..5 {
            let b = file * 5 + k;
            let keys: Vec<String> = (0..20).map(|n| format!("\"k{n}\"")).collect();
            writeln!(
                s,
                "token \"fe{b}\" {{\n  for_each = toset([{}])\n  name     = \"fe{b}-${{each.key}}\"\n  role     = \"reader\"\n}}\n",
                keys.join(", ")
            )
            .unwrap();
            tokens += 20;
        }
        std::fs::write(dir.join(format!("tokens{file}.hcl")), s).unwrap();
    }
    tokens
}

fn vm_hwm_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn vm_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn reset_hwm() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

pub(crate) fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

pub(crate) fn run() {
    let dir = tempfile::tempdir().unwrap();
    let expected = generate(dir.path());
    let bytes: u64 =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
    println!("validate: {expected} tokens, {:.1} MiB of HCL in 11 files", bytes as f64 / 1_048_576.0);

    let mut times = Vec::new();
    let mut peak = 0;
    let base = vm_rss_kib().unwrap_or(0);
    for _ in 0..5 {
        let resettable = reset_hwm();
        let t = Instant::now();
        let cfg = config::load(dir.path(), &VarInputs::default()).expect("generated config is valid");
        times.push(t.elapsed());
        assert_eq!(cfg.tokens.len(), expected);
        drop(cfg);
        if resettable {
            peak = peak.max(vm_hwm_kib().unwrap_or(0));
        }
    }
    println!(
        "validate: config::load   median {:>8.1} ms  (min {:.1} ms, 5 runs)",
        median(times.clone()).as_secs_f64() * 1e3,
        times.iter().min().unwrap().as_secs_f64() * 1e3
    );
    if peak > 0 {
        println!(
            "validate: config::load   peak RSS {:.1} MiB (VmHWM; {:.1} MiB resident before loading)",
            peak as f64 / 1024.0,
            base as f64 / 1024.0
        );
    }

    let mut runs = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tokenform"))
            .arg("-C")
            .arg(dir.path())
            .arg("validate")
            .output()
            .unwrap();
        runs.push(t.elapsed());
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    println!("validate: `tokenform validate` (process) median {:>8.1} ms", median(runs).as_secs_f64() * 1e3);

    for n in [1_000, 4_000, 10_000] {
        for_each_over_var_file(n);
    }
}

/// One block `for_each = toset(var.n)` with `n` given `count` names in a `-var-file`.
fn for_each_over_var_file(count: usize) {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "state {{\n  recipients = [\"{KEY}\"]\n}}\n\nvariable \"n\" {{\n  type = list(string)\n}}\n\n\
         token \"svc\" {{\n  for_each      = toset(var.n)\n  name          = \"svc-${{each.key}}\"\n  \
         role          = \"reader\"\n  service_token = true\n}}\n"
    );
    std::fs::write(dir.path().join("main.hcl"), config).unwrap();
    let names: Vec<String> = (0..count).map(|i| format!("\"name-{i}\"")).collect();
    let vars = dir.path().join("names.tfvars");
    std::fs::write(&vars, format!("n = [{}]\n", names.join(", "))).unwrap();
    let inputs = VarInputs { var_files: vec![vars.clone()], ..VarInputs::default() };

    let mut times = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let cfg = config::load(dir.path(), &inputs).expect("generated config is valid");
        times.push(t.elapsed());
        assert_eq!(cfg.tokens.len(), count);
    }
    let t = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tokenform"))
        .arg("-C")
        .arg(dir.path())
        .arg("validate")
        .arg("-var-file")
        .arg(&vars)
        .output()
        .unwrap();
    let process = t.elapsed();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    println!(
        "validate: for_each over a {count}-name -var-file: config::load median {:>8.1} ms (3 runs), \
         `tokenform validate` {:>8.1} ms",
        median(times).as_secs_f64() * 1e3,
        process.as_secs_f64() * 1e3
    );
}
