//! Leak-free k-fold evaluation of the surrogate (the paper's table).
//!
//! For each fold f: the clusters are fitted on the time steps of the records NOT in fold f only
//! (through a [`ClusterBackend`], normally `crate::tlc`'s k-means), every record is assigned and
//! summarised by its cluster proportions, a forest is fitted on the training records'
//! proportions against the CNN's *predicted* labels (the surrogate mimics the CNN, not the truth),
//! and the test fold is scored: fidelity (forest vs CNN), and, when true labels are given,
//! accuracy and AUROC of both the CNN and the forest. Features are computed once by the caller
//! and passed in; nothing here runs the CNN.

use std::path::Path;

use ndarray::{Array2, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::SurrogateError;
use super::forest::{
    ClassificationForest, ForestSettings, MultiLabelForest, RegressionForest, argmax,
};
use super::metrics::{self, MeanSd};
use crate::model::config::Task;
use crate::progress::{Progress, ProgressSink};

/// The clusters' summary of one record under one fold's cluster model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    /// Share of the record's time steps in each cluster (length K).
    pub proportions: Vec<f32>,
    /// Mean over the record's time steps of the normalised assignment entropy (0..1).
    pub mean_entropy: f32,
}

/// Error type of cluster backends.
pub type BackendError = Box<dyn std::error::Error + Send + Sync>;

/// Fits clusters on training records and assigns records to them.
///
/// The evaluation hands `fit` the training folds' feature tables only, so a backend cannot see
/// a test record while fitting.
pub trait ClusterBackend: Sync {
    type Model: Send + Sync;
    /// Number of clusters of the fitted models.
    fn k(&self) -> usize;
    /// Fits clusters on the time steps of `train` (one (T, F) table per record).
    fn fit(
        &self,
        train: &[&Array2<f32>],
        progress: &dyn ProgressSink,
    ) -> Result<Self::Model, BackendError>;
    /// Assigns one record's time steps.
    fn assign(
        &self,
        model: &Self::Model,
        features: &Array2<f32>,
    ) -> Result<Assignment, BackendError>;
}

/// The CNN's outputs for every record (out-of-fold when available).
#[derive(Debug, Clone, PartialEq)]
pub struct CnnOutputs {
    pub task: Task,
    pub names: Vec<String>,
    /// (N, n_outputs): probabilities (multi-label: per-output sigmoid; multiclass: softmax) or
    /// regression values.
    pub values: Array2<f32>,
}

impl CnnOutputs {
    /// From raw outputs (logits or regression values): applies sigmoid / softmax.
    pub fn from_raw(task: Task, names: Vec<String>, raw: Array2<f32>) -> Self {
        // One activation for the whole program: the model config's.
        let mut values = raw;
        for mut row in values.outer_iter_mut() {
            let activated = task.activate(&row.to_vec());
            row.assign(&ndarray::ArrayView1::from(&activated[..]));
        }
        CnnOutputs {
            task,
            names,
            values,
        }
    }

    /// Multi-label predicted labels: probability >= 0.5 (as `Prediction::predicted_labels`).
    pub fn multilabel_predictions(&self) -> Array2<bool> {
        self.values.mapv(|p| p >= 0.5)
    }

    /// Multiclass predicted class: argmax (ties -> lowest index).
    pub fn class_predictions(&self) -> Vec<usize> {
        self.values
            .outer_iter()
            .map(|r| argmax(&r.to_vec()))
            .collect()
    }
}

/// True targets.
#[derive(Debug, Clone, PartialEq)]
pub enum Truth {
    /// (N, L) label indicators.
    MultiLabel(Array2<bool>),
    /// Class index per record.
    MultiClass(Vec<usize>),
    /// (N, n_outputs) values.
    Regression(Array2<f32>),
}

/// Everything the evaluation needs, computed once by the caller.
#[derive(Debug, Clone)]
pub struct EvalData {
    pub ids: Vec<String>,
    /// Per record: features of the valid time steps (T, F).
    pub features: Vec<Array2<f32>>,
    /// Per record: its cross-validation fold.
    pub folds: Vec<u32>,
    pub cnn: CnnOutputs,
    /// `None` for an unlabelled data set: fidelity only.
    pub truth: Option<Truth>,
}

