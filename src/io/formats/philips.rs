//! Philips PageWriter / HeartStart XML (Sierra ECG, `restingecgdata`, versions 1.03 and 1.04),
//! with XLI-compressed waveforms.
//!
//! `parsedwaveforms` holds base64 XLI chunks, one per lead (the first 12 are I, II, III, aVR,
//! aVL, aVF, V1-V6, or the `leadlabels` attribute's order). Each chunk is an 8-byte header
//! (int32 compressed size, 2 bytes unused, int16 first sample) and LZW data with 10-bit codes,
//! most significant bit first; the decompressed bytes are the high bytes of the 16-bit values
//! followed by their low bytes, and the values are second differences with a bias of 64.
//! The stored III, aVR, aVL and aVF are residuals `s` from which the leads are rebuilt:
//! III = II - I - s, aVR = -s - floor((I + II) / 2), aVL = floor((I - III) / 2) - s,
//! aVF = floor((II + III) / 2) - s (all in stored units). Written from the format description
//! (no maintained Rust crate reads XLI).

use std::path::Path;

use super::muse::base64_bytes;
use super::xml::{XmlDoc, parse_file};
use super::{LeadRows, lead_name, number};
use crate::io::IoError;
use crate::record::{DeviceMeasurement, Ecg, EcgMeta, LeadName, MedianBeats, PatientFields, Sex};

const FORMAT: &str = "Philips XML";

/// LZW code width of XLI.
const CODE_BITS: u32 = 10;
/// Largest code that carries data; above it the stream ends.
const MAX_CODE: usize = (1 << CODE_BITS) - 2;
/// No LZW string is longer than the dictionary is large, so no chunk expands by more.
const MAX_EXPANSION: usize = 1 << CODE_BITS;

fn err(path: &Path, section: impl Into<String>, message: impl Into<String>) -> IoError {
    IoError::section(path, FORMAT, section, message)
}

/// LZW-decode one XLI chunk, stopping after `limit` bytes of output.
fn lzw_decode(data: &[u8], limit: usize) -> Result<Vec<u8>, String> {
    let mut strings: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
    let mut previous: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    let mut offset = 0;
    let mut bit_buffer: u32 = 0;
    let mut bit_count: u32 = 0;
    while out.len() < limit {
        // keep more than 24 bits buffered, as the reference decoder does: the stream ends when
        // the bytes run out before that
        while bit_count <= 24 {
            let Some(&b) = data.get(offset) else {
                return Ok(out);
            };
            offset += 1;
            bit_buffer |= (b as u32) << (24 - bit_count);
            bit_count += 8;
        }
        let code = (bit_buffer >> (32 - CODE_BITS)) as usize;
        bit_buffer <<= CODE_BITS;
        bit_count -= CODE_BITS;
        if code > MAX_CODE {
            return Ok(out);
        }
        let entry = if code < strings.len() {
            strings[code].clone()
        } else {
            // the code being defined right now (KwKwK): previous + its first byte
            let Some(&first) = previous.first() else {
                return Err(format!("LZW code {code} before any string"));
            };
            let mut e = previous.clone();
            e.push(first);
            e
        };
        if !previous.is_empty() && strings.len() <= MAX_CODE {
            let mut next = previous.clone();
            next.push(entry[0]);
            strings.push(next);
        }
        out.extend_from_slice(&entry);
        previous = entry;
    }
    out.truncate(limit);
    Ok(out)
}

/// Bytes -> 16-bit values (high bytes first half, low bytes second half) -> samples.
fn undelta(bytes: &[u8], first: i16) -> Vec<i32> {
    let half = bytes.len() / 2;
    let mut v: Vec<i32> = (0..half)
        .map(|i| i16::from_be_bytes([bytes[i], bytes[half + i]]) as i32)
        .collect();
    if v.len() < 2 {
        return v;
    }
    let (mut x, mut y) = (v[0], v[1]);
    let mut last = first as i32;
    for item in v.iter_mut().skip(2) {
        let z = y.wrapping_mul(2).wrapping_sub(x).wrapping_sub(last);
        last = *item - 64;
        // stored as a 16-bit value; the recurrence goes on with the unwrapped one
        *item = z as i16 as i32;
        x = y;
        y = z;
    }
    v
}

/// Decode every XLI chunk of `data`, each to at most `max_samples` samples.
fn xli_decode(data: &[u8], max_samples: usize) -> Result<Vec<Vec<i32>>, String> {
    let mut leads = Vec::new();
    let mut offset = 0;
    while offset < data.len() {
        let header = data
            .get(offset..offset + 8)
            .ok_or_else(|| format!("chunk {} header cut short", leads.len() + 1))?;
        let size = i32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let first = i16::from_le_bytes([header[6], header[7]]);
        offset += 8;
        let size = usize::try_from(size)
            .ok()
            .filter(|&s| s <= data.len() - offset)
            .ok_or_else(|| {
                format!(
                    "chunk {} declares {size} bytes, {} are left",
                    leads.len() + 1,
                    data.len() - offset
                )
            })?;
        let chunk = &data[offset..offset + size];
        offset += size;
        let mut bytes = lzw_decode(chunk, max_samples * 2)?;
        if bytes.len() % 2 == 1 {
            bytes.push(0);
        }
        leads.push(undelta(&bytes, first));
    }
    Ok(leads)
}

