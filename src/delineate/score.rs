//! Scoring a delineation against reference annotations (LUDB convention): sensitivity, positive
//! predictive value and the error (mean, SD in ms) of each onset, peak and offset.
//!
//! Protocol: per lead, only the span from the lead's first to its last annotation is scored
//! (LUDB annotates about samples 641-3996 of each record); a detected wave counts when its peak
//! lies in that span. Detected and reference waves of the same kind are matched one-to-one by
//! peak, nearest first, within a tolerance (150 ms by default).

use serde::{Deserialize, Serialize};

use super::{Beat, Wave, WaveKind};

/// A reference wave read from annotations.
pub type ReferenceWave = Wave;

/// Turn LUDB-style marks (`(` onset, `p`/`N`/`t` peak, `)` offset; in sample order) into waves.
/// Incomplete triples (a peak without its brackets) are skipped; other symbols are ignored.
pub fn waves_from_marks<'a>(
    marks: impl IntoIterator<Item = (usize, &'a str)>,
) -> Vec<ReferenceWave> {
    let mut out = Vec::new();
    let mut onset: Option<usize> = None;
    let mut peak: Option<(usize, WaveKind)> = None;
    for (sample, symbol) in marks {
        match symbol {
            "(" => {
                onset = Some(sample);
                peak = None;
            }
            "p" | "N" | "t" => {
                let kind = match symbol {
                    "p" => WaveKind::P,
                    "N" => WaveKind::Qrs,
                    _ => WaveKind::T,
                };
                peak = Some((sample, kind));
            }
            ")" => {
                if let (Some(on), Some((pk, kind))) = (onset, peak) {
                    out.push(Wave {
                        kind,
                        onset: on,
                        peak: pk,
                        offset: sample,
                    });
                }
                onset = None;
                peak = None;
            }
            _ => {}
        }
    }
    out
}

/// The waves of a list of beats, in order.
pub fn waves_of_beats(beats: &[Beat]) -> Vec<Wave> {
    let mut out = Vec::with_capacity(beats.len() * 3);
    for b in beats {
        out.extend(b.p);
        out.push(b.qrs);
        out.extend(b.t);
    }
    out
}

/// Running mean and SD of an error.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorStats {
    pub n: usize,
    pub sum_ms: f64,
    pub sum_sq_ms: f64,
}

impl ErrorStats {
    pub fn add(&mut self, error_ms: f64) {
        self.n += 1;
        self.sum_ms += error_ms;
        self.sum_sq_ms += error_ms * error_ms;
    }
    pub fn merge(&mut self, other: &ErrorStats) {
        self.n += other.n;
        self.sum_ms += other.sum_ms;
        self.sum_sq_ms += other.sum_sq_ms;
    }
    pub fn mean_ms(&self) -> f64 {
        if self.n == 0 {
            f64::NAN
        } else {
            self.sum_ms / self.n as f64
        }
    }
    /// Sample standard deviation.
    pub fn sd_ms(&self) -> f64 {
        if self.n < 2 {
            return f64::NAN;
        }
        let mean = self.mean_ms();
        ((self.sum_sq_ms - self.n as f64 * mean * mean) / (self.n - 1) as f64)
            .max(0.0)
            .sqrt()
    }
}

/// Counts and errors for one wave kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct KindScore {
    pub true_positives: usize,
    pub false_positives: usize,
    pub false_negatives: usize,
    pub onset: ErrorStats,
    pub peak: ErrorStats,
    pub offset: ErrorStats,
}

impl KindScore {
    pub fn sensitivity(&self) -> f64 {
        let d = self.true_positives + self.false_negatives;
        if d == 0 {
            f64::NAN
        } else {
            self.true_positives as f64 / d as f64
        }
    }
    pub fn ppv(&self) -> f64 {
        let d = self.true_positives + self.false_positives;
        if d == 0 {
            f64::NAN
        } else {
            self.true_positives as f64 / d as f64
        }
    }
    pub fn merge(&mut self, o: &KindScore) {
        self.true_positives += o.true_positives;
        self.false_positives += o.false_positives;
        self.false_negatives += o.false_negatives;
        self.onset.merge(&o.onset);
        self.peak.merge(&o.peak);
        self.offset.merge(&o.offset);
    }
}

/// Scores for P, QRS and T.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub p: KindScore,
    pub qrs: KindScore,
    pub t: KindScore,
}

impl Score {
    pub fn kind(&self, kind: WaveKind) -> &KindScore {
        match kind {
            WaveKind::P => &self.p,
            WaveKind::Qrs => &self.qrs,
            WaveKind::T => &self.t,
        }
    }
    fn kind_mut(&mut self, kind: WaveKind) -> &mut KindScore {
        match kind {
            WaveKind::P => &mut self.p,
            WaveKind::Qrs => &mut self.qrs,
            WaveKind::T => &mut self.t,
        }
    }
    pub fn merge(&mut self, o: &Score) {
        self.p.merge(&o.p);
        self.qrs.merge(&o.qrs);
        self.t.merge(&o.t);
    }

