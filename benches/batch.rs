//! Batch explanation of a data set (`tlc explain --data`, `tlc::batch::explain_dataset`) with
//! the bundled Ribeiro-size model (`ribeiro_ptbxl`, 12 x 4096 at 400 Hz) on a CODE-15%-layout
//! HDF5 file of synthetic records, written into a temporary folder first.
//!
//! Two parts, in this order:
//! 1. Peak memory against the number of records: runs over the first 500 and 2,000 records of
//!    one file (`TLC_BENCH_BATCH_RECORDS=500,2000,20000` for more), each printing its time,
//!    records per second and the process's peak resident memory (VmHWM of /proc/self/status,
//!    reset between runs through /proc/self/clear_refs where the kernel allows it; peaks only
//!    grow, so runs go from the smallest up either way).
//! 2. Criterion rows on the same 64 records: the model's batched forward alone (the prepared
//!    inputs stacked beforehand, batches of the model's batch size, as the explanation runs
//!    them) against the whole explanation (reading, preparing, forward + Grad-CAM backward,
//!    clusters, Parquet), with and without per-step rows. Throughput is in records, so the
//!    ratio of the rows' rates is the explanation's share of the forward's throughput.

// The allocator of the `tlc` binary (src/main.rs), so the bench measures what users run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tlc_explorer::io::code15::{CODE15_FS_HZ, CODE15_LENGTH, Code15Writer};
use tlc_explorer::io::open_dataset;
use tlc_explorer::model::LoadedModel;
use tlc_explorer::paths;
use tlc_explorer::progress::NoProgress;
use tlc_explorer::synth::{SynthParams, generate_record};
use tlc_explorer::tlc::Explainer;
use tlc_explorer::tlc::batch::{BatchOutput, BatchSettings, Shard, explain_dataset};
use tlc_explorer::tlc::pipeline::{ExplainSettings, prepare_for_explainer};

#[path = "common/machine.rs"]
mod machine;

/// Distinct synthetic records, written over and over to fill a file of any size.
const DISTINCT_RECORDS: usize = 64;

/// A CODE-15%-layout file of `n` synthetic records (400 Hz, 4096 samples, 12 leads).
fn synthetic_code15(path: &Path, n: usize) {
    let params = SynthParams {
        n_records: DISTINCT_RECORDS,
        fs_hz: CODE15_FS_HZ,
        duration_s: CODE15_LENGTH as f64 / CODE15_FS_HZ,
        ..Default::default()
    };
    let records: Vec<_> = (0..DISTINCT_RECORDS)
        .map(|i| match generate_record(&params, i) {
            Ok(r) => r.ecg,
            Err(e) => panic!("synthetic record {i}: {e}"),
        })
        .collect();
    let mut writer = Code15Writer::create(path, n, true).expect("create the HDF5 file");
    for i in 0..n {
        writer
            .write(i, &records[i % DISTINCT_RECORDS], i as i64)
            .expect("write a record");
    }
    writer.finish().expect("finish the HDF5 file");
}

/// `VmHWM` of /proc/self/status in MB.
fn peak_resident_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Resets the peak resident memory to the current one (Linux >= 4.0).
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn record_counts() -> Vec<usize> {
    std::env::var("TLC_BENCH_BATCH_RECORDS")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| vec![500, 2000])
}

fn models() -> (LoadedModel, Explainer) {
    let model_path = paths::real_model();
    let model = LoadedModel::open(&model_path).expect("bundled Ribeiro-size model");
    let explainer = Explainer::load(&paths::explainer_beside(&model_path)).expect("its explainer");
    (model, explainer)
}

fn output(dir: &Path, name: &str, steps: bool) -> BatchOutput {
    BatchOutput {
        records: dir.join(format!("{name}.parquet")),
        steps: steps.then(|| dir.join(format!("{name}.steps.parquet"))),
        overwrite: true,
    }
}

fn memory_rows(dir: &Path, model: &LoadedModel, explainer: &Explainer) {
    let mut counts = record_counts();
    counts.sort_unstable();
    let largest = counts.last().copied().unwrap_or(0);
    let file: PathBuf = dir.join("synthetic_code15.hdf5");
    let t = Instant::now();
    synthetic_code15(&file, largest);
    println!(
        "wrote {largest} synthetic records ({:.1} GB) in {:.1} s",
        (largest * CODE15_LENGTH * 12 * 4) as f64 / 1e9,
        t.elapsed().as_secs_f64()
    );
    let data = open_dataset(&file).expect("open the synthetic file");
    for &n in &counts {
        let reset = reset_peak();
        // The first n records: shard 0 of a count that gives exactly n when it divides.
        let settings = BatchSettings {
            shard: Shard {
                index: 0,
                count: (largest / n).max(1),
            },
            ..Default::default()
        };
        let records = settings.shard.range(data.len()).len();
        let t = Instant::now();
        let summary = explain_dataset(
            model,
            explainer,
            data.as_ref(),
            &settings,
            &output(dir, &format!("memory_{n}"), false),
            &NoProgress,
        )
        .expect("explain the data set");
        let seconds = t.elapsed().as_secs_f64();
        assert_eq!(summary.failed, 0);
        println!(
            "batch explanation of {records} records: {seconds:.1} s, {:.1} records/s, peak \
             resident memory (VmHWM) {:.0} MB{}",
            records as f64 / seconds,
            peak_resident_mb().unwrap_or(f64::NAN),
            if reset {
                ""
            } else {
                " (peak not reset: the highest of all runs so far)"
            }
        );
        println!("  {}", machine::description());
    }
}

fn bench(c: &mut Criterion) {
    println!("{}", machine::description());
    let dir = tempfile::tempdir().expect("a temporary folder");
    let (model, explainer) = models();
    println!(
        "model {} (batch size {}), explainer {}",
        model.name, model.batch_size, explainer.name
    );
    memory_rows(dir.path(), &model, &explainer);

    const N: usize = 64;
    let file = dir.path().join("throughput.hdf5");
    synthetic_code15(&file, N);
    let data = open_dataset(&file).expect("open the synthetic file");
    let explain = ExplainSettings::default();
    let batches: Vec<_> = (0..N)
        .map(|i| {
            let ecg = data.load(i).expect("load");
            prepare_for_explainer(&model, &explainer, &ecg, &explain)
                .expect("prepare")
                .prepared
                .data
        })
        .collect::<Vec<_>>()
        .chunks(model.batch_size)
        .map(|inputs| model.input_tensor(inputs).expect("input tensor"))
        .collect();

    let mut group = c.benchmark_group(format!("batch_explain_{N}_records"));
    group
        .sample_size(10)
        .sampling_mode(criterion::SamplingMode::Flat)
        .measurement_time(Duration::from_secs(30))
        .throughput(Throughput::Elements(N as u64));
    group.bench_function("forward_batched", |b| {
        b.iter(|| {
            for x in &batches {
                model.net.forward_t(x, false).expect("forward");
            }
        })
    });
    for steps in [false, true] {
        let name = if steps {
            "explain_dataset_with_steps"
        } else {
            "explain_dataset"
        };
        let out = output(dir.path(), name, steps);
        group.bench_function(name, |b| {
            b.iter(|| {
                explain_dataset(
                    &model,
                    &explainer,
                    data.as_ref(),
                    &BatchSettings::default(),
                    &out,
                    &NoProgress,
                )
                .expect("explain")
            })
        });
    }
    group.finish();
    println!("end of run: {}", machine::description());
}

criterion_group!(benches, bench);
criterion_main!(benches);
