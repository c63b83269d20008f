//! WFDB completeness (issue 17): format 311 tails, gain 0, missing samples, skew, format 8,
//! multi-frequency, non-voltage channels, annotation preambles, multi-segment records, FLAC,
//! `D3`. Every record is built here byte by byte with values known in advance (the same records
//! were read with wfdb-python 4.3 while writing these tests and gave the same values); the
//! parsers' proptests are at the end.

mod common;

use std::path::{Path, PathBuf};

use tlc_explorer::io::annotation::{self, Annotation};
use tlc_explorer::io::wfdb;
use tlc_explorer::record::LeadName;

/// Write `NAME.hea` with `header` and the given signal files into `dir`; the header's path.
fn write_files(dir: &Path, name: &str, header: &str, files: &[(&str, Vec<u8>)]) -> PathBuf {
    for (file, bytes) in files {
        std::fs::write(dir.join(file), bytes).unwrap();
    }
    let hea = dir.join(format!("{name}.hea"));
    std::fs::write(&hea, header).unwrap();
    hea
}

fn format16(frames: &[&[i16]]) -> Vec<u8> {
    frames
        .iter()
        .flat_map(|f| f.iter().flat_map(|v| v.to_le_bytes()))
        .collect()
}

/// Format 311: three 10-bit samples per little-endian 32-bit word (bits 0-9, 10-19, 20-29); a
/// last partial word is cut after the byte its last sample reaches, as WFDB writes it.
fn format311(samples: &[i32]) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in samples.chunks(3) {
        let mut w = 0u32;
        for (k, &v) in chunk.iter().enumerate() {
            w |= ((v as u32) & 0x3ff) << (10 * k);
        }
        let bytes = w.to_le_bytes();
        let used = match chunk.len() {
            3 => 4,
            2 => 3,
            _ => 2,
        };
        out.extend_from_slice(&bytes[..used]);
    }
    out
}

fn checksum(values: &[i32]) -> i16 {
    (values.iter().map(|&v| v as i64).sum::<i64>() & 0xffff) as u16 as i16
}

/// A signal line: `spec` is `file format gain bits`; ADC zero 0, the first value as initial
/// value, the values' checksum, block size 0, then the description.
fn sig(spec: &str, values: &[i32], name: &str) -> String {
    format!(
        "{spec} 0 {} {} 0 {name}\n",
        values.first().copied().unwrap_or(0),
        checksum(values)
    )
}

fn mv(ecg: &tlc_explorer::record::Ecg, lead: usize) -> Vec<f32> {
    ecg.samples_mv.row(lead).to_vec()
}

/// Two signal files of different lengths and no sample count in the header: neither can be
/// taken as whole, whichever comes first (the shorter lead used to be padded with zeros, or
/// the reader panicked on an index out of bounds).
#[test]
fn signal_files_of_different_lengths_without_a_sample_count_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let long: Vec<i32> = (0..1000).map(|i| i % 50).collect();
    let short: Vec<i32> = (0..600).map(|i| i % 40).collect();
    let bytes = |v: &[i32]| {
        v.iter()
            .flat_map(|&x| (x as i16).to_le_bytes())
            .collect::<Vec<u8>>()
    };
    for (name, first, second) in [
        ("longfirst", "a.dat", "b.dat"),
        ("shortfirst", "b.dat", "a.dat"),
    ] {
        let values = |f: &str| if f == "a.dat" { &long } else { &short };
        let header = format!(
            "{name} 2 500\n{}{}",
            sig(&format!("{first} 16 200 16"), values(first), "I"),
            sig(&format!("{second} 16 200 16"), values(second), "II")
        );
        let hea = write_files(
            tmp.path(),
            name,
            &header,
            &[("a.dat", bytes(&long)), ("b.dat", bytes(&short))],
        );
        let err = tlc_explorer::io::read_record(&hea).unwrap_err().to_string();
        assert!(
            err.contains("1000") && err.contains("600") && err.contains("no sample count"),
            "{err}"
        );
    }
}

#[test]
fn format_311_reads_samples_in_a_partial_last_word() {
    let tmp = tempfile::tempdir().unwrap();
    // 4 and 5 samples: the last word holds 1 (2 bytes) or 2 (3 bytes) samples
    for samples in [vec![1, -2, 511, -511], vec![100, -100, 7, -512 + 1, 300]] {
        let n = samples.len();
        let dat = format311(&samples);
        assert_eq!(dat.len(), 4 + if n == 4 { 2 } else { 3 });
        let header = format!(
            "r311 1 360 {n}\nr311.dat 311 100/mV 10 0 {} {} 0 II\n",
            samples[0],
            checksum(&samples)
        );
        let hea = write_files(tmp.path(), "r311", &header, &[("r311.dat", dat)]);
        let (_, adc) = wfdb::read_adc(&hea).unwrap();
        assert_eq!(adc[0], samples);
        let ecg = wfdb::read_record(&hea).unwrap();
        let expected: Vec<f32> = samples.iter().map(|&v| v as f32 / 100.0).collect();
        assert_eq!(mv(&ecg, 0), expected);
    }
    // one byte short of the last sample is still truncation
    let samples = [1, 2, 3, 4, 5];
    let mut dat = format311(&samples);
    dat.pop();
    let header = "t 1 360 5\nt.dat 311 100/mV 10 0 1 0 0 II\n";
    let hea = write_files(tmp.path(), "t", header, &[("t.dat", dat)]);
    let err = wfdb::read_record(&hea).unwrap_err().to_string();
    assert!(
        err.contains("truncated") && err.contains("holds 4"),
        "{err}"
    );
}

