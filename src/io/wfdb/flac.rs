//! The FLAC signal formats 508, 516 and 524: the signals of one file are the channels of a FLAC
//! stream (at most 8), 8, 16 or 24 bits per sample, every signal with the same samples per
//! frame; the header's byte offset counts samples to skip, as in WFDB and wfdb-python.
//!
//! Decoded with `claxon`: a pure-Rust FLAC decoder without unsafe code, fuzzed against
//! libFLAC, that reads every bit depth and channel count WFDB writes.

use std::io::Cursor;
use std::path::Path;

use crate::io::IoError;
use crate::io::files::{MAX_SIGNAL_BYTES, read_regular_file};

/// At most this many decoded samples (all channels) are kept: what the largest accepted
/// uncompressed signal file holds in 16-bit samples. A FLAC block can describe many samples in
/// few bytes; this bounds the memory a small hostile file can claim.
const MAX_DECODED_SAMPLES: u64 = MAX_SIGNAL_BYTES / 2;

/// The samples of a FLAC signal file, one column per channel (member signal), after skipping
/// `sample_offset` samples, with the number of whole frames they hold. Decoding stops once
/// `wanted_frames` frames (when known) are decoded.
pub(super) fn read_flac_columns(
    path: &Path,
    format: u16,
    sample_offset: u64,
    samples_per_frame: &[usize],
    wanted_frames: Option<u64>,
) -> Result<(Vec<Vec<i32>>, usize), IoError> {
    let err = |m: String| IoError::format(path, format!("FLAC (format {format}): {m}"));
    let spf = samples_per_frame[0];
    if samples_per_frame.iter().any(|&k| k != spf) {
        return Err(err(
            "the signals of a FLAC file must have the same samples per frame".into(),
        ));
    }
    let bytes = read_regular_file(path, MAX_SIGNAL_BYTES)?;
    if !bytes.starts_with(b"fLaC") {
        return Err(err("not a FLAC stream (no 'fLaC' signature)".into()));
    }
    let mut reader = claxon::FlacReader::new(Cursor::new(bytes)).map_err(|e| err(e.to_string()))?;
    let info = reader.streaminfo();
    let n_channels = samples_per_frame.len();
    if info.channels as usize != n_channels {
        return Err(err(format!(
            "{} channels, the header gives {n_channels} signals for this file",
            info.channels
        )));
    }
    let max_bits = u32::from(format - 500);
    if info.bits_per_sample > max_bits {
        return Err(err(format!(
            "{} bits per sample, the format allows at most {max_bits}",
            info.bits_per_sample
        )));
    }
    let wanted_samples =
        wanted_frames.map(|f| f.saturating_mul(spf as u64).saturating_add(sample_offset));
    let mut columns: Vec<Vec<i32>> = vec![Vec::new(); n_channels];
    let mut decoded: u64 = 0;
    let mut blocks = reader.blocks();
    let mut buffer = Vec::new();
    while let Some(block) = blocks
        .read_next_or_eof(buffer)
        .map_err(|e| err(e.to_string()))?
    {
        if block.channels() as usize != n_channels {
            return Err(err(format!(
                "a block of {} channels in a stream of {n_channels}",
                block.channels()
            )));
        }
        decoded += u64::from(block.duration()) * n_channels as u64;
        if decoded > MAX_DECODED_SAMPLES {
            return Err(err(format!(
                "decodes to more than {MAX_DECODED_SAMPLES} samples"
            )));
        }
        for (ch, column) in columns.iter_mut().enumerate() {
            column.extend_from_slice(block.channel(ch as u32));
        }
        buffer = block.into_buffer();
        if wanted_samples.is_some_and(|w| columns[0].len() as u64 >= w) {
            break;
        }
    }
    let skip = usize::try_from(sample_offset).unwrap_or(usize::MAX);
    let available = columns[0].len();
    if skip > available {
        return Err(err(format!(
            "sample offset {skip} is past the end of the stream ({available} samples)"
        )));
    }
    for column in &mut columns {
        column.drain(..skip);
    }
    let n_frames = (available - skip) / spf;
    Ok((columns, n_frames))
}
