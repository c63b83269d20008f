//! WFDB records: header (`.hea`) parsing, signal files (`.dat`) in formats 16, 61, 80, 160,
//! 212, 24, 32, 310 and 311 (signals multiplexed in one file, byte offsets), checksum
//! verification, conversion to mV, and a format-16 writer.
//!
//! Written here rather than taken from crates.io: the Rust `wfdb` crates found cover header
//! parsing and format 212 only, not formats 24/80/310/311, byte offsets, checksum verification,
//! writing, or annotations (see [`crate::io::annotation`]).
//!
//! Reference: the WFDB header format (<https://physionet.org/physiotools/wag/header-5.htm>) and
//! signal formats (<https://physionet.org/physiotools/wag/signal-5.htm>).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use ndarray::Array2;

use crate::io::IoError;
use crate::record::{Ecg, EcgMeta, LeadName, Sex};

/// WFDB's default sampling frequency when a header omits it (Hz).
pub const DEFAULT_FS_HZ: f64 = 250.0;
/// WFDB's default ADC gain when a signal line omits it (ADC units per physical unit).
pub const DEFAULT_GAIN: f64 = 200.0;

/// One signal line of a header.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalSpec {
    /// Signal file name, relative to the header's folder.
    pub file_name: String,
    /// Storage format (16, 212, 80, 24, ...).
    pub format: u16,
    /// Samples of this signal per frame (`16x2` gives 2); 1 when absent.
    pub samples_per_frame: u32,
    /// Skew in frames (`16:3`); 0 when absent.
    pub skew_frames: u32,
    /// Bytes to skip at the start of the signal file (`16+24`); 0 when absent.
    pub byte_offset: u64,
    /// ADC units per physical unit ([`DEFAULT_GAIN`] when absent; 0 means uncalibrated).
    pub adc_gain: f64,
    /// ADC value of 0 physical units (`1716(6)/mV` gives 6); defaults to `adc_zero`.
    pub baseline: i32,
    /// Physical units as written (`mV` when absent).
    pub units: String,
    /// ADC resolution in bits (0 or absent: the format's natural width).
    pub adc_resolution: u32,
    pub adc_zero: i32,
    /// First sample value (defaults to `adc_zero`).
    pub initial_value: i32,
    /// 16-bit checksum of all samples of the signal, when given.
    pub checksum: Option<i32>,
    pub block_size: u32,
    /// The signal's description (the lead name in ECG records).
    pub description: String,
}

/// A parsed WFDB header.
#[derive(Debug, Clone, PartialEq)]
pub struct WfdbHeader {
    /// The header file this came from.
    pub path: PathBuf,
    pub record_name: String,
    pub n_signals: usize,
    /// Sampling frequency (frames per second).
    pub fs_hz: f64,
    pub counter_freq_hz: Option<f64>,
    pub base_counter: Option<f64>,
    /// Samples per signal (frames), when the header gives it.
    pub n_samples: Option<u64>,
    pub base_time: Option<String>,
    pub base_date: Option<String>,
    pub signals: Vec<SignalSpec>,
    /// `#` comment lines, without the leading `#` and surrounding blanks, in order.
    pub comments: Vec<String>,
}

impl WfdbHeader {
    /// The folder holding the header (signal file names are relative to it).
    pub fn dir(&self) -> PathBuf {
        self.path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }
}

/// Read and parse a `.hea` file.
pub fn read_header(path: &Path) -> Result<WfdbHeader, IoError> {
    let bytes = std::fs::read(path).map_err(|e| IoError::os(path, e))?;
    let text = String::from_utf8_lossy(&bytes);
    parse_header(&text, path)
}