/// Rebuild III, aVR, aVL, aVF from their residuals (stored units), in place.
fn reconstruct_limb_leads(leads: &mut [Vec<i32>], n: usize) {
    if leads.len() < 6 {
        return;
    }
    for k in 0..n {
        let (i, ii) = (leads[0][k], leads[1][k]);
        let iii = ii - i - leads[2][k];
        let avr = -leads[3][k] - (i + ii).div_euclid(2);
        let avl = (i - iii).div_euclid(2) - leads[4][k];
        let avf = (ii + iii).div_euclid(2) - leads[5][k];
        leads[2][k] = iii;
        leads[3][k] = avr;
        leads[4][k] = avl;
        leads[5][k] = avf;
    }
}

fn repbeats(path: &Path, doc: &XmlDoc, root: usize) -> Result<Option<MedianBeats>, IoError> {
    let Some(rb) = doc.descendants(root, "repbeats").first().copied() else {
        return Ok(None);
    };
    let fs_hz = doc
        .attr(rb, "samplespersec")
        .or_else(|| doc.attr(rb, "samplespersecond"))
        .and_then(number)
        .filter(|f| *f > 0.0)
        .ok_or_else(|| err(path, "repbeats", "no sampling rate"))?;
    let uv = doc
        .attr(rb, "resolution")
        .and_then(number)
        .ok_or_else(|| err(path, "repbeats", "no resolution"))?;
    let mut leads = Vec::new();
    let mut rows = Vec::new();
    for beat in doc.children(rb, "repbeat") {
        let name = doc.attr(beat, "leadname").unwrap_or("?");
        let text = doc
            .child(beat, "waveform")
            .map_or_else(|| doc.text(beat), |w| doc.text(w));
        let bytes = base64_bytes(text).map_err(|m| err(path, format!("repbeat {name}"), m))?;
        rows.push(
            bytes
                .chunks_exact(2)
                .map(|c| (i16::from_le_bytes([c[0], c[1]]) as f64 * uv * 1e-3) as f32)
                .collect(),
        );
        leads.push(lead_name(name));
    }
    Ok((!leads.is_empty()).then_some(MedianBeats {
        leads,
        fs_hz,
        samples_mv: rows,
    }))
}

