//! TLC benchmarks:
//! - k-means on REAL activations against scikit-learn in the same run: the golden fixture
//!   network's (Ribeiro's full architecture) features of the first 262 PTB-XL records in
//!   `../shared/data/ptbxl` (65,500 valid time steps x 772), built by `tlc fit`'s own function
//!   (`tlc::fit::corpus_steps`), standardised, then K = 8, 4 k-means++ inits, tolerance 1e-4,
//!   at most 300 iterations on both sides; both sides' iteration counts are printed.
//!   scikit-learn runs in `benches/sklearn_kmeans.py` under the interpreter in
//!   `TLC_BENCH_PYTHON` (default `python3`) with 2 threads, the matrix passed as a raw f32 file.
//! - k-means on synthetic blobs of the paper's corpus size (65,536 x 772; they converge in a
//!   few iterations: compare per-iteration cost only), and linfa's k-means;
//! - explaining one ECG incl. Grad-CAM.
//!
//! A missing fixture, data set or interpreter skips its rows with the reason printed.
//! `cargo bench --bench tlc` (add a filter, e.g. `-- kmeans_real`).

// The allocator of the `tlc` binary (src/main.rs), so the bench measures what users run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use linfa::DatasetBase;
use linfa::traits::Fit;
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_xoshiro::Xoshiro256PlusPlus;
use tlc_explorer::progress::{NoProgress, Progress, ProgressSink};
use tlc_explorer::tlc::cluster::{
    ClusterSettings, fit_clusters, fit_standardised, standardisation, standardise_in_place,
};

#[path = "common/machine.rs"]
mod machine;
#[path = "common/reference.rs"]
mod reference;

/// Threads of the scikit-learn process: the cores of this project's machine.
const SKLEARN_THREADS: usize = 2;

/// The records of the real-activation k-means: 262 x 250 valid steps = 65,500 steps, the
/// paper's corpus size.
const REAL_RECORDS: usize = 262;

fn shared_dir() -> PathBuf {
    std::env::var_os("TLC_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"))
}

/// Counts the Lloyd iterations of each k-means run from its progress reports (one per
/// iteration, stage "k-means (run r of n)").
#[derive(Default)]
struct IterationCounter(Mutex<Vec<(String, usize)>>);

impl ProgressSink for IterationCounter {
    fn report(&self, p: Progress) {
        if !p.stage.starts_with("k-means (run") {
            return;
        }
        if let Ok(mut runs) = self.0.lock() {
            match runs.last_mut() {
                Some((stage, n)) if *stage == p.stage => *n += 1,
                _ => runs.push((p.stage, 1)),
            }
        }
    }
    fn is_cancelled(&self) -> bool {
        false
    }
}

/// The request words of a k-means setting in `benches/sklearn_kmeans.py`'s protocol.
fn sklearn_settings(s: &ClusterSettings) -> String {
    format!(
        "{} {} {} {} {}",
        s.k, s.n_init, s.tolerance, s.max_iter, s.seed
    )
}

/// The standardised real activations (see the module comment), or why they cannot be built.
fn real_activations() -> Result<(Array2<f32>, ndarray::Array1<f32>, ndarray::Array1<f32>), String> {
    use tlc_explorer::io::{OpenOptions, open_dataset_with};
    use tlc_explorer::model::LoadedModel;
    use tlc_explorer::tlc::fit::{FitSettings, corpus_steps};
    let shared = shared_dir();
    let fixtures = shared.join("fixtures");
    let data = shared.join("data/ptbxl");
    let weights = fixtures.join("resnet_fixture.safetensors");
    if !weights.exists() {
        return Err(format!("{} not found", weights.display()));
    }
    if !data.join("ptbxl_database.csv").exists() {
        return Err(format!("{} not found", data.display()));
    }
    let model = LoadedModel::open_with_config(&weights, &fixtures.join("model_config.json"))
        .map_err(|e| e.to_string())?;
    let dataset = open_dataset_with(&data, &OpenOptions::default()).map_err(|e| e.to_string())?;
    let n = REAL_RECORDS.min(dataset.len());
    let indices: Vec<usize> = (0..n).collect();
    let corpus = corpus_steps(
        &model,
        dataset.as_ref(),
        &indices,
        &FitSettings::default(),
        &NoProgress,
    )
    .map_err(|e| e.to_string())?;
    println!(
        "real activations: {} x {} from {n} PTB-XL records ({}) through the golden fixture network",
        corpus.steps.nrows(),
        corpus.steps.ncols(),
        data.display()
    );
    let mut z = corpus.steps;
    let (mean, std) = standardisation(z.view());
    standardise_in_place(&mut z, &mean, &std);
    Ok((z, mean, std))
}

