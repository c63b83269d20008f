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
        ..Default::default()
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
    // also starts with a NOTE ('"') at sample 0 carrying the detector's command line: preamble,
    // dropped as Python wfdb drops every NOTE at sample 0.
    let qrs = annotation::read_annotations(&dir.join("100.qrs")).unwrap();
    assert_eq!(qrs.len(), 2273);
    assert!(qrs.iter().all(|a| a.symbol == "N"));
    assert_eq!((qrs[0].sample, qrs[2272].sample), (64, 649_978));
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

// ---------------------------------------------------------------------------------------------
// Data sets

use tlc_explorer::io::code15::{self, Code15File};
use tlc_explorer::io::{Dataset, IoError, OpenOptions, PtbxlRate, open_dataset, open_dataset_with};

fn class_counts(ds: &dyn Dataset) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for i in 0..ds.len() {
        for l in &ds.entry(i).unwrap().labels {
            *counts.entry(l.clone()).or_default() += 1;
        }
    }
    counts
}

#[test]
fn ptbxl_dataset_super_classes_folds_and_both_rates() {
    let Some(root) = common::data("ptbxl") else {
        return;
    };
    let ds = open_dataset(&root).unwrap();
    assert_eq!(ds.len(), 500);
    assert_eq!(ds.class_names(), vec!["NORM", "MI", "STTC", "CD", "HYP"]);
    // published counts for these 500 records (data README)
    let counts = class_counts(ds.as_ref());
    let expected: BTreeMap<String, usize> = [
        ("NORM", 297),
        ("STTC", 96),
        ("CD", 78),
        ("MI", 73),
        ("HYP", 40),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(counts, expected);
    // fold sizes equal the CSV's strat_fold column (counted independently here)
    let table = tlc_explorer::io::table::Table::read(&root.join("ptbxl_database.csv")).unwrap();
    let c = table.column("strat_fold").unwrap();
    let mut csv_folds: BTreeMap<u32, usize> = BTreeMap::new();
    for row in &table.rows {
        *csv_folds
            .entry(table.field(row, c).parse().unwrap())
            .or_default() += 1;
    }
    let mut folds: BTreeMap<u32, usize> = BTreeMap::new();
    for i in 0..ds.len() {
        *folds.entry(ds.entry(i).unwrap().fold.unwrap()).or_default() += 1;
    }
    assert_eq!(folds, csv_folds);
    assert_eq!(folds.len(), 10);
    // record 1: 56-year-old woman (sex 1), NORM, fold 3
    let e = ds.entry(0).unwrap();
    assert_eq!(
        (e.id.as_str(), e.fold, e.age_years),
        ("1", Some(3), Some(56.0))
    );
    assert_eq!(
        (e.sex, e.labels.clone()),
        (Some(Sex::Female), vec!["NORM".to_string()])
    );
    assert!(e.report.as_deref().unwrap().contains("sinusrhythmus"));
    let ecg = ds.load(0).unwrap();
    assert_eq!(
        (ecg.fs_hz, ecg.n_samples(), ecg.meta.id.as_str()),
        (500.0, 5000, "1")
    );
    assert_eq!(ecg.meta.labels, vec!["NORM"]);
    let lr = open_dataset_with(
        &root,
        &OpenOptions {
            ptbxl_rate: PtbxlRate::Hz100,
        },
    )
    .unwrap();
    let ecg = lr.load(499).unwrap();
    assert_eq!((ecg.fs_hz, ecg.n_samples()), (100.0, 1000));
    assert_eq!(ecg.meta.labels, lr.entry(499).unwrap().labels);
}

#[test]
fn builtin_diagnostic_map_equals_scp_statements() {
    let Some(root) = common::data("ptbxl") else {
        return;
    };
    let scp = tlc_explorer::io::table::Table::read(&root.join("scp_statements.csv")).unwrap();
    assert_eq!(
        tlc_explorer::io::ptbxl::diagnostic_classes(&scp).unwrap(),
        tlc_explorer::io::ptbxl::builtin_diagnostic_classes()
    );
}

#[test]
fn folders_and_single_records_open_as_data_sets() {
    let Some(ludb) = common::data("ludb/data") else {
        return;
    };
    let ds = open_dataset(&ludb).unwrap();
    assert_eq!(ds.len(), 200);
    // LUDB headers have no `labels:` comments; the age comes from the header, lazily
    let e = ds.entry(0).unwrap();
    assert_eq!(e.id, "1");
    assert_eq!(e.age_years, Some(51.0));
    assert!(ds.class_names().is_empty());
    let one = open_dataset(&ludb.join("1.hea")).unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one.load(0).unwrap().n_samples(), 5000);
    let Some(mitdb) = common::data("mitdb") else {
        return;
    };
    let rec = open_dataset(&mitdb.join("100")).unwrap();
    assert_eq!(rec.load(0).unwrap().n_samples(), 650_000);
}

