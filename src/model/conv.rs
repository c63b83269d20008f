//! The 1D convolution used by every convolutional layer of [`super::ResNet1d`].
//!
//! On CPUs with AVX-512 or AVX2 + FMA both passes are on [`super::conv_direct`]: the forward
//! and the input gradient on its direct kernel, the weight gradient on its register-tiled
//! reduction over the stride phases. Elsewhere the forward is an explicit im2col into a
//! (C_in K, B L_out) matrix followed by ONE matrix product with the (C_out, C_in K) weight for
//! the whole batch (candle's gemm), and its backward the transposed products and a col2im.
//! Either way training avoids candle 0.11's CPU `conv_transpose1d`, which falls back to a
//! direct loop whenever padding is non-zero (every layer here). Other devices use candle's
//! `conv1d`.

use candle_core::{
    CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Layout, Result, Shape, Tensor,
};
use rayon::prelude::*;

use super::conv_direct::{self, ConvShape};

/// A bias-free 1D convolution as PyTorch's `nn.Conv1d(..., bias=False)`: weight
/// (C_out, C_in, K), zero padding on both sides, stride.
#[derive(Debug, Clone)]
pub struct Conv1d {
    pub weight: Tensor,
    pub padding: usize,
    pub stride: usize,
}

impl Conv1d {
    pub fn new(weight: Tensor, padding: usize, stride: usize) -> Self {
        Conv1d {
            weight,
            padding,
            stride,
        }
    }

    /// (B, C_in, L) -> (B, C_out, (L + 2 padding - K) / stride + 1).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if x.device().is_cpu() && x.dtype() == DType::F32 && self.weight.dtype() == DType::F32 {
            conv1d_direct(x, &self.weight, self.padding, self.stride)
        } else {
            x.conv1d(&self.weight, self.padding, self.stride, 1, 1)
        }
    }

    /// `act((conv(x) + residual) scale + shift)` for eval mode: one pass of the direct kernel
    /// when the CPU has its instruction sets and no input needs a gradient, otherwise the same formula from
    /// [`Self::forward`], an add and [`affine_act`]. `affine` is (scale, shift) per output
    /// channel; without it only the residual and the ReLU apply.
    pub fn forward_fused(
        &self,
        x: &Tensor,
        residual: Option<&Tensor>,
        affine: Option<(&[f32], &[f32])>,
        relu: bool,
    ) -> Result<Tensor> {
        let no_grad =
            !x.track_op() && !self.weight.track_op() && residual.is_none_or(|r| !r.track_op());
        let f32_cpu = |t: &Tensor| t.device().is_cpu() && t.dtype() == DType::F32;
        if no_grad
            && conv_direct::available()
            && f32_cpu(x)
            && f32_cpu(&self.weight)
            && residual.is_none_or(f32_cpu)
        {
            conv_shape(x, &self.weight, self.padding, self.stride)?;
            let op = FusedConv1d {
                padding: self.padding,
                stride: self.stride,
                affine: affine.map(|(a, b)| (a.into(), b.into())),
                relu,
            };
            return match residual {
                Some(r) => x.apply_op3_no_bwd(&self.weight, r, &op),
                None => x.apply_op2_no_bwd(&self.weight, &op),
            };
        }
        let mut out = self.forward(x)?;
        if let Some(r) = residual {
            out = (out + r)?;
        }
        match affine {
            Some((scale, shift)) => affine_act(&out, None, scale, shift, relu),
            None if relu => out.relu(),
            None => Ok(out),
        }
    }
}

/// The shapes of x (B, C_in, L) and weight (C_out, C_in, K), checked against each other.
fn conv_shape(x: &Tensor, weight: &Tensor, padding: usize, stride: usize) -> Result<ConvShape> {
    conv_shape_of(x.shape(), weight.shape(), padding, stride)
}

fn conv_shape_of(x: &Shape, weight: &Shape, padding: usize, stride: usize) -> Result<ConvShape> {
    let (batch, c_in, length) = x.dims3()?;
    let (c_out, c_in_w, kernel) = weight.dims3()?;
    if c_in != c_in_w {
        candle_core::bail!("conv1d: input has {c_in} channels, the weight expects {c_in_w}");
    }
    if length + 2 * padding < kernel || stride == 0 {
        candle_core::bail!(
            "conv1d: input length {length} too short for kernel {kernel} (padding {padding})"
        );
    }
    Ok(ConvShape {
        batch,
        c_in,
        length,
        c_out,
        kernel,
        padding,
        stride,
    })
}

