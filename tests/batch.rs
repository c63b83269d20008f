//! Batch explanation of a data set to Parquet (`tlc::batch`, `tlc explain --data`): the tables
//! hold what `tlc explain` gives for each record, shards split a data set without overlap,
//! an interrupted run resumes without recomputing, outputs are never replaced unasked, and
//! bad records are reported per record.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::{Field, Row};
use tlc_explorer::io::{Dataset, IoError, RecordEntry, open_dataset};
use tlc_explorer::model::LoadedModel;
use tlc_explorer::paths;
use tlc_explorer::progress::{NoProgress, Progress, ProgressSink};
use tlc_explorer::record::Ecg;
use tlc_explorer::tlc::batch::{BatchOutput, BatchSettings, Shard, explain_dataset};
use tlc_explorer::tlc::pipeline::{ExplainSettings, explain_record};
use tlc_explorer::tlc::{Explainer, TlcError};

fn bundled() -> (LoadedModel, Explainer) {
    let model = LoadedModel::open(&paths::default_model()).expect("bundled model opens");
    let explainer = Explainer::load(&paths::default_explainer()).expect("bundled explainer");
    (model, explainer)
}

fn sample() -> Box<dyn Dataset> {
    open_dataset(&paths::sample_data()).expect("sample data opens")
}

fn output(dir: &Path, steps: bool) -> BatchOutput {
    BatchOutput {
        records: dir.join("records.parquet"),
        steps: steps.then(|| dir.join("steps.parquet")),
        overwrite: false,
    }
}

fn settings(chunk_records: usize, shard: Shard) -> BatchSettings {
    BatchSettings {
        explain: ExplainSettings::default(),
        shard,
        chunk_records,
    }
}

fn rows(path: &Path) -> Vec<Row> {
    let file = std::fs::File::open(path).unwrap();
    let reader = SerializedFileReader::new(file).unwrap();
    reader
        .get_row_iter(None)
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

fn column_names(path: &Path) -> Vec<String> {
    let file = std::fs::File::open(path).unwrap();
    let reader = SerializedFileReader::new(file).unwrap();
    reader
        .metadata()
        .file_metadata()
        .schema()
        .get_fields()
        .iter()
        .map(|f| f.name().to_string())
        .collect()
}

fn field<'a>(row: &'a Row, name: &str) -> &'a Field {
    row.get_column_iter()
        .find(|(n, _)| n.as_str() == name)
        .map(|(_, f)| f)
        .unwrap_or_else(|| panic!("no column {name}"))
}

fn float(row: &Row, name: &str) -> f32 {
    match field(row, name) {
        Field::Float(v) => *v,
        other => panic!("{name}: {other:?}"),
    }
}

fn record_index(row: &Row) -> usize {
    match field(row, "record_index") {
        Field::Long(v) => *v as usize,
        other => panic!("record_index: {other:?}"),
    }
}

