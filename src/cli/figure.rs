//! `tlc figure`: annotated figures (SVG, PNG, PDF) of one record or of a whole data set.
//!
//! One record: `tlc figure RECORD --out FILE.{svg,png,pdf}` (RECORD a WFDB `.hea`, or a data set
//! with `--id`). A data set: `tlc figure --data D --out-dir DIR [--label MI] [--format png]`,
//! in parallel on all cores; a record that fails is reported and the others go on.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};

use crate::cli::common::{
    DataOptions, ModelOptions, RecordChoice, TerminalProgress, file_stem, load_one_record,
};

use crate::analysis::{AnalysisSteps, ExplainWith, analyse_record};
use crate::delineate::{Delineation, DelineatorParams};
use crate::figure::annotations::write_cluster_annotations;
use crate::figure::reference::{list_annotators, read_layer};
use crate::figure::{
    FigureInput, FigureSpec, Layers, Layout, PageSize, check_figure, data::export_data,
    export_figure, run_batch,
};
use crate::io::Dataset;
use crate::measure::QtcFormula;
use crate::model::LoadedModel;
use crate::record::{Ecg, LeadName};
use crate::tlc::pipeline::{ExplainSettings, GradCamOutput, GradCamTarget};
use crate::tlc::{Explainer, Explanation};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LayoutArg {
    /// One row per lead over the whole window.
    Stacked,
    /// 3 x 4 leads of 2.5 s and a 10 s rhythm strip, as printed ECGs.
    Clinical,
    /// 6 x 2 leads of 5 s (limb leads, then V1-V6) and a 10 s rhythm strip.
    #[value(name = "clinical-6x2")]
    Clinical6x2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PageArg {
    /// The page is as large as the figure.
    Fit,
    /// A4 landscape (297 x 210 mm); the figure must fit.
    A4,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    Svg,
    Png,
    Pdf,
}

impl FormatArg {
    fn extension(self) -> &'static str {
        match self {
            FormatArg::Svg => "svg",
            FormatArg::Png => "png",
            FormatArg::Pdf => "pdf",
        }
    }
}

