//! Long records (Holter, 15 min to 24 h): delineated window by window, in bounded memory.
//!
//! A record longer than `stream_window_s` is cut into windows of that length that overlap by
//! `stream_overlap_s`; each window is delineated on its own (so the detection thresholds, the
//! lead normalisation and the rhythm check follow slow changes in amplitude and noise over
//! minutes instead of being set once by the whole record), and each beat is taken from the one
//! window whose core holds its QRS peak: the core ends halfway through the overlap, so every
//! beat kept is at least `stream_overlap_s / 2` away from the edges of the window it comes
//! from, where the filters start and the P and T windows are cut. Only one window of samples
//! (and its filtered copies) is held at a time; the landmarks are the only thing that grows.

use std::ops::Range;

use super::{Beat, DelineateError, Delineation, DelineatorParams, RhythmEpisode, Wave};
use crate::progress::{Progress, ProgressSink};
use crate::record::Ecg;

/// One window of a long record: the samples read (`read`) and the part whose beats it keeps
/// (`core`), both in samples of the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamWindow {
    pub read: Range<usize>,
    pub core: Range<usize>,
}

/// The windows of a record of `n_samples` at `fs_hz`: one window for a record no longer than
/// `stream_window_s`, else windows of that length every `stream_window_s - stream_overlap_s`,
/// the last ending at the record's end, cores meeting halfway through each overlap.
pub fn stream_windows(
    n_samples: usize,
    fs_hz: f64,
    params: &DelineatorParams,
) -> Vec<StreamWindow> {
    let length = (params.stream_window_s * fs_hz).round() as usize;
    let overlap = (params.stream_overlap_s * fs_hz).round() as usize;
    if n_samples <= length || length <= overlap {
        return vec![StreamWindow {
            read: 0..n_samples,
            core: 0..n_samples,
        }];
    }
    let step = length - overlap;
    let mut starts: Vec<usize> = (0..)
        .map(|k| k * step)
        .take_while(|&s| s + length < n_samples)
        .collect();
    starts.push(n_samples - length);
    starts.dedup();
    // Core boundaries: the middle of the overlap of successive windows.
    let mut bounds = vec![0];
    bounds.extend(starts.windows(2).map(|w| (w[1] + w[0] + length) / 2));
    bounds.push(n_samples);
    starts
        .iter()
        .enumerate()
        .map(|(k, &s)| StreamWindow {
            read: s..s + length,
            core: bounds[k]..bounds[k + 1],
        })
        .collect()
}

/// Landmarks of a window moved to the record's samples.
fn shift_beat(b: &Beat, by: usize) -> Beat {
    let shift = |w: Wave| Wave {
        onset: w.onset + by,
        peak: w.peak + by,
        offset: w.offset + by,
        ..w
    };
    Beat {
        p: b.p.map(shift),
        qrs: shift(b.qrs),
        t: b.t.map(shift),
    }
}

/// The beats and findings of the windows, joined: what each window's core holds.
struct Joined {
    beats: Vec<Beat>,
    per_lead: Vec<Vec<Beat>>,
    /// Per fused beat: inside one of its window's episodes without atrial rhythm.
    without_atrial: Vec<bool>,
    pacing_spikes: Vec<usize>,
}

impl Joined {
    fn new(n_leads: usize) -> Joined {
        Joined {
            beats: Vec::new(),
            per_lead: vec![Vec::new(); n_leads],
            without_atrial: Vec::new(),
            pacing_spikes: Vec::new(),
        }
    }

    /// Keep the part of `d` (delineated from `window.read`) that lies in `window.core`.
    fn add(&mut self, d: &Delineation, window: &StreamWindow) {
        let from = window.read.start;
        let in_core = |sample: usize| window.core.contains(&(sample + from));
        for b in d.beats.iter().filter(|b| in_core(b.qrs.peak)) {
            let in_episode = d
                .af_episodes
                .iter()
                .any(|e| (e.start..=e.end).contains(&b.qrs.peak));
            self.without_atrial.push(in_episode);
            self.beats.push(shift_beat(b, from));
        }
        for (joined, lead) in self.per_lead.iter_mut().zip(&d.per_lead) {
            joined.extend(
                lead.iter()
                    .filter(|b| in_core(b.qrs.peak))
                    .map(|b| shift_beat(b, from)),
            );
        }
        self.pacing_spikes.extend(
            d.pacing_spikes
                .iter()
                .filter(|&&s| in_core(s))
                .map(|&s| s + from),
        );
    }

    /// Episodes: the runs of beats without atrial rhythm, across window seams.
    fn episodes(&self) -> Vec<RhythmEpisode> {
        let mut episodes: Vec<RhythmEpisode> = Vec::new();
        let mut previous = false;
        for (b, &without) in self.beats.iter().zip(&self.without_atrial) {
            match (without, previous, episodes.last_mut()) {
                (true, true, Some(e)) => e.end = b.qrs.offset,
                (true, _, _) => episodes.push(RhythmEpisode {
                    start: b.qrs.onset,
                    end: b.qrs.offset,
                }),
                _ => {}
            }
            previous = without;
        }
        episodes
    }
}

