//! Grad-CAM (Selvaraju et al.) at one block, and its correlation with the TLC entropy.

use ndarray::ArrayView2;

use crate::tlc::TlcError;
use crate::tlc::features::linear_taps;

/// The three stages of Grad-CAM for one record at one block.
#[derive(Debug, Clone, PartialEq)]
pub struct GradCamMaps {
    /// w_c = mean over time of the gradient (C).
    pub weights: Vec<f32>,
    /// relu(sum_c w_c A_c) at the block's resolution (L).
    pub lowres: Vec<f32>,
    /// `lowres` upsampled linearly (align_corners=False) to the input length and min-max
    /// normalised (a constant map gives 0).
    pub map: Vec<f32>,
}

/// Grad-CAM from a block output `activation` (C, L) and the gradient of the target output with
/// respect to it, `gradient` (C, L), upsampled to `input_length` samples.
pub fn gradcam(
    activation: ArrayView2<'_, f32>,
    gradient: ArrayView2<'_, f32>,
    input_length: usize,
) -> Result<GradCamMaps, TlcError> {
    if activation.dim() != gradient.dim() {
        return Err(TlcError::shape(
            "Grad-CAM gradient",
            format!("{:?} (as the activation)", activation.dim()),
            format!("{:?}", gradient.dim()),
        ));
    }
    if activation.ncols() == 0 || input_length == 0 {
        return Err(TlcError::shape(
            "Grad-CAM activation",
            "non-empty",
            format!("{:?}", activation.dim()),
        ));
    }
    let weights = channel_weights(gradient);
    let lowres = weighted_relu(activation, &weights);
    let map = min_max_normalise(&upsample_linear(&lowres, input_length));
    Ok(GradCamMaps {
        weights,
        lowres,
        map,
    })
}

/// Mean over time of each channel's gradient.
pub fn channel_weights(gradient: ArrayView2<'_, f32>) -> Vec<f32> {
    let n = gradient.ncols().max(1) as f64;
    gradient
        .rows()
        .into_iter()
        .map(|r| (r.iter().map(|&v| v as f64).sum::<f64>() / n) as f32)
        .collect()
}

/// relu(sum_c w_c A_c).
pub fn weighted_relu(activation: ArrayView2<'_, f32>, weights: &[f32]) -> Vec<f32> {
    let mut cam = vec![0.0f64; activation.ncols()];
    for (row, &w) in activation.rows().into_iter().zip(weights) {
        cam.iter_mut()
            .zip(row)
            .for_each(|(c, &a)| *c += w as f64 * a as f64);
    }
    cam.into_iter().map(|v| v.max(0.0) as f32).collect()
}

/// Linear interpolation to `n_out` samples, PyTorch's align_corners=False convention.
pub fn upsample_linear(values: &[f32], n_out: usize) -> Vec<f32> {
    if values.is_empty() {
        return vec![0.0; n_out];
    }
    (0..n_out)
        .map(|i| {
            let (i0, i1, w1) = linear_taps(i, values.len(), n_out);
            (1.0 - w1) * values[i0] + w1 * values[i1]
        })
        .collect()
}

/// (v - min) / (max - min); a constant input gives zeros.
pub fn min_max_normalise(values: &[f32]) -> Vec<f32> {
    let lo = values.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let range = hi - lo;
    if !(range > 0.0) || !range.is_finite() {
        return vec![0.0; values.len()];
    }
    values.iter().map(|&v| (v - lo) / range).collect()
}

/// Mean of a model-resolution map over each of `n_steps` equal time steps.
pub fn to_steps(map: &[f32], n_steps: usize) -> Vec<f32> {
    let n = map.len();
    (0..n_steps)
        .map(|t| {
            let a = t * n / n_steps;
            let b = ((t + 1) * n / n_steps).max(a + 1).min(n);
            if a >= b {
                return 0.0;
            }
            map[a..b].iter().sum::<f32>() / (b - a) as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::pearson;

    #[test]
    fn upsampling_matches_pytorch() {
        // F.interpolate(torch.tensor([[[1., 3.]]]), size=4, mode="linear") -> [1, 1.5, 2.5, 3]
        assert_eq!(upsample_linear(&[1.0, 3.0], 4), vec![1.0, 1.5, 2.5, 3.0]);
    }

    #[test]
    fn normalise_and_correlation_edge_cases() {
        assert_eq!(min_max_normalise(&[2.0, 2.0]), vec![0.0, 0.0]);
        assert_eq!(min_max_normalise(&[1.0, 3.0, 2.0]), vec![0.0, 1.0, 0.5]);
        assert_eq!(pearson(&[1.0, 1.0], &[1.0, 2.0]), None);
        let r = pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.5]).unwrap();
        assert!(r > 0.99 && r <= 1.0);
        assert_eq!(to_steps(&[1.0, 3.0, 5.0, 7.0], 2), vec![2.0, 6.0]);
    }
}
