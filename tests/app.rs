//! The desktop app driven through egui_kittest (accesskit queries, wgpu on the CPU for the
//! snapshots), and a smoke run of the real binary in a real window under Xvfb.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use egui_kittest::kittest::{NodeT as _, Queryable};
use egui_kittest::{Harness, SnapshotOptions};
use ndarray::Array2;
use tlc_explorer::app::{AnalysedRecord, Settings, SortColumn, TlcApp, ViewLayout, ZoomMode};
use tlc_explorer::delineate::{Beat, Delineation, Wave, WaveKind};
use tlc_explorer::io::{Dataset, IoError, RecordEntry};
use tlc_explorer::model::Task;
use tlc_explorer::record::{Ecg, EcgMeta, LeadName, Sex};
use tlc_explorer::tlc::{Explanation, GradCam, Prediction, Segment};

const FS_HZ: f64 = 500.0;
const DURATION_S: f64 = 10.0;
const BEAT_S: f64 = 0.8;
const FIRST_QRS_S: f64 = 0.35;

fn gauss(t: f64, centre: f64, width: f64, amp: f64) -> f64 {
    amp * (-0.5 * ((t - centre) / width).powi(2)).exp()
}

/// A clean synthetic 12-lead ECG (P, QRS, T per beat) with known landmarks.
fn synthetic_ecg(id: &str, labels: &[&str]) -> Ecg {
    let n = (DURATION_S * FS_HZ) as usize;
    let leads = LeadName::standard_12();
    let scale = [1.0, 1.3, 0.4, -0.9, 0.5, 0.8, -0.6, 0.3, 0.9, 1.4, 1.2, 1.0];
    let mut data = Array2::<f32>::zeros((12, n));
    for (l, s) in scale.iter().enumerate() {
        for i in 0..n {
            let t = i as f64 / FS_HZ;
            let mut v = 0.0;
            let mut q = FIRST_QRS_S;
            while q < DURATION_S + 1.0 {
                v += gauss(t, q - 0.18, 0.025, 0.15);
                v += gauss(t, q - 0.02, 0.008, -0.12);
                v += gauss(t, q, 0.010, 1.2);
                v += gauss(t, q + 0.025, 0.010, -0.3);
                v += gauss(t, q + 0.30, 0.055, 0.3);
                q += BEAT_S;
            }
            data[[l, i]] = (v * s) as f32;
        }
    }
    let meta = EcgMeta {
        id: id.to_string(),
        age_years: Some(61.0),
        sex: Some(Sex::Female),
        labels: labels.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    Ecg::new(leads, FS_HZ, data, meta).expect("synthetic record is valid")
}

fn qrs_times() -> Vec<f64> {
    let mut out = Vec::new();
    let mut q = FIRST_QRS_S;
    while q < DURATION_S - 0.4 {
        out.push(q);
        q += BEAT_S;
    }
    out
}

fn synthetic_delineation() -> Delineation {
    let s = |t: f64| (t * FS_HZ).round() as usize;
    let beats: Vec<Beat> = qrs_times()
        .into_iter()
        .map(|q| Beat {
            p: Some(Wave {
                kind: WaveKind::P,
                onset: s(q - 0.23),
                peak: s(q - 0.18),
                offset: s(q - 0.13),
            }),
            qrs: Wave {
                kind: WaveKind::Qrs,
                onset: s(q - 0.04),
                peak: s(q),
                offset: s(q + 0.05),
            },
            t: Some(Wave {
                kind: WaveKind::T,
                onset: s(q + 0.18),
                peak: s(q + 0.30),
                offset: s(q + 0.42),
            }),
        })
        .collect();
    Delineation {
        fs_hz: FS_HZ,
        n_samples: (DURATION_S * FS_HZ) as usize,
        per_lead: vec![Vec::new(); 12],
        beats,
        atrial_fibrillation_suspected: false,
        af_episodes: Vec::new(),
        pacing_spikes: Vec::new(),
    }
}

/// An explanation laid out like the pipeline's: 256 steps over a 4096-sample input at 400 Hz,
/// the 10 s record centred in it; clusters follow the waves.
fn synthetic_explanation(id: &str) -> Explanation {
    let steps = 256;
    let model_fs_hz = 400.0;
    let model_start_s = -(4096.0 / model_fs_hz - DURATION_S) / 2.0;
    let step_duration_s = 4096.0 / model_fs_hz / steps as f64;
    let step_times_s: Vec<f64> = (0..steps)
        .map(|i| model_start_s + (i as f64 + 0.5) * step_duration_s)
        .collect();
    let first = step_times_s.iter().position(|&t| t >= 0.0).unwrap();
    let end = step_times_s.iter().rposition(|&t| t <= DURATION_S).unwrap() + 1;
    let k = 4;
    let phase = |t: f64| {
        let d = (t - FIRST_QRS_S).rem_euclid(BEAT_S);
        let d = if d > BEAT_S - 0.25 { d - BEAT_S } else { d };
        if (-0.04..0.05).contains(&d) {
            1
        } else if (0.18..0.42).contains(&d) {
            2
        } else if (-0.23..-0.13).contains(&d) {
            3
        } else {
            0
        }
    };
    let labels: Vec<usize> = step_times_s.iter().map(|&t| phase(t)).collect();
    let entropy: Vec<f32> = (0..steps)
        .map(|i| {
            let change = (i > 0 && labels[i] != labels[i - 1])
                || (i + 1 < steps && labels[i] != labels[i + 1]);
            if change { 0.7 } else { 0.15 }
        })
        .collect();
    let soft: Vec<Vec<f32>> = labels
        .iter()
        .zip(&entropy)
        .map(|(&c, &e)| {
            (0..k)
                .map(|j| {
                    if j == c {
                        1.0 - e / 2.0
                    } else {
                        e / 2.0 / (k - 1) as f32
                    }
                })
                .collect()
        })
        .collect();
    let mut proportions = vec![0.0f32; k];
    for &c in &labels[first..end] {
        proportions[c] += 1.0 / (end - first) as f32;
    }
    let mut segments = Vec::new();
    let mut a = first;
    for i in first + 1..=end {
        if i == end || labels[i] != labels[a] {
            let start_s = (step_times_s[a] - step_duration_s / 2.0).max(0.0);
            let end_s = (step_times_s[i - 1] + step_duration_s / 2.0).min(DURATION_S);
            segments.push(Segment {
                cluster: labels[a],
                start_step: a,
                end_step: i,
                start_s,
                end_s,
                start_sample: (start_s * FS_HZ) as usize,
                end_sample: (end_s * FS_HZ) as usize,
                mean_entropy: entropy[a..i].iter().sum::<f32>() / (i - a) as f32,
            });
            a = i;
        }
    }
    let map: Vec<f32> = (0..4096)
        .map(|m| {
            let t = model_start_s + m as f64 / model_fs_hz;
            qrs_times()
                .iter()
                .map(|&q| gauss(t, q + 0.02, 0.06, 1.0))
                .fold(0.0, f64::max) as f32
        })
        .collect();
    let names: Vec<String> = ["NORM", "MI", "STTC", "CD", "HYP"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    Explanation {
        record_id: id.to_string(),
        model_name: "synthetic test model".into(),
        explainer_name: "synthetic test explainer".into(),
        prediction: Prediction {
            task: Task::Multilabel,
            output_names: names,
            raw: vec![2.0, -1.5, 0.3, -3.0, -2.2],
            probabilities: vec![0.88, 0.18, 0.57, 0.05, 0.10],
            predicted_labels: vec!["NORM".into(), "STTC".into()],
        },
        k,
        step_times_s,
        step_duration_s,
        valid_steps: (first, end),
        labels,
        entropy,
        soft,
        proportions,
        segments,
        gradcam: Some(GradCam {
            output_index: 0,
            output_name: "NORM".into(),
            block: 4,
            weights: vec![0.1; 8],
            lowres: vec![0.5; 16],
            map,
        }),
        model_fs_hz,
        model_start_s,
        entropy_gradcam_correlation: Some(0.42),
        data_notes: Vec::new(),
    }
}

/// A data set held in memory; one record can be made unreadable.
struct MemoryDataset {
    entries: Vec<RecordEntry>,
    broken: Option<usize>,
}

impl MemoryDataset {
    fn new(n: usize, broken: Option<usize>) -> Self {
        let classes = ["NORM", "MI", "STTC", "CD", "HYP"];
        let entries = (0..n)
            .map(|i| RecordEntry {
                id: format!("rec-{i:03}"),
                labels: vec![classes[i % classes.len()].to_string()],
                fold: Some((i % 10) as u32 + 1),
                age_years: Some(40.0 + (i % 40) as f32),
                sex: Some(if i % 2 == 0 { Sex::Female } else { Sex::Male }),
                report: None,
            })
            .collect();
        MemoryDataset { entries, broken }
    }
}

impl Dataset for MemoryDataset {
    fn name(&self) -> String {
        format!("memory ({} records)", self.entries.len())
    }
    fn len(&self) -> usize {
        self.entries.len()
    }
    fn entry(&self, index: usize) -> Option<&RecordEntry> {
        self.entries.get(index)
    }
    fn load(&self, index: usize) -> Result<Ecg, IoError> {
        let e = self
            .entries
            .get(index)
            .ok_or_else(|| IoError::format("memory", format!("no record {index}")))?;
        if self.broken == Some(index) {
            return Err(IoError::format(
                format!("/data/{}.dat", e.id),
                "file ends after 12 of 60000 bytes",
            ));
        }
        let labels: Vec<&str> = e.labels.iter().map(String::as_str).collect();
        Ok(synthetic_ecg(&e.id, &labels))
    }
    fn class_names(&self) -> Vec<String> {
        ["NORM", "MI", "STTC", "CD", "HYP"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }
}

fn harness(app: TlcApp, size: [f32; 2]) -> Harness<'static, TlcApp> {
    Harness::builder()
        .with_size(size)
        .with_max_steps(16)
        .build_ui_state(|ui, app: &mut TlcApp| app.ui_root(ui), app)
}

/// Step the UI until the worker is idle (fails after `timeout`).
fn wait_idle(h: &mut Harness<'_, TlcApp>, timeout: Duration) {
    let start = Instant::now();
    loop {
        h.step();
        if h.state().is_idle() {
            break;
        }
        assert!(
            start.elapsed() < timeout,
            "the worker did not finish within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    h.step();
    let _ = h.run_ok();
}

/// The app launched on `path` (default models), once everything it started has finished.
fn launched(path: PathBuf) -> Harness<'static, TlcApp> {
    let launch = tlc_explorer::app::Launch {
        path: Some(path),
        model: None,
        explainer: None,
    };
    let app = TlcApp::new(None, Settings::default(), launch).expect("app starts");
    let mut h = harness(app, [1280.0, 860.0]);
    wait_idle(&mut h, Duration::from_secs(120));
    h
}

fn snapshot_options() -> SnapshotOptions {
    // Lavapipe and GPU drivers differ in anti-aliasing; allow a little.
    SnapshotOptions::new()
        .output_path("tests/snapshots/app")
        .threshold(2.0)
        .max_failed_pixels(600)
}

fn app_with_memory_data(n: usize, broken: Option<usize>) -> TlcApp {
    let mut app = TlcApp::without_data(None, Settings::default()).expect("worker starts");
    app.set_dataset(None, Arc::new(MemoryDataset::new(n, broken)));
    app
}

#[test]
fn browser_selects_records_with_mouse_and_keyboard() {
    let mut h = harness(app_with_memory_data(200, None), [1200.0, 760.0]);
    wait_idle(&mut h, Duration::from_secs(20));
    assert_eq!(h.state().selected_index(), Some(0));
    assert_eq!(
        h.state().current_record().map(|r| r.ecg.meta.id.as_str()),
        Some("rec-000")
    );

    h.get_by_label("rec-003").click();
    wait_idle(&mut h, Duration::from_secs(20));
    assert_eq!(
        h.state().current_record().map(|r| r.ecg.meta.id.as_str()),
        Some("rec-003")
    );

    h.key_press(egui::Key::ArrowDown);
    wait_idle(&mut h, Duration::from_secs(20));
    assert_eq!(h.state().selected_index(), Some(4));
    h.key_press(egui::Key::PageDown);
    wait_idle(&mut h, Duration::from_secs(20));
    assert!(
        h.state().selected_index().unwrap() > 10,
        "page down moves a page"
    );

    // Search narrows the list; a filtered-out record is no longer offered.
    h.get_by_label("Search").type_text("rec-01");
    h.run_ok();
    assert!(h.query_by_label("rec-150").is_none());
    assert!(h.query_by_label("rec-012").is_some());
}

#[test]
fn a_record_that_fails_to_load_shows_its_file_and_cause() {
    let mut h = harness(app_with_memory_data(5, Some(2)), [1100.0, 700.0]);
    wait_idle(&mut h, Duration::from_secs(20));
    h.get_by_label("rec-002").click();
    wait_idle(&mut h, Duration::from_secs(20));
    let errors = h.state().errors().to_vec();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].cause.contains("/data/rec-002.dat") && errors[0].cause.contains("ends after"),
        "{:?}",
        errors[0]
    );
    // Shown in the UI, readably; closing the list and clicking the status button shows it again.
    assert!(h.query_by_label_contains("rec-002.dat").is_some());
    h.get_by_label("1 problem(s)").click();
    h.run_ok();
    assert_eq!(
        h.state().errors().len(),
        1,
        "the button shows, never deletes"
    );
    assert!(h.query_by_label_contains("rec-002.dat").is_some());
    // The app still works: the previous record stays on screen and others load.
    h.get_by_label("rec-003").click();
    wait_idle(&mut h, Duration::from_secs(20));
    assert_eq!(
        h.state().current_record().map(|r| r.ecg.meta.id.as_str()),
        Some("rec-003")
    );
}

fn explained_app() -> TlcApp {
    let mut app = TlcApp::without_data(None, Settings::default()).expect("worker starts");
    let ecg = synthetic_ecg("synthetic-001", &["NORM"]);
    let record = AnalysedRecord {
        explanation: Some(Arc::new(synthetic_explanation("synthetic-001"))),
        ..AnalysedRecord::plain(Arc::new(ecg), None)
    };
    app.show_record(record.with_delineation(synthetic_delineation()));
    app
}

#[test]
fn layers_toggle_and_layout_switches() {
    let mut h = harness(explained_app(), [1280.0, 860.0]);
    h.run_ok();
    // The explanation panel shows outputs and segments with real data behind them.
    assert!(h.query_by_label("Outputs").is_some());
    assert!(h.query_by_label("Segments").is_some());
    h.snapshot_options("stacked_all_layers", &snapshot_options());

    h.get_by_label("clusters").click();
    h.get_by_label("landmarks").click();
    h.get_by_label("heat overlay").click();
    h.run_ok();
    let layers = h.state().settings.layers.clone();
    assert!(!layers.clusters && !layers.landmarks && layers.gradcam_overlay);

    h.get_by_label("3 x 4 + rhythm").click();
    h.run_ok();
    assert_eq!(h.state().settings.layout, ViewLayout::Clinical);
    h.snapshot_options("clinical_heat_overlay", &snapshot_options());

    // 6 x 2: the limb leads left, V1-V6 right, every lead named on the canvas.
    h.get_by_label("6 x 2 + rhythm").click();
    h.run_ok();
    assert_eq!(h.state().settings.layout, ViewLayout::Clinical6x2);
    h.snapshot_options("clinical_6x2", &snapshot_options());
}

#[test]
fn the_qtc_formula_setting_applies_to_the_measurement_line_and_beats() {
    use tlc_explorer::measure::QtcFormula;
    let mut h = harness(explained_app(), [1280.0, 860.0]);
    h.run_ok();
    assert!(h.query_by_label_contains("(Fridericia)").is_some());
    menu_item(&mut h, "View", "QTc formula");
    h.get_by_label("Bazett").click();
    h.run_ok();
    assert_eq!(h.state().settings.qtc_formula, QtcFormula::Bazett);
    assert!(h.query_by_label_contains("(Bazett)").is_some());
    let m = h
        .state()
        .current_record()
        .and_then(|r| r.measurements.clone())
        .expect("measured");
    assert_eq!(m.qtc_formula, QtcFormula::Bazett);
    let (qt, rr) = (m.qt_ms.value().unwrap(), m.qtc_rr_ms.unwrap());
    assert!((m.qtc_ms.value().unwrap() - qt / (rr / 1000.0).sqrt()).abs() < 1e-9);
    let beat = m.beats.iter().find(|b| b.qtc_ms.value().is_some()).unwrap();
    let (qt, rr) = (beat.qt_ms.value().unwrap(), beat.rr_ms.value().unwrap());
    assert!((beat.qtc_ms.value().unwrap() - qt / (rr / 1000.0).sqrt()).abs() < 1e-9);
    // A record shown later comes with the chosen formula too.
    h.state_mut().show_record(
        AnalysedRecord::plain(Arc::new(synthetic_ecg("again", &["NORM"])), None)
            .with_delineation(synthetic_delineation()),
    );
    h.run_ok();
    let m = h
        .state()
        .current_record()
        .unwrap()
        .measurements
        .clone()
        .unwrap();
    assert_eq!(m.qtc_formula, QtcFormula::Bazett);
}

#[test]
fn hover_reads_out_time_value_cluster_and_segment() {
    let mut h = harness(explained_app(), [1280.0, 860.0]);
    h.run_ok();
    let canvas = h.get_by_label("ECG view").rect();
    // Somewhere inside the first lead row.
    h.hover_at(egui::pos2(
        canvas.left() + canvas.width() * 0.4,
        canvas.top() + 40.0,
    ));
    h.run_ok();
    let status = h
        .query_by_label_contains("t = ")
        .expect("hover read-out in the status bar");
    let node = status.accesskit_node();
    let text = node
        .value()
        .or_else(|| node.label())
        .unwrap_or_default()
        .to_string();
    assert!(
        text.contains("mV")
            && text.contains("cluster")
            && text.contains("entropy")
            && text.contains("segment"),
        "{text}"
    );
}

#[test]
fn keyboard_zoom_and_reset() {
    let mut h = harness(explained_app(), [1280.0, 860.0]);
    h.run_ok();
    assert_eq!(h.state().view().zoom, ZoomMode::FitPage, "starts fitted");
    let fit = h.state().view().points_per_mm;
    h.key_press(egui::Key::Plus);
    h.run_ok();
    let zoomed = h.state().view().points_per_mm;
    assert!(
        (zoomed / fit - 1.25).abs() < 1e-3,
        "one step is x1.25: {zoomed} vs {fit}"
    );
    h.key_press(egui::Key::Minus);
    h.key_press(egui::Key::Minus);
    h.run_ok();
    assert!(h.state().view().points_per_mm < zoomed);
    h.key_press(egui::Key::Num0);
    h.run_ok();
    assert_eq!(
        h.state().view().zoom,
        ZoomMode::FitPage,
        "0 resets the view"
    );
}

/// The status bar's read-out.
fn status_text(h: &Harness<'_, TlcApp>) -> String {
    let status = h
        .query_by_label_contains("t = ")
        .expect("hover read-out in the status bar");
    let node = status.accesskit_node();
    node.value()
        .or_else(|| node.label())
        .unwrap_or_default()
        .to_string()
}

/// A number after `key` in the read-out ("t = 1.234 s" -> 1.234).
fn read_number(text: &str, key: &str, suffix: &str) -> Option<f64> {
    let rest = &text[text.find(key)? + key.len()..];
    rest[..rest.find(suffix)?].trim().parse().ok()
}

/// The record time under the pointer at `pos`.
fn time_at(h: &mut Harness<'_, TlcApp>, pos: egui::Pos2) -> f64 {
    h.hover_at(pos);
    h.run_ok();
    let text = status_text(h);
    read_number(&text, "t = ", " s").unwrap_or_else(|| panic!("no time in {text:?}"))
}

#[test]
fn actual_size_draws_25_mm_per_second_at_the_calibration_and_speed_widens() {
    let mut app = explained_app();
    // A screen calibrated at 4 pixels per mm; the harness has 1 pixel per point.
    app.settings.screen_px_per_mm = Some(4.0);
    let mut h = harness(app, [1280.0, 860.0]);
    h.run_ok();
    h.get_by_label("Actual size").click();
    h.run_ok();
    assert_eq!(h.state().view().zoom, ZoomMode::ActualSize);
    let canvas = h.get_by_label("ECG view").rect();
    let y = canvas.top() + 40.0;
    let x0 = canvas.left() + 200.0;
    // 25 mm/s x 4 px/mm: one second is 100 pixels.
    let dt = time_at(&mut h, egui::pos2(x0 + 100.0, y)) - time_at(&mut h, egui::pos2(x0, y));
    assert!((dt - 1.0).abs() < 0.011, "100 px = {dt} s at actual size");
    assert!(
        h.query_by_label("100 %").is_some(),
        "the zoom reads 100 % of paper size"
    );

    // Fit width at 25 and at 50 mm/s: the faster speed draws the same second twice as wide.
    h.get_by_label("Fit width").click();
    h.run_ok();
    let dt25 = time_at(&mut h, egui::pos2(x0 + 100.0, y)) - time_at(&mut h, egui::pos2(x0, y));
    h.state_mut().settings.paper_speed_mm_s = 50.0;
    h.run_ok();
    let dt50 = time_at(&mut h, egui::pos2(x0 + 100.0, y)) - time_at(&mut h, egui::pos2(x0, y));
    assert!(
        (dt25 / dt50 - 2.0).abs() < 0.05,
        "50 mm/s is twice as wide: {dt25} s vs {dt50} s per 100 px"
    );
}

#[test]
fn status_reads_the_signal_under_the_pointer_not_its_height() {
    let mut h = harness(explained_app(), [1280.0, 860.0]);
    h.run_ok();
    let canvas = h.get_by_label("ECG view").rect();
    let ecg = h.state().current_record().unwrap().ecg.clone();
    // Two heights at the same time in lead I give the same value: the signal's.
    let x = canvas.left() + canvas.width() * 0.45;
    let mut values = Vec::new();
    for dy in [16.0, 40.0] {
        h.hover_at(egui::pos2(x, canvas.top() + dy));
        h.run_ok();
        let text = status_text(&h);
        assert!(text.contains("lead I "), "{text}");
        let t = read_number(&text, "t = ", " s").unwrap();
        let mv = read_number(&text, "s   ", " mV").unwrap_or_else(|| panic!("{text}"));
        // The read-out rounds the time to 1 ms (half a sample): either neighbour may be meant.
        let sample = (t * FS_HZ).round() as usize;
        let near: Vec<f64> = (sample - 1..=sample + 1)
            .map(|i| ecg.samples_mv[[0, i]] as f64)
            .collect();
        assert!(
            near.iter().any(|v| (mv - v).abs() < 0.0051),
            "{mv} mV vs {near:?} mV"
        );
        values.push(mv);
    }
    assert_eq!(values.len(), 2);
}

#[test]
fn tracks_and_lead_names_stay_in_view_when_zoomed_and_panned() {
    let mut h = harness(explained_app(), [1280.0, 860.0]);
    h.run_ok();
    let canvas = h.get_by_label("ECG view").rect();
    for _ in 0..6 {
        h.key_press(egui::Key::Plus);
    }
    h.run_ok();
    // Pan to the middle of the record by dragging left.
    let start = canvas.center();
    h.drag_at(start);
    h.hover_at(start - egui::vec2(400.0, 0.0));
    h.drop_at(start - egui::vec2(400.0, 0.0));
    h.run_ok();
    h.snapshot_options("zoomed_panned_pinned", &snapshot_options());
    // The overview strip appeared above the canvas: where the canvas is now.
    let canvas = h.get_by_label("ECG view").rect();
    let view = h.state().view().clone();
    assert!(view.points_per_mm > 8.0 && view.start_s > 0.5, "{view:?}");
    // The Grad-CAM track is still at the bottom of the canvas, on the same time axis.
    let t_lead = time_at(&mut h, egui::pos2(canvas.center().x, canvas.top() + 30.0));
    let t_track = time_at(
        &mut h,
        egui::pos2(canvas.center().x, canvas.bottom() - 10.0),
    );
    let text = status_text(&h);
    assert!(
        text.contains("Grad-CAM") && !text.contains("lead "),
        "{text}"
    );
    assert!((t_lead - t_track).abs() < 0.02, "{t_lead} vs {t_track}");
    // Zoomed, panned, and with the overview strip moving the canvas: still one backdrop
    // texture (none left behind by an earlier canvas), no larger than the canvas in pixels.
    let ppp = h.ctx.pixels_per_point();
    let backdrop_sizes: Vec<[usize; 2]> = h
        .ctx
        .tex_manager()
        .read()
        .allocated()
        .filter(|(_, meta)| meta.name == "paper backdrop")
        .map(|(_, meta)| meta.size)
        .collect();
    assert_eq!(backdrop_sizes.len(), 1, "{backdrop_sizes:?}");
    let [w, h_px] = backdrop_sizes[0];
    assert!(
        w as f32 <= (canvas.width() * ppp).ceil() + 1.0
            && h_px as f32 <= (canvas.height() * ppp).ceil() + 1.0,
        "backdrop {w} x {h_px} px for a canvas of {:?} points",
        canvas.size()
    );
}

/// A data set of one record, made in memory by `make` when loaded (long records).
struct OneRecord {
    name: &'static str,
    entries: Vec<RecordEntry>,
    make: fn() -> Result<Ecg, IoError>,
}

impl OneRecord {
    fn new(name: &'static str, id: &str, make: fn() -> Result<Ecg, IoError>) -> Self {
        OneRecord {
            name,
            entries: vec![RecordEntry {
                id: id.into(),
                ..Default::default()
            }],
            make,
        }
    }
}

impl Dataset for OneRecord {
    fn name(&self) -> String {
        self.name.into()
    }
    fn len(&self) -> usize {
        1
    }
    fn entry(&self, index: usize) -> Option<&RecordEntry> {
        self.entries.get(index)
    }
    fn load(&self, _index: usize) -> Result<Ecg, IoError> {
        (self.make)()
    }
    fn class_names(&self) -> Vec<String> {
        Vec::new()
    }
}

const HOLTER_S: f64 = 1805.0;

/// One record of 30 minutes, two Holter leads (MLII, V1) at 360 Hz, as MIT-BIH 100.
fn holter_ecg() -> Result<Ecg, IoError> {
    let fs = 360.0;
    let n = (HOLTER_S * fs) as usize;
    let mut data = Array2::<f32>::zeros((2, n));
    for i in 0..n {
        let t = i as f64 / fs;
        // Only the nearest beat matters: the waves are narrow.
        let q = FIRST_QRS_S + ((t - FIRST_QRS_S) / BEAT_S).round() * BEAT_S;
        let v = gauss(t, q, 0.010, 1.2) + gauss(t, q + 0.30, 0.055, 0.3);
        data[[0, i]] = v as f32;
        data[[1, i]] = (-0.6 * v) as f32;
    }
    let meta = EcgMeta {
        id: "holter-100".into(),
        ..Default::default()
    };
    Ecg::new(vec![LeadName::parse("MLII"), LeadName::V1], fs, data, meta)
        .map_err(|e| IoError::format("holter", e.to_string()))
}

#[test]
fn a_30_minute_record_is_paged_from_start_to_end_in_the_clinical_layout() {
    let settings = Settings {
        layout: ViewLayout::Clinical,
        ..Settings::default()
    };
    let mut app = TlcApp::without_data(None, settings).expect("worker starts");
    app.set_dataset(
        None,
        Arc::new(OneRecord::new("holter", "holter-100", holter_ecg)),
    );
    let mut h = harness(app, [1600.0, 1000.0]);
    wait_idle(&mut h, Duration::from_secs(60));
    assert_eq!(
        h.state().current_record().map(|r| r.ecg.meta.id.as_str()),
        Some("holter-100")
    );
    // MLII stands in for II (the rhythm strip); the missing leads are named, nothing refused.
    let note = h.state().view().note.clone().unwrap_or_default();
    assert!(
        note.contains("MLII as II") && note.contains("aVR"),
        "{note}"
    );
    let canvas = h.get_by_label("ECG view").rect();
    h.hover_at(canvas.center());
    h.run_ok();
    let window = h.state().view().window_s;
    assert!(window > 5.0 && window < 15.0, "one screen is {window} s");
    let mut pages = 0;
    while h.state().view().visible_s.unwrap().1 < HOLTER_S - 1e-6 {
        let before = h.state().view().start_s;
        h.key_press(egui::Key::PageDown);
        h.run_ok();
        let after = h.state().view().start_s;
        assert!(after > before, "Page Down moves on");
        pages += 1;
        assert!(pages < 400, "paging does not reach the end");
    }
    let expected = (HOLTER_S / window).ceil() as i32 - 1;
    assert!(
        (pages - expected).abs() <= 1,
        "{pages} pages of {window} s for {HOLTER_S} s"
    );
    h.key_press(egui::Key::Home);
    h.run_ok();
    assert_eq!(h.state().view().start_s, 0.0);
    h.key_press(egui::Key::End);
    h.run_ok();
    assert!((h.state().view().visible_s.unwrap().1 - HOLTER_S).abs() < 1e-6);
    // A click in the middle of the overview shows the middle of the record.
    let overview = h.get_by_label("Overview").rect();
    h.drag_at(overview.center());
    h.run_ok();
    h.drop_at(overview.center());
    h.run_ok();
    let (a, b) = h.state().view().visible_s.unwrap();
    assert!(
        ((a + b) / 2.0 - HOLTER_S / 2.0).abs() < 5.0,
        "overview click shows {a}..{b}"
    );
    // Go to a typed time.
    h.get_by_label("Go to").click();
    h.get_by_label("Go to").type_text("12:00");
    h.key_press(egui::Key::Enter);
    h.run_ok();
    let (a, b) = h.state().view().visible_s.unwrap();
    assert!(
        (a + b) / 2.0 - 720.0 < 0.01 && a < 720.0,
        "go to 12:00 shows {a}..{b}"
    );
    h.snapshot_options("holter_clinical_overview", &snapshot_options());
}

const LONG_S: f64 = 60.0;

/// One 12-lead synthetic record of 60 s: six times the model's 10.24 s input.
fn long_ecg() -> Result<Ecg, IoError> {
    let params = tlc_explorer::synth::SynthParams {
        duration_s: LONG_S,
        ..Default::default()
    };
    let mut ecg = tlc_explorer::synth::generate_record(&params, 3)
        .map_err(|e| IoError::format("long", e.to_string()))?
        .ecg;
    ecg.meta.id = "long-60s".into();
    Ok(ecg)
}

#[test]
fn the_model_window_follows_the_view_over_a_long_record() {
    let mut app = TlcApp::without_data(None, Settings::default()).expect("worker starts");
    app.settings.model_path = Some(tlc_explorer::paths::default_model());
    app.load_models();
    app.set_dataset(None, Arc::new(OneRecord::new("long", "long-60s", long_ecg)));
    let mut h = harness(app, [1280.0, 860.0]);
    wait_idle(&mut h, Duration::from_secs(120));
    let record = h.state().current_record().expect("the record is shown");
    // The view opens at the record's start, and so does the model's window.
    let ex = record.explanation.clone().expect("explained");
    assert!(ex.model_start_s.abs() < 1e-9, "{}", ex.model_start_s);
    let delineation = record.delineation.clone().expect("delineated");
    assert!(
        delineation.beats.len() > 50,
        "the whole record is delineated"
    );
    assert!(
        h.query_by_label_contains("Clusters, entropy and Grad-CAM cover 0:00.0 - 0:10.2")
            .is_some()
    );
    // To the end of the record: once the view rests, the last 10.24 s are explained.
    let canvas = h.get_by_label("ECG view").rect();
    h.hover_at(canvas.center());
    h.key_press(egui::Key::End);
    h.run_ok();
    let (a, b) = h.state().view().visible_s.unwrap();
    assert!((b - LONG_S).abs() < 1e-6, "{a}..{b}");
    let moved = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(20));
        h.step();
        let ex = h
            .state()
            .current_record()
            .and_then(|r| r.explanation.clone());
        if ex.is_some_and(|e| e.model_start_s > 40.0) {
            break;
        }
        assert!(
            moved.elapsed() < Duration::from_secs(30),
            "the model's window did not follow the view"
        );
    }
    assert!(
        moved.elapsed() >= Duration::from_millis(300),
        "it waits for the view to rest"
    );
    wait_idle(&mut h, Duration::from_secs(60));
    let record = h.state().current_record().unwrap();
    let ex = record.explanation.clone().unwrap();
    // The view (a little wider than the model's window at this size) is explained about its
    // centre.
    let centre = ex.model_start_s + 4096.0 / 400.0 / 2.0;
    assert!(
        (centre - (a + b) / 2.0).abs() < 0.01,
        "explained from {} for {a}..{b}",
        ex.model_start_s
    );
    // Only the explanation was redone: the delineation of the whole record is the same one.
    assert!(Arc::ptr_eq(
        &delineation,
        record.delineation.as_ref().unwrap()
    ));
    assert!(record.measurements.is_some());
    // Back at the start, the first window comes back.
    h.key_press(egui::Key::Home);
    h.run_ok();
    std::thread::sleep(Duration::from_millis(350));
    h.step();
    wait_idle(&mut h, Duration::from_secs(60));
    let ex = h
        .state()
        .current_record()
        .unwrap()
        .explanation
        .clone()
        .unwrap();
    let (a, b) = h.state().view().visible_s.unwrap();
    let centre = ex.model_start_s + 4096.0 / 400.0 / 2.0;
    assert!(
        ex.model_start_s < 0.5 && (centre - (a + b) / 2.0).abs() < 0.01,
        "explained from {} for {a}..{b}",
        ex.model_start_s
    );

    // The whole record in windows: one row per window, a click goes there.
    h.get_by_label("Explain all 6 windows").scroll_to_me();
    h.run_ok();
    h.get_by_label("Explain all 6 windows").click();
    h.run_ok();
    wait_idle(&mut h, Duration::from_secs(60));
    assert!(
        h.query_by_label_contains("6 windows of 10.24 s").is_some(),
        "{:?}",
        h.state().errors()
    );
    h.get_by_label("0:41.0").scroll_to_me();
    h.run_ok();
    h.get_by_label("0:41.0").click();
    h.run_ok();
    let (a, b) = h.state().view().visible_s.unwrap();
    assert!(((a + b) / 2.0 - (40.96 + 5.12)).abs() < 0.05, "{a}..{b}");
}

