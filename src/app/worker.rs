//! The background worker: one named thread takes jobs over a channel and sends progress,
//! results and errors back, so the UI never blocks on I/O, inference or fitting.
//!
//! Every job gets its own [`CancelToken`]; the UI's cancel button sets it and the core function
//! (which polls [`ProgressSink::is_cancelled`]) stops. Errors travel as values ([`JobError`])
//! and are shown in the UI; a panic inside a job is caught and reported the same way, so the
//! worker keeps serving later jobs.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::thread::JoinHandle;

use crate::io::Dataset;
use crate::progress::{CancelToken, Progress, ProgressSink};
use crate::record::Ecg;

use super::jobs;

/// Identifies one submitted job.
pub type JobId = u64;

/// Work the UI can ask for. Each variant is run by a function in [`super::jobs`].
pub enum Job {
    /// Open a record, a folder or a data set (index only; records load lazily).
    OpenDataset { path: PathBuf },
    /// Load one record of an opened data set and analyse it with what is available.
    LoadRecord {
        dataset: Arc<dyn Dataset>,
        index: usize,
        analysis: jobs::AnalysisContext,
    },
    /// Analyse a record that is already in memory (e.g. after the model or settings changed).
    Analyse {
        ecg: Arc<Ecg>,
        index: Option<usize>,
        analysis: jobs::AnalysisContext,
    },
    /// Open a model (weights + config) and optionally its explainer.
    LoadModels {
        model: PathBuf,
        explainer: Option<PathBuf>,
    },
    /// Fit a new explainer on records of a data set.
    Fit {
        model: Arc<crate::model::LoadedModel>,
        dataset: Arc<dyn Dataset>,
        indices: Vec<usize>,
        settings: crate::tlc::FitSettings,
    },
    /// Render a figure to an image (export preview, clipboard).
    RenderFigure {
        source: super::export::FigureSource,
        spec: crate::figure::FigureSpec,
        purpose: super::export::FigurePurpose,
    },
    /// Write a figure file (SVG, PNG or PDF by extension).
    ExportFigure {
        source: super::export::FigureSource,
        path: PathBuf,
        spec: crate::figure::FigureSpec,
        overwrite: bool,
    },
    /// Write the record's data (CSV, JSON) and optionally WFDB cluster annotations.
    ExportData {
        source: super::export::FigureSource,
        dir: PathBuf,
        annotations: bool,
        overwrite: bool,
    },
    /// Cross-validate the random-forest surrogate on the whole data set (`folds` folds), list the
    /// label-quality audit, and optionally sweep K.
    Evaluate {
        model: Arc<crate::model::LoadedModel>,
        explainer: Arc<crate::tlc::Explainer>,
        dataset: Arc<dyn Dataset>,
        folds: usize,
        k_sweep: bool,
    },
    /// Explain records of a data set (predictions, proportions, entropy per record).
    ExplainDataset {
        dataset: Arc<dyn Dataset>,
        indices: Vec<usize>,
        analysis: jobs::AnalysisContext,
    },
}

impl Job {
    /// A short description for the status bar and for error messages.
    pub fn describe(&self) -> String {
        match self {
            Job::OpenDataset { path } => format!("Opening {}", path.display()),
            Job::LoadRecord { dataset, index, .. } => {
                let id = dataset
                    .entry(*index)
                    .map(|e| e.id.clone())
                    .unwrap_or_else(|| index.to_string());
                format!("Loading record {id}")
            }
            Job::Analyse { ecg, .. } => format!("Analysing record {}", ecg.meta.id),
            Job::LoadModels { model, .. } => format!("Loading model {}", model.display()),
            Job::Fit {
                indices, settings, ..
            } => {
                format!(
                    "Fitting K = {} on {} records",
                    settings.clusters.k,
                    indices.len()
                )
            }
            Job::ExplainDataset { indices, .. } => format!("Explaining {} records", indices.len()),
            Job::Evaluate { dataset, folds, .. } => format!(
                "Evaluating the surrogate ({folds}-fold) on {} records",
                dataset.len()
            ),
            Job::RenderFigure { source, .. } => {
                format!("Rendering a figure of {}", source.ecg.meta.id)
            }
            Job::ExportFigure { path, .. } => format!("Exporting {}", path.display()),
            Job::ExportData { dir, .. } => format!("Exporting data to {}", dir.display()),
        }
    }
}

/// What a finished job hands back.
pub enum JobOutput {
    Dataset {
        path: PathBuf,
        dataset: Arc<dyn Dataset>,
    },
    Record(Box<jobs::AnalysedRecord>),
    Models {
        model: Arc<crate::model::LoadedModel>,
        explainer: Option<Arc<crate::tlc::Explainer>>,
        problems: Vec<String>,
    },
    Fitted(Arc<crate::tlc::Explainer>),
    DatasetExplained(jobs::DatasetExplained),
    Evaluated(Box<jobs::Evaluated>),
    FigureImage {
        purpose: super::export::FigurePurpose,
        image: egui::ColorImage,
    },
    Written(Vec<PathBuf>),
}

/// A failure, ready to show: what was being done, and the cause chain (which names the file).
#[derive(Debug, Clone, PartialEq)]
pub struct JobError {
    pub task: String,
    pub cause: String,
    pub cancelled: bool,
}

impl std::fmt::Display for JobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.cancelled {
            write!(f, "{}: cancelled", self.task)
        } else {
            write!(f, "{}: {}", self.task, self.cause)
        }
    }
}

/// Messages from the worker to the UI.
pub enum WorkerEvent {
    Started {
        id: JobId,
    },
    Progress {
        id: JobId,
        progress: Progress,
    },
    Finished {
        id: JobId,
        result: Result<JobOutput, JobError>,
    },
}

