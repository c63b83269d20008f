//! Rate, RR variability, ectopic beats and the rhythm statement, from what the delineator
//! already knows (beat times, P presence, the no-consistent-P flag, pacemaker spikes).

use serde::{Deserialize, Serialize};

use crate::delineate::Delineation;

use super::params::MeasureParams;
use super::{Absent, BeatMeasurements, HeartRate, Measured, median};

/// Why a beat was left out of the record's medians.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EctopicReason {
    /// Early against the neighbouring RR intervals, followed by a longer pause.
    Premature,
    /// QRS duration far from the record's median (another ventricular activation path).
    QrsDuration,
}

impl EctopicReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EctopicReason::Premature => "premature",
            EctopicReason::QrsDuration => "QRS duration",
        }
    }
}

/// What drives the ventricles, as far as the landmarks tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RhythmKind {
    /// No QRS complex found.
    NoBeats,
    /// Pacemaker spikes before most QRS complexes.
    Paced,
    /// A P wave before most dominant beats.
    Sinus,
    /// No P waves consistently linked to the QRS (atrial fibrillation/flutter or AV
    /// dissociation: the delineator does not tell these apart).
    NoPWaves,
    /// P waves before some dominant beats only (fewer than `sinus_min_p_fraction`).
    PWavesInSomeBeats,
}

/// The rhythm statement's facts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rhythm {
    pub kind: RhythmKind,
    /// Median |successive RR difference| / median RR above `irregular_rr_fraction`.
    pub irregular: bool,
    /// Mean heart rate, for the sinus brady-/tachycardia wording.
    pub mean_hr_bpm: Option<f64>,
    /// Beats left out as ectopic.
    pub n_ectopic: usize,
    /// Episodes without consistent atrial rhythm (`Delineation::af_episodes`) and the beats in
    /// them; the kind is judged on the beats outside them.
    #[serde(default)]
    pub n_af_episodes: usize,
    #[serde(default)]
    pub n_beats_in_af_episodes: usize,
}

impl Rhythm {
    /// "sinus rhythm", "sinus bradycardia, irregular", "no P waves found, irregular", ...
    pub fn statement(&self) -> String {
        let mut s = match self.kind {
            RhythmKind::NoBeats => return "no QRS complexes found".to_string(),
            RhythmKind::Paced => "paced rhythm".to_string(),
            RhythmKind::Sinus => match self.mean_hr_bpm {
                Some(hr) if hr < 60.0 => "sinus bradycardia".to_string(),
                Some(hr) if hr > 100.0 => "sinus tachycardia".to_string(),
                _ => "sinus rhythm".to_string(),
            },
            RhythmKind::NoPWaves => "no P waves found".to_string(),
            RhythmKind::PWavesInSomeBeats => "P waves in some beats only".to_string(),
        };
        if self.irregular {
            s.push_str(", irregular");
        }
        if self.n_af_episodes > 0 && self.kind != RhythmKind::NoPWaves {
            let stretches = match self.n_af_episodes {
                1 => "1 stretch".to_string(),
                n => format!("{n} stretches"),
            };
            s.push_str(&format!(
                "; no P waves in {stretches} ({} beats)",
                self.n_beats_in_af_episodes
            ));
        }
        match self.n_ectopic {
            0 => {}
            1 => s.push_str("; 1 ectopic beat left out"),
            n => s.push_str(&format!("; {n} ectopic beats left out")),
        }
        s
    }
}

/// Whether the RR sequence is irregular (needs three RR intervals to say so).
pub fn is_irregular(rr_ms: &[f64], params: &MeasureParams) -> bool {
    let diffs: Vec<f64> = rr_ms.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
    match (median(&diffs), median(rr_ms)) {
        (Some(d), Some(rr)) if rr_ms.len() >= 3 && rr > 0.0 => {
            d / rr > params.irregular_rr_fraction
        }
        _ => false,
    }
}

/// Mark ectopic beats: a QRS duration far from the median, or (unless the rhythm is irregular)
/// premature against the neighbouring RR intervals and followed by a longer pause. Beats in an
/// episode without atrial rhythm are never premature (their RR is irregular by nature), nor
/// does their RR count as a neighbour's.
pub fn mark_ectopic(beats: &mut [BeatMeasurements], irregular: bool, params: &MeasureParams) {
    let qrs: Vec<f64> = beats.iter().filter_map(|b| b.qrs_ms.value()).collect();
    if let Some(median_qrs) = median(&qrs) {
        for b in beats.iter_mut() {
            if b.qrs_ms
                .value()
                .is_some_and(|q| (q - median_qrs).abs() > params.ectopic_qrs_difference_ms)
            {
                b.ectopic = Some(EctopicReason::QrsDuration);
            }
        }
    }
    if irregular {
        return;
    }
    let rr: Vec<Option<f64>> = beats
        .iter()
        .map(|b| b.rr_ms.value().filter(|_| !b.in_af_episode))
        .collect();
    let k = params.neighbour_rr;
    let f = params.premature_fraction;
    for i in 0..beats.len() {
        let Some(own) = rr[i] else { continue };
        let lo = i.saturating_sub(k);
        let hi = (i + k + 1).min(rr.len());
        let neighbours: Vec<f64> = (lo..hi).filter(|&j| j != i).filter_map(|j| rr[j]).collect();
        let Some(reference) = median(&neighbours) else {
            continue;
        };
        let pause_follows = rr
            .get(i + 1)
            .copied()
            .flatten()
            .is_none_or(|next| next > own * (1.0 + f));
        if own < (1.0 - f) * reference && pause_follows && beats[i].ectopic.is_none() {
            beats[i].ectopic = Some(EctopicReason::Premature);
        }
    }
}

