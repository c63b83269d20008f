//! What the worker actually does for each [`Job`]: thin calls into the core.

use std::sync::Arc;

use anyhow::Context as _;

use crate::delineate::Delineation;
use crate::progress::{Progress, ProgressSink};
use crate::record::Ecg;
use crate::tlc::Explanation;

use super::worker::{Job, JobOutput};

/// The models and settings a record is analysed with (shared, read-only, cheap to clone).
#[derive(Clone, Default)]
pub struct AnalysisContext {}

/// A record with whatever analysis succeeded. A failed step does not hide the ECG: its error
/// is kept in `problems` and shown beside the record.
#[derive(Debug, Clone)]
pub struct AnalysedRecord {
    pub index: Option<usize>,
    pub ecg: Arc<Ecg>,
    pub explanation: Option<Arc<Explanation>>,
    pub delineation: Option<Arc<Delineation>>,
    pub problems: Vec<String>,
}

pub(super) fn run(job: Job, sink: &dyn ProgressSink) -> anyhow::Result<JobOutput> {
    match job {
        Job::OpenDataset { path } => {
            sink.report(Progress {
                stage: "reading the index".into(),
                done: 0,
                total: 1,
            });
            let dataset = crate::io::open_dataset(&path)?;
            Ok(JobOutput::Dataset {
                path,
                dataset: Arc::from(dataset),
            })
        }
        Job::LoadRecord {
            dataset,
            index,
            analysis,
        } => {
            sink.report(Progress {
                stage: "loading".into(),
                done: 0,
                total: 2,
            });
            let ecg = dataset.load(index).with_context(|| {
                let id = dataset.entry(index).map(|e| e.id.as_str()).unwrap_or("?");
                format!("record {id} of {}", dataset.name())
            })?;
            if sink.is_cancelled() {
                anyhow::bail!("cancelled");
            }
            let record = analyse(Arc::new(ecg), Some(index), &analysis, sink);
            Ok(JobOutput::Record(Box::new(record)))
        }
        Job::Analyse {
            ecg,
            index,
            analysis,
        } => Ok(JobOutput::Record(Box::new(analyse(
            ecg, index, &analysis, sink,
        )))),
    }
}

/// Explain and delineate a loaded record with what the context provides.
fn analyse(
    ecg: Arc<Ecg>,
    index: Option<usize>,
    analysis: &AnalysisContext,
    sink: &dyn ProgressSink,
) -> AnalysedRecord {
    let _ = analysis;
    sink.report(Progress {
        stage: "analysing".into(),
        done: 1,
        total: 2,
    });
    AnalysedRecord {
        index,
        ecg,
        explanation: None,
        delineation: None,
        problems: Vec::new(),
    }
}
