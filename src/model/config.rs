//! The JSON config that travels beside a model's safetensors weights.
//!
//! Field names follow the golden fixture's `model_config.json` (itself close to the arguments of
//! Ribeiro's `ResNet1d`), so a config written for a PyTorch model reads as it is. Unknown fields
//! (notes, TLC settings of the reference implementation) are ignored.

use serde::{Deserialize, Serialize};

use crate::dsp::InputSpec;
use crate::record::LeadName;

/// What the model's outputs mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Independent sigmoid per output (PTB-XL super-classes).
    Multilabel,
    /// One softmax over the outputs.
    Multiclass,
    /// Raw outputs (e.g. age in years).
    Regression,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Number of input leads.
    pub input_channels: usize,
    /// Input length in samples.
    pub input_length: usize,
    /// (filters, length) of each residual block; the first pair's length must equal
    /// `input_length` (the stem does not downsample).
    pub blocks_dim: Vec<(usize, usize)>,
    pub kernel_size: usize,
    #[serde(default = "default_dropout")]
    pub dropout_rate: f32,
    pub n_outputs: usize,
    pub task: Task,
    /// Output names (class names, or e.g. `["age"]`).
    #[serde(alias = "output_names")]
    pub class_names: Vec<String>,
    /// Input sampling rate in Hz.
    #[serde(alias = "sampling_rate_hz")]
    pub sampling_rate: f64,
    /// Lead order of the input; defaults to the standard 12 (I, II, III, aVR, aVL, aVF, V1-V6).
    #[serde(default)]
    pub input_leads: Option<Vec<LeadName>>,
    /// The model sees `input_scale * signal_in_mV` (1.0 for Ribeiro's models).
    #[serde(default = "default_scale")]
    pub input_scale: f32,
    #[serde(default = "default_bn_eps")]
    pub bn_eps: f64,
    /// Free-text description (how it was trained, on what).
    #[serde(default)]
    pub description: Option<String>,
}

fn default_dropout() -> f32 {
    0.8
}
fn default_scale() -> f32 {
    1.0
}
fn default_bn_eps() -> f64 {
    1e-5
}

impl ModelConfig {
    /// Ribeiro et al.'s architecture: 12 x 4096 at 400 Hz, kernel 17, 64/128/196/256/320
    /// filters.
    pub fn ribeiro(n_outputs: usize, task: Task, class_names: Vec<String>) -> Self {
        ModelConfig {
            input_channels: 12,
            input_length: 4096,
            blocks_dim: vec![(64, 4096), (128, 1024), (196, 256), (256, 64), (320, 16)],
            kernel_size: 17,
            dropout_rate: 0.8,
            n_outputs,
            task,
            class_names,
            sampling_rate: 400.0,
            input_leads: None,
            input_scale: 1.0,
            bn_eps: 1e-5,
            description: None,
        }
    }

    pub fn leads(&self) -> Vec<LeadName> {
        self.input_leads.clone().unwrap_or_else(LeadName::standard_12)
    }

    pub fn input_spec(&self) -> InputSpec {
        InputSpec { leads: self.leads(), fs_hz: self.sampling_rate, length: self.input_length }
    }
}
