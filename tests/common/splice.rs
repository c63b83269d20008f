//! A synthetic sinus - AF-like - sinus record, spliced from one synthetic sinus record and an
//! AF-like stretch built from its beats (the generator makes sinus rhythm only): the ground truth
//! of where the atrial rhythm stops and starts again.

use ndarray::Array2;
use tlc_explorer::synth::{ClassProbabilities, SynthClass, SynthParams, generate_record};
use tlc_explorer::{Ecg, EcgMeta};

/// Rows `[from, to)` of every lead of `ecg`.
pub fn rows_of(ecg: &Ecg, from: usize, to: usize) -> Vec<Vec<f32>> {
    ecg.samples_mv
        .rows()
        .into_iter()
        .map(|r| {
            r.as_slice()
                .map(|s| s[from..to].to_vec())
                .unwrap_or_default()
        })
        .collect()
}

/// An AF-like stretch of `duration_s` built from one synthetic beat: its QRS-T complex (no P)
/// at irregular RR intervals (0.45-1.05 s, from `seed`), over fibrillatory waves (0.04 mV,
/// 5-7 Hz, each lead its own phase). Also the QRS (onset, offset) of each complex, in samples
/// of the stretch.
pub fn af_like_part(
    rec: &tlc_explorer::synth::SyntheticRecord,
    duration_s: f64,
    seed: u64,
) -> (Vec<Vec<f32>>, Vec<(usize, usize)>) {
    let fs = rec.ecg.fs_hz;
    let beat = &rec.beats[3];
    let t_offset = beat.t.map(|t| t.offset).unwrap_or(beat.qrs.offset);
    let from = beat.qrs.onset - (0.01 * fs) as usize;
    let to = t_offset + (0.04 * fs) as usize;
    let template = rows_of(&rec.ecg, from, to);
    let n = (duration_s * fs) as usize;
    let mut rows: Vec<Vec<f32>> = (0..template.len())
        .map(|li| {
            (0..n)
                .map(|i| {
                    let t = i as f64 / fs;
                    let phase = 2.0 * std::f64::consts::PI * (6.0 * t - (0.3 * t).cos() / 0.3);
                    (0.04 * (phase + li as f64).sin()) as f32
                })
                .collect()
        })
        .collect();
    let mut complexes = Vec::new();
    let mut state = seed;
    let mut start = (0.3 * fs) as usize;
    while start + template[0].len() < n {
        for (row, tpl) in rows.iter_mut().zip(&template) {
            // Each complex relative to its own first sample, so it sits on the f waves.
            let level = tpl[0];
            for (k, v) in tpl.iter().enumerate() {
                row[start + k] += v - level;
            }
        }
        complexes.push((
            start + beat.qrs.onset - from,
            start + beat.qrs.offset - from,
        ));
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let u = (state >> 11) as f64 / (1u64 << 53) as f64;
        start += ((0.45 + 0.6 * u) * fs) as usize;
    }
    (rows, complexes)
}

/// A sinus - AF-like - sinus record of 3 x 30 s at 500 Hz.
pub struct Spliced {
    pub ecg: Ecg,
    /// The sinus record alone (both sinus parts are copies of it).
    pub sinus: tlc_explorer::synth::SyntheticRecord,
    /// Samples of the AF-like part.
    pub af: std::ops::Range<usize>,
    /// QRS (onset, offset) of each AF-like complex, in samples of `ecg`.
    pub af_complexes: Vec<(usize, usize)>,
}

/// Synthetic NORM record `index` (30 s), an AF-like stretch of 30 s (`seed`), the same NORM
/// record again.
pub fn sinus_af_sinus(index: usize, seed: u64) -> Spliced {
    let params = SynthParams {
        n_records: index + 1,
        duration_s: 30.0,
        class_probabilities: ClassProbabilities::only(SynthClass::Norm),
        ..Default::default()
    };
    let rec = generate_record(&params, index).unwrap();
    let fs = rec.ecg.fs_hz;
    let n_sinus = rec.ecg.n_samples();
    let (af, complexes) = af_like_part(&rec, 30.0, seed);
    let n_af = af[0].len();
    let sinus = rows_of(&rec.ecg, 0, n_sinus);
    let rows: Vec<Vec<f32>> = (0..sinus.len())
        .map(|li| [&sinus[li][..], &af[li][..], &sinus[li][..]].concat())
        .collect();
    let ecg = Ecg::new(
        rec.ecg.leads.clone(),
        fs,
        Array2::from_shape_vec((rows.len(), rows[0].len()), rows.concat()).unwrap(),
        EcgMeta {
            id: format!("sinus-af-sinus-{index}-{seed}"),
            ..Default::default()
        },
    )
    .unwrap();
    Spliced {
        ecg,
        sinus: rec,
        af: n_sinus..n_sinus + n_af,
        af_complexes: complexes
            .into_iter()
            .map(|(on, off)| (on + n_sinus, off + n_sinus))
            .collect(),
    }
}