#[test]
fn a_record_click_during_a_long_job_shows_the_record_at_once() {
    let sample = tlc_explorer::paths::sample_data();
    if !tlc_explorer::paths::default_model().exists() {
        panic!("the bundled model is missing");
    }
    let launch = tlc_explorer::app::Launch {
        path: Some(sample),
        model: None,
        explainer: None,
    };
    let mut settings = Settings::default();
    settings.eval.k_sweep = true;
    let app = TlcApp::new(None, settings, launch).expect("app starts");
    let mut h = harness(app, [1280.0, 860.0]);
    wait_idle(&mut h, Duration::from_secs(120));
    assert!(h.state().has_explainer());
    h.state_mut()
        .start_evaluation()
        .expect("the evaluation starts");
    h.step();
    assert!(h.state().is_busy_with_long_job());
    h.get_by_label("synth_00007").click();
    let clicked = Instant::now();
    loop {
        h.step();
        let shown = h
            .state()
            .current_record()
            .is_some_and(|r| r.ecg.meta.id == "synth_00007");
        if shown {
            break;
        }
        assert!(
            clicked.elapsed() < Duration::from_secs(5),
            "the record did not show while the evaluation ran"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        h.state().is_busy_with_long_job(),
        "the evaluation ended first: this test needs a longer job"
    );
    // Its explanation follows without waiting for the evaluation either.
    loop {
        h.step();
        if h.state()
            .current_record()
            .is_some_and(|r| r.explanation.is_some() && r.ecg.meta.id == "synth_00007")
        {
            break;
        }
        assert!(clicked.elapsed() < Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(h.state().is_busy_with_long_job());
    h.state_mut().cancel_evaluation();
    wait_idle(&mut h, Duration::from_secs(120));
}

#[test]
fn file_dialogs_fall_back_to_the_in_app_browser_without_a_portal() {
    // No desktop portal in the test environment: every dialog must open the in-app browser.
    // egui_file labels folders and files with emoji (U+1F5C0, U+1F5CB, U+2B06): the harness
    // fails on a glyph the fonts lack, so this also checks that the icons are drawn, not boxes.
    let mut h = Harness::builder()
        .with_size([1280.0, 860.0])
        .with_max_steps(16)
        // egui_file's path and file name fields have no accessible names.
        .with_accessibility_check(false)
        .build_ui_state(|ui, app: &mut TlcApp| app.ui_root(ui), explained_app());
    h.run_ok();
    let started = Instant::now();
    menu_item(&mut h, "Model", "Open model...");
    if started.elapsed() > Duration::from_millis(300) {
        eprintln!("SKIPPED: a desktop file dialog answered, the fallback is not needed here");
        return;
    }
    h.run_ok();
    assert!(
        h.query_by_label_contains("Open a model").is_some(),
        "Open model... falls back to the in-app browser"
    );
}

fn xvfb() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("Xvfb"))
            .find(|p| p.exists())
    });
    if found.is_none() {
        if std::env::var_os("CI").is_some() {
            panic!("CI: Xvfb is required for the smoke test (.ci/setup installs it)");
        }
        eprintln!("SKIPPED: Xvfb not found");
    }
    found
}

