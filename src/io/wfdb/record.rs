//! The record API: a header and its signals in physical units ([`read_wfdb`], as
//! wfdb-python's `rdrecord` reads them, multi-segment records joined), and as an [`Ecg`] in mV
//! ([`read_record`]: the voltage signals, on one sampling grid, without gaps).

use std::path::Path;

use ndarray::Array2;

use crate::io::IoError;
use crate::io::files::file_inside;
use crate::record::{Ecg, EcgMeta, LeadName, OtherSignal, Sex};

use super::header::{DEFAULT_GAIN, SignalSpec, WfdbHeader, read_header};
use super::signal::{is_missing, read_signals};

/// Millivolts per physical unit, for the units WFDB ECG records use; `None` for a signal that
/// is not a voltage (mmHg, %, NU, bpm, ...).
fn mv_per_unit(units: &str) -> Option<f64> {
    match units.trim() {
        "mV" | "mv" | "MV" | "" => Some(1.0),
        "uV" | "uv" | "µV" | "μV" => Some(1e-3),
        "V" | "v" => Some(1e3),
        _ => None,
    }
}

/// One signal of a record in physical units.
#[derive(Debug, Clone, PartialEq)]
pub struct WfdbSignal {
    /// The signal's description in the header (the lead name of an ECG signal).
    pub name: String,
    /// `mV` for a voltage signal (converted from uV or V), otherwise the header's units.
    pub units: String,
    /// Whether the signal is a voltage (its values are in mV).
    pub is_voltage: bool,
    /// Samples per frame (the signal's rate is `samples_per_frame` times the frame rate).
    pub samples_per_frame: u32,
    /// The signal's own sampling rate (Hz).
    pub fs_hz: f64,
    /// The header gives ADC gain 0 (uncalibrated): read, as WFDB does, with the default gain
    /// of 200 ADC units per physical unit.
    pub uncalibrated: bool,
    /// `(adc - baseline) / gain`, in `units`; NaN where the sample is missing (WFDB's invalid
    /// sample value, a gap segment, a skewed signal past the end of its file).
    pub values: Vec<f32>,
}

/// A record read in physical units: every signal at its own rate, as wfdb-python's
/// `rdrecord(..., smooth_frames=False)` gives them (its `e_p_signal`).
#[derive(Debug, Clone, PartialEq)]
pub struct WfdbRecord {
    /// The record's header (the master header of a multi-segment record).
    pub header: WfdbHeader,
    /// Frame rate (Hz).
    pub fs_hz: f64,
    /// Frames in the record (the sum of the segments' for a multi-segment record).
    pub n_frames: usize,
    pub signals: Vec<WfdbSignal>,
}

/// Read a record (single- or multi-segment) in physical units, checksums verified.
/// A multi-segment record is joined into one: signals are those of the layout header (a first
/// segment of length 0) or of the first segment, matched by name in every segment; a gap
/// segment (`~`) and a signal a segment lacks are missing samples (NaN).
pub fn read_wfdb(hea_path: &Path) -> Result<WfdbRecord, IoError> {
    let header = read_header(hea_path)?;
    match header.segments.clone() {
        None => {
            let adc = read_signals(&header)?;
            let n_frames = frames_of(&header, &adc);
            let signals = header
                .signals
                .iter()
                .zip(&adc)
                .map(|(spec, values)| physical_signal(spec, header.fs_hz, values))
                .collect();
            Ok(WfdbRecord {
                fs_hz: header.fs_hz,
                n_frames,
                signals,
                header,
            })
        }
        Some(segments) => read_multi_segment(header, &segments),
    }
}

fn frames_of(header: &WfdbHeader, adc: &[Vec<i32>]) -> usize {
    header
        .signals
        .iter()
        .zip(adc)
        .map(|(s, v)| v.len() / s.samples_per_frame.max(1) as usize)
        .next()
        .unwrap_or(0)
}

/// The effective gain: WFDB reads gain 0 (uncalibrated) as its default gain.
fn effective_gain(spec: &SignalSpec) -> f64 {
    if spec.adc_gain == 0.0 {
        DEFAULT_GAIN
    } else {
        spec.adc_gain
    }
}

fn physical_signal(spec: &SignalSpec, frame_fs_hz: f64, adc: &[i32]) -> WfdbSignal {
    let unit_mv = mv_per_unit(&spec.units);
    let mut signal = WfdbSignal {
        name: spec.description.clone(),
        units: if unit_mv.is_some() {
            "mV".to_string()
        } else {
            spec.units.clone()
        },
        is_voltage: unit_mv.is_some(),
        samples_per_frame: spec.samples_per_frame,
        fs_hz: frame_fs_hz * f64::from(spec.samples_per_frame),
        uncalibrated: spec.adc_gain == 0.0,
        values: Vec::with_capacity(adc.len()),
    };
    push_physical(&mut signal.values, spec, adc);
    signal
}

