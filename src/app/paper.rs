//! The ECG on paper: leads at true proportions (1 mm grid, 5 mm bold; paper speed and gain in
//! mm), cluster bands, landmarks, Grad-CAM overlay, and the entropy and Grad-CAM tracks on the
//! same time axis. Everything is laid out in millimetres first and scaled to the screen by one
//! factor (points per mm), so proportions hold at any zoom and all leads pan and zoom together.

use egui::{
    Align2, Color32, FontId, Pos2, Rect, Response, Sense, Shape, Stroke, Ui, Vec2, pos2, vec2,
};

use crate::delineate::{Beat, Delineation, SegmentLabel, WaveKind};
use crate::figure::calipers::{CALIPER_COLOUR, Caliper, LEG_HALF_MM};
use crate::figure::reference::{self as reference, MarkInSpan, ReferenceLayer};
use crate::record::{Ecg, LeadName};
use crate::tlc::Explanation;

use super::backdrop;
use super::colors;
use super::settings::{Layers, Settings};

/// Space around the page on screen (mm).
const SCREEN_MARGIN_MM: f64 = 4.0;
/// The fit modes fit this many seconds (or the whole record when shorter) at the reference
/// paper speed and gain; a faster speed or a larger gain then makes the tracing larger.
const FIT_WINDOW_S: f64 = 10.0;
/// Reference scales of the fit modes (the clinical defaults).
pub const REFERENCE_SPEED_MM_S: f32 = 25.0;
pub const REFERENCE_GAIN_MM_MV: f32 = 10.0;
/// Height of the overview strip of long records and of the time ruler (points).
const OVERVIEW_HEIGHT: f32 = 46.0;
const RULER_HEIGHT: f32 = 18.0;
/// Rows stretched to fill the panel stop at this height (4 mV at 10 mm/mV, more than a
/// printout gives a lead): a 2-lead Holter record otherwise got rows so tall that its trace
/// and its landmark marks sat a hand's width apart.
const MAX_STRETCHED_ROW_MM: f32 = 40.0;
/// Tracks are drawn at most this many points per mm high (10 mm tracks: 40 points).
const MAX_TRACK_POINTS_PER_MM: f32 = 4.0;

/// One lead drawn over a time span in a rectangle of the page (mm).
#[derive(Debug, Clone, PartialEq)]
pub struct LeadPanel {
    /// Row of `Ecg::samples_mv`.
    pub row: usize,
    /// The lead of the layout's slot (the record's lead in `row` may be its equivalent).
    pub lead: LeadName,
    pub t0_s: f64,
    pub t1_s: f64,
    pub rect_mm: Rect,
    /// Vertical position (mm) of 0 mV.
    pub baseline_mm: f32,
    /// The 1 mV x 0.2 s pulse in the gutter before the row: (x, width, height) in mm.
    pub calibration: Option<(f32, f32, f32)>,
    /// Column of the clinical grid (0 for full-width rows).
    pub column: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackKind {
    Entropy,
    GradCam,
    /// `Ecg::other_signals[i]` (ABP, PLETH, ...), in its own units.
    Signal(usize),
}

/// A track under the leads on the same time axis.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackPanel {
    pub kind: TrackKind,
    pub t0_s: f64,
    pub t1_s: f64,
    pub rect_mm: Rect,
}

/// The page of one time window in millimetres.
#[derive(Debug, Clone, PartialEq)]
pub struct PaperLayout {
    pub leads: Vec<LeadPanel>,
    pub tracks: Vec<TrackPanel>,
    pub size_mm: Vec2,
    pub speed_mm_s: f32,
    pub gain_mm_mv: f32,
    /// Left edge of the traces (after the calibration gutter) and the window's start time.
    pub trace_x_mm: f32,
    pub start_s: f64,
    /// Rows of the layout, including slots of leads the record lacks (drawn empty), and the
    /// rectangle they fill.
    pub n_rows: usize,
    pub rows_mm: Rect,
}

impl PaperLayout {
    /// Lay out `window_s` of the record as the exported figure does
    /// (`crate::figure::compute_layout` with the view's spec), without the title, legend and
    /// footer bands the app shows as widgets. Tracks are asked for only when they have data
    /// (`has_entropy`, `has_gradcam`); `row_height_mm` overrides the spec's row height.
    pub fn compute(
        ecg: &Ecg,
        settings: &Settings,
        has_entropy: bool,
        has_gradcam: bool,
        window_s: (f64, f64),
        row_height_mm: Option<f32>,
    ) -> Result<PaperLayout, crate::figure::FigureError> {
        let mut spec = super::export::spec_for_view(settings, ecg, Some(window_s));
        spec.layers.entropy &= has_entropy;
        spec.layers.gradcam &= has_gradcam;
        spec.title_height_mm = 0.0;
        spec.legend_height_mm = 0.0;
        spec.footer_height_mm = 0.0;
        spec.margin_mm = SCREEN_MARGIN_MM;
        spec.page = crate::figure::PageSize::Fit;
        if let Some(h) = row_height_mm {
            spec.row_height_mv = h as f64 / spec.gain_mm_mv;
        }
        let d = crate::figure::compute_layout(ecg, &spec)?;
        let rect = |r: crate::figure::RectMm| {
            Rect::from_min_size(pos2(r.x as f32, r.y as f32), vec2(r.w as f32, r.h as f32))
        };
        let leads: Vec<LeadPanel> = d
            .panels
            .iter()
            .filter_map(|p| {
                Some(LeadPanel {
                    row: p.lead_index?,
                    lead: p.lead.clone(),
                    t0_s: p.start_s,
                    t1_s: p.end_s,
                    rect_mm: rect(p.rect),
                    baseline_mm: p.baseline_y_mm as f32,
                    calibration: p
                        .calibration
                        .map(|c| (c.x_mm as f32, c.width_mm as f32, c.height_mm as f32)),
                    column: p.column,
                })
            })
            .collect();
        let tracks = d
            .tracks
            .iter()
            .map(|t| TrackPanel {
                kind: match t.kind {
                    crate::figure::TrackKind::Entropy => TrackKind::Entropy,
                    crate::figure::TrackKind::GradCam => TrackKind::GradCam,
                    crate::figure::TrackKind::Signal(i) => TrackKind::Signal(i),
                },
                t0_s: t.start_s,
                t1_s: t.end_s,
                rect_mm: rect(t.rect),
            })
            .collect();
        Ok(PaperLayout {
            leads,
            tracks,
            size_mm: vec2(d.page_width_mm as f32, d.page_height_mm as f32),
            speed_mm_s: d.paper_speed_mm_s as f32,
            gain_mm_mv: d.gain_mm_mv as f32,
            trace_x_mm: d.axis.x as f32,
            start_s: d.start_s,
            n_rows: d.panels.iter().map(|p| p.row + 1).max().unwrap_or(1),
            rows_mm: rect(d.paper),
        })
    }

    /// The horizontal position (mm) of time `t_s` in a panel that starts at `rect.left()`.
    fn x_mm(&self, rect: Rect, t0_s: f64, t_s: f64) -> f32 {
        rect.left() + ((t_s - t0_s) as f32) * self.speed_mm_s
    }

    fn t_s(&self, rect: Rect, t0_s: f64, x_mm: f32) -> f64 {
        t0_s + ((x_mm - rect.left()) / self.speed_mm_s) as f64
    }

    /// Top and bottom (mm) of the lead rows.
    fn leads_y_range(&self) -> (f32, f32) {
        (self.rows_mm.top(), self.rows_mm.bottom())
    }

    /// Height (mm) from the bottom of the leads to the bottom of the last track.
    fn tracks_height_mm(&self) -> f32 {
        let (_, leads_bottom) = self.leads_y_range();
        self.tracks
            .iter()
            .map(|t| t.rect_mm.bottom() - leads_bottom)
            .fold(0.0, f32::max)
    }
}

/// How the paper is scaled to the screen.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum ZoomMode {
    /// Every row and track visible, 10 s across at 25 mm/s (the paper speed and gain scale it).
    #[default]
    FitPage,
    /// 10 s across at 25 mm/s; rows may need vertical scrolling.
    FitWidth,
    /// Millimetres of paper are millimetres of screen (at the screen calibration).
    ActualSize,
    /// A zoom chosen with the wheel or the keys.
    Custom { points_per_mm: f32 },
}

/// Zoom and position of the paper view (runtime only).
#[derive(Debug, Clone, PartialEq)]
pub struct PaperView {
    pub zoom: ZoomMode,
    /// Record time (s) at the left edge of the traces.
    pub start_s: f64,
    /// Vertical scroll of the lead rows (mm of paper).
    pub offset_y_mm: f32,
    /// Time under the pointer (s), shared by all panels for the cursor line.
    pub hover_time_s: Option<f64>,
    /// Time span (s) on screen (for "export the visible span").
    pub visible_s: Option<(f64, f64)>,
    /// What the last frame used: canvas, points per mm, the window's length (s), the record's
    /// length (s) and where the traces start (mm), for keyboard zoom and paging.
    pub canvas: Rect,
    pub points_per_mm: f32,
    pub window_s: f64,
    pub duration_s: f64,
    trace_x_mm: f32,
    speed_mm_s: f32,
    /// The pointer is over the ECG view or its overview (page keys move the view then).
    pub pointer_over: bool,
    /// Why the layout differs from the one chosen (e.g. a rhythm lead the record lacks).
    pub note: Option<String>,
    /// The Caliper tool is on: a plain drag sets a caliper (with it off, Shift-drag does).
    pub caliper_tool: bool,
    /// The caliper Delete removes and M marches (index into the record's calipers).
    pub selected_caliper: Option<usize>,
    /// The caliper being dragged out.
    caliper_draft: Option<CaliperDraft>,
}

/// A caliper being dragged: the panel (index into the layout's leads) and the two ends (s, mV).
#[derive(Debug, Clone, PartialEq)]
struct CaliperDraft {
    panel: usize,
    lead: LeadName,
    from: (f64, f64),
    to: (f64, f64),
}

