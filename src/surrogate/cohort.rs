//! Cohort statistics the app draws: mean cluster proportions per predicted and per true label
//! (heatmaps), cluster-output correlations, mean entropy per predicted class, and a K sweep
//! (fidelity against the number of clusters).
//!
//! The proportions must come from ONE cluster model (e.g. the explainer's), not from the folds'
//! models, whose cluster numbers do not correspond.

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use super::SurrogateError;
use super::evaluate::{ClusterBackend, CnnOutputs, EvalData, EvalSettings, Truth, cross_validate};
use super::metrics::{MeanSd, pearson};
use crate::model::config::Task;
use crate::progress::ProgressSink;

/// K values of the sweep when none are given (the paper's range around its K = 8).
pub const DEFAULT_K_SWEEP: [usize; 5] = [4, 6, 8, 12, 16];

/// Cohort statistics over a data set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CohortStats {
    pub k: usize,
    pub output_names: Vec<String>,
    /// Per output: mean proportions (length K) over records the CNN predicts it for; `None` when
    /// no record is predicted (and always for regression).
    pub mean_proportions_by_predicted: Vec<Option<Vec<f32>>>,
    pub n_predicted: Vec<usize>,
    /// Per output: mean proportions over records truly labelled with it; `None` without labels.
    pub mean_proportions_by_true: Option<Vec<Option<Vec<f32>>>>,
    pub n_true: Option<Vec<usize>>,
    /// [cluster][output]: Pearson correlation over records between the cluster's proportion and
    /// the CNN's output (probability or value); `None` when either is constant.
    pub correlation: Vec<Vec<Option<f32>>>,
    /// Per output: mean over records predicted it of the record's mean entropy.
    pub mean_entropy_by_predicted: Vec<Option<f32>>,
}

fn group_means(
    proportions: ArrayView2<f32>,
    entropy: &[f32],
    members: &[Vec<bool>],
) -> (Vec<Option<Vec<f32>>>, Vec<usize>, Vec<Option<f32>>) {
    let mut means = Vec::new();
    let mut counts = Vec::new();
    let mut ent = Vec::new();
    for m in members {
        let rows: Vec<usize> = (0..m.len()).filter(|&i| m[i]).collect();
        counts.push(rows.len());
        if rows.is_empty() {
            means.push(None);
            ent.push(None);
            continue;
        }
        let mut acc = vec![0f64; proportions.ncols()];
        for &i in &rows {
            for (a, v) in acc.iter_mut().zip(proportions.row(i)) {
                *a += *v as f64;
            }
        }
        means.push(Some(
            acc.iter().map(|a| (a / rows.len() as f64) as f32).collect(),
        ));
        ent.push(Some(
            (rows.iter().map(|&i| entropy[i] as f64).sum::<f64>() / rows.len() as f64) as f32,
        ));
    }
    (means, counts, ent)
}

/// Membership [output][record] of the CNN's predicted labels (none for regression).
fn predicted_members(cnn: &CnnOutputs) -> Vec<Vec<bool>> {
    let n_out = cnn.values.ncols();
    match cnn.task {
        Task::Multilabel => {
            let p = cnn.multilabel_predictions();
            (0..n_out).map(|c| p.column(c).to_vec()).collect()
        }
        Task::Multiclass => {
            let p = cnn.class_predictions();
            (0..n_out)
                .map(|c| p.iter().map(|&v| v == c).collect())
                .collect()
        }
        Task::Regression => vec![vec![false; cnn.values.nrows()]; n_out],
    }
}

