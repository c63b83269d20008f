//! `tlc align`: cluster x segment alignment statistics over a data set.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::delineate::DelineatorParams;
use crate::delineate::align::{AlignParams, DatasetAlignment, align_dataset};
use crate::progress::{Progress, ProgressSink};
use crate::tlc::Explanation;

/// Arguments of `tlc align`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data set (PTB-XL folder, folder of WFDB records, CODE-15% HDF5, one `.hea`).
    #[arg(long)]
    pub data: PathBuf,
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
}

struct Bar(indicatif::ProgressBar);

impl ProgressSink for Bar {
    fn report(&self, p: Progress) {
        self.0.set_length(p.total as u64);
        self.0.set_position(p.done as u64);
    }
    fn is_cancelled(&self) -> bool {
        false
    }
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
    let table = out.join("alignment_table.csv");
    let per_record = out.join("alignment_records.csv");
    let json = out.join("alignment.json");
    let paths = vec![table.clone(), per_record.clone(), json.clone()];
    if let Some(p) = paths.iter().find(|p| !overwrite && p.exists()) {
        anyhow::bail!(
            "{} already exists (use --overwrite to replace it)",
            p.display()
        );
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    std::fs::write(&table, result.total.table.to_csv())
        .with_context(|| format!("writing {}", table.display()))?;
    let mut rows = String::from("record,n_steps,nmi,ari\n");
    for (id, r) in &result.records {
        let n: u64 = r.table.counts.iter().flat_map(|c| c.iter()).sum();
        rows.push_str(&format!("{id},{n},{:.4},{:.4}\n", r.nmi, r.ari));
    }
    std::fs::write(&per_record, rows)
        .with_context(|| format!("writing {}", per_record.display()))?;
    std::fs::write(&json, serde_json::to_string_pretty(result)?)
        .with_context(|| format!("writing {}", json.display()))?;
    Ok(paths)
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

pub fn run(args: Args) -> anyhow::Result<()> {
    let dataset = crate::io::open_dataset(&args.data)?;
    anyhow::ensure!(!dataset.is_empty(), "{}: no records", args.data.display());
    let params = AlignParams {
        prototype_lead: crate::record::LeadName::parse(&args.prototype_lead),
        ..Default::default()
    };
    let bar = Bar(indicatif::ProgressBar::new(dataset.len() as u64));
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("alignment"));
    // Refuse early rather than after the whole run.
    if !args.overwrite {
        for name in [
            "alignment_table.csv",
            "alignment_records.csv",
            "alignment.json",
        ] {
            let p = out.join(name);
            anyhow::ensure!(
                !p.exists(),
                "{} already exists (use --overwrite to replace it)",
                p.display()
            );
        }
    }
    let (result, explainer) = match (&args.model, &args.explainer, &args.explanations) {
        (Some(model_path), Some(explainer_path), _) => {
            let model = crate::model::LoadedModel::open(model_path)
                .with_context(|| format!("opening model {}", model_path.display()))?;
            let explainer = crate::tlc::Explainer::load(explainer_path)?;
            explainer.check_model(&model)?;
            let settings = crate::tlc::pipeline::ExplainSettings {
                gradcam: None,
                ..Default::default()
            };
            let explain = |ecg: &crate::record::Ecg| {
                crate::tlc::pipeline::explain_record(&model, &explainer, ecg, &settings)
                    .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
            };
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
    bar.0.finish_and_clear();
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
