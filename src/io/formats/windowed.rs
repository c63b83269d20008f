//! Holter files (EDF, ISHNE) read by window: the header is parsed at once, samples are read
//! from the file only for the range asked for, so a 24 h record can be looked at (its overview,
//! one window) or delineated window by window without its samples ever being in memory whole.
//!
//! Both formats store int16 samples in fixed-size blocks: EDF a data record holding each
//! signal's samples in turn, ISHNE one frame of interleaved leads. [`Int16Layout`] describes
//! where sample `i` of a lead lies in either, and turns the stored values into mV.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{FileFormat, LeadRows, edf, ishne};
use crate::dsp::overview::MinMaxOverview;
use crate::io::IoError;
use crate::record::{Ecg, EcgMeta, LeadName, OtherSignal};

/// One stored lead: where its samples sit in a block, and value in mV =
/// ((stored - `digital_min`) x `gain` + `physical_min`) x `to_mv`.
#[derive(Debug, Clone)]
pub(crate) struct Channel {
    pub lead: LeadName,
    /// Byte offset of the lead's first sample in a block.
    pub offset_bytes: usize,
    /// Bytes from one of the lead's samples to the next inside a block.
    pub stride_bytes: usize,
    pub digital_min: f64,
    pub gain: f64,
    pub physical_min: f64,
    pub to_mv: f64,
}

impl Channel {
    fn mv(&self, stored: i16) -> f32 {
        (((stored as f64 - self.digital_min) * self.gain + self.physical_min) * self.to_mv) as f32
    }
}

/// Where the samples of an int16 file lie: blocks of `block_bytes` from `data_start`, each
/// holding `block_samples` samples of every lead.
#[derive(Debug, Clone)]
pub(crate) struct Int16Layout {
    pub data_start: u64,
    pub block_samples: usize,
    pub block_bytes: usize,
    /// Samples per lead in the file (whole blocks).
    pub n_samples: usize,
    pub channels: Vec<Channel>,
}

impl Int16Layout {
    /// The blocks holding samples `range`, and the bytes they span from `data_start`.
    fn blocks(&self, range: &Range<usize>) -> (Range<usize>, Range<u64>) {
        let per = self.block_samples.max(1);
        let blocks = range.start / per..range.end.div_ceil(per);
        let bytes = (blocks.start as u64 * self.block_bytes as u64)
            ..(blocks.end as u64 * self.block_bytes as u64);
        (blocks, bytes)
    }

    /// Every stored lead's samples of `range` from `bytes`, the content of the blocks from
    /// block `first_block` on.
    fn decode(&self, bytes: &[u8], first_block: usize, range: Range<usize>) -> Vec<Vec<f32>> {
        let per = self.block_samples.max(1);
        let value = |at: usize| i16::from_le_bytes([bytes[at], bytes[at + 1]]);
        self.channels
            .iter()
            .map(|ch| {
                if per == 1 {
                    // one frame per block (ISHNE): straight through the frames
                    return bytes[(range.start - first_block) * self.block_bytes..]
                        .chunks_exact(self.block_bytes)
                        .take(range.len())
                        .map(|frame| {
                            ch.mv(i16::from_le_bytes([
                                frame[ch.offset_bytes],
                                frame[ch.offset_bytes + 1],
                            ]))
                        })
                        .collect();
                }
                let mut row = Vec::with_capacity(range.len());
                let mut i = range.start;
                while i < range.end {
                    let block = i / per;
                    let stop = ((block + 1) * per).min(range.end);
                    let base = (block - first_block) * self.block_bytes + ch.offset_bytes;
                    for j in i % per..i % per + (stop - i) {
                        row.push(ch.mv(value(base + j * ch.stride_bytes)));
                    }
                    i = stop;
                }
                row
            })
            .collect()
    }

