//! Signal processing shared by everything downstream: resampling to the model's rate, optional
//! baseline-wander removal and band-pass, centred zero padding or cropping to the model's length.

pub mod filter;
pub mod overview;
mod prepare;
pub mod resample;

use std::ops::Range;

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::record::{LeadName, RecordError};

/// The lowest sampling rate any analysis (model input, delineation) accepts. A QRS complex lasts
/// 80-120 ms: below 50 Hz it spans fewer than five samples, so no landmark or cluster could mean
/// anything, and a header claiming such a rate (0.2 Hz) is almost always wrong; resampling it to
/// the model's or the delineator's rate would multiply its memory by the ratio. Monitoring and
/// Holter ECGs start at 100-128 Hz, PTB-XL's low-rate copy is 100 Hz.
pub const MIN_ANALYSIS_RATE_HZ: f64 = 50.0;

/// `Ok` when `fs_hz` is a rate an ECG can be analysed at ([`MIN_ANALYSIS_RATE_HZ`] or more).
pub fn check_analysis_rate(fs_hz: f64) -> Result<(), DspError> {
    if !(fs_hz.is_finite() && fs_hz > 0.0) {
        return Err(DspError::BadRate { fs_hz });
    }
    if fs_hz < MIN_ANALYSIS_RATE_HZ {
        return Err(DspError::RateTooLow {
            fs_hz,
            min_hz: MIN_ANALYSIS_RATE_HZ,
        });
    }
    Ok(())
}

pub use filter::{bandpass_zero_phase, highpass_zero_phase, remove_baseline_median};
pub use prepare::{MIN_RECORD_S, prepare, window_start_for_centre};
pub use resample::{Resampler, ResamplerSettings, resample};

/// Errors of preprocessing. Each names the record when there is one.
#[derive(Debug, thiserror::Error)]
pub enum DspError {
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("sampling rate {fs_hz} Hz is not a positive finite number")]
    BadRate { fs_hz: f64 },
    #[error(
        "sampling rate {fs_hz} Hz is too low to analyse an ECG (at least {min_hz} Hz: a QRS complex must span several samples); check the header's rate"
    )]
    RateTooLow { fs_hz: f64, min_hz: f64 },
    #[error(
        "cannot resample {from_hz} Hz -> {to_hz} Hz: the ratio is not a fraction with at most {max_phases} phases"
    )]
    UnsupportedRatio {
        from_hz: f64,
        to_hz: f64,
        max_phases: u64,
    },
    #[error("signal has a non-finite value (NaN or infinity) at sample {sample}")]
    NonFinite { sample: usize },
    #[error(
        "record '{record}': lead {lead} has a non-finite value (NaN or infinity) at sample {sample}"
    )]
    NonFiniteInRecord {
        record: String,
        lead: String,
        sample: usize,
    },
    /// Refused rather than zero-filled: a flat stretch is a signal the network never saw in
    /// training (it reads like asystole or a lead off), so its outputs there would look
    /// confident and mean nothing.
    #[error(
        "record '{record}': lead {lead} misses samples from {start_s:.3} s (sample {sample}); the model is not given a record with a gap (filling it would show the network a flat line it was never trained on)"
    )]
    GapInRecord {
        record: String,
        lead: String,
        sample: usize,
        start_s: f64,
    },
    #[error(
        "signal of {n_samples} samples ({duration_s:.3} s) is too short: at least {min_s} s needed"
    )]
    TooShort {
        n_samples: usize,
        duration_s: f64,
        min_s: f64,
    },
    #[error("record '{record}' lasts {duration_s:.3} s: at least {min_s} s is needed")]
    RecordTooShort {
        record: String,
        duration_s: f64,
        min_s: f64,
    },
    #[error(
        "record '{record}': window start {window_start_s} s is outside 0..={max_start_s:.3} s (record {duration_s:.3} s, window {window_s:.3} s)"
    )]
    WindowOutOfRange {
        record: String,
        window_start_s: f64,
        max_start_s: f64,
        duration_s: f64,
        window_s: f64,
    },
    #[error("invalid model input spec: {0}")]
    BadSpec(String),
    #[error("invalid setting: {0}")]
    BadSetting(String),
}

impl DspError {
    /// Whether the message already names the record, so a caller adds no "record 'X'" of its
    /// own (each error says its part of the story once).
    pub fn names_record(&self) -> bool {
        matches!(
            self,
            DspError::Record(_)
                | DspError::NonFiniteInRecord { .. }
                | DspError::GapInRecord { .. }
                | DspError::RecordTooShort { .. }
                | DspError::WindowOutOfRange { .. }
        )
    }
}

/// What a model expects as input (taken from its config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    pub leads: Vec<LeadName>,
    pub fs_hz: f64,
    pub length: usize,
}

/// The filtering a model was trained with. It is part of what the model is: stored in the model
/// config and in every explainer fitted for it, and applied from there, so a record is never
/// explained with other filtering than the clusters were fitted on. The default (no filtering)
/// is what files written before it was recorded meant: Ribeiro's models take raw mV.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Preprocessing {
    /// Two-stage median baseline-wander removal.
    #[serde(default)]
    pub remove_baseline: bool,
    /// Zero-phase Butterworth band-pass (low, high) cut-offs in Hz.
    #[serde(default)]
    pub bandpass_hz: Option<(f64, f64)>,
}

impl Preprocessing {
    /// The settings of [`prepare`] for this filtering and a window start (records longer than
    /// the model's input; `None` = centred).
    pub fn settings(&self, window_start_s: Option<f64>) -> PreprocessSettings {
        PreprocessSettings {
            remove_baseline: self.remove_baseline,
            bandpass_hz: self.bandpass_hz,
            window_start_s,
        }
    }
}

impl std::fmt::Display for Preprocessing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if self.remove_baseline {
            parts.push("baseline removal".to_string());
        }
        if let Some((low, high)) = self.bandpass_hz {
            parts.push(format!("band-pass {low}-{high} Hz"));
        }
        if parts.is_empty() {
            f.write_str("no filtering")
        } else {
            f.write_str(&parts.join(" + "))
        }
    }
}

/// Optional filtering before the model, and the analysed window. Defaults: none, as Ribeiro's
/// model was trained on raw mV. Front ends build it from the model's [`Preprocessing`].
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
