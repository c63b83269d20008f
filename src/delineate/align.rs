//! Cluster-landmark alignment: how the TLC clusters of an explanation line up with the P, PR,
//! QRS, ST, T and TP segments found by the delineator.
//!
//! Per record and summed over a data set: the cluster x segment contingency table, each
//! cluster's dominant segment and purity, normalised mutual information (NMI, arithmetic-mean
//! normalisation as in scikit-learn's default) and adjusted Rand index (ARI, Hubert & Arabie
//! 1985) between the cluster and segment label sequences, each cluster's mean position relative
//! to the nearest R peak, and a prototype (mean signal of one lead around the cluster's segment
//! centres).
//!
//! Time steps labelled `Unknown` (padding, no beat found) are counted in the table but left out
//! of purity, NMI and ARI: they say nothing about the waves.

use serde::{Deserialize, Serialize};

use super::segments::index_of;
use super::{Delineation, SegmentLabel, labels_for_explanation, labels_per_sample};
use crate::record::{Ecg, LeadName};
use crate::tlc::Explanation;

/// Why alignment statistics could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum AlignError {
    #[error("record '{record}': {n_clusters} cluster labels for {n_segments} segment labels")]
    LengthMismatch {
        record: String,
        n_clusters: usize,
        n_segments: usize,
    },
    #[error("record '{record}': cluster label {label} is out of range for k = {k}")]
    ClusterOutOfRange {
        record: String,
        label: usize,
        k: usize,
    },
    #[error("record '{record}' has {k_record} clusters, the accumulator {k}")]
    KMismatch {
        record: String,
        k_record: usize,
        k: usize,
    },
    #[error("record '{record}' lacks lead {lead} for the prototypes")]
    MissingLead { record: String, lead: String },
    #[error("alignment setting '{name}' {reason}")]
    InvalidParam { name: &'static str, reason: String },
}

/// Cluster x segment counts (rows: clusters 0..k; columns: [`SegmentLabel::ALL`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContingencyTable {
    pub k: usize,
    pub counts: Vec<[u64; 7]>,
}

impl ContingencyTable {
    pub fn new(k: usize) -> Self {
        ContingencyTable {
            k,
            counts: vec![[0; 7]; k],
        }
    }

    /// Count one record's label sequences (same length).
    pub fn from_labels(
        record: &str,
        clusters: &[usize],
        segments: &[SegmentLabel],
        k: usize,
    ) -> Result<Self, AlignError> {
        if clusters.len() != segments.len() {
            return Err(AlignError::LengthMismatch {
                record: record.to_string(),
                n_clusters: clusters.len(),
                n_segments: segments.len(),
            });
        }
        let mut t = ContingencyTable::new(k);
        for (&c, &s) in clusters.iter().zip(segments) {
            if c >= k {
                return Err(AlignError::ClusterOutOfRange {
                    record: record.to_string(),
                    label: c,
                    k,
                });
            }
            t.counts[c][index_of(s)] += 1;
        }
        Ok(t)
    }

    pub fn merge(&mut self, other: &ContingencyTable) -> Result<(), AlignError> {
        if other.k != self.k {
            return Err(AlignError::KMismatch {
                record: "(table)".into(),
                k_record: other.k,
                k: self.k,
            });
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            for j in 0..7 {
                a[j] += b[j];
            }
        }
        Ok(())
    }

    /// Counts without the `Unknown` column (clusters x the six wave segments).
    fn known(&self) -> Vec<[u64; 6]> {
        self.counts
            .iter()
            .map(|row| {
                let mut r = [0u64; 6];
                r.copy_from_slice(&row[..6]);
                r
            })
            .collect()
    }

