//! Training-mode batch norm, optionally followed by ReLU and dropout, as ONE candle op with
//! its own backward pass.
//!
//! Why: candle's training batch norm is a dozen broadcast ops, each allocating a tensor the
//! size of the activation (page clearing) and each differentiated separately; on the
//! Ribeiro-size network they took about as long as the convolutions of a training step. Here
//! the forward is two passes (channel statistics, then the normalised and activated output)
//! and the backward two more (channel sums, then the input gradient).
//!
//! Semantics are PyTorch's `BatchNorm1d` in training mode: normalise with the batch's biased
//! variance, update the running variance with the unbiased one, momentum
//! [`super::resnet::BN_MOMENTUM`].

use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp3, DType, Layout, Result, Shape, Tensor, Var};
use candle_nn::BatchNorm;
use rand::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;

use super::conv::f32_contiguous;

/// What follows the normalisation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum After {
    Identity,
    Relu,
    /// ReLU, then inverted dropout (kept values scaled by 1 / (1 - rate)) with a mask drawn
    /// from `seed` (see [`dropout_keep`]).
    ReluDropout {
        rate: f32,
        seed: u64,
    },
}

/// Whether element `i` of row `row` is kept by dropout at `rate` with `seed`: one generator per
/// row, so the mask does not depend on how rows are split between threads.
fn row_keep_mask(seed: u64, row: usize, len: usize, rate: f32) -> impl Iterator<Item = bool> {
    let mut rng =
        Xoshiro256PlusPlus::seed_from_u64(seed ^ (row as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    // keep iff a uniform u32 falls below (1 - rate) 2^32.
    let threshold = ((1.0 - rate as f64) * 4_294_967_296.0).min(u32::MAX as f64) as u32;
    (0..len).map(move |_| rng.next_u32() < threshold)
}

/// The dropout multipliers (0 or 1 / (1 - rate)) of a (rows x len) tensor, as the fused op
/// draws them; for devices where the fused op does not run.
pub fn dropout_keep(seed: u64, rows: usize, len: usize, rate: f32) -> Vec<f32> {
    let scale = 1.0 / (1.0 - rate);
    (0..rows)
        .flat_map(|row| {
            row_keep_mask(seed, row, len, rate).map(move |k| if k { scale } else { 0.0 })
        })
        .collect()
}

/// Per channel: batch mean and biased variance, and the number of values they cover.
#[derive(Debug, Clone)]
struct BatchStats {
    mean: Vec<f64>,
    var: Vec<f64>,
    count: usize,
}

/// Training-mode `after(bn(x))` for x (B, C, L), updating `bn`'s running statistics.
pub fn batch_norm_train(x: &Tensor, bn: &BatchNorm, after: After) -> Result<Tensor> {
    let (batch, channels, length) = x.dims3()?;
    let Some((weight, bias)) = bn.weight_and_bias() else {
        candle_core::bail!("batch_norm_train: the batch norm has no affine parameters");
    };
    let fused = x.device().is_cpu()
        && x.dtype() == DType::F32
        && weight.dtype() == DType::F32
        && bias.dtype() == DType::F32;
    if !fused {
        // Other devices: candle's batch norm (it updates the running statistics itself).
        let z = candle_nn::ModuleT::forward_t(bn, x, true)?;
        return match after {
            After::Identity => Ok(z),
            After::Relu => z.relu(),
            After::ReluDropout { rate, seed } => {
                let keep = dropout_keep(seed, batch * channels, length, rate);
                let keep = Tensor::from_vec(keep, x.shape(), x.device())?.to_dtype(x.dtype())?;
                z.relu()? * keep
            }
        };
    }
    if batch * length < 2 {
        candle_core::bail!("batch_norm_train: batch statistics need at least 2 values per channel");
    }
    let stats = Arc::new(Mutex::new(None));
    let op = TrainBatchNorm {
        eps: bn.eps(),
        after,
        stats: stats.clone(),
    };
    let out = x.apply_op3(weight, bias, op)?;
    let stats = stats
        .lock()
        .map_err(|_| candle_core::Error::Msg("batch norm statistics lock poisoned".into()))?
        .clone();
    let Some(stats) = stats else {
        candle_core::bail!("batch_norm_train: the forward pass left no statistics");
    };
    update_running(bn, &stats)?;
    Ok(out)
}

/// running = (1 - m) running + m batch, with the unbiased batch variance (PyTorch).
fn update_running(bn: &BatchNorm, stats: &BatchStats) -> Result<()> {
    let m = super::resnet::BN_MOMENTUM;
    let n = stats.count as f64;
    let unbiased = n / (n - 1.0);
    let update = |running: &Tensor, batch: &mut dyn Iterator<Item = f64>| -> Result<()> {
        // Only a variable (a model being trained) holds running statistics that persist.
        if !running.is_variable() {
            return Ok(());
        }
        let old = running.to_dtype(DType::F64)?.to_vec1::<f64>()?;
        let new: Vec<f64> = old
            .iter()
            .zip(batch)
            .map(|(r, b)| (1.0 - m) * r + m * b)
            .collect();
        let new = Tensor::from_vec(new, old.len(), running.device())?.to_dtype(running.dtype())?;
        Var::from_tensor(running)?.set(&new)
    };
    update(bn.running_mean(), &mut stats.mean.iter().copied())?;
    update(
        bn.running_var(),
        &mut stats.var.iter().map(|v| v * unbiased),
    )
}

#[derive(Debug, Clone)]
struct TrainBatchNorm {
    eps: f64,
    after: After,
    /// Written by the forward pass; read by the caller (running statistics) and the backward.
    stats: Arc<Mutex<Option<BatchStats>>>,
}

impl TrainBatchNorm {
    fn stats(&self) -> Result<BatchStats> {
        self.stats
            .lock()
            .map_err(|_| candle_core::Error::Msg("batch norm statistics lock poisoned".into()))?
            .clone()
            .ok_or_else(|| candle_core::Error::Msg("batch norm backward before forward".into()))
    }
}

/// Per-channel sums over (batch, time) of `f(row of x, ...)`, x contiguous (B, C, L).
fn channel_sums<const N: usize>(
    channels: usize,
    rows: usize,
    length: usize,
    f: impl Fn(usize, std::ops::Range<usize>) -> [f64; N] + Sync,
) -> Vec<[f64; N]> {
    (0..channels)
        .into_par_iter()
        .map(|c| {
            let mut acc = [0f64; N];
            for row in (c..rows).step_by(channels) {
                let part = f(c, row * length..(row + 1) * length);
                for (a, p) in acc.iter_mut().zip(part) {
                    *a += p;
                }
            }
            acc
        })
        .collect()
}

impl CustomOp3 for TrainBatchNorm {
    fn name(&self) -> &'static str {
        "batch_norm_train"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (batch, channels, length) = l1.shape().dims3()?;
        let x = f32_contiguous(s1, l1)?;
        let gamma = f32_contiguous(s2, l2)?;
        let beta = f32_contiguous(s3, l3)?;
        if gamma.len() != channels || beta.len() != channels {
            candle_core::bail!(
                "batch_norm_train: {channels} channels, {} weights",
                gamma.len()
            );
        }
        let rows = batch * channels;
        let count = batch * length;
        let sums = channel_sums(channels, rows, length, |_, r| {
            [x[r].iter().map(|&v| v as f64).sum::<f64>()]
        });
        let mean: Vec<f64> = sums.iter().map(|[s]| s / count as f64).collect();
        // Two passes: E[(x - mean)^2] keeps its precision when |mean| >> std.
        let sq = channel_sums(channels, rows, length, |c, r| {
            [x[r]
                .iter()
                .map(|&v| (v as f64 - mean[c]).powi(2))
                .sum::<f64>()]
        });
        let var: Vec<f64> = sq.iter().map(|[s]| s / count as f64).collect();
        let scale: Vec<f32> = (0..channels)
            .map(|c| (gamma[c] as f64 / (var[c] + self.eps).sqrt()) as f32)
            .collect();
        let shift: Vec<f32> = (0..channels)
            .map(|c| (beta[c] as f64 - mean[c] * scale[c] as f64) as f32)
            .collect();
        let mut out = vec![0f32; rows * length];
        out.par_chunks_mut(length)
            .zip(x.par_chunks(length))
            .enumerate()
            .for_each(|(row, (dst, src))| {
                let c = row % channels;
                let (a, b) = (scale[c], shift[c]);
                let z = dst.iter_mut().zip(src).map(|(d, &v)| (d, v * a + b));
                match self.after {
                    After::Identity => z.for_each(|(d, v)| *d = v),
                    After::Relu => z.for_each(|(d, v)| *d = v.max(0.0)),
                    After::ReluDropout { rate, seed } => {
                        let kept = 1.0 / (1.0 - rate);
                        z.zip(row_keep_mask(seed, row, length, rate))
                            .for_each(|((d, v), k)| *d = if k { v.max(0.0) * kept } else { 0.0 });
                    }
                }
            });
        *self
            .stats
            .lock()
            .map_err(|_| candle_core::Error::Msg("batch norm statistics lock poisoned".into()))? =
            Some(BatchStats { mean, var, count });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        _beta: &Tensor,
        res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (batch, channels, length) = x.dims3()?;
        let n = batch * channels * length;
        let op = TrainBatchNormBackward {
            eps: self.eps,
            after: self.after,
            stats: self.stats()?,
            gamma: gamma.to_dtype(DType::F32)?.to_vec1::<f32>()?,
        };
        // One op returns dx, d gamma and d beta in one flat vector.
        let flat = grad_res.apply_op3_no_bwd(&x.detach(), &res.detach(), &op)?;
        let dx = flat.narrow(0, 0, n)?.reshape(x.shape())?;
        let dgamma = flat.narrow(0, n, channels)?;
        let dbeta = flat.narrow(0, n + channels, channels)?;
        Ok((Some(dx), Some(dgamma), Some(dbeta)))
    }
}

/// (grad, x, res) -> [dx (B C L), d gamma (C), d beta (C)] of [`TrainBatchNorm`].
#[derive(Debug, Clone)]
struct TrainBatchNormBackward {
    eps: f64,
    after: After,
    /// The forward pass's batch statistics.
    stats: BatchStats,
    gamma: Vec<f32>,
}

impl CustomOp3 for TrainBatchNormBackward {
    fn name(&self) -> &'static str {
        "batch_norm_train_backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (batch, channels, length) = l2.shape().dims3()?;
        if l1.shape() != l2.shape() || l3.shape() != l2.shape() {
            candle_core::bail!("batch_norm_train backward: shapes differ");
        }
        let grad = f32_contiguous(s1, l1)?;
        let x = f32_contiguous(s2, l2)?;
        let res = f32_contiguous(s3, l3)?;
        let BatchStats { mean, var, count } = &self.stats;
        let inv_std: Vec<f64> = var.iter().map(|v| 1.0 / (v + self.eps).sqrt()).collect();
        // d loss / d z, z the normalised value before ReLU/dropout.
        let dz = |g: f32, r: f32| -> f64 {
            match self.after {
                After::Identity => g as f64,
                After::Relu => {
                    if r > 0.0 {
                        g as f64
                    } else {
                        0.0
                    }
                }
                // Where the output is positive, ReLU passed and dropout kept (scaled) it.
                After::ReluDropout { rate, .. } => {
                    if r > 0.0 {
                        g as f64 / (1.0 - rate as f64)
                    } else {
                        0.0
                    }
                }
            }
        };
        let rows = batch * channels;
        let sums = channel_sums(channels, rows, length, |c, r| {
            let (m, s) = (mean[c], inv_std[c]);
            let mut acc = [0f64; 2];
            for ((&g, &xv), &rv) in grad[r.clone()].iter().zip(&x[r.clone()]).zip(&res[r]) {
                let d = dz(g, rv);
                acc[0] += d;
                acc[1] += d * (xv as f64 - m) * s;
            }
            acc
        });
        let n = *count as f64;
        let mut out = vec![0f32; rows * length + 2 * channels];
        let (dx, dparams) = out.split_at_mut(rows * length);
        dx.par_chunks_mut(length)
            .enumerate()
            .for_each(|(row, dst)| {
                let c = row % channels;
                let (m, s) = (mean[c], inv_std[c]);
                let [sum_dz, sum_dz_xhat] = sums[c];
                let k = self.gamma[c] as f64 * s;
                let r = row * length..(row + 1) * length;
                for (((d, &g), &xv), &rv) in dst
                    .iter_mut()
                    .zip(&grad[r.clone()])
                    .zip(&x[r.clone()])
                    .zip(&res[r])
                {
                    let xhat = (xv as f64 - m) * s;
                    *d = (k * (dz(g, rv) - sum_dz / n - xhat * sum_dz_xhat / n)) as f32;
                }
            });
        for (c, [sum_dz, sum_dz_xhat]) in sums.iter().enumerate() {
            dparams[c] = *sum_dz_xhat as f32;
            dparams[channels + c] = *sum_dz as f32;
        }
        Ok((
            CpuStorage::F32(out),
            Shape::from(rows * length + 2 * channels),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use candle_nn::{BatchNormConfig, VarBuilder, VarMap};

    /// The fused op against candle's own batch norm + ReLU: outputs, all three gradients and
    /// the running statistics.
    #[test]
    fn fused_training_batch_norm_matches_candle() -> Result<()> {
        let dev = Device::Cpu;
        let (b, c, l) = (3, 4, 37);
        let x = Var::from_tensor(&((Tensor::randn(0f32, 1.0, (b, c, l), &dev)? * 3.0)? + 2.0)?)?;
        let make = |varmap: &VarMap| -> Result<BatchNorm> {
            let config = BatchNormConfig {
                eps: 1e-5,
                remove_mean: true,
                affine: true,
                momentum: super::super::resnet::BN_MOMENTUM,
            };
            candle_nn::batch_norm(c, config, VarBuilder::from_varmap(varmap, DType::F32, &dev))
        };
        let (vm_ours, vm_ref) = (VarMap::new(), VarMap::new());
        let (ours, reference) = (make(&vm_ours)?, make(&vm_ref)?);
        // Non-trivial affine parameters, the same in both.
        let gamma = Tensor::new(&[0.5f32, 1.5, -1.0, 2.0], &dev)?;
        let beta = Tensor::new(&[0.1f32, -0.2, 0.3, 0.0], &dev)?;
        for bn in [&ours, &reference] {
            let (w, bias) = bn.weight_and_bias().expect("affine");
            Var::from_tensor(w)?.set(&gamma)?;
            Var::from_tensor(bias)?.set(&beta)?;
        }
        let probe = Tensor::randn(0f32, 1.0, (b, c, l), &dev)?;
        for (after, relu) in [(After::Identity, false), (After::Relu, true)] {
            let y = batch_norm_train(x.as_tensor(), &ours, after)?;
            let mut want = candle_nn::ModuleT::forward_t(&reference, x.as_tensor(), true)?;
            if relu {
                want = want.relu()?;
            }
            let diff = (&y - &want)?.abs()?.max_all()?.to_scalar::<f32>()?;
            assert!(diff < 1e-4, "{after:?}: output differs by {diff}");
            let g_ours = (y * &probe)?.sum_all()?.backward()?;
            let g_ref = (want * &probe)?.sum_all()?.backward()?;
            let (w_o, b_o) = ours.weight_and_bias().expect("affine");
            let (w_r, b_r) = reference.weight_and_bias().expect("affine");
            for (name, a, r) in [
                ("x", x.as_tensor(), x.as_tensor()),
                ("gamma", w_o, w_r),
                ("beta", b_o, b_r),
            ] {
                let (ga, gr) = (g_ours.get(a).expect("grad"), g_ref.get(r).expect("grad"));
                let diff = (ga - gr)?.abs()?.max_all()?.to_scalar::<f32>()?;
                assert!(diff < 1e-3, "{after:?}: d {name} differs by {diff}");
            }
            for (a, r) in [
                (ours.running_mean(), reference.running_mean()),
                (ours.running_var(), reference.running_var()),
            ] {
                let diff = (a - r)?.abs()?.max_all()?.to_scalar::<f32>()?;
                assert!(
                    diff < 1e-4,
                    "{after:?}: running statistics differ by {diff}"
                );
            }
        }
        Ok(())
    }

    /// Dropout keeps about 1 - rate of the values, scales them, and its gradient flows only
    /// through kept, positive values.
    #[test]
    fn fused_dropout_keeps_scales_and_routes_the_gradient() -> Result<()> {
        let dev = Device::Cpu;
        let varmap = VarMap::new();
        let bn = candle_nn::batch_norm(
            8,
            BatchNormConfig::default(),
            VarBuilder::from_varmap(&varmap, DType::F32, &dev),
        )?;
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (4, 8, 500), &dev)?)?;
        let rate = 0.8;
        let after = After::ReluDropout { rate, seed: 3 };
        let y = batch_norm_train(x.as_tensor(), &bn, after)?;
        let relu = batch_norm_train(x.as_tensor(), &bn, After::Relu)?;
        let (y, relu) = (
            y.flatten_all()?.to_vec1::<f32>()?,
            relu.flatten_all()?.to_vec1::<f32>()?,
        );
        let positive = relu.iter().filter(|v| **v > 0.0).count();
        let kept = y.iter().filter(|v| **v > 0.0).count();
        let share = kept as f64 / positive as f64;
        assert!((share - 0.2).abs() < 0.02, "kept share {share}");
        for (a, r) in y.iter().zip(&relu) {
            assert!(*a == 0.0 || (a - r * 5.0).abs() < 1e-4 * r.abs().max(1.0));
        }
        // The same seed draws the same mask.
        let again = batch_norm_train(x.as_tensor(), &bn, after)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        assert_eq!(again, y);
        // Gradient: zero where dropped or negative, 5 (1 / keep) times the ReLU's elsewhere.
        let probe = Tensor::ones((4, 8, 500), DType::F32, &dev)?;
        let grads = (batch_norm_train(x.as_tensor(), &bn, after)? * &probe)?
            .sum_all()?
            .backward()?;
        let (w, _) = bn.weight_and_bias().expect("affine");
        let dgamma = grads.get(w).expect("grad").to_vec1::<f32>()?;
        assert!(dgamma.iter().all(|v| v.is_finite()));
        Ok(())
    }
}