#[test]
fn gain_zero_is_read_with_200_per_mv_and_flagged() {
    let tmp = tempfile::tempdir().unwrap();
    let frames: Vec<[i16; 2]> = (0..20).map(|i| [i * 10 - 50, 400 - i * 3]).collect();
    let refs: Vec<&[i16]> = frames.iter().map(|f| f.as_slice()).collect();
    let col = |k: usize| frames.iter().map(|f| f[k] as i32).collect::<Vec<_>>();
    let header = format!(
        "g 2 500 20\n{}{}",
        sig("g.dat 16 0(10)/mV 16", &col(0), "V1"),
        sig("g.dat 16 400/mV 16", &col(1), "V2")
    );
    let hea = write_files(tmp.path(), "g", &header, &[("g.dat", format16(&refs))]);
    let ecg = wfdb::read_record(&hea).unwrap();
    assert_eq!(ecg.meta.uncalibrated_leads, vec![LeadName::V1]);
    for (j, f) in frames.iter().enumerate() {
        assert_eq!(
            ecg.samples_mv[[0, j]],
            ((f[0] as f64 - 10.0) / 200.0) as f32
        );
        assert_eq!(ecg.samples_mv[[1, j]], (f[1] as f64 / 400.0) as f32);
    }
    let record = wfdb::read_wfdb(&hea).unwrap();
    assert!(record.signals[0].uncalibrated && !record.signals[1].uncalibrated);
    let info = tlc_explorer::cli::info::describe(&hea, &Default::default()).unwrap();
    assert!(info.contains("uncalibrated: V1 "), "{info}");
}

#[test]
fn missing_sample_values_are_nan_per_format() {
    let tmp = tempfile::tempdir().unwrap();
    // format 16: -32768; 80: -128 (byte 0); 212: -2048; 24: -2^23; 311: -512
    let cases: Vec<(u16, Vec<u8>, i32)> = vec![
        (16, format16(&[&[5], &[-32768], &[7]]), -32768),
        (80, vec![133, 0, 135], -128),
        // 212: samples 5, -2048 in 3 bytes, then 7 in a trailing 2-byte group
        (212, vec![5, 0x80, 0x00, 7, 0], -2048),
        (24, vec![5, 0, 0, 0, 0, 0x80, 7, 0, 0], -(1 << 23)),
        (311, format311(&[5, -512, 7]), -512),
        (
            310,
            {
                // 310: s0 in bits 1-10 of w0, s1 in bits 1-10 of w1, s2 split over bits 11-15
                let (s0, s1, s2) = (5u32, (-512i32 as u32) & 0x3ff, 7u32);
                let w0 = ((s0 << 1) | ((s2 & 0x1f) << 11)) as u16;
                let w1 = ((s1 << 1) | ((s2 >> 5) << 11)) as u16;
                [w0.to_le_bytes(), w1.to_le_bytes()].concat()
            },
            -512,
        ),
    ];
    let missing_at = 1;
    for (format, dat, marker) in cases {
        let header = format!(
            "m 1 100 3\n{}",
            sig(&format!("m.dat {format} 10/mV 0"), &[5, marker, 7], "II")
        );
        let hea = write_files(tmp.path(), "m", &header, &[("m.dat", dat)]);
        let record = wfdb::read_wfdb(&hea).unwrap();
        let v = &record.signals[0].values;
        assert_eq!(v.len(), 3, "format {format}");
        assert!(v[missing_at].is_nan(), "format {format}: {v:?}");
        assert_eq!((v[0], v[2]), (0.5, 0.7), "format {format}");
        // a gap inside the record stays missing (NaN) at its exact place, said in the notes
        let ecg = wfdb::read_record(&hea).unwrap();
        let row: Vec<f32> = ecg.samples_mv.row(0).to_vec();
        assert!(row[missing_at].is_nan(), "format {format}: {row:?}");
        assert_eq!((row[0], row[2]), (0.5, 0.7), "format {format}");
        assert!(ecg.has_gaps());
        let notes = ecg.meta.reader_notes.join(" ");
        assert!(
            notes.contains("lead II has 1 missing") && notes.contains("samples 1..2"),
            "format {format}: {notes}"
        );
    }
}

#[test]
fn edge_gaps_are_trimmed_with_a_note_and_all_missing_leads_left_out() {
    let tmp = tempfile::tempdir().unwrap();
    let m = i16::MIN;
    // lead I missing in the first frame, lead II in the last two; lead III has no data at all
    let frames: [&[i16]; 6] = [
        &[m, 10, m],
        &[1, 11, m],
        &[2, 12, m],
        &[3, 13, m],
        &[4, m, m],
        &[5, m, m],
    ];
    let col = |k: usize| frames.iter().map(|f| f[k] as i32).collect::<Vec<_>>();
    let header = format!(
        "e 3 100 6\n{}{}{}",
        sig("e.dat 16 1/mV 16", &col(0), "I"),
        sig("e.dat 16 1/mV 16", &col(1), "II"),
        sig("e.dat 16 1/mV 16", &col(2), "III")
    );
    let hea = write_files(tmp.path(), "e", &header, &[("e.dat", format16(&frames))]);
    let ecg = wfdb::read_record(&hea).unwrap();
    assert_eq!(ecg.leads, vec![LeadName::I, LeadName::II]);
    assert_eq!(mv(&ecg, 0), vec![1.0, 2.0, 3.0]);
    assert_eq!(mv(&ecg, 1), vec![11.0, 12.0, 13.0]);
    let notes = ecg.meta.reader_notes.join(" | ");
    assert!(
        notes.contains("signal 2 (III) left out: every sample is missing"),
        "{notes}"
    );
    assert!(
        notes.contains("1 leading and 2 trailing samples left out"),
        "{notes}"
    );
}

