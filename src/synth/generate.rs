//! Drawing one record's plan (classes, rhythm, heart vectors, intervals) and rendering it.

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::delineate::types::{Beat, Wave, WaveKind};
use crate::record::{LeadName, Sex};
use crate::synth::model::{
    INFERIOR, NORMAL_MAIN, NORMAL_P, NORMAL_SEPTAL, NORMAL_T, NORMAL_TERMINAL, QrsComponent,
    QrsPart, Vec3, add, anterior, dot, gaussian, lateral, lead_vector, normalize, rotate_frontal,
    rotate_horizontal, scale,
};
use crate::synth::params::{SynthClass, SynthParams};
use crate::synth::{BundleBranchBlock, MiTerritory, SynthDetails, SynthError};

/// splitmix64 finaliser: decorrelates nearby seeds and indices.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Independent random stream `stream` of record `index`: records do not depend on each other,
/// so any subset can be generated, in any order, in parallel, with identical results.
pub(crate) fn record_rng(seed: u64, index: usize, stream: u64) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(mix(mix(seed) ^ mix((index as u64) << 4 | stream)))
}

fn uniform(rng: &mut Xoshiro256PlusPlus, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.r#gen::<f64>()
}

/// The record's classes (stream 0, so the data set index can list labels without rendering).
pub(crate) fn draw_classes(params: &SynthParams, index: usize) -> Vec<SynthClass> {
    let mut rng = record_rng(params.seed, index, 0);
    let cp = params.class_probabilities;
    let mut classes = Vec::new();
    for (class, p) in [
        (SynthClass::Mi, cp.mi),
        (SynthClass::Sttc, cp.sttc),
        (SynthClass::Cd, cp.cd),
        (SynthClass::Hyp, cp.hyp),
    ] {
        if rng.r#gen::<f64>() < p {
            classes.push(class);
        }
    }
    if classes.is_empty() {
        classes.push(SynthClass::Norm);
    }
    classes
}

/// Age (years) and sex, from stream 2 (cheap, for the data set index).
pub(crate) fn draw_demographics(params: &SynthParams, index: usize) -> (f32, Sex) {
    let mut rng = record_rng(params.seed, index, 2);
    let age = uniform(&mut rng, 20.0, 90.0).round() as f32;
    let sex = if rng.r#gen::<bool>() {
        Sex::Male
    } else {
        Sex::Female
    };
    (age, sex)
}

/// Everything fixed for one record before its beats are laid out.
struct Plan {
    k_sigma: f64,
    mean_rr_s: f64,
    resp_hz: f64,
    resp_phase: f64,
    lf_phase: f64,
    p_dipole: Vec3,
    p_duration_s: f64,
    pr_interval_s: f64,
    qrs: Vec<QrsComponent>,
    qrs_duration_s: f64,
    st_dipole: Vec3,
    t_dipole: Vec3,
    /// J point to T offset at RR = 1 s (scaled by sqrt(RR), Bazett-like).
    jt_s: f64,
    /// T-wave duration at RR = 1 s (scaled by sqrt(RR)).
    t_duration_s: f64,
    details: SynthDetails,
}

/// An R wave in lead II counts as the QRS peak when at least this fraction of the QRS's largest
/// absolute deflection there.
const R_PEAK_MIN_FRACTION: f64 = 0.3;

/// Minimum gap between one beat's T offset and the next P onset.
const MIN_TP_GAP_S: f64 = 0.04;

