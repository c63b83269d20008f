//! The ECG record: lead names, sampling rate, samples in mV (leads x samples) and metadata.
//!
//! Every reader produces an [`Ecg`]; everything downstream (preprocessing, model, TLC,
//! delineation, figures, the app) consumes one.

use std::fmt;
use std::path::PathBuf;

use ndarray::{Array2, ArrayView1};
use serde::{Deserialize, Serialize};

/// Errors about the content of a record (not about reading it).
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("record '{record}': {n_names} lead names for {n_rows} signal rows")]
    LeadCountMismatch {
        record: String,
        n_names: usize,
        n_rows: usize,
    },
    #[error("record '{record}': sampling rate {fs_hz} Hz is not a positive finite number")]
    BadSamplingRate { record: String, fs_hz: f64 },
    #[error(
        "record '{record}': lead {lead} has a non-finite value (NaN or infinity) at sample {sample}"
    )]
    NonFinite {
        record: String,
        lead: String,
        sample: usize,
    },
    #[error(
        "record '{record}': the model needs lead {lead}, which the record lacks (it has {available})"
    )]
    MissingLead {
        record: String,
        lead: String,
        available: String,
    },
    #[error("record '{record}' has no samples")]
    Empty { record: String },
}

/// A lead name, normalised: the twelve standard leads are recognised case-insensitively
/// (`avr`, `aVR`, `AVR` are all [`LeadName::AVR`]); anything else is kept as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum LeadName {
    I,
    II,
    III,
    AVR,
    AVL,
    AVF,
    V1,
    V2,
    V3,
    V4,
    V5,
    V6,
    Other(String),
}

impl LeadName {
    /// The conventional 12-lead order (I, II, III, aVR, aVL, aVF, V1..V6) used by PTB-XL,
    /// CODE-15% and Ribeiro's model.
    pub fn standard_12() -> Vec<LeadName> {
        use LeadName::*;
        vec![I, II, III, AVR, AVL, AVF, V1, V2, V3, V4, V5, V6]
    }

    /// Normalise a name as found in a file header. Surrounding blanks are ignored; a few common
    /// spellings (`MLII` stays `Other("MLII")`, but `lead II`, `D1`..`D3` are recognised).
    pub fn parse(raw: &str) -> LeadName {
        use LeadName::*;
        let trimmed = raw.trim();
        let lower = trimmed.to_ascii_lowercase();
        let key = lower.strip_prefix("lead").map(str::trim).unwrap_or(&lower);
        match key {
            "i" | "d1" => I,
            "ii" | "d2" => II,
            "iii" | "d3" => III,
            "avr" => AVR,
            "avl" => AVL,
            "avf" => AVF,
            "v1" => V1,
            "v2" => V2,
            "v3" => V3,
            "v4" => V4,
            "v5" => V5,
            "v6" => V6,
            _ => Other(trimmed.to_string()),
        }
    }

    /// The standard lead this lead stands in for on a clinical layout. Holter and monitoring
    /// records store modified limb leads (Mason-Likar `MLII`, `ML2`) and modified chest leads
    /// (`MV1`, `CM5`) that are read as their standard counterpart; a standard lead is its own
    /// equivalent; `None` for anything else.
    pub fn clinical_equivalent(&self) -> Option<LeadName> {
        let LeadName::Other(raw) = self else {
            return Some(self.clone());
        };
        let key: String = raw
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-' && *c != '.')
            .collect::<String>()
            .to_ascii_uppercase();
        let standard = |s: &str| match LeadName::parse(s) {
            LeadName::Other(_) => None,
            lead => Some(lead),
        };
        if let Some(rest) = key.strip_prefix("ML") {
            let limb = match rest {
                "1" => "I",
                "2" => "II",
                "3" => "III",
                other => other,
            };
            return standard(limb).filter(|l| !l.is_chest());
        }
        for prefix in ["MV", "CM"] {
            if let Some(n) = key.strip_prefix(prefix) {
                return standard(&format!("V{n}")).filter(LeadName::is_chest);
            }
        }
        None
    }

    /// V1..V6.
    pub fn is_chest(&self) -> bool {
        use LeadName::*;
        matches!(self, V1 | V2 | V3 | V4 | V5 | V6)
    }

