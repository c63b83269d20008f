//! Progress reporting and cancellation for long work, shared by the CLI (progress bars, Ctrl-C)
//! and the app (worker thread, progress bar, cancel button). The core only sees this trait.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A progress report: `done` of `total` units of the named stage.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub stage: String,
    pub done: usize,
    pub total: usize,
}

/// Where long-running core functions report progress and learn that they should stop.
pub trait ProgressSink: Send + Sync {
    fn report(&self, progress: Progress);
    /// Checked between units of work; when true, the function returns its `Cancelled` error
    /// (or, where documented, the best result so far).
    fn is_cancelled(&self) -> bool;
}

/// Ignores reports; never cancels.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl ProgressSink for NoProgress {
    fn report(&self, _progress: Progress) {}
    fn is_cancelled(&self) -> bool {
        false
    }
}

/// A shared cancel flag (set by a button, or by Ctrl-C in the CLI).
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
