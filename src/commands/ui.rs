//! Where plan, apply and destroy talk to: a person (text), or a program (`-json`, the
//! NDJSON stream of [`crate::render::stream`]: `version` first, errors as `diagnostic`
//! lines last, the same errors on stderr as always).

use super::plan::print;
use crate::ExitStatus;
use crate::apply::{Counts, Progress};
use crate::plan::model::Plan;
use crate::render::stream::{self, Message, Operation};

/// Text for people, or the machine-readable stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ui {
    Human,
    Stream,
}

impl Ui {
    pub(super) fn new(stream: bool) -> Self {
        if stream { Ui::Stream } else { Ui::Human }
    }

    /// Runs a command: in the stream, `version` goes first and an error is also written
    /// as `diagnostic` lines (it is returned all the same: stderr and the exit code).
    pub(super) fn run(
        self,
        command: impl FnOnce() -> miette::Result<ExitStatus>,
    ) -> miette::Result<ExitStatus> {
        if self == Ui::Human {
            return command();
        }
        emit(&stream::version(jiff::Timestamp::now()))?;
        let result = command();
        if let Err(report) = &result {
            for m in stream::errors(report, jiff::Timestamp::now()) {
                emit(&m)?;
            }
        }
        result
    }

    /// Apply's progress sink.
    pub(super) fn progress(self, quiet: bool) -> Progress {
        match self {
            Ui::Human => Progress::stdout(quiet),
            Ui::Stream => Progress::stream(Box::new(std::io::stdout())),
        }
    }
}

/// One stream line to stdout.
pub(super) fn emit(message: &Message) -> miette::Result<()> {
    print(&message.line())
}

/// The plan as stream lines (warnings, drift, planned changes, the plan's summary).
pub(super) fn emit_plan(plan: &Plan) -> miette::Result<()> {
    for m in stream::plan(plan, jiff::Timestamp::now()) {
        emit(&m)?;
    }
    Ok(())
}

/// The closing `change_summary` of an apply or destroy.
pub(super) fn emit_applied(operation: Operation, counts: &Counts, message: String) -> miette::Result<()> {
    emit(&stream::applied(operation, counts, message, jiff::Timestamp::now()))
}
