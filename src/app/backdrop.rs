//! The paper's backdrop (paper colour, 1 mm / 5 mm grid, cluster bands) drawn on the CPU into
//! one texture and shown as a single quad.
//!
//! Why: on a CPU renderer (Mesa's llvmpipe, what a virtual desktop without a GPU has) cost goes
//! with the 4 x 4 pixel blocks each triangle touches. A 1-pixel grid line touches a whole column
//! of blocks, and at paper scale the minor lines are 3-4 pixels apart, so the grid alone shaded
//! every block of the paper about twice, and the translucent bands once more. Axis-aligned fills
//! are trivial to do on the CPU (a few hundred rectangles, well under a millisecond), and one
//! textured quad shades each block once. The texture is rebuilt only when the fills change (pan,
//! zoom, another record), not on frames that only move the pointer.

use egui::{Color32, ColorImage, Rect, Shape, TextureHandle, TextureOptions, pos2};

/// Axis-aligned fills in drawing order (later ones over earlier ones), in points.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Fills {
    pub rects: Vec<(Rect, Color32)>,
}

impl Fills {
    /// Adds a fill clipped to `clip`; nothing when they do not overlap.
    pub fn add(&mut self, rect: Rect, clip: Rect, colour: Color32) {
        let r = rect.intersect(clip);
        if r.is_positive() && colour.a() > 0 {
            self.rects.push((r, colour));
        }
    }
}

/// What the last backdrop was made from, and its texture (kept in egui's temporary memory).
#[derive(Clone)]
struct Cached {
    area: Rect,
    pixels_per_point: f32,
    fills: Fills,
    texture: TextureHandle,
}

/// The pixel grid of `area`: its top-left corner snapped to a physical pixel, and its size in
/// pixels, so that texels land on pixels one to one.
fn pixel_grid(area: Rect, pixels_per_point: f32) -> (egui::Pos2, [usize; 2]) {
    let snap = |v: f32| (v * pixels_per_point).round() / pixels_per_point;
    let origin = pos2(snap(area.min.x), snap(area.min.y));
    let w = ((area.max.x - origin.x) * pixels_per_point)
        .round()
        .max(0.0) as usize;
    let h = ((area.max.y - origin.y) * pixels_per_point)
        .round()
        .max(0.0) as usize;
    (origin, [w, h])
}

/// Source-over of premultiplied colours, as the GPU blends egui's shapes.
fn over(dst: Color32, src: Color32) -> Color32 {
    let keep = 255 - src.a() as u32;
    let mix = |s: u8, d: u8| (s as u32 + (d as u32 * keep + 127) / 255).min(255) as u8;
    Color32::from_rgba_premultiplied(
        mix(src.r(), dst.r()),
        mix(src.g(), dst.g()),
        mix(src.b(), dst.b()),
        mix(src.a(), dst.a()),
    )
}

/// Rasterises `fills` over `background` into an image covering `area` (each fill's edges
/// rounded to whole pixels).
pub fn rasterise(
    area: Rect,
    pixels_per_point: f32,
    background: Color32,
    fills: &Fills,
) -> ColorImage {
    let (origin, [w, h]) = pixel_grid(area, pixels_per_point);
    let mut image = ColorImage::filled([w, h], background);
    let to_px =
        |v: f32, o: f32, n: usize| (((v - o) * pixels_per_point).round().max(0.0) as usize).min(n);
    for &(r, colour) in &fills.rects {
        let (x0, x1) = (to_px(r.min.x, origin.x, w), to_px(r.max.x, origin.x, w));
        let (y0, y1) = (to_px(r.min.y, origin.y, h), to_px(r.max.y, origin.y, h));
        for row in image.pixels[y0 * w..y1 * w].chunks_exact_mut(w.max(1)) {
            let span = &mut row[x0..x1];
            if colour.a() == 255 {
                span.fill(colour);
            } else {
                for px in span {
                    *px = over(*px, colour);
                }
            }
        }
    }
    image
}

/// The backdrop of `area` (paper colour `background` under `fills`) as one textured quad,
/// re-rasterised only when something changed since the last frame.
pub fn shape(
    ctx: &egui::Context,
    id: egui::Id,
    area: Rect,
    background: Color32,
    fills: Fills,
) -> Shape {
    let pixels_per_point = ctx.pixels_per_point();
    let (origin, [w, h]) = pixel_grid(area, pixels_per_point);
    if w == 0 || h == 0 {
        return Shape::Noop;
    }
    let cached: Option<Cached> = ctx.data(|d| d.get_temp(id));
    let texture = match cached {
        Some(c) if c.area == area && c.pixels_per_point == pixels_per_point && c.fills == fills => {
            c.texture
        }
        previous => {
            let image = rasterise(area, pixels_per_point, background, &fills);
            let texture = match previous {
                Some(mut c) => {
                    c.texture.set(image, TextureOptions::NEAREST);
                    c.texture
                }
                None => ctx.load_texture("paper backdrop", image, TextureOptions::NEAREST),
            };
            let entry = Cached {
                area,
                pixels_per_point,
                fills,
                texture: texture.clone(),
            };
            ctx.data_mut(|d| d.insert_temp(id, entry));
            texture
        }
    };
    let size = egui::vec2(w as f32, h as f32) / pixels_per_point;
    Shape::image(
        texture.id(),
        Rect::from_min_size(origin, size),
        Rect::from_min_max(pos2(0.0, 0.0), pos2(1.0, 1.0)),
        Color32::WHITE,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_land_on_whole_pixels_in_order() {
        let area = Rect::from_min_max(pos2(10.0, 20.0), pos2(20.0, 25.0));
        let mut fills = Fills::default();
        // an opaque column 2 px wide at x = 13..15, then a half-transparent white band over
        // x = 14..16 that is clipped at the area's edge on the right
        fills.add(
            Rect::from_min_max(pos2(13.0, 0.0), pos2(15.0, 100.0)),
            area,
            Color32::BLACK,
        );
        fills.add(
            Rect::from_min_max(pos2(14.0, 21.0), pos2(40.0, 22.0)),
            area,
            Color32::from_white_alpha(128),
        );
        let image = rasterise(area, 1.0, Color32::from_rgb(200, 0, 0), &fills);
        assert_eq!(image.size, [10, 5]);
        let at = |x: usize, y: usize| image.pixels[y * 10 + x];
        assert_eq!(at(0, 0), Color32::from_rgb(200, 0, 0));
        assert_eq!(at(3, 0), Color32::BLACK);
        assert_eq!(at(4, 4), Color32::BLACK);
        assert_eq!(at(5, 0), Color32::from_rgb(200, 0, 0));
        // the band over black at (4, 1) and over red at (9, 1): 128 + the rest at 127/255
        assert_eq!(at(4, 1), Color32::from_rgb(128, 128, 128));
        assert_eq!(at(9, 1), Color32::from_rgb(228, 128, 128));
        assert_eq!(at(9, 2), Color32::from_rgb(200, 0, 0));
    }

    #[test]
    fn a_fractional_origin_is_snapped_to_the_pixel_grid() {
        let area = Rect::from_min_max(pos2(10.3, 0.0), pos2(20.0, 4.0));
        let (origin, size) = pixel_grid(area, 2.0);
        assert_eq!(origin, pos2(10.5, 0.0));
        assert_eq!(size, [19, 8]);
    }
}
