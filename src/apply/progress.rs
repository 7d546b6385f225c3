//! What apply tells the user while it runs: one line per finished task, a progress bar on a
//! terminal for long runs, and the closing summary; or, for `-json`, the `apply_*` lines of
//! the machine-readable stream ([`crate::render::stream`]). Never a secret: lines carry
//! addresses, names and token ids only.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use crate::render::stream::{self, Hook, HookAction, HookKind, Resource};

/// Runs with at least this many tasks get a progress bar (on a terminal).
pub const BAR_THRESHOLD: usize = 10;

/// Counts of what an apply did, for the summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Counts {
    pub created: usize,
    pub updated: usize,
    pub rotated: usize,
    pub deleted: usize,
    pub imported: usize,
    pub forgotten: usize,
    pub refreshed: usize,
    /// Orphans deleted: tokens a create made whose answer (and secret) was lost.
    pub discarded: usize,
}

impl Counts {
    /// `Tokens: 2 created, 1 updated, 1 rotated, 0 deleted.` plus the rarer counts when not 0.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "Tokens: {} created, {} updated, {} rotated, {} deleted",
            self.created, self.updated, self.rotated, self.deleted
        );
        for (n, what) in [
            (self.imported, "imported"),
            (self.discarded, "orphans deleted"),
            (self.forgotten, "forgotten"),
            (self.refreshed, "refreshed"),
        ] {
            if n > 0 {
                let _ = write!(s, ", {n} {what}");
            }
        }
        s.push('.');
        s
    }
}

/// One task as progress reports it: what it acts on and what it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub resource: Resource,
    pub action: HookAction,
}

impl Subject {
    /// The label of human lines: the address, or `token id ID` for an unmanaged token.
    pub fn label(&self) -> &str {
        &self.resource.addr
    }
}

/// Where progress goes. Cloning shares the sink.
#[derive(Clone)]
pub struct Progress {
    out: Arc<Mutex<Box<dyn Write + Send>>>,
    bar: Option<ProgressBar>,
    quiet: bool,
    /// NDJSON lines instead of text.
    stream: bool,
    /// When each running task started (by label), for `elapsed_seconds`.
    started: Arc<Mutex<HashMap<String, Instant>>>,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("bar", &self.bar.is_some())
            .field("quiet", &self.quiet)
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

impl Progress {
    /// Lines to `out`; `quiet` drops the per-task lines (errors still go to the caller).
    pub fn new(out: Box<dyn Write + Send>, quiet: bool) -> Self {
        Self { out: Arc::new(Mutex::new(out)), bar: None, quiet, stream: false, started: Arc::default() }
    }

    /// The machine-readable stream's `apply_*` lines to `out` (never quiet, never a bar).
    pub fn stream(out: Box<dyn Write + Send>) -> Self {
        Self { stream: true, ..Self::new(out, false) }
    }

    /// Progress to stdout, with a bar on stderr when it is a terminal.
    pub fn stdout(quiet: bool) -> Self {
        Self::new(Box::new(std::io::stdout()), quiet)
    }

