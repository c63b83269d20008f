//! Clusters scored against a data set's own reference annotations (e.g. the P, QRS and T waves
//! LUDB's cardiologists marked), not against this project's delineator.
//!
//! Each valid time step of an explanation gets the wave the reference marks at the step's centre
//! (P, QRS or T between its `(` onset and `)` offset; `none` between waves). Only steps inside
//! the annotated span (first to last mark of the file) count: LUDB marks only the middle of each
//! record, and a step outside says nothing. A wave marked by its peak alone (no onset or no
//! offset) has no known extent, so the steps between its neighbours' bounds are left out rather
//! than counted as `none`.
//!
//! Figures: the cluster x wave table, NMI and ARI (the same definitions as
//! [`super::align::ContingencyTable`]), purity, each cluster's share of each wave, and each
//! wave's recall by the clusters that are mostly that wave.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::WaveKind;
use super::align::{ExplainFn, ari_of_counts, for_each_record, nmi_of_counts};
use super::score::{ReferenceWave, reference_waves_from_marks};
use crate::record::Ecg;
use crate::tlc::Explanation;

/// The reference class of one time step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReferenceLabel {
    P,
    Qrs,
    T,
    /// Inside the annotated span but in no marked wave (PR, ST, TP: the baseline between waves).
    None,
}

impl ReferenceLabel {
    pub const ALL: [ReferenceLabel; 4] = [
        ReferenceLabel::P,
        ReferenceLabel::Qrs,
        ReferenceLabel::T,
        ReferenceLabel::None,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReferenceLabel::P => "P",
            ReferenceLabel::Qrs => "QRS",
            ReferenceLabel::T => "T",
            ReferenceLabel::None => "none",
        }
    }

    fn index(self) -> usize {
        match self {
            ReferenceLabel::P => 0,
            ReferenceLabel::Qrs => 1,
            ReferenceLabel::T => 2,
            ReferenceLabel::None => 3,
        }
    }

    fn of_kind(kind: WaveKind) -> Self {
        match kind {
            WaveKind::P => ReferenceLabel::P,
            WaveKind::Qrs => ReferenceLabel::Qrs,
            WaveKind::T => ReferenceLabel::T,
        }
    }
}

/// Why a record could not be scored against its reference.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    #[error("record '{record}' has no source file, so its reference annotations cannot be found")]
    NoSource { record: String },
    #[error("reading reference annotations")]
    Read {
        path: PathBuf,
        source: crate::io::IoError,
    },
    #[error("reference annotations {}: no P, QRS or T wave marked with `(` and `)`", path.display())]
    NoWaves { path: PathBuf },
    #[error("record '{record}': cluster label {label} is out of range for k = {k}")]
    ClusterOutOfRange {
        record: String,
        label: usize,
        k: usize,
    },
    #[error("record '{record}' has {k_record} clusters, the data set {k}")]
    KMismatch {
        record: String,
        k_record: usize,
        k: usize,
    },
    #[error("reference extension '{0}' is empty or names a path (give e.g. `ii` or `atr`)")]
    BadExtension(String),
}

/// A cluster must hold at least this share of all scored steps to be named a wave's best
/// cluster: a cluster of two steps that are both T says nothing about T.
pub const MIN_BEST_CLUSTER_SHARE: f64 = 0.01;

/// Cluster x reference-wave counts (columns: [`ReferenceLabel::ALL`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceTable {
    pub k: usize,
    pub counts: Vec<[u64; 4]>,
}

impl ReferenceTable {
    pub fn new(k: usize) -> Self {
        ReferenceTable {
            k,
            counts: vec![[0; 4]; k],
        }
    }

