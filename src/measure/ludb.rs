//! The intervals measured from the project's delineation against the same intervals computed
//! from LUDB's own annotations (Kalyakulina et al. 2020): per record, median over beats; PR
//! left out on the atrial fibrillation/flutter records of `ludb.csv`; heart rate against the
//! annotated beats' rate.
//!
//! Reference beats: the annotated QRS complexes of all 12 leads grouped where they overlap;
//! a beat's QRS onset is the earliest of its leads' onsets and its offset the latest
//! (the CSE convention), its P the earliest onset and latest offset of the P waves annotated
//! after the previous QRS and before this one, its T offset the latest offset of the T waves
//! between its QRS and the next. Only the span LUDB annotates (about samples 641-3996) has
//! references, so the delineation is cut to the beats whose QRS peak lies in that span before
//! it is measured: both sides see the same beats.

use serde::{Deserialize, Serialize};

use crate::delineate::score::{
    ErrorStats, RecordSubset, ReferenceWave, ScoreError, ludb_record_ids, ludb_rhythms,
    reference_waves_from_marks, rhythm_is_af_or_flutter,
};
use crate::delineate::{Delineation, DelineatorParams, WaveKind};

use super::{MeasureError, MeasureParams, Measurements, median};

/// Why the comparison failed.
#[derive(Debug, thiserror::Error)]
pub enum ValidationError {
    #[error(transparent)]
    Score(#[from] ScoreError),
    #[error(transparent)]
    Io(#[from] crate::io::IoError),
    /// The measurement errors name the record themselves.
    #[error(transparent)]
    Measure(#[from] MeasureError),
}

/// The intervals of one record from its annotations (medians over the annotated beats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ReferenceIntervals {
    pub n_beats: usize,
    pub hr_bpm: Option<f64>,
    pub p_ms: Option<f64>,
    pub pr_ms: Option<f64>,
    pub qrs_ms: Option<f64>,
    pub qt_ms: Option<f64>,
    /// The standard error of the PR, QRS and QT medians above (1.2533 x the beats' sample SD /
    /// sqrt(beats), a median's large-sample standard error; at least 3 beats): how far the
    /// annotators' beat-to-beat scatter alone moves the record's reference value.
    pub pr_se_ms: Option<f64>,
    pub qrs_se_ms: Option<f64>,
    pub qt_se_ms: Option<f64>,
}

/// One annotated beat's global bounds (samples).
#[derive(Debug, Clone, Copy, PartialEq)]
struct ReferenceBeat {
    peak: usize,
    qrs: (Option<usize>, Option<usize>),
    p: (Option<usize>, Option<usize>),
    t_offset: Option<usize>,
}

fn min_opt(a: Option<usize>, b: Option<usize>) -> Option<usize> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

fn max_opt(a: Option<usize>, b: Option<usize>) -> Option<usize> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    }
}

