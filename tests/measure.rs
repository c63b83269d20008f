//! Clinical measurements: synthetic ground truth, hand-computed QTc, axes, absent values with
//! reasons, the CLI, and the comparison with LUDB's cardiologists.

mod common;

use ndarray::Array2;
use tlc_explorer::delineate::score::RecordSubset;
use tlc_explorer::delineate::{
    Beat, Delineation, DelineatorParams, RhythmEpisode, Wave, WaveKind, delineate,
};
use tlc_explorer::measure::ludb::{crop_delineation, validate_ludb};
use tlc_explorer::measure::{
    Absent, EctopicReason, MeasureParams, Measured, QtcFormula, RhythmKind, measure,
};
use tlc_explorer::synth::{SynthParams, generate_record};
use tlc_explorer::{Ecg, EcgMeta, LeadName};

fn ecg(leads: Vec<LeadName>, rows: Vec<Vec<f32>>, fs_hz: f64) -> Ecg {
    let n = rows[0].len();
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    Ecg::new(
        leads.clone(),
        fs_hz,
        Array2::from_shape_vec((leads.len(), n), flat).unwrap(),
        EcgMeta {
            id: "test".into(),
            ..Default::default()
        },
    )
    .unwrap()
}

fn flat_12(n: usize) -> Ecg {
    ecg(LeadName::standard_12(), vec![vec![0.0; n]; 12], 500.0)
}

/// Beats at the given QRS peaks (500 Hz): P 120 ms long from 180 ms before the QRS onset (PR
/// 180 ms), QRS 90 ms (onset 40 ms before the peak), T offset 400 ms after the QRS onset.
fn beats_at(peaks: &[usize], with_p: bool) -> Vec<Beat> {
    peaks
        .iter()
        .map(|&r| {
            let on = r - 20;
            Beat {
                p: with_p.then(|| Wave::new(WaveKind::P, on - 90, on - 60, on - 30)),
                qrs: Wave::new(WaveKind::Qrs, on, r, on + 45),
                t: Some(Wave::new(WaveKind::T, on + 120, on + 160, on + 200)),
            }
        })
        .collect()
}

fn delineation(beats: Vec<Beat>, n_samples: usize, af: bool) -> Delineation {
    Delineation {
        fs_hz: 500.0,
        n_samples,
        beats,
        per_lead: Vec::new(),
        atrial_fibrillation_suspected: af,
        af_episodes: Vec::new(),
        pacing_spikes: Vec::new(),
    }
}

#[test]
fn qtc_formulas_match_hand_computed_values() {
    // QT 400 ms at RR 800 ms (75 bpm).
    let cases = [
        (QtcFormula::Bazett, 400.0 / 0.8f64.sqrt()), // 447.21
        (QtcFormula::Fridericia, 400.0 / 0.8f64.powf(1.0 / 3.0)), // 430.89
        (QtcFormula::Framingham, 400.0 + 154.0 * 0.2), // 430.8
        (QtcFormula::Hodges, 400.0 + 1.75 * 15.0),   // 426.25
    ];
    for (f, expected) in cases {
        assert!(
            (f.correct_ms(400.0, 800.0) - expected).abs() < 1e-9,
            "{f:?}"
        );
    }
    assert!((QtcFormula::Bazett.correct_ms(400.0, 800.0) - 447.2136).abs() < 1e-3);
    assert!((QtcFormula::Fridericia.correct_ms(400.0, 800.0) - 430.8869).abs() < 1e-3);
    // At 60 bpm every formula leaves QT as it is.
    for f in QtcFormula::ALL {
        assert!((f.correct_ms(380.0, 1000.0) - 380.0).abs() < 1e-9, "{f:?}");
    }
    // End to end: regular beats every 400 samples (800 ms), QT 200 samples (400 ms).
    let peaks: Vec<usize> = (0..12).map(|i| 300 + 400 * i).collect();
    let d = delineation(beats_at(&peaks, true), 5000, false);
    for (f, expected) in cases {
        let params = MeasureParams {
            qtc_formula: f,
            ..Default::default()
        };
        let m = measure(&flat_12(5000), &d, &params).unwrap();
        assert_eq!(m.qt_ms, Measured::Value(400.0));
        let qtc = m.qtc_ms.value().unwrap();
        assert!((qtc - expected).abs() < 1e-9, "{f:?}: {qtc}");
        assert!((m.beats[3].qtc_ms.value().unwrap() - expected).abs() < 1e-9);
        assert_eq!(m.beats[0].qtc_ms, Measured::Absent(Absent::NoPrecedingBeat));
    }
    let m = measure(&flat_12(5000), &d, &MeasureParams::default()).unwrap();
    assert_eq!(m.pr_ms, Measured::Value(180.0));
    assert_eq!(m.p_ms, Measured::Value(120.0));
    assert_eq!(m.qrs_ms, Measured::Value(90.0));
    assert!((m.heart_rate.mean_bpm.value().unwrap() - 75.0).abs() < 1e-9);
    assert_eq!(m.sdnn_ms, Measured::Value(0.0));
    assert_eq!(m.rhythm.kind, RhythmKind::Sinus);
    assert_eq!(m.rhythm.statement(), "sinus rhythm");
    // A flat record has no area in I or aVF: indeterminate axes, not a number.
    assert_eq!(m.axes.qrs_deg, Measured::Absent(Absent::IndeterminateAxis));
}

