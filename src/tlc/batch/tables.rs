//! The Parquet tables of a batch explanation: one row per record, and optionally one row per
//! time step, written with the `parquet` crate's column writers (no Arrow), Snappy-compressed,
//! and the part files of a run spliced into one file without decoding them.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::basic::{Compression, ConvertedType, LogicalType, Repetition, Type as PhysicalType};

const REQUIRED: Repetition = Repetition::REQUIRED;
const OPTIONAL: Repetition = Repetition::OPTIONAL;
const REPEATED: Repetition = Repetition::REPEATED;
const INT64: PhysicalType = PhysicalType::INT64;
const INT32: PhysicalType = PhysicalType::INT32;
const FLOAT: PhysicalType = PhysicalType::FLOAT;
const DOUBLE: PhysicalType = PhysicalType::DOUBLE;
const BOOLEAN: PhysicalType = PhysicalType::BOOLEAN;
const BYTE_ARRAY: PhysicalType = PhysicalType::BYTE_ARRAY;
use parquet::column::writer::{ColumnCloseResult, ColumnWriter};
use parquet::data_type::ByteArray;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::{Type, TypePtr};

use crate::tlc::TlcError;
use crate::tlc::gradcam::to_steps;
use crate::tlc::{Explanation, Segment};

/// What every row of a table knows about its record.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordKey {
    /// Index of the record in the data set (0-based).
    pub index: usize,
    pub id: String,
}

/// A record's outcome: its explanation, or why it has none (a bad record does not stop a run).
pub type RecordOutcome = Result<Explanation, String>;

/// The shape of both tables: the model's output names and the explainer's cluster count.
#[derive(Debug, Clone, PartialEq)]
pub struct TableLayout {
    pub output_names: Vec<String>,
    pub k: usize,
}

/// One column's values in the order of the schema's leaves, with Parquet's definition levels
/// (`None` = a required column) and repetition levels (`None` = not in a list).
struct Column {
    values: Values,
    def: Option<Vec<i16>>,
    rep: Option<Vec<i16>>,
}

enum Values {
    I64(Vec<i64>),
    I32(Vec<i32>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    Bool(Vec<bool>),
    Str(Vec<ByteArray>),
}

impl Column {
    fn required(values: Values) -> Self {
        Column {
            values,
            def: None,
            rep: None,
        }
    }
}

/// An optional column: values where present, definition level 1 there and 0 for nulls.
fn optional<T>(items: impl Iterator<Item = Option<T>>, wrap: fn(Vec<T>) -> Values) -> Column {
    let mut values = Vec::new();
    let mut def = Vec::new();
    for item in items {
        match item {
            Some(v) => {
                values.push(v);
                def.push(1);
            }
            None => def.push(0),
        }
    }
    Column {
        values: wrap(values),
        def: Some(def),
        rep: None,
    }
}

fn text(s: &str) -> ByteArray {
    ByteArray::from(s.as_bytes().to_vec())
}

fn leaf(name: &str, physical: PhysicalType, repetition: Repetition) -> Result<TypePtr, TlcError> {
    let mut builder = Type::primitive_type_builder(name, physical).with_repetition(repetition);
    if physical == PhysicalType::BYTE_ARRAY {
        builder = builder
            .with_logical_type(Some(LogicalType::String))
            .with_converted_type(ConvertedType::UTF8);
    }
    Ok(Arc::new(builder.build().map_err(schema_error)?))
}

fn schema_error(e: parquet::errors::ParquetError) -> TlcError {
    TlcError::shape("Parquet schema", "a valid schema", e)
}

fn message(fields: Vec<TypePtr>) -> Result<TypePtr, TlcError> {
    Ok(Arc::new(
        Type::group_type_builder("explanation")
            .with_fields(fields)
            .build()
            .map_err(schema_error)?,
    ))
}

impl TableLayout {
    /// Per record: `record_index`, `record_id`, `error` (null when explained), per output
    /// `prob_<name>` (after the task's activation) and `raw_<name>`, `predicted` (the predicted
    /// labels joined by `;`), `gradcam_output`, `proportion_<k>` per cluster, `mean_entropy`
    /// (over valid steps), `entropy_gradcam_correlation`, and `segments`, a list of
    /// `{cluster, start_s, end_s, mean_entropy}` on the record's own time axis.
    pub fn records_schema(&self) -> Result<TypePtr, TlcError> {
        let mut fields = vec![
            leaf("record_index", INT64, REQUIRED)?,
            leaf("record_id", BYTE_ARRAY, REQUIRED)?,
            leaf("error", BYTE_ARRAY, OPTIONAL)?,
        ];
        for name in &self.output_names {
            fields.push(leaf(&format!("prob_{name}"), FLOAT, OPTIONAL)?);
        }
        for name in &self.output_names {
            fields.push(leaf(&format!("raw_{name}"), FLOAT, OPTIONAL)?);
        }
        fields.push(leaf("predicted", BYTE_ARRAY, OPTIONAL)?);
        fields.push(leaf("gradcam_output", BYTE_ARRAY, OPTIONAL)?);
        for k in 0..self.k {
            fields.push(leaf(&format!("proportion_{k}"), FLOAT, OPTIONAL)?);
        }
        fields.push(leaf("mean_entropy", FLOAT, OPTIONAL)?);
        fields.push(leaf("entropy_gradcam_correlation", FLOAT, OPTIONAL)?);
        // The standard three-level list (readers map it to a list of structs).
        let element = Type::group_type_builder("element")
            .with_repetition(REQUIRED)
            .with_fields(vec![
                leaf("cluster", INT32, REQUIRED)?,
                leaf("start_s", DOUBLE, REQUIRED)?,
                leaf("end_s", DOUBLE, REQUIRED)?,
                leaf("mean_entropy", FLOAT, REQUIRED)?,
            ])
            .build()
            .map_err(schema_error)?;
        let list = Type::group_type_builder("list")
            .with_repetition(REPEATED)
            .with_fields(vec![Arc::new(element)])
            .build()
            .map_err(schema_error)?;
        let segments = Type::group_type_builder("segments")
            .with_repetition(OPTIONAL)
            .with_logical_type(Some(LogicalType::List))
            .with_converted_type(ConvertedType::LIST)
            .with_fields(vec![Arc::new(list)])
            .build()
            .map_err(schema_error)?;
        fields.push(Arc::new(segments));
        message(fields)
    }

