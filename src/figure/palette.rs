//! Colours shared by the figures and the app, as RGBA bytes (the core knows nothing of egui).
//!
//! Cluster colours are categorical and colour-blind safe: the seven chromatic colours of
//! Okabe & Ito (2008) and Paul Tol's "muted" scheme (nine colours), 16 distinct colours in all,
//! ordered so that the first K stay apart as translucent bands (see `CLUSTER_ORDER`). A cluster index always maps to the same colour, in every figure and in the app.
//! Beyond 16 clusters the list repeats, darkened by a fixed step per round, so neighbours in the
//! index stay distinguishable (but such K is too many to read on a figure anyway).
//!
//! Continuous quantities use perceptually uniform maps sampled from matplotlib: viridis for the
//! entropy and inferno for Grad-CAM (so the two tracks are never confused).

/// A colour as red, green, blue, alpha bytes (alpha 255 = opaque).
pub type Rgba = [u8; 4];

/// Okabe-Ito without black (black is the trace colour): orange, sky blue, bluish green,
/// yellow, blue, vermillion, reddish purple.
pub const OKABE_ITO: [Rgba; 7] = [
    [0xE6, 0x9F, 0x00, 0xFF],
    [0x56, 0xB4, 0xE9, 0xFF],
    [0x00, 0x9E, 0x73, 0xFF],
    [0xF0, 0xE4, 0x42, 0xFF],
    [0x00, 0x72, 0xB2, 0xFF],
    [0xD5, 0x5E, 0x00, 0xFF],
    [0xCC, 0x79, 0xA7, 0xFF],
];

/// Paul Tol's muted scheme: rose, indigo, sand, green, cyan, wine, teal, olive, purple.
pub const TOL_MUTED: [Rgba; 9] = [
    [0xCC, 0x66, 0x77, 0xFF],
    [0x33, 0x22, 0x88, 0xFF],
    [0xDD, 0xCC, 0x77, 0xFF],
    [0x11, 0x77, 0x33, 0xFF],
    [0x88, 0xCC, 0xEE, 0xFF],
    [0x88, 0x22, 0x55, 0xFF],
    [0x44, 0xAA, 0x99, 0xFF],
    [0x99, 0x99, 0x33, 0xFF],
    [0xAA, 0x44, 0x99, 0xFF],
];

/// The 16 colours in the order clusters take them. Bands are translucent, so colours that differ
/// when opaque (sky blue and blue, reddish purple and rose) come close under the trace; the
/// order makes the first K colours as far apart as possible as bands over the paper, for
/// normal vision and for simulated deuteranopia and protanopia (each next colour the one
/// farthest in CIELAB from those before it; `cluster_bands_are_far_apart` checks the result).
const CLUSTER_ORDER: [Rgba; 16] = [
    TOL_MUTED[6], // teal
    OKABE_ITO[0], // orange
    TOL_MUTED[1], // indigo
    TOL_MUTED[2], // sand
    OKABE_ITO[1], // sky blue
    TOL_MUTED[3], // green
    OKABE_ITO[5], // vermilion
    TOL_MUTED[5], // wine
    TOL_MUTED[8], // purple
    OKABE_ITO[3], // yellow
    TOL_MUTED[7], // olive
    TOL_MUTED[0], // rose
    TOL_MUTED[4], // cyan
    OKABE_ITO[2], // bluish green
    OKABE_ITO[4], // blue
    OKABE_ITO[6], // reddish purple
];

/// Number of distinct cluster colours before the list repeats (darkened).
pub const N_DISTINCT_CLUSTER_COLOURS: usize = OKABE_ITO.len() + TOL_MUTED.len();

/// Darkening factor applied once per round of the list beyond 16 clusters.
const ROUND_DARKEN: f32 = 0.7;

/// The opaque colour of cluster `index` (0-based, as in `Explanation::labels`).
pub fn cluster_colour(index: usize) -> Rgba {
    let slot = index % N_DISTINCT_CLUSTER_COLOURS;
    let round = index / N_DISTINCT_CLUSTER_COLOURS;
    let factor = ROUND_DARKEN.powi(round.min(8) as i32);
    scale_rgb(CLUSTER_ORDER[slot], factor)
}

