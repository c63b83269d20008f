//! ISHNE Holter (`ISHNE1.0`): an 8-byte magic, a CRC-CCITT of the header, a 512-byte fixed
//! header (lead count, lead codes, resolution in nV per unit, sampling rate), an optional
//! variable block, then int16 little-endian samples interleaved by lead. Written from the
//! ISHNE standard (Badilini 1998): no maintained Rust crate reads it.

use std::path::Path;

use super::LeadRows;
use crate::io::IoError;
use crate::record::{Ecg, EcgMeta, LeadName, PatientFields, Sex};

const FORMAT: &str = "ISHNE";
const MAGIC: &[u8] = b"ISHNE1.0";
/// Bytes before the variable block: magic (8), CRC (2), fixed header (512).
const FIXED_END: usize = 522;

fn err(path: &Path, section: impl Into<String>, message: impl Into<String>) -> IoError {
    IoError::section(path, FORMAT, section, message)
}

pub(crate) fn looks_like_ishne(head: &[u8]) -> bool {
    head.starts_with(MAGIC)
}

fn i16_at(b: &[u8], at: usize) -> i16 {
    i16::from_le_bytes([b[at], b[at + 1]])
}

fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn text(b: &[u8], at: usize, len: usize) -> Option<String> {
    let t = String::from_utf8_lossy(&b[at..at + len]);
    let t = t.trim_end_matches('\0').trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// ISHNE lead specification codes.
fn lead(code: i16) -> LeadName {
    use LeadName::*;
    match code {
        5 => I,
        6 => II,
        7 => III,
        8 => AVR,
        9 => AVL,
        10 => AVF,
        11 => V1,
        12 => V2,
        13 => V3,
        14 => V4,
        15 => V5,
        16 => V6,
        2 => Other("X".into()),
        3 => Other("Y".into()),
        4 => Other("Z".into()),
        17 => Other("ES".into()),
        18 => Other("AS".into()),
        19 => Other("AI".into()),
        c => Other(format!("ISHNE lead {c}")),
    }
}

/// Read an ISHNE Holter file.
pub fn read(path: &Path, bytes: &[u8]) -> Result<Ecg, IoError> {
    if !bytes.starts_with(MAGIC) {
        return Err(err(path, "magic", "the file does not start with ISHNE1.0"));
    }
    if bytes.len() < FIXED_END {
        return Err(err(
            path,
            "header",
            format!("{} bytes, the header alone has {FIXED_END}", bytes.len()),
        ));
    }
    let h = &bytes[10..FIXED_END]; // fixed header, offsets as in the standard
    let samples = i32_at(h, 4);
    let ecg_offset = i32_at(h, 12);
    let n_leads = i16_at(h, 146);
    let fs = i16_at(h, 262);
    let ecg_offset = usize::try_from(ecg_offset)
        .ok()
        .filter(|&o| o >= FIXED_END && o <= bytes.len())
        .ok_or_else(|| {
            err(
                path,
                "header",
                format!("ECG block at byte {ecg_offset}, outside the file"),
            )
        })?;
    let stored_crc = u16::from_le_bytes([bytes[8], bytes[9]]);
    let crc = super::scp::crc_ccitt(&bytes[10..ecg_offset]);
    if crc != stored_crc {
        return Err(err(
            path,
            "header",
            format!("CRC is {crc:#06x}, the file says {stored_crc:#06x}"),
        ));
    }
    if !(1..=12).contains(&n_leads) {
        return Err(err(
            path,
            "header",
            format!("{n_leads} leads (1 to 12 allowed)"),
        ));
    }
    if fs <= 0 {
        return Err(err(path, "header", format!("sampling rate {fs} Hz")));
    }
    let n_leads = n_leads as usize;
    let available = (bytes.len() - ecg_offset) / (2 * n_leads);
    let samples = usize::try_from(samples)
        .ok()
        .filter(|&s| s > 0 && s <= available)
        .ok_or_else(|| {
            err(
                path,
                "ECG block",
                format!("{samples} samples per lead declared, the file holds {available}"),
            )
        })?;
    let data = &bytes[ecg_offset..ecg_offset + samples * 2 * n_leads];
    let mut rows = LeadRows::default();
    for k in 0..n_leads {
        let nv = i16_at(h, 196 + 2 * k) as f64;
        if nv <= 0.0 {
            return Err(err(
                path,
                "header",
                format!("lead {}: resolution {nv} nV", k + 1),
            ));
        }
        let scale = nv * 1e-6;
        let row = data
            .chunks_exact(2 * n_leads)
            .map(|frame| (i16_at(frame, 2 * k) as f64 * scale) as f32)
            .collect();
        rows.push(lead(i16_at(h, 148 + 2 * k)), row);
    }
    let mut meta = EcgMeta {
        sex: match i16_at(h, 118) {
            1 => Some(Sex::Male),
            2 => Some(Sex::Female),
            _ => None,
        },
        device: text(h, 222, 40),
        ..Default::default()
    };
    let (d, m, y) = (i16_at(h, 122), i16_at(h, 124), i16_at(h, 126));
    meta.patient = PatientFields::from_parts(
        &[text(h, 18, 40).as_deref(), text(h, 58, 40).as_deref()],
        text(h, 98, 20),
        (y > 0).then(|| format!("{y:04}-{m:02}-{d:02}")),
    );
    meta.derived_leads = rows.derive_limb_leads();
    rows.into_ecg(path, FORMAT, fs as f64, meta)
}