impl EvalData {
    pub fn validate(&self) -> Result<(), SurrogateError> {
        let n = self.ids.len();
        if n == 0 {
            return Err(SurrogateError::input("no records to evaluate"));
        }
        if self.features.len() != n || self.folds.len() != n || self.cnn.values.nrows() != n {
            return Err(SurrogateError::input(format!(
                "{n} ids but {} feature tables, {} folds, {} CNN output rows",
                self.features.len(),
                self.folds.len(),
                self.cnn.values.nrows()
            )));
        }
        let n_out = self.cnn.values.ncols();
        if n_out == 0 || self.cnn.names.len() != n_out {
            return Err(SurrogateError::input(format!(
                "{n_out} CNN outputs but {} output names",
                self.cnn.names.len()
            )));
        }
        if let Some((i, _)) = self
            .features
            .iter()
            .enumerate()
            .find(|(_, f)| f.nrows() == 0)
        {
            return Err(SurrogateError::input(format!(
                "record {} has no valid time steps",
                self.ids[i]
            )));
        }
        let width = self.features[0].ncols();
        if let Some((i, f)) = self
            .features
            .iter()
            .enumerate()
            .find(|(_, f)| f.ncols() != width)
        {
            return Err(SurrogateError::input(format!(
                "record {} has {} features, record {} has {width}",
                self.ids[i],
                f.ncols(),
                self.ids[0]
            )));
        }
        if let Some(truth) = &self.truth {
            let ok = match (truth, self.cnn.task) {
                (Truth::MultiLabel(t), Task::Multilabel) => t.dim() == (n, n_out),
                (Truth::MultiClass(t), Task::Multiclass) => {
                    t.len() == n && t.iter().all(|&c| c < n_out)
                }
                (Truth::Regression(t), Task::Regression) => t.dim() == (n, n_out),
                _ => false,
            };
            if !ok {
                return Err(SurrogateError::input(format!(
                    "true targets do not fit a {:?} task with {n} records and {n_out} outputs",
                    self.cnn.task
                )));
            }
        }
        if self.distinct_folds().len() < 2 {
            return Err(SurrogateError::input(
                "cross-validation needs at least 2 distinct folds",
            ));
        }
        Ok(())
    }

    /// Sorted distinct fold numbers.
    pub fn distinct_folds(&self) -> Vec<u32> {
        let mut f = self.folds.clone();
        f.sort_unstable();
        f.dedup();
        f
    }
}

/// Evaluation settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct EvalSettings {
    /// The surrogate forest (default: sklearn's defaults, see [`ForestSettings`]; for regression
    /// `max_features` is used as given).
    pub forest: ForestSettings,
}

/// Scores of one model (CNN or forest) against the truth on one test fold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Performance {
    /// Multi-label: per-label mean accuracy (Hamming); multiclass: accuracy.
    pub accuracy: Option<f64>,
    /// Multi-label only: share of records with every label right.
    pub exact_match: Option<f64>,
    /// Per output: accuracy (one-vs-rest for multiclass).
    pub per_class_accuracy: Vec<Option<f64>>,
    /// Macro AUROC over the outputs where it is defined.
    pub auroc_macro: Option<f64>,
    /// Per output; `None` = undefined (no positive or no negative in the fold).
    pub per_class_auroc: Vec<Option<f64>>,
    /// Regression: mean over outputs.
    pub mae: Option<f64>,
    pub r2: Option<f64>,
    pub per_class_mae: Vec<Option<f64>>,
    pub per_class_r2: Vec<Option<f64>>,
}

/// One fold's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldResult {
    pub fold: u32,
    pub n_train: usize,
    pub n_test: usize,
    /// Classification: agreement of the forest's and the CNN's predicted labels (multi-label:
    /// mean over labels of the per-label agreement); regression: mean over outputs of R^2 of the
    /// forest against the CNN.
    pub fidelity: Option<f64>,
    pub per_class_fidelity: Vec<Option<f64>>,
    /// Multi-label: share of records whose forest label set equals the CNN's.
    pub fidelity_exact: Option<f64>,
    /// Against the truth; `None` for an unlabelled data set.
    pub cnn: Option<Performance>,
    pub forest: Option<Performance>,
}