struct Request {
    id: JobId,
    job: Job,
    cancel: CancelToken,
}

/// A job the UI knows about (queued or running).
#[derive(Debug, Clone)]
pub struct JobStatus {
    pub id: JobId,
    pub description: String,
    pub started: bool,
    pub progress: Option<Progress>,
    pub cancel: CancelToken,
}

/// The UI's handle on the worker thread.
pub struct Worker {
    tx: Option<Sender<Request>>,
    rx: Receiver<WorkerEvent>,
    thread: Option<JoinHandle<()>>,
    next_id: JobId,
    /// Jobs submitted and not yet finished, in submission order.
    pub jobs: Vec<JobStatus>,
}

/// Sends progress to the UI and answers cancellation from the job's token.
struct ChannelSink {
    id: JobId,
    tx: Sender<WorkerEvent>,
    cancel: CancelToken,
    repaint: Option<egui::Context>,
}

impl ProgressSink for ChannelSink {
    fn report(&self, progress: Progress) {
        // The UI may be gone at shutdown; nothing to do then.
        let _ = self.tx.send(WorkerEvent::Progress {
            id: self.id,
            progress,
        });
        if let Some(ctx) = &self.repaint {
            ctx.request_repaint();
        }
    }
    fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

impl Worker {
    /// Start the named worker thread. `repaint` (the egui context) is poked whenever a message
    /// is sent so the UI wakes up without polling.
    pub fn spawn(repaint: Option<egui::Context>) -> anyhow::Result<Self> {
        let (req_tx, req_rx) = channel::<Request>();
        let (ev_tx, ev_rx) = channel::<WorkerEvent>();
        let thread = std::thread::Builder::new()
            .name("tlc-worker".to_string())
            .spawn(move || worker_loop(req_rx, ev_tx, repaint))?;
        Ok(Worker {
            tx: Some(req_tx),
            rx: ev_rx,
            thread: Some(thread),
            next_id: 1,
            jobs: Vec::new(),
        })
    }

    /// Queue a job; returns its id.
    pub fn submit(&mut self, job: Job) -> JobId {
        let id = self.next_id;
        self.next_id += 1;
        let cancel = CancelToken::new();
        let description = job.describe();
        self.jobs.push(JobStatus {
            id,
            description,
            started: false,
            progress: None,
            cancel: cancel.clone(),
        });
        let sent = self
            .tx
            .as_ref()
            .map(|tx| tx.send(Request { id, job, cancel }).is_ok())
            .unwrap_or(false);
        if !sent {
            // The thread is gone (it only ends at shutdown); drop the entry so the UI does not
            // wait for it forever.
            self.jobs.retain(|j| j.id != id);
        }
        id
    }

    /// Ask every queued or running job to stop.
    pub fn cancel_all(&self) {
        for job in &self.jobs {
            job.cancel.cancel();
        }
    }

    pub fn cancel(&self, id: JobId) {
        if let Some(job) = self.jobs.iter().find(|j| j.id == id) {
            job.cancel.cancel();
        }
    }

    /// True when nothing is queued or running.
    pub fn is_idle(&self) -> bool {
        self.jobs.is_empty()
    }

    /// Drain the messages that arrived since the last call (never blocks).
    pub fn poll(&mut self) -> Vec<(JobId, Result<JobOutput, JobError>)> {
        let mut finished = Vec::new();
        loop {
            match self.rx.try_recv() {
                Ok(WorkerEvent::Started { id }) => {
                    if let Some(j) = self.jobs.iter_mut().find(|j| j.id == id) {
                        j.started = true;
                    }
                }
                Ok(WorkerEvent::Progress { id, progress }) => {
                    if let Some(j) = self.jobs.iter_mut().find(|j| j.id == id) {
                        j.progress = Some(progress);
                    }
                }
                Ok(WorkerEvent::Finished { id, result }) => {
                    self.jobs.retain(|j| j.id != id);
                    finished.push((id, result));
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    // The worker died; fail what is left rather than spin forever.
                    for j in self.jobs.drain(..) {
                        finished.push((
                            j.id,
                            Err(JobError {
                                task: j.description,
                                cause: "the worker thread stopped".into(),
                                cancelled: false,
                            }),
                        ));
                    }
                    break;
                }
            }
        }
        finished
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.cancel_all();
        // Closing the request channel ends the loop once the current job has stopped.
        self.tx.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn worker_loop(rx: Receiver<Request>, tx: Sender<WorkerEvent>, repaint: Option<egui::Context>) {
    let poke = |ctx: &Option<egui::Context>| {
        if let Some(ctx) = ctx {
            ctx.request_repaint();
        }
    };
    while let Ok(Request { id, job, cancel }) = rx.recv() {
        let task = job.describe();
        if cancel.is_cancelled() {
            let _ = tx.send(WorkerEvent::Finished {
                id,
                result: Err(JobError {
                    task,
                    cause: "cancelled".into(),
                    cancelled: true,
                }),
            });
            poke(&repaint);
            continue;
        }
        let _ = tx.send(WorkerEvent::Started { id });
        poke(&repaint);
        let sink = ChannelSink {
            id,
            tx: tx.clone(),
            cancel: cancel.clone(),
            repaint: repaint.clone(),
        };
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| jobs::run(job, &sink)));
        let result = match outcome {
            Ok(Ok(output)) => Ok(output),
            Ok(Err(err)) => Err(JobError {
                task,
                cause: crate::error_text::describe_anyhow(&err),
                cancelled: cancel.is_cancelled(),
            }),
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                Err(JobError {
                    task,
                    cause: format!("internal error: {what}"),
                    cancelled: false,
                })
            }
        };
        let _ = tx.send(WorkerEvent::Finished { id, result });
        poke(&repaint);
    }
}