    /// Per time step of each explained record: `record_index`, `record_id`, `step`, `time_s`
    /// (step centre on the record's time axis), `valid` (the step overlaps the real signal),
    /// `cluster`, `entropy`, `gradcam` (the normalised map's mean over the step; null without
    /// Grad-CAM) and `p_<k>`, the soft assignment to each cluster.
    pub fn steps_schema(&self) -> Result<TypePtr, TlcError> {
        let mut fields = vec![
            leaf("record_index", INT64, REQUIRED)?,
            leaf("record_id", BYTE_ARRAY, REQUIRED)?,
            leaf("step", INT32, REQUIRED)?,
            leaf("time_s", DOUBLE, REQUIRED)?,
            leaf("valid", BOOLEAN, REQUIRED)?,
            leaf("cluster", INT32, REQUIRED)?,
            leaf("entropy", FLOAT, REQUIRED)?,
            leaf("gradcam", FLOAT, OPTIONAL)?,
        ];
        for k in 0..self.k {
            fields.push(leaf(&format!("p_{k}"), FLOAT, REQUIRED)?);
        }
        message(fields)
    }

    /// The columns of the records table for `rows`, in schema order.
    fn records_columns(&self, rows: &[(RecordKey, RecordOutcome)]) -> Vec<Column> {
        fn ok(r: &(RecordKey, RecordOutcome)) -> Option<&Explanation> {
            r.1.as_ref().ok()
        }
        let mut cols = vec![
            Column::required(Values::I64(rows.iter().map(|r| r.0.index as i64).collect())),
            Column::required(Values::Str(rows.iter().map(|r| text(&r.0.id)).collect())),
            optional(
                rows.iter().map(|r| r.1.as_ref().err().map(|e| text(e))),
                Values::Str,
            ),
        ];
        for o in 0..self.output_names.len() {
            cols.push(optional(
                rows.iter()
                    .map(|r| ok(r).and_then(|e| e.prediction.probabilities.get(o).copied())),
                Values::F32,
            ));
        }
        for o in 0..self.output_names.len() {
            cols.push(optional(
                rows.iter()
                    .map(|r| ok(r).and_then(|e| e.prediction.raw.get(o).copied())),
                Values::F32,
            ));
        }
        cols.push(optional(
            rows.iter()
                .map(|r| ok(r).map(|e| text(&e.prediction.predicted_labels.join(";")))),
            Values::Str,
        ));
        cols.push(optional(
            rows.iter().map(|r| {
                ok(r)
                    .and_then(|e| e.gradcam.as_ref())
                    .map(|g| text(&g.output_name))
            }),
            Values::Str,
        ));
        for k in 0..self.k {
            cols.push(optional(
                rows.iter()
                    .map(|r| ok(r).and_then(|e| e.proportions.get(k).copied())),
                Values::F32,
            ));
        }
        cols.push(optional(
            rows.iter().map(|r| ok(r).map(Explanation::mean_entropy)),
            Values::F32,
        ));
        cols.push(optional(
            rows.iter()
                .map(|r| ok(r).and_then(|e| e.entropy_gradcam_correlation)),
            Values::F32,
        ));
        // segments: definition level 0 = null list (a record without explanation), 1 = an
        // empty list, 2 = an element; repetition level 1 continues the record's list.
        let mut def = Vec::new();
        let mut rep = Vec::new();
        let mut segs: Vec<&Segment> = Vec::new();
        for r in rows {
            match ok(r) {
                None => {
                    def.push(0);
                    rep.push(0);
                }
                Some(e) if e.segments.is_empty() => {
                    def.push(1);
                    rep.push(0);
                }
                Some(e) => {
                    for (j, s) in e.segments.iter().enumerate() {
                        def.push(2);
                        rep.push(if j == 0 { 0 } else { 1 });
                        segs.push(s);
                    }
                }
            }
        }
        let nested = |values: Values| Column {
            values,
            def: Some(def.clone()),
            rep: Some(rep.clone()),
        };
        cols.push(nested(Values::I32(
            segs.iter().map(|s| s.cluster as i32).collect(),
        )));
        cols.push(nested(Values::F64(
            segs.iter().map(|s| s.start_s).collect(),
        )));
        cols.push(nested(Values::F64(segs.iter().map(|s| s.end_s).collect())));
        cols.push(nested(Values::F32(
            segs.iter().map(|s| s.mean_entropy).collect(),
        )));
        cols
    }