/// Another QTc formula applied afterwards gives what measuring with it gives, record and beats.
#[test]
fn a_qtc_formula_applied_afterwards_equals_measuring_with_it() {
    let params = tlc_explorer::synth::SynthParams::default();
    let ecg = tlc_explorer::synth::generate_record(&params, 2)
        .unwrap()
        .ecg;
    let d = delineate(&ecg, &DelineatorParams::default()).unwrap();
    let fridericia = measure(&ecg, &d, &MeasureParams::default()).unwrap();
    assert!(fridericia.qtc_ms.value().is_some());
    for formula in QtcFormula::ALL {
        let direct = measure(
            &ecg,
            &d,
            &MeasureParams {
                qtc_formula: formula,
                ..MeasureParams::default()
            },
        )
        .unwrap();
        assert_eq!(
            fridericia.clone().with_qtc_formula(formula),
            direct,
            "{formula:?}"
        );
    }
}

#[test]
fn a_flat_line_gives_absent_values_with_reasons() {
    let ecg = flat_12(5000);
    let d = delineate(&ecg, &DelineatorParams::default()).unwrap();
    assert!(d.beats.is_empty());
    let m = measure(&ecg, &d, &MeasureParams::default()).unwrap();
    for v in [
        m.heart_rate.mean_bpm,
        m.p_ms,
        m.pr_ms,
        m.qrs_ms,
        m.qt_ms,
        m.qtc_ms,
        m.axes.qrs_deg,
    ] {
        assert_eq!(v, Measured::Absent(Absent::NoBeats));
    }
    assert_eq!(m.rhythm.kind, RhythmKind::NoBeats);
    let line = tlc_explorer::measure::text::measurement_line(&m);
    assert!(line.contains("HR — (no beats)"), "{line}");
    // three axes absent for one reason: said once
    assert!(line.contains("axes — (no beats) ·"), "{line}");
    let row = tlc_explorer::measure::export::record_row(&m).join(",");
    assert!(row.contains("pr_ms: no QRS complexes found"), "{row}");
}

#[test]
fn atrial_fibrillation_has_no_pr_and_an_irregular_rhythm() {
    // Irregular RR (AF), no P waves: the delineator's flag says why.
    let rr = [310, 450, 360, 520, 330, 480, 390, 300, 470, 350];
    let mut peaks = vec![200];
    for r in rr {
        peaks.push(peaks.last().unwrap() + r);
    }
    let d = delineation(beats_at(&peaks, false), 5000, true);
    let m = measure(&flat_12(5000), &d, &MeasureParams::default()).unwrap();
    assert_eq!(m.pr_ms, Measured::Absent(Absent::NoConsistentPWaves));
    assert_eq!(m.p_ms, Measured::Absent(Absent::NoConsistentPWaves));
    assert_eq!(m.axes.p_deg, Measured::Absent(Absent::NoConsistentPWaves));
    assert_eq!(m.qt_ms, Measured::Value(400.0));
    assert!(m.rhythm.irregular && m.rhythm.kind == RhythmKind::NoPWaves);
    // In an irregular rhythm no beat is premature against its neighbours.
    assert_eq!(m.n_ectopic, 0);
    assert_eq!(m.rhythm.statement(), "no P waves found, irregular");
}