#[test]
fn folder_with_labels_csv_uses_it() {
    let tmp = tempfile::tempdir().unwrap();
    let ecg = demo_ecg();
    for name in ["a1", "a2", "a3"] {
        wfdb::write_record(tmp.path(), name, &ecg, &WriteOptions::default()).unwrap();
    }
    std::fs::write(
        tmp.path().join("labels.csv"),
        "id,labels,fold,age,sex\na1,NORM,1,40,F\na2,MI STTC,2,,M\na3,,3,70,\n",
    )
    .unwrap();
    let ds = open_dataset(tmp.path()).unwrap();
    assert_eq!(ds.len(), 3);
    assert_eq!(ds.class_names(), vec!["NORM", "MI", "STTC"]);
    assert_eq!(ds.entry(1).unwrap().labels, vec!["MI", "STTC"]);
    assert_eq!(ds.entry(1).unwrap().age_years, None);
    assert_eq!(ds.entry(0).unwrap().sex, Some(Sex::Female));
    assert!(ds.entry(2).unwrap().labels.is_empty());
    let loaded = ds.load(2).unwrap();
    assert!(
        loaded.meta.labels.is_empty(),
        "labels.csv wins over the header's comments"
    );
    assert_eq!(
        (loaded.meta.fold, loaded.meta.age_years),
        (Some(3), Some(70.0))
    );
    // write_labels_csv writes the same format back
    let entries: Vec<_> = (0..3).map(|i| ds.entry(i).unwrap().clone()).collect();
    let copy = tmp.path().join("copy.csv");
    tlc_explorer::io::folder::write_labels_csv(&copy, &entries, false).unwrap();
    let table = tlc_explorer::io::table::Table::read(&copy).unwrap();
    let back = tlc_explorer::io::folder::labels_from_table(&table).unwrap();
    for e in &entries {
        assert_eq!(&back[&e.id], e);
    }
    assert!(tlc_explorer::io::folder::write_labels_csv(&copy, &entries, false).is_err());
    // an id without a record is an error naming the file and the id
    std::fs::write(tmp.path().join("labels.csv"), "id,labels\na1,NORM\nzz,MI\n").unwrap();
    let err = open_dataset(tmp.path()).err().unwrap().to_string();
    assert!(err.contains("labels.csv") && err.contains("zz"), "{err}");
    // without labels.csv, labels come from the header comments
    std::fs::remove_file(tmp.path().join("labels.csv")).unwrap();
    let ds = open_dataset(tmp.path()).unwrap();
    assert_eq!(ds.entry(0).unwrap().labels, vec!["MI", "STTC"]);
    assert_eq!(ds.class_names(), vec!["MI", "STTC"]);
}

/// Linear interpolation of `x` (rate `from_hz`) at rate `to_hz`: a deliberately simple
/// resampler, independent of the one that made the shared file.
fn resample_linear(x: &[f32], from_hz: f64, to_hz: f64) -> Vec<f32> {
    let n_out = (x.len() as f64 * to_hz / from_hz).round() as usize;
    (0..n_out)
        .map(|k| {
            let t = k as f64 * from_hz / to_hz;
            let i = t.floor() as usize;
            let f = (t - i as f64) as f32;
            let a = x[i.min(x.len() - 1)];
            let b = x[(i + 1).min(x.len() - 1)];
            a + (b - a) * f
        })
        .collect()
}

#[test]
fn code15_layout_file_matches_ptbxl_source() {
    let Some(h5) = common::data("code15-layout/ptbxl_first50_code15_layout.hdf5") else {
        return;
    };
    let Some(ptbxl) = common::data("ptbxl") else {
        return;
    };
    let file = Code15File::open(&h5).unwrap();
    assert_eq!(file.len(), 50);
    assert_eq!(file.exam_ids()[..3], [1, 2, 3]);
    assert_eq!(file.n_samples(), 4096);
    let ds = open_dataset(&h5).unwrap();
    assert_eq!(ds.len(), 50);
    // the CSV beside it: PTB-XL-derived layout, sex 1 = female, fold from strat_fold
    let e = ds.entry(0).unwrap();
    assert_eq!(
        (e.id.as_str(), e.fold, e.sex),
        ("1", Some(3), Some(Sex::Female))
    );
    assert!(e.labels.contains(&"NORM".to_string()), "{:?}", e.labels);
    let source = open_dataset(&ptbxl).unwrap();
    // labels, folds, age and sex agree with PTB-XL's own index for all 50 records (the CSV
    // beside the file has scp_codes; super-classes via the built-in diagnostic map)
    assert_eq!(ds.class_names(), source.class_names());
    for i in 0..50 {
        let (a, b) = (ds.entry(i).unwrap(), source.entry(i).unwrap());
        assert_eq!(
            (&a.id, &a.labels, a.fold, a.sex),
            (&b.id, &b.labels, b.fold, b.sex)
        );
        assert_eq!(a.age_years, b.age_years);
    }
    let mut worst = 0f64;
    let mut worst_polyphase = 0f64;
    for index in [0usize, 1, 17, 49] {
        let ecg = ds.load(index).unwrap();
        assert_eq!(
            (ecg.fs_hz, ecg.n_samples(), ecg.n_leads()),
            (400.0, 4096, 12)
        );
        let original = source.load(index).unwrap();
        assert_eq!(original.meta.id, ecg.meta.id);
        for lead in 0..12 {
            let x: Vec<f32> = original.samples_mv.row(lead).to_vec();
            let resampled = resample_linear(&x, 500.0, 400.0);
            let pad = (4096 - resampled.len()) / 2;
            let got = ecg.samples_mv.row(lead).to_vec();
            // centred zero padding
            assert!(got[..pad - 1].iter().all(|v| *v == 0.0));
            assert!(got[pad + resampled.len() + 1..].iter().all(|v| *v == 0.0));
            // interior only: the resamplers may differ at the edges
            let inner = 8..resampled.len() - 8;
            let err = common::rel_err(
                &got[pad + inner.start..pad + inner.end],
                &resampled[inner.clone()],
            );
            worst = worst.max(err);
            // and the project's polyphase resampler (crate::dsp)
            let polyphase = tlc_explorer::dsp::resample(&x, 500.0, 400.0).unwrap();
            assert_eq!(polyphase.len(), resampled.len());
            let err = common::rel_err(
                &got[pad + inner.start..pad + inner.end],
                &polyphase[inner.clone()],
            );
            worst_polyphase = worst_polyphase.max(err);
        }
    }
    // Against the (unknown) resampler that made the file, over these 4 records x 12 leads,
    // measured worst relative errors: linear interpolation 0.031 (tolerance 0.05),
    // crate::dsp::resample 0.020 (tolerance 0.03).
    println!("worst relative error vs linear resampling: {worst:.4}");
    println!("worst relative error vs crate::dsp::resample: {worst_polyphase:.5}");
    assert!(worst < 0.05, "worst relative error {worst}");
    assert!(
        worst_polyphase < 0.03,
        "worst relative error {worst_polyphase}"
    );
}

