//! The one layout description shared by the exported figures and the app: panels on ECG paper,
//! in millimetres, at true scale (paper speed in mm/s, gain in mm/mV).
//!
//! `compute_layout` knows nothing of the output format: SVG/PNG/PDF draw the description in mm,
//! the app scales mm to points. Geometry choices the paper does not fix (row height, margins,
//! track heights) are settings of [`FigureSpec`] with documented defaults.

use serde::{Deserialize, Serialize};

use crate::figure::FigureError;
use crate::record::{Ecg, LeadName};

/// How the leads are arranged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub enum Layout {
    /// One row per lead, all over the same time window.
    #[default]
    Stacked,
    /// The printed 12-lead format: 3 rows x 4 columns (columns I/II/III, aVR/aVL/aVF, V1-V3,
    /// V4-V6), each column a quarter of the window (2.5 s of a 10 s window), plus a rhythm strip
    /// over the whole window.
    Clinical3x4Rhythm { rhythm_lead: LeadName },
    /// The other printed 12-lead format: 6 rows x 2 columns (limb leads I-aVF, then V1-V6),
    /// each column half the window (5 s of a 10 s window), plus a rhythm strip over the whole
    /// window. Taller rows of fewer columns: each lead shows more beats.
    Clinical6x2Rhythm { rhythm_lead: LeadName },
}

impl Layout {
    /// The clinical layout with its usual rhythm strip (lead II).
    pub fn clinical() -> Self {
        Layout::Clinical3x4Rhythm {
            rhythm_lead: LeadName::II,
        }
    }

    /// The lead grid of a clinical layout, column by column (each column a list of rows), and
    /// its rhythm lead; `None` for the stacked layout.
    pub fn clinical_grid(&self) -> Option<(Vec<Vec<LeadName>>, &LeadName)> {
        use LeadName::*;
        match self {
            Layout::Stacked => None,
            Layout::Clinical3x4Rhythm { rhythm_lead } => Some((
                vec![
                    vec![I, II, III],
                    vec![AVR, AVL, AVF],
                    vec![V1, V2, V3],
                    vec![V4, V5, V6],
                ],
                rhythm_lead,
            )),
            Layout::Clinical6x2Rhythm { rhythm_lead } => Some((
                vec![
                    vec![I, II, III, AVR, AVL, AVF],
                    vec![V1, V2, V3, V4, V5, V6],
                ],
                rhythm_lead,
            )),
        }
    }
}

/// What is drawn. All on by default except the Grad-CAM heat overlay on the traces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Layers {
    /// Cluster bands behind the traces and their legend.
    pub clusters: bool,
    /// The entropy track under the traces.
    pub entropy: bool,
    /// P/QRS/T onset-offset bars (when a delineation is given).
    pub landmarks: bool,
    /// The Grad-CAM track beside the entropy track.
    pub gradcam: bool,
    /// Grad-CAM as a translucent heat band over the traces as well.
    pub gradcam_overlay: bool,
    /// The 1 mm / 5 mm ECG paper grid.
    pub grid: bool,
    /// A 1 mV x 0.2 s calibration pulse at the start of each row, as printed ECGs have.
    pub calibration: bool,
    /// Calipers set on the record (`figure::calipers`).
    pub calipers: bool,
    /// Reference annotation files beside the record (`figure::reference`).
    pub reference: bool,
    /// Signals recorded with the leads that are not leads (ABP, PLETH, RESP: `Ecg::other_signals`),
    /// one track each under the leads, in their own units.
    pub other_signals: bool,
}

impl Default for Layers {
    fn default() -> Self {
        Layers {
            clusters: true,
            entropy: true,
            landmarks: true,
            gradcam: true,
            gradcam_overlay: false,
            grid: true,
            calibration: true,
            calipers: true,
            reference: true,
            other_signals: true,
        }
    }
}

/// Page size of the figure.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub enum PageSize {
    /// The page is exactly as large as the content plus margins.
    #[default]
    Fit,
    /// 297 x 210 mm; content is placed at the top left margin and must fit (never scaled: the
    /// point of the figure is true scale).
    A4Landscape,
    /// Any size in mm (same rule as A4).
    Custom { width_mm: f64, height_mm: f64 },
}

