//! Parameters of the synthetic data set, validated, with documented defaults.

use serde::{Deserialize, Serialize};

use crate::synth::SynthError;

/// The five PTB-XL diagnostic super-classes the generator can draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SynthClass {
    Norm,
    Mi,
    Sttc,
    Cd,
    Hyp,
}

impl SynthClass {
    pub const ALL: [SynthClass; 5] = [
        SynthClass::Norm,
        SynthClass::Mi,
        SynthClass::Sttc,
        SynthClass::Cd,
        SynthClass::Hyp,
    ];

    /// The PTB-XL super-class name (`NORM`, `MI`, `STTC`, `CD`, `HYP`).
    pub fn as_str(&self) -> &'static str {
        match self {
            SynthClass::Norm => "NORM",
            SynthClass::Mi => "MI",
            SynthClass::Sttc => "STTC",
            SynthClass::Cd => "CD",
            SynthClass::Hyp => "HYP",
        }
    }

    pub fn parse(name: &str) -> Option<SynthClass> {
        SynthClass::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(name.trim()))
    }

    /// Class names in the fixed order used for labels and models.
    pub fn names() -> Vec<String> {
        SynthClass::ALL
            .iter()
            .map(|c| c.as_str().to_string())
            .collect()
    }
}

/// Probability that each abnormal class is present, drawn independently per record (so records
/// can be multi-label, as in PTB-XL); a record with none of them is `NORM`.
/// Defaults: MI 0.25, STTC 0.25, CD 0.25, HYP 0.2 (NORM then has probability about 0.34).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassProbabilities {
    pub mi: f64,
    pub sttc: f64,
    pub cd: f64,
    pub hyp: f64,
}

impl Default for ClassProbabilities {
    fn default() -> Self {
        ClassProbabilities {
            mi: 0.25,
            sttc: 0.25,
            cd: 0.25,
            hyp: 0.2,
        }
    }
}

impl ClassProbabilities {
    /// Only `class` (probability 1), every other abnormal class 0; `Norm` gives all zeros.
    pub fn only(class: SynthClass) -> Self {
        let mut p = ClassProbabilities {
            mi: 0.0,
            sttc: 0.0,
            cd: 0.0,
            hyp: 0.0,
        };
        match class {
            SynthClass::Norm => {}
            SynthClass::Mi => p.mi = 1.0,
            SynthClass::Sttc => p.sttc = 1.0,
            SynthClass::Cd => p.cd = 1.0,
            SynthClass::Hyp => p.hyp = 1.0,
        }
        p
    }
}

/// Mains interference added to every lead.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Powerline {
    pub freq_hz: f64,
    pub amplitude_mv: f64,
}

/// Everything that shapes the synthetic data set. Same parameters and seed give the same records,
/// bit for bit, whatever the order or parallelism of generation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SynthParams {
    /// Records in the data set (default 100).
    pub n_records: usize,
    /// Sampling rate (default 500 Hz, as PTB-XL's high-rate records).
    pub fs_hz: f64,
    /// Record length (default 10 s).
    pub duration_s: f64,
    /// Master seed (default 0); record `i` uses its own stream derived from `(seed, i)`.
    pub seed: u64,
    /// Standard deviation of white measurement noise per lead (default 0.02 mV).
    pub noise_mv: f64,
    /// Peak amplitude of baseline wander per lead (respiration plus a slower drift; default 0.1 mV).
    pub baseline_wander_mv: f64,
    /// Mains interference (default none).
    pub powerline: Option<Powerline>,
    pub class_probabilities: ClassProbabilities,
    /// Range of each record's mean heart rate, drawn uniformly (default 55..95 bpm).
    pub heart_rate_bpm: (f64, f64),
    /// Heart-rate variability: amplitude of each of the two RR modulations (Mayer waves at 0.1 Hz
    /// and respiratory sinus arrhythmia) as a fraction of the mean RR (default 0.03).
    pub hrv_fraction: f64,
    /// Beat-to-beat random RR jitter, standard deviation (default 0.01 s).
    pub rr_jitter_s: f64,
    /// QRS amplitude modulation by respiration, fraction (default 0.05).
    pub respiration_modulation: f64,
    /// A wave's onset/offset is where its Gaussian falls below this fraction of its peak (default
    /// 0.05, i.e. 2.45 standard deviations from the centre).
    pub landmark_fraction: f64,
    /// T-wave asymmetry: the rising side of the T is `1 + a` times as wide as a symmetric
    /// Gaussian of the same duration, the falling side `1 - a` (default 0.25; 0 = ECGSYN's
    /// symmetric T).
    pub t_wave_asymmetry: f64,
    /// Random rotation of the heart's electrical axis per record, degrees either side (default 20).
    pub axis_jitter_deg: f64,
    /// Random scale of each record's wave amplitudes, fraction either side (default 0.2).
    pub amplitude_jitter: f64,
    /// Probability that an MI is inferior (II, III, aVF) rather than anterior (V1-V4) (default 0.5).
    pub mi_inferior_probability: f64,
    /// Probability that a CD bundle branch block is right (RBBB) rather than left (default 0.5).
    pub cd_rbbb_probability: f64,
    /// Probability that a CD record also has a first-degree AV block (PR > 200 ms; default 0.5).
    pub cd_long_pr_probability: f64,
    /// Sokolow-Lyon voltage (S in V1 + max R in V5/V6) of HYP records, drawn uniformly
    /// (default 3.9..5.0 mV; the criterion is > 3.5 mV).
    pub hyp_sokolow_lyon_mv: (f64, f64),
    /// Sokolow-Lyon voltage that non-HYP records are scaled down to when above it (default 3.0 mV).
    pub max_normal_sokolow_lyon_mv: f64,
}

