//! `tlc explain`: explain one record (predictions, clusters, entropy, segments, Grad-CAM) to
//! JSON, and optionally one CSV row per time step; or, with `--data`, every record of a data set
//! (or of one shard of it) to Parquet tables (`tlc::batch`).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use crate::cli::common::{
    DataOptions, ModelOptions, RecordChoice, TerminalProgress, load_one_record, refuse_existing,
};
use crate::io::files::write_atomic;
use crate::tlc::batch::{BatchOutput, BatchSettings, Shard, explain_dataset};
use crate::tlc::gradcam::to_steps;
use crate::tlc::pipeline::{ExplainSettings, GradCamOutput, GradCamTarget, explain_record};
use crate::tlc::{Explanation, TlcError};

/// Arguments of `tlc explain`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The record (a record file, or a data set with --id / --index).
    #[arg(required_unless_present = "data", conflicts_with = "data")]
    pub record: Option<PathBuf>,
    /// Explain every record of this data set (any kind `tlc info` opens) into a Parquet table
    /// at --out, one row per record, in bounded memory; an interrupted run resumes where it
    /// stopped when run again.
    #[arg(long, conflicts_with_all = ["id", "index", "csv"])]
    pub data: Option<PathBuf>,
    /// With --data: also one row per time step of every record, as Parquet at this path.
    #[arg(long, requires = "data")]
    pub steps: Option<PathBuf>,
    /// With --data: explain only shard I of N (0 <= I < N): records [I*len/N, (I+1)*len/N),
    /// e.g. `--shard $SLURM_ARRAY_TASK_ID/4`.
    #[arg(long, requires = "data")]
    pub shard: Option<String>,
    /// With --data: records per part file and row group (what an interruption can lose).
    #[arg(long, requires = "data", default_value_t = crate::tlc::batch::DEFAULT_CHUNK_RECORDS)]
    pub chunk_records: usize,
    #[command(flatten)]
    pub choice: RecordChoice,
    #[command(flatten)]
    pub model: ModelOptions,
    #[command(flatten)]
    pub data_options: DataOptions,
    /// JSON output (the full explanation); with --data, the Parquet table of the records.
    #[arg(long)]
    pub out: PathBuf,
    /// CSV output: one row per time step (step, time_s, cluster, entropy, gradcam, p_0..p_K-1).
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Grad-CAM target output, by index or name (default: the top predicted output).
    #[arg(long)]
    pub output: Option<String>,
    /// Grad-CAM block (default: the last).
    #[arg(long)]
    pub gradcam_block: Option<usize>,
    /// Skip Grad-CAM.
    #[arg(long)]
    pub no_gradcam: bool,
    /// Window start (s) in records longer than the model's input (default: centred).
    #[arg(long)]
    pub window_start_s: Option<f64>,
    /// Replace existing output files (with --data: and start an unfinished run again).
    #[arg(long, alias = "force")]
    pub overwrite: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    // Refused before the model runs, not after.
    refuse_existing(
        std::iter::once(args.out.as_path())
            .chain(args.csv.as_deref())
            .chain(args.steps.as_deref()),
        args.overwrite,
    )?;
    let settings = ExplainSettings {
        window_start_s: args.window_start_s,
        gradcam: (!args.no_gradcam).then(|| GradCamTarget {
            output: args
                .output
                .as_deref()
                .map_or(GradCamOutput::Top, GradCamOutput::parse),
            block: args.gradcam_block,
        }),
    };
    if let Some(data) = &args.data {
        return run_dataset(&args, data, settings);
    }
    let record = args
        .record
        .as_deref()
        .context("name a record, or a data set with --data")?;
    let (model, explainer) = args.model.open(Some(record))?;
    let ecg = load_one_record(record, &args.choice, &args.data_options)?;
    let e = explain_record(&model, &explainer, &ecg, &settings)?;
    let json = serde_json::to_string_pretty(&e)?;
    write_atomic(&args.out, (json + "\n").as_bytes(), args.overwrite)?;
    if let Some(csv_path) = &args.csv {
        write_atomic(csv_path, &steps_csv(&e)?, args.overwrite)?;
    }
    print_summary(&e);
    Ok(())
}

