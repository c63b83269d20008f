//! Landmarks as CSV rows and as WFDB annotations in the LUDB convention.

use super::{Beat, Delineation, RhythmEpisode, Wave, WaveKind};
use crate::io::annotation::Annotation;
use crate::record::LeadName;

/// WFDB annotations of beats in the LUDB convention: for every wave `(` at the onset, the
/// peak symbol (`p`, `N`, `t`) and `)` at the offset. Samples never decrease (a WFDB
/// requirement): a wave that starts before the previous one ends is clipped to start there.
pub fn annotations_for_beats(beats: &[Beat]) -> Vec<Annotation> {
    let mut out = Vec::with_capacity(beats.len() * 9);
    let mut last = 0usize;
    for b in beats {
        for w in [b.p, Some(b.qrs), b.t].into_iter().flatten() {
            let onset = w.onset.max(last);
            let peak = w.peak.max(onset);
            let offset = w.offset.max(peak);
            let symbol = match w.kind {
                WaveKind::P => "p",
                WaveKind::Qrs => "N",
                WaveKind::T => "t",
            };
            for (sample, s) in [(onset, "("), (peak, symbol), (offset, ")")] {
                if let Some(a) = Annotation::new(sample as u64, s) {
                    out.push(a);
                }
            }
            last = offset;
        }
    }
    out
}

/// [`annotations_for_beats`] plus a WFDB pacemaker-spike mark (`^`) at each of `spikes`, in
/// sample order (a spike at a wave's onset sample comes first).
pub fn annotations_with_pacing_spikes(beats: &[Beat], spikes: &[usize]) -> Vec<Annotation> {
    let mut out: Vec<Annotation> = spikes
        .iter()
        .filter_map(|&s| Annotation::new(s as u64, "^"))
        .collect();
    out.extend(annotations_for_beats(beats));
    // Stable: spikes stay before the waves at the same sample.
    out.sort_by_key(|a| a.sample);
    out
}

/// WFDB rhythm annotations (`+`, the rhythm in the aux text, as MIT-BIH marks it): `(AFIB` at
/// the start of each episode without consistent atrial activity, `(N` at the first beat's QRS
/// onset when the record starts outside an episode and at the first beat after each episode.
/// Nothing without beats.
pub fn rhythm_annotations(beats: &[Beat], episodes: &[RhythmEpisode]) -> Vec<Annotation> {
    let rhythm = |sample: usize, aux: &str| {
        Annotation::new(sample as u64, "+").map(|a| Annotation {
            aux: Some(aux.to_string()),
            ..a
        })
    };
    let mut out = Vec::new();
    let Some(first) = beats.first() else {
        return out;
    };
    if episodes.first().is_none_or(|e| e.start > first.qrs.onset) {
        out.extend(rhythm(first.qrs.onset, "(N"));
    }
    for e in episodes {
        out.extend(rhythm(e.start, "(AFIB"));
        if let Some(next) = beats.iter().find(|b| b.qrs.onset > e.end) {
            out.extend(rhythm(next.qrs.onset, "(N"));
        }
    }
    out
}

/// The annotations of the fused beats: [`annotations_with_pacing_spikes`] and the
/// [`rhythm_annotations`], in sample order (a rhythm change before the wave at its sample).
pub fn fused_annotations(d: &Delineation) -> Vec<Annotation> {
    let mut out = rhythm_annotations(&d.beats, &d.af_episodes);
    out.extend(annotations_with_pacing_spikes(&d.beats, &d.pacing_spikes));
    out.sort_by_key(|a| a.sample);
    out
}

/// CSV of the episodes without consistent atrial activity:
/// `episode,rhythm,start_sample,end_sample,start_s,end_s` (rhythm `AFIB`); a header only when
/// there is none.
pub fn rhythm_csv(d: &Delineation) -> String {
    let mut s = String::from("episode,rhythm,start_sample,end_sample,start_s,end_s\n");
    for (i, e) in d.af_episodes.iter().enumerate() {
        s.push_str(&format!(
            "{i},AFIB,{},{},{:.4},{:.4}\n",
            e.start,
            e.end,
            e.start as f64 / d.fs_hz,
            e.end as f64 / d.fs_hz
        ));
    }
    s
}

