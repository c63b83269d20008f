//! `tlc evaluate`: the paper's surrogate table by k-fold cross-validation.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use ndarray::Array2;

use crate::cli::common::{DataOptions, ModelOptions, TerminalProgress, refuse_existing};
use crate::surrogate::cohort::{CohortStats, DEFAULT_K_SWEEP, KSweep, cohort_stats, k_sweep};
use crate::surrogate::evaluate::ClusterBackend;
use crate::surrogate::tlc_backend::TlcBackend;
use crate::surrogate::{
    EvalData, EvalSettings, ForestSettings, MaxFeatures, PrepareSettings, PreparedEvaluation,
    Truth, prepare_evaluation,
};
use crate::tlc::{ClusterSettings, Explainer};

/// Inputs shared by `tlc evaluate` and `tlc audit`.
#[derive(Debug, Clone, clap::Args)]
pub struct InputArgs {
    /// The model and its explainer. The explainer gives the blocks, alignment, K and k-means
    /// settings; the clusters themselves are refitted on each fold's training records.
    #[command(flatten)]
    pub model: ModelOptions,
    /// Data set: PTB-XL folder, folder of WFDB records, CODE-15% HDF5.
    #[arg(long)]
    pub data: PathBuf,
    /// Number of folds. The data set's own folds are used when every record has one and their
    /// count matches (PTB-XL's strat_fold); otherwise records are dealt into N seeded folds.
    #[arg(long)]
    pub folds: Option<usize>,
    /// Out-of-fold CNN predictions (`tlc train --folds` CSV: id,fold,<outputs>); their folds are
    /// then the evaluation's folds. Default: the given model's own predictions.
    #[arg(long)]
    pub oof: Option<PathBuf>,
    /// Number of clusters (default: the explainer's K).
    #[arg(long)]
    pub k: Option<usize>,
    /// Trees per forest.
    #[arg(long, default_value_t = 100)]
    pub trees: usize,
    /// Maximum tree depth (default: unlimited).
    #[arg(long)]
    pub max_depth: Option<usize>,
    #[arg(long, default_value_t = 1)]
    pub min_samples_leaf: usize,
    /// Features tried per split: sqrt, third, all, a count, or a fraction in (0, 1].
    #[arg(long, default_value = "sqrt")]
    pub max_features: String,
    /// k-means initialisations per fold (default: the explainer's).
    #[arg(long)]
    pub n_init: Option<usize>,
    /// Time-step budget of each fold's k-means (seeded subsample; default: the explainer's).
    #[arg(long)]
    pub max_steps: Option<usize>,
    /// Seed of folds, k-means and forests.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Use only the first N records.
    #[arg(long)]
    pub limit: Option<usize>,
    #[command(flatten)]
    pub data_options: DataOptions,
}

/// Arguments of `tlc evaluate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub input: InputArgs,
    /// Also run the K sweep (K = 4, 6, 8, 12, 16 unless listed: `--k-sweep 4,8`).
    #[arg(long, value_delimiter = ',', num_args = 0..)]
    pub k_sweep: Option<Vec<usize>>,
    /// Folder for evaluation.csv, evaluation.json, cohort.json (and k_sweep.json).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Replace existing output files.
    #[arg(long)]
    pub overwrite: bool,
    /// Leak-free: evaluate each fold with the model trained without it (`tlc train --folds
    /// --save-fold-models` writes them as `<model stem>.fold<k>.safetensors` beside --model):
    /// that fold model gives every record's features and CNN outputs for the fold, so the
    /// encoder has never seen the records it is scored on. The data set's folds are the
    /// training run's.
    #[arg(long, conflicts_with_all = ["oof", "k_sweep"])]
    pub fold_models: bool,
}

