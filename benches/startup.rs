//! Start-up of a one-record command: where `tlc explain RECORD --model
//! assets/models/ribeiro_ptbxl.safetensors --out X.json` spends its time beyond its compute.
//!
//! Rows, all in one run: the whole command as a fresh process (the `tlc` binary), opening the
//! model (config, mapped weights, finite check, f16 -> f32, the file's hash), opening the
//! explainer and checking it against the model, reading the record, the explanation itself
//! (the compute: preparation, one forward + Grad-CAM backward, TLC) and its JSON. The record is
//! the first of `../shared/data/ptbxl` (500 Hz); without it the rows are skipped.
//!
//! `cargo bench --bench startup`.

// The allocator of the `tlc` binary (src/main.rs), so the bench measures what users run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::{Path, PathBuf};
use std::process::Command;

use criterion::{Criterion, criterion_group, criterion_main};
use tlc_explorer::io::{OpenOptions, open_dataset_with};
use tlc_explorer::model::LoadedModel;
use tlc_explorer::tlc::Explainer;
use tlc_explorer::tlc::pipeline::{ExplainSettings, explain_record};

#[path = "common/machine.rs"]
mod machine;

fn record_path() -> PathBuf {
    std::env::var_os("TLC_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"))
        .join("data/ptbxl/records500/00000/00001_hr.hea")
}

fn bench(c: &mut Criterion) {
    println!("{}", machine::description());
    let record = record_path();
    if !record.exists() {
        println!("SKIPPED start-up benchmark: {} not found", record.display());
        return;
    }
    let weights =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/models/ribeiro_ptbxl.safetensors");
    let explainer_path = tlc_explorer::paths::resolve_explainer(&weights, None);
    let out = tempfile::tempdir().expect("a temporary folder");
    let json_path = out.path().join("e.json");

    let mut group = c.benchmark_group("explain_one_ptbxl_record");
    group.sample_size(20);
    group.bench_function("tlc_explain_process", |b| {
        b.iter(|| {
            let status = Command::new(env!("CARGO_BIN_EXE_tlc"))
                .arg("explain")
                .arg(&record)
                .arg("--model")
                .arg(&weights)
                .arg("--out")
                .arg(&json_path)
                .arg("--overwrite")
                .stdout(std::process::Stdio::null())
                .status()
                .expect("run tlc");
            assert!(status.success(), "tlc explain failed");
        })
    });
    group.bench_function("open_model", |b| {
        b.iter(|| LoadedModel::open(&weights).expect("model"))
    });
    let model = LoadedModel::open(&weights).expect("model");
    group.bench_function("open_explainer_and_check", |b| {
        b.iter(|| {
            let e = Explainer::load(&explainer_path).expect("explainer");
            e.check_model(&model).expect("explainer fits the model");
            e
        })
    });
    let explainer = Explainer::load(&explainer_path).expect("explainer");
    group.bench_function("read_record", |b| {
        b.iter(|| {
            open_dataset_with(&record, &OpenOptions::default())
                .and_then(|d| d.load(0))
                .expect("record")
        })
    });
    let ecg = open_dataset_with(&record, &OpenOptions::default())
        .and_then(|d| d.load(0))
        .expect("record");
    let settings = ExplainSettings::default();
    group.bench_function("explain_compute", |b| {
        b.iter(|| explain_record(&model, &explainer, &ecg, &settings).expect("explain"))
    });
    let e = explain_record(&model, &explainer, &ecg, &settings).expect("explain");
    group.bench_function("json", |b| {
        b.iter(|| serde_json::to_string_pretty(&e).expect("json"))
    });
    group.finish();
    println!("end of run: {}", machine::description());
}

criterion_group!(benches, bench);
criterion_main!(benches);