/// Mean, min and max heart rate over every RR interval.
pub fn heart_rate(beats: &[BeatMeasurements]) -> HeartRate {
    let rr: Vec<f64> = beats.iter().filter_map(|b| b.rr_ms.value()).collect();
    if rr.is_empty() {
        let why = if beats.is_empty() {
            Absent::NoBeats
        } else {
            Absent::TooFewBeats {
                needed: 2,
                found: beats.len(),
            }
        };
        return HeartRate {
            mean_bpm: Measured::Absent(why),
            min_bpm: Measured::Absent(why),
            max_bpm: Measured::Absent(why),
        };
    }
    let mean = rr.iter().sum::<f64>() / rr.len() as f64;
    let longest = rr.iter().copied().fold(f64::MIN, f64::max);
    let shortest = rr.iter().copied().fold(f64::MAX, f64::min);
    HeartRate {
        mean_bpm: Measured::Value(60_000.0 / mean),
        min_bpm: Measured::Value(60_000.0 / longest),
        max_bpm: Measured::Value(60_000.0 / shortest),
    }
}

/// The RR interval before each beat from the second on, `None` unless both its beats are
/// dominant (normal-to-normal intervals; `None` breaks successive differences).
pub fn nn_intervals(beats: &[BeatMeasurements]) -> Vec<Option<f64>> {
    beats
        .windows(2)
        .map(|w| {
            if w[0].ectopic.is_none() && w[1].ectopic.is_none() {
                w[1].rr_ms.value()
            } else {
                None
            }
        })
        .collect()
}

/// SDNN (sample SD of the NN intervals; needs two) and RMSSD (over successive NN pairs; needs
/// one pair).
pub fn variability(nn_ms: &[Option<f64>]) -> (Measured<f64>, Measured<f64>) {
    let nn: Vec<f64> = nn_ms.iter().flatten().copied().collect();
    let sdnn = if nn.len() >= 2 {
        let mean = nn.iter().sum::<f64>() / nn.len() as f64;
        let ss: f64 = nn.iter().map(|v| (v - mean).powi(2)).sum();
        Measured::Value((ss / (nn.len() - 1) as f64).sqrt())
    } else {
        Measured::Absent(Absent::TooFewBeats {
            needed: 2,
            found: nn.len(),
        })
    };
    let sq: Vec<f64> = nn_ms
        .windows(2)
        .filter_map(|w| Some((w[1]? - w[0]?).powi(2)))
        .collect();
    let rmssd = if sq.is_empty() {
        Measured::Absent(Absent::TooFewBeats {
            needed: 2,
            found: nn.len(),
        })
    } else {
        Measured::Value((sq.iter().sum::<f64>() / sq.len() as f64).sqrt())
    };
    (sdnn, rmssd)
}

/// Whether a pacemaker spike lies from `window` samples before `onset` up to `peak`.
fn spike_before(spikes: &[usize], onset: usize, peak: usize, window: usize) -> bool {
    let from = onset.saturating_sub(window);
    let i = spikes.partition_point(|&s| s < from);
    spikes.get(i).is_some_and(|&s| s <= peak)
}

/// The rhythm statement's facts from the delineation and the measured beats.
pub fn classify(
    d: &Delineation,
    beats: &[BeatMeasurements],
    irregular: bool,
    mean_hr: Measured<f64>,
    params: &MeasureParams,
) -> Rhythm {
    let n_ectopic = beats.iter().filter(|b| b.ectopic.is_some()).count();
    let kind = if beats.is_empty() {
        RhythmKind::NoBeats
    } else {
        let window = (params.paced_spike_window_ms * d.fs_hz / 1000.0).round() as usize;
        let paced = d
            .beats
            .iter()
            .filter(|b| spike_before(&d.pacing_spikes, b.qrs.onset, b.qrs.peak, window))
            .count();
        // Judged on the dominant beats outside the episodes without atrial rhythm.
        let dominant: Vec<&BeatMeasurements> = beats
            .iter()
            .filter(|b| b.ectopic.is_none() && !b.in_af_episode)
            .collect();
        let with_p = dominant.iter().filter(|b| b.p_ms.value().is_some()).count();
        if paced as f64 >= params.paced_min_fraction * beats.len() as f64 {
            RhythmKind::Paced
        } else if with_p == 0 {
            RhythmKind::NoPWaves
        } else if with_p as f64 >= params.sinus_min_p_fraction * dominant.len() as f64 {
            RhythmKind::Sinus
        } else {
            RhythmKind::PWavesInSomeBeats
        }
    };
    Rhythm {
        kind,
        irregular,
        mean_hr_bpm: mean_hr.value(),
        n_ectopic,
        n_af_episodes: d.af_episodes.len(),
        n_beats_in_af_episodes: beats.iter().filter(|b| b.in_af_episode).count(),
    }
}