/// Arguments of `tlc figure`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The record: a record file (`100.hea` or `100`), or a data set with `--id` / `--index`.
    #[arg(required_unless_present = "data", conflicts_with = "data")]
    pub record: Option<PathBuf>,
    #[command(flatten)]
    pub choice: RecordChoice,
    #[command(flatten)]
    pub data_options: DataOptions,
    /// Output file of a single figure; the format follows the extension (.svg, .png, .pdf).
    #[arg(long, requires = "record")]
    pub out: Option<PathBuf>,

    /// Batch: a data set (PTB-XL folder, folder of WFDB records, CODE-15% HDF5).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Batch: folder for the figures (created if missing), one `<id>.<format>` per record.
    #[arg(long, requires = "data")]
    pub out_dir: Option<PathBuf>,
    /// Batch: only records with this true label (e.g. MI).
    #[arg(long, requires = "data")]
    pub label: Option<String>,
    /// Batch: output format.
    #[arg(long, value_enum, default_value = "png", requires = "data")]
    pub format: FormatArg,
    /// Batch: at most this many records (after the label filter), in data set order.
    #[arg(long, requires = "data")]
    pub limit: Option<usize>,

    #[command(flatten)]
    pub model: ModelOptions,
    /// Grad-CAM target output, by index or name (default: the top predicted output).
    #[arg(long)]
    pub gradcam_output: Option<String>,
    /// Use an explanation already computed (the JSON `tlc explain --out` writes) instead of
    /// running the model (single record).
    #[arg(long, requires = "record", conflicts_with_all = ["model", "explainer", "no_explain"])]
    pub explanation: Option<PathBuf>,
    /// Draw the record only: no model, no clusters, entropy or Grad-CAM.
    #[arg(long)]
    pub no_explain: bool,

    #[arg(long, value_enum, default_value = "stacked")]
    pub layout: LayoutArg,
    /// Lead of the rhythm strip of the clinical layout.
    #[arg(long, default_value = "II")]
    pub rhythm_lead: String,
    /// Leads to show, comma-separated, in order (stacked layout), e.g. I,II,V1.
    #[arg(long, value_delimiter = ',')]
    pub leads: Option<Vec<String>>,
    /// Time window START,END in seconds of the record, e.g. 2,6.
    #[arg(long, value_delimiter = ',')]
    pub window: Option<Vec<f64>>,
    /// PNG resolution.
    #[arg(long, default_value_t = 300.0)]
    pub dpi: f64,
    /// Paper speed, mm/s.
    #[arg(long, default_value_t = 25.0)]
    pub speed: f64,
    /// Gain, mm/mV.
    #[arg(long, default_value_t = 10.0)]
    pub gain: f64,
    #[arg(long, value_enum, default_value = "fit")]
    pub page: PageArg,
    #[arg(long)]
    pub no_clusters: bool,
    #[arg(long)]
    pub no_entropy: bool,
    #[arg(long)]
    pub no_gradcam: bool,
    #[arg(long)]
    pub no_landmarks: bool,
    #[arg(long)]
    pub no_grid: bool,
    /// Leave out the tracks of signals recorded with the leads that are not leads (ABP, PLETH,
    /// RESP); they are drawn under the leads by default.
    #[arg(long)]
    pub no_other_signals: bool,
    /// Also tint the traces with Grad-CAM.
    #[arg(long)]
    pub gradcam_overlay: bool,
    /// Cluster names, comma-separated in cluster order (default: C0, C1, ...).
    #[arg(long, value_delimiter = ',')]
    pub cluster_names: Option<Vec<String>>,
    /// Also write the data behind the figure (segments, steps, landmarks, predictions as CSV,
    /// everything as JSON) into this folder.
    #[arg(long)]
    pub data_out: Option<PathBuf>,
    /// Also write the cluster segments as a WFDB annotation file `<record>.tlc` beside the
    /// record's header (single WFDB record with an explanation).
    #[arg(long)]
    pub annotations: bool,
    /// Reference annotation files beside the record drawn as a layer, by annotator (the file's
    /// extension), comma-separated: `--reference atr`, `--reference ii,v1` (LUDB's per-lead
    /// files), or `all`. A named annotator the record lacks is an error listing those it has.
    #[arg(long, value_delimiter = ',')]
    pub reference: Vec<String>,
    /// QTc formula of the measurement line and the data export: bazett, fridericia,
    /// framingham or hodges.
    #[arg(long, default_value = "fridericia")]
    pub qtc: QtcFormula,
    /// Replace existing output files.
    #[arg(long)]
    pub overwrite: bool,
}

