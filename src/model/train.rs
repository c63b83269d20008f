//! Training a [`ResNet1d`] (AdamW, task loss, LR schedule, early stopping on a validation
//! fold, best checkpoint) and k-fold cross-validation with out-of-fold predictions.
//!
//! Works on an in-memory [`TrainingSet`] of prepared inputs; [`TrainingSet::from_dataset`]
//! builds one from a data set.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use ndarray::Array2;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

use super::optim::{AdamW, AdamWParams};
use super::resnet::{ResNet1d, init_parameters};
use super::{ModelConfig, ModelError, Task, config_path_for};
use crate::progress::{Progress, ProgressSink};
use crate::stats::auroc;

/// Prepared inputs (model leads x model length, mV, before `input_scale`) with targets.
#[derive(Debug, Clone, Default)]
pub struct TrainingSet {
    pub inputs: Vec<Array2<f32>>,
    /// Per record: multilabel 0/1 per output; multiclass one-hot; regression the values.
    pub targets: Vec<Vec<f32>>,
    /// Cross-validation fold of each record.
    pub folds: Vec<u32>,
    pub ids: Vec<String>,
}

impl TrainingSet {
    pub fn len(&self) -> usize {
        self.inputs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty()
    }

    /// Checks lengths agree and every input and target fits the config.
    pub fn validate(&self, config: &ModelConfig) -> Result<(), ModelError> {
        let n = self.inputs.len();
        if self.targets.len() != n || self.folds.len() != n || self.ids.len() != n {
            return Err(ModelError::Training(format!(
                "training set lengths differ: {} inputs, {} targets, {} folds, {} ids",
                n,
                self.targets.len(),
                self.folds.len(),
                self.ids.len()
            )));
        }
        for (i, (x, t)) in self.inputs.iter().zip(&self.targets).enumerate() {
            if x.dim() != (config.input_channels, config.input_length) {
                return Err(ModelError::Training(format!(
                    "record {} has shape {:?}, the model expects ({}, {})",
                    self.ids[i],
                    x.dim(),
                    config.input_channels,
                    config.input_length
                )));
            }
            if t.len() != config.n_outputs {
                return Err(ModelError::Training(format!(
                    "record {} has {} targets, the model has {} outputs",
                    self.ids[i],
                    t.len(),
                    config.n_outputs
                )));
            }
            if x.iter().any(|v| !v.is_finite()) || t.iter().any(|v| !v.is_finite()) {
                return Err(ModelError::Training(format!(
                    "record {} holds non-finite values",
                    self.ids[i]
                )));
            }
        }
        Ok(())
    }

    /// Indices of the records in (`true`) or not in (`false`) the given folds.
    pub fn indices_where(&self, keep: impl Fn(u32) -> bool) -> Vec<usize> {
        (0..self.len()).filter(|&i| keep(self.folds[i])).collect()
    }
}

/// Learning-rate schedule over epochs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LrSchedule {
    Constant,
    /// Cosine decay from `lr` to `lr * min_factor` over all epochs.
    Cosine {
        min_factor: f64,
    },
    /// Multiply by `factor` every `every_epochs` epochs (Ribeiro et al. used 0.1 on plateau).
    Step {
        every_epochs: usize,
        factor: f64,
    },
}

impl LrSchedule {
    pub fn lr_at(&self, base_lr: f64, epoch: usize, epochs: usize) -> f64 {
        match *self {
            LrSchedule::Constant => base_lr,
            LrSchedule::Cosine { min_factor } => {
                let t = epoch as f64 / epochs.max(1) as f64;
                let min = base_lr * min_factor;
                min + 0.5 * (base_lr - min) * (1.0 + (std::f64::consts::PI * t).cos())
            }
            LrSchedule::Step {
                every_epochs,
                factor,
            } => base_lr * factor.powi((epoch / every_epochs.max(1)) as i32),
        }
    }
}

/// Random changes to each training record, drawn anew every epoch (seeded by the epoch, so a
/// resumed run draws what the uninterrupted one would). Validation records are never changed.
///
/// Why shifts: Ribeiro's network ends in a dense layer on the flattened last block, so each of
/// its 16 steps has weights of its own, and a 10 s record in a data set of centred records can
/// tie evidence to where in the window it lies rather than to the wave that carries it. Moving
/// every record by up to a beat makes the same wave appear at other positions. Why gains: leads
/// differ in amplitude from cart to cart and patient to patient (electrode position, body
/// habitus) with the same diagnosis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Augmentation {
    /// Each record moves in time by a whole number of samples drawn uniformly from
    /// [-max, max]; the samples moved in are zeros, like the input's padding. 0 = off.
    pub max_shift_samples: usize,
    /// Each record (every lead alike) is multiplied by a gain drawn log-uniformly from
    /// [1 / max_gain, max_gain]. 1 = off.
    pub max_gain: f32,
}

impl Default for Augmentation {
    fn default() -> Self {
        Augmentation {
            max_shift_samples: 0,
            max_gain: 1.0,
        }
    }
}

impl Augmentation {
    pub fn is_off(&self) -> bool {
        self.max_shift_samples == 0 && self.max_gain == 1.0
    }

    fn validate(&self) -> Result<(), ModelError> {
        if !(self.max_gain.is_finite() && self.max_gain >= 1.0) {
            return Err(ModelError::Training(format!(
                "the augmentation's max gain must be at least 1, not {}",
                self.max_gain
            )));
        }
        Ok(())
    }

