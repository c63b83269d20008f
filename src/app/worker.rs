//! The background worker: one named thread takes jobs over a channel and sends progress,
//! results and errors back, so the UI never blocks on I/O, inference or fitting.
//!
//! Every job gets its own [`CancelToken`]; the UI's cancel button sets it and the core function
//! (which polls [`ProgressSink::is_cancelled`]) stops. Errors travel as values ([`JobError`])
//! and are shown in the UI; a panic inside a job is caught and reported the same way, so the
//! worker keeps serving later jobs.

use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::thread::JoinHandle;

use crate::progress::{CancelToken, Progress, ProgressSink};

/// Identifies one submitted job.
pub type JobId = u64;

static NEXT_JOB_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Work the worker can run: the app's jobs ([`super::jobs::Job`]). The worker knows only this,
/// so it does not depend on what the jobs are.
pub trait Task: Send + 'static {
    type Output: Send + 'static;
    /// A short description for the status bar and for error messages.
    fn describe(&self) -> String;
    /// Do the work, reporting progress to `sink` and stopping when it says so.
    fn run(self, sink: &dyn ProgressSink) -> anyhow::Result<Self::Output>;
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
pub enum WorkerEvent<O> {
    Started {
        id: JobId,
    },
    Progress {
        id: JobId,
        progress: Progress,
    },
    Finished {
        id: JobId,
        result: Result<O, JobError>,
    },
}

struct Request<T> {
    id: JobId,
    job: T,
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
pub struct Worker<T: Task> {
    tx: Option<Sender<Request<T>>>,
    rx: Receiver<WorkerEvent<T::Output>>,
    thread: Option<JoinHandle<()>>,
    /// Jobs submitted and not yet finished, in submission order.
    pub jobs: Vec<JobStatus>,
}

/// Sends progress to the UI and answers cancellation from the job's token.
struct ChannelSink<O> {
    id: JobId,
    tx: Sender<WorkerEvent<O>>,
    cancel: CancelToken,
    repaint: Option<egui::Context>,
}

impl<O: Send> ProgressSink for ChannelSink<O> {
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

impl<T: Task> Worker<T> {
    /// Start the named worker thread. `repaint` (the egui context) is poked whenever a message
    /// is sent so the UI wakes up without polling.
    pub fn spawn(name: &str, repaint: Option<egui::Context>) -> anyhow::Result<Self> {
        let (req_tx, req_rx) = channel::<Request<T>>();
        let (ev_tx, ev_rx) = channel::<WorkerEvent<T::Output>>();
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || worker_loop(req_rx, ev_tx, repaint))?;
        Ok(Worker {
            tx: Some(req_tx),
            rx: ev_rx,
            thread: Some(thread),
            jobs: Vec::new(),
        })
    }

    /// Queue a job; returns its id.
    pub fn submit(&mut self, job: T) -> JobId {
        // Ids are unique across workers: the app runs more than one and routes results by id.
        let id = NEXT_JOB_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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
    pub fn poll(&mut self) -> Vec<(JobId, Result<T::Output, JobError>)> {
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

impl<T: Task> Drop for Worker<T> {
    fn drop(&mut self) {
        self.cancel_all();
        // Closing the request channel ends the loop once the current job has stopped.
        self.tx.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn worker_loop<T: Task>(
    rx: Receiver<Request<T>>,
    tx: Sender<WorkerEvent<T::Output>>,
    repaint: Option<egui::Context>,
) {
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
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(&sink)));
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