/// The reference annotation files of `ecg` that `--reference` names (`all`: every one), read.
fn reference_layers(
    ecg: &Ecg,
    names: &[String],
) -> anyhow::Result<Vec<crate::figure::ReferenceLayer>> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let files = list_annotators(ecg)?;
    let all = names.iter().any(|n| n.eq_ignore_ascii_case("all"));
    let mut chosen = Vec::new();
    for name in names.iter().filter(|n| !n.eq_ignore_ascii_case("all")) {
        match files
            .iter()
            .find(|f| f.extension.eq_ignore_ascii_case(name))
        {
            Some(f) => chosen.push(f),
            None => bail!(
                "record {}: no annotation file '.{name}' beside it (it has: {})",
                ecg.meta.id,
                if files.is_empty() {
                    "none".to_string()
                } else {
                    files
                        .iter()
                        .map(|f| f.extension.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
        }
    }
    if all {
        chosen = files.iter().collect();
    }
    chosen
        .into_iter()
        .map(|f| read_layer(f, ecg.n_samples()).map_err(anyhow::Error::from))
        .collect()
}

/// The figure settings the options ask for.
pub fn spec_from_args(args: &Args) -> anyhow::Result<FigureSpec> {
    let layout = match args.layout {
        LayoutArg::Stacked => Layout::Stacked,
        LayoutArg::Clinical => Layout::Clinical3x4Rhythm {
            rhythm_lead: LeadName::parse(&args.rhythm_lead),
        },
        LayoutArg::Clinical6x2 => Layout::Clinical6x2Rhythm {
            rhythm_lead: LeadName::parse(&args.rhythm_lead),
        },
    };
    let window_s = match args.window.as_deref() {
        None => None,
        Some([a, b]) => Some((*a, *b)),
        Some(other) => bail!(
            "--window takes START,END in seconds, got {} values",
            other.len()
        ),
    };
    let spec = FigureSpec {
        layout,
        leads: args
            .leads
            .as_ref()
            .map(|l| l.iter().map(|s| LeadName::parse(s)).collect()),
        window_s,
        paper_speed_mm_s: args.speed,
        gain_mm_mv: args.gain,
        // `--no-explain` asks for the record only: no empty analysis tracks under it
        layers: Layers {
            clusters: !args.no_clusters && !args.no_explain,
            entropy: !args.no_entropy && !args.no_explain,
            landmarks: !args.no_landmarks,
            gradcam: !args.no_gradcam && !args.no_explain,
            gradcam_overlay: args.gradcam_overlay && !args.no_explain,
            grid: !args.no_grid,
            other_signals: !args.no_other_signals,
            calibration: true,
            ..Layers::default()
        },
        dpi: args.dpi,
        page: match args.page {
            PageArg::Fit => PageSize::Fit,
            PageArg::A4 => PageSize::A4Landscape,
        },
        ..Default::default()
    };
    spec.validate()?;
    Ok(spec)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let spec = spec_from_args(&args)?;
    if args.data.is_some() {
        run_batch_cli(&args, &spec)
    } else {
        run_single(&args, &spec)
    }
}

fn read_explanation(path: &Path) -> anyhow::Result<Explanation> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{}: not an explanation JSON", path.display()))
}

/// The model and explainer of a run, loaded once.
struct Explaining {
    model: LoadedModel,
    explainer: Explainer,
    settings: ExplainSettings,
    /// Display names per cluster: `--cluster-names`, else the explainer's descriptions
    /// ("C3 mostly QRS"), else `C<k>`.
    cluster_names: Vec<String>,
}

impl Explaining {
    fn open(args: &Args) -> anyhow::Result<Self> {
        let data = args.record.as_deref().or(args.data.as_deref());
        let (model, explainer) = args
            .model
            .open(data)
            .context("use --no-explain to draw the record only")?;
        let settings = ExplainSettings {
            gradcam: (!args.no_gradcam).then(|| GradCamTarget {
                output: args
                    .gradcam_output
                    .as_deref()
                    .map_or(GradCamOutput::Top, GradCamOutput::parse),
                block: None,
            }),
            ..Default::default()
        };
        if let Some(GradCamTarget { output, .. }) = &settings.gradcam {
            // Refuse an unknown output before drawing anything.
            output.resolve(&model.config).context("--gradcam-output")?;
        }
        let cluster_names = cluster_names(&explainer, args.cluster_names.as_deref());
        Ok(Explaining {
            model,
            explainer,
            settings,
            cluster_names,
        })
    }

    /// This run's model and explainer as an analysis step.
    fn step(&self) -> ExplainWith<'_> {
        ExplainWith {
            model: &self.model,
            explainer: &self.explainer,
            settings: &self.settings,
        }
    }
}

/// Cluster display names: the given ones first, then the explainer's (see
/// [`crate::tlc::cluster_names`]).
pub fn cluster_names(explainer: &Explainer, given: Option<&[String]>) -> Vec<String> {
    let described = crate::tlc::cluster_names(&explainer.cluster_descriptions, explainer.k);
    described
        .into_iter()
        .enumerate()
        .map(|(c, name)| {
            given
                .and_then(|g| g.get(c))
                .filter(|n| !n.trim().is_empty())
                .cloned()
                .unwrap_or(name)
        })
        .collect()
}