/// Group the QRS waves of all leads into beats (overlapping complexes; a wave without an
/// offset mark lasts `group` samples past its peak), then attach the P and T waves around each
/// beat.
fn reference_beats(leads: &[Vec<ReferenceWave>], group: usize) -> Vec<ReferenceBeat> {
    let mut qrs: Vec<&ReferenceWave> = leads
        .iter()
        .flatten()
        .filter(|w| w.kind == WaveKind::Qrs)
        .collect();
    qrs.sort_by_key(|w| w.peak);
    // A wave joins the beat while it starts before the beat's latest end (offset, or peak +
    // `group`): wide complexes peak at quite different times in different leads.
    let end = |w: &ReferenceWave| w.offset.unwrap_or(w.peak + group).max(w.peak);
    let mut beats: Vec<(usize, Vec<&ReferenceWave>)> = Vec::new();
    for w in qrs {
        match beats.last_mut() {
            Some((last_end, members)) if w.onset.unwrap_or(w.peak).min(w.peak) <= *last_end => {
                *last_end = (*last_end).max(end(w));
                members.push(w);
            }
            _ => beats.push((end(w), vec![w])),
        }
    }
    let mut out: Vec<ReferenceBeat> = beats
        .iter()
        .map(|(_, members)| {
            let peaks: Vec<f64> = members.iter().map(|w| w.peak as f64).collect();
            ReferenceBeat {
                peak: median(&peaks).unwrap_or(0.0).round() as usize,
                qrs: members.iter().fold((None, None), |(on, off), w| {
                    (min_opt(on, w.onset), max_opt(off, w.offset))
                }),
                p: (None, None),
                t_offset: None,
            }
        })
        .collect();
    let waves = |kind: WaveKind| leads.iter().flatten().filter(move |w| w.kind == kind);
    for i in 0..out.len() {
        let onset = out[i].qrs.0.unwrap_or(out[i].peak);
        let offset = out[i].qrs.1.unwrap_or(out[i].peak);
        let prev_peak = i.checked_sub(1).map(|j| out[j].peak).unwrap_or(0);
        let next_onset = out
            .get(i + 1)
            .map(|b| b.qrs.0.unwrap_or(b.peak))
            .unwrap_or(usize::MAX);
        for p in waves(WaveKind::P).filter(|w| w.peak > prev_peak && w.peak < onset) {
            out[i].p = (min_opt(out[i].p.0, p.onset), max_opt(out[i].p.1, p.offset));
        }
        for t in waves(WaveKind::T).filter(|w| w.peak > offset && w.peak < next_onset) {
            out[i].t_offset = max_opt(out[i].t_offset, t.offset);
        }
    }
    out
}

/// Medians over the reference beats, in ms.
fn reference_intervals(beats: &[ReferenceBeat], fs_hz: f64) -> ReferenceIntervals {
    let ms = |a: usize, b: usize| (b as f64 - a as f64) * 1000.0 / fs_hz;
    let collect = |f: &dyn Fn(&ReferenceBeat) -> Option<f64>| -> Option<f64> {
        median(&beats.iter().filter_map(f).collect::<Vec<_>>())
    };
    let standard_error = |f: &dyn Fn(&ReferenceBeat) -> Option<f64>| -> Option<f64> {
        let mut stats = ErrorStats::default();
        beats.iter().filter_map(f).for_each(|v| stats.add(v));
        (stats.n >= 3).then(|| 1.2533 * stats.sd_ms() / (stats.n as f64).sqrt())
    };
    let pr = |b: &ReferenceBeat| Some(ms(b.p.0?, b.qrs.0?));
    let qrs = |b: &ReferenceBeat| Some(ms(b.qrs.0?, b.qrs.1?));
    let qt = |b: &ReferenceBeat| Some(ms(b.qrs.0?, b.t_offset?));
    let hr_bpm = match (beats.first(), beats.last()) {
        (Some(a), Some(b)) if beats.len() >= 2 && b.peak > a.peak => {
            Some(60_000.0 * (beats.len() - 1) as f64 / ms(a.peak, b.peak))
        }
        _ => None,
    };
    ReferenceIntervals {
        n_beats: beats.len(),
        hr_bpm,
        p_ms: collect(&|b| Some(ms(b.p.0?, b.p.1?))),
        pr_ms: collect(&pr),
        qrs_ms: collect(&qrs),
        qt_ms: collect(&qt),
        pr_se_ms: standard_error(&pr),
        qrs_se_ms: standard_error(&qrs),
        qt_se_ms: standard_error(&qt),
    }
}

/// The delineation with only the beats whose QRS peak lies in `first..=last`.
pub fn crop_delineation(d: &Delineation, first: usize, last: usize) -> Delineation {
    let inside = |b: &crate::delineate::Beat| b.qrs.peak >= first && b.qrs.peak <= last;
    Delineation {
        beats: d.beats.iter().filter(|b| inside(b)).cloned().collect(),
        per_lead: d
            .per_lead
            .iter()
            .map(|l| l.iter().filter(|b| inside(b)).cloned().collect())
            .collect(),
        ..d.clone()
    }
}

