//! Standardisation and k-means of the per-time-step features, and the soft-assignment
//! temperature.
//!
//! Full-batch k-means is Lloyd's algorithm with greedy k-means++ seeding, as scikit-learn's
//! `KMeans` (which made the golden fixture): f32 data, distances computed blockwise as
//! ||x||^2 - 2 x.c + ||c||^2 with a matrix product, blocks in parallel (rayon) and reduced in a
//! fixed order so a seed always gives bitwise the same centroids. linfa-clustering's `KMeans`
//! computes every point-centroid distance with a scalar loop and uses the m_k-means update
//! (the old centroid counts as a member), so it neither matches the reference nor meets the
//! speed goal (figures in `benches/tlc.rs` and the commit message); it is used for the
//! mini-batch variant (`fit_with`), where its incremental update is what we want.

use linfa::DatasetBase;
use linfa::ParamGuard;
use linfa::traits::FitWith;
use linfa_clustering::{IncrKMeansError, KMeans};
use ndarray::{Array1, Array2, ArrayView2, Axis, s};
use rand::seq::index;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::progress::{Progress, ProgressSink, StageSink};
use crate::tlc::TlcError;
use crate::tlc::kernel;

/// Features with a population standard deviation below this are left unscaled (std set to 1),
/// as in the reference implementation.
pub const MIN_STD: f32 = 1e-6;

/// Rows per block of the blockwise distance computation (and per partial sum).
const BLOCK_ROWS: usize = 1024;

/// The temperature tau of the soft assignment softmax_k(-d_k / tau).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Temperature {
    /// Median over the fitting time steps of the squared distance to the nearest centroid
    /// (the reference implementation's choice).
    #[default]
    MedianNearest,
    /// A fixed value (> 0).
    Fixed(f32),
}

/// k-means settings. Defaults (the paper's and the reference implementation's): K = 8, 4
/// k-means++ initialisations, at most 300 Lloyd iterations, tolerance 1e-4, seed 0, all time
/// steps, full-batch, median-nearest temperature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterSettings {
    /// Number of clusters K.
    pub k: usize,
    /// Number of k-means++ initialisations; the run with the lowest inertia is kept.
    pub n_init: usize,
    /// Full batch: maximum Lloyd iterations per run. Mini-batch: maximum passes over the data.
    pub max_iter: usize,
    /// Full batch (scikit-learn's definition): stop when the summed squared centroid shift is
    /// at most `tolerance` times the mean feature variance. Mini-batch (linfa's definition):
    /// stop when one batch moves the centroids by less than `tolerance` (Euclidean norm).
    pub tolerance: f32,
    /// Seed of every random choice (subsampling, initialisation, batch order).
    pub seed: u64,
    /// Budget of time steps: when the corpus has more, this many are drawn at random (seeded,
    /// without replacement) for standardisation, k-means and the temperature.
    pub max_time_steps: Option<usize>,
    /// Mini-batch k-means (linfa's incremental `fit_with`) with this batch size, instead of
    /// full-batch Lloyd.
    pub minibatch: Option<usize>,
    pub temperature: Temperature,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        ClusterSettings {
            k: 8,
            n_init: 4,
            max_iter: 300,
            tolerance: 1e-4,
            seed: 0,
            max_time_steps: None,
            minibatch: None,
            temperature: Temperature::MedianNearest,
        }
    }
}

impl ClusterSettings {
    pub fn validate(&self) -> Result<(), TlcError> {
        if self.k == 0 {
            return Err(TlcError::ZeroClusters);
        }
        if self.n_init == 0 {
            return Err(TlcError::setting(
                "n_init",
                "at least one initialisation is needed",
            ));
        }
        if self.max_iter == 0 {
            return Err(TlcError::setting("max_iter", "must be at least 1"));
        }
        if !(self.tolerance.is_finite() && self.tolerance >= 0.0) {
            return Err(TlcError::setting(
                "tolerance",
                format!("{} is not a finite non-negative number", self.tolerance),
            ));
        }
        if let Some(budget) = self.max_time_steps
            && budget < self.k
        {
            return Err(TlcError::setting(
                "max_time_steps",
                format!("budget {budget} is smaller than k = {}", self.k),
            ));
        }
        if self.minibatch == Some(0) {
            return Err(TlcError::setting(
                "minibatch",
                "batch size must be at least 1",
            ));
        }
        if let Temperature::Fixed(t) = self.temperature
            && !(t.is_finite() && t > 0.0)
        {
            return Err(TlcError::setting(
                "temperature",
                format!("{t} is not a positive finite number"),
            ));
        }
        Ok(())
    }
}

