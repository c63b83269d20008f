//! The 1D convolution used by every convolutional layer of [`super::ResNet1d`].
//!
//! One place for the convolution so that a faster CPU path can replace candle's generic one for
//! all layers at once (never for one layer shape only).

use candle_core::{Result, Tensor};

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
        x.conv1d(&self.weight, self.padding, self.stride, 1, 1)
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
