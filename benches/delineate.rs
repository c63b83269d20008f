//! A 10 s 12-lead record delineated (target: < 5 ms), at 500 Hz and at 100 Hz (PTB-XL
//! records100; resampled to 500 Hz inside the delineator).

// The allocator of the `tlc` binary (src/main.rs), so the bench measures what users run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{Criterion, criterion_group, criterion_main};
use tlc_explorer::Ecg;
use tlc_explorer::delineate::{DelineatorParams, delineate};
use tlc_explorer::dsp::resample::resample;

mod common;

fn bench_delineate(c: &mut Criterion) {
    let record = common::synthetic_record();
    let settings = DelineatorParams::default();
    c.bench_function("delineate 12 leads x 10 s at 500 Hz", |b| {
        b.iter(|| delineate(std::hint::black_box(&record.ecg), &settings))
    });
    let ecg = &record.ecg;
    let rows: Vec<f32> = ecg
        .samples_mv
        .rows()
        .into_iter()
        .flat_map(|r| match resample(&r.to_vec(), ecg.fs_hz, 100.0) {
            Ok(v) => v,
            Err(e) => panic!("resampling to 100 Hz: {e}"),
        })
        .collect();
    let n = rows.len() / ecg.n_leads();
    let array = match ndarray::Array2::from_shape_vec((ecg.n_leads(), n), rows) {
        Ok(a) => a,
        Err(e) => panic!("100 Hz array: {e}"),
    };
    let at_100 = match Ecg::new(ecg.leads.clone(), 100.0, array, ecg.meta.clone()) {
        Ok(e) => e,
        Err(e) => panic!("100 Hz record: {e}"),
    };
    c.bench_function("delineate 12 leads x 10 s at 100 Hz", |b| {
        b.iter(|| delineate(std::hint::black_box(&at_100), &settings))
    });
}

criterion_group!(benches, bench_delineate);
criterion_main!(benches);
