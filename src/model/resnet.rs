//! Ribeiro et al.'s `ResNet1d` (antonior92/ecg-age-prediction, `resnet.py`) in candle, with
//! PyTorch's parameter names so a PyTorch `state_dict` loads as it is.
//!
//! ```text
//! x = bn1(conv1(x))                     stem (no ReLU, as in resnet.py's forward)
//! y = x
//! for each block i:                     resblock1d_i
//!     y = skip_connection(y)            maxpool(downsample) then 1x1 conv when filters change
//!     x = dropout1(relu(bn1(conv1(x)))) conv1: stride 1
//!     x = conv2(x) + y                  conv2: stride = downsample
//!     y = x
//!     x = dropout2(relu(bn2(x)))        <- the block's output ("x_out", hooked by TLC)
//! logits = lin(flatten(x))              flatten in PyTorch's (channel, time) order
//! ```

use std::sync::Mutex;

use candle_core::{DType, Module, Tensor, Var};
use candle_nn::{BatchNorm, BatchNormConfig, Linear, VarBuilder};
use rand::{Rng, RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use super::ModelError;
use super::batch_norm::{After, batch_norm_train};
use super::config::ModelConfig;
use super::conv::{Conv1d, affine_act, max_pool1d, ribeiro_padding};

/// Momentum of the batch-norm running statistics in training (PyTorch's default).
pub const BN_MOMENTUM: f64 = 0.1;

/// One residual unit (`ResBlock1d`).
#[derive(Debug)]
pub struct ResBlock1d {
    conv1: Conv1d,
    bn1: BatchNorm,
    conv2: Conv1d,
    bn2: BatchNorm,
    /// Max-pool factor of the skip path (1: none).
    skip_pool: usize,
    /// 1x1 convolution of the skip path when the filter count changes.
    skip_conv: Option<Conv1d>,
}

impl ResBlock1d {
    fn new(
        filters_in: usize,
        filters_out: usize,
        downsample: usize,
        config: &ModelConfig,
        vb: VarBuilder,
    ) -> candle_core::Result<Self> {
        let k = config.kernel_size;
        let bn_config = bn_config(config);
        let conv1 = Conv1d::new(
            vb.get((filters_out, filters_in, k), "conv1.weight")?,
            ribeiro_padding(1, k),
            1,
        );
        let bn1 = candle_nn::batch_norm(filters_out, bn_config, vb.pp("bn1"))?;
        let conv2 = Conv1d::new(
            vb.get((filters_out, filters_out, k), "conv2.weight")?,
            ribeiro_padding(downsample, k),
            downsample,
        );
        let bn2 = candle_nn::batch_norm(filters_out, bn_config, vb.pp("bn2"))?;
        // nn.Sequential numbering: the max-pool (if any) is entry 0, the 1x1 conv follows.
        let skip_conv = if filters_in != filters_out {
            let index = if downsample > 1 { 1 } else { 0 };
            let w = vb.get(
                (filters_out, filters_in, 1),
                &format!("skip_connection.{index}.weight"),
            )?;
            Some(Conv1d::new(w, 0, 1))
        } else {
            None
        };
        Ok(ResBlock1d {
            conv1,
            bn1,
            conv2,
            bn2,
            skip_pool: downsample,
            skip_conv,
        })
    }

    /// Returns (x, y): the block output and the skip tensor passed to the next block.
    fn forward(
        &self,
        x: &Tensor,
        y: &Tensor,
        dropout: Option<&Dropout>,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let mut y = max_pool1d(y, self.skip_pool)?;
        if let Some(conv) = &self.skip_conv {
            y = conv.forward(&y)?;
        }
        let Some(dropout) = dropout else {
            // Eval: each batch norm (+ ReLU) is one fused pass over the conv output.
            // conv1 + bn1 + ReLU, then conv2 + skip: one kernel each where the CPU allows.
            let (s1, t1) = bn_affine(&self.bn1)?;
            let x = self.conv1.forward_fused(x, None, Some((&s1, &t1)), true)?;
            let sum = self.conv2.forward_fused(&x, Some(&y), None, false)?;
            let (s2, t2) = bn_affine(&self.bn2)?;
            let x = affine_act(&sum, None, &s2, &t2, true)?;
            return Ok((x, sum));
        };
        let x = batch_norm_train(&self.conv1.forward(x)?, &self.bn1, dropout.after()?)?;
        let sum = (self.conv2.forward(&x)? + y)?;
        let x = batch_norm_train(&sum, &self.bn2, dropout.after()?)?;
        Ok((x, sum))
    }
}

/// Eval-mode batch norm as a per-channel affine map: (scale, shift) with
/// scale = weight / sqrt(running_var + eps), shift = bias - running_mean scale. Computed at each
/// forward (C values) so it always follows the current running statistics.
fn bn_affine(bn: &BatchNorm) -> candle_core::Result<(Vec<f32>, Vec<f32>)> {
    let f32v = |t: &Tensor| t.to_dtype(candle_core::DType::F32)?.to_vec1::<f32>();
    let mean = f32v(bn.running_mean())?;
    let var = f32v(bn.running_var())?;
    let (weight, bias) = match bn.weight_and_bias() {
        Some((w, b)) => (f32v(w)?, f32v(b)?),
        None => (vec![1.0; mean.len()], vec![0.0; mean.len()]),
    };
    let eps = bn.eps();
    let scale: Vec<f32> = weight
        .iter()
        .zip(&var)
        .map(|(w, v)| (*w as f64 / (*v as f64 + eps).sqrt()) as f32)
        .collect();
    let shift = bias
        .iter()
        .zip(&mean)
        .zip(&scale)
        .map(|((b, m), s)| b - m * s)
        .collect();
    Ok((scale, shift))
}

/// Stem: conv, then batch norm (eval: one fused pass).
fn stem(conv: &Conv1d, bn: &BatchNorm, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
    if train {
        batch_norm_train(&conv.forward(x)?, bn, After::Identity)
    } else {
        let (s, t) = bn_affine(bn)?;
        conv.forward_fused(x, None, Some((&s, &t)), false)
    }
}

fn bn_config(config: &ModelConfig) -> BatchNormConfig {
    BatchNormConfig {
        eps: config.bn_eps,
        remove_mean: true,
        affine: true,
        momentum: BN_MOMENTUM,
    }
}

/// Inverted dropout (as `nn.Dropout` in training) with masks from a seeded generator, since
/// candle's CPU random generator cannot be seeded: each use draws the seed of one mask.
struct Dropout<'a> {
    rate: f32,
    rng: &'a Mutex<Xoshiro256PlusPlus>,
}

