//! CODE-15% HDF5 files (`exams_partN.hdf5`: `tracings` (N, 4096, 12) float32 in mV at 400 Hz,
//! lead order I, II, III, aVR, aVL, aVF, V1-V6, and `exam_id` (N) int64), read one record at a
//! time with a hyperslab, and written in the same layout; and the [`Code15Dataset`] made of such
//! a file and the CSV beside it.
//!
//! The CSV beside `X.hdf5` is the first found of `X.csv`, `exams.csv`, `labels.csv`, and may be:
//! - CODE-15%'s `exams.csv` (exam_id, age, is_male, nn_predicted_age, 1dAVb, RBBB, LBBB, SB,
//!   AF, ST, patient_id, normal_ecg, death, timey, trace_file): labels are the six
//!   abnormality columns that are true;
//! - the PTB-XL-derived layout (exam_id, patient_id, age, sex, scp_codes, strat_fold): labels
//!   are PTB-XL super-classes, from a `scp_statements.csv` beside the file if there is one,
//!   else from [`ptbxl::BUILTIN_DIAGNOSTIC_CLASSES`]; sex 0 = male, 1 = female as in PTB-XL;
//! - the project's `labels.csv` (see [`crate::io::folder`]) with `id` = exam_id.
//!
//! Without a CSV, records are unlabelled.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ndarray::{Array2, s};

use crate::io::table::{Table, ordered_class_names, parse_sex_field};
use crate::io::{Dataset, IoError, RecordEntry, folder, ptbxl};
use crate::record::{Ecg, EcgMeta, LeadName, Sex};

/// Sampling rate of CODE-15% tracings.
pub const CODE15_FS_HZ: f64 = 400.0;
/// Samples per CODE-15% tracing.
pub const CODE15_LENGTH: usize = 4096;
/// The six CODE-15% abnormality columns, in their file order.
pub const CODE15_CLASSES: [&str; 6] = ["1dAVb", "RBBB", "LBBB", "SB", "AF", "ST"];

/// Sanity caps on what a file may declare, so a corrupt or hostile header cannot make a read
/// allocate without bound: records per file (CODE-15% has 345,779 exams in all) and samples
/// per tracing (4096 in CODE-15%; 2^22 is over an hour at 1 kHz).
pub const MAX_RECORDS: usize = 50_000_000;
pub const MAX_SAMPLES_PER_TRACING: usize = 1 << 22;

/// The most a stored HDF5 dataset can be compressed and still be believed: deflate cannot do
/// better than about 1032:1, and a real ECG compresses far less.
const MAX_COMPRESSION_RATIO: u64 = 1032;

/// Check that `ds` (named `name`) holds the bytes its shape declares, before anything is
/// allocated from that shape: a 1 KB file declaring 50 million tracings is refused here, not
/// by the allocator. Unfiltered data must be stored in full; filtered (compressed) data at
/// least at the best ratio a filter can reach.
fn check_stored(path: &Path, name: &str, ds: &hdf5::Dataset) -> Result<(), IoError> {
    let element_bytes = ds
        .dtype()
        .map_err(|e| h5err(path, &format!("cannot read the type of '{name}'"), e))?
        .size() as u64;
    let declared = (ds.size() as u64).saturating_mul(element_bytes);
    let stored = ds.storage_size();
    let needed = if ds.filters().is_empty() {
        declared
    } else {
        declared.div_ceil(MAX_COMPRESSION_RATIO)
    };
    if stored < needed {
        return Err(IoError::format(
            path,
            format!(
                "'{name}' declares shape {:?} ({declared} bytes) but the file stores only {stored} bytes of it (truncated, or never written)",
                ds.shape()
            ),
        ));
    }
    Ok(())
}

fn h5err(path: &Path, what: &str, e: hdf5::Error) -> IoError {
    IoError::format(path, format!("{what}: {e}"))
}

/// An opened CODE-15%-layout HDF5 file (only `exam_id` is read at open).
#[derive(Debug)]
pub struct Code15File {
    path: PathBuf,
    tracings: hdf5::Dataset,
    exam_ids: Vec<i64>,
    n_samples: usize,
    n_leads: usize,
}

