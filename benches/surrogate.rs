//! Surrogate performance: the forest side of a 10-fold evaluation on 500 records (5 labels,
//! K = 8 proportions, 100 trees per label), and the full evaluation including per-fold k-means on
//! cached TLC-sized features (500 records x 256 steps x 772 features) through `crate::tlc`.
//! Target: the full 10-fold evaluation under a minute on 2 cores.

use criterion::{Criterion, criterion_group, criterion_main};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use tlc_explorer::model::config::Task;
use tlc_explorer::progress::{NoProgress, ProgressSink};
use tlc_explorer::surrogate::evaluate::BackendError;
use tlc_explorer::surrogate::{
    Assignment, ClusterBackend, CnnOutputs, EvalData, EvalSettings, Truth, cross_validate,
};

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
        Ok(Assignment { proportions: f.row(0).to_vec(), mean_entropy: 0.0 })
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

criterion_group!(benches, forest_side);
criterion_main!(benches);
