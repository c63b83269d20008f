//! Model menu, the fit window and the cohort view.

use egui::{Align2, Color32, FontId, RichText, Sense, Ui, pos2, vec2};

use super::{JobError, TlcApp, colors};

impl TlcApp {
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
            if ui.button("Open model...").clicked()
                && let Some(path) = rfd::FileDialog::new()
                    .add_filter("safetensors", &["safetensors"])
                    .pick_file()
            {
                self.settings.model_path = Some(path);
                self.settings.explainer_path = None;
                self.load_models();
            }
            if ui
                .add_enabled(model_name.is_some(), egui::Button::new("Open explainer..."))
                .clicked()
                && let Some(path) = rfd::FileDialog::new().pick_file()
            {
                self.settings.explainer_path = Some(path);
                self.load_models();
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
                self.show_fit = true;
            }
            let can_explain =
                self.has_explainer() && self.dataset.is_some() && self.dataset_job.is_none();
            if ui
                .add_enabled(can_explain, egui::Button::new("Explain all records"))
                .clicked()
            {
                self.start_explain_dataset();
            }
            let can_evaluate = can_explain && self.eval_job.is_none();
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
                    self.dataset_results.is_some()
                        || self.evaluation.is_some()
                        || self.eval_job.is_some(),
                    egui::Button::new("Cohort view"),
                )
                .clicked()
            {
                self.show_cohort = true;
            }
        });
    }

    fn save_explainer_dialog(&mut self) {
        let Some(explainer) = self.analysis.explainer.clone() else {
            return;
        };
        let Some(path) = rfd::FileDialog::new()
            .set_file_name(format!("{}.explainer.safetensors", explainer.name))
            .save_file()
        else {
            return;
        };
        match explainer.save(&path, false) {
            Ok(()) => {
                self.unsaved_explainer = false;
                self.settings.explainer_path = Some(path);
            }
            Err(err) => self.errors.push(JobError {
                task: "Saving the explainer".into(),
                cause: err.to_string(),
                cancelled: false,
            }),
        }
    }

    /// The fit window: blocks, K, alignment, seed, corpus size; progress and cancel while running.
    pub(super) fn fit_window_ui(&mut self, ctx: &egui::Context) {
        if !self.show_fit {
            return;
        }
        let mut open = true;
        egui::Window::new("Fit explainer")
            .default_pos(ctx.content_rect().left_top() + egui::vec2(320.0, 90.0))
            .open(&mut open)
            .resizable(false)
            .show(ctx, |ui| self.fit_ui(ui));
        self.show_fit = open;
    }

    fn fit_ui(&mut self, ui: &mut Ui) {
        let Some(model) = self.analysis.model.clone() else {
            ui.label("Open a model first.");
            return;
        };
        let n_blocks = model.config.blocks_dim.len();
        let fit = &mut self.settings.fit;
        ui.label("Blocks (concatenated features; none ticked = the last three):");
        ui.horizontal_wrapped(|ui| {
            for b in 0..n_blocks {
                let (ch, len) = model.config.blocks_dim[b];
                let mut on = fit.blocks.contains(&b);
                if ui
                    .checkbox(&mut on, format!("block {b} ({ch} x {len})"))
                    .changed()
                {
                    if on {
                        fit.blocks.push(b);
                        fit.blocks.sort_unstable();
                    } else {
                        fit.blocks.retain(|&x| x != b);
                    }
                }
            }
        });
        egui::Grid::new("fit_grid").num_columns(2).show(ui, |ui| {
            ui.label("K (clusters)");
            ui.add(egui::DragValue::new(&mut fit.k).range(2..=64))
                .on_hover_text("Number of clusters");
            ui.end_row();
            ui.label("Alignment");
            ui.horizontal(|ui| {
                ui.radio_value(&mut fit.linear_alignment, false, "nearest (paper)");
                ui.radio_value(&mut fit.linear_alignment, true, "linear");
            });
            ui.end_row();
            ui.label("Seed");
            ui.add(egui::DragValue::new(&mut fit.seed))
                .on_hover_text("Random seed");
            ui.end_row();
            ui.label("Records (0 = all)");
            ui.add(egui::DragValue::new(&mut fit.max_records).range(0..=1_000_000))
                .on_hover_text("Records used for fitting");
            ui.end_row();
            ui.label("Time-step budget (0 = all)");
            ui.add(
                egui::DragValue::new(&mut fit.max_time_steps)
                    .range(0..=10_000_000)
                    .speed(100),
            )
            .on_hover_text("Time steps sampled for k-means");
            ui.end_row();
        });
        ui.separator();
        if self.fit_job.is_some() {
            let progress = self
                .fit_job
                .and_then(|id| self.worker.jobs.iter().find(|j| j.id == id))
                .and_then(|j| j.progress.clone());
            let fraction = progress
                .as_ref()
                .filter(|p| p.total > 0)
                .map(|p| p.done as f32 / p.total as f32)
                .unwrap_or(0.0);
            let text = progress
                .map(|p| format!("{} {}/{}", p.stage, p.done, p.total))
                .unwrap_or_else(|| "waiting".into());
            ui.add(egui::ProgressBar::new(fraction).text(text));
            if ui.button("Cancel fit").clicked() {
                self.cancel_fit();
            }
        } else if ui
            .add_enabled(self.dataset.is_some(), egui::Button::new("Fit"))
            .clicked()
        {
            self.start_fit();
        }
        if self.unsaved_explainer {
            ui.label(
                RichText::new(
                    "The fitted explainer is in use but not saved (Model > Save explainer).",
                )
                .weak(),
            );
        }
    }

    /// The cohort view: mean cluster proportions per predicted and per true label, entropy per
    /// class, and records where the model and the label disagree.
    pub(super) fn cohort_window_ui(&mut self, ctx: &egui::Context) {
        if !self.show_cohort {
            return;
        }
        let mut open = true;
        let mut jump = None;
        egui::Window::new("Cohort")
            .default_pos(ctx.content_rect().left_top() + egui::vec2(320.0, 90.0))
            .open(&mut open)
            .default_size([720.0, 560.0])
            .show(ctx, |ui| {
                jump = self.cohort_ui(ui);
            });
        self.show_cohort = open;
        if let Some(i) = jump {
            self.select_record(i);
        }
    }

    fn cohort_ui(&mut self, ui: &mut Ui) -> Option<usize> {
        let mut jump = None;
        egui::ScrollArea::vertical().show(ui, |ui| {
            jump = self.evaluation_ui(ui);
            ui.separator();
            if let Some(i) = self.proportions_ui(ui) {
                jump = Some(i);
            }
        });
        jump
    }

    /// Surrogate evaluation: start/cancel, the table, the K sweep and the label-quality audit.
    fn evaluation_ui(&mut self, ui: &mut Ui) -> Option<usize> {
        let mut jump = None;
        ui.heading("Surrogate evaluation");
        let can_start = self.has_explainer() && self.dataset.is_some();
        ui.horizontal(|ui| {
            let label = ui.label("Folds");
            ui.add_enabled(
                self.eval_job.is_none(),
                egui::DragValue::new(&mut self.settings.eval.folds).range(2..=20),
            )
            .labelled_by(label.id)
            .on_hover_text("Cross-validation folds");
            ui.add_enabled(
                self.eval_job.is_none(),
                egui::Checkbox::new(&mut self.settings.eval.k_sweep, "K sweep (4, 6, 8, 12, 16)"),
            );
            if self.eval_job.is_none() {
                if ui
                    .add_enabled(
                        can_start,
                        egui::Button::new(format!(
                            "Evaluate surrogate ({}-fold)",
                            self.settings.eval.folds
                        )),
                    )
                    .clicked()
                {
                    self.start_evaluation();
                }
            } else if ui.button("Cancel evaluation").clicked() {
                self.cancel_evaluation();
            }
        });
        if let Some(job) = self
            .eval_job
            .and_then(|id| self.worker.jobs.iter().find(|j| j.id == id))
        {
            match &job.progress {
                Some(p) if p.total > 0 => {
                    ui.add(
                        egui::ProgressBar::new(p.done as f32 / p.total as f32)
                            .text(format!("{} {}/{}", p.stage, p.done, p.total)),
                    );
                }
                _ => {
                    ui.label("Evaluating...");
                }
            }
        }
        let Some(ev) = &self.evaluation else {
            if self.eval_job.is_none() {
                ui.label(
                    RichText::new(
                        "Cross-validates a random forest on the cluster proportions against the \
                         model's outputs (clusters refitted on each fold's training records).",
                    )
                    .weak(),
                );
            }
            return None;
        };
        let r = &ev.report;
        ui.label(format!(
            "{} records, {} folds, K = {}, {} trees",
            r.n_records,
            r.folds.len(),
            r.k,
            r.settings.forest.n_trees
        ));
        let pct = |v: &Option<crate::surrogate::MeanSd>| {
            v.map(|m| m.percent()).unwrap_or_else(|| "undefined".into())
        };
        let num = |v: &Option<crate::surrogate::MeanSd>| {
            v.map(|m| format!("{:.3} +- {:.3}", m.mean, m.sd))
                .unwrap_or_else(|| "undefined".into())
        };
        let s = &r.summary;
        let rows: Vec<(&str, String, String)> = if r.task == crate::model::config::Task::Regression
        {
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
        ui.label(
            RichText::new("mean +- SD over folds; accuracy and AUROC against the labels.").weak(),
        );
        if let Some(sweep) = &ev.sweep {
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
                        egui_plot::Points::new("fidelity", egui_plot::PlotPoints::from(points))
                            .radius(3.0),
                    );
                });
            for p in &sweep.points {
                ui.label(format!("K = {}: fidelity {}", p.k, pct(&p.fidelity)));
            }
        }
        ui.heading("Label-quality audit");
        ui.label(
            RichText::new(format!(
                "{} disagreements of label, CNN and out-of-fold forest, ranked by CNN confidence x \
                 (1 - mean entropy); click to open the record.",
                ev.audit.len()
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
                for row in ev.audit.iter().take(200) {
                    let index = ev.index_of.get(&row.id).copied();
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
    /// explained data set.
    fn proportions_ui(&mut self, ui: &mut Ui) -> Option<usize> {
        let (Some(results), Some(ds)) = (&self.dataset_results, &self.dataset) else {
            return None;
        };
        let names = self.cluster_names_for_k(
            results
                .results
                .first()
                .map(|r| r.proportions.len())
                .unwrap_or(0),
        );
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
            let stats = match cohort_stats(self.analysis.model.as_deref(), ds.as_ref(), results) {
                Ok(stats) => stats,
                Err(err) => {
                    ui.label(format!("Cohort statistics unavailable: {err:#}"));
                    return;
                }
            };
            let pred: Vec<(Option<Vec<f32>>, usize)> = stats
                .mean_proportions_by_predicted
                .iter()
                .cloned()
                .zip(stats.n_predicted.iter().copied())
                .collect();
            ui.heading("Mean cluster proportions by predicted label");
            heatmap_ui(ui, &stats.output_names, &names, &pred);
            if let (Some(by_true), Some(n_true)) = (&stats.mean_proportions_by_true, &stats.n_true)
            {
                let truth: Vec<(Option<Vec<f32>>, usize)> = by_true
                    .iter()
                    .cloned()
                    .zip(n_true.iter().copied())
                    .collect();
                ui.heading("Mean cluster proportions by true label");
                heatmap_ui(ui, &stats.output_names, &names, &truth);
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
            ui.heading("Model and label disagree");
            ui.label(RichText::new("Highest mean entropy first; click to open the record.").weak());
            let mut rows: Vec<(usize, String, String, f32)> = results
                .results
                .iter()
                .filter_map(|r| {
                    let e = ds.entry(r.index)?;
                    if e.labels.is_empty()
                        || super::browser::disagrees(
                            &e.labels,
                            Some(&super::RecordSummary {
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
        });
        jump
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
            Color32::BLACK,
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
    results: &super::jobs::DatasetExplained,
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
