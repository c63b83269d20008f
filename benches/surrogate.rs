//! Surrogate performance: the forest side of a 10-fold evaluation on 500 records (5 labels,
//! K = 8 proportions, 100 trees per label), and the full evaluation including per-fold k-means on
//! cached TLC-sized features (500 records x 256 steps x 772 features) through `crate::tlc`.
//! Target: the full 10-fold evaluation under a minute on 2 cores.

// The allocator of the `tlc` binary (src/main.rs), so the bench measures what users run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{Criterion, criterion_group, criterion_main};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use tlc_explorer::model::config::Task;
use tlc_explorer::progress::{NoProgress, ProgressSink};
use tlc_explorer::surrogate::evaluate::BackendError;
use tlc_explorer::surrogate::{
    Assignment, ClusterBackend, CnnOutputs, EvalData, EvalSettings, TlcBackend, Truth,
    cross_validate,
};
use tlc_explorer::tlc::ClusterSettings;

/// Each record's "features" are already its proportions (one row): isolates the forest cost.
struct GivenProportions(usize);

impl ClusterBackend for GivenProportions {
    type Model = ();
    fn k(&self) -> usize {
        self.0
    }
    fn fit(&self, _t: &[&Array2<f32>], _p: &dyn ProgressSink) -> Result<(), BackendError> {
        Ok(())
    }
    fn assign(&self, _m: &(), f: &Array2<f32>) -> Result<Assignment, BackendError> {
        Ok(Assignment {
            proportions: f.row(0).to_vec(),
            mean_entropy: 0.0,
        })
    }
}

fn proportion_data(n: usize, k: usize, n_labels: usize) -> EvalData {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0);
    let mut features = Vec::new();
    let mut probs = Array2::<f32>::zeros((n, n_labels));
    let mut truth = Array2::<bool>::from_elem((n, n_labels), false);
    for i in 0..n {
        let mut p: Vec<f32> = (0..k).map(|_| rng.r#gen::<f32>()).collect();
        let s: f32 = p.iter().sum();
        p.iter_mut().for_each(|v| *v /= s);
        for l in 0..n_labels {
            let score = p[l % k] * k as f32 / 2.0 + 0.2 * rng.r#gen::<f32>();
            probs[[i, l]] = score.clamp(0.0, 1.0);
            truth[[i, l]] = rng.gen_bool(score.clamp(0.05, 0.95) as f64);
        }
        features.push(Array2::from_shape_vec((1, k), p).unwrap());
    }
    EvalData {
        ids: (0..n).map(|i| i.to_string()).collect(),
        features,
        folds: (0..n).map(|i| 1 + (i % 10) as u32).collect(),
        cnn: CnnOutputs {
            task: Task::Multilabel,
            names: (0..n_labels).map(|l| format!("L{l}")).collect(),
            values: probs,
        },
        truth: Some(Truth::MultiLabel(truth)),
    }
}

fn forest_side(c: &mut Criterion) {
    let data = proportion_data(500, 8, 5);
    let settings = EvalSettings::default();
    let mut g = c.benchmark_group("surrogate");
    g.sample_size(10);
    g.bench_function("cv10_forest_500rec_k8_5labels_100trees", |b| {
        b.iter(|| cross_validate(&data, &GivenProportions(8), &settings, &NoProgress).unwrap())
    });
    g.finish();
}

/// Cached features shaped like the bundled PTB-XL model's (last three blocks 32 + 48 + 64 = 144
/// channels at 256 steps; 10 s of a 1024-sample window = 250 valid steps): per record, steps drawn
/// around 12 prototypes, 2 of them tied to each of 5 labels.
fn feature_data(n: usize, steps: usize, n_features: usize) -> EvalData {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
    let protos: Vec<Vec<f32>> = (0..12)
        .map(|_| (0..n_features).map(|_| rng.r#gen::<f32>() * 4.0).collect())
        .collect();
    let mut base = proportion_data(n, 8, 5);
    let Some(Truth::MultiLabel(truth)) = &base.truth else {
        unreachable!()
    };
    base.features = (0..n)
        .map(|i| {
            let mut sources = vec![0usize, 1];
            for l in 0..5 {
                if truth[[i, l]] {
                    sources.push(2 + 2 * l + (i % 2));
                }
            }
            Array2::from_shape_fn((steps, n_features), |(t, j)| {
                protos[sources[t % sources.len()]][j] + rng.r#gen::<f32>()
            })
        })
        .collect();
    base
}

fn full_cv(c: &mut Criterion) {
    let data = feature_data(500, 250, 144);
    let backend = TlcBackend {
        settings: ClusterSettings::default(),
    };
    let settings = EvalSettings::default();
    let mut g = c.benchmark_group("surrogate");
    g.sample_size(10);
    g.bench_function("cv10_tlc_kmeans_500rec_250x144_k8_100trees", |b| {
        b.iter(|| cross_validate(&data, &backend, &settings, &NoProgress).unwrap())
    });
    g.finish();
}

criterion_group!(benches, forest_side, full_cv);
criterion_main!(benches);
