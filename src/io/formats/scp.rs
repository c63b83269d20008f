//! SCP-ECG (EN 1064 / ISO 11073-91064), protocol versions 1.x to 3.0.
//!
//! The file: CRC-CCITT (2 bytes), file length (4), then sections, each with a 16-byte header
//! (CRC, id, length, version, protocol version, 6 reserved bytes). Section 0 points to the
//! others (id, length, 1-based byte index). Read here: 1 (patient and device tags), 2 (Huffman
//! tables: the default table 19999), 3 (leads and their sample ranges), 4 and 5 (reference beat
//! and QRS positions), 6 (rhythm data: amplitude multiplier in nV, sample interval in µs,
//! first or second differences) and 7 (global measurements). With reference-beat subtraction
//! the decoded rhythm data are residuals: the reference beat (section 5) is added back at each
//! QRS of type 0 over its subtraction zone (section 4). Every CRC and every pointer is checked;
//! a file that breaks the standard is refused with the section and the cause. Written from the
//! standard: no maintained Rust crate reads SCP-ECG.

use std::path::Path;

use super::LeadRows;
use crate::io::IoError;
use crate::record::{DeviceMeasurement, Ecg, EcgMeta, LeadName, MedianBeats, PatientFields, Sex};

const FORMAT: &str = "SCP-ECG";

fn err(path: &Path, section: impl Into<String>, message: impl Into<String>) -> IoError {
    IoError::section(path, FORMAT, section, message)
}

/// CRC-CCITT (polynomial 0x1021, initial 0xFFFF), as SCP-ECG specifies.
pub(crate) fn crc_ccitt(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &b in bytes {
        crc ^= (b as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2).map(|s| u16::from_le_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// Does the start of a file look like SCP-ECG? (section 0 first, pointing to itself)
pub(crate) fn looks_like_scp(head: &[u8]) -> bool {
    if head.get(16..22) == Some(&b"SCPECG"[..]) && u16_at(head, 8) == Some(0) {
        return true;
    }
    // writers that leave the reserved bytes blank: section 0's header and its own pointer agree
    u16_at(head, 8) == Some(0)
        && u16_at(head, 22) == Some(0)
        && u32_at(head, 10).is_some_and(|l| l >= 16)
        && u32_at(head, 10) == u32_at(head, 24)
}

/// The sections of a file, by id: the bytes of each (its 16-byte header included).
struct Sections<'a> {
    by_id: Vec<Option<&'a [u8]>>,
}

impl<'a> Sections<'a> {
    fn get(&self, id: usize) -> Option<&'a [u8]> {
        self.by_id.get(id).copied().flatten()
    }
}

fn sections<'a>(path: &Path, bytes: &'a [u8]) -> Result<Sections<'a>, IoError> {
    let declared =
        u32_at(bytes, 2).ok_or_else(|| err(path, "file header", "shorter than 6 bytes"))? as usize;
    if declared != bytes.len() {
        return Err(err(
            path,
            "file header",
            format!("declares {declared} bytes, the file has {}", bytes.len()),
        ));
    }
    let stored = u16_at(bytes, 0).unwrap_or(0);
    let actual = crc_ccitt(&bytes[2..]);
    if stored != actual {
        return Err(err(
            path,
            "file header",
            format!("file CRC is {actual:#06x}, the file says {stored:#06x}"),
        ));
    }
    let sec0 = section_at(path, bytes, 0, 7, None)?;
    let mut by_id: Vec<Option<&[u8]>> = Vec::new();
    for entry in sec0[16..].chunks_exact(10) {
        let id = u16::from_le_bytes([entry[0], entry[1]]) as usize;
        let len = u32::from_le_bytes([entry[2], entry[3], entry[4], entry[5]]) as usize;
        let index = u32::from_le_bytes([entry[6], entry[7], entry[8], entry[9]]) as usize;
        if len == 0 || id == 0 {
            continue;
        }
        if id > 1024 {
            continue; // manufacturer sections beyond any the reader uses
        }
        let s = section_at(path, bytes, id, index, Some(len))?;
        if by_id.len() <= id {
            by_id.resize(id + 1, None);
        }
        by_id[id] = Some(s);
    }
    Ok(Sections { by_id })
}

