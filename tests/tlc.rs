//! TLC maths against the PyTorch / scikit-learn golden fixture, k-means behaviour, the explainer
//! file, and the pipeline on synthetic ECGs.

mod common;

use ndarray::{Array2, ArrayD, Axis, Ix1, Ix2, Ix3};
use tlc_explorer::progress::NoProgress;
use tlc_explorer::tlc::assign::{assign, proportions};
use tlc_explorer::tlc::cluster::{
    ClusterModel, ClusterSettings, fit_clusters, median_nearest_sq_dist, standardisation,
};
use tlc_explorer::tlc::features::{Alignment, features_from_blocks};
use tlc_explorer::tlc::gradcam::{min_max_normalise, upsample_linear, weighted_relu};
use tlc_explorer::tlc::tensorfile::TensorFile;

use common::rel_err;

fn open(name: &str) -> Option<TensorFile> {
    common::fixture(name).map(|p| TensorFile::open(&p).expect("fixture opens"))
}

fn arr3(t: &TensorFile, name: &str) -> ndarray::Array3<f32> {
    t.f32(name).unwrap().into_dimensionality::<Ix3>().unwrap()
}

fn flat(a: &ArrayD<f32>) -> Vec<f32> {
    a.iter().copied().collect()
}

/// My (T, F) features of each fixture record from the fixture's block outputs.
fn fixture_features(expected: &TensorFile) -> Vec<Array2<f32>> {
    let b2 = arr3(expected, "resblock1d_2_out");
    let b3 = arr3(expected, "resblock1d_3_out");
    let b4 = arr3(expected, "resblock1d_4_out");
    (0..b2.shape()[0])
        .map(|b| {
            let blocks = [
                b2.index_axis(Axis(0), b).to_owned(),
                b3.index_axis(Axis(0), b).to_owned(),
                b4.index_axis(Axis(0), b).to_owned(),
            ];
            features_from_blocks(&blocks, Alignment::Nearest).unwrap()
        })
        .collect()
}

fn fixture_cluster_model(km: &TensorFile) -> ClusterModel {
    let centroids = km
        .f32("centroids")
        .unwrap()
        .into_dimensionality::<Ix2>()
        .unwrap();
    ClusterModel {
        mean: km
            .f32("mean")
            .unwrap()
            .into_dimensionality::<Ix1>()
            .unwrap(),
        std: km.f32("std").unwrap().into_dimensionality::<Ix1>().unwrap(),
        temperature: km
            .f32("temperature")
            .unwrap()
            .iter()
            .copied()
            .next()
            .unwrap(),
        centroids,
        inertia: 0.0,
        n_time_steps: 1024,
    }
}

#[test]
fn features_match_the_fixture() {
    let Some(expected) = open("expected.safetensors") else {
        return;
    };
    let mine = fixture_features(&expected);
    let reference = arr3(&expected, "features"); // (B, 772, 256)
    for (b, f) in mine.iter().enumerate() {
        assert_eq!(f.dim(), (256, 772));
        let r = reference.index_axis(Axis(0), b).t().to_owned();
        let err = rel_err(
            f.as_slice().unwrap(),
            &r.iter().copied().collect::<Vec<_>>(),
        );
        assert!(err < 1e-4, "record {b}: rel err {err}");
    }
}

#[test]
fn standardisation_matches_the_fixture() {
    let (Some(expected), Some(km)) = (
        open("expected.safetensors"),
        open("kmeans_fixture.safetensors"),
    ) else {
        return;
    };
    let feats = fixture_features(&expected);
    let views: Vec<_> = feats.iter().map(|f| f.view()).collect();
    let all = ndarray::concatenate(Axis(0), &views).unwrap();
    let (mean, std) = standardisation(all.view());
    let ref_mean = flat(&km.f32("mean").unwrap());
    let ref_std = flat(&km.f32("std").unwrap());
    assert!(rel_err(mean.as_slice().unwrap(), &ref_mean) < 1e-4);
    assert!(rel_err(std.as_slice().unwrap(), &ref_std) < 1e-4);
    // The fixture's temperature is the median nearest squared distance of its fitting steps.
    let model = fixture_cluster_model(&km);
    let z = model.standardise(all.view()).unwrap();
    let tau = median_nearest_sq_dist(z.view(), model.centroids.view());
    assert!(
        ((tau - model.temperature) / model.temperature).abs() < 1e-4,
        "{tau} vs {}",
        model.temperature
    );
}