/// One record: ours (measured on the annotated span) against the reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordComparison {
    pub id: String,
    /// `Rhythms` of `ludb.csv`.
    pub rhythm: String,
    pub atrial_fibrillation_or_flutter: bool,
    pub ours: Measurements,
    pub reference: ReferenceIntervals,
    /// Mean heart rate over the whole record (not just the annotated span).
    pub whole_record_hr_bpm: Option<f64>,
}

/// Differences (ours - reference) over records, and the records where one side is missing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct IntervalComparison {
    pub difference: ErrorStats,
    /// Records with a reference value but no measured one.
    pub n_missing: usize,
    /// Records with a measured value but no reference.
    pub n_extra: usize,
    /// Largest |difference|.
    pub max_abs: f64,
}

impl IntervalComparison {
    fn add(&mut self, ours: Option<f64>, reference: Option<f64>) {
        match (ours, reference) {
            (Some(o), Some(r)) => {
                self.difference.add(o - r);
                self.max_abs = self.max_abs.max((o - r).abs());
            }
            (None, Some(_)) => self.n_missing += 1,
            (Some(_), None) => self.n_extra += 1,
            (None, None) => {}
        }
    }
}

/// The comparison over the records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeasureValidation {
    pub records: Vec<RecordComparison>,
    pub p: IntervalComparison,
    /// AF/flutter records left out.
    pub pr: IntervalComparison,
    pub qrs: IntervalComparison,
    pub qt: IntervalComparison,
    /// Heart rate (bpm rather than ms).
    pub hr: IntervalComparison,
}

/// The goals (IEC 60601-2-25 against CSE): |mean| and SD in ms; heart rate in bpm per record.
pub const GOALS: [(&str, f64, f64); 3] =
    [("PR", 10.0, 10.0), ("QRS", 10.0, 10.0), ("QT", 25.0, 30.0)];
pub const HR_GOAL_BPM: f64 = 1.0;

impl MeasureValidation {
    fn from_records(records: Vec<RecordComparison>) -> Self {
        let mut v = MeasureValidation {
            records: Vec::new(),
            p: Default::default(),
            pr: Default::default(),
            qrs: Default::default(),
            qt: Default::default(),
            hr: Default::default(),
        };
        for r in &records {
            let o = &r.ours;
            v.p.add(o.p_ms.value(), r.reference.p_ms);
            if !r.atrial_fibrillation_or_flutter {
                v.pr.add(o.pr_ms.value(), r.reference.pr_ms);
            }
            v.qrs.add(o.qrs_ms.value(), r.reference.qrs_ms);
            v.qt.add(o.qt_ms.value(), r.reference.qt_ms);
            v.hr.add(o.heart_rate.mean_bpm.value(), r.reference.hr_bpm);
        }
        v.records = records;
        v
    }

    /// The root mean square over the compared records of the reference's standard error
    /// ([`ReferenceIntervals`]) for PR, QRS and QT, in ms: the part of the SD of the
    /// differences that the annotators' beat-to-beat scatter alone would give. PR over the
    /// records its comparison keeps (no atrial fibrillation or flutter).
    pub fn reference_scatter_rms_ms(&self) -> [Option<f64>; 3] {
        let rms = |f: &dyn Fn(&RecordComparison) -> Option<f64>| {
            let mut stats = ErrorStats::default();
            self.records.iter().filter_map(f).for_each(|v| stats.add(v));
            (stats.n > 0).then(|| (stats.sum_sq_ms / stats.n as f64).sqrt())
        };
        [
            rms(&|r| {
                (!r.atrial_fibrillation_or_flutter)
                    .then_some(r.reference.pr_se_ms)
                    .flatten()
            }),
            rms(&|r| r.reference.qrs_se_ms),
            rms(&|r| r.reference.qt_se_ms),
        ]
    }

