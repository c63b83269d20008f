//! Model menu, the fit window and the cohort view (each window a struct owning its jobs and
//! results, drawn from what the app hands it and answering with what the user asked for).

use egui::{Align2, Color32, FontId, RichText, Sense, Ui, pos2, vec2};

use crate::io::Dataset;
use crate::model::LoadedModel;
use crate::progress::Progress;

use super::jobs::{DatasetExplained, Evaluated};
use super::settings::{EvalChoice, FitChoice};
use super::worker::JobStatus;
use super::{JobError, JobId, RecordSummary, TlcApp, browser, colors};

/// A bundled model as the Model menu lists it.
#[derive(Debug, Clone)]
pub(super) struct BundledModel {
    pub path: std::path::PathBuf,
    pub name: String,
    /// Task, outputs, input and description from its config (or why it cannot be read).
    pub summary: String,
}

impl BundledModel {
    fn list() -> Vec<BundledModel> {
        crate::paths::bundled_models()
            .into_iter()
            .map(|path| {
                let name = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let summary = match crate::model::read_config(&crate::model::config_path_for(&path))
                {
                    Ok(c) => format!(
                        "{} of {} from {} x {} samples at {} Hz\n\n{}",
                        match c.task {
                            crate::model::Task::Regression => "Regression",
                            crate::model::Task::Multilabel => "Multi-label classification",
                            crate::model::Task::Multiclass => "Classification",
                        },
                        c.class_names.join(", "),
                        c.input_channels,
                        c.input_length,
                        c.sampling_rate,
                        c.description.as_deref().unwrap_or("")
                    ),
                    Err(e) => crate::error_text::describe(&e),
                };
                BundledModel {
                    path,
                    name,
                    summary,
                }
            })
            .collect()
    }
}

impl TlcApp {
    /// The bundled models, one click each (with the explainer beside it), and the default
    /// choice that follows the data set (synthetic model for sample data, real otherwise).
    fn bundled_models_ui(&mut self, ui: &mut Ui) {
        ui.menu_button("Bundled models", |ui| {
            let chosen = self.settings.model_path.clone();
            if ui
                .radio(chosen.is_none(), "Default for the data set")
                .on_hover_text(
                    "The synthetic model for sample_data/, the real-ECG classifier for any \
                     other data",
                )
                .clicked()
                && chosen.is_some()
            {
                self.settings.model_path = None;
                self.settings.explainer_path = None;
                self.load_models();
                ui.close();
            }
            let bundled = self
                .bundled_models
                .get_or_insert_with(BundledModel::list)
                .clone();
            for BundledModel {
                path: model,
                name,
                summary,
            } in bundled
            {
                let selected = chosen.as_deref() == Some(model.as_path());
                if ui.radio(selected, name).on_hover_text(summary).clicked() && !selected {
                    self.settings.model_path = Some(model);
                    self.settings.explainer_path = None;
                    self.load_models();
                    ui.close();
                }
            }
        });
    }

