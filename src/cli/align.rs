//! `tlc align`: cluster x segment alignment statistics over a data set.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::cli::common::{
    DataOptions, ModelOptions, TerminalProgress, refuse_existing, write_files,
};
use crate::delineate::DelineatorParams;
use crate::delineate::align::{AlignParams, DatasetAlignment, align_dataset};
use crate::delineate::reference::{ReferenceAlignment, score_dataset_against_reference};
use crate::tlc::Explanation;

/// Arguments of `tlc align`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data set (PTB-XL folder, folder of WFDB records, CODE-15% HDF5, one `.hea`).
    #[arg(long)]
    pub data: PathBuf,
    #[command(flatten)]
    pub data_options: DataOptions,
    /// Model weights (explanations computed with the TLC pipeline).
    #[arg(long, requires = "explainer", conflicts_with = "explanations")]
    pub model: Option<PathBuf>,
    /// Explainer fitted for the model.
    #[arg(long, requires = "model")]
    pub explainer: Option<PathBuf>,
    /// Instead of a model: a folder of saved explanations, one `<record id>.json` per record
    /// (as written by `tlc explain`).
    #[arg(long, required_unless_present = "model")]
    pub explanations: Option<PathBuf>,
    /// Write the cluster descriptions into a NEW explainer file: this stem (giving
    /// `STEM.explainer.safetensors` and `STEM.explainer.json`), by default `<explainer>_aligned`
    /// beside the explainer. Needs --model/--explainer.
    #[arg(long, num_args = 0..=1, requires = "explainer")]
    pub store: Option<Option<PathBuf>>,
    /// Output folder for the CSV/JSON files. Default: `alignment` in the current folder.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Replace existing output files.
    #[arg(long)]
    pub overwrite: bool,
    /// Lead of the cluster prototypes.
    #[arg(long, default_value = "II")]
    pub prototype_lead: String,
    /// Score the clusters against the data set's own annotation files instead of the
    /// project's delineator: the extension of each record's file with `(`/`)`-bracketed P
    /// (`p`), QRS (`N`) and T (`t`) waves, e.g. `ii` for LUDB's lead-II annotations. Writes
    /// `reference_table.csv`, `reference_records.csv` and `reference.json`.
    #[arg(long, conflicts_with = "store")]
    pub reference: Option<String>,
}

fn read_explanation(
    dir: &Path,
    id: &str,
) -> Result<Explanation, Box<dyn std::error::Error + Send + Sync>> {
    let path = dir.join(format!("{id}.json"));
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?)
}

/// Write the table, per-record statistics and the full report; refuses to replace files
/// unless `overwrite`.
pub fn write_outputs(
    result: &DatasetAlignment,
    out: &Path,
    overwrite: bool,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut rows = String::from("record,n_steps,nmi,ari\n");
    for (id, r) in &result.records {
        let n: u64 = r.table.counts.iter().flat_map(|c| c.iter()).sum();
        rows.push_str(&format!("{id},{n},{:.4},{:.4}\n", r.nmi, r.ari));
    }
    write_files(
        out,
        vec![
            ("alignment_table.csv", result.total.table.to_csv()),
            ("alignment_records.csv", rows),
            ("alignment.json", serde_json::to_string_pretty(result)?),
        ],
        overwrite,
    )
}

/// Print the summed table and scores.
pub fn print_summary(result: &DatasetAlignment) {
    let t = &result.total;
    println!(
        "{} records aligned, {} skipped",
        result.records.len(),
        result.skipped.len()
    );
    for (id, why) in result.skipped.iter().take(5) {
        println!("  skipped {id}: {why}");
    }
    print!("{}", t.table.to_text());
    println!("NMI {:.3}  ARI {:.3}", t.nmi, t.ari);
    for c in &t.clusters {
        println!(
            "cluster {:>2}: {:>7} {:>5.1}% pure, {} from the nearest R peak",
            c.cluster,
            c.dominant_segment.map(|s| s.as_str()).unwrap_or("-"),
            100.0 * c.purity,
            c.mean_offset_from_r_s
                .map(|s| format!("{:+.3} s", s))
                .unwrap_or_else(|| "-".into())
        );
    }
}

fn run_reference(
    dataset: &dyn crate::io::Dataset,
    explain: &crate::delineate::align::ExplainFn<'_>,
    k: usize,
    extension: &str,
    bar: &TerminalProgress,
    out: &Path,
    overwrite: bool,
) -> anyhow::Result<()> {
    let result = score_dataset_against_reference(dataset, explain, k, extension, bar)?;
    bar.finish();
    anyhow::ensure!(
        !result.records.is_empty(),
        "no record could be scored against .{extension} annotations (first reason: {})",
        result
            .skipped
            .first()
            .map_or("none given", |(_, why)| why.as_str())
    );
    print_reference_summary(&result);
    for p in write_reference_outputs(&result, out, overwrite)? {
        println!("wrote {}", p.display());
    }
    Ok(())
}

/// `dir/name.explainer.safetensors` -> `dir/name_aligned` (a stem for `Explainer::save`).
pub fn default_store_stem(explainer: &Path) -> PathBuf {
    let name = explainer
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let mut stem = name.as_str();
    for suffix in [
        ".explainer.safetensors",
        ".explainer.json",
        ".safetensors",
        ".json",
    ] {
        if let Some(s) = stem.strip_suffix(suffix) {
            stem = s;
            break;
        }
    }
    explainer.with_file_name(format!("{stem}_aligned"))
}

