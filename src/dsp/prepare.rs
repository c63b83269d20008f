//! `prepare`: from a record to the model's input (leads, rate, length) with the exact time map.

use ndarray::Array2;

use crate::dsp::filter::{
    BANDPASS_ORDER, BASELINE_MEDIAN_WINDOWS_S, bandpass_zero_phase, remove_baseline_median,
};
use crate::dsp::resample::{Resampler, ResamplerSettings};
use crate::dsp::{DspError, InputSpec, PreparedInput, PreprocessSettings};
use crate::record::Ecg;

/// Shortest record (seconds) `prepare` accepts: below about one beat there is nothing to explain.
pub const MIN_RECORD_S: f64 = 1.0;

/// Make `ecg` ready for a model described by `spec`:
///
/// 1. pick the model's leads in its order (a missing lead is an error naming it);
/// 2. resample to `spec.fs_hz` (linear-phase polyphase, output sample `k` at `k / spec.fs_hz` s);
/// 3. optionally remove baseline wander (two-stage median, [`BASELINE_MEDIAN_WINDOWS_S`]) and
///    band-pass (zero-phase Butterworth, [`BANDPASS_ORDER`] per side), at the model's rate;
/// 4. centre-pad with zeros to `spec.length` (e.g. 4000 -> 4096: 48 zeros each side), or crop to
///    it (centred, or from `settings.window_start_s`).
///
/// `valid` marks the model samples holding signal and `start_s` is the record time of model
/// sample 0 (negative when padded), so `start_s + j / fs_hz` is exact for every model sample `j`.
pub fn prepare(
    ecg: &Ecg,
    spec: &InputSpec,
    settings: &PreprocessSettings,
) -> Result<PreparedInput, DspError> {
    let record = ecg.meta.id.clone();
    if spec.leads.is_empty() || spec.length == 0 {
        return Err(DspError::BadSpec(format!(
            "{} leads x {} samples: both must be positive",
            spec.leads.len(),
            spec.length
        )));
    }
    if !(spec.fs_hz.is_finite() && spec.fs_hz > 0.0) {
        return Err(DspError::BadRate { fs_hz: spec.fs_hz });
    }
    super::check_analysis_rate(ecg.fs_hz)?;
    let duration_s = ecg.n_samples() as f64 / ecg.fs_hz;
    if duration_s < MIN_RECORD_S {
        return Err(DspError::RecordTooShort {
            record,
            duration_s,
            min_s: MIN_RECORD_S,
        });
    }
    if let Some((low, high)) = settings.bandpass_hz
        && !(low.is_finite()
            && high.is_finite()
            && 0.0 < low
            && low < high
            && high < spec.fs_hz / 2.0)
    {
        return Err(DspError::BadSetting(format!(
            "band-pass {low} Hz .. {high} Hz must satisfy 0 < low < high < {} Hz (half the model rate)",
            spec.fs_hz / 2.0
        )));
    }
    let selected = ecg.select_leads(&spec.leads)?;
    for (row_index, row) in selected.rows().into_iter().enumerate() {
        if let Some(sample) = row.iter().position(|v| v.is_nan()) {
            return Err(DspError::GapInRecord {
                record,
                lead: spec.leads[row_index].to_string(),
                sample,
                start_s: sample as f64 / ecg.fs_hz,
            });
        }
        if let Some(sample) = row.iter().position(|v| !v.is_finite()) {
            return Err(DspError::NonFiniteInRecord {
                record,
                lead: spec.leads[row_index].to_string(),
                sample,
            });
        }
    }

    let resampler = Resampler::new(ecg.fs_hz, spec.fs_hz, ResamplerSettings::default())?;
    let n_resampled = resampler.output_len(ecg.n_samples());
    let length = spec.length;
    // Where the resampled signal lands in the model input: pad (offset >= 0) or crop (first kept
    // resampled sample).
    let (pad_left, crop_start) = if n_resampled <= length {
        ((length - n_resampled) / 2, 0usize)
    } else {
        let max_start = n_resampled - length;
        let start = match settings.window_start_s {
            None => max_start / 2,
            Some(window_start_s) => {
                let start = (window_start_s * spec.fs_hz).round();
                if !(window_start_s.is_finite() && start >= 0.0 && start <= max_start as f64) {
                    return Err(DspError::WindowOutOfRange {
                        record,
                        window_start_s,
                        max_start_s: max_start as f64 / spec.fs_hz,
                        duration_s,
                        window_s: length as f64 / spec.fs_hz,
                    });
                }
                start as usize
            }
        };
        (0, start)
    };
    let n_kept = n_resampled.min(length);

    let mut data = Array2::<f32>::zeros((spec.leads.len(), length));
    for (row_index, row) in selected.rows().into_iter().enumerate() {
        let raw: Vec<f32> = row.iter().copied().collect();
        let mut x = resampler.process(&raw)?;
        if settings.remove_baseline {
            let (w1, w2) = BASELINE_MEDIAN_WINDOWS_S;
            x = remove_baseline_median(&x, spec.fs_hz, w1, w2)?;
        }
        if let Some((low, high)) = settings.bandpass_hz {
            x = bandpass_zero_phase(&x, spec.fs_hz, low, high, BANDPASS_ORDER)?;
        }
        let mut out_row = data.row_mut(row_index);
        for (j, v) in x[crop_start..crop_start + n_kept].iter().enumerate() {
            out_row[pad_left + j] = *v;
        }
    }
    let start_s = (crop_start as f64 - pad_left as f64) / spec.fs_hz;
    Ok(PreparedInput {
        data,
        valid: pad_left..pad_left + n_kept,
        fs_hz: spec.fs_hz,
        start_s,
    })
}

