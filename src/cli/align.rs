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
    /// Folder of saved explanations, one `<record id>.json` per record (as written by
    /// `tlc explain`).
    #[arg(long)]
    pub explanations: PathBuf,
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
    if !overwrite {
        if let Some(p) = paths.iter().find(|p| p.exists()) {
            anyhow::bail!(
                "{} already exists (use --overwrite to replace it)",
                p.display()
            );
        }
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

pub fn run(args: Args) -> anyhow::Result<()> {
    let dataset = crate::io::open_dataset(&args.data)?;
    anyhow::ensure!(!dataset.is_empty(), "{}: no records", args.data.display());
    // k from the first explanation that exists.
    let k = (0..dataset.len())
        .filter_map(|i| dataset.entry(i))
        .find_map(|e| read_explanation(&args.explanations, &e.id).ok())
        .map(|e| e.k)
        .with_context(|| {
            format!(
                "no explanation <record id>.json of this data set in {}",
                args.explanations.display()
            )
        })?;
    let params = AlignParams {
        prototype_lead: crate::record::LeadName::parse(&args.prototype_lead),
        ..Default::default()
    };
    let dir = args.explanations.clone();
    let explain = move |ecg: &crate::record::Ecg| read_explanation(&dir, &ecg.meta.id);
    let bar = Bar(indicatif::ProgressBar::new(dataset.len() as u64));
    let result = align_dataset(
        dataset.as_ref(),
        &explain,
        k,
        &DelineatorParams::default(),
        &params,
        &bar,
    )?;
    bar.0.finish_and_clear();
    print_summary(&result);
    let out = args.out.unwrap_or_else(|| PathBuf::from("alignment"));
    let written = write_outputs(&result, &out, args.overwrite)?;
    for p in written {
        println!("wrote {}", p.display());
    }
    Ok(())
}