    pub(super) fn model_menu_ui(&mut self, ui: &mut Ui) {
        ui.menu_button("Model", |ui| {
            let model_name = self.analysis.model.as_ref().map(|m| m.name.clone());
            let explainer_name = self.analysis.explainer.as_ref().map(|e| e.name.clone());
            ui.label(format!(
                "Model: {}",
                model_name.as_deref().unwrap_or("none")
            ));
            ui.label(format!(
                "Explainer: {}",
                explainer_name.as_deref().unwrap_or("none")
            ));
            ui.separator();
            self.bundled_models_ui(ui);
            if ui.button("Open model...").clicked() {
                let start = self
                    .settings
                    .model_path
                    .clone()
                    .unwrap_or_else(crate::paths::default_model);
                self.ask_for_file(super::FilePurpose::OpenModel, &start, None);
            }
            if ui
                .add_enabled(model_name.is_some(), egui::Button::new("Open explainer..."))
                .clicked()
            {
                let start = self
                    .settings
                    .explainer_path
                    .clone()
                    .or_else(|| self.settings.model_path.clone())
                    .unwrap_or_else(crate::paths::default_model);
                self.ask_for_file(super::FilePurpose::OpenExplainer, &start, None);
            }
            if ui
                .add_enabled(
                    self.unsaved_explainer,
                    egui::Button::new("Save explainer..."),
                )
                .clicked()
            {
                self.save_explainer_dialog();
            }
            ui.separator();
            let can_fit = model_name.is_some() && self.dataset.is_some();
            if ui
                .add_enabled(can_fit, egui::Button::new("Fit explainer..."))
                .clicked()
            {
                self.fit.open = true;
            }
            let can_explain =
                self.has_explainer() && self.dataset.is_some() && self.cohort.explain_job.is_none();
            if ui
                .add_enabled(can_explain, egui::Button::new("Explain all records"))
                .clicked()
            {
                self.start_explain_dataset();
            }
            let can_evaluate = can_explain && self.cohort.evaluation.job.is_none();
            if ui
                .add_enabled(
                    can_evaluate,
                    egui::Button::new(format!(
                        "Evaluate surrogate ({}-fold)",
                        self.settings.eval.folds
                    )),
                )
                .clicked()
            {
                self.start_evaluation();
            }
            if ui
                .add_enabled(
                    self.cohort.explained.is_some()
                        || self.cohort.evaluation.result.is_some()
                        || self.cohort.evaluation.job.is_some(),
                    egui::Button::new("Cohort view"),
                )
                .clicked()
            {
                self.cohort.open = true;
            }
        });
    }

    pub(super) fn save_explainer_dialog(&mut self) {
        let Some(explainer) = self.analysis.explainer.clone() else {
            return;
        };
        let start = self
            .settings
            .model_path
            .clone()
            .or_else(|| self.dataset_path.clone())
            .unwrap_or_else(|| std::env::current_dir().unwrap_or_default());
        self.ask_for_file(
            super::FilePurpose::SaveExplainer,
            &start,
            Some(format!("{}.explainer.safetensors", explainer.name)),
        );
    }

    pub(super) fn save_explainer_to(&mut self, path: &std::path::Path) {
        let Some(explainer) = self.analysis.explainer.clone() else {
            return;
        };
        match explainer.save(path, false) {
            Ok(()) => {
                self.unsaved_explainer = false;
                self.settings.explainer_path = Some(path.to_path_buf());
            }
            Err(err) => self.problems.errors.push(JobError {
                task: "Saving the explainer".into(),
                cause: crate::error_text::describe(&err),
                cancelled: false,
            }),
        }
    }

    /// The fit window; its Start and Cancel act on the app.
    pub(super) fn fit_window_ui(&mut self, ctx: &egui::Context) {
        let progress = self
            .fit
            .job
            .and_then(|id| self.worker.jobs.iter().find(|j| j.id == id))
            .and_then(|j| j.progress.clone());
        let inputs = FitInputs {
            model: self.analysis.model.as_deref(),
            choice: &mut self.settings.fit,
            progress,
            has_data: self.dataset.is_some(),
            unsaved_explainer: self.unsaved_explainer,
        };
        match self.fit.window_ui(ctx, inputs) {
            Some(FitAction::Start) => {
                self.start_fit();
            }
            Some(FitAction::Cancel) => self.cancel_fit(),
            None => {}
        }
    }

    /// The cohort window; its buttons and links act on the app.
    pub(super) fn cohort_window_ui(&mut self, ctx: &egui::Context) {
        let k = self
            .cohort
            .explained
            .as_ref()
            .and_then(|e| e.results.first())
            .map(|r| r.proportions.len())
            .unwrap_or(0);
        let cluster_names = self.cluster_names_for_k(k);
        let can_evaluate = self.has_explainer() && self.dataset.is_some();
        let inputs = CohortInputs {
            eval: &mut self.settings.eval,
            can_evaluate,
            eval_status: self
                .cohort
                .evaluation
                .job
                .and_then(|id| self.worker.jobs.iter().find(|j| j.id == id)),
            dataset: self.dataset.as_deref(),
            model: self.analysis.model.as_deref(),
            cluster_names,
        };
        match self.cohort.window_ui(ctx, inputs) {
            Some(CohortAction::Open(i)) => self.select_record(i),
            Some(CohortAction::StartEvaluation) => {
                self.start_evaluation();
            }
            Some(CohortAction::CancelEvaluation) => self.cancel_evaluation(),
            None => {}
        }
    }

