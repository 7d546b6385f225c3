//! The benchmark binary (`cargo bench`, harness = false). `cargo bench -- NAME` runs the
//! sections whose name contains NAME; no argument runs them all.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::cast_precision_loss)]

mod apply;

fn main() {
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let wanted = |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()));
    let sections: [(&str, fn()); 2] =
        [("apply-rate-limited", apply::rate_limited), ("apply-5000", apply::five_thousand)];
    for (name, run) in sections {
        if wanted(name) {
            run();
        }
    }
}
