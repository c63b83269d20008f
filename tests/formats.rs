//! Readers of the formats hospitals and carts export, against the reference values of
//! `../shared/data/formats/README.md` (read there with independent decoders), and mutation
//! tests: no panic, no hang, no allocation beyond what the file justifies.

mod common;

use std::path::PathBuf;

use tlc_explorer::io::formats::{self, FileFormat};
use tlc_explorer::io::{IoError, open_dataset};
use tlc_explorer::record::{Ecg, LeadName};

fn file(sub: &str) -> Option<PathBuf> {
    common::data(&format!("formats/{sub}"))
}

/// A lead back in stored units (`unit_mv` mV per unit), rounded to integers.
fn raw(ecg: &Ecg, lead: &LeadName, unit_mv: f64) -> Vec<i64> {
    ecg.lead(lead)
        .unwrap_or_else(|| panic!("{}: no lead {lead}", ecg.meta.id))
        .iter()
        .map(|&v| (v as f64 / unit_mv).round() as i64)
        .collect()
}

/// Check raw[0:3], raw[1000:1003] and the sum of a lead.
fn check_lead(
    ecg: &Ecg,
    lead: LeadName,
    unit_mv: f64,
    first: [i64; 3],
    at_1000: Option<[i64; 3]>,
    sum: Option<i64>,
) {
    let r = raw(ecg, &lead, unit_mv);
    assert_eq!(r[..3], first, "{} lead {lead} [0:3]", ecg.meta.id);
    if let Some(at) = at_1000 {
        assert_eq!(r[1000..1003], at, "{} lead {lead} [1000:1003]", ecg.meta.id);
    }
    if let Some(sum) = sum {
        assert_eq!(
            r.iter().sum::<i64>(),
            sum,
            "{} lead {lead} sum",
            ecg.meta.id
        );
    }
}

fn read(sub: &str, format: FileFormat) -> Option<Ecg> {
    let path = file(sub)?;
    assert_eq!(formats::detect(&path).unwrap(), Some(format), "{sub}");
    Some(formats::read_file(&path).unwrap_or_else(|e| panic!("{sub}: {e}")))
}

#[test]
fn dicom_12_lead_waveform_reads_the_reference_values() {
    let Some(ecg) = read("dicom/pydicom_waveform_ecg.dcm", FileFormat::Dicom) else {
        return;
    };
    assert_eq!(ecg.fs_hz, 1000.0);
    assert_eq!(ecg.n_samples(), 10000);
    assert_eq!(ecg.leads, LeadName::standard_12());
    assert!(ecg.meta.derived_leads.is_empty(), "all 12 leads are stored");
    let unit = 1.25e-3; // 1.25 µV per unit
    check_lead(
        &ecg,
        LeadName::I,
        unit,
        [80, 65, 50],
        Some([57, 60, 63]),
        Some(741291),
    );
    check_lead(&ecg, LeadName::III, unit, [10, 20, 30], None, None);
    assert!((ecg.samples_mv[[0, 0]] - 0.1).abs() < 1e-7);
    let median = ecg
        .meta
        .median_beats
        .as_ref()
        .expect("the DERIVED group: median beats");
    assert_eq!(median.samples_mv[0].len(), 1200);
    assert_eq!(median.leads.len(), 12);
    assert!(
        ecg.meta.device.as_deref().unwrap_or("").contains("Mortara"),
        "{:?}",
        ecg.meta.device
    );
}

#[test]
fn hl7_aecg_reads_the_reference_values() {
    if let Some(ecg) = read("hl7_aecg/hl7_example_aecg.xml", FileFormat::Hl7Aecg) {
        assert!((ecg.fs_hz - 500.0).abs() < 1e-9);
        assert_eq!(ecg.n_samples(), 5000);
        assert_eq!(ecg.n_leads(), 12);
        assert!(ecg.meta.derived_leads.is_empty());
        check_lead(
            &ecg,
            LeadName::I,
            2.5e-3,
            [-2, -2, -2],
            Some([-5, -9, -3]),
            Some(-4921),
        );
        let median = ecg.meta.median_beats.as_ref().expect("derived series");
        assert_eq!(median.samples_mv[0].len(), 599);
        assert!(!ecg.meta.measurements.is_empty());
    }
    if let Some(ecg) = read("hl7_aecg/liryc_hl7aecg_example.xml", FileFormat::Hl7Aecg) {
        assert!((ecg.fs_hz - 100.0).abs() < 1e-9);
        assert_eq!(ecg.n_samples(), 1000);
        assert_eq!(ecg.n_leads(), 12);
        check_lead(&ecg, LeadName::I, 5e-3, [-42, -40, -38], None, Some(-28110));
    }
}

