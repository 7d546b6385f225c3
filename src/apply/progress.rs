//! What apply tells the user while it runs: one line per finished task, a progress bar on a
//! terminal for long runs, and the closing summary. Never a secret: lines carry addresses
//! and token ids only.

use std::fmt::Write as _;
use std::io::Write;
use std::sync::{Arc, Mutex};

use indicatif::{ProgressBar, ProgressStyle};

/// Runs with at least this many tasks get a progress bar (on a terminal).
pub const BAR_THRESHOLD: usize = 10;

/// Counts of what an apply did, for the summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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

/// Where progress goes. Cloning shares the sink.
#[derive(Clone)]
pub struct Progress {
    out: Arc<Mutex<Box<dyn Write + Send>>>,
    bar: Option<ProgressBar>,
    quiet: bool,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("bar", &self.bar.is_some())
            .field("quiet", &self.quiet)
            .finish_non_exhaustive()
    }
}

impl Progress {
    /// Lines to `out`; `quiet` drops the per-task lines (errors still go to the caller).
    pub fn new(out: Box<dyn Write + Send>, quiet: bool) -> Self {
        Self { out: Arc::new(Mutex::new(out)), bar: None, quiet }
    }

    /// Progress to stdout, with a bar on stderr when it is a terminal.
    pub fn stdout(quiet: bool) -> Self {
        Self::new(Box::new(std::io::stdout()), quiet)
    }

    /// Nothing at all (benchmarks, library callers).
    pub fn silent() -> Self {
        Self::new(Box::new(std::io::sink()), true)
    }

    /// Starts a bar for `total` tasks when stderr is a terminal and the run is long.
    pub fn start(&mut self, total: usize) {
        use std::io::IsTerminal;
        if self.quiet || total < BAR_THRESHOLD || !std::io::stderr().is_terminal() {
            return;
        }
        let bar = ProgressBar::new(total as u64);
        if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} tokens [{elapsed}]") {
            bar.set_style(style);
        }
        self.bar = Some(bar);
    }

    /// One finished task.
    pub fn line(&self, text: &str) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
        if self.quiet {
            return;
        }
        self.write(text);
    }

    /// Always written, even when quiet (the summary, interruption notices).
    pub fn write(&self, text: &str) {
        let write = || {
            if let Ok(mut out) = self.out.lock() {
                // A closed stdout must not abort an apply that is changing credentials.
                let _ = writeln!(out, "{text}");
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
}
