//! WFDB annotation files in the MIT binary format (`.atr`, LUDB's per-lead `.i`, `.v1`, ...).
//!
//! The file is a sequence of 16-bit little-endian words: the top 6 bits are a code `A`, the low
//! 10 bits a value `I`. For an annotation (`A` in 1..=49) `I` is the time since the previous
//! annotation; pseudo-codes modify it: SKIP (59, followed by a 32-bit interval stored high word
//! first), NUM (60), SUB (61), CHN (62) and AUX (63, `I` bytes of text padded to an even
//! length). `A = 0, I = 0` ends the file. NUM and CHN carry over to later annotations, as in
//! the WFDB library. Written here, not taken from a crate: see [`crate::io::wfdb`].
//!
//! The preamble some writers put first is metadata, not annotations (as wfdb-python reads it):
//! NOTE annotations (`"`) at sample 0 carry `## time resolution: N` (the ticks per second the
//! sample numbers count, when not the record's frame rate) and a custom label table between
//! `## annotation type definitions` and `## end of definitions` (`code symbol description`
//! per note); they and every code-0 entry are taken out of the annotation list.

use std::path::Path;

use crate::io::IoError;

const SKIP: u8 = 59;
const NUM: u8 = 60;
const SUB: u8 = 61;
const CHN: u8 = 62;
const AUX: u8 = 63;
/// Highest code of a real annotation (WFDB's ACMAX).
pub const MAX_CODE: u8 = 49;

/// One annotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    /// Sample index (frames from the record start).
    pub sample: u64,
    /// Mnemonic (`N`, `p`, `t`, `(`, `)`, ...); `[c]` for a code without a standard symbol.
    pub symbol: String,
    /// Annotation code (WFDB `anntyp`), 0..=49.
    pub code: u8,
    pub subtype: i8,
    pub chan: u8,
    pub num: i8,
    pub aux: Option<String>,
}

impl Annotation {
    /// An annotation with the code of a standard symbol (subtype, chan, num 0, no aux), or
    /// `None` if the symbol is not in the standard table.
    pub fn new(sample: u64, symbol: &str) -> Option<Annotation> {
        let code = code_for_symbol(symbol)?;
        Some(Annotation {
            sample,
            symbol: symbol.to_string(),
            code,
            subtype: 0,
            chan: 0,
            num: 0,
            aux: None,
        })
    }
}

/// The standard WFDB code table (ecgcodes.h / ecgmap): code -> mnemonic.
/// Codes 15, 17 and 42..=49 have no standard mnemonic: they read as `[15]` etc.
const SYMBOLS: [(u8, &str); 40] = [
    (0, " "),
    (1, "N"),
    (2, "L"),
    (3, "R"),
    (4, "a"),
    (5, "V"),
    (6, "F"),
    (7, "J"),
    (8, "A"),
    (9, "S"),
    (10, "E"),
    (11, "j"),
    (12, "/"),
    (13, "Q"),
    (14, "~"),
    (16, "|"),
    (18, "s"),
    (19, "T"),
    (20, "*"),
    (21, "D"),
    (22, "\""),
    (23, "="),
    (24, "p"),
    (25, "B"),
    (26, "^"),
    (27, "t"),
    (28, "+"),
    (29, "u"),
    (30, "?"),
    (31, "!"),
    (32, "["),
    (33, "]"),
    (34, "e"),
    (35, "n"),
    (36, "@"),
    (37, "x"),
    (38, "f"),
    (39, "("),
    (40, ")"),
    (41, "r"),
];

/// The mnemonic of a code (`[c]` for codes without one).
pub fn symbol_for_code(code: u8) -> String {
    SYMBOLS
        .iter()
        .find(|(c, _)| *c == code)
        .map_or_else(|| format!("[{code}]"), |(_, s)| s.to_string())
}

/// The code of a mnemonic (also accepts `[c]` for any code 0..=49).
pub fn code_for_symbol(symbol: &str) -> Option<u8> {
    if let Some(&(code, _)) = SYMBOLS.iter().find(|(_, s)| *s == symbol) {
        return Some(code);
    }
    let inner = symbol.strip_prefix('[')?.strip_suffix(']')?;
    inner.parse::<u8>().ok().filter(|c| *c <= MAX_CODE)
}

/// A custom annotation label defined in a file's preamble.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomLabel {
    pub code: u8,
    pub symbol: String,
    pub description: String,
}

