//! Print the delineator's accuracy on LUDB (the table in `src/delineate/README.md`).
//!
//! `cargo run --release --example ludb_eval -- [LUDB_DIR] [--resample HZ] [--records all|odd|even]
//! [--params FILE.json] [--per-record OUT.csv]` (default folder `../shared/data/ludb` beside the repository; `--params`
//! reads `DelineatorParams` as JSON, missing fields at their defaults; `--per-record` writes each
//! record's counts and errors, e.g. to compare two settings record by record).

use tlc_explorer::delineate::DelineatorParams;
use tlc_explorer::delineate::score::{LudbOptions, evaluate_ludb};
use tlc_explorer::progress::NoProgress;

mod common;

fn main() -> anyhow::Result<()> {
    let args = common::LudbArgs::parse(true)?;
    let params: DelineatorParams = args.params()?;
    let options = LudbOptions {
        resample_hz: args.resample_hz,
        records: args.records,
        ..LudbOptions::default()
    };
    let (dir, per_record) = (args.dir, args.per_record);
    let started = std::time::Instant::now();
    let eval = evaluate_ludb(&dir, &params, &options, &NoProgress)?;
    println!(
        "LUDB, {} records ({:?}) x 12 leads, tolerance {} ms{}",
        eval.records.len(),
        options.records,
        options.tolerance_s * 1000.0,
        options
            .resample_hz
            .map(|h| format!(", delineated at {h} Hz"))
            .unwrap_or_default()
    );
    print!("{}", eval.total.table());
    let af = eval.atrial_fibrillation_records();
    let af_p: usize = af.iter().map(|r| r.n_beats_with_p).sum();
    let af_beats: usize = af.iter().map(|r| r.n_beats).sum();
    let af_flagged = af
        .iter()
        .filter(|r| r.atrial_fibrillation_suspected)
        .count();
    let other_flagged: Vec<&str> = eval
        .records
        .iter()
        .filter(|r| r.atrial_fibrillation_suspected && !r.is_atrial_fibrillation_or_flutter())
        .map(|r| r.id.as_str())
        .collect();
    println!(
        "AF/flutter records: {} ({} flagged), P waves reported in {af_p} of {af_beats} beats",
        af.len(),
        af_flagged
    );
    println!(
        "other records with no consistent P: {}",
        other_flagged.join(" ")
    );
    let spiked: Vec<String> = eval
        .records
        .iter()
        .filter(|r| r.n_pacing_spikes > 0)
        .map(|r| {
            let paced = if r.pacing.is_empty() {
                "unpaced"
            } else {
                "paced"
            };
            format!("{} ({}, {paced})", r.id, r.n_pacing_spikes)
        })
        .collect();
    println!("records with pacing spikes: {}", spiked.join(" "));
    println!("\nWhere the bound errors come from (each lead of each record is one group):");
    print!("{}", eval.total.spread_table());
    if let Some(path) = per_record {
        // One row per record and wave: detection counts and errors, to compare two settings.
        let mut csv = csv::Writer::from_path(&path)?;
        csv.write_record([
            "id",
            "rhythm",
            "wave",
            "tp",
            "fp",
            "fn",
            "onset_n",
            "onset_mean_ms",
            "onset_sd_ms",
            "offset_n",
            "offset_mean_ms",
            "offset_sd_ms",
        ])?;
        for r in &eval.records {
            for (wave, k) in [("P", &r.score.p), ("QRS", &r.score.qrs), ("T", &r.score.t)] {
                let ms = |v: f64| format!("{v:.2}");
                csv.write_record([
                    r.id.clone(),
                    r.rhythm.clone(),
                    wave.to_string(),
                    k.true_positives.to_string(),
                    k.false_positives.to_string(),
                    k.false_negatives.to_string(),
                    k.onset.n.to_string(),
                    ms(k.onset.mean_ms()),
                    ms(k.onset.sd_ms()),
                    k.offset.n.to_string(),
                    ms(k.offset.mean_ms()),
                    ms(k.offset.sd_ms()),
                ])?;
            }
        }
        csv.flush()?;
        println!("per-record scores written to {}", path.display());
    }
    println!("({:.1} s)", started.elapsed().as_secs_f64());
    Ok(())
}
