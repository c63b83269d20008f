//! The explanation panel: model outputs beside the true labels, cluster proportions, the segment
//! list and what each cluster stands for.

use egui::{Color32, RichText, Ui};
use egui_plot::{Bar, BarChart, Plot};

use crate::model::Task;
use crate::record::Ecg;
use crate::tlc::Explanation;

use super::colors;

/// Outputs (probabilities or the regression value) with the true labels marked.
pub fn outputs_ui(ui: &mut Ui, ecg: &Ecg, ex: &Explanation) {
    let p = &ex.prediction;
    ui.label(RichText::new(format!("Model: {}", ex.model_name)).small());
    match p.task {
        Task::Regression => {
            egui::Grid::new("outputs")
                .num_columns(2)
                .striped(true)
                .show(ui, |ui| {
                    for (name, value) in p.output_names.iter().zip(&p.raw) {
                        ui.label(name);
                        ui.label(RichText::new(format!("{value:.1}")).strong());
                        ui.end_row();
                    }
                    if let Some(age) = ecg.meta.age_years {
                        ui.label("true age");
                        ui.label(format!("{age:.0}"));
                        ui.end_row();
                    }
                });
        }
        Task::Multilabel | Task::Multiclass => {
            egui::Grid::new("outputs")
                .num_columns(3)
                .striped(true)
                .show(ui, |ui| {
                    ui.label(RichText::new("output").strong());
                    ui.label(RichText::new("probability").strong());
                    ui.label(RichText::new("true").strong());
                    ui.end_row();
                    for (i, name) in p.output_names.iter().enumerate() {
                        let prob = p.probabilities.get(i).copied().unwrap_or(f32::NAN);
                        let predicted = p.predicted_labels.contains(name);
                        let truth = ecg.meta.labels.contains(name);
                        let text = RichText::new(name);
                        ui.label(if predicted { text.strong() } else { text });
                        let bar = egui::ProgressBar::new(prob.clamp(0.0, 1.0))
                            .desired_width(110.0)
                            .text(format!("{prob:.2}"))
                            .fill(if predicted {
                                Color32::from_rgb(0, 114, 178)
                            } else {
                                Color32::from_gray(150)
                            });
                        ui.add(bar);
                        let mark =
                            match (truth, predicted) {
                                (true, true) => {
                                    RichText::new("yes").color(Color32::from_rgb(0, 140, 90))
                                }
                                (true, false) => RichText::new("yes (missed)")
                                    .color(Color32::from_rgb(213, 94, 0)),
                                (false, true) => RichText::new("no (false +)")
                                    .color(Color32::from_rgb(213, 94, 0)),
                                (false, false) => RichText::new("no").weak(),
                            };
                        ui.label(mark);
                        ui.end_row();
                    }
                });
        }
    }
}

/// Bar chart of the share of time steps in each cluster, coloured like the bands.
pub fn proportions_ui(ui: &mut Ui, ex: &Explanation, cluster_names: &[String]) {
    let bars: Vec<Bar> = ex
        .proportions
        .iter()
        .enumerate()
        .map(|(k, &p)| {
            let name = cluster_names
                .get(k)
                .cloned()
                .unwrap_or_else(|| format!("C{k}"));
            Bar::new(k as f64, p as f64)
                .width(0.8)
                .fill(colors::cluster(k))
                .name(name)
        })
        .collect();
    let chart = BarChart::new("cluster proportions", bars);
    Plot::new("proportions_plot")
        .height(120.0)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .include_y(0.0)
        .include_y(1.0)
        .show_grid([false, true])
        .x_axis_formatter(|mark, _range| format!("C{}", mark.value.round() as i64))
        .show(ui, |plot_ui| plot_ui.bar_chart(chart));
}

/// Table of the cluster segments; returns the start time of the row clicked (to centre the view).
pub fn segments_ui(ui: &mut Ui, ex: &Explanation, cluster_names: &[String]) -> Option<f64> {
    let mut jump = None;
    egui::ScrollArea::vertical()
        .id_salt("segments")
        .max_height(220.0)
        .show(ui, |ui| {
            egui::Grid::new("segments_grid")
                .num_columns(5)
                .striped(true)
                .show(ui, |ui| {
                    for h in [
                        "cluster",
                        "start (s)",
                        "end (s)",
                        "duration (ms)",
                        "entropy",
                    ] {
                        ui.label(RichText::new(h).strong());
                    }
                    ui.end_row();
                    for seg in &ex.segments {
                        let name = cluster_names
                            .get(seg.cluster)
                            .cloned()
                            .unwrap_or_else(|| format!("C{}", seg.cluster));
                        let resp = ui.add(
                            egui::Button::new(RichText::new(name).color(Color32::BLACK))
                                .fill(colors::cluster(seg.cluster))
                                .small(),
                        );
                        if resp.clicked() {
                            jump = Some(seg.start_s);
                        }
                        ui.label(format!("{:.3}", seg.start_s));
                        ui.label(format!("{:.3}", seg.end_s));
                        ui.label(format!("{:.0}", (seg.end_s - seg.start_s) * 1000.0));
                        ui.label(format!("{:.2}", seg.mean_entropy));
                        ui.end_row();
                    }
                });
        });
    jump
}

/// Summary numbers of the explanation.
pub fn summary_ui(ui: &mut Ui, ex: &Explanation) {
    let (a, b) = ex.valid_steps;
    let valid = &ex.entropy[a.min(ex.entropy.len())..b.min(ex.entropy.len())];
    let mean = if valid.is_empty() {
        f32::NAN
    } else {
        valid.iter().sum::<f32>() / valid.len() as f32
    };
    ui.label(format!(
        "K = {}, {} segments, mean entropy {:.2}",
        ex.k,
        ex.segments.len(),
        mean
    ));
    if let Some(r) = ex.entropy_gradcam_correlation {
        ui.label(format!("entropy / Grad-CAM correlation r = {r:.2}"));
    }
}

/// The legend: one swatch per cluster with its name.
pub fn legend_ui(ui: &mut Ui, k: usize, cluster_names: &[String]) {
    ui.horizontal_wrapped(|ui| {
        for c in 0..k {
            let (rect, _) = ui.allocate_exact_size(egui::vec2(14.0, 14.0), egui::Sense::hover());
            ui.painter().rect_filled(rect, 2.0, colors::cluster(c));
            ui.label(
                cluster_names
                    .get(c)
                    .cloned()
                    .unwrap_or_else(|| format!("C{c}")),
            );
            ui.add_space(6.0);
        }
    });
}