/// A fitted clustering: standardisation, centroids in standardised space, temperature.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterModel {
    /// Per-feature mean (F).
    pub mean: Array1<f32>,
    /// Per-feature population standard deviation (F), values below [`MIN_STD`] replaced by 1.
    pub std: Array1<f32>,
    /// (K, F), in standardised space.
    pub centroids: Array2<f32>,
    pub temperature: f32,
    /// Sum over the fitting steps of the squared distance to the nearest centroid.
    pub inertia: f64,
    /// Time steps the model was fitted on (after subsampling).
    pub n_time_steps: usize,
}

impl ClusterModel {
    pub fn k(&self) -> usize {
        self.centroids.nrows()
    }

    pub fn n_features(&self) -> usize {
        self.centroids.ncols()
    }

    /// z = (x - mean) / std for every row of `x` (T, F).
    pub fn standardise(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>, TlcError> {
        if x.ncols() != self.n_features() {
            return Err(TlcError::shape(
                "features",
                format!("{} features per step", self.n_features()),
                x.ncols(),
            ));
        }
        let mut z = x.to_owned();
        standardise_in_place(&mut z, &self.mean, &self.std);
        Ok(z)
    }
}

/// Mean and population standard deviation of each column of `x` (N, F), accumulated in f64;
/// std below [`MIN_STD`] becomes 1.
pub fn standardisation(x: ArrayView2<'_, f32>) -> (Array1<f32>, Array1<f32>) {
    let n = x.nrows().max(1) as f64;
    let sum = column_sums(x, None);
    let mean64: Vec<f64> = sum.iter().map(|s| s / n).collect();
    let sq = column_sums(x, Some(&mean64));
    let mean = mean64.iter().map(|&m| m as f32).collect();
    let std = sq
        .iter()
        .map(|&v| {
            let s = (v / n).sqrt() as f32;
            if s < MIN_STD { 1.0 } else { s }
        })
        .collect();
    (mean, std)
}

/// Column sums of x, or of (x - centre)^2 when a centre is given; blocks summed in parallel and
/// reduced in block order (deterministic).
fn column_sums(x: ArrayView2<'_, f32>, centre: Option<&[f64]>) -> Vec<f64> {
    let n_features = x.ncols();
    let partials: Vec<Vec<f64>> = (0..x.nrows().div_ceil(BLOCK_ROWS))
        .into_par_iter()
        .map(|b| {
            let rows = x.slice(s![
                b * BLOCK_ROWS..((b + 1) * BLOCK_ROWS).min(x.nrows()),
                ..
            ]);
            let mut acc = vec![0.0f64; n_features];
            for row in rows.rows() {
                match centre {
                    None => acc.iter_mut().zip(row).for_each(|(a, &v)| *a += v as f64),
                    Some(c) => acc.iter_mut().zip(row).zip(c).for_each(|((a, &v), &m)| {
                        let d = v as f64 - m;
                        *a += d * d
                    }),
                }
            }
            acc
        })
        .collect();
    let mut total = vec![0.0f64; n_features];
    for p in partials {
        total.iter_mut().zip(p).for_each(|(t, v)| *t += v);
    }
    total
}

pub fn standardise_in_place(x: &mut Array2<f32>, mean: &Array1<f32>, std: &Array1<f32>) {
    let inv: Vec<f32> = std.iter().map(|s| 1.0 / s).collect();
    x.axis_iter_mut(Axis(0))
        .into_par_iter()
        .for_each(|mut row| {
            row.iter_mut()
                .zip(mean)
                .zip(&inv)
                .for_each(|((v, m), i)| *v = (*v - m) * i);
        });
}

/// The time steps of all records stacked into one (N, F) matrix; when `budget` is smaller than
/// the total, `budget` steps drawn at random without replacement (seeded), kept in corpus order.
pub fn stack_time_steps(
    features: &[Array2<f32>],
    budget: Option<usize>,
    seed: u64,
) -> Result<Array2<f32>, TlcError> {
    if features.is_empty() {
        return Err(TlcError::NoRecords);
    }
    let n_features = features[0].ncols();
    if let Some(i) = features.iter().position(|f| f.ncols() != n_features) {
        return Err(TlcError::shape(
            format!("features of record {i}"),
            format!("{n_features} features per step (as record 0)"),
            features[i].ncols(),
        ));
    }
    let total: usize = features.iter().map(|f| f.nrows()).sum();
    let chosen: Option<Vec<usize>> = match budget {
        Some(b) if b < total => {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
            let mut picked = index::sample(&mut rng, total, b).into_vec();
            picked.sort_unstable();
            Some(picked)
        }
        _ => None,
    };
    let n_rows = chosen.as_ref().map_or(total, |c| c.len());
    let mut out = Array2::<f32>::zeros((n_rows, n_features));
    match chosen {
        None => {
            let mut r = 0;
            for f in features {
                out.slice_mut(s![r..r + f.nrows(), ..]).assign(f);
                r += f.nrows();
            }
        }
        Some(picked) => {
            // Walk records and picked global indices together (both sorted).
            let mut record = 0;
            let mut record_start = 0;
            for (r, &g) in picked.iter().enumerate() {
                while g >= record_start + features[record].nrows() {
                    record_start += features[record].nrows();
                    record += 1;
                }
                out.row_mut(r)
                    .assign(&features[record].row(g - record_start));
            }
        }
    }
    Ok(out)
}

/// Fit standardisation, k-means and the temperature on the time steps of `features` (one
/// (T_r, F) matrix per record, valid steps only). Needs no model: the surrogate's
/// cross-validation calls it on cached features.
pub fn fit_clusters(
    features: &[Array2<f32>],
    settings: &ClusterSettings,
    progress: &dyn ProgressSink,
) -> Result<ClusterModel, TlcError> {
    settings.validate()?;
    let mut x = stack_time_steps(features, settings.max_time_steps, settings.seed)?;
    if x.nrows() < settings.k {
        return Err(TlcError::TooFewSteps {
            k: settings.k,
            n_steps: x.nrows(),
        });
    }
    if x.ncols() == 0 {
        return Err(TlcError::shape(
            "features",
            "at least one feature per step",
            0,
        ));
    }
    let (mean, std) = standardisation(x.view());
    standardise_in_place(&mut x, &mean, &std);
    fit_standardised(x, mean, std, settings, progress)
}

/// k-means and temperature on already standardised steps `z` (N, F), with the standardisation
/// that produced them.
pub fn fit_standardised(
    z: Array2<f32>,
    mean: Array1<f32>,
    std: Array1<f32>,
    settings: &ClusterSettings,
    progress: &dyn ProgressSink,
) -> Result<ClusterModel, TlcError> {
    settings.validate()?;
    if z.nrows() < settings.k {
        return Err(TlcError::TooFewSteps {
            k: settings.k,
            n_steps: z.nrows(),
        });
    }
    if mean.len() != z.ncols() || std.len() != z.ncols() {
        return Err(TlcError::shape("standardisation", z.ncols(), mean.len()));
    }
    let row_norms = row_sq_norms(z.view());
    let centroids = match settings.minibatch {
        None => {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(settings.seed);
            let tol_abs = settings.tolerance as f64 * mean_variance(z.view());
            let mut best: Option<(Array2<f32>, f64)> = None;
            for run in 0..settings.n_init {
                // Each run is its share of the whole fit, and is complete when it converges
                // (usually well before `max_iter`): the progress never goes back.
                let runs = settings.n_init as f32;
                let run_progress =
                    StageSink::new(progress, run as f32 / runs, (run + 1) as f32 / runs);
                let init = kmeans_plus_plus(z.view(), &row_norms, settings.k, &mut rng);
                let (c, inertia) = lloyd(
                    z.view(),
                    &row_norms,
                    init,
                    settings,
                    tol_abs,
                    run,
                    &run_progress,
                )?;
                run_progress.report(Progress {
                    stage: format!("k-means (run {} of {})", run + 1, settings.n_init),
                    done: 1,
                    total: 1,
                    share: None,
                });
                if best.as_ref().is_none_or(|(_, b)| inertia < *b) {
                    best = Some((c, inertia));
                }
            }
            best.map(|(c, _)| c)
                .ok_or_else(|| TlcError::KMeans("no run finished".into()))?
        }
        Some(batch) => minibatch_kmeans(z.view(), batch, settings, progress)?,
    };
    let (_, min_d) = nearest(z.view(), &row_norms, centroids.view());
    let inertia = min_d.iter().map(|&d| d as f64).sum();
    let temperature = match settings.temperature {
        Temperature::MedianNearest => median(&min_d),
        Temperature::Fixed(t) => t,
    };
    if !(temperature.is_finite() && temperature > 0.0) {
        return Err(TlcError::KMeans(format!(
            "the median squared distance to the nearest centroid is {temperature}: the time \
             steps are (nearly) identical, so no temperature can be derived (use a fixed one)"
        )));
    }
    Ok(ClusterModel {
        mean,
        std,
        centroids,
        temperature,
        inertia,
        n_time_steps: z.nrows(),
    })
}

/// Median over the fitting steps of the squared distance to the nearest centroid (numpy's
/// median: mean of the two middle values for an even count).
pub fn median_nearest_sq_dist(z: ArrayView2<'_, f32>, centroids: ArrayView2<'_, f32>) -> f32 {
    let norms = row_sq_norms(z);
    let (_, d) = nearest(z, &norms, centroids);
    median(&d)
}

fn median(values: &[f32]) -> f32 {
    if values.is_empty() {
        return f32::NAN;
    }
    let mut v: Vec<f32> = values.to_vec();
    v.sort_unstable_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        ((v[n / 2 - 1] as f64 + v[n / 2] as f64) / 2.0) as f32
    }
}

