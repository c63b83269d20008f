//! DICOM waveform (12-Lead ECG, General ECG, Ambulatory ECG IODs) through dicom-rs.
//!
//! The first multiplex group of the Waveform Sequence whose originality is `ORIGINAL` is the
//! record; a `DERIVED` group (the cart's median beats) goes to [`EcgMeta::median_beats`].
//! Sample value in the channel's units = (raw + Channel Baseline) x Channel Sensitivity x
//! Sensitivity Correction Factor (as pydicom's `waveform_array`), converted to mV from the
//! Channel Sensitivity Units (UCUM `uV`, `mV`, `V`). Numeric waveform annotations (the cart's
//! intervals and axes) become [`EcgMeta::measurements`].

use std::path::Path;

use dicom_core::Tag;
use dicom_core::value::{PrimitiveValue, Value};
use dicom_dictionary_std::tags;
use dicom_object::OpenFileOptions;
use dicom_object::file::ReadPreamble;
use dicom_object::mem::InMemDicomObject;

mod lengths;

use super::{LeadRows, number};
use crate::io::IoError;
use crate::record::{DeviceMeasurement, Ecg, EcgMeta, LeadName, MedianBeats, PatientFields, Sex};

const FORMAT: &str = "DICOM waveform";

fn err(path: &Path, section: impl Into<String>, message: impl Into<String>) -> IoError {
    IoError::section(path, FORMAT, section, message)
}

fn text(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    let e = obj.element_opt(tag).ok()??;
    let s = e.to_str().ok()?;
    let s = s.trim().trim_end_matches('\0').trim();
    (!s.is_empty()).then(|| s.to_string())
}

fn float(obj: &InMemDicomObject, tag: Tag) -> Option<f64> {
    let e = obj.element_opt(tag).ok()??;
    e.to_float64().ok().filter(|v| v.is_finite())
}

fn int(obj: &InMemDicomObject, tag: Tag) -> Option<i64> {
    let e = obj.element_opt(tag).ok()??;
    e.to_int::<i64>().ok()
}

fn items(obj: &InMemDicomObject, tag: Tag) -> &[InMemDicomObject] {
    match obj.element_opt(tag) {
        Ok(Some(e)) => e.items().unwrap_or(&[]),
        _ => &[],
    }
}

/// `Lead I (Einthoven)`, `Lead aVR`, `Lead V1`, `II` -> the lead; SCP-ECG codes
/// (`5.6.3-9-1`) by their number.
fn channel_lead(meaning: Option<&str>, code: Option<&str>, label: Option<&str>) -> LeadName {
    let from_meaning = meaning.map(|m| {
        let m = m.trim();
        let m = m
            .strip_prefix("Lead")
            .or_else(|| m.strip_prefix("lead"))
            .unwrap_or(m)
            .trim();
        LeadName::parse(m.split(['(', ' ', ',']).next().unwrap_or(m))
    });
    if let Some(lead) = &from_meaning
        && !matches!(lead, LeadName::Other(_))
    {
        return lead.clone();
    }
    if let Some(c) = code
        && let Some(n) = c.trim().strip_prefix("5.6.3-9-")
    {
        use LeadName::*;
        let lead = match n {
            "1" => Some(I),
            "2" => Some(II),
            "3" => Some(V1),
            "4" => Some(V2),
            "5" => Some(V3),
            "6" => Some(V4),
            "7" => Some(V5),
            "8" => Some(V6),
            "61" => Some(III),
            "62" => Some(AVR),
            "63" => Some(AVL),
            "64" => Some(AVF),
            _ => None,
        };
        if let Some(l) = lead {
            return l;
        }
    }
    from_meaning.unwrap_or_else(|| LeadName::parse(label.or(code).unwrap_or("?")))
}

/// mV per unit of the channel's sensitivity units.
fn mv_per_unit(unit: Option<&str>) -> Option<f64> {
    match unit.map(str::trim) {
        None => Some(1e-3), // the IODs require the sequence; µV is what carts write
        Some("uV") | Some("µV") | Some("UV") => Some(1e-3),
        Some("mV") | Some("MV") => Some(1.0),
        Some("V") => Some(1e3),
        Some(_) => None,
    }
}

struct Group {
    leads: Vec<LeadName>,
    fs_hz: f64,
    rows: Vec<Vec<f32>>,
    original: bool,
}