/// Print the reference scores: the table, NMI, ARI, purity and how each wave is covered.
pub fn print_reference_summary(result: &ReferenceAlignment) {
    println!(
        "{} records scored against their .{} annotations, {} skipped",
        result.records.len(),
        result.extension,
        result.skipped.len()
    );
    for (id, why) in result.skipped.iter().take(5) {
        println!("  skipped {id}: {why}");
    }
    let t = &result.total;
    print!("{}", t.table.to_text());
    println!("NMI {:.3}  ARI {:.3}  purity {:.3}", t.nmi, t.ari, t.purity);
    for w in &t.waves {
        println!(
            "{:>4}: {:>7} steps; best cluster {} ({:.1} % {}, holds {:.1} % of them); clusters mostly {} {:?} hold {:.1} %",
            w.wave.as_str(),
            w.steps,
            w.best_cluster.map_or("-".to_string(), |c| c.to_string()),
            100.0 * w.best_share,
            w.wave.as_str(),
            100.0 * w.best_cluster_recall,
            w.wave.as_str(),
            w.dominated_clusters,
            100.0 * w.dominated_recall
        );
    }
}

/// Write the reference table, per-record scores and the full report.
fn write_reference_outputs(
    result: &ReferenceAlignment,
    out: &Path,
    overwrite: bool,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut rows = String::from("record,n_steps,nmi,ari,purity\n");
    for (id, r) in &result.records {
        rows.push_str(&format!(
            "{id},{},{:.4},{:.4},{:.4}\n",
            r.table.total(),
            r.nmi,
            r.ari,
            r.purity
        ));
    }
    write_files(
        out,
        vec![
            ("reference_table.csv", result.total.table.to_csv()),
            ("reference_records.csv", rows),
            ("reference.json", serde_json::to_string_pretty(result)?),
        ],
        overwrite,
    )
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let dataset = args.data_options.open(&args.data)?;
    anyhow::ensure!(!dataset.is_empty(), "{}: no records", args.data.display());
    let params = AlignParams {
        prototype_lead: crate::record::LeadName::parse(&args.prototype_lead),
        ..Default::default()
    };
    let bar = TerminalProgress::new("aligning");
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("alignment"));
    let names = if args.reference.is_some() {
        [
            "reference_table.csv",
            "reference_records.csv",
            "reference.json",
        ]
    } else {
        [
            "alignment_table.csv",
            "alignment_records.csv",
            "alignment.json",
        ]
    };
    // Refuse early rather than after the whole run.
    let paths: Vec<PathBuf> = names.iter().map(|name| out.join(name)).collect();
    refuse_existing(paths.iter().map(PathBuf::as_path), args.overwrite)?;
    let (result, explainer) = match (&args.model, &args.explainer, &args.explanations) {
        (Some(model_path), Some(explainer_path), _) => {
            let (model, explainer) = ModelOptions {
                model: Some(model_path.clone()),
                explainer: Some(explainer_path.clone()),
            }
            .open(Some(&args.data))?;
            let settings = crate::tlc::pipeline::ExplainSettings {
                gradcam: None,
                ..Default::default()
            };
            let explain = |ecg: &crate::record::Ecg| {
                crate::tlc::pipeline::explain_record(&model, &explainer, ecg, &settings)
                    .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
            };
            if let Some(ext) = &args.reference {
                return run_reference(
                    dataset.as_ref(),
                    &explain,
                    explainer.k,
                    ext,
                    &bar,
                    &out,
                    args.overwrite,
                );
            }
            let r = align_dataset(
                dataset.as_ref(),
                &explain,
                explainer.k,
                &DelineatorParams::default(),
                &params,
                &bar,
            )?;
            (r, Some((explainer, explainer_path.clone())))
        }
        (_, _, Some(dir)) => {
            let k = (0..dataset.len())
                .filter_map(|i| dataset.entry(i))
                .find_map(|e| read_explanation(dir, &e.id).ok())
                .map(|e| e.k)
                .with_context(|| {
                    format!(
                        "no explanation <record id>.json of this data set in {}",
                        dir.display()
                    )
                })?;
            let dir = dir.clone();
            let explain = move |ecg: &crate::record::Ecg| read_explanation(&dir, &ecg.meta.id);
            if let Some(ext) = &args.reference {
                return run_reference(
                    dataset.as_ref(),
                    &explain,
                    k,
                    ext,
                    &bar,
                    &out,
                    args.overwrite,
                );
            }
            (
                align_dataset(
                    dataset.as_ref(),
                    &explain,
                    k,
                    &DelineatorParams::default(),
                    &params,
                    &bar,
                )?,
                None,
            )
        }
        _ => anyhow::bail!("give --model and --explainer, or --explanations"),
    };
    bar.finish();
    print_summary(&result);
    for p in write_outputs(&result, &out, args.overwrite)? {
        println!("wrote {}", p.display());
    }
    if let Some(store) = &args.store {
        let Some((mut explainer, explainer_path)) = explainer else {
            anyhow::bail!("--store needs --model and --explainer");
        };
        explainer.cluster_descriptions = result
            .total
            .clusters
            .iter()
            .map(|c| c.description())
            .collect();
        let stem = store
            .clone()
            .unwrap_or_else(|| default_store_stem(&explainer_path));
        explainer.save(&stem, args.overwrite)?;
        let (arrays, json) = crate::tlc::Explainer::file_paths(&stem);
        println!("wrote {} and {}", arrays.display(), json.display());
    }
    Ok(())
}
