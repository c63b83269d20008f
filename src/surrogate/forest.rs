//! Random forests (classification and regression) on small dense feature tables such as cluster
//! proportions.
//!
//! Why not linfa-ensemble / linfa-trees 0.8.1 (both in Cargo.toml)? Checked in their sources:
//! - linfa-ensemble's `EnsembleLearner` draws ONE random feature subset per tree (random
//!   subspaces), not a fresh subset at every split as Breiman's random forest (and sklearn's
//!   `RandomForestClassifier`, which the paper used) does; it predicts by majority vote only, with
//!   no probabilities; and its `fit` calls `.unwrap()` on each tree's fit, so bad input panics
//!   instead of returning an error.
//! - linfa-trees' `DecisionTree` is classification-only (no regression trees) and exposes no
//!   leaf class frequencies, so neither vote fractions with per-split feature sampling nor
//!   regression could be had without re-implementing the tree anyway.
//!
//! So this is a small CART (Gini for classes, squared error for values; binary splits at mid-points
//! between distinct sorted values, `x <= threshold` goes left) with bootstrap samples and
//! `max_features` candidates drawn at every node, as in sklearn. `predict_proba` averages the
//! leaves' class frequencies over the trees (sklearn's definition), which gives smooth scores for
//! AUROC. Trees are grown in parallel (rayon); tree `t` draws from the seeded xoshiro stream
//! advanced by `t` jumps, so results do not depend on the number of threads.

use ndarray::{Array2, ArrayView2};
use rand::Rng;
use rand::SeedableRng;
use rand::seq::index::sample as sample_indices;
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::SurrogateError;

/// How many features are tried at each split.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum MaxFeatures {
    /// ceil(sqrt(p)): sklearn's default for classification.
    Sqrt,
    /// ceil(p / 3): Breiman's suggestion for regression.
    Third,
    /// Every feature (bagged trees; sklearn's default for regression).
    All,
    /// A fixed number (clamped to p).
    Count(usize),
    /// A fraction of p in (0, 1] (rounded up).
    Fraction(f32),
}

impl MaxFeatures {
    /// The number of candidate features at a split, in 1..=n_features.
    pub fn resolve(&self, n_features: usize) -> usize {
        let p = n_features.max(1);
        let m = match *self {
            MaxFeatures::Sqrt => (p as f64).sqrt().ceil() as usize,
            MaxFeatures::Third => (p as f64 / 3.0).ceil() as usize,
            MaxFeatures::All => p,
            MaxFeatures::Count(c) => c,
            MaxFeatures::Fraction(f) => (p as f64 * f as f64).ceil() as usize,
        };
        m.clamp(1, p)
    }
}

/// Forest settings; the defaults are sklearn's `RandomForestClassifier` defaults (the paper used
/// sklearn and names no hyper-parameters).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForestSettings {
    /// Number of trees (default 100).
    pub n_trees: usize,
    /// Maximum depth (root = depth 0); `None` (default) grows until leaves are pure or too small.
    pub max_depth: Option<usize>,
    /// Minimum number of (bootstrap) samples in a leaf (default 1).
    pub min_samples_leaf: usize,
    /// Candidate features per split (default `Sqrt`).
    pub max_features: MaxFeatures,
    /// Draw a bootstrap sample (n with replacement) per tree (default true).
    pub bootstrap: bool,
    /// Seed of the random streams (default 0).
    pub seed: u64,
}

impl Default for ForestSettings {
    fn default() -> Self {
        ForestSettings {
            n_trees: 100,
            max_depth: None,
            min_samples_leaf: 1,
            max_features: MaxFeatures::Sqrt,
            bootstrap: true,
            seed: 0,
        }
    }
}

impl ForestSettings {
    /// sklearn's `RandomForestRegressor` defaults (all features at each split).
    pub fn regression_default() -> Self {
        ForestSettings {
            max_features: MaxFeatures::All,
            ..Default::default()
        }
    }

