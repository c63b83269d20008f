//! TLC benchmarks: k-means on the paper's corpus size (65,536 time steps x 772 features, K = 8,
//! 4 initialisations; reference scikit-learn on this machine: fit 6.2 s, z-score + fit +
//! temperature 10.7 s), linfa's k-means for comparison, and explaining one ECG incl. Grad-CAM
//! (reference PyTorch: 30.9 ms, Grad-CAM 32.5 ms).
//!
//! `cargo bench --bench tlc` (add a filter, e.g. `-- kmeans`).

// The allocator of the `tlc` binary (src/main.rs), so the bench measures what users run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use linfa::DatasetBase;
use linfa::traits::Fit;
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_xoshiro::Xoshiro256PlusPlus;
use tlc_explorer::progress::NoProgress;
use tlc_explorer::tlc::cluster::{
    ClusterSettings, fit_clusters, fit_standardised, standardisation, standardise_in_place,
};

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

    let dir = std::env::var_os("TLC_SHARED_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"))
        .join("fixtures");
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

criterion_group!(benches, explain, kmeans);
criterion_main!(benches);
