//! Byte-level mutations of real files for the parsers' proptests (`tests/io.rs`,
//! `tests/formats.rs`): overwrite, insert, delete, truncate, and a plausible but wrong 32-bit
//! number written into a binary header.

use proptest::prelude::*;

/// One edit of a byte string.
#[derive(Debug, Clone)]
pub enum Edit {
    Set(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
    /// A little-endian 32-bit value at a byte of the first 600 (where every binary header read
    /// by the project sits): a count or a length that is wrong but looks like one.
    Word(usize, u32),
}

/// One to seven edits.
pub fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Set(i, b)),
        2 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
        2 => any::<usize>().prop_map(Edit::Delete),
        1 => any::<usize>().prop_map(Edit::Truncate),
        2 => (0usize..600, any::<u32>()).prop_map(|(i, v)| Edit::Word(i, v)),
    ];
    proptest::collection::vec(edit, 1..8)
}

/// `src` with the edits applied in turn (positions taken modulo the current length).
pub fn mutate(src: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut b = src.to_vec();
    for e in edits {
        let n = b.len().max(1);
        match *e {
            Edit::Set(i, v) if !b.is_empty() => b[i % n] = v,
            Edit::Insert(i, v) => b.insert(i % (b.len() + 1), v),
            Edit::Delete(i) if !b.is_empty() => {
                b.remove(i % n);
            }
            Edit::Truncate(i) => b.truncate(i % n),
            Edit::Word(i, v) if i + 4 <= b.len() => b[i..i + 4].copy_from_slice(&v.to_le_bytes()),
            _ => {}
        }
    }
    b
}

/// Header text mutations that keep it text: digits and separators changed, so the parser sees
/// plausible but wrong numbers (huge counts, negative gains, odd formats, a `~` file or segment).
pub fn text_edits() -> impl Strategy<Value = Vec<(usize, char)>> {
    proptest::collection::vec(
        (
            any::<usize>(),
            proptest::sample::select(vec![
                '0', '9', '1', '-', ' ', '(', ')', '/', '+', 'x', ':', '\n', '#', '~', '.', 'é',
            ]),
        ),
        1..6,
    )
}

/// `src` with the characters at the edits' positions (modulo its length) replaced.
pub fn mutate_text(src: &str, edits: &[(usize, char)]) -> String {
    let mut chars: Vec<char> = src.chars().collect();
    for &(i, c) in edits {
        let n = chars.len().max(1);
        if chars.is_empty() {
            chars.push(c);
        } else {
            chars[i % n] = c;
        }
    }
    chars.into_iter().collect()
}