    pub fn validate(&self) -> Result<(), SurrogateError> {
        if self.n_trees == 0 {
            return Err(SurrogateError::settings(
                "forest n_trees must be at least 1",
            ));
        }
        if self.min_samples_leaf == 0 {
            return Err(SurrogateError::settings(
                "forest min_samples_leaf must be at least 1",
            ));
        }
        match self.max_features {
            MaxFeatures::Count(0) => {
                return Err(SurrogateError::settings(
                    "forest max_features Count(0): must be >= 1",
                ));
            }
            MaxFeatures::Fraction(f) if !(f > 0.0 && f <= 1.0) => {
                return Err(SurrogateError::settings(format!(
                    "forest max_features Fraction({f}): must be in (0, 1]"
                )));
            }
            _ => {}
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Node {
    /// Class frequencies (classification) or `[mean]` (regression).
    Leaf(Vec<f32>),
    Split {
        feature: usize,
        threshold: f32,
        left: usize,
        right: usize,
    },
}

/// One fitted CART tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Tree {
    nodes: Vec<Node>,
}

impl Tree {
    fn leaf(&self, row: ndarray::ArrayView1<f32>) -> &[f32] {
        let mut i = 0;
        loop {
            match &self.nodes[i] {
                Node::Leaf(v) => return v,
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                } => {
                    i = if row[*feature] <= *threshold {
                        *left
                    } else {
                        *right
                    };
                }
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Target<'a> {
    Class { y: &'a [usize], n_classes: usize },
    Value(&'a [f32]),
}

/// Node statistics: for classes the counts, for values (sum, count) in `counts[0..2]`.
fn leaf_value(target: Target, idx: &[usize]) -> (Vec<f32>, bool) {
    match target {
        Target::Class { y, n_classes } => {
            let mut counts = vec![0usize; n_classes];
            for &i in idx {
                counts[y[i]] += 1;
            }
            let n = idx.len().max(1) as f32;
            let pure = counts.iter().filter(|&&c| c > 0).count() <= 1;
            (counts.iter().map(|&c| c as f32 / n).collect(), pure)
        }
        Target::Value(y) => {
            let n = idx.len().max(1) as f64;
            let mean = idx.iter().map(|&i| y[i] as f64).sum::<f64>() / n;
            let pure = idx
                .iter()
                .all(|&i| (y[i] as f64 - mean).abs() <= 1e-12 * mean.abs().max(1.0));
            (vec![mean as f32], pure)
        }
    }
}

/// The best split of `idx` among `features`: maximises the proxy sum over children of
/// (sum of squared class counts) / n (Gini) or (sum of values)^2 / n (squared error), which is the
/// impurity decrease up to a constant. Returns (feature, threshold) or `None` if no split improves.
fn best_split(
    x: &ArrayView2<f32>,
    target: Target,
    idx: &[usize],
    features: &[usize],
    min_leaf: usize,
    buf: &mut Vec<(f32, usize)>,
) -> Option<(usize, f32)> {
    let n = idx.len();
    let parent_proxy = match target {
        Target::Class { y, n_classes } => {
            let mut counts = vec![0f64; n_classes];
            for &i in idx {
                counts[y[i]] += 1.0;
            }
            counts.iter().map(|c| c * c).sum::<f64>() / n as f64
        }
        Target::Value(y) => {
            let s: f64 = idx.iter().map(|&i| y[i] as f64).sum();
            s * s / n as f64
        }
    };
    let mut best: Option<(f64, usize, f32)> = None;
    let mut right_counts = Vec::new();
    let mut left_counts = Vec::new();
    for &f in features {
        buf.clear();
        buf.extend(idx.iter().map(|&i| (x[[i, f]], i)));
        buf.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        if buf[0].0 == buf[n - 1].0 {
            continue;
        }
        match target {
            Target::Class { y, n_classes } => {
                left_counts.clear();
                left_counts.resize(n_classes, 0f64);
                right_counts.clear();
                right_counts.resize(n_classes, 0f64);
                for &(_, i) in buf.iter() {
                    right_counts[y[i]] += 1.0;
                }
                let mut sq_left = 0f64;
                let mut sq_right: f64 = right_counts.iter().map(|c| c * c).sum();
                for p in 0..n - 1 {
                    let c = y[buf[p].1];
                    sq_left += 2.0 * left_counts[c] + 1.0;
                    left_counts[c] += 1.0;
                    sq_right -= 2.0 * right_counts[c] - 1.0;
                    right_counts[c] -= 1.0;
                    let n_left = p + 1;
                    if n_left < min_leaf || n - n_left < min_leaf || buf[p].0 >= buf[p + 1].0 {
                        continue;
                    }
                    let proxy = sq_left / n_left as f64 + sq_right / (n - n_left) as f64;
                    if best.is_none_or(|b| proxy > b.0) {
                        best = Some((proxy, f, threshold(buf[p].0, buf[p + 1].0)));
                    }
                }
            }
            Target::Value(y) => {
                let total: f64 = buf.iter().map(|&(_, i)| y[i] as f64).sum();
                let mut s_left = 0f64;
                for p in 0..n - 1 {
                    s_left += y[buf[p].1] as f64;
                    let n_left = p + 1;
                    if n_left < min_leaf || n - n_left < min_leaf || buf[p].0 >= buf[p + 1].0 {
                        continue;
                    }
                    let s_right = total - s_left;
                    let proxy =
                        s_left * s_left / n_left as f64 + s_right * s_right / (n - n_left) as f64;
                    if best.is_none_or(|b| proxy > b.0) {
                        best = Some((proxy, f, threshold(buf[p].0, buf[p + 1].0)));
                    }
                }
            }
        }
    }
    // A split that does not decrease impurity (up to rounding) is no split.
    let tolerance = 1e-9 * parent_proxy.abs().max(1.0);
    best.filter(|b| b.0 > parent_proxy + tolerance)
        .map(|b| (b.1, b.2))
}

/// Mid-point between two distinct sorted values such that `a <= t < b`.
fn threshold(a: f32, b: f32) -> f32 {
    let m = a + (b - a) / 2.0;
    if m >= b || m < a { a } else { m }
}

struct Grow<'a> {
    x: ArrayView2<'a, f32>,
    target: Target<'a>,
    max_depth: Option<usize>,
    min_leaf: usize,
    max_features: usize,
    bootstrap: bool,
}

impl Grow<'_> {
    fn tree(&self, rng: &mut Xoshiro256PlusPlus) -> Tree {
        let n = self.x.nrows();
        let p = self.x.ncols();
        let mut idx: Vec<usize> = if self.bootstrap {
            (0..n).map(|_| rng.gen_range(0..n)).collect()
        } else {
            (0..n).collect()
        };
        let mut nodes = vec![Node::Leaf(Vec::new())];
        // (node, start, end, depth) over `idx`; an explicit stack so deep trees cannot overflow.
        let mut stack = vec![(0usize, 0usize, idx.len(), 0usize)];
        let mut buf = Vec::with_capacity(n);
        while let Some((node, lo, hi, depth)) = stack.pop() {
            let slice = &mut idx[lo..hi];
            let (value, pure) = leaf_value(self.target, slice);
            let may_split = !pure
                && slice.len() >= 2 * self.min_leaf
                && self.max_depth.is_none_or(|d| depth < d);
            let split = if may_split {
                let features = sample_indices(rng, p, self.max_features).into_vec();
                best_split(
                    &self.x,
                    self.target,
                    slice,
                    &features,
                    self.min_leaf,
                    &mut buf,
                )
            } else {
                None
            };
            match split {
                None => nodes[node] = Node::Leaf(value),
                Some((feature, threshold)) => {
                    let mut n_left = 0;
                    for j in 0..slice.len() {
                        if self.x[[slice[j], feature]] <= threshold {
                            slice.swap(n_left, j);
                            n_left += 1;
                        }
                    }
                    let left = nodes.len();
                    nodes.push(Node::Leaf(Vec::new()));
                    let right = nodes.len();
                    nodes.push(Node::Leaf(Vec::new()));
                    nodes[node] = Node::Split {
                        feature,
                        threshold,
                        left,
                        right,
                    };
                    stack.push((left, lo, lo + n_left, depth + 1));
                    stack.push((right, lo + n_left, hi, depth + 1));
                }
            }
        }
        Tree { nodes }
    }
}

fn grow_forest(
    x: ArrayView2<f32>,
    target: Target,
    settings: &ForestSettings,
) -> Result<Vec<Tree>, SurrogateError> {
    settings.validate()?;
    // Re-borrow so the view's (invariant) lifetime can shrink to the target's.
    let grow = Grow {
        x: x.view(),
        target,
        max_depth: settings.max_depth,
        min_leaf: settings.min_samples_leaf,
        max_features: settings.max_features.resolve(x.ncols()),
        bootstrap: settings.bootstrap,
    };
    let base = Xoshiro256PlusPlus::seed_from_u64(settings.seed);
    Ok((0..settings.n_trees)
        .into_par_iter()
        .map(|t| {
            let mut rng = base.clone();
            for _ in 0..t {
                rng.jump();
            }
            grow.tree(&mut rng)
        })
        .collect())
}

fn check_x(x: &ArrayView2<f32>, n_targets: usize) -> Result<(), SurrogateError> {
    if x.nrows() == 0 || x.ncols() == 0 {
        return Err(SurrogateError::input(format!(
            "forest training table is empty ({} rows x {} features)",
            x.nrows(),
            x.ncols()
        )));
    }
    if x.nrows() != n_targets {
        return Err(SurrogateError::input(format!(
            "forest: {} rows of features but {} targets",
            x.nrows(),
            n_targets
        )));
    }
    if let Some(((r, c), v)) = x.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(SurrogateError::input(format!(
            "forest: feature value {v} at row {r}, column {c}"
        )));
    }
    Ok(())
}

fn check_predict_x(x: &ArrayView2<f32>, n_features: usize) -> Result<(), SurrogateError> {
    if x.ncols() != n_features {
        return Err(SurrogateError::input(format!(
            "forest fitted on {n_features} features, asked to predict with {}",
            x.ncols()
        )));
    }
    Ok(())
}

/// A random forest classifier over `n_classes` classes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassificationForest {
    trees: Vec<Tree>,
    n_classes: usize,
    n_features: usize,
}

impl ClassificationForest {
    /// Fits on rows of `x` (n, p) with class indices `y` (< n_classes).
    pub fn fit(
        x: ArrayView2<f32>,
        y: &[usize],
        n_classes: usize,
        settings: &ForestSettings,
    ) -> Result<Self, SurrogateError> {
        check_x(&x, y.len())?;
        if n_classes < 2 {
            return Err(SurrogateError::input(format!(
                "forest: {n_classes} classes (need >= 2)"
            )));
        }
        if let Some((i, c)) = y.iter().enumerate().find(|(_, c)| **c >= n_classes) {
            return Err(SurrogateError::input(format!(
                "forest: class {c} of row {i} is out of range (n_classes = {n_classes})"
            )));
        }
        let trees = grow_forest(x, Target::Class { y, n_classes }, settings)?;
        Ok(ClassificationForest {
            trees,
            n_classes,
            n_features: x.ncols(),
        })
    }

    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// Mean over trees of the leaf's class frequencies: (n, n_classes), rows sum to 1.
    pub fn predict_proba(&self, x: ArrayView2<f32>) -> Result<Array2<f32>, SurrogateError> {
        check_predict_x(&x, self.n_features)?;
        let mut out = Array2::<f32>::zeros((x.nrows(), self.n_classes));
        for (row, mut o) in x.outer_iter().zip(out.outer_iter_mut()) {
            for tree in &self.trees {
                for (acc, v) in o.iter_mut().zip(tree.leaf(row)) {
                    *acc += *v;
                }
            }
            o /= self.trees.len() as f32;
        }
        Ok(out)
    }

    /// Argmax of [`Self::predict_proba`] (ties go to the lowest class index).
    pub fn predict(&self, x: ArrayView2<f32>) -> Result<Vec<usize>, SurrogateError> {
        let proba = self.predict_proba(x)?;
        Ok(proba.outer_iter().map(|r| argmax(&r.to_vec())).collect())
    }
}

/// Index of the largest value; ties go to the lowest index; empty -> 0.
pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best
}

/// One binary forest per label (multi-label classification, as the paper's per-class forests).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultiLabelForest {
    forests: Vec<ClassificationForest>,
}