#[test]
fn a_non_voltage_signal_keeps_its_time_when_the_leads_are_trimmed() {
    let tmp = tempfile::tempdir().unwrap();
    let m = i16::MIN;
    // lead I has no data in the first two frames; the ABP has data throughout, and a gap
    let frames: [&[i16]; 5] = [&[m, 800], &[m, 810], &[1, m], &[2, 830], &[3, 840]];
    let col = |k: usize| frames.iter().map(|f| f[k] as i32).collect::<Vec<_>>();
    let header = format!(
        "a 2 100 5\n{}{}",
        sig("a.dat 16 1/mV 16", &col(0), "I"),
        sig("a.dat 16 10/mmHg 16", &col(1), "ABP")
    );
    let hea = write_files(tmp.path(), "a", &header, &[("a.dat", format16(&frames))]);
    let ecg = wfdb::read_record(&hea).unwrap();
    assert_eq!(mv(&ecg, 0), vec![1.0, 2.0, 3.0]);
    let abp = &ecg.other_signals[0];
    assert_eq!(abp.label(), "ABP (mmHg)");
    // its first value is two lead samples before the leads' first: -20 ms on their axis
    assert!((abp.start_s + 0.02).abs() < 1e-12, "{}", abp.start_s);
    assert_eq!(abp.values().len(), 5);
    assert!(abp.values()[2].is_nan());
    assert_eq!((abp.values()[0], abp.values()[4]), (80.0, 84.0));
    assert_eq!(abp.value_range(), Some((80.0, 84.0)));
    // the model and the delineator see the lead only
    assert_eq!(ecg.leads, vec![LeadName::I]);
}

#[test]
fn skew_shifts_a_signal_as_wfdb_python_does() {
    let tmp = tempfile::tempdir().unwrap();
    // signal 1 has skew 2: its sample t is in frame t + 2; its last 2 samples have no data
    let col0: Vec<i32> = (0..8).map(|i| i * 10).collect();
    let col1: Vec<i32> = (0..8).map(|i| 100 + i).collect();
    let frames: Vec<[i16; 2]> = (0..8).map(|i| [col0[i] as i16, col1[i] as i16]).collect();
    let refs: Vec<&[i16]> = frames.iter().map(|f| f.as_slice()).collect();
    let header = format!(
        "s 2 100 8\ns.dat 16 1/mV 16 0 0 {} 0 I\ns.dat 16:2 1/mV 16 0 102 {} 0 II\n",
        checksum(&col0),
        checksum(&col1)
    );
    let hea = write_files(tmp.path(), "s", &header, &[("s.dat", format16(&refs))]);
    let record = wfdb::read_wfdb(&hea).unwrap();
    let s1 = &record.signals[1].values;
    assert_eq!(&s1[..6], &[102.0, 103.0, 104.0, 105.0, 106.0, 107.0]);
    assert!(s1[6].is_nan() && s1[7].is_nan());
    assert_eq!(record.signals[0].values[7], 70.0);
    // the ECG keeps the 6 frames where both leads have data
    let ecg = wfdb::read_record(&hea).unwrap();
    assert_eq!(ecg.n_samples(), 6);
    assert_eq!(mv(&ecg, 1)[0], 102.0);
    assert!(ecg.meta.reader_notes[0].contains("0 leading and 2 trailing"));
}

#[test]
fn format_8_first_differences_sum_from_the_initial_value() {
    let tmp = tempfile::tempdir().unwrap();
    // two signals multiplexed, initial values 1000 and -5
    let d0: [i8; 5] = [3, -1, 127, -128, 0];
    let d1: [i8; 5] = [-5, 10, 10, -20, 1];
    let dat: Vec<u8> = d0
        .iter()
        .zip(&d1)
        .flat_map(|(a, b)| [*a as u8, *b as u8])
        .collect();
    // checksums of the summed samples: 5136 and -19
    let header = "d 2 250 5\nd.dat 8 100/mV 8 0 1000 5136 0 I\nd.dat 8 100/mV 8 0 -5 -19 0 II\n";
    let hea = write_files(tmp.path(), "d", header, &[("d.dat", dat)]);
    let (_, adc) = wfdb::read_adc(&hea).unwrap();
    assert_eq!(adc[0], vec![1003, 1002, 1129, 1001, 1001]);
    assert_eq!(adc[1], vec![-10, 0, 10, -10, -9]);
    assert_eq!((checksum(&adc[0]), checksum(&adc[1])), (5136, -19));
    let ecg = wfdb::read_record(&hea).unwrap();
    assert_eq!(mv(&ecg, 1), vec![-0.1, 0.0, 0.1, -0.1, -0.09]);
}