/// Section `id` at 1-based byte `index`, checked: inside the file, the id and length of its
/// header, its CRC.
fn section_at<'a>(
    path: &Path,
    bytes: &'a [u8],
    id: usize,
    index: usize,
    pointer_len: Option<usize>,
) -> Result<&'a [u8], IoError> {
    let name = format!("section {id}");
    let start = index
        .checked_sub(1)
        .ok_or_else(|| err(path, &name, "pointer to byte 0 (indices start at 1)"))?;
    let header_len = u32_at(bytes, start + 4).ok_or_else(|| {
        err(
            path,
            &name,
            format!("starts at byte {index}, past the end of the file"),
        )
    })? as usize;
    let len = pointer_len.unwrap_or(header_len);
    if header_len != len || len < 16 {
        return Err(err(
            path,
            &name,
            format!("its header says {header_len} bytes, section 0 says {len}"),
        ));
    }
    let s = start
        .checked_add(len)
        .and_then(|end| bytes.get(start..end))
        .ok_or_else(|| {
            err(
                path,
                &name,
                format!(
                    "{len} bytes from byte {index} run past the end of the file ({} bytes)",
                    bytes.len()
                ),
            )
        })?;
    let sid = u16_at(s, 2).unwrap_or(u16::MAX) as usize;
    if sid != id {
        return Err(err(
            path,
            &name,
            format!("the section found there is section {sid}"),
        ));
    }
    let stored = u16_at(s, 0).unwrap_or(0);
    let actual = crc_ccitt(&s[2..]);
    if stored != actual {
        return Err(err(
            path,
            &name,
            format!("CRC is {actual:#06x}, the section says {stored:#06x}"),
        ));
    }
    Ok(s)
}

/// Reads bits most significant first.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn bit(&mut self) -> Option<u32> {
        let byte = *self.data.get(self.pos / 8)?;
        let b = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Some(b as u32)
    }

    fn bits(&mut self, n: u32) -> Option<u32> {
        (0..n).try_fold(0u32, |acc, _| Some((acc << 1) | self.bit()?))
    }

    /// One value of the default Huffman table (SCP-ECG table 19999): n ones then a zero code
    /// +-n (n = 1..8, sign bit after the zero), `0` is 0, nine ones and a zero are followed by
    /// an 8-bit value, ten ones by a 16-bit value.
    fn default_huffman(&mut self) -> Option<i32> {
        let mut ones = 0;
        while ones < 10 && self.bit()? == 1 {
            ones += 1;
        }
        match ones {
            0 => Some(0),
            1..=8 => {
                let negative = self.bit()? == 1;
                Some(if negative { -ones } else { ones })
            }
            9 => Some(self.bits(8)? as u8 as i8 as i32),
            _ => Some(self.bits(16)? as u16 as i16 as i32),
        }
    }
}

/// Decode `n` values of one lead and undo the differences.
fn decode_lead(data: &[u8], n: usize, differences: u8) -> Option<Vec<i32>> {
    let mut bits = Bits { data, pos: 0 };
    let mut out: Vec<i32> = Vec::with_capacity(n);
    for k in 0..n {
        let d = bits.default_huffman()?;
        let v = match (differences, k) {
            (1, 1..) => out[k - 1].wrapping_add(d),
            (2, 2..) => d
                .wrapping_add(out[k - 1].wrapping_mul(2))
                .wrapping_sub(out[k - 2]),
            _ => d,
        };
        out.push(v);
    }
    Some(out)
}

/// SCP-ECG lead codes (EN 1064 table 9) of the leads carts store.
fn lead(code: u8) -> LeadName {
    use LeadName::*;
    match code {
        1 => I,
        2 => II,
        3 => V1,
        4 => V2,
        5 => V3,
        6 => V4,
        7 => V5,
        8 => V6,
        61 => III,
        62 => AVR,
        63 => AVL,
        64 => AVF,
        _ => {
            let name = match code {
                9 => "V7",
                10 => "V2R",
                11 => "V3R",
                12 => "V4R",
                13 => "V5R",
                14 => "V6R",
                15 => "V7R",
                16 => "X",
                17 => "Y",
                18 => "Z",
                19 => "CC5",
                20 => "CM5",
                66 => "V8",
                67 => "V9",
                68 => "V8R",
                69 => "V9R",
                _ => return Other(format!("SCP lead {code}")),
            };
            Other(name.to_string())
        }
    }
}

/// Encoded data of a section 5 or 6: (amplitude multiplier nV, interval µs, differences,
/// per-lead byte slices).
struct Encoded<'a> {
    avm_nv: f64,
    interval_us: f64,
    differences: u8,
    leads: Vec<&'a [u8]>,
}

