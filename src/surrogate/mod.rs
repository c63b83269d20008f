//! The surrogate: a random forest on cluster proportions, metrics, cross-validated evaluation,
//! cohort statistics and the label-quality audit.
//!
//! The paper (Boubekki et al.) shows that a random forest fitted on each ECG's cluster
//! proportions reproduces the CNN's decisions (PTB-XL super-classes, 10-fold CV: fidelity
//! 94.9 +- 0.5 %). [`evaluate::cross_validate`] reproduces that table without leakage: the
//! clusters and the forest of each fold only ever see the training folds.

pub mod audit;
pub mod cohort;
pub mod data;
pub mod evaluate;
pub mod forest;
pub mod metrics;
pub mod oof;

pub use audit::{AuditRow, AuditSettings, Disagreement, audit, write_audit_csv};
pub use cohort::{CohortStats, KSweep, KSweepPoint, cohort_stats, k_sweep};
pub use evaluate::{
    Assignment, BackendError, ClusterBackend, CnnOutputs, EvalData, EvalSettings, EvaluationReport,
    FoldResult, Performance, RecordResult, Summary, Truth, cross_validate,
};
pub use forest::{
    ClassificationForest, ForestSettings, MaxFeatures, MultiLabelForest, RegressionForest,
};
pub use metrics::MeanSd;

use std::path::PathBuf;

/// Errors of the surrogate module.
#[derive(Debug, thiserror::Error)]
pub enum SurrogateError {
    /// A settings struct failed validation.
    #[error("invalid setting: {0}")]
    InvalidSettings(String),
    /// Inputs of inconsistent shape or content (names what does not fit).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The clustering backend failed on a fold.
    #[error("clustering failed (fold {fold}): {message}")]
    Clustering { fold: u32, message: String },
    /// A file could not be read or written, or has a bad format.
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("cancelled")]
    Cancelled,
}

impl SurrogateError {
    pub(crate) fn input(message: impl Into<String>) -> Self {
        SurrogateError::InvalidInput(message.into())
    }
    pub(crate) fn settings(message: impl Into<String>) -> Self {
        SurrogateError::InvalidSettings(message.into())
    }
    pub(crate) fn file(path: impl Into<PathBuf>, message: impl ToString) -> Self {
        SurrogateError::File {
            path: path.into(),
            message: message.to_string(),
        }
    }
}