/// Everything that decides how a figure looks. Defaults follow printed ECGs (25 mm/s,
/// 10 mm/mV) and a 300 DPI raster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FigureSpec {
    pub layout: Layout,
    /// Leads to show, in this order (stacked layout only; the clinical layout has fixed slots).
    /// `None` shows every lead of the record.
    pub leads: Option<Vec<LeadName>>,
    /// Time window (start, end) in seconds of the record. `None`: the whole record (stacked) or
    /// its first 10 s (clinical). An end past the record is clipped to it.
    pub window_s: Option<(f64, f64)>,
    /// Paper speed, mm per second (default 25).
    pub paper_speed_mm_s: f64,
    /// Gain, mm per millivolt (default 10).
    pub gain_mm_mv: f64,
    pub layers: Layers,
    /// Raster resolution of PNG output, dots per inch (default 300). Also sets the decimation
    /// of long traces (at most two points per output pixel column).
    pub dpi: f64,
    pub page: PageSize,
    /// Vertical room per lead row in millivolts (default 3.0, i.e. 30 mm at 10 mm/mV); rounded
    /// up to whole 5 mm squares so every baseline sits on a bold line. Traces that exceed it
    /// overlap the neighbour row, as on printed ECGs.
    pub row_height_mv: f64,
    /// Height of the entropy and Grad-CAM tracks, mm (default 10).
    pub track_height_mm: f64,
    /// Page margin on every side, mm (default 8).
    pub margin_mm: f64,
    /// Heights of the title, legend and footer bands, mm (defaults 16, 7, 6; the title band
    /// holds the record line, the labels line and the measurement line).
    pub title_height_mm: f64,
    pub legend_height_mm: f64,
    pub footer_height_mm: f64,
    /// Largest page side accepted, mm (default 3000): a whole Holter record at 25 mm/s would
    /// be hundreds of metres long; ask for a window instead.
    pub max_page_mm: f64,
}

impl Default for FigureSpec {
    fn default() -> Self {
        FigureSpec {
            layout: Layout::Stacked,
            leads: None,
            window_s: None,
            paper_speed_mm_s: 25.0,
            gain_mm_mv: 10.0,
            layers: Layers::default(),
            dpi: 300.0,
            page: PageSize::Fit,
            row_height_mv: 3.0,
            track_height_mm: 10.0,
            margin_mm: 8.0,
            title_height_mm: 16.0,
            legend_height_mm: 7.0,
            footer_height_mm: 6.0,
            max_page_mm: 3000.0,
        }
    }
}

/// Length of the calibration pulse (s) and its height (mV), as on printed ECGs.
pub const CALIBRATION_WIDTH_S: f64 = 0.2;
pub const CALIBRATION_HEIGHT_MV: f64 = 1.0;
/// Default clinical window (s).
pub const CLINICAL_WINDOW_S: f64 = 10.0;
/// Vertical gap between the paper and the tracks, and between tracks (mm).
const TRACK_GAP_MM: f64 = 2.0;
/// Room for the time axis labels under the last track (mm).
const AXIS_HEIGHT_MM: f64 = 4.0;
/// One bold square of ECG paper (mm): rows and the gutter are whole squares.
pub const MAJOR_MM: f64 = 5.0;

impl FigureSpec {
    /// Check every setting; the error names the bad one.
    pub fn validate(&self) -> Result<(), FigureError> {
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(FigureError::InvalidSpec(format!(
                    "{name} must be a positive number, got {v}"
                )))
            }
        };
        let non_negative = |name: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(FigureError::InvalidSpec(format!(
                    "{name} must be >= 0, got {v}"
                )))
            }
        };
        positive("paper_speed_mm_s", self.paper_speed_mm_s)?;
        positive("gain_mm_mv", self.gain_mm_mv)?;
        positive("row_height_mv", self.row_height_mv)?;
        positive("track_height_mm", self.track_height_mm)?;
        positive("max_page_mm", self.max_page_mm)?;
        non_negative("margin_mm", self.margin_mm)?;
        non_negative("title_height_mm", self.title_height_mm)?;
        non_negative("legend_height_mm", self.legend_height_mm)?;
        non_negative("footer_height_mm", self.footer_height_mm)?;
        if !(self.dpi.is_finite() && (10.0..=2400.0).contains(&self.dpi)) {
            return Err(FigureError::InvalidSpec(format!(
                "dpi must be between 10 and 2400, got {}",
                self.dpi
            )));
        }
        if let Some((a, b)) = self.window_s
            && !(a.is_finite() && b.is_finite() && a >= 0.0 && b > a)
        {
            return Err(FigureError::InvalidSpec(format!(
                "window must be start < end, both >= 0 seconds, got {a}..{b}"
            )));
        }
        if let Some(leads) = &self.leads
            && leads.is_empty()
        {
            return Err(FigureError::InvalidSpec(
                "the lead selection is empty".into(),
            ));
        }
        if let PageSize::Custom {
            width_mm,
            height_mm,
        } = self.page
        {
            positive("page width_mm", width_mm)?;
            positive("page height_mm", height_mm)?;
        }
        Ok(())
    }
}

