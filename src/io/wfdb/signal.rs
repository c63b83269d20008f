//! Signal files (`.dat`): the sample formats, multiplexed files, byte offsets and checksums.

use std::collections::HashMap;
use std::path::Path;

use crate::io::IoError;
use crate::io::files::{MAX_SIGNAL_BYTES, file_inside, read_regular_file};

use super::header::{WfdbHeader, read_header};

/// The value a format uses to mark a missing sample (WFDB's "invalid sample").
pub fn missing_value(format: u16) -> Option<i32> {
    match format {
        16 | 61 | 160 => Some(-32768),
        212 => Some(-2048),
        80 => Some(-128),
        24 => Some(-(1 << 23)),
        32 => Some(i32::MIN),
        310 | 311 => Some(-512),
        _ => None,
    }
}

fn sign_extend(value: u32, bits: u32) -> i32 {
    let shift = 32 - bits;
    ((value << shift) as i32) >> shift
}

/// How many samples `n_bytes` of a format hold.
pub fn samples_in_bytes(format: u16, n_bytes: usize) -> Result<usize, String> {
    Ok(match format {
        80 => n_bytes,
        16 | 61 | 160 => n_bytes / 2,
        24 => n_bytes / 3,
        32 => n_bytes / 4,
        // two 12-bit samples in 3 bytes; a trailing 2-byte group holds one more sample
        212 => (n_bytes / 3) * 2 + usize::from(n_bytes % 3 >= 2),
        // three 10-bit samples in 4 bytes; a trailing 2-byte word holds one more sample
        310 | 311 => (n_bytes / 4) * 3 + usize::from(n_bytes % 4 >= 2 && format == 310),
        other => return Err(format!("unsupported signal format {other}")),
    })
}

/// Decode the first `n_samples` samples of a byte stream in `format` (raw ADC values).
/// Fails if the bytes hold fewer samples.
pub fn decode_samples(format: u16, bytes: &[u8], n_samples: usize) -> Result<Vec<i32>, String> {
    let available = samples_in_bytes(format, bytes.len())?;
    if available < n_samples {
        return Err(format!("holds {available} samples, {n_samples} expected"));
    }
    let mut out = Vec::with_capacity(n_samples);
    match format {
        80 => out.extend(bytes[..n_samples].iter().map(|&b| i32::from(b) - 128)),
        16 => out.extend(
            bytes
                .chunks_exact(2)
                .take(n_samples)
                .map(|c| i32::from(i16::from_le_bytes([c[0], c[1]]))),
        ),
        61 => out.extend(
            bytes
                .chunks_exact(2)
                .take(n_samples)
                .map(|c| i32::from(i16::from_be_bytes([c[0], c[1]]))),
        ),
        160 => out.extend(
            bytes
                .chunks_exact(2)
                .take(n_samples)
                .map(|c| i32::from(u16::from_le_bytes([c[0], c[1]])) - 32768),
        ),
        24 => out.extend(bytes.chunks_exact(3).take(n_samples).map(|c| {
            sign_extend(
                u32::from(c[0]) | u32::from(c[1]) << 8 | u32::from(c[2]) << 16,
                24,
            )
        })),
        32 => out.extend(
            bytes
                .chunks_exact(4)
                .take(n_samples)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        ),
        212 => {
            let mut i = 0;
            while out.len() < n_samples {
                let b0 = u32::from(bytes[i]);
                let b1 = u32::from(bytes[i + 1]);
                out.push(sign_extend(b0 | (b1 & 0x0f) << 8, 12));
                if out.len() < n_samples {
                    let b2 = u32::from(bytes[i + 2]);
                    out.push(sign_extend(b2 | (b1 & 0xf0) << 4, 12));
                }
                i += 3;
            }
        }
        310 => {
            let mut i = 0;
            while out.len() < n_samples {
                let w0 = u32::from(u16::from_le_bytes([bytes[i], bytes[i + 1]]));
                out.push(sign_extend((w0 >> 1) & 0x3ff, 10));
                if out.len() < n_samples {
                    let w1 = u32::from(u16::from_le_bytes([bytes[i + 2], bytes[i + 3]]));
                    out.push(sign_extend((w1 >> 1) & 0x3ff, 10));
                    if out.len() < n_samples {
                        out.push(sign_extend(
                            (w0 >> 11) & 0x1f | ((w1 >> 11) & 0x1f) << 5,
                            10,
                        ));
                    }
                }
                i += 4;
            }
        }
        311 => {
            for c in bytes.chunks_exact(4) {
                let w = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                for k in 0..3 {
                    if out.len() < n_samples {
                        out.push(sign_extend((w >> (10 * k)) & 0x3ff, 10));
                    }
                }
                if out.len() >= n_samples {
                    break;
                }
            }
        }
        other => return Err(format!("unsupported signal format {other}")),
    }
    Ok(out)
}