/// An episode without atrial rhythm in the middle of a sinus record: only its beats lose P and
/// PR (with the reason), the record keeps the PR of the others, and the statement names both.
#[test]
fn an_af_episode_takes_the_p_waves_of_its_own_beats_only() {
    // 20 beats every 400 samples with P (PR 180 ms); beats 8-13 at irregular RR without P.
    let mut peaks: Vec<usize> = (0..8).map(|i| 300 + 400 * i).collect();
    for rr in [310, 450, 260, 520, 330, 480] {
        peaks.push(peaks.last().unwrap() + rr);
    }
    for _ in 0..6 {
        peaks.push(peaks.last().unwrap() + 400);
    }
    let mut beats = beats_at(&peaks, true);
    for b in &mut beats[8..14] {
        b.p = None;
    }
    let n = peaks.last().unwrap() + 400;
    let mut d = delineation(beats, n, true);
    d.af_episodes = vec![RhythmEpisode {
        start: d.beats[8].qrs.onset,
        end: d.beats[13].qrs.offset,
    }];
    let m = measure(&flat_12(n), &d, &MeasureParams::default()).unwrap();
    assert_eq!(m.pr_ms, Measured::Value(180.0));
    assert_eq!(m.p_ms, Measured::Value(120.0));
    for (i, b) in m.beats.iter().enumerate() {
        let in_episode = (8..14).contains(&i);
        assert_eq!(b.in_af_episode, in_episode, "beat {i}");
        if in_episode {
            assert_eq!(
                b.pr_ms,
                Measured::Absent(Absent::NoConsistentPWaves),
                "beat {i}"
            );
        } else {
            assert_eq!(b.pr_ms, Measured::Value(180.0), "beat {i}");
        }
    }
    // The irregular RR of the episode makes no beat premature.
    assert_eq!(m.n_ectopic, 0);
    assert_eq!(m.rhythm.kind, RhythmKind::Sinus);
    assert_eq!(
        m.rhythm.statement(),
        "sinus rhythm; no P waves in 1 stretch (6 beats)"
    );
    let rows = tlc_explorer::measure::export::beat_rows(&m);
    let column = tlc_explorer::measure::export::BEAT_COLUMNS
        .iter()
        .position(|c| *c == "af_episode")
        .unwrap();
    assert_eq!(rows[8][column], "1");
    assert_eq!(rows[7][column], "0");
    // A delineation flagged without episodes (older files, where the whole record was judged
    // at once and no beat kept a P) is one episode over the record.
    d.af_episodes.clear();
    d.beats.iter_mut().for_each(|b| b.p = None);
    let m = measure(&flat_12(n), &d, &MeasureParams::default()).unwrap();
    assert_eq!(m.pr_ms, Measured::Absent(Absent::NoConsistentPWaves));
    assert_eq!(m.rhythm.kind, RhythmKind::NoPWaves);
    assert!(m.beats.iter().all(|b| b.in_af_episode));
}

/// End to end on a synthetic sinus - AF-like - sinus record: PR measured in the sinus beats,
/// not in the episode, and the record's PR is the sinus record's own.
#[test]
fn pr_is_measured_per_beat_around_an_af_episode() {
    let s = common::splice::sinus_af_sinus(0, 12345);
    let params = DelineatorParams::default();
    let d = delineate(&s.ecg, &params).unwrap();
    let m = measure(&s.ecg, &d, &MeasureParams::default()).unwrap();
    let alone = measure(
        &s.sinus.ecg,
        &delineate(&s.sinus.ecg, &params).unwrap(),
        &MeasureParams::default(),
    )
    .unwrap();
    let in_episode = m.beats.iter().filter(|b| b.in_af_episode).count();
    let sinus_with_pr = m
        .beats
        .iter()
        .filter(|b| !b.in_af_episode && b.pr_ms.value().is_some())
        .count();
    let sinus_beats = m.beats.iter().filter(|b| !b.in_af_episode).count();
    println!(
        "{}: {} beats, {in_episode} in {} episode(s), PR in {sinus_with_pr} of the \
         {sinus_beats} others; PR {:?} (sinus record alone {:?}); {}",
        s.ecg.meta.id,
        m.n_beats,
        d.af_episodes.len(),
        m.pr_ms,
        alone.pr_ms,
        m.rhythm.statement()
    );
    assert_eq!(d.af_episodes.len(), 1);
    assert!(
        in_episode >= s.af_complexes.len() - 4,
        "{in_episode} beats in the episode"
    );
    assert!(
        m.beats
            .iter()
            .filter(|b| b.in_af_episode)
            .all(|b| b.pr_ms == Measured::Absent(Absent::NoConsistentPWaves))
    );
    assert!(sinus_with_pr as f64 >= 0.9 * sinus_beats as f64);
    let (pr, pr_alone) = (m.pr_ms.value().unwrap(), alone.pr_ms.value().unwrap());
    assert!(
        (pr - pr_alone).abs() <= 4.0,
        "PR {pr} ms, alone {pr_alone} ms"
    );
    assert_eq!(m.rhythm.kind, RhythmKind::Sinus);
    assert!(m.rhythm.statement().contains("no P waves in 1 stretch"));
}