/// Kill the child we started when the test ends, however it ends.
struct ChildGuard(std::process::Child);
impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn png_is_not_blank(path: &Path) -> bool {
    let bytes = std::fs::read(path).expect("screenshot written");
    let img = image_rgba(&bytes);
    // Blank = (nearly) one colour; a drawn window has text, panels and widgets.
    let mut colours: Vec<&[u8]> = img.chunks(4).collect();
    colours.sort_unstable();
    colours.dedup();
    colours.len() > 16
}

fn image_rgba(png: &[u8]) -> Vec<u8> {
    let pixmap = resvg::tiny_skia::Pixmap::decode_png(png).expect("a valid PNG");
    pixmap.data().to_vec()
}

#[test]
fn real_binary_in_xvfb_takes_a_screenshot_and_exits() {
    let Some(xvfb) = xvfb() else { return };
    let display = format!(":{}", 90 + std::process::id() % 9);
    let _server = ChildGuard(
        std::process::Command::new(xvfb)
            .args([
                display.as_str(),
                "-screen",
                "0",
                "1600x1000x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("Xvfb starts"),
    );
    std::thread::sleep(Duration::from_millis(800));
    let dir = tempfile::tempdir().unwrap();
    let shot = dir.path().join("shot.png");
    let mut child = ChildGuard(
        std::process::Command::new(env!("CARGO_BIN_EXE_tlc"))
            .env("DISPLAY", &display)
            .env_remove("WAYLAND_DISPLAY")
            .env("TLC_SCREENSHOT", &shot)
            .env("XDG_DATA_HOME", dir.path())
            .env("XDG_CONFIG_HOME", dir.path())
            .spawn()
            .expect("tlc starts"),
    );
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "the app did not exit within 3 minutes"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "tlc exited with {status}");
    assert!(shot.exists(), "no screenshot at {}", shot.display());
    assert!(png_is_not_blank(&shot), "the screenshot is blank");
    if std::env::var_os("TLC_UPDATE_README_SCREENSHOT").is_some() {
        std::fs::copy(
            &shot,
            Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/screenshot.png"),
        )
        .unwrap();
    }
}

/// Write a WFDB record whose signal file is cut short.
fn write_truncated_record(dir: &Path) -> PathBuf {
    let hea = dir.join("broken.hea");
    let mut text = String::from("broken 12 500 5000\n");
    for lead in [
        "I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6",
    ] {
        text.push_str(&format!("broken.dat 16 1000/mV 16 0 0 0 0 {lead}\n"));
    }
    std::fs::write(&hea, text).unwrap();
    std::fs::write(dir.join("broken.dat"), vec![0u8; 100]).unwrap();
    hea
}

#[test]
fn opening_a_truncated_record_shows_a_readable_error() {
    let dir = tempfile::tempdir().unwrap();
    let hea = write_truncated_record(dir.path());
    let launch = tlc_explorer::app::Launch {
        path: Some(hea),
        model: None,
        explainer: None,
    };
    let app = TlcApp::new(None, Settings::default(), launch).expect("app starts");
    let mut h = harness(app, [1100.0, 700.0]);
    wait_idle(&mut h, Duration::from_secs(20));
    let errors = h.state().errors().to_vec();
    assert!(!errors.is_empty(), "a truncated signal must be reported");
    let text = errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(text.contains("broken"), "the error names the file: {text}");
    assert!(
        h.query_all_by_label_contains("broken.dat").next().is_some(),
        "the error is on screen: {text}"
    );
    eprintln!("shown error: {text}");
    assert!(h.state().current_record().is_none());
    // A file that does not open is not offered again in Open recent, nor reopened at start.
    assert!(h.state().settings.recent.is_empty());
    assert!(h.state().settings.last_path.is_none());
}

#[test]
fn export_writes_a_figure_and_data_and_asks_before_overwriting() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = explained_app();
    app.settings.export_dir = Some(dir.path().to_path_buf());
    app.settings.export_format = tlc_explorer::app::export::ExportFormat::Svg;
    let mut h = harness(app, [1280.0, 900.0]);
    h.run_ok();
    h.get_by_label("File").click();
    h.run_ok();
    h.get_by_label("Export figure and data...").click();
    wait_idle(&mut h, Duration::from_secs(60));
    assert!(
        h.query_by_label("Figure preview").is_some(),
        "a preview is shown"
    );

    let svg = dir.path().join("synthetic-001.svg");
    h.get_by_label("Export figure").click();
    wait_idle(&mut h, Duration::from_secs(60));
    let text = std::fs::read_to_string(&svg).expect("the SVG is written");
    assert!(text.contains("<svg"), "an SVG file");

    // A second export asks first and leaves the file alone until confirmed.
    std::fs::write(&svg, "keep me").unwrap();
    h.get_by_label("Export figure").click();
    h.run_ok();
    assert!(h.query_by_label_contains("Overwrite it?").is_some());
    h.get_by_label("Keep the file").click();
    wait_idle(&mut h, Duration::from_secs(10));
    assert_eq!(std::fs::read_to_string(&svg).unwrap(), "keep me");
    h.get_by_label("Export figure").click();
    h.run_ok();
    h.get_by_label("Overwrite").click();
    wait_idle(&mut h, Duration::from_secs(60));
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));

    h.get_by_label("Export data (CSV + JSON)").click();
    wait_idle(&mut h, Duration::from_secs(30));
    for ext in [
        "segments.csv",
        "steps.csv",
        "predictions.csv",
        "landmarks.csv",
        "json",
    ] {
        let p = dir.path().join(format!("synthetic-001.{ext}"));
        assert!(p.exists(), "{} written", p.display());
    }
    assert!(h.state().errors().is_empty(), "{:?}", h.state().errors());
}

