//! Figure export: SVG/PNG/PDF validity and true scale, snapshot, data export, WFDB annotations,
//! batch export.

mod common;

use std::path::{Path, PathBuf};

use ndarray::Array2;
use resvg::tiny_skia::Pixmap;
use tlc_explorer::delineate::Delineation;
use tlc_explorer::figure::{
    FigureError, FigureInput, FigureSpec, Layers, Layout, PageSize, check_figure, compute_layout,
    export_figure, render_pdf, render_png, render_svg,
};
use tlc_explorer::tlc::Explanation;
use tlc_explorer::{Ecg, EcgMeta, LeadName};

// ---------------------------------------------------------------- fixtures

#[path = "common/figure_fixture.rs"]
mod figure_fixture;
use figure_fixture::*;

struct Fixture {
    ecg: Ecg,
    explanation: Explanation,
    delineation: Delineation,
}

fn fixture() -> Fixture {
    Fixture {
        ecg: beats_ecg("fix1"),
        explanation: explanation("fix1"),
        delineation: delineation(),
    }
}

impl Fixture {
    fn input(&self) -> FigureInput<'_> {
        FigureInput {
            ecg: &self.ecg,
            explanation: Some(&self.explanation),
            delineation: Some(&self.delineation),
            cluster_names: Some(names()),
            calipers: &[],
            reference: &[],
            qtc_formula: Default::default(),
        }
    }
}

fn page_px(spec: &FigureSpec, ecg: &Ecg) -> (u32, u32) {
    let l = compute_layout(ecg, spec).unwrap();
    let px = |mm: f64| (mm / 25.4 * spec.dpi).round() as u32;
    (px(l.page_width_mm), px(l.page_height_mm))
}

// ---------------------------------------------------------------- formats

#[test]
fn svg_parses_with_usvg_at_the_layout_size() {
    let f = fixture();
    for layout in [Layout::Stacked, Layout::clinical()] {
        let spec = FigureSpec {
            layout,
            layers: Layers {
                gradcam_overlay: true,
                ..Default::default()
            },
            ..Default::default()
        };
        let svg = render_svg(&f.input(), &spec).unwrap();
        let tree = resvg::usvg::Tree::from_str(&svg, &resvg::usvg::Options::default()).unwrap();
        let l = compute_layout(&f.ecg, &spec).unwrap();
        // usvg converts mm to px at 96 DPI.
        let w_mm = tree.size().width() as f64 * 25.4 / 96.0;
        let h_mm = tree.size().height() as f64 * 25.4 / 96.0;
        assert!((w_mm - l.page_width_mm).abs() < 0.01 && (h_mm - l.page_height_mm).abs() < 0.01);
        for expected in [
            "C0 mostly QRS",
            "Record fix1",
            "NORM 0.88",
            "test_explainer",
            "Grad-CAM (NORM, block 4)",
            "V6",
        ] {
            assert!(svg.contains(expected), "SVG lacks '{expected}'");
        }
    }
}

#[test]
fn png_decodes_at_the_requested_size_with_text() {
    let f = fixture();
    let spec = FigureSpec {
        dpi: 100.0,
        layout: Layout::clinical(),
        ..Default::default()
    };
    let png = render_png(&f.input(), &spec).unwrap();
    let pixmap = Pixmap::decode_png(&png).unwrap();
    assert_eq!((pixmap.width(), pixmap.height()), page_px(&spec, &f.ecg));
    // Text is drawn (a font was found): the title band has dark pixels.
    let l = compute_layout(&f.ecg, &spec).unwrap();
    let px = |mm: f64| (mm / 25.4 * spec.dpi) as u32;
    let dark = count_dark(
        &pixmap,
        px(l.title.x),
        px(l.title.y),
        px(l.title.right()),
        px(l.title.bottom()),
    );
    assert!(dark > 200, "title has {dark} dark pixels: text missing?");
    // The pHYs chunk records 100 DPI (3937 px per metre).
    let pos = png
        .windows(4)
        .position(|w| w == b"pHYs")
        .expect("pHYs chunk");
    let ppm = u32::from_be_bytes(png[pos + 4..pos + 8].try_into().unwrap());
    assert_eq!(ppm, 3937);
}

