//! Small O(n) signal helpers for the delineator: zero-phase Butterworth biquads, derivative,
//! centred moving average, quantiles. Kept here (not in `crate::dsp`) so the delineator works at
//! the record's own rate without the model's preprocessing.

/// Second-order section in transposed direct form II.
#[derive(Debug, Clone, Copy)]
struct Biquad {
    b0: f64,
    b1: f64,
    b2: f64,
    a1: f64,
    a2: f64,
}

impl Biquad {
    /// Butterworth (Q = 1/sqrt 2) low-pass or high-pass by the bilinear transform with
    /// pre-warping. `cutoff_hz` must lie in (0, fs/2); the caller clamps it.
    fn butterworth(cutoff_hz: f64, fs_hz: f64, high_pass: bool) -> Self {
        let k = (std::f64::consts::PI * cutoff_hz / fs_hz).tan();
        let q = std::f64::consts::FRAC_1_SQRT_2;
        let norm = 1.0 / (1.0 + k / q + k * k);
        let (b0, b1, b2) = if high_pass {
            (norm, -2.0 * norm, norm)
        } else {
            (k * k * norm, 2.0 * k * k * norm, k * k * norm)
        };
        let a1 = 2.0 * (k * k - 1.0) * norm;
        let a2 = (1.0 - k / q + k * k) * norm;
        Biquad { b0, b1, b2, a1, a2 }
    }

    /// Filter in place in the given direction, starting in the steady state of the first
    /// sample (so a constant offset causes no start-up transient).
    fn run(&self, x: &mut [f32], reverse: bool) {
        let n = x.len();
        if n == 0 {
            return;
        }
        let first = if reverse { x[n - 1] } else { x[0] } as f64;
        let dc_gain = (self.b0 + self.b1 + self.b2) / (1.0 + self.a1 + self.a2);
        let y0 = dc_gain * first;
        let mut z2 = self.b2 * first - self.a2 * y0;
        let mut z1 = self.b1 * first - self.a1 * y0 + z2;
        let mut step = |v: &mut f32| {
            let xi = *v as f64;
            let yi = self.b0 * xi + z1;
            z1 = self.b1 * xi - self.a1 * yi + z2;
            z2 = self.b2 * xi - self.a2 * yi;
            *v = yi as f32;
        };
        if reverse {
            x.iter_mut().rev().for_each(&mut step);
        } else {
            x.iter_mut().for_each(&mut step);
        }
    }
}

impl Biquad {
    /// Filter several equally long signals at once: the recursions of different signals are
    /// independent, so interleaving them keeps the CPU busy (about 3x faster than one by one).
    fn run_lanes(&self, lanes: &mut [Vec<f32>], reverse: bool) {
        let Some(n) = lanes.first().map(Vec::len) else {
            return;
        };
        if n == 0 || lanes.iter().any(|l| l.len() != n) {
            for l in lanes.iter_mut() {
                self.run(l, reverse);
            }
            return;
        }
        let m = lanes.len();
        let dc_gain = (self.b0 + self.b1 + self.b2) / (1.0 + self.a1 + self.a2);
        let mut z1 = vec![0.0f64; m];
        let mut z2 = vec![0.0f64; m];
        for (k, lane) in lanes.iter().enumerate() {
            let first = if reverse { lane[n - 1] } else { lane[0] } as f64;
            let y0 = dc_gain * first;
            z2[k] = self.b2 * first - self.a2 * y0;
            z1[k] = self.b1 * first - self.a1 * y0 + z2[k];
        }
        for step in 0..n {
            let i = if reverse { n - 1 - step } else { step };
            for (k, lane) in lanes.iter_mut().enumerate() {
                let xi = lane[i] as f64;
                let yi = self.b0 * xi + z1[k];
                z1[k] = self.b1 * xi - self.a1 * yi + z2[k];
                z2[k] = self.b2 * xi - self.a2 * yi;
                lane[i] = yi as f32;
            }
        }
    }
}

/// Zero-phase low-pass of several equally long signals at once (see [`lowpass_zero_phase`]).
pub fn lowpass_zero_phase_many(lanes: &mut [Vec<f32>], cutoff_hz: f64, fs_hz: f64) {
    let f = Biquad::butterworth(clamp_cutoff(cutoff_hz, fs_hz), fs_hz, false);
    f.run_lanes(lanes, false);
    f.run_lanes(lanes, true);
}

/// Zero-phase high-pass of several equally long signals at once (see [`highpass_zero_phase`]).
pub fn highpass_zero_phase_many(lanes: &mut [Vec<f32>], cutoff_hz: f64, fs_hz: f64) {
    let f = Biquad::butterworth(clamp_cutoff(cutoff_hz, fs_hz), fs_hz, true);
    f.run_lanes(lanes, false);
    f.run_lanes(lanes, true);
}

/// Clamp a cut-off to something a biquad at `fs_hz` can realise (below 0.45 fs).
fn clamp_cutoff(cutoff_hz: f64, fs_hz: f64) -> f64 {
    cutoff_hz.clamp(1e-3, 0.45 * fs_hz)
}

