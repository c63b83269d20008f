//! Pacemaker spikes: found in the unfiltered leads, removed before filtering, and used as the
//! earliest possible QRS (or P) onset of the beat they trigger.
//!
//! Why: a pacing spike is the steepest slope of a paced beat. Low-passed, it spreads over
//! ±15 ms and the slope-threshold rule then puts the QRS onset 25-80 ms before the spike
//! (LUDB paced records 34, 74, 111: mean onset error -40 ms), while cardiologists mark the
//! onset at the spike or at the deflection after it.
//!
//! A spike is a jump between two successive samples that is (a) at least
//! `pacing_spike_min_jump_mv`, (b) `pacing_spike_neighbour_ratio` times larger than the
//! differences one and two samples before and two after (the sample after may be the spike's
//! return), and (c) `pacing_spike_quiet_ratio` times larger than every difference in the
//! quiet interval `pacing_spike_quiet_window_s` before it: pacing starts from a resting
//! signal. (c) is what tells spikes from the recorder's own sample-and-hold jumps inside a
//! steep QRS (LUDB 99, 109), which satisfy (a) and (b). A spike counts for the record when it
//! is found in at least `pacing_spike_min_lead_fraction` of the leads within one sample, and the
//! record has spikes only when it has at least `pacing_spike_min_count` of them.

use super::DelineatorParams;

/// Sample indices (the first sample after each jump) of the pacing spikes of a record.
pub(crate) fn find_spikes(rows: &[Vec<f32>], fs_hz: f64, p: &DelineatorParams) -> Vec<usize> {
    let Some(n) = rows.first().map(Vec::len) else {
        return Vec::new();
    };
    if p.pacing_spike_min_jump_mv <= 0.0 || n < 8 {
        return Vec::new();
    }
    let quiet_far = ((p.pacing_spike_quiet_window_s.0 * fs_hz).round() as usize).max(3);
    let quiet_near =
        ((p.pacing_spike_quiet_window_s.1 * fs_hz).round() as usize).clamp(3, quiet_far);
    let mut votes = vec![0u16; n];
    for row in rows.iter().filter(|r| r.len() == n) {
        let diff = |t: usize| (row[t] - row[t - 1]).abs();
        for t in quiet_far + 1..n - 2 {
            let jump = diff(t);
            if jump.is_nan() || jump < p.pacing_spike_min_jump_mv {
                continue;
            }
            let neighbours = diff(t - 1).max(diff(t - 2)).max(diff(t + 2));
            if jump < p.pacing_spike_neighbour_ratio * neighbours {
                continue;
            }
            let quiet = (t - quiet_far..=t - quiet_near)
                .map(diff)
                .fold(0.0f32, f32::max);
            if jump < p.pacing_spike_quiet_ratio * quiet {
                continue;
            }
            votes[t] += 1;
        }
    }
    let needed = ((p.pacing_spike_min_lead_fraction * rows.len() as f32).ceil() as u16).max(1);
    let window =
        |t: usize| votes[t.saturating_sub(1)] + votes[t] + votes.get(t + 1).copied().unwrap_or(0);
    let mut spikes: Vec<usize> = Vec::new();
    for t in 1..n - 1 {
        // One event per spike: the sample with the most votes in its ±1 neighbourhood.
        if window(t) >= needed && votes[t] >= votes[t - 1] && votes[t] > votes[t + 1] {
            if spikes.last().is_some_and(|&s| t - s <= 2) {
                continue;
            }
            spikes.push(t);
        }
    }
    // A pacemaker fires beat after beat; one isolated jump is an artefact (LUDB has six such
    // records, none paced).
    if spikes.len() < p.pacing_spike_min_count {
        spikes.clear();
    }
    spikes
}

/// Replace each spike and its tail (`pacing_spike_tail_s`) by a straight line from the sample
/// before it, so that the filters below do not spread it over the neighbouring samples.
pub(crate) fn remove_spikes(
    rows: &mut [Vec<f32>],
    spikes: &[usize],
    fs_hz: f64,
    p: &DelineatorParams,
) {
    let tail = ((p.pacing_spike_tail_s * fs_hz).round() as usize).max(1);
    for row in rows.iter_mut() {
        let n = row.len();
        for &s in spikes {
            if s == 0 || s + tail + 1 >= n {
                continue;
            }
            let (a, b) = (row[s - 1], row[s + tail + 1]);
            let span = (tail + 2) as f32;
            for k in 0..=tail {
                row[s + k] = a + (b - a) * (k + 1) as f32 / span;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record_with(spike_at: Option<usize>, hold_in_qrs: bool) -> Vec<Vec<f32>> {
        let fs = 500.0f32;
        (0..12)
            .map(|lead| {
                let gain = 1.0 + lead as f32 * 0.1;
                let mut x: Vec<f32> = (0..2000)
                    .map(|i| {
                        let t = i as f32 / fs;
                        // A triangular QRS (0.05 mV per sample up from 460, down to 540) on a
                        // slow wave.
                        let qrs = 2.0 - (i as f32 - 500.0).abs() / 20.0;
                        gain * qrs.max(0.0) + 0.1 * (2.0 * std::f32::consts::PI * 1.2 * t).sin()
                    })
                    .collect();
                if let Some(s) = spike_at {
                    for s in [s, s + 1000] {
                        x[s] += 0.5;
                        x[s + 1] += 0.1;
                    }
                }
                if hold_in_qrs {
                    // A recorder's sample-and-hold on the QRS upstroke: flat, then a jump.
                    let v = x[485];
                    for s in &mut x[485..492] {
                        *s = v;
                    }
                }
                x
            })
            .collect()
    }

    #[test]
    fn finds_a_pacing_spike_and_nothing_in_a_smooth_record() {
        let p = DelineatorParams::default();
        assert_eq!(
            find_spikes(&record_with(None, false), 500.0, &p),
            Vec::<usize>::new()
        );
        assert_eq!(
            find_spikes(&record_with(Some(440), false), 500.0, &p),
            vec![440, 1440]
        );
    }

    #[test]
    fn a_hold_jump_inside_a_steep_wave_is_not_a_spike() {
        let p = DelineatorParams::default();
        assert_eq!(
            find_spikes(&record_with(None, true), 500.0, &p),
            Vec::<usize>::new()
        );
    }

    #[test]
    fn removal_leaves_a_straight_line() {
        let p = DelineatorParams::default();
        let mut rows = record_with(Some(440), false);
        let clean = record_with(None, false);
        remove_spikes(&mut rows, &[440, 1440], 500.0, &p);
        let worst = (430..455)
            .map(|i| (rows[0][i] - clean[0][i]).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 0.02, "largest difference after removal {worst} mV");
        // One jump alone is an artefact, not pacing.
        let mut one = record_with(None, false);
        for lead in &mut one {
            lead[440] += 0.5;
        }
        assert_eq!(find_spikes(&one, 500.0, &p), Vec::<usize>::new());
    }
}