#[test]
fn multi_frequency_leads_at_one_rate_keep_every_sample() {
    let tmp = tempfile::tempdir().unwrap();
    // frame rate 125 Hz, both ECG leads 4 samples per frame (500 Hz), a PLETH at 1 per frame
    let n_frames = 3;
    let mut dat = Vec::new();
    let mut expected = [Vec::new(), Vec::new()];
    let mut adc = [Vec::new(), Vec::new(), Vec::new()];
    for f in 0..n_frames {
        for lead in 0..2 {
            for k in 0..4 {
                let v = (lead * 1000 + f * 4 + k) as i16;
                dat.extend_from_slice(&v.to_le_bytes());
                expected[lead].push(v as f32 / 1000.0);
                adc[lead].push(v as i32);
            }
        }
        dat.extend_from_slice(&(50i16 + f as i16).to_le_bytes());
        adc[2].push(50 + f as i32);
    }
    let header = format!(
        "f 3 125 3\n{}{}{}",
        sig("f.dat 16x4 1000/mV 16", &adc[0], "I"),
        sig("f.dat 16x4 1000/mV 16", &adc[1], "II"),
        sig("f.dat 16 10/NU 16", &adc[2], "PLETH")
    );
    let hea = write_files(tmp.path(), "f", &header, &[("f.dat", dat)]);
    let record = wfdb::read_wfdb(&hea).unwrap();
    assert_eq!(record.signals[0].fs_hz, 500.0);
    assert_eq!(record.signals[2].fs_hz, 125.0);
    assert_eq!(record.signals[2].values, vec![5.0, 5.1, 5.2]);
    let ecg = wfdb::read_record(&hea).unwrap();
    assert_eq!((ecg.fs_hz, ecg.n_samples()), (500.0, 12));
    assert_eq!(mv(&ecg, 0), expected[0]);
    assert_eq!(mv(&ecg, 1), expected[1]);
    // the PLETH is not a lead: kept beside the leads at its own rate, with a note
    assert_eq!(ecg.leads, vec![LeadName::I, LeadName::II]);
    assert!(
        ecg.meta.reader_notes[0].contains("signal 2 (PLETH, NU) is not a voltage: shown"),
        "{:?}",
        ecg.meta.reader_notes
    );
    assert_eq!(ecg.other_signals.len(), 1);
    let pleth = &ecg.other_signals[0];
    assert_eq!((pleth.name.as_str(), pleth.units.as_str()), ("PLETH", "NU"));
    assert_eq!((pleth.fs_hz, pleth.start_s), (125.0, 0.0));
    assert_eq!(pleth.values(), [5.0, 5.1, 5.2]);
    assert_eq!(pleth.label(), "PLETH (NU)");
    assert_eq!(pleth.time_s(2), 0.016);
    assert_eq!(pleth.value_range(), Some((5.0, 5.2)));
}

#[test]
fn a_record_of_only_non_voltage_signals_is_refused_naming_them() {
    let tmp = tempfile::tempdir().unwrap();
    let header = format!("p 1 125 2\n{}", sig("p.dat 16 10/mmHg 16", &[1, 2], "ABP"));
    let hea = write_files(
        tmp.path(),
        "p",
        &header,
        &[("p.dat", format16(&[&[1], &[2]]))],
    );
    let err = wfdb::read_record(&hea).unwrap_err().to_string();
    assert!(
        err.contains("no ECG signal") && err.contains("ABP, mmHg"),
        "{err}"
    );
}

fn note(sample: u64, text: &str) -> Annotation {
    let mut a = Annotation::new(sample, "\"").unwrap();
    a.aux = Some(text.to_string());
    a
}

