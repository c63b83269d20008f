//! Clinical measurements from a delineation, as an ECG cart prints them above the tracing:
//! heart rate and RR variability, P duration, PR, QRS duration, QT and QTc, the frontal axes of
//! P, QRS and T, and a plain rhythm statement.
//!
//! [`measure`] takes a record and its [`Delineation`] and measures every beat (global bounds
//! across the leads, [`bounds`]), sorts out ectopic beats ([`rhythm`]), takes the median over
//! the dominant beats for the record, and the axes from the limb leads ([`axis`]). A value that
//! cannot be measured is [`Measured::Absent`] with the reason ([`Absent`]), never a guess.
//! [`text::measurement_line`] is the one-line summary shared by the figures and the app;
//! [`export`] writes CSV; [`ludb`] compares the intervals with LUDB's cardiologists. Method and
//! accuracy: `README.md` in this folder.

pub mod axis;
pub mod bounds;
pub mod export;
pub mod ludb;
pub mod params;
pub mod rhythm;
pub mod text;

pub use params::{BoundRule, MeasureParams, QtcFormula};
pub use rhythm::{EctopicReason, Rhythm, RhythmKind};

use serde::{Deserialize, Serialize};

use crate::delineate::Delineation;
use crate::record::Ecg;

/// Why a record could not be measured at all (a value that cannot be measured is not an error
/// but a [`Measured::Absent`]).
#[derive(Debug, thiserror::Error)]
pub enum MeasureError {
    #[error("measurement setting '{name}' {reason}")]
    InvalidParam { name: &'static str, reason: String },
    #[error(
        "record '{record}': the delineation ({delineation_fs_hz} Hz, {delineation_samples} samples) was not made on this record ({record_fs_hz} Hz, {record_samples} samples)"
    )]
    Mismatch {
        record: String,
        delineation_fs_hz: f64,
        delineation_samples: usize,
        record_fs_hz: f64,
        record_samples: usize,
    },
}

/// Why a value is absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Absent {
    /// No QRS complex was found (flat line, noise).
    NoBeats,
    /// The value needs more beats (or RR intervals between dominant beats) than there are.
    TooFewBeats { needed: usize, found: usize },
    /// The delineator found no P waves consistently linked to the QRS (atrial fibrillation or
    /// flutter, or AV dissociation) and reports none.
    NoConsistentPWaves,
    /// No P wave in this beat (or in any dominant beat).
    NoPWave,
    /// No T wave in this beat (or in any dominant beat).
    NoTWave,
    /// The first beat has no RR interval before it.
    NoPrecedingBeat,
    /// Every beat was left out as ectopic.
    NoDominantBeats,
    /// Lead I and aVF are missing and cannot be derived from the limb leads present.
    MissingLimbLeads,
    /// The net areas in I and aVF are both near zero: the axis is indeterminate.
    IndeterminateAxis,
}

impl Absent {
    /// A few words for a printout ("no P waves").
    pub fn short(&self) -> &'static str {
        match self {
            Absent::NoBeats => "no beats",
            Absent::TooFewBeats { .. } => "too few beats",
            Absent::NoConsistentPWaves => "no P waves",
            Absent::NoPWave => "no P wave",
            Absent::NoTWave => "no T wave",
            Absent::NoPrecedingBeat => "first beat",
            Absent::NoDominantBeats => "all beats ectopic",
            Absent::MissingLimbLeads => "no limb leads",
            Absent::IndeterminateAxis => "indeterminate",
        }
    }
}

impl std::fmt::Display for Absent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Absent::NoBeats => write!(f, "no QRS complexes found"),
            Absent::TooFewBeats { needed, found } => {
                write!(f, "needs {needed} beats or intervals, found {found}")
            }
            Absent::NoConsistentPWaves => write!(
                f,
                "no P waves consistently linked to the QRS (atrial fibrillation/flutter or AV dissociation)"
            ),
            Absent::NoPWave => write!(f, "no P wave found"),
            Absent::NoTWave => write!(f, "no T wave found"),
            Absent::NoPrecedingBeat => write!(f, "first beat: no RR interval before it"),
            Absent::NoDominantBeats => write!(f, "every beat was left out as ectopic"),
            Absent::MissingLimbLeads => {
                write!(
                    f,
                    "leads I and aVF missing and not derivable from the limb leads"
                )
            }
            Absent::IndeterminateAxis => {
                write!(f, "net areas in I and aVF near zero: indeterminate axis")
            }
        }
    }
}

/// A measured value or the reason it is absent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Measured<T> {
    Value(T),
    Absent(Absent),
}