#[test]
fn code15_written_file_round_trips_exactly_and_refuses_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("exams_part0.hdf5");
    let mut records = Vec::new();
    for k in 0..3 {
        let mut data = ndarray::Array2::<f32>::zeros((12, 4096));
        for ((lead, j), v) in data.indexed_iter_mut() {
            *v = ((j * (lead + 1) + k) as f32 * 0.013).sin() * (k as f32 + 0.5);
        }
        let meta = EcgMeta {
            id: format!("{k}"),
            ..Default::default()
        };
        records.push(Ecg::new(LeadName::standard_12(), 400.0, data, meta).unwrap());
    }
    code15::write_code15(&path, &records, &[10, 20, 30], false).unwrap();
    let file = Code15File::open(&path).unwrap();
    assert_eq!(file.exam_ids(), &[10, 20, 30]);
    for (i, r) in records.iter().enumerate() {
        assert_eq!(file.read_tracing(i).unwrap(), r.samples_mv);
    }
    let err = code15::write_code15(&path, &records, &[1, 2, 3], false)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("exams_part0.hdf5") && err.contains("already exists"),
        "{err}"
    );
    drop(file); // HDF5 cannot truncate a file that is open
    code15::write_code15(&path, &records[..1], &[7], true).unwrap();
    assert_eq!(Code15File::open(&path).unwrap().exam_ids(), &[7]);
    // a CODE-15% exams.csv beside it gives the six abnormality labels
    std::fs::write(
        tmp.path().join("exams.csv"),
        "exam_id,age,is_male,nn_predicted_age,1dAVb,RBBB,LBBB,SB,AF,ST,patient_id,normal_ecg,death,timey,trace_file\n\
         7,61,True,60.2,False,True,False,False,True,False,99,False,False,3.2,exams_part0.hdf5\n",
    )
    .unwrap();
    let ds = open_dataset(&path).unwrap();
    assert_eq!(
        ds.class_names(),
        vec!["1dAVb", "RBBB", "LBBB", "SB", "AF", "ST"]
    );
    let e = ds.entry(0).unwrap();
    assert_eq!(
        (e.labels.clone(), e.sex, e.age_years),
        (
            vec!["RBBB".to_string(), "AF".to_string()],
            Some(Sex::Male),
            Some(61.0)
        )
    );
    // a CODE-15% file set: several parts and one exams.csv, opened as a folder, parts in
    // numeric order (part2 before part10)
    code15::write_code15(
        &tmp.path().join("exams_part10.hdf5"),
        &records[1..],
        &[20, 30],
        false,
    )
    .unwrap();
    code15::write_code15(
        &tmp.path().join("exams_part2.hdf5"),
        &records[..1],
        &[10],
        false,
    )
    .unwrap();
    std::fs::remove_file(&path).unwrap();
    let set = open_dataset(tmp.path()).unwrap();
    assert_eq!(set.len(), 3);
    let ids: Vec<&str> = (0..3).map(|i| set.entry(i).unwrap().id.as_str()).collect();
    assert_eq!(ids, ["10", "20", "30"]);
    assert_eq!(set.load(2).unwrap().samples_mv, records[2].samples_mv);
    assert!(
        set.entry(0).unwrap().labels.is_empty(),
        "exam 10 is not in exams.csv"
    );
    // a record that is not 400 Hz x 4096 is refused, naming the exam
    let err = code15::write_code15(&tmp.path().join("b.h5"), &[demo_ecg()], &[5], false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("exam 5") && err.contains("4096"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Bad input: each error names the file and the cause; nothing panics.

fn copy_record(src_hea: &Path, dir: &Path) -> PathBuf {
    let header = wfdb::read_header(src_hea).unwrap();
    let dat = header.signals[0].file_name.clone();
    std::fs::copy(src_hea, dir.join(src_hea.file_name().unwrap())).unwrap();
    std::fs::copy(src_hea.with_file_name(&dat), dir.join(&dat)).unwrap();
    dir.join(src_hea.file_name().unwrap())
}

fn ptbxl_first_header() -> Option<PathBuf> {
    common::data("ptbxl/records100/00000/00001_lr.hea")
}

fn assert_err_mentions(err: IoError, parts: &[&str]) {
    let text = err.to_string();
    for p in parts {
        assert!(text.contains(p), "error '{text}' should mention '{p}'");
    }
}

#[test]
fn truncated_dat_is_reported() {
    let Some(src) = ptbxl_first_header() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let hea = copy_record(&src, tmp.path());
    let dat = tmp.path().join("00001_lr.dat");
    let bytes = std::fs::read(&dat).unwrap();
    std::fs::write(&dat, &bytes[..bytes.len() - 100]).unwrap();
    assert_err_mentions(
        wfdb::read_record(&hea).unwrap_err(),
        &["00001_lr.dat", "truncated", "1000"],
    );
}

#[test]
fn corrupted_dat_fails_its_checksum() {
    let Some(src) = ptbxl_first_header() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let hea = copy_record(&src, tmp.path());
    let dat = tmp.path().join("00001_lr.dat");
    let mut bytes = std::fs::read(&dat).unwrap();
    bytes[2 * 12 * 500 + 2 * 3] ^= 0x10; // sample 500 of signal 3 (aVR)
    std::fs::write(&dat, &bytes).unwrap();
    assert_err_mentions(
        wfdb::read_record(&hea).unwrap_err(),
        &["00001_lr.dat", "signal 3", "AVR", "checksum"],
    );
}

#[test]
fn signal_count_disagreeing_with_lines_is_reported() {
    let Some(src) = ptbxl_first_header() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let hea = copy_record(&src, tmp.path());
    let text = std::fs::read_to_string(&hea)
        .unwrap()
        .replacen("00001_lr 12", "00001_lr 13", 1);
    std::fs::write(&hea, text).unwrap();
    assert_err_mentions(
        wfdb::read_record(&hea).unwrap_err(),
        &["00001_lr.hea", "13 signals", "12 signal lines"],
    );
    let text = std::fs::read_to_string(&hea)
        .unwrap()
        .replacen("00001_lr 13", "00001_lr 11", 1);
    std::fs::write(&hea, text).unwrap();
    assert_err_mentions(
        wfdb::read_record(&hea).unwrap_err(),
        &["00001_lr.hea", "11 signals"],
    );
}

#[test]
fn unknown_format_is_reported() {
    let Some(src) = ptbxl_first_header() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let hea = copy_record(&src, tmp.path());
    let text = std::fs::read_to_string(&hea)
        .unwrap()
        .replace(" 16 1000.0", " 99 1000.0");
    std::fs::write(&hea, text).unwrap();
    assert_err_mentions(
        wfdb::read_record(&hea).unwrap_err(),
        &["00001_lr.hea", "unsupported signal format 99"],
    );
}

#[test]
fn gain_of_zero_reads_with_the_default_gain_and_is_flagged() {
    let Some(src) = ptbxl_first_header() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let hea = copy_record(&src, tmp.path());
    let calibrated = wfdb::read_record(&hea).unwrap();
    let text = std::fs::read_to_string(&hea)
        .unwrap()
        .replacen("1000.0(0)/mV", "0(0)/mV", 1);
    std::fs::write(&hea, text).unwrap();
    // WFDB reads gain 0 as its default of 200 ADC units/mV: lead I is 1000/200 = 5 times the
    // calibrated values, the other leads unchanged, and lead I is flagged
    let ecg = wfdb::read_record(&hea).unwrap();
    assert_eq!(ecg.meta.uncalibrated_leads, vec![LeadName::I]);
    for j in [0, 10, 999] {
        let expected = calibrated.samples_mv[[0, j]] * 5.0;
        assert!(
            (ecg.samples_mv[[0, j]] - expected).abs() < 1e-4,
            "sample {j}"
        );
        assert_eq!(ecg.samples_mv[[1, j]], calibrated.samples_mv[[1, j]]);
    }
    let (_, adc) = wfdb::read_adc(&hea).unwrap();
    assert_eq!(ecg.samples_mv[[0, 10]], adc[0][10] as f32 / 200.0);
    // `tlc info` says so
    let info = tlc_explorer::cli::info::describe(&hea, &Default::default()).unwrap();
    assert!(info.contains("uncalibrated: I "), "{info}");
}

#[test]
fn missing_signal_file_is_reported() {
    let Some(src) = ptbxl_first_header() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let hea = copy_record(&src, tmp.path());
    std::fs::remove_file(tmp.path().join("00001_lr.dat")).unwrap();
    let err = wfdb::read_record(&hea).unwrap_err();
    assert!(matches!(err, IoError::Os { .. }));
    assert_err_mentions(err, &["00001_lr.dat"]);
}

#[test]
fn missing_sample_marker_is_reported() {
    let Some(src) = ptbxl_first_header() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let hea = copy_record(&src, tmp.path());
    let dat = tmp.path().join("00001_lr.dat");
    let mut bytes = std::fs::read(&dat).unwrap();
    // sample 10 of signal 0 -> -32768 (WFDB's missing value); fix the checksum so only the
    // marker is at fault
    let old = i16::from_le_bytes([bytes[240], bytes[241]]);
    bytes[240..242].copy_from_slice(&(-32768i16).to_le_bytes());
    std::fs::write(&dat, &bytes).unwrap();
    let header = wfdb::read_header(&hea).unwrap();
    let new_sum = header.signals[0].checksum.unwrap() as i64 - old as i64 - 32768;
    let text = std::fs::read_to_string(&hea).unwrap().replacen(
        &format!(" {} 0 I", header.signals[0].checksum.unwrap()),
        &format!(" {} 0 I", (new_sum & 0xffff) as u16),
        1,
    );
    std::fs::write(&hea, text).unwrap();
    // in physical units the marker is NaN (as wfdb-python); the ECG keeps the gap there and
    // its notes name the lead and where it is
    let record = wfdb::read_wfdb(&hea).unwrap();
    assert!(record.signals[0].values[10].is_nan());
    assert!(record.signals[0].values[9].is_finite() && record.signals[1].values[10].is_finite());
    let ecg = wfdb::read_record(&hea).unwrap();
    assert!(ecg.samples_mv[[0, 10]].is_nan() && ecg.samples_mv[[0, 9]].is_finite());
    let notes = ecg.meta.reader_notes.join(" ");
    for part in ["lead I ", "1 missing", "samples 10..11", "0.100-0.110 s"] {
        assert!(notes.contains(part), "{part}: {notes}");
    }
}

#[test]
fn hdf5_without_tracings_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("other.hdf5");
    let f = hdf5::File::create(&path).unwrap();
    f.new_dataset_builder()
        .with_data(&ndarray::arr1(&[1i64, 2]))
        .create("exam_id")
        .unwrap();
    drop(f);
    assert_err_mentions(
        open_dataset(&path).err().unwrap(),
        &["other.hdf5", "tracings"],
    );
    // not an HDF5 file at all
    let junk = tmp.path().join("junk.h5");
    std::fs::write(&junk, b"not hdf5").unwrap();
    assert_err_mentions(open_dataset(&junk).err().unwrap(), &["junk.h5", "HDF5"]);
}

#[test]
fn nan_in_a_tracing_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("nan.hdf5");
    let mut data = ndarray::Array3::<f32>::zeros((2, 4096, 12));
    data[[1, 100, 7]] = f32::NAN; // exam 42, lead V2
    let f = hdf5::File::create(&path).unwrap();
    f.new_dataset_builder()
        .with_data(&data)
        .create("tracings")
        .unwrap();
    f.new_dataset_builder()
        .with_data(&ndarray::arr1(&[41i64, 42]))
        .create("exam_id")
        .unwrap();
    drop(f);
    let ds = open_dataset(&path).unwrap();
    assert!(ds.load(0).is_ok());
    assert_err_mentions(
        ds.load(1).unwrap_err(),
        &["nan.hdf5", "exam 42", "V2", "sample 100"],
    );
}

