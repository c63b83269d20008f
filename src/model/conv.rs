//! The 1D convolution used by every convolutional layer of [`super::ResNet1d`].
//!
//! On the CPU the convolution is an explicit im2col into a (C_in K, B L_out) matrix followed by
//! ONE matrix product with the (C_out, C_in K) weight for the whole batch (candle's gemm). Its
//! backward pass is the transposed products (by autograd on the matmul) and a col2im, so
//! training avoids candle 0.11's CPU `conv_transpose1d`, which falls back to a direct loop
//! whenever padding is non-zero (every layer here). Other devices use candle's `conv1d`.

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

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
            conv1d_im2col(x, &self.weight, self.padding, self.stride)
        } else {
            x.conv1d(&self.weight, self.padding, self.stride, 1, 1)
        }
    }
}

/// im2col + one matmul; differentiable in both the input and the weight.
pub fn conv1d_im2col(x: &Tensor, weight: &Tensor, padding: usize, stride: usize) -> Result<Tensor> {
    let (b, c_in, l) = x.dims3()?;
    let (c_out, c_in_w, k) = weight.dims3()?;
    if c_in != c_in_w {
        candle_core::bail!("conv1d: input has {c_in} channels, the weight expects {c_in_w}");
    }
    if l + 2 * padding < k || stride == 0 {
        candle_core::bail!("conv1d: input length {l} too short for kernel {k} (padding {padding})");
    }
    let l_out = (l + 2 * padding - k) / stride + 1;
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
                    // t such that 0 <= t s + j - p < l
                    for (t, d) in dst.iter_mut().enumerate() {
                        let pos = t * s + j;
                        if pos >= p && pos - p < l {
                            *d = src[(pos - p) * sl];
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

    /// The im2col path equals candle's conv1d, values and gradients, for the strides and
    /// paddings of the network (and a non-contiguous input).
    #[test]
    fn im2col_matches_candle_conv1d() {
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
            let ours = conv1d_im2col(x.as_tensor(), w.as_tensor(), padding, stride).unwrap();
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
            let o2 = conv1d_im2col(&xt, w.as_tensor(), padding, stride).unwrap();
            let o1 = conv1d_im2col(x.as_tensor(), w.as_tensor(), padding, stride).unwrap();
            assert!(diff(&o2, &o1) < 1e-6);
        }
    }
}
