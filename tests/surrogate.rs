//! Surrogate: forest + cross-validation on synthetic cluster-structured features, leakage checks,
//! bad input, and (when the bundled PTB-XL model lands) the real end-to-end run.

mod common;

use std::collections::HashSet;
use std::sync::Mutex;

use ndarray::{Array2, Axis};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use tlc_explorer::model::config::Task;
use tlc_explorer::progress::{NoProgress, ProgressSink};
use tlc_explorer::surrogate::evaluate::BackendError;
use tlc_explorer::surrogate::evaluate::cross_validate_fold_models;
use tlc_explorer::surrogate::{
    Assignment, AuditSettings, ClusterBackend, CnnOutputs, EvalData, EvalSettings, ForestSettings,
    Truth, audit, cohort_stats, cross_validate, k_sweep,
};

const N_FEATURES: usize = 6;
const N_PROTOTYPES: usize = 5;

/// Well-separated prototype vectors: prototype p is 10 * e_p (plus a constant column).
fn prototype(p: usize) -> [f32; N_FEATURES] {
    let mut v = [1.0f32; N_FEATURES];
    v[p] += 10.0;
    v
}

/// A small seeded k-means (Lloyd, farthest-point init) standing in for `crate::tlc` so the CV
/// driver is tested on its own; records which tables it was fitted on (by address) so leakage is
/// checked by instrumentation.
struct TestKMeans {
    k: usize,
    seen: Mutex<Vec<HashSet<usize>>>,
}

impl TestKMeans {
    fn new(k: usize) -> Self {
        TestKMeans {
            k,
            seen: Mutex::new(Vec::new()),
        }
    }
}