impl Code15File {
    pub fn open(path: &Path) -> Result<Code15File, IoError> {
        if !path.exists() {
            return Err(IoError::os(
                path,
                std::io::Error::new(std::io::ErrorKind::NotFound, "file not found"),
            ));
        }
        // A FIFO or device would block or never end inside the HDF5 library.
        crate::io::files::regular_file_len(path, u64::MAX)?;
        let file =
            hdf5::File::open(path).map_err(|e| h5err(path, "not a readable HDF5 file", e))?;
        if !file.link_exists("tracings") {
            return Err(IoError::format(
                path,
                "no 'tracings' dataset (not a CODE-15% file)",
            ));
        }
        let tracings = file
            .dataset("tracings")
            .map_err(|e| h5err(path, "cannot open 'tracings'", e))?;
        let shape = tracings.shape();
        if shape.len() != 3 {
            return Err(IoError::format(
                path,
                format!("'tracings' has shape {shape:?}, expected (N, samples, leads)"),
            ));
        }
        if shape[0] > MAX_RECORDS || shape[1] > MAX_SAMPLES_PER_TRACING || shape[1] == 0 {
            return Err(IoError::format(
                path,
                format!("'tracings' has an implausible shape {shape:?}"),
            ));
        }
        if shape[2] != 12 {
            return Err(IoError::format(
                path,
                format!("'tracings' has {} leads, expected 12", shape[2]),
            ));
        }
        check_stored(path, "tracings", &tracings)?;
        let exam_ids: Vec<i64> = if file.link_exists("exam_id") {
            let ds = file
                .dataset("exam_id")
                .map_err(|e| h5err(path, "cannot open 'exam_id'", e))?;
            check_stored(path, "exam_id", &ds)?;
            if ds.ndim() != 1 || ds.size() != shape[0] {
                return Err(IoError::format(
                    path,
                    format!(
                        "'exam_id' has shape {:?} for {} tracings",
                        ds.shape(),
                        shape[0]
                    ),
                ));
            }
            ds.read_raw::<i64>()
                .map_err(|e| h5err(path, "cannot read 'exam_id'", e))?
        } else {
            // Without exam ids, the row number identifies the tracing.
            (0..shape[0] as i64).collect()
        };
        Ok(Code15File {
            path: path.to_path_buf(),
            tracings,
            exam_ids,
            n_samples: shape[1],
            n_leads: 12,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn len(&self) -> usize {
        self.exam_ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.exam_ids.is_empty()
    }

    pub fn exam_ids(&self) -> &[i64] {
        &self.exam_ids
    }

    /// Samples per tracing (4096 in CODE-15%).
    pub fn n_samples(&self) -> usize {
        self.n_samples
    }

    /// Tracing `index` as leads x samples (mV), read with a hyperslab (only this record is
    /// read from disk). A NaN or infinity is an error naming the file, exam and lead.
    pub fn read_tracing(&self, index: usize) -> Result<Array2<f32>, IoError> {
        let Some(&exam_id) = self.exam_ids.get(index) else {
            return Err(IoError::format(
                &self.path,
                format!("no tracing {index} (the file has {})", self.len()),
            ));
        };
        let slab: Array2<f32> = self
            .tracings
            .read_slice(s![index, .., ..])
            .map_err(|e| h5err(&self.path, &format!("cannot read tracing {index}"), e))?;
        let tracing = slab.t().as_standard_layout().into_owned();
        let leads = LeadName::standard_12();
        for (lead, row) in tracing.rows().into_iter().enumerate() {
            if let Some(sample) = row.iter().position(|v| !v.is_finite()) {
                return Err(IoError::format(
                    &self.path,
                    format!(
                        "exam {exam_id} (index {index}), lead {}: non-finite value at sample {sample}",
                        leads[lead.min(self.n_leads - 1)]
                    ),
                ));
            }
        }
        Ok(tracing)
    }

    /// Tracing `index` as an [`Ecg`] at 400 Hz; `meta.id` is the exam id unless `meta` has one.
    pub fn read_ecg(&self, index: usize, mut meta: EcgMeta) -> Result<Ecg, IoError> {
        let tracing = self.read_tracing(index)?;
        if meta.id.is_empty() {
            meta.id = self.exam_ids[index].to_string();
        }
        meta.source = Some(self.path.clone());
        Ecg::new(LeadName::standard_12(), CODE15_FS_HZ, tracing, meta).map_err(|source| {
            IoError::Record {
                path: self.path.clone(),
                source,
            }
        })
    }
}

/// Writes a CODE-15%-layout file record by record (so large sets need not fit in memory).
pub struct Code15Writer {
    path: PathBuf,
    file: hdf5::File,
    tracings: hdf5::Dataset,
    exam_ids: Vec<i64>,
    written: Vec<bool>,
}

impl Code15Writer {
    /// Create a file for `n_records` tracings. Refuses to replace an existing file unless
    /// `overwrite`.
    pub fn create(path: &Path, n_records: usize, overwrite: bool) -> Result<Code15Writer, IoError> {
        if path.exists() && !overwrite {
            return Err(IoError::format(
                path,
                "already exists (set overwrite to replace it)",
            ));
        }
        let file = hdf5::File::create(path).map_err(|e| h5err(path, "cannot create", e))?;
        let tracings = file
            .new_dataset::<f32>()
            .chunk((1, CODE15_LENGTH, 12))
            .shape((n_records, CODE15_LENGTH, 12))
            .create("tracings")
            .map_err(|e| h5err(path, "cannot create 'tracings'", e))?;
        Ok(Code15Writer {
            path: path.to_path_buf(),
            file,
            tracings,
            exam_ids: vec![0; n_records],
            written: vec![false; n_records],
        })
    }

    /// Write record `index`: it must hold the 12 standard leads, at 400 Hz, 4096 samples
    /// (prepare it with `dsp` first).
    pub fn write(&mut self, index: usize, ecg: &Ecg, exam_id: i64) -> Result<(), IoError> {
        let n = self.exam_ids.len();
        if index >= n {
            return Err(IoError::format(
                &self.path,
                format!("record {index} is past the {n} declared"),
            ));
        }
        if ecg.fs_hz != CODE15_FS_HZ || ecg.n_samples() != CODE15_LENGTH {
            return Err(IoError::format(
                &self.path,
                format!(
                    "exam {exam_id}: {} samples at {} Hz; the CODE-15% layout needs {CODE15_LENGTH} at {CODE15_FS_HZ} Hz",
                    ecg.n_samples(),
                    ecg.fs_hz
                ),
            ));
        }
        let leads = ecg
            .select_leads(&LeadName::standard_12())
            .map_err(|source| IoError::Record {
                path: self.path.clone(),
                source,
            })?;
        let samples_by_lead = leads.t().as_standard_layout().into_owned();
        self.tracings
            .write_slice(&samples_by_lead, s![index, .., ..])
            .map_err(|e| h5err(&self.path, &format!("cannot write exam {exam_id}"), e))?;
        self.exam_ids[index] = exam_id;
        self.written[index] = true;
        Ok(())
    }

    /// Write `exam_id` and close. Every declared record must have been written.
    pub fn finish(self) -> Result<(), IoError> {
        if let Some(missing) = self.written.iter().position(|w| !w) {
            return Err(IoError::format(
                &self.path,
                format!("record {missing} was never written"),
            ));
        }
        self.file
            .new_dataset_builder()
            .with_data(&ndarray::Array1::from(self.exam_ids.clone()))
            .create("exam_id")
            .map_err(|e| h5err(&self.path, "cannot write 'exam_id'", e))?;
        self.file
            .flush()
            .map_err(|e| h5err(&self.path, "cannot flush", e))?;
        Ok(())
    }
}

/// Write records (12 standard leads, 400 Hz, 4096 samples each) and their exam ids in the
/// CODE-15% layout. Refuses to replace an existing file unless `overwrite`.
pub fn write_code15(
    path: &Path,
    records: &[Ecg],
    exam_ids: &[i64],
    overwrite: bool,
) -> Result<(), IoError> {
    if records.len() != exam_ids.len() {
        return Err(IoError::format(
            path,
            format!("{} records but {} exam ids", records.len(), exam_ids.len()),
        ));
    }
    let mut writer = Code15Writer::create(path, records.len(), overwrite)?;
    for (i, (ecg, &id)) in records.iter().zip(exam_ids).enumerate() {
        writer.write(i, ecg, id)?;
    }
    writer.finish()
}

/// One or more CODE-15%-layout HDF5 files (CODE-15% itself is split in `exams_part0.hdf5` ..
/// `exams_part17.hdf5` with one `exams.csv`) with their CSV, as a data set.
#[derive(Debug)]
pub struct Code15Dataset {
    files: Vec<Code15File>,
    /// (file, row) of each record.
    locations: Vec<(usize, usize)>,
    entries: Vec<RecordEntry>,
    class_names: Vec<String>,
    csv: Option<PathBuf>,
}

/// The `.hdf5`/`.h5` files of a folder, sorted by name (`exams_part2` before `exams_part10`:
/// numbers in names compare by value).
pub fn hdf5_files_in(dir: &Path) -> Result<Vec<PathBuf>, IoError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| IoError::os(dir, e))? {
        let p = entry.map_err(|e| IoError::os(dir, e))?.path();
        let ext = p
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        if matches!(ext.as_deref(), Some("hdf5" | "h5")) && p.is_file() {
            out.push(p);
        }
    }
    out.sort_by_key(|p| natural_key(&p.file_name().unwrap_or_default().to_string_lossy()));
    Ok(out)
}

/// A sort key where runs of digits compare as numbers.
fn natural_key(name: &str) -> Vec<(String, u64)> {
    let mut key = Vec::new();
    let mut text = String::new();
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            let mut digits = c.to_string();
            while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                digits.push(d);
                chars.next();
            }
            key.push((
                std::mem::take(&mut text),
                digits.parse().unwrap_or(u64::MAX),
            ));
        } else {
            text.push(c);
        }
    }
    key.push((text, 0));
    key
}

