//! Building the evaluation input ([`EvalData`]) from a model, its explainer and a data set:
//! shared by `tlc evaluate`, `tlc audit` and the app's cohort view.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ndarray::Array2;

use super::data::{dataset_folds, dataset_truth, evaluated_records};
use super::oof::OofPredictions;
use super::{CnnOutputs, EvalData, EvalSettings, ForestSettings, SurrogateError, TlcBackend};
use crate::io::Dataset;
use crate::model::LoadedModel;
use crate::model::config::Task;
use crate::progress::ProgressSink;
use crate::tlc::pipeline::dataset_features;
use crate::tlc::{ClusterSettings, Explainer};

/// How the evaluation input is built. Unset options fall back to the explainer's settings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PrepareSettings {
    /// Number of folds. The data set's own folds are used when every record has one and their
    /// count matches; otherwise records are dealt into N seeded folds (`None`: the data set's
    /// folds, or 10).
    pub folds: Option<usize>,
    /// Number of clusters (default: the explainer's K).
    pub k: Option<usize>,
    /// k-means initialisations per fold (default: the explainer's).
    pub n_init: Option<usize>,
    /// Time-step budget of each fold's k-means (default: the explainer's).
    pub max_time_steps: Option<usize>,
    /// Seed of folds, k-means and forests (default 0).
    pub seed: u64,
    /// Use only the first N records (default: all).
    pub limit: Option<usize>,
    /// The model is a cross-validation fold model of the explainer's model (same architecture,
    /// input and filtering, other weights): its hash is not checked against the explainer's.
    pub fold_model: bool,
    /// Forest settings; `n_trees`, `max_depth`, `min_samples_leaf`, `max_features` are used,
    /// the task's defaults fill the rest and `seed` above replaces the forest's seed.
    pub forest: ForestSettings,
}

/// The evaluation input, computed once, and the backend and settings to evaluate it with.
pub struct PreparedEvaluation {
    pub data: EvalData,
    pub backend: TlcBackend,
    pub settings: EvalSettings,
    /// Seconds spent computing the records' features (the expensive part).
    pub features_s: f64,
}

