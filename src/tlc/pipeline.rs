//! The one pipeline: a record in, an [`Explanation`] out (used by the CLI, the app and tests),
//! and per-record features for fitting and for the surrogate's cache.

use ndarray::{Array2, s};
use serde::{Deserialize, Serialize};

use crate::dsp::{PreparedInput, PreprocessSettings};
use crate::model::{ModelConfig, Task};
use crate::tlc::assign::{StepMap, assign, proportions, segments};
use crate::tlc::features::features_from_blocks;
use crate::tlc::gradcam::{gradcam, pearson, to_steps};
use crate::tlc::{Explainer, Explanation, GradCam, Prediction, TlcError};

/// Which output and block Grad-CAM explains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GradCamTarget {
    /// Output index (class).
    pub output: usize,
    /// Residual block; `None` = the last block (the usual Grad-CAM layer).
    pub block: Option<usize>,
}

/// Settings of [`explain_record`]. Default: no filtering, Grad-CAM on, for the top predicted
/// output at the last block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExplainSettings {
    pub preprocess: PreprocessSettings,
    /// Grad-CAM target; `None` = the top predicted output (highest raw output) at the last
    /// block. Naming the output saves a second pass through the network: the gradient has to be
    /// requested before the forward pass, so the default target needs the logits first.
    pub gradcam: Option<GradCamTarget>,
    /// Compute Grad-CAM at all.
    pub with_gradcam: bool,
}

impl Default for ExplainSettings {
    fn default() -> Self {
        ExplainSettings {
            preprocess: PreprocessSettings::default(),
            gradcam: None,
            with_gradcam: true,
        }
    }
}

/// What the network gave for one record, already converted to arrays.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordOutputs {
    /// Raw outputs (logits or regression values).
    pub raw: Vec<f32>,
    /// Outputs (C_i, L_i) of the explainer's blocks, in the explainer's block order.
    pub blocks: Vec<Array2<f32>>,
    /// Grad-CAM inputs: (output, block, block activation (C, L), gradient (C, L)).
    pub gradcam: Option<(usize, usize, Array2<f32>, Array2<f32>)>,
}

/// Identity of the record being explained, for mapping steps onto its own time axis.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordInfo {
    pub id: String,
    pub fs_hz: f64,
    pub n_samples: usize,
}

/// The model's prediction from its raw outputs.
pub fn prediction(config: &ModelConfig, raw: &[f32]) -> Prediction {
    let probabilities = activate(config.task, raw);
    let names = |i: usize| {
        config
            .class_names
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("output {i}"))
    };
    let predicted_labels = match config.task {
        Task::Multilabel => (0..raw.len())
            .filter(|&i| probabilities[i] >= 0.5)
            .map(names)
            .collect(),
        Task::Multiclass => top_output(raw).map(names).into_iter().collect(),
        Task::Regression => Vec::new(),
    };
    Prediction {
        task: config.task,
        output_names: (0..raw.len()).map(names).collect(),
        raw: raw.to_vec(),
        probabilities,
        predicted_labels,
    }
}

fn activate(task: Task, raw: &[f32]) -> Vec<f32> {
    match task {
        Task::Multilabel => raw.iter().map(|&v| 1.0 / (1.0 + (-v).exp())).collect(),
        Task::Multiclass => {
            let max = raw.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let e: Vec<f32> = raw.iter().map(|&v| (v - max).exp()).collect();
            let total: f32 = e.iter().sum();
            e.iter().map(|v| v / total).collect()
        }
        Task::Regression => raw.to_vec(),
    }
}

/// Index of the highest raw output (ties -> lowest), `None` for no outputs.
pub fn top_output(raw: &[f32]) -> Option<usize> {
    (0..raw.len()).reduce(|b, i| if raw[i] > raw[b] { i } else { b })
}

/// Features (T, F) of one record from its block outputs, per the explainer's settings.
pub fn explainer_features(
    explainer: &Explainer,
    blocks: &[Array2<f32>],
) -> Result<Array2<f32>, TlcError> {
    let f = features_from_blocks(blocks, explainer.features.alignment)?;
    if f.ncols() != explainer.mean.len() {
        return Err(TlcError::shape(
            "features",
            format!(
                "{} features (explainer '{}')",
                explainer.mean.len(),
                explainer.name
            ),
            f.ncols(),
        ));
    }
    Ok(f)
}

/// The rows of `features` (T, F) on valid steps (overlapping the real signal).
pub fn valid_rows(features: &Array2<f32>, prepared: &PreparedInput) -> Array2<f32> {
    let map = StepMap::new(prepared, features.nrows(), prepared.fs_hz, 0);
    let v = map.valid_steps();
    features.slice(s![v, ..]).to_owned()
}

/// Everything after the network: features, assignment, entropy, segments, proportions (over
/// valid steps), Grad-CAM and its correlation with the entropy.
pub fn explanation_from_outputs(
    explainer: &Explainer,
    model_name: &str,
    record: &RecordInfo,
    prepared: &PreparedInput,
    outputs: RecordOutputs,
) -> Result<Explanation, TlcError> {
    let features = explainer_features(explainer, &outputs.blocks)?;
    let clusters = explainer.cluster_model();
    let a = assign(features.view(), &clusters)?;
    let n_steps = features.nrows();
    let map = StepMap::new(prepared, n_steps, record.fs_hz, record.n_samples);
    let valid = map.valid_steps();
    let entropy: Vec<f32> = a.entropy.to_vec();
    let segs = segments(&a.labels, &entropy, &map);
    let props = proportions(&a.labels, explainer.k, valid.clone());
    let config = &explainer.model_config;
    let gradcam = match outputs.gradcam {
        None => None,
        Some((output, block, activation, gradient)) => {
            let maps = gradcam(activation.view(), gradient.view(), prepared.data.ncols())?;
            Some(GradCam {
                output_index: output,
                output_name: config
                    .class_names
                    .get(output)
                    .cloned()
                    .unwrap_or_else(|| format!("output {output}")),
                block,
                weights: maps.weights,
                lowres: maps.lowres,
                map: maps.map,
            })
        }
    };
    let correlation = gradcam.as_ref().and_then(|g| {
        let per_step = to_steps(&g.map, n_steps);
        pearson(&entropy[valid.clone()], &per_step[valid.clone()])
    });
    Ok(Explanation {
        record_id: record.id.clone(),
        model_name: model_name.to_string(),
        explainer_name: explainer.name.clone(),
        prediction: prediction(config, &outputs.raw),
        k: explainer.k,
        step_times_s: map.step_centres_s(),
        step_duration_s: map.step_duration_s(),
        valid_steps: (valid.start, valid.end),
        labels: a.labels,
        entropy,
        soft: a.soft.rows().into_iter().map(|r| r.to_vec()).collect(),
        proportions: props,
        segments: segs,
        gradcam,
        model_fs_hz: prepared.fs_hz,
        model_start_s: prepared.start_s,
        entropy_gradcam_correlation: correlation,
    })
}