/// Append `adc` of a signal described by `spec` in physical units (mV for a voltage).
fn push_physical(out: &mut Vec<f32>, spec: &SignalSpec, adc: &[i32]) {
    let scale = mv_per_unit(&spec.units).unwrap_or(1.0) / effective_gain(spec);
    let baseline = f64::from(spec.baseline);
    out.extend(adc.iter().map(|&v| {
        if is_missing(spec.format, v) {
            f32::NAN
        } else {
            ((f64::from(v) - baseline) * scale) as f32
        }
    }));
}

/// At most this many samples (all signals) in a joined multi-segment record: what the largest
/// accepted signal file holds in 16-bit samples.
const MAX_JOINED_SAMPLES: u64 = crate::io::files::MAX_SIGNAL_BYTES / 2;

fn read_multi_segment(
    master: WfdbHeader,
    segments: &[super::header::Segment],
) -> Result<WfdbRecord, IoError> {
    let dir = master.dir();
    let hea = master.path.clone();
    let segment_header = |name: &str| -> Result<WfdbHeader, IoError> {
        let path = file_inside(&dir, &format!("{name}.hea"), &hea)?;
        let h = read_header(&path)?;
        if h.segments.is_some() {
            return Err(IoError::format(
                &path,
                "a segment that is itself a multi-segment record",
            ));
        }
        if (h.fs_hz - master.fs_hz).abs() > 1e-9 * master.fs_hz {
            return Err(IoError::format(
                &path,
                format!(
                    "segment at {} Hz in a record at {} Hz",
                    h.fs_hz, master.fs_hz
                ),
            ));
        }
        Ok(h)
    };
    // The signals of the joined record: the layout header's, or the first segment's.
    let (layout, body) = match segments.first() {
        Some(first) if first.n_samples == 0 && first.record_name != "~" => {
            (segment_header(&first.record_name)?, &segments[1..])
        }
        _ => {
            let first = segments
                .iter()
                .find(|s| s.record_name != "~")
                .ok_or_else(|| IoError::format(&hea, "every segment is a gap ('~')"))?;
            (segment_header(&first.record_name)?, segments)
        }
    };
    // Bound the joined record before anything is allocated: gap segments claim memory that no
    // file backs, so the whole is held to what the largest accepted signal file could hold.
    let samples_per_frame: u64 = layout
        .signals
        .iter()
        .map(|s| u64::from(s.samples_per_frame))
        .sum();
    let total = body
        .iter()
        .map(|s| s.n_samples)
        .fold(0u64, u64::saturating_add)
        .saturating_mul(samples_per_frame);
    if total > MAX_JOINED_SAMPLES {
        return Err(IoError::format(
            &hea,
            format!(
                "the segments add up to {total} samples, more than the {MAX_JOINED_SAMPLES} a record may hold"
            ),
        ));
    }
    let mut signals: Vec<WfdbSignal> = layout
        .signals
        .iter()
        .map(|spec| physical_signal(spec, master.fs_hz, &[]))
        .collect();
    let mut n_frames = 0usize;
    for segment in body {
        let len = usize::try_from(segment.n_samples)
            .map_err(|_| IoError::format(&hea, "implausible segment length"))?;
        if segment.record_name == "~" {
            for s in &mut signals {
                s.values.extend(std::iter::repeat_n(
                    f32::NAN,
                    len * s.samples_per_frame as usize,
                ));
            }
            n_frames += len;
            continue;
        }
        let h = segment_header(&segment.record_name)?;
        if let Some(n) = h.n_samples.filter(|&n| n != segment.n_samples) {
            return Err(IoError::format(
                &h.path,
                format!(
                    "the segment holds {n} samples, the master header {} says {}",
                    hea.display(),
                    segment.n_samples
                ),
            ));
        }
        let mut h = h;
        h.n_samples = Some(segment.n_samples);
        let adc = read_signals(&h)?;
        for s in &mut signals {
            let spf = s.samples_per_frame as usize;
            match h.signals.iter().position(|spec| spec.description == s.name) {
                Some(k) => {
                    let spec = &h.signals[k];
                    if spec.samples_per_frame != s.samples_per_frame {
                        return Err(IoError::format(
                            &h.path,
                            format!(
                                "signal '{}' has {} samples per frame here, {} in the layout",
                                s.name, spec.samples_per_frame, s.samples_per_frame
                            ),
                        ));
                    }
                    if mv_per_unit(&spec.units).is_some() != s.is_voltage {
                        return Err(IoError::format(
                            &h.path,
                            format!(
                                "signal '{}' is in {} here, in {} in the layout",
                                s.name, spec.units, s.units
                            ),
                        ));
                    }
                    s.uncalibrated |= spec.adc_gain == 0.0;
                    push_physical(&mut s.values, spec, &adc[k][..len * spf]);
                }
                None => s.values.extend(std::iter::repeat_n(f32::NAN, len * spf)),
            }
        }
        n_frames += len;
    }
    Ok(WfdbRecord {
        fs_hz: master.fs_hz,
        n_frames,
        signals,
        header: master,
    })
}