#[test]
fn pdf_page_is_the_figure_size() {
    let f = fixture();
    let spec = FigureSpec {
        layout: Layout::clinical(),
        page: PageSize::A4Landscape,
        ..Default::default()
    };
    let pdf = render_pdf(&f.input(), &spec).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    let text = String::from_utf8_lossy(&pdf);
    let at = text.find("/MediaBox").expect("MediaBox");
    let open = text[at..].find('[').unwrap() + at + 1;
    let close = text[open..].find(']').unwrap() + open;
    let nums: Vec<f64> = text[open..close]
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    let (w_pt, h_pt) = (nums[2] - nums[0], nums[3] - nums[1]);
    assert!((w_pt - 297.0 / 25.4 * 72.0).abs() < 0.05, "width {w_pt} pt");
    assert!(
        (h_pt - 210.0 / 25.4 * 72.0).abs() < 0.05,
        "height {h_pt} pt"
    );
}

#[test]
fn export_refuses_to_overwrite_and_checks_the_extension() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let spec = FigureSpec {
        dpi: 30.0,
        ..Default::default()
    };
    let path = dir.path().join("a.svg");
    export_figure(&path, &f.input(), &spec, false).unwrap();
    let first = std::fs::read(&path).unwrap();
    let err = export_figure(&path, &f.input(), &spec, false).unwrap_err();
    assert!(matches!(err, FigureError::Exists { .. }), "{err}");
    assert!(err.to_string().contains("a.svg"));
    export_figure(&path, &f.input(), &spec, true).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), first, "same input, same SVG");
    let png = dir.path().join("a.png");
    export_figure(&png, &f.input(), &spec, false).unwrap();
    assert!(Pixmap::decode_png(&std::fs::read(&png).unwrap()).is_ok());
    let err = export_figure(&dir.path().join("a.jpg"), &f.input(), &spec, false).unwrap_err();
    assert!(matches!(err, FigureError::UnsupportedFormat { .. }));
    // An explanation of another record is refused.
    let other = explanation("someone-else");
    let input = FigureInput {
        explanation: Some(&other),
        ..f.input()
    };
    assert!(matches!(
        render_svg(&input, &spec),
        Err(FigureError::Mismatch { .. })
    ));
}

/// `--dpi 2400` (the largest accepted) on an A4 page would need a 2.2 GB pixmap: refused by
/// `check_figure` and `render_png` with the DPI that fits, never by the allocator; SVG and PDF
/// of the same page have no pixels and are accepted.
#[test]
fn png_beyond_the_pixel_budget_is_refused_with_the_dpi_that_fits() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let spec = FigureSpec {
        dpi: 2400.0,
        ..Default::default()
    };
    let png = dir.path().join("big.png");
    let err = check_figure(&png, &f.ecg, &spec, false).unwrap_err();
    let FigureError::TooManyPixels { max_dpi, .. } = err else {
        panic!("{err:?}");
    };
    assert!(max_dpi > 300.0 && max_dpi < 2400.0, "{max_dpi}");
    assert!(matches!(
        render_png(&f.input(), &spec),
        Err(FigureError::TooManyPixels { .. })
    ));
    assert!(!png.exists());
    // The reported DPI fits the budget (checked on the layout, without drawing).
    let fits = FigureSpec {
        dpi: max_dpi,
        ..spec.clone()
    };
    check_figure(&png, &f.ecg, &fits, false).unwrap();
    let over = FigureSpec {
        dpi: max_dpi + 2.0,
        ..spec.clone()
    };
    assert!(check_figure(&png, &f.ecg, &over, false).is_err());
    check_figure(&dir.path().join("big.pdf"), &f.ecg, &spec, false).unwrap();
    check_figure(&dir.path().join("big.svg"), &f.ecg, &spec, false).unwrap();
}

// ---------------------------------------------------------------- true scale

fn is_dark(p: resvg::tiny_skia::PremultipliedColorU8) -> bool {
    p.red() < 90 && p.green() < 90 && p.blue() < 90
}

fn count_dark(pixmap: &Pixmap, x0: u32, y0: u32, x1: u32, y1: u32) -> usize {
    let mut n = 0;
    for y in y0..y1.min(pixmap.height()) {
        for x in x0..x1.min(pixmap.width()) {
            if is_dark(pixmap.pixel(x, y).unwrap()) {
                n += 1;
            }
        }
    }
    n
}