impl Default for PaperView {
    fn default() -> Self {
        PaperView {
            zoom: ZoomMode::default(),
            start_s: 0.0,
            offset_y_mm: 0.0,
            hover_time_s: None,
            visible_s: None,
            canvas: Rect::NOTHING,
            points_per_mm: 2.0,
            window_s: FIT_WINDOW_S,
            duration_s: 0.0,
            trace_x_mm: 0.0,
            speed_mm_s: REFERENCE_SPEED_MM_S,
            pointer_over: false,
            note: None,
            caliper_tool: false,
            selected_caliper: None,
            caliper_draft: None,
        }
    }
}

pub const MIN_POINTS_PER_MM: f32 = 0.3;
pub const MAX_POINTS_PER_MM: f32 = 40.0;

impl PaperView {
    /// Back to the fitted page at the record's start.
    pub fn reset(&mut self) {
        self.zoom = ZoomMode::FitPage;
        self.start_s = 0.0;
        self.offset_y_mm = 0.0;
        // Until the next frame lays the record out, no window is known to be visible.
        self.visible_s = None;
    }

    /// Multiply the zoom by `factor`, keeping the paper point under `anchor` (screen) still.
    pub fn zoom_about(&mut self, factor: f32, anchor: Pos2) {
        let canvas = self.canvas;
        let old = self.points_per_mm;
        let new = (old * factor).clamp(MIN_POINTS_PER_MM, MAX_POINTS_PER_MM);
        if canvas.is_positive() && self.window_s > 0.0 {
            let pps_old = self.points_per_s(old);
            let left_old = canvas.left() + self.trace_x_mm * old;
            let t_anchor = self.start_s + ((anchor.x - left_old) / pps_old) as f64;
            let pps_new = self.points_per_s(new);
            let left_new = canvas.left() + self.trace_x_mm * new;
            self.start_s = t_anchor - ((anchor.x - left_new) / pps_new) as f64;
            let anchor_y_mm = self.offset_y_mm + (anchor.y - canvas.top()) / old;
            self.offset_y_mm = anchor_y_mm - (anchor.y - canvas.top()) / new;
        }
        self.zoom = ZoomMode::Custom { points_per_mm: new };
    }

    fn points_per_s(&self, ppm: f32) -> f32 {
        (self.speed_mm_s * ppm).max(1e-3)
    }

    /// Move by `screens` screen widths (Page Up/Down).
    pub fn page(&mut self, screens: f64) {
        self.start_s += screens * self.window_s;
        self.clamp_start();
    }

    /// Show the record's start (Home) or end (End).
    pub fn go_to_start(&mut self) {
        self.start_s = 0.0;
    }
    pub fn go_to_end(&mut self) {
        self.start_s = self.duration_s;
        self.clamp_start();
    }

    /// Centre the window on record time `t_s`.
    pub fn centre_on(&mut self, t_s: f64) {
        self.start_s = t_s - self.window_s / 2.0;
        self.clamp_start();
    }

    fn clamp_start(&mut self) {
        let max = (self.duration_s - self.window_s).max(0.0);
        self.start_s = if self.start_s.is_finite() {
            self.start_s.clamp(0.0, max)
        } else {
            0.0
        };
    }

    /// The screen x of record time `t_s` on a full-width row, as the last frame drew it.
    pub fn screen_x_of(&self, t_s: f64) -> f32 {
        self.canvas.left()
            + self.trace_x_mm * self.points_per_mm
            + ((t_s - self.start_s) as f32) * self.points_per_s(self.points_per_mm)
    }

    /// Screen zoom relative to paper size at the calibration (1.0 = actual size).
    pub fn paper_scale(&self, actual_points_per_mm: f32) -> f32 {
        self.points_per_mm / actual_points_per_mm
    }
}

/// Parse a time typed by the user: seconds (`754.5`), `m:ss(.s)` or `h:mm:ss`.
pub fn parse_time(text: &str) -> Option<f64> {
    let mut total = 0.0;
    let parts: Vec<&str> = text
        .trim()
        .trim_end_matches('s')
        .trim()
        .split(':')
        .collect();
    if parts.len() > 3 {
        return None;
    }
    for (i, part) in parts.iter().enumerate() {
        let v: f64 = part.trim().parse().ok()?;
        if !v.is_finite() || v < 0.0 || (i > 0 && v >= 60.0) {
            return None;
        }
        total = total * 60.0 + v;
    }
    Some(total)
}

/// A time as the ruler and overview show it: `m:ss.s` for long records, `s.ss s` otherwise.
pub fn format_time(t_s: f64, long: bool) -> String {
    if long {
        let m = (t_s / 60.0).floor();
        format!("{}:{:04.1}", m as i64, t_s - m * 60.0)
    } else {
        format!("{t_s:.2} s")
    }
}

/// What the pointer is over.
#[derive(Debug, Clone, PartialEq)]
pub struct HoverInfo {
    pub lead: Option<LeadName>,
    pub time_s: f64,
    pub value_mv: Option<f32>,
    pub cluster: Option<usize>,
    pub entropy: Option<f32>,
    pub gradcam: Option<f32>,
    pub segment: Option<SegmentLabel>,
    /// Over an other signal's track: its name, value there and units (`ABP`, 95.3, `mmHg`).
    pub signal: Option<(String, f32, String)>,
}

impl HoverInfo {
    pub fn describe(&self, cluster_names: &[String]) -> String {
        let mut parts = Vec::new();
        if let Some(lead) = &self.lead {
            parts.push(format!("lead {lead}"));
        }
        parts.push(format!("t = {:.3} s", self.time_s));
        if let Some(v) = self.value_mv {
            parts.push(format!("{v:+.2} mV"));
        }
        if let Some(c) = self.cluster {
            let name = cluster_names
                .get(c)
                .cloned()
                .unwrap_or_else(|| format!("C{c}"));
            parts.push(format!("cluster {name}"));
        }
        if let Some(e) = self.entropy {
            parts.push(format!("entropy {e:.2}"));
        }
        if let Some(g) = self.gradcam {
            parts.push(format!("Grad-CAM {g:.2}"));
        }
        if let Some(s) = self.segment {
            parts.push(format!("segment {}", s.as_str()));
        }
        if let Some((name, v, units)) = &self.signal {
            let value = crate::figure::scene::scale_value_text(*v);
            parts.push(format!("{name} {value} {units}").trim_end().to_string());
        }
        parts.join("   ")
    }
}

/// The record and its analysis, borrowed for one frame.
#[derive(Clone, Copy)]
pub struct ViewData<'a> {
    pub ecg: &'a Ecg,
    pub explanation: Option<&'a Explanation>,
    pub delineation: Option<&'a Delineation>,
    /// Segment label per sample (from `crate::delineate::labels_per_sample`).
    pub segment_labels: Option<&'a [SegmentLabel]>,
    /// Reference annotation files shown under the leads.
    pub reference: &'a [ReferenceLayer],
    /// Min/max buckets of the whole record, for the overview strip.
    pub overview: &'a crate::dsp::overview::MinMaxOverview,
}

impl ViewData<'_> {
    /// Time step of the explanation nearest to `t_s`, if within the valid steps.
    pub fn step_at(&self, t_s: f64) -> Option<usize> {
        let ex = self.explanation?;
        let (first, end) = ex.valid_steps;
        if ex.step_duration_s <= 0.0 || first >= end || ex.step_times_s.len() < end {
            return None;
        }
        let t_first = ex.step_times_s[first];
        let idx = ((t_s - t_first) / ex.step_duration_s).round();
        if idx < 0.0 {
            return None;
        }
        let step = first + idx as usize;
        (step < end && (ex.step_times_s[step] - t_s).abs() <= ex.step_duration_s).then_some(step)
    }

    /// Grad-CAM value (0..1) at record time `t_s`.
    pub fn gradcam_at(&self, t_s: f64) -> Option<f32> {
        let ex = self.explanation?;
        let cam = ex.gradcam.as_ref()?;
        let m = ((t_s - ex.model_start_s) * ex.model_fs_hz).floor();
        if m < 0.0 {
            return None;
        }
        cam.map.get(m as usize).copied()
    }

    /// Segment label at sample `sample`.
    pub fn segment_at(&self, sample: usize) -> Option<SegmentLabel> {
        self.segment_labels?.get(sample).copied()
    }
}

/// Maps page millimetres to screen points (`ppm_y` may be smaller than `ppm`: tracks keep a
/// readable height when the paper is zoomed far in).
#[derive(Debug, Clone, Copy)]
struct Xf {
    origin: Pos2,
    ppm: f32,
    ppm_y: f32,
}

impl Xf {
    fn pt(&self, x_mm: f32, y_mm: f32) -> Pos2 {
        pos2(
            self.origin.x + x_mm * self.ppm,
            self.origin.y + y_mm * self.ppm_y,
        )
    }
    fn rect(&self, r: Rect) -> Rect {
        Rect::from_min_max(self.pt(r.min.x, r.min.y), self.pt(r.max.x, r.max.y))
    }
    fn mm(&self, p: Pos2) -> Pos2 {
        pos2(
            (p.x - self.origin.x) / self.ppm,
            (p.y - self.origin.y) / self.ppm_y,
        )
    }
}

/// Min/max decimation: one (min, max) pair per output column of `samples` over
/// `columns` equal slices of `[first, end)`; `None` for columns without samples.
pub fn min_max_columns(
    samples: &[f32],
    first: usize,
    end: usize,
    columns: usize,
) -> Vec<Option<(f32, f32)>> {
    let end = end.min(samples.len());
    let mut out = vec![None; columns];
    if first >= end || columns == 0 {
        return out;
    }
    let n = (end - first) as f64;
    for (c, slot) in out.iter_mut().enumerate() {
        let a = first + (n * c as f64 / columns as f64).floor() as usize;
        let b = (first + (n * (c + 1) as f64 / columns as f64).floor() as usize).min(end);
        if a >= b {
            continue;
        }
        // missing samples (NaN) are left out; a column of them only is a gap (None)
        *slot = samples[a..b]
            .iter()
            .filter(|v| !v.is_nan())
            .fold(None, |acc, &v| match acc {
                Some((lo, hi)) => Some((v.min(lo), v.max(hi))),
                None => Some((v, v)),
            });
    }
    out
}

