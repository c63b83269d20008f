//! Scoring a delineation against reference annotations (LUDB convention): sensitivity, positive
//! predictive value and the error (mean, SD in ms) of each onset, peak and offset.
//!
//! Protocol: per lead, only the span from the lead's first to its last annotation is scored
//! (LUDB annotates about samples 641-3996 of each record); a detected wave counts when its peak
//! lies in that span. Detected and reference waves of the same kind are matched one-to-one by
//! peak, nearest first, within a tolerance (150 ms by default). A reference wave whose onset or
//! offset bracket is missing (a peak mark alone) still counts for detection; only its marked
//! landmarks enter the errors.

use serde::{Deserialize, Serialize};

use super::{Beat, Wave, WaveKind};

/// A reference wave read from annotations. LUDB marks a few waves (122 QRS, mostly in paced
/// records) with a peak but without their `(` onset or `)` offset: such a wave is still a
/// reference for detection (sensitivity, PPV), and only its marked landmarks are scored.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReferenceWave {
    pub kind: WaveKind,
    pub onset: Option<usize>,
    pub peak: usize,
    pub offset: Option<usize>,
}

impl From<Wave> for ReferenceWave {
    fn from(w: Wave) -> Self {
        ReferenceWave {
            kind: w.kind,
            onset: Some(w.onset),
            peak: w.peak,
            offset: Some(w.offset),
        }
    }
}

/// Turn LUDB-style marks (`(` onset, `p`/`N`/`t` peak, `)` offset; in sample order) into
/// reference waves, keeping a peak whose onset or offset bracket is missing (as
/// `ReferenceWave` with `None` there). Brackets without a peak and other symbols are ignored.
pub fn reference_waves_from_marks<'a>(
    marks: impl IntoIterator<Item = (usize, &'a str)>,
) -> Vec<ReferenceWave> {
    let mut out = Vec::new();
    let mut onset: Option<usize> = None;
    let mut pending: Option<ReferenceWave> = None;
    for (sample, symbol) in marks {
        let kind = match symbol {
            "p" => Some(WaveKind::P),
            "N" => Some(WaveKind::Qrs),
            "t" => Some(WaveKind::T),
            _ => None,
        };
        match (symbol, kind) {
            ("(", _) => {
                // A new wave starts: a pending peak had no offset.
                out.extend(pending.take());
                onset = Some(sample);
            }
            (_, Some(kind)) => {
                out.extend(pending.take());
                pending = Some(ReferenceWave {
                    kind,
                    onset: onset.take(),
                    peak: sample,
                    offset: None,
                });
            }
            (")", _) => {
                if let Some(mut w) = pending.take() {
                    w.offset = Some(sample);
                    out.push(w);
                }
                onset = None;
            }
            _ => {}
        }
    }
    out.extend(pending);
    out
}

/// Complete waves only (`(`, peak, `)`), e.g. to read back annotations this crate wrote.
pub fn waves_from_marks<'a>(marks: impl IntoIterator<Item = (usize, &'a str)>) -> Vec<Wave> {
    reference_waves_from_marks(marks)
        .into_iter()
        .filter_map(|r| {
            Some(Wave {
                kind: r.kind,
                onset: r.onset?,
                peak: r.peak,
                offset: r.offset?,
            })
        })
        .collect()
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

/// Spread of a quantity around its own mean inside each group, pooled over the groups:
/// sqrt(sum over groups of sum (x - group mean)^2 / (n - groups)). With one group per lead of
/// one record (what [`score_lead`] scores), this is the part of a spread that a bias holding for
/// a whole lead or record cannot explain: beat-to-beat variation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct WithinGroupStats {
    /// Values in groups of at least two.
    pub n: usize,
    /// Groups of at least two values.
    pub n_groups: usize,
    pub sum_sq_dev_ms: f64,
}

