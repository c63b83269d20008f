//! Readers for the formats hospitals and ECG carts export: DICOM waveform, HL7 aECG, GE MUSE
//! XML, Philips XML (XLI), SCP-ECG, EDF/EDF+ and ISHNE. Each file is one record.
//!
//! The format is detected by content ([`sniff`]: DICOM's `DICM` magic, the XML root element,
//! SCP's section 0, EDF's version field, ISHNE's magic), not by extension. [`FileDataset`] is
//! a data set of such files (one file, or every recognised file in a folder); a folder holding
//! WFDB records as well opens as one data set (see [`crate::io::open_dataset`]).
//!
//! Every reader checks each count or length read from the file against the bytes actually
//! there before allocating, and reports a broken file as [`IoError::Section`] (file, part of
//! the file, cause). Leads a cart does not store (III, aVR, aVL, aVF from I and II) are computed
//! and listed in [`EcgMeta::derived_leads`]; identifying patient fields go to
//! [`EcgMeta::patient`], which is never serialised nor printed by `Debug`.

pub mod dicom;
pub mod edf;
pub mod hl7;
pub mod ishne;
pub mod muse;
pub mod philips;
pub mod scp;
pub mod windowed;
pub(crate) mod xml;

pub use windowed::{SignalShape, WindowedFile};

use std::path::{Path, PathBuf};

use ndarray::Array2;

use crate::io::{Dataset, IoError, RecordEntry};
use crate::record::{Ecg, EcgMeta, LeadName};

/// A device file format this module reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileFormat {
    Dicom,
    Hl7Aecg,
    GeMuse,
    PhilipsXml,
    ScpEcg,
    Edf,
    Ishne,
}

impl FileFormat {
    pub fn name(self) -> &'static str {
        match self {
            FileFormat::Dicom => "DICOM waveform",
            FileFormat::Hl7Aecg => "HL7 aECG",
            FileFormat::GeMuse => "GE MUSE XML",
            FileFormat::PhilipsXml => "Philips XML",
            FileFormat::ScpEcg => "SCP-ECG",
            FileFormat::Edf => "EDF",
            FileFormat::Ishne => "ISHNE Holter",
        }
    }
}

/// File extensions of these formats, for file dialogs (detection itself reads the content);
/// both cases, as some dialogs match them case-sensitively and carts write `.SCP`, `.XML`.
pub const FILE_EXTENSIONS: &[&str] = &[
    "dcm", "DCM", "xml", "XML", "scp", "SCP", "edf", "EDF", "ecg", "ECG",
];

/// How many bytes of a file [`sniff`] needs at most.
pub const SNIFF_BYTES: usize = 4096;

/// The format of a file from its first bytes (up to [`SNIFF_BYTES`]), or `None`.
pub fn sniff(head: &[u8]) -> Option<FileFormat> {
    if head.len() >= 132 && &head[128..132] == b"DICM" {
        return Some(FileFormat::Dicom);
    }
    if scp::looks_like_scp(head) {
        return Some(FileFormat::ScpEcg);
    }
    if edf::looks_like_edf(head) {
        return Some(FileFormat::Edf);
    }
    if ishne::looks_like_ishne(head) {
        return Some(FileFormat::Ishne);
    }
    let text = xml::decode_text(head);
    match xml::root_name(&text)?.as_str() {
        "AnnotatedECG" => Some(FileFormat::Hl7Aecg),
        "RestingECG" => Some(FileFormat::GeMuse),
        "restingecgdata" => Some(FileFormat::PhilipsXml),
        _ => None,
    }
}

/// The format of the file at `path` by its content, or `None` when it is none of these.
pub fn detect(path: &Path) -> Result<Option<FileFormat>, IoError> {
    use std::io::Read;
    // Opening a FIFO would block for ever: only regular files are looked into.
    crate::io::files::regular_file_len(path, u64::MAX)?;
    let file = std::fs::File::open(path).map_err(|e| IoError::os(path, e))?;
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    file.take(SNIFF_BYTES as u64)
        .read_to_end(&mut head)
        .map_err(|e| IoError::os(path, e))?;
    Ok(sniff(&head))
}

