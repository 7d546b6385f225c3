//! Runs a backend's async client behind the synchronous [`super::Backend`] calls.
//!
//! A [`Bridge`] owns a private one-worker tokio runtime. The backend spawns its
//! connections there (so a lock connection keeps being driven, and its keep-alives
//! answered, whatever the caller is doing), and [`Bridge::run`] runs one future there
//! while the calling thread waits. That works from plain threads and from inside the
//! command's own runtime (apply's ledger task), where a nested `block_on` would panic.
//!
//! Dropping the bridge stops the runtime without waiting (safe inside async code too);
//! whatever it held (connections, and with them session locks) is closed.

use std::future::Future;

/// The private runtime of one backend.
#[derive(Debug)]
pub struct Bridge {
    runtime: Option<tokio::runtime::Runtime>,
}

/// The bridge's runtime stopped (it is shutting down, or the task panicked).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the backend's worker stopped before answering")]
pub struct Stopped;

impl Bridge {
    /// Starts the runtime on a thread named `name`.
    pub fn new(name: &str) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(1)
            .thread_name(name)
            .enable_all()
            .build()?;
        Ok(Self { runtime: Some(runtime) })
    }

    /// Runs `future` on the bridge's runtime and waits for its output.
    pub fn run<F>(&self, future: F) -> Result<F::Output, Stopped>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let runtime = self.runtime.as_ref().ok_or(Stopped)?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        runtime.spawn(async move {
            let _ = tx.send(future.await);
        });
        // A plain blocking wait: the future runs on the bridge's own worker, never on the
        // caller's thread, so this cannot deadlock even inside the caller's runtime.
        rx.recv().map_err(|_| Stopped)
    }

    /// Spawns a background task (a connection's driver) on the bridge's runtime.
    pub fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        if let Some(runtime) = &self.runtime {
            runtime.spawn(future);
        }
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_futures_from_a_thread_and_from_inside_another_runtime() {
        let bridge = Bridge::new("test-bridge").unwrap();
        assert_eq!(bridge.run(async { 1 + 1 }).unwrap(), 2);
        let outer = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let n = outer.block_on(async {
            let slept = bridge.run(async {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                7
            });
            slept.unwrap()
        });
        assert_eq!(n, 7);
        // Dropping it inside async code must not panic.
        outer.block_on(async move { drop(bridge) });
    }
}
