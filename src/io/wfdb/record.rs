//! The record API: a header and its signals as an [`Ecg`] in mV, with metadata from comments.

use std::path::Path;

use ndarray::Array2;

use crate::io::IoError;
use crate::record::{Ecg, EcgMeta, LeadName, Sex};

use super::header::WfdbHeader;
use super::signal::{missing_value, read_adc};

/// Millivolts per physical unit, for the units WFDB ECG records use.
fn mv_per_unit(units: &str) -> Option<f64> {
    match units.trim() {
        "mV" | "mv" | "MV" | "" => Some(1.0),
        "uV" | "uv" | "µV" | "μV" => Some(1e-3),
        "V" | "v" => Some(1e3),
        _ => None,
    }
}

/// Read a record as an [`Ecg`] in mV: `(adc - baseline) / gain`, converted from the header's
/// units. Lead names are normalised; `meta.id` is the record name, `meta.source` the header;
/// age, sex, labels, fold and report are taken from `key: value` header comments when present
/// (see [`meta_from_comments`]).
pub fn read_record(hea_path: &Path) -> Result<Ecg, IoError> {
    let (header, adc) = read_adc(hea_path)?;
    ecg_from_adc(&header, &adc)
}

/// Convert raw ADC values (from [`read_signals`]) of a parsed header to an [`Ecg`].
pub fn ecg_from_adc(header: &WfdbHeader, adc: &[Vec<i32>]) -> Result<Ecg, IoError> {
    let hea = &header.path;
    let n_samples = adc.first().map_or(0, Vec::len);
    let mut samples = Array2::<f32>::zeros((header.signals.len(), n_samples));
    for (i, (s, values)) in header.signals.iter().zip(adc).enumerate() {
        if s.samples_per_frame != 1 {
            return Err(IoError::format(
                hea,
                format!(
                    "signal {i} ({}): {} samples per frame (multi-rate records are not supported)",
                    s.description, s.samples_per_frame
                ),
            ));
        }
        if s.adc_gain == 0.0 {
            return Err(IoError::format(
                hea,
                format!(
                    "signal {i} ({}): ADC gain is 0 (uncalibrated), cannot convert to mV",
                    s.description
                ),
            ));
        }
        let unit_mv = mv_per_unit(&s.units).ok_or_else(|| {
            IoError::format(
                hea,
                format!(
                    "signal {i} ({}): units '{}' are not a voltage",
                    s.description, s.units
                ),
            )
        })?;
        let missing = missing_value(s.format);
        let scale = unit_mv / s.adc_gain;
        for (j, &v) in values.iter().enumerate() {
            if Some(v) == missing {
                return Err(IoError::format(
                    header.dir().join(&s.file_name),
                    format!(
                        "signal {i} ({}): sample {j} is marked missing (value {v}); records with gaps are not supported",
                        s.description
                    ),
                ));
            }
            samples[[i, j]] = ((f64::from(v) - f64::from(s.baseline)) * scale) as f32;
        }
    }
    let mut meta = meta_from_comments(&header.comments);
    meta.id = header.record_name.clone();
    meta.source = Some(hea.clone());
    let leads = header
        .signals
        .iter()
        .map(|s| LeadName::parse(&s.description))
        .collect();
    Ecg::new(leads, header.fs_hz, samples, meta).map_err(|source| IoError::Record {
        path: hea.clone(),
        source,
    })
}

/// Metadata from header comments written as `key: value` (case-insensitive keys, optional
/// `<...>` around the key as in LUDB): `age`, `sex` (`M`/`F`/`male`/`female`), `labels`
/// (space-separated), `fold`, `report`. In LUDB headers the comments after `<diagnoses>:` are
/// joined into the report. Unknown keys are ignored.
pub fn meta_from_comments(comments: &[String]) -> EcgMeta {
    let mut meta = EcgMeta::default();
    let mut diagnoses: Option<Vec<String>> = None;
    for comment in comments {
        if let Some(lines) = diagnoses.as_mut() {
            if !comment.is_empty() {
                lines.push(comment.clone());
            }
            continue;
        }
        let Some((key, value)) = comment.split_once(':') else {
            continue;
        };
        let key = key
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_ascii_lowercase();
        let value = value.trim();
        match key.as_str() {
            "age" => meta.age_years = value.parse::<f32>().ok().filter(|a| a.is_finite()),
            "sex" => meta.sex = parse_sex(value),
            "labels" => meta.labels = value.split_whitespace().map(str::to_string).collect(),
            "fold" => meta.fold = value.parse().ok(),
            "report" => meta.report = Some(value.to_string()).filter(|r| !r.is_empty()),
            "diagnoses" if value.is_empty() => diagnoses = Some(Vec::new()),
            _ => {}
        }
    }
    if let Some(lines) = diagnoses.filter(|l| !l.is_empty()) {
        meta.report = Some(lines.join(" "));
    }
    meta
}

/// `M`, `F`, `male`, `female` (any case); anything else is unknown.
pub fn parse_sex(value: &str) -> Option<Sex> {
    match value.trim().to_ascii_lowercase().as_str() {
        "m" | "male" => Some(Sex::Male),
        "f" | "female" => Some(Sex::Female),
        _ => None,
    }
}
