//! Preprocessing (resampling, prepare) and the synthetic ECG generator.

mod common;

use std::f64::consts::TAU;

use ndarray::Array2;
use tlc_explorer::delineate::types::Beat;
use tlc_explorer::dsp::{self, DspError, InputSpec, PreprocessSettings};
use tlc_explorer::record::{Ecg, EcgMeta, LeadName, RecordError};
use tlc_explorer::synth::{
    ClassProbabilities, MiTerritory, SynthClass, SynthParams, SyntheticRecord, generate_record,
};

fn sine(freq_hz: f64, fs_hz: f64, n: usize, phase: f64) -> Vec<f32> {
    (0..n)
        .map(|i| (TAU * freq_hz * i as f64 / fs_hz + phase).sin() as f32)
        .collect()
}

// ---------------------------------------------------------------- resampler

#[test]
fn resampler_preserves_in_band_sines_in_amplitude_and_phase() {
    for (from, to, freq) in [
        (500.0, 400.0, 40.0),
        (100.0, 400.0, 10.0),
        (360.0, 400.0, 25.0),
    ] {
        let n = (from * 10.0) as usize;
        let x = sine(freq, from, n, 0.3);
        let y = dsp::resample(&x, from, to).unwrap();
        assert_eq!(y.len(), (n as f64 * to / from).round() as usize);
        // Output sample k is the signal at k / to (no delay): compare with the analytic sine away
        // from the ends.
        let want = sine(freq, to, y.len(), 0.3);
        let edge = (to * 0.2) as usize;
        let max_err = y[edge..y.len() - edge]
            .iter()
            .zip(&want[edge..want.len() - edge])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            max_err < 2e-3,
            "{from}->{to} Hz, {freq} Hz sine: max error {max_err}"
        );
    }
}

#[test]
fn resampler_attenuates_what_would_alias() {
    // 230 Hz at 500 Hz would fold to 170 Hz at 400 Hz: it must be removed (> 40 dB).
    let x = sine(230.0, 500.0, 5000, 0.0);
    let y = dsp::resample(&x, 500.0, 400.0).unwrap();
    let rms = (y[200..3800]
        .iter()
        .map(|v| (*v as f64).powi(2))
        .sum::<f64>()
        / 3600.0)
        .sqrt();
    assert!(
        rms < 0.01 * std::f64::consts::FRAC_1_SQRT_2,
        "alias rms {rms}"
    );
}

#[test]
fn resampler_output_length_is_rounded_ratio() {
    for (n, from, to) in [
        (1001usize, 360.0, 400.0),
        (999, 500.0, 400.0),
        (7, 100.0, 400.0),
    ] {
        let y = dsp::resample(&vec![0.0; n], from, to).unwrap();
        assert_eq!(
            y.len(),
            (n as f64 * to / from).round() as usize,
            "{n} {from}->{to}"
        );
    }
}

// ---------------------------------------------------------------- prepare

fn sine_record(fs_hz: f64, duration_s: f64, freq_hz: f64) -> Ecg {
    let n = (fs_hz * duration_s).round() as usize;
    let leads = LeadName::standard_12();
    let data = Array2::from_shape_fn((12, n), |(l, i)| {
        ((l + 1) as f64 * 0.1 * (TAU * freq_hz * i as f64 / fs_hz).sin()) as f32
    });
    Ecg::new(
        leads,
        fs_hz,
        data,
        EcgMeta {
            id: "sine".into(),
            ..Default::default()
        },
    )
    .unwrap()
}

fn ribeiro_spec() -> InputSpec {
    InputSpec {
        leads: LeadName::standard_12(),
        fs_hz: 400.0,
        length: 4096,
    }
}