    /// Cluster names for `k` clusters (from the explainer's descriptions when present).
    pub(super) fn cluster_names_for_k(&self, k: usize) -> Vec<String> {
        let descriptions = self
            .analysis
            .explainer
            .as_ref()
            .map(|e| e.cluster_descriptions.as_slice())
            .unwrap_or(&[]);
        crate::tlc::cluster_names(descriptions, k)
    }
}

/// What the fit window needs from the app this frame.
struct FitInputs<'a> {
    model: Option<&'a LoadedModel>,
    choice: &'a mut FitChoice,
    /// Progress of the running fit.
    progress: Option<Progress>,
    has_data: bool,
    unsaved_explainer: bool,
}

/// What the user asked of the fit window.
enum FitAction {
    Start,
    Cancel,
}

/// The fit window: blocks, K, alignment, seed, corpus size; progress and cancel while running.
/// The fit's result (an explainer) goes into the app's analysis context.
#[derive(Default)]
pub struct FitWindow {
    pub open: bool,
    /// The running fit.
    pub job: Option<JobId>,
}

impl FitWindow {
    fn window_ui(&mut self, ctx: &egui::Context, inputs: FitInputs<'_>) -> Option<FitAction> {
        if !self.open {
            return None;
        }
        let mut open = true;
        let mut action = None;
        egui::Window::new("Fit explainer")
            .default_pos(ctx.content_rect().left_top() + egui::vec2(320.0, 90.0))
            .open(&mut open)
            .resizable(false)
            .show(ctx, |ui| action = self.fit_ui(ui, inputs));
        self.open = open;
        action
    }

    fn fit_ui(&self, ui: &mut Ui, inputs: FitInputs<'_>) -> Option<FitAction> {
        let Some(model) = inputs.model else {
            ui.label("Open a model first.");
            return None;
        };
        fit_choice_ui(ui, inputs.choice, model);
        ui.separator();
        let mut action = None;
        if self.job.is_some() {
            let fraction = inputs
                .progress
                .as_ref()
                .and_then(|p| p.fraction())
                .unwrap_or(0.0);
            let text = inputs
                .progress
                .map(|p| format!("{} {}/{}", p.stage, p.done, p.total))
                .unwrap_or_else(|| "waiting".into());
            ui.add(egui::ProgressBar::new(fraction).text(text));
            if ui.button("Cancel fit").clicked() {
                action = Some(FitAction::Cancel);
            }
        } else if ui
            .add_enabled(inputs.has_data, egui::Button::new("Fit"))
            .clicked()
        {
            action = Some(FitAction::Start);
        }
        if inputs.unsaved_explainer {
            ui.label(
                RichText::new(
                    "The fitted explainer is in use but not saved (Model > Save explainer).",
                )
                .weak(),
            );
        }
        action
    }

    /// The fit finished (its explainer is installed by the app).
    pub fn take_result(&mut self) {
        self.job = None;
    }

    /// A job that failed or was cancelled.
    pub fn forget(&mut self, id: JobId) {
        if self.job == Some(id) {
            self.job = None;
        }
    }
}

