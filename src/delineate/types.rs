//! Landmarks: per-beat P, QRS and T waves with onset, peak and offset, in samples of the record.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WaveKind {
    P,
    Qrs,
    T,
}

/// One wave: onset, peak and offset sample indices (at the record's own rate).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Wave {
    pub kind: WaveKind,
    pub onset: usize,
    pub peak: usize,
    pub offset: usize,
}

impl Wave {
    pub const fn new(kind: WaveKind, onset: usize, peak: usize, offset: usize) -> Wave {
        Wave {
            kind,
            onset,
            peak,
            offset,
        }
    }
}

/// One beat: a QRS always; P and T when found (`None` means "no such wave", e.g. no P in atrial
/// fibrillation; nothing is invented).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Beat {
    pub p: Option<Wave>,
    pub qrs: Wave,
    pub t: Option<Wave>,
}

/// A stretch of the record without consistent atrial activity (atrial fibrillation/flutter
/// suspected): from the QRS onset of its first beat to the QRS offset of its last, in samples
/// of the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RhythmEpisode {
    pub start: usize,
    pub end: usize,
}

/// Per-sample (or per-time-step) segment label derived from the landmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SegmentLabel {
    P,
    PR,
    Qrs,
    ST,
    T,
    TP,
    Unknown,
}

impl SegmentLabel {
    pub const ALL: [SegmentLabel; 7] = [
        SegmentLabel::P,
        SegmentLabel::PR,
        SegmentLabel::Qrs,
        SegmentLabel::ST,
        SegmentLabel::T,
        SegmentLabel::TP,
        SegmentLabel::Unknown,
    ];
    pub fn as_str(&self) -> &'static str {
        match self {
            SegmentLabel::P => "P",
            SegmentLabel::PR => "PR",
            SegmentLabel::Qrs => "QRS",
            SegmentLabel::ST => "ST",
            SegmentLabel::T => "T",
            SegmentLabel::TP => "TP",
            SegmentLabel::Unknown => "unknown",
        }
    }
}

/// Landmarks of one record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delineation {
    pub fs_hz: f64,
    pub n_samples: usize,
    /// Beats fused across leads.
    pub beats: Vec<Beat>,
    /// Beats per lead, in the record's lead order.
    pub per_lead: Vec<Vec<Beat>>,
    /// True when some beats have no P waves consistently linked to the QRS, so none are
    /// reported there: atrial fibrillation/flutter, or atrial activity dissociated from the
    /// ventricles (LUDB's paced records with complete AV block, where the annotators mark no P
    /// either). Where: `af_episodes`.
    pub atrial_fibrillation_suspected: bool,
    /// The stretches of beats judged so (each beat judged in the ~10 s rhythm windows around
    /// it), in order; empty in older files.
    #[serde(default)]
    pub af_episodes: Vec<RhythmEpisode>,
    /// Samples of the pacemaker spikes found (empty when unpaced; see `DelineatorParams`).
    #[serde(default)]
    pub pacing_spikes: Vec<usize>,
}

impl Delineation {
    /// Whether `sample` lies in a stretch without consistent atrial rhythm (`af_episodes`). A
    /// delineation that flags one without saying where (files from before episodes were
    /// recorded) is taken as one stretch over the whole record, as it was then judged.
    pub fn without_atrial_rhythm_at(&self, sample: usize) -> bool {
        if self.af_episodes.is_empty() {
            return self.atrial_fibrillation_suspected;
        }
        let i = self.af_episodes.partition_point(|e| e.end < sample);
        self.af_episodes.get(i).is_some_and(|e| e.start <= sample)
    }
}
