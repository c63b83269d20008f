//! Drawing primitives in millimetres, built from a record, its explanation and landmarks on a
//! [`LayoutDescription`]. SVG, PNG and PDF render a scene; the app paints the same scene.
//!
//! Long traces are decimated to at most two points (the minimum and the maximum, in time order)
//! per output pixel column at the spec's DPI, which keeps every peak and halves nothing visible.

use serde::{Deserialize, Serialize};

use crate::delineate::{Beat, Delineation, Wave, WaveKind};
use crate::figure::FigureError;
use crate::figure::layout::{FigureSpec, LayoutDescription, Panel, RectMm, Track, TrackKind};
use crate::figure::palette::{self, Rgba};
use crate::record::{Ecg, OtherSignal};
use crate::tlc::Explanation;

/// What a figure is drawn from.
#[derive(Debug, Clone)]
pub struct FigureInput<'a> {
    pub ecg: &'a Ecg,
    pub explanation: Option<&'a Explanation>,
    pub delineation: Option<&'a Delineation>,
    /// Display names of the clusters (e.g. "C3 mostly QRS"), indexed by cluster; `None` or a
    /// missing entry falls back to `C<index>`.
    pub cluster_names: Option<Vec<String>>,
    /// Calipers set on the record (drawn when `Layers::calipers` is on).
    pub calipers: &'a [crate::figure::calipers::Caliper],
    /// Reference annotation files shown as a layer (when `Layers::reference` is on).
    pub reference: &'a [crate::figure::reference::ReferenceLayer],
    /// How the measurement line and the data export correct the QT (default Fridericia).
    pub qtc_formula: crate::measure::QtcFormula,
}

impl<'a> FigureInput<'a> {
    /// A figure of the record alone.
    pub fn record(ecg: &'a Ecg) -> Self {
        FigureInput {
            ecg,
            explanation: None,
            delineation: None,
            cluster_names: None,
            calipers: &[],
            reference: &[],
            qtc_formula: crate::measure::QtcFormula::default(),
        }
    }
}

/// Line style.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stroke {
    pub colour: Rgba,
    pub width_mm: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TextAnchor {
    Start,
    Middle,
    End,
}

/// One thing to draw; all coordinates in mm from the page's top left, y downwards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Primitive {
    Rect {
        rect: RectMm,
        fill: Option<Rgba>,
        stroke: Option<Stroke>,
    },
    Line {
        from: (f64, f64),
        to: (f64, f64),
        stroke: Stroke,
    },
    Polyline {
        points: Vec<(f64, f64)>,
        stroke: Stroke,
    },
    /// Many separate straight segments with one stroke (the paper grid): one path to render.
    Lines {
        segments: Vec<((f64, f64), (f64, f64))>,
        stroke: Stroke,
    },
    /// A closed filled shape.
    Polygon { points: Vec<(f64, f64)>, fill: Rgba },
    /// `pos` is the baseline point of the text; `size_mm` the font size.
    Text {
        pos: (f64, f64),
        text: String,
        size_mm: f64,
        colour: Rgba,
        anchor: TextAnchor,
        bold: bool,
    },
}

/// A named group of primitives (drawn in order; later groups on top).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SceneLayer {
    pub name: String,
    pub primitives: Vec<Primitive>,
}

/// A page of primitives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scene {
    pub width_mm: f64,
    pub height_mm: f64,
    pub layers: Vec<SceneLayer>,
}

impl Scene {
    pub fn n_primitives(&self) -> usize {
        self.layers.iter().map(|l| l.primitives.len()).sum()
    }
    pub fn layer(&self, name: &str) -> Option<&SceneLayer> {
        self.layers.iter().find(|l| l.name == name)
    }
}

/// Width of the ECG trace (mm).
pub const TRACE_WIDTH_MM: f64 = 0.25;
/// Opacity of the cluster bands behind the traces.
pub const BAND_ALPHA: u8 = 70;
/// Largest opacity of the Grad-CAM overlay (at relevance 1).
pub const OVERLAY_MAX_ALPHA: u8 = 110;
/// Narrowest Grad-CAM bin (mm): finer bins add primitives and no visible detail.
const GRADCAM_BIN_MM: f64 = 0.5;
const TEXT_MM: f64 = 2.6;
const LEAD_LABEL_MM: f64 = 3.0;

/// Turn a record (and, when given, its explanation and landmarks) into primitives: one layer
/// per function below, painted in this order (paper, cluster bands, grid, Grad-CAM overlay,
/// landmarks, traces, reference annotations, calipers, tracks, text).
pub fn build_scene(
    input: &FigureInput,
    spec: &FigureSpec,
    layout: &LayoutDescription,
) -> Result<Scene, FigureError> {
    check_same_record(input)?;
    let column_mm = 25.4 / spec.dpi;
    let layer = |name: &str, primitives: Vec<Primitive>| SceneLayer {
        name: name.into(),
        primitives,
    };
    let mut layers = vec![layer("paper", paper(layout))];
    if spec.layers.clusters
        && let Some(ex) = input.explanation
    {
        layers.push(layer("clusters", cluster_bands(layout, ex)));
    }
    // The grid over the (opaque, pale) bands, as on paper printed with coloured marks.
    if spec.layers.grid {
        let mut lines = Vec::new();
        grid(&layout.paper, &mut lines);
        layers.push(layer("grid", lines));
    }
    if spec.layers.gradcam_overlay
        && let Some(series) = input.explanation.and_then(gradcam_series)
    {
        layers.push(layer(
            "gradcam_overlay",
            gradcam_overlay(layout, &series, column_mm),
        ));
    }
    if spec.layers.landmarks
        && let Some(d) = input.delineation
    {
        layers.push(layer("landmarks", landmark_layer(layout, d)));
    }
    layers.push(layer("traces", traces(input.ecg, layout, column_mm)));
    // Over the traces, so a beat label at the R peak is not hidden by the QRS.
    if spec.layers.reference && !input.reference.is_empty() {
        layers.push(layer(
            "reference",
            crate::figure::reference::reference_layer(layout, input.reference, input.ecg.fs_hz),
        ));
    }
    if spec.layers.calipers && !input.calipers.is_empty() {
        layers.push(layer(
            "calipers",
            crate::figure::calipers::caliper_layer(layout, input.calipers),
        ));
    }
    layers.push(layer("tracks", tracks(input, layout, column_mm)));
    layers.push(layer("text", text(input, spec, layout)?));
    Ok(Scene {
        width_mm: layout.page_width_mm,
        height_mm: layout.page_height_mm,
        layers,
    })
}