/// Cluster colour with the given opacity (for bands drawn under the trace).
pub fn cluster_band_colour(index: usize, alpha: u8) -> Rgba {
    with_alpha(cluster_colour(index), alpha)
}

/// The display name of a cluster: the explainer's description when given, else `C<index>`.
pub fn cluster_display_name(index: usize, names: Option<&[String]>) -> String {
    match names.and_then(|n| n.get(index)) {
        Some(name) if !name.trim().is_empty() => name.clone(),
        _ => format!("C{index}"),
    }
}

/// matplotlib viridis sampled at 0, 1/8, ..., 1.
const VIRIDIS: [[u8; 3]; 9] = [
    [0x44, 0x01, 0x54],
    [0x47, 0x2d, 0x7b],
    [0x3b, 0x52, 0x8b],
    [0x2c, 0x72, 0x8e],
    [0x21, 0x91, 0x8c],
    [0x28, 0xae, 0x80],
    [0x5e, 0xc9, 0x62],
    [0xad, 0xdc, 0x30],
    [0xfd, 0xe7, 0x25],
];

/// matplotlib inferno sampled at 0, 1/8, ..., 1.
const INFERNO: [[u8; 3]; 9] = [
    [0x00, 0x00, 0x04],
    [0x1f, 0x0c, 0x48],
    [0x55, 0x0f, 0x6d],
    [0x88, 0x22, 0x6a],
    [0xba, 0x36, 0x55],
    [0xe3, 0x59, 0x33],
    [0xf9, 0x8e, 0x09],
    [0xf9, 0xcb, 0x35],
    [0xfc, 0xff, 0xa4],
];

fn sample_map(map: &[[u8; 3]; 9], value: f32) -> Rgba {
    // NaN maps to 0: a colour must always be produced, and NaN never comes from valid data.
    let v = if value.is_nan() {
        0.0
    } else {
        value.clamp(0.0, 1.0)
    };
    let pos = v * (map.len() - 1) as f32;
    let lo = (pos.floor() as usize).min(map.len() - 1);
    let hi = (lo + 1).min(map.len() - 1);
    let t = pos - lo as f32;
    let mut out = [0u8, 0, 0, 255];
    for c in 0..3 {
        let a = map[lo][c] as f32;
        let b = map[hi][c] as f32;
        out[c] = (a + (b - a) * t).round().clamp(0.0, 255.0) as u8;
    }
    out
}

/// Colour of an entropy value in [0, 1] (viridis; values outside are clamped).
pub fn entropy_colour(value: f32) -> Rgba {
    sample_map(&VIRIDIS, value)
}

/// Colour of a Grad-CAM value in [0, 1] (inferno; values outside are clamped).
pub fn gradcam_colour(value: f32) -> Rgba {
    sample_map(&INFERNO, value)
}

/// Line colour of the entropy curve (a dark viridis tone).
pub const ENTROPY_LINE: Rgba = [0x3b, 0x52, 0x8b, 0xFF];
/// Fill under the entropy curve.
pub const ENTROPY_FILL: Rgba = [0x3b, 0x52, 0x8b, 0x50];
/// Line colour of the Grad-CAM curve (a dark inferno tone).
pub const GRADCAM_LINE: Rgba = [0x88, 0x22, 0x6a, 0xFF];

/// ECG trace.
pub const TRACE: Rgba = [0x00, 0x00, 0x00, 0xFF];
/// ECG paper: 1 mm lines, 5 mm lines, background.
pub const GRID_MINOR: Rgba = [0xF6, 0xC6, 0xC6, 0xFF];
pub const GRID_MAJOR: Rgba = [0xE8, 0x8A, 0x8A, 0xFF];
pub const PAPER: Rgba = [0xFF, 0xFF, 0xFF, 0xFF];
/// Text and frames.
pub const INK: Rgba = [0x20, 0x20, 0x20, 0xFF];
pub const MUTED_INK: Rgba = [0x60, 0x60, 0x60, 0xFF];
/// Notes that qualify the figure (a model applied to unlike data): Okabe-Ito's vermilion,
/// darkened to read as text on white.
pub const WARNING_INK: Rgba = [0xB0, 0x4A, 0x00, 0xFF];

