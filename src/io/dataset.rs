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

impl RecordEntry {
    /// The entry of record `id` from what its file says of it (`None`: the file could not be
    /// read; the entry is bare, and the error comes when the record is loaded).
    pub fn from_meta(id: String, meta: Option<crate::record::EcgMeta>) -> RecordEntry {
        match meta {
            Some(meta) => RecordEntry {
                id,
                labels: meta.labels,
                fold: meta.fold,
                age_years: meta.age_years,
                sex: meta.sex,
                report: meta.report,
            },
            None => RecordEntry {
                id,
                ..Default::default()
            },
        }
    }
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

/// Several data sets seen as one (a folder holding WFDB records and device files), records in
/// the order of the parts.
pub struct ConcatDataset {
    name: String,
    parts: Vec<Box<dyn Dataset>>,
}

impl ConcatDataset {
    pub fn new(name: String, parts: Vec<Box<dyn Dataset>>) -> Self {
        ConcatDataset { name, parts }
    }

    /// The part holding record `index` and the index within it.
    fn locate(&self, mut index: usize) -> Option<(&dyn Dataset, usize)> {
        for part in &self.parts {
            if index < part.len() {
                return Some((part.as_ref(), index));
            }
            index -= part.len();
        }
        None
    }
}

impl Dataset for ConcatDataset {
    fn name(&self) -> String {
        format!("{} ({} records)", self.name, self.len())
    }

    fn len(&self) -> usize {
        self.parts.iter().map(|p| p.len()).sum()
    }

    fn entry(&self, index: usize) -> Option<&RecordEntry> {
        let (part, i) = self.locate(index)?;
        part.entry(i)
    }

    fn load(&self, index: usize) -> Result<Ecg, IoError> {
        match self.locate(index) {
            Some((part, i)) => part.load(i),
            None => Err(IoError::format(
                &self.name,
                format!("no record {index} (the data set has {})", self.len()),
            )),
        }
    }

    fn class_names(&self) -> Vec<String> {
        crate::io::table::ordered_class_names(
            self.parts
                .iter()
                .flat_map(|p| p.class_names())
                .collect::<Vec<_>>()
                .iter(),
        )
    }
}