fn encoded<'a>(
    path: &Path,
    s: &'a [u8],
    id: usize,
    n_leads: usize,
) -> Result<Encoded<'a>, IoError> {
    let name = format!("section {id}");
    let d = &s[16..];
    let head = d
        .get(..6 + 2 * n_leads)
        .ok_or_else(|| err(path, &name, "shorter than its lead table"))?;
    let avm_nv = u16::from_le_bytes([head[0], head[1]]) as f64;
    let interval_us = u16::from_le_bytes([head[2], head[3]]) as f64;
    let differences = head[4];
    if id == 6 && head[5] != 0 {
        return Err(err(path, &name, "bimodal compression is not supported"));
    }
    if avm_nv == 0.0 || interval_us == 0.0 {
        return Err(err(
            path,
            &name,
            "amplitude multiplier or sample interval is 0",
        ));
    }
    if differences > 2 {
        return Err(err(
            path,
            &name,
            format!("difference order {differences} (0, 1 or 2 allowed)"),
        ));
    }
    let mut leads = Vec::with_capacity(n_leads);
    let mut at = 6 + 2 * n_leads;
    for k in 0..n_leads {
        let len = u16::from_le_bytes([head[6 + 2 * k], head[7 + 2 * k]]) as usize;
        let slice = d.get(at..at + len).ok_or_else(|| {
            err(
                path,
                &name,
                format!("lead {}: {len} bytes run past the section's end", k + 1),
            )
        })?;
        leads.push(slice);
        at += len;
    }
    Ok(Encoded {
        avm_nv,
        interval_us,
        differences,
        leads,
    })
}

fn patient(s: &[u8], meta: &mut EcgMeta) {
    let mut p = PatientFields::default();
    let mut first = None;
    let mut last = None;
    let mut at = 16;
    while let (Some(&tag), Some(len)) = (s.get(at), u16_at(s, at + 1)) {
        let Some(v) = s.get(at + 3..at + 3 + len as usize) else {
            break;
        };
        let text = || {
            let t = String::from_utf8_lossy(v);
            let t = t.trim_end_matches('\0').trim().to_string();
            (!t.is_empty()).then_some(t)
        };
        match tag {
            0 => last = text(),
            1 => first = text(),
            2 => p.id = text(),
            4 if v.len() >= 3 => {
                let age = u16::from_le_bytes([v[0], v[1]]) as f32;
                meta.age_years = match v[2] {
                    1 => Some(age),
                    2 => Some(age / 12.0),
                    3 => Some(age / 52.18),
                    4 => Some(age / 365.25),
                    _ => None,
                }
                .filter(|a| *a > 0.0);
            }
            5 if v.len() >= 4 => {
                let year = u16::from_le_bytes([v[0], v[1]]);
                if year > 0 {
                    p.birth_date = Some(format!("{year:04}-{:02}-{:02}", v[2], v[3]));
                }
            }
            8 => {
                meta.sex = match v.first() {
                    Some(1) => Some(Sex::Male),
                    Some(2) => Some(Sex::Female),
                    _ => None,
                }
            }
            14 if v.len() > 36 => {
                // acquiring device: the model description sits after 36 fixed bytes
                let t = String::from_utf8_lossy(&v[36..]);
                let model = t
                    .split('\0')
                    .find(|w| !w.trim().is_empty())
                    .map(|w| w.trim().to_string());
                meta.device = model.or(meta.device.take());
            }
            255 => break,
            _ => {}
        }
        at += 3 + len as usize;
    }
    let name = [first, last]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    p.name = (!name.is_empty()).then_some(name);
    meta.patient = (p != PatientFields::default()).then_some(p);
}

fn measurements(s: &[u8]) -> Vec<DeviceMeasurement> {
    let d = &s[16..];
    let mut out = Vec::new();
    let mut push = |name: &str, v: Option<u16>, unit: &str, signed: bool| {
        // 29999 marks "not computed", 29998 "rejected"
        if let Some(v) = v.filter(|v| *v != 29999 && *v != 29998) {
            let value = if signed { v as i16 as f64 } else { v as f64 };
            out.push(DeviceMeasurement {
                name: name.to_string(),
                value,
                unit: unit.to_string(),
            });
        }
    };
    push("RR interval", u16_at(d, 2), "ms", false);
    push("PP interval", u16_at(d, 4), "ms", false);
    // the first reference beat's wave bounds (ms from the beat's start) and axes
    let names = ["P onset", "P offset", "QRS onset", "QRS offset", "T offset"];
    for (k, name) in names.iter().enumerate() {
        push(*name, u16_at(d, 6 + 2 * k), "ms", false);
    }
    for (k, name) in ["P axis", "QRS axis", "T axis"].iter().enumerate() {
        // 999 is "undefined axis"
        if u16_at(d, 16 + 2 * k) != Some(999) {
            push(*name, u16_at(d, 16 + 2 * k), "deg", true);
        }
    }
    out
}