#[test]
fn annotation_preamble_is_metadata_and_time_resolution_is_applied() {
    let tmp = tempfile::tempdir().unwrap();
    let mut custom = Annotation::new(2000, "[42]").unwrap();
    custom.chan = 1;
    let entries = vec![
        note(0, "## time resolution: 1000"),
        note(0, "## annotation type definitions"),
        note(0, "42 Z a custom beat"),
        note(0, "## end of definitions"),
        note(0, "recorded by hand"),
        Annotation::new(1000, "N").unwrap(),
        Annotation::new(1500, "[0]").unwrap(), // code 0: not an annotation
        custom,
        note(3001, "a note later in the record stays"),
    ];
    let bytes = annotation::encode_annotations(&entries).unwrap();
    let file = annotation::parse_annotation_file(&bytes).unwrap();
    assert_eq!(file.time_resolution_hz, Some(1000.0));
    assert_eq!(file.custom_labels.len(), 1);
    assert_eq!(
        (
            file.custom_labels[0].code,
            file.custom_labels[0].symbol.as_str()
        ),
        (42, "Z")
    );
    assert_eq!(file.custom_labels[0].description, "a custom beat");
    let seen: Vec<(u64, &str)> = file
        .annotations
        .iter()
        .map(|a| (a.sample, a.symbol.as_str()))
        .collect();
    assert_eq!(seen, vec![(1000, "N"), (2000, "Z"), (3001, "\"")]);
    // beside a 500 Hz record the samples become its frames
    std::fs::write(tmp.path().join("r.atr"), &bytes).unwrap();
    std::fs::write(
        tmp.path().join("r.hea"),
        "r 1 500 4000\nr.dat 16 200 16 0 0 0 0 II\n",
    )
    .unwrap();
    let anns = annotation::read_annotations(&tmp.path().join("r.atr")).unwrap();
    let frames: Vec<u64> = anns.iter().map(|a| a.sample).collect();
    assert_eq!(frames, vec![500, 1000, 1501]);
    // without the record's header the conversion cannot be made: an error, not ticks as frames
    std::fs::write(tmp.path().join("lonely.atr"), &bytes).unwrap();
    let err = annotation::read_annotations(&tmp.path().join("lonely.atr"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("lonely.atr") && err.contains("1000 ticks/s"),
        "{err}"
    );
    // a definition table without its end is refused
    let bad = annotation::encode_annotations(&entries[..3]).unwrap();
    let err = annotation::parse_annotation_file(&bad).unwrap_err();
    assert!(err.contains("end of definitions"), "{err}");
}

#[test]
fn multi_segment_records_join_with_gaps_as_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // layout: I and II; segment a has both (gain 100), a 2-frame gap, segment b has II only
    // (gain 50), segment c has both again
    write_files(
        d,
        "ms_layout",
        "ms_layout 2 100 0\n~ 0 100/mV 16 0 0 0 0 I\n~ 0 100/mV 16 0 0 0 0 II\n",
        &[],
    );
    write_files(
        d,
        "ms_a",
        &format!(
            "ms_a 2 100 2\n{}{}",
            sig("ms_a.dat 16 100/mV 16", &[100, 300], "I"),
            sig("ms_a.dat 16 100/mV 16", &[200, 400], "II")
        ),
        &[("ms_a.dat", format16(&[&[100, 200], &[300, 400]]))],
    );
    write_files(
        d,
        "ms_b",
        &format!(
            "ms_b 1 100 3\n{}",
            sig("ms_b.dat 16 50/mV 16", &[50, 100, 150], "II")
        ),
        &[("ms_b.dat", format16(&[&[50], &[100], &[150]]))],
    );
    write_files(
        d,
        "ms_c",
        &format!(
            "ms_c 2 100 1\n{}{}",
            sig("ms_c.dat 16 100/mV 16", &[-100], "I"),
            sig("ms_c.dat 16 100/mV 16", &[-200], "II")
        ),
        &[("ms_c.dat", format16(&[&[-100, -200]]))],
    );
    let master = write_files(
        d,
        "ms",
        "ms/5 2 100 8\nms_layout 0\nms_a 2\n~ 2\nms_b 3\nms_c 1\n",
        &[],
    );
    let record = wfdb::read_wfdb(&master).unwrap();
    assert_eq!(record.n_frames, 8);
    let i = &record.signals[0].values;
    let ii = &record.signals[1].values;
    let nan = f32::NAN;
    let same = |a: &[f32], b: &[f32]| {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x == y || (x.is_nan() && y.is_nan()))
    };
    assert!(same(i, &[1.0, 3.0, nan, nan, nan, nan, nan, -1.0]), "{i:?}");
    assert!(
        same(ii, &[2.0, 4.0, nan, nan, 1.0, 2.0, 3.0, -2.0]),
        "{ii:?}"
    );
    // the gap is inside the record: kept as NaN at its exact place, said in the notes
    let ecg = wfdb::read_record(&master).unwrap();
    assert!(same(
        &mv(&ecg, 0),
        &[1.0, 3.0, nan, nan, nan, nan, nan, -1.0]
    ));
    assert!(same(
        &mv(&ecg, 1),
        &[2.0, 4.0, nan, nan, 1.0, 2.0, 3.0, -2.0]
    ));
    assert_eq!(ecg.gap_free_runs(), vec![0..2, 7..8]);
    let notes = ecg.meta.reader_notes.join(" ");
    assert!(
        notes.contains("lead I has 5 missing") && notes.contains("samples 2..7"),
        "{notes}"
    );
    // a fixed-layout record without gaps reads as one continuous ECG
    let master2 = write_files(d, "ms2", "ms2/2 2 100 3\nms_a 2\nms_c 1\n", &[]);
    let ecg = wfdb::read_record(&master2).unwrap();
    assert_eq!(ecg.meta.id, "ms2");
    assert_eq!(mv(&ecg, 0), vec![1.0, 3.0, -1.0]);
    assert_eq!(mv(&ecg, 1), vec![2.0, 4.0, -2.0]);
    // a segment whose length disagrees with the master header is refused, naming both
    let master3 = write_files(d, "ms3", "ms3/1 2 100 5\nms_a 5\n", &[]);
    let err = wfdb::read_record(&master3).unwrap_err().to_string();
    assert!(
        err.contains("ms_a.hea") && err.contains("holds 2") && err.contains("says 5"),
        "{err}"
    );
    // the folder lists the masters only, not their segments and layout as records of their own
    let set = tlc_explorer::io::open_dataset(d).unwrap();
    let ids: Vec<String> = (0..set.len())
        .map(|i| set.entry(i).unwrap().id.clone())
        .collect();
    assert_eq!(ids, ["ms", "ms2", "ms3"]);
    assert_eq!(mv(&set.load(1).unwrap(), 0), vec![1.0, 3.0, -1.0]);
    let info = tlc_explorer::cli::info::describe(&master, &Default::default());
    // (the record itself has a gap, read and described with its note)
    let info = info.unwrap();
    assert!(info.contains("samples 2..7"), "{info}");
    let info = tlc_explorer::cli::info::describe(&master2, &Default::default()).unwrap();
    assert!(
        info.contains("multi-segment record (2 segments, 0 of them gaps"),
        "{info}"
    );
    // a gap no file backs cannot claim unbounded memory: refused before allocating
    let huge = write_files(d, "ms4", "ms4/2 2 100 0\nms_layout 0\n~ 4000000000\n", &[]);
    let err = wfdb::read_wfdb(&huge).unwrap_err().to_string();
    assert!(err.contains("8000000000 samples, more than"), "{err}");
}

