//! Signal files (`.dat`): the sample formats, multiplexed files, byte offsets and checksums.

use std::collections::HashMap;
use std::path::Path;

use crate::io::IoError;
use crate::io::files::{MAX_SIGNAL_BYTES, file_inside, read_regular_file};

use super::header::{WfdbHeader, read_header};

/// The value a format uses to mark a missing sample (WFDB's "invalid sample"), as WFDB and
/// wfdb-python define it: the most negative value of the format's sample width. Format 8 (first
/// differences) has none.
pub fn missing_value(format: u16) -> Option<i32> {
    match format {
        16 | 61 | 160 | 516 => Some(-32768),
        212 => Some(-2048),
        80 | 508 => Some(-128),
        24 | 524 => Some(-(1 << 23)),
        32 => Some(i32::MIN),
        310 | 311 => Some(-512),
        _ => None,
    }
}

/// The raw value [`read_signals`] gives a sample that has no data in the file: samples a skew
/// pushes past the end of the file, and signals stored in no file (`~`). Never a valid sample
/// of any format (format 32's own marker is this value; format 8's running sums start from a
/// 32-bit initial value plus 8-bit steps and stay far from it in any real record).
pub const NO_DATA: i32 = i32::MIN;

/// Whether a raw value read from a signal of `format` is a missing sample.
pub fn is_missing(format: u16, value: i32) -> bool {
    value == NO_DATA || missing_value(format) == Some(value)
}

/// The FLAC formats (508, 516, 524: 8, 16 or 24 bits per sample in a FLAC stream).
pub fn is_flac_format(format: u16) -> bool {
    matches!(format, 508 | 516 | 524)
}

fn sign_extend(value: u32, bits: u32) -> i32 {
    let shift = 32 - bits;
    ((value << shift) as i32) >> shift
}