/// Click a menu entry (opening the menu first; a click on an open menu's title closes it).
fn menu_item(h: &mut Harness<'_, TlcApp>, menu: &str, item: &str) {
    for _ in 0..3 {
        if h.query_by_label(item).is_some() {
            break;
        }
        h.get_by_label(menu).click();
        h.run_ok();
    }
    h.get_by_label(item).click();
    h.run_ok();
}

/// The golden fixture's model, copied beside a config named as `LoadedModel::open` expects.
fn fixture_model(dir: &Path) -> Option<PathBuf> {
    let weights = common::fixture("resnet_fixture.safetensors")?;
    let config = common::fixture("model_config.json")?;
    let target = dir.join("fixture_model.safetensors");
    std::fs::copy(weights, &target).unwrap();
    std::fs::copy(config, dir.join("fixture_model.json")).unwrap();
    Some(target)
}

#[test]
fn opens_sample_data_fits_an_explainer_with_cancel_and_shows_the_bands() {
    let dir = tempfile::tempdir().unwrap();
    let Some(model) = fixture_model(dir.path()) else {
        return;
    };
    let sample = tlc_explorer::paths::sample_data();
    let launch = tlc_explorer::app::Launch {
        path: Some(sample),
        model: Some(model),
        explainer: None,
    };
    let mut settings = Settings::default();
    // The whole sample data set for the fit that is cancelled (it checks between records).
    settings.fit.max_records = 0;
    settings.fit.max_time_steps = 2000;
    settings.fit.k = 4;
    let app = TlcApp::new(None, settings, launch).expect("app starts");
    let mut h = harness(app, [1280.0, 860.0]);
    wait_idle(&mut h, Duration::from_secs(120));
    assert!(h.state().errors().is_empty(), "{:?}", h.state().errors());
    assert_eq!(
        h.state().current_record().map(|r| r.ecg.meta.id.as_str()),
        Some("synth_00000")
    );
    assert!(
        h.query_by_label("synth_00001").is_some(),
        "the browser lists the sample records"
    );
    assert!(
        h.state().current_record().unwrap().explanation.is_none(),
        "no explainer yet"
    );

    h.get_by_label("Model").click();
    h.run_ok();
    h.get_by_label("Fit explainer...").click();
    h.run_ok();
    // Start, then cancel while it runs: the UI keeps drawing and nothing is installed.
    h.get_by_label("Fit").click();
    h.step();
    h.step();
    assert!(h.state().is_fitting());
    h.get_by_label("Cancel fit").click();
    wait_idle(&mut h, Duration::from_secs(120));
    assert!(!h.state().is_fitting());
    assert!(
        !h.state().has_explainer(),
        "a cancelled fit installs nothing"
    );

    // Fit to the end (on 3 records): the record on screen gets its cluster bands.
    h.state_mut().settings.fit.max_records = 3;
    h.get_by_label("Fit").click();
    wait_idle(&mut h, Duration::from_secs(300));
    assert!(h.state().errors().is_empty(), "{:?}", h.state().errors());
    assert!(h.state().has_explainer());
    let ex = h
        .state()
        .current_record()
        .and_then(|r| r.explanation.clone())
        .expect("explained after the fit");
    assert_eq!(ex.k, 4);
    assert!(!ex.segments.is_empty());
    assert!(
        h.query_by_label("Outputs").is_some(),
        "the explanation panel appears"
    );

    // Explain the whole data set: predictions and entropy fill the browser; the cohort view
    // shows the proportions per label.
    menu_item(&mut h, "Model", "Explain all records");
    wait_idle(&mut h, Duration::from_secs(300));
    assert!(h.state().errors().is_empty(), "{:?}", h.state().errors());
    menu_item(&mut h, "Model", "Cohort view");
    h.run_ok();
    assert!(
        h.query_by_label("Mean cluster proportions by predicted label")
            .is_some()
    );
    assert!(
        h.query_by_label("Mean cluster proportions by true label")
            .is_some()
    );
    assert!(h.query_by_label("Model and label disagree").is_some());

    // Surrogate evaluation from the cohort view: a cancelled run leaves nothing behind...
    h.state_mut().settings.eval.folds = 3;
    h.state_mut().settings.eval.k_sweep = true;
    h.run_ok();
    h.get_by_label("Evaluate surrogate (3-fold)").click();
    h.step();
    h.step();
    assert!(h.state().is_evaluating());
    h.get_by_label("Cancel evaluation").click();
    wait_idle(&mut h, Duration::from_secs(120));
    assert!(!h.state().is_evaluating());
    assert!(
        h.state().evaluation().is_none(),
        "a cancelled evaluation shows nothing"
    );
    assert!(h.state().errors().is_empty(), "{:?}", h.state().errors());

    // ...a finished one shows the table, the K sweep and the audit list.
    let t0 = Instant::now();
    h.get_by_label("Evaluate surrogate (3-fold)").click();
    wait_idle(&mut h, Duration::from_secs(300));
    eprintln!(
        "3-fold evaluation with K sweep: {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    assert!(h.state().errors().is_empty(), "{:?}", h.state().errors());
    let ev = h.state().evaluation().expect("evaluation finished");
    assert_eq!(ev.report.folds.len(), 3);
    assert_eq!(ev.report.n_records, h.state().dataset().unwrap().len());
    let fidelity = ev.report.summary.fidelity.expect("fidelity defined");
    assert!((0.0..=1.0).contains(&fidelity.mean));
    assert_eq!(ev.sweep.as_ref().map(|s| s.points.len()), Some(5));
    let first = ev
        .audit
        .first()
        .cloned()
        .expect("some disagreements on 40 records");
    let expected = ev.index_of[&first.id];
    assert!(h.query_by_label("Fidelity (%)").is_some());
    assert!(
        h.query_by_label(&fidelity.percent()).is_some(),
        "the table shows the fidelity {}",
        fidelity.percent()
    );
    assert!(h.query_by_label("Macro AUROC (%)").is_some());
    assert!(h.query_by_label("K sweep").is_some());
    assert!(h.query_by_label("Label-quality audit").is_some());
    assert!(h.query_by_label("mean entropy").is_some());
    // Clicking an audit row opens that record.
    // The audit list comes before the label-disagreement list, so its link is the first.
    h.query_all_by_role_and_label(egui::accesskit::Role::Link, &first.id)
        .next()
        .expect("the audit row's link")
        .scroll_to_me();
    h.run_ok();
    h.query_all_by_role_and_label(egui::accesskit::Role::Link, &first.id)
        .next()
        .unwrap()
        .click();
    wait_idle(&mut h, Duration::from_secs(60));
    assert_eq!(h.state().selected_index(), Some(expected));
    assert_eq!(
        h.state().current_record().map(|r| r.ecg.meta.id.clone()),
        Some(first.id.clone())
    );
}

/// With no model chosen, opening real records (LUDB) switches from the synthetic model to the
/// bundled real-data model, and the record on screen ends up explained by the model whose
/// cluster names are shown: never a record explained by one model under another's names.
#[test]
fn real_records_are_explained_by_the_real_data_model() {
    let Some(ludb) = common::data("ludb") else {
        return;
    };
    let mut h = launched(ludb);
    assert!(h.state().errors().is_empty(), "{:?}", h.state().errors());
    let ex = h
        .state()
        .current_record()
        .and_then(|r| r.explanation.clone())
        .expect("the first LUDB record is explained");
    assert_eq!(ex.model_name, "ribeiro_ptbxl");
    // LUDB records carry no PTB-XL labels: the outputs claim no false positive.
    h.run_ok();
    assert!(
        h.query_by_label("probability").is_some(),
        "the outputs table is on screen"
    );
    assert!(h.query_by_label("no (false +)").is_none());
    assert!(h.query_by_label("no").is_none());

    // The bundled age model, one click away: its prediction beside the recorded age.
    let ex = explained_by_bundled_model(&mut h, "ribeiro_ptbxl_age");
    let age = ex.prediction.raw[0];
    assert!((18.0..100.0).contains(&age), "predicted age {age}");
    for label in ["predicted age", "recorded age", "predicted - recorded"] {
        assert!(h.query_by_label(label).is_some(), "{label} is on screen");
    }
    assert!(
        h.query_by_label(&format!("{age:.1} years")).is_some(),
        "the predicted age is shown in years"
    );
    assert!(ex.data_notes.is_empty(), "{:?}", ex.data_notes);

    // The synthetic model on a real record: said beside its outputs.
    let ex = explained_by_bundled_model(&mut h, "synth_resnet");
    assert_eq!(ex.data_notes.len(), 1, "{:?}", ex.data_notes);
    assert!(
        h.query_by_label_contains("trained on synthetic ECGs")
            .is_some(),
        "the note is on screen"
    );
}

/// Model > Bundled models > `name`, then the record on screen once it is explained again.
fn explained_by_bundled_model(
    h: &mut Harness<'_, TlcApp>,
    name: &str,
) -> std::sync::Arc<Explanation> {
    h.get_by_label("Model").click();
    h.run_ok();
    h.get_by_label("Bundled models").hover();
    h.run_ok();
    h.get_by_label(name).click();
    h.run_ok();
    wait_idle(h, Duration::from_secs(120));
    assert!(h.state().errors().is_empty(), "{:?}", h.state().errors());
    let ex = h
        .state()
        .current_record()
        .and_then(|r| r.explanation.clone())
        .unwrap_or_else(|| panic!("the record is explained by {name}"));
    assert_eq!(ex.model_name, name);
    ex
}

/// Drag on the ECG view from `from` to `to` over a few frames (press, moves, release).
fn drag(h: &mut Harness<'_, TlcApp>, from: egui::Pos2, to: egui::Pos2) {
    h.hover_at(from);
    h.step();
    h.drag_at(from);
    h.step();
    for k in 1..=4 {
        h.hover_at(from + (to - from) * (k as f32 / 4.0));
        h.step();
    }
    h.drop_at(to);
    h.run_ok();
}

#[test]
fn a_caliper_dragged_between_two_r_peaks_reads_800_ms_and_75_bpm_and_delete_removes_it() {
    let mut h = harness(explained_app(), [1280.0, 860.0]);
    h.run_ok();
    let canvas = h.get_by_label("ECG view").rect();
    let y = canvas.top() + 40.0; // in the first lead row
    let view = h.state().view().clone();
    let (r1, r2) = (qrs_times()[1], qrs_times()[2]);
    let (x1, x2) = (view.screen_x_of(r1), view.screen_x_of(r2));
    // A plain drag pans and sets no caliper.
    let start_before = view.start_s;
    drag(&mut h, egui::pos2(x1, y), egui::pos2(x2, y));
    assert!(h.state().calipers().is_empty());
    h.key_press(egui::Key::Num0);
    h.run_ok();
    assert_eq!(h.state().view().start_s, start_before);
    // With the Caliper tool a horizontal drag sets a time caliper of the interval dragged.
    h.get_by_label("Caliper").click();
    h.run_ok();
    drag(&mut h, egui::pos2(x1, y), egui::pos2(x2, y));
    let calipers = h.state().calipers().to_vec();
    assert_eq!(calipers.len(), 1, "{calipers:?}");
    let ms = calipers[0].interval_ms().expect("a time caliper");
    // Within one sample (2 ms) and the pointer's rounding to a point.
    let ms_per_point = 1e3 / (view.points_per_mm as f64 * 25.0);
    assert!((ms - 800.0).abs() <= 2.0 + ms_per_point, "{ms} ms");
    let bpm = calipers[0].rate_bpm().unwrap();
    assert!((bpm - 60_000.0 / ms).abs() < 1e-9, "{bpm} bpm from {ms} ms");
    assert!(
        (bpm - 75.0).abs() <= 75.0 * (2.0 + ms_per_point) / 800.0 + 0.01,
        "{bpm} bpm"
    );
    assert_eq!(calipers[0].lead(), &LeadName::I);
    assert!(
        h.query_by_label_contains("march").is_some(),
        "the new caliper is selected: its march switch is on the toolbar"
    );
    // A vertical drag sets an amplitude caliper; Shift-drag works without the tool.
    h.get_by_label("Caliper").click();
    h.run_ok();
    h.event(egui::Event::ModifiersChanged(egui::Modifiers::SHIFT));
    let x = view.screen_x_of(qrs_times()[4]);
    drag(
        &mut h,
        egui::pos2(x, y + 15.0),
        egui::pos2(x + 2.0, y - 15.0),
    );
    h.event(egui::Event::ModifiersChanged(egui::Modifiers::NONE));
    h.run_ok();
    let calipers = h.state().calipers().to_vec();
    assert_eq!(calipers.len(), 2, "{calipers:?}");
    let mv = calipers[1].amplitude_mv().expect("an amplitude caliper");
    let mv_expected = 30.0 / (view.points_per_mm as f64 * 10.0);
    assert!((mv - mv_expected).abs() < 0.05, "{mv} vs {mv_expected} mV");
    // M marches the selected caliper only if it is a time caliper; Delete removes it.
    h.key_press(egui::Key::Delete);
    h.run_ok();
    assert_eq!(h.state().calipers().len(), 1);
    // A right click away from the caliper removes nothing; on its bar (at the height the drag
    // started) it removes it.
    let right_click = |h: &mut Harness<'_, TlcApp>, pos: egui::Pos2| {
        h.hover_at(pos);
        h.step();
        for pressed in [true, false] {
            h.event(egui::Event::PointerButton {
                pos,
                button: egui::PointerButton::Secondary,
                pressed,
                modifiers: egui::Modifiers::NONE,
            });
            h.step();
        }
        h.run_ok();
    };
    right_click(&mut h, egui::pos2((x1 + x2) / 2.0, y + 60.0));
    assert_eq!(h.state().calipers().len(), 1);
    right_click(&mut h, egui::pos2((x1 + x2) / 2.0, y));
    assert!(h.state().calipers().is_empty());
    // Clear removes every caliper of the record.
    h.get_by_label("Caliper").click();
    h.run_ok();
    drag(&mut h, egui::pos2(x1, y), egui::pos2(x2, y));
    assert_eq!(h.state().calipers().len(), 1);
    h.get_by_label("Clear 1").click();
    h.run_ok();
    assert!(h.state().calipers().is_empty());
}