#[test]
fn ge_muse_reads_the_reference_values_and_derives_four_leads() {
    for (name, first, at, sum) in [
        ("easyRecg_muse_ecg1.xml", [32, 32, 32], [31, 32, 32], -4022),
        (
            "easyRecg_muse_ecg2.xml",
            [-10, -10, -10],
            [-9, -9, -9],
            -5309,
        ),
    ] {
        let Some(ecg) = read(&format!("ge_muse_xml/{name}"), FileFormat::GeMuse) else {
            return;
        };
        assert_eq!(ecg.fs_hz, 500.0);
        assert_eq!(ecg.n_samples(), 5000);
        check_lead(&ecg, LeadName::I, 4.88e-3, first, Some(at), Some(sum));
        assert_eq!(
            ecg.meta.derived_leads,
            vec![LeadName::III, LeadName::AVR, LeadName::AVL, LeadName::AVF]
        );
        assert_eq!(ecg.n_leads(), 12);
        // III = II - I, sample by sample
        let (i, ii, iii) = (
            ecg.lead(&LeadName::I).unwrap(),
            ecg.lead(&LeadName::II).unwrap(),
            ecg.lead(&LeadName::III).unwrap(),
        );
        for k in [0, 1234, 4999] {
            assert!((iii[k] - (ii[k] - i[k])).abs() < 1e-6);
        }
        assert_eq!(
            ecg.meta.median_beats.as_ref().unwrap().samples_mv[0].len(),
            600
        );
        let qrs = ecg
            .meta
            .measurements
            .iter()
            .find(|m| m.name == "QRSDuration")
            .unwrap();
        assert_eq!(qrs.unit, "ms");
        // patient fields are read but never shown by Debug (logs)
        assert!(ecg.meta.patient.is_some());
        let debug = format!("{:?}", ecg.meta);
        assert!(
            !debug.contains("JAX01234") && !debug.contains("TEST 05"),
            "{debug}"
        );
    }
}

#[test]
fn philips_xli_reads_the_reference_values_and_rebuilds_limb_leads() {
    use LeadName::*;
    let order = [I, II, III, AVR, AVL, AVF, V1, V2, V3, V4, V5, V6];
    for (name, first, at, sum, all) in [
        (
            "sierra_1_03_129DYPRG.xml",
            [48, 44, 40],
            [-11, -10, -10],
            20815,
            [-9, -17, -7, 13, -1, -12, 0, -1, -3, -4, -7, -6],
        ),
        (
            "sierra_1_03_repbeats_example.xml",
            [48, 44, 40],
            [-11, -10, -10],
            20815,
            [-9, -17, -7, 13, -1, -12, 0, -1, -3, -4, -7, -6],
        ),
        (
            "sierra_1_04_3191723_ZZDEMOPTONLY.xml",
            [33, 33, 30],
            [1, 1, 2],
            11652,
            [-11, -54, -43, 33, 16, -50, 7, -4, -14, -41, -35, -33],
        ),
    ] {
        let Some(ecg) = read(&format!("philips_xml/{name}"), FileFormat::PhilipsXml) else {
            return;
        };
        assert_eq!(ecg.fs_hz, 500.0, "{name}");
        assert_eq!(ecg.n_samples(), 5500, "{name}");
        check_lead(&ecg, I, 5e-3, first, Some(at), Some(sum));
        let at_2750: Vec<i64> = order.iter().map(|l| raw(&ecg, l, 5e-3)[2750]).collect();
        assert_eq!(at_2750, all, "{name}: 12 leads at sample 2750");
        assert_eq!(ecg.meta.derived_leads, vec![III, AVR, AVL, AVF]);
        if name.contains("repbeats") {
            assert!(ecg.meta.median_beats.is_some(), "{name}: repbeats");
        }
    }
}

