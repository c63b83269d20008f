mod common;

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use ndarray::Array2;
use tlc_explorer::model::{LoadedModel, ModelConfig, ModelError};

fn load_st(path: &Path) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(path, &Device::Cpu).expect("fixture readable")
}

fn flat(t: &Tensor) -> Vec<f32> {
    t.to_dtype(DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

fn fixture_inputs(input: &Tensor) -> Vec<Array2<f32>> {
    let (b, c, l) = input.dims3().unwrap();
    (0..b)
        .map(|i| {
            let v: Vec<f32> = flat(&input.get(i).unwrap());
            Array2::from_shape_vec((c, l), v).unwrap()
        })
        .collect()
}

/// The PyTorch golden fixture: logits, block outputs and Grad-CAM weights within 1e-4.
#[test]
fn golden_fixture_matches_pytorch() {
    let (Some(weights), Some(config), Some(input), Some(expected)) = (
        common::fixture("resnet_fixture.safetensors"),
        common::fixture("model_config.json"),
        common::fixture("input.safetensors"),
        common::fixture("expected.safetensors"),
    ) else {
        return;
    };
    let model = LoadedModel::open_with_config(&weights, &config).expect("fixture model opens");
    assert_eq!(
        model.config.macs_per_input(),
        2_509_468_672,
        "MAC count of the fixture config"
    );
    assert_eq!(model.sha256.len(), 64);
    let input = load_st(&input).remove("input").unwrap();
    let expected = load_st(&expected);
    let inputs = fixture_inputs(&input);

    let out = model
        .explain_forward(&inputs, &[2, 3, 4], Some((4, 0)))
        .expect("forward_explain");
    let e = common::rel_err(&flat(&out.logits), &flat(&expected["logits"]));
    println!("golden logits: relative error {e:.2e}");
    assert!(e < 1e-4, "logits rel err {e}");
    for b in [2usize, 3, 4] {
        let got = out.blocks[b].as_ref().expect("requested block present");
        let want = &expected[&format!("resblock1d_{b}_out")];
        assert_eq!(got.dims(), want.dims());
        let e = common::rel_err(&flat(got), &flat(want));
        println!("golden resblock1d_{b} output: relative error {e:.2e}");
        assert!(e < 1e-4, "block {b} rel err {e}");
    }
    assert!(out.blocks[0].is_none() && out.blocks[1].is_none());
    let grad = out.grad.expect("gradient requested");
    assert_eq!(grad.dims(), &[4, 320, 16]);
    let weights = grad.mean(2).unwrap();
    let e = common::rel_err(&flat(&weights), &flat(&expected["gradcam_class0_weights"]));
    assert!(e < 1e-4, "gradcam weights rel err {e}");

    // The plain batched forward agrees with the explain forward.
    let logits = model.predict(&inputs).unwrap();
    let logits: Vec<f32> = logits.into_iter().flatten().collect();
    let e = common::rel_err(&logits, &flat(&expected["logits"]));
    assert!(e < 1e-4, "predict rel err {e}");
}

use rand::{Rng, SeedableRng};
use tlc_explorer::model::Task;
use tlc_explorer::model::resnet::init_parameters;
use tlc_explorer::model::train::{
    CvParams, LrSchedule, TrainParams, TrainingSet, cross_validate, evaluate, macro_auroc,
    save_model, train,
};
use tlc_explorer::progress::NoProgress;

fn small_config(leads: usize, task: Task) -> ModelConfig {
    ModelConfig {
        input_channels: leads,
        input_length: 256,
        blocks_dim: vec![(8, 256), (16, 64), (16, 16)],
        kernel_size: 9,
        dropout_rate: 0.1,
        n_outputs: 2,
        task,
        class_names: vec!["SPIKES".into(), "WAVE".into()],
        sampling_rate: 100.0,
        input_leads: None,
        input_scale: 1.0,
        bn_eps: 1e-5,
        preprocessing: None,
        description: None,
        trained_on: None,
    }
}

/// Two independent synthetic findings: a train of narrow spikes on lead 0 (class 0) and a slow
/// large wave on lead 1 (class 1), over noise; five folds.
fn synthetic_set(n: usize, leads: usize, seed: u64) -> TrainingSet {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut set = TrainingSet::default();
    for i in 0..n {
        let spikes = rng.gen_bool(0.5);
        let wave = rng.gen_bool(0.5);
        let mut x = Array2::<f32>::zeros((leads, 256));
        for v in x.iter_mut() {
            *v = rng.gen_range(-0.3..0.3);
        }
        if spikes {
            let phase = rng.gen_range(0..40);
            for t in (phase..256).step_by(40) {
                x[[0, t]] += 1.5;
            }
        }
        if wave {
            let phase: f32 = rng.gen_range(0.0..std::f32::consts::TAU);
            for t in 0..256 {
                x[[1, t]] += (t as f32 * 0.05 + phase).sin();
            }
        }
        set.inputs.push(x);
        set.targets
            .push(vec![f32::from(u8::from(spikes)), f32::from(u8::from(wave))]);
        set.folds.push((i % 5) as u32);
        set.ids.push(format!("syn{i}"));
    }
    set
}

/// Training lowers the loss, updates the batch-norm statistics, and separates the classes on
/// held-out records; the saved checkpoint reloads to the same outputs.
#[test]
fn training_learns_synthetic_classes() {
    let config = small_config(3, Task::Multilabel);
    let set = synthetic_set(300, 3, 7);
    let train_idx = set.indices_where(|f| f < 3);
    let val_idx = set.indices_where(|f| f == 3);
    let test_idx = set.indices_where(|f| f == 4);
    let params = TrainParams {
        epochs: 14,
        lr: 3e-3,
        batch_size: 16,
        schedule: LrSchedule::Cosine { min_factor: 0.05 },
        patience: 14,
        seed: 3,
        ..TrainParams::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("tiny.safetensors");
    let device = Device::Cpu;
    let out = train(
        &config,
        &set,
        &train_idx,
        &val_idx,
        &params,
        Some(&ckpt),
        None,
        &device,
        "t",
        &NoProgress,
    )
    .expect("training runs");
    let first = out.history.first().unwrap().train_loss;
    let last = out.history.last().unwrap().train_loss;
    assert!(last < 0.7 * first, "train loss {first} -> {last}");
    let rm = flat(&out.best["resblock1d_0.bn1.running_mean"]);
    assert!(
        rm.iter().any(|v| v.abs() > 1e-4),
        "running mean never updated"
    );

    let model = LoadedModel::open(&ckpt).expect("checkpoint reloads");
    let inputs: Vec<Array2<f32>> = test_idx.iter().map(|&i| set.inputs[i].clone()).collect();
    let probs = model.predict_probabilities(&inputs).unwrap();
    let targets: Vec<Vec<f32>> = test_idx.iter().map(|&i| set.targets[i].clone()).collect();
    let auc = macro_auroc(&probs, &targets).unwrap();
    assert!(auc > 0.9, "held-out macro AUROC {auc}");

    // The checkpoint is the best epoch's state: same outputs as the in-memory best.
    let vb = candle_nn::VarBuilder::from_tensors(out.best.clone(), DType::F32, &device);
    let net = tlc_explorer::model::ResNet1d::new(&config, vb).unwrap();
    let (raw, _) = evaluate(&net, &set, &test_idx, 32, &device).unwrap();
    let raw: Vec<f32> = raw.into_iter().flatten().collect();
    let reloaded: Vec<f32> = model
        .predict(&inputs)
        .unwrap()
        .into_iter()
        .flatten()
        .collect();
    assert!(common::rel_err(&reloaded, &raw) < 1e-6);

    // Starting from the trained checkpoint (`--init`): with a learning rate too small to move
    // the weights, the first epoch is already near the trained model's validation loss (the
    // batch-norm running statistics still move during the epoch), far below that of the first
    // epoch from a random start.
    let from_ckpt = TrainParams {
        epochs: 1,
        lr: 1e-9,
        init_weights: Some(ckpt.clone()),
        ..params.clone()
    };
    let again = train(
        &config,
        &set,
        &train_idx,
        &val_idx,
        &from_ckpt,
        None,
        None,
        &device,
        "init",
        &NoProgress,
    )
    .expect("training from initial weights runs");
    let best_val = out.history[out.best_epoch].val_loss;
    let started = again.history[0].val_loss;
    assert!(
        started < 2.0 * best_val + 1e-3,
        "val loss from the checkpoint {started} vs trained {best_val}"
    );
    assert!(
        started < 0.2 * out.history[0].val_loss,
        "val loss from the checkpoint {started} vs a random start's first epoch {}",
        out.history[0].val_loss
    );
    // A file sharing no tensor with the architecture is refused, naming the file.
    let unrelated = dir.path().join("unrelated.safetensors");
    let t = Tensor::zeros((2, 2), DType::F32, &device).unwrap();
    candle_core::safetensors::save(&HashMap::from([("foo".to_string(), t)]), &unrelated).unwrap();
    let refused = TrainParams {
        init_weights: Some(unrelated.clone()),
        ..from_ckpt
    };
    let err = train(
        &config,
        &set,
        &train_idx,
        &val_idx,
        &refused,
        None,
        None,
        &device,
        "init",
        &NoProgress,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("unrelated.safetensors") && err.contains("no tensor matches"),
        "{err}"
    );
}

/// A progress sink that cancels after `after` reports (training batches).
struct CancelAfter {
    after: usize,
    seen: std::sync::atomic::AtomicUsize,
}

impl tlc_explorer::progress::ProgressSink for CancelAfter {
    fn report(&self, _: tlc_explorer::progress::Progress) {
        self.seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
    fn is_cancelled(&self) -> bool {
        self.seen.load(std::sync::atomic::Ordering::SeqCst) >= self.after
    }
}

fn cancel_after(after: usize) -> CancelAfter {
    CancelAfter {
        after,
        seen: 0.into(),
    }
}

/// Shifts and gains reach the training batches (the run's losses differ from the plain run's),
/// and are drawn from the seed (the same run twice gives the same losses).
#[test]
fn augmented_training_differs_from_plain_and_repeats_with_its_seed() {
    use tlc_explorer::model::train::Augmentation;
    let config = small_config(3, Task::Multilabel);
    let set = synthetic_set(60, 3, 5);
    let train_idx = set.indices_where(|f| f < 3);
    let val_idx = set.indices_where(|f| f == 3);
    let run = |augmentation: Augmentation| {
        let params = TrainParams {
            epochs: 2,
            lr: 3e-3,
            batch_size: 16,
            patience: 2,
            seed: 4,
            augmentation,
            ..TrainParams::default()
        };
        train(
            &config,
            &set,
            &train_idx,
            &val_idx,
            &params,
            None,
            None,
            &Device::Cpu,
            "t",
            &NoProgress,
        )
        .expect("training runs")
        .history
    };
    let augmented = Augmentation {
        max_shift_samples: 40,
        max_gain: 1.5,
    };
    let plain = run(Augmentation::default());
    let first = run(augmented);
    let again = run(augmented);
    for (a, b) in first.iter().zip(&again) {
        assert_eq!(a.train_loss, b.train_loss, "epoch {}", a.epoch);
        assert_eq!(a.val_loss, b.val_loss, "epoch {}", a.epoch);
    }
    assert!(
        first
            .iter()
            .zip(&plain)
            .all(|(a, p)| (a.train_loss - p.train_loss).abs() > 1e-6),
        "augmented {:?} vs plain {:?}",
        first.iter().map(|h| h.train_loss).collect::<Vec<_>>(),
        plain.iter().map(|h| h.train_loss).collect::<Vec<_>>()
    );
}

/// A run stopped in its third epoch and resumed from its state ends with the history and the
/// best weights of the run that was never stopped; the state file is gone at the end.
#[test]
fn an_interrupted_training_resumes_where_it_stopped() {
    let config = small_config(3, Task::Multilabel);
    let set = synthetic_set(120, 3, 5);
    let train_idx = set.indices_where(|f| f < 3);
    let val_idx = set.indices_where(|f| f == 3);
    let params = TrainParams {
        epochs: 4,
        lr: 3e-3,
        batch_size: 16,
        patience: 4,
        seed: 9,
        ..TrainParams::default()
    };
    let device = Device::Cpu;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("run.state.safetensors");
    let run = |state: Option<&Path>, progress: &dyn tlc_explorer::progress::ProgressSink| {
        train(
            &config, &set, &train_idx, &val_idx, &params, None, state, &device, "t", progress,
        )
    };
    let whole = run(None, &NoProgress).expect("uninterrupted run");
    let batches = train_idx.len().div_ceil(16);
    let stopped = run(Some(&state), &cancel_after(2 * batches + 1)).expect("stopped run");
    assert!(stopped.cancelled);
    assert_eq!(stopped.history.len(), 2, "two whole epochs before the stop");
    assert!(state.exists(), "the state of epoch 2 is kept");
    let resumed = run(Some(&state), &NoProgress).expect("resumed run");
    assert!(!resumed.cancelled);
    assert!(!state.exists(), "the state is removed when the run ends");
    assert_eq!(resumed.history.len(), whole.history.len());
    for (a, b) in resumed.history.iter().zip(&whole.history) {
        assert!(
            (a.val_loss - b.val_loss).abs() < 1e-5 * b.val_loss.abs().max(1.0),
            "epoch {}: resumed val loss {} vs {}",
            a.epoch,
            a.val_loss,
            b.val_loss
        );
    }
    assert_eq!(resumed.best_epoch, whole.best_epoch);
    let w = "resblock1d_1.conv2.weight";
    assert!(common::rel_err(&flat(&resumed.best[w]), &flat(&whole.best[w])) < 1e-5);

    // A state from another run (other settings) is refused, naming the file.
    let _ = run(Some(&state), &cancel_after(batches + 1)).expect("stopped run");
    let other = TrainParams {
        lr: 1e-3,
        ..params.clone()
    };
    let err = train(
        &config,
        &set,
        &train_idx,
        &val_idx,
        &other,
        None,
        Some(&state),
        &device,
        "t",
        &NoProgress,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("run.state.safetensors") && err.contains("another"),
        "{err}"
    );
}

/// Cross-validation stopped in its second fold and resumed gives the out-of-fold outputs of
/// an uninterrupted run, reading the first fold from its saved outputs.
#[test]
fn an_interrupted_cross_validation_resumes_with_its_finished_folds() {
    let config = small_config(3, Task::Multilabel);
    let set = synthetic_set(90, 3, 11);
    let params = CvParams {
        train: TrainParams {
            epochs: 2,
            batch_size: 16,
            seed: 2,
            ..TrainParams::default()
        },
        fold_models: None,
        state_dir: None,
    };
    let device = Device::Cpu;
    let mut folds_seen = Vec::new();
    let whole = cross_validate(&config, &set, &params, &device, &NoProgress, &mut |oof| {
        folds_seen.push(oof.iter().filter(|o| !o.is_empty()).count());
        Ok(())
    })
    .expect("uninterrupted");
    assert_eq!(folds_seen.len(), 5, "one call per fold");
    assert!(folds_seen.windows(2).all(|w| w[0] < w[1]), "{folds_seen:?}");
    let dir = tempfile::tempdir().unwrap();
    let with_state = CvParams {
        state_dir: Some(dir.path().join("state")),
        ..params.clone()
    };
    // Each fold trains on 3 of the 5 folds (54 records, 4 batches) for 2 epochs: stop in
    // the second epoch of the second fold (test fold 1; folds are numbered 0-4 here).
    let stopped = cross_validate(
        &config,
        &set,
        &with_state,
        &device,
        &cancel_after(8 + 4 + 1),
        &mut |_| Ok(()),
    );
    assert!(matches!(stopped, Err(ModelError::Cancelled)), "{stopped:?}");
    assert!(dir.path().join("state/fold0.done.json").exists());
    assert!(dir.path().join("state/fold1.state.safetensors").exists());
    let resumed = cross_validate(
        &config,
        &set,
        &with_state,
        &device,
        &NoProgress,
        &mut |_| Ok(()),
    )
    .expect("resumed");
    for (a, b) in resumed.oof.iter().zip(&whole.oof) {
        assert!(common::rel_err(a, b) < 1e-4, "{a:?} vs {b:?}");
    }
}

fn write_small_model(
    dir: &Path,
    config: &ModelConfig,
    drop_key: Option<&str>,
) -> std::path::PathBuf {
    let mut tensors: HashMap<String, Tensor> = init_parameters(config, 1, &Device::Cpu)
        .unwrap()
        .into_iter()
        .collect();
    if let Some(k) = drop_key {
        tensors.remove(k).expect("key exists");
    }
    let path = dir.join("small.safetensors");
    save_model(&path, config, &tensors, DType::F16).unwrap();
    path
}

#[test]
fn missing_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config(12, Task::Multilabel);
    let path = write_small_model(
        dir.path(),
        &config,
        Some("resblock1d_1.skip_connection.1.weight"),
    );
    let err = LoadedModel::open(&path).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ModelError::Weights { .. }), "{msg}");
    assert!(
        msg.contains("small.safetensors") && msg.contains("resblock1d_1.skip_connection.1.weight"),
        "{msg}"
    );
}

#[test]
fn wrong_filter_count_in_config_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config(12, Task::Multilabel);
    let path = write_small_model(dir.path(), &config, None);
    let mut wrong = config.clone();
    wrong.blocks_dim[2].0 = 24;
    let wrong_path = dir.path().join("wrong.json");
    std::fs::write(&wrong_path, serde_json::to_string(&wrong).unwrap()).unwrap();
    let err = LoadedModel::open_with_config(&path, &wrong_path).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("shape") && msg.contains("24") && msg.contains("16"),
        "{msg}"
    );

    // An impossible architecture is a config error naming the config file.
    let mut bad = config.clone();
    bad.blocks_dim[1].1 = 100;
    std::fs::write(&wrong_path, serde_json::to_string(&bad).unwrap()).unwrap();
    let err = LoadedModel::open_with_config(&path, &wrong_path).unwrap_err();
    assert!(
        matches!(err, ModelError::Config { .. }) && err.to_string().contains("wrong.json"),
        "{err}"
    );
}

