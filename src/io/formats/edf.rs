//! EDF and EDF+ (European Data Format): the ECG channels, chosen by label.
//!
//! A 256-byte header, 256 bytes per signal, then data records holding each signal's samples
//! (int16, little-endian) in turn. Physical value = pmin + (d - dmin) x (pmax - pmin) /
//! (dmax - dmin), in the signal's physical dimension (uV, mV, V). Channels are kept when their
//! label names an ECG lead (`ECG I`, `EKG V2`, `II`, `ECG`) and they share the first such
//! channel's rate; the other signals with samples are kept beside them (`Ecg::other_signals`:
//! shown, not analysed), `EDF Annotations` left out. Written here rather than
//! through a crate: the crates on crates.io that read EDF are unmaintained or async-only, and
//! the fixed-width header is a page of code.

use std::path::Path;

use super::FileFormat;
use super::number;
use super::windowed::{Channel, Int16Header, Int16Layout, OtherChannel, SignalShape};
use crate::io::IoError;
use crate::record::{Ecg, EcgMeta, LeadName};

const FORMAT: &str = "EDF";

fn err(path: &Path, section: impl Into<String>, message: impl Into<String>) -> IoError {
    IoError::section(path, FORMAT, section, message)
}

/// Does the start of a file look like EDF? (version "0" and a numeric header length)
pub(crate) fn looks_like_edf(head: &[u8]) -> bool {
    head.len() >= 256
        && &head[..8] == b"0       "
        && std::str::from_utf8(&head[184..192]).is_ok_and(|s| s.trim().parse::<usize>().is_ok())
}

/// A header field: ASCII as EDF requires, else UTF-8, else Latin-1 (EDFbrowser and many
/// devices write the micro sign of `µV` as the single byte 0xB5).
fn field(b: &[u8], at: usize, len: usize) -> String {
    let raw = &b[at..at + len];
    match std::str::from_utf8(raw) {
        Ok(text) => text.trim().to_string(),
        Err(_) => raw
            .iter()
            .map(|&c| char::from(c))
            .collect::<String>()
            .trim()
            .to_string(),
    }
}

/// Physical units per digital unit (1 when the digital range is empty, as EDFbrowser reads it).
fn physical_gain(pmin: f64, pmax: f64, dmin: f64, dmax: f64) -> f64 {
    if dmax != dmin {
        (pmax - pmin) / (dmax - dmin)
    } else {
        1.0
    }
}

/// The lead an EDF label names, if it is an ECG channel.
fn ecg_lead(label: &str) -> Option<LeadName> {
    let label = label.trim();
    let upper = label.to_ascii_uppercase();
    if upper.starts_with("ECG") || upper.starts_with("EKG") {
        let rest = label[3..].trim_start_matches([' ', '-', '_']).trim();
        return Some(if rest.is_empty() {
            LeadName::Other(label.to_string())
        } else {
            LeadName::parse(rest)
        });
    }
    match LeadName::parse(label) {
        LeadName::Other(_) => None,
        lead => Some(lead),
    }
}

/// The length of the header from its first 256 bytes (256 bytes per signal after 256).
pub(crate) fn header_len(path: &Path, head: &[u8], file_len: u64) -> Result<usize, IoError> {
    if head.len() < 256 {
        return Err(err(path, "header", "shorter than 256 bytes"));
    }
    let text = field(head, 252, 4);
    let ns = number(&text)
        .filter(|n| (1.0..=9999.0).contains(n))
        .ok_or_else(|| err(path, "header", format!("number of signals '{text}'")))?
        as usize;
    let len = (ns + 1) * 256;
    if len as u64 > file_len {
        return Err(err(
            path,
            "header",
            format!("{ns} signals need a {len}-byte header, the file has {file_len} bytes"),
        ));
    }
    Ok(len)
}