fn close(a: f32, b: f32, what: &str) {
    let ok = (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-4 * (1.0 + b.abs());
    assert!(ok, "{what}: {a} (batch) vs {b} (one record)");
}

#[test]
fn tables_hold_what_explain_gives_for_each_record() {
    let (model, explainer) = bundled();
    let data = sample();
    let dir = tempfile::tempdir().unwrap();
    let out = output(dir.path(), true);
    let summary = explain_dataset(
        &model,
        &explainer,
        data.as_ref(),
        &settings(16, Shard::default()),
        &out,
        &NoProgress,
    )
    .unwrap();
    assert_eq!(
        (summary.records, summary.explained),
        (data.len(), data.len())
    );
    assert_eq!(summary.failed, 0);
    assert!(!out.parts_dir().exists(), "parts are removed once merged");

    let names = column_names(&out.records);
    let k = explainer.k;
    let mut expected = vec!["record_index", "record_id", "error"]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    expected.extend(model.config.class_names.iter().map(|n| format!("prob_{n}")));
    expected.extend(model.config.class_names.iter().map(|n| format!("raw_{n}")));
    expected.extend(["predicted".into(), "gradcam_output".into()]);
    expected.extend((0..k).map(|c| format!("proportion_{c}")));
    expected.extend([
        "mean_entropy".into(),
        "entropy_gradcam_correlation".into(),
        "segments".into(),
    ]);
    assert_eq!(names, expected);

    let records = rows(&out.records);
    assert_eq!(records.len(), data.len());
    let steps = rows(out.steps.as_ref().unwrap());
    let mut steps_seen = 0;
    for (i, row) in records.iter().enumerate() {
        assert_eq!(record_index(row), i, "rows in data-set order");
        let ecg = data.load(i).unwrap();
        let e = explain_record(&model, &explainer, &ecg, &ExplainSettings::default()).unwrap();
        assert_eq!(field(row, "record_id"), &Field::Str(e.record_id.clone()));
        assert_eq!(field(row, "error"), &Field::Null);
        for (o, name) in e.prediction.output_names.iter().enumerate() {
            close(
                float(row, &format!("prob_{name}")),
                e.prediction.probabilities[o],
                name,
            );
            close(
                float(row, &format!("raw_{name}")),
                e.prediction.raw[o],
                name,
            );
        }
        assert_eq!(
            field(row, "predicted"),
            &Field::Str(e.prediction.predicted_labels.join(";"))
        );
        for c in 0..k {
            close(
                float(row, &format!("proportion_{c}")),
                e.proportions[c],
                "proportion",
            );
        }
        close(float(row, "mean_entropy"), e.mean_entropy(), "mean entropy");
        let Field::ListInternal(segments) = field(row, "segments") else {
            panic!("segments: {:?}", field(row, "segments"));
        };
        assert_eq!(segments.len(), e.segments.len(), "record {i}");
        for (got, want) in segments.elements().iter().zip(&e.segments) {
            let Field::Group(g) = got else {
                panic!("segment {got:?}")
            };
            assert_eq!(field(g, "cluster"), &Field::Int(want.cluster as i32));
            let Field::Double(start_s) = field(g, "start_s") else {
                panic!()
            };
            assert!((start_s - want.start_s).abs() < 1e-9);
        }
        // Its steps: one row per time step, in order, with the soft assignment.
        let own: Vec<&Row> = steps.iter().filter(|r| record_index(r) == i).collect();
        assert_eq!(own.len(), e.labels.len());
        steps_seen += own.len();
        for (t, r) in own.iter().enumerate() {
            assert_eq!(field(r, "step"), &Field::Int(t as i32));
            assert_eq!(field(r, "cluster"), &Field::Int(e.labels[t] as i32));
            close(float(r, "entropy"), e.entropy[t], "entropy");
            for c in 0..k {
                close(float(r, &format!("p_{c}")), e.soft[t][c], "p");
            }
        }
    }
    assert_eq!(steps_seen, steps.len());
}

#[test]
fn shards_are_disjoint_and_cover_the_data_set() {
    for len in [0, 1, 7, 40, 20_000, 345_779] {
        for count in [1, 2, 3, 4, 7, 64] {
            let mut next = 0;
            let mut sizes = Vec::new();
            for index in 0..count {
                let r = Shard { index, count }.range(len);
                assert_eq!(
                    r.start, next,
                    "{index}/{count} of {len}: contiguous, no overlap"
                );
                next = r.end;
                sizes.push(r.len());
            }
            assert_eq!(next, len, "the shards of {len} cover it");
            let (lo, hi) = (sizes.iter().min(), sizes.iter().max());
            assert!(hi.unwrap() - lo.unwrap() <= 1, "{sizes:?}");
        }
    }
    assert_eq!(Shard::parse("2/4").unwrap(), Shard { index: 2, count: 4 });
    for bad in ["4/4", "1/0", "x/2", "3", "-1/2"] {
        assert!(Shard::parse(bad).is_err(), "{bad}");
    }

    // Three processes' tables together hold each record once.
    let (model, explainer) = bundled();
    let data = sample();
    let dir = tempfile::tempdir().unwrap();
    let mut seen = Vec::new();
    for index in 0..3 {
        let out = BatchOutput {
            records: dir.path().join(format!("part{index}.parquet")),
            steps: None,
            overwrite: false,
        };
        let shard = Shard { index, count: 3 };
        explain_dataset(
            &model,
            &explainer,
            data.as_ref(),
            &settings(5, shard),
            &out,
            &NoProgress,
        )
        .unwrap();
        let got: Vec<usize> = rows(&out.records).iter().map(record_index).collect();
        assert_eq!(got, shard.range(data.len()).collect::<Vec<_>>());
        seen.extend(got);
    }
    assert_eq!(seen, (0..data.len()).collect::<Vec<_>>());
}

/// Cancels once `after` records are reported done, as Ctrl-C would.
struct CancelAfter {
    after: usize,
    cancelled: AtomicBool,
}

impl ProgressSink for CancelAfter {
    fn report(&self, p: Progress) {
        if p.done >= self.after {
            self.cancelled.store(true, Ordering::SeqCst);
        }
    }
    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }
}