/// A rectangle in mm, origin at the top left of the page, y downwards.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RectMm {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

impl RectMm {
    pub fn new(x: f64, y: f64, w: f64, h: f64) -> Self {
        RectMm { x, y, w, h }
    }
    pub fn right(&self) -> f64 {
        self.x + self.w
    }
    pub fn bottom(&self) -> f64 {
        self.y + self.h
    }
    /// True when `other` lies inside (borders included, with a tolerance for rounding).
    pub fn contains_rect(&self, other: &RectMm) -> bool {
        let eps = 1e-6;
        other.x >= self.x - eps
            && other.y >= self.y - eps
            && other.right() <= self.right() + eps
            && other.bottom() <= self.bottom() + eps
    }
    pub fn intersects(&self, other: &RectMm) -> bool {
        self.x < other.right()
            && other.x < self.right()
            && self.y < other.bottom()
            && other.y < self.bottom()
    }
}

/// The 1 mV x 0.2 s calibration pulse: a step up at `x_mm`, flat for `width_mm`, back down.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CalibrationPulse {
    pub x_mm: f64,
    pub baseline_y_mm: f64,
    pub width_mm: f64,
    pub height_mm: f64,
}

/// One lead over one time span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Panel {
    pub lead: LeadName,
    /// Row of the lead in the record; `None` when the record lacks a lead of a fixed slot of
    /// the clinical layout (the slot is drawn empty and labelled).
    pub lead_index: Option<usize>,
    pub start_s: f64,
    pub end_s: f64,
    /// Where the span is drawn: x maps time linearly at the paper speed.
    pub rect: RectMm,
    /// y of 0 mV.
    pub baseline_y_mm: f64,
    /// Pulse drawn in the gutter left of the first panel of each row.
    pub calibration: Option<CalibrationPulse>,
    /// The long rhythm strip of the clinical layout.
    pub rhythm: bool,
    /// Row (0 at the top) and column of the panel in the layout.
    pub row: usize,
    pub column: usize,
    pub paper_speed_mm_s: f64,
    pub gain_mm_mv: f64,
}

impl Panel {
    pub fn x_from_seconds(&self, t_s: f64) -> f64 {
        self.rect.x + (t_s - self.start_s) * self.paper_speed_mm_s
    }
    pub fn seconds_from_x(&self, x_mm: f64) -> f64 {
        self.start_s + (x_mm - self.rect.x) / self.paper_speed_mm_s
    }
    /// y of a value in mV (positive up).
    pub fn y_from_mv(&self, mv: f64) -> f64 {
        self.baseline_y_mm - mv * self.gain_mm_mv
    }
}

/// What a track shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TrackKind {
    Entropy,
    GradCam,
    /// `Ecg::other_signals[i]`, scaled to the track by its range over the record
    /// (`OtherSignal::value_range`).
    Signal(usize),
}

impl TrackKind {
    /// The track's name (an other signal's is its own: `OtherSignal::label`).
    pub fn label(&self) -> &'static str {
        match self {
            TrackKind::Entropy => "entropy",
            TrackKind::GradCam => "Grad-CAM",
            TrackKind::Signal(_) => "signal",
        }
    }
}

/// A value-over-time track in [0, 1], sharing the time axis of the panels above it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Track {
    pub kind: TrackKind,
    pub rect: RectMm,
    pub start_s: f64,
    pub end_s: f64,
    pub paper_speed_mm_s: f64,
}

impl Track {
    pub fn x_from_seconds(&self, t_s: f64) -> f64 {
        self.rect.x + (t_s - self.start_s) * self.paper_speed_mm_s
    }
    /// y of a value in [0, 1] (1 at the top).
    pub fn y_from_value(&self, v: f64) -> f64 {
        self.rect.bottom() - v.clamp(0.0, 1.0) * self.rect.h
    }
}