/// Blocks, K, alignment, seed and corpus size of a fit.
fn fit_choice_ui(ui: &mut Ui, choice: &mut FitChoice, model: &LoadedModel) {
    let n_blocks = model.config.blocks_dim.len();
    ui.label("Blocks (concatenated features; none ticked = the last three):");
    ui.horizontal_wrapped(|ui| {
        for b in 0..n_blocks {
            let (ch, len) = model.config.blocks_dim[b];
            let mut on = choice.blocks.contains(&b);
            if ui
                .checkbox(&mut on, format!("block {b} ({ch} x {len})"))
                .changed()
            {
                if on {
                    choice.blocks.push(b);
                    choice.blocks.sort_unstable();
                } else {
                    choice.blocks.retain(|&x| x != b);
                }
            }
        }
    });
    egui::Grid::new("fit_grid").num_columns(2).show(ui, |ui| {
        ui.label("K (clusters)");
        ui.add(egui::DragValue::new(&mut choice.k).range(2..=64))
            .on_hover_text("Number of clusters");
        ui.end_row();
        ui.label("Alignment");
        ui.horizontal(|ui| {
            ui.radio_value(&mut choice.linear_alignment, false, "nearest (paper)");
            ui.radio_value(&mut choice.linear_alignment, true, "linear");
        });
        ui.end_row();
        ui.label("Seed");
        ui.add(egui::DragValue::new(&mut choice.seed))
            .on_hover_text("Random seed");
        ui.end_row();
        ui.label("Records (0 = all)");
        ui.add(egui::DragValue::new(&mut choice.max_records).range(0..=1_000_000))
            .on_hover_text("Records used for fitting");
        ui.end_row();
        ui.label("Time-step budget (0 = all)");
        ui.add(
            egui::DragValue::new(&mut choice.max_time_steps)
                .range(0..=10_000_000)
                .speed(100),
        )
        .on_hover_text("Time steps sampled for k-means");
        ui.end_row();
    });
}

/// What the cohort window needs from the app this frame.
struct CohortInputs<'a> {
    eval: &'a mut EvalChoice,
    /// A model, an explainer and a data set are there.
    can_evaluate: bool,
    /// The running evaluation as the worker sees it.
    eval_status: Option<&'a JobStatus>,
    dataset: Option<&'a dyn Dataset>,
    model: Option<&'a LoadedModel>,
    /// Names of the explained data set's clusters.
    cluster_names: Vec<String>,
}

/// What the user asked of the cohort window.
enum CohortAction {
    /// Open this record of the data set.
    Open(usize),
    StartEvaluation,
    CancelEvaluation,
}

/// The surrogate evaluation shown in the cohort window, and its running job.
#[derive(Default)]
pub struct EvaluationView {
    pub job: Option<JobId>,
    pub result: Option<Box<Evaluated>>,
}

impl EvaluationView {
    pub fn take_result(&mut self, evaluated: Box<Evaluated>) {
        self.job = None;
        self.result = Some(evaluated);
    }
}

/// The cohort view: mean cluster proportions per predicted and per true label, entropy per
/// class, and records where the model and the label disagree; the surrogate evaluation.
#[derive(Default)]
pub struct CohortWindow {
    pub open: bool,
    /// Explaining every record of the data set (browser columns, proportions here).
    pub explain_job: Option<JobId>,
    pub explained: Option<DatasetExplained>,
    pub evaluation: EvaluationView,
}

impl CohortWindow {
    fn window_ui(&mut self, ctx: &egui::Context, inputs: CohortInputs<'_>) -> Option<CohortAction> {
        if !self.open {
            return None;
        }
        let mut open = true;
        let mut action = None;
        egui::Window::new("Cohort")
            .default_pos(ctx.content_rect().left_top() + egui::vec2(320.0, 90.0))
            .open(&mut open)
            .default_size([720.0, 560.0])
            .show(ctx, |ui| {
                action = self.cohort_ui(ui, inputs);
            });
        self.open = open;
        action
    }

    fn cohort_ui(&self, ui: &mut Ui, inputs: CohortInputs<'_>) -> Option<CohortAction> {
        let mut action = None;
        egui::ScrollArea::vertical().show(ui, |ui| {
            action = self.evaluation_ui(ui, inputs.eval, inputs.can_evaluate, inputs.eval_status);
            ui.separator();
            if let (Some(results), Some(ds)) = (&self.explained, inputs.dataset)
                && let Some(i) =
                    proportions_ui(ui, results, ds, inputs.model, &inputs.cluster_names)
            {
                action = Some(CohortAction::Open(i));
            }
        });
        action
    }