/// One record's out-of-fold result (from the fold where it was in the test set).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordResult {
    pub id: String,
    pub fold: u32,
    /// Proportions under its fold's clusters (cluster numbers differ between folds).
    pub proportions: Vec<f32>,
    pub mean_entropy: f32,
    /// CNN probabilities / values.
    pub cnn: Vec<f32>,
    /// Forest probabilities (vote fractions) / values.
    pub forest: Vec<f32>,
}

/// Mean +- SD over folds of one metric, per class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassSummary {
    pub name: String,
    pub fidelity: Option<MeanSd>,
    pub cnn_accuracy: Option<MeanSd>,
    pub forest_accuracy: Option<MeanSd>,
    pub cnn_auroc: Option<MeanSd>,
    pub forest_auroc: Option<MeanSd>,
    pub cnn_mae: Option<MeanSd>,
    pub forest_mae: Option<MeanSd>,
    pub cnn_r2: Option<MeanSd>,
    pub forest_r2: Option<MeanSd>,
}

/// Mean +- SD over folds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub fidelity: Option<MeanSd>,
    pub fidelity_exact: Option<MeanSd>,
    pub cnn_accuracy: Option<MeanSd>,
    pub forest_accuracy: Option<MeanSd>,
    pub cnn_exact_match: Option<MeanSd>,
    pub forest_exact_match: Option<MeanSd>,
    pub cnn_auroc: Option<MeanSd>,
    pub forest_auroc: Option<MeanSd>,
    pub cnn_mae: Option<MeanSd>,
    pub forest_mae: Option<MeanSd>,
    pub cnn_r2: Option<MeanSd>,
    pub forest_r2: Option<MeanSd>,
    pub per_class: Vec<ClassSummary>,
}

/// The whole evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluationReport {
    pub task: Task,
    pub output_names: Vec<String>,
    pub k: usize,
    pub n_records: usize,
    pub labelled: bool,
    pub settings: EvalSettings,
    pub folds: Vec<FoldResult>,
    pub summary: Summary,
    /// In the order of the input records.
    pub records: Vec<RecordResult>,
}

/// Writes atomically, replacing `path` (the command refused an existing file before the run,
/// unless told to overwrite).
pub(crate) fn write_replacing(path: &Path, bytes: &[u8]) -> Result<(), SurrogateError> {
    crate::io::files::write_atomic(path, bytes, true)
        .map_err(|e| SurrogateError::file(path, crate::error_text::describe(&e)))
}

fn backend_err(fold: u32) -> impl Fn(BackendError) -> SurrogateError {
    move |e| SurrogateError::Clustering {
        fold,
        message: e.to_string(),
    }
}

/// Runs the k-fold evaluation over the folds of `data`.
pub fn cross_validate<B: ClusterBackend>(
    data: &EvalData,
    backend: &B,
    settings: &EvalSettings,
    progress: &dyn ProgressSink,
) -> Result<EvaluationReport, SurrogateError> {
    data.validate()?;
    settings.forest.validate()?;
    let folds = data.distinct_folds();
    let mut results = Vec::with_capacity(folds.len());
    let mut records: Vec<Option<RecordResult>> = vec![None; data.ids.len()];
    for (done, &fold) in folds.iter().enumerate() {
        fold_started(progress, fold, done, folds.len())?;
        let (result, fold_records) = evaluate_fold(data, backend, settings, fold, progress)?;
        for (i, r) in fold_records {
            records[i] = Some(r);
        }
        results.push(result);
    }
    Ok(report(data, backend.k(), settings, results, records))
}

