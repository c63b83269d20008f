//! Batch export over many records: in parallel (rayon, all cores), a failure on one record is
//! recorded and the others go on, progress is reported and cancellation honoured.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

use crate::progress::{Progress, ProgressSink};

/// A record whose export failed, with the reason.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchFailure {
    pub index: usize,
    pub id: String,
    pub message: String,
}

/// What a batch did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchSummary {
    pub total: usize,
    /// Files written, in record order.
    pub written: Vec<PathBuf>,
    /// Failures, in record order.
    pub failures: Vec<BatchFailure>,
    /// Records not started because the batch was cancelled.
    pub cancelled: usize,
}

impl BatchSummary {
    pub fn succeeded(&self) -> usize {
        self.written.len()
    }
}

impl std::fmt::Display for BatchSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {} records exported, {} failed",
            self.written.len(),
            self.total,
            self.failures.len()
        )?;
        if self.cancelled > 0 {
            write!(f, ", {} not started (cancelled)", self.cancelled)?;
        }
        Ok(())
    }
}

/// Run `job(index)` for every record id, in parallel. `job` returns the path it wrote or an
/// error (any `Display`); errors are collected, not propagated. Progress is reported as stage
/// `stage` after each record; once `progress.is_cancelled()`, records not yet started are
/// skipped and counted as cancelled.
pub fn run_batch<F, E>(
    ids: &[String],
    stage: &str,
    progress: &dyn ProgressSink,
    job: F,
) -> BatchSummary
where
    F: Fn(usize) -> Result<PathBuf, E> + Sync,
    E: std::fmt::Display,
{
    let total = ids.len();
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Result<PathBuf, String>)>> =
        Mutex::new(Vec::with_capacity(total));
    let cancelled = AtomicUsize::new(0);
    progress.report(Progress {
        stage: stage.to_string(),
        done: 0,
        total,
        share: None,
    });
    (0..total).into_par_iter().for_each(|index| {
        if progress.is_cancelled() {
            cancelled.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // A panic in one record's export must not take the batch down with it.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(index)));
        let result = match outcome {
            Ok(Ok(path)) => Ok(path),
            // `{:#}`: an anyhow error with its causes.
            Ok(Err(e)) => Err(format!("{e:#}")),
            Err(panic) => Err(format!(
                "internal error (panic): {}",
                panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("unknown")
            )),
        };
        if let Ok(mut r) = results.lock() {
            r.push((index, result));
        }
        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
        progress.report(Progress {
            stage: stage.to_string(),
            done: n,
            total,
            share: None,
        });
    });
    let mut results = results
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    results.sort_by_key(|(i, _)| *i);
    let mut summary = BatchSummary {
        total,
        cancelled: cancelled.into_inner(),
        ..Default::default()
    };
    for (index, result) in results {
        match result {
            Ok(path) => summary.written.push(path),
            Err(message) => summary.failures.push(BatchFailure {
                index,
                id: ids[index].clone(),
                message,
            }),
        }
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::{CancelToken, NoProgress};

    #[test]
    fn failures_are_collected_and_the_rest_go_on() {
        let ids: Vec<String> = (0..20).map(|i| format!("r{i}")).collect();
        let s = run_batch(&ids, "test", &NoProgress, |i| {
            if i == 7 {
                Err(format!("record r{i} is broken"))
            } else if i == 9 {
                panic!("boom")
            } else {
                Ok(PathBuf::from(format!("/out/r{i}.png")))
            }
        });
        assert_eq!(s.total, 20);
        assert_eq!(s.succeeded(), 18);
        assert_eq!(s.failures.len(), 2);
        assert_eq!(s.failures[0].id, "r7");
        assert!(s.failures[1].message.contains("boom"));
        assert_eq!(s.written[0], PathBuf::from("/out/r0.png"));
        assert!(s.to_string().contains("18 of 20"));
    }

    struct Cancelled(CancelToken);
    impl ProgressSink for Cancelled {
        fn report(&self, _p: Progress) {}
        fn is_cancelled(&self) -> bool {
            self.0.is_cancelled()
        }
    }

    #[test]
    fn cancellation_skips_the_rest() {
        let token = CancelToken::new();
        token.cancel();
        let ids: Vec<String> = (0..5).map(|i| i.to_string()).collect();
        let s = run_batch(&ids, "test", &Cancelled(token), |i| {
            Ok::<_, String>(PathBuf::from(i.to_string()))
        });
        assert_eq!(s.cancelled, 5);
        assert!(s.written.is_empty());
    }
}