#[test]
fn assignment_entropy_labels_and_proportions_match_the_fixture() {
    let (Some(expected), Some(km)) = (
        open("expected.safetensors"),
        open("kmeans_fixture.safetensors"),
    ) else {
        return;
    };
    let feats = fixture_features(&expected);
    let model = fixture_cluster_model(&km);
    let sq = arr3(&km, "sq_dists");
    let soft = arr3(&km, "soft");
    let entropy = km
        .f32("entropy")
        .unwrap()
        .into_dimensionality::<Ix2>()
        .unwrap();
    let props = km
        .f32("proportions")
        .unwrap()
        .into_dimensionality::<Ix2>()
        .unwrap();
    let labels = km
        .i64("labels")
        .unwrap()
        .into_dimensionality::<Ix2>()
        .unwrap();
    for (b, f) in feats.iter().enumerate() {
        let a = assign(f.view(), &model).unwrap();
        let rs = |x: &Array2<f32>, r: ndarray::ArrayView2<f32>| {
            rel_err(
                &x.iter().copied().collect::<Vec<_>>(),
                &r.iter().copied().collect::<Vec<_>>(),
            )
        };
        assert!(
            rs(&a.sq_dists, sq.index_axis(Axis(0), b)) < 1e-4,
            "sq_dists {b}"
        );
        assert!(rs(&a.soft, soft.index_axis(Axis(0), b)) < 1e-4, "soft {b}");
        let e = rel_err(a.entropy.as_slice().unwrap(), &entropy.row(b).to_vec());
        assert!(e < 1e-4, "entropy {b}: {e}");
        let ref_labels: Vec<usize> = labels.row(b).iter().map(|&l| l as usize).collect();
        assert_eq!(a.labels, ref_labels, "labels of record {b}");
        let p = proportions(&a.labels, model.k(), 0..256);
        assert!(
            rel_err(&p, &props.row(b).to_vec()) < 1e-4,
            "proportions {b}"
        );
    }
}

#[test]
fn kmeans_on_the_fixture_features_is_as_good_as_sklearn() {
    let (Some(expected), Some(km)) = (
        open("expected.safetensors"),
        open("kmeans_fixture.safetensors"),
    ) else {
        return;
    };
    let feats = fixture_features(&expected);
    let sk_inertia: f64 = km
        .f32("sq_dists")
        .unwrap()
        .lanes(Axis(2))
        .into_iter()
        .map(|r| r.iter().copied().fold(f32::INFINITY, f32::min) as f64)
        .sum();
    let mine = fit_clusters(&feats, &ClusterSettings::default(), &NoProgress).unwrap();
    assert_eq!(mine.centroids.dim(), (8, 772));
    eprintln!("inertia: mine {} scikit-learn {}", mine.inertia, sk_inertia);
    assert!(
        mine.inertia <= sk_inertia * 1.02,
        "inertia {} vs scikit-learn {}",
        mine.inertia,
        sk_inertia
    );
}

#[test]
fn gradcam_lowres_and_map_match_the_fixture() {
    let Some(expected) = open("expected.safetensors") else {
        return;
    };
    let act = arr3(&expected, "resblock1d_4_out");
    let weights = expected
        .f32("gradcam_class0_weights")
        .unwrap()
        .into_dimensionality::<Ix2>()
        .unwrap();
    let lowres = expected
        .f32("gradcam_class0_lowres")
        .unwrap()
        .into_dimensionality::<Ix2>()
        .unwrap();
    let map = expected
        .f32("gradcam_class0")
        .unwrap()
        .into_dimensionality::<Ix2>()
        .unwrap();
    for b in 0..act.shape()[0] {
        let w = weights.row(b).to_vec();
        let lr = weighted_relu(act.index_axis(Axis(0), b), &w);
        assert!(rel_err(&lr, &lowres.row(b).to_vec()) < 1e-4, "lowres {b}");
        let m = min_max_normalise(&upsample_linear(&lr, 4096));
        assert!(rel_err(&m, &map.row(b).to_vec()) < 1e-4, "map {b}");
    }
}

/// Well separated Gaussian blobs in 5 dimensions, as records of 50 steps.
fn blobs(seed: u64) -> (Vec<Array2<f32>>, Vec<usize>) {
    use rand::{Rng, SeedableRng};
    use rand_distr::StandardNormal;
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
    let centres = [
        [0.0f32, 0.0, 0.0, 0.0, 0.0],
        [20.0, 0.0, 0.0, 0.0, 0.0],
        [0.0, 20.0, 0.0, 5.0, 0.0],
        [0.0, 0.0, 20.0, 0.0, -9.0],
    ];
    let mut truth = Vec::new();
    let mut records = Vec::new();
    for _ in 0..8 {
        let mut r = Array2::<f32>::zeros((50, 5));
        for t in 0..50 {
            let c = rng.gen_range(0..centres.len());
            truth.push(c);
            for j in 0..5 {
                let noise: f32 = rng.sample(StandardNormal);
                r[[t, j]] = centres[c][j] + noise;
            }
        }
        records.push(r);
    }
    (records, truth)
}

