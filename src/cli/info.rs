//! `tlc info PATH`: summarise a record (leads, rate, duration, samples, labels, metadata) or a
//! data set (name, count, rate, counts per class and per fold).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::cli::common::DataOptions;
use crate::io::{self, Dataset};
use crate::record::Ecg;

/// Arguments of `tlc info`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A WFDB record (`.hea`, or its name without extension), a PTB-XL folder, a folder of WFDB
    /// records and/or device ECG files, a CODE-15%-layout `.hdf5` file, or a device ECG file
    /// (DICOM, HL7 aECG, GE MUSE, Philips XML, SCP-ECG, EDF, ISHNE; detected by content).
    pub path: PathBuf,
    #[command(flatten)]
    pub data_options: DataOptions,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    print!("{}", describe(&args.path, &args.data_options)?);
    Ok(())
}

/// The text `tlc info` prints: a record file (any format `io::open_dataset` reads) is
/// described as a record, a folder or a multi-record file as a data set.
pub fn describe(path: &Path, data: &DataOptions) -> anyhow::Result<String> {
    let ds = data.open(path)?;
    if ds.len() == 1 && !path.is_dir() {
        let ecg = ds.load(0)?;
        describe_record(&ecg, path)
    } else {
        describe_dataset(ds.as_ref(), path)
    }
}

fn push_meta(out: &mut String, ecg: &Ecg) {
    let m = &ecg.meta;
    let _ = writeln!(
        out,
        "labels:    {}",
        if m.labels.is_empty() {
            "(none)".to_string()
        } else {
            m.labels.join(" ")
        }
    );
    if let Some(age) = m.age_years {
        let _ = writeln!(out, "age:       {age} years");
    }
    if let Some(sex) = m.sex {
        let _ = writeln!(out, "sex:       {sex}");
    }
    if let Some(fold) = m.fold {
        let _ = writeln!(out, "fold:      {fold}");
    }
    if let Some(report) = &m.report {
        let _ = writeln!(out, "report:    {report}");
    }
    if let Some(device) = &m.device {
        let _ = writeln!(out, "device:    {device}");
    }
    if !m.derived_leads.is_empty() {
        let derived: Vec<&str> = m.derived_leads.iter().map(|l| l.as_str()).collect();
        let _ = writeln!(
            out,
            "derived:   {} (computed from the stored leads)",
            derived.join(", ")
        );
    }
    if !m.uncalibrated_leads.is_empty() {
        let leads: Vec<&str> = m.uncalibrated_leads.iter().map(|l| l.as_str()).collect();
        let _ = writeln!(
            out,
            "uncalibrated: {} (gain 0 in the file; read with the default 200 ADC units/mV, amplitudes are not mV)",
            leads.join(", ")
        );
    }
    for signal in &ecg.other_signals {
        let missing = signal.values().iter().filter(|v| v.is_nan()).count();
        let range = match signal.value_range() {
            Some((lo, hi)) => format!(
                "{} to {}",
                crate::figure::scene::scale_value_text(lo),
                crate::figure::scene::scale_value_text(hi)
            ),
            None => "no data".into(),
        };
        let _ = writeln!(
            out,
            "other:     {} at {} Hz, {} values, {range}{} (shown, not analysed)",
            signal.label(),
            signal.fs_hz,
            signal.values().len(),
            if missing > 0 {
                format!(", {missing} missing")
            } else {
                String::new()
            }
        );
    }
    for note in &m.reader_notes {
        let _ = writeln!(out, "note:      {note}");
    }
    if let Some(median) = &m.median_beats {
        let _ = writeln!(
            out,
            "medians:   {} leads x {} samples at {} Hz (the device's median beats)",
            median.leads.len(),
            median.samples_mv.first().map_or(0, Vec::len),
            median.fs_hz
        );
    }
    if !m.measurements.is_empty() {
        let shown: Vec<String> = m
            .measurements
            .iter()
            .map(|d| {
                format!(
                    "{} {}{}",
                    d.name,
                    d.value,
                    if d.unit.is_empty() {
                        String::new()
                    } else {
                        format!(" {}", d.unit)
                    }
                )
            })
            .collect();
        let _ = writeln!(out, "device measurements: {}", shown.join("; "));
    }
    // patient fields (name, id, birth date) are never printed: output may end up in logs
}