fn draw_plan(params: &SynthParams, index: usize, classes: &[SynthClass]) -> Plan {
    let mut rng = record_rng(params.seed, index, 1);
    let has = |c: SynthClass| classes.contains(&c);
    let k = (2.0 * (1.0 / params.landmark_fraction).ln()).sqrt();

    let hr = uniform(&mut rng, params.heart_rate_bpm.0, params.heart_rate_bpm.1);
    let mean_rr_s = 60.0 / hr;
    let resp_hz = uniform(&mut rng, 0.15, 0.35);
    let resp_phase = uniform(&mut rng, 0.0, std::f64::consts::TAU);
    let lf_phase = uniform(&mut rng, 0.0, std::f64::consts::TAU);

    let j = params.axis_jitter_deg;
    let frontal = uniform(&mut rng, -j, j);
    let horizontal = uniform(&mut rng, -j / 2.0, j / 2.0);
    let rot = |v: Vec3| rotate_horizontal(rotate_frontal(v, frontal), horizontal);
    let a = params.amplitude_jitter;
    let qrs_scale = uniform(&mut rng, 1.0 - a, 1.0 + a);
    let t_scale = uniform(&mut rng, 1.0 - a, 1.0 + a);
    let p_scale = uniform(&mut rng, 1.0 - a, 1.0 + a);

    let p_dipole = scale(rot(NORMAL_P), p_scale);
    let p_duration_s = uniform(&mut rng, 0.08, 0.11);
    let first_degree_av_block =
        has(SynthClass::Cd) && rng.r#gen::<f64>() < params.cd_long_pr_probability;
    let pr_interval_s = if first_degree_av_block {
        uniform(&mut rng, 0.22, 0.30)
    } else {
        uniform(&mut rng, 0.13, 0.19).max(p_duration_s + 0.03)
    };

    let bbb = has(SynthClass::Cd).then(|| {
        if rng.r#gen::<f64>() < params.cd_rbbb_probability {
            BundleBranchBlock::Right
        } else {
            BundleBranchBlock::Left
        }
    });
    let d = match bbb {
        None => uniform(&mut rng, 0.08, 0.10),
        Some(BundleBranchBlock::Right) => uniform(&mut rng, 0.13, 0.16),
        Some(BundleBranchBlock::Left) => uniform(&mut rng, 0.14, 0.17),
    };
    // Normal layout: three equal Gaussians, onset of the first at 0 and offset of the last at d.
    let sigma_n = d / (2.0 * k + 5.1);
    let comp = |part, centre_s, sigma_s, dipole: Vec3| QrsComponent {
        part,
        centre_s,
        sigma_s,
        dipole_mv: scale(rot(dipole), qrs_scale),
    };
    let mut qrs = match bbb {
        None => vec![
            comp(QrsPart::Initial, k * sigma_n, sigma_n, NORMAL_SEPTAL),
            comp(QrsPart::Main, d / 2.0, sigma_n, NORMAL_MAIN),
            comp(QrsPart::Terminal, d - k * sigma_n, sigma_n, NORMAL_TERMINAL),
        ],
        Some(BundleBranchBlock::Right) => {
            // Septum and left ventricle as usual, then slow right-ventricular forces pointing
            // right and anterior: rSR' in V1, broad S in I and V6.
            let s_i = 0.08 * d;
            let s_t = 0.12 * d;
            let terminal = scale([-0.45, 0.05, 0.55], uniform(&mut rng, 0.8, 1.2));
            vec![
                comp(QrsPart::Initial, k * s_i, s_i, NORMAL_SEPTAL),
                comp(QrsPart::Main, 0.38 * d, 0.1 * d, NORMAL_MAIN),
                comp(QrsPart::Terminal, d - k * s_t, s_t, terminal),
            ]
        }
        Some(BundleBranchBlock::Left) => {
            // Septum activated from the right: no septal q in I/V6; then two slow leftward,
            // posterior humps: broad notched R in I, V5, V6 and a deep QS in V1.
            let s_i = 0.08 * d;
            let s_m = 0.13 * d;
            let s_t = 0.12 * d;
            vec![
                comp(QrsPart::Initial, k * s_i, s_i, [0.15, 0.05, -0.15]),
                comp(QrsPart::Main, 0.38 * d, s_m, [0.8, 0.45, -0.45]),
                comp(QrsPart::Terminal, d - k * s_t, s_t, [0.7, 0.3, -0.55]),
            ]
        }
    };

    let mut st_dipole: Vec3 = [0.0; 3];
    let mut t_dipole = scale(rot(NORMAL_T), t_scale);
    if bbb.is_some() {
        // Secondary repolarisation change: T opposite to the late QRS forces.
        let late = normalize(add(qrs[1].dipole_mv, qrs[2].dipole_mv));
        t_dipole = scale(late, -0.6 * dot(t_dipole, t_dipole).sqrt());
    }

    let mi_territory = has(SynthClass::Mi).then(|| {
        if rng.r#gen::<f64>() < params.mi_inferior_probability {
            MiTerritory::Inferior
        } else {
            MiTerritory::Anterior
        }
    });
    if let Some(territory) = mi_territory {
        let u = match territory {
            MiTerritory::Inferior => INFERIOR,
            MiTerritory::Anterior => anterior(),
        };
        // Dead myocardium: initial forces point away from the territory (pathological Q),
        // wider; the main forces towards it shrink.
        let q_depth = uniform(&mut rng, 0.35, 0.6);
        let initial = &mut qrs[0];
        initial.dipole_mv = add(initial.dipole_mv, scale(u, -q_depth));
        initial.sigma_s *= 1.4;
        initial.centre_s = k * initial.sigma_s;
        let main = &mut qrs[1];
        let towards = dot(main.dipole_mv, u).max(0.0);
        main.dipole_mv = add(
            main.dipole_mv,
            scale(u, -towards * uniform(&mut rng, 0.5, 0.8)),
        );
        // Injury current towards the territory (ST elevation there, reciprocal depression),
        // T flattened or inverted there.
        st_dipole = add(st_dipole, scale(u, uniform(&mut rng, 0.1, 0.25)));
        let t_along = dot(t_dipole, u);
        t_dipole = add(t_dipole, scale(u, -t_along * uniform(&mut rng, 0.5, 1.5)));
    }
    if has(SynthClass::Sttc) {
        // Lateral (sometimes also inferior) subendocardial ischaemia: ST depression, T inverted.
        let u = normalize(add(lateral(), scale(INFERIOR, uniform(&mut rng, 0.0, 0.6))));
        st_dipole = add(st_dipole, scale(u, -uniform(&mut rng, 0.07, 0.16)));
        let t_along = dot(t_dipole, u);
        t_dipole = add(
            t_dipole,
            scale(u, -(t_along + uniform(&mut rng, 0.05, 0.2))),
        );
    }
    if has(SynthClass::Hyp) {
        // Left-ventricular strain: ST depression and T inversion in V5-V6.
        let u = lateral();
        st_dipole = add(st_dipole, scale(u, -uniform(&mut rng, 0.04, 0.1)));
        let t_along = dot(t_dipole, u);
        t_dipole = add(
            t_dipole,
            scale(u, -(t_along + uniform(&mut rng, 0.03, 0.15))),
        );
    }

    // Voltage: HYP records get a Sokolow-Lyon voltage above the 3.5 mV criterion, the others are
    // kept below it.
    let sl = sokolow_lyon_mv(&qrs, d);
    let target = if has(SynthClass::Hyp) {
        Some(uniform(
            &mut rng,
            params.hyp_sokolow_lyon_mv.0,
            params.hyp_sokolow_lyon_mv.1,
        ))
    } else if sl > params.max_normal_sokolow_lyon_mv {
        Some(params.max_normal_sokolow_lyon_mv * uniform(&mut rng, 0.85, 1.0))
    } else {
        None
    };
    if let Some(target) = target
        && sl > 1e-6
    {
        for c in qrs.iter_mut() {
            c.dipole_mv = scale(c.dipole_mv, target / sl);
        }
    }
    let sokolow = sokolow_lyon_mv(&qrs, d);

    let jt_s = uniform(&mut rng, 0.30, 0.34);
    let t_duration_s = uniform(&mut rng, 0.16, 0.20);

    let details = SynthDetails {
        classes: classes.to_vec(),
        heart_rate_bpm: hr,
        pr_interval_s,
        qrs_duration_s: d,
        first_degree_av_block,
        bundle_branch_block: bbb,
        mi_territory,
        sokolow_lyon_mv: sokolow,
    };
    Plan {
        k_sigma: k,
        mean_rr_s,
        resp_hz,
        resp_phase,
        lf_phase,
        p_dipole,
        p_duration_s,
        pr_interval_s,
        qrs,
        qrs_duration_s: d,
        st_dipole,
        t_dipole,
        jt_s,
        t_duration_s,
        details,
    }
}

