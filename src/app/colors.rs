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

/// Black or white, whichever reads better on `fill` (by its relative luminance): cluster chips
/// range from sand to indigo.
pub fn text_on(fill: Color32) -> Color32 {
    let lin = |c: u8| {
        let c = c as f32 / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let luminance = 0.2126 * lin(fill.r()) + 0.7152 * lin(fill.g()) + 0.0722 * lin(fill.b());
    // Contrast with black (L + 0.05) / 0.05 equals contrast with white 1.05 / (L + 0.05) at
    // L = 0.179.
    if luminance > 0.179 {
        Color32::BLACK
    } else {
        Color32::WHITE
    }
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
/// Problems and marks that change how a trace may be read (an uncalibrated lead).
pub const WARNING: Color32 = Color32::from_rgb(213, 94, 0);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chip_text_is_light_on_dark_clusters_and_dark_on_light_ones() {
        assert_eq!(text_on(Color32::from_rgb(0x33, 0x22, 0x88)), Color32::WHITE); // indigo
        assert_eq!(text_on(Color32::from_rgb(0xDD, 0xCC, 0x77)), Color32::BLACK); // sand
        assert_eq!(text_on(Color32::BLACK), Color32::WHITE);
        assert_eq!(text_on(Color32::WHITE), Color32::BLACK);
    }
}