#[test]
fn scp_ecg_reads_the_reference_values() {
    use LeadName::*;
    let unit = 3.75e-3; // 3750 nV
    for (name, leads, first, at, sum) in [
        (
            "welchallyn_ECG_20060620_112352_ANON000002.SCP",
            vec![
                I,
                II,
                Other("V3R".into()),
                V1,
                V2,
                V4,
                V6,
                Other("V7".into()),
            ],
            [19, 22, 25],
            [-8, -7, -7],
            25399,
        ),
        (
            "welchallyn_ECG_20070321_110542_ANON000004.SCP",
            vec![I, II, V1, V2, V3, V4, V5, V6],
            [5, 6, 7],
            [16, 16, 16],
            65977,
        ),
    ] {
        let Some(ecg) = read(&format!("scp_ecg/{name}"), FileFormat::ScpEcg) else {
            return;
        };
        assert!((ecg.fs_hz - 1e6 / 1667.0).abs() < 1e-9, "{}", ecg.fs_hz);
        assert_eq!(ecg.n_samples(), 6000);
        let stored: Vec<LeadName> = ecg
            .leads
            .iter()
            .filter(|l| !ecg.meta.derived_leads.contains(l))
            .cloned()
            .collect();
        assert_eq!(stored, leads, "{name}");
        assert_eq!(ecg.meta.derived_leads, vec![III, AVR, AVL, AVF]);
        check_lead(&ecg, I, unit, first, Some(at), Some(sum));
    }
}

#[test]
fn a_noncompliant_scp_file_is_refused_naming_the_section_and_cause() {
    let Some(path) = file("scp_ecg/noncompliant/healforce_62.SCP") else {
        return;
    };
    assert_eq!(formats::detect(&path).unwrap(), Some(FileFormat::ScpEcg));
    let err = formats::read_file(&path).unwrap_err();
    let IoError::Section {
        section, message, ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(section, "file header");
    assert!(
        message.contains("1928331264") && message.contains("32768"),
        "{message}"
    );
    assert!(err.to_string().contains("healforce_62.SCP"), "{err}");
}

#[test]
fn edf_plus_reads_the_ecg_channel_by_label() {
    let Some(ecg) = read("edf/wfdb_test_generator_2.edf", FileFormat::Edf) else {
        return;
    };
    assert_eq!(ecg.leads, vec![LeadName::Other("ECG".into())]);
    assert_eq!(ecg.fs_hz, 200.0);
    assert_eq!(ecg.n_samples(), 120000);
    // back to the stored integers: d = (uV + 1000) * 65535 / 2000 - 32768
    let digital: Vec<i64> = ecg
        .samples_mv
        .row(0)
        .iter()
        .map(|&mv| ((mv as f64 * 1000.0 + 1000.0) * 65535.0 / 2000.0 - 32768.0).round() as i64)
        .collect();
    let first = digital.iter().position(|&d| d != 0).unwrap();
    assert_eq!(first, 5);
    assert_eq!(digital[5..8], [1029, 1613, 1907]);
    assert_eq!(*digital.iter().min().unwrap(), -568);
    assert_eq!(*digital.iter().max().unwrap(), 2014);
    assert_eq!(digital.iter().sum::<i64>(), 21000);
    // the other ten signals (not the EDF Annotations) are kept beside the lead, in their own
    // units (0xB0 in the file: Latin-1's degree sign), with one note; reference values
    // computed from the file's bytes with an independent Python reading of the EDF layout
    let names: Vec<&str> = ecg.other_signals.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names.len(), 10, "{names:?}");
    assert!(!names.contains(&"ECG") && !names.iter().any(|n| n.contains("Annotations")));
    let by_name = |name: &str| {
        ecg.other_signals
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("{name} in {names:?}"))
    };
    let close = |a: f32, b: f64| (f64::from(a) - b).abs() < 1e-3;
    for (name, units, first) in [
        ("squarewave", "uV", [99.9924, 99.9924, 99.9924]),
        ("sine 1 Hz", "uV", [3.1281, 6.2715, 9.4148]),
        ("sine 15 Hz", "\u{b0}", [45.3956, 80.8881, 98.7716]),
    ] {
        let s = by_name(name);
        assert_eq!((s.units.as_str(), s.fs_hz, s.start_s), (units, 200.0, 0.0));
        assert_eq!(s.values().len(), 120000);
        assert!(
            s.values().iter().zip(first).all(|(&v, r)| close(v, r)),
            "{name}: {:?}",
            &s.values()[..3]
        );
        let (lo, hi) = s.value_range().unwrap();
        assert!(
            close(lo, -99.9619) && close(hi, 99.9924),
            "{name}: {lo} {hi}"
        );
        let sum: f64 = s.values().iter().map(|&v| f64::from(v)).sum();
        assert!((sum - 1831.083).abs() < 0.05, "{name}: sum {sum}");
    }
    assert!(
        ecg.meta
            .reader_notes
            .iter()
            .any(|n| n.starts_with("10 signal(s) not ECG leads")),
        "{:?}",
        ecg.meta.reader_notes
    );
    // read whole from memory the same as by window from the file
    let bytes = std::fs::read(ecg.meta.source.as_ref().unwrap()).unwrap();
    let in_memory = formats::read_bytes(ecg.meta.source.as_ref().unwrap(), &bytes).unwrap();
    assert_eq!(in_memory.other_signals, ecg.other_signals);
}