impl Default for SynthParams {
    fn default() -> Self {
        SynthParams {
            n_records: 100,
            fs_hz: 500.0,
            duration_s: 10.0,
            seed: 0,
            noise_mv: 0.02,
            baseline_wander_mv: 0.1,
            powerline: None,
            class_probabilities: ClassProbabilities::default(),
            heart_rate_bpm: (55.0, 95.0),
            hrv_fraction: 0.03,
            rr_jitter_s: 0.01,
            respiration_modulation: 0.05,
            landmark_fraction: 0.05,
            t_wave_asymmetry: 0.25,
            axis_jitter_deg: 20.0,
            amplitude_jitter: 0.2,
            mi_inferior_probability: 0.5,
            cd_rbbb_probability: 0.5,
            cd_long_pr_probability: 0.5,
            hyp_sokolow_lyon_mv: (3.9, 5.0),
            max_normal_sokolow_lyon_mv: 3.0,
        }
    }
}

impl SynthParams {
    /// Check every field; the error names the field and the allowed range.
    pub fn validate(&self) -> Result<(), SynthError> {
        let bad = |msg: String| Err(SynthError::BadParams(msg));
        let in_range = |name: &str, v: f64, lo: f64, hi: f64| -> Result<(), SynthError> {
            if v.is_finite() && v >= lo && v <= hi {
                Ok(())
            } else {
                Err(SynthError::BadParams(format!(
                    "{name} = {v} is outside {lo}..={hi}"
                )))
            }
        };
        if self.n_records == 0 {
            return bad("n_records must be at least 1".into());
        }
        in_range("fs_hz", self.fs_hz, 50.0, 10_000.0)?;
        in_range("duration_s", self.duration_s, 1.0, 3600.0)?;
        in_range("noise_mv", self.noise_mv, 0.0, 5.0)?;
        in_range("baseline_wander_mv", self.baseline_wander_mv, 0.0, 5.0)?;
        if let Some(p) = self.powerline {
            in_range("powerline.freq_hz", p.freq_hz, 1.0, self.fs_hz / 2.0 - 1.0)?;
            in_range("powerline.amplitude_mv", p.amplitude_mv, 0.0, 5.0)?;
        }
        let cp = self.class_probabilities;
        for (name, v) in [
            ("class_probabilities.mi", cp.mi),
            ("class_probabilities.sttc", cp.sttc),
            ("class_probabilities.cd", cp.cd),
            ("class_probabilities.hyp", cp.hyp),
            ("mi_inferior_probability", self.mi_inferior_probability),
            ("cd_rbbb_probability", self.cd_rbbb_probability),
            ("cd_long_pr_probability", self.cd_long_pr_probability),
        ] {
            in_range(name, v, 0.0, 1.0)?;
        }
        let (hr_lo, hr_hi) = self.heart_rate_bpm;
        in_range("heart_rate_bpm.0", hr_lo, 30.0, 150.0)?;
        in_range("heart_rate_bpm.1", hr_hi, hr_lo, 150.0)?;
        in_range("hrv_fraction", self.hrv_fraction, 0.0, 0.2)?;
        in_range("rr_jitter_s", self.rr_jitter_s, 0.0, 0.1)?;
        in_range(
            "respiration_modulation",
            self.respiration_modulation,
            0.0,
            0.5,
        )?;
        in_range("landmark_fraction", self.landmark_fraction, 1e-4, 0.5)?;
        in_range("t_wave_asymmetry", self.t_wave_asymmetry, 0.0, 0.8)?;
        in_range("axis_jitter_deg", self.axis_jitter_deg, 0.0, 90.0)?;
        in_range("amplitude_jitter", self.amplitude_jitter, 0.0, 0.9)?;
        let (sl_lo, sl_hi) = self.hyp_sokolow_lyon_mv;
        in_range(
            "max_normal_sokolow_lyon_mv",
            self.max_normal_sokolow_lyon_mv,
            0.5,
            10.0,
        )?;
        in_range(
            "hyp_sokolow_lyon_mv.0",
            sl_lo,
            self.max_normal_sokolow_lyon_mv,
            10.0,
        )?;
        in_range("hyp_sokolow_lyon_mv.1", sl_hi, sl_lo, 10.0)?;
        Ok(())
    }
}