fn mean_variance(z: ArrayView2<'_, f32>) -> f64 {
    let n = z.nrows().max(1) as f64;
    let sums = column_sums(z, None);
    let means: Vec<f64> = sums.iter().map(|s| s / n).collect();
    let sq = column_sums(z, Some(&means));
    sq.iter().map(|v| v / n).sum::<f64>() / z.ncols().max(1) as f64
}

fn row_sq_norms(z: ArrayView2<'_, f32>) -> Vec<f32> {
    let mut out = vec![0.0f32; z.nrows()];
    out.par_iter_mut()
        .zip(z.axis_iter(Axis(0)).into_par_iter())
        .for_each(|(o, row)| *o = row.iter().map(|v| v * v).sum());
    out
}

/// Squared distances of the rows of one block to the centres: ||x||^2 - 2 x.c + ||c||^2,
/// clamped at 0 (rounding can make it slightly negative). Returns (rows, M).
fn block_sq_dists(
    block: ArrayView2<'_, f32>,
    block_norms: &[f32],
    centres: ArrayView2<'_, f32>,
    centre_norms: &[f32],
) -> Array2<f32> {
    let mut d = match (block.as_slice(), centres.as_slice()) {
        (Some(rows), Some(c)) => {
            let mut out = Array2::<f32>::zeros((block.nrows(), centres.nrows()));
            if let Some(o) = out.as_slice_mut() {
                kernel::dots(rows, c, block.ncols(), o);
            }
            out
        }
        // Not contiguous (never for the arrays built here): the general product.
        _ => block.dot(&centres.t()),
    };
    for (mut row, &xx) in d.axis_iter_mut(Axis(0)).zip(block_norms) {
        row.iter_mut()
            .zip(centre_norms)
            .for_each(|(v, &cc)| *v = (xx - 2.0 * *v + cc).max(0.0));
    }
    d
}