/// Centres of runs of columns in [x0, x1) whose dark pixels in rows [y0, y1) exceed `min`.
fn tall_columns(pixmap: &Pixmap, x0: u32, x1: u32, y0: u32, y1: u32, min: usize) -> Vec<f64> {
    let mut centres = Vec::new();
    let mut run: Vec<u32> = Vec::new();
    for x in x0..x1 {
        let n = count_dark(pixmap, x, y0, x + 1, y1);
        if n >= min {
            run.push(x);
        } else if !run.is_empty() {
            centres.push(run.iter().map(|&v| v as f64).sum::<f64>() / run.len() as f64);
            run.clear();
        }
    }
    if !run.is_empty() {
        centres.push(run.iter().map(|&v| v as f64).sum::<f64>() / run.len() as f64);
    }
    centres
}

/// Mean row of the dark pixels in column x between rows y0 and y1.
fn dark_row(pixmap: &Pixmap, x: u32, y0: u32, y1: u32) -> f64 {
    let rows: Vec<f64> = (y0..y1)
        .filter(|&y| is_dark(pixmap.pixel(x, y).unwrap()))
        .map(|y| y as f64)
        .collect();
    assert!(!rows.is_empty(), "no trace in column {x}");
    rows.iter().sum::<f64>() / rows.len() as f64
}

#[test]
fn at_300_dpi_one_millivolt_is_118_px_and_one_second_295_px() {
    // A 1 mV step from 1 s to 2 s on lead II: its edges are 1 s apart, its height 1 mV.
    let n = (4.0 * FS_HZ) as usize;
    let data = Array2::from_shape_fn((1, n), |(_, i)| {
        let t = i as f64 / FS_HZ;
        if (1.0..2.0).contains(&t) { 1.0f32 } else { 0.0 }
    });
    let meta = EcgMeta {
        id: "step".into(),
        ..Default::default()
    };
    let ecg = Ecg::new(vec![LeadName::II], FS_HZ, data, meta).unwrap();
    let spec = FigureSpec {
        dpi: 300.0,
        ..Default::default()
    };
    let png = render_png(&FigureInput::record(&ecg), &spec).unwrap();
    let pixmap = Pixmap::decode_png(&png).unwrap();
    let layout = compute_layout(&ecg, &spec).unwrap();
    let panel = &layout.panels[0];
    let px = |mm: f64| (mm / 25.4 * 300.0).round() as u32;
    let (y0, y1) = (px(panel.rect.y) + 1, px(panel.rect.bottom()) - 1);

    // Trace: edges at 1 s and 2 s.
    let edges = tall_columns(
        &pixmap,
        px(panel.rect.x) + 2,
        px(panel.rect.right()) - 2,
        y0,
        y1,
        80,
    );
    assert_eq!(edges.len(), 2, "edges found at {edges:?}");
    let one_second_px = edges[1] - edges[0];
    let high = dark_row(&pixmap, px(panel.x_from_seconds(1.5)), y0, y1);
    let low = dark_row(&pixmap, px(panel.x_from_seconds(0.5)), y0, y1);
    let one_mv_px = low - high;
    println!("measured on the trace: 1 s = {one_second_px:.1} px, 1 mV = {one_mv_px:.1} px");
    assert!(
        (one_second_px - 295.3).abs() <= 1.5,
        "1 s = {one_second_px} px"
    );
    assert!((one_mv_px - 118.1).abs() <= 1.5, "1 mV = {one_mv_px} px");

    // Calibration pulse in the gutter: 0.2 s wide (59 px), 1 mV high (118 px).
    let risers = tall_columns(&pixmap, px(layout.paper.x), px(panel.rect.x), y0, y1, 80);
    assert_eq!(risers.len(), 2, "risers at {risers:?}");
    let pulse_w = risers[1] - risers[0];
    let mid = ((risers[0] + risers[1]) / 2.0) as u32;
    let before = risers[0] as u32 - 8;
    let pulse_h = dark_row(&pixmap, before, y0, y1) - dark_row(&pixmap, mid, y0, y1);
    println!("measured on the calibration pulse: 0.2 s = {pulse_w:.1} px, 1 mV = {pulse_h:.1} px");
    assert!((pulse_w - 59.06).abs() <= 1.5, "0.2 s = {pulse_w} px");
    assert!((pulse_h - 118.1).abs() <= 1.5, "1 mV = {pulse_h} px");
}

