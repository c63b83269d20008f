//! Cluster segments as a WFDB annotation file beside the record, so WAVE/LightWAVE show them.
//!
//! Each segment becomes three annotations at the record's own sampling rate: `(` at its first
//! sample, a note `"` at its centre whose aux text is the cluster's display name (e.g.
//! `C3 mostly QRS`), and `)` at its last sample. All three carry the cluster index in `num`
//! (clusters 0..=127), so programs can read the cluster without parsing text; the `(` also has
//! the short name `C<index>` as aux, which is what WAVE prints at a wave onset.

use std::path::{Path, PathBuf};

use crate::figure::FigureError;
use crate::figure::palette::cluster_display_name;
use crate::io::annotation::{Annotation, read_annotations, write_annotations};
use crate::tlc::Explanation;

/// Extension of the cluster annotation file (`<record>.tlc`).
pub const CLUSTER_ANNOTATOR: &str = "tlc";

/// A cluster segment as read back from annotations: [start_sample, end_sample) and cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnnotatedSegment {
    pub cluster: usize,
    pub start_sample: usize,
    pub end_sample: usize,
}

fn annotation(
    sample: usize,
    symbol: &str,
    cluster: usize,
    aux: Option<String>,
) -> Result<Annotation, FigureError> {
    let mut a = Annotation::new(sample as u64, symbol)
        .ok_or_else(|| FigureError::Data(format!("'{symbol}' is not a WFDB annotation symbol")))?;
    a.num = cluster as i8;
    a.aux = aux;
    Ok(a)
}

/// The annotations for an explanation's segments (clipped to `n_samples`; empty segments are
/// left out). Fails when a cluster index does not fit WFDB's `num` field (K > 128).
pub fn cluster_annotations(
    ex: &Explanation,
    n_samples: usize,
    names: Option<&[String]>,
) -> Result<Vec<Annotation>, FigureError> {
    let mut out = Vec::with_capacity(3 * ex.segments.len());
    for seg in &ex.segments {
        if seg.cluster > i8::MAX as usize {
            return Err(FigureError::Data(format!(
                "cluster {} does not fit a WFDB annotation's num field (at most 127)",
                seg.cluster
            )));
        }
        let start = seg.start_sample.min(n_samples);
        let end = seg.end_sample.min(n_samples);
        if end <= start {
            continue;
        }
        let last = end - 1;
        let centre = start + (last - start) / 2;
        out.push(annotation(
            start,
            "(",
            seg.cluster,
            Some(format!("C{}", seg.cluster)),
        )?);
        out.push(annotation(
            centre,
            "\"",
            seg.cluster,
            Some(cluster_display_name(seg.cluster, names)),
        )?);
        out.push(annotation(last, ")", seg.cluster, None)?);
    }
    // Samples must not decrease; segments come in time order, but be safe with any input.
    out.sort_by_key(|a| a.sample);
    Ok(out)
}

/// Path of the annotation file beside a record (`dir/100.hea` or `dir/100` -> `dir/100.tlc`).
pub fn annotation_path(record_path: &Path) -> PathBuf {
    let stem = match record_path.extension().and_then(|e| e.to_str()) {
        Some("hea") | Some("dat") => record_path.with_extension(""),
        _ => record_path.to_path_buf(),
    };
    let mut name = stem
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".");
    name.push(CLUSTER_ANNOTATOR);
    stem.with_file_name(name)
}

/// Write the cluster segments as `<record>.tlc` beside the record; returns the path.
pub fn write_cluster_annotations(
    record_path: &Path,
    ex: &Explanation,
    n_samples: usize,
    names: Option<&[String]>,
    overwrite: bool,
) -> Result<PathBuf, FigureError> {
    let path = annotation_path(record_path);
    if !overwrite && path.exists() {
        return Err(FigureError::Exists { path });
    }
    let annotations = cluster_annotations(ex, n_samples, names)?;
    write_annotations(&path, &annotations, overwrite)?;
    Ok(path)
}

/// Segments from annotations written by [`cluster_annotations`] (pairs of `(` and `)`; the
/// cluster from `num`). Other annotations are ignored; an unmatched `(` or `)` is an error.
pub fn segments_from_annotations(
    annotations: &[Annotation],
) -> Result<Vec<AnnotatedSegment>, FigureError> {
    let mut out = Vec::new();
    let mut open: Option<&Annotation> = None;
    for a in annotations {
        match a.symbol.as_str() {
            "(" => {
                if let Some(prev) = open {
                    return Err(FigureError::Data(format!(
                        "'(' at sample {} is never closed",
                        prev.sample
                    )));
                }
                open = Some(a);
            }
            ")" => {
                let start = open.take().ok_or_else(|| {
                    FigureError::Data(format!("')' at sample {} without '('", a.sample))
                })?;
                if start.num < 0 || start.num != a.num {
                    return Err(FigureError::Data(format!(
                        "segment at sample {}: cluster {} at '(' and {} at ')'",
                        start.sample, start.num, a.num
                    )));
                }
                out.push(AnnotatedSegment {
                    cluster: start.num as usize,
                    start_sample: start.sample as usize,
                    end_sample: a.sample as usize + 1,
                });
            }
            _ => {}
        }
    }
    if let Some(prev) = open {
        return Err(FigureError::Data(format!(
            "'(' at sample {} is never closed",
            prev.sample
        )));
    }
    Ok(out)
}

/// Read a `.tlc` file back into segments.
pub fn read_cluster_annotations(path: &Path) -> Result<Vec<AnnotatedSegment>, FigureError> {
    let annotations = read_annotations(path)?;
    segments_from_annotations(&annotations).map_err(|e| match e {
        FigureError::Data(m) => FigureError::Data(format!("{}: {m}", path.display())),
        e => e,
    })
}
