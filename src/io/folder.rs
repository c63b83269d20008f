//! A folder of WFDB records (or a single record) as a [`Dataset`].
//!
//! Opening lists the `.hea` files (in the folder and its sub-folders, up to
//! [`MAX_DEPTH`] levels, sorted by path) and reads `labels.csv` when the folder has one; it reads
//! no record file. The record id is the header's file stem.
//!
//! # `labels.csv`
//!
//! One row per record, comma-separated, with a header row naming the columns:
//!
//! | column | required | content |
//! |---|---|---|
//! | `id` | yes | record id = header file stem (`synth_00017` for `synth_00017.hea`) |
//! | `labels` | yes | space-separated labels (`MI STTC`); empty for none |
//! | `fold` | no | cross-validation fold, a non-negative integer; empty if none |
//! | `age` | no | age in years; empty if unknown |
//! | `sex` | no | `M` or `F` (also `male`/`female`); empty if unknown |
//!
//! Rows whose id has no header are an error; records without a row are unlabelled.
//! Without `labels.csv`, each record's entry comes from its header comments (`# labels: MI STTC`,
//! `# fold: 3`, `# age: 63`, `# sex: M`, as [`crate::io::wfdb::write_record`] writes them), read
//! the first time the entry is asked for.
//!
//! A multi-segment record is one record: the headers of its segments and layout are not listed
//! as records of their own. Only headers that may be such a master are read at opening: those
//! named `NAME.hea` beside a `NAME_*.hea` (PhysioNet's naming of segments, `3000003_0001`,
//! `3000003_layout`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::io::table::{Table, ordered_class_names, parse_sex_field};
use crate::io::{Dataset, IoError, RecordEntry, wfdb};
use crate::record::Ecg;

/// How deep below the opened folder headers are looked for.
pub const MAX_DEPTH: usize = 4;

/// An opened folder of WFDB records.
#[derive(Debug)]
pub struct FolderDataset {
    root: PathBuf,
    headers: Vec<PathBuf>,
    entries: Vec<OnceLock<RecordEntry>>,
    has_labels_csv: bool,
}

/// Parse the project's `labels.csv` table: id -> entry.
pub fn labels_from_table(table: &Table) -> Result<HashMap<String, RecordEntry>, IoError> {
    let c_id = table.column("id")?;
    let c_labels = table.column("labels")?;
    let c_fold = table.optional_column("fold");
    let c_age = table.optional_column("age");
    let c_sex = table.optional_column("sex");
    let mut out = HashMap::with_capacity(table.rows.len());
    for (i, row) in table.rows.iter().enumerate() {
        let id = table.field(row, c_id);
        if id.is_empty() {
            return Err(IoError::format(
                &table.path,
                format!("row {}: empty id", i + 2),
            ));
        }
        let fold = match c_fold {
            Some(c) => table.parse_opt::<u32>(i, "fold", table.field(row, c))?,
            None => None,
        };
        let age = match c_age {
            Some(c) => table.parse_opt::<f32>(i, "age", table.field(row, c))?,
            None => None,
        };
        let entry = RecordEntry {
            id: id.to_string(),
            labels: table
                .field(row, c_labels)
                .split_whitespace()
                .map(str::to_string)
                .collect(),
            fold,
            age_years: age.filter(|a| a.is_finite()),
            sex: c_sex.and_then(|c| parse_sex_field(table.field(row, c), true)),
            report: None,
        };
        if out.insert(id.to_string(), entry).is_some() {
            return Err(IoError::format(
                &table.path,
                format!("row {}: id '{id}' appears twice", i + 2),
            ));
        }
    }
    Ok(out)
}

/// The `.hea` files below `dir`, at most `MAX_DEPTH` folders down; a folder reached twice
/// (a link to itself or to a parent) is walked once.
fn list_headers(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), IoError> {
    crate::io::files::walk_files(dir, MAX_DEPTH, &mut |path| {
        if path.extension().is_some_and(|e| e == "hea") {
            out.push(path);
        }
    })
}

