//! Writers: the scene as SVG text, PNG (resvg) and PDF (svg2pdf), and `export_figure`.
//!
//! The SVG uses millimetres as user units (`viewBox` = page in mm, `width`/`height` in mm), so a
//! viewer or printer at 100 % shows true scale. PNG and PDF are rendered from that SVG, so the
//! three formats cannot drift apart.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use resvg::tiny_skia;
use resvg::usvg;

use crate::figure::FigureError;
use crate::figure::layout::{FigureSpec, compute_layout};
use crate::figure::palette::{self, Rgba};
use crate::figure::scene::{FigureInput, Primitive, Scene, TextAnchor, build_scene};

/// The font every figure asks for first; compiled in, so text is never silently dropped.
pub const FONT_FAMILY: &str = "DejaVu Sans";
static BUNDLED_FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// CSS pixels per inch assumed by usvg when it converts the SVG's mm sizes; PDF conversion uses
/// the same value so that 1 mm in the SVG is 1 mm on the PDF page.
const SVG_DPI: f32 = 96.0;

/// The font database shared by all renders: the bundled DejaVu Sans first (so figures look the
/// same on every machine), then the system fonts (glyphs DejaVu lacks, e.g. CJK record names).
pub fn font_database() -> Arc<usvg::fontdb::Database> {
    static DB: OnceLock<Arc<usvg::fontdb::Database>> = OnceLock::new();
    DB.get_or_init(|| {
        let mut db = usvg::fontdb::Database::new();
        db.load_font_data(BUNDLED_FONT.to_vec());
        db.load_system_fonts();
        db.set_sans_serif_family(FONT_FAMILY);
        Arc::new(db)
    })
    .clone()
}

/// Figure as SVG text.
pub fn render_svg(input: &FigureInput, spec: &FigureSpec) -> Result<String, FigureError> {
    let layout = compute_layout(input.ecg, spec)?;
    let scene = build_scene(input, spec, &layout)?;
    Ok(scene_to_svg(&scene))
}

/// Figure as PNG bytes at `spec.dpi` (with the resolution recorded in the file, so it prints at
/// true scale).
pub fn render_png(input: &FigureInput, spec: &FigureSpec) -> Result<Vec<u8>, FigureError> {
    // The image size is known from the layout: refuse before drawing anything.
    let layout = compute_layout(input.ecg, spec)?;
    check_pixel_budget(layout.page_width_mm, layout.page_height_mm, spec.dpi)?;
    let svg = scene_to_svg(&build_scene(input, spec, &layout)?);
    let tree = parse_svg(&svg, input)?;
    let (w_mm, h_mm) = page_mm(&tree);
    let width_px = pixels(w_mm, spec.dpi);
    let height_px = pixels(h_mm, spec.dpi);
    let mut pixmap =
        tiny_skia::Pixmap::new(width_px, height_px).ok_or_else(|| FigureError::Render {
            path: source_path(input),
            message: format!("cannot allocate a {width_px} x {height_px} pixel image"),
        })?;
    pixmap.fill(tiny_skia::Color::WHITE);
    let size = tree.size();
    let transform = tiny_skia::Transform::from_scale(
        width_px as f32 / size.width(),
        height_px as f32 / size.height(),
    );
    resvg::render(&tree, transform, &mut pixmap.as_mut());
    let png = pixmap.encode_png().map_err(|e| FigureError::Render {
        path: source_path(input),
        message: format!("PNG encoding failed: {e}"),
    })?;
    Ok(with_png_resolution(png, spec.dpi))
}

/// Figure as a one-page PDF whose page is the figure's size in mm.
pub fn render_pdf(input: &FigureInput, spec: &FigureSpec) -> Result<Vec<u8>, FigureError> {
    let svg = render_svg(input, spec)?;
    let tree = parse_svg(&svg, input)?;
    svg2pdf::to_pdf(
        &tree,
        svg2pdf::ConversionOptions::default(),
        svg2pdf::PageOptions { dpi: SVG_DPI },
    )
    .map_err(|e| FigureError::Render {
        path: source_path(input),
        message: format!("PDF conversion failed: {e}"),
    })
}

/// The output format, from a file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FigureFormat {
    Svg,
    Png,
    Pdf,
}

