//! Readers and writers: WFDB records and annotations, CODE-15% HDF5, data set indexes.

pub mod annotation;
pub mod code15;
pub mod dataset;
pub mod files;
pub mod folder;
pub mod formats;
pub mod ptbxl;
pub mod table;
pub mod wfdb;

pub use annotation::{Annotation, read_annotations, write_annotations};
pub use dataset::{ConcatDataset, Dataset, RecordEntry};
pub use formats::FileDataset;
pub use wfdb::{WfdbHeader, WriteOptions, read_adc, read_header, read_record, write_record};

pub use code15::{Code15Dataset, Code15File, write_code15};
pub use folder::FolderDataset;
pub use ptbxl::{PtbxlDataset, PtbxlRate};

use std::path::{Path, PathBuf};

/// Every I/O error names the file it is about.
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    #[error("{path}")]
    Os {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    /// A file of a device format that breaks it: which format, which part of the file, why.
    #[error("{path}: {format}, {section}: {message}")]
    Section {
        path: PathBuf,
        format: &'static str,
        section: String,
        message: String,
    },
    #[error("{path}")]
    Record {
        path: PathBuf,
        #[source]
        source: crate::record::RecordError,
    },
}

impl IoError {
    pub fn format(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        IoError::Format {
            path: path.into(),
            message: message.into(),
        }
    }
    pub fn section(
        path: impl Into<PathBuf>,
        format: &'static str,
        section: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        IoError::Section {
            path: path.into(),
            format,
            section: section.into(),
            message: message.into(),
        }
    }
    pub fn os(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        IoError::Os {
            path: path.into(),
            source,
        }
    }
}

/// Settings of [`open_dataset_with`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OpenOptions {
    /// Which PTB-XL copy to read. Default: 500 Hz.
    pub ptbxl_rate: PtbxlRate,
}

/// The last component of a path as a data set's name shows it (the whole path when there is
/// none, e.g. `/`).
pub(crate) fn display_name(path: &Path) -> String {
    // `""` (the folder of a record opened by its bare file name) and `.` have no file name:
    // the folder's own name is what the user knows it by
    let absolute = || {
        let here = if path.as_os_str().is_empty() {
            Path::new(".")
        } else {
            path
        };
        std::fs::canonicalize(here).ok()
    };
    path.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .or_else(|| {
            absolute()?
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| path.display().to_string())
}

/// Open a data set, detecting its kind: a folder with `ptbxl_database.csv` (PTB-XL, 500 Hz),
/// a `.hdf5`/`.h5` file (CODE-15% layout), a folder of `.hea` records and/or device ECG files
/// (see [`formats`]; both kinds in one folder open as one data set), a single `.hea` record or
/// device file (a data set of one, the format detected by content), or a folder holding no
/// header but HDF5 files (a CODE-15% file set, with `exams.csv`). Reads only the index (and the
/// first bytes of candidate files to detect their format).
pub fn open_dataset(path: &Path) -> Result<Box<dyn Dataset>, IoError> {
    open_dataset_with(path, &OpenOptions::default())
}

/// [`open_dataset`] with settings.
pub fn open_dataset_with(path: &Path, opts: &OpenOptions) -> Result<Box<dyn Dataset>, IoError> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    if path.is_dir() {
        if path.join("ptbxl_database.csv").is_file() {
            return Ok(Box::new(PtbxlDataset::open(path, opts.ptbxl_rate)?));
        }
        let devices = FileDataset::scan_folder(path)?;
        match FolderDataset::open(path) {
            Ok(ds) if devices.is_empty() => return Ok(Box::new(ds)),
            Ok(ds) => {
                // WFDB records and device files side by side: one data set
                return Ok(Box::new(ConcatDataset::new(
                    format!("ECG folder '{}'", display_name(path)),
                    vec![Box::new(ds), Box::new(devices)],
                )));
            }
            Err(IoError::Format { .. }) if !devices.is_empty() => return Ok(Box::new(devices)),
            Err(no_headers @ IoError::Format { .. }) => {
                // no WFDB header: a folder of CODE-15% HDF5 parts?
                if !code15::hdf5_files_in(path)?.is_empty() {
                    return Ok(Box::new(Code15Dataset::open_folder(path)?));
                }
                return Err(no_headers);
            }
            Err(other) => return Err(other),
        }
    }
    if !path.exists() {
        // a record named without its extension (`100` for `100.hea`)
        let mut with_hea = path.as_os_str().to_owned();
        with_hea.push(".hea");
        let with_hea = PathBuf::from(with_hea);
        if with_hea.is_file() {
            return Ok(Box::new(FolderDataset::single(&with_hea)?));
        }
        return Err(IoError::os(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder"),
        ));
    }
    match ext.as_deref() {
        Some("hdf5" | "h5") => Ok(Box::new(Code15Dataset::open(path)?)),
        Some("hea") => Ok(Box::new(FolderDataset::single(path)?)),
        // anything else by its content
        _ => match formats::detect(path)? {
            Some(_) => Ok(Box::new(FileDataset::single(path)?)),
            None => Err(IoError::format(
                path,
                "not a data set (expected a PTB-XL folder, a folder of WFDB records or ECG files, a .hea record, a .hdf5 file, or an ECG file: DICOM, HL7 aECG, GE MUSE, Philips, SCP-ECG, EDF, ISHNE)",
            )),
        },
    }
}
