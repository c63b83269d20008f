//! Segment labels (P, PR, QRS, ST, T, TP, unknown) per sample and per TLC time step.

use super::{Beat, SegmentLabel};
use crate::tlc::Explanation;

/// One label per sample from the beats (fused or one lead's).
///
/// Inside a beat: P (onset..=offset), PR (after P to before QRS), QRS, ST (after QRS to before T),
/// T. Between the T offset of one beat and the first wave of the next: TP. Everything else
/// (before the first beat's first wave, after the last beat's T, after a QRS without T, before a
/// QRS without P within the beat's own PR window) is `Unknown`: nothing is guessed.
pub fn labels_per_sample(beats: &[Beat], n_samples: usize) -> Vec<SegmentLabel> {
    let mut labels = vec![SegmentLabel::Unknown; n_samples];
    let mut fill = |from: usize, to_exclusive: usize, label: SegmentLabel| {
        let to = to_exclusive.min(n_samples);
        if from < to {
            labels[from..to].iter_mut().for_each(|l| *l = label);
        }
    };
    for (i, b) in beats.iter().enumerate() {
        if let Some(p) = b.p {
            fill(p.onset, p.offset + 1, SegmentLabel::P);
            fill(p.offset + 1, b.qrs.onset, SegmentLabel::PR);
        }
        fill(b.qrs.onset, b.qrs.offset + 1, SegmentLabel::Qrs);
        if let Some(t) = b.t {
            fill(b.qrs.offset + 1, t.onset, SegmentLabel::ST);
            fill(t.onset, t.offset + 1, SegmentLabel::T);
            if let Some(next) = beats.get(i + 1) {
                let next_start = next.p.map(|p| p.onset).unwrap_or(next.qrs.onset);
                fill(t.offset + 1, next_start, SegmentLabel::TP);
            }
        }
    }
    labels
}

/// The majority label of the samples inside each time step. Step `i` covers
/// `[step_times_s[i] - step_duration_s / 2, step_times_s[i] + step_duration_s / 2)`; a step that
/// covers no sample of the record is `Unknown`. Ties go to the label listed first in
/// [`SegmentLabel::ALL`].
pub fn labels_at_steps(
    labels_per_sample: &[SegmentLabel],
    fs_hz: f64,
    step_times_s: &[f64],
    step_duration_s: f64,
) -> Vec<SegmentLabel> {
    let n = labels_per_sample.len();
    step_times_s
        .iter()
        .map(|&t| {
            let from = ((t - step_duration_s / 2.0) * fs_hz).ceil().max(0.0);
            let to = ((t + step_duration_s / 2.0) * fs_hz).ceil().max(0.0);
            let (from, to) = ((from as usize).min(n), (to as usize).min(n));
            // A step shorter than one sample still takes the sample it falls on.
            let (from, to) = if from == to && t >= 0.0 && ((t * fs_hz) as usize) < n {
                let k = (t * fs_hz) as usize;
                (k, k + 1)
            } else {
                (from, to)
            };
            let mut counts = [0usize; 7];
            for l in &labels_per_sample[from..to] {
                counts[index_of(*l)] += 1;
            }
            let mut best = SegmentLabel::Unknown;
            let mut best_count = 0;
            for (i, label) in SegmentLabel::ALL.iter().enumerate() {
                if counts[i] > best_count {
                    best = *label;
                    best_count = counts[i];
                }
            }
            best
        })
        .collect()
}

/// [`labels_at_steps`] on an explanation's time axis; steps outside `valid_steps` (padding) are
/// `Unknown`.
pub fn labels_for_explanation(
    labels_per_sample: &[SegmentLabel],
    fs_hz: f64,
    explanation: &Explanation,
) -> Vec<SegmentLabel> {
    let mut out = labels_at_steps(
        labels_per_sample,
        fs_hz,
        &explanation.step_times_s,
        explanation.step_duration_s,
    );
    let (lo, hi) = explanation.valid_steps;
    for (i, l) in out.iter_mut().enumerate() {
        if i < lo || i >= hi {
            *l = SegmentLabel::Unknown;
        }
    }
    out
}

/// Position of a label in [`SegmentLabel::ALL`].
pub fn index_of(label: SegmentLabel) -> usize {
    match label {
        SegmentLabel::P => 0,
        SegmentLabel::PR => 1,
        SegmentLabel::Qrs => 2,
        SegmentLabel::ST => 3,
        SegmentLabel::T => 4,
        SegmentLabel::TP => 5,
        SegmentLabel::Unknown => 6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delineate::{Wave, WaveKind};

    fn beat(p: Option<(usize, usize)>, q: (usize, usize), t: Option<(usize, usize)>) -> Beat {
        let w = |kind, (a, b): (usize, usize)| Wave {
            kind,
            onset: a,
            peak: (a + b) / 2,
            offset: b,
        };
        Beat {
            p: p.map(|x| w(WaveKind::P, x)),
            qrs: w(WaveKind::Qrs, q),
            t: t.map(|x| w(WaveKind::T, x)),
        }
    }

    #[test]
    fn samples_get_segment_labels() {
        let beats = vec![
            beat(Some((2, 4)), (6, 8), Some((11, 13))),
            beat(None, (16, 17), None),
        ];
        let l = labels_per_sample(&beats, 20);
        use SegmentLabel::*;
        let expected = [
            Unknown, Unknown, P, P, P, PR, Qrs, Qrs, Qrs, ST, ST, T, T, T, TP, TP, Qrs, Qrs,
            Unknown, Unknown,
        ];
        assert_eq!(l, expected);
    }

    #[test]
    fn steps_take_the_majority() {
        use SegmentLabel::*;
        let l = vec![P, P, Qrs, Qrs, Qrs, T, T, T, T, T];
        // fs 10 Hz: steps of 0.5 s centred at 0.25 and 0.75 s, one beyond the end.
        let s = labels_at_steps(&l, 10.0, &[0.25, 0.75, 5.0], 0.5);
        assert_eq!(s, vec![Qrs, T, Unknown]);
    }
}