/// The leak-free evaluation of a cross-validated CNN: fold `f` is evaluated on
/// `data_for_fold(f)`, the features and CNN outputs of the model trained without fold `f`
/// (computed for every record: its training records give the clusters and the forest, its
/// test records, which it never saw, are scored). `data_for_fold` is called once per fold
/// (in `folds` order), so one fold's features are in memory at a time. Every call must list
/// the same records in the same order with the same folds.
pub fn cross_validate_fold_models<B: ClusterBackend>(
    folds: &[u32],
    data_for_fold: &mut dyn FnMut(u32) -> Result<EvalData, SurrogateError>,
    backend: &B,
    settings: &EvalSettings,
    progress: &dyn ProgressSink,
) -> Result<EvaluationReport, SurrogateError> {
    settings.forest.validate()?;
    let mut results = Vec::with_capacity(folds.len());
    let mut records: Vec<Option<RecordResult>> = Vec::new();
    let mut first: Option<EvalData> = None;
    for (done, &fold) in folds.iter().enumerate() {
        fold_started(progress, fold, done, folds.len())?;
        let data = data_for_fold(fold)?;
        data.validate()?;
        if let Some(f) = &first
            && (f.ids != data.ids || f.folds != data.folds)
        {
            return Err(SurrogateError::input(format!(
                "fold {fold}: the fold model's records or folds differ from fold {}'s",
                folds[0]
            )));
        }
        if !data.folds.contains(&fold) {
            return Err(SurrogateError::input(format!(
                "no record is in fold {fold}"
            )));
        }
        let (result, fold_records) = evaluate_fold(&data, backend, settings, fold, progress)?;
        records.resize(data.ids.len(), None);
        for (i, r) in fold_records {
            records[i] = Some(r);
        }
        results.push(result);
        if first.is_none() {
            // Kept for the report's names and record count, without the features.
            first = Some(EvalData {
                features: Vec::new(),
                ..data
            });
        }
    }
    let Some(first) = first else {
        return Err(SurrogateError::input("no folds to evaluate"));
    };
    Ok(report(&first, backend.k(), settings, results, records))
}

fn fold_started(
    progress: &dyn ProgressSink,
    fold: u32,
    done: usize,
    total: usize,
) -> Result<(), SurrogateError> {
    if progress.is_cancelled() {
        return Err(SurrogateError::Cancelled);
    }
    progress.report(Progress {
        stage: format!("fold {fold}"),
        done,
        total,
        share: None,
    });
    Ok(())
}

fn report(
    data: &EvalData,
    k: usize,
    settings: &EvalSettings,
    results: Vec<FoldResult>,
    records: Vec<Option<RecordResult>>,
) -> EvaluationReport {
    let records: Vec<RecordResult> = records.into_iter().flatten().collect();
    let summary = summarise(&results, &data.cnn.names);
    EvaluationReport {
        task: data.cnn.task,
        output_names: data.cnn.names.clone(),
        k,
        n_records: data.ids.len(),
        labelled: data.truth.is_some(),
        settings: settings.clone(),
        folds: results,
        summary,
        records,
    }
}

