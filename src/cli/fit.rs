//! `tlc fit`: fit time-localized clusters over a corpus and write an explainer.

use std::path::PathBuf;

use anyhow::bail;

use crate::cli::common::{DataOptions, ModelOptions, TerminalProgress, refuse_existing};
use crate::dsp::Preprocessing;
use crate::tlc::cluster::{ClusterSettings, Temperature};
use crate::tlc::features::{Alignment, FeatureSettings, RecordNormalisation};
use crate::tlc::fit::{FitSettings, fit_explainer};

/// Arguments of `tlc fit`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model weights (.safetensors with its .json config beside it). Default: the bundled model
    /// for the data (the synthetic-data model for sample_data/, the PTB-XL model otherwise).
    #[arg(long)]
    pub model: Option<PathBuf>,
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
    #[command(flatten)]
    pub data_options: DataOptions,
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

pub fn run(args: Args) -> anyhow::Result<()> {
    let (arrays, json) = crate::tlc::Explainer::file_paths(&args.out);
    refuse_existing([arrays.as_path(), json.as_path()], args.overwrite)?;
    let model = ModelOptions {
        model: args.model.clone(),
        explainer: None,
    }
    .open_model(Some(&args.data))?;
    let dataset = args.data_options.open(&args.data)?;
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
    let progress = TerminalProgress::new("fitting");
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