/// Read a Philips XML file.
pub fn read(path: &Path, bytes: &[u8]) -> Result<Ecg, IoError> {
    let doc = parse_file(path, FORMAT, bytes, "restingecgdata")?;
    let root = doc.root();
    let wf = doc
        .path(root, &["waveforms", "parsedwaveforms"])
        .ok_or_else(|| err(path, "waveforms", "no parsedwaveforms"))?;
    let signal = doc.path(root, &["dataacquisition", "signalcharacteristics"]);
    let from_signal = |name: &str| {
        signal
            .and_then(|s| doc.path_text(s, &[name]))
            .and_then(number)
    };
    let fs_hz = doc
        .attr(wf, "samplespersecond")
        .and_then(number)
        .or_else(|| from_signal("samplingrate"))
        .filter(|f| *f > 0.0)
        .ok_or_else(|| err(path, "parsedwaveforms", "no sampling rate"))?;
    let uv_per_unit = doc
        .attr(wf, "resolution")
        .and_then(number)
        .or_else(|| from_signal("signalresolution"))
        .ok_or_else(|| err(path, "parsedwaveforms", "no resolution"))?;
    let duration_ms = doc
        .attr(wf, "durationperchannel")
        .and_then(number)
        .filter(|d| *d > 0.0)
        .ok_or_else(|| err(path, "parsedwaveforms", "no durationperchannel"))?;
    let compressed = doc
        .attr(wf, "compressflag")
        .map(|f| f.eq_ignore_ascii_case("true"))
        .unwrap_or(false)
        || doc.attr(wf, "compression").is_some_and(|c| c == "XLI")
        || doc.attr(wf, "compressmethod").is_some_and(|c| c == "XLI");
    if !compressed {
        return Err(err(
            path,
            "parsedwaveforms",
            "uncompressed waveforms are not supported (only XLI)",
        ));
    }
    let data = base64_bytes(doc.text(wf)).map_err(|m| err(path, "parsedwaveforms", m))?;
    let n_samples = (duration_ms * fs_hz / 1000.0).round();
    // 16 chunks of 2 bytes per sample at LZW's best ratio: more is not in this file
    if !(n_samples >= 1.0 && n_samples * 2.0 * 12.0 <= (data.len() * MAX_EXPANSION) as f64) {
        return Err(err(
            path,
            "parsedwaveforms",
            format!(
                "{duration_ms} ms at {fs_hz} Hz cannot come from {} compressed bytes",
                data.len()
            ),
        ));
    }
    let n = n_samples as usize;
    let mut chunks = xli_decode(&data, n).map_err(|m| err(path, "parsedwaveforms (XLI)", m))?;
    let labels: Vec<LeadName> = match doc.attr(wf, "leadlabels") {
        Some(l) => l.split_whitespace().map(lead_name).collect(),
        None => LeadName::standard_12(),
    };
    if labels.len() < 12 || chunks.len() < 12 {
        return Err(err(
            path,
            "parsedwaveforms (XLI)",
            format!(
                "{} leads labelled and {} decoded, 12 are needed",
                labels.len(),
                chunks.len()
            ),
        ));
    }
    chunks.truncate(12);
    if let Some((k, short)) = chunks.iter().enumerate().find(|(_, c)| c.len() < n) {
        return Err(err(
            path,
            format!("parsedwaveforms (XLI), lead {}", labels[k]),
            format!("{} samples decoded, {n} expected", short.len()),
        ));
    }
    let standard = labels[..6] == LeadName::standard_12()[..6];
    if standard {
        reconstruct_limb_leads(&mut chunks, n);
    }
    let mut rows = LeadRows::default();
    let scale = uv_per_unit * 1e-3;
    for (lead, chunk) in labels.into_iter().zip(chunks) {
        rows.push(
            lead,
            chunk[..n]
                .iter()
                .map(|&v| (v as f64 * scale) as f32)
                .collect(),
        );
    }

    let mut meta = EcgMeta::default();
    if standard {
        meta.derived_leads = vec![LeadName::III, LeadName::AVR, LeadName::AVL, LeadName::AVF];
    }
    if let Some(p) = doc.path(root, &["patient", "generalpatientdata"]) {
        meta.age_years = doc
            .path_text(p, &["age", "years"])
            .and_then(number)
            .map(|a| a as f32);
        meta.sex = match doc.path_text(p, &["sex"]) {
            Some("Male") => Some(Sex::Male),
            Some("Female") => Some(Sex::Female),
            _ => None,
        };
        meta.patient = PatientFields::from_parts(
            &[
                doc.path_text(p, &["name", "firstname"]),
                doc.path_text(p, &["name", "lastname"]),
            ],
            doc.path_text(p, &["patientid"]).map(str::to_string),
            doc.path_text(p, &["age", "dateofbirth"])
                .map(str::to_string),
        );
    }
    meta.device = doc
        .path_text(root, &["dataacquisition", "machine"])
        .map(str::to_string);
    if let Some(g) = doc.path(root, &["measurements", "globalmeasurements"]) {
        for &c in &doc.node(g).children {
            let name = doc.name(c);
            let Some(value) = number(doc.text(c)) else {
                continue;
            };
            let unit = if name.ends_with("rate") {
                "/min"
            } else if name.ends_with("axis") {
                "deg"
            } else if name.starts_with("mean") || name.ends_with("dispersion") {
                "ms"
            } else {
                ""
            };
            meta.measurements.push(DeviceMeasurement {
                name: name.to_string(),
                value,
                unit: unit.to_string(),
            });
        }
    }
    meta.median_beats = repbeats(path, &doc, root)?;
    rows.into_ecg(path, FORMAT, fs_hz, meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lzw_reads_kwkwk_and_stops_at_the_end_code() {
        // codes 65 ('A'), 256 (= "AA", defined by this very code), 1023 (end), padding
        let codes = [65u32, 256, 1023];
        let mut bits: u64 = 0;
        for c in codes {
            bits = (bits << 10) | c as u64;
        }
        bits <<= 64 - 30;
        let mut data = bits.to_be_bytes().to_vec();
        data.extend([0, 0, 0, 0]);
        assert_eq!(lzw_decode(&data, 100).unwrap(), b"AAA");
        assert_eq!(lzw_decode(&data, 2).unwrap(), b"AA");
    }

    #[test]
    fn residual_limb_leads_follow_the_formulas() {
        let mut leads = vec![vec![-9], vec![-17], vec![1], vec![0], vec![0], vec![0]];
        reconstruct_limb_leads(&mut leads, 1);
        assert_eq!(leads[2], vec![-9]); // -17 + 9 - 1
        assert_eq!(leads[3], vec![13]); // -floor(-26 / 2)
        assert_eq!(leads[4], vec![0]); // floor(0 / 2)
        assert_eq!(leads[5], vec![-13]); // floor(-26 / 2)
    }
}
