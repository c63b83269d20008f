//! Readers and writers: WFDB records and annotations, CODE-15% HDF5, data set indexes.

pub mod annotation;
pub mod dataset;
pub mod wfdb;

pub use annotation::{Annotation, read_annotations, write_annotations};
pub use dataset::{Dataset, RecordEntry};
pub use wfdb::{WfdbHeader, WriteOptions, read_adc, read_header, read_record, write_record};

use std::path::PathBuf;

/// Every I/O error names the file it is about.
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    #[error("{path}: {source}")]
    Os {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    #[error("{path}: {source}")]
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
    pub fn os(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        IoError::Os {
            path: path.into(),
            source,
        }
    }
}
