//! P/QRS/T delineation, per-sample segment labels, and cluster-landmark alignment.
//!
//! [`delineate`] finds every beat of a record (multi-lead QRS detection), measures P, QRS and T
//! onset/peak/offset in each lead and fuses them across leads; see [`detector`] for the method
//! and `README.md` in this folder for its accuracy on LUDB.

pub mod align;
mod detector;
pub mod dsp;
pub mod export;
pub mod long;
mod pacing;
pub mod params;
pub mod reference;
pub mod score;
pub mod segments;
pub mod types;

pub use params::DelineatorParams;
pub use segments::{labels_at_steps, labels_for_explanation, labels_per_sample};
pub use types::{Beat, Delineation, RhythmEpisode, SegmentLabel, Wave, WaveKind};

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
    #[error("record '{record}'")]
    BadSamplingRate {
        record: String,
        source: crate::dsp::DspError,
    },
    #[error("record '{record}': non-finite sample (NaN or infinity) at sample {sample}")]
    NonFinite { record: String, sample: usize },
    #[error("record '{record}': cannot upsample for delineation")]
    Resample {
        record: String,
        source: crate::dsp::DspError,
    },
    #[error("record '{record}': delineation cancelled")]
    Cancelled { record: String },
    #[error("record '{record}': cannot filter for delineation")]
    Filter {
        record: String,
        source: crate::dsp::DspError,
    },
}

/// The rate check every entry point makes before anything is read or resampled.
fn check_rate(record: &str, fs_hz: f64) -> Result<(), DelineateError> {
    crate::dsp::check_analysis_rate(fs_hz).map_err(|source| DelineateError::BadSamplingRate {
        record: record.to_string(),
        source,
    })
}

fn check_signal(
    record: &str,
    signal: &[f32],
    fs_hz: f64,
    params: &DelineatorParams,
) -> Result<(), DelineateError> {
    check_rate(record, fs_hz)?;
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

/// Filter, detect and measure `rows` (already checked) at `fs_hz`, resampled first to
/// `params.min_internal_rate_hz` when the rate is below it (or, for a rate pair the resampler
/// cannot do exactly, upsampled by the smallest integer factor that reaches it); landmarks are
/// returned at `fs_hz`.
fn delineate_rows(
    record: &str,
    rows: Vec<Vec<f32>>,
    fs_hz: f64,
    params: &DelineatorParams,
) -> Result<Delineation, DelineateError> {
    use crate::dsp::resample::{Resampler, ResamplerSettings};
    let n_samples = rows.first().map(Vec::len).unwrap_or(0);
    let target_hz = params.min_internal_rate_hz;
    let (rows, internal_hz) = if target_hz > 0.0 && fs_hz < target_hz {
        let resample_err = |source| DelineateError::Resample {
            record: record.to_string(),
            source,
        };
        let (resampler, internal_hz) =
            match Resampler::new(fs_hz, target_hz, ResamplerSettings::default()) {
                Ok(r) => (r, target_hz),
                Err(_) => {
                    let to_hz = fs_hz * (target_hz / fs_hz).ceil();
                    let r = Resampler::new(fs_hz, to_hz, ResamplerSettings::default())
                        .map_err(resample_err)?;
                    (r, to_hz)
                }
            };
        let rows = rows
            .iter()
            .map(|r| resampler.process(r))
            .collect::<Result<Vec<_>, _>>()
            .map_err(resample_err)?;
        (rows, internal_hz)
    } else {
        (rows, fs_hz)
    };
    let internal_n = rows.first().map(Vec::len).unwrap_or(0);
    let prepared = detector::prepare_leads(rows, internal_hz, params).map_err(|source| {
        DelineateError::Filter {
            record: record.to_string(),
            source,
        }
    })?;
    let measured = detector::delineate_prepared(&prepared, internal_hz, params)?;
    let delineation = Delineation {
        fs_hz: internal_hz,
        n_samples: internal_n,
        beats: measured.beats,
        per_lead: measured.per_lead,
        atrial_fibrillation_suspected: !measured.af_episodes.is_empty(),
        af_episodes: measured.af_episodes,
        pacing_spikes: prepared.pacing_spikes,
    };
    Ok(if internal_hz != fs_hz {
        rescale_delineation(delineation, fs_hz, n_samples)
    } else {
        delineation
    })
}

/// Map a delineation made at another rate onto `fs_hz` samples (`n_samples` long).
pub fn rescale_delineation(d: Delineation, fs_hz: f64, n_samples: usize) -> Delineation {
    let ratio = fs_hz / d.fs_hz;
    // Ties to even: at 500 -> 250 Hz every odd sample falls halfway between two, and rounding
    // halves up moved every landmark of a 250 Hz record 1 ms late on average (all bounds on
    // LUDB delineated at 250 Hz, both halves).
    let map = |s: usize| {
        (((s as f64) * ratio).round_ties_even() as usize).min(n_samples.saturating_sub(1))
    };
    let wave = |w: Wave| Wave {
        kind: w.kind,
        onset: map(w.onset),
        peak: map(w.peak),
        offset: map(w.offset),
    };
    let beat = |b: &Beat| Beat {
        p: b.p.map(wave),
        qrs: wave(b.qrs),
        t: b.t.map(wave),
    };
    Delineation {
        fs_hz,
        n_samples,
        beats: d.beats.iter().map(beat).collect(),
        per_lead: d
            .per_lead
            .iter()
            .map(|l| l.iter().map(beat).collect())
            .collect(),
        atrial_fibrillation_suspected: d.atrial_fibrillation_suspected,
        af_episodes: d
            .af_episodes
            .iter()
            .map(|e| RhythmEpisode {
                start: map(e.start),
                end: map(e.end),
            })
            .collect(),
        pacing_spikes: d.pacing_spikes.iter().map(|&s| map(s)).collect(),
    }
}

/// Delineate every lead of a record and fuse the landmarks across leads. A record longer than
/// `params.stream_window_s` is delineated in overlapping windows ([`long`]): bounded memory,
/// thresholds that follow slow changes; use [`long::delineate_long`] to follow its progress.
///
/// Errors: invalid settings, a record shorter than `params.min_record_s`. A flat line or pure
/// noise gives an empty `beats` (nothing is invented).
pub fn delineate(ecg: &Ecg, params: &DelineatorParams) -> Result<Delineation, DelineateError> {
    long::delineate_long(ecg, params, &crate::progress::NoProgress)
}

/// Delineate one lead on its own (QRS detection, P presence and rhythm check on this lead only).
pub fn delineate_lead(
    signal: &[f32],
    fs_hz: f64,
    params: &DelineatorParams,
) -> Result<Vec<Beat>, DelineateError> {
    params.validate()?;
    check_signal("(single lead)", signal, fs_hz, params)?;
    Ok(delineate_rows("(single lead)", vec![signal.to_vec()], fs_hz, params)?.beats)
}