/// The CSV that describes `hdf5_path`, if any (see the module docs).
pub fn companion_csv(hdf5_path: &Path) -> Option<PathBuf> {
    let dir = hdf5_path.parent().unwrap_or(Path::new("."));
    let same_stem = hdf5_path.with_extension("csv");
    [same_stem, dir.join("exams.csv"), dir.join("labels.csv")]
        .into_iter()
        .find(|p| p.exists())
}

fn truthy(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "true" | "1" | "1.0"
    )
}

/// Per-exam entries from a CSV (one of the three layouts of the module docs), and the class
/// names it defines.
pub fn entries_from_table(
    table: &Table,
    scp_statements: Option<&Table>,
) -> Result<(HashMap<i64, RecordEntry>, Vec<String>), IoError> {
    let mut out = HashMap::new();
    let parse_id = |i: usize, v: &str| -> Result<i64, IoError> {
        let v = v.strip_suffix(".0").unwrap_or(v);
        v.parse()
            .map_err(|_| IoError::format(&table.path, format!("row {}: bad exam id '{v}'", i + 2)))
    };
    if table.has_column("is_male") || CODE15_CLASSES.iter().any(|c| table.has_column(c)) {
        // CODE-15% exams.csv
        let c_id = table.column("exam_id")?;
        let c_age = table.optional_column("age");
        let c_male = table.column("is_male")?;
        let c_classes: Vec<usize> = CODE15_CLASSES
            .iter()
            .map(|c| table.column(c))
            .collect::<Result<_, _>>()?;
        for (i, row) in table.rows.iter().enumerate() {
            let id = parse_id(i, table.field(row, c_id))?;
            let age = match c_age {
                Some(c) => table.parse_opt::<f32>(i, "age", table.field(row, c))?,
                None => None,
            };
            let male = table.field(row, c_male);
            let sex = if male.is_empty() {
                None
            } else if truthy(male) {
                Some(Sex::Male)
            } else {
                Some(Sex::Female)
            };
            let labels = CODE15_CLASSES
                .iter()
                .zip(&c_classes)
                .filter(|(_, c)| truthy(table.field(row, **c)))
                .map(|(name, _)| name.to_string())
                .collect();
            out.insert(
                id,
                RecordEntry {
                    id: id.to_string(),
                    labels,
                    fold: None,
                    age_years: age,
                    sex,
                    report: None,
                },
            );
        }
        return Ok((out, CODE15_CLASSES.iter().map(|s| s.to_string()).collect()));
    }
    if table.has_column("scp_codes") {
        // PTB-XL-derived layout
        let c_id = table.column("exam_id")?;
        let c_codes = table.column("scp_codes")?;
        let c_age = table.optional_column("age");
        let c_sex = table.optional_column("sex");
        let c_fold = table.optional_column("strat_fold");
        let classes = match scp_statements {
            Some(scp) => ptbxl::diagnostic_classes(scp)?,
            None => ptbxl::builtin_diagnostic_classes(),
        };
        for (i, row) in table.rows.iter().enumerate() {
            let id = parse_id(i, table.field(row, c_id))?;
            let codes = table.field(row, c_codes);
            let labels = ptbxl::super_classes(codes, &classes);
            let age = match c_age {
                Some(c) => table.parse_opt::<f32>(i, "age", table.field(row, c))?,
                None => None,
            };
            let fold = match c_fold {
                Some(c) => table.parse_opt::<f64>(i, "strat_fold", table.field(row, c))?,
                None => None,
            };
            out.insert(
                id,
                RecordEntry {
                    id: id.to_string(),
                    labels,
                    fold: fold
                        .filter(|f| *f >= 0.0 && f.fract() == 0.0)
                        .map(|f| f as u32),
                    age_years: age,
                    sex: c_sex.and_then(|c| parse_sex_field(table.field(row, c), true)),
                    report: None,
                },
            );
        }
        let names = ptbxl::SUPER_CLASSES.iter().map(|s| s.to_string()).collect();
        return Ok((out, names));
    }
    // the project's labels.csv
    let labelled = folder::labels_from_table(table)?;
    let mut all = Vec::new();
    for (id, entry) in labelled {
        let exam = id.parse::<i64>().map_err(|_| {
            IoError::format(
                &table.path,
                format!("id '{id}' is not an exam id (integer)"),
            )
        })?;
        all.extend(entry.labels.iter().cloned());
        out.insert(exam, entry);
    }
    Ok((out, ordered_class_names(all.iter())))
}

