//! A record longer than the model's input, explained one model window after another: what the
//! model predicts and how uncertain its representation is along a long record, so a reader can
//! go to the windows that matter.
//!
//! Each window is explained by [`explain_record`] on the part of the record around it (the
//! window and [`WINDOW_MARGIN_S`] each side, for the explainer's filtering), so a 24-hour record
//! is never resampled or filtered whole once per window.

use serde::{Deserialize, Serialize};

use crate::dsp::InputSpec;
use crate::model::LoadedModel;
use crate::progress::{Progress, ProgressSink};
use crate::record::Ecg;
use crate::tlc::pipeline::{ExplainSettings, explain_record};
use crate::tlc::{Explainer, TlcError};

/// Signal kept each side of a window when it is cut out of the record (s): the explainer's
/// baseline median (0.6 s) and zero-phase band-pass see the window's edges as in the whole
/// record.
pub const WINDOW_MARGIN_S: f64 = 2.0;

/// One model window of a long record, explained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowExplained {
    /// Where the model's window starts and ends in the record (s).
    pub start_s: f64,
    pub end_s: f64,
    pub predicted_labels: Vec<String>,
    /// Probabilities (or values for regression), in the model's output order.
    pub probabilities: Vec<f32>,
    pub mean_entropy: f32,
    /// Share of the window's time steps in each cluster.
    pub proportions: Vec<f32>,
}

/// Starts (s) of consecutive model windows covering a record of `n_samples` at `fs_hz`: one
/// every window length from 0, the last one ending at the record's end (overlapping the one
/// before it). Empty when the model sees the record whole.
pub fn window_starts(spec: &InputSpec, fs_hz: f64, n_samples: usize) -> Vec<f64> {
    let window_s = spec.length as f64 / spec.fs_hz;
    // Centred on the record's end: clamped to the last start there is.
    let end_s = n_samples as f64 / fs_hz;
    let Some(last) = crate::dsp::window_start_for_centre(spec, fs_hz, n_samples, end_s) else {
        return Vec::new();
    };
    let mut starts: Vec<f64> = (0..)
        .map(|i| i as f64 * window_s)
        .take_while(|s| *s < last)
        .collect();
    starts.push(last);
    starts
}

/// The part of `ecg` from `from_s` to `to_s` (clipped to the record), and where it starts (s).
fn cut(ecg: &Ecg, from_s: f64, to_s: f64) -> (Ecg, f64) {
    let n = ecg.n_samples();
    let a = ((from_s * ecg.fs_hz).floor().max(0.0) as usize).min(n);
    let b = ((to_s * ecg.fs_hz).ceil().max(0.0) as usize).clamp(a, n);
    let part = Ecg {
        leads: ecg.leads.clone(),
        fs_hz: ecg.fs_hz,
        samples_mv: ecg.samples_mv.slice(ndarray::s![.., a..b]).to_owned(),
        meta: ecg.meta.clone(),
        // the model's windows carry the leads only
        other_signals: Vec::new(),
    };
    (part, a as f64 / ecg.fs_hz)
}

