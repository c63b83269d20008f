//! P/QRS/T delineation, per-sample segment labels, and cluster-landmark alignment.

pub mod types;

pub use types::{Beat, Delineation, SegmentLabel, Wave, WaveKind};
