//! A data set: an index of records (loaded lazily) with their labels and folds.

use crate::io::IoError;
use crate::record::{Ecg, Sex};
use serde::{Deserialize, Serialize};

/// What the index knows about one record without loading its samples.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecordEntry {
    pub id: String,
    /// True labels (e.g. PTB-XL super-classes); empty when the data set has none.
    pub labels: Vec<String>,
    pub fold: Option<u32>,
    pub age_years: Option<f32>,
    pub sex: Option<Sex>,
    pub report: Option<String>,
}

/// An opened data set. Opening reads only the index; `load` reads one record.
pub trait Dataset: Send + Sync {
    /// A short human name ("PTB-XL (500 records, 100 Hz)").
    fn name(&self) -> String;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn entry(&self, index: usize) -> Option<&RecordEntry>;
    fn load(&self, index: usize) -> Result<Ecg, IoError>;
    /// The label vocabulary in a fixed order (e.g. NORM, MI, STTC, CD, HYP); empty if unlabelled.
    fn class_names(&self) -> Vec<String>;
}