/// The direct kernel as a candle op; differentiable in both the input and the weight (the
/// backward pass is on the direct family too). Falls back to [`conv1d_im2col`] on CPUs without AVX-512
/// or AVX2 + FMA.
pub fn conv1d_direct(x: &Tensor, weight: &Tensor, padding: usize, stride: usize) -> Result<Tensor> {
    conv_shape(x, weight, padding, stride)?;
    if !conv_direct::available() {
        return conv1d_im2col(x, weight, padding, stride);
    }
    x.apply_op2(weight, DirectConv1d { padding, stride })
}

#[derive(Debug, Clone, Copy)]
struct DirectConv1d {
    padding: usize,
    stride: usize,
}

impl CustomOp2 for DirectConv1d {
    fn name(&self) -> &'static str {
        "conv1d_direct"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        direct_cpu_fwd(
            (s1, l1),
            (s2, l2),
            None,
            self.padding,
            self.stride,
            None,
            false,
        )
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let shape = conv_shape(x, weight, self.padding, self.stride)?;
        let (padding, stride) = (self.padding, self.stride);
        let (length, kernel) = (shape.length, shape.kernel);
        // Both on the direct family (see conv_direct): no im2col-sized buffers, which cost
        // more in page clearing than the products themselves. The input gradient is skipped
        // when nothing upstream needs it (the network's input).
        let grad_x = if x.track_op() {
            Some(grad_res.apply_op2_no_bwd(
                &weight.detach(),
                &BackwardData {
                    padding,
                    stride,
                    length,
                },
            )?)
        } else {
            None
        };
        let grad_w = x.detach().apply_op2_no_bwd(
            grad_res,
            &BackwardWeight {
                padding,
                stride,
                kernel,
            },
        )?;
        Ok((grad_x, Some(grad_w)))
    }
}

/// d conv / d x of [`DirectConv1d`]: (grad (B, C_out, L_out), weight) -> (B, C_in, L).
#[derive(Debug, Clone, Copy)]
struct BackwardData {
    padding: usize,
    stride: usize,
    /// The forward input's length (several give the same output length when s > 1).
    length: usize,
}

impl CustomOp2 for BackwardData {
    fn name(&self) -> &'static str {
        "conv1d_direct_backward_data"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (batch, c_out, l_out) = l1.shape().dims3()?;
        let x_shape = Shape::from((batch, l2.shape().dims3()?.1, self.length));
        let shape = conv_shape_of(&x_shape, l2.shape(), self.padding, self.stride)?;
        if shape.c_out != c_out || shape.l_out() != l_out {
            candle_core::bail!(
                "conv1d backward: gradient {:?}, weight {:?}",
                l1.shape(),
                l2.shape()
            );
        }
        let g = f32_contiguous(s1, l1)?;
        let w = f32_contiguous(s2, l2)?;
        let Some(out) = conv_direct::conv1d_backward_data(shape, &g, &w) else {
            candle_core::bail!("conv1d_direct: no direct kernel for {shape:?} on this CPU")
        };
        Ok((CpuStorage::F32(out), x_shape))
    }
}

/// d conv / d weight of [`DirectConv1d`]: (x (B, C_in, L), grad (B, C_out, L_out)) ->
/// (C_out, C_in, K).
#[derive(Debug, Clone, Copy)]
struct BackwardWeight {
    padding: usize,
    stride: usize,
    kernel: usize,
}

impl CustomOp2 for BackwardWeight {
    fn name(&self) -> &'static str {
        "conv1d_direct_backward_weight"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(x) = s1 else {
            candle_core::bail!("conv1d_direct: only f32 is supported")
        };
        let (batch_g, c_out, l_out) = l2.shape().dims3()?;
        let w_shape = Shape::from((c_out, l1.shape().dims3()?.1, self.kernel));
        let shape = conv_shape_of(l1.shape(), &w_shape, self.padding, self.stride)?;
        if shape.batch != batch_g || shape.l_out() != l_out {
            candle_core::bail!(
                "conv1d backward: input {:?}, gradient {:?}",
                l1.shape(),
                l2.shape()
            );
        }
        let g = f32_contiguous(s2, l2)?;
        let (sx, ox) = (l1.stride(), l1.start_offset());
        let x_at = |b: usize, c: usize, i: usize| x[ox + b * sx[0] + c * sx[1] + i * sx[2]];
        let Some(out) = conv_direct::conv1d_backward_weight(shape, x_at, &g) else {
            candle_core::bail!("conv1d_direct: no weight gradient for {shape:?}")
        };
        Ok((CpuStorage::F32(out), w_shape))
    }
}