    pub fn merge(&mut self, other: &ReferenceTable) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            for j in 0..4 {
                a[j] += b[j];
            }
        }
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().flat_map(|r| r.iter()).sum()
    }

    fn column_total(&self, label: ReferenceLabel) -> u64 {
        self.counts.iter().map(|r| r[label.index()]).sum()
    }

    fn row_total(&self, cluster: usize) -> u64 {
        self.counts.get(cluster).map_or(0, |r| r.iter().sum())
    }

    /// Share of cluster `cluster`'s steps that fall in `label` (0 for an empty cluster).
    pub fn share(&self, cluster: usize, label: ReferenceLabel) -> f64 {
        let n = self.row_total(cluster);
        if n == 0 {
            return 0.0;
        }
        self.counts[cluster][label.index()] as f64 / n as f64
    }

    /// The class a cluster covers most and its share; `None` for an empty cluster.
    pub fn dominant(&self, cluster: usize) -> Option<(ReferenceLabel, f64)> {
        if self.row_total(cluster) == 0 {
            return None;
        }
        ReferenceLabel::ALL
            .iter()
            .map(|&l| (l, self.share(cluster, l)))
            .fold(
                None,
                |best: Option<(ReferenceLabel, f64)>, (l, s)| match best {
                    Some((_, b)) if b >= s => best,
                    _ => Some((l, s)),
                },
            )
    }

    pub fn nmi(&self) -> f64 {
        nmi_of_counts(&self.counts)
    }

    pub fn ari(&self) -> f64 {
        ari_of_counts(&self.counts)
    }

    /// Share of all steps that fall in their cluster's dominant class.
    pub fn purity(&self) -> f64 {
        let n = self.total();
        if n == 0 {
            return f64::NAN;
        }
        let hits: u64 = self
            .counts
            .iter()
            .map(|r| r.iter().copied().max().unwrap_or(0))
            .sum();
        hits as f64 / n as f64
    }

    /// Share of the steps of `label` held by the clusters whose share of `label` is at least
    /// `min_share` (e.g. "clusters >= 90 % QRS hold 80 % of the QRS steps").
    pub fn recall_at_share(&self, label: ReferenceLabel, min_share: f64) -> f64 {
        let total = self.column_total(label);
        if total == 0 {
            return f64::NAN;
        }
        let held: u64 = (0..self.k)
            .filter(|&c| self.row_total(c) > 0 && self.share(c, label) >= min_share)
            .map(|c| self.counts[c][label.index()])
            .sum();
        held as f64 / total as f64
    }

    /// Per class: its best cluster (highest share of the class among clusters holding at least
    /// [`MIN_BEST_CLUSTER_SHARE`] of all steps) and the recall of the clusters it dominates.
    pub fn wave_summaries(&self) -> Vec<WaveSummary> {
        let min_steps = (MIN_BEST_CLUSTER_SHARE * self.total() as f64).max(1.0);
        ReferenceLabel::ALL
            .iter()
            .map(|&label| {
                let steps = self.column_total(label);
                let best = (0..self.k)
                    .filter(|&c| self.row_total(c) as f64 >= min_steps)
                    .map(|c| (c, self.share(c, label)))
                    .fold(None, |best: Option<(usize, f64)>, (c, s)| match best {
                        Some((_, b)) if b >= s => best,
                        _ => Some((c, s)),
                    });
                let dominated: Vec<usize> = (0..self.k)
                    .filter(|&c| self.dominant(c).is_some_and(|(l, _)| l == label))
                    .collect();
                let held: u64 = dominated
                    .iter()
                    .map(|&c| self.counts[c][label.index()])
                    .sum();
                WaveSummary {
                    wave: label,
                    steps,
                    best_cluster: best.map(|(c, _)| c),
                    best_share: best.map_or(0.0, |(_, s)| s),
                    best_cluster_recall: match best {
                        Some((c, _)) if steps > 0 => {
                            self.counts[c][label.index()] as f64 / steps as f64
                        }
                        _ => 0.0,
                    },
                    dominated_clusters: dominated,
                    dominated_recall: if steps > 0 {
                        held as f64 / steps as f64
                    } else {
                        0.0
                    },
                }
            })
            .collect()
    }

    /// A fixed-width text table for the terminal: counts, then each cluster's shares.
    pub fn to_text(&self) -> String {
        let mut s = format!("{:>7}", "cluster");
        for l in ReferenceLabel::ALL {
            s.push_str(&format!(" {:>9}", l.as_str()));
        }
        s.push_str(&format!(" {:>9} {:>7}\n", "dominant", "share"));
        for c in 0..self.k {
            s.push_str(&format!("{c:>7}"));
            for l in ReferenceLabel::ALL {
                s.push_str(&format!(" {:>9}", self.counts[c][l.index()]));
            }
            match self.dominant(c) {
                Some((l, p)) => s.push_str(&format!(" {:>9} {:>7.3}\n", l.as_str(), p)),
                None => s.push_str(&format!(" {:>9} {:>7}\n", "-", "-")),
            }
        }
        s
    }

    /// CSV: `cluster,P,QRS,T,none,dominant,share`.
    pub fn to_csv(&self) -> String {
        let mut s = String::from("cluster,P,QRS,T,none,dominant,share\n");
        for c in 0..self.k {
            s.push_str(&c.to_string());
            for v in &self.counts[c] {
                s.push_str(&format!(",{v}"));
            }
            match self.dominant(c) {
                Some((l, p)) => s.push_str(&format!(",{},{p:.4}\n", l.as_str())),
                None => s.push_str(",,\n"),
            }
        }
        s
    }
}

