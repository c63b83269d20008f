//! Settings of the measurements, with documented defaults and validation.

use serde::{Deserialize, Serialize};

use super::MeasureError;

/// Heart-rate correction of the QT interval (QT and RR in seconds, HR in bpm).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum QtcFormula {
    /// QT / RR^(1/2) (Bazett 1920): over-corrects at high rates, the most widely printed.
    Bazett,
    /// QT / RR^(1/3) (Fridericia 1920): the default, recommended by the AHA/ACCF/HRS 2009
    /// statement over Bazett's.
    #[default]
    Fridericia,
    /// QT + 0.154 (1 - RR) (Sagie et al. 1992, the Framingham Heart Study).
    Framingham,
    /// QT + 1.75 (HR - 60) ms (Hodges et al. 1983).
    Hodges,
}

impl QtcFormula {
    pub const ALL: [QtcFormula; 4] = [
        QtcFormula::Bazett,
        QtcFormula::Fridericia,
        QtcFormula::Framingham,
        QtcFormula::Hodges,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            QtcFormula::Bazett => "Bazett",
            QtcFormula::Fridericia => "Fridericia",
            QtcFormula::Framingham => "Framingham",
            QtcFormula::Hodges => "Hodges",
        }
    }

    /// QTc in ms from QT and RR in ms.
    pub fn correct_ms(self, qt_ms: f64, rr_ms: f64) -> f64 {
        let (qt_s, rr_s) = (qt_ms / 1000.0, rr_ms / 1000.0);
        match self {
            QtcFormula::Bazett => 1000.0 * qt_s / rr_s.sqrt(),
            QtcFormula::Fridericia => 1000.0 * qt_s / rr_s.cbrt(),
            QtcFormula::Framingham => 1000.0 * (qt_s + 0.154 * (1.0 - rr_s)),
            QtcFormula::Hodges => qt_ms + 1.75 * (60_000.0 / rr_ms - 60.0),
        }
    }
}

impl std::str::FromStr for QtcFormula {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        QtcFormula::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!("QTc formula '{s}': expected bazett, fridericia, framingham or hodges")
            })
    }
}

/// How one global (all-lead) wave bound of a beat is taken.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum BoundRule {
    /// The delineator's fused bound (`Delineation::beats`).
    Fused,
    /// This quantile (0..=1) of the bounds the delineator reports in each lead for the beat:
    /// 0 is the earliest lead, 1 the latest (the CSE convention for onsets and offsets), values
    /// inside keep one outlying lead from deciding.
    LeadQuantile(f64),
}

/// Settings of [`crate::measure::measure`]. Durations in ms, fractions in 0..1.
///
/// The bound rules were chosen on the odd-numbered LUDB records (see `src/measure/README.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MeasureParams {
    /// QTc formula. Default Fridericia.
    pub qtc_formula: QtcFormula,
    /// Global P onset / offset, QRS onset / offset and T offset of each beat (carts take the
    /// earliest onset and the latest offset across leads). Defaults: see `Default`.
    pub p_onset: BoundRule,
    pub p_offset: BoundRule,
    pub qrs_onset: BoundRule,
    pub qrs_offset: BoundRule,
    pub t_offset: BoundRule,
    /// A lead's beat belongs to a fused beat when their QRS peaks are at most this far apart.
    /// Default 60 ms.
    pub lead_match_ms: f64,
    /// A beat is premature (ectopic) when its RR is shorter than (1 - this) x the median of the
    /// neighbouring RR intervals and the next RR is longer than (1 + this) x its own. Not
    /// applied when the whole rhythm is irregular (no dominant RR to be premature against).
    /// Default 0.15.
    pub premature_fraction: f64,
    /// RR intervals on each side that form the neighbourhood of a beat's RR. Default 4.
    pub neighbour_rr: usize,
    /// A beat whose QRS duration differs from the record's median by more than this is ectopic
    /// (another ventricular activation path). Default 40 ms.
    pub ectopic_qrs_difference_ms: f64,
    /// The rhythm is irregular when median |successive RR difference| / median RR exceeds this.
    /// Default 0.08.
    pub irregular_rr_fraction: f64,
    /// Sinus rhythm needs a P wave in at least this fraction of the dominant beats.
    /// Default 0.5.
    pub sinus_min_p_fraction: f64,
    /// A beat is paced when a pacemaker spike lies from this long before its QRS onset to its
    /// QRS peak (covers atrial pacing at the usual AV delays). Default 350 ms.
    pub paced_spike_window_ms: f64,
    /// The rhythm is paced when at least this fraction of beats are. Default 0.5.
    pub paced_min_fraction: f64,
    /// Below this magnitude of the (I, aVF) net-area vector the axis is indeterminate.
    /// Default 0.5 mV·ms.
    pub axis_min_area_mv_ms: f64,
}