/// Read one file of a known format.
pub fn read_file_as(path: &Path, format: FileFormat) -> Result<Ecg, IoError> {
    if matches!(format, FileFormat::Edf | FileFormat::Ishne) {
        // read a few MB at a time straight into the rows: a 24 h Holter file is not held in
        // memory beside its samples
        return WindowedFile::open(path)?.read_all();
    }
    let bytes = crate::io::files::read_regular_file(path, crate::io::files::MAX_SIGNAL_BYTES)?;
    read_bytes_as(path, &bytes, format)
}

/// Read the content of a file (`path` names it in errors and becomes the record's source),
/// detecting its format.
pub fn read_bytes(path: &Path, bytes: &[u8]) -> Result<Ecg, IoError> {
    match sniff(&bytes[..bytes.len().min(SNIFF_BYTES)]) {
        Some(format) => read_bytes_as(path, bytes, format),
        None => Err(IoError::format(path, NOT_KNOWN)),
    }
}

const NOT_KNOWN: &str = "not an ECG file of a known format (DICOM waveform, HL7 aECG, GE MUSE XML, Philips XML, SCP-ECG, EDF, ISHNE)";

fn read_bytes_as(path: &Path, bytes: &[u8], format: FileFormat) -> Result<Ecg, IoError> {
    let mut ecg = match format {
        FileFormat::Dicom => dicom::read(path, bytes)?,
        FileFormat::Hl7Aecg => hl7::read(path, bytes)?,
        FileFormat::GeMuse => muse::read(path, bytes)?,
        FileFormat::PhilipsXml => philips::read(path, bytes)?,
        FileFormat::ScpEcg => scp::read(path, bytes)?,
        FileFormat::Edf => edf::read(path, bytes)?,
        FileFormat::Ishne => ishne::read(path, bytes)?,
    };
    if ecg.meta.id.is_empty() {
        ecg.meta.id = file_stem(path);
    }
    ecg.meta.source = Some(path.to_path_buf());
    Ok(ecg)
}