/// Every valid model sample holds the record's sine at the time the map gives.
fn assert_time_map(p: &dsp::PreparedInput, freq_hz: f64, edge: usize) {
    for j in p.valid.start + edge..p.valid.end - edge {
        let t = p.seconds_from_model_sample(j as f64);
        for lead in [0usize, 11] {
            let want = (lead + 1) as f64 * 0.1 * (TAU * freq_hz * t).sin();
            let got = p.data[[lead, j]] as f64;
            assert!(
                (got - want).abs() < 1e-3,
                "sample {j} lead {lead}: {got} vs {want}"
            );
        }
    }
}

#[test]
fn prepare_pads_ten_seconds_centred_at_500_and_100_hz() {
    for fs in [500.0, 100.0] {
        let ecg = sine_record(fs, 10.0, 3.0);
        let p = dsp::prepare(&ecg, &ribeiro_spec(), &PreprocessSettings::default()).unwrap();
        assert_eq!(p.data.dim(), (12, 4096));
        assert_eq!(p.valid, 48..4048, "{fs} Hz");
        assert_eq!(p.start_s, -48.0 / 400.0);
        assert_eq!(p.fs_hz, 400.0);
        assert!(
            p.data
                .slice(ndarray::s![.., ..48])
                .iter()
                .all(|v| *v == 0.0)
        );
        assert!(
            p.data
                .slice(ndarray::s![.., 4048..])
                .iter()
                .all(|v| *v == 0.0)
        );
        assert_eq!(p.model_sample_from_seconds(0.0), 48.0);
        assert_time_map(&p, 3.0, 80);
    }
}

#[test]
fn prepare_crops_a_long_record_centred_or_from_a_start() {
    let ecg = sine_record(500.0, 20.0, 2.0);
    let p = dsp::prepare(&ecg, &ribeiro_spec(), &PreprocessSettings::default()).unwrap();
    // 8000 resampled samples, 4096 kept from (8000 - 4096) / 2 = 1952.
    assert_eq!(p.valid, 0..4096);
    assert_eq!(p.start_s, 1952.0 / 400.0);
    assert_time_map(&p, 2.0, 0);
    let settings = PreprocessSettings {
        window_start_s: Some(2.0),
        ..Default::default()
    };
    let p = dsp::prepare(&ecg, &ribeiro_spec(), &settings).unwrap();
    assert_eq!(p.start_s, 2.0);
    assert_time_map(&p, 2.0, 0);
}

#[test]
fn prepare_filters_keep_the_time_map() {
    // A 10 Hz sine survives baseline removal + 0.5-40 Hz band-pass in place (zero phase).
    let ecg = sine_record(500.0, 10.0, 10.0);
    let settings = PreprocessSettings {
        remove_baseline: false,
        bandpass_hz: Some((0.5, 40.0)),
        window_start_s: None,
    };
    let p = dsp::prepare(&ecg, &ribeiro_spec(), &settings).unwrap();
    for j in 400..3700 {
        let t = p.seconds_from_model_sample(j as f64);
        let want = 0.1 * (TAU * 10.0 * t).sin();
        assert!((p.data[[0, j]] as f64 - want).abs() < 0.002, "sample {j}");
    }
}

#[test]
fn prepare_names_a_missing_lead_and_refuses_short_or_nan_records() {
    let data = Array2::<f32>::zeros((2, 5000));
    let meta = EcgMeta {
        id: "two".into(),
        ..Default::default()
    };
    let ecg = Ecg::new(vec![LeadName::I, LeadName::II], 500.0, data, meta).unwrap();
    let err = dsp::prepare(&ecg, &ribeiro_spec(), &PreprocessSettings::default()).unwrap_err();
    assert!(
        matches!(&err, DspError::Record(RecordError::MissingLead { lead, .. }) if lead == "III"),
        "{err}"
    );
    assert!(err.to_string().contains("two"), "{err}");

    let short = sine_record(500.0, 0.5, 3.0);
    let err = dsp::prepare(&short, &ribeiro_spec(), &PreprocessSettings::default()).unwrap_err();
    assert!(matches!(err, DspError::RecordTooShort { .. }), "{err}");

    let mut nan = sine_record(500.0, 10.0, 3.0);
    nan.samples_mv[[4, 77]] = f32::NAN; // fields are public: prepare must not trust Ecg::new
    let err = dsp::prepare(&nan, &ribeiro_spec(), &PreprocessSettings::default()).unwrap_err();
    assert!(
        matches!(&err, DspError::NonFiniteInRecord { sample: 77, lead, .. } if lead == "aVL"),
        "{err}"
    );
}

