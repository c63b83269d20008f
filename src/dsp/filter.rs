//! Zero-phase filters: Butterworth biquads run forward and backward (no delay, so landmarks and
//! cluster bands stay where they are), and a two-stage median baseline estimate.

use crate::dsp::DspError;

/// One second-order section, `a0` normalised to 1 (transposed direct form II).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Biquad {
    pub b0: f64,
    pub b1: f64,
    pub b2: f64,
    pub a1: f64,
    pub a2: f64,
}

impl Biquad {
    /// DC gain of the section.
    fn dc_gain(&self) -> f64 {
        (self.b0 + self.b1 + self.b2) / (1.0 + self.a1 + self.a2)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterKind {
    LowPass,
    HighPass,
}

/// Butterworth filter of `order` as cascaded sections (bilinear transform, pre-warped at the
/// cut-off so the -3 dB point is exact).
pub fn butterworth(
    kind: FilterKind,
    order: usize,
    cutoff_hz: f64,
    fs_hz: f64,
) -> Result<Vec<Biquad>, DspError> {
    if !(fs_hz.is_finite() && fs_hz > 0.0) {
        return Err(DspError::BadRate { fs_hz });
    }
    if !(cutoff_hz.is_finite() && cutoff_hz > 0.0 && cutoff_hz < fs_hz / 2.0) {
        return Err(DspError::BadSetting(format!(
            "filter cut-off {cutoff_hz} Hz must lie strictly between 0 and the Nyquist frequency {} Hz",
            fs_hz / 2.0
        )));
    }
    if order == 0 || order > 16 {
        return Err(DspError::BadSetting(format!(
            "filter order must be in 1..=16, got {order}"
        )));
    }
    let w0 = 2.0 * std::f64::consts::PI * cutoff_hz / fs_hz;
    let (sin_w, cos_w) = w0.sin_cos();
    let mut sections = Vec::new();
    for k in 0..order / 2 {
        // Pole pair k of the analog Butterworth prototype.
        let q =
            1.0 / (2.0 * ((2 * k + 1) as f64 * std::f64::consts::PI / (2 * order) as f64).sin());
        let alpha = sin_w / (2.0 * q);
        let a0 = 1.0 + alpha;
        let (b0, b1, b2) = match kind {
            FilterKind::LowPass => ((1.0 - cos_w) / 2.0, 1.0 - cos_w, (1.0 - cos_w) / 2.0),
            FilterKind::HighPass => ((1.0 + cos_w) / 2.0, -(1.0 + cos_w), (1.0 + cos_w) / 2.0),
        };
        sections.push(Biquad {
            b0: b0 / a0,
            b1: b1 / a0,
            b2: b2 / a0,
            a1: -2.0 * cos_w / a0,
            a2: (1.0 - alpha) / a0,
        });
    }
    if order % 2 == 1 {
        let k = (w0 / 2.0).tan();
        let a1 = (k - 1.0) / (k + 1.0);
        let (b0, b1) = match kind {
            FilterKind::LowPass => (k / (1.0 + k), k / (1.0 + k)),
            FilterKind::HighPass => (1.0 / (1.0 + k), -1.0 / (1.0 + k)),
        };
        sections.push(Biquad {
            b0,
            b1,
            b2: 0.0,
            a1,
            a2: 0.0,
        });
    }
    Ok(sections)
}

/// Run the cascade once over several equally long signals, starting every section in the steady
/// state for each signal's first value (as scipy's `lfilter_zi`), so a constant offset causes no
/// start-up transient. The signals' recursions are independent: interleaving them keeps the CPU
/// busy (about 3x faster for the 12 leads of a record than one by one); each signal's arithmetic
/// is the same as on its own, so the result is too, to the bit.
fn filter_once(sections: &[Biquad], lanes: &mut [Vec<f64>]) {
    let Some(n) = lanes.first().map(Vec::len) else {
        return;
    };
    if n == 0 {
        return;
    }
    let m = lanes.len();
    let mut level: Vec<f64> = lanes.iter().map(|l| l[0]).collect();
    let (mut z1, mut z2) = (vec![0.0f64; m], vec![0.0f64; m]);
    for s in sections {
        let gain = s.dc_gain();
        for k in 0..m {
            let y_ss = gain * level[k];
            z1[k] = y_ss - s.b0 * level[k];
            z2[k] = s.b2 * level[k] - s.a2 * y_ss;
            level[k] = y_ss;
        }
        for i in 0..n {
            for (k, lane) in lanes.iter_mut().enumerate() {
                let input = lane[i];
                let y = s.b0 * input + z1[k];
                z1[k] = s.b1 * input - s.a1 * y + z2[k];
                z2[k] = s.b2 * input - s.a2 * y;
                lane[i] = y;
            }
        }
    }
}

/// `x` in f64 with odd reflection padding of `pad` samples at both ends (`2 x[0] - x[i]`): the
/// signal continues with its own level and slope, so a trend at the edge (baseline wander) does
/// not start a transient as a constant continuation would.
fn odd_padded(x: &[f32], pad: usize) -> Vec<f64> {
    let n = x.len();
    let mut ext = Vec::with_capacity(n + 2 * pad);
    let first = x[0] as f64;
    let last = x[n - 1] as f64;
    for i in (1..=pad).rev() {
        ext.push(2.0 * first - x[i] as f64);
    }
    ext.extend(x.iter().map(|&v| v as f64));
    for i in 1..=pad {
        ext.push(2.0 * last - x[n - 1 - i] as f64);
    }
    ext
}

/// Forward-backward (zero-phase) filtering with odd reflection padding of `pad` samples at both
/// ends (clamped to the signal length), which keeps the ends free of transients.
pub fn filtfilt(sections: &[Biquad], x: &[f32], pad: usize) -> Vec<f32> {
    let mut lanes = vec![x.to_vec()];
    filtfilt_many(sections, &mut lanes, pad);
    lanes.pop().unwrap_or_default()
}

/// [`filtfilt`] of several signals in place, e.g. the leads of a record. Equally long signals
/// are filtered together (interleaved, see [`filter_once`]); the result is the same as filtering
/// each on its own.
pub fn filtfilt_many(sections: &[Biquad], lanes: &mut [Vec<f32>], pad: usize) {
    let Some(n) = lanes.first().map(Vec::len) else {
        return;
    };
    if lanes.iter().any(|l| l.len() != n) {
        for lane in lanes.iter_mut() {
            filtfilt_many(sections, std::slice::from_mut(lane), pad);
        }
        return;
    }
    if n == 0 {
        return;
    }
    let pad = pad.min(n - 1);
    let mut ext: Vec<Vec<f64>> = lanes.iter().map(|x| odd_padded(x, pad)).collect();
    filter_once(sections, &mut ext);
    ext.iter_mut().for_each(|e| e.reverse());
    filter_once(sections, &mut ext);
    for (lane, e) in lanes.iter_mut().zip(&mut ext) {
        e.reverse();
        for (v, y) in lane.iter_mut().zip(&e[pad..pad + n]) {
            *v = *y as f32;
        }
    }
}

/// Padding for a zero-phase filter with its lowest cut-off at `cutoff_hz`: one period of it (the
/// slowest transient to settle).
pub fn pad_for(cutoff_hz: f64, fs_hz: f64) -> usize {
    (fs_hz / cutoff_hz).ceil() as usize
}

/// Zero-phase Butterworth low-pass or high-pass of `order` over several signals in place (e.g.
/// the leads of a record, see [`filtfilt_many`]), with `pad` samples of odd reflection at both
/// ends ([`pad_for`] the cut-off is the usual choice; 0 starts in the steady state of the end
/// values only).
pub fn zero_phase_many(
    lanes: &mut [Vec<f32>],
    kind: FilterKind,
    fs_hz: f64,
    cutoff_hz: f64,
    order: usize,
    pad: usize,
) -> Result<(), DspError> {
    let sections = butterworth(kind, order, cutoff_hz, fs_hz)?;
    filtfilt_many(&sections, lanes, pad);
    Ok(())
}

/// Zero-phase Butterworth band-pass: a high-pass at `low_hz` and a low-pass at `high_hz`, each of
/// `order`, run forward and backward (so the magnitude response is squared, the phase zero).
/// Padding is one period of the low cut-off (the slowest transient to settle).
pub fn bandpass_zero_phase(
    x: &[f32],
    fs_hz: f64,
    low_hz: f64,
    high_hz: f64,
    order: usize,
) -> Result<Vec<f32>, DspError> {
    if !(low_hz < high_hz) {
        return Err(DspError::BadSetting(format!(
            "band-pass needs low < high, got {low_hz} Hz .. {high_hz} Hz"
        )));
    }
    let mut sections = butterworth(FilterKind::HighPass, order, low_hz, fs_hz)?;
    sections.extend(butterworth(FilterKind::LowPass, order, high_hz, fs_hz)?);
    Ok(filtfilt(&sections, x, pad_for(low_hz, fs_hz)))
}

/// Zero-phase Butterworth high-pass (e.g. 0.5 Hz baseline removal), padding one period of the
/// cut-off.
pub fn highpass_zero_phase(
    x: &[f32],
    fs_hz: f64,
    cutoff_hz: f64,
    order: usize,
) -> Result<Vec<f32>, DspError> {
    let sections = butterworth(FilterKind::HighPass, order, cutoff_hz, fs_hz)?;
    Ok(filtfilt(&sections, x, pad_for(cutoff_hz, fs_hz)))
}

/// Running median over an odd window of `width` samples. The ends are extended by odd reflection
/// (`2 x[0] - x[i]`), so a linear trend passes unbiased right up to the ends instead of lagging
/// as it would with a window shrunk to one side.
pub fn median_filter(x: &[f32], width: usize) -> Vec<f32> {
    let n = x.len();
    if n == 0 || width <= 1 {
        return x.to_vec();
    }
    let half = width / 2;
    let pad = half.min(n - 1);
    let mut ext = Vec::with_capacity(n + 2 * pad);
    for i in (1..=pad).rev() {
        ext.push(2.0 * x[0] - x[i]);
    }
    ext.extend_from_slice(x);
    for i in 1..=pad {
        ext.push(2.0 * x[n - 1] - x[n - 1 - i]);
    }
    let m = ext.len();
    // A sorted copy of the window. In the steady state one sample leaves and one enters: replace
    // it in place, shifting only the elements ranked between the two (few, as neighbouring ECG
    // samples have close values).
    let mut window: Vec<f32> = Vec::with_capacity(2 * half + 1);
    let mut out = Vec::with_capacity(n);
    let mut hi = 0usize; // next sample to enter
    let mut lo = 0usize; // next sample to leave
    for i in pad..pad + n {
        let want_hi = (i + half + 1).min(m);
        let want_lo = i.saturating_sub(half);
        while hi < want_hi && lo < want_lo && !window.is_empty() {
            let (old, new) = (ext[lo], ext[hi]);
            let pos_out = window.partition_point(|&u| u < old).min(window.len() - 1);
            let pos_in = window.partition_point(|&u| u < new);
            if pos_in <= pos_out {
                window.copy_within(pos_in..pos_out, pos_in + 1);
                window[pos_in] = new;
            } else {
                window.copy_within(pos_out + 1..pos_in, pos_out);
                window[pos_in - 1] = new;
            }
            hi += 1;
            lo += 1;
        }
        while hi < want_hi {
            let v = ext[hi];
            let at = window.partition_point(|&u| u < v);
            window.insert(at, v);
            hi += 1;
        }
        while lo < want_lo && !window.is_empty() {
            let v = ext[lo];
            let at = window.partition_point(|&u| u < v).min(window.len() - 1);
            window.remove(at);
            lo += 1;
        }
        let len = window.len();
        out.push(if len % 2 == 1 {
            window[len / 2]
        } else {
            0.5 * (window[len / 2 - 1] + window[len / 2])
        });
    }
    out
}

/// Baseline wander removal by the two-stage median filter of de Chazal et al. (2004): a median
/// over `first_window_s` (removes QRS and P), then over `second_window_s` (removes T); the result
/// is the baseline, subtracted from the signal. The usual windows are 0.2 s and 0.6 s
/// ([`BASELINE_MEDIAN_WINDOWS_S`]).
pub fn remove_baseline_median(
    x: &[f32],
    fs_hz: f64,
    first_window_s: f64,
    second_window_s: f64,
) -> Result<Vec<f32>, DspError> {
    if !(fs_hz.is_finite() && fs_hz > 0.0) {
        return Err(DspError::BadRate { fs_hz });
    }
    for w in [first_window_s, second_window_s] {
        if !(w.is_finite() && w > 0.0) {
            return Err(DspError::BadSetting(format!(
                "median window must be a positive number of seconds, got {w}"
            )));
        }
    }
    let odd = |s: f64| ((s * fs_hz).round() as usize / 2) * 2 + 1;
    let stage1 = median_filter(x, odd(first_window_s));
    let baseline = median_filter(&stage1, odd(second_window_s));
    Ok(x.iter().zip(&baseline).map(|(v, b)| v - b).collect())
}

/// Median windows (s) of the two-stage baseline filter used by `prepare` (de Chazal et al. 2004).
pub const BASELINE_MEDIAN_WINDOWS_S: (f64, f64) = (0.2, 0.6);

/// Order of each of the high- and low-pass halves of the band-pass used by `prepare` (run forward
/// and backward, so the effective magnitude response is that of order 4).
pub const BANDPASS_ORDER: usize = 2;

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq_hz: f64, fs_hz: f64, n: usize, amp: f64) -> Vec<f32> {
        (0..n)
            .map(|i| (amp * (2.0 * std::f64::consts::PI * freq_hz * i as f64 / fs_hz).sin()) as f32)
            .collect()
    }

