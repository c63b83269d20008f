//! I/O on the real data (`../shared/data`): WFDB records and annotations, CODE-15% HDF5, data
//! sets, bad input.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tlc_explorer::io::annotation::{self, Annotation};
use tlc_explorer::io::wfdb::{self, WriteOptions};
use tlc_explorer::record::{Ecg, EcgMeta, LeadName, Sex};

fn headers_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "hea") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

const LUDB_LEADS: [&str; 12] = [
    "i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6",
];

// ---------------------------------------------------------------------------------------------
// WFDB records

#[test]
fn ptbxl_all_records_read_with_matching_checksums() {
    let Some(dir) = common::data("ptbxl") else {
        return;
    };
    let headers = headers_under(&dir);
    assert_eq!(
        headers.len(),
        1000,
        "500 records at 100 Hz and 500 at 500 Hz"
    );
    for hea in &headers {
        // read_adc verifies each signal's checksum and fails naming the file and signal
        let ecg = wfdb::read_record(hea).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ecg.leads, LeadName::standard_12(), "{}", hea.display());
        let hr = ecg.meta.id.ends_with("_hr");
        assert_eq!(ecg.fs_hz, if hr { 500.0 } else { 100.0 });
        assert_eq!(ecg.n_samples(), if hr { 5000 } else { 1000 });
        assert_eq!(ecg.meta.source.as_deref(), Some(hea.as_path()));
        // ECG amplitudes in mV are within a few mV: catches a wrong gain or byte order
        let max = ecg.samples_mv.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(
            max < 40.0 && max > 0.01,
            "{}: max |x| = {max} mV",
            hea.display()
        );
    }
}

#[test]
fn ptbxl_header_fields_and_mv_conversion() {
    let Some(dir) = common::data("ptbxl/records100/00000") else {
        return;
    };
    let hea = dir.join("00001_lr.hea");
    let (header, adc) = wfdb::read_adc(&hea).unwrap();
    assert_eq!(
        (header.record_name.as_str(), header.n_signals),
        ("00001_lr", 12)
    );
    assert_eq!((header.fs_hz, header.n_samples), (100.0, Some(1000)));
    let s = &header.signals[0];
    assert_eq!(
        (s.format, s.adc_gain, s.baseline, s.units.as_str()),
        (16, 1000.0, 0, "mV")
    );
    assert_eq!(
        adc[0][0], s.initial_value,
        "first sample equals the header's initial value"
    );
    let ecg = wfdb::read_record(&hea).unwrap();
    for lead in 0..12 {
        assert_eq!(ecg.samples_mv[[lead, 17]], adc[lead][17] as f32 / 1000.0);
    }
}

#[test]
fn ludb_records_with_baseline_in_gain_field() {
    let Some(dir) = common::data("ludb/data") else {
        return;
    };
    let headers = headers_under(&dir);
    assert_eq!(headers.len(), 200);
    for hea in &headers {
        let ecg = wfdb::read_record(hea).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            ecg.leads,
            LeadName::standard_12(),
            "lower-case names are normalised"
        );
        assert_eq!((ecg.fs_hz, ecg.n_samples()), (500.0, 5000));
        assert!(
            ecg.meta.age_years.is_some() || ecg.meta.sex.is_some(),
            "{}",
            hea.display()
        );
    }
    // Record 1: digital values and physical values as the reference Python `wfdb` 4.x
    // (`rdrecord('ludb/data/1', physical=False).d_signal[:2, :3]`) gives them.
    let (header, adc) = wfdb::read_adc(&dir.join("1.hea")).unwrap();
    assert_eq!([adc[0][0], adc[1][0], adc[2][0]], [-120, 25, 145]);
    assert_eq!([adc[0][1], adc[1][1], adc[2][1]], [-43, 97, 140]);
    assert_eq!([adc[0][4999], adc[1][4999], adc[2][4999]], [-66, -22, 44]);
    assert_eq!(
        (header.signals[0].adc_gain, header.signals[0].baseline),
        (1716.0, 6)
    );
    let ecg = wfdb::read_record(&dir.join("1.hea")).unwrap();
    // Python wfdb p_signal[0, 0] = -0.07342657342657342 = (-120 - 6) / 1716
    assert!((ecg.samples_mv[[0, 0]] as f64 - -0.07342657342657342).abs() < 1e-6);
    assert_eq!(ecg.meta.age_years, Some(51.0));
    assert_eq!(ecg.meta.sex, Some(Sex::Female));
    assert!(
        ecg.meta
            .report
            .as_deref()
            .unwrap_or("")
            .contains("Sinus bradycardia")
    );
}

