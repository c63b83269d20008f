//! Soft assignment of time steps to clusters, entropy, hard labels, proportions and run-length
//! segments mapped onto the original record.

use std::ops::Range;

use ndarray::{Array1, Array2, ArrayView2, Axis};

use crate::dsp::PreparedInput;
use crate::tlc::{ClusterModel, Segment, TlcError};

/// Per time step: squared distances, soft assignment, normalised entropy and hard label.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    /// (T, K) squared distances ||z - c_k||^2 in standardised space.
    pub sq_dists: Array2<f32>,
    /// (T, K) softmax_k(-d_k / tau).
    pub soft: Array2<f32>,
    /// (T) -sum_k p ln p / ln K, in [0, 1] (0 ln 0 = 0; 0 when K = 1).
    pub entropy: Array1<f32>,
    /// (T) argmax_k p (ties -> lowest k).
    pub labels: Vec<usize>,
}

/// Assign every row of `features` (T, F, raw, not standardised) to the clusters of `model`.
pub fn assign(features: ArrayView2<'_, f32>, model: &ClusterModel) -> Result<Assignment, TlcError> {
    let z = model.standardise(features)?;
    let k = model.k();
    let n_steps = z.nrows();
    let mut sq_dists = Array2::<f32>::zeros((n_steps, k));
    // Direct differences (not the expanded form): exact enough to match the reference to 1e-6,
    // and T x K x F is small for one record.
    for (t, zt) in z.axis_iter(Axis(0)).enumerate() {
        for (c, centroid) in model.centroids.axis_iter(Axis(0)).enumerate() {
            let d = match (zt.as_slice(), centroid.as_slice()) {
                (Some(a), Some(b)) => squared_distance(a, b),
                _ => zt
                    .iter()
                    .zip(centroid)
                    .map(|(&a, &b)| {
                        let d = (a - b) as f64;
                        d * d
                    })
                    .sum(),
            };
            sq_dists[[t, c]] = d as f32;
        }
    }
    let (soft, entropy, labels) = soft_assignment(sq_dists.view(), model.temperature);
    Ok(Assignment {
        sq_dists,
        soft,
        entropy,
        labels,
    })
}

/// Sum of squared differences accumulated in f64, in 8 independent lanes so the compiler can
/// vectorise it (a single running sum is a chain of dependent additions: the distances were
/// most of a record's explanation time after the network).
fn squared_distance(a: &[f32], b: &[f32]) -> f64 {
    let mut lanes = [0f64; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(&x, &y)| {
            let d = (x - y) as f64;
            d * d
        })
        .sum();
    for (x, y) in ca.zip(cb) {
        for j in 0..8 {
            let d = (x[j] - y[j]) as f64;
            lanes[j] += d * d;
        }
    }
    lanes.iter().sum::<f64>() + tail
}

/// softmax_k(-d / tau) per row (computed in f64, shifted by the row minimum for stability), the
/// normalised entropy and the argmax (ties -> lowest k).
pub fn soft_assignment(
    sq_dists: ArrayView2<'_, f32>,
    temperature: f32,
) -> (Array2<f32>, Array1<f32>, Vec<usize>) {
    let (n_steps, k) = sq_dists.dim();
    let tau = temperature as f64;
    let ln_k = (k as f64).ln();
    let mut soft = Array2::<f32>::zeros((n_steps, k));
    let mut entropy = Array1::<f32>::zeros(n_steps);
    let mut labels = vec![0usize; n_steps];
    for t in 0..n_steps {
        let row = sq_dists.row(t);
        let d_min = row.iter().fold(f64::INFINITY, |m, &d| m.min(d as f64));
        let e: Vec<f64> = row
            .iter()
            .map(|&d| (-(d as f64 - d_min) / tau).exp())
            .collect();
        let total: f64 = e.iter().sum();
        let mut h = 0.0f64;
        let mut best = 0;
        for c in 0..k {
            let p = e[c] / total;
            soft[[t, c]] = p as f32;
            if p > 0.0 {
                h -= p * p.ln();
            }
            if soft[[t, c]] > soft[[t, best]] {
                best = c;
            }
        }
        entropy[t] = if k > 1 {
            (h / ln_k).clamp(0.0, 1.0) as f32
        } else {
            0.0
        };
        labels[t] = best;
    }
    (soft, entropy, labels)
}

/// Share of the steps in `steps` assigned to each of the `k` clusters (all zero for an empty
/// range). For real records `steps` is the valid (non-padding) range; the golden fixture counts
/// all 256 steps because its inputs fill the window.
pub fn proportions(labels: &[usize], k: usize, steps: Range<usize>) -> Vec<f32> {
    let mut counts = vec![0usize; k];
    let steps = steps.start.min(labels.len())..steps.end.min(labels.len());
    for &l in &labels[steps.clone()] {
        if l < k {
            counts[l] += 1;
        }
    }
    let n = steps.len();
    counts
        .iter()
        .map(|&c| if n == 0 { 0.0 } else { c as f32 / n as f32 })
        .collect()
}

/// How time steps of the feature axis map onto the model input and the original record.
#[derive(Debug, Clone, PartialEq)]
pub struct StepMap {
    /// Number of time steps T.
    pub n_steps: usize,
    /// Model input length N: each step covers N / T model samples.
    pub input_length: usize,
    /// Model samples holding real signal.
    pub valid_samples: Range<usize>,
    pub model_fs_hz: f64,
    /// Record time (s) of model sample 0.
    pub model_start_s: f64,
    /// The original record's rate and length (samples).
    pub record_fs_hz: f64,
    pub record_n_samples: usize,
}

