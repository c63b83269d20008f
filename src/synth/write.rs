//! Writing a synthetic data set to a folder:
//!
//! ```text
//! DIR/records/<id>.hea, <id>.dat    WFDB, format 16, 1 µV resolution, header comments with
//!                                   labels, fold, age, sex and a report
//! DIR/records/<id>.<annotator>      ground-truth landmarks as WFDB annotations, LUDB convention:
//!                                   `(` onset, `p` / `N` / `t` peak, `)` offset of P, QRS, T
//! DIR/landmarks/<id>.csv            the same landmarks in samples and seconds
//! DIR/labels.csv                    id,labels,fold,age,sex (labels space-separated, sex M/F)
//! DIR/code15.hdf5, DIR/code15.csv   the same records at 400 Hz centre-padded to 4096 samples
//!                                   in CODE-15%'s layout, with an `exams.csv`-like table
//! DIR/synth_params.json             the parameters, to regenerate the data set
//! ```

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::dsp::{InputSpec, PreprocessSettings, prepare};
use crate::io::IoError;
use crate::io::annotation::{Annotation, write_annotations};
use crate::io::code15::{CODE15_FS_HZ, CODE15_LENGTH, Code15Writer};
use crate::io::wfdb::{WriteOptions, write_record};
use crate::progress::{Progress, ProgressSink};
use crate::record::{Ecg, LeadName, Sex};
use crate::synth::{
    BundleBranchBlock, SynthClass, SynthError, SynthParams, SyntheticRecord, generate_record,
};

/// How the data set is written. Defaults: no overwriting, CODE-15% copy on, annotator `gt`,
/// batches of 64 records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WriteSettings {
    /// Write into a folder that is not empty (replacing our own files there).
    pub overwrite: bool,
    /// Also write `code15.hdf5` and `code15.csv`.
    pub code15: bool,
    /// Annotator name (file extension) of the ground-truth annotation files.
    pub annotator: String,
    /// Records generated in parallel before their CODE-15% tracings are written (bounds memory).
    pub batch_size: usize,
}