/// A decimated trace as one mesh of upright bars, one per screen column from `x_a` on, each
/// covering its column's min..max widened by half the pen on both ends and stretched to touch
/// the previous column's range, so the trace is continuous; a `None` column (only missing
/// samples) is a gap.
///
/// Why not a polyline through the min/max points: on a CPU renderer (Mesa's llvmpipe, what a
/// virtual desktop without a GPU has) the anti-aliased zigzag of a 10 s, 12-lead view is ~100k
/// thin triangles and took most of the frame; bars are two triangles per column, drawn once.
pub fn trace_columns_mesh(
    columns: &[Option<(f32, f32)>],
    x_a: f32,
    stroke: Stroke,
    y_of: &impl Fn(f32) -> f32,
) -> Shape {
    let half = 0.5 * stroke.width;
    let mut mesh = egui::Mesh::default();
    mesh.reserve_triangles(2 * columns.len());
    mesh.reserve_vertices(4 * columns.len());
    // The previous column's screen span (top, bottom), if it had data.
    let mut previous: Option<(f32, f32)> = None;
    for (c, column) in columns.iter().enumerate() {
        let Some((lo, hi)) = *column else {
            previous = None;
            continue;
        };
        // Screen y grows downwards: the maximum is the top.
        let (mut top, mut bottom) = (y_of(hi), y_of(lo));
        if let Some((prev_top, prev_bottom)) = previous {
            top = top.min(prev_bottom);
            bottom = bottom.max(prev_top);
        }
        previous = Some((y_of(hi), y_of(lo)));
        let x = x_a + c as f32 + 0.5;
        mesh.add_colored_rect(
            Rect::from_min_max(pos2(x - half, top - half), pos2(x + half, bottom + half)),
            stroke.color,
        );
    }
    Shape::mesh(mesh)
}

/// Where the parts of the view go on screen this frame.
struct Placement {
    layout: PaperLayout,
    /// Leads (scrolled vertically), the time ruler under them, and the tracks under the ruler
    /// (pinned: they stay in view whatever the vertical scroll).
    lead_area: Rect,
    ruler: Rect,
    leads_xf: Xf,
    tracks_xf: Xf,
}

/// The layout of the visible window for the canvas and the view's zoom, with rows stretched to
/// fill the height left over. Also settles the view's zoom, window and scroll for this frame.
fn place(
    canvas: Rect,
    view: &mut PaperView,
    settings: &Settings,
    data: ViewData<'_>,
    pixels_per_point: f32,
) -> Result<Placement, crate::figure::FigureError> {
    let ecg = data.ecg;
    let has_entropy = data.explanation.is_some();
    let has_gradcam = data.explanation.and_then(|e| e.gradcam.as_ref()).is_some();
    let compute = |s: &Settings, window: (f64, f64), row_mm: Option<f32>| {
        PaperLayout::compute(ecg, s, has_entropy, has_gradcam, window, row_mm)
    };
    let duration = ecg.duration_s();
    view.duration_s = duration;
    // The fit modes fit the reference scales, so a faster speed or a larger gain is larger.
    let reference = Settings {
        paper_speed_mm_s: REFERENCE_SPEED_MM_S,
        gain_mm_mv: REFERENCE_GAIN_MM_MV,
        ..settings.clone()
    };
    let fitted = compute(&reference, (0.0, duration.min(FIT_WINDOW_S)), None)?;
    let fit_width = canvas.width() / fitted.size_mm.x;
    let ppm = match view.zoom {
        ZoomMode::FitWidth => fit_width,
        ZoomMode::FitPage => fit_width.min((canvas.height() - RULER_HEIGHT) / fitted.size_mm.y),
        ZoomMode::ActualSize => settings.actual_points_per_mm(pixels_per_point),
        ZoomMode::Custom { points_per_mm } => points_per_mm,
    }
    .clamp(MIN_POINTS_PER_MM, MAX_POINTS_PER_MM);
    // The window that fills the canvas width at this zoom and paper speed.
    let speed = settings.paper_speed_mm_s;
    let probe = compute(settings, (0.0, duration.min(1.0)), None)?;
    let trace_w_mm = canvas.width() / ppm - probe.trace_x_mm - SCREEN_MARGIN_MM as f32;
    let window_s = ((trace_w_mm / speed) as f64).max(0.05).min(duration);
    view.canvas = canvas;
    view.points_per_mm = ppm;
    view.window_s = window_s;
    view.speed_mm_s = speed;
    view.trace_x_mm = probe.trace_x_mm;
    view.clamp_start();
    let window = (view.start_s, (view.start_s + window_s).min(duration));
    view.visible_s = Some(window);
    let first = compute(settings, window, None)?;
    // Stretch the rows (in whole 5 mm squares) to use the height the tracks and ruler leave.
    let tracks_ppm_y = ppm.min(MAX_TRACK_POINTS_PER_MM);
    let tracks_pt = first.tracks_height_mm() * tracks_ppm_y;
    let (top_mm, bottom_mm) = first.leads_y_range();
    let rows = first.n_rows as f32;
    let room_mm = (canvas.height() - RULER_HEIGHT - tracks_pt) / ppm - top_mm - 1.0;
    let fill_mm = ((room_mm / rows / 5.0).floor() * 5.0).min(MAX_STRETCHED_ROW_MM);
    let layout = if fill_mm > (bottom_mm - top_mm) / rows + 0.01 {
        compute(settings, window, Some(fill_mm))?
    } else {
        first
    };
    let (_, bottom_mm) = layout.leads_y_range();
    let content_pt = (bottom_mm + 1.0) * ppm;
    let lead_h = content_pt
        .min(canvas.height() - RULER_HEIGHT - tracks_pt)
        .max(10.0);
    let max_offset = (bottom_mm + 1.0 - lead_h / ppm).max(0.0);
    view.offset_y_mm = view.offset_y_mm.clamp(0.0, max_offset);
    let lead_area = Rect::from_min_size(canvas.min, vec2(canvas.width(), lead_h));
    let ruler = Rect::from_min_size(lead_area.left_bottom(), vec2(canvas.width(), RULER_HEIGHT));
    let leads_xf = Xf {
        origin: pos2(canvas.left(), canvas.top() - view.offset_y_mm * ppm),
        ppm,
        ppm_y: ppm,
    };
    let tracks_xf = Xf {
        origin: pos2(canvas.left(), ruler.bottom() - bottom_mm * tracks_ppm_y),
        ppm,
        ppm_y: tracks_ppm_y,
    };
    Ok(Placement {
        layout,
        lead_area,
        ruler,
        leads_xf,
        tracks_xf,
    })
}

/// The settings the view draws with: the chosen ones, except that a clinical layout whose rhythm
/// lead (or an equivalent) the record lacks shows its first lead there instead. The note says so.
fn settings_for_record(settings: &Settings, ecg: &Ecg) -> (Settings, Option<String>) {
    let mut used = settings.clone();
    let layout = settings.layout.figure_layout(&settings.rhythm_lead);
    let Some((grid, _)) = layout.clinical_grid() else {
        return (used, None);
    };
    let mut notes = Vec::new();
    if ecg
        .lead_index_or_equivalent(&settings.rhythm_lead)
        .is_none()
        && let Some(first) = ecg.leads.first()
    {
        notes.push(format!(
            "no lead {} in this record: the rhythm strip shows {first}",
            settings.rhythm_lead
        ));
        used.rhythm_lead = first.clone();
    }
    let missing: Vec<String> = grid
        .iter()
        .flatten()
        .filter(|l| ecg.lead_index_or_equivalent(l).is_none())
        .map(|l| l.to_string())
        .collect();
    if !missing.is_empty() {
        notes.push(format!("not in this record: {}", missing.join(", ")));
    }
    let stand_ins: Vec<String> = ecg
        .leads
        .iter()
        .filter_map(|l| {
            let eq = l.clinical_equivalent()?;
            (&eq != l && ecg.lead_index(&eq).is_none()).then(|| format!("{l} as {eq}"))
        })
        .collect();
    if !stand_ins.is_empty() {
        notes.push(format!("shown {}", stand_ins.join(", ")));
    }
    (used, (!notes.is_empty()).then(|| notes.join("; ")))
}