/// Explain every model window of `ecg` ([`window_starts`]), Grad-CAM off. Reports a step per
/// window and stops with `TlcError::Cancelled` when the sink says so. A record the model sees
/// whole gives one window.
pub fn explain_windows(
    model: &LoadedModel,
    explainer: &Explainer,
    ecg: &Ecg,
    sink: &dyn ProgressSink,
) -> Result<Vec<WindowExplained>, TlcError> {
    let spec = model.config.input_spec();
    let window_s = spec.length as f64 / spec.fs_hz;
    let starts = window_starts(&spec, ecg.fs_hz, ecg.n_samples());
    let settings = ExplainSettings {
        window_start_s: None,
        gradcam: None,
    };
    if starts.is_empty() {
        let ex = explain_record(model, explainer, ecg, &settings)?;
        return Ok(vec![WindowExplained {
            start_s: 0.0,
            end_s: ecg.duration_s(),
            predicted_labels: ex.prediction.predicted_labels.clone(),
            probabilities: ex.prediction.probabilities.clone(),
            mean_entropy: ex.mean_entropy(),
            proportions: ex.proportions,
        }]);
    }
    let mut out = Vec::with_capacity(starts.len());
    for (done, &start_s) in starts.iter().enumerate() {
        if sink.is_cancelled() {
            return Err(TlcError::Cancelled);
        }
        sink.report(Progress {
            stage: "explaining windows".into(),
            done,
            total: starts.len(),
            share: None,
        });
        let (part, part_start_s) = cut(
            ecg,
            start_s - WINDOW_MARGIN_S,
            start_s + window_s + WINDOW_MARGIN_S,
        );
        // The window's start within the part, on the model's sample grid, never past the
        // part's last possible start (rounding at the record's end).
        let spec_start = crate::dsp::window_start_for_centre(
            &spec,
            part.fs_hz,
            part.n_samples(),
            start_s - part_start_s + window_s / 2.0,
        );
        let ex = explain_record(
            model,
            explainer,
            &part,
            &ExplainSettings {
                window_start_s: spec_start,
                ..settings.clone()
            },
        )?;
        out.push(WindowExplained {
            start_s: part_start_s + ex.model_start_s,
            end_s: (part_start_s + ex.model_start_s + window_s).min(ecg.duration_s()),
            predicted_labels: ex.prediction.predicted_labels.clone(),
            probabilities: ex.prediction.probabilities.clone(),
            mean_entropy: ex.mean_entropy(),
            proportions: ex.proportions,
        });
    }
    sink.report(Progress {
        stage: "explaining windows".into(),
        done: starts.len(),
        total: starts.len(),
        share: None,
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ribeiro's input: 12 leads x 4096 samples at 400 Hz.
    fn spec() -> InputSpec {
        crate::model::ModelConfig::ribeiro(1, crate::model::Task::Regression, Vec::new())
            .input_spec()
    }

    #[test]
    fn windows_tile_the_record_and_the_last_ends_at_its_end() {
        // 60 s at 500 Hz, 10.24 s windows: 0, 10.24, ..., 40.96, then 49.76 to the end.
        let starts = window_starts(&spec(), 500.0, 30_000);
        assert_eq!(starts.len(), 6);
        for (i, s) in starts[..5].iter().enumerate() {
            assert!((s - i as f64 * 10.24).abs() < 1e-9, "{s}");
        }
        assert!(
            (starts[5] + 10.24 - 60.0).abs() < 1.0 / 400.0,
            "{}",
            starts[5]
        );
        // Exactly five windows long: no overlapping sixth.
        let starts = window_starts(&spec(), 400.0, 5 * 4096);
        assert_eq!(starts.len(), 5);
        // A record the model sees whole has no windows to choose.
        assert!(window_starts(&spec(), 500.0, 5_000).is_empty());
    }

    #[test]
    fn a_cut_keeps_the_samples_and_says_where_it_starts() {
        let params = crate::synth::SynthParams {
            duration_s: 20.0,
            ..Default::default()
        };
        let ecg = crate::synth::generate_record(&params, 1).unwrap().ecg;
        let (part, start_s) = cut(&ecg, 4.0, 9.0);
        assert!((start_s - 4.0).abs() < 1e-9);
        assert_eq!(part.n_samples(), (5.0 * ecg.fs_hz) as usize);
        let a = (4.0 * ecg.fs_hz) as usize;
        assert_eq!(part.samples_mv[[3, 10]], ecg.samples_mv[[3, a + 10]]);
        // Past either end it is clipped to the record.
        let (part, start_s) = cut(&ecg, -2.0, 1e9);
        assert_eq!((part.n_samples(), start_s), (ecg.n_samples(), 0.0));
    }
}