/// Landmark colours (P, QRS, T): Tol's "bright" blue, red and green, kept apart from the
/// cluster bands by being drawn as thin bars on a white strip.
pub const LANDMARK_P: Rgba = [0x44, 0x77, 0xAA, 0xFF];
pub const LANDMARK_QRS: Rgba = [0xEE, 0x66, 0x77, 0xFF];
pub const LANDMARK_T: Rgba = [0x22, 0x88, 0x33, 0xFF];

/// The same colour with another alpha.
pub fn with_alpha(colour: Rgba, alpha: u8) -> Rgba {
    [colour[0], colour[1], colour[2], alpha]
}

fn scale_rgb(colour: Rgba, factor: f32) -> Rgba {
    let f = |c: u8| ((c as f32) * factor).round().clamp(0.0, 255.0) as u8;
    [f(colour[0]), f(colour[1]), f(colour[2]), colour[3]]
}

/// A translucent colour as it looks over the (white) paper, made opaque: opaque fills render
/// faster and print the same.
pub fn over_paper(colour: Rgba) -> Rgba {
    let a = colour[3] as f32 / 255.0;
    let mix = |c: u8, p: u8| {
        (c as f32 * a + p as f32 * (1.0 - a))
            .round()
            .clamp(0.0, 255.0) as u8
    };
    [
        mix(colour[0], PAPER[0]),
        mix(colour[1], PAPER[1]),
        mix(colour[2], PAPER[2]),
        255,
    ]
}

/// `#rrggbb` (alpha is written separately as an opacity in SVG).
pub fn to_hex_rgb(colour: Rgba) -> String {
    format!("#{:02x}{:02x}{:02x}", colour[0], colour[1], colour[2])
}

