//! A walk over the element and item headers of a DICOM file, before dicom-rs reads it:
//! dicom-rs allocates each value at the length its header states, so a corrupt length
//! (4 GB in a 300 kB file) would be allocated and zero-filled before the read fails. Every
//! defined length is checked here against the bytes left in its container; headers are decoded
//! by dicom-rs' own decoders (`dicom-encoding`), so both read the same structure.

use dicom_core::header::{DataElementHeader, SequenceItemHeader};
use dicom_core::{Tag, VR};
use dicom_encoding::decode::Decode;
use dicom_encoding::decode::explicit_be::ExplicitVRBigEndianDecoder;
use dicom_encoding::decode::explicit_le::ExplicitVRLittleEndianDecoder;
use dicom_encoding::decode::implicit_le::StandardImplicitVRLittleEndianDecoder;

/// Sequences nested deeper than this are refused (no ECG object comes near it).
const MAX_DEPTH: usize = 32;

const TRANSFER_SYNTAX_UID: Tag = Tag(0x0002, 0x0010);
const ITEM: Tag = Tag(0xFFFE, 0xE000);
const ITEM_DELIMITER: Tag = Tag(0xFFFE, 0xE00D);
const PIXEL_DATA: Tag = Tag(0x7FE0, 0x0010);

/// Check the lengths of `body`: the file from its `DICM` magic on. The error says where and what.
pub(super) fn check(body: &[u8]) -> Result<(), String> {
    let data = body
        .strip_prefix(b"DICM")
        .ok_or("no DICM magic at byte 128")?;
    // file meta group (0002): always explicit VR little endian
    let meta = ExplicitVRLittleEndianDecoder::default();
    let mut pos = 0;
    let mut transfer_syntax = None;
    while data.get(pos..pos + 2) == Some(&[0x02, 0x00]) {
        let (header, value) = element(&meta, data, &mut pos)?;
        if header.tag == TRANSFER_SYNTAX_UID {
            transfer_syntax = value.map(|v| {
                String::from_utf8_lossy(v)
                    .trim_end_matches(['\0', ' '])
                    .to_string()
            });
        }
    }
    let transfer_syntax = transfer_syntax.ok_or("no Transfer Syntax UID (0002,0010)")?;
    let rest = &data[pos..];
    match transfer_syntax.as_str() {
        "1.2.840.10008.1.2" => elements(&StandardImplicitVRLittleEndianDecoder::default(), rest, 0),
        "1.2.840.10008.1.2.2" => elements(&ExplicitVRBigEndianDecoder::default(), rest, 0),
        "1.2.840.10008.1.2.1.99" => Err("deflated transfer syntax is not supported".into()),
        // every other (explicit VR little endian and the compressed image syntaxes, whose
        // data set is explicit VR little endian)
        _ => elements(&ExplicitVRLittleEndianDecoder::default(), rest, 0),
    }
    .map(|_| ())
}

/// Decode one element header at `pos`, move past it and its value (checked to be there).
/// Returns the header and, for a defined length, the value's bytes.
fn element<'a>(
    dec: &impl Decode,
    data: &'a [u8],
    pos: &mut usize,
) -> Result<(DataElementHeader, Option<&'a [u8]>), String> {
    let at = *pos;
    let mut source = data.get(at..).unwrap_or(&[]);
    let (header, header_len) = dec
        .decode_header(&mut source)
        .map_err(|e| format!("element header at byte {}: {e}", at + 132))?;
    *pos = at + header_len;
    let Some(len) = header.len.get() else {
        return Ok((header, None));
    };
    let value = take(data, pos, len, || format!("element {}", header.tag))?;
    Ok((header, Some(value)))
}

/// `len` bytes at `pos`, or an error naming `what` when fewer are left.
fn take<'a>(
    data: &'a [u8],
    pos: &mut usize,
    len: u32,
    what: impl Fn() -> String,
) -> Result<&'a [u8], String> {
    let start = *pos;
    let value = start
        .checked_add(len as usize)
        .and_then(|end| data.get(start..end))
        .ok_or_else(|| {
            format!(
                "{} at byte {} declares {len} bytes, {} are left",
                what(),
                start + 132,
                data.len().saturating_sub(start)
            )
        })?;
    *pos = start + len as usize;
    Ok(value)
}

