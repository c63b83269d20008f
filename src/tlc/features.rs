//! Per-time-step feature vectors from the activations of several residual blocks.
//!
//! Each block output (C_i, L_i) is brought to the finest block length T (nearest repeat or
//! linear interpolation), and the channels are concatenated in block order: one (T, F) matrix
//! per record, F = sum C_i, a row per time step.

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::model::ModelConfig;
use crate::tlc::TlcError;

/// How coarser blocks are brought to the finest block's time axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Alignment {
    /// PyTorch's `interpolate(mode="nearest")`: step t takes source step floor(t * L / T), i.e.
    /// each source step repeated T / L times when L divides T (the paper's choice).
    #[default]
    Nearest,
    /// PyTorch's `interpolate(mode="linear", align_corners=False)`.
    Linear,
}

impl std::str::FromStr for Alignment {
    type Err = TlcError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "nearest" => Ok(Alignment::Nearest),
            "linear" => Ok(Alignment::Linear),
            other => Err(TlcError::setting(
                "alignment",
                format!("'{other}' is neither 'nearest' nor 'linear'"),
            )),
        }
    }
}

/// Which blocks feed the features and how they are aligned.
///
/// Defaults: the last three residual blocks of the model (the paper's choice), nearest
/// alignment.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FeatureSettings {
    /// Residual block indices (0-based, as in `resblock1d_<i>`), in the order their channels
    /// are concatenated. `None` = the last three blocks of the model.
    pub blocks: Option<Vec<usize>>,
    pub alignment: Alignment,
}

impl FeatureSettings {
    /// The block indices for a given model, checked against its architecture: non-empty, in
    /// range, no duplicates.
    pub fn resolve_blocks(&self, config: &ModelConfig) -> Result<Vec<usize>, TlcError> {
        let n_blocks = config.blocks_dim.len();
        let blocks = match &self.blocks {
            Some(b) => b.clone(),
            None => (n_blocks.saturating_sub(3)..n_blocks).collect(),
        };
        if blocks.is_empty() {
            return Err(TlcError::setting("blocks", "no block selected"));
        }
        for (i, &b) in blocks.iter().enumerate() {
            if b >= n_blocks {
                return Err(TlcError::setting(
                    "blocks",
                    format!(
                        "block {b} does not exist: the model has blocks 0 to {}",
                        n_blocks - 1
                    ),
                ));
            }
            if blocks[..i].contains(&b) {
                return Err(TlcError::setting(
                    "blocks",
                    format!("block {b} is listed twice"),
                ));
            }
        }
        Ok(blocks)
    }

    /// The same settings with the block list made explicit for `config` (what an explainer
    /// stores).
    pub fn resolved(&self, config: &ModelConfig) -> Result<FeatureSettings, TlcError> {
        Ok(FeatureSettings {
            blocks: Some(self.resolve_blocks(config)?),
            alignment: self.alignment,
        })
    }

    /// Number of time steps T (the finest selected block's length) and features F (total
    /// channels) for `config`.
    pub fn dims(&self, config: &ModelConfig) -> Result<(usize, usize), TlcError> {
        let blocks = self.resolve_blocks(config)?;
        let n_steps = blocks
            .iter()
            .map(|&b| config.blocks_dim[b].1)
            .max()
            .unwrap_or(0);
        let n_features = blocks.iter().map(|&b| config.blocks_dim[b].0).sum();
        Ok((n_steps, n_features))
    }
}