/// The lead of a WFDB signal description. `D1`..`D3` are left as named: in the Holter
/// databases that use them (the QT Database's records from ambulatory recordings) they name
/// bipolar recorder channels whose electrode placement the databases do not give, so reading
/// `D3` as Einthoven lead III would be a guess (device formats, where D1-D3 are the European
/// names of I-III, map them; see [`LeadName::parse`]).
pub fn wfdb_lead_name(description: &str) -> LeadName {
    let trimmed = description.trim();
    if matches!(trimmed.to_ascii_uppercase().as_str(), "D1" | "D2" | "D3") {
        return LeadName::Other(trimmed.to_string());
    }
    LeadName::parse(trimmed)
}

/// Read a record as an [`Ecg`] in mV (see [`ecg_from_wfdb`]).
pub fn read_record(hea_path: &Path) -> Result<Ecg, IoError> {
    let mut ecg = ecg_from_wfdb(read_wfdb(hea_path)?)?;
    ecg.meta.synthetic = crate::io::folder::written_by_synth(hea_path);
    Ok(ecg)
}

/// The ECG of a record: its voltage signals in mV on one sampling grid.
/// - Signals that are not a voltage (ABP, PLETH, RESP, numerics) are kept apart as
///   [`Ecg::other_signals`] at their own rate, each with a note in `meta.reader_notes`; a voltage
///   signal with no sample at all is left out, with a note.
/// - Uncalibrated signals (gain 0, read with gain 200) are listed in `meta.uncalibrated_leads`.
/// - Rates: when every kept signal has the same samples per frame `k`, the ECG is at `k` times
///   the frame rate with every sample (wfdb-python's expanded reading); otherwise each signal's
///   samples in a frame are averaged, as wfdb-python's default `smooth_frames=True`, and the
///   ECG is at the frame rate (noted).
/// - Missing samples: leading and trailing frames where a kept lead has no data (e.g. past a
///   skewed signal's end) are trimmed, with a note; a gap inside the record is an error naming
///   the lead, where the gap starts and how many samples are missing, since the pipeline
///   (filters, model, delineation) needs continuous leads and would otherwise run on invented
///   values.
///
/// Lead names are normalised ([`wfdb_lead_name`]); `meta.id` is the record name,
/// `meta.source` the header; age, sex, labels, fold and report come from the header comments
/// ([`meta_from_comments`]).
pub fn ecg_from_wfdb(record: WfdbRecord) -> Result<Ecg, IoError> {
    let header = &record.header;
    let hea = &header.path;
    let mut notes = Vec::new();
    let mut kept: Vec<WfdbSignal> = Vec::new();
    let mut others: Vec<WfdbSignal> = Vec::new();
    for (i, s) in record.signals.into_iter().enumerate() {
        if !s.is_voltage {
            notes.push(format!(
                "signal {i} ({}, {}) is not a voltage: shown under the leads, not analysed",
                s.name, s.units
            ));
            others.push(s);
        } else if s.values.iter().all(|v| v.is_nan()) {
            notes.push(format!(
                "signal {i} ({}) left out: every sample is missing",
                s.name
            ));
        } else {
            kept.push(s);
        }
    }
    if kept.is_empty() {
        return Err(IoError::format(
            hea,
            format!(
                "no ECG signal: no signal in mV/uV/V with data ({})",
                notes.join("; ")
            ),
        ));
    }
    let spf = kept[0].samples_per_frame;
    let same_rate = kept.iter().all(|s| s.samples_per_frame == spf);
    let (fs_hz, rows): (f64, Vec<Vec<f32>>) = if same_rate {
        (
            record.fs_hz * f64::from(spf),
            kept.iter_mut()
                .map(|s| std::mem::take(&mut s.values))
                .collect(),
        )
    } else {
        let rates: Vec<String> = kept
            .iter()
            .map(|s| format!("{} {} Hz", s.name, s.fs_hz))
            .collect();
        notes.push(format!(
            "leads at different rates ({}) averaged per frame to {} Hz",
            rates.join(", "),
            record.fs_hz
        ));
        (
            record.fs_hz,
            kept.iter()
                .map(|s| {
                    s.values
                        .chunks_exact(s.samples_per_frame as usize)
                        .map(|frame| {
                            (frame.iter().map(|&v| f64::from(v)).sum::<f64>() / frame.len() as f64)
                                as f32
                        })
                        .collect()
                })
                .collect(),
        )
    };
    let n_samples = rows.iter().map(Vec::len).min().unwrap_or(0);
    let complete = |j: usize| rows.iter().all(|r| !r[j].is_nan());
    let start = (0..n_samples).find(|&j| complete(j)).ok_or_else(|| {
        IoError::format(
            hea,
            "no sample time at which every ECG lead has data (the leads' data do not overlap)",
        )
    })?;
    let end = (0..n_samples)
        .rev()
        .find(|&j| complete(j))
        .map_or(start, |j| j + 1);
    if start > 0 || end < n_samples {
        notes.push(format!(
            "{start} leading and {} trailing samples left out: a lead has no data there",
            n_samples - end
        ));
    }
    let leads: Vec<LeadName> = kept.iter().map(|s| wfdb_lead_name(&s.name)).collect();
    let mut samples = Array2::<f32>::zeros((kept.len(), end - start));
    for (i, row) in rows.iter().enumerate() {
        let inner = &row[start..end];
        // a gap inside the record stays as missing samples (NaN), said in the notes
        if let Some(first) = inner.iter().position(|v| v.is_nan()) {
            let missing = inner.iter().filter(|v| v.is_nan()).count();
            let gap_end = inner[first..]
                .iter()
                .position(|v| !v.is_nan())
                .map_or(inner.len(), |k| first + k);
            notes.push(format!(
                "lead {} has {missing} missing samples inside the record, the first gap at samples {}..{} ({:.3}-{:.3} s): drawn as gaps, delineated around, not given to the model",
                kept[i].name,
                first,
                gap_end,
                first as f64 / fs_hz,
                gap_end as f64 / fs_hz
            ));
        }
        samples.row_mut(i).assign(&ndarray::ArrayView1::from(inner));
    }
    let mut meta = meta_from_comments(&header.comments);
    meta.id = header.record_name.clone();
    meta.source = Some(hea.clone());
    meta.uncalibrated_leads = kept
        .iter()
        .zip(&leads)
        .filter(|(s, _)| s.uncalibrated)
        .map(|(_, l)| l.clone())
        .collect();
    meta.reader_notes = notes;
    // the other signals keep their own rate and every sample; their time 0 is the record's,
    // so they start `start` ECG samples before the trimmed leads
    let other_signals = others
        .into_iter()
        .map(|s| OtherSignal::new(s.name, s.units, s.fs_hz, -(start as f64) / fs_hz, s.values))
        .collect();
    Ecg::with_gaps(leads, fs_hz, samples, meta)
        .map(|ecg| ecg.with_other_signals(other_signals))
        .map_err(|source| IoError::Record {
            path: hea.clone(),
            source,
        })
}