/// Index of and squared distance to the nearest centre for every row (ties -> lowest index).
pub(crate) fn nearest(
    z: ArrayView2<'_, f32>,
    row_norms: &[f32],
    centres: ArrayView2<'_, f32>,
) -> (Vec<usize>, Vec<f32>) {
    let centre_norms = row_sq_norms(centres);
    let n = z.nrows();
    let parts: Vec<(Vec<usize>, Vec<f32>)> = (0..n.div_ceil(BLOCK_ROWS))
        .into_par_iter()
        .map(|b| {
            let range = b * BLOCK_ROWS..((b + 1) * BLOCK_ROWS).min(n);
            let d = block_sq_dists(
                z.slice(s![range.clone(), ..]),
                &row_norms[range],
                centres,
                &centre_norms,
            );
            d.axis_iter(Axis(0)).map(argmin).unzip()
        })
        .collect();
    let mut labels = Vec::with_capacity(n);
    let mut dists = Vec::with_capacity(n);
    for (l, d) in parts {
        labels.extend(l);
        dists.extend(d);
    }
    (labels, dists)
}

fn argmin(row: ndarray::ArrayView1<'_, f32>) -> (usize, f32) {
    let mut best = (0, f32::INFINITY);
    for (k, &v) in row.iter().enumerate() {
        if v < best.1 {
            best = (k, v);
        }
    }
    best
}