/// A 3-D storage's f32 values in row-major order: borrowed when contiguous, copied otherwise.
pub(crate) fn f32_contiguous<'a>(
    storage: &'a CpuStorage,
    layout: &Layout,
) -> Result<std::borrow::Cow<'a, [f32]>> {
    let CpuStorage::F32(v) = storage else {
        candle_core::bail!("conv1d_direct: only f32 is supported")
    };
    if let Some((start, end)) = layout.contiguous_offsets() {
        return Ok(std::borrow::Cow::Borrowed(&v[start..end]));
    }
    let (d0, d1, d2) = layout.shape().dims3()?;
    let (st, off) = (layout.stride(), layout.start_offset());
    let mut out = Vec::with_capacity(d0 * d1 * d2);
    for i in 0..d0 {
        for j in 0..d1 {
            out.extend((0..d2).map(|k| v[off + i * st[0] + j * st[1] + k * st[2]]));
        }
    }
    Ok(std::borrow::Cow::Owned(out))
}

/// The CPU side of the direct ops: x (B, C_in, L) in any layout, the weight and the optional
/// residual copied only when not contiguous.
fn direct_cpu_fwd(
    (s1, l1): (&CpuStorage, &Layout),
    (s2, l2): (&CpuStorage, &Layout),
    residual: Option<(&CpuStorage, &Layout)>,
    padding: usize,
    stride: usize,
    affine: Option<(&[f32], &[f32])>,
    relu: bool,
) -> Result<(CpuStorage, Shape)> {
    let CpuStorage::F32(x) = s1 else {
        candle_core::bail!("conv1d_direct: only f32 is supported")
    };
    let shape = conv_shape_of(l1.shape(), l2.shape(), padding, stride)?;
    let (batch, c_out) = (shape.batch, shape.c_out);
    let (sx, ox) = (l1.stride(), l1.start_offset());
    let x_at = |b: usize, c: usize, i: usize| x[ox + b * sx[0] + c * sx[1] + i * sx[2]];
    let w = f32_contiguous(s2, l2)?;
    let residual = match residual {
        Some((s, l)) => {
            if l.shape().dims() != [batch, c_out, shape.l_out()] {
                candle_core::bail!("conv1d_direct: residual shape {:?}", l.shape());
            }
            Some(f32_contiguous(s, l)?)
        }
        None => None,
    };
    let epilogue = conv_direct::Epilogue {
        residual: residual.as_deref(),
        affine,
        relu,
    };
    let Some(out) = conv_direct::conv1d(shape, x_at, &w, epilogue) else {
        candle_core::bail!("conv1d_direct: no direct kernel for {shape:?} on this CPU")
    };
    Ok((
        CpuStorage::F32(out),
        Shape::from((batch, c_out, shape.l_out())),
    ))
}

/// Inference-only conv + residual + batch norm + ReLU in one kernel (no backward: used only
/// when nothing asks for a gradient).
#[derive(Debug, Clone)]
struct FusedConv1d {
    padding: usize,
    stride: usize,
    /// (scale, shift) per output channel.
    affine: Option<ChannelAffine>,
    relu: bool,
}

type ChannelAffine = (std::sync::Arc<[f32]>, std::sync::Arc<[f32]>);

impl FusedConv1d {
    fn affine(&self) -> Option<(&[f32], &[f32])> {
        self.affine.as_ref().map(|(a, b)| (&a[..], &b[..]))
    }
}

impl CustomOp2 for FusedConv1d {
    fn name(&self) -> &'static str {
        "conv1d_fused"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let affine = self.affine();
        direct_cpu_fwd(
            (s1, l1),
            (s2, l2),
            None,
            self.padding,
            self.stride,
            affine,
            self.relu,
        )
    }
}