/// The model window (the `window_start_s` of [`PreprocessSettings`]) that best shows the record
/// time `centre_s`: the window centred there, kept inside the record. `None` when the whole
/// record fits the model's input (it is padded, not cropped) or a rate is invalid.
///
/// The bound is computed on the resampled length exactly as [`prepare`] crops, so the start
/// returned is always accepted by it.
pub fn window_start_for_centre(
    spec: &InputSpec,
    record_fs_hz: f64,
    record_n_samples: usize,
    centre_s: f64,
) -> Option<f64> {
    let resampler = Resampler::new(record_fs_hz, spec.fs_hz, ResamplerSettings::default()).ok()?;
    let n_resampled = resampler.output_len(record_n_samples);
    if n_resampled <= spec.length || !centre_s.is_finite() {
        return None;
    }
    let max_start = (n_resampled - spec.length) as f64;
    // Whole model samples, as `prepare` rounds the start to one.
    let start = (centre_s * spec.fs_hz - spec.length as f64 / 2.0)
        .round()
        .clamp(0.0, max_start);
    Some(start / spec.fs_hz)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{EcgMeta, LeadName};

    fn ecg(n: usize, fs_hz: f64) -> Ecg {
        let leads = LeadName::standard_12();
        let data = Array2::from_shape_fn((12, n), |(l, i)| {
            ((l as f64 + 1.0) * (2.0 * std::f64::consts::PI * 5.0 * i as f64 / fs_hz).sin()) as f32
        });
        Ecg::new(
            leads,
            fs_hz,
            data,
            EcgMeta {
                id: "t".into(),
                ..Default::default()
            },
        )
        .unwrap()
    }

    /// Ribeiro's input: 12 leads x 4096 samples at 400 Hz.
    fn spec() -> InputSpec {
        crate::model::ModelConfig::ribeiro(1, crate::model::Task::Regression, Vec::new())
            .input_spec()
    }

    #[test]
    fn ten_seconds_at_500_hz_pads_48_each_side() {
        let p = prepare(&ecg(5000, 500.0), &spec(), &PreprocessSettings::default()).unwrap();
        assert_eq!(p.valid, 48..4048);
        assert_eq!(p.start_s, -48.0 / 400.0);
        assert!(p.data.column(47).iter().all(|v| *v == 0.0));
        assert!(p.data.column(4048).iter().all(|v| *v == 0.0));
    }

    #[test]
    fn window_start_out_of_range_is_an_error() {
        let e = ecg(15000, 500.0);
        let err = prepare(
            &e,
            &spec(),
            &PreprocessSettings {
                window_start_s: Some(25.0),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(matches!(err, DspError::WindowOutOfRange { .. }), "{err}");
    }

    #[test]
    fn the_window_for_a_centre_is_inside_the_record_and_accepted_by_prepare() {
        // 30 s at 500 Hz for a 400 Hz x 4096 model (10.24 s).
        let e = ecg(15_000, 500.0);
        let spec = spec();
        let window_s = spec.length as f64 / spec.fs_hz;
        let start = |centre_s| window_start_for_centre(&spec, 500.0, 15_000, centre_s);
        assert_eq!(start(0.0), Some(0.0));
        assert!((start(15.0).unwrap() - (15.0 - window_s / 2.0)).abs() < 1e-9);
        let last = start(1e9).unwrap();
        assert!((last + window_s - 30.0).abs() < 1.0 / spec.fs_hz, "{last}");
        for centre_s in [0.0, 3.3, 15.0, 29.9, 1e9] {
            let settings = PreprocessSettings {
                window_start_s: start(centre_s),
                ..Default::default()
            };
            let p = prepare(&e, &spec, &settings).unwrap();
            assert!((p.start_s - start(centre_s).unwrap()).abs() < 1e-9);
        }
        // A record the model sees whole has no window to choose.
        assert_eq!(window_start_for_centre(&spec, 500.0, 5_000, 1.0), None);
        assert_eq!(start(f64::NAN), None);
    }
}