/// An annotation file: its annotations and the metadata of its preamble.
#[derive(Debug, Clone, PartialEq)]
pub struct AnnotationFile {
    /// The annotations, preamble notes and code-0 entries taken out; a code with a custom label
    /// carries that label's symbol.
    pub annotations: Vec<Annotation>,
    /// `## time resolution: N`: ticks per second the sample numbers count, when given.
    pub time_resolution_hz: Option<f64>,
    pub custom_labels: Vec<CustomLabel>,
}

const NOTE: u8 = 22;
const TIME_RESOLUTION: &str = "## time resolution:";
const DEFINITIONS_START: &str = "## annotation type definitions";
const DEFINITIONS_END: &str = "## end of definitions";

/// Read an annotation file, sample numbers in frames of its record: when the preamble gives a
/// time resolution other than the record's frame rate, the samples are converted (rounded to
/// the nearest frame), the frame rate read from the record's header beside the file
/// (`NAME.hea` for `NAME.EXT`); without that header such a file is an error.
pub fn read_annotations(path: &Path) -> Result<Vec<Annotation>, IoError> {
    let file = read_annotation_file(path)?;
    let Some(ticks_hz) = file.time_resolution_hz else {
        return Ok(file.annotations);
    };
    let hea = path.with_extension("hea");
    let header = crate::io::wfdb::read_header(&hea).map_err(|e| {
        IoError::format(
            path,
            format!(
                "the file counts time at {ticks_hz} ticks/s; converting to the record's frames needs its header: {e}"
            ),
        )
    })?;
    Ok(to_frames(file.annotations, ticks_hz, header.fs_hz))
}

/// Annotations counted at `ticks_hz` converted to frames at `fs_hz` (nearest frame).
pub fn to_frames(mut annotations: Vec<Annotation>, ticks_hz: f64, fs_hz: f64) -> Vec<Annotation> {
    if (ticks_hz - fs_hz).abs() <= 1e-9 * fs_hz {
        return annotations;
    }
    for a in &mut annotations {
        a.sample = (a.sample as f64 * fs_hz / ticks_hz).round() as u64;
    }
    annotations
}

/// Read an annotation file with its preamble metadata; sample numbers as stored.
pub fn read_annotation_file(path: &Path) -> Result<AnnotationFile, IoError> {
    let bytes = crate::io::files::read_regular_file(path, crate::io::files::MAX_SIGNAL_BYTES)?;
    parse_annotation_file(&bytes).map_err(|m| IoError::format(path, m))
}

/// Parse annotation bytes (MIT format), the preamble taken out (see [`parse_annotation_file`]);
/// sample numbers as stored.
pub fn parse_annotations(bytes: &[u8]) -> Result<Vec<Annotation>, String> {
    parse_annotation_file(bytes).map(|f| f.annotations)
}

/// Parse annotation bytes with their preamble: NOTE entries at sample 0 are read as metadata
/// and, with every code-0 entry, left out of the annotations (as wfdb-python's `rdann`).
pub fn parse_annotation_file(bytes: &[u8]) -> Result<AnnotationFile, String> {
    let all = parse_entries(bytes)?;
    let mut file = AnnotationFile {
        annotations: Vec::with_capacity(all.len()),
        time_resolution_hz: None,
        custom_labels: Vec::new(),
    };
    let mut in_definitions = false;
    for a in all {
        if a.code == 0 {
            continue;
        }
        if a.code != NOTE || a.sample != 0 {
            file.annotations.push(a);
            continue;
        }
        let text = a.aux.as_deref().unwrap_or("").trim_end_matches('\0');
        if in_definitions {
            if text == DEFINITIONS_END {
                in_definitions = false;
            } else {
                file.custom_labels.push(parse_custom_label(text)?);
            }
        } else if text == DEFINITIONS_START {
            in_definitions = true;
        } else if let Some(value) = text.strip_prefix(TIME_RESOLUTION) {
            let hz: f64 = value
                .trim()
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite() && *v > 0.0)
                .ok_or_else(|| format!("bad time resolution '{}'", value.trim()))?;
            file.time_resolution_hz.get_or_insert(hz);
        }
    }
    if in_definitions {
        return Err(format!("the custom label table has no '{DEFINITIONS_END}'"));
    }
    for a in &mut file.annotations {
        if let Some(label) = file.custom_labels.iter().find(|l| l.code == a.code) {
            a.symbol = label.symbol.clone();
        }
    }
    Ok(file)
}

