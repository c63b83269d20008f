//! Metrics of the surrogate table.
//!
//! Definitions (the paper does not spell them out; these are the ones the table uses):
//! - **AUROC**: the Mann-Whitney statistic, P(score of a random positive > score of a random
//!   negative) with ties counted 0.5 (average ranks). `None` ("undefined") when there is no
//!   positive or no negative, or a score is not finite; never 0 or NaN.
//! - **Multi-label accuracy**: `per_label_mean` = mean over labels and records of (prediction ==
//!   truth) (Hamming accuracy; the table shows this one), and `exact_match` = share of records
//!   whose whole label set is right (reported beside it).
//! - **Fidelity** (multi-label): mean over labels of the per-label agreement between the forest's
//!   and the CNN's predicted labels, i.e. the Hamming accuracy of the forest against the CNN;
//!   multiclass: share of records where both argmaxes agree; regression: R^2 of the forest
//!   against the CNN's outputs.
//! - **Macro** averages: mean over the classes where the metric is defined.
//! - **Mean +- SD over folds**: SD is the sample SD (n - 1); 0 for a single fold.

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

pub use crate::stats::{auroc, pearson};

/// Share of positions where `a` and `b` agree; `None` when empty or of different lengths.
pub fn agreement<T: PartialEq>(a: &[T], b: &[T]) -> Option<f64> {
    if a.is_empty() || a.len() != b.len() {
        return None;
    }
    Some(a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / a.len() as f64)
}

/// Multi-label accuracy of `pred` against `truth` (both (n, L)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultiLabelAgreement {
    /// Per label: share of records where prediction == truth.
    pub per_label: Vec<f64>,
    /// Mean over labels and records (Hamming accuracy).
    pub per_label_mean: f64,
    /// Share of records whose whole label vector matches.
    pub exact_match: f64,
}

/// `None` when the shapes differ or there are no records or no labels.
pub fn multilabel_agreement(
    pred: ArrayView2<bool>,
    truth: ArrayView2<bool>,
) -> Option<MultiLabelAgreement> {
    if pred.dim() != truth.dim() || pred.nrows() == 0 || pred.ncols() == 0 {
        return None;
    }
    let n = pred.nrows() as f64;
    let per_label: Vec<f64> = pred
        .columns()
        .into_iter()
        .zip(truth.columns())
        .map(|(p, t)| p.iter().zip(t.iter()).filter(|(a, b)| a == b).count() as f64 / n)
        .collect();
    let per_label_mean = per_label.iter().sum::<f64>() / per_label.len() as f64;
    let exact = pred
        .outer_iter()
        .zip(truth.outer_iter())
        .filter(|(p, t)| p == t)
        .count();
    Some(MultiLabelAgreement {
        per_label,
        per_label_mean,
        exact_match: exact as f64 / n,
    })
}

/// Mean absolute error; `None` when empty or of different lengths.
pub fn mae(pred: &[f32], truth: &[f32]) -> Option<f64> {
    if pred.is_empty() || pred.len() != truth.len() {
        return None;
    }
    Some(
        pred.iter()
            .zip(truth)
            .map(|(p, t)| (*p as f64 - *t as f64).abs())
            .sum::<f64>()
            / pred.len() as f64,
    )
}

/// Coefficient of determination 1 - SS_res / SS_tot of `pred` for `truth`; `None` when empty,
/// of different lengths, or `truth` is constant (SS_tot = 0).
pub fn r2(pred: &[f32], truth: &[f32]) -> Option<f64> {
    if pred.is_empty() || pred.len() != truth.len() {
        return None;
    }
    let mean = truth.iter().map(|&t| t as f64).sum::<f64>() / truth.len() as f64;
    let ss_tot: f64 = truth.iter().map(|&t| (t as f64 - mean).powi(2)).sum();
    if ss_tot <= 0.0 {
        return None;
    }
    let ss_res: f64 = pred
        .iter()
        .zip(truth)
        .map(|(p, t)| (*p as f64 - *t as f64).powi(2))
        .sum();
    Some(1.0 - ss_res / ss_tot)
}

/// Mean over the defined values; `None` when none is defined.
pub fn macro_mean(values: &[Option<f64>]) -> Option<f64> {
    let defined: Vec<f64> = values.iter().flatten().copied().collect();
    if defined.is_empty() {
        None
    } else {
        Some(defined.iter().sum::<f64>() / defined.len() as f64)
    }
}