    pub fn as_str(&self) -> &str {
        use LeadName::*;
        match self {
            I => "I",
            II => "II",
            III => "III",
            AVR => "aVR",
            AVL => "aVL",
            AVF => "aVF",
            V1 => "V1",
            V2 => "V2",
            V3 => "V3",
            V4 => "V4",
            V5 => "V5",
            V6 => "V6",
            Other(s) => s,
        }
    }
}

impl fmt::Display for LeadName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<String> for LeadName {
    fn from(s: String) -> Self {
        LeadName::parse(&s)
    }
}

impl From<LeadName> for String {
    fn from(l: LeadName) -> Self {
        l.as_str().to_string()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sex {
    Male,
    Female,
}

impl fmt::Display for Sex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Sex::Male => "male",
            Sex::Female => "female",
        })
    }
}

/// What is known about a record besides its samples.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EcgMeta {
    /// Record identifier (file stem, PTB-XL ecg_id, CODE-15% exam_id, ...).
    pub id: String,
    pub age_years: Option<f32>,
    pub sex: Option<Sex>,
    /// Diagnostic labels (e.g. PTB-XL super-classes `NORM`, `MI`, ...); empty when unknown.
    pub labels: Vec<String>,
    /// Free-text report, if the data set has one.
    pub report: Option<String>,
    /// Cross-validation fold (PTB-XL `strat_fold`), if the data set defines one.
    pub fold: Option<u32>,
    /// Where the record was read from.
    pub source: Option<PathBuf>,
    /// Leads the reader computed from stored ones (III, aVR, aVL, aVF from I and II when a cart
    /// stores only 8 leads, or Philips' residual leads), not measured as such.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub derived_leads: Vec<LeadName>,
    /// Leads stored uncalibrated (WFDB ADC gain 0), read as WFDB reads them with its default
    /// gain of 200 ADC units per mV: their shape is right, their amplitude in mV is not known.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uncalibrated_leads: Vec<LeadName>,
    /// What the reader left out or changed, one sentence each (signals that are not ECG leads,
    /// edges without data, rates averaged to one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reader_notes: Vec<String>,
    /// The recording device as the file names it (cart model, software).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// The device's own measurements (intervals in ms, axes in degrees, rates in /min), as stored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measurements: Vec<DeviceMeasurement>,
    /// The device's median (representative) beats, when the file has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub median_beats: Option<MedianBeats>,
    /// Made by `tlc synth` (generated in memory, or read from a folder it wrote, which holds
    /// its `synth_params.json`): no patient is behind it.
    #[serde(default)]
    pub synthetic: bool,
    /// Identifying patient fields, kept for display only: never serialised and never printed
    /// by `Debug` (see [`PatientFields`]).
    #[serde(skip)]
    pub patient: Option<PatientFields>,
}

/// One measurement made by the recording device (`QRSDuration` 78 ms).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceMeasurement {
    /// The name the file uses.
    pub name: String,
    pub value: f64,
    /// The unit as the file states or implies it (`ms`, `deg`, `/min`); empty when unknown.
    pub unit: String,
}

/// Representative beats computed by the device, one row per lead, in mV.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MedianBeats {
    pub leads: Vec<LeadName>,
    pub fs_hz: f64,
    /// `samples_mv[lead][sample]`.
    pub samples_mv: Vec<Vec<f32>>,
}

/// Identifying fields of the patient as the file stores them. `Debug` redacts them so that a
/// record printed into a log carries no identity.
#[derive(Clone, Default, PartialEq)]
pub struct PatientFields {
    pub name: Option<String>,
    pub id: Option<String>,
    pub birth_date: Option<String>,
}

impl PatientFields {
    /// From the parts of the name (blank parts left out, the rest joined by a space), the id
    /// and the birth date; `None` when the file gives none of them.
    pub fn from_parts(
        name_parts: &[Option<&str>],
        id: Option<String>,
        birth_date: Option<String>,
    ) -> Option<PatientFields> {
        let name = name_parts
            .iter()
            .flatten()
            .map(|p| p.trim())
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        let fields = PatientFields {
            name: (!name.is_empty()).then_some(name),
            id,
            birth_date,
        };
        (fields != PatientFields::default()).then_some(fields)
    }
}

impl fmt::Debug for PatientFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PatientFields(<redacted>)")
    }
}