/// Greedy k-means++ (scikit-learn's `_kmeans_plusplus`): the first centre uniformly at random,
/// then each next one the best (lowest potential) of 2 + ln K candidates sampled in proportion
/// to the squared distance to the nearest centre so far.
pub(crate) fn kmeans_plus_plus(
    z: ArrayView2<'_, f32>,
    row_norms: &[f32],
    k: usize,
    rng: &mut impl Rng,
) -> Array2<f32> {
    let n = z.nrows();
    let n_trials = 2 + (k as f64).ln().floor() as usize;
    let mut centres = Array2::<f32>::zeros((k, z.ncols()));
    let first = rng.gen_range(0..n);
    centres.row_mut(0).assign(&z.row(first));
    let mut closest: Vec<f32> = nearest(z, row_norms, centres.slice(s![0..1, ..])).1;
    let mut potential: f64 = closest.iter().map(|&d| d as f64).sum();
    for c in 1..k {
        let cumulative: Vec<f64> = closest
            .iter()
            .scan(0.0f64, |acc, &d| {
                *acc += d as f64;
                Some(*acc)
            })
            .collect();
        let candidates: Vec<usize> = (0..n_trials)
            .map(|_| {
                let target = rng.r#gen::<f64>() * potential;
                cumulative.partition_point(|&v| v <= target).min(n - 1)
            })
            .collect();
        let cand = z.select(Axis(0), &candidates);
        let cand_norms = row_sq_norms(cand.view());
        // Potential of each candidate: sum over points of min(closest, d(point, candidate)).
        let parts: Vec<(Array2<f32>, Vec<f64>)> = (0..n.div_ceil(BLOCK_ROWS))
            .into_par_iter()
            .map(|b| {
                let range = b * BLOCK_ROWS..((b + 1) * BLOCK_ROWS).min(n);
                let mut d = block_sq_dists(
                    z.slice(s![range.clone(), ..]),
                    &row_norms[range.clone()],
                    cand.view(),
                    &cand_norms,
                );
                let mut pot = vec![0.0f64; candidates.len()];
                for (mut row, &cl) in d.axis_iter_mut(Axis(0)).zip(&closest[range]) {
                    row.iter_mut().zip(pot.iter_mut()).for_each(|(v, p)| {
                        *v = v.min(cl);
                        *p += *v as f64
                    });
                }
                (d, pot)
            })
            .collect();
        let mut pots = vec![0.0f64; candidates.len()];
        for (_, p) in &parts {
            pots.iter_mut().zip(p).for_each(|(a, b)| *a += b);
        }
        let best = (0..pots.len()).fold(0, |b, i| if pots[i] < pots[b] { i } else { b });
        potential = pots[best];
        centres.row_mut(c).assign(&z.row(candidates[best]));
        let mut t = 0;
        for (d, _) in &parts {
            for row in d.rows() {
                closest[t] = row[best];
                t += 1;
            }
        }
    }
    centres
}