/// The clustering is a relabelling of the truth: each found cluster holds one true blob.
fn assert_recovers(labels: &[usize], truth: &[usize], k: usize) {
    let mut map = vec![None; k];
    for (&l, &t) in labels.iter().zip(truth) {
        match map[l] {
            None => map[l] = Some(t),
            Some(m) => assert_eq!(m, t, "cluster {l} mixes blobs {m} and {t}"),
        }
    }
    let mut seen: Vec<usize> = map.iter().flatten().copied().collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), k, "every blob has its own cluster");
}

#[test]
fn kmeans_recovers_separated_blobs_and_is_deterministic() {
    let (records, truth) = blobs(3);
    let settings = ClusterSettings {
        k: 4,
        ..Default::default()
    };
    let model = fit_clusters(&records, &settings, &NoProgress).unwrap();
    let labels: Vec<usize> = records
        .iter()
        .flat_map(|r| assign(r.view(), &model).unwrap().labels)
        .collect();
    assert_recovers(&labels, &truth, 4);
    let again = fit_clusters(&records, &settings, &NoProgress).unwrap();
    assert_eq!(model, again, "the same seed gives bitwise the same model");

    // Mini-batch (linfa's incremental k-means) finds them too.
    let mb = ClusterSettings {
        k: 4,
        minibatch: Some(64),
        ..Default::default()
    };
    let model = fit_clusters(&records, &mb, &NoProgress).unwrap();
    let labels: Vec<usize> = records
        .iter()
        .flat_map(|r| assign(r.view(), &model).unwrap().labels)
        .collect();
    assert_recovers(&labels, &truth, 4);

    // A budget below the corpus size subsamples.
    let sub = ClusterSettings {
        k: 4,
        max_time_steps: Some(100),
        ..Default::default()
    };
    let model = fit_clusters(&records, &sub, &NoProgress).unwrap();
    assert_eq!(model.n_time_steps, 100);
}