/// Parse the header (`head`: at least [`header_len`] bytes) of a file of `file_len` bytes.
pub(crate) fn header(path: &Path, head: &[u8], file_len: u64) -> Result<Int16Header, IoError> {
    let bytes = head;
    if bytes.len() < 256 {
        return Err(err(path, "header", "shorter than 256 bytes"));
    }
    let num = |at: usize, len: usize, what: &str| -> Result<f64, IoError> {
        number(&field(bytes, at, len)).ok_or_else(|| {
            err(
                path,
                "header",
                format!("{what} '{}' is not a number", field(bytes, at, len)),
            )
        })
    };
    let header_bytes = num(184, 8, "header length")? as usize;
    let n_records = num(236, 8, "number of data records")?;
    let record_s = num(244, 8, "data record duration")?;
    let ns = num(252, 4, "number of signals")? as usize;
    if ns == 0
        || Some(header_bytes) != ns.checked_add(1).and_then(|n| n.checked_mul(256))
        || header_bytes > bytes.len()
        || header_bytes as u64 > file_len
    {
        return Err(err(
            path,
            "header",
            format!(
                "{ns} signals and a {header_bytes}-byte header do not agree with a {file_len}-byte file"
            ),
        ));
    }
    if record_s.is_nan() || record_s <= 0.0 {
        return Err(err(path, "header", format!("data records of {record_s} s")));
    }
    let sig = |k: usize, offset: usize, len: usize| field(bytes, 256 + offset * ns + k * len, len);
    let mut labels = Vec::with_capacity(ns);
    let mut per_record = Vec::with_capacity(ns);
    let mut scale = Vec::with_capacity(ns);
    for k in 0..ns {
        labels.push(sig(k, 0, 16));
        let dim = sig(k, 16 + 80, 8);
        let n = |offset: usize, what: &str| {
            let text = sig(k, offset, 8);
            number(&text).ok_or_else(|| {
                err(
                    path,
                    format!("signal {} ({})", k + 1, labels[k]),
                    format!("{what} '{text}' is not a number"),
                )
            })
        };
        let pmin = n(16 + 80 + 8, "physical minimum")?;
        let pmax = n(16 + 80 + 16, "physical maximum")?;
        let dmin = n(16 + 80 + 24, "digital minimum")?;
        let dmax = n(16 + 80 + 32, "digital maximum")?;
        let spr = n(16 + 80 + 40 + 80, "samples per record")?;
        if !(0.0..1e7).contains(&spr) {
            return Err(err(
                path,
                format!("signal {} ({})", k + 1, labels[k]),
                format!("{spr} samples per record"),
            ));
        }
        per_record.push(spr as usize);
        let to_mv = match dim.as_str() {
            "uV" | "µV" => Some(1e-3),
            "mV" => Some(1.0),
            "V" => Some(1e3),
            _ => None,
        };
        scale.push((pmin, pmax, dmin, dmax, to_mv));
    }
    let record_bytes: usize = per_record.iter().sum::<usize>() * 2;
    let available = ((file_len - header_bytes as u64) / record_bytes.max(1) as u64) as usize;
    let n_records = if n_records < 0.0 {
        available
    } else {
        n_records as usize
    };
    if record_bytes == 0 || n_records > available {
        return Err(err(
            path,
            "data records",
            format!(
                "{n_records} records of {record_bytes} bytes declared, the file holds {available}"
            ),
        ));
    }
    // ECG channels by label, at the first one's rate
    let chosen: Vec<(usize, LeadName)> = labels
        .iter()
        .enumerate()
        .filter(|(k, _)| scale[*k].4.is_some() && per_record[*k] > 0)
        .filter_map(|(k, l)| ecg_lead(l).map(|lead| (k, lead)))
        .collect();
    let Some(&(first, _)) = chosen.first() else {
        return Err(err(
            path,
            "signals",
            format!(
                "no ECG channel in voltage units among {}",
                labels.join(", ")
            ),
        ));
    };
    let spr = per_record[first];
    let offsets: Vec<usize> = per_record
        .iter()
        .scan(0, |acc, &n| {
            let at = *acc;
            *acc += n * 2;
            Some(at)
        })
        .collect();
    let leads: Vec<(usize, LeadName)> = chosen
        .into_iter()
        .filter(|(k, _)| per_record[*k] == spr)
        .collect();
    // every other signal with samples is kept beside the leads (a respiration or SpO2
    // channel, an ECG channel at another rate), with a note; the annotation channel is text
    let (mut not_leads, mut other_rate) = (Vec::new(), Vec::new());
    let mut others = Vec::new();
    for k in 0..ns {
        if leads.iter().any(|(l, _)| *l == k)
            || per_record[k] == 0
            || labels[k].eq_ignore_ascii_case("EDF Annotations")
        {
            continue;
        }
        let (pmin, pmax, dmin, dmax, to_mv) = scale[k];
        let units = sig(k, 16 + 80, 8);
        let rate_hz = per_record[k] as f64 / record_s;
        let described = format!("{} ({units}, {rate_hz} Hz)", labels[k]);
        match (ecg_lead(&labels[k]), to_mv) {
            (Some(_), Some(_)) => other_rate.push(described),
            _ => not_leads.push(described),
        }
        others.push(OtherChannel {
            name: labels[k].clone(),
            units,
            per_block: per_record[k],
            offset_bytes: offsets[k],
            digital_min: dmin,
            gain: physical_gain(pmin, pmax, dmin, dmax),
            physical_min: pmin,
        });
    }
    let notes: Vec<String> = [
        (not_leads, "not ECG leads"),
        (other_rate, "ECG channels at another rate than the leads'"),
    ]
    .into_iter()
    .filter(|(names, _)| !names.is_empty())
    .map(|(names, what)| {
        format!(
            "{} signal(s) {what}, shown under the leads, not analysed: {}",
            names.len(),
            names.join(", ")
        )
    })
    .collect();
    let channels = leads
        .into_iter()
        .map(|(k, lead)| {
            let (pmin, pmax, dmin, dmax, to_mv) = scale[k];
            Channel {
                lead,
                offset_bytes: offsets[k],
                stride_bytes: 2,
                digital_min: dmin,
                gain: physical_gain(pmin, pmax, dmin, dmax),
                physical_min: pmin,
                to_mv: to_mv.unwrap_or(1.0),
            }
        })
        .collect();
    Ok(Int16Header {
        format: FileFormat::Edf,
        layout: Int16Layout {
            data_start: header_bytes as u64,
            block_samples: spr,
            block_bytes: record_bytes,
            n_samples: n_records * spr,
            channels,
        },
        fs_hz: spr as f64 / record_s,
        // the patient field (80 bytes) identifies the patient: never copied into the record
        meta: EcgMeta {
            reader_notes: notes,
            ..EcgMeta::default()
        },
        others,
    })
}

