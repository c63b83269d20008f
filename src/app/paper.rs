//! The ECG on paper: leads at true proportions (1 mm grid, 5 mm bold; paper speed and gain in
//! mm), cluster bands, landmarks, Grad-CAM overlay, and the entropy and Grad-CAM tracks on the
//! same time axis. Everything is laid out in millimetres first and scaled to the screen by one
//! factor (points per mm), so proportions hold at any zoom and all leads pan and zoom together.

use egui::{
    Align2, Color32, FontId, Pos2, Rect, Response, Sense, Shape, Stroke, Ui, Vec2, pos2, vec2,
};

use crate::delineate::{Beat, Delineation, SegmentLabel, WaveKind};
use crate::record::{Ecg, LeadName};
use crate::tlc::Explanation;

use super::colors;
use super::settings::{Layers, Settings};

/// Space around the page on screen (mm).
const SCREEN_MARGIN_MM: f64 = 4.0;
/// At the default zoom at most this many seconds fill the canvas width.
const FIT_WINDOW_S: f32 = 10.0;

/// One lead drawn over a time span in a rectangle of the page (mm).
#[derive(Debug, Clone, PartialEq)]
pub struct LeadPanel {
    /// Row of `Ecg::samples_mv`.
    pub row: usize,
    pub lead: LeadName,
    pub t0_s: f64,
    pub t1_s: f64,
    pub rect_mm: Rect,
    /// Vertical position (mm) of 0 mV.
    pub baseline_mm: f32,
    /// The 1 mV x 0.2 s pulse in the gutter before the row: (x, width, height) in mm.
    pub calibration: Option<(f32, f32, f32)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackKind {
    Entropy,
    GradCam,
}

/// A track under the leads on the same time axis.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackPanel {
    pub kind: TrackKind,
    pub t0_s: f64,
    pub t1_s: f64,
    pub rect_mm: Rect,
}

/// The whole page in millimetres.
#[derive(Debug, Clone, PartialEq)]
pub struct PaperLayout {
    pub leads: Vec<LeadPanel>,
    pub tracks: Vec<TrackPanel>,
    pub size_mm: Vec2,
    pub speed_mm_s: f32,
    pub gain_mm_mv: f32,
}

impl PaperLayout {
    /// Lay out the record as the exported figure does (`crate::figure::compute_layout` with the
    /// view's spec), without the title, legend and footer bands the app shows as widgets.
    /// Tracks are asked for only when they have data (`has_entropy`, `has_gradcam`).
    pub fn compute(
        ecg: &Ecg,
        settings: &Settings,
        has_entropy: bool,
        has_gradcam: bool,
    ) -> Result<PaperLayout, crate::figure::FigureError> {
        let mut spec = super::export::spec_for_view(settings, ecg, None);
        spec.layers.entropy &= has_entropy;
        spec.layers.gradcam &= has_gradcam;
        spec.title_height_mm = 0.0;
        spec.legend_height_mm = 0.0;
        spec.footer_height_mm = 0.0;
        spec.margin_mm = SCREEN_MARGIN_MM;
        spec.page = crate::figure::PageSize::Fit;
        // The screen draws only what is visible, so a long record is no problem here.
        spec.max_page_mm = f64::MAX;
        let d = crate::figure::compute_layout(ecg, &spec)?;
        let rect = |r: crate::figure::RectMm| {
            Rect::from_min_size(pos2(r.x as f32, r.y as f32), vec2(r.w as f32, r.h as f32))
        };
        let leads = d
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
        })
    }

    /// The horizontal position (mm) of time `t_s` in a panel that starts at `rect.left()`.
    fn x_mm(&self, rect: Rect, t0_s: f64, t_s: f64) -> f32 {
        rect.left() + ((t_s - t0_s) as f32) * self.speed_mm_s
    }

    fn t_s(&self, rect: Rect, t0_s: f64, x_mm: f32) -> f64 {
        t0_s + ((x_mm - rect.left()) / self.speed_mm_s) as f64
    }
}