#[test]
fn hdf5_declaring_more_tracings_than_it_stores_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    // A few KB that declare 10,000 tracings (1.97 GB), of which one is written: refused at
    // open, before anything is allocated from the declared shape.
    let path = tmp.path().join("declared.hdf5");
    let f = hdf5::File::create(&path).unwrap();
    let tracings = f
        .new_dataset::<f32>()
        .chunk((1, 4096, 12))
        .shape((10_000, 4096, 12))
        .create("tracings")
        .unwrap();
    tracings
        .write_slice(
            &ndarray::Array3::<f32>::zeros((1, 4096, 12)),
            (0..1, .., ..),
        )
        .unwrap();
    f.new_dataset_builder()
        .with_data(&ndarray::Array1::<i64>::zeros(10_000))
        .create("exam_id")
        .unwrap();
    drop(f);
    assert_err_mentions(
        open_dataset(&path).err().unwrap(),
        &["declared.hdf5", "'tracings'", "10000", "stores only"],
    );
    // The same declared size, compressed: a filter cannot shrink 1.97 GB of tracings to nothing.
    let packed = tmp.path().join("packed.hdf5");
    let f = hdf5::File::create(&packed).unwrap();
    f.new_dataset::<f32>()
        .chunk((1, 4096, 12))
        .deflate(9)
        .shape((10_000, 4096, 12))
        .create("tracings")
        .unwrap();
    drop(f);
    assert_err_mentions(
        open_dataset(&packed).err().unwrap(),
        &["packed.hdf5", "'tracings'", "stores only"],
    );
}

