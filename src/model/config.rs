//! The JSON config that travels beside a model's safetensors weights.
//!
//! Field names follow the golden fixture's `model_config.json` (itself close to the arguments of
//! Ribeiro's `ResNet1d`), so a config written for a PyTorch model reads as it is. Unknown fields
//! (notes, TLC settings of the reference implementation) are ignored.

use serde::{Deserialize, Serialize};

use crate::dsp::{InputSpec, Preprocessing};
use crate::record::LeadName;

/// Bounds of a model config, far above any ECG network (Ribeiro's: 12 x 4096, 320 filters) and
/// low enough that one record's activations stay within a few GB.
pub const MAX_INPUT_LENGTH: usize = 1 << 20;
pub const MAX_INPUT_CHANNELS: usize = 256;
pub const MAX_FILTERS: usize = 4096;

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
    /// May be left out of a training config: `tlc train` fills it from the data set.
    #[serde(default)]
    pub n_outputs: usize,
    pub task: Task,
    /// Output names (class names, or e.g. `["age"]`). May be left out of a training config:
    /// `tlc train` fills it from the data set.
    #[serde(alias = "output_names", default)]
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
    /// The filtering the model was trained with (`tlc train` records it). `None`: not recorded
    /// (configs written before it was, PyTorch models): taken as no filtering, and `tlc fit`
    /// may state it for the explainer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preprocessing: Option<Preprocessing>,
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