/// A signal recorded with the ECG that is not an ECG lead (arterial pressure, plethysmogram,
/// respiration, a numerics channel): kept so that it can be shown under the leads on the same
/// time axis, never given to the model or the delineator, which know only leads in mV.
#[derive(Debug, Clone, PartialEq)]
pub struct OtherSignal {
    /// The name the file gives it (`ABP`, `PLETH`, `RESP`).
    pub name: String,
    /// Its physical units as the file states them (`mmHg`, `NU`); empty when the file gives none.
    pub units: String,
    /// Its own sampling rate (Hz), which may differ from the leads'.
    pub fs_hz: f64,
    /// Time (s) of `values[0]` on the ECG's time axis (0 = the leads' first sample; negative
    /// when the reader trimmed leading samples the leads had no data for).
    pub start_s: f64,
    /// Values in `units`; NaN where the sample is missing.
    values: Vec<f32>,
    /// [`OtherSignal::value_range`], computed once: a track draws its scale every frame, and a
    /// 24 h signal has millions of values.
    range: Option<(f32, f32)>,
}

impl OtherSignal {
    pub fn new(name: String, units: String, fs_hz: f64, start_s: f64, values: Vec<f32>) -> Self {
        let range = finite_range(&values);
        OtherSignal {
            name,
            units,
            fs_hz,
            start_s,
            values,
            range,
        }
    }

    /// Values in `units`; NaN where the sample is missing.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// The label a track shows: the name and, when known, its units (`ABP (mmHg)`).
    pub fn label(&self) -> String {
        if self.units.trim().is_empty() {
            self.name.clone()
        } else {
            format!("{} ({})", self.name, self.units.trim())
        }
    }

    /// The time (s, on the ECG's axis) of value `i`.
    pub fn time_s(&self, i: usize) -> f64 {
        self.start_s + i as f64 / self.fs_hz
    }

    /// The value nearest in time to `t_s` (s, on the ECG's axis); `None` outside the signal or
    /// where it is missing.
    pub fn value_at(&self, t_s: f64) -> Option<f32> {
        let i = ((t_s - self.start_s) * self.fs_hz).round();
        if i < 0.0 {
            return None;
        }
        self.values
            .get(i as usize)
            .copied()
            .filter(|v| v.is_finite())
    }

    /// The smallest and largest finite values, for a track's scale; `None` when every value is
    /// missing. A flat signal gets a range of 1 unit around its value so it can be drawn.
    pub fn value_range(&self) -> Option<(f32, f32)> {
        self.range
    }
}

/// See [`OtherSignal::value_range`].
fn finite_range(values: &[f32]) -> Option<(f32, f32)> {
    let (lo, hi) = values
        .iter()
        .filter(|v| v.is_finite())
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    if !(lo.is_finite() && hi.is_finite()) {
        return None;
    }
    Some(if hi - lo > f32::EPSILON * hi.abs().max(1.0) {
        (lo, hi)
    } else {
        (lo - 0.5, hi + 0.5)
    })
}

/// One ECG: `samples_mv` has one row per lead, in millivolts.
#[derive(Debug, Clone, PartialEq)]
pub struct Ecg {
    pub leads: Vec<LeadName>,
    pub fs_hz: f64,
    pub samples_mv: Array2<f32>,
    pub meta: EcgMeta,
    /// Signals recorded with the leads that are not leads ([`OtherSignal`]); shown, not analysed.
    pub other_signals: Vec<OtherSignal>,
}

impl Ecg {
    /// Build a record, checking that names and rows agree, the rate is sane, and every sample is
    /// finite (a NaN would silently poison the model, the clusters and the picture).
    pub fn new(
        leads: Vec<LeadName>,
        fs_hz: f64,
        samples_mv: Array2<f32>,
        meta: EcgMeta,
    ) -> Result<Self, RecordError> {
        let record = meta.id.clone();
        if leads.len() != samples_mv.nrows() {
            return Err(RecordError::LeadCountMismatch {
                record,
                n_names: leads.len(),
                n_rows: samples_mv.nrows(),
            });
        }
        if !(fs_hz.is_finite() && fs_hz > 0.0) {
            return Err(RecordError::BadSamplingRate { record, fs_hz });
        }
        if samples_mv.ncols() == 0 || samples_mv.nrows() == 0 {
            return Err(RecordError::Empty { record });
        }
        for (lead_index, row) in samples_mv.rows().into_iter().enumerate() {
            if let Some(sample) = row.iter().position(|v| !v.is_finite()) {
                return Err(RecordError::NonFinite {
                    record,
                    lead: leads[lead_index].to_string(),
                    sample,
                });
            }
        }
        Ok(Ecg {
            leads,
            fs_hz,
            samples_mv,
            meta,
            other_signals: Vec::new(),
        })
    }