/// Lloyd iterations from `init`; returns the centroids and their inertia.
fn lloyd(
    z: ArrayView2<'_, f32>,
    row_norms: &[f32],
    init: Array2<f32>,
    settings: &ClusterSettings,
    tol_abs: f64,
    run: usize,
    progress: &dyn ProgressSink,
) -> Result<(Array2<f32>, f64), TlcError> {
    let (k, n_features) = init.dim();
    let n = z.nrows();
    let stage = format!("k-means (run {} of {})", run + 1, settings.n_init);
    let mut centroids = init;
    let mut old_labels: Option<Vec<usize>> = None;
    for iter in 0..settings.max_iter {
        if progress.is_cancelled() {
            return Err(TlcError::Cancelled);
        }
        progress.report(Progress {
            stage: stage.clone(),
            done: iter,
            total: settings.max_iter,
            share: None,
        });
        let centre_norms = row_sq_norms(centroids.view());
        // Assignment and per-block sums in one pass over the data.
        let parts: Vec<(Vec<usize>, Vec<f32>, Vec<f32>, Vec<usize>)> = (0..n.div_ceil(BLOCK_ROWS))
            .into_par_iter()
            .map(|b| {
                let range = b * BLOCK_ROWS..((b + 1) * BLOCK_ROWS).min(n);
                let block = z.slice(s![range.clone(), ..]);
                let d = block_sq_dists(block, &row_norms[range], centroids.view(), &centre_norms);
                // Per-block sums in f32 (as scikit-learn), combined across blocks in f64.
                let mut sums = vec![0.0f32; k * n_features];
                let mut counts = vec![0usize; k];
                let mut labels = Vec::with_capacity(block.nrows());
                let mut dists = Vec::with_capacity(block.nrows());
                for (row, drow) in block.rows().into_iter().zip(d.rows()) {
                    let (l, dist) = argmin(drow);
                    labels.push(l);
                    dists.push(dist);
                    counts[l] += 1;
                    let acc = &mut sums[l * n_features..(l + 1) * n_features];
                    match row.as_slice() {
                        Some(r) => kernel::add_assign(acc, r),
                        None => acc.iter_mut().zip(row).for_each(|(a, &v)| *a += v),
                    }
                }
                (labels, dists, sums, counts)
            })
            .collect();
        let mut sums = Array2::<f64>::zeros((k, n_features));
        let mut counts = vec![0usize; k];
        let mut labels = Vec::with_capacity(n);
        let mut dists = Vec::with_capacity(n);
        for (l, d, s, c) in parts {
            labels.extend(l);
            dists.extend(d);
            sums.iter_mut().zip(s).for_each(|(a, b)| *a += b as f64);
            counts.iter_mut().zip(c).for_each(|(a, b)| *a += b);
        }
        relocate_empty_clusters(z, &labels, &dists, &mut sums, &mut counts);
        let mut new_centroids = Array2::<f32>::zeros((k, n_features));
        for c in 0..k {
            if counts[c] == 0 {
                // Only possible when fewer distinct points than clusters: keep the centre.
                new_centroids.row_mut(c).assign(&centroids.row(c));
            } else {
                let inv = 1.0 / counts[c] as f64;
                new_centroids
                    .row_mut(c)
                    .iter_mut()
                    .zip(sums.row(c))
                    .for_each(|(o, &s)| *o = (s * inv) as f32);
            }
        }
        let shift: f64 = new_centroids
            .iter()
            .zip(centroids.iter())
            .map(|(&a, &b)| ((a - b) as f64).powi(2))
            .sum();
        centroids = new_centroids;
        if old_labels.as_ref() == Some(&labels) || shift <= tol_abs {
            break;
        }
        old_labels = Some(labels);
    }
    let (_, d) = nearest(z, row_norms, centroids.view());
    Ok((centroids, d.iter().map(|&v| v as f64).sum()))
}

/// scikit-learn's remedy for clusters left empty: move each to one of the points farthest from
/// their centre (a different point for each), taking it out of its old cluster.
fn relocate_empty_clusters(
    z: ArrayView2<'_, f32>,
    labels: &[usize],
    dists: &[f32],
    sums: &mut Array2<f64>,
    counts: &mut [usize],
) {
    let empty: Vec<usize> = (0..counts.len()).filter(|&c| counts[c] == 0).collect();
    if empty.is_empty() {
        return;
    }
    let mut order: Vec<usize> = (0..dists.len()).collect();
    order.sort_by(|&a, &b| dists[b].total_cmp(&dists[a]).then(a.cmp(&b)));
    for (&cluster, &point) in empty.iter().zip(order.iter()) {
        let old = labels[point];
        if counts[old] <= 1 {
            continue;
        }
        let row = z.row(point);
        sums.row_mut(old)
            .iter_mut()
            .zip(row)
            .for_each(|(s, &v)| *s -= v as f64);
        counts[old] -= 1;
        sums.row_mut(cluster)
            .iter_mut()
            .zip(row)
            .for_each(|(s, &v)| *s = v as f64);
        counts[cluster] = 1;
    }
}

