//! `tlc fit`: fit time-localized clusters over a corpus and write an explainer.

use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};

use crate::dsp::Preprocessing;
use crate::io::ptbxl::PtbxlRate;
use crate::io::{OpenOptions, open_dataset_with};
use crate::model::LoadedModel;
use crate::progress::{CancelToken, Progress, ProgressSink};
use crate::tlc::cluster::{ClusterSettings, Temperature};
use crate::tlc::features::{Alignment, FeatureSettings, RecordNormalisation};
use crate::tlc::fit::{FitSettings, fit_explainer};

/// Arguments of `tlc fit`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model weights (safetensors, config JSON beside them); default: the bundled model.
    #[arg(long, default_value_os_t = crate::paths::default_model())]
    pub model: PathBuf,
    /// Data set: PTB-XL folder, folder of WFDB records, CODE-15% HDF5, or one record.
    #[arg(long)]
    pub data: PathBuf,
    /// Where to write the explainer (`X.explainer.safetensors` + `X.explainer.json`).
    #[arg(long)]
    pub out: PathBuf,
    /// Number of clusters.
    #[arg(long, default_value_t = 8)]
    pub k: usize,
    /// Residual blocks whose outputs form the features, e.g. `2,3,4` (default: the last three).
    #[arg(long, value_delimiter = ',')]
    pub blocks: Option<Vec<usize>>,
    /// Alignment of coarser blocks to the finest: nearest or linear.
    #[arg(long, default_value = "nearest")]
    pub alignment: String,
    /// Per-record normalisation of the features before the corpus-wide standardisation:
    /// none (the paper's), centre, or zscore (each record's features z-scored over its own
    /// steps).
    #[arg(long, default_value = "none")]
    pub record_normalisation: String,
    /// k-means++ initialisations.
    #[arg(long, default_value_t = 4)]
    pub n_init: usize,
    /// Maximum Lloyd iterations (mini-batch: passes over the data).
    #[arg(long, default_value_t = 300)]
    pub max_iter: usize,
    /// Convergence tolerance.
    #[arg(long, default_value_t = 1e-4)]
    pub tolerance: f32,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Budget of time steps (seeded reservoir sample over the corpus); default: all.
    #[arg(long)]
    pub max_steps: Option<usize>,
    /// Mini-batch k-means with this batch size instead of full-batch Lloyd.
    #[arg(long)]
    pub minibatch: Option<usize>,
    /// Fixed soft-assignment temperature instead of the median nearest squared distance.
    #[arg(long)]
    pub temperature: Option<f32>,
    /// Which PTB-XL copy to read (100 or 500 Hz); other data sets ignore it.
    #[arg(long, value_enum, default_value = "500")]
    pub ptbxl_rate: crate::cli::train::RateArg,
    /// Use only the first N records of the data set.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Remove baseline wander before the model. Only for a model whose config does not record
    /// its filtering (otherwise the model's is used, and a different one refused); the
    /// explainer records it and every use of the explainer applies it.
    #[arg(long)]
    pub remove_baseline: bool,
    /// Explainer name (default: `<model> k<K>`).
    #[arg(long)]
    pub name: Option<String>,
    /// Replace existing explainer files.
    #[arg(long)]
    pub overwrite: bool,
}

/// A terminal progress bar; Ctrl-C sets the cancel flag the core checks.
pub(crate) struct BarProgress {
    bar: ProgressBar,
    stage: Mutex<String>,
    cancel: CancelToken,
}

impl BarProgress {
    pub(crate) fn new() -> Self {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{msg:28} [{bar:40}] {pos}/{len} ({elapsed}, eta {eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        let cancel = CancelToken::new();
        let flag = cancel.clone();
        // Only one handler per process; if one is already set, Ctrl-C keeps its default.
        let _ = ctrlc::set_handler(move || flag.cancel());
        BarProgress {
            bar,
            stage: Mutex::new(String::new()),
            cancel,
        }
    }

    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl ProgressSink for BarProgress {
    fn report(&self, p: Progress) {
        if let Ok(mut stage) = self.stage.lock()
            && *stage != p.stage
        {
            self.bar.set_message(p.stage.clone());
            self.bar.reset_eta();
            *stage = p.stage;
        }
        self.bar.set_length(p.total as u64);
        self.bar.set_position(p.done as u64);
    }

    fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let (arrays, json) = crate::tlc::Explainer::file_paths(&args.out);
    if !args.overwrite {
        for p in [&arrays, &json] {
            if p.exists() {
                bail!(
                    "{} already exists (pass --overwrite to replace it)",
                    p.display()
                );
            }
        }
    }
    let model = LoadedModel::open(&args.model)
        .with_context(|| format!("opening model {}", args.model.display()))?;
    let ptbxl_rate = match args.ptbxl_rate {
        crate::cli::train::RateArg::Hz100 => PtbxlRate::Hz100,
        crate::cli::train::RateArg::Hz500 => PtbxlRate::Hz500,
    };
    let dataset = open_dataset_with(&args.data, &OpenOptions { ptbxl_rate })
        .with_context(|| format!("opening data set {}", args.data.display()))?;
    let n = args.limit.map_or(dataset.len(), |l| l.min(dataset.len()));
    if n == 0 {
        bail!("data set {} has no records", args.data.display());
    }
    let settings = FitSettings {
        features: FeatureSettings {
            blocks: args.blocks.clone(),
            alignment: args.alignment.parse::<Alignment>()?,
            record_normalisation: args.record_normalisation.parse::<RecordNormalisation>()?,
        },
        clusters: ClusterSettings {
            k: args.k,
            n_init: args.n_init,
            max_iter: args.max_iter,
            tolerance: args.tolerance,
            seed: args.seed,
            max_time_steps: args.max_steps,
            minibatch: args.minibatch,
            temperature: args
                .temperature
                .map_or(Temperature::MedianNearest, Temperature::Fixed),
        },
        preprocessing: args.remove_baseline.then(|| Preprocessing {
            remove_baseline: true,
            ..model.config.preprocessing()
        }),
        name: args.name.clone(),
    };
    settings.clusters.validate()?;
    eprintln!(
        "fitting K = {} on {n} records of {} with model {}",
        args.k,
        dataset.name(),
        model.name
    );
    let indices: Vec<usize> = (0..n).collect();
    let progress = BarProgress::new();
    let result = fit_explainer(&model, dataset.as_ref(), &indices, &settings, &progress);
    progress.finish();
    let explainer = result?;
    explainer.save(&args.out, args.overwrite)?;
    println!(
        "wrote {} and {}: K = {}, {} features from blocks {:?}, {} of {} time steps, temperature {:.4}",
        arrays.display(),
        json.display(),
        explainer.k,
        explainer.mean.len(),
        explainer.features.blocks.clone().unwrap_or_default(),
        explainer.fit.n_time_steps,
        explainer.fit.n_time_steps_seen,
        explainer.temperature
    );
    Ok(())
}