    /// The segment a cluster falls in most often (ignoring `Unknown`) and the share of the
    /// cluster's known steps it covers (purity); `None` for a cluster with no known step.
    pub fn dominant(&self, cluster: usize) -> Option<(SegmentLabel, f64)> {
        let row = self.counts.get(cluster)?;
        let total: u64 = row[..6].iter().sum();
        if total == 0 {
            return None;
        }
        let (j, &best) = row[..6]
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0)))?;
        Some((SegmentLabel::ALL[j], best as f64 / total as f64))
    }

    /// Normalised mutual information between clusters and segments, in [0, 1].
    pub fn nmi(&self) -> f64 {
        nmi_of_counts(&self.known())
    }

    /// Adjusted Rand index between clusters and segments (1 = identical partitions, about 0 by
    /// chance).
    pub fn ari(&self) -> f64 {
        ari_of_counts(&self.known())
    }

    /// CSV: `cluster,P,PR,QRS,ST,T,TP,unknown,dominant,purity`.
    pub fn to_csv(&self) -> String {
        let mut s = String::from("cluster");
        for l in SegmentLabel::ALL {
            s.push(',');
            s.push_str(l.as_str());
        }
        s.push_str(",dominant,purity\n");
        for (c, row) in self.counts.iter().enumerate() {
            s.push_str(&c.to_string());
            for v in row {
                s.push_str(&format!(",{v}"));
            }
            match self.dominant(c) {
                Some((l, p)) => s.push_str(&format!(",{},{p:.4}\n", l.as_str())),
                None => s.push_str(",,\n"),
            }
        }
        s
    }

    /// A fixed-width text table for the terminal.
    pub fn to_text(&self) -> String {
        let mut s = format!("{:>7}", "cluster");
        for l in SegmentLabel::ALL {
            s.push_str(&format!(" {:>8}", l.as_str()));
        }
        s.push_str(&format!(" {:>9} {:>7}\n", "dominant", "purity"));
        for (c, row) in self.counts.iter().enumerate() {
            s.push_str(&format!("{c:>7}"));
            for v in row {
                s.push_str(&format!(" {v:>8}"));
            }
            match self.dominant(c) {
                Some((l, p)) => s.push_str(&format!(" {:>9} {:>7.3}\n", l.as_str(), p)),
                None => s.push_str(&format!(" {:>9} {:>7}\n", "-", "-")),
            }
        }
        s
    }
}

/// Normalised mutual information (arithmetic-mean normalisation, as scikit-learn's default)
/// of a cluster x class count table, in [0, 1]; NaN for an empty table, 1 when both partitions
/// have a single class.
pub fn nmi_of_counts<const C: usize>(table: &[[u64; C]]) -> f64 {
    let n: u64 = table.iter().flat_map(|r| r.iter()).sum();
    if n == 0 {
        return f64::NAN;
    }
    let n = n as f64;
    let rows: Vec<f64> = table.iter().map(|r| r.iter().sum::<u64>() as f64).collect();
    let cols: Vec<f64> = (0..C)
        .map(|j| table.iter().map(|r| r[j]).sum::<u64>() as f64)
        .collect();
    let entropy = |v: &[f64]| -> f64 {
        v.iter()
            .filter(|&&x| x > 0.0)
            .map(|&x| -(x / n) * (x / n).ln())
            .sum()
    };
    let (hu, hv) = (entropy(&rows), entropy(&cols));
    let mut mi = 0.0;
    for (i, r) in table.iter().enumerate() {
        for (j, &c) in r.iter().enumerate() {
            if c > 0 {
                let c = c as f64;
                mi += (c / n) * ((c * n) / (rows[i] * cols[j])).ln();
            }
        }
    }
    let denom = 0.5 * (hu + hv);
    if denom <= 0.0 {
        return 1.0;
    }
    (mi / denom).clamp(0.0, 1.0)
}

/// Adjusted Rand index (Hubert & Arabie 1985) of a cluster x class count table: 1 for
/// identical partitions, about 0 by chance; NaN below two items.
pub fn ari_of_counts<const C: usize>(table: &[[u64; C]]) -> f64 {
    let comb2 = |x: u64| (x as f64) * (x as f64 - 1.0) / 2.0;
    let n: u64 = table.iter().flat_map(|r| r.iter()).sum();
    if n < 2 {
        return f64::NAN;
    }
    let index: f64 = table.iter().flat_map(|r| r.iter()).map(|&c| comb2(c)).sum();
    let a: f64 = table.iter().map(|r| comb2(r.iter().sum())).sum();
    let b: f64 = (0..C)
        .map(|j| comb2(table.iter().map(|r| r[j]).sum()))
        .sum();
    let expected = a * b / comb2(n);
    let max = 0.5 * (a + b);
    if (max - expected).abs() < 1e-12 {
        return 1.0;
    }
    (index - expected) / (max - expected)
}

