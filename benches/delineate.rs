//! A 10 s 12-lead record at 500 Hz delineated (target: < 5 ms).

// The allocator of the `tlc` binary (src/main.rs), so the bench measures what users run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{Criterion, criterion_group, criterion_main};
use tlc_explorer::delineate::{DelineatorParams, delineate};
use tlc_explorer::synth::{SynthParams, generate_record};

fn bench_delineate(c: &mut Criterion) {
    let params = SynthParams {
        n_records: 1,
        ..Default::default()
    };
    let record = match generate_record(&params, 0) {
        Ok(r) => r,
        Err(e) => panic!("synthetic record: {e}"),
    };
    let settings = DelineatorParams::default();
    c.bench_function("delineate 12 leads x 10 s at 500 Hz", |b| {
        b.iter(|| delineate(std::hint::black_box(&record.ecg), &settings))
    });
}

criterion_group!(benches, bench_delineate);
criterion_main!(benches);