/// Raw samples of a group, channel-major, from the Waveform Data element.
fn raw_samples(
    path: &Path,
    section: &str,
    group: &InMemDicomObject,
    n_channels: usize,
    n_samples: usize,
) -> Result<Vec<Vec<f64>>, IoError> {
    let bits = int(group, tags::WAVEFORM_BITS_ALLOCATED).unwrap_or(16);
    let interp = text(group, tags::WAVEFORM_SAMPLE_INTERPRETATION).unwrap_or_else(|| "SS".into());
    let data = group
        .element_opt(tags::WAVEFORM_DATA)
        .ok()
        .flatten()
        .ok_or_else(|| err(path, section, "no Waveform Data (5400,1010)"))?;
    let bytes: Vec<u8> = match data.value() {
        // OW arrives as 16-bit words in the machine's order: back to little-endian bytes
        Value::Primitive(PrimitiveValue::U16(words)) => {
            words.iter().flat_map(|w| w.to_le_bytes()).collect()
        }
        Value::Primitive(PrimitiveValue::I16(words)) => {
            words.iter().flat_map(|w| w.to_le_bytes()).collect()
        }
        Value::Primitive(PrimitiveValue::U8(b)) => b.to_vec(),
        Value::Primitive(_) => data
            .to_bytes()
            .map_err(|e| err(path, section, format!("Waveform Data: {e}")))?
            .into_owned(),
        _ => return Err(err(path, section, "Waveform Data is not a byte array")),
    };
    if interp == "MB" || interp == "AB" {
        return Err(err(
            path,
            section,
            "mu-law / A-law samples are not supported",
        ));
    }
    let width = match (bits, interp.as_str()) {
        (16, "SS" | "US") => 2,
        (8, "SB" | "UB" | "MB" | "AB") => 1,
        (32, "SL" | "UL") => 4,
        _ => {
            return Err(err(
                path,
                section,
                format!("{bits}-bit samples interpreted as '{interp}' are not supported"),
            ));
        }
    };
    let needed = n_channels
        .checked_mul(n_samples)
        .and_then(|n| n.checked_mul(width))
        .filter(|&n| n <= bytes.len())
        .ok_or_else(|| {
            err(
                path,
                section,
                format!(
                    "{n_channels} channels x {n_samples} samples x {width} bytes do not fit in the {} bytes of Waveform Data",
                    bytes.len()
                ),
            )
        })?;
    let bytes = &bytes[..needed];
    let mut rows = vec![Vec::with_capacity(n_samples); n_channels];
    for (k, chunk) in bytes.chunks_exact(width).enumerate() {
        let v = match (width, interp.as_str()) {
            (2, "SS") => i16::from_le_bytes([chunk[0], chunk[1]]) as f64,
            (2, _) => u16::from_le_bytes([chunk[0], chunk[1]]) as f64,
            (1, "SB") => chunk[0] as i8 as f64,
            (1, _) => chunk[0] as f64,
            (4, "SL") => i32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) as f64,
            _ => u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) as f64,
        };
        rows[k % n_channels].push(v);
    }
    Ok(rows)
}

fn read_group(path: &Path, index: usize, group: &InMemDicomObject) -> Result<Group, IoError> {
    let section = format!("Waveform Sequence item {}", index + 1);
    let n_channels = int(group, tags::NUMBER_OF_WAVEFORM_CHANNELS)
        .filter(|&n| n > 0)
        .ok_or_else(|| {
            err(
                path,
                &section,
                "Number of Waveform Channels missing or zero",
            )
        })? as usize;
    let n_samples = int(group, tags::NUMBER_OF_WAVEFORM_SAMPLES)
        .filter(|&n| n > 0)
        .ok_or_else(|| err(path, &section, "Number of Waveform Samples missing or zero"))?
        as usize;
    let fs_hz = float(group, tags::SAMPLING_FREQUENCY)
        .filter(|&f| f > 0.0)
        .ok_or_else(|| err(path, &section, "Sampling Frequency missing or not positive"))?;
    let channels = items(group, tags::CHANNEL_DEFINITION_SEQUENCE);
    if channels.len() != n_channels {
        return Err(err(
            path,
            &section,
            format!(
                "{} channel definitions for {n_channels} channels",
                channels.len()
            ),
        ));
    }
    let raw = raw_samples(path, &section, group, n_channels, n_samples)?;
    let mut leads = Vec::with_capacity(n_channels);
    let mut rows = Vec::with_capacity(n_channels);
    for (c, (def, raw_row)) in channels.iter().zip(raw).enumerate() {
        let source = items(def, tags::CHANNEL_SOURCE_SEQUENCE).first();
        let meaning = source.and_then(|s| text(s, tags::CODE_MEANING));
        let code = source.and_then(|s| text(s, tags::CODE_VALUE));
        let label = text(def, tags::CHANNEL_LABEL);
        leads.push(channel_lead(
            meaning.as_deref(),
            code.as_deref(),
            label.as_deref(),
        ));
        let sensitivity = float(def, tags::CHANNEL_SENSITIVITY).unwrap_or(1.0);
        let correction = float(def, tags::CHANNEL_SENSITIVITY_CORRECTION_FACTOR).unwrap_or(1.0);
        let baseline = float(def, tags::CHANNEL_BASELINE).unwrap_or(0.0);
        let unit = items(def, tags::CHANNEL_SENSITIVITY_UNITS_SEQUENCE)
            .first()
            .and_then(|u| text(u, tags::CODE_VALUE));
        let to_mv = mv_per_unit(unit.as_deref()).ok_or_else(|| {
            err(
                path,
                format!("{section}, channel {}", c + 1),
                format!(
                    "sensitivity unit '{}' is not a voltage",
                    unit.clone().unwrap_or_default()
                ),
            )
        })?;
        let scale = sensitivity * correction * to_mv;
        rows.push(
            raw_row
                .into_iter()
                .map(|v| ((v + baseline) * scale) as f32)
                .collect(),
        );
    }
    let original = text(group, tags::WAVEFORM_ORIGINALITY).is_none_or(|o| o == "ORIGINAL");
    Ok(Group {
        leads,
        fs_hz,
        rows,
        original,
    })
}