    /// Surrogate evaluation: start/cancel, the table, the K sweep and the label-quality audit.
    fn evaluation_ui(
        &self,
        ui: &mut Ui,
        eval: &mut EvalChoice,
        can_start: bool,
        status: Option<&JobStatus>,
    ) -> Option<CohortAction> {
        ui.heading("Surrogate evaluation");
        let running = self.evaluation.job.is_some();
        let mut action = evaluation_controls_ui(ui, eval, can_start, running);
        if let Some(job) = status {
            match &job.progress {
                Some(p) if p.total > 0 => {
                    ui.add(
                        egui::ProgressBar::new(p.fraction().unwrap_or(0.0))
                            .text(format!("{} {}/{}", p.stage, p.done, p.total)),
                    );
                }
                _ => {
                    ui.label("Evaluating...");
                }
            }
        }
        let Some(ev) = &self.evaluation.result else {
            if !running {
                ui.label(
                    RichText::new(
                        "Cross-validates a random forest on the cluster proportions against the \
                         model's outputs (clusters refitted on each fold's training records).",
                    )
                    .weak(),
                );
            }
            return action;
        };
        ui.label(RichText::new(ev.source.describe()).weak());
        surrogate_table_ui(ui, &ev.report);
        if let Some(sweep) = &ev.sweep {
            k_sweep_ui(ui, sweep);
        } else if matches!(
            ev.source,
            crate::surrogate::prepare::CnnSource::FoldModels { .. }
        ) {
            ui.label(
                RichText::new("No K sweep here: each fold has its own fold model's clustering.")
                    .weak(),
            );
        }
        if let Some(i) = audit_ui(ui, &ev.audit, &ev.index_of) {
            action = Some(CohortAction::Open(i));
        }
        action
    }

    pub fn take_explained(&mut self, results: DatasetExplained) {
        self.explain_job = None;
        self.explained = Some(results);
    }

    /// A job that failed or was cancelled.
    pub fn forget(&mut self, id: JobId) {
        if self.explain_job == Some(id) {
            self.explain_job = None;
        }
        if self.evaluation.job == Some(id) {
            self.evaluation.job = None;
        }
    }
}

/// Folds, K sweep, and the start or cancel button of the surrogate evaluation.
fn evaluation_controls_ui(
    ui: &mut Ui,
    eval: &mut EvalChoice,
    can_start: bool,
    running: bool,
) -> Option<CohortAction> {
    let mut action = None;
    ui.horizontal(|ui| {
        let label = ui.label("Folds");
        ui.add_enabled(
            !running,
            egui::DragValue::new(&mut eval.folds).range(2..=20),
        )
        .labelled_by(label.id)
        .on_hover_text("Cross-validation folds");
        ui.add_enabled(
            !running,
            egui::Checkbox::new(&mut eval.k_sweep, "K sweep (4, 6, 8, 12, 16)"),
        );
        if !running {
            if ui
                .add_enabled(
                    can_start,
                    egui::Button::new(format!("Evaluate surrogate ({}-fold)", eval.folds)),
                )
                .clicked()
            {
                action = Some(CohortAction::StartEvaluation);
            }
        } else if ui.button("Cancel evaluation").clicked() {
            action = Some(CohortAction::CancelEvaluation);
        }
    });
    action
}

/// A mean and SD over folds as a percentage, or "undefined".
fn pct(v: &Option<crate::surrogate::MeanSd>) -> String {
    v.map(|m| m.percent()).unwrap_or_else(|| "undefined".into())
}

