//! Polyphase windowed-sinc resampling between rates with an exact rational ratio.
//!
//! Why our own and not a crate: the ratios we need (500->400, 100->400, 360->400, 250->400 ...)
//! are small exact fractions `up/down`, so a polyphase FIR with one precomputed Kaiser-windowed
//! sinc per phase is short, exact and fast. Each output sample `k` sits exactly at input position
//! `k * down / up` and the kernel is symmetric about it, so the filter is linear-phase with no
//! group delay: output sample `k` is the signal at time `k / to_hz`, which keeps the
//! model-sample <-> record-seconds map of [`crate::dsp::PreparedInput`] exact.

use crate::dsp::DspError;

/// Resampler design. Defaults: 24 zero crossings of the sinc each side, cut-off at 0.9 of the
/// lower Nyquist frequency, Kaiser beta 8.6 (about 80 dB stop-band attenuation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResamplerSettings {
    /// Zero crossings of the low-pass sinc kept on each side of the centre (kernel length).
    pub zero_crossings: usize,
    /// Cut-off as a fraction of the lower of the two Nyquist frequencies (0 < rolloff <= 1).
    pub rolloff: f64,
    /// Kaiser window shape: larger is more stop-band attenuation, wider transition.
    pub kaiser_beta: f64,
    /// Largest interpolation factor `up` accepted for the rational ratio (memory: up x taps).
    pub max_phases: u64,
}

impl Default for ResamplerSettings {
    fn default() -> Self {
        ResamplerSettings {
            zero_crossings: 24,
            rolloff: 0.9,
            kaiser_beta: 8.6,
            max_phases: 4096,
        }
    }
}

impl ResamplerSettings {
    pub fn validate(&self) -> Result<(), DspError> {
        if self.zero_crossings == 0 || self.zero_crossings > 1000 {
            return Err(DspError::BadSetting(format!(
                "resampler zero_crossings must be in 1..=1000, got {}",
                self.zero_crossings
            )));
        }
        if !(self.rolloff > 0.0 && self.rolloff <= 1.0) {
            return Err(DspError::BadSetting(format!(
                "resampler rolloff must be in (0, 1], got {}",
                self.rolloff
            )));
        }
        if !(self.kaiser_beta.is_finite() && self.kaiser_beta >= 0.0) {
            return Err(DspError::BadSetting(format!(
                "resampler kaiser_beta must be finite and >= 0, got {}",
                self.kaiser_beta
            )));
        }
        if self.max_phases == 0 {
            return Err(DspError::BadSetting(
                "resampler max_phases must be >= 1".into(),
            ));
        }
        Ok(())
    }
}

/// Resample `x` from `from_hz` to `to_hz` with the default [`ResamplerSettings`].
///
/// The output has `round(n * to_hz / from_hz)` samples; output sample `k` is the band-limited
/// signal at time `k / to_hz` (same origin as the input). Edges are extended by even reflection
/// so a constant or slowly varying signal stays flat up to the ends.
pub fn resample(x: &[f32], from_hz: f64, to_hz: f64) -> Result<Vec<f32>, DspError> {
    Resampler::new(from_hz, to_hz, ResamplerSettings::default())?.process(x)
}

/// A designed polyphase resampler, reusable over many signals at the same pair of rates.
#[derive(Debug, Clone)]
pub struct Resampler {
    up: u64,
    down: u64,
    /// Input samples on each side of the centre covered by a phase's kernel.
    half_taps: usize,
    /// `phases[p][j]` multiplies input `n0 - half_taps + 1 + j` for an output at `n0 + p / up`.
    phases: Vec<Vec<f32>>,
}

