//! The one pipeline: a record in, an [`Explanation`] out (used by the CLI, the app and tests),
//! and per-record features for fitting and for the surrogate's cache.

use candle_core::{DType, Tensor};
use ndarray::{Array2, s};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::dsp::{PreparedInput, PreprocessSettings, prepare};
use crate::io::Dataset;
use crate::model::{LoadedModel, ModelConfig, Task};
use crate::progress::{Progress, ProgressSink};
use crate::record::Ecg;
use crate::stats::pearson;
use crate::tlc::assign::{StepMap, assign, proportions, segments};
use crate::tlc::features::FeatureSettings;
use crate::tlc::features::{features_from_blocks, normalise_record};
use crate::tlc::gradcam::{gradcam, to_steps};
use crate::tlc::{Explainer, Explanation, GradCam, Prediction, TlcError};

/// Which output Grad-CAM explains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum GradCamOutput {
    /// The top predicted output (highest raw output), chosen by the model between its forward
    /// and backward pass.
    #[default]
    Top,
    /// An output by index.
    Index(usize),
    /// An output by name (the model's class names, case-insensitive).
    Named(String),
}

impl GradCamOutput {
    /// From the command line: an index (`2`) or a name (`MI`).
    pub fn parse(text: &str) -> Self {
        match text.parse::<usize>() {
            Ok(i) => GradCamOutput::Index(i),
            Err(_) => GradCamOutput::Named(text.to_string()),
        }
    }

    /// The output index for `config` (`None` = the top output, known only after the forward
    /// pass); an index or name the model does not have is an error listing its outputs.
    pub fn resolve(&self, config: &ModelConfig) -> Result<Option<usize>, TlcError> {
        let unknown = |what: String| {
            TlcError::setting(
                "gradcam output",
                format!(
                    "{what} does not exist (the model's {} outputs: {})",
                    config.n_outputs,
                    config.class_names.join(", ")
                ),
            )
        };
        match self {
            GradCamOutput::Top => Ok(None),
            GradCamOutput::Index(i) if *i < config.n_outputs => Ok(Some(*i)),
            GradCamOutput::Index(i) => Err(unknown(format!("output {i}"))),
            GradCamOutput::Named(name) => config
                .class_names
                .iter()
                .position(|n| n.eq_ignore_ascii_case(name))
                .map(Some)
                .ok_or_else(|| unknown(format!("output '{name}'"))),
        }
    }
}

/// Which output and block Grad-CAM explains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct GradCamTarget {
    pub output: GradCamOutput,
    /// Residual block; `None` = the last block (the usual Grad-CAM layer).
    pub block: Option<usize>,
}

/// Settings of [`explain_record`]. Default: Grad-CAM for the top predicted output at the last
/// block, the centred window. The filtering is not a setting: it comes from the explainer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExplainSettings {
    /// For records longer than the model's input: where the analysed window starts (seconds);
    /// `None` = centred.
    pub window_start_s: Option<f64>,
    /// Grad-CAM target; `None` = no Grad-CAM. Every target costs the same single forward pass
    /// and one backward pass.
    pub gradcam: Option<GradCamTarget>,
}

impl Default for ExplainSettings {
    fn default() -> Self {
        ExplainSettings {
            window_start_s: None,
            gradcam: Some(GradCamTarget::default()),
        }
    }
}

/// What the network gave for one record, already converted to arrays.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordOutputs {
    /// Raw outputs (logits or regression values).
    pub raw: Vec<f32>,
    /// Outputs (C_i, L_i) of the explainer's blocks, in the explainer's block order.
    pub blocks: Vec<Array2<f32>>,
    /// Grad-CAM inputs: (output, block, block activation (C, L), gradient (C, L)).
    pub gradcam: Option<(usize, usize, Array2<f32>, Array2<f32>)>,
}

/// Identity of the record being explained, for mapping steps onto its own time axis.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordInfo {
    pub id: String,
    pub fs_hz: f64,
    pub n_samples: usize,
    /// Why the model's outputs may not hold for this record ([`ModelConfig::data_notes`]).
    pub data_notes: Vec<String>,
}