/// The surrogate table: fidelity, accuracy and AUROC (or MAE and R2) of the CNN and the forest.
fn surrogate_table_ui(ui: &mut Ui, r: &crate::surrogate::EvaluationReport) {
    ui.label(format!(
        "{} records, {} folds, K = {}, {} trees",
        r.n_records,
        r.folds.len(),
        r.k,
        r.settings.forest.n_trees
    ));
    let num = |v: &Option<crate::surrogate::MeanSd>| {
        v.map(|m| format!("{:.3} +- {:.3}", m.mean, m.sd))
            .unwrap_or_else(|| "undefined".into())
    };
    let s = &r.summary;
    let rows: Vec<(&str, String, String)> = if r.task == crate::model::config::Task::Regression {
        vec![
            ("MAE", num(&s.cnn_mae), num(&s.forest_mae)),
            ("R2", num(&s.cnn_r2), num(&s.forest_r2)),
        ]
    } else {
        vec![
            ("Fidelity (%)", String::new(), pct(&s.fidelity)),
            (
                "Accuracy (%)",
                pct(&s.cnn_accuracy),
                pct(&s.forest_accuracy),
            ),
            ("Macro AUROC (%)", pct(&s.cnn_auroc), pct(&s.forest_auroc)),
        ]
    };
    egui::Grid::new("surrogate_table")
        .num_columns(3)
        .striped(true)
        .show(ui, |ui| {
            ui.label("");
            ui.label(RichText::new("CNN").strong());
            ui.label(RichText::new("forest").strong());
            ui.end_row();
            for (name, cnn, forest) in &rows {
                ui.label(*name);
                ui.label(cnn);
                ui.label(forest);
                ui.end_row();
            }
        });
    ui.label(RichText::new("mean +- SD over folds; accuracy and AUROC against the labels.").weak());
}

/// Fidelity against K.
fn k_sweep_ui(ui: &mut Ui, sweep: &crate::surrogate::KSweep) {
    ui.heading("K sweep");
    let points: Vec<[f64; 2]> = sweep
        .points
        .iter()
        .filter_map(|p| p.fidelity.map(|m| [p.k as f64, 100.0 * m.mean]))
        .collect();
    egui_plot::Plot::new("k_sweep")
        .height(160.0)
        .x_axis_label("K")
        .y_axis_label("fidelity (%)")
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .show(ui, |plot| {
            plot.line(egui_plot::Line::new(
                "fidelity",
                egui_plot::PlotPoints::from(points.clone()),
            ));
            plot.points(
                egui_plot::Points::new("fidelity", egui_plot::PlotPoints::from(points)).radius(3.0),
            );
        });
    for p in &sweep.points {
        ui.label(format!("K = {}: fidelity {}", p.k, pct(&p.fidelity)));
    }
}

/// The label-quality audit; returns the record whose link was clicked.
fn audit_ui(
    ui: &mut Ui,
    audit: &[crate::surrogate::AuditRow],
    index_of: &std::collections::HashMap<String, usize>,
) -> Option<usize> {
    let mut jump = None;
    ui.heading("Label-quality audit");
    ui.label(
        RichText::new(format!(
            "{} disagreements of label, CNN and out-of-fold forest, ranked by CNN confidence x \
             (1 - mean entropy); click to open the record.",
            audit.len()
        ))
        .weak(),
    );
    egui::Grid::new("surrogate_audit")
        .num_columns(7)
        .striped(true)
        .show(ui, |ui| {
            for h in [
                "record",
                "kind",
                "label",
                "CNN",
                "forest",
                "confidence",
                "mean entropy",
            ] {
                ui.label(RichText::new(h).strong());
            }
            ui.end_row();
            for row in audit.iter().take(200) {
                let index = index_of.get(&row.id).copied();
                if ui
                    .add_enabled(index.is_some(), egui::Link::new(&row.id))
                    .clicked()
                {
                    jump = index;
                }
                ui.label(format!("{:?}", row.kind));
                let output = if row.output == "class" {
                    String::new()
                } else {
                    format!("{}: ", row.output)
                };
                ui.label(format!("{output}{}", row.label.as_deref().unwrap_or("-")));
                ui.label(&row.cnn);
                ui.label(&row.forest);
                ui.label(format!("{:.3}", row.cnn_confidence));
                ui.label(format!("{:.3}", row.mean_entropy));
                ui.end_row();
            }
        });
    jump
}

/// Mean proportions per label, entropy per class and model-vs-label disagreements of the
/// explained data set; returns the record whose link was clicked.
fn proportions_ui(
    ui: &mut Ui,
    results: &DatasetExplained,
    ds: &dyn Dataset,
    model: Option<&LoadedModel>,
    names: &[String],
) -> Option<usize> {
    let mut jump = None;
    ui.scope(|ui| {
        ui.label(format!(
            "{} records explained{}",
            results.results.len(),
            if results.cancelled {
                " (cancelled early)"
            } else {
                ""
            }
        ));
        let stats = match cohort_stats(model, ds, results) {
            Ok(stats) => stats,
            Err(err) => {
                ui.label(format!("Cohort statistics unavailable: {err:#}"));
                return;
            }
        };
        class_statistics_ui(ui, &stats, names);
        jump = disagreements_ui(ui, results, ds);
    });
    jump
}