/// Signed distance (s) from each time to the nearest R peak; `None` when there is no R peak.
pub fn offsets_from_nearest_r(times_s: &[f64], r_peaks_s: &[f64]) -> Vec<Option<f64>> {
    let mut r: Vec<f64> = r_peaks_s
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    r.sort_by(f64::total_cmp);
    times_s
        .iter()
        .map(|&t| {
            if r.is_empty() {
                return None;
            }
            let k = r.partition_point(|&x| x < t);
            let mut best: Option<f64> = None;
            for idx in [k.checked_sub(1), Some(k)].into_iter().flatten() {
                if let Some(&x) = r.get(idx) {
                    let d = t - x;
                    if best.is_none_or(|b| d.abs() < b.abs()) {
                        best = Some(d);
                    }
                }
            }
            best
        })
        .collect()
}

/// What the statistics say about one cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterAlignment {
    pub cluster: usize,
    pub dominant_segment: Option<SegmentLabel>,
    pub purity: f64,
    /// Mean signed time (s) from the cluster's time steps to the nearest R peak.
    pub mean_offset_from_r_s: Option<f64>,
    /// Number of time steps (all records) in the cluster.
    pub n_steps: u64,
    /// Mean signal of the prototype lead around the cluster's segment centres
    /// (`-half_window_s..=+half_window_s` at `prototype_fs_hz`); empty when the cluster never
    /// formed a segment far enough from the record's edges.
    pub prototype: Vec<f32>,
    pub prototype_fs_hz: f64,
    pub prototype_count: usize,
}

/// Statistics of one record or a data set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlignmentReport {
    pub n_records: usize,
    pub table: ContingencyTable,
    pub nmi: f64,
    pub ari: f64,
    pub clusters: Vec<ClusterAlignment>,
}

/// Settings of the alignment statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlignParams {
    /// Lead whose signal forms the prototypes. Default II.
    pub prototype_lead: LeadName,
    /// Half-width of the prototype window around a segment centre. Default 0.4 s.
    pub prototype_half_window_s: f64,
    /// Rate of the prototypes (records at other rates are interpolated). Default 500 Hz.
    pub prototype_fs_hz: f64,
}

impl Default for AlignParams {
    fn default() -> Self {
        AlignParams {
            prototype_lead: LeadName::II,
            prototype_half_window_s: 0.4,
            prototype_fs_hz: 500.0,
        }
    }
}

impl AlignParams {
    pub fn validate(&self) -> Result<(), AlignError> {
        for (name, v) in [
            ("prototype_half_window_s", self.prototype_half_window_s),
            ("prototype_fs_hz", self.prototype_fs_hz),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(AlignError::InvalidParam {
                    name,
                    reason: "must be a positive finite number".into(),
                });
            }
        }
        Ok(())
    }
}

/// Sums alignment statistics over records.
#[derive(Debug, Clone)]
pub struct AlignmentAccumulator {
    params: AlignParams,
    table: ContingencyTable,
    offset_sum_s: Vec<f64>,
    offset_n: Vec<u64>,
    proto_sum: Vec<Vec<f64>>,
    proto_n: Vec<usize>,
    n_records: usize,
}

impl AlignmentAccumulator {
    pub fn new(k: usize, params: AlignParams) -> Result<Self, AlignError> {
        params.validate()?;
        let len =
            2 * (params.prototype_half_window_s * params.prototype_fs_hz).round() as usize + 1;
        Ok(AlignmentAccumulator {
            params,
            table: ContingencyTable::new(k),
            offset_sum_s: vec![0.0; k],
            offset_n: vec![0; k],
            proto_sum: vec![vec![0.0; len]; k],
            proto_n: vec![0; k],
            n_records: 0,
        })
    }

    pub fn k(&self) -> usize {
        self.table.k
    }

    /// Add one record's time steps: cluster and segment label, time (s) of each step and the R
    /// peaks (s). Returns the record's own table.
    pub fn add_steps(
        &mut self,
        record: &str,
        clusters: &[usize],
        segments: &[SegmentLabel],
        step_times_s: &[f64],
        r_peaks_s: &[f64],
    ) -> Result<ContingencyTable, AlignError> {
        let table = ContingencyTable::from_labels(record, clusters, segments, self.k())?;
        if step_times_s.len() != clusters.len() {
            return Err(AlignError::LengthMismatch {
                record: record.to_string(),
                n_clusters: clusters.len(),
                n_segments: step_times_s.len(),
            });
        }
        self.table.merge(&table)?;
        for ((&c, off), s) in clusters
            .iter()
            .zip(offsets_from_nearest_r(step_times_s, r_peaks_s))
            .zip(segments)
        {
            if let (Some(off), false) = (off, *s == SegmentLabel::Unknown) {
                self.offset_sum_s[c] += off;
                self.offset_n[c] += 1;
            }
        }
        self.n_records += 1;
        Ok(table)
    }