/// How one reference class is covered by the clusters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaveSummary {
    pub wave: ReferenceLabel,
    /// Steps of this class.
    pub steps: u64,
    /// The cluster with the highest share of this class, and that share.
    pub best_cluster: Option<usize>,
    pub best_share: f64,
    /// Share of this class's steps that the best cluster holds.
    pub best_cluster_recall: f64,
    /// Clusters whose dominant class this is, and the share of this class's steps they hold.
    pub dominated_clusters: Vec<usize>,
    pub dominated_recall: f64,
}

/// Scores of one table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceReport {
    pub table: ReferenceTable,
    pub nmi: f64,
    pub ari: f64,
    pub purity: f64,
    pub waves: Vec<WaveSummary>,
}

impl ReferenceReport {
    pub fn of(table: ReferenceTable) -> Self {
        ReferenceReport {
            nmi: table.nmi(),
            ari: table.ari(),
            purity: table.purity(),
            waves: table.wave_summaries(),
            table,
        }
    }

    pub fn wave(&self, label: ReferenceLabel) -> Option<&WaveSummary> {
        self.waves.iter().find(|w| w.wave == label)
    }
}

/// Per-sample reference class: `Some(label)` inside the annotated span, `None` outside it and
/// in the gap around a wave marked by its peak alone.
pub fn reference_labels_per_sample(
    waves: &[ReferenceWave],
    span: (usize, usize),
    n_samples: usize,
) -> Vec<Option<ReferenceLabel>> {
    let mut labels = vec![None; n_samples];
    let (first, last) = (
        span.0.min(n_samples),
        span.1.min(n_samples.saturating_sub(1)),
    );
    if first > last || n_samples == 0 {
        return labels;
    }
    for l in &mut labels[first..=last] {
        *l = Some(ReferenceLabel::None);
    }
    let complete: Vec<(usize, usize)> = waves
        .iter()
        .filter_map(|w| Some((w.onset?, w.offset?)))
        .collect();
    for w in waves {
        match (w.onset, w.offset) {
            (Some(on), Some(off)) => {
                for l in labels
                    .iter_mut()
                    .take(off.min(last) + 1)
                    .skip(on.max(first))
                {
                    *l = Some(ReferenceLabel::of_kind(w.kind));
                }
            }
            _ => {
                // Extent unknown: leave out everything between the neighbouring waves' bounds.
                let lo = complete
                    .iter()
                    .filter(|&&(_, off)| off < w.peak)
                    .map(|&(_, off)| off + 1)
                    .max()
                    .unwrap_or(first);
                let hi = complete
                    .iter()
                    .filter(|&&(on, _)| on > w.peak)
                    .map(|&(on, _)| on.saturating_sub(1))
                    .min()
                    .unwrap_or(last);
                for l in labels.iter_mut().take(hi.min(last) + 1).skip(lo.max(first)) {
                    *l = None;
                }
            }
        }
    }
    labels
}

