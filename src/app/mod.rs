//! The eframe desktop app. It only calls the core; long work runs on a named worker thread.
//!
//! Structure (after the egui demo app): [`Settings`] is the persisted state (eframe storage);
//! [`TlcApp`] holds it plus runtime handles (the [`worker::Worker`], loaded data, view state)
//! that are never serialised. Each window (fit, cohort with the surrogate evaluation, export,
//! problems, help) is a struct owning its jobs' ids and results; `poll_worker` hands each
//! finished job to its owner. Drawing functions take `ui: &mut egui::Ui` and end in `_ui`.
//!
//! Module dependencies run one way: `settings` (persisted choices) <- `export` <- `jobs` (what
//! each job does) -> `worker` (a thread running any [`worker::Task`]).

mod backdrop;
pub mod browser;
pub mod colors;
pub mod explain_panel;
pub mod export;
pub mod jobs;
mod model_ui;
pub mod paper;
pub mod reference;
pub mod settings;
mod windows;
pub mod worker;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use egui::{Key, RichText, Ui};

use crate::io::Dataset;
use crate::record::Ecg;
use crate::tlc::Explanation;

pub use browser::{BrowserState, RecordSummary};
pub use jobs::{AnalysedRecord, AnalysisContext};
pub use jobs::{Job, JobOutput};
pub use paper::{HoverInfo, PaperView, ViewData, ZoomMode};
pub use settings::{Layers, Settings, SortColumn, ViewLayout};
pub use worker::{JobError, JobId, Worker};

/// What to open at start.
#[derive(Debug, Clone, Default)]
pub struct Launch {
    /// A record, a folder or a data set; `None` opens the bundled sample data.
    pub path: Option<PathBuf>,
    pub model: Option<PathBuf>,
    pub explainer: Option<PathBuf>,
}

/// What a file dialog is for: its kind, title, filters, and where the answer goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FilePurpose {
    OpenData,
    OpenFolder,
    OpenModel,
    OpenExplainer,
    SaveExplainer,
    ExportFigure,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DialogKind {
    Open,
    Folder,
    Save,
}

impl FilePurpose {
    fn kind(self) -> DialogKind {
        match self {
            FilePurpose::OpenFolder => DialogKind::Folder,
            FilePurpose::SaveExplainer | FilePurpose::ExportFigure => DialogKind::Save,
            _ => DialogKind::Open,
        }
    }

    fn title(self) -> &'static str {
        match self {
            FilePurpose::OpenData => "Open a record or data set",
            FilePurpose::OpenFolder => "Open a folder",
            FilePurpose::OpenModel => "Open a model",
            FilePurpose::OpenExplainer => "Open an explainer",
            FilePurpose::SaveExplainer => "Save the explainer",
            FilePurpose::ExportFigure => "Export the figure to",
        }
    }

    /// Filters of the native dialog (the in-app browser lists every file).
    fn filters(self) -> Vec<(&'static str, Vec<&'static str>)> {
        match self {
            // Device files are detected by content, whatever their name.
            FilePurpose::OpenData => vec![
                (
                    "ECG",
                    [
                        &["hea", "h5", "hdf5", "csv"],
                        crate::io::formats::FILE_EXTENSIONS,
                    ]
                    .concat(),
                ),
                ("All files", vec!["*"]),
            ],
            FilePurpose::OpenModel => vec![("Model", vec!["safetensors", "pth", "pt"])],
            FilePurpose::OpenExplainer | FilePurpose::SaveExplainer => {
                vec![("Explainer", vec!["safetensors"])]
            }
            FilePurpose::ExportFigure => vec![("Figure", vec!["png", "svg", "pdf"])],
            FilePurpose::OpenFolder => Vec::new(),
        }
    }
}

/// The model windows of the record on screen explained in one job (`tlc::windows`): the job
/// in flight and the result with the record it belongs to.
#[derive(Default)]
struct WindowList {
    job: Option<JobId>,
    result: Option<(String, Vec<crate::tlc::windows::WindowExplained>)>,
}

/// How long the view must rest before the model's window follows it (a drag or paging does not
/// start one explanation per frame).
const FOLLOW_REST: Duration = Duration::from_millis(300);

/// Environment variable: when set to a path, the app loads its data, saves a screenshot of the
/// window there as PNG and exits (used by the smoke test and for the README screenshot).
pub const SCREENSHOT_ENV: &str = "TLC_SCREENSHOT";
/// With [`SCREENSHOT_ENV`]: time panning frames instead of a still view.
pub const SCREENSHOT_PAN_ENV: &str = "TLC_SCREENSHOT_PAN";

/// The desktop app: persisted settings plus runtime state.
pub struct TlcApp {
    pub settings: Settings,
    worker: Worker<Job>,
    /// Records are loaded and analysed on their own thread (`tlc-records`), so browsing never
    /// waits behind a long job (fit, evaluation, explaining the data set) on `worker`.
    records: Worker<Job>,
    /// The record on screen still needs its analysis (the signal is shown first).
    analysis_pending: bool,
    dataset: Option<Arc<dyn Dataset>>,
    dataset_path: Option<PathBuf>,
    /// The default model the app loaded when the user chose none (`None` when they did).
    default_model_loaded: Option<PathBuf>,
    /// Counts model/explainer loads, and which count the record job in flight was made with:
    /// a record analysed with replaced models is explained again when it arrives.
    models_generation: u64,
    latest_record_models: u64,
    browser: BrowserState,
    summaries: HashMap<usize, RecordSummary>,
    current: Option<AnalysedRecord>,
    selected: Option<usize>,
    /// Only the latest record request is shown; results of older ones are dropped.
    latest_record_job: Option<JobId>,
    /// The record job in flight explains another model window of the record on screen (it
    /// keeps the record's delineation, which covers the whole record).
    window_job: Option<JobId>,
    /// The visible window (s) of the last frame and since when it has not moved: the model's
    /// window follows the view once it rests.
    view_rest: (Option<(f64, f64)>, Instant),
    /// Every model window of a long record, explained on request.
    windows: WindowList,
    analysis: AnalysisContext,
    view: PaperView,
    hover: Option<HoverInfo>,
    /// The in-app file browser (when no desktop portal answers) and what it was opened for.
    file_dialog: Option<(FilePurpose, egui_file::FileDialog)>,
    /// Text of the go-to-time field and the screen calibration window.
    goto_text: String,
    calibration_open: bool,
    /// Closing was asked for while a fitted explainer is unsaved: the question is on screen.
    confirm_quit: bool,
    quit_confirmed: bool,
    screenshot: Option<ScreenshotState>,
    /// The bundled models with what their configs say, read when the Model menu first lists
    /// them (not at every frame the menu is open).
    bundled_models: Option<Vec<model_ui::BundledModel>>,
    /// The eframe window clears each frame to the panel colour (see `ui_root`).
    panels_on_cleared_window: bool,
    /// A fitted explainer not yet saved (offered in Model > Save explainer).
    unsaved_explainer: bool,
    /// A one-record data set's path, put in Open recent (and reopened at start) only once its
    /// record has loaded: a broken file is not offered again.
    recent_on_load: Option<PathBuf>,
    // One struct per window, each owning its jobs and their results (as the egui demo app).
    fit: model_ui::FitWindow,
    cohort: model_ui::CohortWindow,
    export: export::ExportDialog,
    problems: windows::ProblemsWindow,
    help: windows::HelpWindows,
    /// The reference annotation files beside the record on screen and those shown.
    reference: reference::ReferenceState,
    /// The data set measurement job (browser columns HR, QRS, QTc) and what it measured (also
    /// every record shown with a delineation).
    measure_job: Option<JobId>,
    measures: HashMap<usize, jobs::RecordMeasures>,
}

struct ScreenshotState {
    path: PathBuf,
    started: Instant,
    idle_frames: u32,
    /// Start of each timed frame once the data is on screen (frame time of the real window).
    frame_starts: Vec<Instant>,
    requested: bool,
    result: Arc<Mutex<Option<Result<(), String>>>>,
}

/// Frames timed (continuous repaint) before the screenshot is taken.
const TIMED_FRAMES: usize = 60;

impl TlcApp {
    /// Build the app (spawns the worker and starts opening `launch.path`, or the bundled sample
    /// data). `ctx` lets the worker wake the UI; tests may pass the harness' context.
    pub fn new(
        ctx: Option<&egui::Context>,
        settings: Settings,
        launch: Launch,
    ) -> anyhow::Result<Self> {
        let mut app = Self::without_data(ctx, settings)?;
        if let Some(m) = &launch.model {
            app.settings.model_path = Some(m.clone());
        }
        if let Some(e) = &launch.explainer {
            app.settings.explainer_path = Some(e.clone());
        }
        app.load_models();
        let start = launch
            .path
            .clone()
            .or_else(|| app.settings.last_path.clone())
            .unwrap_or_else(crate::paths::sample_data);
        if launch.path.is_some() || start.exists() {
            app.open_path(&start);
        }
        Ok(app)
    }

    /// The app with nothing open (tests hand it data with [`TlcApp::set_dataset`]).
    pub fn without_data(
        ctx: Option<&egui::Context>,
        mut settings: Settings,
    ) -> anyhow::Result<Self> {
        settings.sanitise();
        let worker = Worker::spawn("tlc-worker", ctx.cloned())?;
        let records = Worker::spawn("tlc-records", ctx.cloned())?;
        Ok(TlcApp {
            settings,
            worker,
            records,
            analysis_pending: false,
            dataset: None,
            dataset_path: None,
            default_model_loaded: None,
            models_generation: 0,
            latest_record_models: 0,
            browser: BrowserState::default(),
            summaries: HashMap::new(),
            current: None,
            selected: None,
            latest_record_job: None,
            analysis: AnalysisContext {
                delineate: Some(Default::default()),
                ..Default::default()
            },
            view: PaperView::default(),
            hover: None,
            file_dialog: None,
            goto_text: String::new(),
            calibration_open: false,
            confirm_quit: false,
            window_job: None,
            view_rest: (None, Instant::now()),
            windows: WindowList::default(),
            quit_confirmed: false,
            screenshot: None,
            bundled_models: None,
            panels_on_cleared_window: false,
            unsaved_explainer: false,
            recent_on_load: None,
            fit: Default::default(),
            cohort: Default::default(),
            export: Default::default(),
            problems: Default::default(),
            help: Default::default(),
            reference: Default::default(),
            measure_job: None,
            measures: HashMap::new(),
        })
    }