impl Code15Dataset {
    /// Open an HDF5 file and the CSV beside it (see the module docs).
    pub fn open(path: &Path) -> Result<Code15Dataset, IoError> {
        Self::open_files(&[path.to_path_buf()], companion_csv(path).as_deref())
    }

    /// Open every `.hdf5`/`.h5` file of a folder (sorted by name) with the folder's
    /// `exams.csv` (or `labels.csv`, or the one file's same-stem CSV).
    pub fn open_folder(dir: &Path) -> Result<Code15Dataset, IoError> {
        let paths = hdf5_files_in(dir)?;
        if paths.is_empty() {
            return Err(IoError::format(
                dir,
                "no HDF5 file (.hdf5 or .h5) in this folder",
            ));
        }
        let csv = [dir.join("exams.csv"), dir.join("labels.csv")]
            .into_iter()
            .find(|p| p.exists())
            .or_else(|| {
                if paths.len() == 1 {
                    companion_csv(&paths[0])
                } else {
                    None
                }
            });
        Self::open_files(&paths, csv.as_deref())
    }

    /// Open the given files (records in file order) with an optional CSV of labels.
    pub fn open_files(paths: &[PathBuf], csv: Option<&Path>) -> Result<Code15Dataset, IoError> {
        let files = paths
            .iter()
            .map(|p| Code15File::open(p))
            .collect::<Result<Vec<_>, _>>()?;
        let (by_id, class_names) = match csv {
            Some(csv_path) => {
                let table = Table::read(csv_path)?;
                let scp_path = csv_path.with_file_name("scp_statements.csv");
                let scp = if scp_path.exists() {
                    Some(Table::read(&scp_path)?)
                } else {
                    None
                };
                entries_from_table(&table, scp.as_ref())?
            }
            None => (HashMap::new(), Vec::new()),
        };
        let mut locations = Vec::new();
        let mut entries = Vec::new();
        for (f, file) in files.iter().enumerate() {
            for (row, id) in file.exam_ids().iter().enumerate() {
                locations.push((f, row));
                entries.push(by_id.get(id).cloned().unwrap_or_else(|| RecordEntry {
                    id: id.to_string(),
                    ..Default::default()
                }));
            }
        }
        Ok(Code15Dataset {
            files,
            locations,
            entries,
            class_names,
            csv: csv.map(Path::to_path_buf),
        })
    }