/// Read an EDF/EDF+ file held in memory.
pub fn read(path: &Path, bytes: &[u8]) -> Result<Ecg, IoError> {
    header(path, bytes, bytes.len() as u64)?.read_in_memory(path, bytes)
}

/// Write a record as EDF (plain EDF, data records of 1 s, 1 µV per unit: values beyond
/// +-32.767 mV are clipped), window by window: `read` gives every lead's samples of the range
/// asked for, so a 24 h record is never held whole. `fs_hz` must be a whole number of Hz.
pub fn write(
    path: &Path,
    shape: &SignalShape<'_>,
    read: &mut dyn FnMut(std::ops::Range<usize>) -> Vec<Vec<f32>>,
    overwrite: bool,
) -> Result<(), IoError> {
    let SignalShape {
        leads,
        fs_hz,
        n_samples,
    } = *shape;
    let spr = fs_hz.round() as usize;
    if spr == 0 || (fs_hz - spr as f64).abs() > 1e-9 || leads.is_empty() || leads.len() > 9999 {
        return Err(IoError::format(
            path,
            format!(
                "EDF is written with whole-Hz rates and 1 to 9999 leads ({fs_hz} Hz, {} leads)",
                leads.len()
            ),
        ));
    }
    let n_records = n_samples.div_ceil(spr);
    let ns = leads.len();
    let pad = |text: &str, len: usize| -> Vec<u8> {
        let mut b: Vec<u8> = text.bytes().take(len).collect();
        b.resize(len, b' ');
        b
    };
    let mut head = Vec::with_capacity(256 * (ns + 1));
    head.extend(pad("0", 8));
    head.extend(pad("X X X X", 80));
    head.extend(pad("Startdate X X X tlc-synth", 80));
    head.extend(pad("01.01.26", 8));
    head.extend(pad("00.00.00", 8));
    head.extend(pad(&((ns + 1) * 256).to_string(), 8));
    head.extend(pad("", 44));
    head.extend(pad(&n_records.to_string(), 8));
    head.extend(pad("1", 8));
    head.extend(pad(&ns.to_string(), 4));
    let each = |head: &mut Vec<u8>, text: &dyn Fn(&LeadName) -> String, len: usize| {
        for lead in leads {
            head.extend(pad(&text(lead), len));
        }
    };
    each(&mut head, &|l| format!("ECG {l}"), 16);
    each(&mut head, &|_| "AgAgCl electrode".into(), 80);
    each(&mut head, &|_| "uV".into(), 8);
    each(&mut head, &|_| "-32768".into(), 8);
    each(&mut head, &|_| "32767".into(), 8);
    each(&mut head, &|_| "-32768".into(), 8);
    each(&mut head, &|_| "32767".into(), 8);
    each(&mut head, &|_| "".into(), 80);
    each(&mut head, &|_| spr.to_string(), 8);
    each(&mut head, &|_| "".into(), 32);
    crate::io::files::write_atomic_with(path, overwrite, |out| {
        let io = |e| IoError::os(path, e);
        out.write_all(&head).map_err(io)?;
        // a minute of data records at a time
        let chunk = 60 * spr;
        let mut block = Vec::with_capacity(chunk * ns * 2);
        for start in (0..n_records * spr).step_by(chunk) {
            let end = (start + chunk).min(n_records * spr);
            let rows = read(start..end.min(n_samples));
            block.clear();
            for r in (start..end).step_by(spr) {
                for row in &rows {
                    for i in r..r + spr {
                        // past the record's end, the last data record is padded with zeros
                        let mv = row.get(i - start).copied().unwrap_or(0.0);
                        block.extend_from_slice(&to_microvolt_i16(mv).to_le_bytes());
                    }
                }
            }
            out.write_all(&block).map_err(io)?;
        }
        Ok(())
    })
}

/// A value in mV as whole µV in int16 (clipped; a missing sample, NaN, becomes 0).
pub(crate) fn to_microvolt_i16(mv: f32) -> i16 {
    if mv.is_nan() {
        return 0;
    }
    (mv as f64 * 1000.0).round().clamp(-32768.0, 32767.0) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecg_channels_by_label() {
        assert_eq!(ecg_lead("ECG I"), Some(LeadName::I));
        assert_eq!(ecg_lead("EKG V2"), Some(LeadName::V2));
        assert_eq!(ecg_lead("II"), Some(LeadName::II));
        assert_eq!(ecg_lead("ECG"), Some(LeadName::Other("ECG".into())));
        assert_eq!(ecg_lead("EDF Annotations"), None);
        assert_eq!(ecg_lead("EEG Fpz-Cz"), None);
    }
}
