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
}
