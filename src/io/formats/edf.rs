//! EDF and EDF+ (European Data Format): the ECG channels, chosen by label.
//!
//! A 256-byte header, 256 bytes per signal, then data records holding each signal's samples
//! (int16, little-endian) in turn. Physical value = pmin + (d - dmin) x (pmax - pmin) /
//! (dmax - dmin), in the signal's physical dimension (uV, mV, V). Channels are kept when their
//! label names an ECG lead (`ECG I`, `EKG V2`, `II`, `ECG`) and they share the first such
//! channel's rate; `EDF Annotations` and other signals are left out. Written here rather than
//! through a crate: the crates on crates.io that read EDF are unmaintained or async-only, and
//! the fixed-width header is a page of code.

use std::path::Path;

use super::{LeadRows, number};
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

fn field(b: &[u8], at: usize, len: usize) -> String {
    String::from_utf8_lossy(&b[at..at + len]).trim().to_string()
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

/// Read an EDF/EDF+ file.
pub fn read(path: &Path, bytes: &[u8]) -> Result<Ecg, IoError> {
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
    {
        return Err(err(
            path,
            "header",
            format!(
                "{ns} signals and a {header_bytes}-byte header do not agree with a {}-byte file",
                bytes.len()
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
    let available = (bytes.len() - header_bytes) / record_bytes.max(1);
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
    let chosen: Vec<(usize, LeadName)> = chosen
        .into_iter()
        .filter(|(k, _)| per_record[*k] == spr)
        .collect();
    let offsets: Vec<usize> = per_record
        .iter()
        .scan(0, |acc, &n| {
            let at = *acc;
            *acc += n * 2;
            Some(at)
        })
        .collect();
    let mut rows = LeadRows::default();
    for (k, lead) in chosen {
        let (pmin, pmax, dmin, dmax, to_mv) = scale[k];
        let gain = if dmax != dmin {
            (pmax - pmin) / (dmax - dmin)
        } else {
            1.0
        };
        let to_mv = to_mv.unwrap_or(1.0);
        let mut row = Vec::with_capacity(n_records * spr);
        for r in 0..n_records {
            let at = header_bytes + r * record_bytes + offsets[k];
            for c in bytes[at..at + spr * 2].chunks_exact(2) {
                let d = i16::from_le_bytes([c[0], c[1]]) as f64;
                row.push((((d - dmin) * gain + pmin) * to_mv) as f32);
            }
        }
        rows.push(lead, row);
    }
    let meta = EcgMeta {
        derived_leads: rows.derive_limb_leads(),
        ..Default::default()
    };
    // the patient field (80 bytes) identifies the patient: never copied into the record
    rows.into_ecg(path, FORMAT, spr as f64 / record_s, meta)
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