#[test]
fn bad_cluster_settings_give_clear_errors() {
    let (records, _) = blobs(1);
    let zero = ClusterSettings {
        k: 0,
        ..Default::default()
    };
    let err = fit_clusters(&records, &zero, &NoProgress)
        .unwrap_err()
        .to_string();
    assert!(err.contains("k = 0"), "{err}");
    let many = ClusterSettings {
        k: 401,
        ..Default::default()
    };
    let err = fit_clusters(&records, &many, &NoProgress)
        .unwrap_err()
        .to_string();
    assert!(err.contains("401") && err.contains("400"), "{err}");
    let err = fit_clusters(&[], &ClusterSettings::default(), &NoProgress)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no records"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// With the model: the golden fixture's network, explainer files, the pipeline.

use tlc_explorer::model::LoadedModel;
use tlc_explorer::tlc::explainer::{Explainer, FitDescription};
use tlc_explorer::tlc::features::FeatureSettings;
use tlc_explorer::tlc::fit::{FitSettings, fit_explainer};
use tlc_explorer::tlc::pipeline::{ExplainSettings, GradCamOutput, GradCamTarget, explain_record};
use tlc_explorer::{Ecg, EcgMeta, LeadName};

fn fixture_model() -> Option<LoadedModel> {
    let weights = common::fixture("resnet_fixture.safetensors")?;
    let config = common::fixture("model_config.json")?;
    Some(LoadedModel::open_with_config(&weights, &config).expect("fixture model opens"))
}

/// The fixture explainer (its k-means) for the fixture model.
fn fixture_explainer(model: &LoadedModel, km: &TensorFile) -> Explainer {
    let fit = FitDescription {
        dataset: "golden fixture".into(),
        n_records: 4,
        n_time_steps: 1024,
        n_time_steps_seen: 1024,
        seed: 0,
        settings: ClusterSettings::default(),
        inertia: 0.0,
        date: "2026-11-22T00:00:00Z".into(),
    };
    Explainer::from_clusters(
        "fixture",
        model.name.clone(),
        model.sha256.clone(),
        model.config.clone(),
        model.config.preprocessing(),
        FeatureSettings::default(),
        fixture_cluster_model(km),
        fit,
    )
    .unwrap()
}

/// Fixture input `b` as a 400 Hz record of exactly the model's length (prepare leaves it as is).
fn fixture_ecg(input: &TensorFile, b: usize) -> Ecg {
    let x = arr3(input, "input");
    let meta = EcgMeta {
        id: format!("fixture_{b}"),
        ..Default::default()
    };
    Ecg::new(
        LeadName::standard_12(),
        400.0,
        x.index_axis(Axis(0), b).to_owned(),
        meta,
    )
    .unwrap()
}

#[test]
fn pipeline_reproduces_the_fixture_with_the_model() {
    let (Some(model), Some(input), Some(expected), Some(km)) = (
        fixture_model(),
        open("input.safetensors"),
        open("expected.safetensors"),
        open("kmeans_fixture.safetensors"),
    ) else {
        return;
    };
    let explainer = fixture_explainer(&model, &km);
    let labels = km
        .i64("labels")
        .unwrap()
        .into_dimensionality::<Ix2>()
        .unwrap();
    let entropy = km
        .f32("entropy")
        .unwrap()
        .into_dimensionality::<Ix2>()
        .unwrap();
    let cam = expected
        .f32("gradcam_class0")
        .unwrap()
        .into_dimensionality::<Ix2>()
        .unwrap();
    let cam_w = expected
        .f32("gradcam_class0_weights")
        .unwrap()
        .into_dimensionality::<Ix2>()
        .unwrap();
    let logits = expected
        .f32("logits")
        .unwrap()
        .into_dimensionality::<Ix2>()
        .unwrap();
    let settings = ExplainSettings {
        gradcam: Some(GradCamTarget {
            output: GradCamOutput::Index(0),
            block: None,
        }),
        ..Default::default()
    };
    for b in [0, 3] {
        let e = explain_record(&model, &explainer, &fixture_ecg(&input, b), &settings).unwrap();
        assert!(rel_err(&e.prediction.raw, &logits.row(b).to_vec()) < 1e-4);
        let ref_labels: Vec<usize> = labels.row(b).iter().map(|&l| l as usize).collect();
        assert_eq!(e.labels, ref_labels, "labels of record {b}");
        assert!(rel_err(&e.entropy, &entropy.row(b).to_vec()) < 1e-4);
        let g = e.gradcam.as_ref().unwrap();
        assert_eq!(
            (g.output_index, g.block, g.output_name.as_str()),
            (0, 4, "NORM")
        );
        assert!(
            rel_err(&g.weights, &cam_w.row(b).to_vec()) < 1e-4,
            "Grad-CAM weights {b}"
        );
        assert!(
            rel_err(&g.map, &cam.row(b).to_vec()) < 1e-4,
            "Grad-CAM map {b}"
        );
        // No padding: every step is valid, segments tile the record.
        assert_eq!(e.valid_steps, (0, 256));
        assert_eq!(e.segments.first().unwrap().start_sample, 0);
        assert_eq!(e.segments.last().unwrap().end_sample, 4096);
        let covered: usize = e.segments.iter().map(|s| s.end_step - s.start_step).sum();
        assert_eq!(covered, 256);
        assert!((e.proportions.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert!(e.entropy_gradcam_correlation.is_some());
    }
    // Default target: the top predicted output.
    let e = explain_record(
        &model,
        &explainer,
        &fixture_ecg(&input, 1),
        &ExplainSettings::default(),
    )
    .unwrap();
    let top = (0..5).fold(0, |b, i| {
        if logits[[1, i]] > logits[[1, b]] {
            i
        } else {
            b
        }
    });
    let default_cam = e.gradcam.unwrap();
    assert_eq!(default_cam.output_index, top);
    // Choosing the output inside the pass (one forward, one backward) gives exactly what naming
    // that output up front gives.
    let named = ExplainSettings {
        gradcam: Some(GradCamTarget {
            output: GradCamOutput::Index(top),
            block: None,
        }),
        ..Default::default()
    };
    let e = explain_record(&model, &explainer, &fixture_ecg(&input, 1), &named).unwrap();
    let named_cam = e.gradcam.unwrap();
    assert!(rel_err(&default_cam.weights, &named_cam.weights) < 1e-6);
    assert!(rel_err(&default_cam.map, &named_cam.map) < 1e-6);
}

#[test]
fn explainer_round_trips_and_refuses_another_model() {
    let (Some(model), Some(km)) = (fixture_model(), open("kmeans_fixture.safetensors")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fx.explainer.safetensors");
    let mut explainer = fixture_explainer(&model, &km);
    explainer.cluster_descriptions[2] = Some(tlc_explorer::tlc::ClusterDescription {
        dominant_segment: "QRS".into(),
        purity: 0.8,
        mean_offset_from_r_s: Some(0.01),
        prototype: Some(vec![0.0, 1.0, 0.5]),
        prototype_fs_hz: Some(400.0),
    });
    explainer.save(&path, false).unwrap();
    assert!(dir.path().join("fx.explainer.json").exists());
    let back = Explainer::load(&path).unwrap();
    assert_eq!(back, explainer);
    // No silent overwrite.
    let err = explainer.save(&path, false).unwrap_err().to_string();
    assert!(err.contains("already exists"), "{err}");
    explainer.save(&path, true).unwrap();
    back.check_model(&model).unwrap();
    // Another model (different weights hash) is refused, naming both.
    let mut other = fixture_explainer(&model, &km);
    other.model_name = "other_model".into();
    other.model_sha256 = "ab".repeat(32);
    let err = other.check_model(&model).unwrap_err().to_string();
    assert!(
        err.contains("other_model") && err.contains(&model.name),
        "{err}"
    );
    assert!(err.contains(&model.sha256), "{err}");
    // A damaged array file is caught.
    std::fs::write(&path, b"not safetensors").unwrap();
    assert!(Explainer::load(&path).is_err());
}

#[test]
fn explainers_with_non_finite_values_are_refused_on_load() {
    let (Some(model), Some(km)) = (fixture_model(), open("kmeans_fixture.safetensors")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let good = fixture_explainer(&model, &km);
    for (what, tensor, index) in [
        ("centroid", "centroids", 3usize),
        ("mean", "mean", 5),
        ("std", "std", 0),
    ] {
        // Saving refuses such an explainer...
        let mut explainer = good.clone();
        match what {
            "centroid" => explainer.centroids[[1, index]] = f32::NAN,
            "mean" => explainer.mean[index] = f32::INFINITY,
            _ => explainer.std[index] = f32::NAN,
        }
        let path = dir.path().join(format!("bad_{what}.explainer.safetensors"));
        let err = tlc_explorer::error_text::describe(&explainer.save(&path, false).unwrap_err());
        assert!(err.contains(what) && err.contains("not finite"), "{err}");
        // ...and loading refuses a file whose arrays were altered afterwards (hash updated).
        good.save(&path, true).unwrap();
        let mut arrays = candle_core::safetensors::load(&path, &candle_core::Device::Cpu).unwrap();
        let t = &arrays[tensor];
        let mut values = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        values[index] = f32::NAN;
        let poisoned =
            candle_core::Tensor::from_vec(values, t.dims(), &candle_core::Device::Cpu).unwrap();
        arrays.insert(tensor.to_string(), poisoned);
        candle_core::safetensors::save(&arrays, &path).unwrap();
        let json_path = Explainer::file_paths(&path).1;
        let mut json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
        use sha2::Digest;
        json["arrays_sha256"] =
            hex::encode(sha2::Sha256::digest(std::fs::read(&path).unwrap())).into();
        std::fs::write(&json_path, json.to_string()).unwrap();
        let err = tlc_explorer::error_text::describe(&Explainer::load(&path).unwrap_err());
        assert!(err.contains(what) && err.contains("not finite"), "{err}");
        assert!(
            err.contains(&format!("bad_{what}")),
            "names the file: {err}"
        );
    }
}

/// Steps (on the model's time axis) inside each ground-truth QRS of a synthetic record.
fn qrs_steps(
    rec: &tlc_explorer::synth::SyntheticRecord,
    e: &tlc_explorer::tlc::Explanation,
) -> Vec<usize> {
    let fs = rec.ecg.fs_hz;
    let mut steps = Vec::new();
    for (t, &centre_s) in e.step_times_s.iter().enumerate() {
        if t < e.valid_steps.0 || t >= e.valid_steps.1 {
            continue;
        }
        let sample = centre_s * fs;
        if rec
            .beats
            .iter()
            .any(|b| sample >= b.qrs.onset as f64 && sample <= b.qrs.offset as f64)
        {
            steps.push(t);
        }
    }
    steps
}

#[test]
fn qrs_time_steps_fall_mostly_in_one_or_two_clusters() {
    let Some(model) = fixture_model() else { return };
    use tlc_explorer::synth::{SynthParams, SyntheticDataset};
    let params = SynthParams {
        n_records: 12,
        seed: 5,
        ..Default::default()
    };
    let data = SyntheticDataset::new(params).unwrap();
    let settings = FitSettings {
        clusters: ClusterSettings {
            k: 6,
            ..Default::default()
        },
        ..Default::default()
    };
    let indices: Vec<usize> = (0..8).collect();
    let explainer = fit_explainer(&model, &data, &indices, &settings, &NoProgress).unwrap();
    assert_eq!(explainer.fit.n_records, 8);
    assert_eq!(explainer.centroids.dim(), (6, 772));
    // Records not used for fitting.
    let mut counts = vec![0usize; 6];
    let mut n_qrs = 0;
    for i in 8..12 {
        let rec = data.generate(i).unwrap();
        let e = explain_record(&model, &explainer, &rec.ecg, &ExplainSettings::default()).unwrap();
        for t in qrs_steps(&rec, &e) {
            counts[e.labels[t]] += 1;
            n_qrs += 1;
        }
    }
    counts.sort_unstable_by(|a, b| b.cmp(a));
    let top_two = (counts[0] + counts[1]) as f64 / n_qrs as f64;
    eprintln!("QRS steps per cluster (sorted) {counts:?}; top two hold {top_two:.3}");
    assert!(n_qrs > 50);
    assert!(top_two >= 0.7, "QRS steps spread over clusters: {counts:?}");
}

#[test]
fn fit_explainer_is_deterministic_and_cancellable() {
    let Some(model) = fixture_model() else { return };
    use tlc_explorer::progress::{Progress, ProgressSink};
    use tlc_explorer::synth::{SynthParams, SyntheticDataset};
    let data = SyntheticDataset::new(SynthParams {
        n_records: 3,
        seed: 9,
        ..Default::default()
    })
    .unwrap();
    let settings = FitSettings {
        clusters: ClusterSettings {
            k: 4,
            max_time_steps: Some(500),
            ..Default::default()
        },
        ..Default::default()
    };
    let a = fit_explainer(&model, &data, &[0, 1, 2], &settings, &NoProgress).unwrap();
    let b = fit_explainer(&model, &data, &[0, 1, 2], &settings, &NoProgress).unwrap();
    assert_eq!(a.fit.n_time_steps, 500);
    assert_eq!(a.fit.n_time_steps_seen, 750);
    assert_eq!(
        (a.centroids.clone(), a.mean.clone(), a.std.clone()),
        (b.centroids, b.mean, b.std)
    );
    assert_eq!(a.temperature.to_bits(), b.temperature.to_bits());

    // The progress of the whole fit runs once from 0 to 1 over its two stages (features, then
    // k-means), never back: what the app's progress bar shows.
    #[derive(Default)]
    struct Fractions(std::sync::Mutex<Vec<(String, f32)>>);
    impl ProgressSink for Fractions {
        fn report(&self, p: Progress) {
            if let Some(f) = p.fraction() {
                self.0.lock().unwrap().push((p.stage, f));
            }
        }
        fn is_cancelled(&self) -> bool {
            false
        }
    }
    let seen = Fractions::default();
    fit_explainer(&model, &data, &[0, 1, 2], &settings, &seen).unwrap();
    let seen = seen.0.into_inner().unwrap();
    let stages: std::collections::BTreeSet<&str> = seen.iter().map(|(s, _)| s.as_str()).collect();
    assert!(stages.len() >= 2, "features and k-means report: {stages:?}");
    assert!(
        seen.windows(2).all(|w| w[1].1 >= w[0].1),
        "the fraction goes back: {seen:?}"
    );
    assert_eq!(seen.last().map(|(_, f)| *f), Some(1.0), "{seen:?}");

    struct CancelAtKMeans;
    impl ProgressSink for CancelAtKMeans {
        fn report(&self, _p: Progress) {}
        fn is_cancelled(&self) -> bool {
            true
        }
    }
    let err = fit_explainer(&model, &data, &[0, 1, 2], &settings, &CancelAtKMeans).unwrap_err();
    assert!(
        matches!(err, tlc_explorer::tlc::TlcError::Cancelled),
        "{err}"
    );
    let err = fit_explainer(&model, &data, &[], &settings, &NoProgress).unwrap_err();
    assert!(
        matches!(err, tlc_explorer::tlc::TlcError::NoRecords),
        "{err}"
    );
}

#[test]
fn bundled_explainer_fits_the_bundled_model_and_explains_sample_data() {
    use tlc_explorer::paths;
    let model = LoadedModel::open(&paths::default_model()).expect("bundled model opens");
    let explainer = Explainer::load(&paths::default_explainer()).expect("bundled explainer loads");
    // Refitted whenever the model changes: a stale explainer fails here.
    explainer.check_model(&model).unwrap();
    let data = tlc_explorer::io::open_dataset(&paths::sample_data()).unwrap();
    let ecg = data.load(0).unwrap();
    let e = explain_record(&model, &explainer, &ecg, &ExplainSettings::default()).unwrap();
    assert_eq!(e.k, explainer.k);
    assert!((e.proportions.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    // Segments lie on the 10 s record, not on the padding.
    let first = e.segments.first().unwrap();
    let last = e.segments.last().unwrap();
    assert_eq!((first.start_s, first.start_sample), (0.0, 0));
    assert!((last.end_s - ecg.duration_s()).abs() < 1e-9);
    assert_eq!(last.end_sample, ecg.n_samples());
    // The real-data model's explainer matches it too.
    let ptbxl = LoadedModel::open(&paths::ptbxl_model()).expect("bundled PTB-XL model opens");
    let ptbxl_explainer = Explainer::load(&paths::ptbxl_explainer()).unwrap();
    ptbxl_explainer.check_model(&ptbxl).unwrap();
    assert!(explainer.check_model(&ptbxl).is_err());
}

/// Floors just below a bundled model's figures on LUDB lead II (README.md and
/// assets/models/README.md).
struct LudbFloors {
    nmi: f64,
    purity: f64,
    best_qrs: f64,
    best_t: f64,
    best_p: f64,
}

/// A bundled real-data model's clusters against the waves LUDB's cardiologists marked in lead
/// II (LUDB was used neither to train the model nor to fit its explainer), and its explainer's
/// cluster names (no two equal).
fn bundled_model_against_ludb(model_path: &std::path::Path, floors: &LudbFloors) {
    use tlc_explorer::delineate::reference::{ReferenceLabel, score_dataset_against_reference};
    use tlc_explorer::paths;
    use tlc_explorer::tlc::pipeline::{ExplainSettings, explain_record};
    let Some(ludb) = common::data("ludb") else {
        return;
    };
    let model = LoadedModel::open(model_path).expect("bundled real-data model opens");
    let explainer =
        Explainer::load(&paths::explainer_beside(model_path)).expect("its explainer loads");
    explainer.check_model(&model).unwrap();
    // Names a cardiologist can tell apart: no two descriptions are equal.
    let names = tlc_explorer::tlc::cluster_names(&explainer.cluster_descriptions, explainer.k);
    let mut descriptive: Vec<&str> = names
        .iter()
        .filter_map(|n| n.split_once(' '))
        .map(|(_, d)| d)
        .collect();
    assert_eq!(
        descriptive.len(),
        explainer.k,
        "every cluster is described: {names:?}"
    );
    descriptive.sort();
    descriptive.dedup();
    assert_eq!(descriptive.len(), explainer.k, "{names:?}");

    let data = tlc_explorer::io::open_dataset(&ludb).unwrap();
    let settings = ExplainSettings {
        gradcam: None,
        ..Default::default()
    };
    let explain = |ecg: &tlc_explorer::record::Ecg| {
        explain_record(&model, &explainer, ecg, &settings)
            .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
    };
    let r =
        score_dataset_against_reference(data.as_ref(), &explain, explainer.k, "ii", &NoProgress)
            .unwrap();
    assert_eq!(r.records.len(), 200, "skipped: {:?}", r.skipped);
    let t = &r.total;
    let qrs = t.wave(ReferenceLabel::Qrs).unwrap();
    let tw = t.wave(ReferenceLabel::T).unwrap();
    let p = t.wave(ReferenceLabel::P).unwrap();
    println!(
        "{}: LUDB lead II: NMI {:.3} ARI {:.3} purity {:.3}; best QRS {:.3}, T {:.3}, P {:.3}",
        model.name, t.nmi, t.ari, t.purity, qrs.best_share, tw.best_share, p.best_share
    );
    assert!(t.nmi >= floors.nmi, "NMI {}", t.nmi);
    assert!(t.purity >= floors.purity, "purity {}", t.purity);
    assert!(
        qrs.best_share >= floors.best_qrs,
        "best QRS cluster {}",
        qrs.best_share
    );
    assert!(
        tw.best_share >= floors.best_t,
        "best T cluster {}",
        tw.best_share
    );
    assert!(
        p.best_share >= floors.best_p,
        "best P cluster {}",
        p.best_share
    );
}

#[test]
fn bundled_real_model_clusters_against_ludb_cardiologists() {
    let floors = LudbFloors {
        nmi: 0.25,
        purity: 0.68,
        best_qrs: 0.95,
        best_t: 0.80,
        best_p: 0.15,
    };
    bundled_model_against_ludb(&tlc_explorer::paths::real_model(), &floors);
}

/// The age model's clusters: better aligned than the classifier's, with a cluster mostly P.
#[test]
fn bundled_age_model_clusters_against_ludb_cardiologists() {
    let floors = LudbFloors {
        nmi: 0.30,
        purity: 0.71,
        best_qrs: 0.99,
        best_t: 0.70,
        best_p: 0.40,
    };
    bundled_model_against_ludb(&tlc_explorer::paths::real_age_model(), &floors);
}

/// Every Grad-CAM target (top output, an index, a name, another block) costs exactly one
/// forward pass, and naming an output gives what its index gives.
#[test]
fn every_gradcam_target_costs_one_forward() {
    use tlc_explorer::paths;
    let model = LoadedModel::open(&paths::default_model()).expect("bundled model opens");
    let explainer = Explainer::load(&paths::default_explainer()).expect("bundled explainer loads");
    let ecg = tlc_explorer::io::open_dataset(&paths::sample_data())
        .unwrap()
        .load(0)
        .unwrap();
    let name = model.config.class_names[1].to_lowercase();
    let last_block = model.config.blocks_dim.len() - 1;
    let targets = [
        GradCamOutput::Top,
        GradCamOutput::Index(1),
        GradCamOutput::Named(name),
    ];
    let mut cams = Vec::new();
    for output in targets {
        for block in [None, Some(last_block - 1)] {
            let settings = ExplainSettings {
                gradcam: Some(GradCamTarget {
                    output: output.clone(),
                    block,
                }),
                ..Default::default()
            };
            let before = model.forward_passes();
            let e = explain_record(&model, &explainer, &ecg, &settings).unwrap();
            assert_eq!(
                model.forward_passes() - before,
                1,
                "{output:?} at block {block:?}"
            );
            cams.push(e.gradcam.unwrap());
        }
    }
    // Index 1 and its name (in another case): the same map.
    assert_eq!(cams[2], cams[4]);
    assert_eq!(cams[3], cams[5]);
    assert_eq!(cams[3].block, last_block - 1);
    let unknown = ExplainSettings {
        gradcam: Some(GradCamTarget {
            output: GradCamOutput::Named("nope".into()),
            block: None,
        }),
        ..Default::default()
    };
    let err = explain_record(&model, &explainer, &ecg, &unknown).unwrap_err();
    assert!(err.to_string().contains("'nope'"), "{err}");
}

/// The filtering travels with the model and the explainer: explaining applies the explainer's,
/// a model trained with other filtering is refused, and fitting cannot silently disagree.
#[test]
fn explainer_with_other_preprocessing_is_refused() {
    use tlc_explorer::dsp::Preprocessing;
    use tlc_explorer::paths;
    use tlc_explorer::tlc::TlcError;
    let mut model = LoadedModel::open(&paths::default_model()).expect("bundled model opens");
    let explainer = Explainer::load(&paths::default_explainer()).expect("bundled explainer loads");
    // Written before the filtering was recorded: none, as it was trained.
    assert_eq!(explainer.preprocessing, Preprocessing::default());
    let ecg = tlc_explorer::io::open_dataset(&paths::sample_data())
        .unwrap()
        .load(0)
        .unwrap();
    let raw = explain_record(&model, &explainer, &ecg, &ExplainSettings::default()).unwrap();

    let baseline = Preprocessing {
        remove_baseline: true,
        ..Default::default()
    };
    // An explainer fitted on baseline-free records explains with baseline removal (the model
    // config does not record its filtering, so it takes the explainer's).
    let mut filtered = explainer.clone();
    filtered.preprocessing = baseline.clone();
    let e = explain_record(&model, &filtered, &ecg, &ExplainSettings::default()).unwrap();
    assert_ne!(e.prediction.raw, raw.prediction.raw);

    // A model that records its filtering refuses an explainer fitted with another.
    model.config.preprocessing = Some(baseline.clone());
    let err = explain_record(&model, &explainer, &ecg, &ExplainSettings::default()).unwrap_err();
    assert!(
        matches!(err, TlcError::PreprocessingMismatch { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("baseline removal"), "{err}");
    explain_record(&model, &filtered, &ecg, &ExplainSettings::default()).unwrap();

    // Fitting takes the model's filtering and records it; stating another is refused.
    let data = tlc_explorer::synth::SyntheticDataset::new(tlc_explorer::synth::SynthParams {
        n_records: 2,
        seed: 4,
        ..Default::default()
    })
    .unwrap();
    let settings = FitSettings {
        clusters: ClusterSettings {
            k: 3,
            n_init: 1,
            ..Default::default()
        },
        ..Default::default()
    };
    let fitted = fit_explainer(&model, &data, &[0, 1], &settings, &NoProgress).unwrap();
    assert_eq!(fitted.preprocessing, baseline);
    let dir = tempfile::tempdir().unwrap();
    fitted.save(&dir.path().join("f"), false).unwrap();
    let loaded = Explainer::load(&dir.path().join("f")).unwrap();
    assert_eq!(loaded.preprocessing, baseline);
    let contradicting = FitSettings {
        preprocessing: Some(Preprocessing::default()),
        ..settings
    };
    let err = fit_explainer(&model, &data, &[0, 1], &contradicting, &NoProgress).unwrap_err();
    assert!(err.to_string().contains("preprocessing"), "{err}");
}

/// A long record explained window by window: the windows tile it, and each window's result is
/// what explaining the whole record at that window gives (the cut keeps enough signal around
/// the window for the explainer's filtering).
#[test]
fn a_long_record_explained_window_by_window_matches_the_whole_record_at_each_window() {
    use tlc_explorer::paths;
    use tlc_explorer::tlc::windows::explain_windows;
    let model = LoadedModel::open(&paths::default_model()).expect("bundled model opens");
    let explainer = Explainer::load(&paths::default_explainer()).expect("bundled explainer loads");
    let params = tlc_explorer::synth::SynthParams {
        duration_s: 35.0,
        ..Default::default()
    };
    let ecg = tlc_explorer::synth::generate_record(&params, 4)
        .unwrap()
        .ecg;
    let windows = explain_windows(&model, &explainer, &ecg, &NoProgress).unwrap();
    let spec = model.config.input_spec();
    let window_s = spec.length as f64 / spec.fs_hz;
    assert_eq!(windows.len(), (35.0 / window_s).ceil() as usize);
    assert!(windows[0].start_s.abs() < 1e-9);
    assert!((windows.last().unwrap().end_s - 35.0).abs() < 0.01);
    for w in &windows {
        let whole = explain_record(
            &model,
            &explainer,
            &ecg,
            &ExplainSettings {
                window_start_s: Some(w.start_s),
                gradcam: None,
            },
        )
        .unwrap();
        assert!((whole.model_start_s - w.start_s).abs() < 1.0 / spec.fs_hz);
        for (a, b) in whole.prediction.probabilities.iter().zip(&w.probabilities) {
            assert!((a - b).abs() < 0.02, "window at {}: {a} vs {b}", w.start_s);
        }
        assert!((whole.mean_entropy() - w.mean_entropy).abs() < 0.02);
    }
}