#[test]
fn ectopic_beats_are_left_out_of_the_medians_and_said_so() {
    // Regular at 400 samples, one premature beat (250 after the previous, pause of 550) and
    // one wide beat (QRS 160 ms instead of 90).
    let peaks = [300, 700, 1100, 1350, 1900, 2300, 2700, 3100, 3500, 3900];
    let mut beats = beats_at(&peaks, true);
    beats[7].qrs.offset += 35;
    beats[7].p = None;
    let d = delineation(beats, 5000, false);
    let m = measure(&flat_12(5000), &d, &MeasureParams::default()).unwrap();
    assert_eq!(m.beats[3].ectopic, Some(EctopicReason::Premature));
    assert_eq!(m.beats[7].ectopic, Some(EctopicReason::QrsDuration));
    assert_eq!(m.n_ectopic, 2);
    assert_eq!(m.qrs_ms, Measured::Value(90.0));
    assert!(m.rhythm.statement().ends_with("; 2 ectopic beats left out"));
    // The RR intervals touching an ectopic beat are not normal-to-normal.
    assert_eq!(m.sdnn_ms, Measured::Value(0.0));
}

/// A QRS-like bump with its frontal vector at `angle_deg`, in the six limb leads (I, II, III,
/// aVR, aVL, aVF) as Einthoven's and Goldberger's laws relate them: I = x, aVF = sqrt(3)/2 y,
/// II = I/2 + aVF, III = aVF - I/2, aVR = -(I + II)/2, aVL = (I - III)/2.
fn limb_leads_at(angle_deg: f64, n: usize, peaks: &[usize]) -> Vec<Vec<f32>> {
    let (c, s) = (angle_deg.to_radians().cos(), angle_deg.to_radians().sin());
    let bump: Vec<f64> = (0..n)
        .map(|i| {
            peaks
                .iter()
                .map(|&p| (-((i as f64 - p as f64) / 6.0).powi(2) / 2.0).exp())
                .sum()
        })
        .collect();
    let (i, f) = (c, 3f64.sqrt() / 2.0 * s);
    let (ii, iii) = (i / 2.0 + f, f - i / 2.0);
    [i, ii, iii, -(i + ii) / 2.0, (i - iii) / 2.0, f]
        .iter()
        .map(|k| bump.iter().map(|v| (k * v) as f32).collect())
        .collect()
}

#[test]
fn qrs_axis_follows_the_frontal_vector_also_from_leads_ii_and_iii() {
    let peaks: Vec<usize> = (0..10).map(|i| 300 + 400 * i).collect();
    let d = delineation(beats_at(&peaks, true), 5000, false);
    let limb: Vec<LeadName> = LeadName::standard_12().into_iter().take(6).collect();
    for angle in [-60.0, 0.0, 45.0, 75.0, 120.0] {
        let rows = limb_leads_at(angle, 5000, &peaks);
        let m = measure(
            &ecg(limb.clone(), rows.clone(), 500.0),
            &d,
            &Default::default(),
        )
        .unwrap();
        let got = m.axes.qrs_deg.value().unwrap();
        assert!((got - angle).abs() < 0.5, "{angle}: {got}");
        // Only II and III: I and aVF are derived.
        let two = ecg(
            vec![LeadName::II, LeadName::III],
            vec![rows[1].clone(), rows[2].clone()],
            500.0,
        );
        let got = measure(&two, &d, &Default::default()).unwrap().axes.qrs_deg;
        assert!(
            (got.value().unwrap() - angle).abs() < 0.5,
            "{angle}: {got:?}"
        );
    }
    let chest = ecg(vec![LeadName::V1], vec![vec![0.0; 5000]], 500.0);
    let m = measure(&chest, &d, &Default::default()).unwrap();
    assert_eq!(m.axes.qrs_deg, Measured::Absent(Absent::MissingLimbLeads));
}