#[test]
fn bad_inputs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config(12, Task::Multilabel);
    let path = write_small_model(dir.path(), &config, None);
    let model = LoadedModel::open(&path).unwrap();
    let ok = Array2::<f32>::zeros((12, 256));
    assert_eq!(
        model.predict(std::slice::from_ref(&ok)).unwrap()[0].len(),
        2
    );

    let eight = Array2::<f32>::zeros((8, 256));
    let err = model.predict(&[ok.clone(), eight]).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, ModelError::Input { index: 1, .. })
            && msg.contains("8 leads")
            && msg.contains("12"),
        "{msg}"
    );

    let short = Array2::<f32>::zeros((12, 200));
    let msg = model.predict(&[short]).unwrap_err().to_string();
    assert!(msg.contains("too short") && msg.contains("256"), "{msg}");

    let mut nan = ok.clone();
    nan[[3, 7]] = f32::NAN;
    assert!(
        model
            .predict(&[nan])
            .unwrap_err()
            .to_string()
            .contains("non-finite")
    );

    // Requests beyond the architecture are errors, not panics.
    let x = model.input_tensor(&[ok]).unwrap();
    assert!(model.net.forward_explain(&x, &[3], None).is_err());
    assert!(model.net.forward_explain(&x, &[0], Some((2, 5))).is_err());
}

