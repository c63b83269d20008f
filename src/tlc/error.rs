//! The one error type of the TLC module.

use std::path::PathBuf;

/// Everything that can go wrong while fitting or applying time-localized clusters. File errors
/// name the file; setting errors name the setting and the offending value.
#[derive(Debug, thiserror::Error)]
pub enum TlcError {
    #[error("invalid setting {setting}: {message}")]
    InvalidSetting {
        setting: &'static str,
        message: String,
    },
    #[error("k = 0: at least one cluster is needed")]
    ZeroClusters,
    #[error("k = {k} clusters but only {n_steps} time steps to fit them on")]
    TooFewSteps { k: usize, n_steps: usize },
    #[error("no records to fit on")]
    NoRecords,
    #[error("shape mismatch in {what}: expected {expected}, got {got}")]
    Shape {
        what: String,
        expected: String,
        got: String,
    },
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    #[error("{path}: writing Parquet")]
    Parquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("{path} already exists (pass --overwrite to replace it)")]
    AlreadyExists { path: PathBuf },
    #[error(
        "explainer '{explainer}' was fitted for model '{expected_model}' (sha256 {expected_sha256}), \
         not for model '{actual_model}' (sha256 {actual_sha256}){detail}"
    )]
    ModelMismatch {
        explainer: String,
        expected_model: String,
        expected_sha256: String,
        actual_model: String,
        actual_sha256: String,
        /// Which part differs beyond the hash (e.g. the architecture), possibly empty.
        detail: String,
    },
    #[error(
        "explainer '{explainer}' was fitted on records with {explainer_preprocessing}, but model \
         '{model}' was trained with {model_preprocessing}: refit the explainer"
    )]
    PreprocessingMismatch {
        explainer: String,
        explainer_preprocessing: crate::dsp::Preprocessing,
        model: String,
        model_preprocessing: crate::dsp::Preprocessing,
    },
    #[error("record '{record}'")]
    Dataset {
        record: String,
        #[source]
        source: crate::io::IoError,
    },
    #[error("record '{record}'")]
    Preprocess {
        record: String,
        #[source]
        source: crate::dsp::DspError,
    },
    /// A preprocessing error that names the record itself.
    #[error(transparent)]
    Dsp(crate::dsp::DspError),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    /// Reading or writing a file (the error names it).
    #[error(transparent)]
    File(#[from] crate::io::IoError),
    #[error("tensor computation")]
    Tensor(#[from] candle_core::Error),
    #[error("k-means: {0}")]
    KMeans(String),
    #[error("cancelled")]
    Cancelled,
}

impl TlcError {
    pub(crate) fn setting(setting: &'static str, message: impl Into<String>) -> Self {
        TlcError::InvalidSetting {
            setting,
            message: message.into(),
        }
    }

    pub(crate) fn shape(
        what: impl Into<String>,
        expected: impl std::fmt::Display,
        got: impl std::fmt::Display,
    ) -> Self {
        TlcError::Shape {
            what: what.into(),
            expected: expected.to_string(),
            got: got.to_string(),
        }
    }

    pub(crate) fn format(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        TlcError::Format {
            path: path.into(),
            message: message.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TlcError::Io {
            path: path.into(),
            source,
        }
    }
}