/// A copy of PTB-XL's two index files with `edit` applied to the database (no records).
fn ptbxl_index_copy(edit: impl Fn(String) -> String) -> Option<tempfile::TempDir> {
    let root = common::data("ptbxl")?;
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        root.join("scp_statements.csv"),
        tmp.path().join("scp_statements.csv"),
    )
    .unwrap();
    let db = std::fs::read_to_string(root.join("ptbxl_database.csv")).unwrap();
    std::fs::write(tmp.path().join("ptbxl_database.csv"), edit(db)).unwrap();
    Some(tmp)
}

#[test]
fn csv_with_a_missing_column_is_reported() {
    let Some(tmp) = ptbxl_index_copy(|db| db.replacen("strat_fold", "fold_renamed", 1)) else {
        return;
    };
    assert_err_mentions(
        open_dataset(tmp.path()).err().unwrap(),
        &["ptbxl_database.csv", "missing column 'strat_fold'"],
    );
    // labels.csv without its labels column
    let dir = tempfile::tempdir().unwrap();
    wfdb::write_record(dir.path(), "a1", &demo_ecg(), &WriteOptions::default()).unwrap();
    std::fs::write(dir.path().join("labels.csv"), "id,fold\na1,1\n").unwrap();
    assert_err_mentions(
        open_dataset(dir.path()).err().unwrap(),
        &["labels.csv", "missing column 'labels'"],
    );
}

// ---------------------------------------------------------------------------------------------
// Fuzzing: random and mutated bytes never panic the parsers, and allocation stays bounded by
// the input (a huge declared length is checked against the bytes actually there).

mod fuzz {
    use super::*;
    use crate::common::mutation::{edits, mutate};
    use proptest::prelude::*;
    use std::sync::LazyLock;
    use tlc_explorer::io::table::Table;

    fn shared_bytes(sub: &str) -> Option<Vec<u8>> {
        let path = common::data(sub)?;
        std::fs::read(path).ok()
    }

