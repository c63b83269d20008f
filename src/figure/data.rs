//! The data behind a figure, as CSV and JSON: cluster segments, per-time-step entropy and
//! Grad-CAM, landmarks and predictions.
//!
//! Every CSV has a header row; the columns are documented on each function. Times are seconds of
//! the original record, samples are indices at the record's own rate.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::delineate::{Beat, Delineation, Wave};
use crate::figure::FigureError;
use crate::figure::palette::cluster_display_name;
use crate::figure::render::write_file;
use crate::figure::scene::FigureInput;
use crate::record::LeadName;
use crate::tlc::{Explanation, Prediction, Segment};

/// One cluster segment (row of `segments.csv`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentRow {
    pub record_id: String,
    pub cluster: usize,
    /// The explainer's description or `C<index>`.
    pub cluster_name: String,
    pub start_step: usize,
    pub end_step: usize,
    pub start_s: f64,
    pub end_s: f64,
    pub start_sample: usize,
    pub end_sample: usize,
    pub duration_s: f64,
    pub mean_entropy: f32,
}

/// One time step of the feature axis (row of `steps.csv`, without the soft columns).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepRow {
    pub step: usize,
    /// Centre of the step in the record's time (s); may be negative or past the end in the
    /// padding.
    pub time_s: f64,
    /// True when the step overlaps the real signal.
    pub valid: bool,
    pub cluster: usize,
    /// Entropy of the soft assignment in [0, 1].
    pub entropy: f32,
    /// Grad-CAM in [0, 1] at the step centre (linear interpolation on the model-sample axis);
    /// `None` when Grad-CAM was not computed.
    pub gradcam: Option<f32>,
    /// Soft assignment to each cluster (K values).
    pub soft: Vec<f32>,
}

/// One wave (row of `landmarks.csv`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LandmarkRow {
    /// `fused` for the beats fused across leads, else the lead name.
    pub lead: String,
    /// Beat number within its lead (0-based).
    pub beat: usize,
    /// `P`, `QRS` or `T`.
    pub wave: String,
    pub onset_sample: usize,
    pub peak_sample: usize,
    pub offset_sample: usize,
    pub onset_s: f64,
    pub peak_s: f64,
    pub offset_s: f64,
}

/// One model output (row of `predictions.csv`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PredictionRow {
    pub output: String,
    /// Logit (or regression value).
    pub raw: f32,
    /// Sigmoid/softmax of `raw` (equal to `raw` for regression).
    pub probability: f32,
    /// 1 when the output is among the predicted labels.
    pub predicted: u8,
}

/// Everything of a figure in one JSON document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FigureData {
    pub record_id: String,
    pub fs_hz: f64,
    pub n_samples: usize,
    pub leads: Vec<String>,
    pub true_labels: Vec<String>,
    pub model_name: Option<String>,
    pub explainer_name: Option<String>,
    pub k: Option<usize>,
    pub cluster_names: Vec<String>,
    pub proportions: Vec<f32>,
    pub entropy_gradcam_correlation: Option<f32>,
    pub prediction: Option<Prediction>,
    pub segments: Vec<SegmentRow>,
    pub steps: Vec<StepRow>,
    pub landmarks: Vec<LandmarkRow>,
    /// Clinical measurements (when delineated), every beat's included.
    pub measurements: Option<crate::measure::Measurements>,
}

/// Rows of `segments.csv`. Columns: `record_id, cluster, cluster_name, start_step, end_step,
/// start_s, end_s, start_sample, end_sample, duration_s, mean_entropy`.
pub fn segment_rows(ex: &Explanation, names: Option<&[String]>) -> Vec<SegmentRow> {
    ex.segments
        .iter()
        .map(|s: &Segment| SegmentRow {
            record_id: ex.record_id.clone(),
            cluster: s.cluster,
            cluster_name: cluster_display_name(s.cluster, names),
            start_step: s.start_step,
            end_step: s.end_step,
            start_s: s.start_s,
            end_s: s.end_s,
            start_sample: s.start_sample,
            end_sample: s.end_sample,
            duration_s: s.end_s - s.start_s,
            mean_entropy: s.mean_entropy,
        })
        .collect()
}