impl Dropout<'_> {
    /// What follows a training batch norm: ReLU, then this dropout with a fresh mask seed.
    fn after(&self) -> candle_core::Result<After> {
        if self.rate <= 0.0 {
            return Ok(After::Relu);
        }
        let seed = self
            .rng
            .lock()
            .map_err(|_| candle_core::Error::Msg("dropout rng poisoned".into()))?
            .next_u64();
        Ok(After::ReluDropout {
            rate: self.rate,
            seed,
        })
    }
}

/// What [`ResNet1d::forward_explain`] returns.
#[derive(Debug)]
pub struct ForwardOutput {
    /// Raw outputs (B, n_outputs).
    pub logits: Tensor,
    /// Indexed by block: `Some` for each requested block, its output `x` (B, C_i, L_i).
    pub blocks: Vec<Option<Tensor>>,
    /// For `grad = Some((block, output))`: d sum_b logits[b, output] / d x of that block
    /// (same shape as the block output). Since sample b's logits depend only on sample b, row b
    /// is the gradient of sample b's own logit. The skip tensor `y` the block passes on is held
    /// fixed, exactly as a PyTorch hook on the block's returned `x` sees it (`y` is computed
    /// before `x`, so it does not depend on `x`).
    pub grad: Option<Tensor>,
    /// Per record, the output whose gradient `grad` holds (empty without a gradient).
    pub grad_outputs: Vec<usize>,
}

/// Which output's gradient [`ResNet1d::forward_explain_for`] computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GradOutput {
    /// This output for every record.
    Fixed(usize),
    /// Each record's highest raw output (its top prediction).
    TopLogit,
}

/// Ribeiro et al.'s 1D ResNet.
pub struct ResNet1d {
    config: ModelConfig,
    conv1: Conv1d,
    bn1: BatchNorm,
    blocks: Vec<ResBlock1d>,
    lin: Linear,
    dropout_rng: Mutex<Xoshiro256PlusPlus>,
}