/// Mean proportions by predicted and by true label, mean entropy by predicted label.
fn class_statistics_ui(ui: &mut Ui, stats: &crate::surrogate::CohortStats, names: &[String]) {
    let pred: Vec<(Option<Vec<f32>>, usize)> = stats
        .mean_proportions_by_predicted
        .iter()
        .cloned()
        .zip(stats.n_predicted.iter().copied())
        .collect();
    ui.heading("Mean cluster proportions by predicted label");
    heatmap_ui(ui, &stats.output_names, names, &pred);
    if let (Some(by_true), Some(n_true)) = (&stats.mean_proportions_by_true, &stats.n_true) {
        let truth: Vec<(Option<Vec<f32>>, usize)> = by_true
            .iter()
            .cloned()
            .zip(n_true.iter().copied())
            .collect();
        ui.heading("Mean cluster proportions by true label");
        heatmap_ui(ui, &stats.output_names, names, &truth);
    }
    ui.heading("Mean entropy by predicted label");
    egui::Grid::new("entropy_by_class")
        .num_columns(3)
        .striped(true)
        .show(ui, |ui| {
            for ((c, e), n) in stats
                .output_names
                .iter()
                .zip(&stats.mean_entropy_by_predicted)
                .zip(&stats.n_predicted)
            {
                ui.label(c);
                ui.label(e.map(|e| format!("{e:.3}")).unwrap_or_else(|| "-".into()));
                ui.label(format!("n = {n}"));
                ui.end_row();
            }
        });
}

/// Records where the model and the label disagree, highest mean entropy first.
fn disagreements_ui(ui: &mut Ui, results: &DatasetExplained, ds: &dyn Dataset) -> Option<usize> {
    let mut jump = None;
    ui.heading("Model and label disagree");
    ui.label(RichText::new("Highest mean entropy first; click to open the record.").weak());
    let mut rows: Vec<(usize, String, String, f32)> = results
        .results
        .iter()
        .filter_map(|r| {
            let e = ds.entry(r.index)?;
            if e.labels.is_empty()
                || browser::disagrees(
                    &e.labels,
                    Some(&RecordSummary {
                        predicted: r.predicted.clone(),
                        mean_entropy: 0.0,
                    }),
                )
            {
                Some((
                    r.index,
                    e.labels.join(", "),
                    r.predicted.join(", "),
                    r.mean_entropy,
                ))
            } else {
                None
            }
        })
        .collect();
    rows.sort_by(|a, b| b.3.total_cmp(&a.3));
    egui::Grid::new("audit")
        .num_columns(4)
        .striped(true)
        .show(ui, |ui| {
            for h in ["record", "label", "model", "entropy"] {
                ui.label(RichText::new(h).strong());
            }
            ui.end_row();
            for (index, label, predicted, ent) in rows.iter().take(200) {
                let id = ds.entry(*index).map(|e| e.id.clone()).unwrap_or_default();
                if ui.link(&id).clicked() {
                    jump = Some(*index);
                }
                ui.label(label);
                ui.label(predicted);
                ui.label(format!("{ent:.3}"));
                ui.end_row();
            }
        });
    jump
}