// ---------------------------------------------------------------- generator

fn clean(class: SynthClass, n_records: usize, seed: u64) -> SynthParams {
    SynthParams {
        n_records,
        seed,
        noise_mv: 0.0,
        baseline_wander_mv: 0.0,
        class_probabilities: ClassProbabilities::only(class),
        ..Default::default()
    }
}

fn lead_row(rec: &SyntheticRecord, lead: LeadName) -> Vec<f32> {
    rec.ecg.lead(&lead).unwrap().to_vec()
}

/// Mean of the 20 ms before QRS onset (the PR segment: isoelectric).
fn pr_baseline(x: &[f32], beat: &Beat, fs: f64) -> f64 {
    let w = (0.02 * fs) as usize;
    let on = beat.qrs.onset;
    x[on - w..on].iter().map(|v| *v as f64).sum::<f64>() / w as f64
}

/// Mean over complete beats of a per-beat measurement.
fn mean_over_beats(rec: &SyntheticRecord, f: impl Fn(&Beat) -> f64) -> f64 {
    assert!(
        !rec.beats.is_empty(),
        "{} has no complete beat",
        rec.ecg.meta.id
    );
    rec.beats.iter().map(&f).sum::<f64>() / rec.beats.len() as f64
}

/// ST level 60 ms after the J point (QRS offset), relative to the PR baseline.
fn st_level(rec: &SyntheticRecord, lead: LeadName) -> f64 {
    let x = lead_row(rec, lead);
    let fs = rec.ecg.fs_hz;
    mean_over_beats(rec, |b| {
        x[b.qrs.offset + (0.06 * fs) as usize] as f64 - pr_baseline(&x, b, fs)
    })
}

/// Deepest deflection in the first 40 ms of the QRS, relative to the PR baseline (Q depth).
fn q_depth(rec: &SyntheticRecord, lead: LeadName) -> f64 {
    let x = lead_row(rec, lead);
    let fs = rec.ecg.fs_hz;
    mean_over_beats(rec, |b| {
        let base = pr_baseline(&x, b, fs);
        let end = b.qrs.onset + (0.04 * fs) as usize;
        x[b.qrs.onset..end]
            .iter()
            .map(|v| *v as f64 - base)
            .fold(0.0, f64::min)
    })
}

/// Largest positive and negative QRS deflections relative to the PR baseline.
fn qrs_extremes(rec: &SyntheticRecord, lead: LeadName) -> (f64, f64) {
    let x = lead_row(rec, lead);
    let fs = rec.ecg.fs_hz;
    let hi = mean_over_beats(rec, |b| {
        let base = pr_baseline(&x, b, fs);
        x[b.qrs.onset..=b.qrs.offset]
            .iter()
            .map(|v| *v as f64 - base)
            .fold(0.0, f64::max)
    });
    let lo = mean_over_beats(rec, |b| {
        let base = pr_baseline(&x, b, fs);
        x[b.qrs.onset..=b.qrs.offset]
            .iter()
            .map(|v| *v as f64 - base)
            .fold(0.0, f64::min)
    });
    (hi, lo)
}

fn sokolow_lyon(rec: &SyntheticRecord) -> f64 {
    let s_v1 = -qrs_extremes(rec, LeadName::V1).1;
    s_v1 + qrs_extremes(rec, LeadName::V5)
        .0
        .max(qrs_extremes(rec, LeadName::V6).0)
}

fn qrs_ms(rec: &SyntheticRecord) -> f64 {
    mean_over_beats(rec, |b| {
        (b.qrs.offset - b.qrs.onset) as f64 / rec.ecg.fs_hz * 1000.0
    })
}