/// Ground truth: the generator's complete beats (one bound for all leads), measured by the same
/// code as the delineation, with the fused bounds and with the default rule (earliest/latest
/// lead, the cart convention chosen on LUDB), which widens QRS and QT a little more since the
/// synthetic ground truth has no lead-to-lead spread.
#[test]
fn synthetic_records_measure_their_ground_truth_intervals() {
    use tlc_explorer::measure::BoundRule;
    let params = SynthParams {
        n_records: 16,
        seed: 19,
        ..Default::default()
    };
    let fused = MeasureParams {
        p_onset: BoundRule::Fused,
        p_offset: BoundRule::Fused,
        qrs_onset: BoundRule::Fused,
        qrs_offset: BoundRule::Fused,
        t_offset: BoundRule::Fused,
        ..Default::default()
    };
    let rules = [("fused", fused), ("default", MeasureParams::default())];
    // Per rule: PR, QRS, QT differences (ms) and HR (bpm) over the records.
    let mut diffs: Vec<[Vec<f64>; 4]> = vec![Default::default(), Default::default()];
    for i in 0..params.n_records {
        let rec = generate_record(&params, i).unwrap();
        let n = rec.ecg.n_samples();
        let truth = delineation(rec.beats.clone(), n, false);
        let d = delineate(&rec.ecg, &DelineatorParams::default()).unwrap();
        let (first, last) = (rec.beats[0].qrs.peak, rec.beats.last().unwrap().qrs.peak);
        let cropped = crop_delineation(&d, first - 25, last + 25);
        for ((name, mp), out) in rules.iter().zip(diffs.iter_mut()) {
            let gt = measure(&rec.ecg, &truth, mp).unwrap();
            // The generator's nominal PR, to the sample.
            let pr = gt.pr_ms.value().unwrap();
            assert!(
                (pr - 1000.0 * rec.details.pr_interval_s).abs() <= 2.0,
                "{i}: PR {pr}"
            );
            let ours = measure(&rec.ecg, &cropped, mp).unwrap();
            let v = |m: &tlc_explorer::measure::Measurements| {
                [
                    m.pr_ms.value().unwrap(),
                    m.qrs_ms.value().unwrap(),
                    m.qt_ms.value().unwrap(),
                    m.heart_rate.mean_bpm.value().unwrap(),
                ]
            };
            let (o, g) = (v(&ours), v(&gt));
            println!(
                "{i} {name} {:?}: PR/QRS/QT ms, HR bpm {:.1?}",
                rec.ecg.meta.labels,
                [o[0] - g[0], o[1] - g[1], o[2] - g[2], o[3] - g[3]]
            );
            for k in 0..4 {
                out[k].push(o[k] - g[k]);
            }
        }
    }
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    for ((name, _), d) in rules.iter().zip(&diffs) {
        println!(
            "{name}: median difference PR/QRS/QT {:.1} / {:.1} / {:.1} ms",
            median(&d[0]),
            median(&d[1]),
            median(&d[2])
        );
        assert!(d[3].iter().all(|h| h.abs() < 0.2), "{name}: HR {:?}", d[3]);
    }
    let (f, c) = (&diffs[0], &diffs[1]);
    for (k, name) in ["PR", "QRS", "QT"].iter().enumerate() {
        let m = median(&f[k]);
        assert!(
            m.abs() <= LIMIT_FUSED[k],
            "fused {name}: median difference {m:.1} ms"
        );
        let m = median(&c[k]);
        assert!(
            m.abs() <= LIMIT_DEFAULT[k],
            "default {name}: median difference {m:.1} ms"
        );
    }
}

/// Ceilings of the median difference (ms) for PR, QRS, QT, just beyond the measured -10 / 17 /
/// 16 ms (fused) and -6 / 20 / 22 ms (default): the delineator's bounds sit outside the
/// generator's (where each Gaussian falls to 5 % of its peak) by a few samples at each end
/// (src/delineate/README.md: median landmark errors 0-4 samples per lead).
const LIMIT_FUSED: [f64; 3] = [12.0, 20.0, 20.0];
const LIMIT_DEFAULT: [f64; 3] = [8.0, 23.0, 26.0];