/// A heatmap: one row per class (with its count), one column per cluster, cells shaded by the
/// mean proportion and labelled with it.
fn heatmap_ui(ui: &mut Ui, rows: &[String], cols: &[String], values: &[(Option<Vec<f32>>, usize)]) {
    let cell = vec2(58.0, 22.0);
    let label_w = 110.0;
    let size = vec2(
        label_w + cell.x * cols.len() as f32,
        cell.y * (rows.len() + 1) as f32,
    );
    let (rect, _) = ui.allocate_exact_size(size, Sense::hover());
    let painter = ui.painter_at(rect);
    let font = FontId::proportional(12.0);
    let text_color = ui.visuals().text_color();
    let max = values
        .iter()
        .filter_map(|(v, _)| v.as_ref())
        .flatten()
        .copied()
        .fold(0.0f32, f32::max)
        .max(1e-6);
    for (c, name) in cols.iter().enumerate() {
        let r = egui::Rect::from_min_size(
            pos2(rect.left() + label_w + c as f32 * cell.x, rect.top()),
            cell,
        );
        painter.rect_filled(r.shrink(1.0), 2.0, colors::cluster(c));
        painter.text(
            r.center(),
            Align2::CENTER_CENTER,
            name,
            font.clone(),
            colors::text_on(colors::cluster(c)),
        );
    }
    for (i, (row, (vals, n))) in rows.iter().zip(values).enumerate() {
        let y = rect.top() + cell.y * (i + 1) as f32;
        painter.text(
            pos2(rect.left() + 2.0, y + cell.y / 2.0),
            Align2::LEFT_CENTER,
            format!("{row} (n={n})"),
            font.clone(),
            text_color,
        );
        for c in 0..cols.len() {
            let r =
                egui::Rect::from_min_size(pos2(rect.left() + label_w + c as f32 * cell.x, y), cell);
            match vals.as_ref().and_then(|v| v.get(c)) {
                Some(&v) => {
                    let t = v / max;
                    painter.rect_filled(r.shrink(1.0), 0.0, colors::heat(0.15 + 0.85 * t));
                    let fg = if t > 0.55 {
                        Color32::BLACK
                    } else {
                        Color32::WHITE
                    };
                    painter.text(
                        r.center(),
                        Align2::CENTER_CENTER,
                        format!("{v:.2}"),
                        font.clone(),
                        fg,
                    );
                }
                None => {
                    painter.text(
                        r.center(),
                        Align2::CENTER_CENTER,
                        "-",
                        font.clone(),
                        text_color,
                    );
                }
            }
        }
    }
}

/// Cohort statistics (`crate::surrogate::cohort_stats`) of an explained data set: the model's
/// outputs per record, true labels as indicators of the model's output names.
fn cohort_stats(
    model: Option<&crate::model::LoadedModel>,
    ds: &dyn crate::io::Dataset,
    results: &DatasetExplained,
) -> anyhow::Result<crate::surrogate::CohortStats> {
    use crate::surrogate::evaluate::{CnnOutputs, Truth};
    let model = model.ok_or_else(|| anyhow::anyhow!("no model loaded"))?;
    let n = results.results.len();
    let k = results
        .results
        .first()
        .map(|r| r.proportions.len())
        .unwrap_or(0);
    let names = model.config.class_names.clone();
    let n_out = names.len();
    let mut proportions = ndarray::Array2::<f32>::zeros((n, k));
    let mut raw = ndarray::Array2::<f32>::zeros((n, n_out));
    let mut truth = ndarray::Array2::<bool>::from_elem((n, n_out), false);
    let mut labelled = false;
    for (i, r) in results.results.iter().enumerate() {
        for (j, p) in r.proportions.iter().take(k).enumerate() {
            proportions[[i, j]] = *p;
        }
        for (j, v) in r.raw.iter().take(n_out).enumerate() {
            raw[[i, j]] = *v;
        }
        if let Some(e) = ds.entry(r.index) {
            labelled |= !e.labels.is_empty();
            for (j, name) in names.iter().enumerate() {
                truth[[i, j]] = e.labels.contains(name);
            }
        }
    }
    let entropy: Vec<f32> = results.results.iter().map(|r| r.mean_entropy).collect();
    let cnn = CnnOutputs::from_raw(model.config.task, names, raw);
    // Only multi-label truth is built from the index's labels; other tasks get none.
    let truth = (labelled && model.config.task == crate::model::Task::Multilabel)
        .then_some(Truth::MultiLabel(truth));
    Ok(crate::surrogate::cohort_stats(
        proportions.view(),
        &entropy,
        &cnn,
        truth.as_ref(),
    )?)
}