impl FigureFormat {
    pub fn from_path(path: &Path) -> Result<Self, FigureError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase());
        match ext.as_deref() {
            Some("svg") => Ok(FigureFormat::Svg),
            Some("png") => Ok(FigureFormat::Png),
            Some("pdf") => Ok(FigureFormat::Pdf),
            _ => Err(FigureError::UnsupportedFormat {
                path: path.to_path_buf(),
            }),
        }
    }
    pub fn extension(&self) -> &'static str {
        match self {
            FigureFormat::Svg => "svg",
            FigureFormat::Png => "png",
            FigureFormat::Pdf => "pdf",
        }
    }
}

/// Whether a figure of `ecg` with `spec` can be made at `path` (format, page size, PNG pixel
/// budget, existing file), checked before any analysis so a figure that cannot be drawn is
/// refused in milliseconds, not after the record was explained and delineated.
pub fn check_figure(
    path: &Path,
    ecg: &crate::record::Ecg,
    spec: &FigureSpec,
    overwrite: bool,
) -> Result<(), FigureError> {
    let format = FigureFormat::from_path(path)?;
    if !overwrite && path.exists() {
        return Err(FigureError::Exists {
            path: path.to_path_buf(),
        });
    }
    let layout = compute_layout(ecg, spec)?;
    if format == FigureFormat::Png {
        check_pixel_budget(layout.page_width_mm, layout.page_height_mm, spec.dpi)?;
    }
    Ok(())
}

/// Render and write a figure, the format chosen by the extension (.svg, .png, .pdf). An
/// existing file is kept (error) unless `overwrite`.
pub fn export_figure(
    path: &Path,
    input: &FigureInput,
    spec: &FigureSpec,
    overwrite: bool,
) -> Result<(), FigureError> {
    check_figure(path, input.ecg, spec, overwrite)?;
    let bytes = match FigureFormat::from_path(path)? {
        FigureFormat::Svg => render_svg(input, spec)?.into_bytes(),
        FigureFormat::Png => render_png(input, spec)?,
        FigureFormat::Pdf => render_pdf(input, spec)?,
    };
    write_file(path, &bytes, overwrite)
}

/// Writes bytes atomically ([`crate::io::files::write_atomic`]): a full disk or an interrupt
/// never leaves a truncated figure; without `overwrite` an existing file is refused.
pub fn write_file(path: &Path, bytes: &[u8], overwrite: bool) -> Result<(), FigureError> {
    if !overwrite && path.exists() {
        return Err(FigureError::Exists {
            path: path.to_path_buf(),
        });
    }
    crate::io::files::write_atomic(path, bytes, overwrite).map_err(|e| match e {
        crate::io::IoError::Os { path, source } => FigureError::Io { path, source },
        // The only other outcome: another writer created the file since the check above.
        _ => FigureError::Exists {
            path: path.to_path_buf(),
        },
    })
}

fn source_path(input: &FigureInput) -> PathBuf {
    input
        .ecg
        .meta
        .source
        .clone()
        .unwrap_or_else(|| PathBuf::from(&input.ecg.meta.id))
}

fn parse_svg(svg: &str, input: &FigureInput) -> Result<usvg::Tree, FigureError> {
    let options = usvg::Options {
        dpi: SVG_DPI,
        font_family: FONT_FAMILY.to_string(),
        fontdb: font_database(),
        ..Default::default()
    };
    usvg::Tree::from_str(svg, &options).map_err(|e| FigureError::Render {
        path: source_path(input),
        message: format!("the generated SVG does not parse: {e}"),
    })
}

/// Page size in mm of a tree parsed at `SVG_DPI`.
fn page_mm(tree: &usvg::Tree) -> (f64, f64) {
    let s = tree.size();
    let mm = |px: f32| px as f64 * 25.4 / SVG_DPI as f64;
    (mm(s.width()), mm(s.height()))
}

/// Largest PNG the renderer draws, in bytes of its RGBA pixmap (an A4 page at 1100 DPI). The
/// encoder needs about as much again, so a figure stays under about 1 GB whatever the DPI.
pub const MAX_PNG_PIXMAP_BYTES: u64 = 512 << 20;