/// Sokolow-Lyon voltage of a QRS: depth of the S in V1 plus the taller R of V5 and V6, from the
/// noise-free sum of the components on a 0.5 ms grid.
pub(crate) fn sokolow_lyon_mv(qrs: &[QrsComponent], duration_s: f64) -> f64 {
    let lead = |l: LeadName| lead_vector(&l).unwrap_or([0.0; 3]);
    let (v1, v5, v6) = (lead(LeadName::V1), lead(LeadName::V5), lead(LeadName::V6));
    let (mut s_v1, mut r_v5, mut r_v6) = (0.0f64, 0.0f64, 0.0f64);
    let steps = (duration_s / 0.0005).ceil() as usize + 1;
    for i in 0..=steps {
        let t = i as f64 * 0.0005;
        let (mut a1, mut a5, mut a6) = (0.0, 0.0, 0.0);
        for c in qrs {
            let g = gaussian(t, c.centre_s, c.sigma_s);
            a1 += g * dot(c.dipole_mv, v1);
            a5 += g * dot(c.dipole_mv, v5);
            a6 += g * dot(c.dipole_mv, v6);
        }
        s_v1 = s_v1.max(-a1);
        r_v5 = r_v5.max(a5);
        r_v6 = r_v6.max(a6);
    }
    s_v1 + r_v5.max(r_v6)
}

