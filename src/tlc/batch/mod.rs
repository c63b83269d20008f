//! Explaining a whole data set (`tlc explain --data`): records streamed in forward batches
//! through the one pipeline ([`explain_prepared`]), results written as Apache Parquet, memory
//! bounded by one chunk whatever the data set's size, resumable after an interruption, and
//! split into shards for N processes.
//!
//! A run writes its shard's records in chunks of `chunk_records`: each chunk becomes one part
//! file (`records-NNNNNN.parquet`, and `steps-NNNNNN.parquet` with per-step rows) in the folder
//! `<out>.parts/` beside the output, renamed into place only when complete. Parts rather than
//! one growing file, because a Parquet file is readable only once its footer is written: an
//! interrupted single file would be lost whole, while complete parts survive and the next run
//! skips them. The folder's `run.json` records the run's settings; a run with other settings
//! refuses to mix its parts with them. When every chunk is done the parts are spliced into the
//! output (one row group per chunk, column chunks copied without decoding) and the folder is
//! removed.
//!
//! Shards are contiguous ranges of record indices: shard `i` of `n` holds records
//! `[i * len / n, (i + 1) * len / n)`, so the n shards are disjoint, cover the data set, differ
//! in size by at most one record, and each reads its own stretch of a file.

pub mod tables;

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::io::Dataset;
use crate::model::LoadedModel;
use crate::progress::{Progress, ProgressSink};
use crate::tlc::pipeline::{
    ExplainSettings, PreparedRecord, explain_prepared, prepare_for_explainer,
};
use crate::tlc::{Explainer, TlcError};

pub use self::tables::{RecordKey, RecordOutcome, Table, TableLayout};

/// Records per part file (and row group) unless told otherwise: few enough that an
/// interruption loses little work and a chunk's results stay small in memory, many enough
/// that row groups are not tiny.
pub const DEFAULT_CHUNK_RECORDS: usize = 256;

/// Version of the parts folder's `run.json`.
const RUN_FORMAT: u32 = 1;

/// Shard `index` of `count` (0-based): a contiguous range of record indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Default for Shard {
    fn default() -> Self {
        Shard { index: 0, count: 1 }
    }
}

impl Shard {
    /// `I/N` with 0 <= I < N (e.g. `$SLURM_ARRAY_TASK_ID/4` for an array `0-3`).
    pub fn parse(text: &str) -> Result<Shard, TlcError> {
        let bad = |why: &str| TlcError::setting("shard", format!("'{text}': {why}"));
        let (i, n) = text
            .split_once('/')
            .ok_or_else(|| bad("expected I/N, e.g. 0/4"))?;
        let index: usize = i.trim().parse().map_err(|_| bad("I is not a number"))?;
        let count: usize = n.trim().parse().map_err(|_| bad("N is not a number"))?;
        if count == 0 {
            return Err(bad("N must be at least 1"));
        }
        if index >= count {
            return Err(bad("I must be below N (shards are numbered from 0)"));
        }
        Ok(Shard { index, count })
    }