/// An explanation made for another record would put its clusters on the wrong signal.
fn check_same_record(input: &FigureInput) -> Result<(), FigureError> {
    let ecg = input.ecg;
    if let Some(ex) = input.explanation
        && !ex.record_id.is_empty()
        && !ecg.meta.id.is_empty()
        && ex.record_id != ecg.meta.id
    {
        return Err(FigureError::Mismatch {
            record: ecg.meta.id.clone(),
            explanation: ex.record_id.clone(),
        });
    }
    Ok(())
}

/// The page itself, under everything.
fn paper(layout: &LayoutDescription) -> Vec<Primitive> {
    vec![Primitive::Rect {
        rect: RectMm::new(0.0, 0.0, layout.page_width_mm, layout.page_height_mm),
        fill: Some(palette::PAPER),
        stroke: None,
    }]
}

/// One band per cluster segment and band area, behind the grid and traces (opaque colours
/// mixed over the paper, so overlapping layers do not darken each other).
fn cluster_bands(layout: &LayoutDescription, ex: &Explanation) -> Vec<Primitive> {
    let mut bands = Vec::new();
    for panel in &band_areas(layout) {
        for seg in &ex.segments {
            let t0 = seg.start_s.max(panel.start_s);
            let t1 = seg.end_s.min(panel.end_s);
            if t1 > t0 {
                let x0 = panel.x_from_seconds(t0);
                let x1 = panel.x_from_seconds(t1);
                bands.push(Primitive::Rect {
                    rect: RectMm::new(x0, panel.rect.y, x1 - x0, panel.rect.h),
                    fill: Some(palette::over_paper(palette::cluster_band_colour(
                        seg.cluster,
                        BAND_ALPHA,
                    ))),
                    stroke: None,
                });
            }
        }
    }
    bands
}

/// The Grad-CAM relevance as translucent bins no narrower than a pixel (`column_mm`) or
/// `GRADCAM_BIN_MM`; bins of zero opacity are left out.
fn gradcam_overlay(
    layout: &LayoutDescription,
    series: &[(f64, f64)],
    column_mm: f64,
) -> Vec<Primitive> {
    let mut overlay = Vec::new();
    for panel in &band_areas(layout) {
        for (t0, t1, v) in binned(
            series,
            panel.start_s,
            panel.end_s,
            GRADCAM_BIN_MM.max(column_mm) / panel.paper_speed_mm_s,
        ) {
            let alpha = (v.clamp(0.0, 1.0) * OVERLAY_MAX_ALPHA as f64).round() as u8;
            if alpha == 0 {
                continue;
            }
            let x0 = panel.x_from_seconds(t0);
            overlay.push(Primitive::Rect {
                rect: RectMm::new(
                    x0,
                    panel.rect.y,
                    panel.x_from_seconds(t1) - x0,
                    panel.rect.h,
                ),
                fill: Some(palette::with_alpha(
                    palette::gradcam_colour(v as f32),
                    alpha,
                )),
                stroke: None,
            });
        }
    }
    overlay
}

/// P/QRS/T landmarks of each lead's own beats (the fused beats where the lead has none) and the
/// pacemaker spikes.
fn landmark_layer(layout: &LayoutDescription, d: &Delineation) -> Vec<Primitive> {
    let mut marks = Vec::new();
    for panel in layout.panels.iter() {
        let Some(index) = panel.lead_index else {
            continue;
        };
        let beats: &[Beat] = match d.per_lead.get(index) {
            Some(b) if !b.is_empty() => b,
            _ => &d.beats,
        };
        landmarks(panel, beats, d.fs_hz, &mut marks);
        pacing_marks(panel, &d.pacing_spikes, d.fs_hz, &mut marks);
    }
    marks
}

/// Each panel's calibration pulse, trace (or "not recorded"), column marker and lead label.
fn traces(ecg: &Ecg, layout: &LayoutDescription, column_mm: f64) -> Vec<Primitive> {
    let mut traces = Vec::new();
    let trace_stroke = Stroke {
        colour: palette::TRACE,
        width_mm: TRACE_WIDTH_MM,
    };
    for panel in &layout.panels {
        if let Some(c) = panel.calibration {
            let b = c.baseline_y_mm;
            let lead_in = (c.x_mm - layout.paper.x).min(2.0);
            traces.push(Primitive::Polyline {
                points: vec![
                    (c.x_mm - lead_in, b),
                    (c.x_mm, b),
                    (c.x_mm, b - c.height_mm),
                    (c.x_mm + c.width_mm, b - c.height_mm),
                    (c.x_mm + c.width_mm, b),
                    (c.x_mm + c.width_mm + lead_in, b),
                ],
                stroke: trace_stroke,
            });
        }
        match panel.lead_index {
            Some(index) => {
                let row = ecg.samples_mv.row(index);
                let samples = row
                    .as_slice()
                    .map(|s| s.to_vec())
                    .unwrap_or_else(|| row.to_vec());
                // a gap (missing samples) breaks the trace: one polyline per stretch with data
                let points = trace_points(panel, &samples, ecg.fs_hz, column_mm);
                for run in points.split(|p| p.1.is_nan()).filter(|r| r.len() >= 2) {
                    traces.push(Primitive::Polyline {
                        points: run.to_vec(),
                        stroke: trace_stroke,
                    });
                }
            }
            None => traces.push(Primitive::Text {
                pos: (panel.rect.x + 1.0, panel.baseline_y_mm),
                text: format!("{} not recorded", panel.lead),
                size_mm: TEXT_MM,
                colour: palette::MUTED_INK,
                anchor: TextAnchor::Start,
                bold: false,
            }),
        }
        if panel.column > 0 && !panel.rhythm {
            // Column boundary marker, as printed 3 x 4 ECGs have.
            traces.push(Primitive::Line {
                from: (panel.rect.x, panel.baseline_y_mm - 2.5),
                to: (panel.rect.x, panel.baseline_y_mm + 2.5),
                stroke: trace_stroke,
            });
        }
        traces.push(Primitive::Text {
            pos: (panel.rect.x + 1.0, panel.rect.y + LEAD_LABEL_MM + 0.5),
            text: panel.lead.to_string(),
            size_mm: LEAD_LABEL_MM,
            colour: palette::INK,
            anchor: TextAnchor::Start,
            bold: false,
        });
    }
    traces
}