/// Draw the paper view (with the overview strip of a record longer than the window) and handle
/// zoom, pan and hover. Returns the canvas response and what is under the pointer.
pub fn paper_ui(
    ui: &mut Ui,
    view: &mut PaperView,
    settings: &Settings,
    data: ViewData<'_>,
    calipers: &mut Vec<Caliper>,
) -> (Response, Option<HoverInfo>) {
    let (settings_used, note) = settings_for_record(settings, data.ecg);
    let settings = &settings_used;
    view.note = note;
    let duration = data.ecg.duration_s();
    let long = duration > FIT_WINDOW_S + 0.5 || view.window_s + 1e-6 < duration;
    let overview = long.then(|| {
        ui.allocate_exact_size(
            vec2(ui.available_width(), OVERVIEW_HEIGHT),
            Sense::click_and_drag(),
        )
    });
    let size = ui.available_size().max(vec2(100.0, 100.0));
    let (response, painter) = ui.allocate_painter(size, Sense::click_and_drag());
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Canvas, true, "ECG view"));
    let canvas = response.rect;

    // Interaction (with the last frame's mapping): ctrl-wheel / pinch zoom about the pointer,
    // drag or wheel to pan, double-click to reset.
    if response.double_clicked() {
        view.reset();
    }
    let pps = (view.speed_mm_s * view.points_per_mm).max(1e-3) as f64;
    if response.hovered() {
        let (zoom, scroll) = ui.input(|i| (i.zoom_delta(), i.smooth_scroll_delta));
        if zoom != 1.0 {
            let anchor = response.hover_pos().unwrap_or(canvas.center());
            view.zoom_about(zoom, anchor);
        }
        if scroll != Vec2::ZERO {
            view.start_s -= scroll.x as f64 / pps;
            view.offset_y_mm -= scroll.y / view.points_per_mm;
        }
    }
    // A drag sets a caliper with the Caliper tool on or Shift held; otherwise it pans.
    let caliper_drag = settings.layers.calipers
        && (view.caliper_draft.is_some()
            || (response.drag_started() && (view.caliper_tool || ui.input(|i| i.modifiers.shift))));
    if response.dragged() && !caliper_drag {
        let d = response.drag_delta();
        view.start_s -= d.x as f64 / pps;
        view.offset_y_mm -= d.y / view.points_per_mm;
    }
    view.pointer_over = response.hovered() || overview.as_ref().is_some_and(|(_, r)| r.hovered());

    let placement = match place(canvas, view, settings, data, ui.ctx().pixels_per_point()) {
        Ok(p) => p,
        Err(err) => {
            painter.text(
                canvas.center(),
                Align2::CENTER_CENTER,
                format!("Nothing to draw: {}", crate::error_text::describe(&err)),
                FontId::proportional(14.0),
                ui.visuals().error_fg_color,
            );
            return (response, None);
        }
    };
    let Placement {
        layout,
        lead_area,
        ruler,
        leads_xf,
        tracks_xf,
    } = &placement;
    let painter = painter.with_clip_rect(canvas);
    // The paper, and the canvas' background only where the paper is not: each pixel filled once.
    let page_x = leads_xf.pt(0.0, 0.0).x..=leads_xf.pt(layout.size_mm.x, 0.0).x;
    let band_bottom = tracks_xf.pt(0.0, layout.size_mm.y).y.min(canvas.bottom());
    let paper = Rect::from_x_y_ranges(page_x.clone(), canvas.top()..=band_bottom);
    // Paper, grid and cluster bands: one texture, painted here under everything else once the
    // panels have added their bands (`backdrop`).
    let backdrop_slot = painter.add(Shape::Noop);
    let mut fills = backdrop::Fills::default();
    let background = ui.visuals().extreme_bg_color;
    for outside in [
        Rect::from_x_y_ranges(paper.right()..=canvas.right(), canvas.y_range()),
        Rect::from_x_y_ranges(canvas.left()..=paper.right(), band_bottom..=canvas.bottom()),
    ] {
        if outside.is_positive() {
            painter.rect_filled(outside, 0.0, background);
        }
    }
    let lead_painter = painter.with_clip_rect(lead_area.intersect(canvas));
    if settings.layers.grid {
        let page = Rect::from_x_y_ranges(page_x, lead_area.y_range());
        draw_grid(
            &mut fills,
            *leads_xf,
            page.intersect(*lead_area).intersect(canvas),
            ui.ctx().pixels_per_point(),
        );
    }

    let hover_pos = response.hover_pos();
    let mut hover = None;
    for panel in &layout.leads {
        let screen = leads_xf.rect(panel.rect_mm);
        let visible = screen.intersect(*lead_area);
        if !visible.is_positive() {
            continue;
        }
        let clip = painter.with_clip_rect(visible);
        draw_lead_panel(
            &clip,
            &mut fills,
            *leads_xf,
            layout,
            panel,
            &settings.layers,
            data,
        );
        if let Some(p) = hover_pos.filter(|p| visible.contains(*p)) {
            let t = layout.t_s(panel.rect_mm, panel.t0_s, leads_xf.mm(p).x);
            let sample = data.ecg.sample_from_seconds(t).round();
            // The signal's value at the pointer's time, not the pointer's height.
            let value = (sample >= 0.0)
                .then(|| {
                    data.ecg
                        .samples_mv
                        .get((panel.row, sample as usize))
                        .copied()
                })
                .flatten();
            let lead = data.ecg.leads.get(panel.row).cloned();
            hover = Some(hover_info(data, lead, t, value));
        }
    }
    painter.set(
        backdrop_slot,
        backdrop::shape(
            ui.ctx(),
            // one id for the app's one paper view: the canvas' own id changes with the layout
            // above it (the overview strip), and each id would keep a texture alive
            egui::Id::unique("tlc paper backdrop"),
            // only what is on screen (the laid-out window may reach past the canvas' edges)
            paper.intersect(canvas),
            colors::PAPER,
            fills,
        ),
    );
    draw_calibration(&lead_painter, *leads_xf, layout);
    if settings.layers.calipers {
        calipers_ui(
            ui,
            &response,
            &lead_painter,
            &placement,
            view,
            data,
            calipers,
            caliper_drag,
        );
    }
    draw_ruler(&painter, *ruler, *tracks_xf, layout, view.duration_s > 60.0);
    for track in &layout.tracks {
        let screen = tracks_xf.rect(track.rect_mm);
        let visible = screen.intersect(canvas);
        if !visible.is_positive() {
            continue;
        }
        let clip = painter.with_clip_rect(visible);
        draw_track(&clip, *tracks_xf, layout, track, data);
        draw_track_scale(&painter, screen, track.kind, data.ecg);
        if let Some(p) = hover_pos.filter(|p| visible.contains(*p)) {
            let t = layout.t_s(track.rect_mm, track.t0_s, tracks_xf.mm(p).x);
            let mut info = hover_info(data, None, t, None);
            if let TrackKind::Signal(i) = track.kind {
                info.signal = data
                    .ecg
                    .other_signals
                    .get(i)
                    .and_then(|s| s.value_at(t).map(|v| (s.name.clone(), v, s.units.clone())));
            }
            hover = Some(info);
        }
    }

    // The synchronised cursor: one vertical line at the hovered time in every panel showing it.
    view.hover_time_s = hover.as_ref().map(|h| h.time_s);
    if let Some(t) = view.hover_time_s {
        let stroke = Stroke::new(1.0, colors::CURSOR.gamma_multiply(0.7));
        let panels = layout
            .leads
            .iter()
            .map(|p| (p.rect_mm, p.t0_s, p.t1_s, *leads_xf, &lead_painter))
            .chain(
                layout
                    .tracks
                    .iter()
                    .map(|k| (k.rect_mm, k.t0_s, k.t1_s, *tracks_xf, &painter)),
            );
        for (rect, t0, t1, xf, p) in panels {
            if t >= t0 && t <= t1 {
                let r = xf.rect(rect);
                let x = xf.pt(layout.x_mm(rect, t0, t), 0.0).x;
                p.vline(x, r.y_range(), stroke);
            }
        }
    }
    if let Some((rect, resp)) = overview {
        overview_ui(ui, rect, &resp, view, settings, data);
    }
    (response, hover)
}

/// The panel under `pos` (index into the layout's leads) and the record time and voltage there
/// (time on the nearest sample).
fn paper_point(
    placement: &Placement,
    data: ViewData<'_>,
    pos: Pos2,
) -> Option<(usize, (f64, f64))> {
    let Placement {
        layout, leads_xf, ..
    } = placement;
    let (index, panel) = layout
        .leads
        .iter()
        .enumerate()
        .find(|(_, p)| leads_xf.rect(p.rect_mm).contains(pos))?;
    let mm = leads_xf.mm(pos);
    let fs = data.ecg.fs_hz;
    let t = (layout.t_s(panel.rect_mm, panel.t0_s, mm.x) * fs).round() / fs;
    let mv = ((panel.baseline_mm - mm.y) / layout.gain_mm_mv) as f64;
    Some((index, (t, mv)))
}

