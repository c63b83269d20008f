//! Long synthetic records (Holter-like, minutes to 24 h) read window by window, never held
//! whole: for benchmarks and memory checks of long-record delineation.

use std::ops::Range;

use super::{SynthError, SynthParams, generate_record};
use crate::record::LeadName;

/// One generated record (`tile`) repeated end to end, its first `n_leads` leads only, with an
/// amplitude that drifts slowly (1 +- 0.3 over `gain_period_s`), so that thresholds set once for
/// the whole record would not fit every part of it.
#[derive(Debug, Clone)]
pub struct LongSynthetic {
    tile: Vec<Vec<f32>>,
    pub leads: Vec<LeadName>,
    pub fs_hz: f64,
    pub n_samples: usize,
    pub gain_period_s: f64,
}

impl LongSynthetic {
    /// Record 0 of `params` (its `duration_s` is the tile's length), `n_leads` leads,
    /// `duration_s` long in all.
    pub fn new(params: &SynthParams, n_leads: usize, duration_s: f64) -> Result<Self, SynthError> {
        let rec = generate_record(params, 0)?;
        let tile: Vec<Vec<f32>> = rec
            .ecg
            .samples_mv
            .rows()
            .into_iter()
            .take(n_leads)
            .map(|r| r.to_vec())
            .collect();
        Ok(LongSynthetic {
            tile,
            leads: rec.ecg.leads.into_iter().take(n_leads).collect(),
            fs_hz: params.fs_hz,
            n_samples: (duration_s * params.fs_hz).round() as usize,
            gain_period_s: 3600.0,
        })
    }

    /// Every lead's samples in `range` (clipped to the record).
    pub fn window(&self, range: Range<usize>) -> Vec<Vec<f32>> {
        let tile_len = self.tile.first().map(Vec::len).unwrap_or(0).max(1);
        let range = range.start.min(self.n_samples)..range.end.min(self.n_samples);
        self.tile
            .iter()
            .map(|lead| {
                range
                    .clone()
                    .map(|i| {
                        let t_s = i as f64 / self.fs_hz;
                        let phase = 2.0 * std::f64::consts::PI * t_s / self.gain_period_s;
                        lead[i % tile_len] * (1.0 + 0.3 * phase.sin()) as f32
                    })
                    .collect()
            })
            .collect()
    }
}