/// The whole page, in mm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayoutDescription {
    pub page_width_mm: f64,
    pub page_height_mm: f64,
    pub title: RectMm,
    pub legend: RectMm,
    /// The ECG paper (grid) behind the panels, including the calibration gutter.
    pub paper: RectMm,
    pub panels: Vec<Panel>,
    pub tracks: Vec<Track>,
    /// Band under the last track for the time axis labels (seconds).
    pub axis: RectMm,
    pub footer: RectMm,
    /// The time window shown (s).
    pub start_s: f64,
    pub end_s: f64,
    pub paper_speed_mm_s: f64,
    pub gain_mm_mv: f64,
}

/// Round up to whole bold squares.
fn ceil_major(mm: f64) -> f64 {
    (mm / MAJOR_MM - 1e-9).ceil().max(1.0) * MAJOR_MM
}

/// Place everything on the page. Fails on an invalid spec, a window outside the record, a
/// selected lead the record lacks, or content larger than the page.
pub fn compute_layout(ecg: &Ecg, spec: &FigureSpec) -> Result<LayoutDescription, FigureError> {
    spec.validate()?;
    let (start_s, end_s) = shown_window(ecg, spec)?;
    let margin = spec.margin_mm;
    let geometry = RowGeometry::new(spec, start_s, end_s);
    let paper_w = geometry.gutter_mm + geometry.trace_w_mm;
    let title = RectMm::new(margin, margin, paper_w, spec.title_height_mm);
    let legend = RectMm::new(margin, title.bottom(), paper_w, spec.legend_height_mm);
    let geometry = RowGeometry {
        paper_y_mm: legend.bottom(),
        ..geometry
    };
    let (panels, n_rows) = match &spec.layout {
        Layout::Stacked => {
            let panels = stacked_panels(ecg, spec, &geometry)?;
            let n_rows = panels.len();
            (panels, n_rows)
        }
        layout => {
            let panels = clinical_panels(ecg, layout, &geometry)?;
            let n_rows = panels.iter().map(|p| p.row + 1).max().unwrap_or(1);
            (panels, n_rows)
        }
    };
    let paper = RectMm::new(
        margin,
        geometry.paper_y_mm,
        paper_w,
        n_rows as f64 * geometry.row_h_mm,
    );
    let (tracks, axis_y) = tracks_below(spec, ecg, &geometry, paper.bottom());
    let axis = RectMm::new(
        geometry.trace_x_mm,
        axis_y,
        geometry.trace_w_mm,
        AXIS_HEIGHT_MM,
    );
    let footer = RectMm::new(margin, axis.bottom(), paper_w, spec.footer_height_mm);
    let (page_width_mm, page_height_mm) =
        page_size(spec, paper_w + 2.0 * margin, footer.bottom() + margin)?;
    Ok(LayoutDescription {
        page_width_mm,
        page_height_mm,
        title,
        legend,
        paper,
        panels,
        tracks,
        axis,
        footer,
        start_s,
        end_s,
        paper_speed_mm_s: geometry.speed_mm_s,
        gain_mm_mv: geometry.gain_mm_mv,
    })
}

/// The time window shown (s): the spec's, or the whole record (stacked) or its first
/// `CLINICAL_WINDOW_S` (clinical), cut at the record's end. A window starting after the record
/// is an error.
fn shown_window(ecg: &Ecg, spec: &FigureSpec) -> Result<(f64, f64), FigureError> {
    let duration_s = ecg.duration_s();
    let default_end = match spec.layout {
        Layout::Stacked => duration_s,
        Layout::Clinical3x4Rhythm { .. } | Layout::Clinical6x2Rhythm { .. } => {
            duration_s.min(CLINICAL_WINDOW_S)
        }
    };
    let (start_s, requested_end_s) = spec.window_s.unwrap_or((0.0, default_end));
    if start_s >= duration_s {
        return Err(FigureError::WindowOutside {
            record: ecg.meta.id.clone(),
            start_s,
            end_s: requested_end_s,
            duration_s,
        });
    }
    Ok((start_s, requested_end_s.min(duration_s)))
}