impl CustomOp3 for FusedConv1d {
    fn name(&self) -> &'static str {
        "conv1d_fused_residual"
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
        let affine = self.affine();
        let residual = Some((s3, l3));
        direct_cpu_fwd(
            (s1, l1),
            (s2, l2),
            residual,
            self.padding,
            self.stride,
            affine,
            self.relu,
        )
    }
}

/// im2col + one matmul; differentiable in both the input and the weight.
pub fn conv1d_im2col(x: &Tensor, weight: &Tensor, padding: usize, stride: usize) -> Result<Tensor> {
    let shape = conv_shape(x, weight, padding, stride)?;
    let (b, c_in, c_out, k, l_out) = (
        shape.batch,
        shape.c_in,
        shape.c_out,
        shape.kernel,
        shape.l_out(),
    );
    let cols = x.apply_op1(Im2Col1d {
        kernel: k,
        stride,
        padding,
    })?; // (C_in K, B L_out)
    let w2 = weight.reshape((c_out, c_in * k))?;
    let out = w2.matmul(&cols)?; // (C_out, B L_out)
    out.reshape((c_out, b, l_out))?.transpose(0, 1)
}

/// (B, C_in, L) -> (C_in K, B L_out) with cols[c K + j, b L_out + t] = x[b, c, t stride + j -
/// padding] (zero outside the input).
#[derive(Debug, Clone, Copy)]
struct Im2Col1d {
    kernel: usize,
    stride: usize,
    padding: usize,
}

impl Im2Col1d {
    fn l_out(&self, l: usize) -> usize {
        (l + 2 * self.padding - self.kernel) / self.stride + 1
    }
}

impl CustomOp1 for Im2Col1d {
    fn name(&self) -> &'static str {
        "im2col1d"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(data) = storage else {
            candle_core::bail!("im2col1d: only f32 is supported")
        };
        let (b, c_in, l) = layout.shape().dims3()?;
        let st = layout.stride();
        let (sb, sc, sl) = (st[0], st[1], st[2]);
        let off = layout.start_offset();
        let (k, s, p) = (self.kernel, self.stride, self.padding);
        let l_out = self.l_out(l);
        let row_len = b * l_out;
        let mut out = vec![0f32; c_in * k * row_len];
        out.par_chunks_mut(row_len)
            .enumerate()
            .for_each(|(row, dst)| {
                let (c, j) = (row / k, row % k);
                for bi in 0..b {
                    let src = &data[off + bi * sb + c * sc..];
                    let dst = &mut dst[bi * l_out..(bi + 1) * l_out];
                    // Only t with 0 <= t s + j - p < l read the input (the rest stay zero):
                    // t in [t0, t1), a plain copy for stride-1 contiguous rows.
                    let t0 = p.saturating_sub(j).div_ceil(s);
                    let t1 = if l + p > j {
                        ((l + p - j - 1) / s + 1).min(l_out)
                    } else {
                        0
                    };
                    if t0 >= t1 {
                        continue;
                    }
                    let first = t0 * s + j - p;
                    if s == 1 && sl == 1 {
                        dst[t0..t1].copy_from_slice(&src[first..first + (t1 - t0)]);
                    } else {
                        for (i, d) in dst[t0..t1].iter_mut().enumerate() {
                            *d = src[first * sl + i * s * sl];
                        }
                    }
                }
            });
        Ok((CpuStorage::F32(out), Shape::from((c_in * k, row_len))))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        let (b, c_in, l) = arg.dims3()?;
        let g = grad_res.apply_op1(Col2Im1d {
            im2col: *self,
            b,
            c_in,
            l,
        })?;
        Ok(Some(g))
    }
}

/// The adjoint of [`Im2Col1d`]: sums each column entry back onto the input sample it came from.
#[derive(Debug, Clone, Copy)]
struct Col2Im1d {
    im2col: Im2Col1d,
    b: usize,
    c_in: usize,
    l: usize,
}