    /// Apply to one record (C, L), already scaled, in place: `rng` draws its shift and gain.
    fn apply(&self, record: &mut [f32], length: usize, rng: &mut Xoshiro256PlusPlus) {
        use rand::Rng;
        let max = self.max_shift_samples.min(length.saturating_sub(1)) as i64;
        let shift = if max > 0 {
            rng.gen_range(-max..=max)
        } else {
            0
        };
        let gain = if self.max_gain > 1.0 {
            let g = self.max_gain.ln();
            rng.gen_range(-g..=g).exp()
        } else {
            1.0
        };
        for row in record.chunks_exact_mut(length) {
            if shift > 0 {
                let s = shift as usize;
                row.copy_within(..length - s, s);
                row[..s].fill(0.0);
            } else if shift < 0 {
                let s = (-shift) as usize;
                row.copy_within(s.., 0);
                row[length - s..].fill(0.0);
            }
            if gain != 1.0 {
                row.iter_mut().for_each(|v| *v *= gain);
            }
        }
    }
}

/// Training settings. Defaults (see [`TrainParams::default`]): 30 epochs, AdamW lr 1e-3,
/// weight decay 1e-2, batch 32, cosine schedule down to 1 % of lr, patience 10 epochs,
/// seed 0, f32 checkpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainParams {
    pub epochs: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub batch_size: usize,
    pub schedule: LrSchedule,
    /// Stop when the validation loss has not improved for this many epochs.
    pub patience: usize,
    /// Seeds the initial weights, the shuffling and the dropout masks.
    pub seed: u64,
    /// Data type of the saved checkpoint (f32, f16 or bf16); training is in f32.
    pub save_dtype: DType,
    /// Start from these weights (safetensors with PyTorch key names, e.g. a model pre-trained
    /// on synthetic records) instead of a random initialisation. A tensor missing from the file
    /// or of another shape (e.g. an output layer of another size) keeps its random start.
    pub init_weights: Option<std::path::PathBuf>,
    /// Random shifts and gains of the training records (default: off).
    pub augmentation: Augmentation,
}

impl Default for TrainParams {
    fn default() -> Self {
        TrainParams {
            epochs: 30,
            lr: 1e-3,
            weight_decay: 1e-2,
            batch_size: 32,
            schedule: LrSchedule::Cosine { min_factor: 0.01 },
            patience: 10,
            seed: 0,
            save_dtype: DType::F32,
            init_weights: None,
            augmentation: Augmentation::default(),
        }
    }
}

impl TrainParams {
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |m: &str| Err(ModelError::Training(m.to_string()));
        if self.epochs == 0 {
            return bad("epochs must be at least 1");
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad("lr must be positive");
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad("weight_decay must be non-negative");
        }
        if self.batch_size < 2 {
            return bad("batch_size must be at least 2 (batch norm needs batch statistics)");
        }
        self.augmentation.validate()?;
        if !matches!(self.save_dtype, DType::F32 | DType::F16 | DType::BF16) {
            return bad("save_dtype must be f32, f16 or bf16");
        }
        match self.schedule {
            LrSchedule::Cosine { min_factor } if !(0.0..=1.0).contains(&min_factor) => {
                bad("cosine min_factor must be in [0, 1]")
            }
            LrSchedule::Step {
                every_epochs: 0, ..
            } => bad("step schedule needs every_epochs >= 1"),
            LrSchedule::Step { factor, .. } if !(factor > 0.0 && factor <= 1.0) => {
                bad("step factor must be in (0, 1]")
            }
            _ => Ok(()),
        }
    }
}

/// One epoch's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    pub epoch: usize,
    pub lr: f64,
    pub train_loss: f64,
    pub val_loss: f64,
    /// Macro AUROC (multilabel), accuracy (multiclass), mean absolute error (regression).
    pub val_metric: f64,
}

/// The result of [`train`].
#[derive(Debug)]
pub struct TrainOutcome {
    /// The best model's state dict (PyTorch key names, f32, CPU).
    pub best: HashMap<String, Tensor>,
    pub best_epoch: usize,
    pub history: Vec<EpochStats>,
    /// True when stopped by the progress sink; `best` is the best model so far.
    pub cancelled: bool,
}

/// Name of the validation metric of a task.
pub fn metric_name(task: Task) -> &'static str {
    match task {
        Task::Multilabel => "macro AUROC",
        Task::Multiclass => "accuracy",
        Task::Regression => "MAE",
    }
}

/// Mean AUROC over the outputs that have both classes present; `None` if none has.
pub fn macro_auroc(probs: &[Vec<f32>], targets: &[Vec<f32>]) -> Option<f64> {
    let n_out = targets.first().map_or(0, |t| t.len());
    let aucs: Vec<f64> = (0..n_out)
        .filter_map(|c| {
            let s: Vec<f32> = probs.iter().map(|p| p[c]).collect();
            let l: Vec<bool> = targets.iter().map(|t| t[c] > 0.5).collect();
            auroc(&s, &l)
        })
        .collect();
    (!aucs.is_empty()).then(|| aucs.iter().sum::<f64>() / aucs.len() as f64)
}