/// `code symbol description` of a custom label table.
fn parse_custom_label(text: &str) -> Result<CustomLabel, String> {
    let bad = || format!("bad custom label definition '{text}'");
    let mut parts = text.splitn(3, ' ');
    let code: u8 = parts
        .next()
        .and_then(|c| c.parse().ok())
        .filter(|c| (1..=MAX_CODE).contains(c))
        .ok_or_else(bad)?;
    let symbol = parts.next().filter(|s| !s.is_empty()).ok_or_else(bad)?;
    let description = parts.next().filter(|s| !s.is_empty()).ok_or_else(bad)?;
    Ok(CustomLabel {
        code,
        symbol: symbol.to_string(),
        description: description.to_string(),
    })
}

/// Every entry of an annotation file, preamble and code 0 included. A missing end marker is
/// accepted at the end of the data (some writers omit it); a truncated SKIP or AUX is an error.
fn parse_entries(bytes: &[u8]) -> Result<Vec<Annotation>, String> {
    let mut out: Vec<Annotation> = Vec::new();
    let mut pos = 0usize;
    let mut time: u64 = 0;
    let mut chan: u8 = 0;
    let mut num: i8 = 0;
    // A SKIP before the next annotation word adds to the time.
    let mut pending_skip: i64 = 0;
    let word_at = |p: usize| -> Option<u16> {
        Some(u16::from_le_bytes([*bytes.get(p)?, *bytes.get(p + 1)?]))
    };
    while pos + 1 < bytes.len() {
        let word = word_at(pos).ok_or("truncated word")?;
        let byte_pos = pos;
        pos += 2;
        let code = (word >> 10) as u8;
        let value = word & 0x3ff;
        match code {
            0 if value == 0 => return Ok(out),
            SKIP => {
                let hi = word_at(pos).ok_or(format!("byte {byte_pos}: truncated SKIP"))?;
                let lo = word_at(pos + 2).ok_or(format!("byte {byte_pos}: truncated SKIP"))?;
                pos += 4;
                pending_skip += i64::from((u32::from(hi) << 16 | u32::from(lo)) as i32);
            }
            NUM | SUB | CHN | AUX => {
                let last = out.last_mut().ok_or(format!(
                    "byte {byte_pos}: modifier code {code} before any annotation"
                ))?;
                match code {
                    NUM => {
                        num = value as u8 as i8;
                        last.num = num;
                    }
                    SUB => last.subtype = value as u8 as i8,
                    CHN => {
                        chan = value as u8;
                        last.chan = chan;
                    }
                    _ => {
                        let len = usize::from(value);
                        let text = bytes
                            .get(pos..pos + len)
                            .ok_or(format!("byte {byte_pos}: truncated AUX of {len} bytes"))?;
                        pos += len + (len & 1);
                        // WFDB stores the string with a terminating NUL sometimes; drop it.
                        let text = text.split(|&b| b == 0).next().unwrap_or(&[]);
                        last.aux = Some(String::from_utf8_lossy(text).into_owned());
                    }
                }
            }
            c if c <= MAX_CODE => {
                let next = time as i64 + pending_skip + i64::from(value);
                if next < 0 {
                    return Err(format!("byte {byte_pos}: annotation time before the start"));
                }
                pending_skip = 0;
                time = next as u64;
                out.push(Annotation {
                    sample: time,
                    symbol: symbol_for_code(c),
                    code: c,
                    subtype: 0,
                    chan,
                    num,
                    aux: None,
                });
            }
            other => return Err(format!("byte {byte_pos}: unknown annotation code {other}")),
        }
    }
    Ok(out)
}

/// Write annotations in the MIT format. The `code` field is stored (a standard `symbol` must
/// agree with it; see [`Annotation::new`]). Samples must not decrease; codes must be 0..=49
/// (code 0 only at a positive time increment, since `0 0` marks the end); AUX text at most
/// 1023 bytes.
/// Refuses to replace an existing file unless `overwrite`.
pub fn write_annotations(
    path: &Path,
    annotations: &[Annotation],
    overwrite: bool,
) -> Result<(), IoError> {
    if !overwrite && path.exists() {
        return Err(IoError::format(
            path,
            "already exists (set overwrite to replace it)",
        ));
    }
    let bytes = encode_annotations(annotations).map_err(|m| IoError::format(path, m))?;
    crate::io::files::write_atomic(path, &bytes, overwrite)
}