/// Grad-CAM at a time of the record (linear interpolation between model samples; 0 outside).
pub fn gradcam_at(ex: &Explanation, t_s: f64) -> Option<f32> {
    let cam = ex.gradcam.as_ref()?;
    if cam.map.is_empty() || !(ex.model_fs_hz > 0.0) {
        return None;
    }
    let pos = (t_s - ex.model_start_s) * ex.model_fs_hz;
    if !(pos >= 0.0) || pos > (cam.map.len() - 1) as f64 {
        return Some(0.0);
    }
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(cam.map.len() - 1);
    let f = (pos - lo as f64) as f32;
    Some(cam.map[lo] * (1.0 - f) + cam.map[hi] * f)
}

/// Rows of `steps.csv`. Columns: `step, time_s, valid (0/1), cluster, entropy, gradcam` (empty
/// when not computed), then `p_0 .. p_{K-1}`, the soft assignment.
pub fn step_rows(ex: &Explanation) -> Vec<StepRow> {
    let n = ex
        .step_times_s
        .len()
        .min(ex.labels.len())
        .min(ex.entropy.len());
    (0..n)
        .map(|i| StepRow {
            step: i,
            time_s: ex.step_times_s[i],
            valid: i >= ex.valid_steps.0 && i < ex.valid_steps.1,
            cluster: ex.labels[i],
            entropy: ex.entropy[i],
            gradcam: gradcam_at(ex, ex.step_times_s[i]),
            soft: ex.soft.get(i).cloned().unwrap_or_default(),
        })
        .collect()
}

/// Rows of `landmarks.csv`: the fused beats, then each lead's. Columns: `lead, beat, wave,
/// onset_sample, peak_sample, offset_sample, onset_s, peak_s, offset_s`.
pub fn landmark_rows(d: &Delineation, leads: &[LeadName]) -> Vec<LandmarkRow> {
    let mut rows = Vec::new();
    let seconds = |s: usize| {
        if d.fs_hz > 0.0 {
            s as f64 / d.fs_hz
        } else {
            f64::NAN
        }
    };
    let mut add = |lead: &str, beats: &[Beat]| {
        for (b, beat) in beats.iter().enumerate() {
            let waves: [Option<&Wave>; 3] = [beat.p.as_ref(), Some(&beat.qrs), beat.t.as_ref()];
            for w in waves.into_iter().flatten() {
                rows.push(LandmarkRow {
                    lead: lead.to_string(),
                    beat: b,
                    wave: match w.kind {
                        crate::delineate::WaveKind::P => "P",
                        crate::delineate::WaveKind::Qrs => "QRS",
                        crate::delineate::WaveKind::T => "T",
                    }
                    .to_string(),
                    onset_sample: w.onset,
                    peak_sample: w.peak,
                    offset_sample: w.offset,
                    onset_s: seconds(w.onset),
                    peak_s: seconds(w.peak),
                    offset_s: seconds(w.offset),
                });
            }
        }
    };
    add("fused", &d.beats);
    for (i, beats) in d.per_lead.iter().enumerate() {
        let name = leads
            .get(i)
            .map(|l| l.to_string())
            .unwrap_or_else(|| format!("lead{i}"));
        add(&name, beats);
    }
    rows
}

/// Rows of `predictions.csv`. Columns: `output, raw, probability, predicted (0/1)`.
pub fn prediction_rows(p: &Prediction) -> Vec<PredictionRow> {
    p.output_names
        .iter()
        .enumerate()
        .map(|(i, name)| PredictionRow {
            output: name.clone(),
            raw: p.raw.get(i).copied().unwrap_or(f32::NAN),
            probability: p.probabilities.get(i).copied().unwrap_or(f32::NAN),
            predicted: p.predicted_labels.iter().any(|l| l == name) as u8,
        })
        .collect()
}

fn csv_error(e: impl std::fmt::Display) -> FigureError {
    FigureError::Data(format!("CSV writing failed: {e}"))
}

/// CSV text of serialisable rows (header from the field names).
pub fn rows_to_csv<T: Serialize>(rows: &[T]) -> Result<String, FigureError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.serialize(r).map_err(csv_error)?;
    }
    let bytes = w.into_inner().map_err(csv_error)?;
    String::from_utf8(bytes).map_err(csv_error)
}

/// `steps.csv` text (soft columns spread out as `p_0 .. p_{K-1}`).
pub fn steps_csv(ex: &Explanation) -> Result<String, FigureError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = ["step", "time_s", "valid", "cluster", "entropy", "gradcam"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    header.extend((0..ex.k).map(|c| format!("p_{c}")));
    w.write_record(&header).map_err(csv_error)?;
    for r in step_rows(ex) {
        let mut rec = vec![
            r.step.to_string(),
            r.time_s.to_string(),
            (r.valid as u8).to_string(),
            r.cluster.to_string(),
            r.entropy.to_string(),
            r.gradcam.map(|g| g.to_string()).unwrap_or_default(),
        ];
        rec.extend((0..ex.k).map(|c| r.soft.get(c).map(|v| v.to_string()).unwrap_or_default()));
        w.write_record(&rec).map_err(csv_error)?;
    }
    let bytes = w.into_inner().map_err(csv_error)?;
    String::from_utf8(bytes).map_err(csv_error)
}