/// Multiclass: share of argmax hits. Multilabel: share of (record, output) pairs where the
/// thresholded probability (0.5) equals the label.
pub fn accuracy(task: Task, probs: &[Vec<f32>], targets: &[Vec<f32>]) -> f64 {
    if probs.is_empty() {
        return f64::NAN;
    }
    match task {
        Task::Multiclass => {
            let hits = probs
                .iter()
                .zip(targets)
                .filter(|(p, t)| argmax(p) == argmax(t))
                .count();
            hits as f64 / probs.len() as f64
        }
        _ => {
            let mut hits = 0usize;
            let mut n = 0usize;
            for (p, t) in probs.iter().zip(targets) {
                for (pv, tv) in p.iter().zip(t) {
                    hits += usize::from((*pv > 0.5) == (*tv > 0.5));
                    n += 1;
                }
            }
            hits as f64 / n.max(1) as f64
        }
    }
}

/// Multilabel: share of records whose whole thresholded label set is right.
pub fn exact_match(probs: &[Vec<f32>], targets: &[Vec<f32>]) -> f64 {
    let hits = probs
        .iter()
        .zip(targets)
        .filter(|(p, t)| {
            p.iter()
                .zip(t.iter())
                .all(|(pv, tv)| (*pv > 0.5) == (*tv > 0.5))
        })
        .count();
    hits as f64 / probs.len().max(1) as f64
}

fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best
}

/// The task's validation metric from activated outputs.
pub fn task_metric(task: Task, probs: &[Vec<f32>], targets: &[Vec<f32>]) -> f64 {
    match task {
        Task::Multilabel => macro_auroc(probs, targets).unwrap_or(f64::NAN),
        Task::Multiclass => accuracy(task, probs, targets),
        Task::Regression => {
            let (mut sum, mut n) = (0.0f64, 0usize);
            for (p, t) in probs.iter().zip(targets) {
                for (pv, tv) in p.iter().zip(t) {
                    sum += (pv - tv).abs() as f64;
                    n += 1;
                }
            }
            sum / n.max(1) as f64
        }
    }
}

/// Mean loss of a batch: numerically stable BCE with logits, cross-entropy over softmax, or
/// mean squared error.
pub fn loss(task: Task, logits: &Tensor, targets: &Tensor) -> candle_core::Result<Tensor> {
    match task {
        Task::Multilabel => {
            // max(z, 0) - z t + log(1 + exp(-|z|))
            let pos = logits.relu()?;
            let zt = (logits * targets)?;
            let soft = (logits.abs()?.neg()?.exp()? + 1.0)?.log()?;
            ((pos - zt)? + soft)?.mean_all()
        }
        Task::Multiclass => {
            let classes = targets.argmax(1)?;
            candle_nn::loss::cross_entropy(logits, &classes)
        }
        Task::Regression => candle_nn::loss::mse(logits, targets),
    }
}

/// A batch's inputs (B, C, L) and targets; each record changed by `augment` when given.
fn batch_tensors(
    set: &TrainingSet,
    idx: &[usize],
    config: &ModelConfig,
    device: &Device,
    mut augment: Option<(&Augmentation, &mut Xoshiro256PlusPlus)>,
) -> candle_core::Result<(Tensor, Tensor)> {
    let (c, l) = (config.input_channels, config.input_length);
    let mut x = Vec::with_capacity(idx.len() * c * l);
    let mut t = Vec::with_capacity(idx.len() * config.n_outputs);
    for &i in idx {
        let start = x.len();
        x.extend(set.inputs[i].iter().map(|v| v * config.input_scale));
        if let Some((augmentation, rng)) = augment.as_mut() {
            augmentation.apply(&mut x[start..], l, rng);
        }
        t.extend_from_slice(&set.targets[i]);
    }
    Ok((
        Tensor::from_vec(x, (idx.len(), c, l), device)?,
        Tensor::from_vec(t, (idx.len(), config.n_outputs), device)?,
    ))
}

/// Eval-mode raw outputs and mean loss of the given records.
pub fn evaluate(
    net: &ResNet1d,
    set: &TrainingSet,
    idx: &[usize],
    batch_size: usize,
    device: &Device,
) -> Result<(Vec<Vec<f32>>, f64), ModelError> {
    let config = net.config();
    let mut raw = Vec::with_capacity(idx.len());
    let mut loss_sum = 0.0;
    for chunk in idx.chunks(batch_size.max(1)) {
        let (x, t) = batch_tensors(set, chunk, config, device, None)?;
        let logits = net.forward_t(&x, false)?;
        loss_sum += loss(config.task, &logits, &t)?.to_scalar::<f32>()? as f64 * chunk.len() as f64;
        raw.extend(logits.to_vec2::<f32>()?);
    }
    Ok((raw, loss_sum / idx.len().max(1) as f64))
}

/// A network being trained: the network, its variables by PyTorch name, and the optimizer.
pub struct Trainer {
    pub net: ResNet1d,
    pub opt: AdamW,
    varmap: VarMap,
}

impl Trainer {
    /// Every variable (parameters and batch-norm running statistics) with its name.
    fn variables(&self) -> Result<Vec<(String, candle_core::Var)>, ModelError> {
        variables_of(&self.varmap)
    }
}