impl Default for WriteSettings {
    fn default() -> Self {
        WriteSettings {
            overwrite: false,
            code15: true,
            annotator: "gt".into(),
            batch_size: 64,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteSummary {
    pub out_dir: PathBuf,
    pub n_records: usize,
    /// Records per class, in [`SynthClass::ALL`] order.
    pub class_counts: Vec<(SynthClass, usize)>,
    pub n_beats: usize,
}

/// Heart rate (bpm) below which a record is marked sinus bradycardia (`SB`) in the CODE-15%
/// table, and above which sinus tachycardia (`ST`), as in CODE's definitions.
const CODE15_SB_BELOW_BPM: f64 = 50.0;
const CODE15_ST_ABOVE_BPM: f64 = 100.0;

/// One labels.csv / code15.csv row.
struct Row {
    index: usize,
    id: String,
    labels: Vec<String>,
    fold: Option<u32>,
    age: Option<f32>,
    sex: Option<Sex>,
    first_degree_av_block: bool,
    bbb: Option<BundleBranchBlock>,
    heart_rate_bpm: f64,
    n_beats: usize,
}

fn csv_err(path: &Path, e: csv::Error) -> IoError {
    IoError::format(path, format!("cannot write CSV: {e}"))
}

/// Sub-folders of a written data set: WFDB records with their annotations, landmark CSVs.
const RECORDS_DIR: &str = "records";
const LANDMARKS_DIR: &str = "landmarks";

/// Move a complete staged data set to `out_dir`: a rename of the whole folder when `out_dir` is
/// absent or empty; otherwise (`overwrite` was checked by the caller) earlier synthetic records
/// are removed and each staged file is renamed over its old copy, so every file is either the
/// old one or the complete new one.
fn publish(stage: &Path, out_dir: &Path) -> Result<(), IoError> {
    if out_dir.is_dir() && is_empty_dir(out_dir)? {
        std::fs::remove_dir(out_dir).map_err(|e| IoError::os(out_dir, e))?;
    }
    if !out_dir.exists() {
        return std::fs::rename(stage, out_dir).map_err(|e| IoError::os(out_dir, e));
    }
    for sub in [RECORDS_DIR, LANDMARKS_DIR] {
        let dest = out_dir.join(sub);
        std::fs::create_dir_all(&dest).map_err(|e| IoError::os(&dest, e))?;
        remove_previous_records(&dest)?;
        move_files(&stage.join(sub), &dest)?;
    }
    move_files(stage, out_dir)
}

/// Rename every regular file of `from` into `to` (same file system: both sit in one folder).
fn move_files(from: &Path, to: &Path) -> Result<(), IoError> {
    for entry in std::fs::read_dir(from).map_err(|e| IoError::os(from, e))? {
        let path = entry.map_err(|e| IoError::os(from, e))?.path();
        if path.is_file()
            && let Some(name) = path.file_name()
        {
            let dest = to.join(name);
            std::fs::rename(&path, &dest).map_err(|e| IoError::os(&dest, e))?;
        }
    }
    Ok(())
}

fn is_empty_dir(dir: &Path) -> Result<bool, IoError> {
    let mut entries = std::fs::read_dir(dir).map_err(|e| IoError::os(dir, e))?;
    Ok(entries.next().is_none())
}

/// Remove files named `synth_*` from one of our sub-folders (a previous, larger run would leave
/// stale records behind that the folder reader would still list).
fn remove_previous_records(dir: &Path) -> Result<(), IoError> {
    if !dir.is_dir() {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir).map_err(|e| IoError::os(dir, e))? {
        let path = entry.map_err(|e| IoError::os(dir, e))?.path();
        let ours = path
            .file_name()
            .map(|n| n.to_string_lossy().starts_with("synth_"))
            .unwrap_or(false);
        if ours && path.is_file() {
            std::fs::remove_file(&path).map_err(|e| IoError::os(&path, e))?;
        }
    }
    Ok(())
}

/// The ground-truth landmarks as WFDB annotations (LUDB convention).
pub fn landmark_annotations(record: &SyntheticRecord) -> Vec<Annotation> {
    let mut out = Vec::with_capacity(record.beats.len() * 9);
    let mut push = |sample: usize, symbol: &str| {
        // All three symbols are in the standard table, so `new` cannot fail here.
        if let Some(a) = Annotation::new(sample as u64, symbol) {
            out.push(a);
        }
    };
    for beat in &record.beats {
        let waves = [(beat.p, "p"), (Some(beat.qrs), "N"), (beat.t, "t")];
        for (wave, symbol) in waves {
            if let Some(w) = wave {
                push(w.onset, "(");
                push(w.peak, symbol);
                push(w.offset, ")");
            }
        }
    }
    out
}

fn write_landmarks_csv(path: &Path, record: &SyntheticRecord) -> Result<(), IoError> {
    let fs = record.ecg.fs_hz;
    let mut w = csv::Writer::from_path(path).map_err(|e| csv_err(path, e))?;
    w.write_record([
        "beat",
        "wave",
        "onset_sample",
        "peak_sample",
        "offset_sample",
        "onset_s",
        "peak_s",
        "offset_s",
    ])
    .map_err(|e| csv_err(path, e))?;
    for (i, beat) in record.beats.iter().enumerate() {
        for (wave, name) in [(beat.p, "P"), (Some(beat.qrs), "QRS"), (beat.t, "T")] {
            if let Some(wv) = wave {
                w.write_record([
                    i.to_string(),
                    name.to_string(),
                    wv.onset.to_string(),
                    wv.peak.to_string(),
                    wv.offset.to_string(),
                    format!("{:.4}", wv.onset as f64 / fs),
                    format!("{:.4}", wv.peak as f64 / fs),
                    format!("{:.4}", wv.offset as f64 / fs),
                ])
                .map_err(|e| csv_err(path, e))?;
            }
        }
    }
    w.flush().map_err(|e| IoError::os(path, e))
}

/// The record as CODE-15% stores it: 400 Hz, centre-padded (or cropped) to 4096 samples.
pub fn code15_tracing(ecg: &Ecg) -> Result<Ecg, SynthError> {
    let spec = InputSpec {
        leads: LeadName::standard_12(),
        fs_hz: CODE15_FS_HZ,
        length: CODE15_LENGTH,
    };
    let prepared = prepare(ecg, &spec, &PreprocessSettings::default())?;
    Ok(Ecg::new(
        spec.leads,
        CODE15_FS_HZ,
        prepared.data,
        ecg.meta.clone(),
    )?)
}

/// Generate and write one record; returns its table row and, when asked, its CODE-15% tracing.
fn write_one(
    params: &SynthParams,
    index: usize,
    out_dir: &Path,
    settings: &WriteSettings,
) -> Result<(Row, Option<Ecg>), SynthError> {
    let record = generate_record(params, index)?;
    let id = record.ecg.meta.id.clone();
    let records_dir = out_dir.join(RECORDS_DIR);
    let opts = WriteOptions {
        overwrite: settings.overwrite,
        ..Default::default()
    };
    write_record(&records_dir, &id, &record.ecg, &opts)?;
    let ann_path = records_dir.join(format!("{id}.{}", settings.annotator));
    write_annotations(
        &ann_path,
        &landmark_annotations(&record),
        settings.overwrite,
    )?;
    write_landmarks_csv(
        &out_dir.join(LANDMARKS_DIR).join(format!("{id}.csv")),
        &record,
    )?;
    let tracing = if settings.code15 {
        Some(code15_tracing(&record.ecg)?)
    } else {
        None
    };
    let meta = &record.ecg.meta;
    let row = Row {
        index,
        id,
        labels: meta.labels.clone(),
        fold: meta.fold,
        age: meta.age_years,
        sex: meta.sex,
        first_degree_av_block: record.details.first_degree_av_block,
        bbb: record.details.bundle_branch_block,
        heart_rate_bpm: record.details.heart_rate_bpm,
        n_beats: record.beats.len(),
    };
    Ok((row, tracing))
}

fn sex_mf(sex: Option<Sex>) -> &'static str {
    match sex {
        Some(Sex::Male) => "M",
        Some(Sex::Female) => "F",
        None => "",
    }
}

fn write_labels_csv(path: &Path, rows: &[Row]) -> Result<(), IoError> {
    let mut w = csv::Writer::from_path(path).map_err(|e| csv_err(path, e))?;
    w.write_record(["id", "labels", "fold", "age", "sex"])
        .map_err(|e| csv_err(path, e))?;
    for r in rows {
        w.write_record([
            r.id.clone(),
            r.labels.join(" "),
            r.fold.map(|f| f.to_string()).unwrap_or_default(),
            r.age.map(|a| format!("{a}")).unwrap_or_default(),
            sex_mf(r.sex).to_string(),
        ])
        .map_err(|e| csv_err(path, e))?;
    }
    w.flush().map_err(|e| IoError::os(path, e))
}

/// CODE-15%'s `exams.csv` columns. Our classes map to CODE's where they coincide: first-degree
/// AV block -> `1dAVb`, RBBB/LBBB, heart rate -> `SB`/`ST`; no AF is generated; `normal_ecg`
/// is NORM. Columns the generator has no value for (predicted age, death, follow-up) are empty.
fn write_code15_csv(path: &Path, rows: &[Row], trace_file: &str) -> Result<(), IoError> {
    let mut w = csv::Writer::from_path(path).map_err(|e| csv_err(path, e))?;
    w.write_record([
        "exam_id",
        "age",
        "is_male",
        "nn_predicted_age",
        "1dAVb",
        "RBBB",
        "LBBB",
        "SB",
        "AF",
        "ST",
        "patient_id",
        "normal_ecg",
        "death",
        "timey",
        "trace_file",
    ])
    .map_err(|e| csv_err(path, e))?;
    let b = |v: bool| if v { "True" } else { "False" }.to_string();
    for r in rows {
        w.write_record([
            r.index.to_string(),
            r.age.map(|a| format!("{a}")).unwrap_or_default(),
            match r.sex {
                Some(Sex::Male) => "True".to_string(),
                Some(Sex::Female) => "False".to_string(),
                None => String::new(),
            },
            String::new(),
            b(r.first_degree_av_block),
            b(r.bbb == Some(BundleBranchBlock::Right)),
            b(r.bbb == Some(BundleBranchBlock::Left)),
            b(r.heart_rate_bpm < CODE15_SB_BELOW_BPM),
            b(false),
            b(r.heart_rate_bpm > CODE15_ST_ABOVE_BPM),
            r.index.to_string(),
            b(r.labels.len() == 1 && r.labels[0] == SynthClass::Norm.as_str()),
            String::new(),
            String::new(),
            trace_file.to_string(),
        ])
        .map_err(|e| csv_err(path, e))?;
    }
    w.flush().map_err(|e| IoError::os(path, e))
}

/// Generate `params.n_records` records and write them to `out_dir` (see the module docs).
/// Refuses a folder that exists and is not empty unless `settings.overwrite`. Records are
/// generated and written in parallel; the CODE-15% file is written in index order. Reports
/// progress per record and stops with [`SynthError::Cancelled`] when asked (files written so far
/// stay).
pub fn write_dataset(
    params: &SynthParams,
    out_dir: &Path,
    settings: &WriteSettings,
    progress: &dyn ProgressSink,
) -> Result<WriteSummary, SynthError> {
    params.validate()?;
    if settings.batch_size == 0 {
        return Err(SynthError::BadParams(
            "batch_size must be at least 1".into(),
        ));
    }
    if settings.annotator.is_empty()
        || !settings
            .annotator
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(SynthError::BadParams(format!(
            "annotator '{}' must be letters, digits or '_'",
            settings.annotator
        )));
    }
    if out_dir.exists() {
        if !out_dir.is_dir() {
            return Err(IoError::format(out_dir, "exists and is not a folder").into());
        }
        if !settings.overwrite && !is_empty_dir(out_dir)? {
            return Err(SynthError::OutputNotEmpty {
                path: out_dir.to_path_buf(),
            });
        }
    }
    // Everything is written into a staging folder beside the output and moved into place only
    // when complete: an error or Ctrl-C leaves the output folder as it was (the staging folder
    // is removed when `staging` drops).
    let parent = match out_dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| IoError::os(&parent, e))?;
    let staging = tempfile::Builder::new()
        .prefix(".tlc-synth-")
        .tempdir_in(&parent)
        .map_err(|e| IoError::os(&parent, e))?;
    let stage = staging.path();
    let stage_settings = WriteSettings {
        overwrite: false,
        ..settings.clone()
    };
    for sub in [RECORDS_DIR, LANDMARKS_DIR] {
        let dir = stage.join(sub);
        std::fs::create_dir_all(&dir).map_err(|e| IoError::os(&dir, e))?;
    }
    let params_path = stage.join(crate::io::folder::SYNTH_PARAMS_FILE);
    let json = serde_json::to_string_pretty(params)
        .map_err(|e| IoError::format(&params_path, e.to_string()))?;
    std::fs::write(&params_path, json).map_err(|e| IoError::os(&params_path, e))?;