#[test]
fn generator_is_deterministic_per_seed_and_order_free() {
    let params = SynthParams {
        n_records: 4,
        seed: 77,
        ..Default::default()
    };
    let a = generate_record(&params, 2).unwrap();
    let b = generate_record(&params, 2).unwrap();
    assert_eq!(a, b);
    let all =
        tlc_explorer::synth::generate_all(&params, &tlc_explorer::progress::NoProgress).unwrap();
    assert_eq!(all[2], a, "parallel generation gives the same record");
    let other = generate_record(
        &SynthParams {
            seed: 78,
            ..params.clone()
        },
        2,
    )
    .unwrap();
    assert_ne!(other.ecg.samples_mv, a.ecg.samples_mv);
    assert_eq!(a.ecg.meta.fold, Some(3));
    assert_eq!(a.ecg.meta.id, "synth_00002");
    assert_eq!(a.ecg.n_samples(), 5000);
    assert_eq!(a.ecg.leads, LeadName::standard_12());
}

#[test]
fn ground_truth_lines_up_with_the_signal() {
    // Baseline wander on, white noise off: on a broad or notched R (bundle branch block) noise
    // alone can move the arg-max by several samples, which would test the noise, not the truth.
    let params = SynthParams {
        n_records: 30,
        seed: 2026,
        noise_mv: 0.0,
        ..Default::default()
    };
    let mut n_beats = 0;
    let mut n_r_peaks = 0;
    for index in 0..params.n_records {
        let rec = generate_record(&params, index).unwrap();
        let fs = rec.ecg.fs_hz;
        assert!(
            rec.beats.len() >= 7,
            "{}: {} beats",
            rec.ecg.meta.id,
            rec.beats.len()
        );
        let ii = lead_row(&rec, LeadName::II);
        let mut previous_t_offset = None;
        for beat in &rec.beats {
            let p = beat.p.expect("synthetic beats have a P wave");
            let t = beat.t.expect("synthetic beats have a T wave");
            let q = beat.qrs;
            let order = [
                p.onset, p.peak, p.offset, q.onset, q.peak, q.offset, t.onset, t.peak, t.offset,
            ];
            assert!(
                order.windows(2).all(|w| w[0] <= w[1]),
                "{}: {order:?}",
                rec.ecg.meta.id
            );
            assert!(p.offset < q.onset && q.offset < t.onset, "{order:?}");
            if let Some(prev) = previous_t_offset {
                assert!(
                    prev < p.onset,
                    "beats overlap: T offset {prev} >= P onset {}",
                    p.onset
                );
            }
            previous_t_offset = Some(t.offset);
            // The QRS peak is the R peak of lead II (or its deepest point when there is no R).
            let base = pr_baseline(&ii, beat, fs);
            let window: Vec<f64> = ii[q.onset..=q.offset]
                .iter()
                .map(|v| *v as f64 - base)
                .collect();
            let arg = |f: &dyn Fn(f64) -> f64| {
                window
                    .iter()
                    .enumerate()
                    .max_by(|a, b| f(*a.1).total_cmp(&f(*b.1)))
                    .map(|(i, _)| q.onset + i)
                    .unwrap()
            };
            let (pos, abs) = (arg(&|v| v), arg(&|v: f64| v.abs()));
            // Which of the two the truth chose depends on a threshold (R at least 0.3 of the
            // largest deflection) that wander can tip for borderline complexes; either way the
            // truth must sit on that extreme of the signal.
            let on_r = pos.abs_diff(q.peak) <= 1;
            let on_deepest = abs.abs_diff(q.peak) <= 1;
            assert!(
                on_r || on_deepest,
                "{}: QRS peak {} but lead II R peak at {pos}, largest deflection at {abs}",
                rec.ecg.meta.id,
                q.peak
            );
            n_r_peaks += usize::from(on_r);
            n_beats += 1;
        }
    }
    assert!(n_beats > 200, "{n_beats}");
    assert!(
        n_r_peaks * 10 > n_beats * 9,
        "only {n_r_peaks} of {n_beats} QRS peaks on an R wave"
    );
}