/// What every row of panels shares: where the traces start and how wide they are, row height
/// and baseline, the calibration gutter, paper speed and gain, the window shown.
struct RowGeometry {
    margin_mm: f64,
    /// Gutter left of the traces for the calibration pulse (0 without it).
    gutter_mm: f64,
    trace_x_mm: f64,
    trace_w_mm: f64,
    /// Top of the first row (set once the title and legend are placed).
    paper_y_mm: f64,
    row_h_mm: f64,
    /// Baseline below the row's top.
    baseline_offset_mm: f64,
    speed_mm_s: f64,
    gain_mm_mv: f64,
    calibration: bool,
    start_s: f64,
    end_s: f64,
}

impl RowGeometry {
    fn new(spec: &FigureSpec, start_s: f64, end_s: f64) -> RowGeometry {
        let speed = spec.paper_speed_mm_s;
        let gain = spec.gain_mm_mv;
        // Gutter for the calibration pulse: a little room each side, whole squares so that the
        // window start falls on a bold line.
        let gutter_mm = if spec.layers.calibration {
            ceil_major(CALIBRATION_WIDTH_S * speed + 2.0 * 2.5)
        } else {
            0.0
        };
        let row_h = ceil_major(spec.row_height_mv * gain);
        RowGeometry {
            margin_mm: spec.margin_mm,
            gutter_mm,
            trace_x_mm: spec.margin_mm + gutter_mm,
            trace_w_mm: (end_s - start_s) * speed,
            paper_y_mm: 0.0,
            row_h_mm: row_h,
            // Baseline in the middle of the row, on a bold line.
            baseline_offset_mm: (row_h / 2.0 / MAJOR_MM).round() * MAJOR_MM,
            speed_mm_s: speed,
            gain_mm_mv: gain,
            calibration: spec.layers.calibration,
            start_s,
            end_s,
        }
    }

    /// Top of row `row`.
    fn row_y(&self, row: usize) -> f64 {
        self.paper_y_mm + row as f64 * self.row_h_mm
    }

    /// The calibration pulse of a row whose top is `row_y`, centred in the gutter.
    fn pulse(&self, row_y: f64) -> Option<CalibrationPulse> {
        let speed = self.speed_mm_s;
        self.calibration.then(|| CalibrationPulse {
            x_mm: self.margin_mm + (self.gutter_mm - CALIBRATION_WIDTH_S * speed) / 2.0,
            baseline_y_mm: row_y + self.baseline_offset_mm,
            width_mm: CALIBRATION_WIDTH_S * speed,
            height_mm: CALIBRATION_HEIGHT_MV * self.gain_mm_mv,
        })
    }

    /// A panel as wide as the whole window in row `row` (stacked leads, the rhythm strip).
    fn full_width_panel(
        &self,
        lead: &LeadName,
        lead_index: usize,
        row: usize,
        rhythm: bool,
    ) -> Panel {
        let y = self.row_y(row);
        Panel {
            lead: lead.clone(),
            lead_index: Some(lead_index),
            start_s: self.start_s,
            end_s: self.end_s,
            rect: RectMm::new(self.trace_x_mm, y, self.trace_w_mm, self.row_h_mm),
            baseline_y_mm: y + self.baseline_offset_mm,
            calibration: self.pulse(y),
            rhythm,
            row,
            column: 0,
            paper_speed_mm_s: self.speed_mm_s,
            gain_mm_mv: self.gain_mm_mv,
        }
    }
}

/// The lead of the record for `lead`, or the error naming it.
fn lead_index_of(ecg: &Ecg, lead: &LeadName) -> Result<usize, FigureError> {
    ecg.lead_index_or_equivalent(lead)
        .ok_or_else(|| FigureError::MissingLead {
            record: ecg.meta.id.clone(),
            lead: lead.to_string(),
        })
}

/// One full-width row per selected lead (all the record's leads by default).
fn stacked_panels(
    ecg: &Ecg,
    spec: &FigureSpec,
    geometry: &RowGeometry,
) -> Result<Vec<Panel>, FigureError> {
    let leads: Vec<LeadName> = match &spec.leads {
        Some(sel) => sel.clone(),
        None => ecg.leads.clone(),
    };
    leads
        .iter()
        .enumerate()
        .map(|(row, lead)| {
            Ok(geometry.full_width_panel(lead, lead_index_of(ecg, lead)?, row, false))
        })
        .collect()
}