/// Read one file, detecting its format by content.
pub fn read_file(path: &Path) -> Result<Ecg, IoError> {
    match detect(path)? {
        Some(format) => read_file_as(path, format),
        None => Err(IoError::format(path, NOT_KNOWN)),
    }
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Leads and their samples in mV as a reader collected them, before they become an [`Ecg`].
#[derive(Debug, Default)]
pub(crate) struct LeadRows {
    pub leads: Vec<LeadName>,
    pub rows: Vec<Vec<f32>>,
}

impl LeadRows {
    pub fn push(&mut self, lead: LeadName, row: Vec<f32>) {
        self.leads.push(lead);
        self.rows.push(row);
    }

    fn row(&self, lead: &LeadName) -> Option<&[f32]> {
        self.leads
            .iter()
            .position(|l| l == lead)
            .map(|i| self.rows[i].as_slice())
    }

    /// Compute III, aVR, aVL and aVF from I and II where the file lacks them (Einthoven and
    /// Goldberger: III = II - I, aVR = -(I + II) / 2, aVL = I - II / 2, aVF = II - I / 2),
    /// inserted after lead II. Returns the leads computed.
    pub fn derive_limb_leads(&mut self) -> Vec<LeadName> {
        let (Some(i), Some(ii)) = (self.row(&LeadName::I), self.row(&LeadName::II)) else {
            return Vec::new();
        };
        if i.len() != ii.len() {
            return Vec::new();
        }
        type Rule = fn(f32, f32) -> f32;
        let rules: [(LeadName, Rule); 4] = [
            (LeadName::III, |i, ii| ii - i),
            (LeadName::AVR, |i, ii| -(i + ii) / 2.0),
            (LeadName::AVL, |i, ii| i - ii / 2.0),
            (LeadName::AVF, |i, ii| ii - i / 2.0),
        ];
        let mut made = Vec::new();
        for (lead, rule) in rules {
            if self.row(&lead).is_none() {
                let row: Vec<f32> = i.iter().zip(ii).map(|(&a, &b)| rule(a, b)).collect();
                made.push((lead, row));
            }
        }
        let at = self
            .leads
            .iter()
            .position(|l| *l == LeadName::II)
            .map_or(self.leads.len(), |p| p + 1);
        let names: Vec<LeadName> = made.iter().map(|(l, _)| l.clone()).collect();
        for (k, (lead, row)) in made.into_iter().enumerate() {
            self.leads.insert(at + k, lead);
            self.rows.insert(at + k, row);
        }
        names
    }

    /// The record: every row must have the same length.
    pub fn into_ecg(
        self,
        path: &Path,
        format: &'static str,
        fs_hz: f64,
        meta: EcgMeta,
    ) -> Result<Ecg, IoError> {
        let n = self.rows.first().map_or(0, Vec::len);
        if let Some((lead, row)) = self
            .leads
            .iter()
            .zip(&self.rows)
            .find(|(_, r)| r.len() != n)
        {
            return Err(IoError::section(
                path,
                format,
                format!("lead {lead}"),
                format!(
                    "{} samples where the first lead has {n}: leads of unequal length",
                    row.len()
                ),
            ));
        }
        let samples = rows_to_array(self.rows, n);
        Ecg::new(self.leads, fs_hz, samples, meta).map_err(|source| IoError::Record {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// `rows` (leads x `n` samples) as an array, each row dropped once copied: a long record is
/// never held twice (the array's zeroed pages are only touched as rows land in them).
fn rows_to_array(rows: Vec<Vec<f32>>, n: usize) -> Array2<f32> {
    let mut out = Array2::<f32>::zeros((rows.len(), n));
    for (mut dst, row) in out.rows_mut().into_iter().zip(rows) {
        dst.assign(&ndarray::ArrayView1::from(&row[..]));
    }
    out
}

/// A lead name as carts spell it (`V4R`, `aVR`, `MDC_ECG_LEAD_AVR` after its prefix).
pub(crate) fn lead_name(raw: &str) -> LeadName {
    LeadName::parse(raw)
}

/// Parse a number that may carry surrounding blanks; `None` for anything else.
pub(crate) fn number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

/// A data set of device files (one, or every recognised file in a folder), loaded lazily.
#[derive(Debug)]
pub struct FileDataset {
    root: PathBuf,
    files: Vec<(PathBuf, FileFormat)>,
    ids: Vec<String>,
    /// Filled on first use from the file's metadata (age, sex, report), so that opening a
    /// folder only sniffs each file and the browser reads what it shows.
    entries: Vec<std::sync::OnceLock<RecordEntry>>,
}

/// Extensions never sniffed when scanning a folder: WFDB files and tables, which a folder of
/// records holds by the thousand.
const SKIPPED_EXTENSIONS: &[&str] = &[
    "hea",
    "dat",
    "atr",
    "csv",
    "json",
    "txt",
    "md",
    "mat",
    "hdf5",
    "h5",
    "png",
    "svg",
    "pdf",
    "safetensors",
    "npy",
    "ann",
    "qrs",
    "pu",
    "pu0",
    "pu1",
    "i",
    "ii",
    "iii",
    "avr",
    "avl",
    "avf",
    "v1",
    "v2",
    "v3",
    "v4",
    "v5",
    "v6",
];

/// The metadata of a device file: from the header alone for the Holter formats (read by
/// window, often hundreds of MB), else from the whole file (a resting ECG is a few hundred KB).
fn file_meta(path: &Path, format: FileFormat) -> Result<EcgMeta, IoError> {
    match format {
        FileFormat::Edf | FileFormat::Ishne => {
            Ok(windowed::WindowedFile::open(path)?.meta().clone())
        }
        _ => Ok(read_file_as(path, format)?.meta),
    }
}

/// Recognised files below `dir`; a folder reached twice through links is scanned once.
fn scan(dir: &Path, out: &mut Vec<(PathBuf, FileFormat)>) -> Result<(), IoError> {
    crate::io::files::walk_files(dir, crate::io::folder::MAX_DEPTH, &mut |path| {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        if ext
            .as_deref()
            .is_some_and(|e| SKIPPED_EXTENSIONS.contains(&e))
        {
            return;
        }
        // an unreadable file is left out of the scan; opening it directly reports why
        if let Ok(Some(format)) = detect(&path) {
            out.push((path, format));
        }
    })
}

impl FileDataset {
    /// A data set of one file; fails when its content is not a known format.
    pub fn single(path: &Path) -> Result<FileDataset, IoError> {
        let format = detect(path)?.ok_or_else(|| IoError::format(path, NOT_KNOWN))?;
        let root = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(Self::from_files(root, vec![(path.to_path_buf(), format)]))
    }

    /// Every recognised file in `dir` and its sub-folders (sorted by path); may be empty.
    pub fn scan_folder(dir: &Path) -> Result<FileDataset, IoError> {
        let mut files = Vec::new();
        scan(dir, &mut files)?;
        files.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Self::from_files(dir.to_path_buf(), files))
    }

    fn from_files(root: PathBuf, files: Vec<(PathBuf, FileFormat)>) -> FileDataset {
        let stems: Vec<String> = files.iter().map(|(p, _)| file_stem(p)).collect();
        let ids = files
            .iter()
            .zip(&stems)
            .map(|((path, _), stem)| {
                // two files with one stem (`a.xml`, `a.dcm`) keep their extension in the id
                if stems.iter().filter(|s| *s == stem).count() > 1 {
                    path.file_name()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_else(|| stem.clone())
                } else {
                    stem.clone()
                }
            })
            .collect();
        let entries = files.iter().map(|_| std::sync::OnceLock::new()).collect();
        FileDataset {
            root,
            files,
            ids,
            entries,
        }
    }

    pub fn path(&self, index: usize) -> Option<&Path> {
        self.files.get(index).map(|(p, _)| p.as_path())
    }

    pub fn format(&self, index: usize) -> Option<FileFormat> {
        self.files.get(index).map(|(_, f)| *f)
    }
}

impl Dataset for FileDataset {
    fn name(&self) -> String {
        if let [(path, format)] = self.files.as_slice() {
            return format!("{} '{}'", format.name(), crate::io::display_name(path));
        }
        format!(
            "ECG files in '{}' ({} records)",
            crate::io::display_name(&self.root),
            self.files.len()
        )
    }

    fn len(&self) -> usize {
        self.files.len()
    }

    fn entry(&self, index: usize) -> Option<&RecordEntry> {
        let (path, format) = self.files.get(index)?;
        Some(self.entries[index].get_or_init(|| {
            RecordEntry::from_meta(self.ids[index].clone(), file_meta(path, *format).ok())
        }))
    }

    fn load(&self, index: usize) -> Result<Ecg, IoError> {
        let (path, format) = self.files.get(index).ok_or_else(|| {
            IoError::format(
                &self.root,
                format!("no record {index} (the data set has {})", self.len()),
            )
        })?;
        let mut ecg = read_file_as(path, *format)?;
        ecg.meta.id = self.ids[index].clone();
        Ok(ecg)
    }

    fn class_names(&self) -> Vec<String> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limb_leads_are_derived_after_ii_and_named() {
        let mut rows = LeadRows::default();
        rows.push(LeadName::I, vec![1.0, 2.0]);
        rows.push(LeadName::II, vec![3.0, 1.0]);
        rows.push(LeadName::V1, vec![0.5, 0.5]);
        let made = rows.derive_limb_leads();
        assert_eq!(
            made,
            vec![LeadName::III, LeadName::AVR, LeadName::AVL, LeadName::AVF]
        );
        assert_eq!(rows.leads[2], LeadName::III);
        assert_eq!(rows.leads[6], LeadName::V1);
        assert_eq!(rows.rows[2], vec![2.0, -1.0]);
        assert_eq!(rows.rows[3], vec![-2.0, -1.5]);
        assert_eq!(rows.rows[4], vec![-0.5, 1.5]);
        assert_eq!(rows.rows[5], vec![2.5, 0.0]);
    }

    #[test]
    fn sniff_by_content() {
        let mut dicom = vec![0u8; 132];
        dicom[128..].copy_from_slice(b"DICM");
        assert_eq!(sniff(&dicom), Some(FileFormat::Dicom));
        assert_eq!(
            sniff(b"<?xml version=\"1.0\"?><AnnotatedECG xmlns=\"urn:hl7-org:v3\">"),
            Some(FileFormat::Hl7Aecg)
        );
        assert_eq!(sniff(b"<restingecgdata>"), Some(FileFormat::PhilipsXml));
        assert_eq!(sniff(b"<html>"), None);
        assert_eq!(sniff(b""), None);
    }
}
