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
    /// The part of the whole job this stage covers, as fractions `(start, end)`, when the job
    /// has several stages (set by [`StageSink`]); `None`: the stage is the whole job.
    pub share: Option<(f32, f32)>,
}

impl Progress {
    /// How far the whole job is, in [0, 1] (unknown while `total` is 0).
    pub fn fraction(&self) -> Option<f32> {
        if self.total == 0 {
            return None;
        }
        let stage = (self.done as f32 / self.total as f32).clamp(0.0, 1.0);
        let (start, end) = self.share.unwrap_or((0.0, 1.0));
        Some(start + (end - start) * stage)
    }
}

/// One stage of a job made of several: its reports are placed in `[start, end)` of the whole,
/// so a progress bar runs once over the job instead of restarting at every stage. Stages nest
/// (a stage of a stage).
pub struct StageSink<'a> {
    inner: &'a dyn ProgressSink,
    start: f32,
    end: f32,
}

impl<'a> StageSink<'a> {
    pub fn new(inner: &'a dyn ProgressSink, start: f32, end: f32) -> Self {
        StageSink { inner, start, end }
    }
}

impl ProgressSink for StageSink<'_> {
    fn report(&self, progress: Progress) {
        let span = self.end - self.start;
        let (a, b) = progress.share.unwrap_or((0.0, 1.0));
        self.inner.report(Progress {
            share: Some((self.start + span * a, self.start + span * b)),
            ..progress
        });
    }
    fn is_cancelled(&self) -> bool {
        self.inner.is_cancelled()
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Last(Mutex<Option<Progress>>);
    impl ProgressSink for Last {
        fn report(&self, p: Progress) {
            if let Ok(mut last) = self.0.lock() {
                *last = Some(p);
            }
        }
        fn is_cancelled(&self) -> bool {
            false
        }
    }

    fn report(sink: &dyn ProgressSink, done: usize, total: usize) {
        sink.report(Progress {
            stage: "s".into(),
            done,
            total,
            share: None,
        });
    }

    #[test]
    fn stages_run_the_bar_once_over_the_job() {
        let last = Last::default();
        let fraction = || last.0.lock().unwrap().as_ref().and_then(Progress::fraction);
        report(&last, 1, 4);
        assert_eq!(fraction(), Some(0.25));
        // Features take the first 60 %, k-means the rest: half of k-means is 80 % of the job.
        report(&StageSink::new(&last, 0.0, 0.6), 4, 4);
        assert_eq!(fraction(), Some(0.6));
        report(&StageSink::new(&last, 0.6, 1.0), 1, 2);
        assert!((fraction().unwrap() - 0.8).abs() < 1e-6);
        // Nested: the second half of the first half.
        let outer = StageSink::new(&last, 0.0, 0.5);
        report(&StageSink::new(&outer, 0.5, 1.0), 0, 3);
        assert!((fraction().unwrap() - 0.25).abs() < 1e-6);
        report(&last, 0, 0);
        assert_eq!(fraction(), None);
    }
}