    static PTBXL_HEA: LazyLock<Option<Vec<u8>>> =
        LazyLock::new(|| shared_bytes("ptbxl/records100/00000/00001_lr.hea"));
    static PTBXL_DAT: LazyLock<Option<Vec<u8>>> =
        LazyLock::new(|| shared_bytes("ptbxl/records100/00000/00001_lr.dat"));
    static LUDB_HEA: LazyLock<Option<Vec<u8>>> = LazyLock::new(|| shared_bytes("ludb/data/1.hea"));
    static LUDB_ANN: LazyLock<Option<Vec<u8>>> = LazyLock::new(|| shared_bytes("ludb/data/1.i"));
    static MIT_ATR: LazyLock<Option<Vec<u8>>> = LazyLock::new(|| shared_bytes("mitdb/100.atr"));
    static PTBXL_CSV: LazyLock<Option<Vec<u8>>> = LazyLock::new(|| {
        // the first 30 rows keep each case fast
        shared_bytes("ptbxl/ptbxl_database.csv").map(|b| {
            let text = String::from_utf8_lossy(&b).into_owned();
            text.lines()
                .take(30)
                .collect::<Vec<_>>()
                .join("\n")
                .into_bytes()
        })
    });
    static SCP_CSV: LazyLock<Option<Vec<u8>>> =
        LazyLock::new(|| shared_bytes("ptbxl/scp_statements.csv"));

    use common::mutation::{mutate_text, text_edits};

    fn check_record(dir: &Path, hea: &[u8], dat: &[u8]) {
        std::fs::write(dir.join("00001_lr.hea"), hea).unwrap();
        std::fs::write(dir.join("00001_lr.dat"), dat).unwrap();
        let _ = wfdb::read_record(&dir.join("00001_lr.hea"));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let text = String::from_utf8_lossy(&bytes);
            let _ = wfdb::parse_header(&text, Path::new("fuzz.hea"));
            let _ = annotation::parse_annotations(&bytes);
            let _ = Table::parse(&bytes, Path::new("fuzz.csv"));
            for format in [8u16, 16, 24, 32, 61, 80, 160, 212, 310, 311] {
                if let Ok(n) = wfdb::samples_in_bytes(format, bytes.len()) {
                    let decoded = wfdb::decode_samples(format, &bytes, n).unwrap();
                    prop_assert_eq!(decoded.len(), n);
                }
                prop_assert!(wfdb::decode_samples(format, &bytes, usize::MAX).is_err());
            }
        }

        #[test]
        fn mutated_headers_never_panic(e1 in text_edits(), e2 in edits()) {
            let (Some(hea), Some(ludb), Some(dat)) = (&*PTBXL_HEA, &*LUDB_HEA, &*PTBXL_DAT) else { return Ok(()) };
            let text = mutate_text(&String::from_utf8_lossy(hea), &e1);
            let _ = wfdb::parse_header(&text, Path::new("fuzz.hea"));
            let ludb_text = mutate_text(&String::from_utf8_lossy(ludb), &e1);
            let _ = wfdb::parse_header(&ludb_text, Path::new("fuzz.hea"));
            let raw = mutate(hea, &e2);
            let _ = wfdb::parse_header(&String::from_utf8_lossy(&raw), Path::new("fuzz.hea"));
            // and against the real signal file
            let tmp = tempfile::tempdir().unwrap();
            check_record(tmp.path(), text.as_bytes(), dat);
        }

        #[test]
        fn mutated_signal_files_never_panic(e in edits()) {
            let (Some(hea), Some(dat)) = (&*PTBXL_HEA, &*PTBXL_DAT) else { return Ok(()) };
            let tmp = tempfile::tempdir().unwrap();
            let mutated = mutate(dat, &e);
            check_record(tmp.path(), hea, &mutated);
            // a single changed byte always changes its signal's 16-bit sum: the checksum
            // catches it
            let n_diff = if mutated.len() == dat.len() {
                mutated.iter().zip(dat.iter()).filter(|(a, b)| a != b).count()
            } else {
                0
            };
            if n_diff == 1 {
                prop_assert!(wfdb::read_record(&tmp.path().join("00001_lr.hea")).is_err());
            }
        }

        #[test]
        fn mutated_annotations_never_panic(e in edits()) {
            for src in [&*LUDB_ANN, &*MIT_ATR].into_iter().flatten() {
                let bytes = mutate(src, &e);
                if let Ok(anns) = annotation::parse_annotations(&bytes) {
                    // anything that parses is bounded by the input and re-encodes
                    prop_assert!(anns.len() <= bytes.len() / 2);
                    if let Ok(enc) = annotation::encode_annotations(&anns) {
                        prop_assert_eq!(annotation::parse_annotations(&enc).unwrap(), anns);
                    }
                }
            }
        }