impl StepMap {
    pub fn new(
        prepared: &PreparedInput,
        n_steps: usize,
        record_fs_hz: f64,
        record_n_samples: usize,
    ) -> Self {
        StepMap {
            n_steps,
            input_length: prepared.data.ncols(),
            valid_samples: prepared.valid.clone(),
            model_fs_hz: prepared.fs_hz,
            model_start_s: prepared.start_s,
            record_fs_hz,
            record_n_samples,
        }
    }

    /// Model samples per step.
    pub fn samples_per_step(&self) -> f64 {
        self.input_length as f64 / self.n_steps.max(1) as f64
    }

    pub fn step_duration_s(&self) -> f64 {
        self.samples_per_step() / self.model_fs_hz
    }

    /// Steps that overlap the real signal: [floor(valid.start / s), ceil(valid.end / s)).
    pub fn valid_steps(&self) -> Range<usize> {
        let sps = self.samples_per_step();
        if self.valid_samples.is_empty() || sps <= 0.0 {
            return 0..0;
        }
        let start = (self.valid_samples.start as f64 / sps).floor() as usize;
        let end = ((self.valid_samples.end as f64 / sps).ceil() as usize).min(self.n_steps);
        start.min(end)..end
    }

    fn model_sample_to_s(&self, sample: f64) -> f64 {
        self.model_start_s + sample / self.model_fs_hz
    }

    /// Record time (s) of the centre of each step (may fall outside the record for padding).
    pub fn step_centres_s(&self) -> Vec<f64> {
        let sps = self.samples_per_step();
        (0..self.n_steps)
            .map(|t| self.model_sample_to_s((t as f64 + 0.5) * sps))
            .collect()
    }

    /// Record span (s) of steps [start, end), clipped to the real signal.
    pub fn span_s(&self, steps: Range<usize>) -> (f64, f64) {
        let sps = self.samples_per_step();
        let lo = (steps.start as f64 * sps).max(self.valid_samples.start as f64);
        let hi = (steps.end as f64 * sps)
            .min(self.valid_samples.end as f64)
            .max(lo);
        (self.model_sample_to_s(lo), self.model_sample_to_s(hi))
    }

    /// Record samples [start, end) of a span in seconds, clipped to the record.
    pub fn record_samples(&self, start_s: f64, end_s: f64) -> (usize, usize) {
        let clip = |s: f64| {
            (s * self.record_fs_hz)
                .round()
                .clamp(0.0, self.record_n_samples as f64) as usize
        };
        (clip(start_s), clip(end_s))
    }
}

/// Mean of per-step entropies: the one definition used by explanations, segments, the app and
/// the surrogate. NaN when there are no steps (undefined: shown as such, sorted last).
pub fn mean_entropy(entropy: &[f32]) -> f32 {
    if entropy.is_empty() {
        f32::NAN
    } else {
        entropy.iter().sum::<f32>() / entropy.len() as f32
    }
}

/// Run-length segments of `labels` over the valid steps of `map`, with record times and samples.
pub fn segments(labels: &[usize], entropy: &[f32], map: &StepMap) -> Vec<Segment> {
    let valid = map.valid_steps();
    let valid = valid.start.min(labels.len())..valid.end.min(labels.len());
    let mut out = Vec::new();
    let mut start = valid.start;
    for t in valid.clone() {
        let last = t + 1 == valid.end;
        if last || labels[t + 1] != labels[t] {
            let end = t + 1;
            let (start_s, end_s) = map.span_s(start..end);
            let (start_sample, end_sample) = map.record_samples(start_s, end_s);
            out.push(Segment {
                cluster: labels[t],
                start_step: start,
                end_step: end,
                start_s,
                end_s,
                start_sample,
                end_sample,
                mean_entropy: mean_entropy(&entropy[start..end]),
            });
            start = end;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn soft_assignment_entropy_and_ties() {
        let d = array![[1.0f32, 1.0], [0.0, 1000.0]];
        let (soft, entropy, labels) = soft_assignment(d.view(), 1.0);
        assert!((soft[[0, 0]] - 0.5).abs() < 1e-7);
        assert!((entropy[0] - 1.0).abs() < 1e-6);
        assert_eq!(labels, vec![0, 0]);
        assert_eq!(soft[[1, 1]], 0.0);
        assert_eq!(entropy[1], 0.0);
    }

    #[test]
    fn padded_record_maps_steps_onto_the_signal() {
        // 10 s at 400 Hz centred in 4096 samples: 48 zeros each side; 256 steps of 16 samples.
        let prepared = PreparedInput {
            data: Array2::zeros((1, 4096)),
            valid: 48..4048,
            fs_hz: 400.0,
            start_s: -48.0 / 400.0,
        };
        let map = StepMap::new(&prepared, 256, 500.0, 5000);
        assert_eq!(map.valid_steps(), 3..253);
        assert!((map.step_duration_s() - 0.04).abs() < 1e-12);
        let labels: Vec<usize> = (0..256).map(|t| if t < 100 { 0 } else { 1 }).collect();
        let entropy = vec![0.5f32; 256];
        let segs = segments(&labels, &entropy, &map);
        assert_eq!(segs.len(), 2);
        assert_eq!((segs[0].start_step, segs[0].end_step), (3, 100));
        assert_eq!(segs[0].start_s, 0.0);
        assert_eq!(segs[0].start_sample, 0);
        // Step 100 starts at model sample 1600 = record time (1600 - 48) / 400 s.
        assert!((segs[0].end_s - 1552.0 / 400.0).abs() < 1e-12);
        assert_eq!(segs[0].end_sample, 1940);
        assert_eq!(segs[1].end_s, 10.0);
        assert_eq!(segs[1].end_sample, 5000);
        let p = proportions(&labels, 2, map.valid_steps());
        assert!((p[0] - 97.0 / 250.0).abs() < 1e-7);
    }
}