/// The model's prediction from its raw outputs.
pub fn prediction(config: &ModelConfig, raw: &[f32]) -> Prediction {
    let probabilities = config.task.activate(raw);
    let names = |i: usize| {
        config
            .class_names
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("output {i}"))
    };
    let predicted_labels = match config.task {
        Task::Multilabel => (0..raw.len())
            .filter(|&i| probabilities[i] >= 0.5)
            .map(names)
            .collect(),
        Task::Multiclass => top_output(raw).map(names).into_iter().collect(),
        Task::Regression => Vec::new(),
    };
    Prediction {
        task: config.task,
        output_names: (0..raw.len()).map(names).collect(),
        raw: raw.to_vec(),
        probabilities,
        predicted_labels,
    }
}

/// Index of the highest raw output (ties -> lowest), `None` for no outputs.
pub fn top_output(raw: &[f32]) -> Option<usize> {
    (0..raw.len()).reduce(|b, i| if raw[i] > raw[b] { i } else { b })
}

/// Features (T, F) of one record from its block outputs, per the explainer's settings.
/// Features (T, F) of one record from its block outputs, per the explainer's settings, the
/// per-record normalisation computed over the steps `valid`.
pub fn explainer_features(
    explainer: &Explainer,
    blocks: &[Array2<f32>],
    valid: std::ops::Range<usize>,
) -> Result<Array2<f32>, TlcError> {
    let mut f = features_from_blocks(blocks, explainer.features.alignment)?;
    normalise_record(&mut f, valid, explainer.features.record_normalisation);
    if f.ncols() != explainer.mean.len() {
        return Err(TlcError::shape(
            "features",
            format!(
                "{} features (explainer '{}')",
                explainer.mean.len(),
                explainer.name
            ),
            f.ncols(),
        ));
    }
    Ok(f)
}

/// The rows of `features` (T, F) on valid steps (overlapping the real signal).
pub fn valid_rows(features: &Array2<f32>, prepared: &PreparedInput) -> Array2<f32> {
    let map = StepMap::new(prepared, features.nrows(), prepared.fs_hz, 0);
    let v = map.valid_steps();
    features.slice(s![v, ..]).to_owned()
}

/// The features of one record on its valid steps only, normalised per record as `features`
/// says (what fitting and the surrogate's cache use).
fn valid_features(
    block_arrays: &[Array2<f32>],
    features: &FeatureSettings,
    prepared: &PreparedInput,
) -> Result<Array2<f32>, TlcError> {
    let f = features_from_blocks(block_arrays, features.alignment)?;
    let mut valid = valid_rows(&f, prepared);
    let n_valid = valid.nrows();
    normalise_record(&mut valid, 0..n_valid, features.record_normalisation);
    Ok(valid)
}

/// Everything after the network: features, assignment, entropy, segments, proportions (over
/// valid steps), Grad-CAM and its correlation with the entropy.
pub fn explanation_from_outputs(
    explainer: &Explainer,
    model_name: &str,
    record: &RecordInfo,
    prepared: &PreparedInput,
    outputs: RecordOutputs,
) -> Result<Explanation, TlcError> {
    let n_steps = outputs.blocks.iter().map(|b| b.ncols()).max().unwrap_or(0);
    let map = StepMap::new(prepared, n_steps, record.fs_hz, record.n_samples);
    let valid = map.valid_steps();
    let features = explainer_features(explainer, &outputs.blocks, valid.clone())?;
    let clusters = explainer.cluster_model();
    let a = assign(features.view(), &clusters)?;
    let entropy: Vec<f32> = a.entropy.to_vec();
    let segs = segments(&a.labels, &entropy, &map);
    let props = proportions(&a.labels, explainer.k, valid.clone());
    let config = &explainer.model_config;
    let gradcam = match outputs.gradcam {
        None => None,
        Some((output, block, activation, gradient)) => {
            let maps = gradcam(activation.view(), gradient.view(), prepared.data.ncols())?;
            Some(GradCam {
                output_index: output,
                output_name: config
                    .class_names
                    .get(output)
                    .cloned()
                    .unwrap_or_else(|| format!("output {output}")),
                block,
                weights: maps.weights,
                lowres: maps.lowres,
                map: maps.map,
            })
        }
    };
    let correlation = gradcam.as_ref().and_then(|g| {
        let per_step = to_steps(&g.map, n_steps);
        pearson(&entropy[valid.clone()], &per_step[valid.clone()]).map(|r| r as f32)
    });
    Ok(Explanation {
        record_id: record.id.clone(),
        model_name: model_name.to_string(),
        explainer_name: explainer.name.clone(),
        prediction: prediction(config, &outputs.raw),
        k: explainer.k,
        step_times_s: map.step_centres_s(),
        step_duration_s: map.step_duration_s(),
        valid_steps: (valid.start, valid.end),
        labels: a.labels,
        entropy,
        soft: a.soft.rows().into_iter().map(|r| r.to_vec()).collect(),
        proportions: props,
        segments: segs,
        gradcam,
        model_fs_hz: prepared.fs_hz,
        model_start_s: prepared.start_s,
        entropy_gradcam_correlation: correlation,
        data_notes: record.data_notes.clone(),
    })
}