/// Zero-phase (forward-backward) 2nd-order Butterworth low-pass, in place.
pub fn lowpass_zero_phase(x: &mut [f32], cutoff_hz: f64, fs_hz: f64) {
    let f = Biquad::butterworth(clamp_cutoff(cutoff_hz, fs_hz), fs_hz, false);
    f.run(x, false);
    f.run(x, true);
}

/// Zero-phase (forward-backward) 2nd-order Butterworth high-pass, in place.
pub fn highpass_zero_phase(x: &mut [f32], cutoff_hz: f64, fs_hz: f64) {
    let f = Biquad::butterworth(clamp_cutoff(cutoff_hz, fs_hz), fs_hz, true);
    f.run(x, false);
    f.run(x, true);
}

/// Central-difference derivative in units per second (one-sided at the ends).
pub fn derivative(x: &[f32], fs_hz: f64) -> Vec<f32> {
    let n = x.len();
    let mut d = vec![0.0f32; n];
    if n < 2 {
        return d;
    }
    let half = (fs_hz * 0.5) as f32;
    for i in 1..n - 1 {
        d[i] = (x[i + 1] - x[i - 1]) * half;
    }
    d[0] = (x[1] - x[0]) * fs_hz as f32;
    d[n - 1] = (x[n - 1] - x[n - 2]) * fs_hz as f32;
    d
}

/// Centred moving average with a window of `width` samples (shrinks at the edges).
pub fn moving_average(x: &[f32], width: usize) -> Vec<f32> {
    let n = x.len();
    let width = width.max(1);
    let half_before = width / 2;
    let half_after = width - 1 - half_before;
    let mut prefix = vec![0.0f64; n + 1];
    for i in 0..n {
        prefix[i + 1] = prefix[i] + x[i] as f64;
    }
    (0..n)
        .map(|i| {
            let lo = i.saturating_sub(half_before);
            let hi = (i + half_after + 1).min(n);
            ((prefix[hi] - prefix[lo]) / (hi - lo) as f64) as f32
        })
        .collect()
}

/// The `q`-quantile (0..=1) of the values, by selection (the slice is reordered).
pub fn quantile_in_place(values: &mut [f32], q: f64) -> f32 {
    if values.is_empty() {
        return 0.0;
    }
    let index = ((values.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize;
    let (_, v, _) = values.select_nth_unstable_by(index, |a, b| a.total_cmp(b));
    *v
}

/// Median of a copy of the values.
pub fn median(values: &[f32]) -> f32 {
    let mut v = values.to_vec();
    quantile_in_place(&mut v, 0.5)
}

/// Median of usize values (lower median).
pub fn median_usize(values: &[usize]) -> Option<usize> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    let mid = (v.len() - 1) / 2;
    let (_, m, _) = v.select_nth_unstable(mid);
    Some(*m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowpass_keeps_dc_and_removes_high_frequency() {
        let fs = 500.0;
        let mut x: Vec<f32> = (0..2000)
            .map(|i| 1.0 + (2.0 * std::f64::consts::PI * 100.0 * i as f64 / fs).sin() as f32)
            .collect();
        lowpass_zero_phase(&mut x, 10.0, fs);
        for v in &x[200..1800] {
            assert!((v - 1.0).abs() < 0.01, "{v}");
        }
    }

    #[test]
    fn highpass_removes_offset_and_keeps_fast_wave() {
        let fs = 250.0;
        let mut x: Vec<f32> = (0..2500)
            .map(|i| 3.0 + (2.0 * std::f64::consts::PI * 10.0 * i as f64 / fs).sin() as f32)
            .collect();
        highpass_zero_phase(&mut x, 0.5, fs);
        let mean: f32 = x[500..2000].iter().sum::<f32>() / 1500.0;
        let peak = x[500..2000].iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(
            mean.abs() < 0.02 && (peak - 1.0).abs() < 0.05,
            "{mean} {peak}"
        );
    }

    #[test]
    fn many_lanes_equal_one_by_one() {
        let a: Vec<f32> = (0..500).map(|i| ((i * 7919) % 97) as f32 / 97.0).collect();
        let b: Vec<f32> = (0..500)
            .map(|i| ((i * 104729) % 89) as f32 / 89.0 - 2.0)
            .collect();
        let mut lanes = vec![a.clone(), b.clone()];
        lowpass_zero_phase_many(&mut lanes, 15.0, 250.0);
        highpass_zero_phase_many(&mut lanes, 0.5, 250.0);
        let (mut a1, mut b1) = (a, b);
        lowpass_zero_phase(&mut a1, 15.0, 250.0);
        highpass_zero_phase(&mut a1, 0.5, 250.0);
        lowpass_zero_phase(&mut b1, 15.0, 250.0);
        highpass_zero_phase(&mut b1, 0.5, 250.0);
        assert_eq!(lanes, vec![a1, b1]);
    }

    #[test]
    fn moving_average_and_quantiles() {
        let x = [0.0, 3.0, 6.0, 3.0, 0.0];
        assert_eq!(moving_average(&x, 3)[2], 4.0);
        assert_eq!(median(&[5.0, 1.0, 3.0]), 3.0);
        assert_eq!(median_usize(&[4, 1, 9, 7]), Some(4));
    }
}