/// Parse header text; `path` is used for error messages and to locate signal files.
pub fn parse_header(text: &str, path: &Path) -> Result<WfdbHeader, IoError> {
    let err = |line_no: usize, msg: String| IoError::format(path, format!("line {line_no}: {msg}"));
    let mut comments = Vec::new();
    let mut record: Option<WfdbHeader> = None;
    let mut signals = Vec::new();
    for (index, raw_line) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = raw_line.trim();
        if let Some(comment) = line.strip_prefix('#') {
            comments.push(comment.trim().to_string());
            continue;
        }
        if line.is_empty() {
            continue;
        }
        match record {
            None => record = Some(parse_record_line(line, path).map_err(|m| err(line_no, m))?),
            Some(ref header) => {
                if signals.len() >= header.n_signals {
                    return Err(err(
                        line_no,
                        format!(
                            "more signal lines than the {} signals the record line declares",
                            header.n_signals
                        ),
                    ));
                }
                signals.push(parse_signal_line(line).map_err(|m| err(line_no, m))?);
            }
        }
    }
    let mut header =
        record.ok_or_else(|| IoError::format(path, "no record line (empty header)"))?;
    if signals.len() != header.n_signals {
        return Err(IoError::format(
            path,
            format!(
                "the record line declares {} signals but {} signal lines follow",
                header.n_signals,
                signals.len()
            ),
        ));
    }
    header.signals = signals;
    header.comments = comments;
    Ok(header)
}

fn parse_record_line(line: &str, path: &Path) -> Result<WfdbHeader, String> {
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let name = tokens[0];
    if name.contains('/') {
        return Err(format!(
            "record '{name}' is a multi-segment record, which is not supported"
        ));
    }
    let n_signals: usize = tokens
        .get(1)
        .ok_or("the record line lacks the number of signals")?
        .parse()
        .map_err(|_| format!("bad number of signals '{}'", tokens[1]))?;
    // A sanity cap: no real record has this many signals, and it bounds what we allocate.
    if n_signals > 4096 {
        return Err(format!("implausible number of signals {n_signals}"));
    }
    let mut header = WfdbHeader {
        path: path.to_path_buf(),
        record_name: name.to_string(),
        n_signals,
        fs_hz: DEFAULT_FS_HZ,
        counter_freq_hz: None,
        base_counter: None,
        n_samples: None,
        base_time: None,
        base_date: None,
        signals: Vec::new(),
        comments: Vec::new(),
    };
    if let Some(fs_token) = tokens.get(2) {
        let (fs_part, counter_part) = match fs_token.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (*fs_token, None),
        };
        header.fs_hz = parse_f64(fs_part, "sampling frequency")?;
        if !(header.fs_hz.is_finite() && header.fs_hz > 0.0) {
            return Err(format!("sampling frequency {fs_part} is not positive"));
        }
        if let Some(counter) = counter_part {
            let (freq, base) = split_parenthesised(counter)?;
            header.counter_freq_hz = Some(parse_f64(freq, "counter frequency")?);
            if let Some(base) = base {
                header.base_counter = Some(parse_f64(base, "base counter value")?);
            }
        }
    }
    if let Some(n) = tokens.get(3) {
        header.n_samples = Some(
            n.parse()
                .map_err(|_| format!("bad number of samples '{n}'"))?,
        );
    }
    header.base_time = tokens.get(4).map(|s| s.to_string());
    header.base_date = tokens.get(5).map(|s| s.to_string());
    Ok(header)
}

/// `a(b)` -> (`a`, Some(`b`)); `a` -> (`a`, None).
fn split_parenthesised(token: &str) -> Result<(&str, Option<&str>), String> {
    match token.split_once('(') {
        None => Ok((token, None)),
        Some((a, rest)) => {
            let inner = rest
                .strip_suffix(')')
                .ok_or_else(|| format!("unclosed parenthesis in '{token}'"))?;
            Ok((a, Some(inner)))
        }
    }
}

fn parse_f64(s: &str, what: &str) -> Result<f64, String> {
    let value: f64 = s.parse().map_err(|_| format!("bad {what} '{s}'"))?;
    if value.is_finite() {
        Ok(value)
    } else {
        Err(format!("bad {what} '{s}'"))
    }
}

fn parse_int<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("bad {what} '{s}'"))
}

/// The natural ADC resolution (bits) of a storage format.
fn natural_resolution(format: u16) -> u32 {
    match format {
        80 => 8,
        212 => 12,
        310 | 311 => 10,
        24 => 24,
        32 => 32,
        _ => 16,
    }
}