/// Delineate a record of `n_samples` at `fs_hz` with `n_leads` leads whose samples come from
/// `read` one window at a time (every lead's samples of the range asked for), reporting each
/// window to `progress` and stopping with `Cancelled` when it asks to. Landmarks are in the
/// record's samples. A record no longer than `stream_window_s` is one window: the same result
/// as [`super::delineate`] of the whole record.
pub fn delineate_streamed(
    record: &str,
    n_samples: usize,
    fs_hz: f64,
    n_leads: usize,
    read: impl FnMut(Range<usize>) -> Result<Vec<Vec<f32>>, DelineateError>,
    params: &DelineatorParams,
    progress: &dyn ProgressSink,
) -> Result<Delineation, DelineateError> {
    delineate_streamed_runs(
        record,
        &[0..n_samples],
        n_samples,
        fs_hz,
        n_leads,
        read,
        params,
        progress,
    )
}

/// [`delineate_streamed`] of the stretches `runs` of the record only (each cut into windows
/// of its own, no window crossing from one to the next): the record's gaps, the samples
/// between the runs, are never read nor filtered, so no beat is found across them. A run
/// shorter than `min_record_s` is left out.
#[allow(clippy::too_many_arguments)]
pub fn delineate_streamed_runs(
    record: &str,
    runs: &[Range<usize>],
    n_samples: usize,
    fs_hz: f64,
    n_leads: usize,
    mut read: impl FnMut(Range<usize>) -> Result<Vec<Vec<f32>>, DelineateError>,
    params: &DelineatorParams,
    progress: &dyn ProgressSink,
) -> Result<Delineation, DelineateError> {
    params.validate()?;
    super::check_rate(record, fs_hz)?;
    let min_run = (params.min_record_s * fs_hz).ceil() as usize;
    let whole = runs.len() == 1 && runs[0] == (0..n_samples);
    let windows: Vec<StreamWindow> = runs
        .iter()
        .filter(|run| whole || run.len() >= min_run)
        .flat_map(|run| {
            stream_windows(run.len(), fs_hz, params)
                .into_iter()
                .map(move |w| StreamWindow {
                    read: w.read.start + run.start..w.read.end + run.start,
                    core: w.core.start + run.start..w.core.end + run.start,
                })
        })
        .collect();
    if windows.is_empty() {
        let longest = runs.iter().map(|r| r.len()).max().unwrap_or(0);
        return Err(DelineateError::TooShort {
            record: record.to_string(),
            duration_s: longest as f64 / fs_hz,
            min_s: params.min_record_s,
        });
    }
    let mut joined = Joined::new(n_leads);
    let stage = format!("delineating {record}");
    for (k, window) in windows.iter().enumerate() {
        if progress.is_cancelled() {
            return Err(DelineateError::Cancelled {
                record: record.to_string(),
            });
        }
        progress.report(Progress {
            stage: stage.clone(),
            done: k,
            total: windows.len(),
            share: None,
        });
        let rows = read(window.read.clone())?;
        for row in &rows {
            super::check_signal(record, row, fs_hz, params).map_err(|e| match e {
                DelineateError::NonFinite { record, sample } => DelineateError::NonFinite {
                    record,
                    sample: sample + window.read.start,
                },
                other => other,
            })?;
        }
        let d = super::delineate_rows(record, rows, fs_hz, params)?;
        joined.add(&d, window);
    }
    progress.report(Progress {
        stage,
        done: windows.len(),
        total: windows.len(),
        share: None,
    });
    let af_episodes = joined.episodes();
    Ok(Delineation {
        fs_hz,
        n_samples,
        atrial_fibrillation_suspected: !af_episodes.is_empty(),
        af_episodes,
        beats: joined.beats,
        per_lead: joined.per_lead,
        pacing_spikes: joined.pacing_spikes,
    })
}

/// [`delineate_streamed`] of a record held in memory (see [`super::delineate`]); a record
/// with gaps (missing samples) is delineated on the stretches between them.
pub fn delineate_long(
    ecg: &Ecg,
    params: &DelineatorParams,
    progress: &dyn ProgressSink,
) -> Result<Delineation, DelineateError> {
    let read = |range: Range<usize>| {
        Ok(ecg
            .samples_mv
            .rows()
            .into_iter()
            .map(|r| r.slice(ndarray::s![range.clone()]).to_vec())
            .collect())
    };
    delineate_streamed_runs(
        &ecg.meta.id,
        &ecg.gap_free_runs(),
        ecg.n_samples(),
        ecg.fs_hz,
        ecg.n_leads(),
        read,
        params,
        progress,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_the_record_once_with_cores_inside_the_reads() {
        let params = DelineatorParams {
            stream_window_s: 20.0,
            stream_overlap_s: 4.0,
            ..Default::default()
        };
        for n in [1000, 10_000, 10_001, 12_345, 60_000, 61_999] {
            let w = stream_windows(n, 500.0, &params);
            assert_eq!(w[0].core.start, 0);
            assert_eq!(w.last().map(|w| w.core.end), Some(n));
            for pair in w.windows(2) {
                assert_eq!(pair[0].core.end, pair[1].core.start, "n {n}");
            }
            for x in &w {
                assert!(x.read.start <= x.core.start && x.core.end <= x.read.end);
                assert!(x.read.end <= n);
                // Away from the edges of the read (except at the record's own ends).
                if x.core.start > 0 && w.len() > 1 {
                    assert!(x.core.start >= x.read.start + 500, "n {n}: {x:?}");
                }
            }
        }
        assert_eq!(stream_windows(10_000, 500.0, &params).len(), 1);
    }
}