/// Fold `fold` of `data`: clusters and forest fitted on the other folds, scored on this one.
/// Returns the fold's figures and its test records' results (with their indices).
fn evaluate_fold<B: ClusterBackend>(
    data: &EvalData,
    backend: &B,
    settings: &EvalSettings,
    fold: u32,
    progress: &dyn ProgressSink,
) -> Result<(FoldResult, Vec<(usize, RecordResult)>), SurrogateError> {
    let n = data.ids.len();
    let n_out = data.cnn.values.ncols();
    let train: Vec<usize> = (0..n).filter(|&i| data.folds[i] != fold).collect();
    let test: Vec<usize> = (0..n).filter(|&i| data.folds[i] == fold).collect();
    let train_features: Vec<&Array2<f32>> = train.iter().map(|&i| &data.features[i]).collect();
    let model = backend
        .fit(&train_features, progress)
        .map_err(backend_err(fold))?;
    let assign = |idx: &[usize]| -> Result<Vec<Assignment>, SurrogateError> {
        idx.par_iter()
            .map(|&i| {
                backend
                    .assign(&model, &data.features[i])
                    .map_err(backend_err(fold))
            })
            .collect()
    };
    let train_assign = assign(&train)?;
    let test_assign = assign(&test)?;
    let k = backend.k();
    let table = |a: &[Assignment]| -> Result<Array2<f32>, SurrogateError> {
        let mut x = Array2::<f32>::zeros((a.len(), k));
        for (mut row, r) in x.outer_iter_mut().zip(a) {
            if r.proportions.len() != k {
                return Err(SurrogateError::Clustering {
                    fold,
                    message: format!(
                        "assignment has {} proportions, K = {k}",
                        r.proportions.len()
                    ),
                });
            }
            row.assign(&ndarray::ArrayView1::from(&r.proportions[..]));
        }
        Ok(x)
    };
    let x_train = table(&train_assign)?;
    let x_test = table(&test_assign)?;
    if progress.is_cancelled() {
        return Err(SurrogateError::Cancelled);
    }
    let cnn_test = data.cnn.values.select(Axis(0), &test);
    let forest_seed = ForestSettings {
        seed: settings.forest.seed.wrapping_add(fold as u64 * 1000),
        ..settings.forest.clone()
    };
    let (forest_test, mut result) = match data.cnn.task {
        Task::Multilabel => {
            let cnn_pred = data.cnn.multilabel_predictions();
            let y_train = cnn_pred.select(Axis(0), &train);
            let forest = MultiLabelForest::fit(x_train.view(), y_train.view(), &forest_seed)?;
            let proba = forest.predict_proba(x_test.view())?;
            let pred = proba.mapv(|p| p >= 0.5);
            let cnn_test_pred = cnn_pred.select(Axis(0), &test);
            let agree = metrics::multilabel_agreement(pred.view(), cnn_test_pred.view());
            let result = FoldResult {
                fold,
                n_train: train.len(),
                n_test: test.len(),
                fidelity: agree.as_ref().map(|a| a.per_label_mean),
                per_class_fidelity: agree
                    .as_ref()
                    .map(|a| a.per_label.iter().map(|&v| Some(v)).collect())
                    .unwrap_or_else(|| vec![None; n_out]),
                fidelity_exact: agree.as_ref().map(|a| a.exact_match),
                cnn: None,
                forest: None,
            };
            (proba, result)
        }
        Task::Multiclass => {
            let cnn_pred = data.cnn.class_predictions();
            let y_train: Vec<usize> = train.iter().map(|&i| cnn_pred[i]).collect();
            let forest = ClassificationForest::fit(x_train.view(), &y_train, n_out, &forest_seed)?;
            let proba = forest.predict_proba(x_test.view())?;
            let pred: Vec<usize> = proba.outer_iter().map(|r| argmax(&r.to_vec())).collect();
            let cnn_test_pred: Vec<usize> = test.iter().map(|&i| cnn_pred[i]).collect();
            let per_class = (0..n_out)
                .map(|c| {
                    let a: Vec<bool> = pred.iter().map(|&p| p == c).collect();
                    let b: Vec<bool> = cnn_test_pred.iter().map(|&p| p == c).collect();
                    metrics::agreement(&a, &b)
                })
                .collect();
            let result = FoldResult {
                fold,
                n_train: train.len(),
                n_test: test.len(),
                fidelity: metrics::agreement(&pred, &cnn_test_pred),
                per_class_fidelity: per_class,
                fidelity_exact: None,
                cnn: None,
                forest: None,
            };
            (proba, result)
        }
        Task::Regression => {
            let mut out = Array2::<f32>::zeros((test.len(), n_out));
            let mut per_class = Vec::with_capacity(n_out);
            for o in 0..n_out {
                let y_train: Vec<f32> = train.iter().map(|&i| data.cnn.values[[i, o]]).collect();
                let s = ForestSettings {
                    seed: forest_seed.seed.wrapping_add(o as u64),
                    ..forest_seed.clone()
                };
                let forest = RegressionForest::fit(x_train.view(), &y_train, &s)?;
                let pred = forest.predict(x_test.view())?;
                let cnn_o: Vec<f32> = cnn_test.column(o).to_vec();
                per_class.push(metrics::r2(&pred, &cnn_o));
                out.column_mut(o)
                    .assign(&ndarray::ArrayView1::from(&pred[..]));
            }
            let result = FoldResult {
                fold,
                n_train: train.len(),
                n_test: test.len(),
                fidelity: metrics::macro_mean(&per_class),
                per_class_fidelity: per_class,
                fidelity_exact: None,
                cnn: None,
                forest: None,
            };
            (out, result)
        }
    };
    if let Some(truth) = &data.truth {
        result.cnn = Some(performance(truth, &test, &cnn_test, data.cnn.task));
        result.forest = Some(performance(truth, &test, &forest_test, data.cnn.task));
    }
    let mut records = Vec::with_capacity(test.len());
    for (j, &i) in test.iter().enumerate() {
        records.push(RecordResult {
            id: data.ids[i].clone(),
            fold,
            proportions: test_assign[j].proportions.clone(),
            mean_entropy: test_assign[j].mean_entropy,
            cnn: data.cnn.values.row(i).to_vec(),
            forest: forest_test.row(j).to_vec(),
        });
    }
    Ok((result, test.iter().copied().zip(records).collect()))
}