/// The clinical grid of `layout` (each column an equal share of the window; a lead the record
/// lacks is a panel that says so) and the rhythm strip under it.
fn clinical_panels(
    ecg: &Ecg,
    layout: &Layout,
    geometry: &RowGeometry,
) -> Result<Vec<Panel>, FigureError> {
    let Some((grid, rhythm_lead)) = layout.clinical_grid() else {
        return Ok(Vec::new());
    };
    let g = geometry;
    let speed = g.speed_mm_s;
    let column_s = (g.end_s - g.start_s) / grid.len() as f64;
    let n_grid_rows = grid.iter().map(Vec::len).max().unwrap_or(0);
    let mut panels = Vec::new();
    for (column, slot) in grid.iter().enumerate() {
        for (row, lead) in slot.iter().enumerate() {
            let y = g.row_y(row);
            let col_start = g.start_s + column as f64 * column_s;
            panels.push(Panel {
                lead: lead.clone(),
                lead_index: ecg.lead_index_or_equivalent(lead),
                start_s: col_start,
                end_s: col_start + column_s,
                rect: RectMm::new(
                    g.trace_x_mm + column as f64 * column_s * speed,
                    y,
                    column_s * speed,
                    g.row_h_mm,
                ),
                baseline_y_mm: y + g.baseline_offset_mm,
                calibration: if column == 0 { g.pulse(y) } else { None },
                rhythm: false,
                row,
                column,
                paper_speed_mm_s: speed,
                gain_mm_mv: g.gain_mm_mv,
            });
        }
    }
    let lead_index = lead_index_of(ecg, rhythm_lead)?;
    panels.push(g.full_width_panel(rhythm_lead, lead_index, n_grid_rows, true));
    Ok(panels)
}

/// The enabled tracks (the record's other signals, then entropy, then Grad-CAM) under the
/// paper, whose bottom is `paper_bottom`; also returns where the time axis goes (under the last
/// track). Other signals come first: they are part of the recording, the others of its analysis.
fn tracks_below(
    spec: &FigureSpec,
    ecg: &Ecg,
    geometry: &RowGeometry,
    paper_bottom: f64,
) -> (Vec<Track>, f64) {
    let mut tracks = Vec::new();
    let mut y = paper_bottom;
    let signals =
        (0..ecg.other_signals.len()).map(|i| (spec.layers.other_signals, TrackKind::Signal(i)));
    let analysis = [
        (spec.layers.entropy, TrackKind::Entropy),
        (spec.layers.gradcam, TrackKind::GradCam),
    ];
    for (enabled, kind) in signals.chain(analysis) {
        if enabled {
            y += TRACK_GAP_MM;
            tracks.push(Track {
                kind,
                rect: RectMm::new(
                    geometry.trace_x_mm,
                    y,
                    geometry.trace_w_mm,
                    spec.track_height_mm,
                ),
                start_s: geometry.start_s,
                end_s: geometry.end_s,
                paper_speed_mm_s: geometry.speed_mm_s,
            });
            y += spec.track_height_mm;
        }
    }
    (tracks, y)
}