/// Alpha as an opacity in [0, 1].
pub fn opacity(colour: Rgba) -> f32 {
    colour[3] as f32 / 255.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_colours_are_distinct_and_deterministic() {
        let colours: Vec<Rgba> = (0..N_DISTINCT_CLUSTER_COLOURS)
            .map(cluster_colour)
            .collect();
        for i in 0..colours.len() {
            for j in i + 1..colours.len() {
                assert_ne!(
                    colours[i], colours[j],
                    "clusters {i} and {j} share a colour"
                );
            }
        }
        assert_eq!(cluster_colour(3), cluster_colour(3));
        assert_eq!(cluster_colour(0), CLUSTER_ORDER[0]);
        assert_eq!(cluster_colour(15), CLUSTER_ORDER[15]);
        // Beyond 16, a darker repeat, never the same colour as the first round.
        assert_ne!(cluster_colour(16), cluster_colour(0));
        assert!(cluster_colour(16)[0] < cluster_colour(0)[0]);
        assert_eq!(cluster_colour(100)[3], 255);
    }

    /// CIELAB (D65) of an sRGB colour, for the distance test below.
    fn lab(rgb: [f64; 3]) -> [f64; 3] {
        let xyz = |l: [f64; 3]| {
            [
                (0.4124 * l[0] + 0.3576 * l[1] + 0.1805 * l[2]) / 0.95047,
                0.2126 * l[0] + 0.7152 * l[1] + 0.0722 * l[2],
                (0.0193 * l[0] + 0.1192 * l[1] + 0.9505 * l[2]) / 1.08883,
            ]
        };
        let f = |t: f64| {
            if t > 0.008856 {
                t.cbrt()
            } else {
                7.787 * t + 16.0 / 116.0
            }
        };
        let [x, y, z] = xyz(rgb.map(srgb_to_linear));
        [
            116.0 * f(y) - 16.0,
            500.0 * (f(x) - f(y)),
            200.0 * (f(y) - f(z)),
        ]
    }

    fn srgb_to_linear(c: f64) -> f64 {
        let c = c / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    }

    fn linear_to_srgb(c: f64) -> f64 {
        let c = c.clamp(0.0, 1.0);
        255.0
            * if c <= 0.0031308 {
                c * 12.92
            } else {
                1.055 * c.powf(1.0 / 2.4) - 0.055
            }
    }

    /// Colour-vision-deficiency simulation (Machado, Oliveira & Fernandes 2009, severity 1) in
    /// linear RGB.
    fn simulate(rgb: [f64; 3], m: [[f64; 3]; 3]) -> [f64; 3] {
        let l = rgb.map(srgb_to_linear);
        m.map(|row| linear_to_srgb(row[0] * l[0] + row[1] * l[1] + row[2] * l[2]))
    }

    #[test]
    fn cluster_bands_are_far_apart() {
        const DEUTAN: [[f64; 3]; 3] = [
            [0.367322, 0.860646, -0.227968],
            [0.280085, 0.672501, 0.047413],
            [-0.011820, 0.042940, 0.968881],
        ];
        const PROTAN: [[f64; 3]; 3] = [
            [0.152286, 1.052583, -0.204868],
            [0.114503, 0.786281, 0.099216],
            [-0.003882, -0.048116, 1.051998],
        ];
        let band = |k: usize| {
            let c = over_paper(cluster_band_colour(k, 90));
            [c[0] as f64, c[1] as f64, c[2] as f64]
        };
        let distance = |a: [f64; 3], b: [f64; 3]| {
            let (a, b) = (lab(a), lab(b));
            ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
        };
        // The smallest CIELAB distance (Delta E 1976) between two of the first `k` bands, for
        // normal vision and the two red-green deficiencies.
        let closest = |k: usize| {
            let mut min = f64::INFINITY;
            for i in 0..k {
                for j in i + 1..k {
                    let (a, b) = (band(i), band(j));
                    min = min
                        .min(distance(a, b))
                        .min(distance(simulate(a, DEUTAN), simulate(b, DEUTAN)))
                        .min(distance(simulate(a, PROTAN), simulate(b, PROTAN)));
                }
            }
            min
        };
        // The Okabe-Ito-then-Tol order gave 4.1 at K = 8 (sky blue / blue, reddish purple /
        // rose, the pairs users could not tell apart); this order gives 9.5 at K = 8.
        for (k, floor) in [(4, 15.0), (6, 11.0), (8, 9.0), (10, 7.0)] {
            let d = closest(k);
            assert!(
                d >= floor,
                "K = {k}: closest bands {d:.1} apart (< {floor})"
            );
        }
    }

    #[test]
    fn maps_hit_their_end_points_and_clamp() {
        assert_eq!(entropy_colour(0.0), [0x44, 0x01, 0x54, 255]);
        assert_eq!(entropy_colour(1.0), [0xfd, 0xe7, 0x25, 255]);
        assert_eq!(gradcam_colour(0.0), [0x00, 0x00, 0x04, 255]);
        assert_eq!(gradcam_colour(1.0), [0xfc, 0xff, 0xa4, 255]);
        assert_eq!(gradcam_colour(7.0), gradcam_colour(1.0));
        assert_eq!(gradcam_colour(-1.0), gradcam_colour(0.0));
        assert_eq!(entropy_colour(f32::NAN), entropy_colour(0.0));
        // Midpoint between two samples is their average.
        let mid = entropy_colour(1.0 / 16.0);
        assert_eq!(mid[0], ((0x44 + 0x47) as f32 / 2.0).round() as u8);
    }

    #[test]
    fn inferno_gets_brighter() {
        let lum = |c: Rgba| 0.2126 * c[0] as f32 + 0.7152 * c[1] as f32 + 0.0722 * c[2] as f32;
        let mut last = -1.0;
        for i in 0..=32 {
            let l = lum(gradcam_colour(i as f32 / 32.0));
            assert!(l > last, "inferno not monotone at {i}");
            last = l;
        }
    }

    #[test]
    fn names_fall_back_to_index() {
        let names = vec!["C0 mostly QRS".to_string(), " ".to_string()];
        assert_eq!(cluster_display_name(0, Some(&names)), "C0 mostly QRS");
        assert_eq!(cluster_display_name(1, Some(&names)), "C1");
        assert_eq!(cluster_display_name(5, None), "C5");
        assert_eq!(to_hex_rgb([255, 0, 16, 255]), "#ff0010");
        assert_eq!(over_paper([0, 0, 0, 255]), [0, 0, 0, 255]);
        assert_eq!(over_paper([0, 0, 0, 0]), [255, 255, 255, 255]);
        assert_eq!(over_paper([0, 100, 200, 51]), [204, 224, 244, 255]);
    }
}