/// Our k-means and scikit-learn's on the same real activations (see the module comment).
fn kmeans_real(c: &mut Criterion) {
    println!("{}", machine::description());
    let (z, mean, std) = match real_activations() {
        Ok(x) => x,
        Err(reason) => {
            println!("SKIPPED k-means on real activations: {reason}");
            return;
        }
    };
    let settings = ClusterSettings::default();
    // One untimed run of each side for the iteration counts.
    let counter = IterationCounter::default();
    let ours = fit_standardised(z.clone(), mean.clone(), std.clone(), &settings, &counter)
        .expect("k-means");
    let runs = counter.0.into_inner().unwrap_or_default();
    println!(
        "ours: inertia {:.1}, Lloyd iterations per init {:?}",
        ours.inertia,
        runs.iter().map(|(_, n)| n).collect::<Vec<_>>()
    );
    let threads = [SKLEARN_THREADS.to_string()];
    let mut sklearn =
        match reference::Reference::spawn("sklearn_kmeans.py", &threads, SKLEARN_THREADS) {
            Ok(mut sk) => {
                println!("scikit-learn reference: {} (version, threads)", sk.hello);
                let file = tempfile::NamedTempFile::new().expect("a temporary file");
                let bytes: Vec<u8> = z.iter().flat_map(|v| v.to_le_bytes()).collect();
                std::fs::write(file.path(), bytes).expect("write the matrix");
                let loaded = sk.ask(Some(&format!(
                    "load {} {} {}",
                    file.path().display(),
                    z.nrows(),
                    z.ncols()
                )));
                match loaded.and_then(|_| {
                    sk.ask(Some(&format!("iterations {}", sklearn_settings(&settings))))
                }) {
                    Ok(reply) => {
                        let mut words = reply.split_whitespace();
                        let inertia = words.next().unwrap_or("?");
                        let iters: Vec<&str> = words.collect();
                        println!(
                            "scikit-learn: inertia {inertia}, Lloyd iterations per init {iters:?}"
                        );
                        Some(sk)
                    }
                    Err(reason) => {
                        println!("SKIPPED scikit-learn rows: {reason}");
                        None
                    }
                }
            }
            Err(reason) => {
                println!(
                    "SKIPPED scikit-learn rows: {reason} (set TLC_BENCH_PYTHON to a python with \
                 scikit-learn)"
                );
                None
            }
        };
    let mut group = c.benchmark_group(format!("kmeans_real_{}x{}_k8", z.nrows(), z.ncols()));
    // Seconds per fit: ten samples of one fit each, not criterion's 1 + 2 + ... + 10.
    group
        .sample_size(10)
        .sampling_mode(criterion::SamplingMode::Flat)
        .measurement_time(Duration::from_secs(30));
    group.bench_function("ours/4_inits", |b| {
        b.iter_batched(
            || z.clone(),
            |z| fit_standardised(z, mean.clone(), std.clone(), &settings, &NoProgress).unwrap(),
            criterion::BatchSize::LargeInput,
        )
    });
    if let Some(sk) = sklearn.as_mut() {
        let request = format!("fit {}", sklearn_settings(&settings));
        group.bench_function("sklearn/4_inits", |b| {
            b.iter_custom(|iters| sk.seconds(&format!("{request} {iters}")))
        });
    }
    group.finish();
    println!("end of run: {}", machine::description());
}