fn parse_signal_line(line: &str) -> Result<SignalSpec, String> {
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let file_name = tokens[0].to_string();
    let format_token = tokens.get(1).ok_or("the signal line lacks a format")?;
    // format[xSamplesPerFrame][:skew][+byteOffset]
    let digits_end = format_token
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(format_token.len());
    let format: u16 = parse_int(&format_token[..digits_end], "signal format")?;
    let mut samples_per_frame = 1u32;
    let mut skew_frames = 0u32;
    let mut byte_offset = 0u64;
    let mut rest = &format_token[digits_end..];
    while let Some(marker) = rest.chars().next() {
        if !matches!(marker, 'x' | ':' | '+') {
            return Err(format!("bad format field '{format_token}'"));
        }
        let body = &rest[1..];
        let end = body
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(body.len());
        let number = &body[..end];
        match marker {
            'x' => samples_per_frame = parse_int(number, "samples per frame")?,
            ':' => skew_frames = parse_int(number, "skew")?,
            '+' => byte_offset = parse_int(number, "byte offset")?,
            _ => return Err(format!("bad format field '{format_token}'")),
        }
        rest = &body[end..];
    }
    if samples_per_frame == 0 || samples_per_frame > 1 << 16 {
        return Err(format!("implausible samples per frame in '{format_token}'"));
    }
    let mut spec = SignalSpec {
        file_name,
        format,
        samples_per_frame,
        skew_frames,
        byte_offset,
        adc_gain: DEFAULT_GAIN,
        baseline: 0,
        units: "mV".to_string(),
        adc_resolution: natural_resolution(format),
        adc_zero: 0,
        initial_value: 0,
        checksum: None,
        block_size: 0,
        description: String::new(),
    };
    let mut baseline = None;
    if let Some(gain_token) = tokens.get(2) {
        let (gain_part, units) = match gain_token.split_once('/') {
            Some((g, u)) => (g, Some(u)),
            None => (*gain_token, None),
        };
        let (gain, base) = split_parenthesised(gain_part)?;
        spec.adc_gain = parse_f64(gain, "ADC gain")?;
        if let Some(base) = base {
            baseline = Some(parse_int::<i32>(base, "baseline")?);
        }
        if let Some(units) = units {
            spec.units = units.to_string();
        }
    }
    if let Some(t) = tokens.get(3) {
        let bits: u32 = parse_int(t, "ADC resolution")?;
        if bits != 0 {
            spec.adc_resolution = bits;
        }
    }
    if let Some(t) = tokens.get(4) {
        spec.adc_zero = parse_int(t, "ADC zero")?;
    }
    spec.initial_value = match tokens.get(5) {
        Some(t) => parse_int(t, "initial value")?,
        None => spec.adc_zero,
    };
    if let Some(t) = tokens.get(6) {
        spec.checksum = Some(parse_int(t, "checksum")?);
    }
    if let Some(t) = tokens.get(7) {
        spec.block_size = parse_int(t, "block size")?;
    }
    if tokens.len() > 8 {
        spec.description = tokens[8..].join(" ");
    }
    spec.baseline = baseline.unwrap_or(spec.adc_zero);
    Ok(spec)
}

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
        let dat_path = dir.join(file_name);
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
        let bytes = std::fs::read(&dat_path).map_err(|e| IoError::os(&dat_path, e))?;
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

/// Millivolts per physical unit, for the units WFDB ECG records use.
fn mv_per_unit(units: &str) -> Option<f64> {
    match units.trim() {
        "mV" | "mv" | "MV" | "" => Some(1.0),
        "uV" | "uv" | "µV" | "μV" => Some(1e-3),
        "V" | "v" => Some(1e3),
        _ => None,
    }
}

/// Read a record as an [`Ecg`] in mV: `(adc - baseline) / gain`, converted from the header's
/// units. Lead names are normalised; `meta.id` is the record name, `meta.source` the header;
/// age, sex, labels, fold and report are taken from `key: value` header comments when present
/// (see [`meta_from_comments`]).
pub fn read_record(hea_path: &Path) -> Result<Ecg, IoError> {
    let (header, adc) = read_adc(hea_path)?;
    ecg_from_adc(&header, &adc)
}