    fn rms(x: &[f32]) -> f64 {
        (x.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
    }

    #[test]
    fn butterworth_is_minus_3db_at_cutoff_per_pass() {
        // One pass of order 2 low-pass at 40 Hz: gain 1/sqrt(2) at 40 Hz.
        let fs = 500.0;
        let sections = butterworth(FilterKind::LowPass, 2, 40.0, fs).unwrap();
        let x = sine(40.0, fs, 5000, 1.0);
        let mut y = vec![x.iter().map(|&v| v as f64).collect::<Vec<f64>>()];
        filter_once(&sections, &mut y);
        let y32: Vec<f32> = y[0][1000..].iter().map(|&v| v as f32).collect();
        let gain = rms(&y32) / rms(&x[1000..]);
        assert!(
            (gain - std::f64::consts::FRAC_1_SQRT_2).abs() < 0.01,
            "gain {gain}"
        );
    }

    #[test]
    fn bandpass_keeps_passband_and_phase_and_removes_drift() {
        let fs = 500.0;
        let n = 5000;
        let inband = sine(10.0, fs, n, 1.0);
        let drift = sine(0.05, fs, n, 2.0);
        let hum = sine(100.0, fs, n, 0.5);
        let x: Vec<f32> = (0..n).map(|i| inband[i] + drift[i] + hum[i]).collect();
        let y = bandpass_zero_phase(&x, fs, 0.5, 40.0, 2).unwrap();
        // Zero phase: the in-band sine comes out in place (no delay), amplitude within 1%.
        let err: Vec<f32> = y.iter().zip(&inband).map(|(a, b)| a - b).collect();
        let rel = rms(&err[500..n - 500]) / rms(&inband[500..n - 500]);
        assert!(rel < 0.02, "relative error {rel}");
    }

    #[test]
    fn median_filter_matches_naive() {
        // Distinct values, and quantised ones with many ties; short and long windows.
        let distinct: Vec<f32> = (0..300).map(|i| ((i * 37 % 101) as f32).sin()).collect();
        let ties: Vec<f32> = distinct.iter().map(|v| (v * 3.0).round()).collect();
        for x in [&distinct, &ties] {
            for width in [3usize, 9, 41] {
                let y = median_filter(x, width);
                let n = x.len();
                let half = (width / 2) as i64;
                let ext = |j: i64| -> f32 {
                    if j < 0 {
                        2.0 * x[0] - x[(-j) as usize]
                    } else if j >= n as i64 {
                        2.0 * x[n - 1] - x[2 * (n - 1) - j as usize]
                    } else {
                        x[j as usize]
                    }
                };
                for i in 0..n {
                    let mut w: Vec<f32> = (i as i64 - half..=i as i64 + half).map(ext).collect();
                    w.sort_by(|a, b| a.partial_cmp(b).unwrap());
                    assert_eq!(y[i], w[w.len() / 2], "width {width} at {i}");
                }
            }
        }
    }

    #[test]
    fn median_baseline_removal_removes_a_slow_offset() {
        let fs = 500.0;
        let n = 5000;
        // Spiky "QRS" train on a slow drift.
        let x: Vec<f32> = (0..n)
            .map(|i| {
                let t = i as f64 / fs;
                let spike = if i % 400 >= 200 && i % 400 < 210 {
                    1.0
                } else {
                    0.0
                };
                (spike + 0.5 * (2.0 * std::f64::consts::PI * 0.1 * t).sin()) as f32
            })
            .collect();
        let y = remove_baseline_median(&x, fs, 0.2, 0.6).unwrap();
        // Between spikes the output is close to zero.
        let between: Vec<f32> = (0..n)
            .filter(|i| i % 400 < 100 || i % 400 > 300)
            .map(|i| y[i])
            .collect();
        assert!(
            between.iter().all(|v| v.abs() < 0.02),
            "max {:?}",
            between.iter().cloned().fold(0.0f32, |a, b| a.max(b.abs()))
        );
    }

    #[test]
    fn many_lanes_equal_one_by_one() {
        let a: Vec<f32> = (0..500).map(|i| ((i * 7919) % 97) as f32 / 97.0).collect();
        let b: Vec<f32> = (0..500)
            .map(|i| ((i * 104729) % 89) as f32 / 89.0 - 2.0)
            .collect();
        let short: Vec<f32> = a[..300].to_vec();
        let mut lanes = vec![a.clone(), b.clone()];
        zero_phase_many(&mut lanes, FilterKind::LowPass, 250.0, 15.0, 2, 17).unwrap();
        zero_phase_many(&mut lanes, FilterKind::HighPass, 250.0, 0.5, 2, 500).unwrap();
        let one = |x: &[f32]| {
            let low = butterworth(FilterKind::LowPass, 2, 15.0, 250.0).unwrap();
            let y = filtfilt(&low, x, 17);
            highpass_zero_phase(&y, 250.0, 0.5, 2).unwrap()
        };
        assert_eq!(lanes, vec![one(&a), one(&b)]);
        // Signals of different lengths are filtered one by one.
        let mut mixed = vec![a.clone(), short.clone()];
        zero_phase_many(&mut mixed, FilterKind::LowPass, 250.0, 15.0, 2, 17).unwrap();
        let low = butterworth(FilterKind::LowPass, 2, 15.0, 250.0).unwrap();
        assert_eq!(
            mixed,
            vec![filtfilt(&low, &a, 17), filtfilt(&low, &short, 17)]
        );
    }

    #[test]
    fn low_pass_keeps_dc_and_a_ramp_at_the_ends() {
        // Odd reflection continues a trend at the edges: a ramp (baseline wander) comes out
        // unchanged up to the ends, where a constant continuation would bend it.
        let fs = 500.0;
        let mut lanes = vec![
            (0..2000)
                .map(|i| 1.0 + i as f32 * 1e-3)
                .collect::<Vec<f32>>(),
        ];
        let ramp = lanes[0].clone();
        zero_phase_many(&mut lanes, FilterKind::LowPass, fs, 10.0, 2, 50).unwrap();
        for (y, x) in lanes[0].iter().zip(&ramp) {
            assert!((y - x).abs() < 1e-4, "{y} vs {x}");
        }
    }

    #[test]
    fn bad_cutoffs_are_refused() {
        assert!(butterworth(FilterKind::LowPass, 2, 300.0, 500.0).is_err());
        assert!(bandpass_zero_phase(&[0.0; 10], 500.0, 40.0, 0.5, 2).is_err());
        assert!(butterworth(FilterKind::HighPass, 0, 1.0, 500.0).is_err());
    }
}