fn variables_of(varmap: &VarMap) -> Result<Vec<(String, candle_core::Var)>, ModelError> {
    let data = varmap
        .data()
        .lock()
        .map_err(|_| ModelError::Training("variable map lock poisoned".into()))?;
    Ok(data.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

/// A network ready to train (see [`TrainParams::init_weights`] for its starting values) whose
/// parameters are variables, and the AdamW optimizer over them. `output_bias`, when given,
/// starts the output layer's bias there unless the initial weights already hold one of that
/// size (see [`regression_output_start`]).
pub fn trainable(
    config: &ModelConfig,
    params: &TrainParams,
    output_bias: Option<&[f32]>,
    device: &Device,
) -> Result<Trainer, ModelError> {
    let varmap = VarMap::new();
    {
        let mut data = varmap
            .data()
            .lock()
            .map_err(|_| ModelError::Training("variable map lock poisoned".into()))?;
        for (name, t) in initial_parameters(config, params, output_bias, device)? {
            data.insert(name, candle_core::Var::from_tensor(&t)?);
        }
    }
    let vars = variables_of(&varmap)?;
    let net = ResNet1d::new(config, VarBuilder::from_varmap(&varmap, DType::F32, device))?;
    let opt = AdamW::new(vars, AdamWParams::new(params.lr, params.weight_decay))?;
    Ok(Trainer { net, opt, varmap })
}

/// One optimisation step on a batch (x: (B, leads, samples) already scaled, targets:
/// (B, outputs)): training-mode forward, the task's loss, backward, AdamW update. Returns the
/// batch's mean loss.
pub fn train_step(trainer: &mut Trainer, x: &Tensor, targets: &Tensor) -> Result<f64, ModelError> {
    let logits = trainer.net.forward_t(x, true)?;
    let l = loss(trainer.net.config().task, &logits, targets)?;
    trainer.opt.backward_step(&l)?;
    Ok(l.to_scalar::<f32>()? as f64)
}

/// What a resumable run keeps after each epoch (see [`train`]'s `state`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ResumeMeta {
    /// Hash of the config, the settings and the records: a state is only resumed by the run
    /// that wrote it.
    fingerprint: String,
    epochs_done: usize,
    optimizer_steps: usize,
    history: Vec<EpochStats>,
    best: Option<(f64, usize)>,
    since_best: usize,
}

const STATE_META: &str = "meta.json";
const STATE_VAR: &str = "var.";
const STATE_BEST: &str = "best.";

fn run_fingerprint(
    config: &ModelConfig,
    set: &TrainingSet,
    train_idx: &[usize],
    val_idx: &[usize],
    params: &TrainParams,
) -> Result<String, ModelError> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let config = serde_json::to_string(config)
        .map_err(|e| ModelError::Training(format!("cannot serialise the config: {e}")))?;
    h.update(config.as_bytes());
    h.update(format!("{params:?}").as_bytes());
    for (tag, idx) in [("train", train_idx), ("val", val_idx)] {
        h.update(tag.as_bytes());
        for &i in idx {
            h.update(set.ids[i].as_bytes());
            h.update([0u8]);
        }
    }
    Ok(format!("{:x}", h.finalize()))
}