/// 65,536 x 772 steps from 16 Gaussian clusters of unequal spread (seeded), split in 256
/// records of 256 steps like a corpus of 256 ECGs.
fn corpus() -> Vec<Array2<f32>> {
    let (n_records, n_steps, n_features, n_centres) = (256, 256, 772, 16);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
    let centres = Array2::from_shape_fn((n_centres, n_features), |_| {
        3.0 * rng.sample::<f32, _>(StandardNormal)
    });
    (0..n_records)
        .map(|_| {
            let mut r = Array2::<f32>::zeros((n_steps, n_features));
            for mut row in r.rows_mut() {
                let c = rng.gen_range(0..n_centres);
                let spread = 1.0 + c as f32 * 0.25;
                for (j, v) in row.iter_mut().enumerate() {
                    *v = centres[[c, j]] + spread * rng.sample::<f32, _>(StandardNormal);
                }
            }
            r
        })
        .collect()
}

fn kmeans(c: &mut Criterion) {
    let records = corpus();
    let settings = ClusterSettings::default();
    let views: Vec<_> = records.iter().map(|r| r.view()).collect();
    let stacked = ndarray::concatenate(ndarray::Axis(0), &views).unwrap();
    let (mean, std) = standardisation(stacked.view());
    let mut z = stacked.clone();
    standardise_in_place(&mut z, &mean, &std);

    let mut group = c.benchmark_group("kmeans_65536x772_k8");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(60));
    group.bench_function("fit_only_4_inits", |b| {
        b.iter(|| {
            fit_standardised(z.clone(), mean.clone(), std.clone(), &settings, &NoProgress).unwrap()
        })
    });
    group.bench_function("zscore_fit_temperature", |b| {
        b.iter(|| fit_clusters(&records, &settings, &NoProgress).unwrap())
    });
    group.finish();

    // linfa's full-batch k-means, 1 init and at most 20 iterations (multiply for comparison).
    let mut group = c.benchmark_group("linfa_kmeans_65536x772_k8");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(30));
    let data = DatasetBase::from(z.clone());
    group.bench_function("1_init_max_20_iters", |b| {
        b.iter(|| {
            linfa_clustering::KMeans::params_with_rng(
                8,
                rand_xoshiro::Xoshiro256Plus::seed_from_u64(0),
            )
            .n_runs(1)
            .max_n_iterations(20)
            .tolerance(1e-30)
            .fit(&data)
            .unwrap()
        })
    });
    let settings_20 = ClusterSettings {
        n_init: 1,
        max_iter: 20,
        tolerance: 0.0,
        ..Default::default()
    };
    group.bench_function("ours_1_init_max_20_iters", |b| {
        b.iter(|| {
            fit_standardised(
                z.clone(),
                mean.clone(),
                std.clone(),
                &settings_20,
                &NoProgress,
            )
            .unwrap()
        })
    });
    group.finish();
}