impl CustomOp1 for Col2Im1d {
    fn name(&self) -> &'static str {
        "col2im1d"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(data) = storage else {
            candle_core::bail!("col2im1d: only f32 is supported")
        };
        let Im2Col1d {
            kernel: k,
            stride: s,
            padding: p,
        } = self.im2col;
        let (b, c_in, l) = (self.b, self.c_in, self.l);
        let l_out = self.im2col.l_out(l);
        let (rows, cols) = layout.shape().dims2()?;
        if rows != c_in * k || cols != b * l_out {
            candle_core::bail!("col2im1d: unexpected gradient shape {:?}", layout.shape());
        }
        let st = layout.stride();
        let (sr, sc) = (st[0], st[1]);
        let off = layout.start_offset();
        let mut out = vec![0f32; b * c_in * l];
        out.par_chunks_mut(l).enumerate().for_each(|(row, dst)| {
            let (bi, c) = (row / c_in, row % c_in);
            for j in 0..k {
                let src = off + (c * k + j) * sr + bi * l_out * sc;
                for t in 0..l_out {
                    let pos = t * s + j;
                    if pos >= p && pos - p < l {
                        dst[pos - p] += data[src + t * sc];
                    }
                }
            }
        });
        Ok((CpuStorage::F32(out), Shape::from((b, c_in, l))))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad_res.apply_op1(self.im2col)?))
    }
}

/// Eval-mode batch norm, optional residual and optional ReLU in ONE pass over the conv output:
/// `out = act(scale[c] (x + residual) + shift[c])`. candle's batch norm is four broadcast ops
/// (each a full pass and a thread barrier) plus the add and the ReLU; on a 2-core machine those
/// barriers cost about as much as the convolutions. Differentiable in `x` and `residual` (the
/// Grad-CAM path may back-propagate through later blocks); `scale`/`shift` are constants.
pub fn affine_act(
    x: &Tensor,
    residual: Option<&Tensor>,
    scale: &[f32],
    shift: &[f32],
    relu: bool,
) -> Result<Tensor> {
    let (_, c, _) = x.dims3()?;
    if scale.len() != c || shift.len() != c {
        candle_core::bail!("affine_act: {c} channels but {} scales", scale.len());
    }
    let op = AffineAct {
        scale: scale.into(),
        shift: shift.into(),
        relu,
    };
    let fused = x.device().is_cpu()
        && x.dtype() == DType::F32
        && residual.is_none_or(|r| r.dtype() == DType::F32 && r.dims() == x.dims());
    if fused {
        match residual {
            Some(r) => x.apply_op2(r, op),
            None => x.apply_op1(op),
        }
    } else {
        // Other devices: the same formula with candle's broadcast ops.
        let sum = match residual {
            Some(r) => (x + r)?,
            None => x.clone(),
        };
        let s = Tensor::from_slice(scale, (1, c, 1), x.device())?.to_dtype(x.dtype())?;
        let t = Tensor::from_slice(shift, (1, c, 1), x.device())?.to_dtype(x.dtype())?;
        let out = sum.broadcast_mul(&s)?.broadcast_add(&t)?;
        if relu { out.relu() } else { Ok(out) }
    }
}

#[derive(Debug, Clone)]
struct AffineAct {
    scale: std::sync::Arc<[f32]>,
    shift: std::sync::Arc<[f32]>,
    relu: bool,
}

impl AffineAct {
    /// out (contiguous (B, C, L)) from x and an optional residual of the same shape.
    fn run(&self, x: (&[f32], &Layout), r: Option<(&[f32], &Layout)>) -> Result<CpuStorage> {
        let (b, c, l) = x.1.shape().dims3()?;
        let sx = x.1.stride();
        let ox = x.1.start_offset();
        let mut out = vec![0f32; b * c * l];
        if l == 0 {
            return Ok(CpuStorage::F32(out));
        }
        out.par_chunks_mut(l).enumerate().for_each(|(row, dst)| {
            let (bi, ci) = (row / c, row % c);
            let (s, t) = (self.scale[ci], self.shift[ci]);
            let xo = ox + bi * sx[0] + ci * sx[1];
            for (i, d) in dst.iter_mut().enumerate() {
                *d = x.0[xo + i * sx[2]];
            }
            if let Some((rd, rl)) = r {
                let sr = rl.stride();
                let ro = rl.start_offset() + bi * sr[0] + ci * sr[1];
                for (i, d) in dst.iter_mut().enumerate() {
                    *d += rd[ro + i * sr[2]];
                }
            }
            if self.relu {
                for d in dst.iter_mut() {
                    *d = (*d * s + t).max(0.0);
                }
            } else {
                for d in dst.iter_mut() {
                    *d = *d * s + t;
                }
            }
        });
        Ok(CpuStorage::F32(out))
    }

