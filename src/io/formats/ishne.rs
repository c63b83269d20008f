//! ISHNE Holter (`ISHNE1.0`): an 8-byte magic, a CRC-CCITT of the header, a 512-byte fixed
//! header (lead count, lead codes, resolution in nV per unit, sampling rate), an optional
//! variable block, then int16 little-endian samples interleaved by lead. Written from the
//! ISHNE standard (Badilini 1998): no maintained Rust crate reads it.

use std::path::Path;

use super::FileFormat;
use super::windowed::{Channel, Int16Header, Int16Layout, SignalShape};
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

/// The length of the header (up to the ECG block) from its first [`FIXED_END`] bytes.
pub(crate) fn header_len(path: &Path, head: &[u8], file_len: u64) -> Result<usize, IoError> {
    if !head.starts_with(MAGIC) {
        return Err(err(path, "magic", "the file does not start with ISHNE1.0"));
    }
    if head.len() < FIXED_END {
        return Err(err(
            path,
            "header",
            format!("{} bytes, the header alone has {FIXED_END}", head.len()),
        ));
    }
    let ecg_offset = i32_at(&head[10..], 12);
    usize::try_from(ecg_offset)
        .ok()
        .filter(|&o| o >= FIXED_END && o as u64 <= file_len)
        .ok_or_else(|| {
            err(
                path,
                "header",
                format!("ECG block at byte {ecg_offset}, outside the file"),
            )
        })
}

/// Parse the header (`head`: at least [`header_len`] bytes) of a file of `file_len` bytes.
pub(crate) fn header(path: &Path, head: &[u8], file_len: u64) -> Result<Int16Header, IoError> {
    let bytes = head;
    let ecg_offset = header_len(path, bytes, file_len)?;
    if bytes.len() < ecg_offset {
        return Err(err(path, "header", "the variable block is cut short"));
    }
    let h = &bytes[10..FIXED_END]; // fixed header, offsets as in the standard
    let samples = i32_at(h, 4);
    let n_leads = i16_at(h, 146);
    let fs = i16_at(h, 262);
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
    let available = ((file_len - ecg_offset as u64) / (2 * n_leads as u64)) as usize;
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
    let mut channels = Vec::with_capacity(n_leads);
    for k in 0..n_leads {
        let nv = i16_at(h, 196 + 2 * k) as f64;
        if nv <= 0.0 {
            return Err(err(
                path,
                "header",
                format!("lead {}: resolution {nv} nV", k + 1),
            ));
        }
        channels.push(Channel {
            lead: lead(i16_at(h, 148 + 2 * k)),
            offset_bytes: 2 * k,
            stride_bytes: 2 * n_leads,
            digital_min: 0.0,
            gain: nv * 1e-6,
            physical_min: 0.0,
            to_mv: 1.0,
        });
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
    Ok(Int16Header {
        format: FileFormat::Ishne,
        // one frame (every lead's sample) per block: the samples interleaved by lead
        layout: Int16Layout {
            data_start: ecg_offset as u64,
            block_samples: 1,
            block_bytes: 2 * n_leads,
            n_samples: samples,
            channels,
        },
        fs_hz: fs as f64,
        meta,
        others: Vec::new(),
    })
}

/// Read an ISHNE Holter file held in memory.
pub fn read(path: &Path, bytes: &[u8]) -> Result<Ecg, IoError> {
    let header = header(path, bytes, bytes.len() as u64)?;
    let rows = header.layout.decode_all(bytes);
    header.ecg(path, rows)
}

/// The ISHNE code of a lead (0, unknown, for one the standard has no code for).
fn lead_code(name: &LeadName) -> i16 {
    (0..=19).find(|&c| lead(c) == *name).unwrap_or(0)
}

/// Write a record as ISHNE (1 µV = 1000 nV per unit: values beyond +-32.767 mV are clipped),
/// window by window: `read` gives every lead's samples of the range asked for, so a 24 h
/// record is never held whole. At most 12 leads, an integer rate below 32768 Hz.
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
    let fs = fs_hz.round();
    if !(1..=12).contains(&leads.len())
        || (fs - fs_hz).abs() > 1e-9
        || !(1.0..=32767.0).contains(&fs)
        || i32::try_from(n_samples).is_err()
    {
        return Err(IoError::format(
            path,
            format!(
                "ISHNE holds 1 to 12 leads at a whole rate below 32768 Hz and fewer than 2^31 samples ({} leads, {fs_hz} Hz, {n_samples} samples)",
                leads.len()
            ),
        ));
    }
    let mut h = vec![0u8; FIXED_END - 10];
    let put16 =
        |h: &mut Vec<u8>, at: usize, v: i16| h[at..at + 2].copy_from_slice(&v.to_le_bytes());
    let put32 =
        |h: &mut Vec<u8>, at: usize, v: i32| h[at..at + 4].copy_from_slice(&v.to_le_bytes());
    put32(&mut h, 0, 0); // no variable block
    put32(&mut h, 4, n_samples as i32);
    put32(&mut h, 8, FIXED_END as i32);
    put32(&mut h, 12, FIXED_END as i32);
    put16(&mut h, 16, 1);
    put16(&mut h, 146, leads.len() as i16);
    for (k, name) in leads.iter().enumerate() {
        put16(&mut h, 148 + 2 * k, lead_code(name));
        put16(&mut h, 196 + 2 * k, 1000);
    }
    for k in leads.len()..12 {
        put16(&mut h, 148 + 2 * k, -9);
        put16(&mut h, 196 + 2 * k, -9);
    }
    put16(&mut h, 220, -1); // no pacemaker code
    h[222..222 + 9].copy_from_slice(b"tlc synth");
    put16(&mut h, 262, fs as i16);
    let crc = super::scp::crc_ccitt(&h);
    crate::io::files::write_atomic_with(path, overwrite, |out| {
        let io = |e| IoError::os(path, e);
        out.write_all(MAGIC).map_err(io)?;
        out.write_all(&crc.to_le_bytes()).map_err(io)?;
        out.write_all(&h).map_err(io)?;
        let chunk = (60.0 * fs) as usize;
        let mut frames = Vec::with_capacity(chunk * leads.len() * 2);
        for start in (0..n_samples).step_by(chunk) {
            let end = (start + chunk).min(n_samples);
            let rows = read(start..end);
            frames.clear();
            for i in 0..end - start {
                for row in &rows {
                    let mv = row.get(i).copied().unwrap_or(0.0);
                    frames.extend_from_slice(&super::edf::to_microvolt_i16(mv).to_le_bytes());
                }
            }
            out.write_all(&frames).map_err(io)?;
        }
        Ok(())
    })
}