/// Computes the cohort statistics from per-record proportions (N, K), mean entropies, the CNN's
/// outputs and optional truth.
pub fn cohort_stats(
    proportions: ArrayView2<f32>,
    mean_entropy: &[f32],
    cnn: &CnnOutputs,
    truth: Option<&Truth>,
) -> Result<CohortStats, SurrogateError> {
    let n = proportions.nrows();
    if n == 0 || mean_entropy.len() != n || cnn.values.nrows() != n {
        return Err(SurrogateError::input(format!(
            "cohort: {n} proportion rows, {} entropies, {} CNN output rows",
            mean_entropy.len(),
            cnn.values.nrows()
        )));
    }
    let n_out = cnn.values.ncols();
    let (by_pred, n_pred, ent_pred) =
        group_means(proportions, mean_entropy, &predicted_members(cnn));
    let (by_true, n_true) = match truth {
        Some(Truth::MultiLabel(t)) if t.dim() == (n, n_out) => {
            let m: Vec<Vec<bool>> = (0..n_out).map(|c| t.column(c).to_vec()).collect();
            let (a, b, _) = group_means(proportions, mean_entropy, &m);
            (Some(a), Some(b))
        }
        Some(Truth::MultiClass(t)) if t.len() == n => {
            let m: Vec<Vec<bool>> = (0..n_out)
                .map(|c| t.iter().map(|&v| v == c).collect())
                .collect();
            let (a, b, _) = group_means(proportions, mean_entropy, &m);
            (Some(a), Some(b))
        }
        Some(Truth::Regression(_)) | None => (None, None),
        Some(_) => {
            return Err(SurrogateError::input(
                "cohort: true labels do not fit the CNN outputs",
            ));
        }
    };
    let correlation = proportions
        .columns()
        .into_iter()
        .map(|col| {
            let col = col.to_vec();
            (0..n_out)
                .map(|o| pearson(&col, &cnn.values.column(o).to_vec()).map(|r| r as f32))
                .collect()
        })
        .collect();
    Ok(CohortStats {
        k: proportions.ncols(),
        output_names: cnn.names.clone(),
        mean_proportions_by_predicted: by_pred,
        n_predicted: n_pred,
        mean_proportions_by_true: by_true,
        n_true,
        correlation,
        mean_entropy_by_predicted: ent_pred,
    })
}

/// Fidelity (and forest scores) of the cross-validated surrogate at one K.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KSweepPoint {
    pub k: usize,
    pub fidelity: Option<MeanSd>,
    pub forest_accuracy: Option<MeanSd>,
    pub forest_auroc: Option<MeanSd>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KSweep {
    pub points: Vec<KSweepPoint>,
}

/// Runs [`cross_validate`] once per K, with the backend `make_backend(k)`.
pub fn k_sweep<B: ClusterBackend>(
    data: &EvalData,
    ks: &[usize],
    make_backend: impl Fn(usize) -> B,
    settings: &EvalSettings,
    progress: &dyn ProgressSink,
) -> Result<KSweep, SurrogateError> {
    if ks.is_empty() || ks.contains(&0) {
        return Err(SurrogateError::settings(format!(
            "K sweep needs K values >= 1, got {ks:?}"
        )));
    }
    let mut points = Vec::with_capacity(ks.len());
    for &k in ks {
        let report = cross_validate(data, &make_backend(k), settings, progress)?;
        points.push(KSweepPoint {
            k,
            fidelity: report.summary.fidelity,
            forest_accuracy: report.summary.forest_accuracy,
            forest_auroc: report.summary.forest_auroc,
        });
    }
    Ok(KSweep { points })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn group_means_and_correlation_by_hand() {
        let props = array![[1.0f32, 0.0], [0.5, 0.5], [0.0, 1.0]];
        let cnn = CnnOutputs {
            task: Task::Multilabel,
            names: vec!["A".into()],
            values: array![[0.9f32], [0.6], [0.1]],
        };
        let truth = Truth::MultiLabel(array![[true], [false], [false]]);
        let s = cohort_stats(props.view(), &[0.2, 0.4, 0.9], &cnn, Some(&truth)).unwrap();
        assert_eq!(s.n_predicted, vec![2]);
        assert_eq!(s.mean_proportions_by_predicted[0], Some(vec![0.75, 0.25]));
        assert!((s.mean_entropy_by_predicted[0].unwrap() - 0.3).abs() < 1e-6);
        assert_eq!(s.mean_proportions_by_true.unwrap()[0], Some(vec![1.0, 0.0]));
        // Cluster 0's proportion rises with the output: positive correlation; cluster 1 negative.
        assert!(s.correlation[0][0].unwrap() > 0.9);
        assert!(s.correlation[1][0].unwrap() < -0.9);
    }
}