// ---------------------------------------------------------------- snapshot

fn snapshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/figure")
}

/// Compare with a checked-in PNG: same size, mean absolute difference per channel below 1.5
/// (of 255) and under 0.5 % of pixels off by more than 64 (anti-aliasing and font versions
/// move a few pixels; a changed layout or colour moves many). `UPDATE_SNAPSHOTS=1` rewrites.
fn check_snapshot(name: &str, png: &[u8]) {
    let path = snapshot_dir().join(format!("{name}.png"));
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(snapshot_dir()).unwrap();
        std::fs::write(&path, png).unwrap();
        eprintln!("snapshot {} written", path.display());
        return;
    }
    let reference = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_SNAPSHOTS=1 to create it)",
            path.display()
        )
    });
    let expected = Pixmap::decode_png(&reference).unwrap();
    let actual = Pixmap::decode_png(png).unwrap();
    let new_path = snapshot_dir().join(format!("{name}.new.png"));
    if (expected.width(), expected.height()) != (actual.width(), actual.height()) {
        std::fs::write(&new_path, png).unwrap();
        panic!(
            "{name}: size {}x{} differs from the reference {}x{} (new image: {})",
            actual.width(),
            actual.height(),
            expected.width(),
            expected.height(),
            new_path.display()
        );
    }
    let (mut sum, mut big) = (0u64, 0usize);
    for (a, b) in actual.data().iter().zip(expected.data()) {
        let d = (*a as i32 - *b as i32).unsigned_abs();
        sum += d as u64;
    }
    for (a, b) in actual.pixels().iter().zip(expected.pixels()) {
        let d = [
            a.red() as i32 - b.red() as i32,
            a.green() as i32 - b.green() as i32,
            a.blue() as i32 - b.blue() as i32,
        ];
        if d.iter().any(|v| v.abs() > 64) {
            big += 1;
        }
    }
    let mean = sum as f64 / actual.data().len() as f64;
    let share = big as f64 / actual.pixels().len() as f64;
    if mean > 1.5 || share > 0.005 {
        std::fs::write(&new_path, png).unwrap();
        panic!(
            "{name}: differs from the reference (mean |diff| {mean:.3}, {:.3} % pixels off; new image: {})",
            share * 100.0,
            new_path.display()
        );
    }
}

#[test]
fn fixed_record_matches_the_reference_images() {
    let f = fixture();
    let stacked = FigureSpec {
        dpi: 50.0,
        leads: Some(vec![LeadName::I, LeadName::II, LeadName::V2]),
        window_s: Some((2.0, 6.0)),
        ..Default::default()
    };
    check_snapshot(
        "stacked_3_leads",
        &render_png(&f.input(), &stacked).unwrap(),
    );
    let clinical = FigureSpec {
        dpi: 40.0,
        layout: Layout::clinical(),
        layers: Layers {
            gradcam_overlay: true,
            ..Default::default()
        },
        ..Default::default()
    };
    check_snapshot("clinical", &render_png(&f.input(), &clinical).unwrap());
}

// ---------------------------------------------------------------- data export

