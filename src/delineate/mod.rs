//! P/QRS/T delineation, per-sample segment labels, and cluster-landmark alignment.
//!
//! [`delineate`] finds every beat of a record (multi-lead QRS detection), measures P, QRS and T
//! onset/peak/offset in each lead and fuses them across leads; see [`detector`] for the method
//! and `README.md` in this folder for its accuracy on LUDB.

pub mod align;
mod detector;
mod pacing;
pub mod dsp;
pub mod export;
pub mod params;
pub mod score;
pub mod segments;
pub mod types;

pub use params::DelineatorParams;
pub use segments::{labels_at_steps, labels_for_explanation, labels_per_sample};
pub use types::{Beat, Delineation, SegmentLabel, Wave, WaveKind};

use crate::record::Ecg;

/// Why a record could not be delineated.
#[derive(Debug, thiserror::Error)]
pub enum DelineateError {
    #[error("delineator setting '{name}' {reason}")]
    InvalidParam { name: &'static str, reason: String },
    #[error(
        "record '{record}': {duration_s:.2} s is shorter than the {min_s} s the delineator needs"
    )]
    TooShort {
        record: String,
        duration_s: f64,
        min_s: f64,
    },
    #[error("record '{record}': sampling rate {fs_hz} Hz is not a positive finite number")]
    BadSamplingRate { record: String, fs_hz: f64 },
    #[error("record '{record}': non-finite sample (NaN or infinity) at sample {sample}")]
    NonFinite { record: String, sample: usize },
}

fn check_signal(
    record: &str,
    signal: &[f32],
    fs_hz: f64,
    params: &DelineatorParams,
) -> Result<(), DelineateError> {
    if !(fs_hz.is_finite() && fs_hz > 0.0) {
        return Err(DelineateError::BadSamplingRate {
            record: record.to_string(),
            fs_hz,
        });
    }
    if let Some(sample) = signal.iter().position(|v| !v.is_finite()) {
        return Err(DelineateError::NonFinite {
            record: record.to_string(),
            sample,
        });
    }
    let duration_s = signal.len() as f64 / fs_hz;
    if duration_s < params.min_record_s {
        return Err(DelineateError::TooShort {
            record: record.to_string(),
            duration_s,
            min_s: params.min_record_s,
        });
    }
    Ok(())
}

/// Delineate every lead of a record and fuse the landmarks across leads.
///
/// Errors: invalid settings, a record shorter than `params.min_record_s`. A flat line or pure
/// noise gives an empty `beats` (nothing is invented).
pub fn delineate(ecg: &Ecg, params: &DelineatorParams) -> Result<Delineation, DelineateError> {
    params.validate()?;
    let fs_hz = ecg.fs_hz;
    let rows: Vec<Vec<f32>> = ecg
        .samples_mv
        .rows()
        .into_iter()
        .map(|r| r.to_vec())
        .collect();
    for row in &rows {
        check_signal(&ecg.meta.id, row, fs_hz, params)?;
    }
    let prepared = detector::prepare_leads(rows, fs_hz, params);
    let measured = detector::delineate_prepared(&prepared, fs_hz, params)?;
    Ok(Delineation {
        fs_hz,
        n_samples: ecg.n_samples(),
        beats: measured.beats,
        per_lead: measured.per_lead,
        atrial_fibrillation_suspected: measured.no_consistent_p,
        pacing_spikes: prepared.pacing_spikes,
    })
}

/// Delineate one lead on its own (QRS detection, P presence and rhythm check on this lead only).
pub fn delineate_lead(
    signal: &[f32],
    fs_hz: f64,
    params: &DelineatorParams,
) -> Result<Vec<Beat>, DelineateError> {
    params.validate()?;
    check_signal("(single lead)", signal, fs_hz, params)?;
    let prepared = detector::prepare_leads(vec![signal.to_vec()], fs_hz, params);
    let measured = detector::delineate_prepared(&prepared, fs_hz, params)?;
    Ok(measured.beats)
}