/// Scores `scores` (rows = `test` records; probabilities or values) against the truth.
fn performance(truth: &Truth, test: &[usize], scores: &Array2<f32>, task: Task) -> Performance {
    let n_out = scores.ncols();
    let mut p = Performance::default();
    match (truth, task) {
        (Truth::MultiLabel(t), _) => {
            let t = t.select(Axis(0), test);
            // One rule for CNN and forest: positive iff probability >= 0.5.
            let pred = scores.mapv(|v| v >= 0.5);
            if let Some(a) = metrics::multilabel_agreement(pred.view(), t.view()) {
                p.accuracy = Some(a.per_label_mean);
                p.exact_match = Some(a.exact_match);
                p.per_class_accuracy = a.per_label.iter().map(|&v| Some(v)).collect();
            }
            p.per_class_auroc = (0..n_out)
                .map(|c| metrics::auroc(&scores.column(c).to_vec(), &t.column(c).to_vec()))
                .collect();
            p.auroc_macro = metrics::macro_mean(&p.per_class_auroc);
        }
        (Truth::MultiClass(t), _) => {
            let t: Vec<usize> = test.iter().map(|&i| t[i]).collect();
            let pred: Vec<usize> = scores.outer_iter().map(|r| argmax(&r.to_vec())).collect();
            p.accuracy = metrics::agreement(&pred, &t);
            p.per_class_accuracy = (0..n_out)
                .map(|c| {
                    let a: Vec<bool> = pred.iter().map(|&v| v == c).collect();
                    let b: Vec<bool> = t.iter().map(|&v| v == c).collect();
                    metrics::agreement(&a, &b)
                })
                .collect();
            p.per_class_auroc = (0..n_out)
                .map(|c| {
                    let pos: Vec<bool> = t.iter().map(|&v| v == c).collect();
                    metrics::auroc(&scores.column(c).to_vec(), &pos)
                })
                .collect();
            p.auroc_macro = metrics::macro_mean(&p.per_class_auroc);
        }
        (Truth::Regression(t), _) => {
            let t = t.select(Axis(0), test);
            p.per_class_mae = (0..n_out)
                .map(|o| metrics::mae(&scores.column(o).to_vec(), &t.column(o).to_vec()))
                .collect();
            p.per_class_r2 = (0..n_out)
                .map(|o| metrics::r2(&scores.column(o).to_vec(), &t.column(o).to_vec()))
                .collect();
            p.mae = metrics::macro_mean(&p.per_class_mae);
            p.r2 = metrics::macro_mean(&p.per_class_r2);
        }
    }
    p
}

fn summarise(folds: &[FoldResult], names: &[String]) -> Summary {
    let over = |f: &dyn Fn(&FoldResult) -> Option<f64>| {
        MeanSd::of(&folds.iter().map(f).collect::<Vec<_>>())
    };
    let cls = |v: &Vec<Option<f64>>, c: usize| v.get(c).copied().flatten();
    let per_class = names
        .iter()
        .enumerate()
        .map(|(c, name)| ClassSummary {
            name: name.clone(),
            fidelity: over(&|r| cls(&r.per_class_fidelity, c)),
            cnn_accuracy: over(&|r| r.cnn.as_ref().and_then(|p| cls(&p.per_class_accuracy, c))),
            forest_accuracy: over(&|r| {
                r.forest
                    .as_ref()
                    .and_then(|p| cls(&p.per_class_accuracy, c))
            }),
            cnn_auroc: over(&|r| r.cnn.as_ref().and_then(|p| cls(&p.per_class_auroc, c))),
            forest_auroc: over(&|r| r.forest.as_ref().and_then(|p| cls(&p.per_class_auroc, c))),
            cnn_mae: over(&|r| r.cnn.as_ref().and_then(|p| cls(&p.per_class_mae, c))),
            forest_mae: over(&|r| r.forest.as_ref().and_then(|p| cls(&p.per_class_mae, c))),
            cnn_r2: over(&|r| r.cnn.as_ref().and_then(|p| cls(&p.per_class_r2, c))),
            forest_r2: over(&|r| r.forest.as_ref().and_then(|p| cls(&p.per_class_r2, c))),
        })
        .collect();
    Summary {
        fidelity: over(&|r| r.fidelity),
        fidelity_exact: over(&|r| r.fidelity_exact),
        cnn_accuracy: over(&|r| r.cnn.as_ref().and_then(|p| p.accuracy)),
        forest_accuracy: over(&|r| r.forest.as_ref().and_then(|p| p.accuracy)),
        cnn_exact_match: over(&|r| r.cnn.as_ref().and_then(|p| p.exact_match)),
        forest_exact_match: over(&|r| r.forest.as_ref().and_then(|p| p.exact_match)),
        cnn_auroc: over(&|r| r.cnn.as_ref().and_then(|p| p.auroc_macro)),
        forest_auroc: over(&|r| r.forest.as_ref().and_then(|p| p.auroc_macro)),
        cnn_mae: over(&|r| r.cnn.as_ref().and_then(|p| p.mae)),
        forest_mae: over(&|r| r.forest.as_ref().and_then(|p| p.mae)),
        cnn_r2: over(&|r| r.cnn.as_ref().and_then(|p| p.r2)),
        forest_r2: over(&|r| r.forest.as_ref().and_then(|p| p.r2)),
        per_class,
    }
}