#[test]
fn data_export_writes_documented_csv_and_json() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let written = tlc_explorer::figure::export_data(dir.path(), "fix1", &f.input(), false).unwrap();
    assert_eq!(written.len(), 7);
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();

    let segments = read("fix1.segments.csv");
    let mut lines = segments.lines();
    assert_eq!(
        lines.next().unwrap(),
        "record_id,cluster,cluster_name,start_step,end_step,start_s,end_s,start_sample,end_sample,duration_s,mean_entropy"
    );
    assert_eq!(lines.count(), f.explanation.segments.len());
    assert!(segments.contains("C0 mostly QRS"));

    let steps = read("fix1.steps.csv");
    let header: Vec<&str> = steps.lines().next().unwrap().split(',').collect();
    assert_eq!(
        header,
        [
            "step", "time_s", "valid", "cluster", "entropy", "gradcam", "p_0", "p_1", "p_2", "p_3"
        ]
    );
    assert_eq!(steps.lines().count(), 1 + 256);
    // Grad-CAM at a QRS step is high, far from it low.
    let rows: Vec<Vec<String>> = steps
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    let qrs_step = rows.iter().find(|r| r[3] == "0" && r[2] == "1").unwrap();
    let base_step = rows.iter().find(|r| r[3] == "3" && r[2] == "1").unwrap();
    let cam = |r: &Vec<String>| r[5].parse::<f32>().unwrap();
    assert!(
        cam(qrs_step) > 0.5 && cam(base_step) < 0.2,
        "{} {}",
        cam(qrs_step),
        cam(base_step)
    );

    let landmarks = read("fix1.landmarks.csv");
    assert!(landmarks.starts_with(
        "lead,beat,wave,onset_sample,peak_sample,offset_sample,onset_s,peak_s,offset_s\n"
    ));
    assert!(landmarks.contains("\nfused,0,P,") && landmarks.contains("\nV6,"));

    // The clinical measurements: one record row and one row per fused beat.
    let measurements = read("fix1.measurements.csv");
    assert!(
        measurements.starts_with("record_id,n_beats,n_ectopic,hr_mean_bpm,"),
        "{measurements}"
    );
    assert_eq!(measurements.lines().count(), 2);
    let beat_rows = read("fix1.beat_measurements.csv");
    assert_eq!(beat_rows.lines().count(), 1 + f.delineation.beats.len());

    let predictions = read("fix1.predictions.csv");
    assert!(
        predictions.contains("NORM,2.0,0.88,1") && predictions.contains("MI,-2.0,0.12,0"),
        "{predictions}"
    );

    let json: serde_json::Value = serde_json::from_str(&read("fix1.json")).unwrap();
    assert_eq!(json["record_id"], "fix1");
    assert_eq!(
        json["segments"].as_array().unwrap().len(),
        f.explanation.segments.len()
    );
    assert_eq!(json["cluster_names"][1], "C1 mostly T");
    assert_eq!(json["steps"][0]["soft"].as_array().unwrap().len(), 4);
    assert_eq!(
        json["measurements"]["beats"].as_array().unwrap().len(),
        f.delineation.beats.len()
    );

    // Nothing is overwritten without permission.
    let err = tlc_explorer::figure::export_data(dir.path(), "fix1", &f.input(), false).unwrap_err();
    assert!(matches!(err, FigureError::Exists { .. }));
}

// ---------------------------------------------------------------- batch

struct CountingSink {
    reports: std::sync::Mutex<Vec<(usize, usize)>>,
}

impl tlc_explorer::progress::ProgressSink for CountingSink {
    fn report(&self, p: tlc_explorer::progress::Progress) {
        self.reports.lock().unwrap().push((p.done, p.total));
    }
    fn is_cancelled(&self) -> bool {
        false
    }
}

#[test]
fn batch_of_100_records_reports_one_failure_and_exports_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<String> = (0..100).map(|i| format!("rec{i:03}")).collect();
    let spec = FigureSpec {
        dpi: 25.0,
        layout: Layout::clinical(),
        ..Default::default()
    };
    let sink = CountingSink {
        reports: Default::default(),
    };
    let summary = tlc_explorer::figure::run_batch(&ids, "figures", &sink, |i| {
        let mut ecg = beats_ecg(&ids[i]);
        if i == 42 {
            // A record without lead II: the clinical rhythm strip cannot be drawn.
            ecg.leads[1] = LeadName::Other("ECG2".into());
        }
        let ex = explanation(&ids[i]);
        let input = FigureInput {
            ecg: &ecg,
            explanation: Some(&ex),
            delineation: None,
            cluster_names: None,
            calipers: &[],
            reference: &[],
            qtc_formula: Default::default(),
        };
        let path = dir.path().join(format!("{}.svg", ids[i]));
        export_figure(&path, &input, &spec, false).map(|_| path)
    });
    assert_eq!(summary.total, 100);
    assert_eq!(summary.succeeded(), 99, "{summary}");
    assert_eq!(summary.failures.len(), 1);
    assert_eq!(summary.failures[0].id, "rec042");
    assert!(
        summary.failures[0].message.contains("no lead II"),
        "{}",
        summary.failures[0].message
    );
    let files = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(files, 99);
    let reports = sink.reports.lock().unwrap();
    assert_eq!(reports.first(), Some(&(0, 100)));
    assert!(reports.contains(&(100, 100)));
    assert_eq!(reports.len(), 101);
}