#[test]
fn an_interrupted_run_resumes_without_recomputing_written_records() {
    let (model, explainer) = bundled();
    let batch = model.batch_size;
    let data = sample();
    let n = data.len();
    assert!(n >= 4 * batch, "the sample data has {n} records");
    let dir = tempfile::tempdir().unwrap();
    let out = output(dir.path(), true);
    let s = settings(batch, Shard::default());
    let stop = CancelAfter {
        after: 2 * batch,
        cancelled: AtomicBool::new(false),
    };
    let err = explain_dataset(&model, &explainer, data.as_ref(), &s, &out, &stop).unwrap_err();
    assert!(matches!(err, TlcError::Cancelled), "{err}");
    assert!(!out.records.exists() && out.parts_dir().exists());

    // The next run, with a fresh model, runs forward passes only for the rest.
    let (model2, _) = bundled();
    let summary =
        explain_dataset(&model2, &explainer, data.as_ref(), &s, &out, &NoProgress).unwrap();
    assert_eq!(summary.resumed, 2 * batch);
    assert_eq!(summary.explained, n - 2 * batch);
    assert_eq!(model2.forward_passes(), (n - 2 * batch).div_ceil(batch));
    assert!(!out.parts_dir().exists());

    // The same tables as a run never interrupted.
    let whole = tempfile::tempdir().unwrap();
    let out_whole = output(whole.path(), true);
    explain_dataset(
        &model,
        &explainer,
        data.as_ref(),
        &s,
        &out_whole,
        &NoProgress,
    )
    .unwrap();
    for (a, b) in [
        (&out.records, &out_whole.records),
        (
            out.steps.as_ref().unwrap(),
            out_whole.steps.as_ref().unwrap(),
        ),
    ] {
        let (ra, rb) = (rows(a), rows(b));
        assert_eq!(ra.len(), rb.len());
        for (x, y) in ra.iter().zip(&rb) {
            assert_eq!(x, y);
        }
    }
}

#[test]
fn existing_outputs_and_foreign_parts_are_refused() {
    let (model, explainer) = bundled();
    let data = sample();
    let dir = tempfile::tempdir().unwrap();
    let mut out = output(dir.path(), false);
    std::fs::write(&out.records, "the user's file").unwrap();
    let s = settings(8, Shard::default());
    let err =
        explain_dataset(&model, &explainer, data.as_ref(), &s, &out, &NoProgress).unwrap_err();
    let text = tlc_explorer::error_text::describe(&err);
    assert!(
        text.contains("records.parquet") && text.contains("--overwrite"),
        "{text}"
    );
    assert_eq!(std::fs::read(&out.records).unwrap(), b"the user's file");
    assert!(!out.parts_dir().exists());

    // An unfinished run of shard 0/2 is not continued by a run of shard 1/2.
    std::fs::remove_file(&out.records).unwrap();
    let stop = CancelAfter {
        after: 1,
        cancelled: AtomicBool::new(false),
    };
    let half = settings(8, Shard { index: 0, count: 2 });
    explain_dataset(&model, &explainer, data.as_ref(), &half, &out, &stop).unwrap_err();
    let other = settings(8, Shard { index: 1, count: 2 });
    let err =
        explain_dataset(&model, &explainer, data.as_ref(), &other, &out, &NoProgress).unwrap_err();
    let text = tlc_explorer::error_text::describe(&err);
    assert!(
        text.contains("shard 0/2 vs 1/2") && text.contains(".parts"),
        "{text}"
    );

    // --overwrite starts again, and replaces an existing table.
    out.overwrite = true;
    explain_dataset(&model, &explainer, data.as_ref(), &other, &out, &NoProgress).unwrap();
    explain_dataset(&model, &explainer, data.as_ref(), &other, &out, &NoProgress).unwrap();
    assert_eq!(
        rows(&out.records).len(),
        Shard { index: 1, count: 2 }.range(40).len()
    );
}

/// The sample data with record 3 holding a NaN sample, record 5 only two leads and record 7
/// unreadable.
struct Broken(Box<dyn Dataset>);