impl Default for MeasureParams {
    fn default() -> Self {
        MeasureParams {
            qtc_formula: QtcFormula::Fridericia,
            p_onset: BoundRule::LeadQuantile(0.0),
            p_offset: BoundRule::LeadQuantile(1.0),
            qrs_onset: BoundRule::LeadQuantile(0.0),
            qrs_offset: BoundRule::LeadQuantile(1.0),
            t_offset: BoundRule::LeadQuantile(1.0),
            lead_match_ms: 60.0,
            premature_fraction: 0.15,
            neighbour_rr: 4,
            ectopic_qrs_difference_ms: 40.0,
            irregular_rr_fraction: 0.08,
            sinus_min_p_fraction: 0.5,
            paced_spike_window_ms: 350.0,
            paced_min_fraction: 0.5,
            axis_min_area_mv_ms: 0.5,
        }
    }
}

impl MeasureParams {
    /// Check every setting; the error names the first bad one.
    pub fn validate(&self) -> Result<(), MeasureError> {
        let bad = |name: &'static str, reason: &str| {
            Err(MeasureError::InvalidParam {
                name,
                reason: reason.to_string(),
            })
        };
        for (name, rule) in [
            ("p_onset", self.p_onset),
            ("p_offset", self.p_offset),
            ("qrs_onset", self.qrs_onset),
            ("qrs_offset", self.qrs_offset),
            ("t_offset", self.t_offset),
        ] {
            if let BoundRule::LeadQuantile(q) = rule
                && !(q.is_finite() && (0.0..=1.0).contains(&q))
            {
                return bad(name, "lead quantile must lie in [0, 1]");
            }
        }
        for (name, v) in [
            ("lead_match_ms", self.lead_match_ms),
            ("ectopic_qrs_difference_ms", self.ectopic_qrs_difference_ms),
            ("paced_spike_window_ms", self.paced_spike_window_ms),
            ("irregular_rr_fraction", self.irregular_rr_fraction),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return bad(name, "must be a positive finite number");
            }
        }
        for (name, v) in [
            ("premature_fraction", self.premature_fraction),
            ("sinus_min_p_fraction", self.sinus_min_p_fraction),
            ("paced_min_fraction", self.paced_min_fraction),
        ] {
            if !(v.is_finite() && v > 0.0 && v < 1.0) {
                return bad(name, "must lie in (0, 1)");
            }
        }
        if self.neighbour_rr == 0 {
            return bad("neighbour_rr", "must be at least 1");
        }
        if !(self.axis_min_area_mv_ms.is_finite() && self.axis_min_area_mv_ms >= 0.0) {
            return bad(
                "axis_min_area_mv_ms",
                "must be a non-negative finite number",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        MeasureParams::default().validate().unwrap();
        let p = MeasureParams {
            qrs_onset: BoundRule::LeadQuantile(1.5),
            ..Default::default()
        };
        assert!(p.validate().unwrap_err().to_string().contains("qrs_onset"));
        let p = MeasureParams {
            premature_fraction: 1.0,
            ..Default::default()
        };
        assert!(
            p.validate()
                .unwrap_err()
                .to_string()
                .contains("premature_fraction")
        );
        assert_eq!("BAZETT".parse::<QtcFormula>(), Ok(QtcFormula::Bazett));
        assert!("qtc".parse::<QtcFormula>().is_err());
    }
}