/// Read a record's raw ADC values, one vector per signal (`n_samples x samples_per_frame`
/// values each), verifying every checksum the header gives.
pub fn read_adc(hea_path: &Path) -> Result<(WfdbHeader, Vec<Vec<i32>>), IoError> {
    let header = read_header(hea_path)?;
    let signals = read_signals(&header)?;
    Ok((header, signals))
}

/// Read the signal files of a parsed header (raw ADC values per signal), verifying checksums.
pub fn read_signals(header: &WfdbHeader) -> Result<Vec<Vec<i32>>, IoError> {
    let dir = header.dir();
    let hea = &header.path;
    let mut out: Vec<Vec<i32>> = vec![Vec::new(); header.signals.len()];
    // Signals sharing a file are multiplexed frame by frame, in header order.
    let mut files: Vec<(String, Vec<usize>)> = Vec::new();
    let mut file_index: HashMap<&str, usize> = HashMap::new();
    for (i, s) in header.signals.iter().enumerate() {
        if s.skew_frames != 0 {
            return Err(IoError::format(
                hea,
                format!(
                    "signal {i} ({}): skew {} is not supported",
                    s.description, s.skew_frames
                ),
            ));
        }
        match file_index.get(s.file_name.as_str()) {
            Some(&k) => files[k].1.push(i),
            None => {
                file_index.insert(&s.file_name, files.len());
                files.push((s.file_name.clone(), vec![i]));
            }
        }
    }
    for (file_name, members) in &files {
        if file_name == "~" {
            // WFDB's "no file" (a null signal) carries no samples to read.
            return Err(IoError::format(
                hea,
                "null signal files ('~') are not supported",
            ));
        }
        let dat_path = file_inside(&dir, file_name, hea)?;
        let first = &header.signals[members[0]];
        for &m in members {
            let s = &header.signals[m];
            if s.format != first.format || s.byte_offset != first.byte_offset {
                return Err(IoError::format(
                    &dat_path,
                    format!(
                        "signals {} and {m} share this file but differ in format or byte offset",
                        members[0]
                    ),
                ));
            }
        }
        let format = first.format;
        samples_in_bytes(format, 0).map_err(|m| {
            IoError::format(
                hea,
                format!("signal {} ({}): {m}", members[0], first.description),
            )
        })?;
        let bytes = read_regular_file(&dat_path, MAX_SIGNAL_BYTES)?;
        let offset = usize::try_from(first.byte_offset).unwrap_or(usize::MAX);
        if offset > bytes.len() {
            return Err(IoError::format(
                &dat_path,
                format!(
                    "byte offset {offset} is past the end of the file ({} bytes)",
                    bytes.len()
                ),
            ));
        }
        let body = &bytes[offset..];
        let frame_len: usize = members
            .iter()
            .map(|&m| header.signals[m].samples_per_frame as usize)
            .sum();
        let available_frames = samples_in_bytes(format, body.len())
            .map_err(|m| IoError::format(&dat_path, m))?
            / frame_len;
        let n_frames = match header.n_samples {
            Some(n) if n > 0 => {
                if n > available_frames as u64 {
                    return Err(IoError::format(
                        &dat_path,
                        format!(
                            "truncated: the header declares {n} samples per signal, the file holds {available_frames}"
                        ),
                    ));
                }
                n as usize
            }
            _ => available_frames,
        };
        let flat = decode_samples(format, body, n_frames * frame_len)
            .map_err(|m| IoError::format(&dat_path, m))?;
        for &m in members {
            out[m].reserve_exact(n_frames * header.signals[m].samples_per_frame as usize);
        }
        for frame in flat.chunks_exact(frame_len) {
            let mut pos = 0;
            for &m in members {
                let spf = header.signals[m].samples_per_frame as usize;
                out[m].extend_from_slice(&frame[pos..pos + spf]);
                pos += spf;
            }
        }
        for &m in members {
            let s = &header.signals[m];
            if let Some(expected) = s.checksum {
                let sum: i64 = out[m].iter().map(|&v| i64::from(v)).sum();
                let got = (sum & 0xffff) as u16;
                if got != (expected & 0xffff) as u16 {
                    return Err(IoError::format(
                        &dat_path,
                        format!(
                            "signal {m} ({}): checksum mismatch: header {} says {expected}, data gives {} ({} as signed)",
                            s.description,
                            hea.display(),
                            got,
                            got as i16
                        ),
                    ));
                }
            }
        }
    }
    Ok(out)
}