impl std::fmt::Debug for ResNet1d {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResNet1d")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ResNet1d {
    /// Builds the network from a `VarBuilder` holding PyTorch's key names (`conv1.weight`,
    /// `bn1.running_mean`, `resblock1d_0.conv1.weight`, ..., `lin.bias`). The config must have
    /// passed [`ModelConfig::validate`].
    pub fn new(config: &ModelConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        config.validate().map_err(candle_core::Error::Msg)?;
        let k = config.kernel_size;
        let downsamples = config.downsamples();
        let first = config.blocks_dim[0].0;
        let conv1 = Conv1d::new(
            vb.get((first, config.input_channels, k), "conv1.weight")?,
            ribeiro_padding(downsamples[0], k),
            downsamples[0],
        );
        let bn1 = candle_nn::batch_norm(first, bn_config(config), vb.pp("bn1"))?;
        let mut blocks = Vec::with_capacity(config.blocks_dim.len());
        let mut filters_in = first;
        for (i, &(filters, _)) in config.blocks_dim.iter().enumerate() {
            let block = ResBlock1d::new(
                filters_in,
                filters,
                downsamples[i + 1],
                config,
                vb.pp(format!("resblock1d_{i}")),
            )?;
            blocks.push(block);
            filters_in = filters;
        }
        let (fl, ll) = config.blocks_dim[config.blocks_dim.len() - 1];
        let lin = Linear::new(
            vb.get((config.n_outputs, fl * ll), "lin.weight")?,
            Some(vb.get(config.n_outputs, "lin.bias")?),
        );
        Ok(ResNet1d {
            config: config.clone(),
            conv1,
            bn1,
            blocks,
            lin,
            dropout_rng: Mutex::new(Xoshiro256PlusPlus::seed_from_u64(0)),
        })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    pub fn n_blocks(&self) -> usize {
        self.blocks.len()
    }

    /// Reseeds the generator of the dropout masks used in training mode.
    pub fn set_dropout_seed(&self, seed: u64) {
        if let Ok(mut rng) = self.dropout_rng.lock() {
            *rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        }
    }

    /// Plain forward. `train`: dropout active and batch norm on batch statistics (updating the
    /// running statistics); otherwise eval mode. x: (B, input_channels, input_length), already
    /// scaled by `input_scale`.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let dropout = Dropout {
            rate: self.config.dropout_rate,
            rng: &self.dropout_rng,
        };
        let dropout = train.then_some(&dropout);
        let mut x = stem(&self.conv1, &self.bn1, x, train)?;
        let mut y = x.clone();
        for block in &self.blocks {
            (x, y) = block.forward(&x, &y, dropout)?;
        }
        self.lin.forward(&x.flatten_from(1)?)
    }

    /// Eval-mode forward returning the requested blocks' outputs and, optionally, the gradient
    /// of one output at one block's output: one forward pass and at most one backward pass
    /// (through the layers after that block only). See [`ForwardOutput::grad`] for what the
    /// gradient is.
    pub fn forward_explain(
        &self,
        x: &Tensor,
        blocks: &[usize],
        grad: Option<(usize, usize)>,
    ) -> Result<ForwardOutput, ModelError> {
        self.forward_explain_for(x, blocks, grad.map(|(b, o)| (b, GradOutput::Fixed(o))))
    }

    /// [`Self::forward_explain`] with the gradient's output chosen after the forward pass:
    /// `GradOutput::TopLogit` takes each record's highest raw output (its top prediction for
    /// every task: sigmoid and softmax are monotone), so the default Grad-CAM target costs one
    /// forward and one backward, not two forwards. The outputs used are in
    /// `ForwardOutput::grad_outputs`.
    pub fn forward_explain_for(
        &self,
        x: &Tensor,
        blocks: &[usize],
        grad: Option<(usize, GradOutput)>,
    ) -> Result<ForwardOutput, ModelError> {
        let n_blocks = self.blocks.len();
        if let Some(&bad) = blocks.iter().find(|&&b| b >= n_blocks) {
            return Err(ModelError::Request(format!(
                "block {bad} requested but the model has {n_blocks} blocks"
            )));
        }
        if let Some((block, choice)) = grad {
            if block >= n_blocks {
                return Err(ModelError::Request(format!(
                    "gradient at block {block} requested but the model has {n_blocks} blocks"
                )));
            }
            if let GradOutput::Fixed(output) = choice
                && output >= self.config.n_outputs
            {
                return Err(ModelError::Request(format!(
                    "gradient of output {output} requested but the model has {} outputs",
                    self.config.n_outputs
                )));
            }
        }
        let mut outputs: Vec<Option<Tensor>> = vec![None; n_blocks];
        let mut grad_var: Option<Var> = None;
        let mut x = stem(&self.conv1, &self.bn1, x, false)?;
        let mut y = x.clone();
        for (i, block) in self.blocks.iter().enumerate() {
            (x, y) = block.forward(&x, &y, None)?;
            if blocks.contains(&i) {
                outputs[i] = Some(x.clone());
            }
            if grad.map(|(b, _)| b) == Some(i) {
                // Gradients of intermediate tensors are dropped by backward(): make this block's
                // output a leaf variable and run the rest from it; y does not depend on it.
                let var = Var::from_tensor(&x.detach())?;
                x = var.as_tensor().clone();
                y = y.detach();
                grad_var = Some(var);
            }
        }
        let logits = self.lin.forward(&x.flatten_from(1)?)?;
        let (grad, grad_outputs) = match (grad, grad_var) {
            (Some((_, choice)), Some(var)) => {
                let batch = logits.dim(0)?;
                let (target, chosen) = match choice {
                    GradOutput::Fixed(output) => {
                        (logits.narrow(1, output, 1)?.sum_all()?, vec![output; batch])
                    }
                    GradOutput::TopLogit => {
                        // A constant one-hot mask picks each row's top logit; the gradient
                        // flows through the logits only.
                        let n_outputs = logits.dim(1)?;
                        let top = logits.detach().argmax_keepdim(1)?; // (B, 1) u32
                        let columns = Tensor::arange(0u32, n_outputs as u32, logits.device())?
                            .unsqueeze(0)?
                            .broadcast_as((batch, n_outputs))?;
                        let mask = columns
                            .eq(&top.broadcast_as((batch, n_outputs))?)?
                            .to_dtype(logits.dtype())?;
                        let chosen = top
                            .flatten_all()?
                            .to_vec1::<u32>()?
                            .into_iter()
                            .map(|o| o as usize)
                            .collect();
                        ((&logits * &mask)?.sum_all()?, chosen)
                    }
                };
                let grads = target.backward()?;
                let g = grads.get(var.as_tensor()).cloned().ok_or_else(|| {
                    ModelError::Request("the chosen output does not depend on the block".into())
                })?;
                (Some(g), chosen)
            }
            _ => (None, Vec::new()),
        };
        Ok(ForwardOutput {
            logits: logits.detach(),
            blocks: outputs,
            grad,
            grad_outputs,
        })
    }

    /// All parameters and running statistics under PyTorch's key names, as f32 on the CPU
    /// (for checkpoints). `vars` are the trainable tensors (from the VarMap used to build).
    pub fn state_dict(&self) -> candle_core::Result<Vec<(String, Tensor)>> {
        let mut out = Vec::new();
        let conv = |name: String, c: &Conv1d| (name, c.weight.clone());
        let bn = |out: &mut Vec<(String, Tensor)>, prefix: String, b: &BatchNorm| {
            if let Some((w, bias)) = b.weight_and_bias() {
                out.push((format!("{prefix}.weight"), w.clone()));
                out.push((format!("{prefix}.bias"), bias.clone()));
            }
            out.push((format!("{prefix}.running_mean"), b.running_mean().clone()));
            out.push((format!("{prefix}.running_var"), b.running_var().clone()));
        };
        out.push(conv("conv1.weight".into(), &self.conv1));
        bn(&mut out, "bn1".into(), &self.bn1);
        for (i, b) in self.blocks.iter().enumerate() {
            let p = format!("resblock1d_{i}");
            out.push(conv(format!("{p}.conv1.weight"), &b.conv1));
            bn(&mut out, format!("{p}.bn1"), &b.bn1);
            out.push(conv(format!("{p}.conv2.weight"), &b.conv2));
            bn(&mut out, format!("{p}.bn2"), &b.bn2);
            if let Some(c) = &b.skip_conv {
                let index = if b.skip_pool > 1 { 1 } else { 0 };
                out.push(conv(format!("{p}.skip_connection.{index}.weight"), c));
            }
        }
        out.push(("lin.weight".into(), self.lin.weight().clone()));
        if let Some(b) = self.lin.bias() {
            out.push(("lin.bias".into(), b.clone()));
        }
        out.into_iter()
            .map(|(k, t)| {
                Ok((
                    k,
                    t.detach()
                        .to_dtype(DType::F32)?
                        .to_device(&candle_core::Device::Cpu)?,
                ))
            })
            .collect()
    }
}

