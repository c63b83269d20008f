//! HL7 aECG (annotated ECG, HL7 v3, the FDA's format): root `AnnotatedECG`.
//!
//! The first `series` (the rhythm series) is the record: its first `sequenceSet` holds a time
//! sequence (`TIME_ABSOLUTE`/`TIME_RELATIVE`, `GLIST_TS`/`GLIST_PQ` with an increment) and one
//! `SLIST_PQ` sequence per lead (`MDC_ECG_LEAD_*`), value = origin + scale x digit. A
//! `derivedSeries` (`REPRESENTATIVE_BEAT`) becomes the median beats; numeric annotations on it
//! (`MDC_ECG_TIME_PD_QRS`, ...) become device measurements.

use std::path::Path;

use super::xml::{XmlDoc, parse_file};
use super::{LeadRows, lead_name, number};
use crate::io::IoError;
use crate::record::{DeviceMeasurement, Ecg, EcgMeta, LeadName, MedianBeats, PatientFields, Sex};

const FORMAT: &str = "HL7 aECG";

fn err(path: &Path, section: impl Into<String>, message: impl Into<String>) -> IoError {
    IoError::section(path, FORMAT, section, message)
}

/// Factor to mV of a voltage unit.
fn to_mv(unit: Option<&str>) -> Option<f64> {
    match unit.unwrap_or("uV") {
        "uV" | "µV" => Some(1e-3),
        "mV" => Some(1.0),
        "V" => Some(1e3),
        "nV" => Some(1e-6),
        _ => None,
    }
}

/// Factor to seconds of a time unit.
fn to_s(unit: Option<&str>) -> Option<f64> {
    match unit.unwrap_or("s") {
        "s" => Some(1.0),
        "ms" => Some(1e-3),
        "us" | "µs" => Some(1e-6),
        _ => None,
    }
}

struct SequenceSet {
    leads: LeadRows,
    fs_hz: f64,
}

/// The `sequence` elements of a series' first `sequenceSet`.
fn read_sequence_set(
    path: &Path,
    doc: &XmlDoc,
    series: usize,
    what: &str,
) -> Result<SequenceSet, IoError> {
    let set = doc
        .children(series, "component")
        .find_map(|c| doc.child(c, "sequenceSet"))
        .ok_or_else(|| err(path, what, "no sequenceSet"))?;
    let mut fs_hz = None;
    let mut leads = LeadRows::default();
    for seq in doc
        .children(set, "component")
        .filter_map(|c| doc.child(c, "sequence"))
    {
        let code = doc
            .child(seq, "code")
            .and_then(|c| doc.attr(c, "code"))
            .unwrap_or_default();
        let section = format!("{what}, sequence {code}");
        let Some(value) = doc.child(seq, "value") else {
            return Err(err(path, section, "no value"));
        };
        if code.starts_with("TIME_") {
            let inc = doc.child(value, "increment").ok_or_else(|| {
                err(
                    path,
                    &section,
                    "no increment (only regular sampling is read)",
                )
            })?;
            let step = doc.attr(inc, "value").and_then(number);
            let unit = to_s(doc.attr(inc, "unit"));
            match (step, unit) {
                (Some(step), Some(unit)) if step > 0.0 => fs_hz = Some(1.0 / (step * unit)),
                _ => return Err(err(path, &section, "increment is not a positive time")),
            }
            continue;
        }
        let Some(raw_lead) = code.strip_prefix("MDC_ECG_LEAD_") else {
            continue; // other sequences (e.g. respiration) are not ECG leads
        };
        let origin = doc.child(value, "origin");
        let scale = doc.child(value, "scale");
        let origin_v = origin
            .and_then(|o| doc.attr(o, "value"))
            .map_or(Some(0.0), number)
            .ok_or_else(|| err(path, &section, "origin is not a number"))?;
        let origin_mv = to_mv(origin.and_then(|o| doc.attr(o, "unit")))
            .ok_or_else(|| err(path, &section, "origin unit is not a voltage"))?;
        let scale_v = scale
            .and_then(|s| doc.attr(s, "value"))
            .and_then(number)
            .ok_or_else(|| err(path, &section, "no numeric scale"))?;
        let scale_mv = to_mv(scale.and_then(|s| doc.attr(s, "unit")))
            .ok_or_else(|| err(path, &section, "scale unit is not a voltage"))?;
        let digits = doc
            .child(value, "digits")
            .ok_or_else(|| err(path, &section, "no digits"))?;
        let mut row = Vec::new();
        for (k, token) in doc.text(digits).split_ascii_whitespace().enumerate() {
            let d = number(token).ok_or_else(|| {
                err(
                    path,
                    &section,
                    format!("digit {k} '{token}' is not a number"),
                )
            })?;
            row.push((origin_v * origin_mv + scale_v * scale_mv * d) as f32);
        }
        leads.push(hl7_lead(raw_lead), row);
    }
    let fs_hz = fs_hz.ok_or_else(|| err(path, what, "no time sequence with an increment"))?;
    if leads.leads.is_empty() {
        return Err(err(path, what, "no MDC_ECG_LEAD_* sequence"));
    }
    Ok(SequenceSet { leads, fs_hz })
}

