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
    // Said where the outputs are read: a model applied to data unlike what it learnt from.
    for note in &ex.data_notes {
        ui.add(egui::Label::new(RichText::new(format!("⚠ {note}.")).color(colors::WARNING)).wrap());
    }
    match p.task {
        Task::Regression => {
            egui::Grid::new("outputs")
                .num_columns(2)
                .striped(true)
                .show(ui, |ui| {
                    let mut predicted_age = None;
                    for (name, value) in p.output_names.iter().zip(&p.raw) {
                        let is_age = crate::model::config::is_age_output(name);
                        if is_age {
                            predicted_age = Some(*value);
                        }
                        ui.label(if is_age {
                            "predicted age"
                        } else {
                            name.as_str()
                        });
                        let unit = if is_age { " years" } else { "" };
                        ui.label(RichText::new(format!("{value:.1}{unit}")).strong());
                        ui.end_row();
                    }
                    if let Some(age) = ecg.meta.age_years {
                        ui.label("recorded age");
                        ui.label(format!("{age:.0} years"));
                        ui.end_row();
                        // The "ECG age gap" of Ribeiro et al. (Nat Commun 2020): predicted
                        // minus chronological age, the quantity their mortality analysis uses.
                        if let Some(predicted) = predicted_age {
                            ui.label("predicted - recorded");
                            ui.label(format!("{:+.1} years", predicted - age));
                            ui.end_row();
                        }
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
                        // Light bars and black text in light mode, dark bars and white text in
                        // dark mode: the value stays readable on the fill and off it.
                        let dark = ui.visuals().dark_mode;
                        let (text_colour, fill) = match (dark, predicted) {
                            (false, true) => (Color32::BLACK, Color32::from_rgb(86, 180, 233)),
                            (false, false) => (Color32::BLACK, Color32::from_gray(200)),
                            (true, true) => (Color32::WHITE, Color32::from_rgb(0, 90, 150)),
                            (true, false) => (Color32::WHITE, Color32::from_gray(80)),
                        };
                        let bar = egui::ProgressBar::new(prob.clamp(0.0, 1.0))
                            .desired_width(110.0)
                            .text(RichText::new(format!("{prob:.2}")).color(text_colour))
                            .fill(fill);
                        ui.add(bar);
                        // A record without any label (LUDB, MIT-BIH, a plain folder) says
                        // nothing about the truth: no "no (false +)" claims for it.
                        let unlabelled = ecg.meta.labels.is_empty();
                        let mark = if unlabelled {
                            RichText::new("-").weak()
                        } else {
                            match (truth, predicted) {
                                (true, true) => {
                                    RichText::new("yes").color(Color32::from_rgb(0, 140, 90))
                                }
                                (true, false) => RichText::new("yes (missed)")
                                    .color(Color32::from_rgb(213, 94, 0)),
                                (false, true) => RichText::new("no (false +)")
                                    .color(Color32::from_rgb(213, 94, 0)),
                                (false, false) => RichText::new("no").weak(),
                            }
                        };
                        ui.label(mark).on_hover_text(if unlabelled {
                            "this record carries no labels"
                        } else {
                            "the record's own label"
                        });
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
        // One label per cluster: the default log-10 spacer and 60-px label spacing left only
        // "C0" under the bars.
        .x_grid_spacer(egui_plot::uniform_grid_spacer(|_| [1.0, 5.0, 10.0]))
        .custom_x_axes(vec![
            egui_plot::AxisHints::new_x()
                .label_spacing(18.0..=24.0)
                .formatter(|mark, _range| {
                    let k = mark.value.round();
                    if (mark.value - k).abs() < 1e-6 && k >= 0.0 {
                        format!("C{k}")
                    } else {
                        String::new()
                    }
                }),
        ])
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
                            egui::Button::new(
                                RichText::new(name)
                                    .color(colors::text_on(colors::cluster(seg.cluster))),
                            )
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
    ui.label(format!(
        "K = {}, {} segments, mean entropy {:.2}",
        ex.k,
        ex.segments.len(),
        ex.mean_entropy()
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

/// What each cluster stands for: dominant segment, purity and the prototype waveform.
pub fn cluster_descriptions_ui(
    ui: &mut Ui,
    descriptions: &[Option<crate::tlc::ClusterDescription>],
    names: &[String],
) {
    for (k, d) in descriptions.iter().enumerate() {
        let Some(d) = d else { continue };
        ui.horizontal(|ui| {
            let (rect, _) = ui.allocate_exact_size(egui::vec2(14.0, 14.0), egui::Sense::hover());
            ui.painter().rect_filled(rect, 2.0, colors::cluster(k));
            let name = names.get(k).cloned().unwrap_or_else(|| format!("C{k}"));
            let mut text = format!(
                "{name}: mostly {} ({:.0}% of its steps)",
                d.dominant_segment,
                d.purity * 100.0
            );
            if let Some(off) = d.mean_offset_from_r_s {
                text.push_str(&format!(", {:+.0} ms from R", off * 1000.0));
            }
            // Wrapped, so a long description does not widen the panel and squeeze the ECG.
            ui.add(egui::Label::new(text).wrap());
        });
        if let (Some(proto), Some(fs)) = (&d.prototype, d.prototype_fs_hz)
            && proto.len() >= 2
            && fs > 0.0
        {
            prototype_ui(ui, proto, colors::cluster(k));
        }
    }
}

/// A small drawing of a prototype waveform (mV over its window).
fn prototype_ui(ui: &mut Ui, proto: &[f32], color: Color32) {
    let (rect, _) = ui.allocate_exact_size(
        egui::vec2(ui.available_width().min(260.0), 44.0),
        egui::Sense::hover(),
    );
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 2.0, colors::PAPER);
    let (lo, hi) = proto
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let span = (hi - lo).max(0.1);
    let y_of = |v: f32| rect.bottom() - 4.0 - (v - lo) / span * (rect.height() - 8.0);
    let stroke = egui::Stroke::new(1.5, color.gamma_multiply(0.6).to_opaque());
    let columns = rect.width().floor().max(1.0) as usize;
    if proto.len() > columns {
        // More samples than pixels: min/max bars, as the paper's traces (far fewer triangles).
        let bars = super::paper::min_max_columns(proto, 0, proto.len(), columns);
        painter.add(super::paper::trace_columns_mesh(
            &bars,
            rect.left(),
            stroke,
            &y_of,
        ));
    } else {
        let n = proto.len() as f32 - 1.0;
        let pts: Vec<egui::Pos2> = proto
            .iter()
            .enumerate()
            .map(|(i, &v)| egui::pos2(rect.left() + rect.width() * i as f32 / n, y_of(v)))
            .collect();
        painter.add(egui::Shape::line(pts, stroke));
    }
}

/// The per-beat measurements: time, RR, PR, QRS, QT, QTc (an absent value is a dash with its
/// reason on hover; ectopic beats, left out of the record's medians, are marked). A click on a
/// beat's time returns it, to move the view there.
pub fn beats_ui(ui: &mut Ui, m: &crate::measure::Measurements) -> Option<f64> {
    use crate::measure::Measured;
    let mut jump = None;
    ui.label(format!(
        "{} beats, {} left out of the medians as ectopic; QTc by {}",
        m.n_beats,
        m.n_ectopic,
        m.qtc_formula.as_str()
    ));
    // Fixed columns and only the visible rows laid out: a Holter record has thousands of beats.
    // Narrow enough (with no spacing between cells) to fit the panel's default width, so the
    // table does not widen the panel and squeeze the ECG.
    const WIDTHS: [f32; 7] = [54.0, 42.0, 42.0, 42.0, 42.0, 42.0, 56.0];
    const ROW: f32 = 18.0;
    let cell = |ui: &mut Ui, w: f32, v: Measured<f64>| match v {
        Measured::Value(v) => {
            ui.add_sized([w, ROW], egui::Label::new(format!("{v:.0}")));
        }
        Measured::Absent(a) => {
            ui.add_sized([w, ROW], egui::Label::new("—"))
                .on_hover_text(a.to_string());
        }
    };
    ui.horizontal(|ui| {
        ui.spacing_mut().item_spacing.x = 0.0;
        for (h, w) in ["beat (s)", "RR", "PR", "QRS", "QT", "QTc", ""]
            .iter()
            .zip(WIDTHS)
        {
            ui.add_sized([w, ROW], egui::Label::new(RichText::new(*h).strong()));
        }
    });
    egui::ScrollArea::vertical()
        .id_salt("beats")
        .max_height(260.0)
        .show_rows(ui, ROW, m.beats.len(), |ui, range| {
            for b in &m.beats[range] {
                ui.horizontal(|ui| {
                    ui.spacing_mut().item_spacing.x = 0.0;
                    if ui
                        .add_sized(
                            [WIDTHS[0], ROW],
                            egui::Link::new(format!("{:.2}", b.time_s)),
                        )
                        .on_hover_text("Show this beat")
                        .clicked()
                    {
                        jump = Some(b.time_s);
                    }
                    let values = [b.rr_ms, b.pr_ms, b.qrs_ms, b.qt_ms, b.qtc_ms];
                    for (v, w) in values.into_iter().zip(&WIDTHS[1..6]) {
                        cell(ui, *w, v);
                    }
                    if let Some(reason) = b.ectopic {
                        ui.add_sized(
                            [WIDTHS[6], ROW],
                            egui::Label::new(RichText::new("ectopic").italics()),
                        )
                        .on_hover_text(format!("left out of the medians: {}", reason.as_str()));
                    }
                });
            }
        });
    ui.label(RichText::new("intervals in ms").small());
    jump
}
