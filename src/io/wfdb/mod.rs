//! WFDB records: header (`.hea`) parsing, signal files (`.dat`) in formats 8, 16, 61, 80, 160,
//! 212, 24, 32, 310, 311 and FLAC 508/516/524 (signals multiplexed in one file, byte offsets,
//! skew, several samples per frame), multi-segment records with layout headers, checksum
//! verification, physical units with missing samples as NaN, the ECG in mV, and a format-16
//! writer.
//!
//! Written here rather than taken from crates.io: the Rust `wfdb` crates found cover header
//! parsing and format 212 only, not formats 24/80/310/311, byte offsets, checksum verification,
//! writing, or annotations (see [`crate::io::annotation`]). FLAC streams are decoded by the
//! `claxon` crate.
//!
//! Reference: the WFDB header format (<https://physionet.org/physiotools/wag/header-5.htm>) and
//! signal formats (<https://physionet.org/physiotools/wag/signal-5.htm>); values are checked
//! against wfdb-python's `rdrecord` (one deliberate difference: a skewed signal with several
//! samples per frame has all its samples past the end of the file missing, where wfdb-python
//! 4.3 marks only as many samples as the skew has frames and gives 0 for the rest).
//!
//! Split as wfdb-python is: [`header`] (parsing `.hea`), [`signal`] (the sample formats and
//! signal files), [`record`] (header + signals -> physical units -> [`crate::Ecg`]) and
//! [`write`].

mod flac;
pub mod header;
pub mod record;
pub mod signal;
pub mod write;

pub use header::*;
pub use record::*;
pub use signal::*;
pub use write::*;

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::header::parse_signal_line;
    use super::*;
    use crate::record::Sex;

    #[test]
    fn parses_format_and_gain_fields() {
        let s = parse_signal_line("r.dat 212x2:3+24 1716(6)/uV 12 1024 995 -22131 0 lead V1 x")
            .unwrap();
        assert_eq!(
            (s.format, s.samples_per_frame, s.skew_frames, s.byte_offset),
            (212, 2, 3, 24)
        );
        assert_eq!(
            (s.adc_gain, s.baseline, s.units.as_str()),
            (1716.0, 6, "uV")
        );
        assert_eq!(
            (s.adc_resolution, s.adc_zero, s.initial_value),
            (12, 1024, 995)
        );
        assert_eq!((s.checksum, s.block_size), (Some(-22131), 0));
        assert_eq!(s.description, "lead V1 x");
        let s = parse_signal_line("r.dat 16").unwrap();
        assert_eq!(
            (s.adc_gain, s.baseline, s.checksum),
            (DEFAULT_GAIN, 0, None)
        );
    }

    #[test]
    fn parses_record_line_with_counter_frequency() {
        let h = parse_header(
            "rec 0 360/720(5) 100 10:00:00 01/01/2000\n",
            Path::new("x.hea"),
        )
        .unwrap();
        assert_eq!(h.fs_hz, 360.0);
        assert_eq!(h.counter_freq_hz, Some(720.0));
        assert_eq!(h.base_counter, Some(5.0));
        assert_eq!(h.n_samples, Some(100));
        assert_eq!(h.base_time.as_deref(), Some("10:00:00"));
        assert_eq!(h.base_date.as_deref(), Some("01/01/2000"));
    }

    #[test]
    fn decodes_212_310_311_24_80() {
        // 212: samples 0x123 and -1 (0xfff): b0 = 0x23, b1 = (0xf << 4) | 0x1, b2 = 0xff
        assert_eq!(
            decode_samples(212, &[0x23, 0xf1, 0xff], 2).unwrap(),
            vec![0x123, -1]
        );
        assert_eq!(
            decode_samples(24, &[0xff, 0xff, 0xff, 1, 0, 0], 2).unwrap(),
            vec![-1, 1]
        );
        assert_eq!(
            decode_samples(80, &[0, 128, 255], 3).unwrap(),
            vec![-128, 0, 127]
        );
        // 311: 1, -1, 5 packed in bits 0-9, 10-19, 20-29
        let w: u32 = 1 | (0x3ff << 10) | (5 << 20);
        assert_eq!(
            decode_samples(311, &w.to_le_bytes(), 3).unwrap(),
            vec![1, -1, 5]
        );
        // 310: s0 = 3, s1 = -2, s2 = 0x2a5 (-347): low 5 bits in w0 bits 11-15, high in w1
        let s2: u32 = 0x2a5;
        let w0 = ((3u32 << 1) | ((s2 & 0x1f) << 11)) as u16;
        let w1 = (((0x3feu32) << 1) | ((s2 >> 5) << 11)) as u16;
        let mut b = w0.to_le_bytes().to_vec();
        b.extend_from_slice(&w1.to_le_bytes());
        assert_eq!(
            decode_samples(310, &b, 3).unwrap(),
            vec![3, -2, 0x2a5 - 1024]
        );
        assert!(decode_samples(212, &[1, 2], 2).is_err());
        assert!(decode_samples(99, &[1, 2], 1).is_err());
    }

    #[test]
    fn ludb_style_comments_give_meta() {
        let c: Vec<String> = [
            "<age>: 51",
            "<sex>: F",
            "<diagnoses>:",
            "Rhythm: Sinus.",
            "LVH.",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let m = meta_from_comments(&c);
        assert_eq!(m.age_years, Some(51.0));
        assert_eq!(m.sex, Some(Sex::Female));
        assert_eq!(m.report.as_deref(), Some("Rhythm: Sinus. LVH."));
    }
}