#[test]
fn ludb_annotation_files_are_listed_and_shown_as_brackets() {
    let Some(ludb) = common::data("ludb/data/1.hea") else {
        return;
    };
    let mut h = launched(ludb);
    let files = h.state().reference_files().to_vec();
    let ii = files
        .iter()
        .find(|f| f.extension == "ii")
        .unwrap_or_else(|| panic!("1.ii is listed: {files:?}"));
    assert_eq!(ii.lead, Some(LeadName::II));
    assert_eq!(files.len(), 12, "one annotator per lead: {files:?}");
    assert!(
        h.state().reference_layers().is_empty(),
        "none shown at first"
    );
    h.get_by_label("Reference").click();
    h.run_ok();
    h.get_by_label("1.ii (lead II)").click();
    wait_idle(&mut h, Duration::from_secs(30));
    let layers = h.state().reference_layers().to_vec();
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0].file.lead, Some(LeadName::II));
    // LUDB marks about 10 beats of lead II with P, QRS and T brackets.
    let spans = layers[0].n_spans();
    assert!((9..=60).contains(&spans), "{spans} brackets");
    assert!(layers[0].applies_to(&LeadName::II) && !layers[0].applies_to(&LeadName::V1));
    assert!(
        h.state()
            .settings
            .reference_annotators
            .contains(&"ii".to_string())
    );
}