/// A record's explanation (with `explaining`) and landmarks, by [`analyse_record`]. A failed
/// explanation stops the figure; a record the delineator cannot handle is drawn without
/// landmarks (the `Err` is the warning to give).
fn analyse(
    args: &Args,
    explaining: Option<&Explaining>,
    ecg: &Ecg,
) -> anyhow::Result<(Option<Explanation>, Result<Option<Delineation>, String>)> {
    let delineator = DelineatorParams::default();
    let analysis = analyse_record(
        ecg,
        AnalysisSteps {
            explain: explaining.map(Explaining::step),
            delineate: (!args.no_landmarks).then_some(&delineator),
        },
    );
    let explanation = analysis.explanation.transpose()?;
    let landmarks = analysis
        .delineation
        .transpose()
        .map_err(|e| format!("no landmarks drawn: {}", crate::error_text::describe(&e)));
    Ok((explanation, landmarks))
}

fn run_single(args: &Args, spec: &FigureSpec) -> anyhow::Result<()> {
    let record = args.record.as_deref().context("a RECORD is required")?;
    let out = args
        .out
        .as_deref()
        .context("--out FILE.{svg,png,pdf} is required with a RECORD")?;
    let ecg = load_one_record(record, &args.choice, &args.data_options)?;
    check_figure(out, &ecg, spec, args.overwrite)?;
    let explaining = if args.explanation.is_some() || args.no_explain {
        None
    } else {
        Some(Explaining::open(args)?)
    };
    let (explained, landmarks) = analyse(args, explaining.as_ref(), &ecg)?;
    let (explanation, names) = match (&args.explanation, explaining) {
        (Some(path), _) => (Some(read_explanation(path)?), args.cluster_names.clone()),
        (None, Some(explaining)) => (explained, Some(explaining.cluster_names)),
        (None, None) => (None, args.cluster_names.clone()),
    };
    let delineation = landmarks.unwrap_or_else(|warning| {
        eprintln!("warning: {warning}");
        None
    });
    let reference = reference_layers(&ecg, &args.reference)?;
    let input = FigureInput {
        ecg: &ecg,
        explanation: explanation.as_ref(),
        delineation: delineation.as_ref(),
        cluster_names: names.clone(),
        calipers: &[],
        reference: &reference,
        qtc_formula: args.qtc,
    };
    export_figure(out, &input, spec, args.overwrite)?;
    println!("wrote {}", out.display());
    if let Some(dir) = &args.data_out {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create", dir.display()))?;
        for p in export_data(dir, &file_stem(&ecg.meta.id), &input, args.overwrite)? {
            println!("wrote {}", p.display());
        }
    }
    if args.annotations {
        let ex = explanation
            .as_ref()
            .context("--annotations needs an explanation (clusters to write)")?;
        let header = ecg
            .meta
            .source
            .clone()
            .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("hea")))
            .context("--annotations needs a WFDB record (the .tlc file goes beside its header)")?;
        let path = write_cluster_annotations(
            &header,
            ex,
            ecg.n_samples(),
            names.as_deref(),
            args.overwrite,
        )?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// Indices of the data set's records carrying `label` (all when `None`), at most `limit`.
pub fn select_records(ds: &dyn Dataset, label: Option<&str>, limit: Option<usize>) -> Vec<usize> {
    let mut out: Vec<usize> = (0..ds.len())
        .filter(|&i| match (label, ds.entry(i)) {
            (None, _) => true,
            (Some(l), Some(e)) => e.labels.iter().any(|x| x.eq_ignore_ascii_case(l)),
            (Some(_), None) => false,
        })
        .collect();
    if let Some(n) = limit {
        out.truncate(n);
    }
    out
}

