//! `tlc train`: train a ResNet1d on a data set (or on synthetic records), optionally with
//! k-fold cross-validation and out-of-fold predictions.

use std::path::PathBuf;

use anyhow::{Context, bail};
use candle_core::DType;
use clap::ValueEnum;
use rayon::prelude::*;

use crate::cli::common::{DataOptions, TerminalProgress, refuse_existing};
use crate::dsp::{PreprocessSettings, prepare};
use crate::io::{Dataset, RecordEntry};
use crate::model::config::TrainingData;
use crate::model::train::{
    Augmentation, CvParams, LrSchedule, TrainParams, TrainingSet, accuracy, cross_validate,
    exact_match, macro_auroc, metric_name, task_metric, train, write_oof_csv,
};
use crate::model::{ModelConfig, ModelError, Task, default_device};
use crate::progress::{Progress, ProgressSink};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TaskArg {
    Multilabel,
    Multiclass,
    Regression,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ScheduleArg {
    /// Cosine decay to 1 % of --lr.
    Cosine,
    /// x0.1 every third of the epochs.
    Step,
    Constant,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DtypeArg {
    F32,
    F16,
    Bf16,
}

/// Arguments of `tlc train`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data set: PTB-XL folder, folder of WFDB records, CODE-15% HDF5.
    #[arg(long, required_unless_present = "synth")]
    pub data: Option<PathBuf>,
    /// Instead of --data: N synthetic records generated in memory exactly as `tlc synth`
    /// writes them (its default settings, seed --synth-seed).
    #[arg(long, conflicts_with = "data")]
    pub synth: Option<usize>,
    #[arg(long, default_value_t = 0)]
    pub synth_seed: u64,
    /// Records are resampled to the model's rate.
    #[command(flatten)]
    pub data_options: DataOptions,
    /// Overrides the config's task.
    #[arg(long, value_enum)]
    pub task: Option<TaskArg>,
    /// Architecture (JSON, as the config beside a model; class_names/n_outputs may be left out
    /// and are then taken from the data set: its classes, or ["age"] for regression).
    #[arg(long)]
    pub config: PathBuf,
    /// Where to write the model (safetensors; its JSON config is written beside it).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 30)]
    pub epochs: usize,
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    #[arg(long, default_value_t = 1e-2)]
    pub weight_decay: f64,
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Epochs without improvement of the validation loss before stopping.
    #[arg(long, default_value_t = 10)]
    pub patience: usize,
    #[arg(long, value_enum, default_value = "cosine")]
    pub schedule: ScheduleArg,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// k-fold cross-validation (k >= 3) on the data set's folds (remapped to 1..=k as (fold-1) % k + 1;
    /// records without a fold get index % k + 1): one model per fold, out-of-fold predictions
    /// written to --oof, then the final model on all folds.
    #[arg(long, value_parser = clap::value_parser!(u32).range(3..))]
    pub folds: Option<u32>,
    /// Validation fold for early stopping of the final model (default: the highest fold).
    #[arg(long)]
    pub val_fold: Option<u32>,
    /// Out-of-fold predictions CSV (default: <out stem>.oof.csv beside --out).
    #[arg(long)]
    pub oof: Option<PathBuf>,
    /// Also keep each fold's model as <out stem>.fold<k>.safetensors.
    #[arg(long)]
    pub save_fold_models: bool,
    /// With --folds: stop after the cross-validation (no final model).
    #[arg(long)]
    pub no_final: bool,
    /// Remove baseline wander (dsp::prepare's median filter) before the model. The model
    /// config records it; explainers fitted for the model and every use of them apply it.
    #[arg(long)]
    pub remove_baseline: bool,
    /// Start from these weights (same architecture, e.g. pre-trained on `--synth` records)
    /// instead of a random initialisation; tensors of another shape keep their random start.
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Replace an existing model, config or out-of-fold file.
    #[arg(long)]
    pub overwrite: bool,
    /// Continue an interrupted run: every run keeps its state in `<out stem>.train-state/`
    /// beside --out (finished folds, and the running fold's or final model's last epoch),
    /// and removes it when it ends. Give the same command with --resume.
    #[arg(long)]
    pub resume: bool,
    /// Data type of the written weights.
    #[arg(long, value_enum, default_value = "f32")]
    pub save_dtype: DtypeArg,
    /// Move each training record in time by up to this many milliseconds, drawn anew every
    /// epoch (zeros move in). 0 = off.
    #[arg(long, default_value_t = 0.0)]
    pub augment_shift_ms: f64,
    /// Multiply each training record by a gain drawn log-uniformly from [1/G, G], anew every
    /// epoch. 1 = off.
    #[arg(long, default_value_t = 1.0)]
    pub augment_gain: f32,
}

/// The training target of one record, or `None` when the record has none for this task.
pub fn target_for(entry: &RecordEntry, task: Task, class_names: &[String]) -> Option<Vec<f32>> {
    match task {
        Task::Multilabel => Some(
            class_names
                .iter()
                .map(|c| f32::from(u8::from(entry.labels.contains(c))))
                .collect(),
        ),
        Task::Multiclass => {
            let first = entry
                .labels
                .iter()
                .find_map(|l| class_names.iter().position(|c| c == l))?;
            Some(
                (0..class_names.len())
                    .map(|i| f32::from(u8::from(i == first)))
                    .collect(),
            )
        }
        Task::Regression => entry.age_years.filter(|a| a.is_finite()).map(|a| vec![a]),
    }
}

/// Loads and prepares every record that has a target, in parallel. Also returns how many were
/// skipped (no target) and the lowest sampling rate among the records used (Hz).
fn load_set(
    ds: &dyn Dataset,
    config: &ModelConfig,
    settings: &PreprocessSettings,
    folds: Option<u32>,
    progress: &TerminalProgress,
) -> anyhow::Result<(TrainingSet, usize, Option<f64>)> {
    let spec = config.input_spec();
    let n = ds.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    type Row = (ndarray::Array2<f32>, Vec<f32>, u32, String, f64);
    let rows: Vec<Option<Row>> = (0..n)
        .into_par_iter()
        .map(|i| -> anyhow::Result<_> {
            let entry = ds
                .entry(i)
                .with_context(|| format!("record {i} has no index entry"))?;
            let d = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            progress.report(Progress {
                stage: "loading records".into(),
                done: d,
                total: n,
                share: None,
            });
            let Some(target) = target_for(entry, config.task, &config.class_names) else {
                return Ok(None);
            };
            let ecg = ds.load(i)?;
            let prepared = prepare(&ecg, &spec, settings).map_err(|e| {
                // Most preparation errors name the record; the others get its id here.
                let named = e.names_record();
                let e = anyhow::Error::new(e);
                if named {
                    e
                } else {
                    e.context(format!("preparing record {}", entry.id))
                }
            })?;
            let fold = match (entry.fold, folds) {
                (Some(f), Some(k)) => (f.max(1) - 1) % k + 1,
                (Some(f), None) => f,
                (None, Some(k)) => (i as u32) % k + 1,
                (None, None) => (i as u32) % 10 + 1,
            };
            Ok(Some((
                prepared.data,
                target,
                fold,
                entry.id.clone(),
                ecg.fs_hz,
            )))
        })
        .collect::<anyhow::Result<_>>()?;
    let mut set = TrainingSet::default();
    let mut skipped = 0;
    let mut lowest_fs_hz: Option<f64> = None;
    for row in rows {
        match row {
            Some((x, t, f, id, fs_hz)) => {
                lowest_fs_hz = Some(lowest_fs_hz.map_or(fs_hz, |l| l.min(fs_hz)));
                set.inputs.push(x);
                set.targets.push(t);
                set.folds.push(f);
                set.ids.push(id);
            }
            None => skipped += 1,
        }
    }
    Ok((set, skipped, lowest_fs_hz))
}

fn command_line() -> String {
    let mut args = std::env::args();
    let _ = args.next();
    std::iter::once("tlc".to_string())
        .chain(args)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The architecture from `--config`, with the task and outputs the command line and the data
/// set give it.
fn read_config(args: &Args, ds: &dyn Dataset) -> anyhow::Result<ModelConfig> {
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let mut config: ModelConfig = serde_json::from_str(&text)
        .with_context(|| format!("{}: invalid model config", args.config.display()))?;
    if let Some(t) = args.task {
        config.task = match t {
            TaskArg::Multilabel => Task::Multilabel,
            TaskArg::Multiclass => Task::Multiclass,
            TaskArg::Regression => Task::Regression,
        };
    }
    if config.class_names.is_empty() {
        config.class_names = match config.task {
            Task::Regression => vec!["age".to_string()],
            _ => ds.class_names(),
        };
        config.n_outputs = config.class_names.len();
    }
    config
        .validate()
        .map_err(|m| anyhow::anyhow!("{}: {m}", args.config.display()))?;
    Ok(config)
}

/// `--data`, or `--synth` records generated in memory.
fn open_training_data(args: &Args) -> anyhow::Result<Box<dyn Dataset>> {
    Ok(match (&args.data, args.synth) {
        (Some(path), _) => args.data_options.open(path)?,
        (None, Some(n)) => {
            let params = crate::synth::SynthParams {
                n_records: n,
                seed: args.synth_seed,
                ..Default::default()
            };
            Box::new(crate::synth::SyntheticDataset::new(params)?)
        }
        (None, None) => bail!("give --data or --synth"),
    })
}

/// A shift in ms as a whole number of the model's input samples.
fn shift_samples(shift_ms: f64, fs_hz: f64) -> anyhow::Result<usize> {
    if !(shift_ms.is_finite() && shift_ms >= 0.0) {
        bail!("--augment-shift-ms must be 0 or more, not {shift_ms}");
    }
    Ok((shift_ms * 1e-3 * fs_hz).round() as usize)
}

fn train_params(args: &Args, config: &ModelConfig) -> anyhow::Result<TrainParams> {
    let schedule = match args.schedule {
        ScheduleArg::Cosine => LrSchedule::Cosine { min_factor: 0.01 },
        ScheduleArg::Step => LrSchedule::Step {
            every_epochs: args.epochs.div_ceil(3).max(1),
            factor: 0.1,
        },
        ScheduleArg::Constant => LrSchedule::Constant,
    };
    let params = TrainParams {
        epochs: args.epochs,
        lr: args.lr,
        weight_decay: args.weight_decay,
        batch_size: args.batch_size,
        schedule,
        patience: args.patience,
        seed: args.seed,
        save_dtype: match args.save_dtype {
            DtypeArg::F32 => DType::F32,
            DtypeArg::F16 => DType::F16,
            DtypeArg::Bf16 => DType::BF16,
        },
        init_weights: args.init.clone(),
        augmentation: Augmentation {
            max_shift_samples: shift_samples(args.augment_shift_ms, config.sampling_rate)?,
            max_gain: args.augment_gain,
        },
    };
    params.validate()?;
    Ok(params)
}

/// The out-of-fold predictions file: `--oof`, or `<out stem>.oof.csv` beside `--out`.
fn oof_path(args: &Args) -> PathBuf {
    args.oof.clone().unwrap_or_else(|| {
        let stem = args
            .out
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("model");
        args.out.with_file_name(format!("{stem}.oof.csv"))
    })
}

/// Where a run keeps what it needs to resume: `<out stem>.train-state/` beside `--out`.
pub fn state_dir(out: &std::path::Path) -> PathBuf {
    let stem = out.file_stem().and_then(|s| s.to_str()).unwrap_or("model");
    out.with_file_name(format!("{stem}.train-state"))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let state = state_dir(&args.out);
    let resuming = args.resume && state.is_dir();
    if state.exists() && !args.resume {
        bail!(
            "{} holds an interrupted run of this model: add --resume to continue it, or \
             delete the folder to start afresh",
            state.display()
        );
    }
    // Every file the run will write, refused before the first epoch rather than replaced by
    // the first checkpoint (a resumed run replaces what it wrote itself).
    let config_out = crate::model::config_path_for(&args.out);
    let oof = args.folds.map(|_| oof_path(&args));
    let final_model = (!args.no_final).then_some([args.out.as_path(), config_out.as_path()]);
    refuse_existing(
        final_model.into_iter().flatten().chain(oof.as_deref()),
        args.overwrite || resuming,
    )?;
    if resuming {
        println!("resuming the run kept in {}", state.display());
    }
    let ds = open_training_data(&args)?;
    let mut config = read_config(&args, ds.as_ref())?;
    let params = train_params(&args, &config)?;
    // The filtering becomes part of the model: recorded in its config.
    let mut preprocessing = config.preprocessing();
    preprocessing.remove_baseline |= args.remove_baseline;
    let settings = preprocessing.settings(None);
    config.preprocessing = Some(preprocessing);
    let t0 = std::time::Instant::now();
    let loading = TerminalProgress::new("loading records");
    let loaded = load_set(ds.as_ref(), &config, &settings, args.folds, &loading);
    loading.finish();
    let (set, skipped, lowest_fs_hz) = loaded?;
    // What the model learnt from, so that applying it to other data can say so.
    config.trained_on = Some(TrainingData {
        data_set: ds.name(),
        synthetic: args.synth.is_some(),
        lowest_rate_hz: lowest_fs_hz,
    });
    println!(
        "{}: {} records prepared ({} without a target skipped) in {:.1} s",
        ds.name(),
        set.len(),
        skipped,
        t0.elapsed().as_secs_f64()
    );
    let mut description = format!(
        "Trained by `{}` on {} ({} records; {} x {} at {} Hz; blocks {:?}, kernel {}).",
        command_line(),
        ds.name(),
        set.len(),
        config.input_channels,
        config.input_length,
        config.sampling_rate,
        config.blocks_dim,
        config.kernel_size
    );
    if let Some(k) = args.folds {
        let summary = run_cross_validation(&args, &config, &set, &params, k)?;
        description.push_str(&format!(
            " {k}-fold cross-validation on the data set's folds (out-of-fold): {summary}."
        ));
        if args.no_final {
            return remove_state(&state);
        }
    }
    train_final_model(&args, config, &set, &params, description)?;
    remove_state(&state)
}

/// The run ended normally: its resume state is no longer needed.
fn remove_state(state: &std::path::Path) -> anyhow::Result<()> {
    match std::fs::remove_dir_all(state) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", state.display()))
        }
        _ => Ok(()),
    }
}

