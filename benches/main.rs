//! The benchmark binary (`cargo bench`, harness = false). Each area has its own module in
//! `benches/`; `cargo bench -- AREA` runs one (validate, check, fetch_live, state, backend, backend_s3, planner, plan_live, plan_cli, apply).
//! Figures are recorded in BENCHMARKS.md. No timing assertions: these print measurements.
#![allow(clippy::disallowed_methods)] // benchmarks read their fixtures' env
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod apply;
mod backend;
mod check;
mod drift;
mod fetch_live;
mod planner;
mod state;
mod validate;

fn main() {
    let wanted: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let run = |name: &str| wanted.is_empty() || wanted.iter().any(|w| w == name);
    if run("validate") {
        validate::run();
    }
    if run("check") {
        check::run();
    }
    if run("state") {
        state::run();
    }
    if run("backend") {
        backend::run();
    }
    if run("backend") || run("backend_s3") {
        backend::run_s3();
    }
    if run("fetch_live") {
        fetch_live::run();
    }
    if run("planner") {
        planner::run();
    }
    if run("drift") {
        drift::run();
    }
    if run("plan_live") {
        planner::run_live();
    }
    if run("plan_cli") {
        planner::run_cli();
    }
    // apply: `apply` runs both sections, `apply-rate-limited` / `apply-5000` one each.
    if run("apply") || run("apply-rate-limited") {
        apply::rate_limited();
    }
    if run("apply") || run("apply-5000") {
        apply::five_thousand();
    }
}
