//! GE MUSE XML (`RestingECG`): `Waveform` elements of type `Rhythm` (the record) and `Median`
//! (median beats), each with `LeadData` per lead: base64 little-endian int16 in `WaveFormData`,
//! `LeadAmplitudeUnitsPerBit` in `LeadAmplitudeUnits`, and a CRC-32 of the decoded bytes
//! (`LeadDataCRC32`), which is checked. MUSE stores 8 leads (I, II, V1-V6); III, aVR, aVL and
//! aVF are derived. `RestingECGMeasurements` become device measurements.

use std::path::Path;

use base64::Engine;

use super::xml::{XmlDoc, parse_file};
use super::{LeadRows, lead_name, number};
use crate::io::IoError;
use crate::record::{DeviceMeasurement, Ecg, EcgMeta, MedianBeats, PatientFields, Sex};

const FORMAT: &str = "GE MUSE XML";

fn err(path: &Path, section: impl Into<String>, message: impl Into<String>) -> IoError {
    IoError::section(path, FORMAT, section, message)
}

/// Base64 with the line breaks and blanks XML writers put in it.
pub(crate) fn base64_bytes(text: &str) -> Result<Vec<u8>, String> {
    let clean: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(&clean)
        .map_err(|e| format!("bad base64: {e}"))
}

fn read_waveform(
    path: &Path,
    doc: &XmlDoc,
    wf: usize,
    kind: &str,
) -> Result<(LeadRows, f64), IoError> {
    let what = format!("{kind} waveform");
    let base = doc
        .path_text(wf, &["SampleBase"])
        .and_then(number)
        .ok_or_else(|| err(path, &what, "no SampleBase"))?;
    let exponent = doc
        .path_text(wf, &["SampleExponent"])
        .and_then(number)
        .unwrap_or(0.0);
    let fs_hz = base * 10f64.powf(exponent);
    if !(fs_hz.is_finite() && fs_hz > 0.0) {
        return Err(err(path, &what, format!("sampling rate {fs_hz} Hz")));
    }
    let mut rows = LeadRows::default();
    for lead in doc.children(wf, "LeadData") {
        let id = doc.path_text(lead, &["LeadID"]).unwrap_or("?");
        let section = format!("{what}, lead {id}");
        let data = doc
            .path_text(lead, &["WaveFormData"])
            .ok_or_else(|| err(path, &section, "no WaveFormData"))?;
        let bytes = base64_bytes(data).map_err(|m| err(path, &section, m))?;
        if let Some(crc) = doc
            .path_text(lead, &["LeadDataCRC32"])
            .and_then(|c| c.parse::<u32>().ok())
        {
            let actual = crc32fast::hash(&bytes);
            if actual != crc {
                return Err(err(
                    path,
                    &section,
                    format!("CRC-32 of the samples is {actual}, the file says {crc}"),
                ));
            }
        }
        let sample_size = doc
            .path_text(lead, &["LeadSampleSize"])
            .and_then(number)
            .unwrap_or(2.0);
        if sample_size != 2.0 {
            return Err(err(
                path,
                &section,
                format!("{sample_size}-byte samples (only 2 is read)"),
            ));
        }
        let declared = doc
            .path_text(lead, &["LeadSampleCountTotal"])
            .and_then(number)
            .map(|n| n as usize)
            .unwrap_or(bytes.len() / 2);
        if declared.saturating_mul(2) > bytes.len() {
            return Err(err(
                path,
                &section,
                format!("{declared} samples declared, {} bytes of data", bytes.len()),
            ));
        }
        let units_per_bit = doc
            .path_text(lead, &["LeadAmplitudeUnitsPerBit"])
            .and_then(number)
            .ok_or_else(|| err(path, &section, "no LeadAmplitudeUnitsPerBit"))?;
        let unit_mv = match doc
            .path_text(lead, &["LeadAmplitudeUnits"])
            .unwrap_or("MICROVOLTS")
        {
            "MICROVOLTS" => 1e-3,
            "MILLIVOLTS" => 1.0,
            other => return Err(err(path, &section, format!("amplitude unit '{other}'"))),
        };
        let scale = units_per_bit * unit_mv;
        let row = bytes[..declared * 2]
            .chunks_exact(2)
            .map(|c| (i16::from_le_bytes([c[0], c[1]]) as f64 * scale) as f32)
            .collect();
        rows.push(lead_name(id), row);
    }
    if rows.leads.is_empty() {
        return Err(err(path, &what, "no LeadData"));
    }
    Ok((rows, fs_hz))
}