    /// [`Ecg::new`] of a record with missing samples (NaN: a gap in a lead, as WFDB marks
    /// them). Infinities are still refused. Every stage handles the gaps: delineation runs on
    /// the stretches between them, figures and the app draw them as gaps, the model refuses a
    /// record that has any (see [`crate::dsp::prepare`]).
    pub fn with_gaps(
        leads: Vec<LeadName>,
        fs_hz: f64,
        samples_mv: Array2<f32>,
        meta: EcgMeta,
    ) -> Result<Self, RecordError> {
        for (lead_index, row) in samples_mv.rows().into_iter().enumerate() {
            if let Some(sample) = row.iter().position(|v| v.is_infinite()) {
                return Err(RecordError::NonFinite {
                    record: meta.id.clone(),
                    lead: leads
                        .get(lead_index)
                        .map(|l| l.to_string())
                        .unwrap_or_default(),
                    sample,
                });
            }
        }
        let nan_free = samples_mv.mapv(|v| if v.is_nan() { 0.0 } else { v });
        let checked = Ecg::new(leads, fs_hz, nan_free, meta)?;
        Ok(Ecg {
            samples_mv,
            ..checked
        })
    }

    /// Whether a lead misses samples (NaN) somewhere.
    pub fn has_gaps(&self) -> bool {
        self.samples_mv.iter().any(|v| v.is_nan())
    }