    /// The HDF5 files, in record order.
    pub fn files(&self) -> &[Code15File] {
        &self.files
    }

    /// The CSV the labels came from, if any.
    pub fn csv_path(&self) -> Option<&Path> {
        self.csv.as_deref()
    }
}

impl Dataset for Code15Dataset {
    fn name(&self) -> String {
        let Some(first) = self.files.first() else {
            return "CODE-15% layout (no file)".to_string();
        };
        if self.files.len() > 1 {
            return format!(
                "CODE-15% layout, {} files ({} records, 400 Hz)",
                self.files.len(),
                self.entries.len()
            );
        }
        let stem = first
            .path()
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!(
            "CODE-15% layout '{stem}' ({} records, 400 Hz)",
            self.entries.len()
        )
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    fn entry(&self, index: usize) -> Option<&RecordEntry> {
        self.entries.get(index)
    }

    fn load(&self, index: usize) -> Result<Ecg, IoError> {
        let (Some(entry), Some(&(f, row))) = (self.entries.get(index), self.locations.get(index))
        else {
            let path = self
                .files
                .first()
                .map_or_else(PathBuf::new, |f| f.path().to_path_buf());
            return Err(IoError::format(
                path,
                format!("no record {index} (the data set has {})", self.len()),
            ));
        };
        let meta = EcgMeta {
            id: entry.id.clone(),
            age_years: entry.age_years,
            sex: entry.sex,
            labels: entry.labels.clone(),
            report: entry.report.clone(),
            fold: entry.fold,
            source: None,
            ..Default::default()
        };
        self.files[f].read_ecg(row, meta)
    }

    fn class_names(&self) -> Vec<String> {
        self.class_names.clone()
    }
}