    /// Load the model and explainer of the settings (default: the bundled ones) on the worker.
    pub fn load_models(&mut self) {
        let model = self
            .settings
            .model_path
            .clone()
            .unwrap_or_else(|| crate::paths::default_model_for(self.dataset_path.as_deref()));
        self.default_model_loaded = self.settings.model_path.is_none().then(|| model.clone());
        if !model.exists() && self.settings.model_path.is_none() {
            return; // No bundled model in this checkout: records are shown without explanation.
        }
        // The explainer given, else the one beside the model (as the CLI does); a model without
        // one still predicts, and the Model menu can fit one.
        let explainer = self.settings.explainer_path.clone().or_else(|| {
            let beside = crate::paths::explainer_beside(&model);
            beside.exists().then_some(beside)
        });
        self.worker.submit(Job::LoadModels { model, explainer });
    }

    /// Whether a model and an explainer are loaded.
    pub fn has_explainer(&self) -> bool {
        self.analysis.model.is_some() && self.analysis.explainer.is_some()
    }

    /// Re-analyse the record on screen (after the model, explainer or settings changed).
    pub fn reanalyse_current(&mut self) {
        self.submit_analysis(true);
    }

    /// Analyse the record on screen, explaining the model window that shows the view's window
    /// of a record longer than the model's input; `delineate: false` explains only and keeps
    /// the record's delineation.
    fn submit_analysis(&mut self, delineate: bool) {
        let Some(cur) = &self.current else { return };
        let mut analysis = self.analysis.clone();
        analysis.explain.window_start_s = self.window_start_for_view(&cur.ecg);
        if !delineate {
            analysis.delineate = None;
        }
        let job = Job::Analyse {
            ecg: cur.ecg.clone(),
            index: cur.index,
            analysis,
        };
        if let Some(old) = self.latest_record_job {
            self.records.cancel(old);
        }
        self.analysis_pending = false;
        let id = self.records.submit(job);
        self.latest_record_job = Some(id);
        self.window_job = (!delineate).then_some(id);
        self.latest_record_models = self.models_generation;
    }

    /// The model window (its start, s) centred on the view's window of `ecg`; `None` when the
    /// model sees the record whole or no model is loaded.
    fn window_start_for_view(&self, ecg: &Ecg) -> Option<f64> {
        let spec = self.analysis.model.as_ref()?.config.input_spec();
        let centre_s = match self.view.visible_s {
            Some((a, b)) => (a + b) / 2.0,
            // Before the first frame of a record: its start, as the view opens there.
            None => self.view.start_s + spec.length as f64 / spec.fs_hz / 2.0,
        };
        crate::dsp::window_start_for_centre(&spec, ecg.fs_hz, ecg.n_samples(), centre_s)
    }

    /// Give QTc by `formula` everywhere: the record on screen (its measurement line and beat
    /// table), the browser's QTc column and later exports. Nothing is measured again: the QT
    /// and RR are kept with the measurements.
    pub fn set_qtc_formula(&mut self, formula: crate::measure::QtcFormula) {
        self.settings.qtc_formula = formula;
        if let Some(cur) = &mut self.current
            && let Some(m) = &cur.measurements
        {
            cur.measurements = Some(Arc::new((**m).clone().with_qtc_formula(formula)));
        }
        for m in self.measures.values_mut() {
            m.set_qtc_formula(formula);
        }
        self.browser.dirty = true;
    }