/// A minimal PyTorch `torch.save` zip (stored entries, pickle protocol 2) of f32 tensors and
/// one I64 `num_batches_tracked`, optionally nested as `{"model": state_dict, "epoch": 3}` as in
/// Ribeiro et al.'s checkpoints. Written here because torch is not available to the tests.
fn write_torch_zip(path: &Path, tensors: &[(String, Tensor)], nested: bool) {
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    fn unicode(p: &mut Vec<u8>, s: &str) {
        p.push(b'X');
        p.extend((s.len() as u32).to_le_bytes());
        p.extend(s.as_bytes());
    }
    fn int(p: &mut Vec<u8>, v: usize) {
        p.push(b'J');
        p.extend((v as i32).to_le_bytes());
    }
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut pkl = vec![0x80, 2];
    if nested {
        pkl.extend(b"}(");
        unicode(&mut pkl, "model");
    }
    pkl.extend(b"}(");
    let mut entries: Vec<(String, Vec<usize>, &str, Vec<u8>)> = tensors
        .iter()
        .map(|(k, t)| {
            let v: Vec<f32> = flat(t);
            let bytes = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            (k.clone(), t.dims().to_vec(), "FloatStorage", bytes)
        })
        .collect();
    entries.push((
        "bn1.num_batches_tracked".into(),
        vec![],
        "LongStorage",
        7i64.to_le_bytes().to_vec(),
    ));
    for (i, (name, dims, storage, bytes)) in entries.iter().enumerate() {
        let numel: usize = dims.iter().product();
        unicode(&mut pkl, name);
        pkl.extend(b"ctorch._utils\n_rebuild_tensor_v2\n((");
        unicode(&mut pkl, "storage");
        pkl.extend(format!("ctorch\n{storage}\n").as_bytes());
        unicode(&mut pkl, &i.to_string());
        unicode(&mut pkl, "cpu");
        int(&mut pkl, numel);
        pkl.extend(b"tQ");
        int(&mut pkl, 0);
        pkl.push(b'(');
        for &d in dims {
            int(&mut pkl, d);
        }
        pkl.extend(b"t(");
        let mut stride = 1;
        let mut strides = vec![0; dims.len()];
        for (j, &d) in dims.iter().enumerate().rev() {
            strides[j] = stride;
            stride *= d;
        }
        for s in strides {
            int(&mut pkl, s);
        }
        pkl.extend(b"t\x89ccollections\nOrderedDict\n)RtR");
        files.push((format!("archive/data/{i}"), bytes.clone()));
    }
    pkl.push(b'u');
    if nested {
        unicode(&mut pkl, "epoch");
        int(&mut pkl, 3);
        pkl.push(b'u');
    }
    pkl.push(b'.');
    files.insert(0, ("archive/data.pkl".into(), pkl));
    files.push(("archive/version".into(), b"3\n".to_vec()));

    let mut zip = Vec::new();
    let mut central = Vec::new();
    for (name, data) in &files {
        let offset = zip.len() as u32;
        let crc = crc32(data);
        let common = |v: &mut Vec<u8>| {
            v.extend(20u16.to_le_bytes()); // version needed
            v.extend(0u16.to_le_bytes()); // flags
            v.extend(0u16.to_le_bytes()); // stored
            v.extend(0u16.to_le_bytes()); // time
            v.extend(33u16.to_le_bytes()); // 1980-01-01
            v.extend(crc.to_le_bytes());
            v.extend((data.len() as u32).to_le_bytes());
            v.extend((data.len() as u32).to_le_bytes());
            v.extend((name.len() as u16).to_le_bytes());
            v.extend(0u16.to_le_bytes()); // extra
        };
        zip.extend(0x0403_4b50u32.to_le_bytes());
        common(&mut zip);
        zip.extend(name.as_bytes());
        zip.extend(data);
        central.extend(0x0201_4b50u32.to_le_bytes());
        central.extend(20u16.to_le_bytes()); // made by
        common(&mut central);
        central.extend([0u8; 8]); // comment len, disk, internal attrs, (part of) external attrs
        central.extend(0u16.to_le_bytes()); // rest of external attrs
        central.extend(offset.to_le_bytes());
        central.extend(name.as_bytes());
    }
    let cd_offset = zip.len() as u32;
    zip.extend(&central);
    zip.extend(0x0605_4b50u32.to_le_bytes());
    zip.extend([0u8; 4]);
    zip.extend((files.len() as u16).to_le_bytes());
    zip.extend((files.len() as u16).to_le_bytes());
    zip.extend((central.len() as u32).to_le_bytes());
    zip.extend(cd_offset.to_le_bytes());
    zip.extend(0u16.to_le_bytes());
    std::fs::write(path, zip).unwrap();
}

