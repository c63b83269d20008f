//! Long synthetic records (Holter-like, minutes to 24 h) read window by window, never held
//! whole: for benchmarks and memory checks of long-record delineation.

use std::ops::Range;

use super::{SynthError, SynthParams, generate_record};
use crate::record::LeadName;

/// How the amplitude of a [`LongSynthetic`] record changes over time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GainDrift {
    /// 1 + `depth` x sin(2 pi t / `period_s`).
    Wave { period_s: f64, depth: f64 },
    /// From 1 at the start, linearly, to `end` at `over_s`, then `end` (e.g. an electrode whose
    /// contact slowly worsens).
    Ramp { end: f64, over_s: f64 },
}

impl GainDrift {
    /// The gain at `t_s` seconds.
    pub fn at(&self, t_s: f64) -> f64 {
        match *self {
            GainDrift::Wave { period_s, depth } => {
                1.0 + depth * (2.0 * std::f64::consts::PI * t_s / period_s).sin()
            }
            GainDrift::Ramp { end, over_s } => 1.0 + (end - 1.0) * (t_s / over_s).clamp(0.0, 1.0),
        }
    }
}

/// One generated record (`tile`) repeated end to end, its first `n_leads` leads only, with an
/// amplitude that drifts slowly (`gain`, by default 1 +- 0.3 over an hour), so that thresholds
/// set once for the whole record would not fit every part of it.
#[derive(Debug, Clone)]
pub struct LongSynthetic {
    tile: Vec<Vec<f32>>,
    pub leads: Vec<LeadName>,
    pub fs_hz: f64,
    pub n_samples: usize,
    pub gain: GainDrift,
}

impl LongSynthetic {
    /// Record 0 of `params` (its `duration_s` is the tile's length), `n_leads` leads,
    /// `duration_s` long in all.
    pub fn new(params: &SynthParams, n_leads: usize, duration_s: f64) -> Result<Self, SynthError> {
        let leads = LeadName::standard_12()
            .into_iter()
            .take(n_leads)
            .collect::<Vec<_>>();
        Self::with_leads(params, &leads, duration_s)
    }

    /// As [`LongSynthetic::new`] with the leads chosen by name, e.g. II and V5 as a 2-lead
    /// Holter records them.
    pub fn with_leads(
        params: &SynthParams,
        leads: &[LeadName],
        duration_s: f64,
    ) -> Result<Self, SynthError> {
        let rec = generate_record(params, 0)?;
        let mut tile = Vec::with_capacity(leads.len());
        for lead in leads {
            let row = rec.ecg.lead(lead).ok_or_else(|| {
                SynthError::BadParams(format!("the synthetic 12-lead record has no lead {lead}"))
            })?;
            tile.push(row.to_vec());
        }
        Ok(LongSynthetic {
            tile,
            leads: leads.to_vec(),
            fs_hz: params.fs_hz,
            n_samples: (duration_s * params.fs_hz).round() as usize,
            gain: GainDrift::Wave {
                period_s: 3600.0,
                depth: 0.3,
            },
        })
    }

    /// Samples of the repeated record: its beats (`generate_record(params, 0).beats`) recur
    /// every so many samples.
    pub fn tile_samples(&self) -> usize {
        self.tile.first().map(Vec::len).unwrap_or(0)
    }

    /// Every lead's samples in `range` (clipped to the record).
    pub fn window(&self, range: Range<usize>) -> Vec<Vec<f32>> {
        let tile_len = self.tile_samples().max(1);
        let range = range.start.min(self.n_samples)..range.end.min(self.n_samples);
        self.tile
            .iter()
            .map(|lead| {
                range
                    .clone()
                    .map(|i| lead[i % tile_len] * self.gain.at(i as f64 / self.fs_hz) as f32)
                    .collect()
            })
            .collect()
    }
}

/// A file format a long record is written in (`tlc synth --holter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HolterFormat {
    Edf,
    Ishne,
}

impl LongSynthetic {
    /// Write the record to `path` as EDF or ISHNE, a minute at a time (never held whole).
    pub fn write(
        &self,
        path: &std::path::Path,
        format: HolterFormat,
        overwrite: bool,
    ) -> Result<(), SynthError> {
        use crate::io::formats::{SignalShape, edf, ishne};
        let write = match format {
            HolterFormat::Edf => edf::write,
            HolterFormat::Ishne => ishne::write,
        };
        let shape = SignalShape {
            leads: &self.leads,
            fs_hz: self.fs_hz,
            n_samples: self.n_samples,
        };
        write(path, &shape, &mut |range| self.window(range), overwrite)?;
        Ok(())
    }
}