    /// The model windows of a record longer than the model's input: a button that explains
    /// them all (on `tlc-worker`, with progress and Cancel), then one row per window (start,
    /// predicted labels, mean entropy); a click returns the window's centre to go to.
    fn model_windows_ui(&mut self, ui: &mut Ui) -> Option<f64> {
        let (cur, model, explainer) = (
            self.current.as_ref()?,
            self.analysis.model.clone()?,
            self.analysis.explainer.clone()?,
        );
        let spec = model.config.input_spec();
        let n_windows =
            crate::tlc::windows::window_starts(&spec, cur.ecg.fs_hz, cur.ecg.n_samples()).len();
        if n_windows == 0 {
            return None;
        }
        let id = cur.ecg.meta.id.clone();
        let long = cur.ecg.duration_s() >= 60.0;
        ui.separator();
        ui.heading("Windows");
        let shown = self
            .windows
            .result
            .as_ref()
            .filter(|(record, _)| *record == id)
            .map(|(_, w)| w.clone());
        let Some(windows) = shown else {
            if let Some(job) = self.windows.job {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("explaining the windows...");
                    if ui.button("Cancel").clicked() {
                        self.worker.cancel(job);
                        self.windows.job = None;
                    }
                });
            } else if ui
                .button(format!("Explain all {n_windows} windows"))
                .on_hover_text(
                    "The model reads 10.24 s at a time: explain each window of the record to \
                     see its predictions and uncertainty along the record",
                )
                .clicked()
            {
                self.windows.result = None;
                self.windows.job = Some(self.worker.submit(Job::ExplainWindows {
                    ecg: cur.ecg.clone(),
                    model,
                    explainer,
                }));
            }
            return None;
        };
        ui.label(format!(
            "{} windows of {:.2} s; click one to go there",
            windows.len(),
            spec.length as f64 / spec.fs_hz
        ));
        let mut jump = None;
        const ROW: f32 = 18.0;
        egui::ScrollArea::vertical()
            .id_salt("windows")
            .max_height(200.0)
            .show_rows(ui, ROW, windows.len(), |ui, range| {
                for w in &windows[range] {
                    ui.horizontal(|ui| {
                        let from = paper::format_time(w.start_s, long);
                        if ui
                            .add_sized([64.0, ROW], egui::Link::new(from))
                            .on_hover_text("Show this window")
                            .clicked()
                        {
                            jump = Some((w.start_s + w.end_s) / 2.0);
                        }
                        let labels = if w.predicted_labels.is_empty() {
                            "—".to_string()
                        } else {
                            w.predicted_labels.join(", ")
                        };
                        ui.add_sized([120.0, ROW], egui::Label::new(labels).truncate());
                        ui.label(format!("entropy {:.2}", w.mean_entropy));
                    });
                }
            });
        jump
    }

    /// Which part of a record longer than the model's input the explanation covers.
    fn explained_window_note(&self, ecg: &Ecg, ex: Option<&Explanation>) -> Option<String> {
        let (ex, model) = (ex?, self.analysis.model.as_ref()?);
        let spec = model.config.input_spec();
        let window_s = spec.length as f64 / spec.fs_hz;
        let duration_s = ecg.duration_s();
        if duration_s <= window_s {
            return None;
        }
        let long = duration_s >= 60.0;
        let (from, to) = (
            ex.model_start_s,
            (ex.model_start_s + window_s).min(duration_s),
        );
        let pending = if self.window_job.is_some() {
            "; explaining the window on screen..."
        } else {
            ""
        };
        Some(format!(
            "Clusters, entropy and Grad-CAM cover {} - {} (the model reads {window_s:.2} s at a \
             time; its window follows the view){pending}",
            paper::format_time(from, long),
            paper::format_time(to, long),
        ))
    }

    /// A record longer than the model's input is explained one model window at a time: once
    /// the view has rested for `FOLLOW_REST`, the window it shows is explained if the current
    /// explanation does not cover it (or, zoomed out wider than the model's window, is not
    /// centred on it). Returns whether the view is still moving (ask for a frame later).
    fn follow_visible_window(&mut self) -> bool {
        let now = Instant::now();
        let visible = self.view.visible_s;
        if visible != self.view_rest.0 {
            self.view_rest = (visible, now);
        }
        let resting = now.duration_since(self.view_rest.1) >= FOLLOW_REST;
        let (Some(cur), Some(model), Some((a, b))) = (&self.current, &self.analysis.model, visible)
        else {
            return false;
        };
        let Some(ex) = &cur.explanation else {
            return false;
        };
        if self.latest_record_job.is_some() || self.analysis_pending {
            return false;
        }
        let Some(wanted) = self.window_start_for_view(&cur.ecg) else {
            return false;
        };
        let spec = model.config.input_spec();
        let window_s = spec.length as f64 / spec.fs_hz;
        let (from, to) = (ex.model_start_s, ex.model_start_s + window_s);
        let slack = 1.0 / spec.fs_hz + 1e-9;
        let needed = if b - a <= window_s {
            a < from - slack || b > to + slack
        } else {
            (wanted - from).abs() > window_s / 4.0
        };
        if !needed || (wanted - from).abs() <= slack {
            return false;
        }
        if resting {
            self.submit_analysis(false);
            false
        } else {
            true
        }
    }

    /// Start fitting an explainer on the open data set with the settings' fit choice.
    pub fn start_fit(&mut self) -> Option<JobId> {
        let (Some(model), Some(ds)) = (self.analysis.model.clone(), self.dataset.clone()) else {
            return None;
        };
        let n = if self.settings.fit.max_records == 0 {
            ds.len()
        } else {
            self.settings.fit.max_records.min(ds.len())
        };
        let job = Job::Fit {
            model,
            dataset: ds,
            indices: (0..n).collect(),
            settings: self.settings.fit.to_settings(),
        };
        let id = self.worker.submit(job);
        self.fit.job = Some(id);
        Some(id)
    }

    /// Cancel the running fit, if any.
    pub fn cancel_fit(&mut self) {
        if let Some(id) = self.fit.job {
            self.worker.cancel(id);
        }
    }

    pub fn is_fitting(&self) -> bool {
        self.fit.job.is_some()
    }

    /// Explain every record of the open data set (for the browser columns and the cohort view).
    pub fn start_explain_dataset(&mut self) -> Option<JobId> {
        let ds = self.dataset.clone()?;
        if !self.has_explainer() {
            return None;
        }
        let job = Job::ExplainDataset {
            indices: (0..ds.len()).collect(),
            dataset: ds,
            analysis: self.analysis.clone(),
        };
        let id = self.worker.submit(job);
        self.cohort.explain_job = Some(id);
        Some(id)
    }

    /// Cross-validate the surrogate on the open data set with the loaded model and explainer
    /// (folds and K sweep from `settings.eval`); the cohort view shows the result.
    pub fn start_evaluation(&mut self) -> Option<JobId> {
        let ds = self.dataset.clone()?;
        let model = self.analysis.model.clone()?;
        let explainer = self.analysis.explainer.clone()?;
        if self.cohort.evaluation.job.is_some() {
            return None;
        }
        let id = self.worker.submit(Job::Evaluate {
            model,
            explainer,
            dataset: ds,
            folds: self.settings.eval.folds,
            k_sweep: self.settings.eval.k_sweep,
        });
        self.cohort.evaluation.job = Some(id);
        self.cohort.open = true;
        Some(id)
    }

    /// Stop a running surrogate evaluation.
    pub fn cancel_evaluation(&mut self) {
        if let Some(id) = self.cohort.evaluation.job {
            self.worker.cancel(id);
        }
    }

    pub fn is_evaluating(&self) -> bool {
        self.cohort.evaluation.job.is_some()
    }

    /// The last finished surrogate evaluation.
    pub fn evaluation(&self) -> Option<&jobs::Evaluated> {
        self.cohort.evaluation.result.as_deref()
    }

    /// True when the worker has nothing queued or running.
    pub fn is_idle(&self) -> bool {
        self.worker.is_idle() && self.records.is_idle() && !self.analysis_pending
    }

    /// True while a long job (fit, evaluation, explaining the data set, export...) runs.
    pub fn is_busy_with_long_job(&self) -> bool {
        !self.worker.is_idle()
    }

    /// Errors reported so far (most recent last).
    pub fn errors(&self) -> &[JobError] {
        &self.problems.errors
    }

    pub fn current_record(&self) -> Option<&AnalysedRecord> {
        self.current.as_ref()
    }

    pub fn dataset(&self) -> Option<&Arc<dyn Dataset>> {
        self.dataset.as_ref()
    }

    pub fn selected_index(&self) -> Option<usize> {
        self.selected
    }

    pub fn view(&self) -> &PaperView {
        &self.view
    }

    pub fn view_mut(&mut self) -> &mut PaperView {
        &mut self.view
    }

    /// Ask the worker to open a record, folder or data set.
    pub fn open_path(&mut self, path: &Path) {
        self.worker.submit(Job::OpenDataset {
            path: path.to_path_buf(),
        });
    }

    /// Use an already opened data set (e.g. built in memory) and show its first record.
    pub fn set_dataset(&mut self, path: Option<PathBuf>, dataset: Arc<dyn Dataset>) {
        self.recent_on_load = None;
        if let Some(p) = &path {
            if dataset.len() > 1 {
                self.remember_path(p);
            } else {
                self.recent_on_load = Some(p.clone());
            }
        }
        self.dataset_path = path;
        // The user chose no model: real data gets the real-data model, sample data the
        // synthetic one.
        if let Some(loaded) = &self.default_model_loaded
            && *loaded != crate::paths::default_model_for(self.dataset_path.as_deref())
        {
            self.load_models();
        }
        self.summaries.clear();
        self.measures.clear();
        self.cohort.evaluation.result = None;
        // Another data set has other labels: its list starts unfiltered.
        self.browser.label_filter = None;
        self.browser.dirty = true;
        self.selected = None;
        self.current = None;
        let first = self
            .settings
            .last_record_id
            .as_ref()
            .and_then(|id| {
                (0..dataset.len()).find(|&i| dataset.entry(i).is_some_and(|e| &e.id == id))
            })
            .or(if dataset.is_empty() { None } else { Some(0) });
        self.dataset = Some(dataset);
        if let Some(i) = first {
            self.select_record(i);
        }
    }

    /// Show a record that is already analysed (tests, and results from the worker).
    pub fn show_record(&mut self, mut record: AnalysedRecord) {
        // Records are measured with the default formula; the QTc shown is the user's.
        if let Some(m) = &record.measurements
            && m.qtc_formula != self.settings.qtc_formula
        {
            let m = (**m).clone().with_qtc_formula(self.settings.qtc_formula);
            record.measurements = Some(Arc::new(m));
        }
        if let (Some(i), Some(m)) = (record.index, &record.measurements) {
            self.measures.insert(i, jobs::RecordMeasures::of(m));
            self.browser.dirty = true;
        }
        if let (Some(i), Some(ex)) = (record.index, &record.explanation) {
            self.summaries.insert(
                i,
                RecordSummary {
                    predicted: ex.prediction.predicted_labels.clone(),
                    mean_entropy: ex.mean_entropy(),
                },
            );
            self.browser.dirty = true;
        }
        // A record arrives twice (its signal at once, then its analysis): each problem is
        // listed once.
        let task = format!("Analysing record {}", record.ecg.meta.id);
        for p in &record.problems {
            let known = self
                .problems
                .errors
                .iter()
                .any(|e| e.task == task && e.cause == *p);
            if !known {
                // Shown above the record's ECG (`record_notes_ui`); kept in the list quietly.
                self.problems.push_quiet(JobError {
                    task: task.clone(),
                    cause: p.clone(),
                    cancelled: false,
                });
            }
        }
        self.settings.last_record_id = Some(record.ecg.meta.id.clone());
        // Keep the zoom when stepping through records of the same length, reset otherwise.
        let same_shape = self.current.as_ref().is_some_and(|c| {
            c.ecg.n_samples() == record.ecg.n_samples() && c.ecg.fs_hz == record.ecg.fs_hz
        });
        if !same_shape {
            self.view.reset();
        }
        let new_record = self
            .current
            .as_ref()
            .is_none_or(|c| c.ecg.meta.id != record.ecg.meta.id);
        if new_record {
            self.view.selected_caliper = None;
        }
        self.reference
            .set_record(record.ecg.meta.source.clone(), record.annotators.clone());
        self.current = Some(record);
        self.read_chosen_references();
    }

    /// Read the chosen reference annotation files of the record on screen (on the records
    /// worker, so a long `.atr` never stalls the UI).
    fn read_chosen_references(&mut self) {
        let Some(cur) = &self.current else { return };
        let n_samples = cur.ecg.n_samples();
        for file in self.reference.to_read(&self.settings) {
            let path = file.path.clone();
            let id = self.records.submit(Job::LoadReference { file, n_samples });
            self.reference.jobs.insert(id, path);
        }
    }

    /// The reference annotation layers shown with the record on screen.
    pub fn reference_layers(&self) -> &[crate::figure::ReferenceLayer] {
        &self.reference.shown
    }

    /// The annotation files beside the record on screen.
    pub fn reference_files(&self) -> &[crate::figure::AnnotatorFile] {
        &self.reference.files
    }

    /// Show (or hide) the annotator with this extension, as the Reference menu does.
    pub fn set_reference_shown(&mut self, extension: &str, shown: bool) {
        self.settings
            .reference_annotators
            .retain(|e| e != extension);
        if shown {
            self.settings
                .reference_annotators
                .push(extension.to_string());
        } else {
            self.reference
                .shown
                .retain(|l| l.file.extension != extension);
        }
        self.read_chosen_references();
    }

    /// Where the calipers of the record on screen are kept in the settings: its source file, or
    /// the data set and its id for a record without one.
    fn caliper_key(&self) -> Option<String> {
        let cur = self.current.as_ref()?;
        Some(match &cur.ecg.meta.source {
            Some(src) => src.display().to_string(),
            None => format!(
                "{}#{}",
                self.dataset_path
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                cur.ecg.meta.id
            ),
        })
    }

    /// The calipers set on the record on screen.
    pub fn calipers(&self) -> &[crate::figure::Caliper] {
        self.caliper_key()
            .and_then(|k| self.settings.calipers.get(&k))
            .map_or(&[], Vec::as_slice)
    }

    /// Select a record of the open data set and load it on the worker.
    pub fn select_record(&mut self, index: usize) {
        let Some(ds) = self.dataset.clone() else {
            return;
        };
        if index >= ds.len() {
            return;
        }
        self.selected = Some(index);
        // A Grad-CAM output chosen for one record does not carry over to the next (it may
        // not apply there): each record starts with the default target.
        self.analysis.explain.gradcam = crate::tlc::pipeline::ExplainSettings::default().gradcam;
        // A newer selection supersedes a record still loading.
        if let Some(old) = self.latest_record_job {
            self.records.cancel(old);
        }
        // The signal first (loading only), its analysis as soon as it is on screen.
        let id = self.records.submit(Job::LoadRecord {
            dataset: ds,
            index,
            analysis: AnalysisContext::default(),
        });
        self.analysis_pending = true;
        self.latest_record_job = Some(id);
        self.latest_record_models = self.models_generation;
    }

    /// Take the worker's messages into the app state: each result goes to whoever asked for it.
    fn poll_worker(&mut self, ctx: &egui::Context) {
        let mut finished = self.records.poll();
        finished.extend(self.worker.poll());
        for (id, result) in finished {
            match result {
                Ok(output) => self.take_output(id, output, ctx),
                Err(err) => {
                    if self.latest_record_job == Some(id) {
                        // The one record of a data set failed to load: not a recent file.
                        self.recent_on_load = None;
                    }
                    self.reference.job_failed(id, &err.cause);
                    self.forget_job(id);
                    self.export.job_failed(id, &err);
                    if !err.cancelled {
                        log::warn!("{err}");
                        self.problems.errors.push(err);
                    }
                }
            }
        }
    }

    fn take_output(&mut self, id: JobId, output: JobOutput, ctx: &egui::Context) {
        match output {
            JobOutput::Dataset { path, dataset } => self.set_dataset(Some(path), dataset),
            JobOutput::Record(record) => self.take_record(id, *record),
            JobOutput::Models {
                model,
                explainer,
                problems,
            } => self.take_models(model, explainer, problems),
            JobOutput::Fitted(explainer) => {
                self.fit.take_result();
                self.analysis.explainer = Some(explainer);
                self.unsaved_explainer = true;
                // Show the new bands on the record on screen.
                self.models_changed();
            }
            JobOutput::DatasetExplained(results) => self.take_dataset_explained(results),
            JobOutput::Evaluated(evaluated) => self.cohort.evaluation.take_result(evaluated),
            JobOutput::FigureImage { purpose, image } => {
                self.export.take_image(ctx, purpose, image)
            }
            JobOutput::Written(paths) => self.export.take_written(&mut self.settings, &paths),
            JobOutput::Reference(layer) => self.reference.take_layer(id, *layer, &self.settings),
            JobOutput::DatasetMeasured(measured) => self.take_dataset_measured(measured),
            JobOutput::Windows { record_id, windows } => {
                if self.windows.job == Some(id) {
                    self.windows.job = None;
                    self.windows.result = Some((record_id, windows));
                }
            }
        }
    }

    fn remember_path(&mut self, path: &Path) {
        self.settings.remember(path);
        self.settings.last_path = Some(path.to_path_buf());
    }

    /// A record job finished: shown when it is the latest one asked for.
    fn take_record(&mut self, id: JobId, mut record: AnalysedRecord) {
        if self.latest_record_job != Some(id) {
            return;
        }
        self.latest_record_job = None;
        if self.window_job.take() == Some(id)
            && let Some(cur) = &self.current
            && cur.ecg.meta.id == record.ecg.meta.id
        {
            // Another window of the same record: its delineation covers the whole record.
            record.delineation = cur.delineation.clone();
            record.segment_labels = cur.segment_labels.clone();
            record.measurements = cur.measurements.clone();
        }
        // Only the record asked for last can vouch for the data set just opened (a record of
        // the previous data set may still arrive).
        if let Some(path) = self.recent_on_load.take() {
            self.remember_path(&path);
        }
        let stale = self.latest_record_models != self.models_generation;
        self.show_record(record);
        // The signal is on screen: analyse it now (also when it was analysed with models
        // replaced since).
        if stale || self.analysis_pending {
            self.reanalyse_current();
        }
    }

    fn take_models(
        &mut self,
        model: Arc<crate::model::LoadedModel>,
        explainer: Option<Arc<crate::tlc::Explainer>>,
        problems: Vec<String>,
    ) {
        self.analysis.model = Some(model);
        self.analysis.explainer = explainer;
        self.unsaved_explainer = false;
        for p in problems {
            self.problems.errors.push(JobError {
                task: "Loading the explainer".into(),
                cause: p,
                cancelled: false,
            });
        }
        self.models_changed();
    }

    /// Anything explained with the previous model or explainer is stale: the record on screen
    /// is explained again, the browser's columns and the cohort view are emptied.
    fn models_changed(&mut self) {
        self.models_generation += 1;
        self.summaries.clear();
        self.cohort.explained = None;
        self.cohort.evaluation.result = None;
        self.browser.dirty = true;
        self.reanalyse_current();
    }

    /// Delineate and measure every record of the open data set (the browser's HR, QRS and QTc
    /// columns), on the long-job worker with progress and cancel.
    pub fn start_measure_dataset(&mut self) -> Option<JobId> {
        let ds = self.dataset.clone()?;
        if self.measure_job.is_some() {
            return None;
        }
        let id = self.worker.submit(Job::MeasureDataset {
            indices: (0..ds.len()).collect(),
            dataset: ds,
            delineate: self.analysis.delineate.clone().unwrap_or_default(),
        });
        self.measure_job = Some(id);
        Some(id)
    }

    /// What the browser shows of record `index`'s measurements.
    pub fn record_measures(&self, index: usize) -> Option<&jobs::RecordMeasures> {
        self.measures.get(&index)
    }

    /// The data set indices in the browser's display order (filtered and sorted).
    pub fn browser_order(&self) -> &[usize] {
        &self.browser.order
    }

    pub fn is_measuring(&self) -> bool {
        self.measure_job.is_some()
    }

    fn take_dataset_measured(&mut self, measured: jobs::DatasetMeasured) {
        self.measure_job = None;
        for (index, mut m) in measured.results {
            m.set_qtc_formula(self.settings.qtc_formula);
            self.measures.insert(index, m);
        }
        for f in measured.failures {
            self.problems.errors.push(JobError {
                task: "Measuring the data set".into(),
                cause: f,
                cancelled: false,
            });
        }
        self.browser.dirty = true;
    }

    fn take_dataset_explained(&mut self, results: jobs::DatasetExplained) {
        for r in &results.results {
            self.summaries.insert(
                r.index,
                RecordSummary {
                    predicted: r.predicted.clone(),
                    mean_entropy: r.mean_entropy,
                },
            );
        }
        for f in &results.failures {
            self.problems.errors.push(JobError {
                task: "Explaining the data set".into(),
                cause: f.clone(),
                cancelled: false,
            });
        }
        self.browser.dirty = true;
        self.cohort.take_explained(results);
    }

    /// A job that failed or was cancelled no longer runs for anyone.
    fn forget_job(&mut self, id: JobId) {
        if self.latest_record_job == Some(id) {
            self.latest_record_job = None;
            self.analysis_pending = false;
        }
        self.fit.forget(id);
        self.cohort.forget(id);
        if self.measure_job == Some(id) {
            self.measure_job = None;
        }
    }

    /// The whole UI (eframe's `App::ui` calls this; tests call it through kittest).
    pub fn ui_root(&mut self, ui: &mut Ui) {
        let ctx = ui.ctx().clone();
        self.poll_worker(&ctx);
        ctx.set_visuals(if self.settings.dark_mode {
            egui::Visuals::dark()
        } else {
            egui::Visuals::light()
        });
        self.handle_dropped_files(&ctx);
        self.handle_close_request(&ctx);
        self.handle_shortcuts(ui);

        // In the eframe window the frame is cleared to the panel colour (`clear_color`), so the
        // panels need not fill their backgrounds again: on a CPU renderer each full-window fill
        // costs milliseconds. Elsewhere (tests) they fill as usual.
        let style = ctx.global_style();
        let unfilled = |frame: egui::Frame| {
            if self.panels_on_cleared_window {
                frame.fill(egui::Color32::TRANSPARENT)
            } else {
                frame
            }
        };
        let side = unfilled(egui::Frame::side_top_panel(&style));
        let central = unfilled(egui::Frame::central_panel(&style));
        egui::Panel::top("menu").frame(side).show(ui, |ui| {
            egui::MenuBar::new().ui(ui, |ui| self.menu_ui(ui));
        });
        if self.current.is_some() {
            egui::Panel::top("toolbar")
                .frame(side)
                .show(ui, |ui| self.toolbar_ui(ui));
        }
        egui::Panel::bottom("status")
            .frame(side)
            .show(ui, |ui| self.status_ui(ui));
        // The side panels never take more than this share of the window each, so the ECG keeps
        // at least a fifth of it however wide they were dragged or remembered.
        let side_max = (ctx.content_rect().width() * 0.4).max(200.0);
        if self.settings.show_browser && self.dataset.is_some() {
            egui::Panel::left("browser")
                .frame(side)
                .default_size(300.0)
                .max_size(side_max)
                .resizable(true)
                .show(ui, |ui| self.browser_panel_ui(ui));
        }
        let has_explanation = self
            .current
            .as_ref()
            .is_some_and(|c| c.explanation.is_some() || c.measurements.is_some());
        if self.settings.show_explanation && has_explanation {
            egui::Panel::right("explanation")
                .frame(side)
                .default_size(340.0)
                .max_size(side_max)
                .resizable(true)
                .show(ui, |ui| self.explanation_panel_ui(ui));
        }
        egui::CentralPanel::default()
            .frame(central)
            .show(ui, |ui| self.record_ui(ui));

        self.windows_ui(&ctx);
        if self.follow_visible_window() {
            ctx.request_repaint_after(FOLLOW_REST);
        }
        if !self.worker.is_idle() || !self.records.is_idle() {
            // Keep the progress bar moving even if a job reports rarely.
            ctx.request_repaint_after(Duration::from_millis(100));
        }
        self.screenshot_step(&ctx);
    }

    fn handle_dropped_files(&mut self, ctx: &egui::Context) {
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        });
        if let Some(path) = dropped.into_iter().next() {
            self.open_path(&path);
        }
    }

    fn handle_shortcuts(&mut self, ui: &Ui) {
        if ui.ctx().egui_wants_keyboard_input() {
            return;
        }
        // Over the ECG view Page Up/Down move a screen and Home/End go to the record's ends;
        // elsewhere they (and Up/Down) move through the record list.
        if self.view.pointer_over && self.current.is_some() {
            let keys = ui.input(|i| {
                [Key::PageUp, Key::PageDown, Key::Home, Key::End].map(|k| i.key_pressed(k))
            });
            if keys[0] {
                self.view.page(-1.0);
            }
            if keys[1] {
                self.view.page(1.0);
            }
            if keys[2] {
                self.view.go_to_start();
            }
            if keys[3] {
                self.view.go_to_end();
            }
            if ui.input(|i| i.key_pressed(Key::ArrowDown) || i.key_pressed(Key::ArrowUp)) {
                self.step_record(ui);
            }
        } else {
            self.step_record(ui);
        }
        let (zoom_in, zoom_out, reset, open, help) = ui.input_mut(|i| {
            (
                i.key_pressed(Key::Plus) || i.key_pressed(Key::Equals),
                i.key_pressed(Key::Minus),
                i.key_pressed(Key::Num0),
                i.consume_key(egui::Modifiers::COMMAND, Key::O),
                i.key_pressed(Key::F1),
            )
        });
        let centre = self.view.canvas.center();
        if zoom_in {
            self.view.zoom_about(1.25, centre);
        }
        if zoom_out {
            self.view.zoom_about(0.8, centre);
        }
        if reset {
            self.view.reset();
        }
        if open {
            self.open_dialog(false);
        }
        if help {
            self.help.shortcuts = true;
        }
    }

    /// Step through the record list with the keyboard.
    fn step_record(&mut self, ui: &Ui) {
        if let Some(delta) = browser::navigation_delta(ui, self.browser.page_rows())
            && let Some(next) = self.browser.step(self.selected, delta)
            && Some(next) != self.selected
        {
            self.select_record(next);
        }
    }

    /// Ask for a record, data set or folder to open.
    fn open_dialog(&mut self, folder: bool) {
        let start = self
            .dataset_path
            .clone()
            .or_else(|| self.settings.recent.first().cloned())
            .unwrap_or_else(crate::paths::sample_data);
        let purpose = if folder {
            FilePurpose::OpenFolder
        } else {
            FilePurpose::OpenData
        };
        self.ask_for_file(purpose, &start, None);
    }

    /// Ask for a file or folder: the native dialog (rfd) when an xdg-desktop-portal answers,
    /// else the in-app browser (egui_file), which starts in the folder of `start`. What is
    /// picked goes to [`TlcApp::file_picked`] either way.
    fn ask_for_file(&mut self, purpose: FilePurpose, start: &Path, file_name: Option<String>) {
        let folder = if start.is_dir() {
            start.to_path_buf()
        } else {
            start
                .parent()
                .filter(|p| p.is_dir())
                .map(Path::to_path_buf)
                .unwrap_or_else(|| std::env::current_dir().unwrap_or_default())
        };
        let started = Instant::now();
        let mut dialog = rfd::FileDialog::new().set_directory(&folder);
        for (name, extensions) in purpose.filters() {
            dialog = dialog.add_filter(name, &extensions);
        }
        if let Some(name) = &file_name {
            dialog = dialog.set_file_name(name);
        }
        let picked = match purpose.kind() {
            DialogKind::Folder => dialog.pick_folder(),
            DialogKind::Open => dialog.pick_file(),
            DialogKind::Save => dialog.save_file(),
        };
        match picked {
            Some(path) => self.file_picked(purpose, path),
            // Without a portal rfd returns at once; a person cancelling takes longer.
            None if started.elapsed() < Duration::from_millis(300) => {
                let d = match purpose.kind() {
                    DialogKind::Folder => egui_file::FileDialog::select_folder(),
                    DialogKind::Open => egui_file::FileDialog::open_file(),
                    DialogKind::Save => egui_file::FileDialog::save_file(),
                };
                let mut d = d.initial_path(folder).title(purpose.title());
                if let Some(name) = file_name {
                    d = d.default_filename(name);
                }
                d.open();
                self.file_dialog = Some((purpose, d));
            }
            None => {}
        }
    }

    /// A file or folder was chosen for `purpose`.
    fn file_picked(&mut self, purpose: FilePurpose, path: PathBuf) {
        match purpose {
            FilePurpose::OpenData | FilePurpose::OpenFolder => self.open_path(&path),
            FilePurpose::OpenModel => {
                self.settings.model_path = Some(path);
                self.settings.explainer_path = None;
                self.load_models();
            }
            FilePurpose::OpenExplainer => {
                self.settings.explainer_path = Some(path);
                self.load_models();
            }
            FilePurpose::SaveExplainer => self.save_explainer_to(&path),
            FilePurpose::ExportFigure => {
                let ext = self.settings.export_format.extension();
                self.export.path_text = path.with_extension(ext).display().to_string();
            }
        }
    }

    /// Closing the window with a fitted explainer not saved asks first.
    fn handle_close_request(&mut self, ctx: &egui::Context) {
        if ctx.input(|i| i.viewport().close_requested())
            && self.unsaved_explainer
            && !self.quit_confirmed
            && self.screenshot.is_none()
        {
            ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
            self.confirm_quit = true;
        }
    }

    /// Whether the quit question is on screen (tests).
    pub fn is_asking_before_quit(&self) -> bool {
        self.confirm_quit
    }

    fn confirm_quit_ui(&mut self, ctx: &egui::Context) {
        if !self.confirm_quit {
            return;
        }
        egui::Window::new("Quit without saving?")
            .collapsible(false)
            .resizable(false)
            .anchor(egui::Align2::CENTER_CENTER, egui::Vec2::ZERO)
            .show(ctx, |ui| {
                ui.label("The fitted explainer has not been saved; it is lost on quitting.");
                ui.horizontal(|ui| {
                    if ui.button("Save explainer...").clicked() {
                        self.confirm_quit = false;
                        self.save_explainer_dialog();
                    }
                    if ui.button("Quit without saving").clicked() {
                        self.confirm_quit = false;
                        self.quit_confirmed = true;
                        ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                    }
                    if ui.button("Cancel").clicked() {
                        self.confirm_quit = false;
                    }
                });
            });
    }

    fn menu_ui(&mut self, ui: &mut Ui) {
        ui.menu_button("File", |ui| {
            if ui.button("Open record or data set...").clicked() {
                self.open_dialog(false);
            }
            if ui.button("Open folder...").clicked() {
                self.open_dialog(true);
            }
            ui.menu_button("Open recent", |ui| {
                if self.settings.recent.is_empty() {
                    ui.label("(none yet)");
                }
                for path in self.settings.recent.clone() {
                    if ui.button(path.display().to_string()).clicked() {
                        self.open_path(&path);
                    }
                }
            });
            if ui.button("Open sample data").clicked() {
                self.open_path(&crate::paths::sample_data());
            }
            ui.separator();
            let has_record = self.current.is_some();
            if ui
                .add_enabled(has_record, egui::Button::new("Export figure and data..."))
                .clicked()
            {
                self.open_export();
            }
            if ui
                .add_enabled(has_record, egui::Button::new("Copy figure"))
                .clicked()
            {
                self.copy_figure();
            }
            ui.separator();
            if ui.button("Quit").clicked() {
                ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
            }
        });
        self.model_menu_ui(ui);
        ui.menu_button("View", |ui| {
            ui.checkbox(&mut self.settings.show_browser, "Record browser");
            ui.checkbox(&mut self.settings.show_explanation, "Explanation panel");
            ui.checkbox(&mut self.settings.dark_mode, "Dark mode");
            if ui.button("Reset zoom").clicked() {
                self.view.reset();
            }
            if ui.button("Screen calibration...").clicked() {
                self.calibration_open = true;
            }
            ui.menu_button("QTc formula", |ui| {
                let mut formula = self.settings.qtc_formula;
                for f in crate::measure::QtcFormula::ALL {
                    ui.radio_value(&mut formula, f, f.as_str());
                }
                if formula != self.settings.qtc_formula {
                    self.set_qtc_formula(formula);
                }
            });
        });
        ui.menu_button("Help", |ui| {
            if ui.button("Keyboard and mouse").clicked() {
                self.help.shortcuts = true;
            }
            if ui.button("About").clicked() {
                self.help.about = true;
            }
        });
    }

    fn toolbar_ui(&mut self, ui: &mut Ui) {
        ui.horizontal_wrapped(|ui| {
            ui.label("Layout");
            for layout in ViewLayout::ALL {
                ui.selectable_value(&mut self.settings.layout, layout, layout.label());
            }
            ui.separator();
            let ex = self.current.as_ref().and_then(|c| c.explanation.as_ref());
            let has_ex = ex.is_some();
            let has_cam = ex.is_some_and(|e| e.gradcam.is_some());
            let has_del = self
                .current
                .as_ref()
                .is_some_and(|c| c.delineation.is_some());
            let layers = &mut self.settings.layers;
            let why = "not computed for this record";
            ui.add_enabled(
                has_ex,
                egui::Checkbox::new(&mut layers.clusters, "clusters"),
            )
            .on_disabled_hover_text(why);
            ui.add_enabled(has_ex, egui::Checkbox::new(&mut layers.entropy, "entropy"))
                .on_disabled_hover_text(why);
            ui.add_enabled(
                has_del,
                egui::Checkbox::new(&mut layers.landmarks, "landmarks"),
            )
            .on_disabled_hover_text(why);
            ui.add_enabled(
                has_cam,
                egui::Checkbox::new(&mut layers.gradcam, "Grad-CAM"),
            )
            .on_disabled_hover_text(why);
            ui.add_enabled(
                has_cam,
                egui::Checkbox::new(&mut layers.gradcam_overlay, "heat overlay"),
            )
            .on_disabled_hover_text(why);
            ui.checkbox(&mut layers.grid, "grid");
            ui.checkbox(&mut layers.reference, "reference")
                .on_hover_text(
                    "Reference annotations beside the record (choose them in Reference)",
                );
            ui.checkbox(&mut layers.calipers, "calipers");
            let other_signals: Vec<String> = self
                .current
                .as_ref()
                .map(|c| c.ecg.other_signals.iter().map(|s| s.label()).collect())
                .unwrap_or_default();
            if !other_signals.is_empty() {
                ui.checkbox(&mut self.settings.layers.other_signals, "other signals")
                    .on_hover_text(format!(
                        "Signals recorded with the leads, shown under them, not analysed: {}",
                        other_signals.join(", ")
                    ));
            }
            ui.separator();
            self.calipers_toolbar_ui(ui);
            reference::reference_menu_ui(ui, &mut self.reference, &mut self.settings);
            self.read_chosen_references();
            ui.separator();
            ui.add(
                egui::DragValue::new(&mut self.settings.paper_speed_mm_s)
                    .range(5.0..=200.0)
                    .speed(0.5)
                    .suffix(" mm/s"),
            )
            .on_hover_text("Paper speed");
            ui.add(
                egui::DragValue::new(&mut self.settings.gain_mm_mv)
                    .range(1.0..=100.0)
                    .speed(0.2)
                    .suffix(" mm/mV"),
            )
            .on_hover_text("Gain");
            ui.separator();
            self.zoom_controls_ui(ui);
            if let Some(cur) = &self.current {
                let leads = cur.ecg.leads.clone();
                ui.menu_button("Leads", |ui| {
                    for lead in leads {
                        let mut on = self.settings.lead_visible(&lead);
                        if ui.checkbox(&mut on, lead.as_str()).changed() {
                            if on {
                                self.settings.hidden_leads.retain(|l| l != &lead);
                            } else {
                                self.settings.hidden_leads.push(lead.clone());
                            }
                        }
                    }
                    if ui.button("Show all").clicked() {
                        self.settings.hidden_leads.clear();
                    }
                });
            }
        });
    }

    /// The Caliper tool (a plain drag sets a caliper; Shift-drag always does), marching and
    /// removing the selected caliper, clearing the record's calipers.
    fn calipers_toolbar_ui(&mut self, ui: &mut Ui) {
        ui.toggle_value(&mut self.view.caliper_tool, "Caliper")
            .on_hover_text(
                "Drag on a lead to set a caliper: across for a time interval (ms, bpm), up or \
                 down for an amplitude (mV). Without the tool, Shift-drag. Click a caliper to \
                 select it, M marches it along the rhythm, Delete or a right click removes it.",
            );
        let Some(key) = self.caliper_key() else {
            return;
        };
        let Some(list) = self.settings.calipers.get_mut(&key) else {
            return;
        };
        if let Some(i) = self.view.selected_caliper
            && let Some(c) = list.get_mut(i)
        {
            if matches!(c, crate::figure::Caliper::Time { .. }) {
                let mut march = c.marches();
                if ui
                    .checkbox(&mut march, "march")
                    .on_hover_text(
                        "Copy the interval along the rhythm to the edges of the view (M)",
                    )
                    .changed()
                {
                    c.toggle_march();
                }
            }
            if ui.button("Remove").on_hover_text("Delete").clicked() {
                list.remove(i);
                self.view.selected_caliper = None;
            }
        }
        if ui
            .button(format!("Clear {}", list.len()))
            .on_hover_text("Remove every caliper of this record")
            .clicked()
        {
            list.clear();
            self.view.selected_caliper = None;
        }
        if list.is_empty() {
            self.settings.calipers.remove(&key);
        }
    }

    /// Fit page, fit width, actual size, the zoom as a share of paper size, and go-to-time.
    fn zoom_controls_ui(&mut self, ui: &mut Ui) {
        use paper::ZoomMode;
        let zoom = self.view.zoom;
        if ui
            .selectable_label(zoom == ZoomMode::FitPage, "Fit page")
            .on_hover_text("Every row visible; 10 s across at 25 mm/s")
            .clicked()
        {
            self.view.zoom = ZoomMode::FitPage;
            self.view.offset_y_mm = 0.0;
        }
        if ui
            .selectable_label(zoom == ZoomMode::FitWidth, "Fit width")
            .on_hover_text("10 s across at 25 mm/s; scroll for more rows")
            .clicked()
        {
            self.view.zoom = ZoomMode::FitWidth;
        }
        if ui
            .selectable_label(zoom == ZoomMode::ActualSize, "Actual size")
            .on_hover_text(
                "Millimetres of paper are millimetres of screen (View > Screen calibration)",
            )
            .clicked()
        {
            self.view.zoom = ZoomMode::ActualSize;
        }
        let actual = self
            .settings
            .actual_points_per_mm(ui.ctx().pixels_per_point());
        ui.label(format!("{:.0} %", 100.0 * self.view.paper_scale(actual)))
            .on_hover_text("Size on screen relative to paper size");
        let goto = ui
            .add(
                egui::TextEdit::singleline(&mut self.goto_text)
                    .desired_width(70.0)
                    .hint_text("go to m:ss"),
            )
            .on_hover_text("Go to a time of the record: seconds, m:ss or h:mm:ss, then Enter");
        goto.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, "Go to"));
        if goto.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter)) {
            match paper::parse_time(&self.goto_text) {
                Some(t) => self.view.centre_on(t),
                None => self.goto_text = "?".into(),
            }
        }
    }

    /// View > Screen calibration: a bar that should measure 100 mm on a ruler held to the
    /// screen; the user changes the pixels per mm until it does (persisted).
    fn calibration_window_ui(&mut self, ctx: &egui::Context) {
        if !self.calibration_open {
            return;
        }
        let mut open = true;
        egui::Window::new("Screen calibration")
            .open(&mut open)
            .show(ctx, |ui| {
                let ppp = ctx.pixels_per_point();
                ui.label(
                    "Hold a ruler to the bar below and change the value until it measures 100 mm.",
                );
                let mut px_per_mm = self
                    .settings
                    .screen_px_per_mm
                    .unwrap_or(settings::DEFAULT_POINTS_PER_INCH / settings::MM_PER_INCH * ppp);
                let changed = ui
                    .add(
                        egui::DragValue::new(&mut px_per_mm)
                            .range(settings::MIN_PX_PER_MM..=settings::MAX_PX_PER_MM)
                            .speed(0.01)
                            .suffix(" pixels per mm"),
                    )
                    .changed();
                if changed {
                    self.settings.screen_px_per_mm = Some(px_per_mm);
                }
                let width = 100.0 * self.settings.actual_points_per_mm(ppp);
                let (rect, _) =
                    ui.allocate_exact_size(egui::vec2(width, 14.0), egui::Sense::hover());
                ui.painter()
                    .rect_filled(rect, 0.0, egui::Color32::from_gray(40));
                for i in 0..=10 {
                    let x = rect.left() + rect.width() * i as f32 / 10.0;
                    ui.painter().vline(
                        x,
                        rect.top() - 4.0..=rect.top(),
                        egui::Stroke::new(1.0, egui::Color32::from_gray(40)),
                    );
                }
                ui.label(format!(
                    "{:.0} DPI; {}",
                    px_per_mm * settings::MM_PER_INCH,
                    if self.settings.screen_px_per_mm.is_some() {
                        "measured"
                    } else {
                        "assumed (96 DPI at the desktop's scale)"
                    }
                ));
                if ui.button("Forget the calibration").clicked() {
                    self.settings.screen_px_per_mm = None;
                }
            });
        self.calibration_open = open;
    }

    fn status_ui(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            let mut cancel = None;
            if let Some(job) = self.worker.jobs.first() {
                ui.spinner();
                // The whole job (all its stages), not the current stage alone.
                let fraction = job.progress.as_ref().and_then(|p| p.fraction());
                let text = match &job.progress {
                    Some(p) if p.total > 0 => {
                        format!("{} - {} {}/{}", job.description, p.stage, p.done, p.total)
                    }
                    _ => job.description.clone(),
                };
                ui.add(
                    egui::ProgressBar::new(fraction.unwrap_or(0.0))
                        .desired_width(220.0)
                        .text(text),
                );
                if ui.button("Cancel").clicked() {
                    cancel = Some(job.id);
                }
                if self.worker.jobs.len() > 1 {
                    ui.label(format!("+{} queued", self.worker.jobs.len() - 1));
                }
                ui.separator();
            }
            if let Some(id) = cancel {
                self.worker.cancel(id);
            }
            if let Some(job) = self.records.jobs.first() {
                ui.spinner();
                ui.label(&job.description);
                ui.separator();
            }
            if !self.problems.errors.is_empty() {
                let label = format!("{} problem(s)", self.problems.errors.len());
                if ui
                    .button(RichText::new(label).color(egui::Color32::from_rgb(213, 94, 0)))
                    .on_hover_text("Show the problems")
                    .clicked()
                {
                    self.problems.open = true;
                }
                ui.separator();
            }
            if let Some(h) = &self.hover {
                ui.label(h.describe(&self.cluster_names()));
            }
        });
    }

    /// Cluster names for legends: "C3 QRS" from the explainer's descriptions, else "C3". The
    /// record's own names (from the explainer that explained it) come first.
    fn cluster_names(&self) -> Vec<String> {
        if let Some(names) = self.current.as_ref().and_then(|c| c.cluster_names.as_ref()) {
            return names.clone();
        }
        let k = self
            .current
            .as_ref()
            .and_then(|c| c.explanation.as_ref())
            .map(|e| e.k)
            .unwrap_or(0);
        self.cluster_names_for_k(k)
    }

    fn browser_panel_ui(&mut self, ui: &mut Ui) {
        let Some(ds) = self.dataset.clone() else {
            return;
        };
        ui.heading(ds.name());
        if self.browser.dirty {
            self.browser
                .rebuild(ds.as_ref(), &self.summaries, &self.measures, &self.settings);
        }
        ui.horizontal(|ui| {
            if self.measure_job.is_some() {
                ui.spinner();
                ui.label("Measuring (progress and Cancel below)");
            } else if ui
                .button("Measure all")
                .on_hover_text(
                    "Delineate and measure every record: fills the HR, QRS and QTc columns, \
                     which sort and filter (e.g. qtc>470 in Search)",
                )
                .clicked()
            {
                self.start_measure_dataset();
            }
        });
        if let Some(i) = browser::browser_ui(
            ui,
            &mut self.browser,
            &mut self.settings,
            ds.as_ref(),
            &self.summaries,
            &self.measures,
            self.selected,
        ) {
            self.select_record(i);
        }
    }

    fn explanation_panel_ui(&mut self, ui: &mut Ui) {
        // A copy (Arcs and short lists): the panel also starts jobs, which needs `self`.
        let Some(cur) = self.current.clone() else {
            return;
        };
        let measurements = cur.measurements.clone();
        let mut jump = None;
        let Some(ex) = cur.explanation.clone() else {
            // A record without explanation (no model) still has its beats measured.
            if let Some(m) = &measurements {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    ui.heading("Beats");
                    jump = explain_panel::beats_ui(ui, m);
                });
            }
            if let Some(t) = jump {
                self.view.centre_on(t);
            }
            return;
        };
        let names = self.cluster_names();
        let mut gradcam_output = None;
        egui::ScrollArea::vertical().show(ui, |ui| {
            ui.heading("Outputs");
            explain_panel::outputs_ui(ui, &cur.ecg, &ex);
            if let Some(cam) = &ex.gradcam {
                let mut output = cam.output_index;
                egui::ComboBox::from_label("Grad-CAM output")
                    .selected_text(cam.output_name.clone())
                    .show_ui(ui, |ui| {
                        for (i, name) in ex.prediction.output_names.iter().enumerate() {
                            ui.selectable_value(&mut output, i, name);
                        }
                    });
                if output != cam.output_index {
                    gradcam_output = Some(output);
                }
            }
            ui.separator();
            ui.heading("Clusters");
            explain_panel::summary_ui(ui, &ex);
            explain_panel::proportions_ui(ui, &ex, &names);
            if let Some(explainer) = &self.analysis.explainer
                && explainer.cluster_descriptions.iter().any(Option::is_some)
            {
                ui.separator();
                ui.heading("What the clusters are");
                explain_panel::cluster_descriptions_ui(ui, &explainer.cluster_descriptions, &names);
            }
            ui.separator();
            ui.heading("Segments");
            jump = explain_panel::segments_ui(ui, &ex, &names);
            jump = jump.or(self.model_windows_ui(ui));
            if let Some(m) = &measurements {
                ui.separator();
                ui.heading("Beats");
                jump = jump.or(explain_panel::beats_ui(ui, m));
            }
        });
        if let Some(output) = gradcam_output {
            // Grad-CAM for another output needs another backward pass: re-explain on the worker.
            self.analysis.explain.gradcam = Some(crate::tlc::pipeline::GradCamTarget {
                output: crate::tlc::pipeline::GradCamOutput::Index(output),
                block: None,
            });
            self.reanalyse_current();
        }
        if let Some(t) = jump {
            // Centre the view on the segment at the current zoom.
            self.view.centre_on(t);
        }
    }

    fn record_ui(&mut self, ui: &mut Ui) {
        let Some(cur) = &self.current else {
            ui.vertical_centered(|ui| {
                ui.add_space(60.0);
                ui.heading("TLC Explorer");
                if self.worker.is_idle() {
                    ui.label("Open a WFDB record, a folder of records, a PTB-XL folder or a CODE-15% HDF5 file (File > Open, Ctrl+O, or drop it here).");
                    ui.add_space(8.0);
                    if ui.button("Open record or data set...").clicked() {
                        self.open_dialog(false);
                    }
                    if ui.button("Open folder...").clicked() {
                        self.open_dialog(true);
                    }
                    let sample = crate::paths::sample_data();
                    if sample.exists() && ui.button("Open the sample data").clicked() {
                        self.open_path(&sample);
                    }
                    if !self.settings.recent.is_empty() {
                        ui.add_space(8.0);
                        ui.label(RichText::new("Recent").strong());
                        for path in self.settings.recent.clone() {
                            if ui.link(path.display().to_string()).clicked() {
                                self.open_path(&path);
                            }
                        }
                    }
                } else {
                    ui.spinner();
                    ui.label("Loading...");
                }
            });
            return;
        };
        let ecg = cur.ecg.clone();
        let explanation = cur.explanation.clone();
        let delineation = cur.delineation.clone();
        let segment_labels = cur.segment_labels.clone();
        let overview = cur.overview.clone();
        let measurements = cur.measurements.clone();
        let notes = cur.problems.clone();
        ui.horizontal_wrapped(|ui| {
            ui.heading(&ecg.meta.id);
            let mut facts = vec![
                format!("{} leads", ecg.n_leads()),
                format!("{} Hz", ecg.fs_hz),
                format!("{:.1} s", ecg.duration_s()),
            ];
            if let Some(a) = ecg.meta.age_years {
                facts.push(format!("{a:.0} y"));
            }
            if let Some(s) = ecg.meta.sex {
                facts.push(s.to_string());
            }
            if !ecg.meta.labels.is_empty() {
                facts.push(format!("labels: {}", ecg.meta.labels.join(", ")));
            }
            if let Some(ex) = &explanation
                && !ex.prediction.predicted_labels.is_empty()
            {
                facts.push(format!(
                    "predicted: {}",
                    ex.prediction.predicted_labels.join(", ")
                ));
            }
            ui.label(facts.join("  |  "));
        });
        record_notes_ui(ui, &notes, &ecg.meta);
        if let Some(ex) = &explanation
            && self.settings.layers.clusters
        {
            explain_panel::legend_ui(ui, ex.k, &self.cluster_names());
        }
        if let Some(m) = &measurements {
            // The cart's measurement line, the same text the exported figures print.
            ui.label(RichText::new(crate::measure::text::measurement_line(m)).strong())
                .on_hover_text(
                    "Measured from the delineation: medians over the dominant beats, global \
                     bounds across the leads; the QTc formula is set in View > QTc formula",
                );
        }
        let data = ViewData {
            ecg: &ecg,
            explanation: explanation.as_deref(),
            delineation: delineation.as_deref(),
            segment_labels: segment_labels.as_deref().map(Vec::as_slice),
            reference: &self.reference.shown,
            overview: &overview,
        };
        if let Some(note) = &self.view.note {
            ui.label(RichText::new(note).italics());
        }
        if let Some(text) = self.explained_window_note(&ecg, explanation.as_deref()) {
            ui.label(RichText::new(text).italics());
        }
        // The record's calipers are taken out of the settings for the frame and put back.
        let key = self.caliper_key();
        let mut calipers = key
            .as_ref()
            .and_then(|k| self.settings.calipers.remove(k))
            .unwrap_or_default();
        let (_resp, hover) =
            paper::paper_ui(ui, &mut self.view, &self.settings, data, &mut calipers);
        if let Some(k) = key
            && !calipers.is_empty()
        {
            self.settings.calipers.insert(k, calipers);
        }
        self.hover = hover;
    }

    /// What the figure functions need, copied from the record on screen.
    fn figure_source(&self) -> Option<export::FigureSource> {
        let cur = self.current.as_ref()?;
        Some(export::FigureSource {
            ecg: cur.ecg.clone(),
            explanation: cur.explanation.clone(),
            delineation: cur.delineation.clone(),
            cluster_names: self.cluster_names(),
            calipers: self.calipers().to_vec(),
            reference: self.reference.shown.clone(),
            qtc_formula: self.settings.qtc_formula,
        })
    }

    /// Open the export window for the record on screen.
    pub fn open_export(&mut self) {
        if let Some(cur) = &self.current {
            let id = cur.ecg.meta.id.clone();
            self.export.show_for(&self.settings, &id);
            self.export.preview = None;
            self.export.preview_spec = None;
        }
    }

    /// Render the current view as PNG and put it on the clipboard.
    pub fn copy_figure(&mut self) {
        let Some(source) = self.figure_source() else {
            return;
        };
        let spec = crate::figure::FigureSpec {
            dpi: 150.0,
            ..export::spec_for_view(&self.settings, &source.ecg, None)
        };
        self.worker.submit(Job::RenderFigure {
            source,
            spec,
            purpose: export::FigurePurpose::Clipboard,
        });
    }

    fn export_window_ui(&mut self, ctx: &egui::Context) {
        if !self.export.open {
            return;
        }
        let Some(source) = self.figure_source() else {
            self.export.open = false;
            return;
        };
        let visible = self.view.visible_s;
        let actions = self
            .export
            .window_ui(ctx, &mut self.settings, &source, visible);
        for action in actions {
            self.export_action(&source, action);
        }
    }

    /// Carry out what the export window asked for.
    fn export_action(&mut self, source: &export::FigureSource, action: export::ExportAction) {
        match action {
            export::ExportAction::None => {}
            export::ExportAction::RenderPreview(spec) => {
                let id = self.worker.submit(Job::RenderFigure {
                    source: source.clone(),
                    spec,
                    purpose: export::FigurePurpose::Preview,
                });
                self.export.preview_job = Some(id);
            }
            export::ExportAction::Export {
                path,
                spec,
                overwrite,
            } => {
                self.export.message = Some(format!("Exporting {}...", path.display()));
                let id = self.worker.submit(Job::ExportFigure {
                    source: source.clone(),
                    path,
                    spec,
                    overwrite,
                });
                self.export.job = Some(id);
            }
            export::ExportAction::ExportData {
                dir,
                annotations,
                overwrite,
            } => {
                self.worker.submit(Job::ExportData {
                    source: source.clone(),
                    dir,
                    annotations,
                    overwrite,
                });
            }
            export::ExportAction::Browse => {
                let current = PathBuf::from(&self.export.path_text);
                let start = self
                    .settings
                    .export_dir
                    .clone()
                    .unwrap_or_else(|| current.clone());
                let name = current
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned());
                self.ask_for_file(FilePurpose::ExportFigure, &start, name);
            }
        }
    }

    fn windows_ui(&mut self, ctx: &egui::Context) {
        self.export_window_ui(ctx);
        self.fit_window_ui(ctx);
        self.cohort_window_ui(ctx);
        self.problems.window_ui(ctx);
        self.help.window_ui(ctx);
        self.calibration_window_ui(ctx);
        self.confirm_quit_ui(ctx);
        let mut picked = None;
        if let Some((purpose, d)) = &mut self.file_dialog {
            if d.show(ctx).selected() {
                picked = d.path().map(|p| (*purpose, p.to_path_buf()));
            }
            if !d.visible() {
                self.file_dialog = None;
            }
        }
        if let Some((purpose, p)) = picked {
            self.file_dialog = None;
            self.file_picked(purpose, p);
        }
    }

    /// Screenshot mode: once the data is loaded (or after a time-out), capture the window,
    /// save it and close.
    fn screenshot_step(&mut self, ctx: &egui::Context) {
        let Some(shot) = &mut self.screenshot else {
            return;
        };
        if shot.requested {
            ctx.request_repaint_after(Duration::from_millis(50));
            return;
        }
        if self.worker.is_idle() {
            shot.idle_frames += 1;
        }
        let timed_out = shot.started.elapsed() > Duration::from_secs(120);
        // A few settled frames so layouts (e.g. grids' sizing pass) are final, then time
        // continuously repainted frames (wall clock between frame starts: CPU pass, render and
        // present on whatever renderer the window has), then capture.
        if shot.idle_frames >= 5 && shot.frame_starts.len() <= TIMED_FRAMES && !timed_out {
            // With TLC_SCREENSHOT_PAN the timed frames pan (zoomed in twice, moving 50 ms to
            // and fro), so every frame redraws what a drag redraws; without it they repaint a
            // still view.
            if std::env::var_os(SCREENSHOT_PAN_ENV).is_some() {
                if shot.frame_starts.is_empty() {
                    let centre = self.view.canvas.center();
                    self.view.zoom_about(2.0, centre);
                } else {
                    let sign = if shot.frame_starts.len() % 2 == 0 {
                        -1.0
                    } else {
                        1.0
                    };
                    self.view.start_s += sign * 0.05;
                }
            }
            shot.frame_starts.push(Instant::now());
            ctx.request_repaint();
            if shot.frame_starts.len() <= TIMED_FRAMES {
                return;
            }
            let n = shot.frame_starts.len() - 1;
            let total = shot.frame_starts[n] - shot.frame_starts[0];
            let mut gaps: Vec<f64> = shot
                .frame_starts
                .windows(2)
                .map(|w| (w[1] - w[0]).as_secs_f64() * 1e3)
                .collect();
            gaps.sort_by(f64::total_cmp);
            eprintln!(
                "frame time over {n} frames: mean {:.1} ms, median {:.1} ms, max {:.1} ms",
                total.as_secs_f64() * 1e3 / n as f64,
                gaps[gaps.len() / 2],
                gaps[gaps.len() - 1]
            );
        }
        if shot.frame_starts.len() > TIMED_FRAMES || timed_out {
            shot.requested = true;
            let path = shot.path.clone();
            let result = shot.result.clone();
            let ctx2 = ctx.clone();
            ctx.request_screenshot(move |image| {
                let outcome = save_png(&path, &image);
                if let Ok(mut slot) = result.lock() {
                    *slot = Some(outcome);
                }
                ctx2.send_viewport_cmd(egui::ViewportCommand::Close);
                ctx2.request_repaint();
            });
        }
        ctx.request_repaint_after(Duration::from_millis(50));
    }
}