/// Calipers: drag one out (`caliper_drag`), draw every caliper on the panels of its lead (the
/// selected one bolder, marched legs thinner), select one by clicking it, remove it with a
/// right click or Delete, march a time caliper with M.
#[allow(clippy::too_many_arguments)]
fn calipers_ui(
    ui: &Ui,
    response: &Response,
    painter: &egui::Painter,
    placement: &Placement,
    view: &mut PaperView,
    data: ViewData<'_>,
    calipers: &mut Vec<Caliper>,
    caliper_drag: bool,
) {
    let layout = &placement.layout;
    let (speed, gain) = (layout.speed_mm_s as f64, layout.gain_mm_mv as f64);
    if caliper_drag {
        if response.drag_started()
            && let Some(origin) = ui.input(|i| i.pointer.press_origin())
            && let Some((panel, at)) = paper_point(placement, data, origin)
        {
            view.caliper_draft = Some(CaliperDraft {
                panel,
                lead: layout.leads[panel].lead.clone(),
                from: at,
                to: at,
            });
        }
        if let (Some(draft), Some(pos)) = (&mut view.caliper_draft, response.interact_pointer_pos())
            && let Some(panel) = layout.leads.get(draft.panel)
        {
            let mm = placement.leads_xf.mm(pos);
            let fs = data.ecg.fs_hz;
            let t = (layout.t_s(panel.rect_mm, panel.t0_s, mm.x) * fs).round() / fs;
            draft.to = (t, ((panel.baseline_mm - mm.y) / layout.gain_mm_mv) as f64);
        }
        if response.drag_stopped()
            && let Some(draft) = view.caliper_draft.take()
            && let Some(c) = Caliper::from_drag(draft.lead, draft.from, draft.to, speed, gain)
        {
            calipers.push(c);
            view.selected_caliper = Some(calipers.len() - 1);
        }
    }
    if view.selected_caliper.is_some_and(|i| i >= calipers.len()) {
        view.selected_caliper = None;
    }
    let draft = view
        .caliper_draft
        .as_ref()
        .and_then(|d| Caliper::from_drag(d.lead.clone(), d.from, d.to, speed, gain));
    // Draw, and find the caliper nearest the pointer (screen distance to its legs and bar).
    let pointer = response.hover_pos().or(response.interact_pointer_pos());
    let mut nearest: Option<(usize, f32)> = None;
    let colour = colors::from_rgba(CALIPER_COLOUR);
    let font = FontId::proportional(12.0);
    let shown = calipers.iter().enumerate().map(|(i, c)| (Some(i), c));
    for (index, caliper) in shown.chain(draft.as_ref().map(|c| (None, c))) {
        for panel in layout.leads.iter().filter(|p| caliper.shown_on(&p.lead)) {
            let xf = placement.leads_xf;
            let Some(shape) = caliper.shape(
                (panel.t0_s, panel.t1_s),
                LEG_HALF_MM / gain,
                LEG_HALF_MM / 2.0 / speed,
            ) else {
                continue;
            };
            let screen = xf.rect(panel.rect_mm);
            // Clipped to the panel's time span only: a caliper may reach into the next row, as
            // dividers on paper do.
            let column =
                Rect::from_x_y_ranges(screen.expand(2.0).x_range(), painter.clip_rect().y_range());
            let clip = painter.with_clip_rect(painter.clip_rect().intersect(column));
            let pt = |(t, mv): (f64, f64)| {
                let t = t.clamp(panel.t0_s, panel.t1_s);
                xf.pt(
                    layout.x_mm(panel.rect_mm, panel.t0_s, t),
                    panel.baseline_mm - mv as f32 * layout.gain_mm_mv,
                )
            };
            let selected = index.is_some() && index == view.selected_caliper;
            let width = if selected { 2.5 } else { 1.5 };
            let main_stroke = Stroke::new(
                width,
                colour.gamma_multiply(if index.is_some() { 1.0 } else { 0.6 }),
            );
            for &(a, b) in &shape.main {
                let (pa, pb) = (pt(a), pt(b));
                clip.line_segment([pa, pb], main_stroke);
                if let (Some(i), Some(p)) = (index, pointer) {
                    let d = distance_to_segment(p, pa, pb);
                    if d < 8.0 && nearest.is_none_or(|(_, best)| d < best) {
                        nearest = Some((i, d));
                    }
                }
            }
            for &(a, b) in &shape.marched {
                clip.line_segment([pt(a), pt(b)], Stroke::new(1.0, colour.gamma_multiply(0.6)));
            }
            let (t, mv) = shape.label_at;
            if t >= panel.t0_s && t <= panel.t1_s {
                let align = match caliper {
                    Caliper::Time { .. } => Align2::CENTER_BOTTOM,
                    Caliper::Amplitude { .. } => Align2::LEFT_CENTER,
                };
                let galley = clip.layout_no_wrap(shape.label, font.clone(), colour);
                let rect = align.anchor_size(pt((t, mv)), galley.size());
                clip.rect_filled(rect.expand(1.5), 2.0, colors::PAPER.gamma_multiply(0.9));
                clip.galley(rect.min, galley, colour);
            }
        }
    }
    if response.clicked() && !caliper_drag {
        view.selected_caliper = nearest.map(|(i, _)| i);
    }
    let mut remove = None;
    if response.secondary_clicked() {
        remove = nearest.map(|(i, _)| i);
    }
    let typing = ui.ctx().egui_wants_keyboard_input();
    if !typing && let Some(i) = view.selected_caliper {
        let (delete, march) = ui.input(|inp| {
            (
                inp.key_pressed(egui::Key::Delete) || inp.key_pressed(egui::Key::Backspace),
                inp.key_pressed(egui::Key::M),
            )
        });
        if delete {
            remove = Some(i);
        }
        if march && let Some(c) = calipers.get_mut(i) {
            c.toggle_march();
        }
    }
    if let Some(i) = remove.filter(|&i| i < calipers.len()) {
        calipers.remove(i);
        view.selected_caliper = match view.selected_caliper {
            Some(s) if s == i => None,
            Some(s) if s > i => Some(s - 1),
            other => other,
        };
    }
}

/// Distance (points) from `p` to the segment `a`-`b`.
fn distance_to_segment(p: Pos2, a: Pos2, b: Pos2) -> f32 {
    let ab = b - a;
    let len2 = ab.length_sq();
    let t = if len2 > 0.0 {
        ((p - a).dot(ab) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    (p - (a + ab * t)).length()
}

/// The whole record in one strip: one lead, the cluster segments under it, the visible window
/// marked; a click or drag moves the window there (a scrollbar for long records).
fn overview_ui(
    ui: &Ui,
    rect: Rect,
    response: &Response,
    view: &mut PaperView,
    settings: &Settings,
    data: ViewData<'_>,
) {
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Slider, true, "Overview"));
    let duration = view.duration_s.max(1e-9);
    let x_of = |t: f64| rect.left() + (t / duration) as f32 * rect.width();
    if (response.clicked() || response.dragged())
        && let Some(p) = response.interact_pointer_pos()
    {
        let t = ((p.x - rect.left()) / rect.width()) as f64 * duration;
        view.centre_on(t);
    }
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 2.0, colors::PAPER);
    let ecg = data.ecg;
    let row = ecg
        .lead_index_or_equivalent(&settings.rhythm_lead)
        .unwrap_or(0);
    let strip_h = 6.0;
    let trace = Rect::from_min_max(
        rect.min + vec2(0.0, 12.0),
        rect.right_bottom() - vec2(0.0, strip_h + 1.0),
    );
    // from the min/max buckets computed once when the record was loaded: a 24 h record costs
    // no more per frame than a 10 s one
    let columns = rect.width().max(1.0) as usize;
    let half_range_mv = 1.5;
    let mid = trace.center().y;
    let scale = trace.height() / 2.0 / half_range_mv;
    let mut mesh = egui::Mesh::default();
    for (c, mm) in data.overview.columns(row, columns).into_iter().enumerate() {
        // a column without samples (a gap in the record) is left blank
        if let Some((lo, hi)) = mm {
            let y = |v: f32| (mid - v * scale).clamp(trace.top(), trace.bottom());
            let x = rect.left() + c as f32;
            mesh.add_colored_rect(
                Rect::from_x_y_ranges(x..=x + 1.0, y(hi)..=(y(lo) + 1.0)),
                Color32::from_gray(70),
            );
        }
    }
    painter.add(Shape::mesh(mesh));
    if let Some(ex) = data.explanation {
        let mut mesh = egui::Mesh::default();
        for seg in &ex.segments {
            mesh.add_colored_rect(
                Rect::from_x_y_ranges(
                    x_of(seg.start_s)..=x_of(seg.end_s).max(x_of(seg.start_s) + 1.0),
                    rect.bottom() - strip_h..=rect.bottom(),
                ),
                colors::cluster(seg.cluster),
            );
        }
        painter.add(Shape::mesh(mesh));
    }
    if let Some((a, b)) = view.visible_s {
        let w = Rect::from_x_y_ranges(x_of(a)..=x_of(b).max(x_of(a) + 3.0), rect.y_range());
        painter.rect_filled(w, 0.0, colors::CURSOR.gamma_multiply(0.15));
        painter.rect_stroke(
            w,
            0.0,
            Stroke::new(1.5, colors::CURSOR),
            egui::StrokeKind::Inside,
        );
        let font = FontId::proportional(11.0);
        let long = duration > 60.0;
        painter.text(
            rect.left_top() + vec2(3.0, 0.0),
            Align2::LEFT_TOP,
            format!(
                "{} - {} of {}",
                format_time(a, long),
                format_time(b, long),
                format_time(duration, long)
            ),
            font,
            colors::LABEL,
        );
    }
}

fn hover_info(
    data: ViewData<'_>,
    lead: Option<LeadName>,
    t_s: f64,
    value_mv: Option<f32>,
) -> HoverInfo {
    let step = data.step_at(t_s);
    let ex = data.explanation;
    let sample = data.ecg.sample_from_seconds(t_s);
    HoverInfo {
        lead,
        time_s: t_s,
        value_mv,
        cluster: step.and_then(|s| ex.and_then(|e| e.labels.get(s).copied())),
        entropy: step.and_then(|s| ex.and_then(|e| e.entropy.get(s).copied())),
        gradcam: data.gradcam_at(t_s),
        segment: (sample >= 0.0)
            .then(|| data.segment_at(sample as usize))
            .flatten(),
        signal: None,
    }
}

/// The 1 mm / 5 mm grid as pixel-aligned fills of the backdrop (no line tessellation, no
/// anti-aliasing feather), only over `visible`.
fn draw_grid(fills: &mut backdrop::Fills, xf: Xf, visible: Rect, pixels_per_point: f32) {
    if !visible.is_positive() {
        return;
    }
    let lo = xf.mm(visible.min);
    let hi = xf.mm(visible.max);
    // Minor lines fade in between 1.5 and 3 points apart; closer than that they are mush.
    let minor = xf.ppm >= 1.5;
    let minor_colour = colors::GRID_MINOR
        .lerp_to_gamma(colors::PAPER, 1.0 - ((xf.ppm - 1.5) / 1.5).clamp(0.35, 1.0));
    let px = 1.0 / pixels_per_point;
    let minor_w = px;
    let major_w = ((xf.ppm * 0.25 * pixels_per_point).round().clamp(1.0, 2.0)) * px;
    let snap = |v: f32| (v * pixels_per_point).round() / pixels_per_point;
    let (x0, x1) = (lo.x.floor() as i32, hi.x.ceil() as i32);
    let (y0, y1) = (lo.y.floor() as i32, hi.y.ceil() as i32);
    for pass_major in [false, true] {
        if !pass_major && !minor {
            continue;
        }
        let (w, colour) = if pass_major {
            (major_w, colors::GRID_MAJOR)
        } else {
            (minor_w, minor_colour)
        };
        for x in x0.max(0)..=x1 {
            if (x % 5 == 0) != pass_major {
                continue;
            }
            let sx = snap(xf.pt(x as f32, 0.0).x);
            fills.add(
                Rect::from_x_y_ranges(sx..=sx + w, visible.y_range()),
                visible,
                colour,
            );
        }
        for y in y0.max(0)..=y1 {
            if (y % 5 == 0) != pass_major {
                continue;
            }
            let sy = snap(xf.pt(0.0, y as f32).y);
            fills.add(
                Rect::from_x_y_ranges(visible.x_range(), sy..=sy + w),
                visible,
                colour,
            );
        }
    }
}