#[test]
fn ishne_holter_reads_the_reference_values() {
    let Some(ecg) = read("ishne/ECG_P28.01.ecg", FileFormat::Ishne) else {
        return;
    };
    assert_eq!(ecg.leads, LeadName::standard_12());
    assert_eq!(ecg.fs_hz, 1000.0);
    assert_eq!(ecg.n_samples(), 95573);
    assert!(ecg.meta.derived_leads.is_empty());
    check_lead(&ecg, LeadName::I, 5e-3, [3, 2, 2], Some([2, 5, 5]), None);
    check_lead(&ecg, LeadName::II, 5e-3, [8, 7, 8], None, None);
}

#[test]
fn a_folder_of_mixed_files_opens_as_one_data_set() {
    let Some(root) = file("") else {
        return;
    };
    let ds = open_dataset(&root).unwrap();
    // 13 ECG files (the README and ISHNE's .ann are not records)
    assert_eq!(ds.len(), 13, "{}", ds.name());
    let mut with_age = 0;
    for i in 0..ds.len() {
        let id = ds.entry(i).unwrap().id.clone();
        if id.contains("healforce") {
            continue;
        }
        let ecg = ds.load(i).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert!(ecg.n_samples() > 0);
        // The browser's columns: the index entry carries the file's age, sex and report.
        let entry = ds.entry(i).unwrap();
        assert_eq!(entry.age_years, ecg.meta.age_years, "{id}");
        assert_eq!(entry.sex, ecg.meta.sex, "{id}");
        assert_eq!(entry.report, ecg.meta.report, "{id}");
        with_age += usize::from(entry.age_years.is_some());
    }
    // At least some of these real files carry an age (the README's reference values).
    assert!(
        with_age > 0,
        "no device file gave an age to its index entry"
    );
}