/// One model per fold, their out-of-fold outputs written to `--oof`; returns the summary line.
fn run_cross_validation(
    args: &Args,
    config: &ModelConfig,
    set: &TrainingSet,
    params: &TrainParams,
    k: u32,
) -> anyhow::Result<String> {
    let state = state_dir(&args.out);
    let cv = CvParams {
        train: params.clone(),
        fold_models: args.save_fold_models.then(|| args.out.clone()),
        state_dir: Some(state.clone()),
    };
    let t = std::time::Instant::now();
    let oof_path = oof_path(args);
    let progress = TerminalProgress::new("cross-validation");
    // Each finished fold's outputs are written at once: a long run shows (and keeps) them.
    let mut write_so_far =
        |oof: &[Vec<f32>]| write_oof_csv(&oof_path, set, oof, &config.class_names);
    let outcome = cross_validate(
        config,
        set,
        &cv,
        &default_device(),
        &progress,
        &mut write_so_far,
    );
    progress.finish();
    let outcome = match outcome {
        Err(ModelError::Cancelled) => bail!(
            "cancelled during cross-validation; finished folds are in {} and {}: give the \
             same command with --resume to continue",
            oof_path.display(),
            state.display()
        ),
        other => other?,
    };
    write_oof_csv(&oof_path, set, &outcome.oof, &config.class_names)?;
    let summary = cv_summary(config.task, &outcome.oof, &set.targets);
    println!(
        "{k}-fold cross-validation ({:.0} s): {summary}; out-of-fold predictions in {}",
        t.elapsed().as_secs_f64(),
        oof_path.display()
    );
    for (fold, best_epoch, history) in &outcome.per_fold {
        println!(
            "  fold {fold}: best epoch {} of {}",
            best_epoch + 1,
            history.len()
        );
    }
    Ok(summary)
}