// ---------------------------------------------------------------- WFDB annotations

#[test]
fn cluster_annotations_read_back_to_the_same_segments() {
    use tlc_explorer::figure::annotations::{
        annotation_path, read_cluster_annotations, segments_from_annotations,
        write_cluster_annotations,
    };
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let hea =
        tlc_explorer::io::write_record(dir.path(), "fix1", &f.ecg, &Default::default()).unwrap();
    let names = names();
    let path =
        write_cluster_annotations(&hea, &f.explanation, f.ecg.n_samples(), Some(&names), false)
            .unwrap();
    assert_eq!(path, dir.path().join("fix1.tlc"));
    assert_eq!(annotation_path(&dir.path().join("fix1")), path);

    let back = read_cluster_annotations(&path).unwrap();
    let expected: Vec<(usize, usize, usize)> = f
        .explanation
        .segments
        .iter()
        .map(|s| {
            (
                s.cluster,
                s.start_sample,
                s.end_sample.min(f.ecg.n_samples()),
            )
        })
        .filter(|(_, a, b)| b > a)
        .collect();
    let got: Vec<(usize, usize, usize)> = back
        .iter()
        .map(|s| (s.cluster, s.start_sample, s.end_sample))
        .collect();
    assert_eq!(got, expected);

    // The raw annotations, as WAVE sees them: '(' with C<k>, a note with the name, ')'.
    let raw = tlc_explorer::io::read_annotations(&path).unwrap();
    assert_eq!(raw.len(), 3 * expected.len());
    let first_qrs = raw
        .iter()
        .position(|a| a.symbol == "\"" && a.aux.as_deref() == Some("C0 mostly QRS"));
    assert!(first_qrs.is_some());
    assert_eq!(raw[first_qrs.unwrap() - 1].aux.as_deref(), Some("C0"));
    assert_eq!(
        segments_from_annotations(&raw).unwrap().len(),
        expected.len()
    );

    // No overwrite without permission; a dangling '(' is reported.
    let err = write_cluster_annotations(&hea, &f.explanation, f.ecg.n_samples(), None, false)
        .unwrap_err();
    assert!(matches!(err, FigureError::Exists { .. }));
    assert!(segments_from_annotations(&raw[..4]).is_err());
}

// ---------------------------------------------------------------- real data

#[test]
fn a_long_real_record_needs_a_window_and_then_renders() {
    let Some(dir) = common::data("mitdb") else {
        return;
    };
    let ecg = tlc_explorer::io::read_record(&dir.join("100.hea")).unwrap();
    let input = FigureInput::record(&ecg);
    let whole = FigureSpec::default();
    assert!(matches!(
        render_svg(&input, &whole),
        Err(FigureError::TooLarge { .. })
    ));
    let spec = FigureSpec {
        window_s: Some((600.0, 610.0)),
        dpi: 100.0,
        ..Default::default()
    };
    let png = render_png(&input, &spec).unwrap();
    let pixmap = Pixmap::decode_png(&png).unwrap();
    assert_eq!((pixmap.width(), pixmap.height()), page_px(&spec, &ecg));
    // The clinical layout's lead II is MIT-BIH's MLII (its equivalent); the rhythm strip may
    // also be named by the record's own lead.
    let clinical = FigureSpec {
        layout: Layout::clinical(),
        ..spec.clone()
    };
    render_svg(&input, &clinical).expect("MLII stands in for II");
    let clinical = FigureSpec {
        layout: Layout::Clinical3x4Rhythm {
            rhythm_lead: LeadName::parse("MLII"),
        },
        ..spec
    };
    let svg = render_svg(&input, &clinical).unwrap();
    assert!(svg.contains("V1 not recorded"));
}