/// Read a GE MUSE XML file.
pub fn read(path: &Path, bytes: &[u8]) -> Result<Ecg, IoError> {
    let doc = parse_file(path, FORMAT, bytes, "RestingECG")?;
    let root = doc.root();
    let mut rhythm = None;
    let mut median = None;
    for wf in doc.children(root, "Waveform") {
        match doc.path_text(wf, &["WaveformType"]) {
            Some("Rhythm") if rhythm.is_none() => {
                rhythm = Some(read_waveform(path, &doc, wf, "Rhythm")?)
            }
            Some("Median") if median.is_none() => {
                median = Some(read_waveform(path, &doc, wf, "Median")?)
            }
            _ => {}
        }
    }
    let (mut leads, fs_hz) =
        rhythm.ok_or_else(|| err(path, "RestingECG", "no Waveform of type Rhythm"))?;

    let mut meta = EcgMeta::default();
    if let Some(p) = doc.child(root, "PatientDemographics") {
        let age = doc.path_text(p, &["PatientAge"]).and_then(number);
        meta.age_years = match (age, doc.path_text(p, &["AgeUnits"])) {
            (Some(a), None | Some("YEARS")) => Some(a as f32),
            (Some(a), Some("MONTHS")) => Some((a / 12.0) as f32),
            (Some(a), Some("WEEKS")) => Some((a / 52.18) as f32),
            (Some(a), Some("DAYS")) => Some((a / 365.25) as f32),
            _ => None,
        };
        meta.sex = match doc.path_text(p, &["Gender"]) {
            Some("MALE") => Some(Sex::Male),
            Some("FEMALE") => Some(Sex::Female),
            _ => None,
        };
        meta.patient = PatientFields::from_parts(
            &[
                doc.path_text(p, &["PatientFirstName"]),
                doc.path_text(p, &["PatientLastName"]),
            ],
            doc.path_text(p, &["PatientID"]).map(str::to_string),
            doc.path_text(p, &["DateofBirth"]).map(str::to_string),
        );
    }
    meta.device = doc
        .path_text(root, &["TestDemographics", "AcquisitionDevice"])
        .map(str::to_string);
    if let Some(m) = doc.child(root, "RestingECGMeasurements") {
        for &c in &doc.node(m).children {
            let name = doc.name(c);
            let Some(value) = number(doc.text(c)) else {
                continue;
            };
            let unit = match name {
                n if n.ends_with("Rate") => "/min",
                n if n.ends_with("Axis") => "deg",
                "ECGSampleBase" => "Hz",
                "QRSCount" | "ECGSampleExponent" => "",
                // onsets/offsets are in samples of the median beat
                n if n.ends_with("Onset") || n.ends_with("Offset") => "samples",
                _ => "ms",
            };
            meta.measurements.push(DeviceMeasurement {
                name: name.to_string(),
                value,
                unit: unit.to_string(),
            });
        }
    }
    if let Some((mut m, m_fs)) = median {
        m.derive_limb_leads();
        meta.median_beats = Some(MedianBeats {
            leads: m.leads,
            fs_hz: m_fs,
            samples_mv: m.rows,
        });
    }
    meta.derived_leads = leads.derive_limb_leads();
    leads.into_ecg(path, FORMAT, fs_hz, meta)
}