/// All of a figure's data in one struct (what the JSON holds). Fails only when the
/// delineation was not made on this record.
pub fn figure_data(input: &FigureInput) -> Result<FigureData, FigureError> {
    let ecg = input.ecg;
    let names = input.cluster_names.as_deref();
    let ex = input.explanation;
    Ok(FigureData {
        record_id: ecg.meta.id.clone(),
        fs_hz: ecg.fs_hz,
        n_samples: ecg.n_samples(),
        leads: ecg.leads.iter().map(|l| l.to_string()).collect(),
        true_labels: ecg.meta.labels.clone(),
        model_name: ex.map(|e| e.model_name.clone()),
        explainer_name: ex.map(|e| e.explainer_name.clone()),
        k: ex.map(|e| e.k),
        cluster_names: ex
            .map(|e| (0..e.k).map(|c| cluster_display_name(c, names)).collect())
            .unwrap_or_default(),
        proportions: ex.map(|e| e.proportions.clone()).unwrap_or_default(),
        entropy_gradcam_correlation: ex.and_then(|e| e.entropy_gradcam_correlation),
        prediction: ex.map(|e| e.prediction.clone()),
        segments: ex.map(|e| segment_rows(e, names)).unwrap_or_default(),
        steps: ex.map(step_rows).unwrap_or_default(),
        landmarks: input
            .delineation
            .map(|d| landmark_rows(d, &ecg.leads))
            .unwrap_or_default(),
        measurements: crate::figure::measurement_line::figure_measurements(input)?,
    })
}

/// Write `<stem>.segments.csv`, `<stem>.steps.csv`, `<stem>.predictions.csv` (when explained),
/// `<stem>.landmarks.csv`, `<stem>.measurements.csv` (one row, `measure::export::RECORD_COLUMNS`)
/// and `<stem>.beat_measurements.csv` (`BEAT_COLUMNS`) (when delineated) and `<stem>.json` into
/// `dir`; returns the paths written. Existing files are kept (error) unless `overwrite`.
pub fn export_data(
    dir: &Path,
    stem: &str,
    input: &FigureInput,
    overwrite: bool,
) -> Result<Vec<PathBuf>, FigureError> {
    let data = figure_data(input)?;
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    if let Some(ex) = input.explanation {
        files.push((
            dir.join(format!("{stem}.segments.csv")),
            rows_to_csv(&data.segments)?,
        ));
        files.push((dir.join(format!("{stem}.steps.csv")), steps_csv(ex)?));
        files.push((
            dir.join(format!("{stem}.predictions.csv")),
            rows_to_csv(&prediction_rows(&ex.prediction))?,
        ));
    }
    if input.delineation.is_some() {
        files.push((
            dir.join(format!("{stem}.landmarks.csv")),
            rows_to_csv(&data.landmarks)?,
        ));
    }
    if let Some(m) = &data.measurements {
        use crate::measure::export::{
            BEAT_COLUMNS, RECORD_COLUMNS, beat_rows, csv_text, record_row,
        };
        files.push((
            dir.join(format!("{stem}.measurements.csv")),
            csv_text(&RECORD_COLUMNS, &[record_row(m)]).map_err(csv_error)?,
        ));
        files.push((
            dir.join(format!("{stem}.beat_measurements.csv")),
            csv_text(&BEAT_COLUMNS, &beat_rows(m)).map_err(csv_error)?,
        ));
    }
    let json =
        serde_json::to_string_pretty(&data).map_err(|e| FigureError::Data(format!("JSON: {e}")))?;
    files.push((dir.join(format!("{stem}.json")), json));
    if !overwrite {
        // Check all first so a refusal leaves nothing half-written.
        if let Some((p, _)) = files.iter().find(|(p, _)| p.exists()) {
            return Err(FigureError::Exists { path: p.clone() });
        }
    }
    let mut written = Vec::new();
    for (path, text) in files {
        write_file(&path, text.as_bytes(), overwrite)?;
        written.push(path);
    }
    Ok(written)
}
