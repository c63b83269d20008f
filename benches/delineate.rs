//! A 10 s 12-lead record delineated (target: < 5 ms), at 500 Hz and at 100 Hz (PTB-XL
//! records100; resampled to 500 Hz inside the delineator); a 1 h 2-lead 360 Hz record streamed
//! in windows (target for 24 h: < 2 min).

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

/// A 1 h 2-lead record at 360 Hz (MIT-BIH's rate), streamed in windows as a Holter record is:
/// the 24 h figure of src/delineate/README.md is 24 times this (measured once with
/// `examples/long_record.rs`).
fn bench_long_record(c: &mut Criterion) {
    use tlc_explorer::delineate::long::delineate_streamed;
    use tlc_explorer::progress::NoProgress;
    use tlc_explorer::synth::SynthParams;
    use tlc_explorer::synth::long::LongSynthetic;
    let params = SynthParams {
        n_records: 1,
        fs_hz: 360.0,
        duration_s: 60.0,
        ..Default::default()
    };
    let long = match LongSynthetic::new(&params, 2, 3600.0) {
        Ok(l) => l,
        Err(e) => panic!("long synthetic record: {e}"),
    };
    let settings = DelineatorParams::default();
    let mut group = c.benchmark_group("long record");
    group.sample_size(10);
    group.bench_function("delineate 2 leads x 1 h at 360 Hz, streamed", |b| {
        b.iter(|| {
            delineate_streamed(
                "long",
                long.n_samples,
                long.fs_hz,
                2,
                |range| Ok(long.window(range)),
                &settings,
                &NoProgress,
            )
        })
    });
    group.finish();
}

criterion_group!(benches, bench_delineate, bench_long_record);
criterion_main!(benches);