#[test]
fn qrs_bounds_sit_where_the_complex_starts_and_ends() {
    // Noise-free, without ST/T changes: the spatial QRS magnitude is small at onset/offset and
    // large inside.
    for class in [SynthClass::Norm, SynthClass::Cd] {
        let rec = generate_record(&clean(class, 3, 4), 1).unwrap();
        let fs = rec.ecg.fs_hz;
        for beat in &rec.beats {
            let mag = |i: usize| -> f64 {
                (0..12)
                    .map(|l| {
                        let x: Vec<f32> = rec.ecg.samples_mv.row(l).to_vec();
                        (x[i] as f64 - pr_baseline(&x, beat, fs)).powi(2)
                    })
                    .sum::<f64>()
                    .sqrt()
            };
            let peak = (beat.qrs.onset..=beat.qrs.offset)
                .map(mag)
                .fold(0.0, f64::max);
            assert!(mag(beat.qrs.onset) < 0.15 * peak, "{class:?} onset");
            // At the offset the T wave may already rise a little; the QRS itself has ended.
            assert!(mag(beat.qrs.offset) < 0.2 * peak, "{class:?} offset");
            let inner = beat.qrs.onset + (beat.qrs.offset - beat.qrs.onset) / 4;
            assert!(mag(inner) > 0.15 * peak, "{class:?} inside");
        }
    }
}

fn territory_leads(t: MiTerritory) -> Vec<LeadName> {
    match t {
        MiTerritory::Inferior => vec![LeadName::II, LeadName::III, LeadName::AVF],
        MiTerritory::Anterior => vec![LeadName::V1, LeadName::V2, LeadName::V3, LeadName::V4],
    }
}

fn mean_over_leads(
    rec: &SyntheticRecord,
    leads: &[LeadName],
    f: fn(&SyntheticRecord, LeadName) -> f64,
) -> f64 {
    leads.iter().map(|l| f(rec, l.clone())).sum::<f64>() / leads.len() as f64
}

#[test]
fn each_class_change_is_measurably_present() {
    let n = 8;
    let records = |class| -> Vec<SyntheticRecord> {
        (0..n)
            .map(|i| generate_record(&clean(class, n, 31), i).unwrap())
            .collect()
    };
    let normals = records(SynthClass::Norm);
    for r in &normals {
        assert_eq!(r.ecg.meta.labels, vec!["NORM".to_string()]);
        assert!(qrs_ms(r) < 110.0, "NORM QRS {} ms", qrs_ms(r));
        for lead in [LeadName::V5, LeadName::V6] {
            assert!(st_level(r, lead.clone()).abs() < 0.03, "NORM ST {lead}");
        }
        assert!(
            sokolow_lyon(r) < 3.5,
            "NORM Sokolow-Lyon {}",
            sokolow_lyon(r)
        );
        for t in [MiTerritory::Inferior, MiTerritory::Anterior] {
            let q = mean_over_leads(r, &territory_leads(t), q_depth);
            assert!(q > -0.15, "NORM Q depth {q} in {t:?} leads");
        }
    }

    let mut n_long_pr = 0;
    for r in records(SynthClass::Cd) {
        assert!(qrs_ms(&r) > 120.0, "CD QRS {} ms", qrs_ms(&r));
        if r.details.first_degree_av_block {
            n_long_pr += 1;
            let pr_ms = mean_over_beats(&r, |b| (b.qrs.onset - b.p.unwrap().onset) as f64 / 0.5);
            assert!(pr_ms > 200.0, "CD with AV block: PR {pr_ms} ms");
        }
    }
    assert!(n_long_pr > 0, "no CD record with a long PR among {n}");

    for r in records(SynthClass::Sttc) {
        for lead in [LeadName::V5, LeadName::V6] {
            let st = st_level(&r, lead.clone());
            assert!(st < -0.05, "STTC ST in {lead}: {st}");
            let x = lead_row(&r, lead.clone());
            let t_wave = mean_over_beats(&r, |b| {
                x[b.t.unwrap().peak] as f64 - pr_baseline(&x, b, r.ecg.fs_hz)
            });
            assert!(t_wave < 0.0, "STTC T in {lead}: {t_wave}");
        }
    }

    for r in records(SynthClass::Hyp) {
        let sl = sokolow_lyon(&r);
        assert!(sl > 3.5, "HYP Sokolow-Lyon {sl}");
        for lead in [LeadName::V5, LeadName::V6] {
            let st = st_level(&r, lead.clone());
            assert!(st < -0.03, "HYP strain ST in {lead}: {st}");
        }
    }

    let mut territories = Vec::new();
    for r in records(SynthClass::Mi) {
        let t = r.details.mi_territory.expect("MI records have a territory");
        territories.push(t);
        let leads = territory_leads(t);
        let q = mean_over_leads(&r, &leads, q_depth);
        assert!(q < -0.2, "MI Q depth {q} in {t:?} leads");
        let st = mean_over_leads(&r, &leads, st_level);
        assert!(st > 0.08, "MI ST elevation {st} in {t:?} leads");
    }
    assert!(
        territories.contains(&MiTerritory::Inferior)
            && territories.contains(&MiTerritory::Anterior)
    );
}