    /// Add the prototype-lead signal around `centre_s` to the cluster's prototype (skipped when
    /// the window leaves the record).
    pub fn add_prototype_window(
        &mut self,
        cluster: usize,
        signal_mv: &[f32],
        fs_hz: f64,
        centre_s: f64,
    ) {
        if cluster >= self.k() || fs_hz.is_nan() || fs_hz <= 0.0 || signal_mv.is_empty() {
            return;
        }
        let half = self.params.prototype_half_window_s;
        let last_s = (signal_mv.len() - 1) as f64 / fs_hz;
        if centre_s - half < 0.0 || centre_s + half > last_s {
            return;
        }
        let len = self.proto_sum[cluster].len();
        for i in 0..len {
            let t_s = centre_s - half + i as f64 / self.params.prototype_fs_hz;
            let x = (t_s * fs_hz).clamp(0.0, (signal_mv.len() - 1) as f64);
            let k = x.floor() as usize;
            let w = x - k as f64;
            let v = if k + 1 < signal_mv.len() {
                signal_mv[k] as f64 * (1.0 - w) + signal_mv[k + 1] as f64 * w
            } else {
                signal_mv[k] as f64
            };
            self.proto_sum[cluster][i] += v;
        }
        self.proto_n[cluster] += 1;
    }

    /// Add one explained record: segment labels from the fused beats, R peaks from the fused QRS
    /// peaks, prototypes from the explanation's segments. Returns the record's report.
    pub fn add_record(
        &mut self,
        ecg: &Ecg,
        delineation: &Delineation,
        explanation: &Explanation,
    ) -> Result<AlignmentReport, AlignError> {
        let record = ecg.meta.id.clone();
        if explanation.k != self.k() {
            return Err(AlignError::KMismatch {
                record,
                k_record: explanation.k,
                k: self.k(),
            });
        }
        let per_sample = labels_per_sample(&delineation.beats, ecg.n_samples());
        let segments = labels_for_explanation(&per_sample, ecg.fs_hz, explanation);
        let r_peaks_s: Vec<f64> = delineation
            .beats
            .iter()
            .map(|b| b.qrs.peak as f64 / ecg.fs_hz)
            .collect();
        let table = self.add_steps(
            &record,
            &explanation.labels,
            &segments,
            &explanation.step_times_s,
            &r_peaks_s,
        )?;
        let lead =
            ecg.lead(&self.params.prototype_lead)
                .ok_or_else(|| AlignError::MissingLead {
                    record: record.clone(),
                    lead: self.params.prototype_lead.to_string(),
                })?;
        let signal: Vec<f32> = lead.to_vec();
        for seg in &explanation.segments {
            self.add_prototype_window(
                seg.cluster,
                &signal,
                ecg.fs_hz,
                0.5 * (seg.start_s + seg.end_s),
            );
        }
        Ok(AlignmentReport {
            n_records: 1,
            nmi: table.nmi(),
            ari: table.ari(),
            clusters: Vec::new(),
            table,
        })
    }