/// Mini-batch k-means with linfa's incremental `fit_with`: batches of `batch` steps in a seeded
/// random order, up to `max_iter` passes over the data or until a batch moves the centroids by
/// less than the tolerance.
fn minibatch_kmeans(
    z: ArrayView2<'_, f32>,
    batch: usize,
    settings: &ClusterSettings,
    progress: &dyn ProgressSink,
) -> Result<Array2<f32>, TlcError> {
    let n = z.nrows();
    let batch = batch.min(n).max(settings.k);
    let params = KMeans::params_with_rng(
        settings.k,
        rand_xoshiro::Xoshiro256Plus::seed_from_u64(settings.seed),
    )
    .n_runs(settings.n_init)
    .tolerance(settings.tolerance.max(f32::MIN_POSITIVE))
    .check()
    .map_err(|e| TlcError::KMeans(e.to_string()))?;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(settings.seed ^ 0x5eed_ba7c);
    let mut model = None;
    let n_batches = n.div_ceil(batch);
    for epoch in 0..settings.max_iter {
        let order = index::sample(&mut rng, n, n).into_vec();
        for b in 0..n_batches {
            if progress.is_cancelled() {
                return Err(TlcError::Cancelled);
            }
            progress.report(Progress {
                stage: "mini-batch k-means".into(),
                done: epoch * n_batches + b,
                total: settings.max_iter * n_batches,
                share: None,
            });
            let idx = &order[b * batch..((b + 1) * batch).min(n)];
            if idx.len() < settings.k {
                continue;
            }
            let data = DatasetBase::from(z.select(Axis(0), idx));
            match params.fit_with(model.take(), &data) {
                Ok(m) => return Ok(m.centroids().clone()),
                Err(IncrKMeansError::NotConverged(m)) => model = Some(m),
                Err(e) => return Err(TlcError::KMeans(e.to_string())),
            }
        }
    }
    model
        .map(|m| m.centroids().clone())
        .ok_or_else(|| TlcError::KMeans("no mini-batch was processed".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::NoProgress;

    #[test]
    fn median_is_numpys() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn settings_are_validated() {
        let mut s = ClusterSettings {
            k: 0,
            ..Default::default()
        };
        assert!(matches!(s.validate(), Err(TlcError::ZeroClusters)));
        s.k = 3;
        s.temperature = Temperature::Fixed(-1.0);
        assert!(s.validate().is_err());
        s.temperature = Temperature::MedianNearest;
        s.minibatch = Some(0);
        assert!(s.validate().is_err());
    }

    #[test]
    fn subsampling_keeps_the_budget_and_is_seeded() {
        let a = Array2::from_shape_fn((50, 2), |(i, j)| (i * 2 + j) as f32);
        let b = Array2::from_shape_fn((30, 2), |(i, j)| (1000 + i * 2 + j) as f32);
        let x1 = stack_time_steps(&[a.clone(), b.clone()], Some(20), 7).unwrap();
        let x2 = stack_time_steps(&[a.clone(), b.clone()], Some(20), 7).unwrap();
        assert_eq!(x1.nrows(), 20);
        assert_eq!(x1, x2);
        // Every row is one of the original rows.
        for row in x1.rows() {
            assert_eq!(row[1] - row[0], 1.0);
        }
        let all = stack_time_steps(&[a, b], None, 7).unwrap();
        assert_eq!(all.nrows(), 80);
    }

    #[test]
    fn too_few_steps_is_an_error() {
        let a = Array2::<f32>::zeros((3, 2));
        let s = ClusterSettings {
            k: 4,
            ..Default::default()
        };
        assert!(matches!(
            fit_clusters(&[a], &s, &NoProgress),
            Err(TlcError::TooFewSteps { k: 4, n_steps: 3 })
        ));
        assert!(matches!(
            fit_clusters(&[], &s, &NoProgress),
            Err(TlcError::NoRecords)
        ));
    }
}
