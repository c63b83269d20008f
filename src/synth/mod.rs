//! Synthetic 12-lead ECGs with ground-truth landmarks and class-specific changes.
//!
//! Each beat is a sum of Gaussian waves (P; three QRS components; an ST injury term; T) in the
//! spirit of McSharry et al.'s ECGSYN (IEEE TBME 2003), with per-lead heights given by projecting
//! a heart vector on each lead's axis ([`model`]). The rhythm has heart-rate variability (Mayer
//! waves, respiratory sinus arrhythmia, jitter); measurement noise, baseline wander and, on
//! request, mains interference are added. Class changes (multi-label, PTB-XL super-classes):
//!
//! - `NORM`: none;
//! - `MI`: pathological Q waves (initial forces turned away from the territory, inferior II/III/aVF
//!   or anterior V1-V4), loss of R there, ST elevation and T flattening/inversion there;
//! - `STTC`: ST depression and T inversion, lateral (V5-V6), sometimes also inferior;
//! - `CD`: bundle branch block (RBBB or LBBB; QRS 130-170 ms), sometimes a long PR (> 200 ms);
//! - `HYP`: Sokolow-Lyon voltage > 3.5 mV with strain (ST depression, T inversion in V5-V6).
//!
//! Every complete beat's P, QRS and T onset, peak and offset are known exactly: onset and offset
//! where the wave's Gaussians fall below [`SynthParams::landmark_fraction`] of their peaks, P and
//! T peaks at their centres, the QRS peak at the R peak of the noise-free lead II (its deepest
//! point for a QS complex).

mod generate;
pub mod long;
pub mod model;
mod params;
pub mod write;

pub use params::{ClassProbabilities, Powerline, SynthClass, SynthParams};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::delineate::types::Beat;
use crate::io::{Dataset, IoError, RecordEntry};
use crate::progress::{Progress, ProgressSink};
use crate::record::{Ecg, EcgMeta, LeadName, RecordError};

#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("invalid synthetic data parameters: {0}")]
    BadParams(String),
    #[error("record index {index} is outside the data set of {n_records} records")]
    IndexOutOfRange { index: usize, n_records: usize },
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("synthetic data generation was cancelled")]
    Cancelled,
    #[error(transparent)]
    Io(#[from] crate::io::IoError),
    #[error(transparent)]
    Dsp(#[from] crate::dsp::DspError),
    #[error("{path}: folder exists and is not empty (use overwrite to write into it)")]
    OutputNotEmpty { path: std::path::PathBuf },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MiTerritory {
    /// II, III, aVF.
    Inferior,
    /// V1-V4.
    Anterior,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BundleBranchBlock {
    Right,
    Left,
}

/// What was drawn for a record (for tests, reports and the app's captions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SynthDetails {
    pub classes: Vec<SynthClass>,
    /// Mean heart rate before variability.
    pub heart_rate_bpm: f64,
    /// P onset to QRS onset.
    pub pr_interval_s: f64,
    /// Nominal QRS duration (onset to offset).
    pub qrs_duration_s: f64,
    pub first_degree_av_block: bool,
    pub bundle_branch_block: Option<BundleBranchBlock>,
    pub mi_territory: Option<MiTerritory>,
    /// Sokolow-Lyon voltage of the noise-free beat before respiratory modulation.
    pub sokolow_lyon_mv: f64,
}

impl SynthDetails {
    /// A one-line description, used as the record's report.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = vec![format!("synthetic, {:.0} bpm", self.heart_rate_bpm)];
        for c in &self.classes {
            parts.push(match c {
                SynthClass::Norm => "normal".to_string(),
                SynthClass::Mi => format!(
                    "{} myocardial infarction",
                    match self.mi_territory {
                        Some(MiTerritory::Anterior) => "anterior",
                        _ => "inferior",
                    }
                ),
                SynthClass::Sttc => "ST depression, T inversion".to_string(),
                SynthClass::Cd => format!(
                    "{}{}",
                    match self.bundle_branch_block {
                        Some(BundleBranchBlock::Left) => "left bundle branch block",
                        _ => "right bundle branch block",
                    },
                    if self.first_degree_av_block {
                        ", first-degree AV block"
                    } else {
                        ""
                    }
                ),
                SynthClass::Hyp => format!(
                    "left ventricular hypertrophy (Sokolow-Lyon {:.1} mV) with strain",
                    self.sokolow_lyon_mv
                ),
            });
        }
        parts.join("; ")
    }
}

/// One synthetic record with its ground truth.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticRecord {
    /// 12 standard leads at `params.fs_hz`; `meta` carries id, labels, fold (`index % 10 + 1`),
    /// age, sex and a report describing the changes.
    pub ecg: Ecg,
    /// Complete beats only (P onset to T offset inside the record), in samples of `ecg`.
    pub beats: Vec<Beat>,
    pub details: SynthDetails,
}

/// The record id of data-set index `index` (`synth_00042`).
pub fn record_id(index: usize) -> String {
    format!("synth_{index:05}")
}

