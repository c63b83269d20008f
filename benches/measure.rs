//! Measuring a 10 s 12-lead record on top of its delineation (target: < 1 ms).

// The allocator of the `tlc` binary (src/main.rs), so the bench measures what users run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{Criterion, criterion_group, criterion_main};
use tlc_explorer::delineate::{DelineatorParams, delineate};
use tlc_explorer::measure::{MeasureParams, measure};

mod common;

fn bench_measure(c: &mut Criterion) {
    let record = common::synthetic_record();
    let d = match delineate(&record.ecg, &DelineatorParams::default()) {
        Ok(d) => d,
        Err(e) => panic!("delineation: {e}"),
    };
    let settings = MeasureParams::default();
    c.bench_function(
        "measure 12 leads x 10 s at 500 Hz (on its delineation)",
        |b| b.iter(|| measure(std::hint::black_box(&record.ecg), &d, &settings)),
    );
}

criterion_group!(benches, bench_measure);
criterion_main!(benches);