impl<T: Copy> Measured<T> {
    pub fn value(&self) -> Option<T> {
        match self {
            Measured::Value(v) => Some(*v),
            Measured::Absent(_) => None,
        }
    }
    pub fn absent(&self) -> Option<Absent> {
        match self {
            Measured::Value(_) => None,
            Measured::Absent(a) => Some(*a),
        }
    }
    fn from_option(v: Option<T>, why: Absent) -> Self {
        match v {
            Some(v) => Measured::Value(v),
            None => Measured::Absent(why),
        }
    }
}

/// A beat's QTc: its QT corrected with the RR interval before it.
pub(crate) fn beat_qtc(
    formula: QtcFormula,
    qt_ms: Measured<f64>,
    rr_ms: Measured<f64>,
) -> Measured<f64> {
    match (qt_ms, rr_ms) {
        (Measured::Value(qt), Measured::Value(rr)) => Measured::Value(formula.correct_ms(qt, rr)),
        (Measured::Absent(a), _) | (_, Measured::Absent(a)) => Measured::Absent(a),
    }
}

impl Measurements {
    /// The same measurements with the QTc of the record and of every beat by `formula` (the
    /// app's QTc setting applies without measuring again).
    pub fn with_qtc_formula(mut self, formula: QtcFormula) -> Self {
        self.qtc_formula = formula;
        if let (Measured::Value(qt), Some(rr)) = (self.qt_ms, self.qtc_rr_ms) {
            self.qtc_ms = Measured::Value(formula.correct_ms(qt, rr));
        }
        for b in &mut self.beats {
            b.qtc_ms = beat_qtc(formula, b.qt_ms, b.rr_ms);
        }
        self
    }
}

/// Heart rate over the record (every beat counts: it is the ventricular rate).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HeartRate {
    /// 60 000 / the mean RR interval.
    pub mean_bpm: Measured<f64>,
    /// From the longest RR interval.
    pub min_bpm: Measured<f64>,
    /// From the shortest RR interval.
    pub max_bpm: Measured<f64>,
}

/// Frontal-plane axes (degrees, -180..180, 0 = lead I, +90 = aVF).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Axes {
    pub p_deg: Measured<f64>,
    pub qrs_deg: Measured<f64>,
    pub t_deg: Measured<f64>,
}

/// One beat's measurements (global bounds across the leads).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BeatMeasurements {
    /// Index into `Delineation::beats`.
    pub beat: usize,
    pub qrs_peak_sample: usize,
    pub time_s: f64,
    /// From the previous beat's QRS peak.
    pub rr_ms: Measured<f64>,
    /// `Some` when the beat was left out of the record's medians.
    pub ectopic: Option<EctopicReason>,
    /// Inside an episode without consistent atrial rhythm (`Delineation::af_episodes`): its P
    /// and PR are absent for that reason, and it is not judged premature.
    #[serde(default)]
    pub in_af_episode: bool,
    pub p_ms: Measured<f64>,
    pub pr_ms: Measured<f64>,
    pub qrs_ms: Measured<f64>,
    pub qt_ms: Measured<f64>,
    /// QT corrected with the RR interval before the beat.
    pub qtc_ms: Measured<f64>,
}

/// A record's measurements: medians over the dominant beats, rate, variability, axes, rhythm,
/// and every beat's own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurements {
    pub record_id: String,
    pub n_beats: usize,
    /// Beats left out of the medians as ectopic (`n_beats - n_ectopic` are dominant).
    pub n_ectopic: usize,
    pub heart_rate: HeartRate,
    /// SD of the RR intervals between dominant beats (sample SD).
    pub sdnn_ms: Measured<f64>,
    /// Root mean square of successive differences of those intervals.
    pub rmssd_ms: Measured<f64>,
    pub p_ms: Measured<f64>,
    pub pr_ms: Measured<f64>,
    pub qrs_ms: Measured<f64>,
    pub qt_ms: Measured<f64>,
    /// The median QT corrected with the median RR between dominant beats.
    pub qtc_ms: Measured<f64>,
    pub qtc_formula: QtcFormula,
    /// That median RR (ms), kept so the QTc can be given by another formula
    /// ([`Measurements::with_qtc_formula`]).
    #[serde(default)]
    pub qtc_rr_ms: Option<f64>,
    pub axes: Axes,
    pub rhythm: Rhythm,
    pub beats: Vec<BeatMeasurements>,
}