/// `Ok` when a `w_mm` x `h_mm` page at `dpi` fits [`MAX_PNG_PIXMAP_BYTES`].
pub fn check_pixel_budget(w_mm: f64, h_mm: f64, dpi: f64) -> Result<(), FigureError> {
    let (width_px, height_px) = (pixels(w_mm, dpi), pixels(h_mm, dpi));
    let needed = width_px as u64 * height_px as u64 * 4;
    if needed <= MAX_PNG_PIXMAP_BYTES {
        return Ok(());
    }
    // Pixels grow with the square of the DPI.
    let max_dpi = (dpi * (MAX_PNG_PIXMAP_BYTES as f64 / needed as f64).sqrt()).floor();
    Err(FigureError::TooManyPixels {
        width_px,
        height_px,
        dpi,
        needed_mb: needed >> 20,
        budget_mb: MAX_PNG_PIXMAP_BYTES >> 20,
        max_dpi,
    })
}

/// Pixels for a length in mm at a resolution (at least one).
pub fn pixels(mm: f64, dpi: f64) -> u32 {
    (mm / 25.4 * dpi).round().max(1.0) as u32
}

/// Insert a pHYs chunk (pixels per metre) after IHDR, so image programs print at true scale.
fn with_png_resolution(png: Vec<u8>, dpi: f64) -> Vec<u8> {
    // Signature (8) + IHDR chunk (4 length + 4 type + 13 data + 4 CRC) = 33 bytes.
    const AFTER_IHDR: usize = 33;
    if png.len() < AFTER_IHDR || &png[12..16] != b"IHDR" {
        return png;
    }
    let ppm = (dpi / 0.0254).round() as u32;
    let mut data = Vec::with_capacity(13);
    data.extend_from_slice(b"pHYs");
    data.extend_from_slice(&ppm.to_be_bytes());
    data.extend_from_slice(&ppm.to_be_bytes());
    data.push(1); // unit: metre
    let mut out = Vec::with_capacity(png.len() + 21);
    out.extend_from_slice(&png[..AFTER_IHDR]);
    out.extend_from_slice(&9u32.to_be_bytes());
    out.extend_from_slice(&data);
    out.extend_from_slice(&crc32(&data).to_be_bytes());
    out.extend_from_slice(&png[AFTER_IHDR..]);
    out
}

/// CRC-32 (IEEE, as PNG chunks use).
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// The scene as SVG text, mm as user units.
pub fn scene_to_svg(scene: &Scene) -> String {
    let mut s = String::with_capacity(64 * scene.n_primitives() + 512);
    let _ = write!(
        s,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" \
         width=\"{w}mm\" height=\"{h}mm\" viewBox=\"0 0 {w} {h}\" font-family=\"{FONT_FAMILY}, sans-serif\">\n",
        w = num(scene.width_mm),
        h = num(scene.height_mm),
    );
    for layer in &scene.layers {
        let _ = writeln!(s, "<g id=\"{}\">", escape(&layer.name));
        for p in &layer.primitives {
            primitive_svg(&mut s, p);
        }
        s.push_str("</g>\n");
    }
    s.push_str("</svg>\n");
    s
}

/// A number with at most 3 decimals (1 µm), trailing zeros trimmed.
fn num(v: f64) -> String {
    let mut t = String::new();
    push_num(&mut t, v);
    t
}

/// Append a number as [`num`] formats it, without an intermediate allocation (the traces of a
/// 12-lead figure have ~10^5 numbers).
fn push_num(out: &mut String, v: f64) {
    let v = if v.is_finite() { v } else { 0.0 };
    let start = out.len();
    let _ = write!(out, "{v:.3}");
    while out.ends_with('0') {
        out.pop();
    }
    if out.ends_with('.') {
        out.pop();
    }
    if &out[start..] == "-0" {
        out.truncate(start);
        out.push('0');
    }
}

fn paint(kind: &str, colour: Rgba) -> String {
    let mut out = format!("{kind}=\"{}\"", palette::to_hex_rgb(colour));
    if colour[3] != 255 {
        let _ = write!(
            out,
            " {kind}-opacity=\"{}\"",
            num(palette::opacity(colour) as f64)
        );
    }
    out
}

fn stroke_attrs(stroke: &crate::figure::scene::Stroke) -> String {
    format!(
        "{} stroke-width=\"{}\"",
        paint("stroke", stroke.colour),
        num(stroke.width_mm)
    )
}