/// Explaining one ECG with the golden fixture's network (Ribeiro's full architecture) and an
/// explainer fitted on the fixture's four inputs. Skipped with a message when the fixture is
/// not beside the repository.
fn explain(c: &mut Criterion) {
    use tlc_explorer::model::LoadedModel;
    use tlc_explorer::tlc::pipeline::{
        ExplainSettings, GradCamOutput, GradCamTarget, explain_record,
    };
    use tlc_explorer::tlc::tensorfile::TensorFile;
    use tlc_explorer::tlc::{Explainer, FeatureSettings, FitDescription};
    use tlc_explorer::{Ecg, EcgMeta, LeadName};

    let dir = shared_dir().join("fixtures");
    if !dir.join("resnet_fixture.safetensors").exists() {
        eprintln!("SKIPPED explain benchmark: {} not found", dir.display());
        return;
    }
    let model = LoadedModel::open_with_config(
        &dir.join("resnet_fixture.safetensors"),
        &dir.join("model_config.json"),
    )
    .unwrap();
    let input = TensorFile::open(&dir.join("input.safetensors")).unwrap();
    let x = input.f32("input").unwrap();
    let ecgs: Vec<Ecg> = (0..x.shape()[0])
        .map(|b| {
            let rec = x
                .index_axis(ndarray::Axis(0), b)
                .to_owned()
                .into_dimensionality()
                .unwrap();
            let meta = EcgMeta {
                id: format!("fixture_{b}"),
                ..Default::default()
            };
            Ecg::new(LeadName::standard_12(), 400.0, rec, meta).unwrap()
        })
        .collect();
    let features: Vec<Array2<f32>> = ecgs
        .iter()
        .map(|e| {
            tlc_explorer::tlc::record_features(
                &model,
                &FeatureSettings::default(),
                e,
                &Default::default(),
            )
            .unwrap()
            .features
        })
        .collect();
    let clusters = fit_clusters(&features, &ClusterSettings::default(), &NoProgress).unwrap();
    let fit = FitDescription {
        dataset: "fixture".into(),
        n_records: 4,
        n_time_steps: clusters.n_time_steps,
        n_time_steps_seen: clusters.n_time_steps,
        seed: 0,
        settings: ClusterSettings::default(),
        inertia: clusters.inertia,
        date: String::new(),
    };
    let explainer = Explainer::from_clusters(
        "bench",
        model.name.clone(),
        model.sha256.clone(),
        model.config.clone(),
        model.config.preprocessing(),
        FeatureSettings::default(),
        clusters,
        fit,
    )
    .unwrap();
    let mut group = c.benchmark_group("explain_one_ecg");
    group.sample_size(20);
    let named = ExplainSettings {
        gradcam: Some(GradCamTarget {
            output: GradCamOutput::Index(0),
            block: None,
        }),
        ..Default::default()
    };
    group.bench_function("with_gradcam_named_output", |b| {
        b.iter(|| explain_record(&model, &explainer, &ecgs[0], &named).unwrap())
    });
    group.bench_function("with_gradcam_top_output", |b| {
        b.iter(|| {
            explain_record(&model, &explainer, &ecgs[0], &ExplainSettings::default()).unwrap()
        })
    });
    let none = ExplainSettings {
        gradcam: None,
        ..Default::default()
    };
    group.bench_function("without_gradcam", |b| {
        b.iter(|| explain_record(&model, &explainer, &ecgs[0], &none).unwrap())
    });
    // Everything after the network (features, assignment, entropy, segments, Grad-CAM maths).
    let out = model
        .explain_forward(
            std::slice::from_ref(&ecgs[0].samples_mv),
            &[2, 3, 4],
            Some((4, 0)),
        )
        .unwrap();
    let arr = |t: &candle_core::Tensor| {
        let d = t.dims().to_vec();
        let v = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        Array2::from_shape_vec((d[1], d[2]), v).unwrap()
    };
    let blocks: Vec<Array2<f32>> = [2, 3, 4]
        .iter()
        .map(|&b| arr(out.blocks[b].as_ref().unwrap()))
        .collect();
    let grad = arr(out.grad.as_ref().unwrap());
    let raw = out.logits.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let prepared_input = tlc_explorer::dsp::PreparedInput {
        data: ecgs[0].samples_mv.clone(),
        valid: 0..4096,
        fs_hz: 400.0,
        start_s: 0.0,
    };
    let info = tlc_explorer::tlc::pipeline::RecordInfo {
        id: "fixture_0".into(),
        fs_hz: 400.0,
        n_samples: 4096,
        data_notes: Vec::new(),
    };
    group.bench_function("tlc_after_forward", |b| {
        b.iter(|| {
            tlc_explorer::tlc::pipeline::explanation_from_outputs(
                &explainer,
                "fixture",
                &info,
                &prepared_input,
                tlc_explorer::tlc::pipeline::RecordOutputs {
                    raw: raw.clone(),
                    blocks: blocks.clone(),
                    gradcam: Some((0, 4, blocks[2].clone(), grad.clone())),
                },
            )
            .unwrap()
        })
    });
    let prepared = ecgs[0].samples_mv.clone();
    group.bench_function("model_forward_only", |b| {
        b.iter(|| model.predict(std::slice::from_ref(&prepared)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, kmeans_real, explain, kmeans);
criterion_main!(benches);