#[test]
fn the_beat_table_lists_each_beats_intervals_and_a_click_moves_the_view_there() {
    let mut h = harness(explained_app(), [1280.0, 1400.0]);
    h.run_ok();
    // The measurement line above the leads, as the figures print it.
    let m = h
        .state()
        .current_record()
        .and_then(|r| r.measurements.clone())
        .expect("measured from the delineation");
    let line = tlc_explorer::measure::text::measurement_line(&m);
    assert!(line.starts_with("HR 75 bpm"), "{line}");
    assert!(h.query_by_label(&line).is_some(), "the line is on screen");
    // One row per beat: RR 800, PR 190 (P onset 230 ms before R to QRS onset 40 ms before),
    // QRS 90, QT 460 ms.
    assert_eq!(m.beats.len(), qrs_times().len());
    let b = &m.beats[3];
    assert_eq!(b.rr_ms.value().map(f64::round), Some(800.0));
    assert_eq!(b.pr_ms.value().map(f64::round), Some(190.0));
    assert_eq!(b.qrs_ms.value().map(f64::round), Some(90.0));
    assert_eq!(b.qt_ms.value().map(f64::round), Some(460.0));
    assert!(h.query_by_label("Beats").is_some());
    for _ in 0..8 {
        h.key_press(egui::Key::Plus);
    }
    h.run_ok();
    let window = h.state().view().window_s;
    assert!(window < 5.0, "zoomed in: {window} s");
    let t = qrs_times()[9];
    h.get_by_label(&format!("{t:.2}")).click();
    h.run_ok();
    let view = h.state().view();
    let centre = view.start_s + view.window_s / 2.0;
    assert!((centre - t).abs() < 0.01, "centred on {centre}, not {t}");
}

