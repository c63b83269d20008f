//! The delineator's multi-lead beats against LUDB's global reference bounds (earliest onset and
//! latest offset over the annotated leads, one set of bounds per beat, as a cardiologist marks
//! a beat looking at all its leads; the QT Database is annotated so).
//!
//! `cargo run --release --example ludb_global -- [LUDB_DIR] [--leads ii,v5] [--resample 250]
//! [--records all|odd|even] [--params FILE.json]`: `--leads ii,v5 --resample 250` emulates
//! a two-lead 250 Hz database on LUDB.

use tlc_explorer::delineate::DelineatorParams;
use tlc_explorer::measure::ludb::{GlobalBoundOptions, global_bound_errors};
use tlc_explorer::record::LeadName;

mod common;

fn main() -> anyhow::Result<()> {
    let args = common::LudbArgs::parse(true)?;
    let params: DelineatorParams = args.params()?;
    let options = GlobalBoundOptions {
        leads: args
            .leads
            .as_ref()
            .map(|names| names.iter().map(|n| LeadName::parse(n)).collect()),
        resample_hz: args.resample_hz,
        records: args.records,
    };
    let errors = global_bound_errors(&args.dir, &params, &options)?;
    println!(
        "LUDB ({:?}), leads {}, {}: multi-lead beats against the global reference bounds",
        options.records,
        args.leads
            .as_ref()
            .map_or("all 12".to_string(), |l| l.join(",")),
        args.resample_hz
            .map_or("500 Hz".to_string(), |h| format!("delineated at {h} Hz"))
    );
    print!("{}", errors.table());
    Ok(())
}