    /// The record indices of this shard in a data set of `len` records.
    pub fn range(&self, len: usize) -> std::ops::Range<usize> {
        let at = |i: usize| ((i as u128 * len as u128) / self.count.max(1) as u128) as usize;
        at(self.index)..at(self.index + 1)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Where a batch run writes.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchOutput {
    /// The per-record table.
    pub records: PathBuf,
    /// The per-step table, if wanted.
    pub steps: Option<PathBuf>,
    /// Replace existing outputs (and start an unfinished run again) instead of refusing.
    pub overwrite: bool,
}

impl BatchOutput {
    /// The folder of an unfinished run's part files: `<records>.parts` beside the output.
    pub fn parts_dir(&self) -> PathBuf {
        let mut name = self.records.file_name().unwrap_or_default().to_os_string();
        name.push(".parts");
        self.records.with_file_name(name)
    }

    fn part(&self, table: Table, chunk: usize) -> PathBuf {
        let stem = match table {
            Table::Records => "records",
            Table::Steps => "steps",
        };
        self.parts_dir().join(format!("{stem}-{chunk:06}.parquet"))
    }

    fn run_file(&self) -> PathBuf {
        self.parts_dir().join("run.json")
    }
}

/// How a batch run explains and splits its work.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchSettings {
    pub explain: ExplainSettings,
    pub shard: Shard,
    /// Records per part file and row group ([`DEFAULT_CHUNK_RECORDS`]).
    pub chunk_records: usize,
}

impl Default for BatchSettings {
    fn default() -> Self {
        BatchSettings {
            explain: ExplainSettings::default(),
            shard: Shard::default(),
            chunk_records: DEFAULT_CHUNK_RECORDS,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BatchSummary {
    /// Records of the shard.
    pub records: usize,
    /// Records found done in the parts of an earlier run (not recomputed).
    pub resumed: usize,
    /// Records explained by this run.
    pub explained: usize,
    /// Records that could not be explained (their `error` column says why), in both runs.
    pub failed: usize,
}

/// Everything that must match for parts of an earlier run to be reused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct RunIdentity {
    format: u32,
    dataset: String,
    dataset_records: usize,
    model: String,
    model_sha256: String,
    explainer: String,
    settings: ExplainSettings,
    shard: Shard,
    chunk_records: usize,
    steps: bool,
}

impl RunIdentity {
    /// Key-value metadata of the output files (readers show them with the schema).
    fn metadata(&self) -> Vec<(String, String)> {
        vec![
            ("tlc.dataset".into(), self.dataset.clone()),
            ("tlc.model".into(), self.model.clone()),
            ("tlc.model_sha256".into(), self.model_sha256.clone()),
            ("tlc.explainer".into(), self.explainer.clone()),
            ("tlc.shard".into(), self.shard.to_string()),
        ]
    }
}

/// Checks the outputs and the parts folder before any work: existing outputs are refused
/// without `overwrite`; with it, an unfinished run's parts are removed and the run starts
/// again. Parts of a run with other settings are refused, naming what differs.
fn prepare_parts(output: &BatchOutput, identity: &RunIdentity) -> Result<(), TlcError> {
    let dir = output.parts_dir();
    if !output.overwrite {
        for path in std::iter::once(&output.records).chain(output.steps.as_ref()) {
            if path.exists() {
                return Err(TlcError::AlreadyExists { path: path.clone() });
            }
        }
    } else if dir.exists() {
        remove_parts(output)?;
    }
    let run_file = output.run_file();
    if dir.exists() {
        let text = std::fs::read_to_string(&run_file).map_err(|e| TlcError::io(&run_file, e))?;
        let earlier: RunIdentity = serde_json::from_str(&text)
            .map_err(|e| TlcError::format(&run_file, format!("not a batch run's settings: {e}")))?;
        if earlier != *identity {
            return Err(TlcError::format(
                &dir,
                format!(
                    "holds the parts of an unfinished run with other settings ({}): finish it \
                     with the same command, or pass --overwrite to start again",
                    identity_difference(&earlier, identity)
                ),
            ));
        }
        return Ok(());
    }
    std::fs::create_dir_all(&dir).map_err(|e| TlcError::io(&dir, e))?;
    let json = serde_json::to_string_pretty(identity)
        .map_err(|e| TlcError::format(&run_file, e.to_string()))?;
    crate::io::files::write_atomic_owned(&run_file, false, |mut w| {
        use std::io::Write as _;
        w.write_all(json.as_bytes())
            .map_err(|e| TlcError::io(&run_file, e))?;
        Ok(w)
    })
}

fn identity_difference(a: &RunIdentity, b: &RunIdentity) -> String {
    let mut d = Vec::new();
    if a.dataset != b.dataset || a.dataset_records != b.dataset_records {
        d.push(format!("data set '{}' vs '{}'", a.dataset, b.dataset));
    }
    if a.model_sha256 != b.model_sha256 || a.explainer != b.explainer {
        d.push(format!(
            "model/explainer '{}'/'{}' vs '{}'/'{}'",
            a.model, a.explainer, b.model, b.explainer
        ));
    }
    if a.shard != b.shard {
        d.push(format!("shard {} vs {}", a.shard, b.shard));
    }
    if a.chunk_records != b.chunk_records {
        d.push(format!(
            "chunk of {} vs {} records",
            a.chunk_records, b.chunk_records
        ));
    }
    if a.steps != b.steps {
        d.push(format!("per-step rows {} vs {}", a.steps, b.steps));
    }
    if a.settings != b.settings || a.format != b.format {
        d.push("explanation settings".into());
    }
    d.join("; ")
}

/// Removes a run's parts folder: only the files a run writes there, so a file someone else
/// put there keeps the folder (and itself).
fn remove_parts(output: &BatchOutput) -> Result<(), TlcError> {
    let dir = output.parts_dir();
    let entries = std::fs::read_dir(&dir).map_err(|e| TlcError::io(&dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| TlcError::io(&dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = name == "run.json"
            || name.starts_with(".tlc-partial-")
            || ((name.starts_with("records-") || name.starts_with("steps-"))
                && name.ends_with(".parquet"));
        if ours {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(|e| TlcError::io(&path, e))?;
        }
    }
    if let Err(e) = std::fs::remove_dir(&dir) {
        log::warn!("{} kept: {e}", dir.display());
    }
    Ok(())
}

/// Loads and prepares one record, its failure kept as the record's outcome.
fn load_prepared(
    model: &LoadedModel,
    explainer: &Explainer,
    dataset: &dyn Dataset,
    index: usize,
    settings: &ExplainSettings,
) -> (RecordKey, Result<PreparedRecord, String>) {
    let id = dataset
        .entry(index)
        .map_or_else(|| format!("#{index}"), |e| e.id.clone());
    let prepared = dataset
        .load(index)
        .map_err(|e| crate::error_text::describe(&e))
        .and_then(|ecg| {
            prepare_for_explainer(model, explainer, &ecg, settings)
                .map_err(|e| crate::error_text::describe(&e))
        });
    (RecordKey { index, id }, prepared)
}

/// Explains records `indices` of `dataset`: records loaded and prepared in parallel, one
/// forward pass per `model.batch_size` records; a record that cannot be loaded or prepared
/// (NaN samples, missing leads) gets its error instead of an explanation.
fn explain_chunk(
    model: &LoadedModel,
    explainer: &Explainer,
    dataset: &dyn Dataset,
    indices: &[usize],
    settings: &ExplainSettings,
    progress: &dyn ProgressSink,
    mut done: impl FnMut(usize),
) -> Result<Vec<(RecordKey, RecordOutcome)>, TlcError> {
    let mut rows = Vec::with_capacity(indices.len());
    for batch in indices.chunks(model.batch_size.max(1)) {
        if progress.is_cancelled() {
            return Err(TlcError::Cancelled);
        }
        let loaded: Vec<(RecordKey, Result<PreparedRecord, String>)> = batch
            .par_iter()
            .map(|&i| load_prepared(model, explainer, dataset, i, settings))
            .collect();
        let good: Vec<PreparedRecord> = loaded
            .iter()
            .filter_map(|(_, p)| p.as_ref().ok().cloned())
            .collect();
        let mut explained = explain_prepared(model, explainer, &good, settings)?.into_iter();
        for (key, prepared) in loaded {
            let outcome = match prepared {
                Err(e) => Err(e),
                Ok(_) => match explained.next() {
                    Some(Ok(e)) => Ok(e),
                    Some(Err(e)) => Err(crate::error_text::describe(&e)),
                    None => Err("no explanation came back for the record".into()),
                },
            };
            rows.push((key, outcome));
        }
        done(batch.len());
    }
    Ok(rows)
}

/// Explains the records of `settings.shard` of `dataset` into Parquet tables at `output`
/// (module docs: chunks, parts, resume, shards). Returns [`TlcError::Cancelled`] when
/// `progress` cancels, keeping the chunks already written for the next run.
pub fn explain_dataset(
    model: &LoadedModel,
    explainer: &Explainer,
    dataset: &dyn Dataset,
    settings: &BatchSettings,
    output: &BatchOutput,
    progress: &dyn ProgressSink,
) -> Result<BatchSummary, TlcError> {
    explainer.check_model(model)?;
    if settings.chunk_records == 0 {
        return Err(TlcError::setting("chunk records", "must be at least 1"));
    }
    let layout = TableLayout {
        output_names: (0..model.config.n_outputs)
            .map(|i| {
                model
                    .config
                    .class_names
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| format!("output {i}"))
            })
            .collect(),
        k: explainer.k,
    };
    let identity = RunIdentity {
        format: RUN_FORMAT,
        dataset: dataset.name(),
        dataset_records: dataset.len(),
        model: model.name.clone(),
        model_sha256: model.sha256.clone(),
        explainer: explainer.name.clone(),
        settings: settings.explain.clone(),
        shard: settings.shard,
        chunk_records: settings.chunk_records,
        steps: output.steps.is_some(),
    };
    let metadata = identity.metadata();
    prepare_parts(output, &identity)?;

    let indices: Vec<usize> = settings.shard.range(dataset.len()).collect();
    let total = indices.len();
    let mut summary = BatchSummary {
        records: total,
        ..Default::default()
    };
    let report = |done: usize| {
        progress.report(Progress {
            stage: "explaining".into(),
            done,
            total,
            share: None,
        })
    };
    let mut done = 0;
    report(done);
    let chunks: Vec<&[usize]> = indices.chunks(settings.chunk_records).collect();
    for (c, chunk) in chunks.iter().enumerate() {
        let records_part = output.part(Table::Records, c);
        if records_part.exists() {
            // The records part is renamed into place last: its chunk is complete.
            summary.failed += count_failed(&records_part)?;
            summary.resumed += chunk.len();
            done += chunk.len();
            report(done);
            continue;
        }
        let rows = explain_chunk(
            model,
            explainer,
            dataset,
            chunk,
            &settings.explain,
            progress,
            |n| {
                done += n;
                report(done);
            },
        )?;
        summary.explained += chunk.len();
        summary.failed += rows.iter().filter(|r| r.1.is_err()).count();
        if output.steps.is_some() {
            let path = output.part(Table::Steps, c);
            crate::io::files::write_atomic_owned(&path, true, |w| {
                tables::write_rows(w, &path, Table::Steps, &layout, &rows, &metadata)
            })?;
        }
        crate::io::files::write_atomic_owned(&records_part, true, |w| {
            tables::write_rows(w, &records_part, Table::Records, &layout, &rows, &metadata)
        })?;
    }
    if progress.is_cancelled() {
        return Err(TlcError::Cancelled);
    }
    progress.report(Progress {
        stage: "writing the tables".into(),
        done: 0,
        total: 1,
        share: None,
    });
    let parts = |table| (0..chunks.len()).map(|c| output.part(table, c)).collect();
    if let Some(steps) = &output.steps {
        let steps_parts: Vec<PathBuf> = parts(Table::Steps);
        tables::merge_parts(
            &steps_parts,
            steps,
            output.overwrite,
            Table::Steps,
            &layout,
            &metadata,
        )?;
    }
    let records_parts: Vec<PathBuf> = parts(Table::Records);
    tables::merge_parts(
        &records_parts,
        &output.records,
        output.overwrite,
        Table::Records,
        &layout,
        &metadata,
    )?;
    remove_parts(output)?;
    Ok(summary)
}

/// Records of a complete part whose `error` column is set.
fn count_failed(path: &Path) -> Result<usize, TlcError> {
    use ::parquet::file::reader::{FileReader, SerializedFileReader};
    let file = std::fs::File::open(path).map_err(|e| TlcError::io(path, e))?;
    let reader = SerializedFileReader::new(file).map_err(|e| TlcError::Parquet {
        path: path.to_path_buf(),
        source: e,
    })?;
    let mut failed = 0;
    for group in reader.metadata().row_groups() {
        let errors = group
            .columns()
            .iter()
            .find(|c| c.column_path().string() == "error");
        // Non-null values of the optional `error` column: rows less its nulls.
        let nulls = errors
            .and_then(|c| c.statistics())
            .and_then(|s| s.null_count_opt())
            .unwrap_or(group.num_rows() as u64);
        failed += (group.num_rows() as u64).saturating_sub(nulls) as usize;
    }
    Ok(failed)
}