/// Write an egui image as PNG (through resvg's tiny-skia, already a dependency).
pub fn save_png(path: &Path, image: &egui::ColorImage) -> Result<(), String> {
    let [w, h] = image.size;
    let size = resvg::tiny_skia::IntSize::from_wh(w as u32, h as u32)
        .ok_or_else(|| format!("{}: empty image", path.display()))?;
    let mut data = Vec::with_capacity(w * h * 4);
    for px in &image.pixels {
        // Screenshots are opaque; premultiplication is then the identity.
        data.extend_from_slice(&[px.r(), px.g(), px.b(), 255]);
    }
    let pixmap = resvg::tiny_skia::Pixmap::from_vec(data, size)
        .ok_or_else(|| format!("{}: bad image size", path.display()))?;
    pixmap
        .save_png(path)
        .map_err(|e| format!("{}: {e}", path.display()))
}

impl eframe::App for TlcApp {
    fn ui(&mut self, ui: &mut Ui, _frame: &mut eframe::Frame) {
        self.ui_root(ui);
    }

    fn clear_color(&self, visuals: &egui::Visuals) -> [f32; 4] {
        visuals.panel_fill.to_normalized_gamma_f32()
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        if self.screenshot.is_none() {
            eframe::set_value(storage, settings::STORAGE_KEY, &self.settings);
        }
    }
}

