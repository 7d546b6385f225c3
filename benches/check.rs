//! `check` on the 5,000-token configuration of the `validate` benchmark: the pure rules
//! (`check::check`) on a loaded configuration, each printer, and the real binary with
//! `--format sarif` (load + rules + SARIF).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, clippy::cast_precision_loss)]

use std::time::Instant;

use tokenform::check::{self, CheckOptions};
use tokenform::config::{self, VarInputs};
use tokenform::render::check::sarif::{ArtifactBase, sarif};

use super::validate::{generate, median};

type Printer<'a> = Box<dyn Fn() -> String + 'a>;

pub(crate) fn run() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = generate(dir.path());
    let cfg = config::load(dir.path(), &VarInputs::default()).expect("generated config is valid");
    let now = jiff::Timestamp::now();
    let opts = CheckOptions::default();

    let mut times = Vec::new();
    let mut report = check::check(&cfg, None, now, &opts);
    for _ in 0..5 {
        let t = Instant::now();
        report = check::check(&cfg, None, now, &opts);
        times.push(t.elapsed());
    }
    println!(
        "check: {tokens} tokens, {} findings; check::check median {:.1} ms (min {:.1} ms, 5 runs)",
        report.findings.len(),
        median(times.clone()).as_secs_f64() * 1e3,
        times.iter().min().unwrap().as_secs_f64() * 1e3
    );
    let base = ArtifactBase::Relative { prefix: "tokens/".into() };
    let printers: [(&str, Printer); 4] = [
        ("human", Box::new(|| tokenform::render::check::human(&report, false))),
        ("json", Box::new(|| tokenform::render::check::json(&report))),
        ("markdown", Box::new(|| tokenform::render::check::markdown(&report))),
        ("sarif", Box::new(|| sarif(&report, &base))),
    ];
    for (name, print) in &printers {
        let t = Instant::now();
        let out = print();
        println!(
            "check: {name:<8} {:>7.1} ms, {:.1} MiB",
            t.elapsed().as_secs_f64() * 1e3,
            out.len() as f64 / 1_048_576.0
        );
    }

    let mut runs = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tokenform"))
            .arg("-C")
            .arg(dir.path())
            .args(["check", "--format", "sarif"])
            .output()
            .unwrap();
        runs.push(t.elapsed());
        assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    }
    println!(
        "check: `tokenform check --format sarif` (process) median {:.1} ms",
        median(runs).as_secs_f64() * 1e3
    );
}