impl WithinGroupStats {
    /// Add one group's values (a group of fewer than two says nothing of the spread).
    pub fn add_group(&mut self, values_ms: &[f64]) {
        if values_ms.len() < 2 {
            return;
        }
        let mean = values_ms.iter().sum::<f64>() / values_ms.len() as f64;
        self.n += values_ms.len();
        self.n_groups += 1;
        self.sum_sq_dev_ms += values_ms.iter().map(|v| (v - mean).powi(2)).sum::<f64>();
    }
    pub fn merge(&mut self, other: &WithinGroupStats) {
        self.n += other.n;
        self.n_groups += other.n_groups;
        self.sum_sq_dev_ms += other.sum_sq_dev_ms;
    }
    /// Pooled within-group standard deviation (NaN without any group of two).
    pub fn sd_ms(&self) -> f64 {
        if self.n <= self.n_groups {
            return f64::NAN;
        }
        (self.sum_sq_dev_ms / (self.n - self.n_groups) as f64).sqrt()
    }
}

/// Where the error of one bound (onset or offset) comes from, over leads scored one at a time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct BoundSpread {
    /// The error (detected - reference) around each lead's own mean error.
    pub error_within_lead: WithinGroupStats,
    /// The reference bound relative to the matched detected wave's peak, around each lead's
    /// own mean: how much the annotator's bound moves from beat to beat of one lead while the
    /// signal-derived peak stays put. A delineator whose bound does not follow the annotator's
    /// beat-to-beat choices cannot have an error SD below this.
    pub reference_jitter: WithinGroupStats,
}

impl BoundSpread {
    pub fn merge(&mut self, other: &BoundSpread) {
        self.error_within_lead.merge(&other.error_within_lead);
        self.reference_jitter.merge(&other.reference_jitter);
    }
}

/// Which end of a wave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    Onset,
    Offset,
}

impl Bound {
    pub fn as_str(self) -> &'static str {
        match self {
            Bound::Onset => "onset",
            Bound::Offset => "offset",
        }
    }
}

/// The CSE tolerances for the error SD of the wave bounds (2 s_CSE, CSE Working Party 1985, as
/// tabulated by Martinez et al. 2004), in ms: P onset/offset, QRS onset/offset, T offset.
pub const CSE_TOLERANCE_SD_MS: [(WaveKind, Bound, f64); 5] = [
    (WaveKind::P, Bound::Onset, 10.2),
    (WaveKind::P, Bound::Offset, 12.7),
    (WaveKind::Qrs, Bound::Onset, 6.5),
    (WaveKind::Qrs, Bound::Offset, 11.6),
    (WaveKind::T, Bound::Offset, 30.6),
];