/// Computes every record's features once (model forward passes), the CNN outputs (the model's
/// own, or out-of-fold predictions read from `oof` whose folds then become the evaluation's),
/// the folds and the labels. Stops when `progress` is cancelled.
pub fn prepare_evaluation(
    model: &LoadedModel,
    explainer: &Explainer,
    dataset: &dyn Dataset,
    oof: Option<&Path>,
    settings: &PrepareSettings,
    progress: &dyn ProgressSink,
) -> Result<PreparedEvaluation, SurrogateError> {
    let n = settings
        .limit
        .map_or(dataset.len(), |l| l.min(dataset.len()));
    if n == 0 {
        return Err(SurrogateError::settings(format!(
            "no records to evaluate in {}{}",
            dataset.name(),
            settings
                .limit
                .map(|l| format!(" with a limit of {l}"))
                .unwrap_or_default()
        )));
    }
    // The records are filtered as the explainer's were: the model must have been trained so.
    let checked = if settings.fold_model {
        explainer.check_fold_model(model)
    } else {
        explainer.check_model(model)
    };
    checked.map_err(|e| SurrogateError::input(crate::error_text::describe(&e)))?;
    let names = model.config.class_names.clone();
    let task = model.config.task;
    let indices = evaluated_records(dataset, n, &names, task);
    if indices.is_empty() {
        return Err(SurrogateError::settings(format!(
            "none of the first {n} records of {} has a target for the model's outputs ({})",
            dataset.name(),
            names.join(", ")
        )));
    }
    let ids: Vec<String> = indices
        .iter()
        .map(|&i| {
            dataset
                .entry(i)
                .map(|e| e.id.clone())
                .unwrap_or_else(|| format!("#{i}"))
        })
        .collect();
    let t0 = Instant::now();
    let feats = dataset_features(
        model,
        &explainer.features,
        dataset,
        &indices,
        // The filtering the explainer was fitted with (checked against the model by callers).
        &explainer.preprocessing.settings(None),
        progress,
    )
    .map_err(|e| match e {
        crate::tlc::TlcError::Cancelled => SurrogateError::Cancelled,
        e => SurrogateError::input(format!(
            "computing features: {}",
            crate::error_text::describe(&e)
        )),
    })?;
    let features_s = t0.elapsed().as_secs_f64();
    let (cnn, folds) = match oof {
        Some(path) => {
            let oof = OofPredictions::read(path)?;
            let (values, folds) = oof.aligned(path, &ids, &names)?;
            (
                CnnOutputs {
                    task,
                    names: names.clone(),
                    values,
                },
                folds,
            )
        }
        None => {
            let mut raw = Array2::<f32>::zeros((indices.len(), names.len()));
            for (i, f) in feats.iter().enumerate() {
                if f.raw_outputs.len() != names.len() {
                    return Err(SurrogateError::input(format!(
                        "model gave {} outputs for record {}, config names {}",
                        f.raw_outputs.len(),
                        ids[i],
                        names.len()
                    )));
                }
                raw.row_mut(i)
                    .assign(&ndarray::ArrayView1::from(&f.raw_outputs[..]));
            }
            let folds = dataset_folds(dataset, &indices, settings.folds, settings.seed)?;
            (CnnOutputs::from_raw(task, names.clone(), raw), folds)
        }
    };
    let truth = dataset_truth(dataset, &indices, &names, task)?;
    let (backend, eval_settings) = evaluation_settings(explainer, settings, task);
    let data = EvalData {
        ids,
        features: feats.into_iter().map(|f| f.features).collect(),
        folds,
        cnn,
        truth,
    };
    Ok(PreparedEvaluation {
        data,
        backend,
        settings: eval_settings,
        features_s,
    })
}

/// The clustering backend and forest settings of an evaluation: the explainer's settings with
/// the overrides of `settings`.
pub fn evaluation_settings(
    explainer: &Explainer,
    settings: &PrepareSettings,
    task: Task,
) -> (TlcBackend, EvalSettings) {
    let fit = &explainer.fit.settings;
    let cluster = ClusterSettings {
        k: settings.k.unwrap_or(explainer.k),
        n_init: settings.n_init.unwrap_or(fit.n_init),
        max_time_steps: settings.max_time_steps.or(fit.max_time_steps),
        seed: settings.seed,
        ..fit.clone()
    };
    let f = &settings.forest;
    let forest = ForestSettings {
        n_trees: f.n_trees,
        max_depth: f.max_depth,
        min_samples_leaf: f.min_samples_leaf,
        max_features: f.max_features,
        seed: settings.seed,
        ..if task == Task::Regression {
            ForestSettings::regression_default()
        } else {
            ForestSettings::default()
        }
    };
    (TlcBackend { settings: cluster }, EvalSettings { forest })
}

/// Where the CNN outputs (and the encoder) of a surrogate evaluation come from.
#[derive(Debug, Clone, PartialEq)]
pub enum CnnSource {
    /// The model's own outputs and features: in-sample for records it was trained on.
    Model,
    /// Out-of-fold outputs (`tlc train --folds`); the features still come from the model,
    /// which saw the other folds' records.
    OutOfFold(PathBuf),
    /// Leak-free: each fold's features and outputs from the fold model trained without it
    /// (`<model stem>.fold<k>.safetensors`), with the folds of the out-of-fold file.
    FoldModels { oof: PathBuf },
}

impl CnnSource {
    /// One line saying where the outputs come from, for the table's caption.
    pub fn describe(&self) -> String {
        match self {
            CnnSource::Model => "CNN outputs and features from the model itself (in-sample for \
                 records it was trained on)"
                .into(),
            CnnSource::OutOfFold(p) => format!(
                "out-of-fold CNN outputs ({}); the features come from the final model, which \
                 saw the other folds' records",
                p.display()
            ),
            CnnSource::FoldModels { .. } => "leak-free: each fold's features and CNN outputs \
                 from the fold model that never saw it"
                .into(),
        }
    }
}