/// `tlc explain --data`: the data set (or a shard of it) to Parquet, with a progress bar.
fn run_dataset(args: &Args, data: &Path, settings: ExplainSettings) -> anyhow::Result<()> {
    let shard = match &args.shard {
        Some(text) => Shard::parse(text)?,
        None => Shard::default(),
    };
    let (model, explainer) = args.model.open(Some(data))?;
    let dataset = args.data_options.open(data)?;
    let output = BatchOutput {
        records: args.out.clone(),
        steps: args.steps.clone(),
        overwrite: args.overwrite,
    };
    let progress = TerminalProgress::new("explaining");
    let summary = explain_dataset(
        &model,
        &explainer,
        dataset.as_ref(),
        &BatchSettings {
            explain: settings,
            shard,
            chunk_records: args.chunk_records,
        },
        &output,
        &progress,
    );
    progress.finish();
    let summary = match summary {
        Err(TlcError::Cancelled) => bail!(
            "interrupted: the finished chunks are kept in {}; run the same command again to \
             go on from there",
            output.parts_dir().display()
        ),
        other => other?,
    };
    println!(
        "{}: {} records (shard {shard}) -> {}{}; {} explained now, {} from an earlier run, {} \
         failed (see the error column)",
        dataset.name(),
        summary.records,
        args.out.display(),
        args.steps
            .as_ref()
            .map_or(String::new(), |s| format!(" and {}", s.display())),
        summary.explained,
        summary.resumed,
        summary.failed,
    );
    Ok(())
}

/// One row per time step: step, time_s, cluster, entropy, gradcam (mean of the normalised map
/// over the step; empty without Grad-CAM), p_0..p_K-1.
pub fn steps_csv(e: &Explanation) -> anyhow::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec![
        "step".to_string(),
        "time_s".into(),
        "cluster".into(),
        "entropy".into(),
        "gradcam".into(),
    ];
    header.extend((0..e.k).map(|k| format!("p_{k}")));
    w.write_record(&header)?;
    let cam = e.gradcam.as_ref().map(|g| to_steps(&g.map, e.labels.len()));
    for t in 0..e.labels.len() {
        let mut row = vec![
            t.to_string(),
            format!("{:.6}", e.step_times_s[t]),
            e.labels[t].to_string(),
            format!("{:.6}", e.entropy[t]),
            cam.as_ref()
                .map_or(String::new(), |c| format!("{:.6}", c[t])),
        ];
        row.extend(e.soft[t].iter().map(|p| format!("{p:.6}")));
        w.write_record(&row)?;
    }
    w.into_inner()
        .map_err(|e| anyhow::anyhow!("writing the CSV: {}", e.error()))
}

/// A short summary on stdout (a closed pipe, e.g. `| head`, is not an error).
fn print_summary(e: &Explanation) {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "record {} (model {}, explainer {})",
        e.record_id, e.model_name, e.explainer_name
    );
    for note in &e.data_notes {
        let _ = writeln!(out, "  note: {note}");
    }
    for (name, p) in e
        .prediction
        .output_names
        .iter()
        .zip(&e.prediction.probabilities)
    {
        let _ = writeln!(out, "  {name:>8}: {p:.3}");
    }
    let props: Vec<String> = e
        .proportions
        .iter()
        .enumerate()
        .map(|(k, p)| format!("{k}:{p:.2}"))
        .collect();
    let _ = writeln!(
        out,
        "  clusters: {} segments; proportions {}",
        e.segments.len(),
        props.join(" ")
    );
    let _ = writeln!(out, "  mean entropy {:.3}", e.mean_entropy());
    if let Some(g) = &e.gradcam {
        let _ = writeln!(
            out,
            "  Grad-CAM for {} at block {}; correlation with entropy {}",
            g.output_name,
            g.block,
            e.entropy_gradcam_correlation
                .map_or("n/a".to_string(), |r| format!("{r:.3}"))
        );
    }
    use std::io::Write as _;
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
}
