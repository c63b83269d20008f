//! Print the clinical measurements against LUDB's cardiologists (the table in
//! `src/measure/README.md` and README.md).
//!
//! `cargo run --release --example ludb_measure -- [LUDB_DIR] [--records all|odd|even]
//! [--params MEASURE.json] [--per-record OUT.csv]` (default folder `../shared/data/ludb`;
//! `--params` reads `MeasureParams` as JSON, missing fields at their defaults).

use tlc_explorer::measure::MeasureParams;
use tlc_explorer::measure::ludb::validate_ludb;

mod common;

fn main() -> anyhow::Result<()> {
    let args = common::LudbArgs::parse(false)?;
    let params: MeasureParams = args.params()?;
    let delineator = args.delineator()?;
    let (dir, subset, per_record) = (args.dir, args.records, args.per_record);
    let started = std::time::Instant::now();
    let v = validate_ludb(&dir, &delineator, &params, subset)?;
    println!(
        "LUDB, {} records ({subset:?}): ours (project delineation, median over dominant beats) - reference (annotations, median over beats)",
        v.records.len()
    );
    print!("{}", v.table());
    let [pr, qrs, qt] = v.reference_scatter_rms_ms();
    let f = |x: Option<f64>| x.map_or("-".to_string(), |x| format!("{x:.1} ms"));
    println!(
        "the reference's own scatter (RMS over records of the standard error of its median over \
         beats): PR {}, QRS {}, QT {}",
        f(pr),
        f(qrs),
        f(qt)
    );
    let outliers = v.hr_outliers();
    println!(
        "heart rate more than 1 bpm off: {} records {}",
        outliers.len(),
        outliers
            .iter()
            .map(|(id, d)| format!("{id} ({d:+.2})"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let ectopic: usize = v.records.iter().map(|r| r.ours.n_ectopic).sum();
    let beats: usize = v.records.iter().map(|r| r.ours.n_beats).sum();
    println!("ectopic beats left out: {ectopic} of {beats}");
    if let Some(path) = per_record {
        let mut csv = csv::Writer::from_path(&path)?;
        csv.write_record([
            "id",
            "rhythm",
            "hr_ours",
            "hr_ref",
            "p_ours",
            "p_ref",
            "pr_ours",
            "pr_ref",
            "qrs_ours",
            "qrs_ref",
            "qt_ours",
            "qt_ref",
            "n_ectopic",
        ])?;
        let f = |v: Option<f64>| v.map(|x| format!("{x:.1}")).unwrap_or_default();
        for r in &v.records {
            let (o, re) = (&r.ours, &r.reference);
            csv.write_record([
                r.id.clone(),
                r.rhythm.clone(),
                f(o.heart_rate.mean_bpm.value()),
                f(re.hr_bpm),
                f(o.p_ms.value()),
                f(re.p_ms),
                f(o.pr_ms.value()),
                f(re.pr_ms),
                f(o.qrs_ms.value()),
                f(re.qrs_ms),
                f(o.qt_ms.value()),
                f(re.qt_ms),
                o.n_ectopic.to_string(),
            ])?;
        }
        csv.flush()?;
        println!("per-record values written to {}", path.display());
    }
    println!("({:.1} s)", started.elapsed().as_secs_f64());
    Ok(())
}