/// Whether a regression output is an age in years: the names `tlc train` gives it (`age`) and
/// data sets use (`age_years`), in any case.
pub fn is_age_output(name: &str) -> bool {
    matches!(name.to_ascii_lowercase().as_str(), "age" | "age_years")
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
            preprocessing: None,
            description: None,
        }
    }

    pub fn leads(&self) -> Vec<LeadName> {
        self.input_leads
            .clone()
            .unwrap_or_else(LeadName::standard_12)
    }

    /// The filtering records get before this model: the recorded one, or none.
    pub fn preprocessing(&self) -> Preprocessing {
        self.preprocessing.clone().unwrap_or_default()
    }

    pub fn input_spec(&self) -> InputSpec {
        InputSpec {
            leads: self.leads(),
            fs_hz: self.sampling_rate,
            length: self.input_length,
        }
    }

    /// Checks that the architecture can be built: odd kernel, at least one block, lengths that
    /// shrink by integer factors (as Ribeiro's `_downsample` demands), outputs matching names.
    pub fn validate(&self) -> Result<(), String> {
        if self.input_channels == 0 || self.input_channels > MAX_INPUT_CHANNELS {
            return Err(format!(
                "input_channels must be 1..={MAX_INPUT_CHANNELS}, is {}",
                self.input_channels
            ));
        }
        // The activations of one record grow with the input: a config, not the machine, must
        // not be able to ask for tens of GB.
        if self.input_length == 0 || self.input_length > MAX_INPUT_LENGTH {
            return Err(format!(
                "input_length must be 1..={MAX_INPUT_LENGTH} samples, is {}",
                self.input_length
            ));
        }
        if self.kernel_size == 0 || self.kernel_size.is_multiple_of(2) {
            return Err(format!("kernel_size must be odd, is {}", self.kernel_size));
        }
        if self.blocks_dim.is_empty() {
            return Err("blocks_dim must hold at least one (filters, length) pair".into());
        }
        let mut length_in = self.input_length;
        for (i, &(filters, length)) in self.blocks_dim.iter().enumerate() {
            if filters > MAX_FILTERS {
                return Err(format!(
                    "blocks_dim[{i}] has {filters} filters, more than {MAX_FILTERS}"
                ));
            }
            if filters == 0 || length == 0 {
                return Err(format!(
                    "blocks_dim[{i}] = ({filters}, {length}) has a zero entry"
                ));
            }
            if length > length_in || !length_in.is_multiple_of(length) {
                return Err(format!(
                    "blocks_dim[{i}] length {length} must divide the previous length {length_in}"
                ));
            }
            length_in = length;
        }
        if self.n_outputs == 0 {
            return Err("n_outputs must be at least 1".into());
        }
        if self.class_names.len() != self.n_outputs {
            return Err(format!(
                "class_names has {} names but n_outputs is {}",
                self.class_names.len(),
                self.n_outputs
            ));
        }
        if !(0.0..1.0).contains(&self.dropout_rate) {
            return Err(format!(
                "dropout_rate must be in [0, 1), is {}",
                self.dropout_rate
            ));
        }
        if !(self.sampling_rate.is_finite() && self.sampling_rate > 0.0) {
            return Err(format!(
                "sampling_rate must be positive, is {}",
                self.sampling_rate
            ));
        }
        if !(self.input_scale.is_finite() && self.input_scale != 0.0) {
            return Err(format!(
                "input_scale must be finite and non-zero, is {}",
                self.input_scale
            ));
        }
        if !(self.bn_eps.is_finite() && self.bn_eps > 0.0) {
            return Err(format!("bn_eps must be positive, is {}", self.bn_eps));
        }
        if let Some(leads) = &self.input_leads
            && leads.len() != self.input_channels
        {
            return Err(format!(
                "input_leads names {} leads but input_channels is {}",
                leads.len(),
                self.input_channels
            ));
        }
        Ok(())
    }

    /// Downsampling factor of the stem (`downsamples()[0]`) and of each block (`[i + 1]`).
    /// Only meaningful for a config that passed [`ModelConfig::validate`].
    pub fn downsamples(&self) -> Vec<usize> {
        if self.blocks_dim.is_empty() {
            return Vec::new();
        }
        let mut length_in = self.input_length;
        let mut out = Vec::with_capacity(self.blocks_dim.len() + 1);
        for &(_, length) in &self.blocks_dim {
            out.push(length_in / length.max(1));
            length_in = length;
        }
        // The stem maps input_length to blocks_dim[0].1 and block 0 keeps that length.
        let mut result = vec![out[0]];
        result.push(1);
        result.extend_from_slice(&out[1..]);
        result
    }

    /// Every parameter and buffer of the PyTorch `state_dict` (without `num_batches_tracked`),
    /// with its shape, in PyTorch's order.
    /// Empty for a config without blocks.
    pub fn parameter_shapes(&self) -> Vec<(String, Vec<usize>)> {
        if self.blocks_dim.is_empty() {
            return Vec::new();
        }
        let k = self.kernel_size;
        let mut out = Vec::new();
        let bn = |out: &mut Vec<(String, Vec<usize>)>, prefix: &str, n: usize| {
            for name in ["weight", "bias", "running_mean", "running_var"] {
                out.push((format!("{prefix}.{name}"), vec![n]));
            }
        };
        let first = self.blocks_dim[0].0;
        out.push(("conv1.weight".into(), vec![first, self.input_channels, k]));
        bn(&mut out, "bn1", first);
        let downsamples = self.downsamples();
        let mut filters_in = first;
        for (i, &(filters, _)) in self.blocks_dim.iter().enumerate() {
            let p = format!("resblock1d_{i}");
            out.push((format!("{p}.conv1.weight"), vec![filters, filters_in, k]));
            bn(&mut out, &format!("{p}.bn1"), filters);
            out.push((format!("{p}.conv2.weight"), vec![filters, filters, k]));
            bn(&mut out, &format!("{p}.bn2"), filters);
            if filters != filters_in {
                let index = if downsamples[i + 1] > 1 { 1 } else { 0 };
                out.push((
                    format!("{p}.skip_connection.{index}.weight"),
                    vec![filters, filters_in, 1],
                ));
            }
            filters_in = filters;
        }
        let (filters_last, length_last) = *self.blocks_dim.last().unwrap_or(&(0, 0));
        out.push((
            "lin.weight".into(),
            vec![self.n_outputs, filters_last * length_last],
        ));
        out.push(("lin.bias".into(), vec![self.n_outputs]));
        out
    }

    /// Multiply-accumulates of one forward pass of one input (convolutions and the linear layer).
    pub fn macs_per_input(&self) -> u64 {
        if self.blocks_dim.is_empty() {
            return 0;
        }
        let k = self.kernel_size as u64;
        let mut macs = 0u64;
        let (first, len0) = self.blocks_dim[0];
        macs += first as u64 * self.input_channels as u64 * k * len0 as u64;
        let mut filters_in = first as u64;
        let mut len_in = len0 as u64;
        for &(filters, length) in &self.blocks_dim {
            let (f, l) = (filters as u64, length as u64);
            macs += f * filters_in * k * len_in; // conv1 keeps the length
            macs += f * f * k * l; // conv2 downsamples
            if f != filters_in {
                macs += f * filters_in * l;
            }
            filters_in = f;
            len_in = l;
        }
        let (fl, ll) = *self.blocks_dim.last().unwrap_or(&(0, 0));
        macs + (fl * ll * self.n_outputs) as u64
    }

    pub fn from_json_file(path: &std::path::Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
        serde_json::from_str(&text).map_err(|e| format!("invalid model config JSON: {e}"))
    }
}

impl Task {
    /// The output activation: sigmoid (multilabel), softmax (multiclass), identity (regression).
    pub fn activate(&self, raw: &[f32]) -> Vec<f32> {
        match self {
            Task::Multilabel => raw.iter().map(|&v| 1.0 / (1.0 + (-v).exp())).collect(),
            Task::Multiclass => {
                let max = raw.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let exp: Vec<f32> = raw.iter().map(|&v| (v - max).exp()).collect();
                let sum: f32 = exp.iter().sum();
                exp.iter().map(|v| v / sum).collect()
            }
            Task::Regression => raw.to_vec(),
        }
    }
}