fn describe_record(ecg: &Ecg, path: &Path) -> anyhow::Result<String> {
    let source = ecg
        .meta
        .source
        .clone()
        .unwrap_or_else(|| path.to_path_buf());
    let mut out = String::new();
    let _ = writeln!(out, "record:    {} ({})", ecg.meta.id, source.display());
    let leads: Vec<&str> = ecg.leads.iter().map(|l| l.as_str()).collect();
    let _ = writeln!(out, "leads:     {} ({})", ecg.n_leads(), leads.join(", "));
    let _ = writeln!(out, "rate:      {} Hz", ecg.fs_hz);
    let _ = writeln!(out, "duration:  {:.3} s", ecg.duration_s());
    let _ = writeln!(out, "samples:   {}", ecg.n_samples());
    let wfdb_header = source
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("hea"))
        .then(|| io::read_header(&source))
        .transpose()?;
    if wfdb_header.is_none()
        && source.is_file()
        && let Ok(Some(format)) = io::formats::detect(&source)
    {
        let _ = writeln!(out, "format:    {}", format.name());
    }
    if let Some(segments) = wfdb_header.as_ref().and_then(|h| h.segments.as_ref()) {
        let gaps = segments.iter().filter(|s| s.record_name == "~").count();
        let _ = writeln!(
            out,
            "format:    WFDB multi-segment record ({} segments, {gaps} of them gaps; checksums verified)",
            segments.len()
        );
    } else if let Some(header) = &wfdb_header {
        let formats: std::collections::BTreeSet<u16> =
            header.signals.iter().map(|s| s.format).collect();
        let formats: Vec<String> = formats.iter().map(u16::to_string).collect();
        let _ = writeln!(
            out,
            "format:    WFDB format {} (checksums verified)",
            formats.join(", ")
        );
    }
    push_meta(&mut out, ecg);
    if let Some(header) = wfdb_header.filter(|h| !h.comments.is_empty()) {
        let _ = writeln!(out, "comments:");
        for c in &header.comments {
            let _ = writeln!(out, "  # {c}");
        }
    }
    Ok(out)
}

fn describe_dataset(ds: &dyn Dataset, path: &Path) -> anyhow::Result<String> {
    let mut out = String::new();
    let _ = writeln!(out, "data set:  {}", ds.name());
    let _ = writeln!(out, "path:      {}", path.display());
    let _ = writeln!(out, "records:   {}", ds.len());
    if !ds.is_empty() {
        // The rate and length come from the first record (the index does not store them).
        let first = ds.load(0).context("cannot load the first record")?;
        let leads: Vec<&str> = first.leads.iter().map(|l| l.as_str()).collect();
        let _ = writeln!(
            out,
            "first:     {} — {} Hz, {:.3} s, {} samples, leads {}",
            first.meta.id,
            first.fs_hz,
            first.duration_s(),
            first.n_samples(),
            leads.join(", ")
        );
    }
    let classes = ds.class_names();
    let mut per_class: BTreeMap<&str, usize> = BTreeMap::new();
    let mut per_fold: BTreeMap<Option<u32>, usize> = BTreeMap::new();
    let mut unlabelled = 0;
    for i in 0..ds.len() {
        let Some(e) = ds.entry(i) else { continue };
        if e.labels.is_empty() {
            unlabelled += 1;
        }
        for l in &e.labels {
            if let Some(c) = classes.iter().find(|c| *c == l) {
                *per_class.entry(c.as_str()).or_default() += 1;
            }
        }
        *per_fold.entry(e.fold).or_default() += 1;
    }
    if classes.is_empty() {
        let _ = writeln!(out, "classes:   (unlabelled)");
    } else {
        let _ = writeln!(out, "classes (records per class; multi-label):");
        for c in &classes {
            let _ = writeln!(
                out,
                "  {c:<8} {}",
                per_class.get(c.as_str()).copied().unwrap_or(0)
            );
        }
        let _ = writeln!(out, "  (none)   {unlabelled}");
    }
    if per_fold.keys().any(Option::is_some) {
        let _ = writeln!(out, "folds:");
        for (fold, n) in &per_fold {
            match fold {
                Some(f) => {
                    let _ = writeln!(out, "  {f:<8} {n}");
                }
                None => {
                    let _ = writeln!(out, "  (none)   {n}");
                }
            }
        }
    } else {
        let _ = writeln!(out, "folds:     (none)");
    }
    Ok(out)
}