    /// Every stored lead, whole, from the file's bytes in memory.
    pub fn decode_all(&self, file: &[u8]) -> Vec<Vec<f32>> {
        let (_, span) = self.blocks(&(0..self.n_samples));
        let start = self.data_start as usize;
        self.decode(
            &file[start..start + span.end as usize],
            0,
            0..self.n_samples,
        )
    }
}

/// What a writer needs to know of a record it writes window by window.
#[derive(Debug, Clone, Copy)]
pub struct SignalShape<'a> {
    pub leads: &'a [LeadName],
    pub fs_hz: f64,
    /// Samples per lead.
    pub n_samples: usize,
}

/// A stored signal that is not one of the leads (EDF: a respiration, SpO2 or EEG channel, or
/// an ECG channel at another rate than the leads'), read whole into an [`OtherSignal`].
#[derive(Debug, Clone)]
pub(crate) struct OtherChannel {
    pub name: String,
    /// Its physical dimension as the file states it.
    pub units: String,
    /// Its samples per block (its rate is this times the block rate).
    pub per_block: usize,
    /// Byte offset of its first sample in a block (consecutive int16 from there).
    pub offset_bytes: usize,
    pub digital_min: f64,
    pub gain: f64,
    pub physical_min: f64,
}

impl OtherChannel {
    /// Its values in the blocks held by `bytes` (whole blocks of `block_bytes`), appended to
    /// `out`, in its physical dimension.
    fn decode_into(&self, bytes: &[u8], block_bytes: usize, out: &mut Vec<f32>) {
        for block in bytes.chunks_exact(block_bytes.max(1)) {
            let at = &block[self.offset_bytes..self.offset_bytes + 2 * self.per_block];
            out.extend(at.chunks_exact(2).map(|b| {
                let d = f64::from(i16::from_le_bytes([b[0], b[1]]));
                ((d - self.digital_min) * self.gain + self.physical_min) as f32
            }));
        }
    }
}

/// What a format's header says: the layout of the samples, the rate and the metadata.
#[derive(Debug, Clone)]
pub(crate) struct Int16Header {
    pub format: FileFormat,
    pub layout: Int16Layout,
    pub fs_hz: f64,
    pub meta: EcgMeta,
    /// Stored signals that are not leads, kept beside them ([`Ecg::other_signals`]).
    pub others: Vec<OtherChannel>,
}

impl Int16Header {
    /// The other signals' values in the data blocks `bytes` (from the first block on).
    fn other_signals(&self, bytes: &[u8]) -> Vec<OtherSignal> {
        self.others
            .iter()
            .map(|ch| {
                let mut values = Vec::new();
                ch.decode_into(bytes, self.layout.block_bytes, &mut values);
                self.other_signal(ch, values)
            })
            .collect()
    }

    fn other_signal(&self, ch: &OtherChannel, values: Vec<f32>) -> OtherSignal {
        OtherSignal::new(
            ch.name.clone(),
            ch.units.clone(),
            ch.per_block as f64 * self.fs_hz / self.layout.block_samples.max(1) as f64,
            0.0,
            values,
        )
    }

    /// The whole record from a file held in memory: the leads and the other signals.
    pub(crate) fn read_in_memory(&self, path: &Path, file: &[u8]) -> Result<Ecg, IoError> {
        let rows = self.layout.decode_all(file);
        let ecg = self.ecg(path, rows)?;
        if self.others.is_empty() {
            return Ok(ecg);
        }
        let (_, span) = self.layout.blocks(&(0..self.layout.n_samples));
        let start = self.layout.data_start as usize;
        let data = &file[start..start + span.end as usize];
        Ok(ecg.with_other_signals(self.other_signals(data)))
    }
}

impl Int16Header {
    /// A record from the stored leads' rows (limb leads derived where only I and II are).
    pub(crate) fn ecg(&self, path: &Path, rows: Vec<Vec<f32>>) -> Result<Ecg, IoError> {
        let mut lead_rows = LeadRows::default();
        for (ch, row) in self.layout.channels.iter().zip(rows) {
            lead_rows.push(ch.lead.clone(), row);
        }
        let mut meta = self.meta.clone();
        meta.derived_leads = lead_rows.derive_limb_leads();
        lead_rows.into_ecg(path, self.format.name(), self.fs_hz, meta)
    }
}

