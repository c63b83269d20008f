//! PTB-XL as a [`Dataset`]: the index `ptbxl_database.csv`, diagnostic super-classes from
//! `scp_statements.csv`, WFDB records at 100 or 500 Hz loaded on demand.
//!
//! Super-classes follow the PTB-XL benchmark (Strodthoff et al. 2021): each code of a record's
//! `scp_codes` whose statement has `diagnostic == 1` contributes its `diagnostic_class`,
//! whatever its likelihood value (0 included).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use crate::io::table::{Table, ordered_class_names, parse_sex_field};
use crate::io::{Dataset, IoError, RecordEntry, wfdb};
use crate::record::Ecg;

/// Which of PTB-XL's two copies of every record to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum PtbxlRate {
    /// `filename_lr`: 100 Hz.
    Hz100,
    /// `filename_hr`: 500 Hz (the default: closer to the 400 Hz of Ribeiro's model).
    #[default]
    Hz500,
}

impl PtbxlRate {
    pub fn fs_hz(self) -> f64 {
        match self {
            PtbxlRate::Hz100 => 100.0,
            PtbxlRate::Hz500 => 500.0,
        }
    }
}

/// The PTB-XL super-classes in the benchmark's order.
pub const SUPER_CLASSES: [&str; 5] = ["NORM", "MI", "STTC", "CD", "HYP"];

/// PTB-XL 1.0's `scp_statements.csv` reduced to its 44 diagnostic statements (`diagnostic ==
/// 1`) and their `diagnostic_class`: used when a CSV in PTB-XL's coding (such as the
/// CODE-15%-layout copy of PTB-XL) comes without `scp_statements.csv`. A file beside the data
/// always takes precedence.
#[rustfmt::skip]
pub const BUILTIN_DIAGNOSTIC_CLASSES: [(&str, &str); 44] = [
    ("NDT", "STTC"), ("NST_", "STTC"), ("DIG", "STTC"), ("LNGQT", "STTC"), ("NORM", "NORM"),
    ("IMI", "MI"), ("ASMI", "MI"), ("LVH", "HYP"), ("LAFB", "CD"), ("ISC_", "STTC"),
    ("IRBBB", "CD"), ("1AVB", "CD"), ("IVCD", "CD"), ("ISCAL", "STTC"), ("CRBBB", "CD"),
    ("CLBBB", "CD"), ("ILMI", "MI"), ("LAO/LAE", "HYP"), ("AMI", "MI"), ("ALMI", "MI"),
    ("ISCIN", "STTC"), ("INJAS", "MI"), ("LMI", "MI"), ("ISCIL", "STTC"), ("LPFB", "CD"),
    ("ISCAS", "STTC"), ("INJAL", "MI"), ("ISCLA", "STTC"), ("RVH", "HYP"), ("ANEUR", "STTC"),
    ("RAO/RAE", "HYP"), ("EL", "STTC"), ("WPW", "CD"), ("ILBBB", "CD"), ("IPLMI", "MI"),
    ("ISCAN", "STTC"), ("IPMI", "MI"), ("SEHYP", "HYP"), ("INJIN", "MI"), ("INJLA", "MI"),
    ("PMI", "MI"), ("3AVB", "CD"), ("INJIL", "MI"), ("2AVB", "CD"),
];

/// [`BUILTIN_DIAGNOSTIC_CLASSES`] as a map.
pub fn builtin_diagnostic_classes() -> HashMap<String, String> {
    BUILTIN_DIAGNOSTIC_CLASSES
        .iter()
        .map(|(c, k)| (c.to_string(), k.to_string()))
        .collect()
}

/// An opened PTB-XL folder.
#[derive(Debug, Clone)]
pub struct PtbxlDataset {
    root: PathBuf,
    rate: PtbxlRate,
    entries: Vec<RecordEntry>,
    /// Record paths relative to `root`, without extension, at the chosen rate.
    files: Vec<String>,
}

/// Keys of a PTB-XL `scp_codes` field: `{'NORM': 100.0, 'SR': 0.0}` -> `["NORM", "SR"]`.
pub fn scp_code_keys(field: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut rest = field;
    while let Some(start) = rest.find(['\'', '"']) {
        let quote = rest[start..].chars().next().unwrap_or('\'');
        let after = &rest[start + 1..];
        let Some(end) = after.find(quote) else { break };
        let key = &after[..end];
        rest = &after[end + 1..];
        // a key is followed by ':'; a quoted value would not be
        if rest.trim_start().starts_with(':') && !key.is_empty() {
            keys.push(key.to_string());
        }
    }
    keys
}

/// SCP code -> diagnostic class, for statements with `diagnostic == 1`.
pub fn diagnostic_classes(scp: &Table) -> Result<HashMap<String, String>, IoError> {
    // The code is the first, unnamed, column of scp_statements.csv.
    let code_col = scp.optional_column("").unwrap_or(0);
    let diagnostic = scp.column("diagnostic")?;
    let class = scp.column("diagnostic_class")?;
    let mut map = HashMap::new();
    for row in &scp.rows {
        let is_diagnostic = scp
            .field(row, diagnostic)
            .parse::<f64>()
            .is_ok_and(|v| v == 1.0);
        let class_name = scp.field(row, class);
        if is_diagnostic && !class_name.is_empty() {
            map.insert(scp.field(row, code_col).to_string(), class_name.to_string());
        }
    }
    Ok(map)
}

