//! Reference annotations as a layer under the leads: the annotation files a record already
//! carries (MIT-BIH's `.atr` beat labels, LUDB's cardiologists' per-lead `.i` ... `.v6`, QTDB's
//! `.q1c`/`.pu0`, this project's own `.tlc` cluster segments; any WFDB annotator) beside the
//! project's landmarks and clusters, on screen and in figures.
//!
//! [`list_annotators`] finds the files beside a record (`NAME.EXT` for the record `NAME.hea`); an
//! extension that names a lead of the record (`ii`, `v1`) makes a per-lead annotator, shown on
//! that lead only; any other is shown on every lead. [`read_layer`] reads one into
//! [`ReferenceMark`]s: `(` ... `)` brackets become spans (a P, QRS or T wave when the peak inside
//! says so: `p`, a beat label, `t`), beat labels and other annotations become symbols at their
//! sample (a rhythm change `+` shows its aux text, e.g. `(AFIB`). [`reference_layer`] draws them
//! in mm; the app draws the same marks at the same heights ([`row_offset_mm`]).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::delineate::WaveKind;
use crate::figure::layout::LayoutDescription;
use crate::figure::palette::{self, Rgba};
use crate::figure::scene::{Primitive, Stroke, TextAnchor, landmark_colour};
use crate::io::IoError;
use crate::record::{Ecg, LeadName};

/// Files beside a record that are not annotations (signals, headers, exports).
const NOT_ANNOTATIONS: [&str; 14] = [
    "hea", "dat", "mat", "edf", "csv", "json", "xml", "txt", "png", "svg", "pdf", "h5", "hdf5",
    "flac",
];

/// WFDB beat labels (the codes WFDB's `isqrs` counts as beats).
const BEAT_SYMBOLS: [&str; 19] = [
    "N", "L", "R", "B", "A", "a", "J", "S", "V", "r", "F", "e", "j", "n", "E", "/", "f", "Q", "?",
];

/// An annotation file beside a record.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AnnotatorFile {
    pub path: PathBuf,
    /// The annotator's name: the file's extension (`atr`, `ii`, `q1c`).
    pub extension: String,
    /// The lead it annotates when the extension names one of the record's leads.
    pub lead: Option<LeadName>,
}

/// One mark of a reference annotation file, in samples of the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ReferenceMark {
    /// A bracketed span, `(` at `onset` to `)` at `offset`: a P, QRS or T wave when the
    /// annotation inside says which, else `label` (an aux text, e.g. a cluster name).
    Span {
        onset: usize,
        offset: usize,
        kind: Option<WaveKind>,
        label: Option<String>,
    },
    /// A beat label (`N`, `V`, `A` ...) or another annotation at one sample.
    Symbol {
        sample: usize,
        text: String,
        beat: bool,
    },
}

/// A mark in seconds, as drawn (see [`ReferenceLayer::marks_within`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MarkInSpan<'a> {
    Span {
        start_s: f64,
        end_s: f64,
        kind: Option<WaveKind>,
        label: Option<&'a str>,
    },
    Symbol {
        time_s: f64,
        text: &'a str,
        beat: bool,
    },
}

/// One annotation file read for display.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceLayer {
    pub file: AnnotatorFile,
    pub marks: Vec<ReferenceMark>,
}

impl ReferenceLayer {
    /// Whether the layer is drawn on a panel of `lead`: record-level annotators on every lead.
    pub fn applies_to(&self, lead: &LeadName) -> bool {
        match &self.file.lead {
            None => true,
            Some(l) => {
                l == lead
                    || lead.clinical_equivalent().as_ref() == Some(l)
                    || l.clinical_equivalent().as_ref() == Some(lead)
            }
        }
    }

    /// The marks that fall (at least partly) within `span_s`, in seconds of a record sampled at
    /// `fs_hz`: what the app and the figures draw.
    pub fn marks_within(
        &self,
        fs_hz: f64,
        span_s: (f64, f64),
    ) -> impl Iterator<Item = MarkInSpan<'_>> + '_ {
        let t = move |s: usize| s as f64 / fs_hz;
        self.marks.iter().filter_map(move |mark| match mark {
            ReferenceMark::Span {
                onset,
                offset,
                kind,
                label,
            } => {
                let (start_s, end_s) = (t(*onset), t(*offset));
                (end_s >= span_s.0 && start_s <= span_s.1).then_some(MarkInSpan::Span {
                    start_s,
                    end_s,
                    kind: *kind,
                    label: label.as_deref(),
                })
            }
            ReferenceMark::Symbol { sample, text, beat } => {
                let time_s = t(*sample);
                (time_s >= span_s.0 && time_s <= span_s.1).then_some(MarkInSpan::Symbol {
                    time_s,
                    text,
                    beat: *beat,
                })
            }
        })
    }