/// A PyTorch state dict (`.pth`, plain or under "model") loads to the same outputs as the
/// same weights in safetensors.
#[test]
fn pytorch_pth_state_dict_loads() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config(12, Task::Multilabel);
    let tensors = init_parameters(&config, 5, &Device::Cpu).unwrap();
    let st_path = dir.path().join("ref.safetensors");
    let map: HashMap<String, Tensor> = tensors.iter().cloned().collect();
    save_model(&st_path, &config, &map, DType::F32).unwrap();
    let reference = LoadedModel::open(&st_path).unwrap();
    let x: Vec<Array2<f32>> = (0..2)
        .map(|i| Array2::from_shape_fn((12, 256), |(c, t)| ((c * 7 + t + i) as f32 * 0.1).sin()))
        .collect();
    let want: Vec<f32> = reference
        .predict(&x)
        .unwrap()
        .into_iter()
        .flatten()
        .collect();
    for nested in [false, true] {
        let pth = dir
            .path()
            .join(if nested { "nested.pth" } else { "plain.pth" });
        write_torch_zip(&pth, &tensors, nested);
        std::fs::copy(dir.path().join("ref.json"), pth.with_extension("json")).unwrap();
        let model = LoadedModel::open(&pth).unwrap_or_else(|e| panic!("nested {nested}: {e}"));
        let got: Vec<f32> = model.predict(&x).unwrap().into_iter().flatten().collect();
        assert!(common::rel_err(&got, &want) < 1e-6, "nested {nested}");
    }
}