/// Features of one record for fitting or for a surrogate's cache.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordFeatures {
    /// (valid steps, F): only the steps overlapping the real signal.
    pub features: Array2<f32>,
    pub prepared: PreparedInput,
    /// The model's raw outputs for the record.
    pub raw_outputs: Vec<f32>,
}

/// Row `b` of a (B, C, L) tensor as a (C, L) array.
fn batch_item(values: &[f32], dims: &[usize], b: usize) -> Result<Array2<f32>, TlcError> {
    if dims.len() != 3 || b >= dims[0] {
        return Err(TlcError::shape(
            "block output",
            "(batch, channels, length)",
            format!("{dims:?}"),
        ));
    }
    let n = dims[1] * dims[2];
    Array2::from_shape_vec((dims[1], dims[2]), values[b * n..(b + 1) * n].to_vec())
        .map_err(|e| TlcError::shape("block output", format!("{dims:?}"), e))
}

fn tensor_values(t: &Tensor) -> Result<(Vec<f32>, Vec<usize>), TlcError> {
    let dims = t.dims().to_vec();
    let values = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    Ok((values, dims))
}

/// The output of block `b` of a forward pass that was asked to keep it.
fn block_output(
    blocks: &[Option<candle_core::Tensor>],
    b: usize,
) -> Result<&candle_core::Tensor, TlcError> {
    blocks.get(b).and_then(|t| t.as_ref()).ok_or_else(|| {
        TlcError::shape(
            "forward pass",
            format!("the output of block {b}"),
            "nothing",
        )
    })
}

/// Prepare a record for `model`, naming the record on failure.
pub fn prepare_for(
    model: &LoadedModel,
    ecg: &Ecg,
    preprocess: &PreprocessSettings,
) -> Result<PreparedInput, TlcError> {
    prepare(ecg, &model.config.input_spec(), preprocess).map_err(|source| {
        if source.names_record() {
            TlcError::Dsp(source)
        } else {
            TlcError::Preprocess {
                record: ecg.meta.id.clone(),
                source,
            }
        }
    })
}

/// Block outputs (in `blocks` order) and raw outputs of prepared inputs: one forward pass.
fn forward_blocks(
    model: &LoadedModel,
    inputs: &[Array2<f32>],
    blocks: &[usize],
) -> Result<Vec<(Vec<Array2<f32>>, Vec<f32>)>, TlcError> {
    let out = model.explain_forward(inputs, blocks, None)?;
    let (logits, ldims) = tensor_values(&out.logits)?;
    let mut per_block = Vec::with_capacity(blocks.len());
    for &b in blocks {
        let t = block_output(&out.blocks, b)?;
        per_block.push(tensor_values(t)?);
    }
    let n_out = ldims.get(1).copied().unwrap_or(0);
    (0..inputs.len())
        .map(|i| {
            let arrays = per_block
                .iter()
                .map(|(v, d)| batch_item(v, d, i))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((arrays, logits[i * n_out..(i + 1) * n_out].to_vec()))
        })
        .collect()
}

/// Features on the valid steps, prepared input and raw outputs of one record.
pub fn record_features(
    model: &LoadedModel,
    features: &FeatureSettings,
    ecg: &Ecg,
    preprocess: &PreprocessSettings,
) -> Result<RecordFeatures, TlcError> {
    let blocks = features.resolve_blocks(&model.config)?;
    let prepared = prepare_for(model, ecg, preprocess)?;
    let mut out = forward_blocks(model, std::slice::from_ref(&prepared.data), &blocks)?;
    let (block_arrays, raw) = out
        .pop()
        .ok_or_else(|| TlcError::shape("forward pass", 1, 0))?;
    Ok(RecordFeatures {
        features: valid_features(&block_arrays, features, &prepared)?,
        prepared,
        raw_outputs: raw,
    })
}