/// Counts and errors for one wave kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct KindScore {
    pub true_positives: usize,
    pub false_positives: usize,
    pub false_negatives: usize,
    pub onset: ErrorStats,
    pub peak: ErrorStats,
    pub offset: ErrorStats,
    /// Within-lead parts of the onset and offset errors ([`BoundSpread`]).
    #[serde(default)]
    pub onset_spread: BoundSpread,
    #[serde(default)]
    pub offset_spread: BoundSpread,
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
        self.onset_spread.merge(&o.onset_spread);
        self.offset_spread.merge(&o.offset_spread);
    }

    /// The error statistics of one bound and their spread.
    pub fn bound(&self, bound: Bound) -> (&ErrorStats, &BoundSpread) {
        match bound {
            Bound::Onset => (&self.onset, &self.onset_spread),
            Bound::Offset => (&self.offset, &self.offset_spread),
        }
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

    /// A plain-text table of where the bound errors come from, against the CSE tolerances
    /// (one row per bound with a tolerance). "between leads" is sqrt(SD^2 - within^2): the part
    /// a bias holding for a whole lead or record explains.
    pub fn spread_table(&self) -> String {
        let mut s = String::new();
        s.push_str("| bound | error SD ms | within one lead (beat to beat) | between leads | reference jitter within one lead | CSE tolerance |\n");
        s.push_str("|---|---|---|---|---|---|\n");
        for (kind, bound, tolerance) in CSE_TOLERANCE_SD_MS {
            let (total, spread) = self.kind(kind).bound(bound);
            let within = spread.error_within_lead.sd_ms();
            let between = (total.sd_ms().powi(2) - within.powi(2)).max(0.0).sqrt();
            s.push_str(&format!(
                "| {} {} | {:.1} | {within:.1} | {between:.1} | {:.1} | {tolerance} |\n",
                match kind {
                    WaveKind::P => "P",
                    WaveKind::Qrs => "QRS",
                    WaveKind::T => "T",
                },
                bound.as_str(),
                total.sd_ms(),
                spread.reference_jitter.sd_ms(),
            ));
        }
        s
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

/// Score one lead: `detected` against `reference` (both in samples at `fs_hz`). The lead is one
/// group of the within-lead spreads ([`BoundSpread`]); the reference jitter is measured from
/// each matched detected wave's own peak (see [`score_lead_with_fused`] for a steadier anchor).
pub fn score_lead(
    detected: &[Wave],
    reference: &[ReferenceWave],
    fs_hz: f64,
    tolerance_s: f64,
) -> Score {
    score_lead_with_fused(detected, detected, reference, fs_hz, tolerance_s)
}

/// [`score_lead`], with the reference jitter measured from the peak of the record's fused wave
/// (of the same kind) nearest to each matched detected wave: one lead's own P or T peak moves
/// from beat to beat more than the multi-lead one.
pub fn score_lead_with_fused(
    detected: &[Wave],
    fused: &[Wave],
    reference: &[ReferenceWave],
    fs_hz: f64,
    tolerance_s: f64,
) -> Score {
    let mut score = Score::default();
    let (Some(first), Some(last)) = (
        reference
            .iter()
            .map(|w| w.onset.unwrap_or(w.peak).min(w.peak))
            .min(),
        reference
            .iter()
            .map(|w| w.offset.unwrap_or(w.peak).max(w.peak))
            .max(),
    ) else {
        return score;
    };
    let tolerance = (tolerance_s * fs_hz).round() as usize;
    let ms = 1000.0 / fs_hz;
    for kind in [WaveKind::P, WaveKind::Qrs, WaveKind::T] {
        let refs: Vec<&ReferenceWave> = reference.iter().filter(|w| w.kind == kind).collect();
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
        // This lead's onset/offset errors and reference bounds relative to the detected peak.
        let (mut on_err, mut on_ref) = (Vec::new(), Vec::new());
        let (mut off_err, mut off_ref) = (Vec::new(), Vec::new());
        for (_, i, j) in pairs {
            if ref_used[i] || det_used[j] {
                continue;
            }
            ref_used[i] = true;
            det_used[j] = true;
            k.true_positives += 1;
            let (r, d) = (refs[i], dets[j]);
            let anchor = fused
                .iter()
                .filter(|f| f.kind == kind)
                .min_by_key(|f| f.peak.abs_diff(d.peak))
                .map_or(d.peak, |f| f.peak) as f64;
            if let Some(on) = r.onset {
                let e = (d.onset as f64 - on as f64) * ms;
                k.onset.add(e);
                on_err.push(e);
                on_ref.push((on as f64 - anchor) * ms);
            }
            k.peak.add((d.peak as f64 - r.peak as f64) * ms);
            if let Some(off) = r.offset {
                let e = (d.offset as f64 - off as f64) * ms;
                k.offset.add(e);
                off_err.push(e);
                off_ref.push((off as f64 - anchor) * ms);
            }
        }
        k.onset_spread.error_within_lead.add_group(&on_err);
        k.onset_spread.reference_jitter.add_group(&on_ref);
        k.offset_spread.error_within_lead.add_group(&off_err);
        k.offset_spread.reference_jitter.add_group(&off_ref);
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
    fn a_peak_without_brackets_is_a_reference_without_those_landmarks() {
        let marks = [
            (10, "N"), // no onset
            (20, ")"),
            (30, "("),
            (40, "t"), // no offset: the next wave starts
            (50, "("),
            (60, "p"),
            (70, ")"),
            (80, ")"), // stray bracket
        ];
        let refs = reference_waves_from_marks(marks);
        let summary: Vec<_> = refs
            .iter()
            .map(|r| (r.kind, r.onset, r.peak, r.offset))
            .collect();
        assert_eq!(
            summary,
            vec![
                (WaveKind::Qrs, None, 10, Some(20)),
                (WaveKind::T, Some(30), 40, None),
                (WaveKind::P, Some(50), 60, Some(70)),
            ]
        );
        assert_eq!(waves_from_marks(marks), vec![w(WaveKind::P, 50, 60, 70)]);
        // The partial QRS is detected (no false positive), only its offset error is counted.
        let s = score_lead(&[w(WaveKind::Qrs, 5, 11, 22)], &refs, 500.0, 0.15);
        assert_eq!((s.qrs.true_positives, s.qrs.false_positives), (1, 0));
        assert_eq!((s.qrs.onset.n, s.qrs.peak.n, s.qrs.offset.n), (0, 1, 1));
    }

    #[test]
    fn within_group_spread_pools_the_groups() {
        let mut w = WithinGroupStats::default();
        w.add_group(&[1.0, 3.0]); // deviations -1, 1
        w.add_group(&[10.0, 10.0, 13.0]); // mean 11: -1, -1, 2
        w.add_group(&[100.0]); // alone: no spread
        assert_eq!((w.n, w.n_groups), (5, 2));
        // (1 + 1 + 1 + 1 + 4) / (5 - 2)
        assert!((w.sd_ms() - (8.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!(WithinGroupStats::default().sd_ms().is_nan());
    }

    #[test]
    fn a_steady_bias_is_not_within_lead_spread() {
        // Detected onsets 4 ms early in every beat; the annotator's onset moves by +-2 ms
        // around the (fixed) peak, and the detector follows half of it.
        let fs = 500.0;
        let reference: Vec<ReferenceWave> = [(99, 110), (601, 610), (1099, 1110), (1601, 1610)]
            .iter()
            .map(|&(on, pk)| w(WaveKind::Qrs, on, pk, pk + 10).into())
            .collect();
        let detected: Vec<Wave> = [(97, 110), (598, 610), (1097, 1110), (1598, 1610)]
            .iter()
            .map(|&(on, pk)| w(WaveKind::Qrs, on, pk, pk + 10))
            .collect();
        let s = score_lead(&detected, &reference, fs, 0.15);
        // Errors -4, -6, -4, -6 ms: mean -5, within-lead SD sqrt(4/3).
        let spread = s.qrs.onset_spread;
        assert!((s.qrs.onset.mean_ms() + 5.0).abs() < 1e-9);
        assert!((spread.error_within_lead.sd_ms() - (4.0f64 / 3.0).sqrt()).abs() < 1e-9);
        // Reference onsets -22, -18, -22, -18 ms from the peak: jitter SD sqrt(16/3).
        assert!((spread.reference_jitter.sd_ms() - (16.0f64 / 3.0).sqrt()).abs() < 1e-9);
        // Offsets exact in every beat: no spread at all.
        assert_eq!(s.qrs.offset_spread.error_within_lead.sd_ms(), 0.0);
        let table = s.spread_table();
        assert!(
            table.contains("| QRS onset | 1.2 | 1.2 | 0.0 | 2.3 | 6.5 |"),
            "{table}"
        );
    }

    #[test]
    fn record_subsets_split_by_number() {
        let odd: RecordSubset = "odd".parse().unwrap();
        assert!(odd.contains("7") && !odd.contains("8") && !odd.contains("x"));
        assert!(RecordSubset::Even.contains("200") && RecordSubset::All.contains("x"));
        assert!("half".parse::<RecordSubset>().is_err());
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
        let reference: Vec<ReferenceWave> = reference.into_iter().map(Into::into).collect();
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

/// Why a data-set evaluation failed.
#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    #[error(transparent)]
    Io(#[from] crate::io::IoError),
    #[error("{path}: {message}")]
    Table {
        path: std::path::PathBuf,
        message: String,
    },
    /// The delineator's errors name the record themselves.
    #[error(transparent)]
    Delineate(#[from] super::DelineateError),
    #[error("record '{record}': resampling failed")]
    Resample {
        record: String,
        #[source]
        source: crate::dsp::DspError,
    },
    #[error("evaluation cancelled")]
    Cancelled,
}

/// Settings of [`evaluate_ludb`] (missing fields take their defaults when read).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LudbOptions {
    /// Matching tolerance between detected and reference peaks. Default 0.15 s.
    pub tolerance_s: f64,
    /// Delineate a copy resampled to this rate (e.g. 100 Hz, as PTB-XL records100) and map the
    /// landmarks back to the original samples. Default none.
    pub resample_hz: Option<f64>,
    /// Only the first `max_records` records (in `RECORDS` order). Default all.
    pub max_records: Option<usize>,
    /// All records, or only the odd- or even-numbered ones (tune on one half, check on the
    /// other). Default all.
    pub records: RecordSubset,
}

/// Which LUDB records [`evaluate_ludb`] scores, by record number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecordSubset {
    #[default]
    All,
    Odd,
    Even,
}

impl RecordSubset {
    /// Whether record `id` belongs to the subset (ids that are not numbers only to `All`).
    pub fn contains(&self, id: &str) -> bool {
        match (self, id.parse::<u64>()) {
            (RecordSubset::All, _) => true,
            (RecordSubset::Odd, Ok(n)) => n % 2 == 1,
            (RecordSubset::Even, Ok(n)) => n % 2 == 0,
            _ => false,
        }
    }
}

impl std::str::FromStr for RecordSubset {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "all" => Ok(RecordSubset::All),
            "odd" => Ok(RecordSubset::Odd),
            "even" => Ok(RecordSubset::Even),
            other => Err(format!(
                "record subset '{other}': expected all, odd or even"
            )),
        }
    }
}

impl Default for LudbOptions {
    fn default() -> Self {
        LudbOptions {
            tolerance_s: 0.15,
            resample_hz: None,
            max_records: None,
            records: RecordSubset::All,
        }
    }
}

/// One LUDB record's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LudbRecordResult {
    pub id: String,
    /// `Rhythms` column of `ludb.csv` (empty when the table is missing).
    pub rhythm: String,
    /// `Cardiac pacing` column of `ludb.csv` (empty for unpaced records).
    #[serde(default)]
    pub pacing: String,
    /// Pacemaker spikes the delineator found.
    #[serde(default)]
    pub n_pacing_spikes: usize,
    pub score: Score,
    pub n_beats: usize,
    pub n_beats_with_p: usize,
    pub atrial_fibrillation_suspected: bool,
}

impl LudbRecordResult {
    /// Whether `ludb.csv` gives the record atrial fibrillation or flutter.
    pub fn is_atrial_fibrillation_or_flutter(&self) -> bool {
        rhythm_is_af_or_flutter(&self.rhythm)
    }
}

/// Whether a `Rhythms` entry of `ludb.csv` is atrial fibrillation or flutter.
pub(crate) fn rhythm_is_af_or_flutter(rhythm: &str) -> bool {
    rhythm.contains("Atrial fibrillation") || rhythm.contains("flutter")
}

/// The summed score and each record's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LudbEvaluation {
    pub total: Score,
    pub records: Vec<LudbRecordResult>,
}

impl LudbEvaluation {
    /// The records `ludb.csv` gives atrial fibrillation or flutter.
    pub fn atrial_fibrillation_records(&self) -> Vec<&LudbRecordResult> {
        self.records
            .iter()
            .filter(|r| r.is_atrial_fibrillation_or_flutter())
            .collect()
    }

    /// How many sinus-rhythm records were given no P waves at all.
    pub fn sinus_records_without_p(&self) -> usize {
        self.records
            .iter()
            .filter(|r| r.rhythm.starts_with("Sinus") && r.atrial_fibrillation_suspected)
            .count()
    }
}

/// What `ludb.csv` says of one record (its lines joined by "; ").
#[derive(Debug, Clone, Default)]
pub(crate) struct LudbDiagnosis {
    pub(crate) rhythm: String,
    pub(crate) pacing: String,
}

/// Read the `Rhythms` and `Cardiac pacing` columns of `ludb.csv` by record ID.
pub(crate) fn ludb_rhythms(
    path: &std::path::Path,
) -> Result<std::collections::HashMap<String, LudbDiagnosis>, ScoreError> {
    let table_err = |message: String| ScoreError::Table {
        path: path.to_path_buf(),
        message,
    };
    let mut reader = csv::Reader::from_path(path).map_err(|e| table_err(e.to_string()))?;
    let headers = reader
        .headers()
        .map_err(|e| table_err(e.to_string()))?
        .clone();
    let col = |name: &str| headers.iter().position(|h| h.trim() == name);
    let (Some(id_col), Some(rhythm_col), Some(pacing_col)) =
        (col("ID"), col("Rhythms"), col("Cardiac pacing"))
    else {
        return Err(table_err(
            "no 'ID', 'Rhythms' or 'Cardiac pacing' column".into(),
        ));
    };
    let joined = |row: &csv::StringRecord, c: usize| {
        row.get(c)
            .unwrap_or("")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ")
    };
    let mut out = std::collections::HashMap::new();
    for row in reader.records() {
        let row = row.map_err(|e| table_err(e.to_string()))?;
        let id = row.get(id_col).unwrap_or("").trim().to_string();
        let diagnosis = LudbDiagnosis {
            rhythm: joined(&row, rhythm_col),
            pacing: joined(&row, pacing_col),
        };
        out.insert(id, diagnosis);
    }
    Ok(out)
}

/// The record IDs listed in LUDB's `RECORDS` file under `root`, of `subset`, the first `max`.
pub(crate) fn ludb_record_ids(
    root: &std::path::Path,
    subset: RecordSubset,
    max: Option<usize>,
) -> Result<Vec<String>, ScoreError> {
    let records_path = root.join("RECORDS");
    let list = std::fs::read_to_string(&records_path)
        .map_err(|e| crate::io::IoError::os(&records_path, e))?;
    let mut ids: Vec<String> = list
        .lines()
        .map(|l| l.trim().trim_start_matches("data/").to_string())
        .filter(|l| !l.is_empty() && subset.contains(l))
        .collect();
    if let Some(max) = max {
        ids.truncate(max);
    }
    Ok(ids)
}

/// Delineate and score every LUDB record under `root` (the folder with `RECORDS`, `data/` and
/// `ludb.csv`) in parallel, against each lead's annotation file (`data/<id>.<lead>`, lead in
/// lower case). Records are read with the crate's WFDB readers.
pub fn evaluate_ludb(
    root: &std::path::Path,
    params: &super::DelineatorParams,
    options: &LudbOptions,
    progress: &dyn crate::progress::ProgressSink,
) -> Result<LudbEvaluation, ScoreError> {
    use rayon::prelude::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    params.validate()?;
    let ids = ludb_record_ids(root, options.records, options.max_records)?;
    let rhythms = ludb_rhythms(&root.join("ludb.csv"))?;
    let done = AtomicUsize::new(0);
    let total_n = ids.len();
    let results: Vec<Result<LudbRecordResult, ScoreError>> = ids
        .par_iter()
        .map(|id| {
            if progress.is_cancelled() {
                return Err(ScoreError::Cancelled);
            }
            let result = evaluate_ludb_record(root, id, params, options, &rhythms);
            let n = done.fetch_add(1, Ordering::SeqCst) + 1;
            progress.report(crate::progress::Progress {
                stage: "LUDB".into(),
                done: n,
                total: total_n,
                share: None,
            });
            result
        })
        .collect();
    let mut evaluation = LudbEvaluation {
        total: Score::default(),
        records: Vec::with_capacity(results.len()),
    };
    for r in results {
        let r = r?;
        evaluation.total.merge(&r.score);
        evaluation.records.push(r);
    }
    Ok(evaluation)
}

/// Delineate `ecg` as it is, or (with `resample_hz`) a copy resampled to that rate, the
/// landmarks mapped back to `ecg`'s samples: how a database recorded at another rate is seen.
pub fn delineate_at_rate(
    ecg: &crate::record::Ecg,
    params: &super::DelineatorParams,
    resample_hz: Option<f64>,
) -> Result<super::Delineation, ScoreError> {
    let Some(to_hz) = resample_hz else {
        return Ok(super::delineate(ecg, params)?);
    };
    let id = &ecg.meta.id;
    let rows = ecg
        .samples_mv
        .rows()
        .into_iter()
        .map(|r| crate::dsp::resample::resample(&r.to_vec(), ecg.fs_hz, to_hz))
        .collect::<Result<Vec<Vec<f32>>, _>>()
        .map_err(|source| ScoreError::Resample {
            record: id.clone(),
            source,
        })?;
    let n = rows.first().map(Vec::len).unwrap_or(0);
    let flat: Vec<f32> = rows.into_iter().flatten().collect();
    let array = ndarray::Array2::from_shape_vec((ecg.n_leads(), n), flat).map_err(|e| {
        ScoreError::Resample {
            record: id.clone(),
            source: crate::dsp::DspError::BadSetting(e.to_string()),
        }
    })?;
    let low = crate::record::Ecg::new(ecg.leads.clone(), to_hz, array, ecg.meta.clone()).map_err(
        |e| ScoreError::Resample {
            record: id.clone(),
            source: crate::dsp::DspError::Record(e),
        },
    )?;
    Ok(super::delineate(&low, params)
        .map(|d| rescale_delineation(d, ecg.fs_hz, ecg.n_samples()))?)
}

fn evaluate_ludb_record(
    root: &std::path::Path,
    id: &str,
    params: &super::DelineatorParams,
    options: &LudbOptions,
    rhythms: &std::collections::HashMap<String, LudbDiagnosis>,
) -> Result<LudbRecordResult, ScoreError> {
    let data = root.join("data");
    let ecg = crate::io::wfdb::read_record(&data.join(format!("{id}.hea")))?;
    let fs_hz = ecg.fs_hz;
    let delineation = delineate_at_rate(&ecg, params, options.resample_hz)?;
    let mut score = Score::default();
    let fused = waves_of_beats(&delineation.beats);
    for (li, lead) in ecg.leads.iter().enumerate() {
        let ann_path = data.join(format!("{id}.{}", lead.as_str().to_ascii_lowercase()));
        let annotations = crate::io::annotation::read_annotations(&ann_path)?;
        let reference = reference_waves_from_marks(
            annotations
                .iter()
                .map(|a| (a.sample as usize, a.symbol.as_str())),
        );
        let detected = delineation
            .per_lead
            .get(li)
            .map(|b| waves_of_beats(b))
            .unwrap_or_default();
        score.merge(&score_lead_with_fused(
            &detected,
            &fused,
            &reference,
            fs_hz,
            options.tolerance_s,
        ));
    }
    Ok(LudbRecordResult {
        id: id.to_string(),
        rhythm: rhythms
            .get(id)
            .map(|d| d.rhythm.clone())
            .unwrap_or_default(),
        pacing: rhythms
            .get(id)
            .map(|d| d.pacing.clone())
            .unwrap_or_default(),
        n_pacing_spikes: delineation.pacing_spikes.len(),
        score,
        n_beats: delineation.beats.len(),
        n_beats_with_p: delineation.beats.iter().filter(|b| b.p.is_some()).count(),
        atrial_fibrillation_suspected: delineation.atrial_fibrillation_suspected,
    })
}

pub use super::rescale_delineation;