/// A minimal FLAC stream: STREAMINFO, then frames of VERBATIM subframes (one per channel), with
/// the frame header's CRC-8 and the frame's CRC-16 (the decoder checks both).
fn flac_stream(channels: &[Vec<i32>], bits: u32, block_size: usize) -> Vec<u8> {
    struct Bits {
        out: Vec<u8>,
        acc: u64,
        n: u32,
    }
    impl Bits {
        fn put(&mut self, value: u64, width: u32) {
            for i in (0..width).rev() {
                self.acc = (self.acc << 1) | ((value >> i) & 1);
                self.n += 1;
                if self.n == 8 {
                    self.out.push(self.acc as u8);
                    self.acc = 0;
                    self.n = 0;
                }
            }
        }
        fn align(&mut self) {
            while self.n != 0 {
                self.put(0, 1);
            }
        }
    }
    fn crc8(data: &[u8]) -> u8 {
        let mut crc = 0u8;
        for &b in data {
            crc ^= b;
            for _ in 0..8 {
                crc = if crc & 0x80 != 0 {
                    (crc << 1) ^ 0x07
                } else {
                    crc << 1
                };
            }
        }
        crc
    }
    fn crc16(data: &[u8]) -> u16 {
        let mut crc = 0u16;
        for &b in data {
            crc ^= u16::from(b) << 8;
            for _ in 0..8 {
                crc = if crc & 0x8000 != 0 {
                    (crc << 1) ^ 0x8005
                } else {
                    crc << 1
                };
            }
        }
        crc
    }
    let n = channels[0].len();
    let mut w = Bits {
        out: b"fLaC".to_vec(),
        acc: 0,
        n: 0,
    };
    w.put(1, 1); // last metadata block
    w.put(0, 7); // STREAMINFO
    w.put(34, 24);
    w.put(block_size as u64, 16);
    w.put(block_size as u64, 16);
    w.put(0, 24);
    w.put(0, 24);
    w.put(250, 20);
    w.put(channels.len() as u64 - 1, 3);
    w.put(u64::from(bits) - 1, 5);
    w.put(n as u64, 36);
    w.put(0, 64);
    w.put(0, 64); // MD5 unknown
    let size_code = match bits {
        8 => 0b001,
        16 => 0b100,
        _ => 0b110,
    };
    for (frame_no, start) in (0..n).step_by(block_size).enumerate() {
        let len = block_size.min(n - start);
        let frame_start = w.out.len();
        w.put(0b11111111111110, 14);
        w.put(0, 2); // reserved, fixed block size
        w.put(0b0111, 4); // block size - 1 in 16 bits after the header
        w.put(0, 4); // sample rate from STREAMINFO
        w.put(channels.len() as u64 - 1, 4); // independent channels
        w.put(size_code, 3);
        w.put(0, 1);
        assert!(frame_no < 128);
        w.put(frame_no as u64, 8);
        w.put(len as u64 - 1, 16);
        let crc = crc8(&w.out[frame_start..]);
        w.put(u64::from(crc), 8);
        for ch in channels {
            w.put(0, 1);
            w.put(0b000001, 6); // VERBATIM
            w.put(0, 1);
            for &v in &ch[start..start + len] {
                w.put((v as i64 as u64) & ((1u64 << bits) - 1), bits);
            }
        }
        w.align();
        let crc = crc16(&w.out[frame_start..]);
        w.put(u64::from(crc), 16);
    }
    w.out
}

#[test]
fn flac_formats_508_516_524_read_their_channels() {
    let tmp = tempfile::tempdir().unwrap();
    for (format, bits, scale) in [(508u16, 8u32, 1i32), (516, 16, 200), (524, 24, 40_000)] {
        // 40 samples in blocks of 16: two whole blocks and a short last one
        let n = 40;
        let c0: Vec<i32> = (0..n).map(|i| ((i % 11) - 5) * scale).collect();
        let c1: Vec<i32> = (0..n).map(|i| (3 - (i % 7)) * scale / 2).collect();
        // byte offset 2 in a FLAC format counts samples: the first 2 of each channel are skipped
        let flac = flac_stream(&[c0.clone(), c1.clone()], bits, 16);
        let header = format!(
            "fl 2 250 {}\n{}{}",
            n - 2,
            sig(
                &format!("fl.dat {format}+2 {scale}/mV {bits}"),
                &c0[2..],
                "I"
            ),
            sig(
                &format!("fl.dat {format}+2 {scale}/mV {bits}"),
                &c1[2..],
                "II"
            )
        );
        let hea = write_files(tmp.path(), "fl", &header, &[("fl.dat", flac)]);
        let (_, adc) = wfdb::read_adc(&hea).unwrap();
        assert_eq!(
            adc,
            vec![c0[2..].to_vec(), c1[2..].to_vec()],
            "format {format}"
        );
        let ecg = wfdb::read_record(&hea).unwrap();
        assert_eq!(mv(&ecg, 0)[0], -3.0, "format {format}");
        // the format's bit depth bounds the stream's: 24-bit samples are refused as 508
        if format == 524 {
            let text = header.replace("524+2", "508+2");
            std::fs::write(&hea, text).unwrap();
            let err = wfdb::read_record(&hea).unwrap_err().to_string();
            assert!(
                err.contains("24 bits per sample") && err.contains("at most 8"),
                "{err}"
            );
        }
    }
    // a damaged stream is an error naming the file
    let mut flac = flac_stream(&[vec![1, 2, 3, 4]], 16, 16);
    let last = flac.len() - 3;
    flac[last] ^= 0xff;
    let header = format!(
        "bad 1 250 4\n{}",
        sig("bad.dat 516 200 16", &[1, 2, 3, 4], "I")
    );
    let hea = write_files(tmp.path(), "bad", &header, &[("bad.dat", flac)]);
    let err = wfdb::read_record(&hea).unwrap_err().to_string();
    assert!(err.contains("bad.dat") && err.contains("FLAC"), "{err}");
}