    /// The columns of the steps table for the explained records of `rows`, in schema order.
    fn steps_columns(&self, rows: &[(RecordKey, RecordOutcome)]) -> Vec<Column> {
        let explained: Vec<(&RecordKey, &Explanation)> = rows
            .iter()
            .filter_map(|(key, outcome)| outcome.as_ref().ok().map(|e| (key, e)))
            .collect();
        let n: usize = explained.iter().map(|(_, e)| e.labels.len()).sum();
        let mut index = Vec::with_capacity(n);
        let mut id = Vec::with_capacity(n);
        let mut step = Vec::with_capacity(n);
        let mut time_s = Vec::with_capacity(n);
        let mut valid = Vec::with_capacity(n);
        let mut cluster = Vec::with_capacity(n);
        let mut entropy = Vec::with_capacity(n);
        let mut gradcam: Vec<Option<f32>> = Vec::with_capacity(n);
        let mut p: Vec<Vec<f32>> = vec![Vec::with_capacity(n); self.k];
        for (key, e) in explained {
            let t_len = e.labels.len();
            let cam = e.gradcam.as_ref().map(|g| to_steps(&g.map, t_len));
            let record_id = text(&key.id);
            for t in 0..t_len {
                index.push(key.index as i64);
                id.push(record_id.clone());
                step.push(t as i32);
                time_s.push(e.step_times_s.get(t).copied().unwrap_or(f64::NAN));
                valid.push(t >= e.valid_steps.0 && t < e.valid_steps.1);
                cluster.push(e.labels[t] as i32);
                entropy.push(e.entropy.get(t).copied().unwrap_or(f32::NAN));
                gradcam.push(cam.as_ref().and_then(|c| c.get(t).copied()));
                for (k, column) in p.iter_mut().enumerate() {
                    column.push(
                        e.soft
                            .get(t)
                            .and_then(|row| row.get(k))
                            .copied()
                            .unwrap_or(f32::NAN),
                    );
                }
            }
        }
        let mut cols = vec![
            Column::required(Values::I64(index)),
            Column::required(Values::Str(id)),
            Column::required(Values::I32(step)),
            Column::required(Values::F64(time_s)),
            Column::required(Values::Bool(valid)),
            Column::required(Values::I32(cluster)),
            Column::required(Values::F32(entropy)),
            optional(gradcam.into_iter(), Values::F32),
        ];
        cols.extend(p.into_iter().map(|c| Column::required(Values::F32(c))));
        cols
    }
}

/// Which of the two tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Records,
    Steps,
}