/// Writes the variables, the optimizer's moments, the best state so far and `meta` to ONE
/// safetensors file (temporary name, then renamed: a state is whole or absent).
fn save_state(
    path: &Path,
    trainer: &Trainer,
    meta: &ResumeMeta,
    best: Option<&HashMap<String, Tensor>>,
) -> Result<(), ModelError> {
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    for (k, v) in trainer.variables()? {
        tensors.insert(format!("{STATE_VAR}{k}"), v.as_tensor().copy()?);
    }
    tensors.extend(trainer.opt.state()?);
    for (k, t) in best.into_iter().flatten() {
        tensors.insert(format!("{STATE_BEST}{k}"), t.clone());
    }
    let json = serde_json::to_vec(meta)
        .map_err(|e| ModelError::Training(format!("cannot serialise the training state: {e}")))?;
    let n = json.len();
    tensors.insert(STATE_META.into(), Tensor::from_vec(json, n, &Device::Cpu)?);
    let tmp = tmp_path(path);
    candle_core::safetensors::save(&tensors, &tmp).map_err(|e| ModelError::Weights {
        path: path.to_path_buf(),
        message: format!("cannot write the training state: {e}"),
    })?;
    std::fs::rename(&tmp, path).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a state written by [`save_state`] into `trainer`; returns its meta and best state.
fn load_state(
    path: &Path,
    fingerprint: &str,
    trainer: &mut Trainer,
    device: &Device,
) -> Result<(ResumeMeta, Option<HashMap<String, Tensor>>), ModelError> {
    let bad = |message: String| ModelError::Weights {
        path: path.to_path_buf(),
        message,
    };
    let mut tensors = candle_core::safetensors::load(path, device)
        .map_err(|e| bad(format!("not a readable training state: {e}")))?;
    let meta = tensors
        .remove(STATE_META)
        .ok_or_else(|| bad("not a training state (no meta.json)".into()))?;
    let meta: ResumeMeta = serde_json::from_slice(&meta.to_vec1::<u8>()?)
        .map_err(|e| bad(format!("unreadable training state: {e}")))?;
    if meta.fingerprint != fingerprint {
        return Err(bad(
            "written by a run with another model, settings or records; delete it to start \
             afresh"
                .into(),
        ));
    }
    for (k, v) in trainer.variables()? {
        let t = tensors
            .get(&format!("{STATE_VAR}{k}"))
            .ok_or_else(|| bad(format!("{k} is missing")))?;
        v.set(t).map_err(|e| bad(format!("{k}: {e}")))?;
    }
    trainer
        .opt
        .load_state(&tensors, meta.optimizer_steps)
        .map_err(|e| bad(e.to_string()))?;
    let best: HashMap<String, Tensor> = tensors
        .into_iter()
        .filter_map(|(k, t)| k.strip_prefix(STATE_BEST).map(|k| (k.to_string(), t)))
        .collect();
    let best = (!best.is_empty()).then_some(best);
    if meta.best.is_some() != best.is_some() {
        return Err(bad("the best model's weights are missing".into()));
    }
    Ok((meta, best))
}

/// Trains a fresh network on `train_idx`, keeping the state with the lowest loss on `val_idx`
/// (written to `checkpoint`, with its JSON config, at each improvement, so an interrupted run
/// leaves the best model on disk). Cancelling through `progress` stops between batches and
/// returns the best model so far with `cancelled = true`.
///
/// With `state`, the whole run (weights, optimizer moments, best model, history) is saved
/// there after every epoch, and a state found there at the start is resumed from: the run
/// continues exactly as if it had not stopped (each epoch's shuffle and dropout masks are
/// seeded by the epoch's number). The file is removed when the run ends normally.
#[allow(clippy::too_many_arguments)]
pub fn train(
    config: &ModelConfig,
    set: &TrainingSet,
    train_idx: &[usize],
    val_idx: &[usize],
    params: &TrainParams,
    checkpoint: Option<&Path>,
    state: Option<&Path>,
    device: &Device,
    stage: &str,
    progress: &dyn ProgressSink,
) -> Result<TrainOutcome, ModelError> {
    config.validate().map_err(ModelError::Training)?;
    params.validate()?;
    set.validate(config)?;
    if train_idx.len() < 2 || val_idx.is_empty() {
        return Err(ModelError::Training(format!(
            "need at least 2 training and 1 validation records, have {} and {}",
            train_idx.len(),
            val_idx.len()
        )));
    }
    let output_bias = regression_output_start(config.task, set, train_idx);
    let mut trainer = trainable(config, params, output_bias.as_deref(), device)?;
    let fingerprint = run_fingerprint(config, set, train_idx, val_idx, params)?;
    let mut meta = ResumeMeta {
        fingerprint,
        epochs_done: 0,
        optimizer_steps: 0,
        history: Vec::new(),
        best: None,
        since_best: 0,
    };
    let mut best_state: Option<HashMap<String, Tensor>> = None;
    if let Some(path) = state.filter(|p| p.exists()) {
        let fingerprint = meta.fingerprint.clone();
        (meta, best_state) = load_state(path, &fingerprint, &mut trainer, device)?;
        log::info!(
            "{stage}: resumed from {} after epoch {}",
            path.display(),
            meta.epochs_done
        );
    }
    let n_batches = train_idx.len().div_ceil(params.batch_size);
    let total = n_batches * params.epochs;
    let mut cancelled = false;
    let metric = metric_name(config.task);
    let stopped_early = |m: &ResumeMeta| m.best.is_some() && m.since_best >= params.patience;
    while meta.epochs_done < params.epochs && !stopped_early(&meta) {
        let epoch = meta.epochs_done;
        let lr = params.schedule.lr_at(params.lr, epoch, params.epochs);
        trainer.opt.set_learning_rate(lr);
        // Seeded by the epoch, so a resumed run draws what the uninterrupted one would.
        let epoch_seed = params.seed.wrapping_add((epoch as u64 + 1) * 0x9E37_79B9);
        let mut order = train_idx.to_vec();
        order.shuffle(&mut Xoshiro256PlusPlus::seed_from_u64(
            epoch_seed.wrapping_add(2),
        ));
        trainer.net.set_dropout_seed(epoch_seed.wrapping_add(1));
        let mut augment_rng = Xoshiro256PlusPlus::seed_from_u64(epoch_seed.wrapping_add(3));
        let mut loss_sum = 0.0f64;
        let mut seen = 0usize;
        let last = meta.history.last().map_or(String::new(), |h: &EpochStats| {
            format!(" | val loss {:.4} {metric} {:.4}", h.val_loss, h.val_metric)
        });
        for (b, chunk) in order.chunks(params.batch_size).enumerate() {
            if progress.is_cancelled() {
                cancelled = true;
                break;
            }
            // A batch of one has no batch statistics to normalise with.
            if chunk.len() < 2 {
                continue;
            }
            let augment =
                (!params.augmentation.is_off()).then_some((&params.augmentation, &mut augment_rng));
            let (x, t) = batch_tensors(set, chunk, config, device, augment)?;
            let lv = train_step(&mut trainer, &x, &t)?;
            if !lv.is_finite() {
                return Err(ModelError::Training(format!(
                    "{stage}: loss became {lv} in epoch {epoch}; lower the learning rate"
                )));
            }
            loss_sum += lv * chunk.len() as f64;
            seen += chunk.len();
            progress.report(Progress {
                stage: format!(
                    "{stage} epoch {}/{} loss {:.4}{last}",
                    epoch + 1,
                    params.epochs,
                    loss_sum / seen as f64
                ),
                done: epoch * n_batches + b + 1,
                total,
                share: None,
            });
        }
        if cancelled {
            break;
        }
        let net = &trainer.net;
        let (raw, val_loss) = evaluate(net, set, val_idx, params.batch_size, device)?;
        let probs: Vec<Vec<f32>> = raw.iter().map(|r| config.task.activate(r)).collect();
        let targets: Vec<Vec<f32>> = val_idx.iter().map(|&i| set.targets[i].clone()).collect();
        let val_metric = task_metric(config.task, &probs, &targets);
        meta.history.push(EpochStats {
            epoch,
            lr,
            train_loss: loss_sum / seen.max(1) as f64,
            val_loss,
            val_metric,
        });
        log::info!(
            "{stage} epoch {epoch}: train loss {:.4} val loss {val_loss:.4} {metric} {val_metric:.4}",
            loss_sum / seen.max(1) as f64
        );
        if meta.best.is_none_or(|(l, _)| val_loss < l) {
            // Deep copies: the optimizer updates the variables in place.
            let snapshot = net
                .state_dict()?
                .into_iter()
                .map(|(k, t)| Ok((k, t.copy()?)))
                .collect::<candle_core::Result<HashMap<_, _>>>()?;
            if let Some(path) = checkpoint {
                save_model(path, config, &snapshot, params.save_dtype)?;
            }
            best_state = Some(snapshot);
            meta.best = Some((val_loss, epoch));
            meta.since_best = 0;
        } else {
            meta.since_best += 1;
        }
        meta.epochs_done = epoch + 1;
        meta.optimizer_steps = trainer.opt.steps();
        if let Some(path) = state {
            save_state(path, &trainer, &meta, best_state.as_ref())?;
        }
    }
    if !cancelled && let Some(path) = state.filter(|p| p.exists()) {
        std::fs::remove_file(path).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    }
    match (best_state, meta.best) {
        (Some(best), Some((_, best_epoch))) => Ok(TrainOutcome {
            best,
            best_epoch,
            history: meta.history,
            cancelled,
        }),
        _ if cancelled => Err(ModelError::Cancelled),
        _ => Err(ModelError::Training("no epoch completed".into())),
    }
}

/// Where a regression network's output starts: the mean of each output's training targets.
/// Why: targets such as age in years sit far from zero (PTB-XL: mean about 60 years, SD about 17), and a
/// zero-bias output spends its first epochs only learning that offset, with large gradients
/// through every layer; starting at the mean leaves the network to learn the deviations. It is
/// a starting value only (the bias trains as usual) and keeps PyTorch's `lin.bias` layout.
/// `None` for classification tasks.
pub fn regression_output_start(
    task: Task,
    set: &TrainingSet,
    train_idx: &[usize],
) -> Option<Vec<f32>> {
    if task != Task::Regression || train_idx.is_empty() {
        return None;
    }
    let n_out = set.targets.get(train_idx[0])?.len();
    let mut sum = vec![0.0f64; n_out];
    for &i in train_idx {
        for (s, t) in sum.iter_mut().zip(&set.targets[i]) {
            *s += *t as f64;
        }
    }
    Some(
        sum.iter()
            .map(|s| (s / train_idx.len() as f64) as f32)
            .collect(),
    )
}

/// The starting parameters: a seeded random initialisation, with every tensor of
/// `params.init_weights` (if given) that matches a parameter's name and shape put in its place,
/// and the output bias at `output_bias` unless the initial weights gave it.
fn initial_parameters(
    config: &ModelConfig,
    params: &TrainParams,
    output_bias: Option<&[f32]>,
    device: &Device,
) -> Result<Vec<(String, Tensor)>, ModelError> {
    let mut start = init_parameters(config, params.seed, device)?;
    let loaded_bias = match &params.init_weights {
        Some(path) => load_initial_weights(path, &mut start, device)?,
        None => false,
    };
    if let Some(bias) = output_bias.filter(|b| !loaded_bias && b.len() == config.n_outputs) {
        for (name, t) in &mut start {
            if name == "lin.bias" {
                *t = Tensor::from_slice(bias, bias.len(), device)?;
            }
        }
    }
    Ok(start)
}

/// Replaces the tensors of `start` that `path` holds with the same name and shape. Returns
/// whether the output bias was among them.
fn load_initial_weights(
    path: &Path,
    start: &mut [(String, Tensor)],
    device: &Device,
) -> Result<bool, ModelError> {
    let loaded = candle_core::safetensors::load(path, device).map_err(|e| {
        ModelError::Training(format!("reading initial weights {}: {e}", path.display()))
    })?;
    let mut replaced = 0usize;
    let mut loaded_bias = false;
    for (name, t) in start.iter_mut() {
        if let Some(w) = loaded.get(name.as_str())
            && w.dims() == t.dims()
        {
            let w = w.to_dtype(DType::F32)?;
            let finite = w
                .flatten_all()?
                .to_vec1::<f32>()?
                .iter()
                .all(|v| v.is_finite());
            if !finite {
                return Err(ModelError::Training(format!(
                    "initial weights {}: tensor '{name}' holds NaN or infinite values",
                    path.display()
                )));
            }
            *t = w;
            replaced += 1;
            loaded_bias |= name == "lin.bias";
        }
    }
    if replaced == 0 {
        return Err(ModelError::Training(format!(
            "initial weights {}: no tensor matches this architecture's names and shapes",
            path.display()
        )));
    }
    log::info!(
        "started from {} of {} tensors of {}",
        replaced,
        start.len(),
        path.display()
    );
    Ok(loaded_bias)
}

/// Writes weights (PyTorch key names, `dtype`) and the JSON config beside them
/// (`<stem>.json`). Both are written to temporary files and renamed, so an interruption never
/// leaves a half-written model.
pub fn save_model(
    path: &Path,
    config: &ModelConfig,
    tensors: &HashMap<String, Tensor>,
    dtype: DType,
) -> Result<(), ModelError> {
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| ModelError::Io { path: p, source }
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let converted = tensors
        .iter()
        .map(|(k, t)| Ok((k.clone(), t.to_dtype(dtype)?)))
        .collect::<candle_core::Result<HashMap<_, _>>>()?;
    let tmp = tmp_path(path);
    candle_core::safetensors::save(&converted, &tmp).map_err(|e| ModelError::Weights {
        path: path.to_path_buf(),
        message: format!("cannot write: {e}"),
    })?;
    std::fs::rename(&tmp, path).map_err(io(path))?;
    let config_path = config_path_for(path);
    let json = serde_json::to_string_pretty(config)
        .map_err(|e| ModelError::Training(format!("cannot serialise the config: {e}")))?;
    crate::io::files::write_atomic(&config_path, (json + "\n").as_bytes(), true).map_err(|e| {
        ModelError::Io {
            path: config_path.clone(),
            source: std::io::Error::other(crate::error_text::describe(&e)),
        }
    })
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Cross-validation settings.
#[derive(Debug, Clone)]
pub struct CvParams {
    pub train: TrainParams,
    /// Write each fold's model as `<dir>/<stem>.fold<k>.safetensors` when set.
    pub fold_models: Option<PathBuf>,
    /// Keep the run resumable in this folder: each finished fold's outputs
    /// (`fold<k>.done.json`) and the running fold's state (`fold<k>.state.safetensors`, see
    /// [`train`]). Finished folds found there are not trained again.
    pub state_dir: Option<PathBuf>,
}

/// The result of [`cross_validate`].
#[derive(Debug)]
pub struct CvOutcome {
    /// The distinct folds in ascending order.
    pub folds: Vec<u32>,
    /// Per record: activated out-of-fold outputs (probabilities for classification), from the
    /// model that did not see the record's fold.
    pub oof: Vec<Vec<f32>>,
    /// Best epoch and history per fold.
    pub per_fold: Vec<(u32, usize, Vec<EpochStats>)>,
    pub cancelled: bool,
}

/// A finished fold as kept in the state folder.
#[derive(Debug, Serialize, Deserialize)]
struct FoldDone {
    fold: u32,
    best_epoch: usize,
    history: Vec<EpochStats>,
    /// (record id, activated outputs) of the fold's test records.
    outputs: Vec<(String, Vec<f32>)>,
}

/// The finished fold `fold` from `dir`, if it was saved there; its records must be `test_idx`.
fn read_fold_done(
    dir: &Path,
    fold: u32,
    set: &TrainingSet,
    test_idx: &[usize],
) -> Result<Option<FoldDone>, ModelError> {
    let path = dir.join(format!("fold{fold}.done.json"));
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(ModelError::Io { path, source }),
    };
    let bad = |message: String| ModelError::Weights {
        path: path.clone(),
        message,
    };
    let done: FoldDone =
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("unreadable: {e}")))?;
    let ids: Vec<&str> = test_idx.iter().map(|&i| set.ids[i].as_str()).collect();
    let saved: Vec<&str> = done.outputs.iter().map(|(id, _)| id.as_str()).collect();
    if done.fold != fold || ids != saved {
        return Err(bad(format!(
            "fold {fold} of another data set or fold assignment; delete {} to start afresh",
            dir.display()
        )));
    }
    Ok(Some(done))
}