/// Features of one record: `blocks[i]` is block i's output (C_i, L_i) for this record. Returns
/// (T, F) with T = max L_i and F = sum C_i, channels concatenated in the given order.
pub fn features_from_blocks(
    blocks: &[Array2<f32>],
    alignment: Alignment,
) -> Result<Array2<f32>, TlcError> {
    if blocks.is_empty() {
        return Err(TlcError::setting("blocks", "no block output given"));
    }
    if let Some(i) = blocks.iter().position(|b| b.ncols() == 0 || b.nrows() == 0) {
        return Err(TlcError::shape(
            format!("block output {i}"),
            "non-empty (channels, length)",
            format!("{:?}", blocks[i].dim()),
        ));
    }
    let n_steps = blocks.iter().map(|b| b.ncols()).max().unwrap_or(0);
    let n_features: usize = blocks.iter().map(|b| b.nrows()).sum();
    let mut out = Array2::<f32>::zeros((n_steps, n_features));
    let mut offset = 0;
    for block in blocks {
        let (n_channels, length) = block.dim();
        // Precompute, per output step, the source index/indices and weight.
        let taps: Vec<(usize, usize, f32)> = (0..n_steps)
            .map(|t| source_taps(t, length, n_steps, alignment))
            .collect();
        for c in 0..n_channels {
            let row = block.row(c);
            for (t, &(i0, i1, w1)) in taps.iter().enumerate() {
                out[[t, offset + c]] = if w1 == 0.0 {
                    row[i0]
                } else {
                    (1.0 - w1) * row[i0] + w1 * row[i1]
                };
            }
        }
        offset += n_channels;
    }
    Ok(out)
}

/// Source indices (i0, i1) and the weight of i1 for output step `t` of `n_out` from a signal of
/// length `n_in`.
pub(crate) fn source_taps(
    t: usize,
    n_in: usize,
    n_out: usize,
    alignment: Alignment,
) -> (usize, usize, f32) {
    match alignment {
        Alignment::Nearest => {
            let i = ((t as u128 * n_in as u128) / n_out as u128) as usize;
            (i.min(n_in - 1), 0, 0.0)
        }
        Alignment::Linear => linear_taps(t, n_in, n_out),
    }
}

/// PyTorch's align_corners=False linear interpolation: source position
/// (t + 0.5) * n_in / n_out - 0.5, clamped at 0.
pub(crate) fn linear_taps(t: usize, n_in: usize, n_out: usize) -> (usize, usize, f32) {
    let scale = n_in as f64 / n_out as f64;
    let src = ((t as f64 + 0.5) * scale - 0.5).max(0.0);
    let i0 = (src.floor() as usize).min(n_in - 1);
    let i1 = (i0 + 1).min(n_in - 1);
    let w1 = if i1 == i0 {
        0.0
    } else {
        (src - i0 as f64) as f32
    };
    (i0, i1, w1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn nearest_repeats_and_concatenates_in_block_order() {
        let fine = array![[1.0f32, 2.0, 3.0, 4.0]];
        let coarse = array![[10.0f32, 20.0], [30.0, 40.0]];
        let f = features_from_blocks(&[fine, coarse], Alignment::Nearest).unwrap();
        assert_eq!(f.dim(), (4, 3));
        assert_eq!(f.column(0).to_vec(), vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(f.column(1).to_vec(), vec![10.0, 10.0, 20.0, 20.0]);
        assert_eq!(f.column(2).to_vec(), vec![30.0, 30.0, 40.0, 40.0]);
    }

    #[test]
    fn linear_matches_pytorch_align_corners_false() {
        // torch.nn.functional.interpolate(torch.tensor([[[0., 4.]]]), size=4, mode="linear")
        // -> [0., 1., 3., 4.]
        let fine = Array2::<f32>::zeros((1, 4));
        let coarse = array![[0.0f32, 4.0]];
        let f = features_from_blocks(&[fine, coarse], Alignment::Linear).unwrap();
        assert_eq!(f.column(1).to_vec(), vec![0.0, 1.0, 3.0, 4.0]);
    }

    #[test]
    fn default_blocks_are_the_last_three_and_bad_blocks_are_refused() {
        let config = ModelConfig::ribeiro(5, crate::model::Task::Multilabel, vec![]);
        let s = FeatureSettings::default();
        assert_eq!(s.resolve_blocks(&config).unwrap(), vec![2, 3, 4]);
        assert_eq!(s.dims(&config).unwrap(), (256, 772));
        let bad = FeatureSettings {
            blocks: Some(vec![5]),
            ..Default::default()
        };
        assert!(bad.resolve_blocks(&config).is_err());
        let dup = FeatureSettings {
            blocks: Some(vec![3, 3]),
            ..Default::default()
        };
        assert!(dup.resolve_blocks(&config).is_err());
        assert!("cubic".parse::<Alignment>().is_err());
    }
}