/// How many samples `n_bytes` of a format hold.
pub fn samples_in_bytes(format: u16, n_bytes: usize) -> Result<usize, String> {
    Ok(match format {
        8 | 80 => n_bytes,
        16 | 61 | 160 => n_bytes / 2,
        24 => n_bytes / 3,
        32 => n_bytes / 4,
        // two 12-bit samples in 3 bytes; a trailing 2-byte group holds one more sample
        212 => (n_bytes / 3) * 2 + usize::from(n_bytes % 3 >= 2),
        // three 10-bit samples in 4 bytes; in 310 a trailing 16-bit word holds one more sample
        310 => (n_bytes / 4) * 3 + usize::from(n_bytes % 4 >= 2),
        // three 10-bit samples in one 32-bit word (bits 0-9, 10-19, 20-29); a trailing partial
        // word of 2 bytes holds one more sample, of 3 bytes two more (the bytes they reach)
        311 => (n_bytes / 4) * 3 + (n_bytes % 4).saturating_sub(1),
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
        // first differences; the running sum is taken per signal by the caller
        8 => out.extend(bytes[..n_samples].iter().map(|&b| i32::from(b as i8))),
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
            for c in bytes.chunks(4) {
                // a trailing partial word is read as if zero-padded: the samples counted by
                // `samples_in_bytes` lie entirely in the bytes present
                let mut word = [0u8; 4];
                word[..c.len()].copy_from_slice(c);
                let w = u32::from_le_bytes(word);
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

/// Read the signal files of a parsed single-segment header: raw ADC values per signal, each
/// expanded (`n_frames x samples_per_frame` values in time order), as wfdb-python reads them:
/// - signals sharing a file are demultiplexed frame by frame, in header order;
/// - format 8 first differences are summed from the signal's initial value;
/// - a signal's skew `k` is applied (its sample `t` is read from frame `t + k`); samples a skew
///   pushes past the end of the file are [`NO_DATA`], as are signals of file `~`;
/// - every checksum the header gives is verified (over the signal as stored; for a skewed
///   signal the de-skewed samples are accepted too).
pub fn read_signals(header: &WfdbHeader) -> Result<Vec<Vec<i32>>, IoError> {
    let dir = header.dir();
    let hea = &header.path;
    if header.segments.is_some() {
        return Err(IoError::format(
            hea,
            "a multi-segment record has no signal files of its own (read it with read_wfdb)",
        ));
    }
    let mut out: Vec<Vec<i32>> = vec![Vec::new(); header.signals.len()];
    let mut files: Vec<(String, Vec<usize>)> = Vec::new();
    let mut file_index: HashMap<&str, usize> = HashMap::new();
    for (i, s) in header.signals.iter().enumerate() {
        match file_index.get(s.file_name.as_str()) {
            Some(&k) => files[k].1.push(i),
            None => {
                file_index.insert(&s.file_name, files.len());
                files.push((s.file_name.clone(), vec![i]));
            }
        }
    }
    // Without a sample count in the header, each file's own length is the signals' length: two
    // files of different lengths cannot both be whole, and padding one would draw made-up
    // samples, so they are refused.
    let mut unsized_length: Option<(std::path::PathBuf, usize)> = None;
    for (file_name, members) in &files {
        if file_name == "~" {
            // WFDB's null signal: no samples stored; the header's length says how many.
            let n_frames = header.n_samples.ok_or_else(|| {
                IoError::format(
                    hea,
                    "a signal without a file ('~') needs the record's number of samples",
                )
            })?;
            // No file backs these samples: their total is held to what the largest accepted
            // signal file could hold in 16-bit samples.
            let per_frame: u64 = members
                .iter()
                .map(|&m| u64::from(header.signals[m].samples_per_frame))
                .sum();
            if n_frames.saturating_mul(per_frame) > MAX_SIGNAL_BYTES / 2 {
                return Err(IoError::format(
                    hea,
                    format!("implausible length {n_frames} of signals without a file ('~')"),
                ));
            }
            for &m in members {
                let n = n_frames * u64::from(header.signals[m].samples_per_frame);
                out[m] = vec![NO_DATA; n as usize];
            }
            continue;
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
        let spf: Vec<usize> = members
            .iter()
            .map(|&m| header.signals[m].samples_per_frame as usize)
            .collect();
        let frame_len: usize = spf.iter().sum();
        // The file's samples per signal (`columns[k]` for member k), as stored, with the number
        // of whole frames the file holds.
        let (mut columns, available_frames) = if is_flac_format(format) {
            // frames past the header's length are only needed for a skew
            let max_skew = members
                .iter()
                .map(|&m| u64::from(header.signals[m].skew_frames))
                .max()
                .unwrap_or(0);
            let wanted = header
                .n_samples
                .filter(|&n| n > 0)
                .map(|n| n.saturating_add(max_skew));
            super::flac::read_flac_columns(&dat_path, format, first.byte_offset, &spf, wanted)?
        } else {
            read_dat_columns(&dat_path, header, members, &spf, frame_len)?
        };
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
        if header.n_samples.is_none_or(|n| n == 0) {
            match &unsized_length {
                Some((other, frames)) if *frames != n_frames => {
                    return Err(IoError::format(
                        &dat_path,
                        format!(
                            "holds {n_frames} samples per signal, but {} holds {frames}, and the header {} gives no sample count to tell which is complete",
                            crate::io::display_name(other),
                            hea.display()
                        ),
                    ));
                }
                Some(_) => {}
                None => unsized_length = Some((dat_path.clone(), n_frames)),
            }
        }
        for (k, &m) in members.iter().enumerate() {
            let s = &header.signals[m];
            let column = &mut columns[k];
            if format == 8 {
                // wfdb-python and WFDB: sample n = initial value + d[0] + ... + d[n]
                let mut sum = i64::from(s.initial_value);
                for v in column.iter_mut() {
                    sum += i64::from(*v);
                    *v = sum.clamp(i64::from(i32::MIN) + 1, i64::from(i32::MAX)) as i32;
                }
            }
            let n = n_frames * spf[k];
            let skew = s.skew_frames as usize * spf[k];
            let sum16 = |v: &[i32]| {
                let sum: i64 = v.iter().map(|&x| i64::from(x)).sum();
                (sum & 0xffff) as u16
            };
            // the checksum of the signal as stored, before the skew moves it
            let stored_sum = sum16(&column[..n.min(column.len())]);
            let deskewed: Vec<i32> = if skew == 0 {
                column.truncate(n);
                std::mem::take(column)
            } else {
                column
                    .iter()
                    .skip(skew)
                    .copied()
                    .chain(std::iter::repeat(NO_DATA))
                    .take(n)
                    .collect()
            };
            if let Some(expected) = s.checksum {
                let want = (expected & 0xffff) as u16;
                if stored_sum != want && !(skew > 0 && sum16(&deskewed) == want) {
                    return Err(IoError::format(
                        &dat_path,
                        format!(
                            "signal {m} ({}): checksum mismatch: header {} says {expected}, data gives {} ({} as signed)",
                            s.description,
                            hea.display(),
                            stored_sum,
                            stored_sum as i16
                        ),
                    ));
                }
            }
            out[m] = deskewed;
        }
    }
    Ok(out)
}

/// The samples of an uncompressed signal file, one column per member signal, with the number
/// of whole frames the file holds.
fn read_dat_columns(
    dat_path: &Path,
    header: &WfdbHeader,
    members: &[usize],
    spf: &[usize],
    frame_len: usize,
) -> Result<(Vec<Vec<i32>>, usize), IoError> {
    let first = &header.signals[members[0]];
    let format = first.format;
    samples_in_bytes(format, 0).map_err(|m| {
        IoError::format(
            &header.path,
            format!("signal {} ({}): {m}", members[0], first.description),
        )
    })?;
    let bytes = read_regular_file(dat_path, MAX_SIGNAL_BYTES)?;
    let offset = usize::try_from(first.byte_offset).unwrap_or(usize::MAX);
    if offset > bytes.len() {
        return Err(IoError::format(
            dat_path,
            format!(
                "byte offset {offset} is past the end of the file ({} bytes)",
                bytes.len()
            ),
        ));
    }
    let body = &bytes[offset..];
    let available_frames =
        samples_in_bytes(format, body.len()).map_err(|m| IoError::format(dat_path, m))? / frame_len;
    let flat = decode_samples(format, body, available_frames * frame_len)
        .map_err(|m| IoError::format(dat_path, m))?;
    let mut columns: Vec<Vec<i32>> = spf
        .iter()
        .map(|&k| Vec::with_capacity(available_frames * k))
        .collect();
    for frame in flat.chunks_exact(frame_len) {
        let mut pos = 0;
        for (k, &n) in spf.iter().enumerate() {
            columns[k].extend_from_slice(&frame[pos..pos + n]);
            pos += n;
        }
    }
    Ok((columns, available_frames))
}