    /// Records whose heart rate is more than `HR_GOAL_BPM` from the reference.
    pub fn hr_outliers(&self) -> Vec<(&str, f64)> {
        self.records
            .iter()
            .filter_map(|r| {
                let d = r.ours.heart_rate.mean_bpm.value()? - r.reference.hr_bpm?;
                (d.abs() > HR_GOAL_BPM).then_some((r.id.as_str(), d))
            })
            .collect()
    }

    /// A markdown table: n, mean difference, SD, the goal, and the records missing a value.
    pub fn table(&self) -> String {
        let mut s = String::from(
            "| interval | records | mean difference | SD | goal (mean / SD) | max abs | missing / extra |\n|---|---|---|---|---|---|---|\n",
        );
        let rows = [
            ("P duration", &self.p, "", "ms"),
            ("PR (no AF/flutter)", &self.pr, "±10 / 10 ms", "ms"),
            ("QRS duration", &self.qrs, "±10 / 10 ms", "ms"),
            ("QT", &self.qt, "±25 / 30 ms", "ms"),
            ("heart rate", &self.hr, "±1 bpm every record", "bpm"),
        ];
        for (name, c, goal, unit) in rows {
            s.push_str(&format!(
                "| {name} | {} | {:+.1} {unit} | {:.1} {unit} | {goal} | {:.1} {unit} | {} / {} |\n",
                c.difference.n,
                c.difference.mean_ms(),
                c.difference.sd_ms(),
                c.max_abs,
                c.n_missing,
                c.n_extra
            ));
        }
        s
    }
}

/// Delineate, measure and compare every LUDB record of `subset` under `root` (in parallel).
pub fn validate_ludb(
    root: &std::path::Path,
    delineator: &DelineatorParams,
    params: &MeasureParams,
    subset: RecordSubset,
) -> Result<MeasureValidation, ValidationError> {
    use rayon::prelude::*;
    params.validate()?;
    let ids = ludb_record_ids(root, subset, None)?;
    let rhythms = ludb_rhythms(&root.join("ludb.csv"))?;
    let records = ids
        .par_iter()
        .map(|id| {
            let rhythm = rhythms
                .get(id)
                .map(|d| d.rhythm.clone())
                .unwrap_or_default();
            compare_record(root, id, rhythm, delineator, params)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(MeasureValidation::from_records(records))
}

/// The reference waves of each of `leads` from LUDB's per-lead annotation files.
fn lead_references(
    data: &std::path::Path,
    id: &str,
    leads: &[crate::record::LeadName],
) -> Result<Vec<Vec<ReferenceWave>>, ValidationError> {
    leads
        .iter()
        .map(|lead| {
            let path = data.join(format!("{id}.{}", lead.as_str().to_ascii_lowercase()));
            let marks = crate::io::annotation::read_annotations(&path)?;
            Ok(reference_waves_from_marks(
                marks.iter().map(|a| (a.sample as usize, a.symbol.as_str())),
            ))
        })
        .collect()
}

fn compare_record(
    root: &std::path::Path,
    id: &str,
    rhythm: String,
    delineator: &DelineatorParams,
    params: &MeasureParams,
) -> Result<RecordComparison, ValidationError> {
    let data = root.join("data");
    let ecg = crate::io::wfdb::read_record(&data.join(format!("{id}.hea")))?;
    let d = crate::delineate::delineate(&ecg, delineator).map_err(ScoreError::from)?;
    let leads = lead_references(&data, id, &ecg.leads)?;
    let group = (0.1 * ecg.fs_hz).round() as usize;
    let reference = reference_beats(&leads, group);
    let span = leads
        .iter()
        .flatten()
        .fold(None, |acc: Option<(usize, usize)>, w| {
            let lo = w.onset.unwrap_or(w.peak);
            let hi = w.offset.unwrap_or(w.peak);
            Some(acc.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))))
        });
    let cropped = match span {
        Some((first, last)) => crop_delineation(&d, first, last),
        None => crop_delineation(&d, 1, 0),
    };
    let measure = |d: &Delineation| super::measure(&ecg, d, params).map_err(ValidationError::from);
    let ours = measure(&cropped)?;
    let whole = measure(&d)?;
    Ok(RecordComparison {
        id: id.to_string(),
        atrial_fibrillation_or_flutter: rhythm_is_af_or_flutter(&rhythm),
        rhythm,
        ours,
        reference: reference_intervals(&reference, ecg.fs_hz),
        whole_record_hr_bpm: whole.heart_rate.mean_bpm.value(),
    })
}