impl Int16Header {
    /// A record from the stored leads' samples, leads x `n` in one buffer; through
    /// [`LeadRows`] only when limb leads are to be derived.
    fn ecg_from_flat(&self, path: &Path, flat: Vec<f32>, n: usize) -> Result<Ecg, IoError> {
        let leads: Vec<LeadName> = self
            .layout
            .channels
            .iter()
            .map(|c| c.lead.clone())
            .collect();
        if leads.contains(&LeadName::I) && leads.contains(&LeadName::II) {
            let rows = flat.chunks(n.max(1)).map(<[f32]>::to_vec).collect();
            return self.ecg(path, rows);
        }
        let samples = ndarray::Array2::from_shape_vec((leads.len(), n), flat)
            .map_err(|e| IoError::format(path, format!("{}: {e}", self.format.name())))?;
        Ecg::new(leads, self.fs_hz, samples, self.meta.clone()).map_err(|source| IoError::Record {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// An EDF or ISHNE file open for reading by window.
#[derive(Debug)]
pub struct WindowedFile {
    path: PathBuf,
    file: Mutex<File>,
    header: Int16Header,
}

/// Bytes read at a time by the passes over the whole file (overview, whole record).
const PASS_BYTES: usize = 4 << 20;

impl WindowedFile {
    /// Open `path` and parse its header (EDF or ISHNE, by content); no sample is read.
    pub fn open(path: &Path) -> Result<WindowedFile, IoError> {
        let file_len = crate::io::files::regular_file_len(path, u64::MAX)?;
        let mut file = File::open(path).map_err(|e| IoError::os(path, e))?;
        let first = read_at(path, &mut file, 0, 4096.min(file_len as usize))?;
        type HeaderLen = fn(&Path, &[u8], u64) -> Result<usize, IoError>;
        type Header = fn(&Path, &[u8], u64) -> Result<Int16Header, IoError>;
        let (header_len, parse): (HeaderLen, Header) = match super::sniff(&first) {
            Some(FileFormat::Edf) => (edf::header_len, edf::header),
            Some(FileFormat::Ishne) => (ishne::header_len, ishne::header),
            _ => {
                return Err(IoError::format(
                    path,
                    "not an EDF or ISHNE file (only these are read by window)",
                ));
            }
        };
        let len = header_len(path, &first, file_len)?;
        let header = if len <= first.len() {
            parse(path, &first[..len], file_len)?
        } else {
            parse(path, &read_at(path, &mut file, 0, len)?, file_len)?
        };
        let mut meta = header.meta;
        meta.id = super::file_stem(path);
        meta.source = Some(path.to_path_buf());
        Ok(WindowedFile {
            path: path.to_path_buf(),
            file: Mutex::new(file),
            header: Int16Header { meta, ..header },
        })
    }

    pub fn format(&self) -> FileFormat {
        self.header.format
    }

    pub fn fs_hz(&self) -> f64 {
        self.header.fs_hz
    }

    /// Samples per lead.
    pub fn n_samples(&self) -> usize {
        self.header.layout.n_samples
    }

    pub fn duration_s(&self) -> f64 {
        self.n_samples() as f64 / self.fs_hz()
    }

    /// The leads stored in the file (a window's record adds the limb leads derived from I and
    /// II, as the whole record does).
    pub fn stored_leads(&self) -> Vec<LeadName> {
        self.header
            .layout
            .channels
            .iter()
            .map(|c| c.lead.clone())
            .collect()
    }

    /// The metadata of the record (without the derived leads, listed per window).
    pub fn meta(&self) -> &EcgMeta {
        &self.header.meta
    }

    /// The stored leads' samples of `range` (clipped to the record), in mV.
    pub fn read_rows(&self, range: Range<usize>) -> Result<Vec<Vec<f32>>, IoError> {
        let range = range.start.min(self.n_samples())..range.end.min(self.n_samples());
        if range.is_empty() {
            return Ok(vec![Vec::new(); self.header.layout.channels.len()]);
        }
        let (blocks, bytes) = self.read_blocks(&range)?;
        Ok(self.header.layout.decode(&bytes, blocks.start, range))
    }

    /// The whole blocks holding samples `range` (not empty, inside the record): their indices
    /// and their bytes.
    fn read_blocks(&self, range: &Range<usize>) -> Result<(Range<usize>, Vec<u8>), IoError> {
        let layout = &self.header.layout;
        let (blocks, span) = layout.blocks(range);
        let mut file = self
            .file
            .lock()
            .map_err(|_| IoError::format(&self.path, "an earlier read of this file panicked"))?;
        let bytes = read_at(
            &self.path,
            &mut file,
            layout.data_start + span.start,
            (span.end - span.start) as usize,
        )?;
        Ok((blocks, bytes))
    }

    /// The record's samples of `range` as a record of its own (sample 0 = `range.start`).
    pub fn read_window(&self, range: Range<usize>) -> Result<Ecg, IoError> {
        let rows = self.read_rows(range)?;
        self.header.ecg(&self.path, rows)
    }

    /// The whole record, read a few MB at a time straight into its rows (the file is never
    /// held in memory beside them), with the other signals the file stores.
    pub fn read_all(&self) -> Result<Ecg, IoError> {
        let n = self.n_samples();
        let layout = &self.header.layout;
        let n_leads = layout.channels.len();
        // leads x samples in one buffer, written in place: the record is held once
        let mut flat = vec![0f32; n_leads * n];
        let mut others = vec![Vec::new(); self.header.others.len()];
        for chunk in self.pass_ranges() {
            let start = chunk.start;
            let (blocks, bytes) = self.read_blocks(&chunk)?;
            for (lead, part) in layout
                .decode(&bytes, blocks.start, chunk)
                .into_iter()
                .enumerate()
            {
                flat[lead * n + start..][..part.len()].copy_from_slice(&part);
            }
            for (ch, values) in self.header.others.iter().zip(&mut others) {
                ch.decode_into(&bytes, layout.block_bytes, values);
            }
        }
        let other_signals = self
            .header
            .others
            .iter()
            .zip(others)
            .map(|(ch, values)| self.header.other_signal(ch, values))
            .collect();
        Ok(self
            .header
            .ecg_from_flat(&self.path, flat, n)?
            .with_other_signals(other_signals))
    }

    /// The min/max overview of the stored leads, in one pass over the file a few MB at a time.
    pub fn overview(&self, n_buckets: usize) -> Result<MinMaxOverview, IoError> {
        let mut overview = MinMaxOverview::new(
            self.header.layout.channels.len(),
            self.n_samples(),
            n_buckets,
        );
        for chunk in self.pass_ranges() {
            let start = chunk.start;
            overview.add(start, &self.read_rows(chunk)?);
        }
        Ok(overview)
    }

    /// The record cut into ranges of about [`PASS_BYTES`] of file, on block boundaries.
    fn pass_ranges(&self) -> impl Iterator<Item = Range<usize>> + use<> {
        let layout = &self.header.layout;
        let per = layout.block_samples.max(1);
        let blocks = (PASS_BYTES / layout.block_bytes.max(1)).max(1);
        let step = blocks * per;
        let n = self.n_samples();
        (0..n.div_ceil(step)).map(move |k| k * step..((k + 1) * step).min(n))
    }
}

/// `len` bytes of `file` from `offset`.
fn read_at(path: &Path, file: &mut File, offset: u64, len: usize) -> Result<Vec<u8>, IoError> {
    let mut bytes = vec![0u8; len];
    file.seek(SeekFrom::Start(offset))
        .and_then(|_| file.read_exact(&mut bytes))
        .map_err(|e| IoError::os(path, e))?;
    Ok(bytes)
}