fn sq(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

impl ClusterBackend for TestKMeans {
    type Model = Vec<Vec<f32>>;
    fn k(&self) -> usize {
        self.k
    }
    fn fit(
        &self,
        train: &[&Array2<f32>],
        _p: &dyn ProgressSink,
    ) -> Result<Self::Model, BackendError> {
        self.seen
            .lock()
            .unwrap()
            .push(train.iter().map(|t| *t as *const _ as usize).collect());
        let rows: Vec<Vec<f32>> = train
            .iter()
            .flat_map(|t| t.outer_iter().map(|r| r.to_vec()).collect::<Vec<_>>())
            .collect();
        if rows.len() < self.k {
            return Err("fewer steps than clusters".into());
        }
        let mut c = vec![rows[0].clone()];
        while c.len() < self.k {
            let far = rows
                .iter()
                .max_by(|a, b| {
                    let da = c.iter().map(|ci| sq(a, ci)).fold(f32::MAX, f32::min);
                    let db = c.iter().map(|ci| sq(b, ci)).fold(f32::MAX, f32::min);
                    da.total_cmp(&db)
                })
                .unwrap();
            c.push(far.clone());
        }
        for _ in 0..20 {
            let mut sum = vec![vec![0f32; N_FEATURES]; self.k];
            let mut n = vec![0usize; self.k];
            for r in &rows {
                let j = (0..self.k)
                    .min_by(|&a, &b| sq(r, &c[a]).total_cmp(&sq(r, &c[b])))
                    .unwrap();
                n[j] += 1;
                for (s, v) in sum[j].iter_mut().zip(r) {
                    *s += v;
                }
            }
            for j in 0..self.k {
                if n[j] > 0 {
                    c[j] = sum[j].iter().map(|s| s / n[j] as f32).collect();
                }
            }
        }
        Ok(c)
    }
    fn assign(&self, c: &Self::Model, features: &Array2<f32>) -> Result<Assignment, BackendError> {
        let mut counts = vec![0f32; self.k];
        let mut entropy = 0f32;
        for r in features.outer_iter() {
            let r = r.to_vec();
            let d: Vec<f32> = c.iter().map(|ci| sq(&r, ci)).collect();
            let j = (0..self.k).min_by(|&a, &b| d[a].total_cmp(&d[b])).unwrap();
            counts[j] += 1.0;
            // Soft assignment with a fixed temperature, normalised entropy.
            let w: Vec<f32> = d.iter().map(|&x| (-(x - d[j]) / 4.0).exp()).collect();
            let s: f32 = w.iter().sum();
            entropy += -w
                .iter()
                .map(|&x| x / s)
                .filter(|&p| p > 0.0)
                .map(|p| p * p.ln())
                .sum::<f32>()
                / (self.k as f32).ln();
        }
        let t = features.nrows() as f32;
        Ok(Assignment {
            proportions: counts.iter().map(|c| c / t).collect(),
            mean_entropy: entropy / t,
        })
    }
}

/// Records whose steps come from prototype 0 (background) plus prototype 1 + l for each positive
/// label l: the label decides which clusters appear. The CNN's probability is the truth, flipped
/// for `flip` of the (record, label) pairs.
fn synthetic(n: usize, n_labels: usize, n_folds: u32, flip: f64, seed: u64) -> EvalData {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut ids = Vec::new();
    let mut features = Vec::new();
    let mut folds = Vec::new();
    let mut truth = Array2::<bool>::from_elem((n, n_labels), false);
    let mut probs = Array2::<f32>::zeros((n, n_labels));
    for i in 0..n {
        let labels: Vec<bool> = (0..n_labels).map(|_| rng.gen_bool(0.5)).collect();
        let t_steps = rng.gen_range(30..50);
        let mut sources = vec![0usize];
        for (l, &on) in labels.iter().enumerate() {
            if on {
                sources.push(1 + l);
            }
        }
        let f = Array2::from_shape_fn((t_steps, N_FEATURES), |(t, j)| {
            let p = sources[t % sources.len()];
            prototype(p)[j] + 0.3 * ((t * 7 + j * 3 + i) % 5) as f32 / 5.0
        });
        for (l, &on) in labels.iter().enumerate() {
            truth[[i, l]] = on;
            let cnn_on = if rng.gen_bool(flip) { !on } else { on };
            probs[[i, l]] = if cnn_on {
                rng.gen_range(0.55..0.99)
            } else {
                rng.gen_range(0.01..0.45)
            };
        }
        ids.push(format!("r{i:03}"));
        features.push(f);
        folds.push(1 + (i as u32 % n_folds));
    }
    EvalData {
        ids,
        features,
        folds,
        cnn: CnnOutputs {
            task: Task::Multilabel,
            names: (0..n_labels).map(|l| format!("L{l}")).collect(),
            values: probs,
        },
        truth: Some(Truth::MultiLabel(truth)),
    }
}

fn settings() -> EvalSettings {
    EvalSettings {
        forest: ForestSettings {
            n_trees: 30,
            seed: 3,
            ..Default::default()
        },
    }
}

#[test]
fn fidelity_high_when_clusters_carry_the_label_and_chance_when_shuffled() {
    let data = synthetic(200, N_PROTOTYPES - 1, 5, 0.05, 1);
    let report = cross_validate(
        &data,
        &TestKMeans::new(N_PROTOTYPES),
        &settings(),
        &NoProgress,
    )
    .unwrap();
    let fid = report.summary.fidelity.unwrap();
    assert_eq!(fid.n, 5);
    // 5 % of the CNN's labels are flipped at random (not linked to clusters): ceiling ~0.95.
    assert!(fid.mean > 0.9, "fidelity {fid:?}");
    // CNN is 95 % right, the forest mimics it: both accuracies near 0.95, AUROC high.
    let forest_acc = report.summary.forest_accuracy.unwrap().mean;
    assert!(forest_acc > 0.88, "forest accuracy {forest_acc}");
    assert!(report.summary.forest_auroc.unwrap().mean > 0.9);
    println!("{}", report.table());

    // Shuffle the CNN outputs across records: the clusters no longer say anything about them.
    let mut shuffled = data.clone();
    let mut order: Vec<usize> = (0..data.ids.len()).collect();
    order.shuffle(&mut Xoshiro256PlusPlus::seed_from_u64(9));
    shuffled.cnn.values = data.cnn.values.select(Axis(0), &order);
    let r2 = cross_validate(
        &shuffled,
        &TestKMeans::new(N_PROTOTYPES),
        &settings(),
        &NoProgress,
    )
    .unwrap();
    let fid2 = r2.summary.fidelity.unwrap().mean;
    // Balanced labels: chance agreement is 0.5.
    println!("fidelity {} -> shuffled {fid2}", fid.mean);
    assert!(fid2 < 0.62, "shuffled fidelity {fid2} should be near 0.5");
}

#[test]
fn no_leakage_into_clusters_or_forest() {
    let data = synthetic(120, 3, 4, 0.05, 2);
    let backend = TestKMeans::new(N_PROTOTYPES);
    let report = cross_validate(&data, &backend, &settings(), &NoProgress).unwrap();
    // Instrumentation: each fold's k-means saw exactly the other folds' tables.
    let seen = backend.seen.lock().unwrap();
    assert_eq!(seen.len(), 4);
    for (f, fold) in report.folds.iter().enumerate() {
        for (i, feat) in data.features.iter().enumerate() {
            let addr = feat as *const _ as usize;
            assert_eq!(
                seen[f].contains(&addr),
                data.folds[i] != fold.fold,
                "record {i}, fold {}",
                fold.fold
            );
        }
        assert_eq!(fold.n_train + fold.n_test, 120);
    }
    // The forest never sees test-fold CNN outputs: changing them (here: inverting every test
    // output of fold 1) leaves fold 1's forest outputs identical, while its fidelity collapses.
    let mut changed = data.clone();
    for i in 0..changed.ids.len() {
        if changed.folds[i] == 1 {
            changed.cnn.values.row_mut(i).mapv_inplace(|p| 1.0 - p);
        }
    }
    let r2 = cross_validate(
        &changed,
        &TestKMeans::new(N_PROTOTYPES),
        &settings(),
        &NoProgress,
    )
    .unwrap();
    for (a, b) in report.records.iter().zip(&r2.records) {
        if a.fold == 1 {
            assert_eq!(a.forest, b.forest, "record {}", a.id);
        }
    }
    assert!(r2.folds[0].fidelity.unwrap() < 0.2);
    assert!(report.folds[0].fidelity.unwrap() > 0.8);
}

/// The leak-free evaluation of fold models: each fold is scored on the data its own fold model
/// gave (asked once per fold, in order); with the same data for every fold it is the plain
/// evaluation; records or folds that differ between fold models are refused.
#[test]
fn fold_models_score_each_fold_on_its_own_models_data() {
    let data = synthetic(120, 3, 4, 0.05, 2);
    let folds = [1, 2, 3, 4];
    let plain = cross_validate(
        &data,
        &TestKMeans::new(N_PROTOTYPES),
        &settings(),
        &NoProgress,
    )
    .unwrap();
    let mut asked = Vec::new();
    let same = cross_validate_fold_models(
        &folds,
        &mut |f| {
            asked.push(f);
            Ok(data.clone())
        },
        &TestKMeans::new(N_PROTOTYPES),
        &settings(),
        &NoProgress,
    )
    .unwrap();
    assert_eq!(asked, folds);
    assert_eq!(same.records.len(), 120);
    for (a, b) in plain.records.iter().zip(&same.records) {
        assert_eq!((&a.id, &a.forest, &a.cnn), (&b.id, &b.forest, &b.cnn));
    }
    // Fold 2's model disagrees with the others on fold 2's records only: only fold 2's
    // fidelity changes, and the records' CNN outputs are each fold model's own.
    let inverted = |fold: u32| {
        let mut d = data.clone();
        if fold == 2 {
            for i in 0..d.ids.len() {
                if d.folds[i] == 2 {
                    d.cnn.values.row_mut(i).mapv_inplace(|p| 1.0 - p);
                }
            }
        }
        d
    };
    let r = cross_validate_fold_models(
        &folds,
        &mut |f| Ok(inverted(f)),
        &TestKMeans::new(N_PROTOTYPES),
        &settings(),
        &NoProgress,
    )
    .unwrap();
    for (a, b) in r.folds.iter().zip(&plain.folds) {
        if a.fold == 2 {
            assert!(a.fidelity.unwrap() < 0.2, "{a:?}");
        } else {
            assert_eq!(a.fidelity, b.fidelity);
        }
    }
    // Another record list from one fold model is an error naming the fold.
    let err = cross_validate_fold_models(
        &folds,
        &mut |f| {
            let mut d = data.clone();
            if f == 3 {
                d.ids[0] = "other".into();
            }
            Ok(d)
        },
        &TestKMeans::new(N_PROTOTYPES),
        &settings(),
        &NoProgress,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("fold 3"), "{err}");
}

/// Which CNN outputs an evaluation uses is decided by the files beside the model: none -> the
/// model's own; an out-of-fold file covering every record -> it; and each of its folds' models
/// too -> the fold models. An out-of-fold file that misses a record is not used.
#[test]
fn the_cnn_source_follows_the_files_beside_the_model() {
    use tlc_explorer::surrogate::prepare::{CnnSource, cnn_source_for};
    let ds = tlc_explorer::synth::SyntheticDataset::new(tlc_explorer::synth::SynthParams {
        n_records: 6,
        ..Default::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.safetensors");
    assert_eq!(cnn_source_for(&model, &ds, 6), CnnSource::Model);
    let ids: Vec<String> = (0..6)
        .map(|i| tlc_explorer::io::Dataset::entry(&ds, i).unwrap().id.clone())
        .collect();
    let oof = dir.path().join("m.oof.csv");
    let write = |rows: &[String]| {
        let mut text = "id,fold,NORM\n".to_string();
        for (i, id) in rows.iter().enumerate() {
            text.push_str(&format!("{id},{},0.5\n", 1 + i % 3));
        }
        std::fs::write(&oof, text).unwrap();
    };
    write(&ids[..5]);
    assert_eq!(
        cnn_source_for(&model, &ds, 6),
        CnnSource::Model,
        "a record is missing"
    );
    write(&ids);
    assert_eq!(
        cnn_source_for(&model, &ds, 6),
        CnnSource::OutOfFold(oof.clone())
    );
    for fold in 1..=2 {
        std::fs::write(dir.path().join(format!("m.fold{fold}.safetensors")), b"x").unwrap();
    }
    assert_eq!(
        cnn_source_for(&model, &ds, 6),
        CnnSource::OutOfFold(oof.clone()),
        "fold 3's model is missing"
    );
    std::fs::write(dir.path().join("m.fold3.safetensors"), b"x").unwrap();
    assert_eq!(
        cnn_source_for(&model, &ds, 6),
        CnnSource::FoldModels { oof: oof.clone() }
    );
    assert!(
        CnnSource::FoldModels { oof }
            .describe()
            .contains("leak-free")
    );
}

#[test]
fn without_labels_fidelity_only() {
    let mut data = synthetic(60, 2, 3, 0.05, 3);
    data.truth = None;
    let report = cross_validate(
        &data,
        &TestKMeans::new(N_PROTOTYPES),
        &settings(),
        &NoProgress,
    )
    .unwrap();
    assert!(!report.labelled);
    assert!(report.summary.fidelity.is_some());
    assert!(report.summary.cnn_accuracy.is_none() && report.summary.forest_auroc.is_none());
    assert!(
        report
            .folds
            .iter()
            .all(|f| f.cnn.is_none() && f.forest.is_none())
    );
    assert!(report.table().contains("fidelity only"));
    // Audit without labels lists forest-vs-CNN disagreements only.
    let rows = audit(&report, None, &AuditSettings::default()).unwrap();
    assert!(rows.iter().all(|r| r.label.is_none()));
}

#[test]
fn fold_without_positives_gives_undefined_auroc() {
    let mut data = synthetic(60, 2, 3, 0.05, 4);
    let Some(Truth::MultiLabel(t)) = &mut data.truth else {
        unreachable!()
    };
    for i in 0..60 {
        if data.folds[i] == 2 {
            t[[i, 1]] = false;
        }
    }
    let report = cross_validate(
        &data,
        &TestKMeans::new(N_PROTOTYPES),
        &settings(),
        &NoProgress,
    )
    .unwrap();
    let fold2 = report.folds.iter().find(|f| f.fold == 2).unwrap();
    assert_eq!(fold2.cnn.as_ref().unwrap().per_class_auroc[1], None);
    assert_eq!(fold2.forest.as_ref().unwrap().per_class_auroc[1], None);
    // The macro AUROC of that fold uses the defined label only, the summary counts 2 folds for
    // label 1.
    assert!(fold2.cnn.as_ref().unwrap().auroc_macro.is_some());
    assert_eq!(report.summary.per_class[1].cnn_auroc.unwrap().n, 2);
    let json = serde_json::to_string(&report).unwrap();
    assert!(!json.contains("NaN"));
    let dir = tempfile::tempdir().unwrap();
    report.write_csv(&dir.path().join("r.csv")).unwrap();
    report.write_json(&dir.path().join("r.json")).unwrap();
    let csv = std::fs::read_to_string(dir.path().join("r.csv")).unwrap();
    assert!(
        csv.contains("2,L1,auroc,cnn,\n"),
        "undefined is an empty value"
    );
}

#[test]
fn bad_input_is_an_error() {
    let mut data = synthetic(30, 2, 3, 0.0, 5);
    data.folds = vec![1; 30];
    assert!(cross_validate(&data, &TestKMeans::new(3), &settings(), &NoProgress).is_err());
    let mut data = synthetic(30, 2, 3, 0.0, 5);
    data.features.pop();
    assert!(cross_validate(&data, &TestKMeans::new(3), &settings(), &NoProgress).is_err());
    let mut data = synthetic(30, 2, 3, 0.0, 5);
    data.truth = Some(Truth::MultiClass(vec![0; 30]));
    assert!(cross_validate(&data, &TestKMeans::new(3), &settings(), &NoProgress).is_err());
    // A backend failure names the fold.
    let data = synthetic(30, 2, 3, 0.0, 5);
    let err =
        cross_validate(&data, &TestKMeans::new(100_000), &settings(), &NoProgress).unwrap_err();
    assert!(err.to_string().contains("fold 1"), "{err}");
}

#[test]
fn regression_and_multiclass_surrogates() {
    // Regression: the CNN's output is a weighted sum of the label-linked clusters' presence.
    let data = synthetic(120, 3, 4, 0.0, 6);
    let Some(Truth::MultiLabel(t)) = &data.truth else {
        unreachable!()
    };
    let values = Array2::from_shape_fn((120, 1), |(i, _)| {
        20.0 + 10.0 * t[[i, 0]] as u8 as f32 + 25.0 * t[[i, 2]] as u8 as f32
    });
    let mut reg = data.clone();
    reg.cnn = CnnOutputs {
        task: Task::Regression,
        names: vec!["age".into()],
        values: values.clone(),
    };
    reg.truth = Some(Truth::Regression(values.mapv(|v| v + 1.0)));
    let s = EvalSettings {
        forest: ForestSettings {
            n_trees: 30,
            ..ForestSettings::regression_default()
        },
    };
    let report = cross_validate(&reg, &TestKMeans::new(N_PROTOTYPES), &s, &NoProgress).unwrap();
    assert!(
        report.summary.fidelity.unwrap().mean > 0.9,
        "R2 forest vs CNN"
    );
    let mae = report.summary.cnn_mae.unwrap().mean;
    assert!((mae - 1.0).abs() < 1e-4, "CNN MAE {mae}");

    // Multiclass: class = label 0 + 2 * label 1 (4 classes), CNN exact.
    let mut mc = data.clone();
    let classes: Vec<usize> = (0..120)
        .map(|i| t[[i, 0]] as usize + 2 * t[[i, 1]] as usize)
        .collect();
    let raw = Array2::from_shape_fn((120, 4), |(i, c)| if classes[i] == c { 3.0 } else { 0.0 });
    mc.cnn = CnnOutputs::from_raw(
        Task::Multiclass,
        (0..4).map(|c| format!("C{c}")).collect(),
        raw,
    );
    mc.truth = Some(Truth::MultiClass(classes));
    let report = cross_validate(
        &mc,
        &TestKMeans::new(N_PROTOTYPES),
        &settings(),
        &NoProgress,
    )
    .unwrap();
    assert!(report.summary.fidelity.unwrap().mean > 0.9);
    assert!((report.summary.cnn_accuracy.unwrap().mean - 1.0).abs() < 1e-12);
}

#[test]
fn cohort_k_sweep_and_audit() {
    let data = synthetic(90, 2, 3, 0.1, 7);
    let backend = TestKMeans::new(N_PROTOTYPES);
    let model = backend
        .fit(&data.features.iter().collect::<Vec<_>>(), &NoProgress)
        .unwrap();
    let assigned: Vec<Assignment> = data
        .features
        .iter()
        .map(|f| backend.assign(&model, f).unwrap())
        .collect();
    let props = Array2::from_shape_fn((90, N_PROTOTYPES), |(i, k)| assigned[i].proportions[k]);
    let entropy: Vec<f32> = assigned.iter().map(|a| a.mean_entropy).collect();
    let stats = cohort_stats(props.view(), &entropy, &data.cnn, data.truth.as_ref()).unwrap();
    // Each label has one cluster present only in its records: some cluster correlates strongly.
    for l in 0..2 {
        let best = (0..N_PROTOTYPES)
            .filter_map(|k| stats.correlation[k][l])
            .fold(f32::MIN, f32::max);
        assert!(best > 0.6, "label {l}: best correlation {best}");
    }
    let sweep = k_sweep(&data, &[2, 5], TestKMeans::new, &settings(), &NoProgress).unwrap();
    assert_eq!(sweep.points.len(), 2);
    // With 2 clusters the label-specific prototypes cannot all be told apart.
    assert!(sweep.points[1].fidelity.unwrap().mean > sweep.points[0].fidelity.unwrap().mean);

    let report = cross_validate(&data, &backend, &settings(), &NoProgress).unwrap();
    let rows = audit(
        &report,
        data.truth.as_ref(),
        &AuditSettings { top: Some(5) },
    )
    .unwrap();
    assert!(!rows.is_empty() && rows.len() <= 5);
    assert!(rows.windows(2).all(|w| w[0].score >= w[1].score));
    // 10 % flipped CNN labels that the forest copies show up as suspected label errors.
    assert!(
        rows.iter()
            .any(|r| r.kind == tlc_explorer::surrogate::Disagreement::Label
                || r.kind == tlc_explorer::surrogate::Disagreement::Cnn)
    );
}

#[test]
fn tlc_backend_reproduces_the_cluster_label_link() {
    // The production backend (crate::tlc standardisation + k-means + soft assignment) on the
    // same synthetic records: fidelity high, proportions sum to one, entropy in [0, 1].
    use tlc_explorer::surrogate::TlcBackend;
    use tlc_explorer::tlc::ClusterSettings;
    let data = synthetic(120, 3, 4, 0.0, 11);
    let backend = TlcBackend {
        settings: ClusterSettings {
            k: N_PROTOTYPES,
            n_init: 2,
            ..Default::default()
        },
    };
    let report = cross_validate(&data, &backend, &settings(), &NoProgress).unwrap();
    assert!(
        report.summary.fidelity.unwrap().mean > 0.9,
        "{}",
        report.table()
    );
    for r in &report.records {
        assert!((r.proportions.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        assert!((0.0..=1.0).contains(&r.mean_entropy));
    }
}

#[test]
fn ptbxl_ten_fold_evaluation_with_the_bundled_model() {
    // The paper's table on real data: all 500 PTB-XL records, their 10 strat_folds, the bundled
    // PTB-XL model's out-of-fold predictions, clusters refitted per fold (K = 8).
    use tlc_explorer::dsp::PreprocessSettings;
    use tlc_explorer::io::{OpenOptions, PtbxlRate, open_dataset_with};
    use tlc_explorer::model::LoadedModel;
    use tlc_explorer::surrogate::TlcBackend;
    use tlc_explorer::surrogate::data::dataset_truth;
    use tlc_explorer::surrogate::oof::OofPredictions;
    use tlc_explorer::tlc::ClusterSettings;
    use tlc_explorer::tlc::features::FeatureSettings;
    use tlc_explorer::tlc::pipeline::dataset_features;

    let Some(dir) = common::data("ptbxl") else {
        return;
    };
    let weights = tlc_explorer::paths::ptbxl_model();
    let oof_path = weights.with_file_name("ptbxl_resnet.oof.csv");
    if !weights.exists() || !oof_path.exists() {
        eprintln!(
            "SKIPPED: {} (and its .oof.csv) not bundled yet",
            weights.display()
        );
        return;
    }
    let model = LoadedModel::open(&weights).unwrap();
    let ds = open_dataset_with(
        &dir,
        &OpenOptions {
            ptbxl_rate: PtbxlRate::Hz100,
        },
    )
    .unwrap();
    let indices: Vec<usize> = (0..ds.len()).collect();
    let feats = dataset_features(
        &model,
        &FeatureSettings::default(),
        ds.as_ref(),
        &indices,
        &PreprocessSettings::default(),
        &NoProgress,
    )
    .unwrap();
    let ids: Vec<String> = indices
        .iter()
        .map(|&i| ds.entry(i).unwrap().id.clone())
        .collect();
    let names = model.config.class_names.clone();
    let (values, folds) = OofPredictions::read(&oof_path)
        .unwrap()
        .aligned(&oof_path, &ids, &names)
        .unwrap();
    let data = EvalData {
        ids,
        features: feats.into_iter().map(|f| f.features).collect(),
        folds,
        cnn: CnnOutputs {
            task: Task::Multilabel,
            names: names.clone(),
            values,
        },
        truth: dataset_truth(ds.as_ref(), &indices, &names, Task::Multilabel).unwrap(),
    };
    let backend = TlcBackend {
        settings: ClusterSettings {
            n_init: 2,
            ..Default::default()
        },
    };
    let report = cross_validate(&data, &backend, &EvalSettings::default(), &NoProgress).unwrap();
    println!("{}", report.table());
    assert_eq!(report.folds.len(), 10);
    // Measured 93.0 +- 2.2 % fidelity, forest macro AUROC 80.7 % (README); shuffled labels
    // would give ~70-80 % agreement (label prevalence) and AUROC ~50 %.
    let s = &report.summary;
    assert!(s.fidelity.unwrap().mean > 0.88, "fidelity {:?}", s.fidelity);
    assert!(
        s.forest_auroc.unwrap().mean > 0.72,
        "forest AUROC {:?}",
        s.forest_auroc
    );
    assert!(s.forest_accuracy.unwrap().mean > 0.8);
}