fn measurements(obj: &InMemDicomObject) -> Vec<DeviceMeasurement> {
    let mut out = Vec::new();
    for item in items(obj, tags::WAVEFORM_ANNOTATION_SEQUENCE) {
        let Some(value) = float(item, tags::NUMERIC_VALUE) else {
            continue;
        };
        let Some(name) = items(item, tags::CONCEPT_NAME_CODE_SEQUENCE)
            .first()
            .and_then(|c| text(c, tags::CODE_MEANING))
        else {
            continue;
        };
        let unit = items(item, tags::MEASUREMENT_UNITS_CODE_SEQUENCE)
            .first()
            .and_then(|u| text(u, tags::CODE_VALUE))
            .unwrap_or_default();
        out.push(DeviceMeasurement { name, value, unit });
    }
    out
}

/// Read a DICOM waveform file (`bytes` is the whole file, `DICM` at 128).
pub fn read(path: &Path, bytes: &[u8]) -> Result<Ecg, IoError> {
    let body = bytes.get(128..).ok_or_else(|| {
        err(
            path,
            "preamble",
            "the file is shorter than the 128-byte preamble",
        )
    })?;
    // every stated length checked against the bytes there before dicom-rs allocates it
    lengths::check(body).map_err(|m| err(path, "data set", m))?;
    let obj = OpenFileOptions::new()
        .read_preamble(ReadPreamble::Never)
        .from_reader(body)
        .map_err(|e| err(path, "data set", e.to_string()))?;
    let obj: &InMemDicomObject = &obj;
    let groups = items(obj, tags::WAVEFORM_SEQUENCE);
    if groups.is_empty() {
        return Err(err(
            path,
            "Waveform Sequence (5400,0100)",
            "missing or empty: not a waveform object",
        ));
    }
    let mut record: Option<Group> = None;
    let mut median: Option<Group> = None;
    for (i, g) in groups.iter().enumerate() {
        let group = read_group(path, i, g)?;
        if group.original && record.is_none() {
            record = Some(group);
        } else if !group.original && median.is_none() {
            median = Some(group);
        }
    }
    let record = record.ok_or_else(|| {
        err(
            path,
            "Waveform Sequence (5400,0100)",
            "no ORIGINAL multiplex group (only derived waveforms)",
        )
    })?;

    let mut meta = EcgMeta {
        id: text(obj, tags::SOP_INSTANCE_UID).unwrap_or_default(),
        ..Default::default()
    };
    // SOP Instance UIDs are long and opaque; the file name is the id users know
    meta.id = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or(meta.id);
    meta.sex = match text(obj, tags::PATIENT_SEX).as_deref() {
        Some("M") => Some(Sex::Male),
        Some("F") => Some(Sex::Female),
        _ => None,
    };
    // Patient's Age is `nnnY` (also D, W, M)
    meta.age_years = text(obj, tags::PATIENT_AGE).and_then(|a| {
        let (n, unit) = a.split_at(a.len().saturating_sub(1));
        let n = number(n)?;
        match unit {
            "Y" => Some(n as f32),
            "M" => Some((n / 12.0) as f32),
            "W" => Some((n / 52.18) as f32),
            "D" => Some((n / 365.25) as f32),
            _ => None,
        }
    });
    let device = [
        text(obj, tags::MANUFACTURER),
        text(obj, tags::MANUFACTURER_MODEL_NAME),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    meta.device = (!device.is_empty()).then_some(device);
    meta.measurements = measurements(obj);
    let patient = PatientFields {
        name: text(obj, tags::PATIENT_NAME),
        id: text(obj, tags::PATIENT_ID),
        birth_date: text(obj, tags::PATIENT_BIRTH_DATE),
    };
    meta.patient = (patient != PatientFields::default()).then_some(patient);
    if let Some(m) = median {
        meta.median_beats = Some(MedianBeats {
            leads: m.leads,
            fs_hz: m.fs_hz,
            samples_mv: m.rows,
        });
    }

    let mut rows = LeadRows::default();
    for (lead, row) in record.leads.into_iter().zip(record.rows) {
        rows.push(lead, row);
    }
    meta.derived_leads = rows.derive_limb_leads();
    rows.into_ecg(path, FORMAT, record.fs_hz, meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_from_code_meaning_and_scp_codes() {
        assert_eq!(
            channel_lead(Some("Lead I (Einthoven)"), None, None),
            LeadName::I
        );
        assert_eq!(channel_lead(Some("Lead aVR"), None, None), LeadName::AVR);
        assert_eq!(channel_lead(None, Some("5.6.3-9-64"), None), LeadName::AVF);
        assert_eq!(
            channel_lead(Some("Lead V4R"), None, None),
            LeadName::Other("V4R".into())
        );
    }
}
