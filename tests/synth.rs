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
fn debug_print_class_measurements() {
    for class in SynthClass::ALL {
        let p = clean(class, 6, 5);
        for i in 0..6 {
            let r = generate_record(&p, i).unwrap();
            let terr: Vec<LeadName> = match r.details.mi_territory {
                Some(MiTerritory::Anterior) => {
                    vec![LeadName::V1, LeadName::V2, LeadName::V3, LeadName::V4]
                }
                _ => vec![LeadName::II, LeadName::III, LeadName::AVF],
            };
            let q: Vec<String> = terr
                .iter()
                .map(|l| format!("{:.2}", q_depth(&r, l.clone())))
                .collect();
            let st_t: Vec<String> = terr
                .iter()
                .map(|l| format!("{:.2}", st_level(&r, l.clone())))
                .collect();
            println!(
                "{:?} {:?} qrs {:.0} ms st V5 {:.3} V6 {:.3} SL {:.2} q {:?} stterr {:?} beats {} {:?} {:?}",
                class,
                r.details.mi_territory,
                qrs_ms(&r),
                st_level(&r, LeadName::V5),
                st_level(&r, LeadName::V6),
                sokolow_lyon(&r),
                q,
                st_t,
                r.beats.len(),
                r.details.bundle_branch_block,
                r.details.first_degree_av_block
            );
        }
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