/// The app hands models to a worker thread.
#[test]
fn loaded_model_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<LoadedModel>();
    check::<tlc_explorer::model::ForwardOutput>();
}

/// Minimum macro AUROC of the bundled synthetic model on fresh synthetic records.
const BUNDLED_SYNTH_MIN_AUROC: f64 = 0.9;

/// The bundled synthetic-data model recognises the synthetic classes on records it never saw
/// (a different generator seed from its training records).
#[test]
fn bundled_synth_model_separates_fresh_synthetic_records() {
    use tlc_explorer::io::Dataset;
    let path = tlc_explorer::paths::default_model();
    let model = LoadedModel::open(&path).expect("bundled model opens");
    let params = tlc_explorer::synth::SynthParams {
        n_records: 100,
        seed: 2,
        ..Default::default()
    };
    let ds = tlc_explorer::synth::SyntheticDataset::new(params).unwrap();
    let spec = model.config.input_spec();
    let mut inputs = Vec::new();
    let mut targets = Vec::new();
    for i in 0..ds.len() {
        let ecg = ds.load(i).unwrap();
        let prepared = tlc_explorer::dsp::prepare(&ecg, &spec, &Default::default()).unwrap();
        inputs.push(prepared.data);
        let labels = &ds.entry(i).unwrap().labels;
        targets.push(
            model
                .config
                .class_names
                .iter()
                .map(|c| f32::from(u8::from(labels.contains(c))))
                .collect::<Vec<f32>>(),
        );
    }
    let probs = model.predict_probabilities(&inputs).unwrap();
    let auc = macro_auroc(&probs, &targets).unwrap();
    eprintln!("bundled synth model: macro AUROC {auc:.3} on 100 fresh records (seed 2)");
    assert!(auc > BUNDLED_SYNTH_MIN_AUROC, "macro AUROC {auc}");

    // And on the bundled sample data (40 records written by `tlc synth`, read from disk).
    let ds = tlc_explorer::io::open_dataset(&tlc_explorer::paths::sample_data()).unwrap();
    let (mut inputs, mut targets) = (Vec::new(), Vec::new());
    for i in 0..ds.len() {
        let ecg = ds.load(i).unwrap();
        let prepared = tlc_explorer::dsp::prepare(&ecg, &spec, &Default::default()).unwrap();
        inputs.push(prepared.data);
        let labels = &ds.entry(i).unwrap().labels;
        let target: Vec<f32> = (model.config.class_names.iter())
            .map(|c| f32::from(u8::from(labels.contains(c))))
            .collect();
        targets.push(target);
    }
    let probs = model.predict_probabilities(&inputs).unwrap();
    let auc = macro_auroc(&probs, &targets).unwrap();
    eprintln!(
        "bundled synth model: macro AUROC {auc:.3} on sample_data ({} records)",
        ds.len()
    );
    assert!(
        auc > BUNDLED_SYNTH_MIN_AUROC,
        "sample_data macro AUROC {auc}"
    );
}