/// [`record_features`] for records of a data set, in forward batches of `model.batch_size`
/// (records loaded and prepared in parallel); reports progress and stops when cancelled.
/// `sink` receives each record's features in order, so callers choose what to keep.
pub fn for_each_record_features(
    model: &LoadedModel,
    features: &FeatureSettings,
    dataset: &dyn Dataset,
    indices: &[usize],
    preprocess: &PreprocessSettings,
    progress: &dyn ProgressSink,
    mut sink: impl FnMut(usize, RecordFeatures) -> Result<(), TlcError>,
) -> Result<(), TlcError> {
    let blocks = features.resolve_blocks(&model.config)?;
    let batch = model.batch_size.max(1);
    let total = indices.len();
    for (c, chunk) in indices.chunks(batch).enumerate() {
        if progress.is_cancelled() {
            return Err(TlcError::Cancelled);
        }
        progress.report(Progress {
            stage: "features".into(),
            done: c * batch,
            total,
            share: None,
        });
        let prepared: Vec<PreparedInput> = chunk
            .par_iter()
            .map(|&i| {
                let ecg = dataset.load(i).map_err(|source| TlcError::Dataset {
                    record: dataset
                        .entry(i)
                        .map_or_else(|| format!("#{i}"), |e| e.id.clone()),
                    source,
                })?;
                prepare_for(model, &ecg, preprocess)
            })
            .collect::<Result<_, _>>()?;
        let inputs: Vec<Array2<f32>> = prepared.iter().map(|p| p.data.clone()).collect();
        let outs = forward_blocks(model, &inputs, &blocks)?;
        for ((&i, p), (block_arrays, raw)) in chunk.iter().zip(prepared).zip(outs) {
            sink(
                i,
                RecordFeatures {
                    features: valid_features(&block_arrays, features, &p)?,
                    prepared: p,
                    raw_outputs: raw,
                },
            )?;
        }
    }
    progress.report(Progress {
        stage: "features".into(),
        done: total,
        total,
        share: None,
    });
    Ok(())
}

/// [`record_features`] of many records of a data set (for the surrogate's feature cache).
pub fn dataset_features(
    model: &LoadedModel,
    features: &FeatureSettings,
    dataset: &dyn Dataset,
    indices: &[usize],
    preprocess: &PreprocessSettings,
    progress: &dyn ProgressSink,
) -> Result<Vec<RecordFeatures>, TlcError> {
    let mut out = Vec::with_capacity(indices.len());
    for_each_record_features(
        model,
        features,
        dataset,
        indices,
        preprocess,
        progress,
        |_, r| {
            out.push(r);
            Ok(())
        },
    )?;
    Ok(out)
}

/// A record prepared for the model with its explainer's filtering, ready to be explained in a
/// batch ([`explain_prepared`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedRecord {
    pub info: RecordInfo,
    pub prepared: PreparedInput,
}

/// Prepare `ecg` as [`explain_record`] does: the explainer's filtering, the window
/// `settings` asks for, the model's leads, rate and length.
pub fn prepare_for_explainer(
    model: &LoadedModel,
    explainer: &Explainer,
    ecg: &Ecg,
    settings: &ExplainSettings,
) -> Result<PreparedRecord, TlcError> {
    let preprocess = explainer.preprocessing.settings(settings.window_start_s);
    Ok(PreparedRecord {
        info: RecordInfo {
            id: ecg.meta.id.clone(),
            fs_hz: ecg.fs_hz,
            n_samples: ecg.n_samples(),
            data_notes: model.config.data_notes(&ecg.meta, ecg.fs_hz),
        },
        prepared: prepare_for(model, ecg, &preprocess)?,
    })
}