#[test]
fn cli_writes_one_row_per_record_or_beat_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let params = SynthParams {
        n_records: 1,
        ..Default::default()
    };
    let rec = generate_record(&params, 0).unwrap();
    let hea =
        tlc_explorer::io::wfdb::write_record(dir.path(), "rec", &rec.ecg, &Default::default())
            .unwrap();
    let out = dir.path().join("m.csv");
    let args = |beats: bool, overwrite: bool| tlc_explorer::cli::measure::Args {
        record: Some(hea.clone()),
        data: None,
        data_options: Default::default(),
        out: out.clone(),
        beats,
        qtc: QtcFormula::Bazett,
        params: None,
        overwrite,
    };
    tlc_explorer::cli::measure::run(args(false, false)).unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("record_id,n_beats,n_ectopic,hr_mean_bpm")
    );
    let row = lines.next().unwrap();
    assert!(row.starts_with("rec,") && row.contains(",Bazett,"), "{row}");
    assert!(lines.next().is_none());
    let err = tlc_explorer::cli::measure::run(args(true, false)).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    tlc_explorer::cli::measure::run(args(true, true)).unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    let d = delineate(&rec.ecg, &DelineatorParams::default()).unwrap();
    assert_eq!(text.lines().count(), 1 + d.beats.len());
}

/// The intervals against LUDB's cardiologists (all 200 records). Ceilings sit just beyond the
/// figures in src/measure/README.md so that a regression fails; the goals that are not met are
/// stated there.
#[test]
fn ludb_intervals_against_the_annotations() {
    let Some(root) = common::data("ludb") else {
        return;
    };
    let v = validate_ludb(
        &root,
        &DelineatorParams::default(),
        &MeasureParams::default(),
        RecordSubset::All,
    )
    .unwrap();
    println!("{}", v.table());
    assert_eq!(v.records.len(), 200);
    assert!(
        v.pr.difference.n >= 175 && v.pr.n_missing == 0,
        "{}",
        v.table()
    );
    assert_eq!((v.qrs.difference.n, v.qt.difference.n), (200, 200));
    let ceilings = [
        ("PR", &v.pr, 8.0, 18.0),
        ("QRS", &v.qrs, 20.5, 15.5),
        ("QT", &v.qt, 25.0, 29.5),
    ];
    for (name, c, mean, sd) in ceilings {
        let d = &c.difference;
        assert!(
            d.mean_ms().abs() <= mean,
            "{name} mean {:.1} ms",
            d.mean_ms()
        );
        assert!(d.sd_ms() <= sd, "{name} SD {:.1} ms", d.sd_ms());
    }
    // The annotators' beat-to-beat scatter explains only part of the SDs above (README:
    // PR 8.4, QRS 4.7, QT 9.9 ms).
    let scatter = v.reference_scatter_rms_ms();
    println!("reference scatter PR, QRS, QT: {scatter:?}");
    for (name, value, range) in [
        ("PR", scatter[0], 7.2..9.7),
        ("QRS", scatter[1], 3.8..5.8),
        ("QT", scatter[2], 8.8..11.3),
    ] {
        let value = value.unwrap_or_else(|| panic!("no {name} scatter"));
        assert!(range.contains(&value), "{name} scatter {value:.1} ms");
    }
    // Heart rate within 1 bpm everywhere except the two records where the delineator takes a
    // P wave (64) or an atrial pacing spike (45) for a QRS.
    let outliers = v.hr_outliers();
    println!("heart rate off by more than 1 bpm: {outliers:?}");
    assert!(
        outliers
            .iter()
            .all(|(id, d)| ["45", "64"].contains(id) && d.abs() < 10.0),
        "{outliers:?}"
    );
    assert!(
        v.hr.difference.sd_ms() <= 1.0,
        "HR SD {:.2}",
        v.hr.difference.sd_ms()
    );
    // Atrial fibrillation/flutter: no PR, and the reason says why.
    let af: Vec<_> = v
        .records
        .iter()
        .filter(|r| r.atrial_fibrillation_or_flutter)
        .collect();
    assert!(af.len() >= 15);
    for r in af {
        assert_eq!(
            r.ours.pr_ms,
            Measured::Absent(Absent::NoConsistentPWaves),
            "record {}",
            r.id
        );
        assert_eq!(r.ours.rhythm.kind, RhythmKind::NoPWaves, "record {}", r.id);
    }
}