#[test]
fn qt_database_d3_is_not_taken_for_lead_iii() {
    assert_eq!(wfdb::wfdb_lead_name("D3"), LeadName::Other("D3".into()));
    assert_eq!(wfdb::wfdb_lead_name("d1"), LeadName::Other("d1".into()));
    assert_eq!(wfdb::wfdb_lead_name("III"), LeadName::III);
    assert_eq!(wfdb::wfdb_lead_name("MLII"), LeadName::Other("MLII".into()));
    let tmp = tempfile::tempdir().unwrap();
    let header = format!(
        "q 2 250 2\n{}{}",
        sig("q.dat 16 200 16", &[1, 3], "D3"),
        sig("q.dat 16 200 16", &[2, 4], "V2")
    );
    let hea = write_files(
        tmp.path(),
        "q",
        &header,
        &[("q.dat", format16(&[&[1, 2], &[3, 4]]))],
    );
    let ecg = wfdb::read_record(&hea).unwrap();
    assert_eq!(ecg.leads, vec![LeadName::Other("D3".into()), LeadName::V2]);
}

#[test]
fn real_records_still_read_identically() {
    // mitdb 100 (format 212, MLII and V5) against wfdb-python 4.3:
    // rdrecord('100').p_signal[:3, 0] = [-0.145, -0.145, -0.145], [649999, 1] = -0.3
    let Some(dir) = common::data("mitdb") else {
        return;
    };
    let ecg = wfdb::read_record(&dir.join("100.hea")).unwrap();
    assert_eq!(ecg.n_samples(), 650_000);
    assert_eq!(&mv(&ecg, 0)[..3], &[-0.145, -0.145, -0.145]);
    assert!(ecg.meta.reader_notes.is_empty() && ecg.meta.uncalibrated_leads.is_empty());
}

mod proptests {
    use super::*;
    use proptest::prelude::*;

    /// A signal line from generated fields, as a header writer would print it.
    fn signal_line(
        format: u16,
        spf: u32,
        skew: u32,
        offset: u64,
        gain: f64,
        baseline: i32,
        units: &str,
        zero: i32,
        init: i32,
        description: &str,
    ) -> String {
        let mut f = format!("{format}");
        if spf > 1 {
            f += &format!("x{spf}");
        }
        if skew > 0 {
            f += &format!(":{skew}");
        }
        if offset > 0 {
            f += &format!("+{offset}");
        }
        format!("r.dat {f} {gain}({baseline})/{units} 12 {zero} {init} 0 0 {description}")
    }

    use common::mutation::{mutate_text, text_edits};

    const MULTI: &str = "ms/3 2 100 5\nms_layout 0\nms_a 2\n~ 3\n";
    const SKEWED: &str =
        "s 2 100 8\ns.dat 311:2+4 1/mV 10 0 0 0 0 I\ns.dat 311x2 0/uV 10 0 0 0 0 ABP\n";

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        #[test]
        fn signal_lines_round_trip(
            format in proptest::sample::select(vec![8u16, 16, 80, 212, 311, 516]),
            spf in 1u32..5,
            skew in 0u32..9,
            offset in 0u64..1000,
            gain in (1u32..100_000).prop_map(|g| g as f64 / 8.0),
            baseline in -5000i32..5000,
            units in proptest::sample::select(vec!["mV", "uV", "mmHg", "NU"]),
            zero in -100i32..100,
            init in -100i32..100,
            description in "[A-Za-z0-9]{1,6}( [A-Za-z0-9]{1,4})?",
        ) {
            let line = signal_line(format, spf, skew, offset, gain, baseline, units, zero, init, &description);
            let h = wfdb::parse_header(&format!("r 1 360 10\n{line}\n"), Path::new("r.hea")).unwrap();
            let s = &h.signals[0];
            prop_assert_eq!(
                (s.format, s.samples_per_frame, s.skew_frames, s.byte_offset),
                (format, spf, skew, offset)
            );
            prop_assert_eq!((s.adc_gain, s.baseline, s.units.as_str()), (gain, baseline, units));
            prop_assert_eq!((s.adc_zero, s.initial_value), (zero, init));
            prop_assert_eq!(&s.description, &description);
        }