/// Count one explanation's valid steps against per-sample reference labels of the record
/// (rate `fs_hz`): each step takes the label at its centre.
pub fn table_for_explanation(
    explanation: &Explanation,
    labels: &[Option<ReferenceLabel>],
    fs_hz: f64,
) -> Result<ReferenceTable, ReferenceError> {
    let mut table = ReferenceTable::new(explanation.k);
    let (start, end) = explanation.valid_steps;
    for t in start..end.min(explanation.labels.len()) {
        let Some(&centre_s) = explanation.step_times_s.get(t) else {
            break;
        };
        let sample = (centre_s * fs_hz).round();
        if !(sample >= 0.0 && (sample as usize) < labels.len()) {
            continue;
        }
        let Some(label) = labels[sample as usize] else {
            continue;
        };
        let cluster = explanation.labels[t];
        if cluster >= explanation.k {
            return Err(ReferenceError::ClusterOutOfRange {
                record: explanation.record_id.clone(),
                label: cluster,
                k: explanation.k,
            });
        }
        table.counts[cluster][label.index()] += 1;
    }
    Ok(table)
}

/// The reference annotation file of a record: its source file with the extension replaced.
pub fn reference_path(ecg: &Ecg, extension: &str) -> Result<PathBuf, ReferenceError> {
    let source = ecg
        .meta
        .source
        .as_deref()
        .ok_or_else(|| ReferenceError::NoSource {
            record: ecg.meta.id.clone(),
        })?;
    Ok(source.with_extension(extension))
}

/// Read a record's reference annotations (`<record>.<extension>`) as per-sample labels.
pub fn reference_labels_for(
    ecg: &Ecg,
    extension: &str,
) -> Result<Vec<Option<ReferenceLabel>>, ReferenceError> {
    let path = reference_path(ecg, extension)?;
    let marks = read_marks(&path)?;
    let waves = reference_waves_from_marks(marks.iter().map(|(s, m)| (*s, m.as_str())));
    if !waves
        .iter()
        .any(|w| w.onset.is_some() && w.offset.is_some())
    {
        return Err(ReferenceError::NoWaves { path });
    }
    let first = marks.first().map_or(0, |m| m.0);
    let last = marks.last().map_or(0, |m| m.0);
    Ok(reference_labels_per_sample(
        &waves,
        (first, last),
        ecg.samples_mv.ncols(),
    ))
}

fn read_marks(path: &Path) -> Result<Vec<(usize, String)>, ReferenceError> {
    let annotations = crate::io::read_annotations(path).map_err(|source| ReferenceError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut marks: Vec<(usize, String)> = annotations
        .into_iter()
        .map(|a| (usize::try_from(a.sample).unwrap_or(usize::MAX), a.symbol))
        .collect();
    marks.sort_by_key(|m| m.0);
    Ok(marks)
}

/// The per-record and summed reference scores of a data set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceAlignment {
    /// Annotation file extension the reference was read from (e.g. `ii`).
    pub extension: String,
    pub total: ReferenceReport,
    pub records: Vec<(String, ReferenceReport)>,
    /// Records that could not be read, explained or scored, with the reason.
    pub skipped: Vec<(String, String)>,
}

/// Errors that stop [`score_dataset_against_reference`].
#[derive(Debug, thiserror::Error)]
pub enum ReferenceDatasetError {
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error("reference scoring cancelled")]
    Cancelled,
    #[error("the data set is empty")]
    Empty,
}