    pub fn n_spans(&self) -> usize {
        self.marks
            .iter()
            .filter(|m| matches!(m, ReferenceMark::Span { .. }))
            .count()
    }
}

/// The annotation files beside the record `ecg` was read from (`NAME.EXT` beside `NAME.hea`),
/// sorted by extension; empty for a record not read from a file.
pub fn list_annotators(ecg: &Ecg) -> Result<Vec<AnnotatorFile>, IoError> {
    let Some(source) = ecg.meta.source.as_deref() else {
        return Ok(Vec::new());
    };
    let (Some(dir), Some(stem)) = (source.parent(), source.file_stem()) else {
        return Ok(Vec::new());
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let stem = stem.to_string_lossy().into_owned();
    let mut out = Vec::new();
    crate::io::files::walk_files(dir, 0, &mut |path| {
        let (Some(s), Some(ext)) = (path.file_stem(), path.extension()) else {
            return;
        };
        let ext = ext.to_string_lossy().into_owned();
        if s.to_string_lossy() != stem
            || NOT_ANNOTATIONS.contains(&ext.to_ascii_lowercase().as_str())
        {
            return;
        }
        let lead = match LeadName::parse(&ext) {
            LeadName::Other(_) => None,
            lead => ecg.lead_index_or_equivalent(&lead).map(|_| lead),
        };
        out.push(AnnotatorFile {
            path,
            extension: ext,
            lead,
        });
    })?;
    out.sort_by(|a, b| a.extension.cmp(&b.extension));
    Ok(out)
}

/// Read an annotation file into marks of a record of `n_samples` samples (marks past its end
/// are left out). The error names the file.
pub fn read_layer(file: &AnnotatorFile, n_samples: usize) -> Result<ReferenceLayer, IoError> {
    let mut annotations = crate::io::read_annotations(&file.path)?;
    annotations.sort_by_key(|a| a.sample);
    let mut marks = Vec::new();
    // The open bracket: its sample, its aux, and what the annotations inside it say.
    let mut open: Option<(usize, Option<String>)> = None;
    let mut kind: Option<WaveKind> = None;
    let mut inner_label: Option<String> = None;
    for a in annotations {
        let Ok(sample) = usize::try_from(a.sample) else {
            continue;
        };
        if sample >= n_samples {
            break;
        }
        let symbol = a.symbol.as_str();
        let aux = a.aux.clone().filter(|s| !s.trim().is_empty());
        match symbol {
            "(" => {
                open = Some((sample, aux));
                kind = None;
                inner_label = None;
            }
            ")" => {
                if let Some((onset, open_aux)) = open.take() {
                    marks.push(ReferenceMark::Span {
                        onset,
                        offset: sample,
                        kind: kind.take(),
                        label: inner_label.take().or(open_aux),
                    });
                }
            }
            "p" | "t" if open.is_some() => {
                kind = Some(if symbol == "p" {
                    WaveKind::P
                } else {
                    WaveKind::T
                });
            }
            "\"" if open.is_some() => inner_label = aux,
            _ => {
                let beat = BEAT_SYMBOLS.contains(&symbol);
                if beat && open.is_some() {
                    kind = Some(WaveKind::Qrs);
                }
                let text = match (symbol, aux) {
                    ("+" | "\"", Some(aux)) => aux,
                    _ => symbol.to_string(),
                };
                marks.push(ReferenceMark::Symbol { sample, text, beat });
            }
        }
    }
    Ok(ReferenceLayer {
        file: file.clone(),
        marks,
    })
}

/// Height above a panel's bottom edge (mm) of the bracket line of the `index`-th layer shown on
/// it: above the project's landmark bars, one row per layer.
pub fn row_offset_mm(index: usize) -> f64 {
    5.0 + 4.0 * index as f64
}
/// Length of a bracket's end ticks (mm, downwards from its line), the gap from the line to the
/// baseline of a symbol above it, and the symbols' font size.
pub const BRACKET_TICK_MM: f64 = 1.0;
pub const SYMBOL_GAP_MM: f64 = 0.6;
pub const SYMBOL_MM: f64 = 2.2;

/// Colour of a span: its wave's landmark colour, or muted ink for another kind of span.
pub fn span_colour(kind: Option<WaveKind>) -> Rgba {
    kind.map_or(palette::MUTED_INK, landmark_colour)
}

/// The reference layers on the figure's panels (each on the leads it applies to).
pub fn reference_layer(
    layout: &LayoutDescription,
    layers: &[ReferenceLayer],
    fs_hz: f64,
) -> Vec<Primitive> {
    let mut out = Vec::new();
    if !(fs_hz > 0.0) {
        return out;
    }
    for panel in layout.panels.iter().filter(|p| p.lead_index.is_some()) {
        let shown = layers.iter().filter(|l| l.applies_to(&panel.lead));
        for (index, layer) in shown.enumerate() {
            let y = panel.rect.bottom() - row_offset_mm(index);
            for mark in layer.marks_within(fs_hz, (panel.start_s, panel.end_s)) {
                match mark {
                    MarkInSpan::Span {
                        start_s: t0,
                        end_s: t1,
                        kind,
                        label,
                    } => {
                        let stroke = Stroke {
                            colour: span_colour(kind),
                            width_mm: 0.25,
                        };
                        let (x0, x1) = (
                            panel.x_from_seconds(t0.max(panel.start_s)),
                            panel.x_from_seconds(t1.min(panel.end_s)),
                        );
                        out.push(Primitive::Line {
                            from: (x0, y),
                            to: (x1, y),
                            stroke,
                        });
                        for tt in [t0, t1] {
                            if tt >= panel.start_s && tt <= panel.end_s {
                                let x = panel.x_from_seconds(tt);
                                out.push(Primitive::Line {
                                    from: (x, y),
                                    to: (x, y + BRACKET_TICK_MM),
                                    stroke,
                                });
                            }
                        }
                        if let (None, Some(label)) = (kind, label) {
                            out.push(Primitive::Text {
                                pos: ((x0 + x1) / 2.0, y - SYMBOL_GAP_MM),
                                text: label.to_string(),
                                size_mm: SYMBOL_MM * 0.8,
                                colour: palette::MUTED_INK,
                                anchor: TextAnchor::Middle,
                                bold: false,
                            });
                        }
                    }
                    MarkInSpan::Symbol { time_s, text, beat } => {
                        out.push(Primitive::Text {
                            pos: (panel.x_from_seconds(time_s), y - SYMBOL_GAP_MM),
                            text: text.to_string(),
                            size_mm: SYMBOL_MM,
                            colour: if beat {
                                palette::INK
                            } else {
                                palette::MUTED_INK
                            },
                            anchor: TextAnchor::Middle,
                            bold: beat,
                        });
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::annotation::{Annotation, encode_annotations};

    #[test]
    fn brackets_become_waves_and_beats_symbols() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.q1c");
        let mut anns = Vec::new();
        for (s, sym) in [
            (10, "("),
            (20, "p"),
            (30, ")"),
            (40, "("),
            (50, "V"),
            (60, ")"),
            (70, "t"),
            (80, ")"),
            (90, "N"),
        ] {
            anns.push(Annotation::new(s, sym).unwrap());
        }
        let mut rhythm = Annotation::new(5, "+").unwrap();
        rhythm.aux = Some("(AFIB".into());
        anns.insert(0, rhythm);
        std::fs::write(&path, encode_annotations(&anns).unwrap()).unwrap();
        let file = AnnotatorFile {
            path,
            extension: "q1c".into(),
            lead: None,
        };
        let layer = read_layer(&file, 85).unwrap();
        let spans: Vec<_> = layer
            .marks
            .iter()
            .filter_map(|m| match m {
                ReferenceMark::Span {
                    onset,
                    offset,
                    kind,
                    ..
                } => Some((*onset, *offset, *kind)),
                _ => None,
            })
            .collect();
        // A T wave without an onset is no span; the beat past the end is left out.
        assert_eq!(
            spans,
            vec![(10, 30, Some(WaveKind::P)), (40, 60, Some(WaveKind::Qrs))]
        );
        let symbols: Vec<_> = layer
            .marks
            .iter()
            .filter_map(|m| match m {
                ReferenceMark::Symbol { text, beat, .. } => Some((text.as_str(), *beat)),
                _ => None,
            })
            .collect();
        // The T peak outside any bracket is shown as what the file says.
        assert_eq!(symbols, vec![("(AFIB", false), ("V", true), ("t", false)]);
        let missing = AnnotatorFile {
            path: dir.path().join("absent.atr"),
            extension: "atr".into(),
            lead: None,
        };
        let err = crate::error_text::describe(&read_layer(&missing, 100).unwrap_err());
        assert!(err.contains("absent.atr"), "{err}");
    }
}