#[test]
fn measure_all_fills_the_hr_qrs_qtc_columns_which_sort_and_filter() {
    let mut h = harness(app_with_memory_data(6, Some(2)), [1400.0, 760.0]);
    wait_idle(&mut h, Duration::from_secs(20));
    h.get_by_label("Measure all").click();
    wait_idle(&mut h, Duration::from_secs(60));
    for i in [0, 1, 3, 4, 5] {
        let m = h.state().record_measures(i).copied().expect("measured");
        // The synthetic records beat every 800 ms.
        assert_eq!(m.heart_rate_bpm.map(f64::round), Some(75.0), "record {i}");
        assert!(
            m.qrs_ms.is_some() && m.qtc_ms.is_some(),
            "record {i}: {m:?}"
        );
    }
    assert!(h.state().record_measures(2).is_none());
    assert!(
        h.state()
            .errors()
            .iter()
            .any(|e| e.task == "Measuring the data set" && e.cause.contains("rec-002")),
        "{:?}",
        h.state().errors()
    );
    h.get_by_label("Dismiss all").click();
    h.run_ok();
    // Sorted by HR, the record without a value comes last. (The columns scroll sideways in the
    // panel: bring the header's HR into view first, as a user would.)
    h.get_by_label("HR").scroll_to_me();
    h.run_ok();
    h.get_by_label("HR").click();
    h.run_ok();
    assert_eq!(h.state().browser_order().last(), Some(&2));
    // A measurement filter in the search field.
    h.get_by_label("Search").click();
    h.run_ok();
    h.get_by_label("Search").type_text("hr>70");
    h.run_ok();
    assert_eq!(h.state().browser_order(), &[0, 1, 3, 4, 5]);
    assert!(h.query_by_label("5 of 6 records").is_some());
    h.get_by_label("Search").type_text("0"); // hr>700
    h.run_ok();
    assert!(h.state().browser_order().is_empty());

    // With every column filled the list scrolls sideways inside its panel: the panel keeps its
    // width and the ECG keeps most of the window.
    let ecg = h.get_by_label("ECG view").rect();
    assert!(
        ecg.left() < 330.0 && ecg.width() > 0.5 * 1400.0,
        "the ECG view is {ecg:?} in a 1400 px window (the list's panel is 300 px by default)"
    );
    assert!(
        h.get_by_label("record").rect().left() < ecg.left(),
        "the list is left of the ECG"
    );
    // A column the user switches off (right-click on the header) leaves the header.
    h.get_by_label("HR ^").scroll_to_me();
    h.run_ok();
    h.get_by_label("HR ^").click_secondary();
    h.run_ok();
    assert!(
        h.query_by_label("Columns").is_some(),
        "the column menu opens"
    );
    h.get_by_role_and_label(egui::accesskit::Role::CheckBox, "age")
        .click();
    h.run_ok();
    assert_eq!(h.state().settings.hidden_columns, vec![SortColumn::Age]);
    h.key_press(egui::Key::Escape);
    h.run_ok();
    assert!(
        h.query_by_label("age").is_none(),
        "the age column is hidden"
    );
}