/// A `Rng`-driven uniform initialisation matching PyTorch's defaults (kaiming-uniform with
/// a = sqrt(5), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), for conv and linear weights and the
/// linear bias; batch norm weight 1, bias 0, running mean 0, running variance 1), from a seeded
/// generator (candle's CPU generator cannot be seeded).
pub fn init_parameters(
    config: &ModelConfig,
    seed: u64,
    device: &candle_core::Device,
) -> candle_core::Result<Vec<(String, Tensor)>> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut out = Vec::new();
    let lin_fan_in = {
        let (fl, ll) = config.blocks_dim[config.blocks_dim.len() - 1];
        fl * ll
    };
    for (name, shape) in config.parameter_shapes() {
        let n: usize = shape.iter().product();
        let values: Vec<f32> =
            if name.ends_with("running_var") || (is_bn(&name) && name.ends_with(".weight")) {
                vec![1.0; n]
            } else if name.ends_with("running_mean") || (is_bn(&name) && name.ends_with(".bias")) {
                vec![0.0; n]
            } else {
                let fan_in = if name.starts_with("lin.") {
                    lin_fan_in
                } else {
                    shape[1..].iter().product()
                };
                let bound = 1.0 / (fan_in as f32).sqrt();
                (0..n).map(|_| rng.gen_range(-bound..bound)).collect()
            };
        out.push((name, Tensor::from_vec(values, shape, device)?));
    }
    Ok(out)
}

fn is_bn(name: &str) -> bool {
    name.starts_with("bn") || name.contains(".bn")
}