/// The elements of a data set (or of an item) in `data` from its start: to its end, or, when
/// `data` goes on past an undefined-length item, up to and including the item delimiter.
/// Returns the position after the last byte read.
fn elements(dec: &impl Decode, data: &[u8], depth: usize) -> Result<usize, String> {
    if depth > MAX_DEPTH {
        return Err(format!("sequences nested deeper than {MAX_DEPTH}"));
    }
    let mut pos = 0;
    while pos < data.len() {
        let (header, value) = element(dec, data, &mut pos)?;
        if header.tag == ITEM_DELIMITER {
            return Ok(pos);
        }
        if header.tag.0 == 0xFFFE {
            return Err(format!("unexpected {} among the elements", header.tag));
        }
        match value {
            Some(v) if header.vr == VR::SQ => {
                items(dec, v, depth + 1, true)?;
            }
            Some(_) => {}
            // undefined length: a sequence (as dicom-rs reads an unknown one too), or
            // encapsulated pixel data (fragments)
            None => {
                let rest = &data[pos..];
                pos += items(dec, rest, depth + 1, header.tag != PIXEL_DATA)?;
            }
        }
    }
    Ok(pos)
}

/// The items of a sequence (`datasets`) or the fragments of encapsulated pixel data, from the
/// start of `data` to its end or to the sequence delimiter. Returns the position after it.
fn items(dec: &impl Decode, data: &[u8], depth: usize, datasets: bool) -> Result<usize, String> {
    let mut pos = 0;
    while pos < data.len() {
        let mut source = &data[pos..];
        let header = dec
            .decode_item_header(&mut source)
            .map_err(|e| format!("item header: {e}"))?;
        pos += 8;
        match header {
            SequenceItemHeader::SequenceDelimiter => return Ok(pos),
            SequenceItemHeader::ItemDelimiter => {
                return Err(format!("item delimiter {ITEM_DELIMITER} outside an item"));
            }
            SequenceItemHeader::Item { len } => match len.get() {
                Some(n) => {
                    let item = take(data, &mut pos, n, || format!("item {ITEM}"))?;
                    if datasets {
                        elements(dec, item, depth)?;
                    }
                }
                None if datasets => pos += elements(dec, &data[pos..], depth)?,
                None => return Err("a pixel data fragment of undefined length".into()),
            },
        }
    }
    // the end of a defined-length sequence; an undefined-length one cut short before its
    // delimiter is reported by dicom-rs
    Ok(pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `DICM`, a meta group with the explicit VR little endian transfer syntax, then `rest`.
    fn file(rest: &[u8]) -> Vec<u8> {
        let uid = b"1.2.840.10008.1.2.1\0";
        let mut b = b"DICM".to_vec();
        b.extend([0x02, 0x00, 0x10, 0x00, b'U', b'I']);
        b.extend((uid.len() as u16).to_le_bytes());
        b.extend(uid);
        b.extend(rest);
        b
    }

    #[test]
    fn lengths_beyond_the_data_are_refused() {
        // (0010,0010) PN of 4 bytes, present
        let ok = [
            0x10, 0x00, 0x10, 0x00, b'P', b'N', 4, 0, b'A', b'^', b'B', b' ',
        ];
        assert_eq!(check(&file(&ok)), Ok(()));
        // the same element declaring 0xFFFE bytes
        let mut bad = ok;
        bad[6] = 0xFE;
        bad[7] = 0xFF;
        let e = check(&file(&bad)).unwrap_err();
        assert!(e.contains("65534"), "{e}");
        // an OB declaring 4 GB - 2
        let ob = [
            0x09, 0x00, 0x10, 0x00, b'O', b'B', 0, 0, 0xFE, 0xFF, 0xFF, 0xFF,
        ];
        assert!(check(&file(&ob)).is_err());
    }
}