#[test]
fn cli_batch_over_100_records_reports_the_broken_one_and_writes_the_rest() {
    use clap::Parser;
    use tlc_explorer::cli::{Cli, Command};
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    // Short 3-lead records keep the test fast; record 57's signal file is cut short.
    for i in 0..100 {
        let full = beats_ecg(&format!("r{i:03}"));
        let samples = full.samples_mv.slice(ndarray::s![0..3, 0..1250]).to_owned();
        let ecg = Ecg::new(full.leads[..3].to_vec(), FS_HZ, samples, full.meta.clone()).unwrap();
        let hea = tlc_explorer::io::write_record(
            data.path(),
            &format!("r{i:03}"),
            &ecg,
            &Default::default(),
        )
        .unwrap();
        if i == 57 {
            let dat = hea.with_extension("dat");
            let bytes = std::fs::read(&dat).unwrap();
            std::fs::write(&dat, &bytes[..bytes.len() / 3]).unwrap();
        }
    }
    let argv = [
        "tlc",
        "figure",
        "--data",
        data.path().to_str().unwrap(),
        "--out-dir",
        out.path().to_str().unwrap(),
        "--no-explain",
        "--format",
        "svg",
    ];
    let Some(Command::Figure(args)) = Cli::try_parse_from(argv).unwrap().command else {
        panic!("not the figure command")
    };
    tlc_explorer::cli::figure::run(args).unwrap();
    let mut written: Vec<String> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(written.len(), 99);
    assert!(!written.contains(&"r057.svg".to_string()));
    assert!(written.contains(&"r058.svg".to_string()));
    // The figures carry the landmarks the delineator found.
    let svg = std::fs::read_to_string(out.path().join("r000.svg")).unwrap();
    assert!(svg.contains("<g id=\"landmarks\">"));
    // the record only: no empty entropy or Grad-CAM track under it
    assert!(
        !svg.contains("not computed") && !svg.contains(">entropy"),
        "analysis tracks drawn with --no-explain"
    );
}

/// `tlc figure --reference` draws the annotation files it names beside the record, refuses
/// one the record lacks with the list of those it has, and `--qtc` sets the measurement line.
#[test]
fn cli_figure_draws_the_reference_files_named_and_the_qtc_formula_asked_for() {
    use clap::Parser;
    use tlc_explorer::cli::{Cli, Command};
    let dir = tempfile::tempdir().unwrap();
    let ecg = beats_ecg("ref1");
    let hea =
        tlc_explorer::io::write_record(dir.path(), "ref1", &ecg, &Default::default()).unwrap();
    // A per-lead annotator for lead II (LUDB's layout): one QRS at 1.0-1.1 s.
    let fs = ecg.fs_hz;
    let marks: Vec<_> = [(1.0, "("), (1.05, "N"), (1.1, ")")]
        .iter()
        .map(|(t, sym)| tlc_explorer::io::Annotation::new((t * fs) as u64, sym).unwrap())
        .collect();
    tlc_explorer::io::write_annotations(&dir.path().join("ref1.ii"), &marks, false).unwrap();
    let run = |reference: &str, out: &str| {
        let argv = [
            "tlc",
            "figure",
            hea.to_str().unwrap(),
            "--no-explain",
            "--reference",
            reference,
            "--qtc",
            "bazett",
            "--out",
            out,
        ];
        let Some(Command::Figure(args)) = Cli::try_parse_from(argv).unwrap().command else {
            panic!("not the figure command")
        };
        tlc_explorer::cli::figure::run(args)
    };
    let svg_path = dir.path().join("ref1.svg");
    run("ii", svg_path.to_str().unwrap()).unwrap();
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(
        svg.contains("reference .ii on"),
        "legend entry of the layer"
    );
    assert!(
        svg.contains("(Bazett)"),
        "the measurement line's QTc formula"
    );
    let err = run("v9", dir.path().join("x.svg").to_str().unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains(".v9") && err.contains("it has: ii"), "{err}");
    assert!(!dir.path().join("x.svg").exists());
}