/// The most leak-free source available for the model at `model_path` on the first `n` records
/// of `dataset`: its fold models when the out-of-fold file beside it (`<stem>.oof.csv`)
/// covers every record and every fold's model is there, the out-of-fold file alone when it
/// covers every record, otherwise the model itself (e.g. a data set it was not trained on).
pub fn cnn_source_for(model_path: &Path, dataset: &dyn Dataset, n: usize) -> CnnSource {
    let stem = model_path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("model");
    let oof_path = model_path.with_file_name(format!("{stem}.oof.csv"));
    let Ok(oof) = OofPredictions::read(&oof_path) else {
        return CnnSource::Model;
    };
    // The records an evaluation uses (an age model's: those with an age).
    let records = match crate::model::read_config(&crate::model::config_path_for(model_path)) {
        Ok(c) => evaluated_records(dataset, n, &c.class_names, c.task),
        Err(_) => (0..n.min(dataset.len())).collect(),
    };
    let mut folds = Vec::with_capacity(records.len());
    for i in records {
        match dataset.entry(i).and_then(|e| oof.rows.get(&e.id)) {
            Some((fold, _)) => folds.push(*fold),
            None => return CnnSource::Model,
        }
    }
    folds.sort_unstable();
    folds.dedup();
    let all_fold_models = folds
        .iter()
        .all(|&f| crate::model::train::fold_model_path(model_path, f).is_file());
    if all_fold_models {
        CnnSource::FoldModels { oof: oof_path }
    } else {
        CnnSource::OutOfFold(oof_path)
    }
}

/// The leak-free evaluation: for each fold of the out-of-fold file `oof_path`, the features
/// and CNN outputs of every record from that fold's model (loaded in turn, so one fold model
/// and one fold's features are in memory at a time), clusters and forest fitted on the other
/// folds' records, scored on the fold's. `explainer` gives the settings (blocks, K,
/// normalisation) and must belong to the same training run (architecture, input, filtering).
pub fn evaluate_fold_models(
    model_path: &Path,
    explainer: &Explainer,
    dataset: &dyn Dataset,
    oof_path: &Path,
    settings: &PrepareSettings,
    progress: &dyn ProgressSink,
) -> Result<super::EvaluationReport, SurrogateError> {
    let oof = OofPredictions::read(oof_path)?;
    let settings = PrepareSettings {
        fold_model: true,
        ..settings.clone()
    };
    let mut folds: Vec<u32> = oof.rows.values().map(|(f, _)| *f).collect();
    folds.sort_unstable();
    folds.dedup();
    let task = explainer.model_config.task;
    let (backend, eval_settings) = evaluation_settings(explainer, &settings, task);
    let mut data_for_fold = |fold: u32| -> Result<EvalData, SurrogateError> {
        let path = crate::model::train::fold_model_path(model_path, fold);
        let model = LoadedModel::open(&path)
            .map_err(|e| SurrogateError::file(&path, crate::error_text::describe(&e)))?;
        let prepared = prepare_evaluation(&model, explainer, dataset, None, &settings, progress)?;
        let mut data = prepared.data;
        // The training run's folds, not the data set's own.
        let (_, run_folds) = oof.aligned(oof_path, &data.ids, &data.cnn.names)?;
        data.folds = run_folds;
        log::info!(
            "fold {fold}: features and outputs of {} records from {} in {:.1} s",
            data.ids.len(),
            path.display(),
            prepared.features_s
        );
        Ok(data)
    };
    super::evaluate::cross_validate_fold_models(
        &folds,
        &mut data_for_fold,
        &backend,
        &eval_settings,
        progress,
    )
}