    /// A plain-text table (one row per wave kind).
    pub fn table(&self) -> String {
        let mut s = String::new();
        s.push_str("| wave | n ref | Se % | PPV % | onset mean/SD ms | peak mean/SD ms | offset mean/SD ms |\n");
        s.push_str("|---|---|---|---|---|---|---|\n");
        for (name, k) in [("P", &self.p), ("QRS", &self.qrs), ("T", &self.t)] {
            s.push_str(&format!(
                "| {name} | {} | {:.2} | {:.2} | {:.1} / {:.1} | {:.1} / {:.1} | {:.1} / {:.1} |\n",
                k.true_positives + k.false_negatives,
                100.0 * k.sensitivity(),
                100.0 * k.ppv(),
                k.onset.mean_ms(),
                k.onset.sd_ms(),
                k.peak.mean_ms(),
                k.peak.sd_ms(),
                k.offset.mean_ms(),
                k.offset.sd_ms(),
            ));
        }
        s
    }
}

/// Score one lead: `detected` against `reference` (both in samples at `fs_hz`).
pub fn score_lead(detected: &[Wave], reference: &[Wave], fs_hz: f64, tolerance_s: f64) -> Score {
    let mut score = Score::default();
    let (Some(first), Some(last)) = (
        reference.iter().map(|w| w.onset.min(w.peak)).min(),
        reference.iter().map(|w| w.offset.max(w.peak)).max(),
    ) else {
        return score;
    };
    let tolerance = (tolerance_s * fs_hz).round() as usize;
    let ms = 1000.0 / fs_hz;
    for kind in [WaveKind::P, WaveKind::Qrs, WaveKind::T] {
        let refs: Vec<&Wave> = reference.iter().filter(|w| w.kind == kind).collect();
        let dets: Vec<&Wave> = detected
            .iter()
            .filter(|w| w.kind == kind && w.peak >= first && w.peak <= last)
            .collect();
        // All candidate pairs within tolerance, nearest first, matched greedily one-to-one.
        let mut pairs: Vec<(usize, usize, usize)> = Vec::new();
        for (i, r) in refs.iter().enumerate() {
            for (j, d) in dets.iter().enumerate() {
                let dist = r.peak.abs_diff(d.peak);
                if dist <= tolerance {
                    pairs.push((dist, i, j));
                }
            }
        }
        pairs.sort_unstable();
        let mut ref_used = vec![false; refs.len()];
        let mut det_used = vec![false; dets.len()];
        let k = score.kind_mut(kind);
        for (_, i, j) in pairs {
            if ref_used[i] || det_used[j] {
                continue;
            }
            ref_used[i] = true;
            det_used[j] = true;
            k.true_positives += 1;
            let (r, d) = (refs[i], dets[j]);
            k.onset.add((d.onset as f64 - r.onset as f64) * ms);
            k.peak.add((d.peak as f64 - r.peak as f64) * ms);
            k.offset.add((d.offset as f64 - r.offset as f64) * ms);
        }
        k.false_negatives += ref_used.iter().filter(|u| !**u).count();
        k.false_positives += det_used.iter().filter(|u| !**u).count();
    }
    score
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(kind: WaveKind, onset: usize, peak: usize, offset: usize) -> Wave {
        Wave {
            kind,
            onset,
            peak,
            offset,
        }
    }

    #[test]
    fn marks_become_waves() {
        let marks = [
            (10, "("),
            (20, "p"),
            (30, ")"),
            (40, "("),
            (50, "N"),
            (60, ")"),
            (70, "t"),
            (80, ")"),
        ];
        let waves = waves_from_marks(marks);
        assert_eq!(
            waves,
            vec![w(WaveKind::P, 10, 20, 30), w(WaveKind::Qrs, 40, 50, 60)]
        );
    }

    #[test]
    fn matching_counts_and_errors() {
        let fs = 500.0;
        let reference = vec![
            w(WaveKind::Qrs, 100, 110, 120),
            w(WaveKind::Qrs, 600, 610, 620),
            w(WaveKind::T, 700, 750, 800),
        ];
        let detected = vec![
            w(WaveKind::Qrs, 98, 111, 125),     // match, errors -4, +2, +10 ms
            w(WaveKind::Qrs, 1000, 1010, 1020), // outside the annotated span: ignored
            w(WaveKind::T, 300, 350, 400),      // inside, too far: false positive
        ];
        let s = score_lead(&detected, &reference, fs, 0.15);
        assert_eq!(
            (
                s.qrs.true_positives,
                s.qrs.false_negatives,
                s.qrs.false_positives
            ),
            (1, 1, 0)
        );
        assert_eq!(
            (s.t.true_positives, s.t.false_negatives, s.t.false_positives),
            (0, 1, 1)
        );
        assert!((s.qrs.onset.mean_ms() + 4.0).abs() < 1e-9);
        assert!((s.qrs.offset.mean_ms() - 10.0).abs() < 1e-9);
        assert!((s.qrs.sensitivity() - 0.5).abs() < 1e-12 && s.qrs.ppv() == 1.0);
    }
}
