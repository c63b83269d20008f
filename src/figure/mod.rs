//! Export: annotated figures (SVG, PNG, PDF) from one rendering description shared with the
//! app, the data behind them (CSV, JSON) and WFDB annotations of the cluster segments.
//!
//! Pipeline: [`layout::compute_layout`] places panels and tracks in millimetres at true scale;
//! [`scene::build_scene`] turns a record, its explanation and its landmarks into drawing
//! primitives in millimetres; the writers render the scene (SVG text; PNG via resvg; PDF via
//! svg2pdf). The app paints the same scene.

pub mod annotations;
pub mod batch;
pub mod calipers;
pub mod data;
pub mod layout;
pub mod measurement_line;
pub mod palette;
pub mod reference;
pub mod render;
pub mod scene;

pub use layout::{
    FigureSpec, Layers, Layout, LayoutDescription, PageSize, Panel, RectMm, Track, TrackKind,
    compute_layout,
};

pub use calipers::{Caliper, CaliperShape};
pub use reference::{AnnotatorFile, ReferenceLayer, ReferenceMark};

pub use batch::{BatchFailure, BatchSummary, run_batch};
pub use data::export_data;
pub use render::{
    FigureFormat, check_figure, export_figure, render_pdf, render_png, render_svg, scene_to_svg,
};
pub use scene::{FigureInput, Scene, build_scene};

use std::path::PathBuf;

/// Errors of figure and data export; each names what it is about.
#[derive(Debug, thiserror::Error)]
pub enum FigureError {
    #[error("invalid figure settings: {0}")]
    InvalidSpec(String),
    #[error("record '{record}' has no lead {lead}")]
    MissingLead { record: String, lead: String },
    #[error(
        "record '{record}': window {start_s} s..{end_s} s starts after the record's end ({duration_s:.3} s)"
    )]
    WindowOutside {
        record: String,
        start_s: f64,
        end_s: f64,
        duration_s: f64,
    },
    #[error(
        "the figure ({content_w_mm:.1} x {content_h_mm:.1} mm) does not fit the page ({page_w_mm:.1} x {page_h_mm:.1} mm); choose fewer leads, a shorter window or a larger page"
    )]
    DoesNotFit {
        content_w_mm: f64,
        content_h_mm: f64,
        page_w_mm: f64,
        page_h_mm: f64,
    },
    #[error(
        "the figure would be {width_mm:.0} x {height_mm:.0} mm, more than the limit of {max_mm:.0} mm; choose a time window (e.g. --window 0,10 in the CLI) or a lower speed"
    )]
    TooLarge {
        width_mm: f64,
        height_mm: f64,
        max_mm: f64,
    },
    #[error("explanation of record '{explanation}' does not belong to record '{record}'")]
    Mismatch { record: String, explanation: String },
    #[error("{path}: {message}")]
    Render { path: PathBuf, message: String },
    #[error(
        "a PNG of {width_px} x {height_px} pixels at {dpi} DPI would need {needed_mb} MB, more than the {budget_mb} MB image budget; use at most {max_dpi:.0} DPI for this page, or SVG/PDF, which print at any resolution"
    )]
    TooManyPixels {
        width_px: u32,
        height_px: u32,
        dpi: f64,
        needed_mb: u64,
        budget_mb: u64,
        max_dpi: f64,
    },
    #[error("{path} already exists (use overwrite to replace it)")]
    Exists { path: PathBuf },
    #[error("{path}: unsupported figure format (use .svg, .png or .pdf)")]
    UnsupportedFormat { path: PathBuf },
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Data(String),
    #[error(transparent)]
    Annotation(#[from] crate::io::IoError),
    #[error(transparent)]
    Measure(#[from] crate::measure::MeasureError),
}