/// The time ruler under the leads, on the time axis of the full-width rows and tracks:
/// labelled ticks at a round step at least 70 points apart, small ticks between.
fn draw_ruler(painter: &egui::Painter, ruler: Rect, xf: Xf, layout: &PaperLayout, long: bool) {
    let Some(first) = layout
        .tracks
        .first()
        .map(|t| (t.rect_mm, t.t0_s, t.t1_s))
        .or_else(|| {
            layout
                .leads
                .iter()
                .max_by(|a, b| a.rect_mm.width().total_cmp(&b.rect_mm.width()))
                .map(|p| (p.rect_mm, p.t0_s, p.t1_s))
        })
    else {
        return;
    };
    let (rect_mm, t0, t1) = first;
    let x_of = |t: f64| xf.pt(layout.x_mm(rect_mm, t0, t), 0.0).x;
    let pps = layout.speed_mm_s * xf.ppm;
    const STEPS_S: [f64; 14] = [
        0.04, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
    ];
    let step = STEPS_S
        .iter()
        .copied()
        .find(|s| *s as f32 * pps >= 70.0)
        .unwrap_or(3600.0);
    let minor = STEPS_S
        .iter()
        .rev()
        .copied()
        .find(|s| *s < step && *s as f32 * pps >= 8.0 && (step / s).fract().abs() < 1e-9);
    let stroke = Stroke::new(1.0, colors::LABEL);
    painter.hline(x_of(t0)..=x_of(t1), ruler.top() + 1.0, stroke);
    let font = FontId::proportional(11.0);
    if let Some(m) = minor {
        let mut k = (t0 / m).ceil() as i64;
        while (k as f64) * m <= t1 {
            let x = x_of(k as f64 * m);
            painter.vline(x, ruler.top() + 1.0..=ruler.top() + 4.0, stroke);
            k += 1;
        }
    }
    let mut k = (t0 / step).ceil() as i64;
    while (k as f64) * step <= t1 + 1e-9 {
        let t = k as f64 * step;
        let x = x_of(t);
        painter.vline(x, ruler.top() + 1.0..=ruler.top() + 7.0, stroke);
        let text = if long {
            format_time(t, true)
        } else if step < 0.1 {
            format!("{t:.2} s")
        } else if step < 1.0 {
            format!("{t:.1} s")
        } else {
            format!("{t:.0} s")
        };
        painter.text(
            pos2(x, ruler.top() + 7.0),
            Align2::CENTER_TOP,
            text,
            font.clone(),
            colors::LABEL,
        );
        k += 1;
    }
}

/// The 1 mV x 0.2 s calibration pulses the layout places before each row.
fn draw_calibration(painter: &egui::Painter, xf: Xf, layout: &PaperLayout) {
    let stroke = Stroke::new((xf.ppm * 0.2).clamp(1.0, 2.0), colors::TRACE);
    for panel in &layout.leads {
        let Some((x0, w, h)) = panel.calibration else {
            continue;
        };
        let y = panel.baseline_mm;
        let pts = vec![
            xf.pt(x0 - 1.0, y),
            xf.pt(x0, y),
            xf.pt(x0, y - h),
            xf.pt(x0 + w, y - h),
            xf.pt(x0 + w, y),
            xf.pt(x0 + w + 1.0, y),
        ];
        painter.add(Shape::line(pts, stroke));
    }
}

/// A label on a translucent paper-coloured patch, readable over the grid and the bands.
fn label_on_paper(painter: &egui::Painter, pos: Pos2, align: Align2, text: String, font: FontId) {
    label_on_paper_coloured(painter, pos, align, text, font, colors::LABEL);
}

/// [`label_on_paper`] in `colour`; the label's rectangle.
fn label_on_paper_coloured(
    painter: &egui::Painter,
    pos: Pos2,
    align: Align2,
    text: String,
    font: FontId,
    colour: Color32,
) -> Rect {
    let galley = painter.layout_no_wrap(text, font, colour);
    let rect = align.anchor_size(pos, galley.size());
    painter.rect_filled(rect.expand(1.5), 2.0, colors::PAPER.gamma_multiply(0.85));
    painter.galley(rect.min, galley, colour);
    rect
}

fn draw_lead_panel(
    painter: &egui::Painter,
    backdrop: &mut backdrop::Fills,
    xf: Xf,
    layout: &PaperLayout,
    panel: &LeadPanel,
    layers: &Layers,
    data: ViewData<'_>,
) {
    let screen = xf.rect(panel.rect_mm);
    let visible = painter.clip_rect().intersect(screen);
    if !visible.is_positive() {
        return;
    }
    let ecg = data.ecg;
    let t_of_x = |x: f32| layout.t_s(panel.rect_mm, panel.t0_s, xf.mm(pos2(x, 0.0)).x);
    let x_of_t = |t: f64| xf.pt(layout.x_mm(panel.rect_mm, panel.t0_s, t), 0.0).x;
    let (vis_t0, vis_t1) = (
        t_of_x(visible.left()).max(panel.t0_s),
        t_of_x(visible.right()).min(panel.t1_s),
    );

    if let Some(ex) = data.explanation {
        if layers.gradcam_overlay
            && let Some(cam) = &ex.gradcam
        {
            draw_heat_overlay(
                painter,
                visible,
                screen,
                &cam.map,
                ex.model_start_s,
                ex.model_fs_hz,
                &t_of_x,
            );
        }
        if layers.clusters {
            for seg in &ex.segments {
                let (a, b) = (seg.start_s.max(vis_t0), seg.end_s.min(vis_t1));
                if a >= b {
                    continue;
                }
                let r = Rect::from_x_y_ranges(x_of_t(a)..=x_of_t(b), screen.y_range());
                backdrop.add(r, visible, colors::cluster_band(seg.cluster));
            }
        }
    }
    if layers.landmarks
        && let Some(d) = data.delineation
    {
        let beats = d
            .per_lead
            .get(panel.row)
            .filter(|b| !b.is_empty())
            .unwrap_or(&d.beats);
        draw_landmarks(painter, xf, screen, beats, d.fs_hz, vis_t0, vis_t1, &x_of_t);
        // Pacemaker spikes: a tick down from the panel's top edge, as ECG machines mark them.
        let tick_h = (2.5 * xf.ppm).clamp(5.0, 16.0);
        for &s in &d.pacing_spikes {
            let t = s as f64 / d.fs_hz;
            if t >= vis_t0 && t <= vis_t1 {
                painter.vline(
                    x_of_t(t),
                    screen.top()..=screen.top() + tick_h,
                    Stroke::new(1.5, Color32::from_rgb(0x20, 0x20, 0x20)),
                );
            }
        }
    }

    // The trace, decimated to min/max per screen column when samples outnumber columns.
    let row = ecg.samples_mv.row(panel.row);
    let samples: Vec<f32>;
    let slice: &[f32] = match row.as_slice() {
        Some(s) => s,
        None => {
            samples = row.to_vec();
            &samples
        }
    };
    let fs = ecg.fs_hz;
    let first = ((vis_t0 * fs).floor().max(0.0) as usize).min(slice.len());
    let end = (((vis_t1 * fs).ceil() as usize) + 1).min(slice.len());
    let y_of = |v: f32| xf.pt(0.0, panel.baseline_mm - v * layout.gain_mm_mv).y;
    let stroke = Stroke::new((xf.ppm * 0.18).clamp(1.0, 2.0), colors::TRACE);
    if first < end {
        let x_a = x_of_t(first as f64 / fs);
        let x_b = x_of_t(end as f64 / fs);
        let columns = (x_b - x_a).ceil().max(1.0) as usize;
        if end - first > columns {
            painter.add(trace_columns_mesh(
                &min_max_columns(slice, first, end, columns),
                x_a,
                stroke,
                &y_of,
            ));
        } else {
            // Zoomed in (a sample per column or fewer): an anti-aliased polyline through the
            // samples, one line per stretch with data, so a gap (missing samples) is a gap.
            let mut lines: Vec<Vec<Pos2>> = Vec::new();
            let mut pts = Vec::with_capacity(end - first);
            for (i, &v) in slice[first..end].iter().enumerate() {
                if v.is_nan() {
                    lines.push(std::mem::take(&mut pts));
                    continue;
                }
                pts.push(pos2(x_of_t((first + i) as f64 / fs), y_of(v)));
            }
            lines.push(pts);
            for line in lines.into_iter().filter(|l| l.len() >= 2) {
                painter.add(Shape::line(line, stroke));
            }
        }
    }
    // The reference marks over the trace, so a beat label at the R peak is not hidden by it.
    if layers.reference {
        draw_reference(painter, xf, screen, panel, data, vis_t0, vis_t1, &x_of_t);
    }
    // Lead-change mark between the columns of the clinical layout, as printed ECGs have.
    if panel.column > 0 {
        let x = screen.left();
        painter.vline(
            x,
            xf.pt(0.0, panel.baseline_mm - 2.5).y..=xf.pt(0.0, panel.baseline_mm + 2.5).y,
            Stroke::new(1.5, colors::TRACE),
        );
    }
    // The lead's name at the left edge of what is visible: it stays in view when panning.
    let recorded = ecg.leads.get(panel.row);
    let mut name = match recorded {
        Some(l) if l != &panel.lead => format!("{} ({l})", panel.lead),
        _ => panel.lead.to_string(),
    };
    let is = |leads: &[LeadName]| recorded.is_some_and(|l| leads.contains(l));
    if is(&ecg.meta.derived_leads) {
        name.push_str(" (derived)");
    }
    let font = FontId::proportional((2.8 * xf.ppm).clamp(11.0, 16.0));
    let rect = label_on_paper_coloured(
        painter,
        pos2(visible.left().max(screen.left()) + 4.0, screen.top() + 2.0),
        Align2::LEFT_TOP,
        name,
        font.clone(),
        colors::LABEL,
    );
    // an uncalibrated lead's amplitude is not known: said beside its name, in warning colour
    if is(&ecg.meta.uncalibrated_leads) {
        label_on_paper_coloured(
            painter,
            pos2(rect.right() + 6.0, rect.top()),
            Align2::LEFT_TOP,
            "uncalibrated".into(),
            font,
            colors::WARNING,
        );
    }
}