/// k-fold cross-validation over the set's folds: for test fold k, validation (early stopping)
/// on the next fold (cyclically), training on the rest; out-of-fold predictions for every
/// record. Folds are the distinct values of `set.folds` (at least 3). `fold_done` is called
/// after each fold with the out-of-fold outputs so far (empty for records of folds not yet
/// done), e.g. to write them as they come.
pub fn cross_validate(
    config: &ModelConfig,
    set: &TrainingSet,
    params: &CvParams,
    device: &Device,
    progress: &dyn ProgressSink,
    fold_done: &mut dyn FnMut(&[Vec<f32>]) -> Result<(), ModelError>,
) -> Result<CvOutcome, ModelError> {
    set.validate(config)?;
    let mut folds: Vec<u32> = set.folds.clone();
    folds.sort_unstable();
    folds.dedup();
    if folds.len() < 3 {
        return Err(ModelError::Training(format!(
            "cross-validation needs at least 3 folds, the set has {}",
            folds.len()
        )));
    }
    if let Some(dir) = &params.state_dir {
        std::fs::create_dir_all(dir).map_err(|source| ModelError::Io {
            path: dir.clone(),
            source,
        })?;
    }
    let mut oof = vec![Vec::new(); set.len()];
    let mut per_fold = Vec::new();
    for (k, &test_fold) in folds.iter().enumerate() {
        let val_fold = folds[(k + 1) % folds.len()];
        let train_idx = set.indices_where(|f| f != test_fold && f != val_fold);
        let val_idx = set.indices_where(|f| f == val_fold);
        let test_idx = set.indices_where(|f| f == test_fold);
        let state_dir = params.state_dir.as_deref();
        if let Some(done) = state_dir
            .map(|d| read_fold_done(d, test_fold, set, &test_idx))
            .transpose()?
            .flatten()
        {
            for (&i, (_, out)) in test_idx.iter().zip(done.outputs) {
                oof[i] = out;
            }
            log::info!("fold {test_fold}: finished earlier, outputs read from the state folder");
            per_fold.push((test_fold, done.best_epoch, done.history));
            continue;
        }
        let checkpoint = params
            .fold_models
            .as_ref()
            .map(|p| fold_model_path(p, test_fold));
        let mut fold_params = params.train.clone();
        fold_params.seed = params.train.seed.wrapping_add(1000 * test_fold as u64);
        let stage = format!(
            "fold {}/{} (test {test_fold}, val {val_fold})",
            k + 1,
            folds.len()
        );
        let state = state_dir.map(|d| d.join(format!("fold{test_fold}.state.safetensors")));
        let outcome = train(
            config,
            set,
            &train_idx,
            &val_idx,
            &fold_params,
            checkpoint.as_deref(),
            state.as_deref(),
            device,
            &stage,
            progress,
        )?;
        if outcome.cancelled {
            return Err(ModelError::Cancelled);
        }
        let vb = VarBuilder::from_tensors(outcome.best.clone(), DType::F32, device);
        let net = ResNet1d::new(config, vb)?;
        let (raw, _) = evaluate(&net, set, &test_idx, fold_params.batch_size, device)?;
        for (&i, r) in test_idx.iter().zip(raw) {
            oof[i] = config.task.activate(&r);
        }
        if let Some(dir) = state_dir {
            let done = FoldDone {
                fold: test_fold,
                best_epoch: outcome.best_epoch,
                history: outcome.history.clone(),
                outputs: test_idx
                    .iter()
                    .map(|&i| (set.ids[i].clone(), oof[i].clone()))
                    .collect(),
            };
            let path = dir.join(format!("fold{test_fold}.done.json"));
            let json = serde_json::to_vec(&done).map_err(|e| {
                ModelError::Training(format!("cannot serialise fold {test_fold}: {e}"))
            })?;
            crate::io::files::write_atomic(&path, &json, true).map_err(|e| ModelError::Io {
                path: path.clone(),
                source: std::io::Error::other(crate::error_text::describe(&e)),
            })?;
        }
        per_fold.push((test_fold, outcome.best_epoch, outcome.history));
        fold_done(&oof)?;
    }
    Ok(CvOutcome {
        folds,
        oof,
        per_fold,
        cancelled: false,
    })
}