    /// d out / d x (= d out / d residual): grad * scale, zero where the ReLU was inactive.
    fn grad(&self, res: &Tensor, grad_res: &Tensor) -> Result<Tensor> {
        let c = self.scale.len();
        let s = Tensor::from_slice(&self.scale[..], (1, c, 1), grad_res.device())?
            .to_dtype(grad_res.dtype())?;
        let g = grad_res.broadcast_mul(&s)?;
        if self.relu {
            let mask = res.gt(0f64)?.to_dtype(g.dtype())?;
            g * mask
        } else {
            Ok(g)
        }
    }
}

impl CustomOp1 for AffineAct {
    fn name(&self) -> &'static str {
        "affine_act"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(data) = storage else {
            candle_core::bail!("affine_act: only f32 is supported")
        };
        Ok((self.run((data, layout), None)?, layout.shape().clone()))
    }

    fn bwd(&self, _arg: &Tensor, res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(self.grad(res, grad_res)?))
    }
}

impl CustomOp2 for AffineAct {
    fn name(&self) -> &'static str {
        "affine_act_residual"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (CpuStorage::F32(d1), CpuStorage::F32(d2)) = (s1, s2) else {
            candle_core::bail!("affine_act: only f32 is supported")
        };
        if l1.shape() != l2.shape() {
            candle_core::bail!(
                "affine_act: residual shape {:?} != {:?}",
                l2.shape(),
                l1.shape()
            );
        }
        Ok((self.run((d1, l1), Some((d2, l2)))?, l1.shape().clone()))
    }

    fn bwd(
        &self,
        _arg1: &Tensor,
        _arg2: &Tensor,
        res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let g = self.grad(res, grad_res)?;
        Ok((Some(g.clone()), Some(g)))
    }
}

/// PyTorch's `_padding(downsample, kernel_size)` of Ribeiro's `resnet.py`:
/// `max(0, floor((kernel_size - downsample + 1) / 2))`, which keeps `length / downsample`.
pub fn ribeiro_padding(downsample: usize, kernel_size: usize) -> usize {
    (kernel_size + 1).saturating_sub(downsample) / 2
}