fn draw_heat_overlay(
    painter: &egui::Painter,
    visible: Rect,
    screen: Rect,
    map: &[f32],
    model_start_s: f64,
    model_fs_hz: f64,
    t_of_x: &dyn Fn(f32) -> f64,
) {
    if map.is_empty() || model_fs_hz <= 0.0 {
        return;
    }
    // One rectangle per run of screen columns that quantise to the same heat level.
    const LEVELS: f32 = 12.0;
    let value_at = |x: f32| {
        let m = (t_of_x(x) - model_start_s) * model_fs_hz;
        if m < 0.0 {
            None
        } else {
            map.get(m as usize).map(|v| (v * LEVELS).round() / LEVELS)
        }
    };
    let mut mesh = egui::Mesh::default();
    let mut flush = |start: f32, endx: f32, level: f32| {
        if level > 0.05 {
            let c = colors::heat(level).gamma_multiply(0.15 + 0.35 * level);
            mesh.add_colored_rect(Rect::from_x_y_ranges(start..=endx, screen.y_range()), c);
        }
    };
    let mut x = visible.left().floor();
    let mut run: Option<(f32, f32)> = None; // (start x, level)
    while x <= visible.right() {
        let level = value_at(x);
        match (run, level) {
            (Some((start, l)), Some(v)) if (l - v).abs() < 1e-6 => {
                run = Some((start, l));
            }
            (prev, now) => {
                if let Some((start, l)) = prev {
                    flush(start, x, l);
                }
                run = now.map(|v| (x, v));
            }
        }
        x += 1.0;
    }
    if let Some((start, l)) = run {
        flush(start, x, l);
    }
    painter.add(Shape::mesh(mesh));
}

/// Colours of the P, QRS and T marks: dark enough to read on the paper, apart from each other.
fn wave_style(kind: WaveKind) -> (Color32, &'static str, &'static str) {
    match kind {
        WaveKind::P => (Color32::from_rgb(0x1F, 0x5F, 0xB4), "P", "P"),
        WaveKind::Qrs => (Color32::from_rgb(0x30, 0x30, 0x30), "QRS", "Q"),
        WaveKind::T => (Color32::from_rgb(0x8E, 0x3A, 0x9E), "T", "T"),
    }
}

#[allow(clippy::too_many_arguments)]
fn draw_landmarks(
    painter: &egui::Painter,
    xf: Xf,
    screen: Rect,
    beats: &[Beat],
    fs_hz: f64,
    vis_t0: f64,
    vis_t1: f64,
    x_of_t: &dyn Fn(f64) -> f32,
) {
    let strip_h = (1.5 * xf.ppm).clamp(4.0, 8.0);
    let strip = Rect::from_min_max(
        pos2(screen.left(), screen.bottom() - strip_h),
        screen.right_bottom(),
    );
    let font = FontId::proportional((1.8 * xf.ppm).clamp(9.0, 12.0));
    let mut mesh = egui::Mesh::default();
    let mut texts = Vec::new();
    for beat in beats {
        for wave in [beat.p, Some(beat.qrs), beat.t].into_iter().flatten() {
            let (a, b) = (wave.onset as f64 / fs_hz, wave.offset as f64 / fs_hz);
            if b < vis_t0 || a > vis_t1 {
                continue;
            }
            let (color, name, short) = wave_style(wave.kind);
            let (xa, xb) = (x_of_t(a), x_of_t(b).max(x_of_t(a) + 1.0));
            mesh.add_colored_rect(Rect::from_x_y_ranges(xa..=xb, strip.y_range()), color);
            let xp = x_of_t(wave.peak as f64 / fs_hz);
            mesh.add_colored_rect(
                Rect::from_x_y_ranges(xp - 0.5..=xp + 0.5, strip.y_range()),
                Color32::WHITE,
            );
            // The full name when it fits, its initial otherwise: readable at every zoom.
            let label = if xb - xa > 22.0 {
                Some(name)
            } else {
                (xb - xa > 5.0).then_some(short)
            };
            if let Some(label) = label {
                texts.push((pos2((xa + xb) / 2.0, strip.top() - 1.0), label, color));
            }
        }
    }
    painter.add(Shape::mesh(mesh));
    for (pos, label, color) in texts {
        painter.text(pos, Align2::CENTER_BOTTOM, label, font.clone(), color);
    }
}

/// The reference annotation layers that apply to the panel's lead, one row each above the
/// landmark bars: brackets over each annotated wave (coloured as the landmarks), beat labels
/// and other annotations as text at their sample (as `figure::reference` prints them).
#[allow(clippy::too_many_arguments)]
fn draw_reference(
    painter: &egui::Painter,
    xf: Xf,
    screen: Rect,
    panel: &LeadPanel,
    data: ViewData<'_>,
    vis_t0: f64,
    vis_t1: f64,
    x_of_t: &dyn Fn(f64) -> f32,
) {
    let fs = data.ecg.fs_hz;
    let font = FontId::proportional((reference::SYMBOL_MM as f32 * xf.ppm).clamp(9.0, 13.0));
    let tick = (reference::BRACKET_TICK_MM as f32 * xf.ppm).clamp(3.0, 8.0);
    let landmark_strip = (1.5 * xf.ppm).clamp(4.0, 8.0);
    let shown = data.reference.iter().filter(|l| l.applies_to(&panel.lead));
    for (index, layer) in shown.enumerate() {
        // Above the landmark bar and its labels, one row per layer, on paper or on screen.
        let y = screen.bottom()
            - (reference::row_offset_mm(index) as f32 * xf.ppm)
                .max(landmark_strip + 16.0 + 18.0 * index as f32);
        for mark in layer.marks_within(fs, (vis_t0, vis_t1)) {
            match mark {
                MarkInSpan::Span {
                    start_s,
                    end_s,
                    kind,
                    label,
                } => {
                    let colour = colors::from_rgba(reference::span_colour(kind));
                    let (xa, xb) = (x_of_t(start_s), x_of_t(end_s));
                    painter.add(Shape::line(
                        vec![
                            pos2(xa, y + tick),
                            pos2(xa, y),
                            pos2(xb, y),
                            pos2(xb, y + tick),
                        ],
                        Stroke::new(1.5, colour),
                    ));
                    if let (None, Some(label)) = (kind, label) {
                        let at = pos2((xa + xb) / 2.0, y - 1.0);
                        painter.text(at, Align2::CENTER_BOTTOM, label, font.clone(), colour);
                    }
                }
                MarkInSpan::Symbol { time_s, text, beat } => {
                    let colour = if beat {
                        colors::LABEL
                    } else {
                        colors::from_rgba(crate::figure::palette::MUTED_INK)
                    };
                    let galley = painter.layout_no_wrap(text.to_string(), font.clone(), colour);
                    let rect = Align2::CENTER_BOTTOM
                        .anchor_size(pos2(x_of_t(time_s), y - 1.0), galley.size());
                    painter.rect_filled(rect.expand(1.0), 2.0, colors::PAPER.gamma_multiply(0.8));
                    painter.galley(rect.min, galley, colour);
                }
            }
        }
    }
}

fn draw_track(
    painter: &egui::Painter,
    xf: Xf,
    layout: &PaperLayout,
    track: &TrackPanel,
    data: ViewData<'_>,
) {
    let screen = xf.rect(track.rect_mm);
    let x_of_t = |t: f64| xf.pt(layout.x_mm(track.rect_mm, track.t0_s, t), 0.0).x;
    let y_of = |v: f32| screen.bottom() - v.clamp(0.0, 1.0) * screen.height();
    painter.rect_filled(screen, 0.0, Color32::WHITE);
    if let TrackKind::Signal(i) = track.kind {
        if let Some(signal) = data.ecg.other_signals.get(i) {
            draw_signal_track(painter, xf, layout, track, signal);
        }
        return;
    }
    let Some(ex) = data.explanation else { return };
    painter.hline(
        screen.x_range(),
        screen.bottom(),
        Stroke::new(1.0, colors::LABEL.gamma_multiply(0.5)),
    );
    let font = FontId::proportional((2.4 * xf.ppm).clamp(10.0, 14.0));
    let mut mesh = egui::Mesh::default();
    let mut line = Vec::new();
    let name = match track.kind {
        TrackKind::Entropy => {
            let (first, end) = ex.valid_steps;
            let half = ex.step_duration_s / 2.0;
            for s in first..end.min(ex.entropy.len()).min(ex.step_times_s.len()) {
                let t = ex.step_times_s[s];
                let e = ex.entropy[s];
                let (xa, xb) = (x_of_t(t - half), x_of_t(t + half));
                if xb < screen.left() - 2.0 || xa > screen.right() + 2.0 {
                    continue;
                }
                let fill = ex
                    .labels
                    .get(s)
                    .map(|&c| colors::cluster(c))
                    .unwrap_or(colors::entropy());
                mesh.add_colored_rect(
                    Rect::from_x_y_ranges(xa..=xb, y_of(e)..=screen.bottom()),
                    fill.gamma_multiply(0.45),
                );
                line.push(pos2(x_of_t(t), y_of(e)));
            }
            painter.add(Shape::mesh(std::mem::take(&mut mesh)));
            painter.add(Shape::line(line, Stroke::new(1.5, colors::entropy())));
            "entropy".to_string()
        }
        TrackKind::GradCam => {
            let Some(cam) = &ex.gradcam else { return };
            let visible = painter.clip_rect().intersect(screen);
            let t_of_x = |x: f32| layout.t_s(track.rect_mm, track.t0_s, xf.mm(pos2(x, 0.0)).x);
            let mut x = visible.left().floor();
            while x <= visible.right() {
                let (ta, tb) = (t_of_x(x), t_of_x(x + 1.0));
                let ma = ((ta - ex.model_start_s) * ex.model_fs_hz).floor();
                let mb = ((tb - ex.model_start_s) * ex.model_fs_hz).ceil();
                if mb > 0.0 {
                    let a = ma.max(0.0) as usize;
                    let b = (mb as usize).min(cam.map.len());
                    if a < b {
                        let v = cam.map[a..b].iter().copied().fold(0.0f32, f32::max);
                        mesh.add_colored_rect(
                            Rect::from_x_y_ranges(x..=x + 1.0, y_of(v)..=screen.bottom()),
                            colors::heat(v),
                        );
                        line.push(pos2(x + 0.5, y_of(v)));
                    }
                }
                x += 1.0;
            }
            painter.add(Shape::mesh(mesh));
            painter.add(Shape::line(line, Stroke::new(1.0, colors::LABEL)));
            format!("Grad-CAM: {}", cam.output_name)
        }
        // drawn above by draw_signal_track
        TrackKind::Signal(_) => return,
    };
    // The name at the visible left edge, and the scale (0 and 1) in the gutter before the track.
    label_on_paper(
        painter,
        pos2(
            painter.clip_rect().left().max(screen.left()) + 4.0,
            screen.top() + 1.0,
        ),
        Align2::LEFT_TOP,
        name,
        font,
    );
}

