//! Per-time-step feature vectors from the activations of several residual blocks.
//!
//! Each block output (C_i, L_i) is brought to the finest block length T (nearest repeat or
//! linear interpolation), and the channels are concatenated in block order: one (T, F) matrix
//! per record, F = sum C_i, a row per time step.

use ndarray::{Array2, s};
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

/// What is done to one record's features before the corpus-wide standardisation.
///
/// The coarse blocks (64 and 16 steps for Ribeiro's network) carry much record-level evidence
/// (a feature that is high all through one ECG and low all through another): globally
/// standardised, it makes clusters that separate records rather than waves. Removing each
/// record's own mean (and scale) per feature leaves what changes *within* the ECG, which is
/// what lines up with P, QRS and T.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordNormalisation {
    /// Features as the network gives them (the paper's choice).
    #[default]
    None,
    /// Each feature minus its mean over the record's valid steps.
    Centre,
    /// Each feature centred and divided by its std over the record's valid steps
    /// (std below [`crate::tlc::cluster::MIN_STD`] -> 1).
    Zscore,
}

impl std::str::FromStr for RecordNormalisation {
    type Err = TlcError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(RecordNormalisation::None),
            "centre" | "center" => Ok(RecordNormalisation::Centre),
            "zscore" | "z-score" => Ok(RecordNormalisation::Zscore),
            other => Err(TlcError::setting(
                "record_normalisation",
                format!("'{other}' is none of 'none', 'centre', 'zscore'"),
            )),
        }
    }
}

/// Which blocks feed the features, how they are aligned, and how each record's features are
/// normalised before the corpus-wide standardisation.
///
/// Defaults: the last three residual blocks of the model (the paper's choice), nearest
/// alignment, no per-record normalisation.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FeatureSettings {
    /// Residual block indices (0-based, as in `resblock1d_<i>`), in the order their channels
    /// are concatenated. `None` = the last three blocks of the model.
    pub blocks: Option<Vec<usize>>,
    pub alignment: Alignment,
    /// Explainers written before this setting existed read as `None`.
    #[serde(default)]
    pub record_normalisation: RecordNormalisation,
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
            record_normalisation: self.record_normalisation,
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

/// Apply a per-record normalisation to one record's features (T, F) in place: statistics over
/// the rows `valid` (the steps on the real signal, not the padding), applied to every row.
pub fn normalise_record(
    features: &mut Array2<f32>,
    valid: std::ops::Range<usize>,
    mode: RecordNormalisation,
) {
    if mode == RecordNormalisation::None || valid.is_empty() || valid.end > features.nrows() {
        return;
    }
    let n = valid.len() as f64;
    for mut column in features.columns_mut() {
        let rows = column.slice(ndarray::s![valid.clone()]);
        let mean = rows.iter().map(|&v| v as f64).sum::<f64>() / n;
        let scale = match mode {
            RecordNormalisation::Zscore => {
                let var = rows.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
                let std = var.sqrt() as f32;
                if std < crate::tlc::cluster::MIN_STD {
                    1.0
                } else {
                    1.0 / std
                }
            }
            _ => 1.0,
        };
        let mean = mean as f32;
        column.mapv_inplace(|v| (v - mean) * scale);
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
        // Steps as rows (L, C), so each output row is filled from one or two contiguous rows
        // instead of one strided write per value.
        let by_step = block.t().as_standard_layout().into_owned();
        for t in 0..n_steps {
            let (i0, i1, w1) = source_taps(t, length, n_steps, alignment);
            let mut target = out.slice_mut(s![t, offset..offset + n_channels]);
            if w1 == 0.0 {
                target.assign(&by_step.row(i0));
            } else {
                let w0 = 1.0 - w1;
                ndarray::Zip::from(&mut target)
                    .and(&by_step.row(i0))
                    .and(&by_step.row(i1))
                    .for_each(|o, &a, &b| *o = w0 * a + w1 * b);
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
    fn record_normalisation_uses_the_valid_rows_only() {
        // Rows 0 and 3 are padding; valid rows 1..3 hold 2 and 4 (mean 3, std 1).
        let base = array![[100.0f32, 5.0], [2.0, 5.0], [4.0, 5.0], [-100.0, 5.0]];
        let mut f = base.clone();
        normalise_record(&mut f, 1..3, RecordNormalisation::None);
        assert_eq!(f, base);
        normalise_record(&mut f, 1..3, RecordNormalisation::Centre);
        assert_eq!(f.column(0).to_vec(), vec![97.0, -1.0, 1.0, -103.0]);
        assert_eq!(f.column(1).to_vec(), vec![0.0; 4]);
        let mut z = base.clone();
        normalise_record(&mut z, 1..3, RecordNormalisation::Zscore);
        assert_eq!(z.column(0).to_vec(), vec![97.0, -1.0, 1.0, -103.0]);
        // A constant feature keeps scale 1 (no division by a zero std).
        assert_eq!(z.column(1).to_vec(), vec![0.0; 4]);
        assert_eq!(
            "zscore".parse::<RecordNormalisation>().unwrap(),
            RecordNormalisation::Zscore
        );
        assert!("both".parse::<RecordNormalisation>().is_err());
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