impl Resampler {
    pub fn new(from_hz: f64, to_hz: f64, settings: ResamplerSettings) -> Result<Self, DspError> {
        settings.validate()?;
        for rate in [from_hz, to_hz] {
            if !(rate.is_finite() && rate > 0.0) {
                return Err(DspError::BadRate { fs_hz: rate });
            }
        }
        let (up, down) = rational_ratio(to_hz / from_hz, settings.max_phases).ok_or(
            DspError::UnsupportedRatio {
                from_hz,
                to_hz,
                max_phases: settings.max_phases,
            },
        )?;
        // Cut-off in cycles per input sample: below the lower of the two Nyquist frequencies.
        let cutoff = 0.5 * settings.rolloff * (up as f64 / down as f64).min(1.0);
        // The kernel spans `zero_crossings` zeros of the sinc on each side.
        let half_width = settings.zero_crossings as f64 / (2.0 * cutoff);
        let half_taps = half_width.ceil() as usize + 1;
        let i0_beta = bessel_i0(settings.kaiser_beta);
        let mut phases = Vec::with_capacity(up as usize);
        for p in 0..up {
            let frac = p as f64 / up as f64;
            // Taps for inputs n0 - half_taps + 1 ..= n0 + half_taps, at distance (j - frac).
            let mut taps: Vec<f64> = (0..2 * half_taps)
                .map(|j| {
                    let offset = j as f64 - (half_taps as f64 - 1.0);
                    let t = offset - frac;
                    if t.abs() >= half_width {
                        return 0.0;
                    }
                    let r = t / half_width;
                    let window =
                        bessel_i0(settings.kaiser_beta * (1.0 - r * r).max(0.0).sqrt()) / i0_beta;
                    2.0 * cutoff * sinc(2.0 * cutoff * t) * window
                })
                .collect();
            // Unit DC gain in every phase: a constant stays exactly constant.
            let sum: f64 = taps.iter().sum();
            if sum.abs() > 1e-12 {
                taps.iter_mut().for_each(|v| *v /= sum);
            }
            phases.push(taps.into_iter().map(|v| v as f32).collect());
        }
        Ok(Resampler {
            up,
            down,
            half_taps,
            phases,
        })
    }

    /// `(up, down)`: the output rate is `from_hz * up / down`.
    pub fn ratio(&self) -> (u64, u64) {
        (self.up, self.down)
    }

    /// Number of output samples for `n_in` input samples: `round(n_in * up / down)`.
    pub fn output_len(&self, n_in: usize) -> usize {
        let num = 2 * n_in as u128 * self.up as u128 + self.down as u128;
        (num / (2 * self.down as u128)) as usize
    }

    pub fn process(&self, x: &[f32]) -> Result<Vec<f32>, DspError> {
        if x.is_empty() {
            return Err(DspError::TooShort {
                n_samples: 0,
                duration_s: 0.0,
                min_s: 0.0,
            });
        }
        if let Some(sample) = x.iter().position(|v| !v.is_finite()) {
            return Err(DspError::NonFinite { sample });
        }
        if self.up == self.down {
            // Same rate: the exact input (a filter would only blur it).
            return Ok(x.to_vec());
        }
        let n = x.len() as i64;
        let n_out = self.output_len(x.len());
        let h = self.half_taps as i64;
        let mut out = Vec::with_capacity(n_out);
        for k in 0..n_out as u64 {
            let pos = k * self.down;
            let n0 = (pos / self.up) as i64;
            let phase = &self.phases[(pos % self.up) as usize];
            let first = n0 - h + 1;
            let acc: f32 = if first >= 0 && first + 2 * h <= n {
                // Interior: a straight dot product (the hot path).
                let start = first as usize;
                dot(&x[start..start + phase.len()], phase)
            } else {
                phase
                    .iter()
                    .enumerate()
                    .map(|(j, w)| w * x[reflect(first + j as i64, n)])
                    .sum()
            };
            out.push(acc);
        }
        Ok(out)
    }
}