/// Encode annotations (see [`write_annotations`]).
pub fn encode_annotations(annotations: &[Annotation]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(annotations.len() * 4 + 2);
    let put = |out: &mut Vec<u8>, code: u8, value: u16| {
        out.extend_from_slice(&((u16::from(code) << 10) | (value & 0x3ff)).to_le_bytes());
    };
    let mut time: u64 = 0;
    let mut chan: u8 = 0;
    let mut num: i8 = 0;
    for (i, a) in annotations.iter().enumerate() {
        if a.code > MAX_CODE {
            return Err(format!(
                "annotation {i}: code {} is above {MAX_CODE}",
                a.code
            ));
        }
        // The code is what is stored; a standard symbol that disagrees with it is a caller's
        // mistake worth reporting rather than silently writing the wrong wave type.
        if let Some(expected) = code_for_symbol(&a.symbol).filter(|c| *c != a.code) {
            return Err(format!(
                "annotation {i}: symbol '{}' has code {expected}, but the code field is {}",
                a.symbol, a.code
            ));
        }
        if a.sample < time {
            return Err(format!(
                "annotation {i}: sample {} comes before the previous one ({time})",
                a.sample
            ));
        }
        let delta = a.sample - time;
        if a.code == 0 && delta == 0 {
            return Err(format!(
                "annotation {i}: code 0 at no time increment would read as the end"
            ));
        }
        if delta > 1023 {
            let skip = i32::try_from(delta)
                .map_err(|_| format!("annotation {i}: gap of {delta} samples is too long"))?;
            put(&mut out, SKIP, 0);
            let skip = skip as u32;
            out.extend_from_slice(&((skip >> 16) as u16).to_le_bytes());
            out.extend_from_slice(&(skip as u16).to_le_bytes());
            // code 0 with value 0 would read as the end marker
            if a.code == 0 {
                return Err(format!(
                    "annotation {i}: code 0 after a long gap cannot be written"
                ));
            }
            put(&mut out, a.code, 0);
        } else {
            put(&mut out, a.code, delta as u16);
        }
        time = a.sample;
        if a.subtype != 0 {
            put(&mut out, SUB, u16::from(a.subtype as u8));
        }
        if a.chan != chan {
            put(&mut out, CHN, u16::from(a.chan));
            chan = a.chan;
        }
        if a.num != num {
            put(&mut out, NUM, u16::from(a.num as u8));
            num = a.num;
        }
        if let Some(aux) = &a.aux {
            let text = aux.as_bytes();
            if text.len() > 1023 {
                return Err(format!("annotation {i}: aux text longer than 1023 bytes"));
            }
            put(&mut out, AUX, text.len() as u16);
            out.extend_from_slice(text);
            if text.len() % 2 == 1 {
                out.push(0);
            }
        }
    }
    out.extend_from_slice(&[0, 0]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_map_both_ways() {
        for (code, sym) in [
            (1, "N"),
            (24, "p"),
            (27, "t"),
            (29, "u"),
            (39, "("),
            (40, ")"),
        ] {
            assert_eq!(symbol_for_code(code), sym);
            assert_eq!(code_for_symbol(sym), Some(code));
        }
        assert_eq!(symbol_for_code(15), "[15]");
        assert_eq!(code_for_symbol("[15]"), Some(15));
        assert_eq!(code_for_symbol("[60]"), None);
        assert_eq!(code_for_symbol("zz"), None);
    }

    #[test]
    fn round_trips_skip_sub_chn_num_aux() {
        let mut a = vec![
            Annotation::new(5, "N").unwrap(),
            Annotation::new(5000, "(").unwrap(),
            Annotation::new(5000, "N").unwrap(),
            Annotation::new(70_000_000, "+").unwrap(),
        ];
        a[1].subtype = -3;
        a[1].chan = 2;
        a[2].chan = 2;
        a[2].num = -7;
        a[3].num = -7;
        a[3].aux = Some("(AFIB".into());
        let bytes = encode_annotations(&a).unwrap();
        assert_eq!(parse_annotations(&bytes).unwrap(), a);
    }

    #[test]
    fn symbol_code_disagreement_is_refused() {
        let mut a = Annotation::new(9, "p").unwrap();
        a.code = 27;
        assert!(
            encode_annotations(&[a])
                .unwrap_err()
                .contains("'p' has code 24")
        );
    }

    #[test]
    fn decreasing_samples_are_refused() {
        let a = vec![
            Annotation::new(9, "N").unwrap(),
            Annotation::new(3, "N").unwrap(),
        ];
        assert!(encode_annotations(&a).unwrap_err().contains("annotation 1"));
    }
}
