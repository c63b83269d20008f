//! Signal processing shared by everything downstream: resampling to the model's rate, optional
//! baseline-wander removal and band-pass, centred zero padding or cropping to the model's length.

use std::ops::Range;

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::record::LeadName;

/// What a model expects as input (taken from its config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    pub leads: Vec<LeadName>,
    pub fs_hz: f64,
    pub length: usize,
}

/// Optional filtering before the model. Defaults: none, as Ribeiro's model was trained on raw mV.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct PreprocessSettings {
    pub remove_baseline: bool,
    /// (low, high) cut-offs in Hz.
    pub bandpass_hz: Option<(f64, f64)>,
    /// For records longer than the model's input: where the analysed window starts (seconds).
    /// `None` takes the centred window.
    pub window_start_s: Option<f64>,
}

/// A record made ready for a model, with the exact map between model samples and the record's
/// own time axis (so cluster bands sit on the real signal, not on the padding).
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedInput {
    /// Model leads x model length, in mV (before any model input scaling).
    pub data: Array2<f32>,
    /// Model samples that hold real signal (the rest is zero padding).
    pub valid: Range<usize>,
    /// Model sampling rate.
    pub fs_hz: f64,
    /// Time in the original record (seconds) of model sample 0; negative when padded.
    pub start_s: f64,
}

impl PreparedInput {
    /// Time in the original record (s) of a (possibly fractional) model sample index.
    pub fn seconds_from_model_sample(&self, model_sample: f64) -> f64 {
        self.start_s + model_sample / self.fs_hz
    }

    /// Model sample index (possibly fractional, possibly outside the input) of a time in the
    /// original record.
    pub fn model_sample_from_seconds(&self, seconds: f64) -> f64 {
        (seconds - self.start_s) * self.fs_hz
    }
}