/// Dot product with 8 independent accumulators (lets the compiler vectorise; a single running
/// f32 sum is a serial dependency chain).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks_a = a.chunks_exact(8);
    let chunks_b = b.chunks_exact(8);
    let tail: f32 = chunks_a
        .remainder()
        .iter()
        .zip(chunks_b.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (ca, cb) in chunks_a.zip(chunks_b) {
        for k in 0..8 {
            acc[k] += ca[k] * cb[k];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Even reflection about the end samples (x[-i] = x[i], x[n-1+i] = x[n-1-i]).
fn reflect(mut i: i64, n: i64) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n - 1);
    i = i.rem_euclid(period);
    if i >= n {
        i = period - i;
    }
    i as usize
}

fn sinc(x: f64) -> f64 {
    if x.abs() < 1e-12 {
        1.0
    } else {
        let px = std::f64::consts::PI * x;
        px.sin() / px
    }
}

/// Modified Bessel function of the first kind, order 0 (power series; converges fast for the
/// betas used in window design).
fn bessel_i0(x: f64) -> f64 {
    let half = x / 2.0;
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in 1..200 {
        term *= (half / k as f64) * (half / k as f64);
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    sum
}

/// The smallest fraction `up/down` (continued fractions, `up <= max_up`) equal to `ratio` within
/// a relative 1e-9; `None` if there is none.
fn rational_ratio(ratio: f64, max_up: u64) -> Option<(u64, u64)> {
    if !(ratio.is_finite() && ratio > 0.0) {
        return None;
    }
    let (mut h0, mut h1) = (0u128, 1u128); // numerators
    let (mut k0, mut k1) = (1u128, 0u128); // denominators
    let mut x = ratio;
    for _ in 0..64 {
        let a = x.floor();
        if a > 1e12 {
            return None;
        }
        let a_int = a as u128;
        let h2 = a_int * h1 + h0;
        let k2 = a_int * k1 + k0;
        if h2 > max_up as u128 || k2 > 1_000_000_000 {
            return None;
        }
        (h0, h1, k0, k1) = (h1, h2, k1, k2);
        let approx = h1 as f64 / k1 as f64;
        if ((approx - ratio) / ratio).abs() < 1e-9 {
            return Some((h1 as u64, k1 as u64));
        }
        let frac = x - a;
        if frac < 1e-15 {
            return None;
        }
        x = 1.0 / frac;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_are_exact_small_fractions() {
        assert_eq!(rational_ratio(400.0 / 500.0, 4096), Some((4, 5)));
        assert_eq!(rational_ratio(400.0 / 100.0, 4096), Some((4, 1)));
        assert_eq!(rational_ratio(400.0 / 360.0, 4096), Some((10, 9)));
        assert_eq!(rational_ratio(1.0, 4096), Some((1, 1)));
        assert_eq!(rational_ratio(std::f64::consts::PI, 4096), None);
    }

    #[test]
    fn reflect_is_even_about_the_ends() {
        assert_eq!(reflect(-1, 5), 1);
        assert_eq!(reflect(-2, 5), 2);
        assert_eq!(reflect(5, 5), 3);
        assert_eq!(reflect(6, 5), 2);
        assert_eq!(reflect(0, 1), 0);
    }

    #[test]
    fn identity_ratio_reproduces_the_input() {
        let x: Vec<f32> = (0..300).map(|i| ((i as f32) * 0.37).sin()).collect();
        assert_eq!(resample(&x, 500.0, 500.0).unwrap(), x);
    }

    #[test]
    fn constant_stays_constant_to_the_edges() {
        let x = vec![0.7f32; 1000];
        for (from, to) in [(500.0, 400.0), (100.0, 400.0), (360.0, 400.0)] {
            let y = resample(&x, from, to).unwrap();
            assert!(y.iter().all(|v| (v - 0.7).abs() < 1e-5), "{from}->{to}");
        }
    }

    #[test]
    fn rejects_bad_rates_and_nan() {
        assert!(matches!(
            resample(&[1.0, 2.0], 0.0, 400.0),
            Err(DspError::BadRate { .. })
        ));
        assert!(matches!(
            resample(&[1.0, f32::NAN], 500.0, 400.0),
            Err(DspError::NonFinite { sample: 1 })
        ));
        assert!(matches!(
            resample(&[1.0, 2.0], 500.0, 500.0 * std::f64::consts::PI),
            Err(DspError::UnsupportedRatio { .. })
        ));
    }
}