#[test]
fn a_records_analysis_problem_is_said_above_its_ecg_without_a_window_over_it() {
    let mut app = TlcApp::without_data(None, Settings::default()).expect("worker starts");
    let mut record = AnalysedRecord::plain(Arc::new(synthetic_ecg("holter-1", &[])), None);
    record
        .problems
        .push("explaining holter-1: the model needs lead I, which the record lacks".into());
    app.show_record(record);
    let mut h = harness(app, [1280.0, 860.0]);
    h.run_ok();
    assert!(
        h.query_by_label_contains("Problem explaining holter-1")
            .is_some(),
        "the problem is said above the ECG"
    );
    assert!(
        h.query_by_label("Dismiss all").is_none(),
        "no Problems window over the ECG"
    );
    // Still listed: the status bar's button opens the list.
    h.get_by_label("1 problem(s)").click();
    h.run_ok();
    assert!(h.query_by_label("Dismiss all").is_some());
    // A job that fails still opens the window by itself.
    h.get_by_label("Dismiss all").click();
    h.run_ok();
    assert!(h.query_by_label("Dismiss all").is_none());
    h.state_mut()
        .open_path(Path::new("/nonexistent/record.hea"));
    wait_idle(&mut h, Duration::from_secs(20));
    assert!(
        h.query_by_label("Dismiss all").is_some(),
        "a failed open is shown"
    );
}

#[test]
fn derived_and_uncalibrated_leads_and_reader_notes_are_said_above_the_ecg() {
    let mut app = TlcApp::without_data(None, Settings::default()).expect("worker starts");
    let mut ecg = synthetic_ecg("cart-1", &[]);
    ecg.meta.derived_leads = vec![LeadName::III, LeadName::AVR];
    ecg.meta.uncalibrated_leads = vec![LeadName::V2];
    ecg.meta.reader_notes = vec!["2 leading and 0 trailing samples left out".into()];
    app.show_record(AnalysedRecord::plain(Arc::new(ecg), None));
    let mut h = harness(app, [1280.0, 860.0]);
    h.run_ok();
    assert!(
        h.query_by_label_contains("Derived leads")
            .is_some_and(|n| format!("{n:?}").contains("III, aVR")),
        "the derived leads are named"
    );
    assert!(
        h.query_by_label_contains("Uncalibrated leads")
            .is_some_and(|n| format!("{n:?}").contains("V2")),
        "the uncalibrated lead is named"
    );
    assert!(
        h.query_by_label_contains("Note: 2 leading and 0 trailing samples left out")
            .is_some(),
        "the reader's note is shown"
    );
    // a record without them says nothing of the kind
    let plain = AnalysedRecord::plain(Arc::new(synthetic_ecg("cart-2", &[])), None);
    h.state_mut().show_record(plain);
    h.run_ok();
    assert!(h.query_by_label_contains("Derived leads").is_none());
    assert!(h.query_by_label_contains("Uncalibrated leads").is_none());
}

/// The explained synthetic record with an arterial pressure signal recorded beside its leads
/// (100 Hz, 100 + 20 sin(2 pi t) mmHg).
fn app_with_pressure() -> TlcApp {
    let mut app = TlcApp::without_data(None, Settings::default()).expect("worker starts");
    let fs_hz = 100.0;
    let pressure = |t: f64| 100.0 + 20.0 * (2.0 * std::f64::consts::PI * t).sin();
    let ecg = synthetic_ecg("with-abp", &["NORM"]).with_other_signals(vec![
        tlc_explorer::record::OtherSignal::new(
            "ABP".into(),
            "mmHg".into(),
            fs_hz,
            0.0,
            (0..(DURATION_S * fs_hz) as usize)
                .map(|i| pressure(i as f64 / fs_hz) as f32)
                .collect(),
        ),
    ]);
    let record = AnalysedRecord {
        explanation: Some(Arc::new(synthetic_explanation("with-abp"))),
        ..AnalysedRecord::plain(Arc::new(ecg), None)
    };
    app.show_record(record.with_delineation(synthetic_delineation()));
    app
}

/// The first read-out naming the ABP when the pointer moves up from the canvas's bottom.
fn pressure_readout(h: &mut Harness<'_, TlcApp>) -> Option<String> {
    let canvas = h.get_by_label("ECG view").rect();
    let mut y = canvas.bottom() - 3.0;
    while y > canvas.bottom() - 260.0 {
        h.hover_at(egui::pos2(canvas.center().x, y));
        h.run_ok();
        // between tracks and below the paper nothing is read out
        if h.query_by_label_contains("t = ").is_some() {
            let text = status_text(h);
            if text.contains("ABP ") && text.contains(" mmHg") {
                return Some(text);
            }
        }
        y -= 3.0;
    }
    None
}

#[test]
fn a_pressure_signal_is_shown_under_the_leads_and_read_out_in_its_units() {
    let mut h = harness(app_with_pressure(), [1280.0, 860.0]);
    h.run_ok();
    assert!(h.state().settings.layers.other_signals);
    let text = pressure_readout(&mut h).expect("a track reading out the ABP");
    let t = read_number(&text, "t = ", " s").expect("a time");
    // "ABP 95.3 mmHg", as a monitor reads it out
    let key = "ABP ";
    let value: Option<f64> = text.find(key).and_then(|at| {
        text[at + key.len()..]
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    });
    let expected = 100.0 + 20.0 * (2.0 * std::f64::consts::PI * t).sin();
    let value = value.unwrap_or_else(|| panic!("no value in {text:?}"));
    // nearest of the 100 Hz values: within half a sample (5 ms x 126 mmHg/s at most)
    assert!(
        (value - expected).abs() < 0.7,
        "{value} vs {expected} at {t} s"
    );
    // the model and the delineator never see it: the leads are the record's twelve
    assert_eq!(
        h.state().current_record().map(|r| r.ecg.n_leads()),
        Some(12)
    );
    // switched off, no track reads it out any more
    h.get_by_label("other signals").click();
    h.run_ok();
    assert!(!h.state().settings.layers.other_signals);
    assert_eq!(pressure_readout(&mut h), None);
}