impl MultiLabelForest {
    /// Fits one forest per column of `y` (n, L). Label `l` uses seed `settings.seed + l`
    /// so the label forests draw different streams.
    pub fn fit(
        x: ArrayView2<f32>,
        y: ArrayView2<bool>,
        settings: &ForestSettings,
    ) -> Result<Self, SurrogateError> {
        if y.ncols() == 0 {
            return Err(SurrogateError::input("multi-label forest: no labels"));
        }
        let forests = y
            .columns()
            .into_iter()
            .enumerate()
            .map(|(l, col)| {
                let yl: Vec<usize> = col.iter().map(|&b| b as usize).collect();
                let s = ForestSettings {
                    seed: settings.seed.wrapping_add(l as u64),
                    ..settings.clone()
                };
                ClassificationForest::fit(x, &yl, 2, &s)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(MultiLabelForest { forests })
    }

    pub fn n_labels(&self) -> usize {
        self.forests.len()
    }

    /// Probability of each label being positive: (n, L).
    pub fn predict_proba(&self, x: ArrayView2<f32>) -> Result<Array2<f32>, SurrogateError> {
        let mut out = Array2::<f32>::zeros((x.nrows(), self.forests.len()));
        for (l, f) in self.forests.iter().enumerate() {
            let p = f.predict_proba(x)?;
            out.column_mut(l).assign(&p.column(1));
        }
        Ok(out)
    }

    /// Positive when the probability is >= 0.5 (the CNN's multi-label rule, so forest and CNN
    /// labels are compared under one rule).
    pub fn predict(&self, x: ArrayView2<f32>) -> Result<Array2<bool>, SurrogateError> {
        Ok(self.predict_proba(x)?.mapv(|p| p >= 0.5))
    }
}

/// A random forest regressor (mean of the trees' leaf means).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegressionForest {
    trees: Vec<Tree>,
    n_features: usize,
}

impl RegressionForest {
    pub fn fit(
        x: ArrayView2<f32>,
        y: &[f32],
        settings: &ForestSettings,
    ) -> Result<Self, SurrogateError> {
        check_x(&x, y.len())?;
        if let Some((i, v)) = y.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(SurrogateError::input(format!(
                "forest: target {v} of row {i} is not finite"
            )));
        }
        let trees = grow_forest(x, Target::Value(y), settings)?;
        Ok(RegressionForest {
            trees,
            n_features: x.ncols(),
        })
    }