/// Environment variable choosing the renderer: `glow` (OpenGL) or `wgpu`.
pub const RENDERER_ENV: &str = "TLC_RENDERER";

/// OpenGL (glow) by default: on machines without a GPU, Mesa's llvmpipe draws this app's many
/// thin lines much faster through OpenGL than through Vulkan (lavapipe).
fn renderer_from_env() -> eframe::Renderer {
    match std::env::var(RENDERER_ENV).ok().as_deref() {
        Some("wgpu") => eframe::Renderer::Wgpu,
        _ => eframe::Renderer::Glow,
    }
}

/// Heap left free at the top before glibc's malloc gives it back to the system (256 MiB).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const GL_HEAP_TRIM_THRESHOLD_BYTES: libc::c_int = 256 << 20;

/// Keeps the OpenGL driver's per-frame buffers mapped between frames.
///
/// Why: Mesa allocates through glibc's malloc (the app's own code uses mimalloc). On a CPU
/// renderer (llvmpipe) it allocates and frees tens of MB per frame; with glibc's default trim
/// threshold the top of the heap went back to the kernel after every frame and came back as
/// fresh zeroed pages on the next, and page faults took a large share of the frame (perf, idle
/// 2-core EPYC: median frame 40 -> 28 ms while panning). The cost is that the heap keeps its
/// peak size, up to the threshold.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_renderer_heap() {
    // SAFETY: mallopt only sets a malloc tuning parameter; it is called before the window and
    // its renderer threads exist, and any value of M_TRIM_THRESHOLD is valid.
    let ok = unsafe { libc::mallopt(libc::M_TRIM_THRESHOLD, GL_HEAP_TRIM_THRESHOLD_BYTES) };
    if ok != 1 {
        log::debug!("mallopt(M_TRIM_THRESHOLD) was refused; frames may be slower");
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_renderer_heap() {}

/// Environment variable: the window's inner size as `WIDTHxHEIGHT` in points (e.g. `1600x1000`),
/// for screenshots and frame timing at a given size; 1400 x 900 otherwise.
pub const WINDOW_SIZE_ENV: &str = "TLC_WINDOW_SIZE";

fn window_size_from_env() -> [f32; 2] {
    std::env::var(WINDOW_SIZE_ENV)
        .ok()
        .and_then(|v| {
            let (w, h) = v.split_once('x')?;
            let (w, h) = (w.trim().parse::<f32>().ok()?, h.trim().parse::<f32>().ok()?);
            (w >= 640.0 && h >= 400.0 && w.is_finite() && h.is_finite()).then_some([w, h])
        })
        .unwrap_or([1400.0, 900.0])
}

/// Open the window and run until it is closed.
pub fn run(launch: Launch) -> anyhow::Result<()> {
    keep_renderer_heap();
    let screenshot = std::env::var_os(SCREENSHOT_ENV).map(PathBuf::from);
    let result: Arc<Mutex<Option<Result<(), String>>>> = Arc::new(Mutex::new(None));
    let viewport = egui::ViewportBuilder::default()
        .with_title("TLC Explorer")
        .with_inner_size(window_size_from_env())
        .with_min_inner_size([640.0, 400.0])
        .with_drag_and_drop(true);
    let options = eframe::NativeOptions {
        viewport,
        persist_window: screenshot.is_none(),
        renderer: renderer_from_env(),
        // egui's dithering spreads gradients over 8-bit levels; the ECG view has flat colours
        // only, and on a CPU renderer the per-pixel noise was a fifth of the frame.
        dithering: false,
        ..Default::default()
    };
    let result_for_app = result.clone();
    let shot = screenshot.clone();
    eframe::run_native(
        "TLC Explorer",
        options,
        Box::new(move |cc| {
            // Screenshot runs start from defaults so the picture does not depend on who ran the
            // app before.
            let settings = match (&shot, cc.storage) {
                (None, Some(storage)) => {
                    eframe::get_value(storage, settings::STORAGE_KEY).unwrap_or_default()
                }
                _ => {
                    // eframe has already loaded egui's memory (panel widths, scroll positions)
                    // from the user's storage: a screenshot starts from egui's defaults too.
                    cc.egui_ctx.memory_mut(|m| *m = egui::Memory::default());
                    Settings::default()
                }
            };
            let mut app = TlcApp::new(Some(&cc.egui_ctx), settings, launch)?;
            app.panels_on_cleared_window = true;
            if let Some(path) = shot {
                app.screenshot = Some(ScreenshotState {
                    path,
                    started: Instant::now(),
                    idle_frames: 0,
                    frame_starts: Vec::new(),
                    requested: false,
                    result: result_for_app,
                });
            }
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| anyhow::anyhow!("the window could not be opened: {e}"))?;
    if let Some(path) = screenshot {
        let outcome = result.lock().ok().and_then(|mut r| r.take());
        match outcome {
            Some(Ok(())) => eprintln!("screenshot saved to {}", path.display()),
            Some(Err(e)) => anyhow::bail!("screenshot failed: {e}"),
            None => anyhow::bail!("the window closed before the screenshot was taken"),
        }
    }
    Ok(())
}

/// What the analysis of the record on screen could not do (e.g. a model that needs lead I on a
/// two-lead Holter record), said above its ECG rather than in a window over it.
/// Then what the reader says of the record: leads computed rather than recorded, leads whose
/// amplitude is not known, and its notes (what it left out or changed).
fn record_notes_ui(ui: &mut Ui, notes: &[String], meta: &crate::record::EcgMeta) {
    for note in notes {
        ui.add(
            egui::Label::new(RichText::new(format!("Problem {note}")).color(colors::WARNING))
                .wrap(),
        );
    }
    let names = |leads: &[crate::record::LeadName]| {
        leads
            .iter()
            .map(|l| l.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !meta.derived_leads.is_empty() {
        ui.add(
            egui::Label::new(format!(
                "Derived leads (computed by the reader from the stored ones, not recorded): {}",
                names(&meta.derived_leads)
            ))
            .wrap(),
        );
    }
    if !meta.uncalibrated_leads.is_empty() {
        ui.add(
            egui::Label::new(
                RichText::new(format!(
                    "Uncalibrated leads (stored without a gain: shape right, amplitude in mV unknown): {}",
                    names(&meta.uncalibrated_leads)
                ))
                .color(colors::WARNING),
            )
            .wrap(),
        );
    }
    for note in &meta.reader_notes {
        ui.add(egui::Label::new(RichText::new(format!("Note: {note}")).italics()).wrap());
    }
}