/// One rendered record: leads x samples (mV), the ground-truth beats and the plan's summary.
pub(crate) struct Rendered {
    pub samples_mv: Array2<f32>,
    pub beats: Vec<Beat>,
    pub details: SynthDetails,
}

pub(crate) fn render(
    params: &SynthParams,
    index: usize,
    classes: &[SynthClass],
) -> Result<Rendered, SynthError> {
    let plan = draw_plan(params, index, classes);
    let mut rng = record_rng(params.seed, index, 3);
    let fs = params.fs_hz;
    let n = (params.duration_s * fs).round() as usize;
    let leads = LeadName::standard_12();
    let lead_vecs: Vec<Vec3> = leads
        .iter()
        .map(|l| lead_vector(l).unwrap_or([0.0; 3]))
        .collect();
    let mut data = Array2::<f32>::zeros((leads.len(), n));
    let k = plan.k_sigma;
    let ii = 1usize; // row of lead II in the standard order
    let tau = std::f64::consts::TAU;

    // Add one Gaussian wave to every lead, with per-lead height dot(dipole, lead axis). The two
    // sides may have different widths (split Gaussian, for the asymmetric T).
    let add_split_wave = |data: &mut Array2<f32>,
                          centre_s: f64,
                          sigma_left_s: f64,
                          sigma_right_s: f64,
                          dipole: Vec3| {
        let lo = ((centre_s - 6.0 * sigma_left_s) * fs).floor().max(0.0) as usize;
        let hi = (((centre_s + 6.0 * sigma_right_s) * fs).ceil().max(0.0) as usize).min(n);
        if lo >= hi {
            return;
        }
        let heights: Vec<f64> = lead_vecs.iter().map(|v| dot(dipole, *v)).collect();
        for i in lo..hi {
            let t = i as f64 / fs;
            let sigma = if t < centre_s {
                sigma_left_s
            } else {
                sigma_right_s
            };
            let g = gaussian(t, centre_s, sigma);
            for (row, h) in heights.iter().enumerate() {
                data[[row, i]] += (g * h) as f32;
            }
        }
    };
    let add_wave = |data: &mut Array2<f32>, centre_s: f64, sigma_s: f64, dipole: Vec3| {
        add_split_wave(data, centre_s, sigma_s, sigma_s, dipole)
    };

    // Beat onsets (QRS onset times), from before the record to after it so the edges are
    // continuous; RR modulated by Mayer waves (0.1 Hz) and respiration, plus jitter.
    let jitter = Normal::new(0.0, params.rr_jitter_s.max(1e-12))
        .map_err(|e| SynthError::BadParams(format!("rr_jitter_s: {e}")))?;
    let fixed_before_next = plan.qrs_duration_s + MIN_TP_GAP_S + plan.pr_interval_s;
    // Smallest RR with no overlap: RR >= fixed + jt * sqrt(RR), solved for sqrt(RR).
    let min_rr_s = {
        let s = (plan.jt_s + (plan.jt_s * plan.jt_s + 4.0 * fixed_before_next).sqrt()) / 2.0;
        (s * s).max(0.3)
    };
    let mut onsets_s = Vec::new();
    let mut rrs_s = Vec::new();
    let mut t = -1.5 - uniform(&mut rng, 0.0, plan.mean_rr_s);
    while t < params.duration_s + 1.5 {
        let modulation = params.hrv_fraction
            * ((tau * 0.1 * t + plan.lf_phase).sin()
                + (tau * plan.resp_hz * t + plan.resp_phase).sin());
        let rr = (plan.mean_rr_s * (1.0 + modulation) + jitter.sample(&mut rng))
            .clamp(min_rr_s, 2.5_f64.max(min_rr_s));
        onsets_s.push(t);
        rrs_s.push(rr);
        t += rr;
    }

    let sample = |t_s: f64| (t_s * fs).round();
    let mut beats = Vec::new();
    for (&q0, &rr) in onsets_s.iter().zip(&rrs_s) {
        let resp =
            1.0 + params.respiration_modulation * (tau * plan.resp_hz * q0 + plan.resp_phase).sin();
        // P
        let p_sigma = plan.p_duration_s / (2.0 * k);
        let p_centre = q0 - plan.pr_interval_s + plan.p_duration_s / 2.0;
        add_wave(&mut data, p_centre, p_sigma, plan.p_dipole);
        // QRS
        let mut qrs_on = f64::INFINITY;
        let mut qrs_off = f64::NEG_INFINITY;
        for c in &plan.qrs {
            let centre = q0 + c.centre_s;
            add_wave(&mut data, centre, c.sigma_s, scale(c.dipole_mv, resp));
            qrs_on = qrs_on.min(centre - k * c.sigma_s);
            qrs_off = qrs_off.max(centre + k * c.sigma_s);
        }
        // ST and T: J to T offset and T duration scale with sqrt(RR).
        let sqrt_rr = rr.sqrt();
        let jt = plan.jt_s * sqrt_rr;
        let t_dur = plan.t_duration_s * sqrt_rr;
        let j_point = q0 + plan.qrs_duration_s;
        let t_on = j_point + jt - t_dur;
        // Split Gaussian: slower upstroke, steeper downstroke, same onset-offset duration.
        let t_sigma = t_dur / (2.0 * k);
        let t_sigma_left = t_sigma * (1.0 + params.t_wave_asymmetry);
        let t_sigma_right = t_sigma * (1.0 - params.t_wave_asymmetry);
        let t_centre = t_on + k * t_sigma_left;
        if dot(plan.st_dipole, plan.st_dipole) > 0.0 {
            let st_len = t_on - j_point;
            add_wave(
                &mut data,
                j_point + st_len / 2.0,
                (st_len / 2.0).max(0.01),
                plan.st_dipole,
            );
        }
        add_split_wave(
            &mut data,
            t_centre,
            t_sigma_left,
            t_sigma_right,
            plan.t_dipole,
        );

        let p_on = sample(p_centre - k * p_sigma);
        let t_off = sample(t_centre + k * t_sigma_right);
        if p_on < 0.0 || t_off > (n as f64) - 1.0 {
            continue; // only complete beats carry ground truth
        }
        let wave = |kind, on: f64, peak: f64, off: f64| Wave {
            kind,
            onset: on as usize,
            peak: peak as usize,
            offset: off as usize,
        };
        let (on, off) = (sample(qrs_on) as usize, sample(qrs_off) as usize);
        beats.push(Beat {
            p: Some(wave(
                WaveKind::P,
                p_on,
                sample(p_centre),
                sample(p_centre + k * p_sigma),
            )),
            qrs: wave(WaveKind::Qrs, on as f64, on as f64, off as f64),
            t: Some(wave(WaveKind::T, sample(t_on), sample(t_centre), t_off)),
        });
    }
    // QRS peak in the noise-free lead II (everything but wander, mains and noise is already in
    // `data`), relative to its level at QRS onset: the R peak (largest positive deflection) when
    // there is a real R wave, at least R_PEAK_MIN_FRACTION of the largest absolute deflection;
    // otherwise (QS complex) the deepest point.
    let lead_ii = data.row(ii);
    for beat in beats.iter_mut() {
        let base = lead_ii[beat.qrs.onset] as f64;
        let mut best_pos = (beat.qrs.onset, f64::NEG_INFINITY);
        let mut best_abs = (beat.qrs.onset, -1.0f64);
        for i in beat.qrs.onset..=beat.qrs.offset {
            let v = lead_ii[i] as f64 - base;
            if v > best_pos.1 {
                best_pos = (i, v);
            }
            if v.abs() > best_abs.1 {
                best_abs = (i, v.abs());
            }
        }
        beat.qrs.peak = if best_pos.1 >= R_PEAK_MIN_FRACTION * best_abs.1 {
            best_pos.0
        } else {
            best_abs.0
        };
    }

    // Baseline wander (respiration and a slower drift), mains, white noise: per lead.
    let noise = Normal::new(0.0, params.noise_mv.max(1e-12))
        .map_err(|e| SynthError::BadParams(format!("noise_mv: {e}")))?;
    let drift_hz = uniform(&mut rng, 0.03, 0.08);
    for mut row in data.rows_mut() {
        let bw = params.baseline_wander_mv;
        let a_resp = bw * uniform(&mut rng, 0.3, 1.0) * 0.5;
        let a_drift = bw * uniform(&mut rng, 0.3, 1.0) * 0.5;
        let ph_resp = uniform(&mut rng, 0.0, tau);
        let ph_drift = uniform(&mut rng, 0.0, tau);
        let ph_mains = uniform(&mut rng, 0.0, tau);
        for (i, v) in row.iter_mut().enumerate() {
            let t = i as f64 / fs;
            let mut extra = a_resp * (tau * plan.resp_hz * t + ph_resp).sin()
                + a_drift * (tau * drift_hz * t + ph_drift).sin();
            if let Some(p) = params.powerline {
                extra += p.amplitude_mv * (tau * p.freq_hz * t + ph_mains).sin();
            }
            if params.noise_mv > 0.0 {
                extra += noise.sample(&mut rng);
            }
            *v += extra as f32;
        }
    }
    Ok(Rendered {
        samples_mv: data,
        beats,
        details: plan.details,
    })
}