/// An other signal's curve over the visible part of its track (gaps left open), and its name.
fn draw_signal_track(
    painter: &egui::Painter,
    xf: Xf,
    layout: &PaperLayout,
    track: &TrackPanel,
    signal: &crate::record::OtherSignal,
) {
    let screen = xf.rect(track.rect_mm);
    let visible = painter.clip_rect().intersect(screen);
    let t_of_x = |x: f32| layout.t_s(track.rect_mm, track.t0_s, xf.mm(pos2(x, 0.0)).x);
    let x_of_t = |t: f64| xf.pt(layout.x_mm(track.rect_mm, track.t0_s, t), 0.0).x;
    let y_of = |v: f64| screen.bottom() - (v as f32).clamp(0.0, 1.0) * screen.height();
    let (t0, t1) = (
        t_of_x(visible.left()).max(track.t0_s),
        t_of_x(visible.right()).min(track.t1_s),
    );
    for run in crate::figure::scene::signal_runs(signal, t0, t1) {
        // at most the lowest and highest point per screen column, in time order
        let mut points: Vec<Pos2> = Vec::new();
        let mut column: Vec<Pos2> = Vec::new();
        let flush = |column: &mut Vec<Pos2>, points: &mut Vec<Pos2>| {
            if column.len() <= 2 {
                points.append(column);
                return;
            }
            let by_y = |a: &&Pos2, b: &&Pos2| a.y.total_cmp(&b.y);
            let (lo, hi) = (column.iter().min_by(by_y), column.iter().max_by(by_y));
            if let (Some(&lo), Some(&hi)) = (lo, hi) {
                let lo_first =
                    column.iter().position(|p| *p == lo) <= column.iter().position(|p| *p == hi);
                points.extend(if lo_first { [lo, hi] } else { [hi, lo] });
            }
            column.clear();
        };
        for (t, v) in run {
            let p = pos2(x_of_t(t), y_of(v));
            if column.first().is_some_and(|c| c.x.floor() != p.x.floor()) {
                flush(&mut column, &mut points);
            }
            column.push(p);
        }
        flush(&mut column, &mut points);
        if points.len() >= 2 {
            painter.add(Shape::line(points, Stroke::new(1.0, colors::LABEL)));
        }
    }
    let font = FontId::proportional((2.4 * xf.ppm).clamp(10.0, 14.0));
    let name = match signal.value_range() {
        Some(_) => signal.label(),
        None => format!("{}: no data", signal.label()),
    };
    label_on_paper(
        painter,
        pos2(visible.left().max(screen.left()) + 4.0, screen.top() + 1.0),
        Align2::LEFT_TOP,
        name,
        font,
    );
}

/// The scale of a track in the gutter before it: 0 and 1, or the range an other signal is
/// scaled to, in its units.
fn draw_track_scale(painter: &egui::Painter, screen: Rect, kind: TrackKind, ecg: &Ecg) {
    let small = FontId::proportional(10.0);
    let (top, bottom) = match kind {
        TrackKind::Signal(i) => match ecg.other_signals.get(i).and_then(|s| s.value_range()) {
            Some((lo, hi)) => (
                crate::figure::scene::scale_value_text(hi),
                crate::figure::scene::scale_value_text(lo),
            ),
            None => return,
        },
        TrackKind::Entropy | TrackKind::GradCam => ("1".to_string(), "0".to_string()),
    };
    for (text, y, align) in [
        (top, screen.top(), Align2::RIGHT_TOP),
        (bottom, screen.bottom(), Align2::RIGHT_BOTTOM),
    ] {
        painter.text(
            pos2(screen.left() - 3.0, y),
            align,
            text,
            small.clone(),
            colors::LABEL,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_bars_join_their_neighbours_and_leave_gaps_open() {
        // value v at screen y = 100 - 10 v; a 1-point pen
        let columns = [Some((0.0, 1.0)), Some((3.0, 4.0)), None, Some((0.0, 0.0))];
        let Shape::Mesh(mesh) =
            trace_columns_mesh(&columns, 10.0, Stroke::new(1.0, Color32::BLACK), &|v| {
                100.0 - 10.0 * v
            })
        else {
            panic!("not a mesh");
        };
        let bars: Vec<Rect> = mesh
            .vertices
            .chunks_exact(4)
            .map(|q| Rect::from_points(&q.iter().map(|v| v.pos).collect::<Vec<_>>()))
            .collect();
        assert_eq!(bars.len(), 3, "one bar per column with data");
        // first column: its own span, widened by half the pen
        assert_eq!(
            bars[0],
            Rect::from_min_max(pos2(10.0, 89.5), pos2(11.0, 100.5))
        );
        // second: 60..70 on its own, stretched down to touch the first column's top (90)
        assert_eq!(
            bars[1],
            Rect::from_min_max(pos2(11.0, 59.5), pos2(12.0, 90.5))
        );
        // after the gap: not joined to anything before it
        assert_eq!(
            bars[2],
            Rect::from_min_max(pos2(13.0, 99.5), pos2(14.0, 100.5))
        );
    }

    #[test]
    fn min_max_columns_cover_every_sample_once() {
        let s: Vec<f32> = (0..100).map(|i| i as f32).collect();
        let cols = min_max_columns(&s, 10, 90, 8);
        assert_eq!(cols.len(), 8);
        assert_eq!(cols[0], Some((10.0, 19.0)));
        assert_eq!(cols[7], Some((80.0, 89.0)));
        // A spike survives decimation.
        let mut spiky = vec![0.0f32; 1000];
        spiky[503] = 5.0;
        let cols = min_max_columns(&spiky, 0, 1000, 10);
        assert_eq!(cols[5], Some((0.0, 5.0)));
        assert!(min_max_columns(&s, 50, 50, 4).iter().all(|c| c.is_none()));
    }

    #[test]
    fn zoom_keeps_the_time_under_the_anchor_still() {
        let mut v = PaperView {
            canvas: Rect::from_min_size(pos2(100.0, 50.0), vec2(800.0, 600.0)),
            points_per_mm: 2.0,
            start_s: 3.0,
            window_s: 10.0,
            duration_s: 60.0,
            trace_x_mm: 14.0,
            ..Default::default()
        };
        let anchor = pos2(500.0, 300.0);
        let time_at = |v: &PaperView| {
            let left = v.canvas.left() + v.trace_x_mm * v.points_per_mm;
            v.start_s + ((anchor.x - left) / v.points_per_s(v.points_per_mm)) as f64
        };
        let before = time_at(&v);
        v.zoom_about(1.5, anchor);
        assert_eq!(v.zoom, ZoomMode::Custom { points_per_mm: 3.0 });
        v.points_per_mm = 3.0;
        assert!((time_at(&v) - before).abs() < 1e-4);
        v.zoom_about(1000.0, anchor);
        assert_eq!(
            v.zoom,
            ZoomMode::Custom {
                points_per_mm: MAX_POINTS_PER_MM
            }
        );
    }

    #[test]
    fn paging_stays_inside_the_record() {
        let mut v = PaperView {
            window_s: 10.0,
            duration_s: 1805.0,
            ..Default::default()
        };
        v.page(1.0);
        assert_eq!(v.start_s, 10.0);
        v.go_to_end();
        assert_eq!(v.start_s, 1795.0);
        v.page(1.0);
        assert_eq!(v.start_s, 1795.0);
        v.go_to_start();
        v.page(-1.0);
        assert_eq!(v.start_s, 0.0);
        v.centre_on(100.0);
        assert_eq!(v.start_s, 95.0);
    }

    #[test]
    fn typed_times_parse() {
        assert_eq!(parse_time("754.5"), Some(754.5));
        assert_eq!(parse_time("12:34.5"), Some(754.5));
        assert_eq!(parse_time("1:00:00"), Some(3600.0));
        assert_eq!(parse_time(" 90 s"), Some(90.0));
        assert_eq!(parse_time("1:75"), None);
        assert_eq!(parse_time("abc"), None);
        assert_eq!(parse_time("-3"), None);
        assert_eq!(format_time(754.5, true), "12:34.5");
    }
}