impl Table {
    pub fn schema(self, layout: &TableLayout) -> Result<TypePtr, TlcError> {
        match self {
            Table::Records => layout.records_schema(),
            Table::Steps => layout.steps_schema(),
        }
    }
}

fn properties(metadata: &[(String, String)]) -> Arc<WriterProperties> {
    Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_key_value_metadata(Some(
                metadata
                    .iter()
                    .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
                    .collect(),
            ))
            .build(),
    )
}

fn parquet_error(path: &Path, e: parquet::errors::ParquetError) -> TlcError {
    TlcError::Parquet {
        path: path.to_path_buf(),
        source: e,
    }
}

/// Writes `rows` as one row group of `table` into `w` (`path` names it in errors).
pub fn write_rows<W: Write + Send>(
    w: W,
    path: &Path,
    table: Table,
    layout: &TableLayout,
    rows: &[(RecordKey, RecordOutcome)],
    metadata: &[(String, String)],
) -> Result<W, TlcError> {
    let schema = table.schema(layout)?;
    let columns = match table {
        Table::Records => layout.records_columns(rows),
        Table::Steps => layout.steps_columns(rows),
    };
    let err = |e| parquet_error(path, e);
    let mut writer = SerializedFileWriter::new(w, schema, properties(metadata)).map_err(err)?;
    let mut group = writer.next_row_group().map_err(err)?;
    for column in columns {
        let mut cw = group
            .next_column()
            .map_err(err)?
            .ok_or_else(|| TlcError::shape("Parquet row group", "another column", "none"))?;
        let def = column.def.as_deref();
        let rep = column.rep.as_deref();
        let written = match (cw.untyped(), &column.values) {
            (ColumnWriter::Int64ColumnWriter(c), Values::I64(v)) => c.write_batch(v, def, rep),
            (ColumnWriter::Int32ColumnWriter(c), Values::I32(v)) => c.write_batch(v, def, rep),
            (ColumnWriter::FloatColumnWriter(c), Values::F32(v)) => c.write_batch(v, def, rep),
            (ColumnWriter::DoubleColumnWriter(c), Values::F64(v)) => c.write_batch(v, def, rep),
            (ColumnWriter::BoolColumnWriter(c), Values::Bool(v)) => c.write_batch(v, def, rep),
            (ColumnWriter::ByteArrayColumnWriter(c), Values::Str(v)) => c.write_batch(v, def, rep),
            _ => {
                return Err(TlcError::shape(
                    "Parquet column",
                    "values of the schema's type",
                    "another type",
                ));
            }
        };
        written.map_err(err)?;
        cw.close().map_err(err)?;
    }
    group.close().map_err(err)?;
    writer.into_inner().map_err(err)
}

/// Splices the row groups of `parts` (files of `table` written by [`write_rows`] with the same
/// layout) into `out`, in order, copying their encoded column chunks without decoding them; so
/// merging costs a file copy and holds one column chunk's buffers at a time.
pub fn merge_parts(
    parts: &[PathBuf],
    out: &Path,
    replace: bool,
    table: Table,
    layout: &TableLayout,
    metadata: &[(String, String)],
) -> Result<(), TlcError> {
    let schema = table.schema(layout)?;
    crate::io::files::write_atomic_owned(out, replace, |w| {
        let err = |e| parquet_error(out, e);
        let mut writer =
            SerializedFileWriter::new(w, schema.clone(), properties(metadata)).map_err(err)?;
        for part in parts {
            let perr = |e| parquet_error(part, e);
            let file = File::open(part).map_err(|e| TlcError::io(part, e))?;
            let reader =
                SerializedFileReader::new(file.try_clone().map_err(|e| TlcError::io(part, e))?)
                    .map_err(perr)?;
            let meta = reader.metadata();
            if meta.file_metadata().schema() != schema.as_ref() {
                return Err(TlcError::format(
                    part,
                    "its columns differ from the run's (a part of another run?)",
                ));
            }
            for group_meta in meta.row_groups() {
                let mut group = writer.next_row_group().map_err(err)?;
                for column in group_meta.columns() {
                    group
                        .append_column(
                            &file,
                            ColumnCloseResult {
                                bytes_written: column.compressed_size() as u64,
                                rows_written: group_meta.num_rows() as u64,
                                metadata: column.clone(),
                                bloom_filter: None,
                                column_index: None,
                                offset_index: None,
                            },
                        )
                        .map_err(perr)?;
                }
                group.close().map_err(err)?;
            }
        }
        writer.into_inner().map_err(err)
    })
}