/// Generate record `index` of the data set described by `params` (deterministic: the same
/// parameters and index always give the same record, independent of other records).
pub fn generate_record(params: &SynthParams, index: usize) -> Result<SyntheticRecord, SynthError> {
    params.validate()?;
    if index >= params.n_records {
        return Err(SynthError::IndexOutOfRange {
            index,
            n_records: params.n_records,
        });
    }
    let classes = generate::draw_classes(params, index);
    let (age, sex) = generate::draw_demographics(params, index);
    let rendered = generate::render(params, index, &classes)?;
    let meta = EcgMeta {
        id: record_id(index),
        age_years: Some(age),
        sex: Some(sex),
        labels: classes.iter().map(|c| c.as_str().to_string()).collect(),
        report: Some(rendered.details.describe()),
        fold: Some((index % 10 + 1) as u32),
        source: None,
        synthetic: true,
        ..Default::default()
    };
    let ecg = Ecg::new(
        LeadName::standard_12(),
        params.fs_hz,
        rendered.samples_mv,
        meta,
    )?;
    Ok(SyntheticRecord {
        ecg,
        beats: rendered.beats,
        details: rendered.details,
    })
}

/// Generate every record of the data set in parallel (rayon), reporting progress and stopping
/// with [`SynthError::Cancelled`] when asked.
pub fn generate_all(
    params: &SynthParams,
    progress: &dyn ProgressSink,
) -> Result<Vec<SyntheticRecord>, SynthError> {
    params.validate()?;
    let done = std::sync::atomic::AtomicUsize::new(0);
    let total = params.n_records;
    (0..total)
        .into_par_iter()
        .map(|index| {
            if progress.is_cancelled() {
                return Err(SynthError::Cancelled);
            }
            let record = generate_record(params, index)?;
            let finished = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            progress.report(Progress {
                stage: "synthesising".into(),
                done: finished,
                total,
                share: None,
            });
            Ok(record)
        })
        .collect()
}

/// The synthetic data set behind the [`Dataset`] trait: the index (ids, labels, folds, age, sex)
/// is known up front; a record is generated when loaded.
#[derive(Debug, Clone)]
pub struct SyntheticDataset {
    params: SynthParams,
    entries: Vec<RecordEntry>,
}

impl SyntheticDataset {
    pub fn new(params: SynthParams) -> Result<Self, SynthError> {
        params.validate()?;
        let entries = (0..params.n_records)
            .map(|index| {
                let classes = generate::draw_classes(&params, index);
                let (age, sex) = generate::draw_demographics(&params, index);
                RecordEntry {
                    id: record_id(index),
                    labels: classes.iter().map(|c| c.as_str().to_string()).collect(),
                    fold: Some((index % 10 + 1) as u32),
                    age_years: Some(age),
                    sex: Some(sex),
                    report: None,
                }
            })
            .collect();
        Ok(SyntheticDataset { params, entries })
    }

    pub fn params(&self) -> &SynthParams {
        &self.params
    }

    /// The record with its ground truth.
    pub fn generate(&self, index: usize) -> Result<SyntheticRecord, SynthError> {
        generate_record(&self.params, index)
    }
}

impl Dataset for SyntheticDataset {
    fn name(&self) -> String {
        format!(
            "synthetic ({} records, {} Hz, seed {})",
            self.params.n_records, self.params.fs_hz, self.params.seed
        )
    }
    fn len(&self) -> usize {
        self.entries.len()
    }
    fn entry(&self, index: usize) -> Option<&RecordEntry> {
        self.entries.get(index)
    }
    fn load(&self, index: usize) -> Result<Ecg, IoError> {
        let path = format!("synthetic:{}", record_id(index));
        generate_record(&self.params, index)
            .map(|r| r.ecg)
            .map_err(|e| IoError::format(path, e.to_string()))
    }
    fn class_names(&self) -> Vec<String> {
        SynthClass::names()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_params_are_refused_with_the_field_name() {
        let p = SynthParams {
            fs_hz: 0.0,
            ..Default::default()
        };
        let err = generate_record(&p, 0).unwrap_err().to_string();
        assert!(err.contains("fs_hz"), "{err}");
        let p = SynthParams {
            heart_rate_bpm: (90.0, 60.0),
            ..Default::default()
        };
        assert!(p.validate().is_err());
        let p = SynthParams {
            n_records: 3,
            ..Default::default()
        };
        assert!(matches!(
            generate_record(&p, 3),
            Err(SynthError::IndexOutOfRange { .. })
        ));
    }

    #[test]
    fn dataset_index_agrees_with_generated_records() {
        let ds = SyntheticDataset::new(SynthParams {
            n_records: 6,
            seed: 9,
            ..Default::default()
        })
        .unwrap();
        for i in 0..ds.len() {
            let rec = ds.generate(i).unwrap();
            let entry = ds.entry(i).unwrap();
            assert_eq!(entry.labels, rec.ecg.meta.labels);
            assert_eq!(entry.fold, rec.ecg.meta.fold);
            assert_eq!(entry.age_years, rec.ecg.meta.age_years);
            assert_eq!(entry.id, rec.ecg.meta.id);
        }
    }
}