        /// Mutated multi-segment and skewed headers, read with their files: never a panic,
        /// always a value or a typed error.
        #[test]
        fn mutated_headers_never_panic(edits in text_edits(), which in 0usize..2) {
            let tmp = tempfile::tempdir().unwrap();
            let d = tmp.path();
            write_files(d, "ms_layout", "ms_layout 2 100 0\n~ 0 100/mV 16 0 0 0 0 I\n~ 0 100/mV 16 0 0 0 0 II\n", &[]);
            write_files(d, "ms_a", "ms_a 2 100 2\nms_a.dat 16 100/mV 16 0 0 0 0 I\nms_a.dat 16 100/mV 16 0 0 0 0 II\n",
                &[("ms_a.dat", format16(&[&[100, 200], &[300, 400]]))]);
            std::fs::write(d.join("s.dat"), (0u8..60).collect::<Vec<_>>()).unwrap();
            let (name, text) = if which == 0 { ("ms", MULTI) } else { ("s", SKEWED) };
            let mutated = mutate_text(text, &edits);
            let _ = wfdb::parse_header(&mutated, Path::new("x.hea"));
            let hea = write_files(d, name, &mutated, &[]);
            let _ = wfdb::read_wfdb(&hea);
            let _ = wfdb::read_record(&hea);
        }

        /// Mutated annotation files with a preamble: never a panic.
        #[test]
        fn mutated_annotation_preambles_never_panic(edits in common::mutation::edits()) {
            let entries = vec![
                note(0, "## time resolution: 1000"),
                note(0, "## annotation type definitions"),
                note(0, "42 Z a custom beat"),
                note(0, "## end of definitions"),
                Annotation::new(1000, "N").unwrap(),
                Annotation::new(70_000, "[42]").unwrap(),
            ];
            let bytes = annotation::encode_annotations(&entries).unwrap();
            let mutated = common::mutation::mutate(&bytes, &edits);
            if let Ok(file) = annotation::parse_annotation_file(&mutated) {
                // whatever is read is consistent: no preamble note or code 0 left in
                prop_assert!(file.annotations.iter().all(|a| a.code != 0 && !(a.code == 22 && a.sample == 0)));
            }
        }

        /// Mutated FLAC and format-8/311 signal files: never a panic.
        #[test]
        fn mutated_signal_files_never_panic(edits in common::mutation::edits(), which in 0usize..3) {
            let tmp = tempfile::tempdir().unwrap();
            let (header, dat) = match which {
                0 => ("fl 2 250 40\nfl.dat 516 200/mV 16 0 0 0 0 I\nfl.dat 516 200/mV 16 0 0 0 0 II\n",
                      flac_stream(&[(0..40).collect(), (0..40).map(|v| -v).collect()], 16, 16)),
                1 => ("fl 2 250 8\nfl.dat 8 200/mV 8 0 5 0 0 I\nfl.dat 8:1 200/mV 8 0 -5 0 0 II\n",
                      (0u8..16).collect()),
                _ => ("fl 1 250 7\nfl.dat 311 200/mV 10 0 0 0 0 I\n", format311(&[1, 2, 3, 4, 5, 6, 7])),
            };
            let mutated = common::mutation::mutate(&dat, &edits);
            let hea = write_files(tmp.path(), "fl", header, &[("fl.dat", mutated)]);
            let _ = wfdb::read_record(&hea);
        }
    }
}

/// A record with a gap: delineated on the stretches either side (no beat in the gap, no NaN
/// through the filters), refused by the model with the place of the gap.
#[test]
fn a_gap_inside_a_record_is_delineated_around_and_refused_by_the_model() {
    use tlc_explorer::delineate::{DelineatorParams, delineate};
    use tlc_explorer::record::Ecg;
    let params = tlc_explorer::synth::SynthParams {
        n_records: 1,
        duration_s: 30.0,
        ..Default::default()
    };
    let ecg = tlc_explorer::synth::generate_record(&params, 0)
        .unwrap()
        .ecg;
    let whole = delineate(&ecg, &DelineatorParams::default()).unwrap();
    let fs = ecg.fs_hz;
    let gap = (12.0 * fs) as usize..(15.0 * fs) as usize;
    let mut samples = ecg.samples_mv.clone();
    samples
        .slice_mut(ndarray::s![.., gap.clone()])
        .fill(f32::NAN);
    let gapped = Ecg::with_gaps(ecg.leads.clone(), fs, samples, ecg.meta.clone()).unwrap();
    let d = delineate(&gapped, &DelineatorParams::default()).unwrap();
    assert!(!d.beats.is_empty());
    for b in &d.beats {
        for w in [Some(b.qrs), b.p, b.t].into_iter().flatten() {
            assert!(
                w.offset < gap.start || w.onset >= gap.end,
                "a wave across the gap: {w:?}"
            );
        }
    }
    // the beats away from the gap are those of the record without it
    let margin = (2.0 * fs) as usize;
    let far = |s: usize| (s + margin) < gap.start || s > gap.end + margin;
    let peaks = |d: &tlc_explorer::delineate::Delineation| -> Vec<usize> {
        d.beats
            .iter()
            .map(|b| b.qrs.peak)
            .filter(|&p| far(p))
            .collect()
    };
    assert_eq!(peaks(&d), peaks(&whole));
    let spec = tlc_explorer::dsp::InputSpec {
        leads: ecg.leads.clone(),
        fs_hz: 400.0,
        length: 4096,
    };
    let err = tlc_explorer::dsp::prepare(&gapped, &spec, &Default::default()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("misses samples from 12.000 s"), "{text}");
}
