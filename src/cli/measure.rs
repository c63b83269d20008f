//! `tlc measure`: the clinical measurements of a record or a data set as CSV.

use std::path::PathBuf;

use anyhow::{Context, bail};
use rayon::prelude::*;

use crate::cli::common::{DataOptions, TerminalProgress, read_settings_json, refuse_existing};
use crate::delineate::{DelineatorParams, delineate};
use crate::measure::export::{BEAT_COLUMNS, RECORD_COLUMNS, beat_rows, csv_text, record_row};
use crate::measure::{MeasureParams, Measurements, QtcFormula, measure};

/// Arguments of `tlc measure`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// One record (`.hea`, or the record path without extension).
    #[arg(required_unless_present = "data", conflicts_with = "data")]
    pub record: Option<PathBuf>,
    /// Every record of a data set (PTB-XL folder, WFDB folder, CODE-15% HDF5).
    #[arg(long)]
    pub data: Option<PathBuf>,
    #[command(flatten)]
    pub data_options: DataOptions,
    /// Output CSV: one row per record, or per beat with --beats.
    #[arg(long)]
    pub out: PathBuf,
    /// One row per beat instead of one per record.
    #[arg(long)]
    pub beats: bool,
    /// QTc formula: bazett, fridericia, framingham or hodges.
    #[arg(long, default_value = "fridericia")]
    pub qtc: QtcFormula,
    /// Measurement settings as JSON (any subset of the fields of `MeasureParams`; --qtc wins).
    #[arg(long)]
    pub params: Option<PathBuf>,
    /// Replace an existing output file.
    #[arg(long)]
    pub overwrite: bool,
}

fn read_params(args: &Args) -> anyhow::Result<MeasureParams> {
    let mut params: MeasureParams =
        read_settings_json(args.params.as_deref(), "measurement settings")?;
    params.qtc_formula = args.qtc;
    params.validate()?;
    Ok(params)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let params = read_params(&args)?;
    refuse_existing([args.out.as_path()], args.overwrite)?;
    let (path, single) = match (&args.record, &args.data) {
        (Some(r), _) => (r, true),
        (None, Some(d)) => (d, false),
        (None, None) => bail!("give a RECORD or --data"),
    };
    let dataset = args.data_options.open(path)?;
    if single && dataset.len() != 1 {
        bail!(
            "{} holds {} records: use --data for a data set",
            path.display(),
            dataset.len()
        );
    }
    let bar = TerminalProgress::counting("measuring", dataset.len());
    let delineator = DelineatorParams::default();
    let results: Vec<anyhow::Result<Measurements>> = (0..dataset.len())
        .into_par_iter()
        .map(|i| {
            let ecg = dataset.load(i)?;
            let d = delineate(&ecg, &delineator)
                // The delineator's errors name the record.
                .context("delineating")?;
            let m = measure(&ecg, &d, &params)?;
            bar.inc();
            Ok(m)
        })
        .collect();
    bar.finish();
    let mut rows = Vec::new();
    let mut failed = 0;
    for r in results {
        match r {
            Ok(m) if args.beats => rows.extend(beat_rows(&m)),
            Ok(m) => rows.push(record_row(&m)),
            Err(e) => {
                failed += 1;
                eprintln!("skipped: {}", crate::error_text::describe_anyhow(&e));
            }
        }
    }
    if failed == dataset.len() {
        bail!("no record could be measured");
    }
    let header: &[&str] = if args.beats {
        &BEAT_COLUMNS
    } else {
        &RECORD_COLUMNS
    };
    let text = csv_text(header, &rows)?;
    crate::io::files::write_atomic(&args.out, text.as_bytes(), args.overwrite)?;
    println!(
        "{} rows ({} records{}) written to {}",
        rows.len(),
        dataset.len() - failed,
        if failed > 0 {
            format!(", {failed} skipped")
        } else {
            String::new()
        },
        args.out.display()
    );
    Ok(())
}
