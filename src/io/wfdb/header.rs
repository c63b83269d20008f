//! The header (`.hea`): record line, signal lines and comments.

use std::path::{Path, PathBuf};

use crate::io::IoError;

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

/// One segment of a multi-segment record (a line after the record line of a master header).
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// The segment's record name (its header is `NAME.hea` beside the master header); `~` is
    /// a gap of `n_samples` frames without data.
    pub record_name: String,
    /// Frames in the segment; a first segment of 0 frames is the layout header of a
    /// variable-layout record (it names the signals, holds no samples).
    pub n_samples: u64,
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
    /// Signal lines (empty in a multi-segment master header).
    pub signals: Vec<SignalSpec>,
    /// The segments of a multi-segment record (`name/n_segments` on the record line), in order.
    pub segments: Option<Vec<Segment>>,
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
    let bytes = crate::io::files::read_regular_file(path, crate::io::files::MAX_TEXT_BYTES)?;
    let text = String::from_utf8_lossy(&bytes);
    parse_header(&text, path)
}

/// Parse header text; `path` is used for error messages and to locate signal files.
pub fn parse_header(text: &str, path: &Path) -> Result<WfdbHeader, IoError> {
    let err = |line_no: usize, msg: String| IoError::format(path, format!("line {line_no}: {msg}"));
    let mut comments = Vec::new();
    let mut record: Option<WfdbHeader> = None;
    let mut signals = Vec::new();
    let mut segments = Vec::new();
    let mut declared_segments = 0usize;
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
            None => {
                let (header, n_segments) =
                    parse_record_line(line, path).map_err(|m| err(line_no, m))?;
                declared_segments = n_segments.unwrap_or(0);
                record = Some(header);
            }
            Some(ref header) if header.segments.is_some() => {
                let expected = declared_segments;
                if segments.len() >= expected {
                    return Err(err(
                        line_no,
                        format!(
                            "more segment lines than the {expected} segments the record line declares"
                        ),
                    ));
                }
                segments.push(parse_segment_line(line).map_err(|m| err(line_no, m))?);
            }
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
    if header.segments.is_some() {
        let declared = declared_segments;
        if segments.len() != declared {
            return Err(IoError::format(
                path,
                format!(
                    "the record line declares {declared} segments but {} segment lines follow",
                    segments.len()
                ),
            ));
        }
        header.segments = Some(segments);
        header.comments = comments;
        return Ok(header);
    }
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

/// The record line, and the number of segments it declares for a multi-segment record.
fn parse_record_line(line: &str, path: &Path) -> Result<(WfdbHeader, Option<usize>), String> {
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let (name, segments) = match tokens[0].split_once('/') {
        Some((name, n)) => {
            let n_segments: usize = parse_int(n, "number of segments")?;
            // Bounds what is allocated before the segment lines are seen.
            if n_segments == 0 || n_segments > 100_000 {
                return Err(format!("implausible number of segments {n_segments}"));
            }
            (name, Some(n_segments))
        }
        None => (tokens[0], None),
    };
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
        segments: segments.map(|_| Vec::new()),
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
    Ok((header, segments))
}

/// `name n_samples`: one segment of a multi-segment master header.
fn parse_segment_line(line: &str) -> Result<Segment, String> {
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let record_name = tokens[0].to_string();
    let n_samples = parse_int(
        tokens
            .get(1)
            .ok_or("the segment line lacks its number of samples")?,
        "segment length",
    )?;
    if record_name != "~" && record_name.chars().any(|c| c == '/' || c == '\\') {
        return Err(format!("bad segment name '{record_name}'"));
    }
    Ok(Segment {
        record_name,
        n_samples,
    })
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
        8 | 80 | 508 => 8,
        212 => 12,
        516 => 16,
        524 => 24,
        310 | 311 => 10,
        24 => 24,
        32 => 32,
        _ => 16,
    }
}

pub(super) fn parse_signal_line(line: &str) -> Result<SignalSpec, String> {
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