/// Mean +- sample SD of a metric over folds, with the number of folds where it was defined.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeanSd {
    pub mean: f64,
    pub sd: f64,
    /// Folds where the metric was defined (others are left out).
    pub n: usize,
}

impl MeanSd {
    /// Over the defined values; `None` when none is.
    pub fn of(values: &[Option<f64>]) -> Option<MeanSd> {
        let v: Vec<f64> = values.iter().flatten().copied().collect();
        if v.is_empty() {
            return None;
        }
        let n = v.len();
        let mean = v.iter().sum::<f64>() / n as f64;
        let sd = if n > 1 {
            (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        Some(MeanSd { mean, sd, n })
    }

    /// "94.9 +- 0.5" in percent.
    pub fn percent(&self) -> String {
        format!("{:.1} +- {:.1}", 100.0 * self.mean, 100.0 * self.sd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn auroc_hand_computed() {
        // Perfect ranking.
        assert_eq!(
            auroc(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]),
            Some(1.0)
        );
        // Inverted.
        assert_eq!(
            auroc(&[0.9, 0.8, 0.2, 0.1], &[false, false, true, true]),
            Some(0.0)
        );
        // Pairs (pos, neg): pos {0.4, 0.8}, neg {0.1, 0.4, 0.9}:
        // 0.4 vs 0.1 win, vs 0.4 tie (0.5), vs 0.9 loss; 0.8: win, win, loss -> 3.5 / 6.
        let a = auroc(
            &[0.4, 0.8, 0.1, 0.4, 0.9],
            &[true, true, false, false, false],
        )
        .unwrap();
        assert!((a - 3.5 / 6.0).abs() < 1e-12);
        // All scores tied -> 0.5.
        assert_eq!(auroc(&[0.3; 4], &[true, false, true, false]), Some(0.5));
    }

    #[test]
    fn auroc_undefined() {
        assert_eq!(auroc(&[0.1, 0.2], &[false, false]), None);
        assert_eq!(auroc(&[0.1, 0.2], &[true, true]), None);
        assert_eq!(auroc(&[], &[]), None);
        assert_eq!(auroc(&[f32::NAN, 0.2], &[true, false]), None);
    }

    #[test]
    fn multilabel_accuracy_and_exact_match() {
        let pred = array![[true, false], [true, true], [false, false]];
        let truth = array![[true, false], [false, true], [false, true]];
        let m = multilabel_agreement(pred.view(), truth.view()).unwrap();
        // Label 0: 2/3 right; label 1: 2/3 right; exact: only row 0.
        assert!((m.per_label[0] - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.per_label[1] - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.per_label_mean - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.exact_match - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(agreement(&[1, 2, 3, 4], &[1, 0, 3, 0]), Some(0.5));
    }

    #[test]
    fn regression_metrics() {
        assert_eq!(mae(&[1.0, 2.0, 4.0], &[1.0, 3.0, 1.0]), Some(4.0 / 3.0));
        // truth mean 2, ss_tot = 2, ss_res = 0.25 + 0.25 = 0.5 -> 0.75.
        let r = r2(&[1.5, 2.0, 2.5], &[1.0, 2.0, 3.0]).unwrap();
        assert!((r - 0.75).abs() < 1e-12);
        assert_eq!(r2(&[1.0, 2.0], &[3.0, 3.0]), None);
        assert_eq!(
            pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]).map(|v| (v * 1e9).round()),
            Some(1e9)
        );
        assert_eq!(pearson(&[1.0, 1.0], &[2.0, 4.0]), None);
    }

    #[test]
    fn macro_and_fold_summaries() {
        assert_eq!(macro_mean(&[Some(0.5), None, Some(1.0)]), Some(0.75));
        assert_eq!(macro_mean(&[None, None]), None);
        let m = MeanSd::of(&[Some(0.9), Some(0.95), None, Some(1.0)]).unwrap();
        assert_eq!(m.n, 3);
        assert!((m.mean - 0.95).abs() < 1e-12);
        assert!((m.sd - 0.05).abs() < 1e-12);
        assert_eq!(MeanSd::of(&[None]), None);
        assert_eq!(MeanSd::of(&[Some(0.5)]).unwrap().sd, 0.0);
    }
}