/// Metadata from header comments written as `key: value` (case-insensitive keys, optional
/// `<...>` around the key as in LUDB): `age`, `sex` (`M`/`F`/`male`/`female`), `labels`
/// (space-separated), `fold`, `report`. In LUDB headers the comments after `<diagnoses>:` are
/// joined into the report. Unknown keys are ignored.
pub fn meta_from_comments(comments: &[String]) -> EcgMeta {
    let mut meta = EcgMeta::default();
    let mut diagnoses: Option<Vec<String>> = None;
    for comment in comments {
        if let Some(lines) = diagnoses.as_mut() {
            if !comment.is_empty() {
                lines.push(comment.clone());
            }
            continue;
        }
        let Some((key, value)) = comment.split_once(':') else {
            continue;
        };
        let key = key
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_ascii_lowercase();
        let value = value.trim();
        match key.as_str() {
            "age" => meta.age_years = value.parse::<f32>().ok().filter(|a| a.is_finite()),
            "sex" => meta.sex = parse_sex(value),
            "labels" => meta.labels = value.split_whitespace().map(str::to_string).collect(),
            "fold" => meta.fold = value.parse().ok(),
            "report" => meta.report = Some(value.to_string()).filter(|r| !r.is_empty()),
            "diagnoses" if value.is_empty() => diagnoses = Some(Vec::new()),
            _ => {}
        }
    }
    if let Some(lines) = diagnoses.filter(|l| !l.is_empty()) {
        meta.report = Some(lines.join(" "));
    }
    meta
}

/// `M`, `F`, `male`, `female` (any case); anything else is unknown.
pub fn parse_sex(value: &str) -> Option<Sex> {
    match value.trim().to_ascii_lowercase().as_str() {
        "m" | "male" => Some(Sex::Male),
        "f" | "female" => Some(Sex::Female),
        _ => None,
    }
}