impl Dataset for Broken {
    fn name(&self) -> String {
        format!("broken {}", self.0.name())
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn entry(&self, index: usize) -> Option<&RecordEntry> {
        self.0.entry(index)
    }
    fn load(&self, index: usize) -> Result<Ecg, IoError> {
        let mut ecg = self.0.load(index)?;
        match index {
            3 => ecg.samples_mv[[1, 100]] = f32::NAN,
            5 => {
                ecg.samples_mv = ecg.samples_mv.slice(ndarray::s![0..2, ..]).to_owned();
                ecg.leads.truncate(2);
            }
            7 => return Err(IoError::format("broken.dat", "truncated")),
            _ => {}
        }
        Ok(ecg)
    }
    fn class_names(&self) -> Vec<String> {
        self.0.class_names()
    }
}

#[test]
fn bad_records_get_their_error_and_the_run_goes_on() {
    let (model, explainer) = bundled();
    let data = Broken(sample());
    let dir = tempfile::tempdir().unwrap();
    let out = output(dir.path(), true);
    let summary = explain_dataset(
        &model,
        &explainer,
        &data,
        &settings(8, Shard::default()),
        &out,
        &NoProgress,
    )
    .unwrap();
    assert_eq!(summary.failed, 3);
    let records = rows(&out.records);
    assert_eq!(records.len(), data.len());
    for row in &records {
        let i = record_index(row);
        let error = field(row, "error");
        if [3, 5, 7].contains(&i) {
            let Field::Str(message) = error else {
                panic!("record {i}: {error:?}")
            };
            assert!(!message.is_empty());
            assert_eq!(field(row, "segments"), &Field::Null);
            assert_eq!(field(row, "mean_entropy"), &Field::Null);
        } else {
            assert_eq!(error, &Field::Null, "record {i}");
        }
    }
    let Field::Str(nan) = field(&records[3], "error") else {
        panic!()
    };
    // A NaN inside the record is a gap: the model refuses it, naming the lead and the time.
    assert!(
        nan.contains("misses samples") && nan.contains("lead II"),
        "{nan}"
    );
    let Field::Str(unreadable) = field(&records[7], "error") else {
        panic!()
    };
    assert!(unreadable.contains("broken.dat"), "{unreadable}");
    let steps = rows(out.steps.as_ref().unwrap());
    assert!(steps.iter().all(|r| ![3, 5, 7].contains(&record_index(r))));
}

fn tlc(args: &[&std::ffi::OsStr]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tlc"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn cli_explains_a_code15_layout_file_by_shard_and_refuses_to_replace() {
    let Some(dir) = common::data("code15-layout") else {
        return;
    };
    let hdf5: PathBuf = dir.join("ptbxl_first50_code15_layout.hdf5");
    let tmp = tempfile::tempdir().unwrap();
    let mut seen = Vec::new();
    for i in 0..2 {
        let out = tmp.path().join(format!("shard{i}.parquet"));
        let shard = format!("{i}/2");
        let run = || {
            tlc(&[
                "explain".as_ref(),
                "--data".as_ref(),
                hdf5.as_os_str(),
                "--out".as_ref(),
                out.as_os_str(),
                "--shard".as_ref(),
                shard.as_ref(),
            ])
        };
        let o = run();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let got = rows(&out);
        assert_eq!(got.len(), 25);
        for r in &got {
            assert_eq!(field(r, "error"), &Field::Null);
        }
        seen.extend(got.iter().map(record_index));

        // Run again: refused, naming the file, which is left as it was.
        let before = std::fs::read(&out).unwrap();
        let o = run();
        assert!(!o.status.success());
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(
            stderr.contains(&format!("shard{i}.parquet")) && stderr.contains("--overwrite"),
            "{stderr}"
        );
        assert_eq!(std::fs::read(&out).unwrap(), before);
    }
    assert_eq!(seen, (0..50).collect::<Vec<_>>());
}

#[test]
fn cli_ctrl_c_keeps_finished_chunks_and_the_same_command_goes_on() {
    let Some(dir) = common::data("code15-layout") else {
        return;
    };
    let hdf5: PathBuf = dir.join("ptbxl_first50_code15_layout.hdf5");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("all.parquet");
    let parts = tmp.path().join("all.parquet.parts");
    let args: Vec<&std::ffi::OsStr> = vec![
        "explain".as_ref(),
        "--data".as_ref(),
        hdf5.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--chunk-records".as_ref(),
        "8".as_ref(),
    ];
    let first = common::interrupt_tlc(&args, || parts.join("records-000000.parquet").exists());
    assert_eq!(first.status.code(), Some(130), "{first:?}");
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(stderr.contains("all.parquet.parts"), "{stderr}");
    assert!(!out.exists());
    let kept = (0..7)
        .filter(|c| parts.join(format!("records-{c:06}.parquet")).exists())
        .count();
    assert!(kept >= 1);

    let second = tlc(&args);
    assert!(second.status.success(), "{second:?}");
    let stdout = String::from_utf8_lossy(&second.stdout);
    let resumed = (kept * 8).min(50);
    assert!(
        stdout.contains(&format!(
            "{} explained now, {resumed} from an earlier run",
            50 - resumed
        )),
        "{stdout}"
    );
    let got: Vec<usize> = rows(&out).iter().map(record_index).collect();
    assert_eq!(got, (0..50).collect::<Vec<_>>());
    assert!(!parts.exists());
}
