//! The result of explaining one record: what the CLI writes, the app draws and figures show.

use serde::{Deserialize, Serialize};

use crate::model::config::Task;

/// The model's outputs for one record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    pub task: Task,
    pub output_names: Vec<String>,
    /// Raw outputs (logits, or the regression value).
    pub raw: Vec<f32>,
    /// Sigmoid (multilabel) or softmax (multiclass) of `raw`; equal to `raw` for regression.
    pub probabilities: Vec<f32>,
    /// Names of the outputs predicted positive (probability >= 0.5 for multilabel, argmax for
    /// multiclass); empty for regression.
    pub predicted_labels: Vec<String>,
}

/// A run of consecutive time steps assigned to the same cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub cluster: usize,
    /// Time steps [start_step, end_step) on the feature time axis.
    pub start_step: usize,
    pub end_step: usize,
    /// The same span in the original record's time (seconds), clipped to the real signal.
    pub start_s: f64,
    pub end_s: f64,
    /// The same span in the original record's samples [start_sample, end_sample).
    pub start_sample: usize,
    pub end_sample: usize,
    /// Mean entropy over the segment's steps.
    pub mean_entropy: f32,
}

/// Grad-CAM for one output at one block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GradCam {
    pub output_index: usize,
    pub output_name: String,
    pub block: usize,
    /// Channel weights (time-mean of d output / d activation).
    pub weights: Vec<f32>,
    /// ReLU of the weighted sum at the block's resolution.
    pub lowres: Vec<f32>,
    /// Upsampled to the model input length and min-max normalised to [0, 1].
    pub map: Vec<f32>,
}

/// Everything the pipeline computes for one record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    pub record_id: String,
    pub model_name: String,
    pub explainer_name: String,
    pub prediction: Prediction,
    pub k: usize,
    /// Per time step (feature time axis, length T): centre time in the original record (s).
    pub step_times_s: Vec<f64>,
    /// Duration of one time step (s).
    pub step_duration_s: f64,
    /// Time steps [start, end) that overlap the real signal (not the padding).
    pub valid_steps: (usize, usize),
    /// Per time step: hard cluster label, entropy in [0, 1], soft assignment (T x K, row-major).
    pub labels: Vec<usize>,
    pub entropy: Vec<f32>,
    pub soft: Vec<Vec<f32>>,
    /// Share of valid time steps in each cluster (length K).
    pub proportions: Vec<f32>,
    pub segments: Vec<Segment>,
    pub gradcam: Option<GradCam>,
    /// Model input sampling rate and time (s, original record) of model sample 0: maps the
    /// Grad-CAM map (model samples) onto the record.
    pub model_fs_hz: f64,
    pub model_start_s: f64,
    /// Pearson correlation over valid time steps between entropy and Grad-CAM (at step
    /// resolution); `None` when either is constant or Grad-CAM was not computed.
    pub entropy_gradcam_correlation: Option<f32>,
    /// Why the model's outputs may not hold for this record: it was trained on unlike data
    /// (synthetic vs recorded ECGs, a higher sampling rate). Said beside the outputs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_notes: Vec<String>,
}

impl Explanation {
    /// Mean entropy over the valid time steps (those overlapping the real signal); NaN when
    /// there are none.
    pub fn mean_entropy(&self) -> f32 {
        let n = self.entropy.len();
        let (a, b) = self.valid_steps;
        crate::tlc::assign::mean_entropy(&self.entropy[a.min(n)..b.clamp(a.min(n), n)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn explanation(entropy: Vec<f32>, valid_steps: (usize, usize)) -> Explanation {
        Explanation {
            record_id: "r".into(),
            model_name: "m".into(),
            explainer_name: "e".into(),
            prediction: Prediction {
                task: Task::Multilabel,
                output_names: Vec::new(),
                raw: Vec::new(),
                probabilities: Vec::new(),
                predicted_labels: Vec::new(),
            },
            k: 2,
            step_times_s: Vec::new(),
            step_duration_s: 0.1,
            valid_steps,
            labels: vec![0; entropy.len()],
            entropy,
            soft: Vec::new(),
            proportions: vec![1.0, 0.0],
            segments: Vec::new(),
            gradcam: None,
            model_fs_hz: 400.0,
            model_start_s: 0.0,
            entropy_gradcam_correlation: None,
            data_notes: Vec::new(),
        }
    }

    #[test]
    fn mean_entropy_is_over_valid_steps_and_nan_without_them() {
        let e = explanation(vec![0.9, 0.2, 0.4, 0.9], (1, 3));
        assert!((e.mean_entropy() - 0.3).abs() < 1e-6);
        assert!(explanation(vec![0.5; 4], (2, 2)).mean_entropy().is_nan());
        // A range past the steps (a malformed file) is clipped, not a panic.
        assert!(explanation(vec![0.5; 2], (3, 9)).mean_entropy().is_nan());
    }
}