#[test]
fn mitbih_100_format_212_matches_reference_wfdb() {
    let Some(dir) = common::data("mitdb") else {
        return;
    };
    let (header, adc) = wfdb::read_adc(&dir.join("100.hea")).unwrap();
    assert_eq!(header.signals[0].format, 212);
    // this copy starts with a comment line and has CRLF endings and a blank line: all tolerated
    assert_eq!(
        header.comments,
        vec![
            "unnecessary comment",
            "69 M 1085 1629 x1",
            "Aldomet, Inderal"
        ]
    );
    // Reference: Python `wfdb` 4.x, `rdrecord('mitdb/100', physical=False)`:
    // sig_len 650000; d_signal[0] = [995, 1011]; d_signal[1000] = [945, 970];
    // d_signal[325001] = [952, 980]; d_signal[649999] = [768, 1024].
    assert_eq!((adc[0].len(), adc[1].len()), (650_000, 650_000));
    for (i, expected) in [
        (0, [995, 1011]),
        (1000, [945, 970]),
        (325_001, [952, 980]),
        (649_999, [768, 1024]),
    ] {
        assert_eq!([adc[0][i], adc[1][i]], expected, "sample {i}");
    }
    let ecg = wfdb::read_record(&dir.join("100.hea")).unwrap();
    assert_eq!(
        ecg.leads,
        vec![LeadName::Other("MLII".into()), LeadName::V5]
    );
    // p_signal[0] = [-0.145, -0.065]: (995 - 1024) / 200 and (1011 - 1024) / 200
    assert!((ecg.samples_mv[[0, 0]] - -0.145).abs() < 1e-6);
    assert!((ecg.samples_mv[[1, 0]] - -0.065).abs() < 1e-6);
}

fn demo_ecg() -> Ecg {
    let n = 1234;
    let mut data = ndarray::Array2::<f32>::zeros((12, n));
    for ((lead, j), v) in data.indexed_iter_mut() {
        *v = ((j as f32 * 0.05 + lead as f32).sin() * 1.7) - 0.3 * lead as f32;
    }
    let meta = EcgMeta {
        id: "demo".into(),
        age_years: Some(63.0),
        sex: Some(Sex::Male),
        labels: vec!["MI".into(), "STTC".into()],
        report: Some("line one\nline two".into()),
        fold: Some(4),
        source: None,
    };
    Ecg::new(LeadName::standard_12(), 400.0, data, meta).unwrap()
}

#[test]
fn write_record_round_trips_within_one_over_gain() {
    let tmp = tempfile::tempdir().unwrap();
    let ecg = demo_ecg();
    let opts = WriteOptions::default();
    let hea = wfdb::write_record(tmp.path(), "demo", &ecg, &opts).unwrap();
    let back = wfdb::read_record(&hea).unwrap();
    assert_eq!(back.leads, ecg.leads);
    assert_eq!((back.fs_hz, back.n_samples()), (400.0, 1234));
    let max_err = (&back.samples_mv - &ecg.samples_mv)
        .iter()
        .fold(0f32, |m, v| m.max(v.abs()));
    assert!(max_err <= 0.5 / 1000.0 + 1e-6, "max error {max_err} mV");
    assert_eq!(back.meta.age_years, Some(63.0));
    assert_eq!(back.meta.sex, Some(Sex::Male));
    assert_eq!(back.meta.labels, vec!["MI", "STTC"]);
    assert_eq!(back.meta.fold, Some(4));
    assert_eq!(back.meta.report.as_deref(), Some("line one line two"));
    // refuses to overwrite unless asked
    let err = wfdb::write_record(tmp.path(), "demo", &ecg, &opts)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("demo.") && err.contains("already exists"),
        "{err}"
    );
    let opts = WriteOptions {
        overwrite: true,
        gain_adc_per_mv: 200.0,
    };
    wfdb::write_record(tmp.path(), "demo", &ecg, &opts).unwrap();
    let back = wfdb::read_record(&hea).unwrap();
    let max_err = (&back.samples_mv - &ecg.samples_mv)
        .iter()
        .fold(0f32, |m, v| m.max(v.abs()));
    assert!(
        max_err <= 0.5 / 200.0 + 1e-6 && max_err > 0.5 / 1000.0,
        "max error {max_err}"
    );
}

// ---------------------------------------------------------------------------------------------
// Annotations