/// The model written to `--out`: trained on every fold but the validation fold, which decides
/// early stopping.
fn train_final_model(
    args: &Args,
    mut config: ModelConfig,
    set: &TrainingSet,
    params: &TrainParams,
    mut description: String,
) -> anyhow::Result<()> {
    let val_fold = args
        .val_fold
        .or_else(|| set.folds.iter().copied().max())
        .unwrap_or(1);
    let train_idx = set.indices_where(|f| f != val_fold);
    let val_idx = set.indices_where(|f| f == val_fold);
    description.push_str(&format!(
        " This model: trained on {} records, early stopping on fold {val_fold} ({} records).",
        train_idx.len(),
        val_idx.len()
    ));
    config.description = Some(description);
    let state = state_dir(&args.out);
    std::fs::create_dir_all(&state).with_context(|| format!("creating {}", state.display()))?;
    let final_state = state.join("final.state.safetensors");
    let progress = TerminalProgress::new("training");
    let t = std::time::Instant::now();
    let outcome = train(
        &config,
        set,
        &train_idx,
        &val_idx,
        params,
        Some(&args.out),
        Some(&final_state),
        &default_device(),
        "final",
        &progress,
    );
    progress.finish();
    let outcome = match outcome {
        Err(ModelError::Cancelled) => {
            bail!("cancelled before the first epoch ended; nothing saved")
        }
        other => other?,
    };
    let best = &outcome.history[outcome.best_epoch];
    println!(
        "training {} after {} epochs ({:.0} s): best epoch {}, val loss {:.4}, val {} {:.4}; saved {} and {}",
        if outcome.cancelled {
            "interrupted"
        } else {
            "done"
        },
        outcome.history.len(),
        t.elapsed().as_secs_f64(),
        outcome.best_epoch + 1,
        best.val_loss,
        metric_name(config.task),
        best.val_metric,
        args.out.display(),
        crate::model::config_path_for(&args.out).display()
    );
    if outcome.cancelled {
        bail!(
            "interrupted by Ctrl-C after {} epochs; the best model so far (epoch {}) is saved, \
             and the same command with --resume continues the run from {}",
            outcome.history.len(),
            outcome.best_epoch + 1,
            state.display()
        );
    }
    Ok(())
}

/// Cross-validated figures from out-of-fold outputs.
fn cv_summary(task: Task, oof: &[Vec<f32>], targets: &[Vec<f32>]) -> String {
    match task {
        Task::Multilabel => format!(
            "macro AUROC {:.3}, label accuracy {:.3}, exact-match accuracy {:.3}",
            macro_auroc(oof, targets).unwrap_or(f64::NAN),
            accuracy(task, oof, targets),
            exact_match(oof, targets)
        ),
        Task::Multiclass => format!("accuracy {:.3}", accuracy(task, oof, targets)),
        Task::Regression => format!("MAE {:.3}", task_metric(task, oof, targets)),
    }
}