/// Explain every record of a data set and score its clusters against the record's own
/// annotation file `<record>.<extension>`. A record without a readable reference or that cannot
/// be explained is skipped with its reason; a cluster-count mismatch stops the run.
pub fn score_dataset_against_reference(
    dataset: &dyn crate::io::Dataset,
    explain: &ExplainFn<'_>,
    k: usize,
    extension: &str,
    progress: &dyn crate::progress::ProgressSink,
) -> Result<ReferenceAlignment, ReferenceDatasetError> {
    if extension.is_empty() || extension.contains(['/', '\\', '.']) {
        return Err(ReferenceError::BadExtension(extension.to_string()).into());
    }
    if dataset.is_empty() {
        return Err(ReferenceDatasetError::Empty);
    }
    let mut total = ReferenceTable::new(k);
    let mut records = Vec::new();
    let skipped = for_each_record(
        dataset,
        "score against reference",
        progress,
        || ReferenceDatasetError::Cancelled,
        |ecg| {
            let labels = reference_labels_for(ecg, extension)
                .map_err(|e| crate::error_text::describe(&e))?;
            let explanation = explain(ecg).map_err(|e| crate::error_text::describe(e.as_ref()))?;
            Ok((explanation, labels, ecg.fs_hz))
        },
        |id, (explanation, labels, fs_hz)| {
            if explanation.k != k {
                return Err(ReferenceError::KMismatch {
                    record: id,
                    k_record: explanation.k,
                    k,
                }
                .into());
            }
            let table = table_for_explanation(&explanation, &labels, fs_hz)?;
            total.merge(&table);
            records.push((id, ReferenceReport::of(table)));
            Ok(())
        },
    )?;
    Ok(ReferenceAlignment {
        extension: extension.to_string(),
        total: ReferenceReport::of(total),
        records,
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delineate::Wave;

    #[test]
    fn perfect_clusters_score_one() {
        // Cluster c holds only class c.
        let table = ReferenceTable {
            k: 4,
            counts: vec![[10, 0, 0, 0], [0, 20, 0, 0], [0, 0, 30, 0], [0, 0, 0, 40]],
        };
        assert!((table.nmi() - 1.0).abs() < 1e-12);
        assert!((table.ari() - 1.0).abs() < 1e-12);
        assert!((table.purity() - 1.0).abs() < 1e-12);
        let qrs = &table.wave_summaries()[1];
        assert_eq!(qrs.best_cluster, Some(1));
        assert!((qrs.dominated_recall - 1.0).abs() < 1e-12);
    }

    #[test]
    fn hand_computed_case() {
        // Cluster 0: 9 QRS + 1 none; cluster 1: 1 QRS + 9 none. N = 20.
        let table = ReferenceTable {
            k: 2,
            counts: vec![[0, 9, 0, 1], [0, 1, 0, 9]],
        };
        assert!((table.purity() - 0.9).abs() < 1e-12);
        // H(U) = H(V) = ln 2; MI = 2 * (0.45 ln(0.45/0.25) + 0.05 ln(0.05/0.25)).
        let mi = 2.0 * (0.45 * (0.45f64 / 0.25).ln() + 0.05 * (0.05f64 / 0.25).ln());
        assert!((table.nmi() - mi / 2f64.ln()).abs() < 1e-12);
        // Pairs: index = 2*C(9,2) = 72; a = b = 2*C(10,2) = 90; C(20,2) = 190.
        let expected = 90.0 * 90.0 / 190.0;
        let ari = (72.0 - expected) / (90.0 - expected);
        assert!((table.ari() - ari).abs() < 1e-12);
        assert!((table.recall_at_share(ReferenceLabel::Qrs, 0.9) - 0.9).abs() < 1e-12);
        assert!(table.recall_at_share(ReferenceLabel::Qrs, 0.95) == 0.0);
        let qrs = &table.wave_summaries()[1];
        assert_eq!(qrs.best_cluster, Some(0));
        assert!((qrs.best_share - 0.9).abs() < 1e-12);
        assert!((qrs.best_cluster_recall - 0.9).abs() < 1e-12);
    }

    #[test]
    fn labels_per_sample_follow_the_marks() {
        let waves: Vec<ReferenceWave> = vec![
            Wave::new(WaveKind::P, 10, 12, 14).into(),
            Wave::new(WaveKind::Qrs, 20, 22, 24).into(),
            // A T marked by its peak alone: the gap 25..=39 is left out.
            ReferenceWave {
                kind: WaveKind::T,
                onset: None,
                peak: 32,
                offset: None,
            },
            Wave::new(WaveKind::P, 40, 42, 44).into(),
        ];
        let labels = reference_labels_per_sample(&waves, (5, 50), 60);
        assert_eq!(labels[4], None);
        assert_eq!(labels[5], Some(ReferenceLabel::None));
        assert_eq!(labels[10], Some(ReferenceLabel::P));
        assert_eq!(labels[14], Some(ReferenceLabel::P));
        assert_eq!(labels[15], Some(ReferenceLabel::None));
        assert_eq!(labels[22], Some(ReferenceLabel::Qrs));
        assert_eq!(labels[25], None);
        assert_eq!(labels[39], None);
        assert_eq!(labels[40], Some(ReferenceLabel::P));
        assert_eq!(labels[50], Some(ReferenceLabel::None));
        assert_eq!(labels[51], None);
    }
}