    pub fn predict(&self, x: ArrayView2<f32>) -> Result<Vec<f32>, SurrogateError> {
        check_predict_x(&x, self.n_features)?;
        Ok(x.outer_iter()
            .map(|row| {
                self.trees
                    .iter()
                    .map(|t| t.leaf(row)[0] as f64)
                    .sum::<f64>() as f32
                    / self.trees.len() as f32
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn settings_validation() {
        assert!(ForestSettings::default().validate().is_ok());
        assert!(
            ForestSettings {
                n_trees: 0,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
        assert!(
            ForestSettings {
                min_samples_leaf: 0,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
        let bad = ForestSettings {
            max_features: MaxFeatures::Fraction(1.5),
            ..Default::default()
        };
        assert!(bad.validate().is_err());
        assert_eq!(MaxFeatures::Sqrt.resolve(16), 4);
        assert_eq!(MaxFeatures::Sqrt.resolve(10), 4);
        assert_eq!(MaxFeatures::Count(50).resolve(8), 8);
    }

    #[test]
    fn single_tree_separates_a_threshold() {
        // Class is 1 exactly when feature 1 > 0.5; feature 0 is noise. One unbootstrapped tree
        // with all features must find the split at the mid-point 0.5.
        let x = array![
            [0.3f32, 0.1],
            [0.9, 0.2],
            [0.1, 0.4],
            [0.5, 0.6],
            [0.2, 0.8],
            [0.7, 0.9]
        ];
        let y = [0usize, 0, 0, 1, 1, 1];
        let s = ForestSettings {
            n_trees: 1,
            bootstrap: false,
            max_features: MaxFeatures::All,
            ..Default::default()
        };
        let f = ClassificationForest::fit(x.view(), &y, 2, &s).unwrap();
        assert_eq!(f.trees[0].nodes.len(), 3);
        match &f.trees[0].nodes[0] {
            Node::Split {
                feature, threshold, ..
            } => {
                assert_eq!(*feature, 1);
                assert!((threshold - 0.5).abs() < 1e-6);
            }
            other => panic!("expected a split, got {other:?}"),
        }
        let p = f
            .predict(array![[0.0f32, 0.49], [0.0, 0.51]].view())
            .unwrap();
        assert_eq!(p, vec![0, 1]);
    }

    #[test]
    fn proba_rows_sum_to_one_and_seed_reproduces() {
        let x = Array2::from_shape_fn((60, 3), |(i, j)| ((i * 7 + j * 13) % 17) as f32 / 17.0);
        let y: Vec<usize> = (0..60).map(|i| i % 3).collect();
        let s = ForestSettings {
            n_trees: 20,
            seed: 7,
            ..Default::default()
        };
        let a = ClassificationForest::fit(x.view(), &y, 3, &s).unwrap();
        let b = ClassificationForest::fit(x.view(), &y, 3, &s).unwrap();
        assert_eq!(a, b);
        let p = a.predict_proba(x.view()).unwrap();
        for r in p.outer_iter() {
            assert!((r.sum() - 1.0).abs() < 1e-5);
        }
        let c =
            ClassificationForest::fit(x.view(), &y, 3, &ForestSettings { seed: 8, ..s }).unwrap();
        assert_ne!(a, c);
    }

    #[test]
    fn regression_fits_a_step_and_min_leaf_holds() {
        let x = Array2::from_shape_fn((40, 1), |(i, _)| i as f32);
        let y: Vec<f32> = (0..40).map(|i| if i < 20 { 1.0 } else { 5.0 }).collect();
        let s = ForestSettings {
            n_trees: 1,
            bootstrap: false,
            ..ForestSettings::regression_default()
        };
        let f = RegressionForest::fit(x.view(), &y, &s).unwrap();
        let p = f.predict(array![[3.0f32], [30.0]].view()).unwrap();
        assert_eq!(p, vec![1.0, 5.0]);
        // min_samples_leaf = 25 > 40 / 2: no split is allowed, the prediction is the mean.
        let s2 = ForestSettings {
            min_samples_leaf: 25,
            ..s
        };
        let f2 = RegressionForest::fit(x.view(), &y, &s2).unwrap();
        assert_eq!(f2.predict(array![[3.0f32]].view()).unwrap(), vec![3.0]);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let x = array![[0.0f32], [f32::NAN]];
        assert!(
            ClassificationForest::fit(x.view(), &[0, 1], 2, &ForestSettings::default()).is_err()
        );
        let x = array![[0.0f32], [1.0]];
        assert!(
            ClassificationForest::fit(x.view(), &[0, 2], 2, &ForestSettings::default()).is_err()
        );
        assert!(ClassificationForest::fit(x.view(), &[0], 2, &ForestSettings::default()).is_err());
        let f =
            ClassificationForest::fit(x.view(), &[0, 1], 2, &ForestSettings::default()).unwrap();
        assert!(f.predict(array![[0.0f32, 1.0]].view()).is_err());
    }
}