/// The tracks under the tracing (entropy, Grad-CAM, ...) and the time axis.
fn tracks(input: &FigureInput, layout: &LayoutDescription, column_mm: f64) -> Vec<Primitive> {
    let mut tracks = Vec::new();
    for track in &layout.tracks {
        match track.kind {
            TrackKind::Signal(i) => {
                if let Some(signal) = input.ecg.other_signals.get(i) {
                    draw_signal_track(track, signal, column_mm, &mut tracks);
                }
            }
            _ => draw_track(track, input.explanation, column_mm, &mut tracks),
        }
    }
    time_axis(layout, &mut tracks);
    tracks
}

/// Title, measurement line, legend and footer.
fn text(
    input: &FigureInput,
    spec: &FigureSpec,
    layout: &LayoutDescription,
) -> Result<Vec<Primitive>, FigureError> {
    let mut text = Vec::new();
    title(input, layout, &mut text);
    crate::figure::measurement_line::measurement_line(input, layout, &mut text)?;
    legend(input, spec, layout, &mut text);
    footer(input, spec, layout, &mut text);
    Ok(text)
}

/// Areas for time bands (clusters, Grad-CAM overlay): the panels that hold a lead, with
/// vertically touching panels of the same time span merged (all rows of the stacked layout
/// become one area), so a band is one rectangle rather than one per lead.
pub fn band_areas(layout: &LayoutDescription) -> Vec<Panel> {
    let mut panels: Vec<&Panel> = layout
        .panels
        .iter()
        .filter(|p| p.lead_index.is_some())
        .collect();
    panels.sort_by(|a, b| {
        (a.rect.x, a.rect.w, a.start_s, a.end_s, a.rect.y)
            .partial_cmp(&(b.rect.x, b.rect.w, b.start_s, b.end_s, b.rect.y))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut out: Vec<Panel> = Vec::new();
    for p in panels {
        if let Some(last) = out.last_mut() {
            let same_span = last.rect.x == p.rect.x
                && last.rect.w == p.rect.w
                && last.start_s == p.start_s
                && last.end_s == p.end_s;
            if same_span && (last.rect.bottom() - p.rect.y).abs() < 1e-9 {
                last.rect.h += p.rect.h;
                continue;
            }
        }
        out.push(p.clone());
    }
    out
}

/// 1 mm and 5 mm lines over the paper rect (minor lines first, bold ones on top), as two
/// `Lines` primitives.
fn grid(paper: &RectMm, out: &mut Vec<Primitive>) {
    let minor = Stroke {
        colour: palette::GRID_MINOR,
        width_mm: 0.08,
    };
    let major = Stroke {
        colour: palette::GRID_MAJOR,
        width_mm: 0.18,
    };
    let nx = (paper.w + 1e-6).floor() as usize;
    let ny = (paper.h + 1e-6).floor() as usize;
    for (pass_major, stroke) in [(false, minor), (true, major)] {
        let mut segments = Vec::new();
        for i in 0..=nx {
            if (i % 5 == 0) == pass_major {
                let x = paper.x + i as f64;
                segments.push(((x, paper.y), (x, paper.bottom())));
            }
        }
        for j in 0..=ny {
            if (j % 5 == 0) == pass_major {
                let y = paper.y + j as f64;
                segments.push(((paper.x, y), (paper.right(), y)));
            }
        }
        out.push(Primitive::Lines { segments, stroke });
    }
}

/// Points of one lead over the panel's span, min/max-decimated per output pixel column. Where
/// samples are missing (NaN) a point has a NaN value: the trace breaks there.
pub fn trace_points(
    panel: &Panel,
    samples_mv: &[f32],
    fs_hz: f64,
    column_mm: f64,
) -> Vec<(f64, f64)> {
    let n = samples_mv.len();
    if n == 0 {
        return Vec::new();
    }
    let first = ((panel.start_s * fs_hz).ceil().max(0.0) as usize).min(n);
    // Include the sample at end_s when it exists, so adjacent columns meet.
    let last = (((panel.end_s * fs_hz) + 1e-9).floor() as usize).min(n - 1);
    if first > last {
        return Vec::new();
    }
    let point = |i: usize| {
        (
            panel.x_from_seconds(i as f64 / fs_hz),
            panel.y_from_mv(samples_mv[i] as f64),
        )
    };
    let samples_per_column = fs_hz * column_mm / panel.paper_speed_mm_s;
    if samples_per_column <= 2.0 {
        return (first..=last).map(point).collect();
    }
    let mut out = Vec::with_capacity(2 * ((last - first) as f64 / samples_per_column) as usize + 4);
    let column_of = |i: usize| ((i - first) as f64 / samples_per_column).floor() as usize;
    let mut i = first;
    while i <= last {
        let col = column_of(i);
        let mut extremes: Option<(usize, usize)> = None;
        let mut gap = false;
        let mut j = i;
        while j <= last && column_of(j) == col {
            let v = samples_mv[j];
            if v.is_nan() {
                gap = true;
            } else {
                extremes = Some(match extremes {
                    None => (j, j),
                    Some((lo, hi)) => (
                        if v < samples_mv[lo] { j } else { lo },
                        if v > samples_mv[hi] { j } else { hi },
                    ),
                });
            }
            j += 1;
        }
        if let Some((i_min, i_max)) = extremes {
            let (a, b) = if i_min <= i_max {
                (i_min, i_max)
            } else {
                (i_max, i_min)
            };
            out.push(point(a));
            if b != a {
                out.push(point(b));
            }
        }
        if gap {
            // the caller breaks the trace at a NaN point
            out.push((f64::NAN, f64::NAN));
        }
        i = j;
    }
    out
}

/// (time s, value) of the Grad-CAM map on the record's time axis.
fn gradcam_series(ex: &Explanation) -> Option<Vec<(f64, f64)>> {
    let cam = ex.gradcam.as_ref()?;
    if cam.map.is_empty() || !(ex.model_fs_hz > 0.0) {
        return None;
    }
    Some(
        cam.map
            .iter()
            .enumerate()
            .map(|(i, v)| (ex.model_start_s + i as f64 / ex.model_fs_hz, *v as f64))
            .collect(),
    )
}

/// (time s, entropy) of the valid time steps.
fn entropy_series(ex: &Explanation) -> Vec<(f64, f64)> {
    let (a, b) = ex.valid_steps;
    let b = b.min(ex.entropy.len()).min(ex.step_times_s.len());
    (a.min(b)..b)
        .map(|i| (ex.step_times_s[i], ex.entropy[i] as f64))
        .collect()
}

/// The part of a time series inside [t0, t1], interpolated at both ends.
pub fn clip_series(series: &[(f64, f64)], t0: f64, t1: f64) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    for w in 0..series.len() {
        let (t, v) = series[w];
        if w > 0 {
            let (tp, vp) = series[w - 1];
            let lerp = |at: f64| vp + (v - vp) * (at - tp) / (t - tp);
            if tp < t0 && t > t0 {
                out.push((t0, lerp(t0)));
            }
            if tp < t1 && t > t1 {
                out.push((t1, lerp(t1)));
            }
        }
        if t >= t0 && t <= t1 {
            out.push((t, v));
        }
    }
    out
}

/// Mean value of a series in consecutive bins of `bin_s` seconds over [t0, t1]; empty bins are
/// skipped.
fn binned(series: &[(f64, f64)], t0: f64, t1: f64, bin_s: f64) -> Vec<(f64, f64, f64)> {
    let n_bins = ((t1 - t0) / bin_s).ceil().max(0.0) as usize;
    let mut sum = vec![0.0; n_bins];
    let mut count = vec![0usize; n_bins];
    for &(t, v) in series {
        if t >= t0 && t < t1 {
            let b = (((t - t0) / bin_s) as usize).min(n_bins.saturating_sub(1));
            sum[b] += v;
            count[b] += 1;
        }
    }
    (0..n_bins)
        .filter(|&b| count[b] > 0)
        .map(|b| {
            (
                t0 + b as f64 * bin_s,
                (t0 + (b + 1) as f64 * bin_s).min(t1),
                sum[b] / count[b] as f64,
            )
        })
        .collect()
}

fn draw_track(
    track: &Track,
    explanation: Option<&Explanation>,
    column_mm: f64,
    out: &mut Vec<Primitive>,
) {
    track_frame(track, Some(("1".into(), "0".into())), out);
    let series = match (track.kind, explanation) {
        (TrackKind::Entropy, Some(ex)) => Some(entropy_series(ex)),
        (TrackKind::GradCam, Some(ex)) => gradcam_series(ex),
        _ => None,
    };
    let mut name = track.kind.label().to_string();
    match series {
        Some(series) => {
            let clipped = clip_series(&series, track.start_s, track.end_s);
            if track.kind == TrackKind::GradCam {
                if let Some(cam) = explanation.and_then(|e| e.gradcam.as_ref()) {
                    name = format!("Grad-CAM ({}, block {})", cam.output_name, cam.block);
                }
                let bin_s = GRADCAM_BIN_MM.max(column_mm) / track.paper_speed_mm_s;
                for (t0, t1, v) in binned(&series, track.start_s, track.end_s, bin_s) {
                    let x0 = track.x_from_seconds(t0);
                    let y = track.y_from_value(v);
                    out.push(Primitive::Rect {
                        rect: RectMm::new(
                            x0,
                            y,
                            track.x_from_seconds(t1) - x0,
                            track.rect.bottom() - y,
                        ),
                        fill: Some(palette::gradcam_colour(v as f32)),
                        stroke: None,
                    });
                }
            }
            let points = decimate_series(&clipped, track, column_mm);
            if track.kind == TrackKind::Entropy && points.len() >= 2 {
                let mut poly = points.clone();
                poly.push((points[points.len() - 1].0, track.rect.bottom()));
                poly.push((points[0].0, track.rect.bottom()));
                out.push(Primitive::Polygon {
                    points: poly,
                    fill: palette::ENTROPY_FILL,
                });
            }
            if points.len() >= 2 {
                let colour = match track.kind {
                    TrackKind::Entropy => palette::ENTROPY_LINE,
                    TrackKind::GradCam | TrackKind::Signal(_) => palette::GRADCAM_LINE,
                };
                out.push(Primitive::Polyline {
                    points,
                    stroke: Stroke {
                        colour,
                        width_mm: 0.25,
                    },
                });
            }
        }
        None => {
            name = format!("{name}: not computed");
        }
    }
    out.push(track_name(track, name));
}

/// A track's frame and, when given, the values at its top and bottom in the gutter before it.
fn track_frame(track: &Track, scale: Option<(String, String)>, out: &mut Vec<Primitive>) {
    out.push(Primitive::Rect {
        rect: track.rect,
        fill: None,
        stroke: Some(Stroke {
            colour: palette::MUTED_INK,
            width_mm: 0.15,
        }),
    });
    let Some((top, bottom)) = scale else { return };
    for (text, y) in [(top, track.rect.y + 2.0), (bottom, track.rect.bottom())] {
        out.push(Primitive::Text {
            pos: (track.rect.x - 0.8, y),
            text,
            size_mm: 2.2,
            colour: palette::MUTED_INK,
            anchor: TextAnchor::End,
            bold: false,
        });
    }
}

/// A track's name at its top left.
fn track_name(track: &Track, name: String) -> Primitive {
    Primitive::Text {
        pos: (track.rect.x + 1.0, track.rect.y + 2.6),
        text: name,
        size_mm: 2.2,
        colour: palette::INK,
        anchor: TextAnchor::Start,
        bold: false,
    }
}

/// A number on a signal track's scale: as many decimals as its size needs (3 significant
/// digits), no trailing zeros.
pub fn scale_value_text(v: f32) -> String {
    let magnitude = v.abs().max(1e-6).log10().floor() as i32;
    let decimals = (2 - magnitude).clamp(0, 6) as usize;
    let text = format!("{v:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    if text == "-0" { "0".into() } else { text }
}

/// `(time s, value in [0, 1])` runs of an other signal inside [t0, t1], scaled by its range over
/// the record; a missing value (NaN) ends a run, so a gap is drawn as a gap. Only the values in
/// the window are visited, so a long record costs what its window holds.
pub fn signal_runs(signal: &OtherSignal, t0: f64, t1: f64) -> Vec<Vec<(f64, f64)>> {
    let Some((lo, hi)) = signal.value_range() else {
        return Vec::new();
    };
    let values = signal.values();
    let n = values.len();
    let index = |t: f64| ((t - signal.start_s) * signal.fs_hz).max(0.0);
    let first = (index(t0).floor() as usize).saturating_sub(1).min(n);
    let end = ((index(t1).ceil() as usize).saturating_add(2)).min(n);
    let mut runs = Vec::new();
    let mut run: Vec<(f64, f64)> = Vec::new();
    for i in first..end {
        let v = values[i];
        if v.is_finite() {
            run.push((signal.time_s(i), f64::from((v - lo) / (hi - lo))));
        } else if !run.is_empty() {
            runs.push(std::mem::take(&mut run));
        }
    }
    if !run.is_empty() {
        runs.push(run);
    }
    runs.into_iter()
        .map(|r| clip_series(&r, t0, t1))
        .filter(|r| !r.is_empty())
        .collect()
}

/// A track of a signal recorded with the leads (ABP, PLETH): its curve in its own units, the
/// range it is scaled to written in the gutter, its name and units at the top left.
fn draw_signal_track(
    track: &Track,
    signal: &OtherSignal,
    column_mm: f64,
    out: &mut Vec<Primitive>,
) {
    let range = signal.value_range();
    track_frame(
        track,
        range.map(|(lo, hi)| (scale_value_text(hi), scale_value_text(lo))),
        out,
    );
    let name = match range {
        Some(_) => signal.label(),
        None => format!("{}: no data", signal.label()),
    };
    for run in signal_runs(signal, track.start_s, track.end_s) {
        let points = decimate_series(&run, track, column_mm);
        if points.len() >= 2 {
            out.push(Primitive::Polyline {
                points,
                stroke: Stroke {
                    colour: palette::INK,
                    width_mm: 0.2,
                },
            });
        }
    }
    out.push(track_name(track, name));
}

/// A track's curve in mm, min/max-decimated per output pixel column.
fn decimate_series(series: &[(f64, f64)], track: &Track, column_mm: f64) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::new();
    let mut i = 0;
    while i < series.len() {
        let col = ((track.x_from_seconds(series[i].0) - track.rect.x) / column_mm).floor();
        let (mut lo, mut hi) = (i, i);
        let mut j = i;
        while j < series.len()
            && ((track.x_from_seconds(series[j].0) - track.rect.x) / column_mm).floor() == col
        {
            if series[j].1 < series[lo].1 {
                lo = j;
            }
            if series[j].1 > series[hi].1 {
                hi = j;
            }
            j += 1;
        }
        let (a, b) = if lo <= hi { (lo, hi) } else { (hi, lo) };
        for k in [a, b] {
            if k == a || b != a {
                out.push((
                    track.x_from_seconds(series[k].0),
                    track.y_from_value(series[k].1),
                ));
            }
        }
        i = j;
    }
    out
}

fn landmarks(panel: &Panel, beats: &[Beat], fs_hz: f64, out: &mut Vec<Primitive>) {
    if !(fs_hz > 0.0) {
        return;
    }
    let bar_y = panel.rect.bottom() - 2.2;
    let mut wave = |w: &Wave| {
        let t0 = w.onset as f64 / fs_hz;
        let t1 = w.offset as f64 / fs_hz;
        let (c0, c1) = (t0.max(panel.start_s), t1.min(panel.end_s));
        if c1 < c0 {
            return;
        }
        let colour = landmark_colour(w.kind);
        let x0 = panel.x_from_seconds(c0);
        let x1 = panel.x_from_seconds(c1);
        out.push(Primitive::Rect {
            rect: RectMm::new(x0, bar_y, (x1 - x0).max(0.2), 1.2),
            fill: Some(palette::with_alpha(colour, 200)),
            stroke: None,
        });
        let tick = Stroke {
            colour,
            width_mm: 0.2,
        };
        for (t, x) in [(t0, x0), (t1, x1)] {
            if t >= panel.start_s && t <= panel.end_s {
                out.push(Primitive::Line {
                    from: (x, bar_y - 0.8),
                    to: (x, bar_y + 2.0),
                    stroke: tick,
                });
            }
        }
    };
    for beat in beats {
        if let Some(p) = &beat.p {
            wave(p);
        }
        wave(&beat.qrs);
        if let Some(t) = &beat.t {
            wave(t);
        }
    }
}

/// Pacemaker spikes: a short tick down from the panel's top edge, as ECG machines mark them.
fn pacing_marks(panel: &Panel, spikes: &[usize], fs_hz: f64, out: &mut Vec<Primitive>) {
    if !(fs_hz > 0.0) {
        return;
    }
    let stroke = Stroke {
        colour: palette::INK,
        width_mm: 0.3,
    };
    for &s in spikes {
        let t = s as f64 / fs_hz;
        if t < panel.start_s || t > panel.end_s {
            continue;
        }
        let x = panel.x_from_seconds(t);
        out.push(Primitive::Line {
            from: (x, panel.rect.y),
            to: (x, panel.rect.y + 2.5),
            stroke,
        });
    }
}

/// Colour of a landmark kind (shared with the app).
pub fn landmark_colour(kind: WaveKind) -> Rgba {
    match kind {
        WaveKind::P => palette::LANDMARK_P,
        WaveKind::Qrs => palette::LANDMARK_QRS,
        WaveKind::T => palette::LANDMARK_T,
    }
}

fn time_axis(layout: &LayoutDescription, out: &mut Vec<Primitive>) {
    let span_s = layout.end_s - layout.start_s;
    if !(span_s > 0.0) {
        return;
    }
    // A label at least every 12 mm: 1 s at 25 mm/s, coarser at slow paper speeds.
    let step_s = [0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0]
        .into_iter()
        .find(|s| s * layout.paper_speed_mm_s >= 12.0)
        .unwrap_or(600.0);
    let x_of = |t: f64| layout.axis.x + (t - layout.start_s) * layout.paper_speed_mm_s;
    let mut t = (layout.start_s / step_s).ceil() * step_s;
    let stroke = Stroke {
        colour: palette::MUTED_INK,
        width_mm: 0.15,
    };
    while t <= layout.end_s + 1e-9 {
        let x = x_of(t);
        out.push(Primitive::Line {
            from: (x, layout.axis.y),
            to: (x, layout.axis.y + 0.8),
            stroke,
        });
        out.push(Primitive::Text {
            pos: (x, layout.axis.y + 3.2),
            text: format!("{} s", trim_number(t)),
            size_mm: 2.2,
            colour: palette::MUTED_INK,
            anchor: TextAnchor::Middle,
            bold: false,
        });
        t += step_s;
    }
}

fn trim_number(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn title(input: &FigureInput, layout: &LayoutDescription, out: &mut Vec<Primitive>) {
    let meta = &input.ecg.meta;
    let mut head = format!(
        "Record {}",
        if meta.id.is_empty() {
            "(unnamed)"
        } else {
            &meta.id
        }
    );
    if let Some(age) = meta.age_years {
        head.push_str(&format!(" · {age:.0} y"));
    }
    if let Some(sex) = meta.sex {
        head.push_str(&format!(" · {sex}"));
    }
    head.push_str(&format!(
        " · {} Hz · {} leads",
        trim_number(input.ecg.fs_hz),
        input.ecg.n_leads()
    ));
    out.push(Primitive::Text {
        pos: (layout.title.x, layout.title.y + 4.2),
        text: head,
        size_mm: 4.0,
        colour: palette::INK,
        anchor: TextAnchor::Start,
        bold: false,
    });
    let labels = if meta.labels.is_empty() {
        "none".to_string()
    } else {
        meta.labels.join(", ")
    };
    let mut line = format!("true labels: {labels}");
    if let Some(ex) = input.explanation {
        line.push_str("   ·   ");
        line.push_str(&prediction_text(ex));
    }
    out.push(Primitive::Text {
        pos: (layout.title.x, layout.title.y + 9.0),
        text: line,
        size_mm: TEXT_MM,
        colour: palette::INK,
        anchor: TextAnchor::Start,
        bold: false,
    });
}

/// "predicted: MI · probabilities: NORM 0.12, MI 0.91, ..." (regression: "output: age = 54.2").
pub fn prediction_text(ex: &Explanation) -> String {
    use crate::model::config::Task;
    let p = &ex.prediction;
    match p.task {
        Task::Regression => {
            let parts: Vec<String> = p
                .output_names
                .iter()
                .zip(&p.raw)
                .map(|(n, v)| format!("{n} = {v:.1}"))
                .collect();
            format!("model output: {}", parts.join(", "))
        }
        _ => {
            let predicted = if p.predicted_labels.is_empty() {
                "none".to_string()
            } else {
                p.predicted_labels.join(", ")
            };
            let probs: Vec<String> = p
                .output_names
                .iter()
                .zip(&p.probabilities)
                .map(|(n, v)| format!("{n} {v:.2}"))
                .collect();
            format!(
                "predicted: {predicted}   (probabilities: {})",
                probs.join(", ")
            )
        }
    }
}

/// Rough text width for laying out the legend and fitting the measurement line (DejaVu Sans
/// averages ~0.55 em per glyph, its bold ~0.62).
pub(crate) fn text_width_mm(text: &str, size_mm: f64, bold: bool) -> f64 {
    let em = if bold { 0.64 } else { 0.58 };
    em * size_mm * text.chars().count() as f64
}

fn legend(
    input: &FigureInput,
    spec: &FigureSpec,
    layout: &LayoutDescription,
    out: &mut Vec<Primitive>,
) {
    let mut entries: Vec<(Rgba, String)> = Vec::new();
    if spec.layers.clusters
        && let Some(ex) = input.explanation
    {
        for c in 0..ex.k {
            let share = ex
                .proportions
                .get(c)
                .map(|p| format!(" ({:.0}%)", p * 100.0))
                .unwrap_or_default();
            entries.push((
                palette::cluster_colour(c),
                format!(
                    "{}{share}",
                    palette::cluster_display_name(c, input.cluster_names.as_deref())
                ),
            ));
        }
    }
    if spec.layers.landmarks && input.delineation.is_some() {
        for kind in [WaveKind::P, WaveKind::Qrs, WaveKind::T] {
            let name = match kind {
                WaveKind::P => "P wave",
                WaveKind::Qrs => "QRS",
                WaveKind::T => "T wave",
            };
            entries.push((landmark_colour(kind), name.to_string()));
        }
        if input
            .delineation
            .is_some_and(|d| !d.pacing_spikes.is_empty())
        {
            entries.push((palette::INK, "pacing spike".to_string()));
        }
    }
    if spec.layers.reference {
        for layer in input.reference {
            let on = match &layer.file.lead {
                Some(lead) => format!(" on {lead}"),
                None => String::new(),
            };
            entries.push((
                palette::MUTED_INK,
                format!("reference .{}{on} (brackets)", layer.file.extension),
            ));
        }
    }
    let rect = layout.legend;
    let line_h = 3.4;
    let (mut x, mut y) = (rect.x, rect.y + 1.0);
    for (colour, name) in entries {
        let w = 4.5 + text_width_mm(&name, TEXT_MM, false) + 3.0;
        if x > rect.x && x + w > rect.right() {
            x = rect.x;
            y += line_h;
        }
        out.push(Primitive::Rect {
            rect: RectMm::new(x, y, 3.5, 2.6),
            fill: Some(colour),
            stroke: Some(Stroke {
                colour: palette::MUTED_INK,
                width_mm: 0.1,
            }),
        });
        out.push(Primitive::Text {
            pos: (x + 4.5, y + 2.4),
            text: name,
            size_mm: TEXT_MM,
            colour: palette::INK,
            anchor: TextAnchor::Start,
            bold: false,
        });
        x += w;
    }
}

fn footer(
    input: &FigureInput,
    spec: &FigureSpec,
    layout: &LayoutDescription,
    out: &mut Vec<Primitive>,
) {
    let mut parts = Vec::new();
    if let Some(ex) = input.explanation {
        parts.push(format!("model: {}", ex.model_name));
        parts.push(format!("explainer: {} (K = {})", ex.explainer_name, ex.k));
        if let Some(r) = ex.entropy_gradcam_correlation {
            parts.push(format!("r(entropy, Grad-CAM) = {r:.2}"));
        }
    }
    parts.push(format!(
        "{} mm/s · {} mm/mV · grid 1 mm / 5 mm",
        trim_number(spec.paper_speed_mm_s),
        trim_number(spec.gain_mm_mv)
    ));
    parts.push(format!(
        "window {}–{} s",
        trim_number(layout.start_s),
        trim_number(layout.end_s)
    ));
    // A model applied to data unlike what it learnt from says so on the figure too, on a
    // line of its own above the settings line.
    let notes = input
        .explanation
        .map(|ex| ex.data_notes.join(" "))
        .unwrap_or_default();
    let settings_y = if notes.is_empty() { 4.0 } else { 5.3 };
    if !notes.is_empty() {
        out.push(Primitive::Text {
            pos: (layout.footer.x, layout.footer.y + 2.5),
            text: format!("Note: {notes}"),
            size_mm: 2.3,
            colour: palette::WARNING_INK,
            anchor: TextAnchor::Start,
            bold: false,
        });
    }
    out.push(Primitive::Text {
        pos: (layout.footer.x, layout.footer.y + settings_y),
        text: parts.join("   ·   "),
        size_mm: 2.3,
        colour: palette::MUTED_INK,
        anchor: TextAnchor::Start,
        bold: false,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figure::layout::compute_layout;
    use crate::record::{EcgMeta, LeadName};
    use ndarray::Array2;

    fn ecg(fs_hz: f64, seconds: f64) -> Ecg {
        let n = (fs_hz * seconds) as usize;
        let data = Array2::from_shape_fn((2, n), |(l, i)| {
            ((i as f32 / fs_hz as f32) * 7.0 + l as f32).sin()
        });
        let meta = EcgMeta {
            id: "s1".into(),
            ..Default::default()
        };
        Ecg::new(vec![LeadName::I, LeadName::II], fs_hz, data, meta).unwrap()
    }

    /// A record with a 125 Hz pressure signal starting 0.5 s before the leads and missing
    /// values from 4 s to 5 s on the leads' axis.
    fn with_pressure() -> Ecg {
        let e = ecg(500.0, 10.0);
        let fs_hz = 125.0;
        let values = (0..(10.5 * fs_hz) as usize)
            .map(|i| {
                let t = i as f64 / fs_hz - 0.5;
                if (4.0..5.0).contains(&t) {
                    f32::NAN
                } else {
                    (100.0 + 20.0 * (t * 6.0).sin()) as f32
                }
            })
            .collect();
        e.with_other_signals(vec![OtherSignal::new(
            "ABP".into(),
            "mmHg".into(),
            fs_hz,
            -0.5,
            values,
        )])
    }

    #[test]
    fn an_other_signal_gets_a_track_on_the_leads_time_axis_with_its_gap() {
        let e = with_pressure();
        let spec = FigureSpec::default();
        let layout = compute_layout(&e, &spec).unwrap();
        let track = layout
            .tracks
            .iter()
            .find(|t| t.kind == TrackKind::Signal(0))
            .expect("a track for the ABP");
        // first under the leads, before the analysis tracks
        assert_eq!(layout.tracks[0].kind, TrackKind::Signal(0));
        let input = FigureInput::record(&e);
        let prims = tracks(&input, &layout, 0.1);
        let texts: Vec<&str> = prims
            .iter()
            .filter_map(|p| match p {
                Primitive::Text { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        assert!(texts.contains(&"ABP (mmHg)"), "{texts:?}");
        // the scale is the signal's range: 80 to 120 mmHg (to 3 significant digits)
        assert!(texts.contains(&"120") && texts.contains(&"80"), "{texts:?}");
        let lines: Vec<&Vec<(f64, f64)>> = prims
            .iter()
            .filter_map(|p| match p {
                Primitive::Polyline { points, .. } => Some(points),
                _ => None,
            })
            .filter(|pts| {
                pts.iter()
                    .all(|p| track.rect.contains_rect(&RectMm::new(p.0, p.1, 0.0, 0.0)))
            })
            .collect();
        // two runs: before and after the 1 s gap, none across it
        assert_eq!(lines.len(), 2, "{}", lines.len());
        let gap = (track.x_from_seconds(4.0), track.x_from_seconds(5.0));
        for line in &lines {
            assert!(
                line.iter()
                    .all(|p| p.0 <= gap.0 + 0.2 || p.0 >= gap.1 - 0.2)
            );
        }
        // the values before the leads' start are not drawn left of the track
        assert!(lines[0][0].0 >= track.rect.x - 1e-9);
        // switched off, no track
        let off = FigureSpec {
            layers: crate::figure::Layers {
                other_signals: false,
                ..Default::default()
            },
            ..Default::default()
        };
        let layout = compute_layout(&e, &off).unwrap();
        assert!(layout.tracks.iter().all(|t| t.kind != TrackKind::Signal(0)));
    }

    #[test]
    fn signal_runs_visit_only_the_window_and_scale_to_the_range() {
        let e = with_pressure();
        let s = &e.other_signals[0];
        let runs = signal_runs(s, 1.0, 2.0);
        assert_eq!(runs.len(), 1);
        let run = &runs[0];
        assert!((run[0].0 - 1.0).abs() < 1e-9 && (run[run.len() - 1].0 - 2.0).abs() < 1e-9);
        // 125 Hz over 1 s: 126 values, plus the interpolated ends at most
        assert!((125..=128).contains(&run.len()), "{}", run.len());
        assert!(run.iter().all(|&(_, v)| (0.0..=1.0).contains(&v)));
        assert_eq!(signal_runs(s, 4.2, 4.8).len(), 0);
        assert_eq!(signal_runs(s, 3.0, 6.0).len(), 2);
    }

    #[test]
    fn scale_values_read_like_a_monitor() {
        assert_eq!(scale_value_text(120.0), "120");
        assert_eq!(scale_value_text(80.26), "80.3");
        assert_eq!(scale_value_text(0.5), "0.5");
        assert_eq!(scale_value_text(-0.0001), "-0.0001");
        assert_eq!(scale_value_text(0.0), "0");
        assert_eq!(scale_value_text(12345.0), "12345");
    }

    #[test]
    fn a_gap_breaks_the_trace_decimated_or_not() {
        let e = ecg(500.0, 10.0);
        let mut data = e.samples_mv.clone();
        data.slice_mut(ndarray::s![.., 2000..2500]).fill(f32::NAN);
        let gapped = Ecg::with_gaps(e.leads.clone(), e.fs_hz, data, e.meta.clone()).unwrap();
        let polylines = |ecg: &Ecg, dpi: f64| -> Vec<Vec<(f64, f64)>> {
            let spec = FigureSpec {
                dpi,
                ..Default::default()
            };
            let layout = compute_layout(ecg, &spec).unwrap();
            traces(ecg, &layout, 25.4 / dpi)
                .into_iter()
                .filter_map(|p| match p {
                    Primitive::Polyline { points, .. } => Some(points),
                    _ => None,
                })
                .collect()
        };
        for dpi in [50.0, 600.0] {
            let whole = polylines(&e, dpi);
            let broken = polylines(&gapped, dpi);
            assert!(broken.len() > whole.len(), "dpi {dpi}: the gap is joined");
            for line in &broken {
                assert!(line.iter().all(|p| p.0.is_finite() && p.1.is_finite()));
                // no step across the 1 s (25 mm) gap inside one polyline
                assert!(line.windows(2).all(|w| (w[1].0 - w[0].0).abs() < 10.0));
            }
        }
    }

    #[test]
    fn decimation_keeps_extremes_and_bounds_points() {
        let e = ecg(1000.0, 10.0);
        let spec = FigureSpec {
            dpi: 100.0,
            ..Default::default()
        };
        let layout = compute_layout(&e, &spec).unwrap();
        let panel = &layout.panels[0];
        let mut samples: Vec<f32> = e.samples_mv.row(0).to_vec();
        samples[5003] = 4.0; // a spike one sample wide
        let points = trace_points(panel, &samples, e.fs_hz, 25.4 / spec.dpi);
        let columns = (panel.rect.w / (25.4 / spec.dpi)).ceil() as usize;
        assert!(
            points.len() <= 2 * columns + 2,
            "{} points for {columns} columns",
            points.len()
        );
        let top = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
        assert!((top - panel.y_from_mv(4.0)).abs() < 1e-9, "spike lost");
        // x is monotone.
        assert!(points.windows(2).all(|w| w[1].0 >= w[0].0));
        // At 300 DPI and 100 Hz no decimation: one point per sample.
        let e = ecg(100.0, 10.0);
        let layout = compute_layout(&e, &FigureSpec::default()).unwrap();
        let s: Vec<f32> = e.samples_mv.row(0).to_vec();
        assert_eq!(
            trace_points(&layout.panels[0], &s, 100.0, 25.4 / 300.0).len(),
            1000
        );
    }

    #[test]
    fn bands_merge_over_touching_rows_only() {
        let e = ecg(250.0, 10.0);
        let layout = compute_layout(&e, &FigureSpec::default()).unwrap();
        let areas = band_areas(&layout);
        assert_eq!(areas.len(), 1);
        assert!((areas[0].rect.h - 2.0 * layout.panels[0].rect.h).abs() < 1e-9);
        let twelve = Ecg::new(
            LeadName::standard_12(),
            100.0,
            Array2::zeros((12, 1000)),
            EcgMeta::default(),
        )
        .unwrap();
        let spec = FigureSpec {
            layout: crate::figure::Layout::clinical(),
            ..Default::default()
        };
        let layout = compute_layout(&twelve, &spec).unwrap();
        // Four columns of three rows, and the rhythm strip (a different span).
        assert_eq!(band_areas(&layout).len(), 5);
    }

    #[test]
    fn clip_interpolates_at_edges() {
        let s = vec![(0.0, 0.0), (1.0, 1.0), (2.0, 0.0)];
        let c = clip_series(&s, 0.5, 1.5);
        assert_eq!(c, vec![(0.5, 0.5), (1.0, 1.0), (1.5, 0.5)]);
        let b = binned(&[(0.1, 1.0), (0.2, 3.0), (1.5, 5.0)], 0.0, 2.0, 1.0);
        assert_eq!(b, vec![(0.0, 1.0, 2.0), (1.0, 2.0, 5.0)]);
    }

    #[test]
    fn record_alone_has_traces_grid_and_empty_tracks() {
        let e = ecg(250.0, 4.0);
        let spec = FigureSpec::default();
        let layout = compute_layout(&e, &spec).unwrap();
        let scene = build_scene(&FigureInput::record(&e), &spec, &layout).unwrap();
        let traces = scene.layer("traces").unwrap();
        let n_lines = traces
            .primitives
            .iter()
            .filter(|p| matches!(p, Primitive::Polyline { .. }))
            .count();
        assert_eq!(n_lines, 4, "two traces and two calibration pulses");
        assert!(scene.layer("clusters").is_none());
        let texts: Vec<&str> = scene
            .layers
            .iter()
            .flat_map(|l| &l.primitives)
            .filter_map(|p| {
                if let Primitive::Text { text, .. } = p {
                    Some(text.as_str())
                } else {
                    None
                }
            })
            .collect();
        assert!(texts.iter().any(|t| t.contains("Record s1")));
        assert!(texts.iter().any(|t| t.contains("entropy: not computed")));
        // Grid: 1 mm lines over the paper.
        let grid = scene.layer("grid").unwrap();
        let n: usize = grid
            .primitives
            .iter()
            .map(|p| {
                if let Primitive::Lines { segments, .. } = p {
                    segments.len()
                } else {
                    0
                }
            })
            .sum();
        let expected =
            (layout.paper.w.floor() as usize + 1) + (layout.paper.h.floor() as usize + 1);
        assert_eq!(n, expected);
    }
}