#[test]
fn class_frequencies_follow_the_probabilities() {
    let params = SynthParams {
        n_records: 400,
        seed: 1,
        ..Default::default()
    };
    let ds = tlc_explorer::synth::SyntheticDataset::new(params).unwrap();
    use tlc_explorer::io::Dataset;
    let count = |name: &str| {
        (0..ds.len())
            .filter(|&i| ds.entry(i).unwrap().labels.iter().any(|l| l == name))
            .count()
    };
    // Expected 100, 100, 100, 80, ~135 of 400; binomial sd about 9.
    for (name, expected) in [
        ("MI", 100.0),
        ("STTC", 100.0),
        ("CD", 100.0),
        ("HYP", 80.0),
        ("NORM", 135.0),
    ] {
        let c = count(name) as f64;
        assert!(
            (c - expected).abs() < 40.0,
            "{name}: {c} of 400, expected about {expected}"
        );
    }
}

#[test]
#[ignore]
fn dump_csv_for_eyeballing() {
    let mut params = SynthParams {
        n_records: 5,
        seed: 11,
        ..Default::default()
    };
    for (k, class) in SynthClass::ALL.into_iter().enumerate() {
        params.class_probabilities = ClassProbabilities::only(class);
        let r = generate_record(&params, k).unwrap();
        let mut out = String::new();
        for i in 0..r.ecg.n_samples() {
            let row: Vec<String> = (0..12)
                .map(|l| format!("{:.4}", r.ecg.samples_mv[[l, i]]))
                .collect();
            out.push_str(&row.join(","));
            out.push('\n');
        }
        std::fs::write(format!("/tmp/synth_{}.csv", class.as_str()), out).unwrap();
        let marks: Vec<String> = r
            .beats
            .iter()
            .map(|b| {
                format!(
                    "{},{},{},{},{},{},{},{},{}",
                    b.p.unwrap().onset,
                    b.p.unwrap().peak,
                    b.p.unwrap().offset,
                    b.qrs.onset,
                    b.qrs.peak,
                    b.qrs.offset,
                    b.t.unwrap().onset,
                    b.t.unwrap().peak,
                    b.t.unwrap().offset
                )
            })
            .collect();
        std::fs::write(
            format!("/tmp/synth_{}.beats", class.as_str()),
            marks.join("\n"),
        )
        .unwrap();
        println!("{} {}", class.as_str(), r.details.describe());
    }
}