#[test]
fn configs_asking_for_impossible_sizes_and_weights_with_nan_are_refused() {
    use tlc_explorer::model::ModelConfig;
    let text = std::fs::read_to_string(tlc_explorer::paths::default_model().with_extension("json"))
        .unwrap();
    let config: ModelConfig = serde_json::from_str(&text).unwrap();
    let mut huge = config.clone();
    huge.input_length = 1 << 30;
    let err = huge.validate().unwrap_err();
    assert!(err.contains("input_length"), "{err}");

    // The bundled model with one weight made NaN: refused on load, naming the tensor.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.safetensors");
    let mut tensors =
        candle_core::safetensors::load(tlc_explorer::paths::default_model(), &Device::Cpu).unwrap();
    let (name, t) = tensors
        .iter()
        .find(|(k, _)| k.ends_with("weight"))
        .map(|(k, t)| (k.clone(), t.clone()))
        .unwrap();
    let mut values = t
        .to_dtype(DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    values[0] = f32::NAN;
    let poisoned = Tensor::from_vec(values, t.dims(), &Device::Cpu)
        .unwrap()
        .to_dtype(t.dtype())
        .unwrap();
    tensors.insert(name.clone(), poisoned);
    candle_core::safetensors::save(&tensors, &path).unwrap();
    std::fs::write(path.with_extension("json"), &text).unwrap();
    let err = tlc_explorer::error_text::describe(
        &tlc_explorer::model::LoadedModel::open(&path)
            .map(|_| ())
            .unwrap_err(),
    );
    assert!(err.contains(&name) && err.contains("non-finite"), "{err}");
    assert!(err.contains("broken.safetensors"), "{err}");
}

#[test]
fn train_refuses_to_replace_a_model_before_training_without_overwrite() {
    use clap::Parser;
    use tlc_explorer::cli::{Cli, Command};
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.safetensors");
    std::fs::write(&out, "mine").unwrap();
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/models/arch/ptbxl.json");
    let cli = Cli::try_parse_from([
        "tlc".as_ref(),
        "train".as_ref(),
        "--synth".as_ref(),
        "8".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ])
    .unwrap();
    let Some(Command::Train(args)) = cli.command else {
        panic!("not the train command");
    };
    let err = tlc_explorer::cli::train::run(args).unwrap_err().to_string();
    assert!(
        err.contains("m.safetensors") && err.contains("--overwrite"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "mine",
        "nothing replaced"
    );
}

/// Fewer than 3 folds (a test fold, an early-stopping fold and one to train on) is refused
/// when the command line is read (0 used to panic dividing by zero while the records were
/// dealt into folds).
#[test]
fn train_refuses_fewer_than_three_folds() {
    use clap::Parser;
    for folds in ["0", "1", "2"] {
        let err = tlc_explorer::cli::Cli::try_parse_from([
            "tlc",
            "train",
            "--synth",
            "8",
            "--config",
            "c.json",
            "--out",
            "m.safetensors",
            "--folds",
            folds,
        ])
        .err()
        .unwrap_or_else(|| panic!("--folds {folds} accepted"))
        .to_string();
        assert!(err.contains("--folds") && err.contains(folds), "{err}");
    }
}

/// Ctrl-C during `tlc train`: the best model so far is kept, and the exit code is 130, so a
/// script or scheduler never takes an interrupted run for a finished one.
#[test]
fn interrupted_training_keeps_the_best_model_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.safetensors");
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/models/arch/ptbxl.json");
    let output = common::interrupt_tlc(
        &[
            "train".as_ref(),
            "--synth".as_ref(),
            "40".as_ref(),
            "--config".as_ref(),
            config.as_os_str(),
            "--epochs".as_ref(),
            "500".as_ref(),
            "--patience".as_ref(),
            "500".as_ref(),
            "--out".as_ref(),
            out.as_os_str(),
        ],
        // The model is saved at the end of the first epoch.
        || out.exists(),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(LoadedModel::open(&out).is_ok());
}

/// A regression network starts its output at the training targets' mean (ages sit near 60, not
/// 0): with a learning rate too small to move anything, the first epoch's validation loss is
/// about the targets' variance, not their mean square. Initial weights that hold an output
/// bias of the right size keep theirs.
#[test]
fn regression_starts_at_the_training_targets_mean() {
    let mut config = small_config(3, Task::Regression);
    config.n_outputs = 1;
    config.class_names = vec!["age".into()];
    let mut set = synthetic_set(120, 3, 11);
    // "Ages" 55 or 65 by the spike finding: mean 60, variance 25.
    for t in &mut set.targets {
        *t = vec![55.0 + 10.0 * t[0]];
    }
    let train_idx = set.indices_where(|f| f < 3);
    let val_idx = set.indices_where(|f| f == 3);
    let mean = train_idx.iter().map(|&i| set.targets[i][0]).sum::<f32>() / train_idx.len() as f32;
    let start =
        tlc_explorer::model::train::regression_output_start(Task::Regression, &set, &train_idx)
            .expect("a start for regression");
    assert!((start[0] - mean).abs() < 1e-4, "{start:?} vs {mean}");
    assert!(
        tlc_explorer::model::train::regression_output_start(Task::Multilabel, &set, &train_idx)
            .is_none()
    );
    let still = TrainParams {
        epochs: 1,
        lr: 1e-9,
        batch_size: 16,
        seed: 5,
        ..TrainParams::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("age.safetensors");
    let device = Device::Cpu;
    let run = |params: &TrainParams, ckpt: Option<&Path>| {
        train(
            &config,
            &set,
            &train_idx,
            &val_idx,
            params,
            ckpt,
            None,
            &device,
            "age",
            &NoProgress,
        )
        .expect("regression training runs")
    };
    let out = run(&still, Some(&ckpt));
    let val_loss = out.history[0].val_loss;
    assert!(
        val_loss < 60.0,
        "first validation MSE {val_loss} (variance 25, mean square ~3600)"
    );
    let bias = flat(&out.best["lin.bias"]);
    assert!(
        (bias[0] - mean).abs() < 0.01,
        "lin.bias {bias:?} vs mean {mean}"
    );

    // Initial weights with a 1-output bias of their own keep it.
    let mut shifted = out.best.clone();
    shifted.insert(
        "lin.bias".into(),
        Tensor::from_slice(&[20.0f32], 1, &device).unwrap(),
    );
    let init = dir.path().join("shifted.safetensors");
    candle_core::safetensors::save(&shifted, &init).unwrap();
    let from_init = TrainParams {
        init_weights: Some(init),
        ..still
    };
    let again = run(&from_init, None);
    let bias = flat(&again.best["lin.bias"]);
    assert!(
        (bias[0] - 20.0).abs() < 0.01,
        "lin.bias {bias:?} should stay at 20"
    );
}
