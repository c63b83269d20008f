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
    // 230 Hz at 500 Hz would fold to 170 Hz at 400 Hz: it must be removed (> 60 dB; about 94 dB measured).
    let x = sine(230.0, 500.0, 5000, 0.0);
    let y = dsp::resample(&x, 500.0, 400.0).unwrap();
    let rms = (y[200..3800]
        .iter()
        .map(|v| (*v as f64).powi(2))
        .sum::<f64>()
        / 3600.0)
        .sqrt();
    assert!(
        rms < 0.001 * std::f64::consts::FRAC_1_SQRT_2,
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
        matches!(&err, DspError::GapInRecord { sample: 77, lead, .. } if lead == "aVL"),
        "{err}"
    );
    nan.samples_mv[[4, 77]] = f32::INFINITY;
    let err = dsp::prepare(&nan, &ribeiro_spec(), &PreprocessSettings::default()).unwrap_err();
    assert!(
        matches!(&err, DspError::NonFiniteInRecord { sample: 77, lead, .. } if lead == "aVL"),
        "{err}"
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
    /// Whatever the rate and length, `valid` and `start_s` describe exactly where the record sits.
    #[test]
    fn prepare_map_is_exact_for_any_rate_and_length(
        fs_index in 0usize..6,
        n_tenths in 10usize..300,
        window in proptest::option::of(0.0f64..1.0),
    ) {
        let fs = [100.0, 250.0, 360.0, 400.0, 500.0, 1000.0][fs_index];
        let n = (fs * n_tenths as f64 / 10.0) as usize;
        let data = Array2::from_shape_fn((12, n), |(l, i)| (l as f32) + (i as f32) * 1e-3);
        let ecg = Ecg::new(LeadName::standard_12(), fs, data, EcgMeta::default()).unwrap();
        let n_resampled = (n as f64 * 400.0 / fs).round() as usize;
        let max_start_s = n_resampled.saturating_sub(4096) as f64 / 400.0;
        let settings = PreprocessSettings {
            window_start_s: window.map(|w| (w * max_start_s * 400.0).round() / 400.0),
            ..Default::default()
        };
        let p = dsp::prepare(&ecg, &ribeiro_spec(), &settings).unwrap();
        proptest::prop_assert_eq!(p.valid.len(), n_resampled.min(4096));
        if n_resampled <= 4096 {
            let pad = (4096 - n_resampled) / 2;
            proptest::prop_assert_eq!(p.valid.start, pad);
            proptest::prop_assert_eq!(p.start_s, -(pad as f64) / 400.0);
        } else {
            proptest::prop_assert_eq!(p.valid.clone(), 0..4096);
            let want = settings.window_start_s.unwrap_or(((n_resampled - 4096) / 2) as f64 / 400.0);
            proptest::prop_assert!((p.start_s - want).abs() < 1e-12);
        }
        // Padding is exactly zero; the ramp inside matches the record at the mapped time.
        for j in (0..p.valid.start).chain(p.valid.end..4096) {
            proptest::prop_assert_eq!(p.data[[3, j]], 0.0);
        }
        let mid = (p.valid.start + p.valid.end) / 2;
        let t = p.seconds_from_model_sample(mid as f64);
        let want = 3.0 + (t * fs) as f32 * 1e-3;
        proptest::prop_assert!((p.data[[3, mid]] - want).abs() < 2e-3, "{} vs {}", p.data[[3, mid]], want);
    }
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
    let at_500 = SynthParams {
        n_records: 30,
        seed: 2026,
        noise_mv: 0.0,
        ..Default::default()
    };
    let at_100 = SynthParams {
        n_records: 10,
        fs_hz: 100.0,
        ..at_500.clone()
    };
    let mut n_beats = 0;
    let mut n_r_peaks = 0;
    let all = (0..at_500.n_records)
        .map(|i| (&at_500, i))
        .chain((0..at_100.n_records).map(|i| (&at_100, i)));
    for (params, index) in all {
        let rec = generate_record(params, index).unwrap();
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

// ---------------------------------------------------------------- writing a data set

#[test]
fn written_data_set_reads_back_through_io() {
    use tlc_explorer::io::{open_dataset, read_annotations};
    use tlc_explorer::progress::NoProgress;
    use tlc_explorer::synth::write::{WriteSettings, code15_tracing, write_dataset};
    use tlc_explorer::synth::{BundleBranchBlock, SynthError};

    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ds");
    let params = SynthParams {
        n_records: 6,
        seed: 3,
        ..Default::default()
    };
    let summary = write_dataset(&params, &out, &WriteSettings::default(), &NoProgress).unwrap();
    assert_eq!(summary.n_records, 6);

    let ds = open_dataset(&out).unwrap();
    assert_eq!(ds.len(), 6);
    let code15 = open_dataset(&out.join("code15.hdf5")).unwrap();
    assert_eq!(code15.len(), 6);
    for index in 0..6 {
        let rec = generate_record(&params, index).unwrap();
        let meta = &rec.ecg.meta;
        let j = (0..ds.len())
            .find(|&j| ds.entry(j).unwrap().id == meta.id)
            .unwrap();
        let entry = ds.entry(j).unwrap();
        assert_eq!(entry.labels, meta.labels);
        assert_eq!(entry.fold, meta.fold);
        assert_eq!(entry.age_years, meta.age_years);
        assert_eq!(entry.sex, meta.sex);
        let loaded = ds.load(j).unwrap();
        assert_eq!(loaded.leads, rec.ecg.leads);
        assert_eq!(loaded.fs_hz, rec.ecg.fs_hz);
        let max_err = loaded
            .samples_mv
            .iter()
            .zip(rec.ecg.samples_mv.iter())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            max_err <= 0.0005 + 1e-6,
            "{}: WFDB round trip error {max_err} mV",
            meta.id
        );

        // Ground truth annotations: ( p ) ( N ) ( t ) per beat, at the truth's samples.
        let ann = read_annotations(&out.join("records").join(format!("{}.gt", meta.id))).unwrap();
        let marks: Vec<(u64, String)> = ann.iter().map(|a| (a.sample, a.symbol.clone())).collect();
        let mut want = Vec::new();
        for b in &rec.beats {
            for (w, s) in [(b.p.unwrap(), "p"), (b.qrs, "N"), (b.t.unwrap(), "t")] {
                want.push((w.onset as u64, "(".to_string()));
                want.push((w.peak as u64, s.to_string()));
                want.push((w.offset as u64, ")".to_string()));
            }
        }
        assert_eq!(marks, want, "{}", meta.id);
        let csv = std::fs::read_to_string(out.join("landmarks").join(format!("{}.csv", meta.id)))
            .unwrap();
        assert_eq!(csv.lines().count(), 1 + 3 * rec.beats.len());

        // CODE-15% copy: exam id = index, 400 Hz x 4096 centred, CODE's labels from the details.
        let c = code15.entry(index).unwrap();
        assert_eq!(c.id, index.to_string());
        let has = |name: &str| c.labels.iter().any(|l| l == name);
        assert_eq!(
            has("RBBB"),
            rec.details.bundle_branch_block == Some(BundleBranchBlock::Right)
        );
        assert_eq!(
            has("LBBB"),
            rec.details.bundle_branch_block == Some(BundleBranchBlock::Left)
        );
        assert_eq!(has("1dAVb"), rec.details.first_degree_av_block);
        assert_eq!(c.age_years, meta.age_years);
        assert_eq!(c.sex, meta.sex);
        let tracing = code15.load(index).unwrap();
        assert_eq!((tracing.fs_hz, tracing.n_samples()), (400.0, 4096));
        assert_eq!(
            tracing.samples_mv,
            code15_tracing(&rec.ecg).unwrap().samples_mv
        );
    }
    assert!(out.join("synth_params.json").is_file());

    // Close the HDF5 file before it is replaced (HDF5 refuses to truncate an open file).
    drop(code15);
    drop(ds);
    // A non-empty folder is refused without overwrite; with it, stale records go away.
    let err = write_dataset(&params, &out, &WriteSettings::default(), &NoProgress).unwrap_err();
    assert!(matches!(err, SynthError::OutputNotEmpty { .. }), "{err}");
    let fewer = SynthParams {
        n_records: 3,
        ..params
    };
    let settings = WriteSettings {
        overwrite: true,
        ..Default::default()
    };
    write_dataset(&fewer, &out, &settings, &NoProgress).unwrap();
    assert_eq!(open_dataset(&out).unwrap().len(), 3);
    assert_eq!(open_dataset(&out.join("code15.hdf5")).unwrap().len(), 3);

    tlc_synth_command_writes_and_refuses_to_overwrite();
    interrupted_synth_exits_130_and_leaves_nothing();
}

/// Ctrl-C during `tlc synth` (run from the test above, for the same reason): exit 130, and
/// neither the output folder nor the staging folder beside it is left behind.
fn interrupted_synth_exits_130_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("big");
    let staging_exists = || {
        std::fs::read_dir(tmp.path()).unwrap().any(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".tlc-synth-")
        })
    };
    let output = common::interrupt_tlc(
        &[
            "synth".as_ref(),
            "--n".as_ref(),
            "5000".as_ref(),
            "--out".as_ref(),
            out.as_os_str(),
        ],
        staging_exists,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("cancelled"), "{stderr}");
    assert!(!out.exists(), "no partial output folder");
    assert!(!staging_exists(), "the staging folder is removed");
}

/// Run from `written_data_set_reads_back_through_io`, not as a test of its own: a child process
/// spawned while another test thread holds an HDF5 file open inherits its descriptor and with it
/// HDF5's file lock, which makes that thread's next open of the file fail (EAGAIN).
fn tlc_synth_command_writes_and_refuses_to_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cli");
    let run = |extra: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tlc"));
        cmd.args(["synth", "--n", "3", "--seed", "5", "--out"])
            .arg(&out)
            .args(extra);
        cmd.output().unwrap()
    };
    let first = run(&[]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(stdout.contains("wrote 3 records"), "{stdout}");
    let labels = std::fs::read_to_string(out.join("labels.csv")).unwrap();
    assert!(labels.starts_with("id,labels,fold,age,sex"), "{labels}");
    assert_eq!(labels.lines().count(), 4);
    let again = run(&[]);
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("not empty"), "{stderr}");
    let forced = run(&["--overwrite"]);
    assert!(
        forced.status.success(),
        "{}",
        String::from_utf8_lossy(&forced.stderr)
    );
}
