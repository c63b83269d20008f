//! TLC benchmarks: k-means on the paper's corpus size (65,536 time steps x 772 features, K = 8,
//! 4 initialisations; reference scikit-learn on this machine: fit 6.2 s, z-score + fit +
//! temperature 10.7 s), linfa's k-means for comparison, and explaining one ECG incl. Grad-CAM
//! (reference PyTorch: 30.9 ms, Grad-CAM 32.5 ms).
//!
//! `cargo bench --bench tlc` (add a filter, e.g. `-- kmeans`).

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

criterion_group!(benches, kmeans);
criterion_main!(benches);