/// Convert raw ADC values (from [`read_signals`]) of a parsed header to an [`Ecg`].
pub fn ecg_from_adc(header: &WfdbHeader, adc: &[Vec<i32>]) -> Result<Ecg, IoError> {
    let hea = &header.path;
    let n_samples = adc.first().map_or(0, Vec::len);
    let mut samples = Array2::<f32>::zeros((header.signals.len(), n_samples));
    for (i, (s, values)) in header.signals.iter().zip(adc).enumerate() {
        if s.samples_per_frame != 1 {
            return Err(IoError::format(
                hea,
                format!(
                    "signal {i} ({}): {} samples per frame (multi-rate records are not supported)",
                    s.description, s.samples_per_frame
                ),
            ));
        }
        if s.adc_gain == 0.0 {
            return Err(IoError::format(
                hea,
                format!(
                    "signal {i} ({}): ADC gain is 0 (uncalibrated), cannot convert to mV",
                    s.description
                ),
            ));
        }
        let unit_mv = mv_per_unit(&s.units).ok_or_else(|| {
            IoError::format(
                hea,
                format!(
                    "signal {i} ({}): units '{}' are not a voltage",
                    s.description, s.units
                ),
            )
        })?;
        let missing = missing_value(s.format);
        let scale = unit_mv / s.adc_gain;
        for (j, &v) in values.iter().enumerate() {
            if Some(v) == missing {
                return Err(IoError::format(
                    header.dir().join(&s.file_name),
                    format!(
                        "signal {i} ({}): sample {j} is marked missing (value {v}); records with gaps are not supported",
                        s.description
                    ),
                ));
            }
            samples[[i, j]] = ((f64::from(v) - f64::from(s.baseline)) * scale) as f32;
        }
    }
    let mut meta = meta_from_comments(&header.comments);
    meta.id = header.record_name.clone();
    meta.source = Some(hea.clone());
    let leads = header
        .signals
        .iter()
        .map(|s| LeadName::parse(&s.description))
        .collect();
    Ecg::new(leads, header.fs_hz, samples, meta).map_err(|source| IoError::Record {
        path: hea.clone(),
        source,
    })
}

/// Metadata from header comments written as `key: value` (case-insensitive keys, optional
/// `<...>` around the key as in LUDB): `age`, `sex` (`M`/`F`/`male`/`female`), `labels`
/// (space-separated), `fold`, `report`. In LUDB headers the comments after `<diagnoses>:` are
/// joined into the report. Unknown keys are ignored.
pub fn meta_from_comments(comments: &[String]) -> EcgMeta {
    let mut meta = EcgMeta::default();
    let mut diagnoses: Option<Vec<String>> = None;
    for comment in comments {
        if let Some(lines) = diagnoses.as_mut() {
            if !comment.is_empty() {
                lines.push(comment.clone());
            }
            continue;
        }
        let Some((key, value)) = comment.split_once(':') else {
            continue;
        };
        let key = key
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_ascii_lowercase();
        let value = value.trim();
        match key.as_str() {
            "age" => meta.age_years = value.parse::<f32>().ok().filter(|a| a.is_finite()),
            "sex" => meta.sex = parse_sex(value),
            "labels" => meta.labels = value.split_whitespace().map(str::to_string).collect(),
            "fold" => meta.fold = value.parse().ok(),
            "report" => meta.report = Some(value.to_string()).filter(|r| !r.is_empty()),
            "diagnoses" if value.is_empty() => diagnoses = Some(Vec::new()),
            _ => {}
        }
    }
    if let Some(lines) = diagnoses.filter(|l| !l.is_empty()) {
        meta.report = Some(lines.join(" "));
    }
    meta
}

/// `M`, `F`, `male`, `female` (any case); anything else is unknown.
pub fn parse_sex(value: &str) -> Option<Sex> {
    match value.trim().to_ascii_lowercase().as_str() {
        "m" | "male" => Some(Sex::Male),
        "f" | "female" => Some(Sex::Female),
        _ => None,
    }
}