/// `AVR` -> aVR, `I` -> I; other MDC names (`V4R`, `ES`) are kept as written.
fn hl7_lead(raw: &str) -> LeadName {
    lead_name(raw)
}

fn annotations(doc: &XmlDoc, at: usize) -> Vec<DeviceMeasurement> {
    let mut out = Vec::new();
    for a in doc.descendants(at, "annotation") {
        let Some(code) = doc.child(a, "code").and_then(|c| doc.attr(c, "code")) else {
            continue;
        };
        let Some(v) = doc.child(a, "value") else {
            continue;
        };
        if let Some(value) = doc.attr(v, "value").and_then(number) {
            out.push(DeviceMeasurement {
                name: code.to_string(),
                value,
                unit: doc.attr(v, "unit").unwrap_or_default().to_string(),
            });
        }
    }
    out
}

/// Read an HL7 aECG file.
pub fn read(path: &Path, bytes: &[u8]) -> Result<Ecg, IoError> {
    let doc = parse_file(path, FORMAT, bytes, "AnnotatedECG")?;
    let root = doc.root();
    let series = doc
        .children(root, "component")
        .find_map(|c| doc.child(c, "series"))
        .ok_or_else(|| err(path, "AnnotatedECG", "no component/series"))?;
    let rhythm = read_sequence_set(path, &doc, series, "rhythm series")?;

    let mut meta = EcgMeta::default();
    if let Some(person) = doc.descendants(root, "subjectDemographicPerson").first() {
        let person = *person;
        meta.sex = match doc
            .child(person, "administrativeGenderCode")
            .and_then(|g| doc.attr(g, "code"))
        {
            Some("M") => Some(Sex::Male),
            Some("F") => Some(Sex::Female),
            _ => None,
        };
        let patient = PatientFields {
            name: doc.path_text(person, &["name"]).map(str::to_string),
            id: doc
                .descendants(root, "trialSubject")
                .first()
                .and_then(|s| doc.child(*s, "id"))
                .and_then(|i| doc.attr(i, "extension"))
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            birth_date: doc
                .child(person, "birthTime")
                .and_then(|b| doc.attr(b, "value"))
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        };
        meta.patient = (patient != PatientFields::default()).then_some(patient);
    }
    // "Reported Age" (LOINC 21612-7) as a subject observation
    for obs in doc.descendants(root, "subjectObservation") {
        let is_age = doc
            .child(obs, "code")
            .and_then(|c| doc.attr(c, "code"))
            .is_some_and(|c| c == "21612-7");
        if let (true, Some(v)) = (is_age, doc.child(obs, "value"))
            && let Some(age) = doc.attr(v, "value").and_then(number)
        {
            meta.age_years = Some(match doc.attr(v, "unit") {
                Some("mo") => age / 12.0,
                _ => age,
            } as f32);
        }
    }
    meta.device = doc
        .descendants(series, "manufacturerModelName")
        .first()
        .map(|&n| doc.text(n).to_string())
        .filter(|s| !s.is_empty());
    if let Some(&derived) = doc.descendants(series, "derivedSeries").first() {
        let median = read_sequence_set(path, &doc, derived, "derived series")?;
        meta.median_beats = Some(MedianBeats {
            leads: median.leads.leads,
            fs_hz: median.fs_hz,
            samples_mv: median.leads.rows,
        });
        meta.measurements = annotations(&doc, derived);
    }
    let mut leads = rhythm.leads;
    meta.derived_leads = leads.derive_limb_leads();
    leads.into_ecg(path, FORMAT, rhythm.fs_hz, meta)
}
