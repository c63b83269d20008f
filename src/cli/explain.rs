//! `tlc explain`: explain one record (predictions, clusters, entropy, segments, Grad-CAM) to
//! JSON, and optionally one CSV row per time step.

use std::path::PathBuf;

use crate::cli::common::{
    DataOptions, ModelOptions, RecordChoice, load_one_record, refuse_existing,
};
use crate::io::files::write_atomic;
use crate::tlc::Explanation;
use crate::tlc::gradcam::to_steps;
use crate::tlc::pipeline::{ExplainSettings, GradCamOutput, GradCamTarget, explain_record};

/// Arguments of `tlc explain`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The record (a record file, or a data set with --id / --index).
    pub record: PathBuf,
    #[command(flatten)]
    pub choice: RecordChoice,
    #[command(flatten)]
    pub model: ModelOptions,
    #[command(flatten)]
    pub data_options: DataOptions,
    /// JSON output (the full explanation).
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
    /// Replace existing output files.
    #[arg(long)]
    pub overwrite: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    // Refused before the model runs, not after.
    refuse_existing(
        std::iter::once(args.out.as_path()).chain(args.csv.as_deref()),
        args.overwrite,
    )?;
    let (model, explainer) = args.model.open(Some(&args.record))?;
    let ecg = load_one_record(&args.record, &args.choice, &args.data_options)?;
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
    let e = explain_record(&model, &explainer, &ecg, &settings)?;
    let json = serde_json::to_string_pretty(&e)?;
    write_atomic(&args.out, (json + "\n").as_bytes(), args.overwrite)?;
    if let Some(csv_path) = &args.csv {
        write_atomic(csv_path, &steps_csv(&e)?, args.overwrite)?;
    }
    print_summary(&e);
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