    /// Starts a bar for `total` tasks when stderr is a terminal and the run is long.
    pub fn start(&mut self, total: usize) {
        use std::io::IsTerminal;
        if self.quiet || self.stream || total < BAR_THRESHOLD || !std::io::stderr().is_terminal() {
            return;
        }
        let bar = ProgressBar::new(total as u64);
        if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} tokens [{elapsed}]") {
            bar.set_style(style);
        }
        self.bar = Some(bar);
    }

    /// A task starts (`apply_start`; nothing in the human output).
    pub fn begin(&self, subject: &Subject) {
        if let Ok(mut started) = self.started.lock() {
            started.insert(subject.resource.addr.clone(), Instant::now());
        }
        if self.stream {
            let message = format!("{}: {}...", subject.label(), subject.action.progressive());
            self.emit_hook(HookKind::Start, subject, None, message);
        }
    }

    /// A task sends its next request (`apply_progress`; nothing in the human output).
    pub fn step(&self, subject: &Subject, what: &str) {
        if self.stream {
            let verb = subject.action.progressive().to_lowercase();
            let message = format!("{}: Still {verb}... [{what}]", subject.label());
            self.emit_hook(HookKind::Progress, subject, None, message);
        }
    }

    /// Something a person should see while a task runs (`apply_progress` in the stream).
    pub fn note(&self, subject: &Subject, text: &str) {
        let message = format!("{}: {text}", subject.label());
        if self.stream {
            self.emit_hook(HookKind::Progress, subject, None, message);
        } else if !self.quiet {
            self.write(&message);
        }
    }

    /// A task finished; `id` is the token it leaves in state (or deleted).
    pub fn done(&self, subject: &Subject, id: Option<&str>, text: &str) {
        let message = format!("{}: {text}", subject.label());
        if self.stream {
            self.emit_hook(HookKind::Complete, subject, id, message);
        } else {
            self.line(&message);
        }
    }

    /// A task failed (or was skipped).
    pub fn errored(&self, subject: &Subject, message: &str) {
        let message = format!("{}: Error: {message}", subject.label());
        if self.stream {
            self.emit_hook(HookKind::Errored, subject, None, message);
        } else {
            self.line(&message);
        }
    }

    fn emit_hook(&self, kind: HookKind, subject: &Subject, id: Option<&str>, message: String) {
        let elapsed_seconds = match kind {
            HookKind::Start => None,
            HookKind::Progress => self.elapsed(subject, false),
            HookKind::Complete | HookKind::Errored => self.elapsed(subject, true).or(Some(0)),
        };
        let hook = Hook {
            resource: subject.resource.clone(),
            action: subject.action,
            elapsed_seconds,
            id_key: id.map(|_| "id"),
            id_value: id.map(str::to_owned),
        };
        self.emit(&stream::hook(kind, hook, message, jiff::Timestamp::now()));
    }

    fn elapsed(&self, subject: &Subject, finished: bool) -> Option<u64> {
        let mut started = self.started.lock().ok()?;
        let at = if finished {
            started.remove(&subject.resource.addr)?
        } else {
            *started.get(&subject.resource.addr)?
        };
        Some(at.elapsed().as_secs())
    }

    /// One finished task, as a human line.
    pub fn line(&self, text: &str) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
        if self.quiet || self.stream {
            return;
        }
        self.write(text);
    }

    /// Always written, even when quiet (the summary, interruption notices); a warning
    /// diagnostic in the stream.
    pub fn write(&self, text: &str) {
        if self.stream {
            self.emit(&stream::warning(text, jiff::Timestamp::now()));
            return;
        }
        // A line may carry a live name or a server's error message: escaped, line by line.
        let lines: Vec<_> = text.split('\n').map(crate::escape::text).collect();
        self.write_raw(&format!("{}\n", lines.join("\n")));
    }

    /// One stream line (nothing in the human output).
    pub fn emit(&self, message: &stream::Message) {
        if self.stream {
            self.write_raw(&message.line());
        }
    }

    fn write_raw(&self, text: &str) {
        let write = || {
            if let Ok(mut out) = self.out.lock() {
                // A closed stdout must not abort an apply that is changing credentials.
                let _ = out.write_all(text.as_bytes());
                let _ = out.flush();
            }
        };
        match &self.bar {
            Some(bar) => bar.suspend(write),
            None => write(),
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// A `Write` that keeps what it is given, for tests.
#[derive(Debug, Clone, Default)]
pub struct Captured(pub Arc<Mutex<Vec<u8>>>);

impl Captured {
    pub fn text(&self) -> String {
        self.0.lock().map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_names_the_four_counts_and_rare_ones_when_present() {
        let c = Counts { created: 2, updated: 1, rotated: 1, ..Counts::default() };
        assert_eq!(c.summary(), "Tokens: 2 created, 1 updated, 1 rotated, 0 deleted.");
        let c = Counts { imported: 1, discarded: 2, ..Counts::default() };
        assert_eq!(
            c.summary(),
            "Tokens: 0 created, 0 updated, 0 rotated, 0 deleted, 1 imported, 2 orphans deleted."
        );
    }

    #[test]
    fn quiet_drops_task_lines_but_not_written_text() {
        let cap = Captured::default();
        let p = Progress::new(Box::new(cap.clone()), true);
        p.line("token.a: Creation complete");
        p.write("Apply complete!");
        assert_eq!(cap.text(), "Apply complete!\n");
    }

    #[test]
    fn the_stream_says_start_progress_and_the_end_of_each_task_whatever_quiet_says() {
        let cap = Captured::default();
        let p = Progress::stream(Box::new(cap.clone()));
        let subject = Subject {
            resource: Resource::new(Some(&crate::model::Address::new("a")), None),
            action: HookAction::Create,
        };
        p.begin(&subject);
        p.step(&subject, "listing tokens");
        p.done(&subject, Some("0123456789abcdef01234567"), "Creation complete [id=0123456789abcdef01234567]");
        p.errored(&subject, "skipped");
        p.line("a human line");
        p.write("Interrupt received");
        let lines: Vec<serde_json::Value> =
            cap.text().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let types: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
        assert_eq!(types, ["apply_start", "apply_progress", "apply_complete", "apply_errored", "diagnostic"]);
        assert_eq!(lines[0]["@message"], "token.a: Creating...");
        assert_eq!(lines[1]["@message"], "token.a: Still creating... [listing tokens]");
        assert_eq!(lines[2]["hook"]["id_value"], "0123456789abcdef01234567");
        assert!(lines[2]["hook"]["elapsed_seconds"].is_u64());
        assert_eq!(lines[3]["@message"], "token.a: Error: skipped");

        // The human sink says only the end of a task.
        let cap = Captured::default();
        let p = Progress::new(Box::new(cap.clone()), false);
        p.begin(&subject);
        p.step(&subject, "listing tokens");
        p.done(&subject, None, "Creation complete");
        assert_eq!(cap.text(), "token.a: Creation complete\n");
    }
}