        #[test]
        fn mutated_csv_never_panics(e in edits()) {
            let (Some(db), Some(scp)) = (&*PTBXL_CSV, &*SCP_CSV) else { return Ok(()) };
            let db_bytes = mutate(db, &e);
            let scp_bytes = mutate(scp, &e);
            let root = Path::new("fuzz");
            if let (Ok(dbt), Ok(scpt)) = (
                Table::parse(&db_bytes, Path::new("ptbxl_database.csv")),
                Table::parse(&scp_bytes, Path::new("scp_statements.csv")),
            ) {
                let _ = tlc_explorer::io::PtbxlDataset::from_tables(root, PtbxlRate::Hz500, &dbt, &scpt);
                let _ = tlc_explorer::io::folder::labels_from_table(&dbt);
                let _ = tlc_explorer::io::code15::entries_from_table(&dbt, Some(&scpt));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// `tlc info`

#[test]
fn info_describes_records_and_data_sets() {
    use tlc_explorer::cli::info::describe;
    let Some(root) = common::data("ptbxl") else {
        return;
    };
    let text = describe(&root, &Default::default()).unwrap();
    assert!(text.contains("records:   500"), "{text}");
    assert!(text.contains("500 Hz, 10.000 s, 5000 samples"), "{text}");
    for line in [
        "NORM     297",
        "MI       73",
        "STTC     96",
        "CD       78",
        "HYP      40",
    ] {
        assert!(text.contains(line), "{line} missing in\n{text}");
    }
    assert!(text.contains("  9        81"), "{text}");
    let Some(mitdb) = common::data("mitdb") else {
        return;
    };
    let text = describe(&mitdb.join("100"), &Default::default()).unwrap();
    for part in [
        "leads:     2 (MLII, V5)",
        "rate:      360 Hz",
        "samples:   650000",
        "1805.556 s",
        "format:    WFDB format 212 (checksums verified)",
    ] {
        assert!(text.contains(part), "{part} missing in\n{text}");
    }
    let err = describe(Path::new("/no/such/thing"), &Default::default()).unwrap_err();
    assert!(format!("{err:#}").contains("/no/such/thing"));
}

#[test]
fn multiplexed_files_byte_offsets_and_formats_212_24_80() {
    let tmp = tempfile::tempdir().unwrap();
    let n = 101;
    let s0: Vec<i32> = (0..n).map(|i| (i * 37 % 4000) as i32 - 2000).collect();
    let s1: Vec<i32> = (0..n).map(|i| 1000 - (i * 11) as i32).collect();
    let s2: Vec<i32> = (0..n).map(|i| (i as i32 - 50) * 150_001).collect();
    let s3: Vec<i32> = (0..2 * n).map(|i| (i as i32 % 200) - 100).collect(); // 2 per frame
    // a.dat: s0 and s1 multiplexed in format 212 (two 12-bit samples per 3 bytes)
    let mut a = Vec::new();
    for i in 0..n {
        let (x, y) = ((s0[i] & 0xfff) as u32, (s1[i] & 0xfff) as u32);
        a.extend_from_slice(&[
            (x & 0xff) as u8,
            ((x >> 8) | ((y >> 8) << 4)) as u8,
            (y & 0xff) as u8,
        ]);
    }
    // b.dat: 24 bytes of preamble, then s2 in format 24
    let mut b = vec![0xAB; 24];
    for v in &s2 {
        b.extend_from_slice(&v.to_le_bytes()[..3]);
    }
    // c.dat: s3 in format 80 with 2 samples per frame
    let c: Vec<u8> = s3.iter().map(|v| (v + 128) as u8).collect();
    std::fs::write(tmp.path().join("a.dat"), a).unwrap();
    std::fs::write(tmp.path().join("b.dat"), b).unwrap();
    std::fs::write(tmp.path().join("c.dat"), c).unwrap();
    let sum = |v: &[i32]| (v.iter().map(|&x| x as i64).sum::<i64>() & 0xffff) as i16;
    let hea = format!(
        "mux 4 250 {n}\n\
         a.dat 212 200(0)/mV 12 0 {} {} 0 I\n\
         a.dat 212 200/mV 12 0 {} {} 0 II\n\
         b.dat 24+24 100000(-5)/uV 24 0 {} {} 0 V1\n\
         c.dat 80x2 100/mV 8 0 {} {} 0 V2\n",
        s0[0],
        sum(&s0),
        s1[0],
        sum(&s1),
        s2[0],
        sum(&s2),
        s3[0],
        sum(&s3)
    );
    let hea_path = tmp.path().join("mux.hea");
    std::fs::write(&hea_path, &hea).unwrap();
    let (header, adc) = wfdb::read_adc(&hea_path).unwrap();
    assert_eq!(header.signals[2].byte_offset, 24);
    assert_eq!(header.signals[3].samples_per_frame, 2);
    assert_eq!(adc, vec![s0.clone(), s1.clone(), s2.clone(), s3.clone()]);
    // leads at different rates: averaged per frame to the frame rate (wfdb-python's
    // smooth_frames), with a note
    let ecg = wfdb::read_record(&hea_path).unwrap();
    assert_eq!((ecg.fs_hz, ecg.n_samples()), (250.0, n));
    for j in [0, 7, 100] {
        let mean = (s3[2 * j] + s3[2 * j + 1]) as f32 / 2.0 / 100.0;
        assert!((ecg.samples_mv[[3, j]] - mean).abs() < 1e-6);
    }
    assert!(
        ecg.meta.reader_notes[0].contains("averaged per frame to 250 Hz"),
        "{:?}",
        ecg.meta.reader_notes
    );
    // without the multi-rate signal: mV from (adc - baseline) / gain, uV converted
    let hea3 = hea
        .replacen("mux 4", "mux 3", 1)
        .lines()
        .take(4)
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&hea_path, hea3).unwrap();
    let ecg = wfdb::read_record(&hea_path).unwrap();
    assert_eq!(ecg.leads, vec![LeadName::I, LeadName::II, LeadName::V1]);
    for i in [0, 50, 100] {
        assert!((ecg.samples_mv[[0, i]] - s0[i] as f32 / 200.0).abs() < 1e-5);
        let v1 = (s2[i] + 5) as f64 / 100_000.0 / 1000.0;
        assert!(
            (ecg.samples_mv[[2, i]] as f64 - v1).abs() < 1e-6,
            "{} vs {v1}",
            ecg.samples_mv[[2, i]]
        );
    }
}

#[test]
fn bundled_sample_data_reads_as_a_folder_data_set() {
    let dir = tlc_explorer::paths::sample_data();
    if !dir.join("labels.csv").exists() {
        eprintln!("SKIPPED: no bundled sample data at {}", dir.display());
        return;
    }
    let ds = open_dataset(&dir).unwrap();
    assert!(!ds.is_empty());
    for i in 0..ds.len() {
        let ecg = ds.load(i).unwrap();
        let entry = ds.entry(i).unwrap();
        // Known as synthetic (the folder holds synth_params.json), whether read through the
        // folder or alone.
        assert!(ecg.meta.synthetic, "{}", entry.id);
        let alone = wfdb::read_record(ecg.meta.source.as_deref().unwrap()).unwrap();
        assert!(alone.meta.synthetic, "{}", entry.id);
        // labels.csv and the header comments written by `tlc synth` agree
        let hea = ecg.meta.source.clone().unwrap();
        let from_header = wfdb::meta_from_comments(&wfdb::read_header(&hea).unwrap().comments);
        assert_eq!(entry.labels, from_header.labels, "{}", entry.id);
        assert_eq!(entry.fold, from_header.fold);
        let gt = hea.with_extension("gt");
        if gt.exists() {
            let anns = annotation::read_annotations(&gt).unwrap();
            assert!(anns.iter().all(|a| (a.sample as usize) < ecg.n_samples()));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Bad input found by the hardening campaign (issue 16), rebuilt here from a real-shaped record.

/// A small valid record written to `dir` as `name`, with its header text.
fn written_record(dir: &Path, name: &str) -> (PathBuf, String) {
    let hea = wfdb::write_record(dir, name, &demo_ecg(), &WriteOptions::default()).unwrap();
    let text = std::fs::read_to_string(&hea).unwrap();
    (hea, text)
}

#[test]
fn a_header_cannot_make_the_reader_open_files_outside_its_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let (hea, text) = written_record(tmp.path(), "demo");
    for outside in ["/etc/hostname", "../demo.dat"] {
        std::fs::write(&hea, text.replace("demo.dat", outside)).unwrap();
        let err = tlc_explorer::error_text::describe(&wfdb::read_record(&hea).unwrap_err());
        assert!(err.contains("demo.hea") && err.contains(outside), "{err}");
        assert!(err.contains("not a plain name"), "{err}");
    }
    #[cfg(unix)]
    {
        // A signal file that is a link out of the folder (to a device that never ends).
        std::fs::write(&hea, text.replace("demo.dat", "zero.dat")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", tmp.path().join("zero.dat")).unwrap();
        let err = tlc_explorer::error_text::describe(&wfdb::read_record(&hea).unwrap_err());
        assert!(err.contains("outside the record's folder"), "{err}");
    }
}

#[cfg(unix)]
#[test]
fn a_signal_file_that_is_a_fifo_is_refused_without_blocking() {
    let tmp = tempfile::tempdir().unwrap();
    let (hea, _) = written_record(tmp.path(), "demo");
    let dat = tmp.path().join("demo.dat");
    std::fs::remove_file(&dat).unwrap();
    let made = std::process::Command::new("mkfifo").arg(&dat).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("skipped: mkfifo is not available here");
        return;
    }
    let err = tlc_explorer::error_text::describe(&wfdb::read_record(&hea).unwrap_err());
    assert!(err.contains("not a regular file"), "{err}");
}

#[cfg(unix)]
#[test]
fn a_folder_linking_to_itself_lists_each_record_once() {
    let tmp = tempfile::tempdir().unwrap();
    written_record(tmp.path(), "demo");
    std::os::unix::fs::symlink(tmp.path(), tmp.path().join("again")).unwrap();
    let ds = tlc_explorer::io::open_dataset(tmp.path()).unwrap();
    assert_eq!(ds.len(), 1);
}

#[test]
fn a_labels_file_with_an_unbalanced_quote_is_refused_naming_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["a", "b", "c"] {
        written_record(tmp.path(), name);
    }
    std::fs::write(
        tmp.path().join("labels.csv"),
        "id,labels,age,sex\na,NORM,50,F\nb,\"MI,60,M\nc,CD,70,F\n",
    )
    .unwrap();
    let err = tlc_explorer::error_text::describe(
        &tlc_explorer::io::open_dataset(tmp.path())
            .map(|_| ())
            .unwrap_err(),
    );
    assert!(
        err.contains("labels.csv") && err.contains("line 3"),
        "{err}"
    );
}

#[test]
fn a_ptbxl_index_naming_a_file_outside_its_folder_is_refused() {
    let Some(tmp) = ptbxl_index_copy(|db| {
        let first_hr = db
            .split(',')
            .find(|f| f.starts_with("records500/"))
            .unwrap()
            .to_string();
        db.replacen(&first_hr, "/etc/hostname", 1)
    }) else {
        return;
    };
    let err = tlc_explorer::error_text::describe(
        &tlc_explorer::io::open_dataset(tmp.path())
            .map(|_| ())
            .unwrap_err(),
    );
    assert!(
        err.contains("/etc/hostname") && err.contains("inside"),
        "{err}"
    );
}

/// A record written outside a `tlc synth` data set is not taken for a synthetic one.
#[test]
fn a_record_outside_a_synth_data_set_is_not_synthetic() {
    let dir = tempfile::tempdir().unwrap();
    let (hea, _) = written_record(dir.path(), "plain");
    assert!(!wfdb::read_record(&hea).unwrap().meta.synthetic);
    std::fs::write(dir.path().join("synth_params.json"), "{}").unwrap();
    assert!(wfdb::read_record(&hea).unwrap().meta.synthetic);
}
