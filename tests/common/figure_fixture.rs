//! A synthetic 12-lead record with a hand-made explanation and landmarks, shared by
//! `tests/figure.rs` and `benches/figure.rs` (included with `#[path]`).
#![allow(dead_code)]

use ndarray::Array2;
use tlc_explorer::delineate::{Beat, Delineation, Wave, WaveKind};
use tlc_explorer::model::config::Task;
use tlc_explorer::tlc::{Explanation, GradCam, Prediction, Segment};
use tlc_explorer::{Ecg, EcgMeta, LeadName};

pub const FS_HZ: f64 = 500.0;
pub const RR_S: f64 = 0.8;
pub const FIRST_BEAT_S: f64 = 0.4;

pub fn gauss(t: f64, centre: f64, width: f64, amp: f64) -> f64 {
    amp * (-((t - centre) / width).powi(2) / 2.0).exp()
}

/// A 12-lead, 10 s record of regular beats (P, QRS, T as Gaussians), deterministic.
pub fn beats_ecg(id: &str) -> Ecg {
    let n = (10.0 * FS_HZ) as usize;
    let leads = LeadName::standard_12();
    let gains = [1.0, 1.2, 0.4, -0.8, 0.5, 0.8, -0.6, 0.3, 0.8, 1.3, 1.2, 1.0];
    let data = Array2::from_shape_fn((leads.len(), n), |(l, i)| {
        let t = i as f64 / FS_HZ;
        let phase = (t - FIRST_BEAT_S + RR_S / 2.0).rem_euclid(RR_S) - RR_S / 2.0;
        let v = gauss(phase, -0.16, 0.02, 0.15)
            + gauss(phase, -0.01, 0.006, -0.1)
            + gauss(phase, 0.0, 0.01, 1.1)
            + gauss(phase, 0.015, 0.006, -0.25)
            + gauss(phase, 0.25, 0.04, 0.3);
        (v * gains[l]) as f32
    });
    let meta = EcgMeta {
        id: id.into(),
        labels: vec!["NORM".into()],
        age_years: Some(54.0),
        ..Default::default()
    };
    Ecg::new(leads, FS_HZ, data, meta).unwrap()
}

pub fn beat_centres() -> Vec<f64> {
    (0..)
        .map(|k| FIRST_BEAT_S + k as f64 * RR_S)
        .take_while(|t| *t < 9.9)
        .collect()
}

pub fn delineation() -> Delineation {
    let s = |t: f64| (t * FS_HZ).round() as usize;
    let beats: Vec<Beat> = beat_centres()
        .into_iter()
        .map(|c| Beat {
            p: (c - 0.22 > 0.0).then(|| Wave {
                kind: WaveKind::P,
                onset: s(c - 0.22),
                peak: s(c - 0.16),
                offset: s(c - 0.1),
            }),
            qrs: Wave {
                kind: WaveKind::Qrs,
                onset: s(c - 0.04),
                peak: s(c),
                offset: s(c + 0.05),
            },
            t: (c + 0.38 < 10.0).then(|| Wave {
                kind: WaveKind::T,
                onset: s(c + 0.14),
                peak: s(c + 0.25),
                offset: s(c + 0.36),
            }),
        })
        .collect();
    Delineation {
        fs_hz: FS_HZ,
        n_samples: (10.0 * FS_HZ) as usize,
        per_lead: vec![beats.clone(); 12],
        beats,
        atrial_fibrillation_suspected: false,
        af_episodes: Vec::new(),
        pacing_spikes: Vec::new(),
    }
}

/// An explanation as the pipeline would give for `beats_ecg`: 4096 model samples at 400 Hz
/// (centred, 0.12 s padding each side), 256 time steps, clusters by phase of the beat.
pub fn explanation(id: &str) -> Explanation {
    let model_fs_hz = 400.0;
    let model_start_s = -0.12;
    let n_steps = 256;
    let step_duration_s = 4096.0 / model_fs_hz / n_steps as f64;
    let step_times_s: Vec<f64> = (0..n_steps)
        .map(|i| model_start_s + (i as f64 + 0.5) * step_duration_s)
        .collect();
    let valid: Vec<usize> = (0..n_steps)
        .filter(|&i| step_times_s[i] >= 0.0 && step_times_s[i] < 10.0)
        .collect();
    let valid_steps = (valid[0], valid[valid.len() - 1] + 1);
    let phase = |t: f64| (t - FIRST_BEAT_S + RR_S / 2.0).rem_euclid(RR_S) - RR_S / 2.0;
    let labels: Vec<usize> = step_times_s
        .iter()
        .map(|&t| {
            let p = phase(t);
            if p.abs() < 0.05 {
                0
            } else if (0.12..0.38).contains(&p) {
                1
            } else if (-0.22..-0.1).contains(&p) {
                2
            } else {
                3
            }
        })
        .collect();
    let entropy: Vec<f32> = step_times_s
        .iter()
        .map(|&t| (0.15 + 0.7 * (-(phase(t).abs() - 0.06).powi(2) / 0.002).exp()) as f32)
        .collect();
    let k = 4;
    let soft: Vec<Vec<f32>> = labels
        .iter()
        .map(|&l| (0..k).map(|c| if c == l { 0.85 } else { 0.05 }).collect())
        .collect();
    let mut segments = Vec::new();
    let mut start = valid_steps.0;
    for i in valid_steps.0 + 1..=valid_steps.1 {
        if i == valid_steps.1 || labels[i] != labels[start] {
            let start_s = (step_times_s[start] - step_duration_s / 2.0).max(0.0);
            let end_s = (step_times_s[i - 1] + step_duration_s / 2.0).min(10.0);
            segments.push(Segment {
                cluster: labels[start],
                start_step: start,
                end_step: i,
                start_s,
                end_s,
                start_sample: (start_s * FS_HZ).round() as usize,
                end_sample: (end_s * FS_HZ).round() as usize,
                mean_entropy: entropy[start..i].iter().sum::<f32>() / (i - start) as f32,
            });
            start = i;
        }
    }
    let mut proportions = vec![0.0f32; k];
    for i in valid_steps.0..valid_steps.1 {
        proportions[labels[i]] += 1.0 / (valid_steps.1 - valid_steps.0) as f32;
    }
    let map: Vec<f32> = (0..4096)
        .map(|i| {
            let t = model_start_s + i as f64 / model_fs_hz;
            if !(0.0..10.0).contains(&t) {
                return 0.0;
            }
            gauss(phase(t), 0.0, 0.04, 1.0) as f32
        })
        .collect();
    Explanation {
        record_id: id.into(),
        model_name: "test_resnet".into(),
        explainer_name: "test_explainer".into(),
        prediction: Prediction {
            task: Task::Multilabel,
            output_names: vec![
                "NORM".into(),
                "MI".into(),
                "STTC".into(),
                "CD".into(),
                "HYP".into(),
            ],
            raw: vec![2.0, -2.0, -1.5, -3.0, -2.5],
            probabilities: vec![0.88, 0.12, 0.18, 0.05, 0.08],
            predicted_labels: vec!["NORM".into()],
        },
        k,
        step_times_s,
        step_duration_s,
        valid_steps,
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
        entropy_gradcam_correlation: Some(0.31),
        data_notes: Vec::new(),
    }
}

pub fn names() -> Vec<String> {
    vec![
        "C0 mostly QRS".into(),
        "C1 mostly T".into(),
        "C2 mostly P".into(),
        "C3 baseline".into(),
    ]
}