/// Percent mean +- SD; "(n)" appended when defined in only n of `n_folds` folds.
fn pct_of(v: &Option<MeanSd>, n_folds: usize) -> String {
    match v {
        None => "undefined".into(),
        Some(m) if m.n < n_folds => format!("{} ({})", m.percent(), m.n),
        Some(m) => m.percent(),
    }
}

fn num(v: &Option<MeanSd>) -> String {
    v.map(|m| format!("{:.3} +- {:.3}", m.mean, m.sd))
        .unwrap_or_else(|| "undefined".into())
}

impl EvaluationReport {
    /// The paper-style table (percent, mean +- SD over folds).
    pub fn table(&self) -> String {
        let s = &self.summary;
        let n_folds = self.folds.len();
        let pct = |v: &Option<MeanSd>| pct_of(v, n_folds);
        let mut out = format!(
            "Surrogate evaluation: {} records, {} folds, K = {}, {} trees ({:?})\n",
            self.n_records,
            self.folds.len(),
            self.k,
            self.settings.forest.n_trees,
            self.task
        );
        let regression = self.task == Task::Regression;
        if regression {
            out += &format!("{:<22}{:>22}{:>22}\n", "", "CNN", "forest");
            out += &format!("{:<22}{:>22}\n", "R2 forest vs CNN", num(&s.fidelity));
            out += &format!(
                "{:<22}{:>22}{:>22}\n",
                "MAE",
                num(&s.cnn_mae),
                num(&s.forest_mae)
            );
            out += &format!(
                "{:<22}{:>22}{:>22}\n",
                "R2",
                num(&s.cnn_r2),
                num(&s.forest_r2)
            );
            return out;
        }
        out += &format!("{:<26}{:>18}{:>18}\n", "", "CNN", "forest");
        out += &format!("{:<26}{:>18}{:>18}\n", "fidelity (%)", "", pct(&s.fidelity));
        if self.labelled {
            out += &format!(
                "{:<26}{:>18}{:>18}\n",
                "accuracy (%)",
                pct(&s.cnn_accuracy),
                pct(&s.forest_accuracy)
            );
            if self.task == Task::Multilabel {
                out += &format!(
                    "{:<26}{:>18}{:>18}\n",
                    "exact-match accuracy (%)",
                    pct(&s.cnn_exact_match),
                    pct(&s.forest_exact_match)
                );
            }
            out += &format!(
                "{:<26}{:>18}{:>18}\n",
                "macro AUROC (%)",
                pct(&s.cnn_auroc),
                pct(&s.forest_auroc)
            );
        } else {
            out += "(no true labels: fidelity only)\n";
        }
        out += "\nper class: fidelity | accuracy CNN / forest | AUROC CNN / forest (%; (n) = defined in n folds only)\n";
        for c in &s.per_class {
            out += &format!(
                "  {:<8}{:>16} | {:>16} / {:<16} | {:>16} / {:<16}\n",
                c.name,
                pct(&c.fidelity),
                pct(&c.cnn_accuracy),
                pct(&c.forest_accuracy),
                pct(&c.cnn_auroc),
                pct(&c.forest_auroc)
            );
        }
        if self.task == Task::Multilabel {
            out += "accuracy = per-label mean accuracy over labels and records; fidelity = mean over labels of the forest/CNN label agreement\n";
        }
        out
    }

