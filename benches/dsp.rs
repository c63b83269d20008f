//! prepare() of a 10 s 12-lead record at 500 Hz to Ribeiro's input (12 x 4096 at 400 Hz), raw
//! and with baseline removal + band-pass; and generating one synthetic record.

// The allocator of the `tlc` binary (src/main.rs), so the bench measures what users run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use tlc_explorer::dsp::{InputSpec, PreprocessSettings, prepare};
use tlc_explorer::record::LeadName;
use tlc_explorer::synth::{SynthParams, generate_record};

fn bench_prepare(c: &mut Criterion) {
    let params = SynthParams {
        n_records: 1,
        seed: 1,
        ..Default::default()
    };
    let ecg = generate_record(&params, 0).expect("synthetic record").ecg;
    let spec = InputSpec {
        leads: LeadName::standard_12(),
        fs_hz: 400.0,
        length: 4096,
    };
    let raw = PreprocessSettings::default();
    let filtered = PreprocessSettings {
        remove_baseline: true,
        bandpass_hz: Some((0.5, 40.0)),
        window_start_s: None,
    };
    c.bench_function("prepare 12x5000@500Hz -> 12x4096@400Hz", |b| {
        b.iter(|| prepare(black_box(&ecg), &spec, &raw).expect("prepare"))
    });
    c.bench_function("prepare + median baseline + band-pass", |b| {
        b.iter(|| prepare(black_box(&ecg), &spec, &filtered).expect("prepare"))
    });
    c.bench_function("synth generate_record 12x10s@500Hz", |b| {
        b.iter(|| generate_record(black_box(&params), 0).expect("generate"))
    });
}

criterion_group!(benches, bench_prepare);
criterion_main!(benches);