/// The page for content `content_w` x `content_h` mm: the content itself (`Fit`) or a fixed
/// size it must fit in, never above `max_page_mm`.
fn page_size(spec: &FigureSpec, content_w: f64, content_h: f64) -> Result<(f64, f64), FigureError> {
    let (page_width_mm, page_height_mm) = match spec.page {
        PageSize::Fit => (content_w, content_h),
        PageSize::A4Landscape => (297.0, 210.0),
        PageSize::Custom {
            width_mm,
            height_mm,
        } => (width_mm, height_mm),
    };
    if content_w > page_width_mm + 1e-6 || content_h > page_height_mm + 1e-6 {
        return Err(FigureError::DoesNotFit {
            content_w_mm: content_w,
            content_h_mm: content_h,
            page_w_mm: page_width_mm,
            page_h_mm: page_height_mm,
        });
    }
    if page_width_mm > spec.max_page_mm || page_height_mm > spec.max_page_mm {
        return Err(FigureError::TooLarge {
            width_mm: page_width_mm,
            height_mm: page_height_mm,
            max_mm: spec.max_page_mm,
        });
    }
    Ok((page_width_mm, page_height_mm))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::EcgMeta;
    use ndarray::Array2;

    fn ecg(leads: Vec<LeadName>, fs_hz: f64, seconds: f64) -> Ecg {
        let n = (fs_hz * seconds) as usize;
        let meta = EcgMeta {
            id: "t1".into(),
            ..Default::default()
        };
        Ecg::new(leads.clone(), fs_hz, Array2::zeros((leads.len(), n)), meta).unwrap()
    }

    #[test]
    fn stacked_is_true_scale_and_inside_the_page() {
        let e = ecg(LeadName::standard_12(), 500.0, 10.0);
        let spec = FigureSpec::default();
        let l = compute_layout(&e, &spec).unwrap();
        assert_eq!(l.panels.len(), 12);
        let p = &l.panels[1];
        assert_eq!(p.lead, LeadName::II);
        assert!((p.rect.w - 250.0).abs() < 1e-9, "10 s at 25 mm/s = 250 mm");
        assert!((p.x_from_seconds(1.0) - p.x_from_seconds(0.0) - 25.0).abs() < 1e-9);
        assert!((p.y_from_mv(0.0) - p.y_from_mv(1.0) - 10.0).abs() < 1e-9);
        // Baselines and the window start sit on bold lines of the paper.
        let on_major = |v: f64| {
            (((v - l.paper.y) / MAJOR_MM).round() * MAJOR_MM - (v - l.paper.y)).abs() < 1e-9
        };
        assert!(on_major(p.baseline_y_mm));
        assert!((((p.rect.x - l.paper.x) / MAJOR_MM).fract()).abs() < 1e-9);
        let page = RectMm::new(0.0, 0.0, l.page_width_mm, l.page_height_mm);
        for r in [l.title, l.legend, l.paper, l.axis, l.footer] {
            assert!(page.contains_rect(&r), "{r:?}");
        }
        for t in &l.tracks {
            assert!(page.contains_rect(&t.rect));
            assert!(!t.rect.intersects(&l.paper));
        }
        assert_eq!(l.tracks.len(), 2);
        let c = p.calibration.unwrap();
        assert!((c.width_mm - 5.0).abs() < 1e-9 && (c.height_mm - 10.0).abs() < 1e-9);
        assert!(c.x_mm >= l.paper.x && c.x_mm + c.width_mm <= p.rect.x);
    }

    #[test]
    fn clinical_has_twelve_slots_and_a_rhythm_strip() {
        let e = ecg(LeadName::standard_12(), 400.0, 12.0);
        let spec = FigureSpec {
            layout: Layout::clinical(),
            ..Default::default()
        };
        let l = compute_layout(&e, &spec).unwrap();
        assert_eq!(l.panels.len(), 13);
        assert_eq!((l.start_s, l.end_s), (0.0, 10.0));
        let v4 = l.panels.iter().find(|p| p.lead == LeadName::V4).unwrap();
        assert_eq!((v4.row, v4.column), (0, 3));
        assert!((v4.start_s - 7.5).abs() < 1e-9 && (v4.end_s - 10.0).abs() < 1e-9);
        assert!((v4.rect.w - 62.5).abs() < 1e-9);
        let rhythm = l.panels.iter().find(|p| p.rhythm).unwrap();
        assert_eq!(rhythm.lead, LeadName::II);
        assert!((rhythm.rect.w - 250.0).abs() < 1e-9);
        // Columns tile the strip exactly.
        let ii = l
            .panels
            .iter()
            .find(|p| p.lead == LeadName::II && !p.rhythm)
            .unwrap();
        let avl = l.panels.iter().find(|p| p.lead == LeadName::AVL).unwrap();
        assert!((ii.rect.right() - avl.rect.x).abs() < 1e-9);
        // Fits A4 landscape with the defaults.
        let a4 = FigureSpec {
            page: PageSize::A4Landscape,
            ..spec
        };
        let l = compute_layout(&e, &a4).unwrap();
        assert_eq!((l.page_width_mm, l.page_height_mm), (297.0, 210.0));
    }

    #[test]
    fn six_by_two_has_limb_leads_then_chest_leads_and_a_rhythm_strip() {
        let e = ecg(LeadName::standard_12(), 500.0, 12.0);
        let spec = FigureSpec {
            layout: Layout::Clinical6x2Rhythm {
                rhythm_lead: LeadName::V5,
            },
            ..Default::default()
        };
        let l = compute_layout(&e, &spec).unwrap();
        assert_eq!(l.panels.len(), 13);
        assert_eq!((l.start_s, l.end_s), (0.0, 10.0));
        for (i, lead) in LeadName::standard_12().iter().enumerate() {
            let p = l
                .panels
                .iter()
                .find(|p| &p.lead == lead && !p.rhythm)
                .unwrap();
            assert_eq!((p.row, p.column), (i % 6, i / 6), "{lead}");
            assert!((p.start_s - 5.0 * (i / 6) as f64).abs() < 1e-9, "{lead}");
            assert!((p.end_s - p.start_s - 5.0).abs() < 1e-9);
            assert!((p.rect.w - 125.0).abs() < 1e-9);
            assert_eq!(p.lead_index, Some(i));
            // Only the first column carries the calibration pulse.
            assert_eq!(p.calibration.is_some(), i < 6, "{lead}");
        }
        let rhythm = l.panels.iter().find(|p| p.rhythm).unwrap();
        assert_eq!((rhythm.lead.clone(), rhythm.row), (LeadName::V5, 6));
        assert!((rhythm.rect.w - 250.0).abs() < 1e-9);
        assert!((l.paper.h - 7.0 * 30.0).abs() < 1e-9);
        // The columns tile the strip exactly.
        let avf = l.panels.iter().find(|p| p.lead == LeadName::AVF).unwrap();
        let v6 = l.panels.iter().find(|p| p.lead == LeadName::V6).unwrap();
        assert!((avf.rect.right() - v6.rect.x).abs() < 1e-9);
    }

    #[test]
    fn missing_leads_and_bad_windows_are_errors() {
        let e = ecg(
            vec![LeadName::Other("ECG1".into()), LeadName::V5],
            360.0,
            20.0,
        );
        let spec = FigureSpec {
            layout: Layout::clinical(),
            ..Default::default()
        };
        let err = compute_layout(&e, &spec).unwrap_err().to_string();
        assert!(err.contains("II") && err.contains("t1"), "{err}");
        // A Holter record's MLII is lead II's equivalent: the rhythm strip uses it.
        let holter = ecg(
            vec![LeadName::Other("MLII".into()), LeadName::V5],
            360.0,
            20.0,
        );
        let l = compute_layout(&holter, &spec).unwrap();
        assert!(l.panels.iter().any(|p| p.rhythm && p.lead_index == Some(0)));
        let spec = FigureSpec {
            leads: Some(vec![LeadName::V5, LeadName::V1]),
            ..Default::default()
        };
        assert!(
            compute_layout(&e, &spec)
                .unwrap_err()
                .to_string()
                .contains("V1")
        );
        let spec = FigureSpec {
            window_s: Some((30.0, 40.0)),
            ..Default::default()
        };
        assert!(matches!(
            compute_layout(&e, &spec),
            Err(FigureError::WindowOutside { .. })
        ));
        let spec = FigureSpec {
            window_s: Some((5.0, 2.0)),
            ..Default::default()
        };
        assert!(matches!(
            compute_layout(&e, &spec),
            Err(FigureError::InvalidSpec(_))
        ));
        let spec = FigureSpec {
            gain_mm_mv: -1.0,
            ..Default::default()
        };
        assert!(
            compute_layout(&e, &spec)
                .unwrap_err()
                .to_string()
                .contains("gain_mm_mv")
        );
        // Window end clipped to the record; selection order kept.
        let spec = FigureSpec {
            leads: Some(vec![LeadName::V5]),
            window_s: Some((15.0, 99.0)),
            ..Default::default()
        };
        let l = compute_layout(&e, &spec).unwrap();
        assert_eq!(l.panels.len(), 1);
        assert_eq!(l.panels[0].lead_index, Some(1));
        assert!((l.end_s - 20.0).abs() < 1e-9);
        assert!((l.panels[0].rect.w - 125.0).abs() < 1e-9);
    }

    #[test]
    fn oversize_content_is_refused() {
        let e = ecg(LeadName::standard_12(), 100.0, 200.0);
        let err = compute_layout(&e, &FigureSpec::default()).unwrap_err();
        assert!(matches!(err, FigureError::TooLarge { .. }), "{err}");
        let spec = FigureSpec {
            page: PageSize::A4Landscape,
            window_s: Some((0.0, 10.0)),
            ..Default::default()
        };
        assert!(matches!(
            compute_layout(&e, &spec),
            Err(FigureError::DoesNotFit { .. })
        ));
        let json = serde_json::to_string(&FigureSpec::default()).unwrap();
        let back: FigureSpec = serde_json::from_str(&json).unwrap();
        assert_eq!(back, FigureSpec::default());
        let partial: FigureSpec = serde_json::from_str(r#"{"gain_mm_mv": 20.0}"#).unwrap();
        assert_eq!(partial.paper_speed_mm_s, 25.0);
    }
}