fn check_match(ecg: &Ecg, d: &Delineation) -> Result<(), MeasureError> {
    if (ecg.fs_hz - d.fs_hz).abs() > 1e-9 || ecg.n_samples() != d.n_samples {
        return Err(MeasureError::Mismatch {
            record: ecg.meta.id.clone(),
            delineation_fs_hz: d.fs_hz,
            delineation_samples: d.n_samples,
            record_fs_hz: ecg.fs_hz,
            record_samples: ecg.n_samples(),
        });
    }
    Ok(())
}

/// Why a P-wave value of `beats` is absent: no consistent P waves when every one of them lies
/// in an episode without atrial rhythm, else no P wave.
pub(crate) fn no_p_reason<'a>(mut beats: impl Iterator<Item = &'a BeatMeasurements>) -> Absent {
    let mut any = false;
    let all_in_af = beats.all(|b| {
        any = true;
        b.in_af_episode
    });
    if any && all_in_af {
        Absent::NoConsistentPWaves
    } else {
        Absent::NoPWave
    }
}

/// Median of the values (mean of the two middle ones for an even count); `None` when empty.
pub(crate) fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_unstable_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        0.5 * (v[mid - 1] + v[mid])
    })
}

/// Measure a record from its delineation (made on this record, at its rate).
pub fn measure(
    ecg: &Ecg,
    delineation: &Delineation,
    params: &MeasureParams,
) -> Result<Measurements, MeasureError> {
    params.validate()?;
    check_match(ecg, delineation)?;
    let global = bounds::global_beats(delineation, params);
    let mut beats = bounds::beat_intervals(&global, delineation, params);
    let rr_ms: Vec<f64> = beats.iter().filter_map(|b| b.rr_ms.value()).collect();
    let irregular = rhythm::is_irregular(&rr_ms, params);
    // Prematurity is judged against the rhythm outside the AF episodes: an episode makes its
    // own beats irregular, not the sinus beats around it.
    let rr_outside_ms: Vec<f64> = beats
        .iter()
        .filter(|b| !b.in_af_episode)
        .filter_map(|b| b.rr_ms.value())
        .collect();
    rhythm::mark_ectopic(
        &mut beats,
        rhythm::is_irregular(&rr_outside_ms, params),
        params,
    );
    let dominant: Vec<&BeatMeasurements> = beats.iter().filter(|b| b.ectopic.is_none()).collect();
    let n_ectopic = beats.len() - dominant.len();
    let heart_rate = rhythm::heart_rate(&beats);
    let nn_ms = rhythm::nn_intervals(&beats);
    let (sdnn_ms, rmssd_ms) = rhythm::variability(&nn_ms);
    let median_of = |get: fn(&BeatMeasurements) -> Measured<f64>, missing: Absent| {
        if beats.is_empty() {
            return Measured::Absent(Absent::NoBeats);
        }
        if dominant.is_empty() {
            return Measured::Absent(Absent::NoDominantBeats);
        }
        let values: Vec<f64> = dominant.iter().filter_map(|b| get(b).value()).collect();
        Measured::from_option(median(&values), missing)
    };
    let no_p = no_p_reason(dominant.iter().copied());
    let p_ms = median_of(|b| b.p_ms, no_p);
    let pr_ms = median_of(|b| b.pr_ms, no_p);
    let qrs_ms = median_of(|b| b.qrs_ms, Absent::NoBeats);
    let qt_ms = median_of(|b| b.qt_ms, Absent::NoTWave);
    let qtc_rr_ms = median(&nn_ms.iter().flatten().copied().collect::<Vec<_>>());
    let qtc_ms = match (qt_ms, qtc_rr_ms) {
        (Measured::Value(qt), Some(rr)) => Measured::Value(params.qtc_formula.correct_ms(qt, rr)),
        (Measured::Absent(a), _) => Measured::Absent(a),
        (_, None) => Measured::Absent(Absent::TooFewBeats {
            needed: 2,
            found: dominant.len(),
        }),
    };
    let dominant_index: Vec<usize> = dominant.iter().map(|b| b.beat).collect();
    let axes = axis::frontal_axes(ecg, delineation, &dominant_index, no_p, params);
    let rhythm = rhythm::classify(delineation, &beats, irregular, heart_rate.mean_bpm, params);
    Ok(Measurements {
        record_id: ecg.meta.id.clone(),
        n_beats: beats.len(),
        n_ectopic,
        heart_rate,
        sdnn_ms,
        rmssd_ms,
        p_ms,
        pr_ms,
        qrs_ms,
        qt_ms,
        qtc_ms,
        qtc_formula: params.qtc_formula,
        qtc_rr_ms,
        axes,
        rhythm,
        beats,
    })
}