/// `<dir>/<stem>.fold<k>.safetensors` beside `out`.
pub fn fold_model_path(out: &Path, fold: u32) -> PathBuf {
    let stem = out.file_stem().and_then(|s| s.to_str()).unwrap_or("model");
    out.with_file_name(format!("{stem}.fold{fold}.safetensors"))
}

/// Writes out-of-fold predictions as CSV: `id,fold,<output names...>`.
pub fn write_oof_csv(
    path: &Path,
    set: &TrainingSet,
    oof: &[Vec<f32>],
    names: &[String],
) -> Result<(), ModelError> {
    let err = |e: csv::Error| ModelError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    };
    // Written in memory, then atomically: an interrupted run never leaves half a file.
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["id".to_string(), "fold".to_string()];
    header.extend(names.iter().cloned());
    w.write_record(&header).map_err(err)?;
    // Records of folds not yet done (a run in progress) have no outputs and no row.
    for i in (0..set.len()).filter(|&i| !oof[i].is_empty()) {
        let mut row = vec![set.ids[i].clone(), set.folds[i].to_string()];
        row.extend(oof[i].iter().map(|v| format!("{v:.6}")));
        w.write_record(&row).map_err(err)?;
    }
    let bytes = w.into_inner().map_err(|e| ModelError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    })?;
    // The caller refused an existing file without --overwrite before training began.
    crate::io::files::write_atomic(path, &bytes, true).map_err(|e| ModelError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(crate::error_text::describe(&e)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn augmentation_shifts_in_zeros_scales_every_lead_alike_and_repeats_with_its_seed() {
        let length = 50;
        let record: Vec<f32> = (0..2 * length).map(|i| 1.0 + i as f32).collect();
        let aug = Augmentation {
            max_shift_samples: 5,
            max_gain: 2.0,
        };
        let draw = |seed| {
            let mut x = record.clone();
            aug.apply(&mut x, length, &mut Xoshiro256PlusPlus::seed_from_u64(seed));
            x
        };
        let mut moved = 0;
        for seed in 0..20 {
            let x = draw(seed);
            assert_eq!(x, draw(seed), "the same seed draws the same change");
            // Recover the shift from lead 0's zeros and the gain from a kept sample.
            let zeros_front = x[..length].iter().take_while(|&&v| v == 0.0).count();
            let zeros_back = x[..length].iter().rev().take_while(|&&v| v == 0.0).count();
            assert!(zeros_front <= 5 && zeros_back <= 5 && zeros_front * zeros_back == 0);
            let shift = zeros_front as i64 - zeros_back as i64;
            moved += usize::from(shift != 0);
            let t = 25usize;
            let gain = x[t] / record[(t as i64 - shift) as usize];
            assert!((0.5 - 1e-6..=2.0 + 1e-6).contains(&gain), "{gain}");
            // Lead 1 moved and scaled exactly as lead 0.
            for t in 5..length - 5 {
                let src = (t as i64 - shift) as usize;
                assert!((x[length + t] - gain * record[length + src]).abs() < 1e-3);
            }
        }
        assert!(moved > 10, "shifts are drawn, not always 0");
        let mut same = record.clone();
        Augmentation::default().apply(&mut same, length, &mut Xoshiro256PlusPlus::seed_from_u64(1));
        assert_eq!(same, record);
        assert!(
            TrainParams {
                augmentation: Augmentation {
                    max_shift_samples: 0,
                    max_gain: 0.5
                },
                ..TrainParams::default()
            }
            .validate()
            .is_err()
        );
    }
}