#[test]
fn broken_files_name_the_file_the_part_and_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.xml");
    std::fs::write(
        &path,
        "<RestingECG><Waveform><WaveformType>Rhythm</WaveformType><SampleBase>500</SampleBase>\
         <LeadData><LeadID>I</LeadID><LeadAmplitudeUnitsPerBit>4.88</LeadAmplitudeUnitsPerBit>\
         <LeadSampleCountTotal>5000</LeadSampleCountTotal><WaveFormData>AQABAA==</WaveFormData>\
         </LeadData></Waveform></RestingECG>",
    )
    .unwrap();
    let err = formats::read_file(&path).unwrap_err();
    assert!(matches!(err, IoError::Section { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("cut.xml") && text.contains("lead I") && text.contains("5000"),
        "{text}"
    );
}

/// Mutations of real files: the readers return a value or an error, never panic, never hang,
/// and never make one allocation much larger than the file (a size read from a corrupted
/// header must be checked against the bytes there before allocating).
mod mutation {
    use super::*;
    use crate::common::mutation::{Edit, edits, mutate};
    use proptest::prelude::*;
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;
    use std::path::Path;
    use std::sync::LazyLock;

    struct Tracking;

    thread_local! {
        static LARGEST: Cell<Option<usize>> = const { Cell::new(None) };
    }

    // SAFETY: forwards every call to the system allocator unchanged; it only records the
    // largest request size in a thread-local cell, which does not allocate.
    unsafe impl GlobalAlloc for Tracking {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let _ = LARGEST.try_with(|l| {
                if let Some(m) = l.get() {
                    l.set(Some(m.max(layout.size())));
                }
            });
            // SAFETY: the caller's layout contract is passed on as is.
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: `ptr` came from `System.alloc` with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let _ = LARGEST.try_with(|l| {
                if let Some(m) = l.get() {
                    l.set(Some(m.max(new_size)));
                }
            });
            // SAFETY: as for `alloc` and `dealloc`: the caller's contract is passed on.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static ALLOCATOR: Tracking = Tracking;

    fn bytes(sub: &str) -> Option<Vec<u8>> {
        // reads fail loudly in CI through `common::data`, skip elsewhere
        file(sub).and_then(|p| std::fs::read(p).ok())
    }

    /// One real file per parser, read once.
    static FILES: LazyLock<Vec<(&'static str, Vec<u8>)>> = LazyLock::new(|| {
        [
            "dicom/pydicom_waveform_ecg.dcm",
            "hl7_aecg/liryc_hl7aecg_example.xml",
            "ge_muse_xml/easyRecg_muse_ecg1.xml",
            "philips_xml/sierra_1_03_129DYPRG.xml",
            "scp_ecg/welchallyn_ECG_20070321_110542_ANON000004.SCP",
            "edf/wfdb_test_generator_2.edf",
            "ishne/ECG_P28.01.ecg",
        ]
        .into_iter()
        .filter_map(|sub| bytes(sub).map(|b| (sub, b)))
        .collect()
    });

    /// CRC-CCITT as SCP-ECG uses it (polynomial 0x1021, initial 0xFFFF).
    fn crc_ccitt(bytes: &[u8]) -> u16 {
        let mut crc: u16 = 0xFFFF;
        for &b in bytes {
            crc ^= (b as u16) << 8;
            for _ in 0..8 {
                crc = if crc & 0x8000 != 0 {
                    (crc << 1) ^ 0x1021
                } else {
                    crc << 1
                };
            }
        }
        crc
    }

    /// Make an edited SCP-ECG file's length field and CRCs right again: each section that
    /// section 0 points to (where it lies inside the file), then the file.
    fn fix_scp_crcs(b: &mut [u8]) {
        let u32_at = |b: &[u8], at: usize| {
            b.get(at..at + 4)
                .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize)
        };
        if b.len() < 6 {
            return;
        }
        let n = b.len() as u32;
        b[2..6].copy_from_slice(&n.to_le_bytes());
        let fix = |b: &mut [u8], start: usize, len: usize| {
            if len >= 2 && start + len <= b.len() {
                let crc = crc_ccitt(&b[start + 2..start + len]);
                b[start..start + 2].copy_from_slice(&crc.to_le_bytes());
            }
        };
        let pointers: Vec<(usize, usize)> = match u32_at(b, 10) {
            Some(len0) if len0 >= 16 && 6 + len0 <= b.len() => b[6 + 16..6 + len0]
                .chunks_exact(10)
                .filter_map(|e| {
                    let len = u32_at(e, 2)?;
                    let index = u32_at(e, 6)?;
                    (len > 0 && index > 0).then(|| (index - 1, len))
                })
                .collect(),
            _ => Vec::new(),
        };
        for (start, len) in pointers.into_iter().filter(|p| p.0 != 6) {
            fix(b, start, len);
        }
        if let Some(len0) = u32_at(b, 10) {
            fix(b, 6, len0);
        }
        let crc = crc_ccitt(&b[2..]);
        b[0..2].copy_from_slice(&crc.to_le_bytes());
    }

    #[test]
    fn fixing_the_crcs_of_an_unchanged_scp_file_changes_nothing() {
        let Some((_, original)) = FILES.iter().find(|(n, _)| n.starts_with("scp_ecg/")) else {
            return;
        };
        let mut copy = original.clone();
        fix_scp_crcs(&mut copy);
        assert!(copy == *original);
    }

    /// Largest single allocation while `f` runs on this thread.
    fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
        LARGEST.with(|l| l.set(Some(0)));
        let out = f();
        let largest = LARGEST.with(|l| l.replace(None)).unwrap_or(0);
        (out, largest)
    }

    /// Read a mutated copy of the file whose path starts with `prefix`: a value or an error,
    /// no panic (proptest reports one), within a few seconds, and no allocation much larger
    /// than the file.
    fn read_mutated(prefix: &str, edits: &[Edit]) -> Result<(), TestCaseError> {
        let Some((name, original)) = FILES.iter().find(|(n, _)| n.starts_with(prefix)) else {
            return Ok(()); // data not here (outside CI)
        };
        let mutated = mutate(original, edits);
        let started = std::time::Instant::now();
        let (_result, largest) =
            largest_allocation(|| formats::read_bytes(Path::new(name), &mutated));
        let elapsed = started.elapsed();
        prop_assert!(
            elapsed < std::time::Duration::from_secs(5),
            "{name}: {elapsed:?} for a {}-byte file",
            mutated.len()
        );
        // decoded samples are f32 (twice an int16) and LZW expands a few times: a generous
        // bound that a size taken unchecked from a header (GBs) breaks
        let bound = 64 * mutated.len() + (1 << 20);
        prop_assert!(
            largest <= bound,
            "{name}: an allocation of {largest} bytes for a {}-byte file",
            mutated.len()
        );
        Ok(())
    }

    proptest! {
        // 48 cases a parser take well under a second (600 each were run once: 3 s, all passed)
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        #[test]
        fn mutated_dicom(e in edits()) { read_mutated("dicom/", &e)?; }

        #[test]
        fn mutated_hl7_aecg(e in edits()) { read_mutated("hl7_aecg/", &e)?; }

        #[test]
        fn mutated_ge_muse(e in edits()) { read_mutated("ge_muse_xml/", &e)?; }

        #[test]
        fn mutated_philips_xli(e in edits()) { read_mutated("philips_xml/", &e)?; }

        #[test]
        fn mutated_scp_ecg(e in edits()) { read_mutated("scp_ecg/", &e)?; }

        #[test]
        fn mutated_scp_ecg_behind_valid_crcs(e in edits()) {
            // CRCs recomputed after the edits, so the mutations reach the sections' content
            let Some((name, original)) = FILES.iter().find(|(n, _)| n.starts_with("scp_ecg/")) else {
                return Ok(());
            };
            let mut mutated = mutate(original, &e);
            fix_scp_crcs(&mut mutated);
            let started = std::time::Instant::now();
            let (_result, largest) =
                largest_allocation(|| formats::read_bytes(Path::new(name), &mutated));
            prop_assert!(started.elapsed() < std::time::Duration::from_secs(5));
            prop_assert!(largest <= 64 * mutated.len() + (1 << 20), "{largest} bytes");
        }

        #[test]
        fn mutated_edf(e in edits()) { read_mutated("edf/", &e)?; }

        #[test]
        fn mutated_ishne(e in edits()) { read_mutated("ishne/", &e)?; }
    }
}