    /// The stretches of samples where every lead has data, in order (the whole record when it
    /// has no gap).
    pub fn gap_free_runs(&self) -> Vec<std::ops::Range<usize>> {
        let n = self.n_samples();
        let complete = |j: usize| self.samples_mv.column(j).iter().all(|v| !v.is_nan());
        let mut runs = Vec::new();
        let mut start = None;
        for j in 0..n {
            match (complete(j), start) {
                (true, None) => start = Some(j),
                (false, Some(s)) => {
                    runs.push(s..j);
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(s) = start {
            runs.push(s..n);
        }
        runs
    }

    /// The record with `signals` kept beside its leads ([`OtherSignal`]).
    pub fn with_other_signals(mut self, signals: Vec<OtherSignal>) -> Self {
        self.other_signals = signals;
        self
    }

    pub fn n_leads(&self) -> usize {
        self.samples_mv.nrows()
    }

    pub fn n_samples(&self) -> usize {
        self.samples_mv.ncols()
    }

    pub fn duration_s(&self) -> f64 {
        self.n_samples() as f64 / self.fs_hz
    }

    pub fn seconds_from_sample(&self, sample: f64) -> f64 {
        sample / self.fs_hz
    }

    pub fn sample_from_seconds(&self, seconds: f64) -> f64 {
        seconds * self.fs_hz
    }

    pub fn lead_index(&self, lead: &LeadName) -> Option<usize> {
        self.leads.iter().position(|l| l == lead)
    }

    /// The row of `lead`, else of the first lead standing in for it
    /// ([`LeadName::clinical_equivalent`]: `MLII` for II on a Holter record).
    pub fn lead_index_or_equivalent(&self, lead: &LeadName) -> Option<usize> {
        self.lead_index(lead).or_else(|| {
            self.leads
                .iter()
                .position(|l| l.clinical_equivalent().as_ref() == Some(lead))
        })
    }

    pub fn lead(&self, lead: &LeadName) -> Option<ArrayView1<'_, f32>> {
        self.lead_index(lead).map(|i| self.samples_mv.row(i))
    }

    /// The rows of this record in the order `wanted` (a model's lead order). Fails naming the
    /// first lead that is missing.
    pub fn select_leads(&self, wanted: &[LeadName]) -> Result<Array2<f32>, RecordError> {
        let mut out = Array2::<f32>::zeros((wanted.len(), self.n_samples()));
        for (row, lead) in wanted.iter().enumerate() {
            let index = self
                .lead_index(lead)
                .ok_or_else(|| RecordError::MissingLead {
                    record: self.meta.id.clone(),
                    lead: lead.to_string(),
                    available: self
                        .leads
                        .iter()
                        .map(|l| l.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
            out.row_mut(row).assign(&self.samples_mv.row(index));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holter_leads_have_their_clinical_equivalents() {
        let eq = |s: &str| LeadName::parse(s).clinical_equivalent();
        assert_eq!(eq("MLII"), Some(LeadName::II));
        assert_eq!(eq("ML2"), Some(LeadName::II));
        assert_eq!(eq("MLIII"), Some(LeadName::III));
        assert_eq!(eq("V5"), Some(LeadName::V5));
        assert_eq!(eq("MV1"), Some(LeadName::V1));
        assert_eq!(eq("CM5"), Some(LeadName::V5));
        assert_eq!(eq("ECG1"), None);
        assert_eq!(eq("MLV1"), None);
        assert_eq!(eq("CM9"), None);
        let data = ndarray::Array2::<f32>::zeros((2, 10));
        let ecg = Ecg::new(
            vec![LeadName::parse("MLII"), LeadName::V1],
            360.0,
            data,
            EcgMeta::default(),
        )
        .unwrap();
        assert_eq!(ecg.lead_index_or_equivalent(&LeadName::II), Some(0));
        assert_eq!(ecg.lead_index_or_equivalent(&LeadName::V1), Some(1));
        assert_eq!(ecg.lead_index_or_equivalent(&LeadName::I), None);
    }

    #[test]
    fn lead_names_normalise_case_insensitively() {
        assert_eq!(LeadName::parse("avr"), LeadName::AVR);
        assert_eq!(LeadName::parse(" AVL "), LeadName::AVL);
        assert_eq!(LeadName::parse("v6"), LeadName::V6);
        assert_eq!(LeadName::parse("Lead II"), LeadName::II);
        assert_eq!(LeadName::parse("MLII"), LeadName::Other("MLII".into()));
        assert_eq!(LeadName::AVF.to_string(), "aVF");
    }

    #[test]
    fn select_leads_reorders_and_names_a_missing_lead() {
        let data = Array2::from_shape_vec((2, 3), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        let meta = EcgMeta {
            id: "r1".into(),
            ..Default::default()
        };
        let ecg = Ecg::new(vec![LeadName::II, LeadName::I], 100.0, data, meta).unwrap();
        let picked = ecg.select_leads(&[LeadName::I, LeadName::II]).unwrap();
        assert_eq!(picked.row(0).to_vec(), vec![4.0, 5.0, 6.0]);
        let err = ecg.select_leads(&[LeadName::V1]).unwrap_err().to_string();
        assert!(err.contains("V1") && err.contains("r1"), "{err}");
    }

    #[test]
    fn gaps_are_kept_only_when_asked_for_and_found() {
        let data = Array2::from_shape_vec(
            (2, 6),
            vec![
                1.0,
                f32::NAN,
                3.0,
                4.0,
                5.0,
                6.0,
                1.0,
                2.0,
                3.0,
                f32::NAN,
                f32::NAN,
                6.0,
            ],
        )
        .unwrap();
        let ecg = Ecg::with_gaps(
            vec![LeadName::I, LeadName::II],
            100.0,
            data.clone(),
            EcgMeta::default(),
        )
        .unwrap();
        assert!(ecg.has_gaps());
        assert_eq!(ecg.gap_free_runs(), vec![0..1, 2..3, 5..6]);
        assert!(ecg.samples_mv[[0, 1]].is_nan());
        let mut inf = data;
        inf[[1, 0]] = f32::INFINITY;
        let err = Ecg::with_gaps(
            vec![LeadName::I, LeadName::II],
            100.0,
            inf,
            EcgMeta::default(),
        );
        assert!(matches!(err, Err(RecordError::NonFinite { sample: 0, .. })));
    }

    #[test]
    fn nan_is_refused_with_its_position() {
        let data = Array2::from_shape_vec((1, 3), vec![1.0, f32::NAN, 3.0]).unwrap();
        let meta = EcgMeta {
            id: "bad".into(),
            ..Default::default()
        };
        let err = Ecg::new(vec![LeadName::I], 100.0, data, meta).unwrap_err();
        assert!(matches!(err, RecordError::NonFinite { sample: 1, .. }));
    }
}