/// Explain one record: prepare once (with the explainer's filtering), one forward pass
/// (explainer blocks + Grad-CAM gradient), features, assignment, entropy, segments, proportions,
/// Grad-CAM, predictions, correlation. Whatever the Grad-CAM target, there is one forward pass:
/// for the top output the model chooses it between the forward and the backward pass.
pub fn explain_record(
    model: &LoadedModel,
    explainer: &Explainer,
    ecg: &Ecg,
    settings: &ExplainSettings,
) -> Result<Explanation, TlcError> {
    explainer.check_model(model)?;
    let record = prepare_for_explainer(model, explainer, ecg, settings)?;
    explain_prepared(model, explainer, std::slice::from_ref(&record), settings)?
        .pop()
        .ok_or_else(|| TlcError::shape("explanations", 1, 0))?
}

/// [`explain_record`] after preparation, for a batch of records: one forward pass (and at most
/// one backward pass) for all of them, then each record's explanation. Batched results equal
/// one-record results: in eval mode a record's outputs and gradient depend on that record only.
/// The outer error stops the batch (settings, the model); the inner ones are per record.
pub fn explain_prepared(
    model: &LoadedModel,
    explainer: &Explainer,
    records: &[PreparedRecord],
    settings: &ExplainSettings,
) -> Result<Vec<Result<Explanation, TlcError>>, TlcError> {
    if records.is_empty() {
        return Ok(Vec::new());
    }
    explainer.check_model(model)?;
    let blocks = explainer.blocks()?;
    let n_blocks = model.config.blocks_dim.len();
    let target = settings.gradcam.as_ref();
    let grad_block = target
        .and_then(|t| t.block)
        .unwrap_or(n_blocks.saturating_sub(1));
    if target.is_some() && grad_block >= n_blocks {
        return Err(TlcError::setting(
            "gradcam block",
            format!("block {grad_block} does not exist (the model has {n_blocks})"),
        ));
    }
    let mut wanted = blocks.clone();
    if target.is_some() && !wanted.contains(&grad_block) {
        wanted.push(grad_block);
    }
    let inputs: Vec<Array2<f32>> = records.iter().map(|r| r.prepared.data.clone()).collect();
    // One forward and at most one backward: for the top output the model picks it between the
    // two.
    let grad_request = match target {
        None => None,
        Some(t) => Some((
            grad_block,
            match t.output.resolve(&model.config)? {
                Some(o) => crate::model::GradOutput::Fixed(o),
                None => crate::model::GradOutput::TopLogit,
            },
        )),
    };
    let out = model.explain_forward_for(&inputs, &wanted, grad_request)?;
    drop(inputs);
    let (logits, ldims) = tensor_values(&out.logits)?;
    let n_out = ldims.get(1).copied().unwrap_or(0);
    let mut block_values = Vec::with_capacity(wanted.len());
    for &b in &wanted {
        block_values.push((b, tensor_values(block_output(&out.blocks, b)?)?));
    }
    let block_of = |b: usize, i: usize| -> Result<Array2<f32>, TlcError> {
        let (_, (v, d)) = block_values
            .iter()
            .find(|(wb, _)| *wb == b)
            .ok_or_else(|| TlcError::shape("forward pass", format!("block {b}"), "nothing"))?;
        batch_item(v, d, i)
    };
    let grad = match target {
        None => None,
        Some(_) => {
            let grad = out
                .grad
                .as_ref()
                .ok_or_else(|| TlcError::shape("Grad-CAM", "a gradient", "none from the model"))?;
            if out.grad_outputs.len() != records.len() {
                return Err(TlcError::shape(
                    "Grad-CAM",
                    format!("the outputs of {} gradients", records.len()),
                    out.grad_outputs.len(),
                ));
            }
            Some(tensor_values(grad)?)
        }
    };
    Ok(records
        .par_iter()
        .enumerate()
        .map(|(i, record)| {
            let block_arrays = blocks
                .iter()
                .map(|&b| block_of(b, i))
                .collect::<Result<Vec<_>, _>>()?;
            let gradcam = match &grad {
                None => None,
                Some((gv, gd)) => Some((
                    out.grad_outputs[i],
                    grad_block,
                    block_of(grad_block, i)?,
                    batch_item(gv, gd, i)?,
                )),
            };
            explanation_from_outputs(
                explainer,
                &model.name,
                &record.info,
                &record.prepared,
                RecordOutputs {
                    raw: logits[i * n_out..(i + 1) * n_out].to_vec(),
                    blocks: block_arrays,
                    gradcam,
                },
            )
        })
        .collect())
}
