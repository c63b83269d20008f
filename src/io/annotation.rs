//! WFDB annotation files in the MIT binary format (`.atr`, LUDB's per-lead `.i`, `.v1`, ...).
//!
//! The file is a sequence of 16-bit little-endian words: the top 6 bits are a code `A`, the low
//! 10 bits a value `I`. For an annotation (`A` in 1..=49) `I` is the time since the previous
//! annotation; pseudo-codes modify it: SKIP (59, followed by a 32-bit interval stored high word
//! first), NUM (60), SUB (61), CHN (62) and AUX (63, `I` bytes of text padded to an even
//! length). `A = 0, I = 0` ends the file. NUM and CHN carry over to later annotations, as in
//! the WFDB library. Written here, not taken from a crate: see [`crate::io::wfdb`].

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

/// Read an annotation file.
pub fn read_annotations(path: &Path) -> Result<Vec<Annotation>, IoError> {
    let bytes = crate::io::files::read_regular_file(path, crate::io::files::MAX_SIGNAL_BYTES)?;
    parse_annotations(&bytes).map_err(|m| IoError::format(path, m))
}

/// Parse annotation bytes (MIT format). A missing end marker is accepted at the end of the data
/// (some writers omit it); a truncated SKIP or AUX is an error.
pub fn parse_annotations(bytes: &[u8]) -> Result<Vec<Annotation>, String> {
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
