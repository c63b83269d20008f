//! Frame time of the app with a 12-lead x 5,000-sample record (10 s at 500 Hz) and every layer
//! on (cluster bands, entropy and Grad-CAM tracks, landmarks, Grad-CAM heat overlay, grid), in
//! both layouts, at 1600 x 1000 points: one egui pass (layout, drawing into shapes,
//! tessellation), the CPU side of a frame and what the app's code costs.
//!
//! Rasterisation is measured in the real window instead: the screenshot mode (`TLC_SCREENSHOT`)
//! times 60 continuously repainted frames before the capture and prints the mean, which under
//! Xvfb is eframe on Mesa's CPU renderer (kittest's off-screen render creates and reads back a
//! texture per call and would measure that instead).

// The allocator of the `tlc` binary (src/main.rs), so the bench measures what users run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use egui_kittest::Harness;
use tlc_explorer::app::{AnalysedRecord, Settings, TlcApp, ViewLayout};
use tlc_explorer::delineate::{Beat, Delineation};
use tlc_explorer::model::Task;
use tlc_explorer::synth::{SynthParams, generate_record};
use tlc_explorer::tlc::{Explanation, GradCam, Prediction, Segment};

/// Cluster of a record time from the true beats: 1 QRS, 2 T, 3 P, 0 elsewhere.
fn cluster_at(beats: &[Beat], fs_hz: f64, t_s: f64) -> usize {
    let s = (t_s * fs_hz) as usize;
    for b in beats {
        if (b.qrs.onset..=b.qrs.offset).contains(&s) {
            return 1;
        }
        if b.t.is_some_and(|w| (w.onset..=w.offset).contains(&s)) {
            return 2;
        }
        if b.p.is_some_and(|w| (w.onset..=w.offset).contains(&s)) {
            return 3;
        }
    }
    0
}

fn explanation(beats: &[Beat], fs_hz: f64, duration_s: f64) -> Explanation {
    let steps = 256;
    let model_fs_hz = 400.0;
    let model_start_s = -(4096.0 / model_fs_hz - duration_s) / 2.0;
    let dt = 4096.0 / model_fs_hz / steps as f64;
    let times: Vec<f64> = (0..steps)
        .map(|i| model_start_s + (i as f64 + 0.5) * dt)
        .collect();
    let first = times.iter().position(|&t| t >= 0.0).unwrap_or(0);
    let end = times
        .iter()
        .rposition(|&t| t <= duration_s)
        .map(|i| i + 1)
        .unwrap_or(steps);
    let labels: Vec<usize> = times
        .iter()
        .map(|&t| cluster_at(beats, fs_hz, t.max(0.0)))
        .collect();
    let entropy: Vec<f32> = (0..steps)
        .map(|i| {
            if i > 0 && labels[i] != labels[i - 1] {
                0.7
            } else {
                0.2
            }
        })
        .collect();
    let k = 4;
    let mut proportions = vec![0.0f32; k];
    for &c in &labels[first..end] {
        proportions[c] += 1.0 / (end - first) as f32;
    }
    let mut segments = Vec::new();
    let mut a = first;
    for i in first + 1..=end {
        if i == end || labels[i] != labels[a] {
            let (start_s, end_s) = (
                (times[a] - dt / 2.0).max(0.0),
                (times[i - 1] + dt / 2.0).min(duration_s),
            );
            segments.push(Segment {
                cluster: labels[a],
                start_step: a,
                end_step: i,
                start_s,
                end_s,
                start_sample: (start_s * fs_hz) as usize,
                end_sample: (end_s * fs_hz) as usize,
                mean_entropy: 0.3,
            });
            a = i;
        }
    }
    let map: Vec<f32> = (0..4096)
        .map(|m| ((m as f32 / 60.0).sin() * 0.5 + 0.5).powi(3))
        .collect();
    Explanation {
        record_id: "bench".into(),
        model_name: "bench".into(),
        explainer_name: "bench".into(),
        prediction: Prediction {
            task: Task::Multilabel,
            output_names: vec![
                "NORM".into(),
                "MI".into(),
                "STTC".into(),
                "CD".into(),
                "HYP".into(),
            ],
            raw: vec![1.0, -1.0, -1.0, -1.0, -1.0],
            probabilities: vec![0.73, 0.27, 0.27, 0.27, 0.27],
            predicted_labels: vec!["NORM".into()],
        },
        k,
        soft: labels
            .iter()
            .map(|&c| {
                (0..k)
                    .map(|j| if j == c { 0.9 } else { 0.1 / 3.0 })
                    .collect()
            })
            .collect(),
        step_times_s: times,
        step_duration_s: dt,
        valid_steps: (first, end),
        labels,
        entropy,
        proportions,
        segments,
        gradcam: Some(GradCam {
            output_index: 0,
            output_name: "NORM".into(),
            block: 4,
            weights: vec![],
            lowres: vec![],
            map,
        }),
        model_fs_hz,
        model_start_s,
        entropy_gradcam_correlation: None,
        data_notes: Vec::new(),
    }
}

fn app(layout: ViewLayout) -> TlcApp {
    let params = SynthParams {
        n_records: 1,
        fs_hz: 500.0,
        duration_s: 10.0,
        ..SynthParams::default()
    };
    let rec = generate_record(&params, 0).expect("synthetic record");
    assert_eq!((rec.ecg.n_leads(), rec.ecg.n_samples()), (12, 5000));
    let ex = explanation(&rec.beats, rec.ecg.fs_hz, rec.ecg.duration_s());
    let delineation = Delineation {
        fs_hz: rec.ecg.fs_hz,
        n_samples: rec.ecg.n_samples(),
        per_lead: vec![Vec::new(); 12],
        beats: rec.beats.clone(),
        atrial_fibrillation_suspected: false,
        af_episodes: Vec::new(),
        pacing_spikes: Vec::new(),
    };
    let mut settings = Settings {
        layout,
        ..Settings::default()
    };
    settings.layers.gradcam_overlay = true;
    let mut app = TlcApp::without_data(None, settings).expect("worker");
    let record = AnalysedRecord {
        explanation: Some(Arc::new(ex)),
        ..AnalysedRecord::plain(Arc::new(rec.ecg), None)
    };
    app.show_record(record.with_delineation(delineation));
    app
}

fn bench(c: &mut Criterion) {
    for (name, layout) in [
        ("stacked", ViewLayout::Stacked),
        ("clinical", ViewLayout::Clinical),
        ("clinical_6x2", ViewLayout::Clinical6x2),
    ] {
        let mut h = Harness::builder()
            .with_size([1600.0, 1000.0])
            .with_accessibility_check(false)
            .build_ui_state(|ui, app: &mut TlcApp| app.ui_root(ui), app(layout));
        h.run_ok();
        // Move the pointer over the traces so the hover read-out and cursor line are drawn too.
        h.hover_at(egui::pos2(600.0, 300.0));
        h.run_ok();
        c.bench_function(&format!("app_frame/{name}/ui_pass"), |b| {
            b.iter(|| h.step())
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