/// Super-classes of one `scp_codes` field, in [`SUPER_CLASSES`] order (others after).
pub fn super_classes(scp_codes: &str, classes: &HashMap<String, String>) -> Vec<String> {
    let set: BTreeSet<String> = scp_code_keys(scp_codes)
        .iter()
        .filter_map(|k| classes.get(k).cloned())
        .collect();
    ordered_class_names(set.iter())
}

impl PtbxlDataset {
    /// Open a PTB-XL folder (with `ptbxl_database.csv` and `scp_statements.csv`). Reads only
    /// the two CSV files.
    pub fn open(root: &Path, rate: PtbxlRate) -> Result<PtbxlDataset, IoError> {
        let db = Table::read(&root.join("ptbxl_database.csv"))?;
        let scp = Table::read(&root.join("scp_statements.csv"))?;
        Self::from_tables(root, rate, &db, &scp)
    }

    /// Build the index from already parsed tables (the CSV files of [`Self::open`]).
    pub fn from_tables(
        root: &Path,
        rate: PtbxlRate,
        db: &Table,
        scp: &Table,
    ) -> Result<PtbxlDataset, IoError> {
        let classes = diagnostic_classes(scp)?;
        let c_id = db.column("ecg_id")?;
        let c_codes = db.column("scp_codes")?;
        let c_fold = db.column("strat_fold")?;
        let c_file = db.column(match rate {
            PtbxlRate::Hz100 => "filename_lr",
            PtbxlRate::Hz500 => "filename_hr",
        })?;
        let c_age = db.optional_column("age");
        let c_sex = db.optional_column("sex");
        let c_report = db.optional_column("report");
        let mut entries = Vec::with_capacity(db.rows.len());
        let mut files = Vec::with_capacity(db.rows.len());
        for (i, row) in db.rows.iter().enumerate() {
            let id = db.field(row, c_id);
            if id.is_empty() {
                return Err(IoError::format(
                    &db.path,
                    format!("row {}: empty ecg_id", i + 2),
                ));
            }
            let file = db.field(row, c_file);
            // The index may only name files inside the data set's folder.
            if crate::io::files::file_inside(root, &format!("{file}.hea"), &db.path).is_err() {
                return Err(IoError::format(
                    &db.path,
                    format!(
                        "row {}: '{file}' is not a file inside the data set's folder (empty, \
                         absolute, '..' or a link leading out)",
                        i + 2
                    ),
                ));
            }
            let fold: Option<f64> = db.parse_opt(i, "strat_fold", db.field(row, c_fold))?;
            let age: Option<f32> = match c_age {
                Some(c) => db.parse_opt(i, "age", db.field(row, c))?,
                None => None,
            };
            entries.push(RecordEntry {
                // ecg_id may be written as 1 or 1.0
                id: id.strip_suffix(".0").unwrap_or(id).to_string(),
                labels: super_classes(db.field(row, c_codes), &classes),
                fold: fold
                    .filter(|f| *f >= 0.0 && f.fract() == 0.0)
                    .map(|f| f as u32),
                age_years: age.filter(|a| a.is_finite()),
                sex: c_sex.and_then(|c| parse_sex_field(db.field(row, c), true)),
                report: c_report
                    .map(|c| db.field(row, c).to_string())
                    .filter(|r| !r.is_empty()),
            });
            files.push(file.to_string());
        }
        Ok(PtbxlDataset {
            root: root.to_path_buf(),
            rate,
            entries,
            files,
        })
    }

    pub fn rate(&self) -> PtbxlRate {
        self.rate
    }

    /// The header path of record `index`.
    pub fn header_path(&self, index: usize) -> Option<PathBuf> {
        self.files
            .get(index)
            .map(|f| self.root.join(format!("{f}.hea")))
    }
}

impl Dataset for PtbxlDataset {
    fn name(&self) -> String {
        format!(
            "PTB-XL ({} records, {} Hz)",
            self.entries.len(),
            self.rate.fs_hz()
        )
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    fn entry(&self, index: usize) -> Option<&RecordEntry> {
        self.entries.get(index)
    }

    fn load(&self, index: usize) -> Result<Ecg, IoError> {
        let hea = self.header_path(index).ok_or_else(|| {
            IoError::format(
                &self.root,
                format!("no record {index} (the data set has {})", self.len()),
            )
        })?;
        let mut ecg = wfdb::read_record(&hea)?;
        let entry = &self.entries[index];
        ecg.meta.id = entry.id.clone();
        ecg.meta.labels = entry.labels.clone();
        ecg.meta.fold = entry.fold;
        ecg.meta.age_years = entry.age_years;
        ecg.meta.sex = entry.sex;
        ecg.meta.report = entry.report.clone();
        Ok(ecg)
    }

    fn class_names(&self) -> Vec<String> {
        SUPER_CLASSES.iter().map(|s| s.to_string()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scp_keys_are_extracted() {
        assert_eq!(
            scp_code_keys("{'NORM': 100.0, 'LVOLT': 0.0, 'SR': 0.0}"),
            vec!["NORM", "LVOLT", "SR"]
        );
        assert_eq!(scp_code_keys("{}"), Vec::<String>::new());
        assert_eq!(scp_code_keys("{'IMI': 15.0, \"X\": 1}"), vec!["IMI", "X"]);
    }
}