fn kind_name(kind: WaveKind) -> &'static str {
    match kind {
        WaveKind::P => "P",
        WaveKind::Qrs => "QRS",
        WaveKind::T => "T",
    }
}

/// CSV of every landmark: `beat,lead,wave,onset_sample,peak_sample,offset_sample,onset_s,
/// peak_s,offset_s`; the fused beats have lead `fused`. `beat` is the index of the fused beat
/// (per-lead beats are matched to it by QRS peak).
pub fn landmarks_csv(d: &Delineation, leads: &[LeadName]) -> String {
    let mut s = String::from(
        "beat,lead,wave,onset_sample,peak_sample,offset_sample,onset_s,peak_s,offset_s\n",
    );
    let row = |s: &mut String, beat: usize, lead: &str, w: &Wave| {
        s.push_str(&format!(
            "{beat},{lead},{},{},{},{},{:.4},{:.4},{:.4}\n",
            kind_name(w.kind),
            w.onset,
            w.peak,
            w.offset,
            w.onset as f64 / d.fs_hz,
            w.peak as f64 / d.fs_hz,
            w.offset as f64 / d.fs_hz
        ));
    };
    let fused_index = |b: &Beat| -> usize {
        d.beats
            .iter()
            .enumerate()
            .min_by_key(|(_, f)| f.qrs.peak.abs_diff(b.qrs.peak))
            .map(|(i, _)| i)
            .unwrap_or(0)
    };
    for (i, b) in d.beats.iter().enumerate() {
        for w in [b.p, Some(b.qrs), b.t].into_iter().flatten() {
            row(&mut s, i, "fused", &w);
        }
    }
    for (li, beats) in d.per_lead.iter().enumerate() {
        let name = leads
            .get(li)
            .map(|l| l.to_string())
            .unwrap_or_else(|| format!("lead{li}"));
        for b in beats {
            let i = fused_index(b);
            for w in [b.p, Some(b.qrs), b.t].into_iter().flatten() {
                row(&mut s, i, &name, &w);
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_waves_are_clipped_to_increasing_samples() {
        let w = |kind, a, b, c| Wave {
            kind,
            onset: a,
            peak: b,
            offset: c,
        };
        let beats = vec![
            Beat {
                p: None,
                qrs: w(WaveKind::Qrs, 10, 15, 20),
                t: Some(w(WaveKind::T, 40, 50, 70)),
            },
            Beat {
                p: Some(w(WaveKind::P, 65, 75, 80)),
                qrs: w(WaveKind::Qrs, 90, 95, 100),
                t: None,
            },
        ];
        let a = annotations_for_beats(&beats);
        let samples: Vec<u64> = a.iter().map(|x| x.sample).collect();
        assert_eq!(
            samples,
            vec![10, 15, 20, 40, 50, 70, 70, 75, 80, 90, 95, 100]
        );
        let symbols: Vec<&str> = a.iter().map(|x| x.symbol.as_str()).collect();
        assert_eq!(&symbols[..6], &["(", "N", ")", "(", "t", ")"]);

        let paced = annotations_with_pacing_spikes(&beats, &[10, 88]);
        let marks: Vec<(u64, &str)> = paced
            .iter()
            .map(|x| (x.sample, x.symbol.as_str()))
            .collect();
        assert_eq!(&marks[..2], &[(10, "^"), (10, "(")]);
        assert!(marks.contains(&(88, "^")));
        assert!(marks.windows(2).all(|w| w[0].0 <= w[1].0));
        assert_eq!(paced.len(), a.len() + 2);

        let episode = [RhythmEpisode { start: 10, end: 20 }];
        let rhythm = rhythm_annotations(&beats, &episode);
        let marks: Vec<(u64, &str, Option<&str>)> = rhythm
            .iter()
            .map(|x| (x.sample, x.symbol.as_str(), x.aux.as_deref()))
            .collect();
        assert_eq!(marks, [(10, "+", Some("(AFIB")), (90, "+", Some("(N"))]);
        let sinus = rhythm_annotations(&beats, &[]);
        assert_eq!(sinus.len(), 1);
        assert_eq!(sinus[0].aux.as_deref(), Some("(N"));
    }
}