/// Pacemaker spikes the delineator found are ticked on every lead panel and named in the legend.
#[test]
fn pacing_spikes_are_ticked_on_every_panel() {
    let mut f = fixture();
    let spec = FigureSpec {
        layout: Layout::Stacked,
        ..Default::default()
    };
    let landmark_lines = |svg: &str| {
        let start = svg.find("<g id=\"landmarks\">").expect("a landmarks layer");
        let end = start + svg[start..].find("</g>").expect("the layer ends");
        svg[start..end].matches("<line").count()
    };
    let without = render_svg(&f.input(), &spec).unwrap();
    assert!(!without.contains("pacing spike"));
    let fs = f.delineation.fs_hz;
    f.delineation.pacing_spikes = vec![(1.0 * fs) as usize, (2.0 * fs) as usize];
    let with = render_svg(&f.input(), &spec).unwrap();
    assert!(with.contains("pacing spike"), "legend names the spikes");
    let n_panels = f.ecg.n_leads();
    assert_eq!(
        landmark_lines(&with) - landmark_lines(&without),
        2 * n_panels,
        "one tick per spike on each of the {n_panels} lead panels"
    );
}

#[test]
fn a_visible_caliper_and_reference_layer_are_drawn_in_the_exported_svg() {
    use tlc_explorer::delineate::WaveKind;
    use tlc_explorer::figure::{AnnotatorFile, Caliper, ReferenceLayer, ReferenceMark};
    let f = fixture();
    let spec = FigureSpec::default();
    let plain = render_svg(&f.input(), &spec).unwrap();
    let lead = f.ecg.leads[1].clone();
    let fs = f.ecg.fs_hz;
    let calipers = [Caliper::Time {
        lead: lead.clone(),
        start_s: 1.0,
        end_s: 1.8,
        bar_mv: 0.5,
        march: true,
    }];
    let reference = [ReferenceLayer {
        file: AnnotatorFile {
            path: PathBuf::from("fix1.ii"),
            extension: "ii".into(),
            lead: Some(lead.clone()),
        },
        marks: vec![
            ReferenceMark::Span {
                onset: (1.0 * fs) as usize,
                offset: (1.1 * fs) as usize,
                kind: Some(WaveKind::Qrs),
                label: None,
            },
            ReferenceMark::Symbol {
                sample: (1.05 * fs) as usize,
                text: "V".into(),
                beat: true,
            },
        ],
    }];
    let input = FigureInput {
        calipers: &calipers,
        reference: &reference,
        ..f.input()
    };
    let svg = render_svg(&input, &spec).unwrap();
    assert_ne!(svg, plain);
    assert!(svg.contains("800 ms · 75 bpm"), "caliper label");
    assert!(svg.contains("reference .ii on"), "legend entry");
    let layout = compute_layout(&f.ecg, &spec).unwrap();
    let scene = tlc_explorer::figure::build_scene(&input, &spec, &layout).unwrap();
    // Two legs and a bar, the marched legs to both edges of the window and the bar joining them,
    // on the one panel of the caliper's lead.
    let n_marched = ((layout.end_s - 1.8) / 0.8).floor() as usize + (1.0f64 / 0.8).floor() as usize;
    let lines = |name: &str| {
        scene.layer(name).map_or(0, |l| {
            l.primitives
                .iter()
                .filter(|p| matches!(p, tlc_explorer::figure::scene::Primitive::Line { .. }))
                .count()
        })
    };
    assert_eq!(lines("calipers"), 3 + n_marched + 1);
    // The QRS bracket: its line and two end ticks, on the lead's panel only.
    assert_eq!(lines("reference"), 3);
    // Layers off: the figure is the plain one.
    let off = FigureSpec {
        layers: Layers {
            calipers: false,
            reference: false,
            ..Layers::default()
        },
        ..spec
    };
    assert_eq!(render_svg(&input, &off).unwrap(), plain);
}

/// A model applied to data unlike what it learnt from says so on the exported figure, in the
/// footer above the settings line; without notes the figure is unchanged.
#[test]
fn the_model_s_data_notes_are_printed_on_the_figure() {
    let mut f = fixture();
    let spec = FigureSpec::default();
    let plain = render_svg(&f.input(), &spec).unwrap();
    assert!(!plain.contains("Note:"));
    f.explanation.data_notes = vec![
        "The model was trained on synthetic ECGs (synthetic set), not on recorded ones".into(),
    ];
    let svg = render_svg(&f.input(), &spec).unwrap();
    assert!(
        svg.contains("Note: The model was trained on synthetic ECGs (synthetic set)"),
        "the note is in the figure"
    );
    assert!(svg.contains("mm/s"), "the settings line stays");
}