    /// The summed statistics.
    pub fn report(&self) -> AlignmentReport {
        let clusters = (0..self.k())
            .map(|c| {
                let dominant = self.table.dominant(c);
                let n = self.proto_n[c];
                ClusterAlignment {
                    cluster: c,
                    dominant_segment: dominant.map(|d| d.0),
                    purity: dominant.map(|d| d.1).unwrap_or(0.0),
                    mean_offset_from_r_s: (self.offset_n[c] > 0)
                        .then(|| self.offset_sum_s[c] / self.offset_n[c] as f64),
                    n_steps: self.table.counts[c].iter().sum(),
                    prototype: if n > 0 {
                        self.proto_sum[c]
                            .iter()
                            .map(|v| (v / n as f64) as f32)
                            .collect()
                    } else {
                        Vec::new()
                    },
                    prototype_fs_hz: self.params.prototype_fs_hz,
                    prototype_count: n,
                }
            })
            .collect();
        AlignmentReport {
            n_records: self.n_records,
            table: self.table.clone(),
            nmi: self.table.nmi(),
            ari: self.table.ari(),
            clusters,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SegmentLabel::*;

    #[test]
    fn identical_partitions_score_one_and_independent_near_zero() {
        let segs = [P, P, Qrs, Qrs, T, T, TP, TP];
        let same = [0, 0, 1, 1, 2, 2, 3, 3];
        let t = ContingencyTable::from_labels("r", &same, &segs, 4).unwrap();
        assert!((t.nmi() - 1.0).abs() < 1e-12);
        assert!((t.ari() - 1.0).abs() < 1e-12);
        assert_eq!(t.dominant(1), Some((Qrs, 1.0)));
        // A cluster that splits every segment evenly carries no information.
        let segs = [P, Qrs, P, Qrs];
        let clusters = [0, 0, 1, 1];
        let t = ContingencyTable::from_labels("r", &clusters, &segs, 2).unwrap();
        assert!(t.nmi().abs() < 1e-12);
        assert!(t.ari() < 0.0 + 1e-12);
        assert_eq!(t.dominant(0).unwrap().1, 0.5);
    }

    #[test]
    fn ari_matches_a_hand_computed_value() {
        // Reference values computed independently (Python, the textbook formulas that
        // scikit-learn implements) for clusters [0,0,1,1,1,2] vs segments [P,P,P,QRS,QRS,T].
        let segs = [P, P, P, Qrs, Qrs, T];
        let clusters = [0, 0, 1, 1, 1, 2];
        let t = ContingencyTable::from_labels("r", &clusters, &segs, 3).unwrap();
        assert!((t.ari() - 0.3181818181818182).abs() < 1e-9, "{}", t.ari());
        assert!((t.nmi() - 0.6853314789615865).abs() < 1e-9, "{}", t.nmi());
    }

    #[test]
    fn unknown_steps_are_counted_but_not_scored() {
        let segs = [P, P, Unknown, Qrs];
        let clusters = [0, 0, 1, 1];
        let t = ContingencyTable::from_labels("r", &clusters, &segs, 2).unwrap();
        assert_eq!(t.counts[1][6], 1);
        assert_eq!(t.dominant(1), Some((Qrs, 1.0)));
        assert!((t.ari() - 1.0).abs() < 1e-12);
        assert!(ContingencyTable::from_labels("r", &[0, 5], &[P, P], 2).is_err());
        assert!(ContingencyTable::from_labels("r", &[0], &[P, P], 2).is_err());
    }

    #[test]
    fn offsets_and_prototypes_accumulate() {
        let off = offsets_from_nearest_r(&[0.9, 1.2, 2.0], &[1.0, 2.1]);
        assert!((off[0].unwrap() + 0.1).abs() < 1e-12);
        assert!((off[1].unwrap() - 0.2).abs() < 1e-12);
        assert!((off[2].unwrap() + 0.1).abs() < 1e-12);
        assert_eq!(offsets_from_nearest_r(&[1.0], &[]), vec![None]);

        let params = AlignParams {
            prototype_half_window_s: 0.1,
            prototype_fs_hz: 10.0,
            ..Default::default()
        };
        let mut acc = AlignmentAccumulator::new(2, params).unwrap();
        let signal: Vec<f32> = (0..100).map(|i| i as f32).collect(); // 10 Hz ramp
        acc.add_prototype_window(0, &signal, 10.0, 5.0);
        acc.add_prototype_window(0, &signal, 10.0, 7.0);
        acc.add_prototype_window(0, &signal, 10.0, 0.05); // leaves the record: skipped
        acc.add_steps("r", &[0, 1], &[Qrs, T], &[1.0, 1.3], &[1.0])
            .unwrap();
        let rep = acc.report();
        assert_eq!(rep.clusters[0].prototype, vec![59.0, 60.0, 61.0]);
        assert_eq!(rep.clusters[0].prototype_count, 2);
        assert!(rep.clusters[1].prototype.is_empty());
        assert!((rep.clusters[1].mean_offset_from_r_s.unwrap() - 0.3).abs() < 1e-12);
        assert_eq!(rep.clusters[1].dominant_segment, Some(T));
    }
}

/// Where explanations come from when aligning a data set: the TLC pipeline (model + explainer)
/// or saved explanation files. Errors are boxed: they belong to the caller's world.
pub type ExplainFn<'a> =
    dyn Fn(&Ecg) -> Result<Explanation, Box<dyn std::error::Error + Send + Sync>> + Sync + 'a;

/// The per-record and summed alignment of a data set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetAlignment {
    pub total: AlignmentReport,
    /// (record id, that record's report) in data-set order; records that could not be
    /// delineated or explained are listed in `skipped` instead.
    pub records: Vec<(String, AlignmentReport)>,
    pub skipped: Vec<(String, String)>,
}

/// Errors of [`align_dataset`] that stop the whole run.
#[derive(Debug, thiserror::Error)]
pub enum AlignDatasetError {
    #[error(transparent)]
    Align(#[from] AlignError),
    #[error("alignment cancelled")]
    Cancelled,
    #[error("the data set is empty")]
    Empty,
}

/// Delineate and explain every record of a data set and sum the alignment statistics.
///
/// A record that cannot be read, delineated (e.g. shorter than the delineator's minimum) or
/// explained is skipped with its reason; statistics errors (cluster count mismatch) stop the
/// run. Reports progress per record and stops when cancelled.
pub fn align_dataset(
    dataset: &dyn crate::io::Dataset,
    explain: &ExplainFn<'_>,
    k: usize,
    delineator: &super::DelineatorParams,
    params: &AlignParams,
    progress: &dyn crate::progress::ProgressSink,
) -> Result<DatasetAlignment, AlignDatasetError> {
    if dataset.is_empty() {
        return Err(AlignDatasetError::Empty);
    }
    let mut acc = AlignmentAccumulator::new(k, params.clone())?;
    let mut records = Vec::new();
    let skipped = for_each_record(
        dataset,
        "align",
        progress,
        || AlignDatasetError::Cancelled,
        |ecg| {
            let d =
                super::delineate(ecg, delineator).map_err(|e| crate::error_text::describe(&e))?;
            let explanation = explain(ecg).map_err(|e| crate::error_text::describe(e.as_ref()))?;
            Ok(acc.add_record(ecg, &d, &explanation))
        },
        |id, report| {
            records.push((id, report?));
            Ok(())
        },
    )?;
    Ok(DatasetAlignment {
        total: acc.report(),
        records,
        skipped,
    })
}

/// The loop over a data set shared by [`align_dataset`] and the reference scoring
/// (`reference::score_dataset_against_reference`): each record is loaded and given to `process`;
/// a record that cannot be loaded or processed is skipped, and the returned list names it with
/// the reason. Each success goes to `keep` with the record's id, and an error there (e.g. a
/// cluster-count mismatch) stops the whole run. Progress is reported per record under `stage`;
/// when cancelled the run stops with `cancelled()`.
pub(super) fn for_each_record<T, E>(
    dataset: &dyn crate::io::Dataset,
    stage: &str,
    progress: &dyn crate::progress::ProgressSink,
    cancelled: impl Fn() -> E,
    mut process: impl FnMut(&Ecg) -> Result<T, String>,
    mut keep: impl FnMut(String, T) -> Result<(), E>,
) -> Result<Vec<(String, String)>, E> {
    let mut skipped = Vec::new();
    let total = dataset.len();
    for index in 0..total {
        if progress.is_cancelled() {
            return Err(cancelled());
        }
        let id = dataset
            .entry(index)
            .map(|e| e.id.clone())
            .unwrap_or_else(|| format!("#{index}"));
        let outcome = dataset
            .load(index)
            .map_err(|e| crate::error_text::describe(&e))
            .and_then(|ecg| process(&ecg));
        match outcome {
            Ok(value) => keep(id, value)?,
            Err(reason) => skipped.push((id, reason)),
        }
        progress.report(crate::progress::Progress {
            stage: stage.into(),
            done: index + 1,
            total,
            share: None,
        });
    }
    Ok(skipped)
}

impl ClusterAlignment {
    /// The explainer's description of this cluster; `None` when the cluster never fell in a
    /// delineated segment.
    pub fn description(&self) -> Option<crate::tlc::ClusterDescription> {
        let dominant = self.dominant_segment?;
        Some(crate::tlc::ClusterDescription {
            dominant_segment: dominant.as_str().to_string(),
            purity: self.purity as f32,
            mean_offset_from_r_s: self.mean_offset_from_r_s.map(|v| v as f32),
            prototype: (!self.prototype.is_empty()).then(|| self.prototype.clone()),
            prototype_fs_hz: (!self.prototype.is_empty()).then_some(self.prototype_fs_hz),
        })
    }
}