/// `nn.MaxPool1d(k, stride=k)` on (B, C, L) with L divisible by k (the config guarantees it).
pub fn max_pool1d(x: &Tensor, k: usize) -> Result<Tensor> {
    if k == 1 {
        return Ok(x.clone());
    }
    let (b, c, l) = x.dims3()?;
    x.reshape((b, c, l / k, k))?.max(3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// The im2col path and the direct kernel equal candle's conv1d, values and gradients, for
    /// the strides and paddings of the network (and a non-contiguous input).
    #[test]
    fn im2col_matches_candle_conv1d() {
        check_conv_path(conv1d_im2col);
    }

    #[test]
    fn direct_matches_candle_conv1d() {
        if !conv_direct::available() {
            eprintln!(
                "the direct kernel is not used on this CPU (no AVX-512F, no AVX2+FMA); checking the fallback"
            );
        }
        check_conv_path(conv1d_direct);
    }

    /// The fused eval path (one kernel on AVX-512 / AVX2 CPUs) equals conv, add, batch norm and ReLU
    /// done one after the other, with and without each part.
    #[test]
    fn fused_conv_equals_the_separate_ops() {
        let dev = Device::Cpu;
        for (stride, k, l) in [(1usize, 17usize, 64usize), (4, 17, 64), (1, 1, 16)] {
            let padding = ribeiro_padding(stride, k);
            let x = Tensor::randn(0f32, 1.0, (2, 5, l), &dev).unwrap();
            let conv = Conv1d::new(
                Tensor::randn(0f32, 1.0, (7, 5, k), &dev).unwrap(),
                padding,
                stride,
            );
            let plain = conv.forward(&x).unwrap();
            let residual = Tensor::randn(0f32, 1.0, plain.dims(), &dev).unwrap();
            let scale: Vec<f32> = (0..7).map(|i| 0.5 + i as f32 * 0.1).collect();
            let shift: Vec<f32> = (0..7).map(|i| i as f32 * 0.2 - 0.6).collect();
            for (with_residual, with_affine, relu) in [
                (false, true, true),
                (true, false, false),
                (false, true, false),
                (true, true, true),
            ] {
                let r = with_residual.then_some(&residual);
                let a = with_affine.then_some((&scale[..], &shift[..]));
                let fused = conv.forward_fused(&x, r, a, relu).unwrap();
                let mut want = plain.clone();
                if with_residual {
                    want = (want + &residual).unwrap();
                }
                if with_affine {
                    want = affine_act(&want, None, &scale, &shift, relu).unwrap();
                } else if relu {
                    want = want.relu().unwrap();
                }
                let d = (fused - want)
                    .unwrap()
                    .abs()
                    .unwrap()
                    .max_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap();
                assert!(
                    d < 1e-4,
                    "stride {stride} k {k} {with_residual} {with_affine} {relu}: {d}"
                );
            }
        }
    }

    fn check_conv_path(conv: fn(&Tensor, &Tensor, usize, usize) -> Result<Tensor>) {
        let dev = Device::Cpu;
        for (stride, k, l) in [
            (1usize, 17usize, 64usize),
            (4, 17, 64),
            (4, 5, 32),
            (1, 1, 16),
            (2, 3, 9),
        ] {
            let padding = ribeiro_padding(stride, k);
            let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (3, 5, l), &dev).unwrap()).unwrap();
            let w = Var::from_tensor(&Tensor::randn(0f32, 1.0, (7, 5, k), &dev).unwrap()).unwrap();
            let g =
                Tensor::randn(0f32, 1.0, (3, 7, (l + 2 * padding - k) / stride + 1), &dev).unwrap();
            let ours = conv(x.as_tensor(), w.as_tensor(), padding, stride).unwrap();
            let theirs = x
                .as_tensor()
                .conv1d(w.as_tensor(), padding, stride, 1, 1)
                .unwrap();
            let diff = |a: &Tensor, b: &Tensor| {
                let d = (a - b)
                    .unwrap()
                    .abs()
                    .unwrap()
                    .max_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap();
                let m = b
                    .abs()
                    .unwrap()
                    .max_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap();
                d / m.max(1e-6)
            };
            assert_eq!(ours.dims(), theirs.dims());
            assert!(diff(&ours, &theirs) < 1e-5);
            let go = (ours * &g).unwrap().sum_all().unwrap().backward().unwrap();
            // Gradients against direct sums (candle 0.11's own conv1d gradients disagree with
            // these sums for some paddings, so they are not the reference).
            let xv = x.as_tensor().to_vec3::<f32>().unwrap();
            let wv = w.as_tensor().to_vec3::<f32>().unwrap();
            let gv = g.to_vec3::<f32>().unwrap();
            let (c_out, c_in, l_out) = (7, 5, gv[0][0].len());
            let mut rw = vec![0f32; c_out * c_in * k];
            let mut rx = vec![0f32; 3 * c_in * l];
            for (bi, (xb, gb)) in xv.iter().zip(&gv).enumerate() {
                for o in 0..c_out {
                    for c in 0..c_in {
                        for j in 0..k {
                            for t in 0..l_out {
                                let pos = t * stride + j;
                                if pos >= padding && pos - padding < l {
                                    rw[(o * c_in + c) * k + j] += gb[o][t] * xb[c][pos - padding];
                                    rx[(bi * c_in + c) * l + pos - padding] +=
                                        gb[o][t] * wv[o][c][j];
                                }
                            }
                        }
                    }
                }
            }
            let rw = Tensor::from_vec(rw, (c_out, c_in, k), &dev).unwrap();
            let rx = Tensor::from_vec(rx, (3, c_in, l), &dev).unwrap();
            let e = diff(go.get(w.as_tensor()).unwrap(), &rw);
            assert!(
                e < 1e-4,
                "stride {stride} k {k}: weight gradient differs by {e}"
            );
            let e = diff(go.get(x.as_tensor()).unwrap(), &rx);
            assert!(
                e < 1e-4,
                "stride {stride} k {k}: input gradient differs by {e}"
            );
            // Non-contiguous input (a transposed view).
            let xt = x
                .as_tensor()
                .transpose(0, 1)
                .unwrap()
                .contiguous()
                .unwrap()
                .transpose(0, 1)
                .unwrap();
            let o2 = conv(&xt, w.as_tensor(), padding, stride).unwrap();
            let o1 = conv(x.as_tensor(), w.as_tensor(), padding, stride).unwrap();
            assert!(diff(&o2, &o1) < 1e-6);
        }
    }
}