fn parse_max_features(s: &str) -> anyhow::Result<MaxFeatures> {
    Ok(match s {
        "sqrt" => MaxFeatures::Sqrt,
        "third" => MaxFeatures::Third,
        "all" => MaxFeatures::All,
        _ if s.contains('.') => {
            MaxFeatures::Fraction(s.parse().with_context(|| format!("--max-features {s}"))?)
        }
        _ => MaxFeatures::Count(s.parse().with_context(|| format!("--max-features {s}"))?),
    })
}

/// Everything loaded and computed once: the evaluation input, the explainer, the backend.
pub(crate) struct Prepared {
    pub data: EvalData,
    pub explainer: Explainer,
    pub backend: TlcBackend,
    pub settings: EvalSettings,
    pub dataset_name: String,
}

/// The preparation settings the arguments give.
fn prepare_settings(a: &InputArgs) -> anyhow::Result<PrepareSettings> {
    Ok(PrepareSettings {
        folds: a.folds,
        k: a.k,
        n_init: a.n_init,
        max_time_steps: a.max_steps,
        seed: a.seed,
        limit: a.limit,
        fold_model: false,
        forest: ForestSettings {
            n_trees: a.trees,
            max_depth: a.max_depth,
            min_samples_leaf: a.min_samples_leaf,
            max_features: parse_max_features(&a.max_features)?,
            ..ForestSettings::default()
        },
    })
}

pub(crate) fn prepare(a: &InputArgs, progress: &TerminalProgress) -> anyhow::Result<Prepared> {
    let (model, explainer) = a.model.open(Some(&a.data))?;
    let dataset = a.data_options.open(&a.data)?;
    let settings = prepare_settings(a)?;
    let prepared = prepare_evaluation(
        &model,
        &explainer,
        dataset.as_ref(),
        a.oof.as_deref(),
        &settings,
        progress,
    )
    .with_context(|| format!("data set {}", a.data.display()))?;
    eprintln!(
        "features of {} records computed once in {:.1} s",
        prepared.data.ids.len(),
        prepared.features_s
    );
    let PreparedEvaluation {
        data,
        backend,
        settings,
        ..
    } = prepared;
    Ok(Prepared {
        data,
        explainer,
        backend,
        settings,
        dataset_name: dataset.name(),
    })
}

/// Cohort statistics under the explainer's own clusters (one numbering for all records).
fn cohort(p: &Prepared) -> anyhow::Result<CohortStats> {
    let model = p.explainer.cluster_model();
    let backend = TlcBackend {
        settings: ClusterSettings {
            k: model.k(),
            ..p.backend.settings.clone()
        },
    };
    let k = model.k();
    let mut props = Array2::<f32>::zeros((p.data.ids.len(), k));
    let mut entropy = Vec::with_capacity(p.data.ids.len());
    for (i, f) in p.data.features.iter().enumerate() {
        let a = backend.assign(&model, f).map_err(|e| {
            anyhow::anyhow!(
                "record {}: {}",
                p.data.ids[i],
                crate::error_text::describe(e.as_ref())
            )
        })?;
        props
            .row_mut(i)
            .assign(&ndarray::ArrayView1::from(&a.proportions[..]));
        entropy.push(a.mean_entropy);
    }
    Ok(cohort_stats(
        props.view(),
        &entropy,
        &p.data.cnn,
        p.data.truth.as_ref(),
    )?)
}

fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    Ok(crate::io::files::write_atomic(path, text.as_bytes(), true)?)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if let Some(dir) = &args.out {
        // Refused before the run, not after it.
        let names = [
            "evaluation.csv",
            "evaluation.json",
            "cohort.json",
            "k_sweep.json",
        ];
        let paths: Vec<PathBuf> = names.iter().map(|n| dir.join(n)).collect();
        refuse_existing(paths.iter().map(PathBuf::as_path), args.overwrite)?;
    }
    if args.fold_models {
        return run_fold_models(&args);
    }
    let progress = TerminalProgress::new("evaluating");
    let t0 = Instant::now();
    let p = prepare(&args.input, &progress)?;
    let t_cv = Instant::now();
    let report = crate::surrogate::cross_validate(&p.data, &p.backend, &p.settings, &progress);
    progress.finish();
    let report = report?;
    let cv_s = t_cv.elapsed().as_secs_f64();
    println!(
        "{} ({})",
        p.dataset_name,
        if args.input.oof.is_some() {
            "out-of-fold CNN predictions"
        } else {
            "CNN predictions of the given model"
        }
    );
    print!("{}", report.table());
    println!(
        "cross-validation {cv_s:.1} s (features cached), total {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let sweep: Option<KSweep> = match &args.k_sweep {
        None => None,
        Some(ks) => {
            let ks = if ks.is_empty() {
                DEFAULT_K_SWEEP.to_vec()
            } else {
                ks.clone()
            };
            let base = p.backend.settings.clone();
            let progress = TerminalProgress::new("evaluating");
            let s = k_sweep(
                &p.data,
                &ks,
                |k| TlcBackend {
                    settings: ClusterSettings { k, ..base.clone() },
                },
                &p.settings,
                &progress,
            );
            progress.finish();
            let s = s?;
            println!("K sweep (fidelity %):");
            for pt in &s.points {
                println!(
                    "  K = {:>3}: {}",
                    pt.k,
                    pt.fidelity
                        .map(|m| m.percent())
                        .unwrap_or_else(|| "undefined".into())
                );
            }
            Some(s)
        }
    };
    if let Some(dir) = &args.out {
        report.write_csv(&dir.join("evaluation.csv"))?;
        report.write_json(&dir.join("evaluation.json"))?;
        write_json(&dir.join("cohort.json"), &cohort(&p)?)?;
        if let Some(s) = &sweep {
            write_json(&dir.join("k_sweep.json"), s)?;
        }
        println!("wrote {}", dir.display());
    }
    Ok(())
}

/// `--fold-models`: each fold evaluated on its own fold model's features and outputs.
fn run_fold_models(args: &Args) -> anyhow::Result<()> {
    let a = &args.input;
    let t0 = Instant::now();
    let model_path = a.model.model_path(Some(&a.data));
    // The explainer gives the settings (blocks, K, normalisation); it must belong to the run.
    let (_, explainer) = a.model.open(Some(&a.data))?;
    let dataset = a.data_options.open(&a.data)?;
    let n = a.limit.map_or(dataset.len(), |l| l.min(dataset.len()));
    let source = crate::surrogate::prepare::cnn_source_for(&model_path, dataset.as_ref(), n);
    let crate::surrogate::prepare::CnnSource::FoldModels { oof } = &source else {
        bail!(
            "--fold-models needs {} beside the model with a row for every record, and a \
             `<stem>.fold<k>.safetensors` for each of its folds (tlc train --folds K \
             --save-fold-models); found: {}",
            model_path.with_extension("oof.csv").display(),
            source.describe()
        );
    };
    let progress = TerminalProgress::new("evaluating");
    let report = crate::surrogate::prepare::evaluate_fold_models(
        &model_path,
        &explainer,
        dataset.as_ref(),
        oof,
        &prepare_settings(a)?,
        &progress,
    );
    progress.finish();
    let report = report.with_context(|| format!("data set {}", a.data.display()))?;
    println!("{} ({})", dataset.name(), source.describe());
    print!("{}", report.table());
    println!("total {:.1} s", t0.elapsed().as_secs_f64());
    if let Some(dir) = &args.out {
        report.write_csv(&dir.join("evaluation.csv"))?;
        report.write_json(&dir.join("evaluation.json"))?;
        println!("wrote {}", dir.display());
    }
    Ok(())
}

/// Used by `tlc audit` too: the truth of the prepared data.
pub(crate) fn truth(p: &Prepared) -> Option<&Truth> {
    p.data.truth.as_ref()
}
