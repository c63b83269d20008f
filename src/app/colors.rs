//! Colours of the app, from `crate::figure::palette` so the screen and exported figures agree.

use egui::Color32;

use crate::figure::palette;

/// A palette colour as egui's.
pub fn from_rgba(rgba: palette::Rgba) -> Color32 {
    Color32::from_rgba_unmultiplied(rgba[0], rgba[1], rgba[2], rgba[3])
}

/// The colour of cluster `k` (opaque); the same index always gives the same colour.
pub fn cluster(k: usize) -> Color32 {
    from_rgba(palette::cluster_colour(k))
}

/// Cluster colour for a band under the trace (translucent).
pub fn cluster_band(k: usize) -> Color32 {
    from_rgba(palette::cluster_band_colour(k, 90))
}

pub fn entropy() -> Color32 {
    from_rgba(palette::ENTROPY_LINE)
}

/// Grad-CAM heat colour for `v` in [0, 1].
pub fn heat(v: f32) -> Color32 {
    from_rgba(palette::gradcam_colour(if v.is_finite() {
        v.clamp(0.0, 1.0)
    } else {
        0.0
    }))
}

pub const PAPER: Color32 = Color32::from_rgb(255, 250, 248);
pub const GRID_MINOR: Color32 = Color32::from_rgb(0xF6, 0xC6, 0xC6);
pub const GRID_MAJOR: Color32 = Color32::from_rgb(0xE8, 0x8A, 0x8A);
pub const TRACE: Color32 = Color32::BLACK;
pub const LABEL: Color32 = Color32::from_rgb(0x20, 0x20, 0x20);
pub const CURSOR: Color32 = Color32::from_rgb(0, 90, 200);