/// Read an SCP-ECG file.
pub fn read(path: &Path, bytes: &[u8]) -> Result<Ecg, IoError> {
    let secs = sections(path, bytes)?;
    // section 2: only the default table is read
    if let Some(s2) = secs.get(2) {
        let n_tables = u16_at(s2, 16).unwrap_or(0);
        if n_tables != 19999 {
            return Err(err(
                path,
                "section 2",
                format!(
                    "{n_tables} custom Huffman tables: only the default table (19999) is supported"
                ),
            ));
        }
    }
    let s3 = secs
        .get(3)
        .ok_or_else(|| err(path, "section 3", "missing: no lead definitions"))?;
    let n_leads = *s3.get(16).ok_or_else(|| err(path, "section 3", "empty"))? as usize;
    let flags = *s3
        .get(17)
        .ok_or_else(|| err(path, "section 3", "no flags byte"))?;
    let reference_subtracted = flags & 1 != 0;
    if n_leads == 0 {
        return Err(err(path, "section 3", "0 leads"));
    }
    let mut names = Vec::with_capacity(n_leads);
    let mut ranges = Vec::with_capacity(n_leads);
    for k in 0..n_leads {
        let at = 18 + 9 * k;
        let (Some(start), Some(end), Some(&code)) =
            (u32_at(s3, at), u32_at(s3, at + 4), s3.get(at + 8))
        else {
            return Err(err(path, "section 3", format!("lead {} cut short", k + 1)));
        };
        if start == 0 || end < start {
            return Err(err(
                path,
                "section 3",
                format!("lead {}: samples {start}..{end}", k + 1),
            ));
        }
        names.push(lead(code));
        ranges.push((start as usize, end as usize));
    }
    let s6 = secs
        .get(6)
        .ok_or_else(|| err(path, "section 6", "missing: no rhythm data"))?;
    let rhythm = encoded(path, s6, 6, n_leads)?;
    let n = ranges[0].1 - ranges[0].0 + 1;
    if let Some(k) = ranges.iter().position(|&(s, e)| e - s + 1 != n) {
        return Err(err(
            path,
            "section 3",
            format!(
                "lead {} covers other samples than lead 1 (not recorded together)",
                names[k]
            ),
        ));
    }
    // one value takes at least one bit: the data bound the sample count before allocating
    let mut raw: Vec<Vec<i32>> = Vec::with_capacity(n_leads);
    for (k, data) in rhythm.leads.iter().enumerate() {
        if n > data.len() * 8 {
            return Err(err(
                path,
                "section 6",
                format!(
                    "lead {}: {n} samples cannot come from {} bytes",
                    names[k],
                    data.len()
                ),
            ));
        }
        raw.push(decode_lead(data, n, rhythm.differences).ok_or_else(|| {
            err(
                path,
                "section 6",
                format!("lead {}: the data end before sample {n}", names[k]),
            )
        })?);
    }

    // reference beat (section 5) and the QRS table (section 4)
    let mut reference: Option<(Encoded, Vec<Vec<i32>>)> = None;
    if let (Some(s4), Some(s5)) = (secs.get(4), secs.get(5)) {
        let beat_ms = u16_at(s4, 16).unwrap_or(0) as f64;
        let enc = encoded(path, s5, 5, n_leads)?;
        let m = (beat_ms * 1000.0 / enc.interval_us).round() as usize;
        if m > 0 && enc.leads.iter().all(|d| m <= d.len() * 8) {
            let beats: Option<Vec<Vec<i32>>> = enc
                .leads
                .iter()
                .map(|d| decode_lead(d, m, enc.differences))
                .collect();
            if let Some(beats) = beats {
                reference = Some((enc, beats));
            }
        }
        if reference_subtracted {
            let Some((enc, beats)) = &reference else {
                return Err(err(
                    path,
                    "section 5",
                    "reference beat needed (subtraction used) but unreadable",
                ));
            };
            add_reference_beat(path, s4, enc, beats, &rhythm, &mut raw)?;
        }
    } else if reference_subtracted {
        return Err(err(
            path,
            "section 4/5",
            "reference-beat subtraction is flagged but section 4 or 5 is missing",
        ));
    }

    let mut meta = EcgMeta::default();
    if let Some(s1) = secs.get(1) {
        patient(s1, &mut meta);
    }
    if let Some(s7) = secs.get(7) {
        meta.measurements = measurements(s7);
    }
    if let Some((enc, beats)) = reference {
        let scale = enc.avm_nv * 1e-6;
        meta.median_beats = Some(MedianBeats {
            leads: names.clone(),
            fs_hz: 1e6 / enc.interval_us,
            samples_mv: beats
                .iter()
                .map(|b| b.iter().map(|&v| (v as f64 * scale) as f32).collect())
                .collect(),
        });
    }
    let scale = rhythm.avm_nv * 1e-6;
    let mut rows = LeadRows::default();
    for (name, r) in names.into_iter().zip(raw) {
        rows.push(name, r.iter().map(|&v| (v as f64 * scale) as f32).collect());
    }
    meta.derived_leads = rows.derive_limb_leads();
    rows.into_ecg(path, FORMAT, 1e6 / rhythm.interval_us, meta)
}