    /// Long-format CSV: `fold,class,metric,model,value` (fold "mean"/"sd" rows for the summary;
    /// class "all" for macro values; empty value = undefined).
    pub fn write_csv(&self, path: &Path) -> Result<(), SurrogateError> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let mut rows: Vec<[String; 5]> = Vec::new();
        let v = |x: Option<f64>| x.map(|x| format!("{x:.6}")).unwrap_or_default();
        for f in &self.folds {
            let fold = f.fold.to_string();
            rows.push([
                fold.clone(),
                "all".into(),
                "fidelity".into(),
                "forest".into(),
                v(f.fidelity),
            ]);
            for (c, name) in self.output_names.iter().enumerate() {
                rows.push([
                    fold.clone(),
                    name.clone(),
                    "fidelity".into(),
                    "forest".into(),
                    v(f.per_class_fidelity.get(c).copied().flatten()),
                ]);
            }
            for (model, perf) in [("cnn", &f.cnn), ("forest", &f.forest)] {
                let Some(p) = perf else { continue };
                for (metric, value, per) in [
                    ("accuracy", p.accuracy, &p.per_class_accuracy),
                    ("auroc", p.auroc_macro, &p.per_class_auroc),
                    ("mae", p.mae, &p.per_class_mae),
                    ("r2", p.r2, &p.per_class_r2),
                ] {
                    if value.is_none() && per.is_empty() {
                        continue;
                    }
                    rows.push([
                        fold.clone(),
                        "all".into(),
                        metric.into(),
                        model.into(),
                        v(value),
                    ]);
                    for (c, name) in self.output_names.iter().enumerate() {
                        rows.push([
                            fold.clone(),
                            name.clone(),
                            metric.into(),
                            model.into(),
                            v(per.get(c).copied().flatten()),
                        ]);
                    }
                }
                if p.exact_match.is_some() {
                    rows.push([
                        fold.clone(),
                        "all".into(),
                        "exact_match".into(),
                        model.into(),
                        v(p.exact_match),
                    ]);
                }
            }
        }
        let s = &self.summary;
        let mut push_summary = |class: &str, metric: &str, model: &str, m: &Option<MeanSd>| {
            rows.push([
                "mean".into(),
                class.into(),
                metric.into(),
                model.into(),
                v(m.map(|m| m.mean)),
            ]);
            rows.push([
                "sd".into(),
                class.into(),
                metric.into(),
                model.into(),
                v(m.map(|m| m.sd)),
            ]);
        };
        push_summary("all", "fidelity", "forest", &s.fidelity);
        push_summary("all", "accuracy", "cnn", &s.cnn_accuracy);
        push_summary("all", "accuracy", "forest", &s.forest_accuracy);
        push_summary("all", "exact_match", "cnn", &s.cnn_exact_match);
        push_summary("all", "exact_match", "forest", &s.forest_exact_match);
        push_summary("all", "auroc", "cnn", &s.cnn_auroc);
        push_summary("all", "auroc", "forest", &s.forest_auroc);
        push_summary("all", "mae", "cnn", &s.cnn_mae);
        push_summary("all", "mae", "forest", &s.forest_mae);
        push_summary("all", "r2", "cnn", &s.cnn_r2);
        push_summary("all", "r2", "forest", &s.forest_r2);
        for c in &s.per_class {
            push_summary(&c.name, "fidelity", "forest", &c.fidelity);
            push_summary(&c.name, "accuracy", "cnn", &c.cnn_accuracy);
            push_summary(&c.name, "accuracy", "forest", &c.forest_accuracy);
            push_summary(&c.name, "auroc", "cnn", &c.cnn_auroc);
            push_summary(&c.name, "auroc", "forest", &c.forest_auroc);
        }
        w.write_record(["fold", "class", "metric", "model", "value"])
            .map_err(|e| SurrogateError::file(path, e))?;
        for r in rows {
            w.write_record(&r)
                .map_err(|e| SurrogateError::file(path, e))?;
        }
        let bytes = w
            .into_inner()
            .map_err(|e| SurrogateError::file(path, e.error()))?;
        write_replacing(path, &bytes)
    }

    pub fn write_json(&self, path: &Path) -> Result<(), SurrogateError> {
        let text = serde_json::to_string_pretty(self).map_err(|e| SurrogateError::file(path, e))?;
        write_replacing(path, text.as_bytes())
    }
}