fn run_batch_cli(args: &Args, spec: &FigureSpec) -> anyhow::Result<()> {
    let data = args
        .data
        .as_deref()
        .context("--data is required for a batch")?;
    let out_dir = args
        .out_dir
        .as_deref()
        .context("--out-dir is required with --data")?;
    let ds: Arc<dyn Dataset> = Arc::from(args.data_options.open(data)?);
    let indices = select_records(ds.as_ref(), args.label.as_deref(), args.limit);
    if indices.is_empty() {
        bail!(
            "{}: no records{}",
            data.display(),
            args.label
                .as_ref()
                .map(|l| format!(" with label {l}"))
                .unwrap_or_default()
        );
    }
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("{}: cannot create", out_dir.display()))?;
    let ids: Vec<String> = indices
        .iter()
        .map(|&i| {
            ds.entry(i)
                .map(|e| e.id.clone())
                .unwrap_or_else(|| format!("#{i}"))
        })
        .collect();

    let explaining = if args.no_explain {
        None
    } else {
        Some(Explaining::open(args)?)
    };
    let names = explaining
        .as_ref()
        .map(|e| e.cluster_names.clone())
        .or_else(|| args.cluster_names.clone());
    let sink = TerminalProgress::new("figures");
    let ext = args.format.extension();
    let summary = run_batch(&ids, "figures", &sink, |k| -> anyhow::Result<PathBuf> {
        let ecg = ds.load(indices[k])?;
        let path = out_dir.join(format!("{}.{ext}", file_stem(&ids[k])));
        check_figure(&path, &ecg, spec, args.overwrite)?;
        let (explanation, landmarks) = analyse(args, explaining.as_ref(), &ecg)?;
        let delineation = landmarks.unwrap_or_else(|warning| {
            log::warn!("{warning}");
            None
        });
        let reference = reference_layers(&ecg, &args.reference)?;
        let input = FigureInput {
            ecg: &ecg,
            explanation: explanation.as_ref(),
            delineation: delineation.as_ref(),
            cluster_names: names.clone(),
            calipers: &[],
            reference: &reference,
            qtc_formula: args.qtc,
        };
        export_figure(&path, &input, spec, args.overwrite)?;
        Ok(path)
    });
    sink.finish();
    for f in &summary.failures {
        eprintln!("failed: {}: {}", f.id, f.message);
    }
    println!("{summary} (into {})", out_dir.display());
    if summary.cancelled > 0 {
        bail!("cancelled");
    }
    if summary.written.is_empty() {
        bail!("no figure could be written");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn parse(argv: &[&str]) -> Result<Args, clap::Error> {
        Cli::try_parse_from(std::iter::once("figure").chain(argv.iter().copied())).map(|c| c.args)
    }

    #[test]
    fn options_become_a_spec() {
        let a = parse(&[
            "r.hea",
            "--out",
            "x.png",
            "--layout",
            "clinical",
            "--window",
            "2,6",
            "--dpi",
            "150",
            "--no-gradcam",
            "--leads",
            "I,ii,v1",
        ])
        .unwrap();
        let s = spec_from_args(&a).unwrap();
        assert_eq!(s.layout, Layout::clinical());
        assert_eq!(s.window_s, Some((2.0, 6.0)));
        assert_eq!(s.dpi, 150.0);
        assert!(!s.layers.gradcam && s.layers.entropy);
        assert_eq!(s.leads, Some(vec![LeadName::I, LeadName::II, LeadName::V1]));
    }

    #[test]
    fn bad_options_are_refused() {
        assert!(
            parse(&["--out", "x.png"]).is_err(),
            "a record or --data is needed"
        );
        assert!(parse(&["r.hea", "--data", "d"]).is_err());
        let a = parse(&["r.hea", "--out", "x.png", "--window", "6,2"]).unwrap();
        assert!(
            spec_from_args(&a)
                .unwrap_err()
                .to_string()
                .contains("window")
        );
        let a = parse(&["r.hea", "--out", "x.png", "--dpi", "0"]).unwrap();
        assert!(spec_from_args(&a).is_err());
        assert_eq!(file_stem("records500/00001_hr"), "records500_00001_hr");
    }
}