#[test]
fn info_describes_a_device_file_without_the_patient() {
    use tlc_explorer::cli::info::describe;
    let Some(path) = file("ge_muse_xml/easyRecg_muse_ecg1.xml") else {
        return;
    };
    let text = describe(&path, &Default::default()).unwrap();
    for part in [
        "format:    GE MUSE XML",
        "device:    MAC55",
        "derived:   III, aVR, aVL, aVF",
        "medians:   12 leads x 600 samples at 500 Hz",
        "QRSDuration 78 ms",
    ] {
        assert!(text.contains(part), "{part} missing in\n{text}");
    }
    // the patient fields the file holds are never printed
    assert!(
        !text.contains("JAX01234") && !text.contains("TEST 05"),
        "{text}"
    );
}

#[test]
fn wfdb_records_and_device_files_in_one_folder_are_one_data_set_detected_by_content() {
    let (Some(mitdb), Some(muse), Some(scp)) = (
        common::data("mitdb"),
        file("ge_muse_xml/easyRecg_muse_ecg1.xml"),
        file("scp_ecg/welchallyn_ECG_20070321_110542_ANON000004.SCP"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for part in ["100.hea", "100.dat"] {
        std::fs::copy(mitdb.join(part), dir.path().join(part)).unwrap();
    }
    std::fs::copy(&muse, dir.path().join("muse.xml")).unwrap();
    // no extension: found by its content
    std::fs::copy(&scp, dir.path().join("cart_export")).unwrap();
    let ds = open_dataset(dir.path()).unwrap();
    assert_eq!(ds.len(), 3, "{}", ds.name());
    let ids: Vec<String> = (0..ds.len())
        .map(|i| ds.entry(i).unwrap().id.clone())
        .collect();
    assert_eq!(ids, ["100", "cart_export", "muse"]);
    let scp_ecg = ds.load(1).unwrap();
    assert_eq!(scp_ecg.n_samples(), 6000);
    assert_eq!(ds.load(2).unwrap().meta.derived_leads.len(), 4);
    // the single file too, whatever its name
    let one = open_dataset(&dir.path().join("cart_export")).unwrap();
    assert_eq!(one.len(), 1);
}

/// A long 2-lead record written by `tlc synth --holter` as EDF and as ISHNE reads back with the
/// values written (to the formats' 1 µV quantisation), whole and by window, and its overview
/// from the file equals the one of the record in memory.
#[test]
fn holter_files_written_by_synth_read_back_whole_and_by_window() {
    use tlc_explorer::dsp::overview::MinMaxOverview;
    use tlc_explorer::synth::SynthParams;
    use tlc_explorer::synth::long::{HolterFormat, LongSynthetic};
    let params = SynthParams {
        n_records: 1,
        fs_hz: 200.0,
        duration_s: 20.0,
        ..Default::default()
    };
    let duration_s = 600.0;
    let long = LongSynthetic::with_leads(&params, &[LeadName::II, LeadName::V5], duration_s)
        .expect("a long synthetic record");
    let dir = tempfile::tempdir().unwrap();
    for (format, name) in [(HolterFormat::Edf, "h.edf"), (HolterFormat::Ishne, "h.ecg")] {
        let path = dir.path().join(name);
        long.write(&path, format, false).expect("written");
        assert!(
            long.write(&path, format, false).is_err(),
            "no silent overwrite"
        );
        let ds = open_dataset(&path).expect("opens");
        let ecg = ds.load(0).expect("reads");
        assert_eq!(ecg.leads, vec![LeadName::II, LeadName::V5], "{name}");
        assert_eq!(ecg.fs_hz, 200.0);
        assert_eq!(ecg.n_samples(), long.n_samples, "{name}");
        assert!(ecg.meta.derived_leads.is_empty());
        let written = long.window(0..long.n_samples);
        for (k, row) in written.iter().enumerate() {
            let read = ecg.samples_mv.row(k);
            let worst = row
                .iter()
                .zip(read.iter())
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(worst <= 0.5e-3 + 1e-6, "{name} lead {k}: off by {worst} mV");
        }
        let file = formats::WindowedFile::open(&path).expect("header");
        assert_eq!(file.n_samples(), long.n_samples);
        assert_eq!(file.duration_s(), duration_s);
        // a window that starts and ends inside EDF data records
        let window = file.read_window(12_345..23_456).expect("window");
        assert_eq!(
            window.samples_mv,
            ecg.samples_mv.slice(ndarray::s![.., 12_345..23_456]),
            "{name}"
        );
        let overview = file.overview(1000).expect("overview");
        assert_eq!(
            overview,
            MinMaxOverview::of_rows(ecg.samples_mv.view(), 1000),
            "{name}"
        );
    }
}