#[test]
fn ludb_all_annotation_files_give_the_published_totals() {
    let Some(dir) = common::data("ludb/data") else {
        return;
    };
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut n_files = 0;
    for hea in headers_under(&dir) {
        for lead in LUDB_LEADS {
            let path = hea.with_extension(lead);
            let anns = annotation::read_annotations(&path).unwrap_or_else(|e| panic!("{e}"));
            n_files += 1;
            for a in &anns {
                *counts.entry(a.symbol.clone()).or_default() += 1;
            }
            // every annotation is inside the 10 s record
            assert!(anns.iter().all(|a| a.sample < 5000), "{}", path.display());
        }
    }
    assert_eq!(n_files, 2400);
    // totals from the LUDB description (and Python `wfdb.rdann` over the same files:
    // ')' 58423, '(' 58321, 'N' 21965, 't' 19661, 'p' 16797)
    assert_eq!(counts.get("N"), Some(&21_965));
    assert_eq!(counts.get("t"), Some(&19_661));
    assert_eq!(counts.get("p"), Some(&16_797));
    assert_eq!(counts.get("("), Some(&58_321));
    assert_eq!(counts.get(")"), Some(&58_423));
    assert_eq!(counts.len(), 5, "{counts:?}");
}

#[test]
fn ludb_record_1_lead_i_first_annotations() {
    let Some(dir) = common::data("ludb/data") else {
        return;
    };
    let anns = annotation::read_annotations(&dir.join("1.i")).unwrap();
    // Python wfdb: rdann('ludb/data/1', 'i').sample[:6], .symbol[:6]
    let got: Vec<(u64, &str)> = anns
        .iter()
        .take(6)
        .map(|a| (a.sample, a.symbol.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (641, "("),
            (664, "N"),
            (690, ")"),
            (773, "("),
            (840, "t"),
            (887, ")")
        ]
    );
}

#[test]
fn mitbih_100_atr_matches_reference_wfdb() {
    let Some(dir) = common::data("mitdb") else {
        return;
    };
    let anns = annotation::read_annotations(&dir.join("100.atr")).unwrap();
    // Reference: Python `wfdb` 4.x `rdann('mitdb/100', 'atr')`: 2274 annotations
    // (N 2239, A 33, V 1, + 1); samples[:5] = [18, 77, 370, 662, 946] with symbols
    // ['+', 'N', 'N', 'N', 'N']; sample[1000] = 283096 'N'; last 649991 'N';
    // aux_note[0] = '(N\0' (we drop the trailing NUL).
    assert_eq!(anns.len(), 2274);
    let beats = anns
        .iter()
        .filter(|a| ["N", "A", "V"].contains(&a.symbol.as_str()))
        .count();
    assert_eq!(beats, 2273);
    let first: Vec<(u64, &str)> = anns
        .iter()
        .take(5)
        .map(|a| (a.sample, a.symbol.as_str()))
        .collect();
    assert_eq!(
        first,
        vec![(18, "+"), (77, "N"), (370, "N"), (662, "N"), (946, "N")]
    );
    assert_eq!(
        (anns[1000].sample, anns[1000].symbol.as_str()),
        (283_096, "N")
    );
    assert_eq!(anns.last().map(|a| a.sample), Some(649_991));
    assert_eq!(anns[0].aux.as_deref(), Some("(N"));
    // .qrs: Python wfdb gives 2273 'N', the first at sample 64, the last at 649978. The file
    // also starts with a NOTE ('"') at sample 0 carrying the detector's command line, which
    // Python wfdb drops (it removes every NOTE at sample 0 as a possible definition); we keep it.
    let qrs = annotation::read_annotations(&dir.join("100.qrs")).unwrap();
    assert_eq!(qrs.len(), 2274);
    assert_eq!((qrs[0].sample, qrs[0].symbol.as_str()), (0, "\""));
    assert_eq!(qrs[0].aux.as_deref(), Some("gqrs -r 100"));
    assert!(qrs[1..].iter().all(|a| a.symbol == "N"));
    assert_eq!((qrs[1].sample, qrs[2273].sample), (64, 649_978));
}

#[test]
fn annotations_round_trip_exactly_through_files() {
    let Some(dir) = common::data("mitdb") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    for src in [dir.join("100.atr"), dir.join("100.qrs")] {
        let anns = annotation::read_annotations(&src).unwrap();
        let out = tmp.path().join(src.file_name().unwrap());
        annotation::write_annotations(&out, &anns, false).unwrap();
        assert_eq!(annotation::read_annotations(&out).unwrap(), anns);
        let err = annotation::write_annotations(&out, &anns, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("already exists"), "{err}");
        annotation::write_annotations(&out, &anns, true).unwrap();
    }
    if let Some(ludb) = common::data("ludb/data") {
        let anns = annotation::read_annotations(&ludb.join("7.v3")).unwrap();
        let out = tmp.path().join("7.v3");
        annotation::write_annotations(&out, &anns, false).unwrap();
        assert_eq!(annotation::read_annotations(&out).unwrap(), anns);
        // a built annotation with the standard table
        let a = Annotation::new(10, "p").unwrap();
        assert_eq!(a.code, 24);
    }
}