fn points_attr(points: &[(f64, f64)]) -> String {
    let mut out = String::with_capacity(points.len() * 16);
    for (i, (x, y)) in points.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        push_num(&mut out, *x);
        out.push(',');
        push_num(&mut out, *y);
    }
    out
}

fn primitive_svg(s: &mut String, p: &Primitive) {
    match p {
        // An empty rectangle draws nothing (and usvg warns about it).
        Primitive::Rect { rect, .. } if !(rect.w > 0.0 && rect.h > 0.0) => {}
        Primitive::Rect { rect, fill, stroke } => {
            let fill = fill
                .map(|c| paint("fill", c))
                .unwrap_or_else(|| "fill=\"none\"".into());
            let stroke = stroke.as_ref().map(stroke_attrs).unwrap_or_default();
            let _ = writeln!(
                s,
                "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" {fill} {stroke}/>",
                num(rect.x),
                num(rect.y),
                num(rect.w.max(0.0)),
                num(rect.h.max(0.0))
            );
        }
        Primitive::Line { from, to, stroke } => {
            let _ = writeln!(
                s,
                "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" {}/>",
                num(from.0),
                num(from.1),
                num(to.0),
                num(to.1),
                stroke_attrs(stroke)
            );
        }
        Primitive::Polyline { points, stroke } => {
            let _ = writeln!(
                s,
                "<polyline points=\"{}\" fill=\"none\" stroke-linejoin=\"round\" stroke-linecap=\"round\" {}/>",
                points_attr(points),
                stroke_attrs(stroke)
            );
        }
        Primitive::Lines { segments, stroke } => {
            if segments.is_empty() {
                return;
            }
            let mut d = String::with_capacity(segments.len() * 32);
            for ((x0, y0), (x1, y1)) in segments {
                d.push('M');
                push_num(&mut d, *x0);
                d.push(' ');
                push_num(&mut d, *y0);
                d.push('L');
                push_num(&mut d, *x1);
                d.push(' ');
                push_num(&mut d, *y1);
            }
            let _ = writeln!(
                s,
                "<path d=\"{d}\" fill=\"none\" {}/>",
                stroke_attrs(stroke)
            );
        }
        Primitive::Polygon { points, fill } => {
            let _ = writeln!(
                s,
                "<polygon points=\"{}\" {}/>",
                points_attr(points),
                paint("fill", *fill)
            );
        }
        Primitive::Text {
            pos,
            text,
            size_mm,
            colour,
            anchor,
            bold,
        } => {
            let anchor = match anchor {
                TextAnchor::Start => "start",
                TextAnchor::Middle => "middle",
                TextAnchor::End => "end",
            };
            let weight = if *bold { " font-weight=\"bold\"" } else { "" };
            let _ = writeln!(
                s,
                "<text x=\"{}\" y=\"{}\" font-size=\"{}\" text-anchor=\"{anchor}\"{weight} {}>{}</text>",
                num(pos.0),
                num(pos.1),
                num(*size_mm),
                paint("fill", *colour),
                escape(text)
            );
        }
    }
}

/// XML-escape text and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters are not allowed in XML 1.0.
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_escapes() {
        assert_eq!(num(1.0), "1");
        assert_eq!(num(0.12345), "0.123");
        assert_eq!(num(-0.0001), "0");
        assert_eq!(num(120.0), "120");
        assert_eq!(num(-2.5), "-2.5");
        assert_eq!(num(f64::NAN), "0");
        assert_eq!(escape("a<b & \"c\"\u{1}"), "a&lt;b &amp; &quot;c&quot; ");
    }

    #[test]
    fn crc_matches_the_png_reference() {
        // CRC of the IEND chunk type, as in every PNG file.
        assert_eq!(crc32(b"IEND"), 0xAE42_6082);
    }

    #[test]
    fn format_from_extension() {
        assert_eq!(
            FigureFormat::from_path(Path::new("a/b.PNG")).unwrap(),
            FigureFormat::Png
        );
        assert!(FigureFormat::from_path(Path::new("a/b.jpg")).is_err());
        assert!(FigureFormat::from_path(Path::new("a/b")).is_err());
    }

    #[test]
    fn bundled_font_is_in_the_database() {
        let db = font_database();
        let query = usvg::fontdb::Query {
            families: &[usvg::fontdb::Family::Name(FONT_FAMILY)],
            ..Default::default()
        };
        assert!(db.query(&query).is_some());
    }
}