/// Remove the headers of segments (and layouts) of the multi-segment records among `headers`.
/// Candidate masters are `NAME.hea` with a `NAME_*.hea` beside them; each is read, and the
/// segments a multi-segment master names in its folder are removed. An unreadable candidate
/// is left alone (its error comes when it is loaded).
fn drop_segment_headers(headers: &mut Vec<PathBuf>) {
    use std::collections::HashSet;
    let key = |p: &Path| (p.parent().map(Path::to_path_buf), stem(p));
    let all: HashSet<(Option<PathBuf>, String)> = headers.iter().map(|p| key(p)).collect();
    let mut masters: HashSet<(Option<PathBuf>, String)> = HashSet::new();
    for p in headers.iter() {
        let (parent, name) = key(p);
        for (i, _) in name.match_indices('_') {
            let candidate = (parent.clone(), name[..i].to_string());
            if all.contains(&candidate) {
                masters.insert(candidate);
            }
        }
    }
    let mut segments: HashSet<(Option<PathBuf>, String)> = HashSet::new();
    for (parent, name) in masters {
        let Some(dir) = parent.as_ref() else { continue };
        let Ok(header) = wfdb::read_header(&dir.join(format!("{name}.hea"))) else {
            continue;
        };
        for segment in header.segments.iter().flatten() {
            segments.insert((parent.clone(), segment.record_name.clone()));
        }
    }
    if !segments.is_empty() {
        headers.retain(|p| !segments.contains(&key(p)));
    }
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl FolderDataset {
    /// Open a folder of WFDB records (see the module docs).
    pub fn open(dir: &Path) -> Result<FolderDataset, IoError> {
        let mut headers = Vec::new();
        list_headers(dir, &mut headers)?;
        drop_segment_headers(&mut headers);
        headers.sort();
        if headers.is_empty() {
            return Err(IoError::format(dir, "no WFDB header (.hea) in this folder"));
        }
        let labels_path = dir.join("labels.csv");
        let labelled = if labels_path.exists() {
            Some(labels_from_table(&Table::read(&labels_path)?)?)
        } else {
            None
        };
        Self::from_parts(dir, headers, labelled, &labels_path)
    }

    /// A data set of one record.
    pub fn single(hea_path: &Path) -> Result<FolderDataset, IoError> {
        if !hea_path.is_file() {
            return Err(IoError::os(
                hea_path,
                std::io::Error::new(std::io::ErrorKind::NotFound, "header not found"),
            ));
        }
        let root = hea_path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::from_parts(&root, vec![hea_path.to_path_buf()], None, Path::new(""))
    }

    /// Build the index from header paths and (optionally) parsed `labels.csv` rows. Used by
    /// [`Self::open`]; public so the index cost can be measured without a file system.
    pub fn from_parts(
        root: &Path,
        headers: Vec<PathBuf>,
        labelled: Option<HashMap<String, RecordEntry>>,
        labels_path: &Path,
    ) -> Result<FolderDataset, IoError> {
        let entries: Vec<OnceLock<RecordEntry>> = headers.iter().map(|_| OnceLock::new()).collect();
        let has_labels_csv = labelled.is_some();
        if let Some(mut labelled) = labelled {
            for (hea, cell) in headers.iter().zip(&entries) {
                let id = stem(hea);
                let entry = labelled.remove(&id).unwrap_or(RecordEntry {
                    id,
                    ..Default::default()
                });
                let _ = cell.set(entry);
            }
            if let Some(orphan) = labelled.keys().min() {
                return Err(IoError::format(
                    labels_path,
                    format!("id '{orphan}' has no record (.hea) in {}", root.display()),
                ));
            }
        }
        Ok(FolderDataset {
            root: root.to_path_buf(),
            headers,
            entries,
            has_labels_csv,
        })
    }

    pub fn header_path(&self, index: usize) -> Option<&Path> {
        self.headers.get(index).map(PathBuf::as_path)
    }

    /// True when the labels come from `labels.csv`.
    pub fn has_labels_csv(&self) -> bool {
        self.has_labels_csv
    }
}

impl Dataset for FolderDataset {
    fn name(&self) -> String {
        format!(
            "WFDB folder '{}' ({} records)",
            crate::io::display_name(&self.root),
            self.headers.len()
        )
    }

    fn len(&self) -> usize {
        self.headers.len()
    }

    fn entry(&self, index: usize) -> Option<&RecordEntry> {
        let hea = self.headers.get(index)?;
        Some(self.entries[index].get_or_init(|| {
            // Lazily from the header comments; an unreadable header gives a bare entry here
            // and its error when the record is loaded.
            let meta = wfdb::read_header(hea)
                .ok()
                .map(|header| wfdb::meta_from_comments(&header.comments));
            RecordEntry::from_meta(stem(hea), meta)
        }))
    }

    fn load(&self, index: usize) -> Result<Ecg, IoError> {
        let hea = self.headers.get(index).ok_or_else(|| {
            IoError::format(
                &self.root,
                format!("no record {index} (the folder has {})", self.len()),
            )
        })?;
        let mut ecg = wfdb::read_record(hea)?;
        if let Some(entry) = self.entry(index) {
            ecg.meta.id = entry.id.clone();
            if self.has_labels_csv {
                ecg.meta.labels = entry.labels.clone();
                ecg.meta.fold = entry.fold;
                ecg.meta.age_years = entry.age_years.or(ecg.meta.age_years);
                ecg.meta.sex = entry.sex.or(ecg.meta.sex);
            }
        }
        Ok(ecg)
    }

    /// The labels present (PTB-XL super-classes first, then others alphabetically). Without
    /// `labels.csv` this reads every header once.
    fn class_names(&self) -> Vec<String> {
        let mut all = Vec::new();
        for i in 0..self.len() {
            if let Some(e) = self.entry(i) {
                all.extend(e.labels.iter().cloned());
            }
        }
        ordered_class_names(all.iter())
    }
}

/// Write a `labels.csv` (format in the module docs) for `entries`. Refuses to replace an
/// existing file unless `overwrite`. Labels must not contain whitespace (they are
/// space-separated in the file).
pub fn write_labels_csv(
    path: &Path,
    entries: &[RecordEntry],
    overwrite: bool,
) -> Result<(), IoError> {
    if path.exists() && !overwrite {
        return Err(IoError::format(
            path,
            "already exists (set overwrite to replace it)",
        ));
    }
    let mut writer = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| IoError::format(path, format!("cannot write CSV: {e}"));
    writer
        .write_record(["id", "labels", "fold", "age", "sex"])
        .map_err(csv_err)?;
    for e in entries {
        if let Some(bad) = e
            .labels
            .iter()
            .find(|l| l.is_empty() || l.contains(char::is_whitespace))
        {
            return Err(IoError::format(
                path,
                format!(
                    "record '{}': label '{bad}' is empty or contains whitespace",
                    e.id
                ),
            ));
        }
        let sex = match e.sex {
            Some(crate::record::Sex::Male) => "M",
            Some(crate::record::Sex::Female) => "F",
            None => "",
        };
        writer
            .write_record([
                e.id.as_str(),
                &e.labels.join(" "),
                &e.fold.map(|f| f.to_string()).unwrap_or_default(),
                &e.age_years.map(|a| a.to_string()).unwrap_or_default(),
                sex,
            ])
            .map_err(csv_err)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| IoError::format(path, format!("cannot write CSV: {e}")))?;
    crate::io::files::write_atomic(path, &bytes, overwrite)
}

/// The file `tlc synth` writes at the top of every data set it makes (its parameters).
pub const SYNTH_PARAMS_FILE: &str = "synth_params.json";

/// Whether the record at `path` lies in a data set written by `tlc synth`: one of the three
/// folders above it holds [`SYNTH_PARAMS_FILE`] (the records sit in `DIR/records/`).
pub fn written_by_synth(path: &Path) -> bool {
    path.ancestors()
        .skip(1)
        .take(3)
        .any(|dir| dir.join(SYNTH_PARAMS_FILE).is_file())
}