/// How [`global_bound_errors`] reads LUDB: which leads the delineator sees and at which rate,
/// to emulate other databases (the QT Database: 2 leads at 250 Hz, one set of marks per beat).
#[derive(Debug, Clone, Default)]
pub struct GlobalBoundOptions {
    /// Only these leads are delineated, and only their annotations form the reference (all 12
    /// when `None`).
    pub leads: Option<Vec<crate::record::LeadName>>,
    /// Delineate a copy resampled to this rate, landmarks mapped back.
    pub resample_hz: Option<f64>,
    pub records: RecordSubset,
}

/// Errors of the delineator's multi-lead beats (`Delineation::beats`) against the global
/// reference bounds (earliest onset, latest offset over the chosen leads' annotations), for
/// P onset, P offset, QRS onset, QRS offset and T offset: pooled, and per record (each
/// record's SD, averaged as Martinez et al. 2004 report it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GlobalBoundErrors {
    pub pooled: [ErrorStats; 5],
    /// Sum of the per-record SDs and the number of records with at least two errors.
    pub record_sd_sum_ms: [f64; 5],
    pub n_records: [usize; 5],
}

impl GlobalBoundErrors {
    pub const BOUNDS: [&'static str; 5] = ["P on", "P off", "QRS on", "QRS off", "T off"];

    /// Mean per-record SD of bound `k` (ms).
    pub fn mean_record_sd_ms(&self, k: usize) -> f64 {
        self.record_sd_sum_ms[k] / self.n_records[k].max(1) as f64
    }

    /// A Markdown table: bound, n, mean error, mean per-record SD, pooled SD.
    pub fn table(&self) -> String {
        let mut s = String::from(
            "| bound | n | mean ms | mean per-record SD ms | pooled SD ms |\n|---|---|---|---|---|\n",
        );
        for (k, name) in Self::BOUNDS.iter().enumerate() {
            let e = &self.pooled[k];
            s.push_str(&format!(
                "| {name} | {} | {:.1} | {:.1} | {:.1} |\n",
                e.n,
                e.mean_ms(),
                self.mean_record_sd_ms(k),
                e.sd_ms()
            ));
        }
        s
    }

    fn add_record(&mut self, record: &[ErrorStats; 5]) {
        for (k, e) in record.iter().enumerate() {
            self.pooled[k].merge(e);
            if e.n >= 2 {
                self.record_sd_sum_ms[k] += e.sd_ms();
                self.n_records[k] += 1;
            }
        }
    }
}

/// The multi-lead bounds against LUDB's global reference bounds (see [`GlobalBoundErrors`]).
pub fn global_bound_errors(
    root: &std::path::Path,
    delineator: &DelineatorParams,
    options: &GlobalBoundOptions,
) -> Result<GlobalBoundErrors, ValidationError> {
    use rayon::prelude::*;
    let ids = ludb_record_ids(root, options.records, None)?;
    let per_record = ids
        .par_iter()
        .map(|id| record_global_errors(root, id, delineator, options))
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = GlobalBoundErrors::default();
    for r in &per_record {
        out.add_record(r);
    }
    Ok(out)
}

fn record_global_errors(
    root: &std::path::Path,
    id: &str,
    delineator: &DelineatorParams,
    options: &GlobalBoundOptions,
) -> Result<[ErrorStats; 5], ValidationError> {
    let data = root.join("data");
    let hea = data.join(format!("{id}.hea"));
    let full = crate::io::wfdb::read_record(&hea)?;
    let keep: Vec<usize> = match &options.leads {
        None => (0..full.n_leads()).collect(),
        Some(wanted) => wanted
            .iter()
            .filter_map(|w| full.leads.iter().position(|l| l == w))
            .collect(),
    };
    let ecg = crate::record::Ecg::new(
        keep.iter().map(|&i| full.leads[i].clone()).collect(),
        full.fs_hz,
        full.samples_mv.select(ndarray::Axis(0), &keep),
        full.meta.clone(),
    )
    .map_err(|source| crate::io::IoError::Record {
        path: hea.clone(),
        source,
    })?;
    let d = crate::delineate::score::delineate_at_rate(&ecg, delineator, options.resample_hz)?;
    let leads = lead_references(&data, id, &ecg.leads)?;
    let reference = reference_beats(&leads, (0.1 * ecg.fs_hz).round() as usize);
    let tolerance = (0.15 * ecg.fs_hz).round() as usize;
    let ms = 1000.0 / ecg.fs_hz;
    let mut errors: [ErrorStats; 5] = Default::default();
    let mut add = |k: usize, ours: Option<usize>, theirs: Option<usize>| {
        if let (Some(o), Some(t)) = (ours, theirs) {
            errors[k].add((o as f64 - t as f64) * ms);
        }
    };
    for r in &reference {
        let Some(b) = d
            .beats
            .iter()
            .filter(|b| b.qrs.peak.abs_diff(r.peak) <= tolerance)
            .min_by_key(|b| b.qrs.peak.abs_diff(r.peak))
        else {
            continue;
        };
        add(0, b.p.map(|p| p.onset), r.p.0);
        add(1, b.p.map(|p| p.offset), r.p.1);
        add(2, Some(b.qrs.onset), r.qrs.0);
        add(3, Some(b.qrs.offset), r.qrs.1);
        add(4, b.t.map(|t| t.offset), r.t_offset);
    }
    Ok(errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delineate::Wave;

    #[test]
    fn reference_beats_take_the_earliest_onset_and_latest_offset() {
        let lead_a: Vec<ReferenceWave> = vec![
            Wave::new(WaveKind::P, 100, 130, 160).into(),
            Wave::new(WaveKind::Qrs, 200, 220, 250).into(),
            Wave::new(WaveKind::T, 300, 350, 400).into(),
            Wave::new(WaveKind::Qrs, 700, 720, 750).into(),
        ];
        let lead_b: Vec<ReferenceWave> = vec![
            Wave::new(WaveKind::P, 95, 128, 150).into(),
            Wave::new(WaveKind::Qrs, 205, 222, 255).into(),
            Wave::new(WaveKind::T, 305, 352, 410).into(),
            Wave::new(WaveKind::Qrs, 698, 721, 745).into(),
        ];
        let beats = reference_beats(&[lead_a, lead_b], 50);
        assert_eq!(beats.len(), 2);
        assert_eq!(beats[0].qrs, (Some(200), Some(255)));
        assert_eq!(beats[0].p, (Some(95), Some(160)));
        assert_eq!(beats[0].t_offset, Some(410));
        assert_eq!(beats[1].p, (None, None));
        let r = reference_intervals(&beats, 500.0);
        // 500 Hz: 2 ms per sample. PR (200 - 95) x 2; QRS (255 - 200) x 2 and (750 - 698) x 2,
        // median 107; QT (410 - 200) x 2.
        assert_eq!(r.pr_ms, Some(210.0));
        assert_eq!(r.qrs_ms, Some(107.0));
        assert_eq!(r.qt_ms, Some(420.0));
        // Peaks 221 and 720.5 -> 721 (rounded median): 500 samples = 1 s -> 60 bpm.
        assert!((r.hr_bpm.unwrap() - 60.0).abs() < 0.2, "{:?}", r.hr_bpm);
    }
}