/// Add the reference beat back to the residual rhythm: for each QRS of type 0, over its
/// subtraction zone, with the reference beat's fiducial on the QRS fiducial.
fn add_reference_beat(
    path: &Path,
    s4: &[u8],
    enc: &Encoded,
    beats: &[Vec<i32>],
    rhythm: &Encoded,
    raw: &mut [Vec<i32>],
) -> Result<(), IoError> {
    if enc.interval_us != rhythm.interval_us || enc.avm_nv != rhythm.avm_nv {
        return Err(err(
            path,
            "section 5",
            "reference beat sampled or scaled unlike the rhythm data (not supported with subtraction)",
        ));
    }
    let fiducial = u16_at(s4, 18).unwrap_or(0) as i64;
    let n_qrs = u16_at(s4, 20).unwrap_or(0) as usize;
    // one 14-byte entry per QRS: type, subtraction zone start, fiducial, zone end (1-based)
    let table = s4.get(22..).unwrap_or(&[]);
    for q in 0..n_qrs {
        let (Some(kind), Some(zs), Some(fid), Some(ze)) = (
            u16_at(table, 14 * q),
            u32_at(table, 14 * q + 2),
            u32_at(table, 14 * q + 6),
            u32_at(table, 14 * q + 10),
        ) else {
            return Err(err(path, "section 4", format!("QRS {} cut short", q + 1)));
        };
        if kind != 0 {
            continue;
        }
        // the zone, clamped to the rhythm data and to the reference beat's span: a corrupt
        // table cannot make the loop longer than the beat
        let n = raw.first().map_or(0, Vec::len) as i64;
        let beat_len = beats.first().map_or(0, Vec::len) as i64;
        let beat_start = fid as i64 - fiducial + 1; // sample where the beat's index 0 falls
        let zs = (zs as i64).max(1).max(beat_start);
        let ze = (ze as i64).min(n).min(beat_start + beat_len - 1);
        for (lead, beat) in raw.iter_mut().zip(beats) {
            for s in zs..=ze {
                let b = s - fid as i64 + fiducial - 1;
                let (Ok(si), Ok(bi)) = (usize::try_from(s - 1), usize::try_from(b)) else {
                    continue;
                };
                if let (Some(x), Some(&r)) = (lead.get_mut(si), beat.get(bi)) {
                    *x = x.wrapping_add(r);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_ccitt_of_the_standard_check_string() {
        assert_eq!(crc_ccitt(b"123456789"), 0x29B1);
    }

    #[test]
    fn default_huffman_and_first_differences() {
        // 0 | 100 (+1) | 1101 (-2) | 1111111110 + 0x7F (+127)
        let bits = "0100110111111111100111111100000";
        let mut bytes = vec![0u8; bits.len().div_ceil(8)];
        for (i, c) in bits.chars().enumerate() {
            if c == '1' {
                bytes[i / 8] |= 0x80 >> (i % 8);
            }
        }
        assert_eq!(decode_lead(&bytes, 4, 0).unwrap(), vec![0, 1, -2, 127]);
        assert_eq!(decode_lead(&bytes, 4, 1).unwrap(), vec![0, 1, -1, 126]);
        assert!(decode_lead(&bytes, 40, 0).is_none());
    }
}