/// Settings of [`write_record`].
#[derive(Debug, Clone, PartialEq)]
pub struct WriteOptions {
    /// ADC units per mV. Default 1000 (1 µV resolution, ±32.767 mV range), as PTB-XL.
    pub gain_adc_per_mv: f64,
    /// Replace existing `.hea`/`.dat` files. Default false.
    pub overwrite: bool,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            gain_adc_per_mv: 1000.0,
            overwrite: false,
        }
    }
}

/// Write `ecg` as WFDB record `name` in `dir` (format 16, all leads in `name.dat`, checksums,
/// `# age:`, `# sex:`, `# labels:`, `# fold:`, `# report:` comments). Returns the header path.
/// Values round-trip within `0.5 / gain` mV; a value outside the 16-bit range is an error.
pub fn write_record(
    dir: &Path,
    name: &str,
    ecg: &Ecg,
    opts: &WriteOptions,
) -> Result<PathBuf, IoError> {
    let hea_path = dir.join(format!("{name}.hea"));
    let dat_name = format!("{name}.dat");
    let dat_path = dir.join(&dat_name);
    if name.is_empty()
        || name
            .chars()
            .any(|c| c.is_whitespace() || c == '/' || c == '\\')
    {
        return Err(IoError::format(
            &hea_path,
            format!("bad record name '{name}'"),
        ));
    }
    let gain = opts.gain_adc_per_mv;
    if !(gain.is_finite() && gain > 0.0) {
        return Err(IoError::format(
            &hea_path,
            format!("gain {gain} must be positive"),
        ));
    }
    if !opts.overwrite {
        for p in [&hea_path, &dat_path] {
            if p.exists() {
                return Err(IoError::format(
                    p,
                    "already exists (set overwrite to replace it)",
                ));
            }
        }
    }
    let n_leads = ecg.n_leads();
    let n_samples = ecg.n_samples();
    let mut adc = Array2::<i16>::zeros((n_leads, n_samples));
    for ((lead, j), &v) in ecg.samples_mv.indexed_iter() {
        let scaled = (f64::from(v) * gain).round();
        // -32768 is WFDB's "missing sample" marker in format 16, so it is excluded.
        if !(-32767.0..=32767.0).contains(&scaled) {
            return Err(IoError::format(
                &dat_path,
                format!(
                    "lead {} sample {j}: {v} mV is outside the format-16 range at gain {gain}/mV",
                    ecg.leads[lead]
                ),
            ));
        }
        adc[[lead, j]] = scaled as i16;
    }
    let mut dat = Vec::with_capacity(n_leads * n_samples * 2);
    for j in 0..n_samples {
        for lead in 0..n_leads {
            dat.extend_from_slice(&adc[[lead, j]].to_le_bytes());
        }
    }
    let mut hea = format!("{name} {n_leads} {} {n_samples}\n", ecg.fs_hz);
    for (lead, lead_name) in ecg.leads.iter().enumerate() {
        let row = adc.row(lead);
        let sum: i64 = row.iter().map(|&v| i64::from(v)).sum();
        let checksum = (sum & 0xffff) as u16 as i16;
        let initial = row.first().copied().unwrap_or(0);
        let _ = writeln!(
            hea,
            "{dat_name} 16 {gain}(0)/mV 16 0 {initial} {checksum} 0 {}",
            lead_name.as_str().replace(['\n', '\r'], " ")
        );
    }
    let meta = &ecg.meta;
    let one_line = |s: &str| s.replace(['\n', '\r'], " ");
    if let Some(age) = meta.age_years {
        let _ = writeln!(hea, "# age: {age}");
    }
    if let Some(sex) = meta.sex {
        let _ = writeln!(hea, "# sex: {}", if sex == Sex::Male { "M" } else { "F" });
    }
    if !meta.labels.is_empty() {
        let _ = writeln!(hea, "# labels: {}", one_line(&meta.labels.join(" ")));
    }
    if let Some(fold) = meta.fold {
        let _ = writeln!(hea, "# fold: {fold}");
    }
    if let Some(report) = &meta.report {
        let _ = writeln!(hea, "# report: {}", one_line(report));
    }
    std::fs::create_dir_all(dir).map_err(|e| IoError::os(dir, e))?;
    std::fs::write(&dat_path, &dat).map_err(|e| IoError::os(&dat_path, e))?;
    std::fs::write(&hea_path, hea).map_err(|e| IoError::os(&hea_path, e))?;
    Ok(hea_path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_format_and_gain_fields() {
        let s = parse_signal_line("r.dat 212x2:3+24 1716(6)/uV 12 1024 995 -22131 0 lead V1 x")
            .unwrap();
        assert_eq!(
            (s.format, s.samples_per_frame, s.skew_frames, s.byte_offset),
            (212, 2, 3, 24)
        );
        assert_eq!(
            (s.adc_gain, s.baseline, s.units.as_str()),
            (1716.0, 6, "uV")
        );
        assert_eq!(
            (s.adc_resolution, s.adc_zero, s.initial_value),
            (12, 1024, 995)
        );
        assert_eq!((s.checksum, s.block_size), (Some(-22131), 0));
        assert_eq!(s.description, "lead V1 x");
        let s = parse_signal_line("r.dat 16").unwrap();
        assert_eq!(
            (s.adc_gain, s.baseline, s.checksum),
            (DEFAULT_GAIN, 0, None)
        );
    }

    #[test]
    fn parses_record_line_with_counter_frequency() {
        let h = parse_header(
            "rec 0 360/720(5) 100 10:00:00 01/01/2000\n",
            Path::new("x.hea"),
        )
        .unwrap();
        assert_eq!(h.fs_hz, 360.0);
        assert_eq!(h.counter_freq_hz, Some(720.0));
        assert_eq!(h.base_counter, Some(5.0));
        assert_eq!(h.n_samples, Some(100));
        assert_eq!(h.base_time.as_deref(), Some("10:00:00"));
        assert_eq!(h.base_date.as_deref(), Some("01/01/2000"));
    }

    #[test]
    fn decodes_212_310_311_24_80() {
        // 212: samples 0x123 and -1 (0xfff): b0 = 0x23, b1 = (0xf << 4) | 0x1, b2 = 0xff
        assert_eq!(
            decode_samples(212, &[0x23, 0xf1, 0xff], 2).unwrap(),
            vec![0x123, -1]
        );
        assert_eq!(
            decode_samples(24, &[0xff, 0xff, 0xff, 1, 0, 0], 2).unwrap(),
            vec![-1, 1]
        );
        assert_eq!(
            decode_samples(80, &[0, 128, 255], 3).unwrap(),
            vec![-128, 0, 127]
        );
        // 311: 1, -1, 5 packed in bits 0-9, 10-19, 20-29
        let w: u32 = 1 | (0x3ff << 10) | (5 << 20);
        assert_eq!(
            decode_samples(311, &w.to_le_bytes(), 3).unwrap(),
            vec![1, -1, 5]
        );
        // 310: s0 = 3, s1 = -2, s2 = 0x2a5 (-347): low 5 bits in w0 bits 11-15, high in w1
        let s2: u32 = 0x2a5;
        let w0 = ((3u32 << 1) | ((s2 & 0x1f) << 11)) as u16;
        let w1 = (((0x3feu32) << 1) | ((s2 >> 5) << 11)) as u16;
        let mut b = w0.to_le_bytes().to_vec();
        b.extend_from_slice(&w1.to_le_bytes());
        assert_eq!(
            decode_samples(310, &b, 3).unwrap(),
            vec![3, -2, 0x2a5 - 1024]
        );
        assert!(decode_samples(212, &[1, 2], 2).is_err());
        assert!(decode_samples(99, &[1, 2], 1).is_err());
    }

    #[test]
    fn ludb_style_comments_give_meta() {
        let c: Vec<String> = [
            "<age>: 51",
            "<sex>: F",
            "<diagnoses>:",
            "Rhythm: Sinus.",
            "LVH.",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let m = meta_from_comments(&c);
        assert_eq!(m.age_years, Some(51.0));
        assert_eq!(m.sex, Some(Sex::Female));
        assert_eq!(m.report.as_deref(), Some("Rhythm: Sinus. LVH."));
    }
}