    let n = params.n_records;
    let code15_path = stage.join("code15.hdf5");
    let mut code15 = if settings.code15 {
        Some(Code15Writer::create(&code15_path, n, false)?)
    } else {
        None
    };
    let mut rows: Vec<Row> = Vec::with_capacity(n);
    let done = std::sync::atomic::AtomicUsize::new(0);
    let mut start = 0;
    while start < n {
        let end = (start + settings.batch_size).min(n);
        let batch: Vec<(Row, Option<Ecg>)> = (start..end)
            .into_par_iter()
            .map(|index| {
                if progress.is_cancelled() {
                    return Err(SynthError::Cancelled);
                }
                let out = write_one(params, index, stage, &stage_settings)?;
                let finished = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                progress.report(Progress {
                    stage: "writing records".into(),
                    done: finished,
                    total: n,
                    share: None,
                });
                Ok(out)
            })
            .collect::<Result<_, _>>()?;
        for (row, tracing) in batch {
            if let (Some(writer), Some(ecg)) = (code15.as_mut(), tracing.as_ref()) {
                writer.write(row.index, ecg, row.index as i64)?;
            }
            rows.push(row);
        }
        start = end;
    }
    if let Some(writer) = code15 {
        writer.finish()?;
        write_code15_csv(&stage.join("code15.csv"), &rows, "code15.hdf5")?;
    }
    write_labels_csv(&stage.join("labels.csv"), &rows)?;
    publish(stage, out_dir)?;

    let class_counts = SynthClass::ALL
        .iter()
        .map(|c| {
            (
                *c,
                rows.iter()
                    .filter(|r| r.labels.iter().any(|l| l == c.as_str()))
                    .count(),
            )
        })
        .collect();
    Ok(WriteSummary {
        out_dir: out_dir.to_path_buf(),
        n_records: n,
        class_counts,
        n_beats: rows.iter().map(|r| r.n_beats).sum(),
    })
}
