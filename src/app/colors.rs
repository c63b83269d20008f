//! Colours of the app: clusters, entropy and Grad-CAM, and the ECG paper.

use egui::Color32;

/// Okabe-Ito, colour-blind safe (black left out: it is the trace colour), then Paul Tol's muted.
const CLUSTERS: [[u8; 3]; 16] = [
    [230, 159, 0],
    [86, 180, 233],
    [0, 158, 115],
    [240, 228, 66],
    [0, 114, 178],
    [213, 94, 0],
    [204, 121, 167],
    [153, 153, 153],
    [51, 34, 136],
    [136, 204, 238],
    [68, 170, 153],
    [17, 119, 51],
    [153, 153, 51],
    [221, 204, 119],
    [204, 102, 119],
    [136, 34, 85],
];

/// The colour of cluster `k` (opaque); the same index always gives the same colour.
pub fn cluster(k: usize) -> Color32 {
    let [r, g, b] = CLUSTERS[k % CLUSTERS.len()];
    Color32::from_rgb(r, g, b)
}

/// Cluster colour for a band under the trace (translucent).
pub fn cluster_band(k: usize) -> Color32 {
    cluster(k).gamma_multiply(0.35)
}

pub fn entropy() -> Color32 {
    Color32::from_rgb(90, 60, 160)
}

/// Grad-CAM heat colour for `v` in [0, 1] (inferno samples, interpolated).
pub fn heat(v: f32) -> Color32 {
    const STOPS: [[u8; 3]; 6] = [
        [0, 0, 4],
        [66, 10, 104],
        [147, 38, 103],
        [221, 81, 58],
        [252, 165, 10],
        [252, 255, 164],
    ];
    let v = if v.is_finite() {
        v.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let pos = v * (STOPS.len() - 1) as f32;
    let i = (pos.floor() as usize).min(STOPS.len() - 2);
    let f = pos - i as f32;
    let mix = |a: u8, b: u8| (a as f32 + (b as f32 - a as f32) * f).round() as u8;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    Color32::from_rgb(mix(a[0], b[0]), mix(a[1], b[1]), mix(a[2], b[2]))
}

pub const PAPER: Color32 = Color32::from_rgb(255, 248, 246);
pub const GRID_MINOR: Color32 = Color32::from_rgb(250, 212, 212);
pub const GRID_MAJOR: Color32 = Color32::from_rgb(236, 150, 150);
pub const TRACE: Color32 = Color32::from_rgb(20, 20, 28);
pub const LABEL: Color32 = Color32::from_rgb(40, 40, 60);
pub const CURSOR: Color32 = Color32::from_rgb(0, 90, 200);