/// Zoom and pan of the paper view (runtime only).
#[derive(Debug, Clone, PartialEq)]
pub struct PaperView {
    /// Screen points per millimetre; `None` fits the page width.
    pub points_per_mm: Option<f32>,
    /// Page position (mm) at the canvas' top-left corner.
    pub offset_mm: Vec2,
    /// Time under the pointer (s), shared by all panels for the cursor line.
    pub hover_time_s: Option<f64>,
    /// Time span (s) visible in the first lead panel (for "export the visible span").
    pub visible_s: Option<(f64, f64)>,
    /// Canvas rectangle and fit zoom of the last frame (for keyboard zoom about the centre).
    pub canvas: Rect,
    pub fit_points_per_mm: f32,
}

impl Default for PaperView {
    fn default() -> Self {
        PaperView {
            points_per_mm: None,
            offset_mm: Vec2::ZERO,
            hover_time_s: None,
            visible_s: None,
            canvas: Rect::NOTHING,
            fit_points_per_mm: 2.0,
        }
    }
}

pub const MIN_POINTS_PER_MM: f32 = 0.5;
pub const MAX_POINTS_PER_MM: f32 = 40.0;

impl PaperView {
    pub fn reset(&mut self) {
        *self = PaperView::default();
    }

    /// Multiply the zoom by `factor`, keeping the page point under `anchor` (screen) still.
    pub fn zoom_about(&mut self, factor: f32, anchor: Pos2, canvas: Rect, fit: f32) {
        let old = self.points_per_mm.unwrap_or(fit);
        let new = (old * factor).clamp(MIN_POINTS_PER_MM, MAX_POINTS_PER_MM);
        let anchor_mm = self.offset_mm + (anchor - canvas.min) / old;
        self.offset_mm = anchor_mm - (anchor - canvas.min) / new;
        self.points_per_mm = Some(new);
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

/// Maps page millimetres to screen points.
#[derive(Debug, Clone, Copy)]
struct Xf {
    origin: Pos2,
    ppm: f32,
}

impl Xf {
    fn pt(&self, x_mm: f32, y_mm: f32) -> Pos2 {
        pos2(
            self.origin.x + x_mm * self.ppm,
            self.origin.y + y_mm * self.ppm,
        )
    }
    fn rect(&self, r: Rect) -> Rect {
        Rect::from_min_max(self.pt(r.min.x, r.min.y), self.pt(r.max.x, r.max.y))
    }
    fn mm(&self, p: Pos2) -> Pos2 {
        pos2(
            (p.x - self.origin.x) / self.ppm,
            (p.y - self.origin.y) / self.ppm,
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
        let mut lo = f32::INFINITY;
        let mut hi = f32::NEG_INFINITY;
        for &v in &samples[a..b] {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        *slot = Some((lo, hi));
    }
    out
}

/// Draw the paper view and handle zoom, pan and hover. Returns the canvas response and what is
/// under the pointer.
pub fn paper_ui(
    ui: &mut Ui,
    view: &mut PaperView,
    settings: &Settings,
    data: ViewData<'_>,
) -> (Response, Option<HoverInfo>) {
    let has_entropy = data.explanation.is_some();
    let has_gradcam = data.explanation.and_then(|e| e.gradcam.as_ref()).is_some();
    let layout = match PaperLayout::compute(data.ecg, settings, has_entropy, has_gradcam) {
        Ok(l) => l,
        Err(err) => {
            let response = ui.label(format!(
                "Nothing to draw: {}",
                crate::error_text::describe(&err)
            ));
            return (response, None);
        }
    };
    let size = ui.available_size().max(vec2(100.0, 100.0));
    let (response, painter) = ui.allocate_painter(size, Sense::click_and_drag());
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Canvas, true, "ECG view"));
    let canvas = response.rect;
    // Default zoom: the whole page height, and at most FIT_WINDOW_S seconds across.
    let fit_width_mm = layout
        .size_mm
        .x
        .min(FIT_WINDOW_S * layout.speed_mm_s + 20.0);
    let fit = (canvas.width() / fit_width_mm)
        .min(canvas.height() / layout.size_mm.y)
        .clamp(MIN_POINTS_PER_MM, MAX_POINTS_PER_MM);

    // Interaction: ctrl-wheel / pinch zoom about the pointer, drag or wheel to pan,
    // double-click to reset.
    if response.double_clicked() {
        view.reset();
    }
    if response.hovered() {
        let (zoom, scroll) = ui.input(|i| (i.zoom_delta(), i.smooth_scroll_delta));
        if zoom != 1.0 {
            let anchor = response.hover_pos().unwrap_or(canvas.center());
            view.zoom_about(zoom, anchor, canvas, fit);
        }
        if scroll != Vec2::ZERO {
            view.offset_mm -= scroll / view.points_per_mm.unwrap_or(fit);
        }
    }
    if response.dragged() {
        view.offset_mm -= response.drag_delta() / view.points_per_mm.unwrap_or(fit);
    }
    let ppm = view.points_per_mm.unwrap_or(fit);
    view.canvas = canvas;
    view.fit_points_per_mm = fit;
    // Keep some of the page on screen whatever the pan.
    let max_x = (layout.size_mm.x - canvas.width() / ppm).max(0.0);
    let max_y = (layout.size_mm.y - canvas.height() / ppm).max(0.0);
    view.offset_mm.x = view.offset_mm.x.clamp(0.0, max_x);
    view.offset_mm.y = view.offset_mm.y.clamp(0.0, max_y);
    let xf = Xf {
        origin: canvas.min - view.offset_mm * ppm,
        ppm,
    };
    let painter = painter.with_clip_rect(canvas);
    view.visible_s = layout.leads.first().map(|p| {
        let t = |x: f32| layout.t_s(p.rect_mm, p.t0_s, xf.mm(pos2(x, 0.0)).x);
        (t(canvas.left()).max(p.t0_s), t(canvas.right()).min(p.t1_s))
    });

    painter.rect_filled(canvas, 0.0, ui.visuals().extreme_bg_color);
    let page = xf.rect(Rect::from_min_size(Pos2::ZERO, layout.size_mm));
    painter.rect_filled(page, 0.0, colors::PAPER);
    if settings.layers.grid {
        draw_grid(&painter, xf, page.intersect(canvas), &layout);
    }

    let hover_pos = response.hover_pos();
    let mut hover = None;
    for panel in &layout.leads {
        let screen = xf.rect(panel.rect_mm);
        if !screen.intersects(canvas) {
            continue;
        }
        let clip = painter.with_clip_rect(screen.intersect(canvas));
        draw_lead_panel(&clip, xf, &layout, panel, &settings.layers, data);
        if let Some(p) = hover_pos.filter(|p| screen.contains(*p)) {
            let mm = xf.mm(p);
            let t = layout.t_s(panel.rect_mm, panel.t0_s, mm.x);
            let value = (panel.baseline_mm - mm.y) / layout.gain_mm_mv;
            hover = Some(hover_info(data, Some(panel.lead.clone()), t, Some(value)));
        }
    }
    for track in &layout.tracks {
        let screen = xf.rect(track.rect_mm);
        if !screen.intersects(canvas) {
            continue;
        }
        let clip = painter.with_clip_rect(screen.intersect(canvas));
        draw_track(&clip, xf, &layout, track, data);
        if let Some(p) = hover_pos.filter(|p| screen.contains(*p)) {
            let t = layout.t_s(track.rect_mm, track.t0_s, xf.mm(p).x);
            hover = Some(hover_info(data, None, t, None));
        }
    }
    draw_calibration(&painter, xf, &layout);

    // The synchronised cursor: one vertical line at the hovered time in every panel showing it.
    view.hover_time_s = hover.as_ref().map(|h| h.time_s);
    if let Some(t) = view.hover_time_s {
        let stroke = Stroke::new(1.0, colors::CURSOR.gamma_multiply(0.7));
        let panels = layout
            .leads
            .iter()
            .map(|p| (p.rect_mm, p.t0_s, p.t1_s))
            .chain(layout.tracks.iter().map(|t| (t.rect_mm, t.t0_s, t.t1_s)));
        for (rect, t0, t1) in panels {
            if t >= t0 && t <= t1 {
                let r = xf.rect(rect);
                let x = xf.pt(layout.x_mm(rect, t0, t), 0.0).x;
                painter.vline(x, r.y_range(), stroke);
            }
        }
    }
    (response, hover)
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
    }
}

fn draw_grid(painter: &egui::Painter, xf: Xf, visible: Rect, layout: &PaperLayout) {
    if !visible.is_positive() {
        return;
    }
    let lo = xf.mm(visible.min);
    let hi = xf.mm(visible.max);
    let page = Rect::from_min_size(Pos2::ZERO, layout.size_mm);
    // Minor lines fade in between 1.5 and 3 points apart; closer than that they are mush.
    let minor = xf.ppm >= 1.5;
    let minor_alpha = ((xf.ppm - 1.5) / 1.5).clamp(0.35, 1.0);
    let minor_stroke = Stroke::new(
        1.0_f32.min(xf.ppm * 0.15).max(0.5),
        colors::GRID_MINOR.gamma_multiply(minor_alpha),
    );
    let major_stroke = Stroke::new((xf.ppm * 0.25).clamp(0.8, 2.0), colors::GRID_MAJOR);
    let (x0, x1) = (
        lo.x.max(0.0).floor() as i32,
        hi.x.min(page.max.x).ceil() as i32,
    );
    let (y0, y1) = (
        lo.y.max(0.0).floor() as i32,
        hi.y.min(page.max.y).ceil() as i32,
    );
    let mut shapes = Vec::new();
    for pass_major in [false, true] {
        for x in x0..=x1 {
            let major = x % 5 == 0;
            if major != pass_major || (!major && !minor) {
                continue;
            }
            let sx = xf.pt(x as f32, 0.0).x;
            let stroke = if major { major_stroke } else { minor_stroke };
            shapes.push(Shape::line_segment(
                [pos2(sx, visible.min.y), pos2(sx, visible.max.y)],
                stroke,
            ));
        }
        for y in y0..=y1 {
            let major = y % 5 == 0;
            if major != pass_major || (!major && !minor) {
                continue;
            }
            let sy = xf.pt(0.0, y as f32).y;
            let stroke = if major { major_stroke } else { minor_stroke };
            shapes.push(Shape::line_segment(
                [pos2(visible.min.x, sy), pos2(visible.max.x, sy)],
                stroke,
            ));
        }
    }
    painter.extend(shapes);
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

fn draw_lead_panel(
    painter: &egui::Painter,
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
                painter.rect_filled(r, 0.0, colors::cluster_band(seg.cluster));
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
        let mut pts = Vec::with_capacity(2 * columns.min(end - first) + 2);
        if end - first <= 2 * columns {
            for (i, &v) in slice[first..end].iter().enumerate() {
                pts.push(pos2(x_of_t((first + i) as f64 / fs), y_of(v)));
            }
        } else {
            let mut last_hi = true;
            for (c, mm) in min_max_columns(slice, first, end, columns)
                .into_iter()
                .enumerate()
            {
                if let Some((lo, hi)) = mm {
                    let x = x_a + c as f32 + 0.5;
                    // Alternate the order so consecutive columns join at the near end.
                    if last_hi {
                        pts.push(pos2(x, y_of(hi)));
                        pts.push(pos2(x, y_of(lo)));
                    } else {
                        pts.push(pos2(x, y_of(lo)));
                        pts.push(pos2(x, y_of(hi)));
                    }
                    last_hi = !last_hi;
                }
            }
        }
        painter.add(Shape::line(pts, stroke));
    }
    let font = FontId::proportional((2.8 * xf.ppm).clamp(10.0, 16.0));
    painter.text(
        screen.left_top() + vec2(4.0, 2.0),
        Align2::LEFT_TOP,
        panel.lead.as_str(),
        font,
        colors::LABEL,
    );
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
    let mut x = visible.left().floor();
    let mut run: Option<(f32, f32)> = None; // (start x, level)
    let flush = |start: f32, endx: f32, level: f32| {
        if level > 0.05 {
            let c = colors::heat(level).gamma_multiply(0.15 + 0.35 * level);
            painter.rect_filled(
                Rect::from_x_y_ranges(start..=endx, screen.y_range()),
                0.0,
                c,
            );
        }
    };
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
    let strip_h = (2.0 * xf.ppm).clamp(4.0, 12.0);
    let strip = Rect::from_min_max(
        pos2(screen.left(), screen.bottom() - strip_h),
        screen.right_bottom(),
    );
    let font = FontId::proportional((1.8 * xf.ppm).clamp(8.0, 12.0));
    for beat in beats {
        for wave in [beat.p, Some(beat.qrs), beat.t].into_iter().flatten() {
            let (a, b) = (wave.onset as f64 / fs_hz, wave.offset as f64 / fs_hz);
            if b < vis_t0 || a > vis_t1 {
                continue;
            }
            let (color, name) = match wave.kind {
                WaveKind::P => (Color32::from_rgb(120, 120, 120), "P"),
                WaveKind::Qrs => (Color32::from_rgb(60, 60, 60), "QRS"),
                WaveKind::T => (Color32::from_rgb(150, 150, 150), "T"),
            };
            let (xa, xb) = (x_of_t(a), x_of_t(b));
            let shade = Rect::from_x_y_ranges(xa..=xb, screen.y_range());
            painter.rect_filled(shade, 0.0, color.gamma_multiply(0.10));
            painter.rect_filled(
                Rect::from_x_y_ranges(xa..=xb, strip.y_range()),
                0.0,
                color.gamma_multiply(0.8),
            );
            let xp = x_of_t(wave.peak as f64 / fs_hz);
            painter.vline(xp, strip.y_range(), Stroke::new(1.0, Color32::WHITE));
            if xb - xa > 14.0 {
                painter.text(
                    pos2((xa + xb) / 2.0, strip.top() - 1.0),
                    Align2::CENTER_BOTTOM,
                    name,
                    font.clone(),
                    color,
                );
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
    let Some(ex) = data.explanation else { return };
    let x_of_t = |t: f64| xf.pt(layout.x_mm(track.rect_mm, track.t0_s, t), 0.0).x;
    let y_of = |v: f32| screen.bottom() - v.clamp(0.0, 1.0) * screen.height();
    painter.rect_filled(screen, 0.0, Color32::from_white_alpha(200));
    painter.hline(
        screen.x_range(),
        screen.bottom(),
        Stroke::new(1.0, colors::LABEL.gamma_multiply(0.5)),
    );
    let font = FontId::proportional((2.4 * xf.ppm).clamp(9.0, 14.0));
    match track.kind {
        TrackKind::Entropy => {
            let (first, end) = ex.valid_steps;
            let half = ex.step_duration_s / 2.0;
            let mut line = Vec::new();
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
                painter.rect_filled(
                    Rect::from_x_y_ranges(xa..=xb, y_of(e)..=screen.bottom()),
                    0.0,
                    fill.gamma_multiply(0.45),
                );
                line.push(pos2(x_of_t(t), y_of(e)));
            }
            painter.add(Shape::line(line, Stroke::new(1.5, colors::entropy())));
            painter.text(
                screen.left_top() + vec2(4.0, 2.0),
                Align2::LEFT_TOP,
                "entropy",
                font,
                colors::LABEL,
            );
        }
        TrackKind::GradCam => {
            let Some(cam) = &ex.gradcam else { return };
            let visible = painter.clip_rect().intersect(screen);
            let t_of_x = |x: f32| layout.t_s(track.rect_mm, track.t0_s, xf.mm(pos2(x, 0.0)).x);
            let mut line = Vec::new();
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
                        painter.rect_filled(
                            Rect::from_x_y_ranges(x..=x + 1.0, y_of(v)..=screen.bottom()),
                            0.0,
                            colors::heat(v),
                        );
                        line.push(pos2(x + 0.5, y_of(v)));
                    }
                }
                x += 1.0;
            }
            painter.add(Shape::line(line, Stroke::new(1.0, colors::LABEL)));
            let label = format!("Grad-CAM: {}", cam.output_name);
            painter.text(
                screen.left_top() + vec2(4.0, 2.0),
                Align2::LEFT_TOP,
                label,
                font,
                colors::LABEL,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn zoom_keeps_the_anchor_still() {
        let canvas = Rect::from_min_size(pos2(100.0, 50.0), vec2(800.0, 600.0));
        let mut v = PaperView {
            points_per_mm: Some(2.0),
            offset_mm: vec2(10.0, 5.0),
            ..Default::default()
        };
        let anchor = pos2(500.0, 300.0);
        let before = v.offset_mm + (anchor - canvas.min) / 2.0;
        v.zoom_about(1.5, anchor, canvas, 2.0);
        let after = v.offset_mm + (anchor - canvas.min) / v.points_per_mm.unwrap();
        assert!((before - after).length() < 1e-4);
        v.zoom_about(1000.0, anchor, canvas, 2.0);
        assert_eq!(v.points_per_mm, Some(MAX_POINTS_PER_MM));
    }
}
