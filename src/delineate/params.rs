//! Every setting of the delineator, with documented defaults and validation.

use serde::{Deserialize, Serialize};

use super::DelineateError;

/// Settings of [`crate::delineate::delineate`]. All durations are in seconds and all
/// amplitudes in mV, so the same settings work at any sampling rate from 100 Hz up.
///
/// The defaults were tuned on LUDB (see `src/delineate/README.md` for the measured accuracy).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DelineatorParams {
    /// Records sampled below this rate are resampled to it (band-limited; by the smallest
    /// integer factor that reaches it when the resampler cannot do the ratio), delineated, and
    /// their landmarks mapped back to the record's samples: the settings were tuned at 500 Hz, and derivatives, slope maxima and trapezium
    /// areas work sample by sample (at 100 Hz a sample is 10 ms). 0 turns this off. Default
    /// 500 Hz.
    pub min_internal_rate_hz: f64,
    /// Records shorter than this are refused (`TooShort`): too little signal to learn the
    /// rhythm and amplitudes. Default 2.0 s.
    pub min_record_s: f64,
    /// Baseline-wander high-pass cut-off (zero-phase Butterworth). Default 0.5 Hz.
    pub baseline_highpass_hz: f64,
    /// Low-pass of the signal used for QRS landmarks. Default 30 Hz (clamped below 0.45 fs).
    pub qrs_lowpass_hz: f64,
    /// Low-pass of the signal used for P and T landmarks. Default 12 Hz.
    pub pt_lowpass_hz: f64,
    /// Pass band of the QRS detection energy (Pan-Tompkins-like). Default 5-20 Hz.
    pub detect_band_hz: (f64, f64),
    /// Width of the moving-window integration of the detection energy. Default 0.10 s.
    pub detect_integration_s: f64,
    /// Two QRS complexes are never closer than this (refractory period; 200 bpm = 0.30 s).
    /// Default 0.25 s.
    pub refractory_s: f64,
    /// A candidate is a QRS when its energy envelope exceeds this fraction of the reference
    /// height (median of the tallest candidates, one per `reference_rr_s`). Default 0.30.
    pub detect_threshold_fraction: f32,
    /// Spacing that defines how many of the tallest candidates form the reference height
    /// (one per this many seconds, i.e. the slowest rhythm handled). Default 2.0 s (30 bpm).
    pub reference_rr_s: f64,
    /// A QRS envelope peak must also exceed this multiple of the envelope's median: pure noise
    /// has a flat envelope and yields no beats. Default 3.0.
    pub min_peak_to_median: f32,
    /// Search-back for missed beats (Pan & Tompkins 1985): where beats are more than
    /// `searchback_rr_factor` x the median RR apart (or a beat is that far from the record's
    /// edge), candidates in the gap count from `min_beat_to_median` x the envelope's median,
    /// at least `searchback_min_after_qrs_s` from a beat (so a T wave is not taken for a QRS).
    /// Defaults 1.6, 2.0 and 0.36 s.
    pub searchback_rr_factor: f64,
    pub min_beat_to_median: f32,
    pub searchback_min_after_qrs_s: f64,
    /// A lead whose filtered signal stays within this peak-to-peak amplitude is treated as flat
    /// and ignored. Default 0.02 mV.
    pub flat_lead_mv: f32,
    /// Half-width of the window around the detection in which each lead's QRS is measured.
    /// Default 0.10 s.
    pub qrs_search_half_s: f64,
    /// A slope is a significant part of the QRS when it reaches this fraction of the largest
    /// slope in the window. Default 0.25.
    pub qrs_significant_slope: f32,
    /// QRS onset: first sample (going back from the first significant slope) where |slope|
    /// falls below this fraction of that slope. Default 0.10.
    pub qrs_onset_slope_fraction: f32,
    /// QRS offset: same going forward from the last significant slope. Default 0.12.
    pub qrs_offset_slope_fraction: f32,
    /// A small initial (q) or terminal (s) wave of the QRS: a slope of the opposite sign to the
    /// first (last) significant slope, reaching `qrs_edge_wave_slope` of the largest slope,
    /// whose slope peak lies within `qrs_q_wave_s` before the onset (`qrs_s_wave_s` after the
    /// offset) the slope rule found, belongs to the QRS, and the onset (offset) is sought again
    /// from it. Without this the walk stops where the derivative turns at the q nadir (the s
    /// nadir): the onset late, the offset early. 0 s turns it off. Defaults 0.02 s (a q wave's
    /// descent; chosen with 0.2 on the odd LUDB records) for the onset, 0 (off, not measured)
    /// for the offset: on LUDB read as a two-lead (II, V2) 250 Hz database the QRS onset is
    /// 5.5 ms late against the global onset instead of 7.5, each lead's +0.9 instead of +2.9 ms;
    /// see `README.md`, "QRS onset: where the lateness comes from".
    pub qrs_q_wave_s: f64,
    pub qrs_s_wave_s: f64,
    pub qrs_edge_wave_slope: f32,
    /// ... and at least this many noise SDs of the lead's slope (the robust SD of its
    /// derivative): without it noise slopes in small leads passed for q waves. Default 3.
    pub qrs_edge_wave_noise_sds: f32,
    /// Longest QRS half-extent from the detection (caps onset/offset for wide QRS).
    /// Default 0.14 s before, 0.18 s after.
    pub qrs_max_before_s: f64,
    pub qrs_max_after_s: f64,
    /// Fused QRS onset/offset: these quantiles of the lead onsets/offsets (a robust form of
    /// the CSE earliest-onset/latest-offset rule). Defaults 0.10 and 0.90.
    pub qrs_fused_onset_quantile: f64,
    pub qrs_fused_offset_quantile: f64,
    /// Multi-lead P onset and T offset (`Delineation::beats`): these quantiles of the leads'
    /// own bounds (each lead's trapezium bounds before any blending), the CSE earliest-onset /
    /// latest-offset convention as for the QRS: a cardiologist marks one onset per beat where
    /// the wave starts in the lead where it starts first. `None` keeps the consensus bound (P
    /// onset from the multi-lead envelope, T offset the median over the leads), which sits
    /// inside the wave: on LUDB read as a two-lead 250 Hz database, P onsets came 9-16 ms late
    /// and T offsets 12-17 ms early against the beat's global bounds (`ludb_global`). The P
    /// offset stays the envelope's: the latest of the leads' own P offsets is decided by the
    /// leads with the weakest P (+17 ms with leads I and V2). Defaults 0.1 and 0.9 (with 12
    /// leads the second earliest / latest, with 2 leads the earliest / latest).
    pub p_global_onset_quantile: Option<f64>,
    pub t_global_offset_quantile: Option<f64>,
    /// Only leads whose wave is at least this fraction of its largest lead amplitude give the
    /// multi-lead P onset and T offset (a bound is read where the wave is clear: with all
    /// leads, noise in the leads where a synthetic P is a tenth of its size put the onset 10 ms
    /// early). Default 0.25 (chosen on the odd LUDB records among 0, 0.25, 0.5 and 0.7).
    pub global_min_relative_amplitude: f32,
    /// Per-lead QRS onset/offset: fused + `qrs_lead_bound_weight` x (the lead's own - fused),
    /// so 0 reports the fused bounds in every lead and 1 each lead's own. LUDB annotates each
    /// lead separately, but one lead's own bound is noisier than the fused one. Default 0.3
    /// (tuned on the odd-numbered LUDB records: 0 gives SD 12.9/13.4 ms, 0.3 gives 11.7/12.4).
    pub qrs_lead_bound_weight: f32,
    /// The same blend for the per-lead P onset/offset (the lead's own from the trapezium method
    /// on its own lobe near the fused P). Default 0.25 (tuned on the odd-numbered LUDB records).
    pub p_lead_bound_weight: f32,
    /// The same blend for the per-lead T onset/offset, towards the fused T (the median over
    /// the leads). Default 0.4 (tuned on the odd-numbered LUDB records: T offset SD 29.2 ms
    /// at 1, i.e. each lead's own, 27.1 at 0, 25.8 at 0.4).
    pub t_lead_bound_weight: f32,
    /// T search starts this long after the QRS offset. Default 0.08 s.
    pub t_start_after_qrs_s: f64,
    /// T search ends at min(detection + `t_end_rr_fraction` x RR, detection + `t_end_max_s`,
    /// next QRS onset - `t_end_before_next_s`). Defaults 0.6, 0.65 s, 0.04 s.
    pub t_end_rr_fraction: f64,
    pub t_end_max_s: f64,
    pub t_end_before_next_s: f64,
    /// Smallest T amplitude (RMS over the leads of the deviation from the isoelectric line)
    /// reported as a T wave. Default 0.02 mV.
    pub t_min_amplitude_mv: f32,
    /// Each lead looks for its T peak within this distance of the multi-lead T peak.
    /// Default 0.03 s.
    pub t_lead_search_half_s: f64,
    /// A second lobe of opposite sign at least this fraction of the main lobe makes the wave
    /// biphasic (its onset/offset then come from the outer lobes). Default 0.7.
    pub biphasic_ratio: f32,
    /// The two lobes of a biphasic wave are at most this far apart. Default 0.2 s.
    pub biphasic_max_lobe_gap_s: f64,
    /// Isoelectric knots: mean of the 12 Hz signal from `iso_knot_window_s.0` to
    /// `iso_knot_window_s.1` before each QRS onset (the PR segment). Default (0.03, 0.01) s.
    pub iso_knot_window_s: (f64, f64),
    /// Reference distance of the trapezium-area method (Zhang et al. 2006) for T onset/offset.
    /// Default 0.08 s.
    pub t_trapezium_s: f64,
    /// P search window: from QRS onset - `p_window_s` to QRS onset - `p_gap_s`.
    /// Defaults 0.30 s and 0.03 s.
    pub p_window_s: f64,
    pub p_gap_s: f64,
    /// Smallest P amplitude: RMS over the leads of the deviation from the window's baseline. Default 0.015 mV.
    pub p_min_amplitude_mv: f32,
    /// Reference distance of the trapezium-area method for P onset/offset. Default 0.03 s.
    pub p_trapezium_s: f64,
    /// A P envelope maximum closer than this to either end of the P window is the tail of T or
    /// the start of the QRS, not a P wave. Default 0.02 s.
    pub p_edge_margin_s: f64,
    /// A P wave whose onset lies within this distance of the previous beat's T offset rises
    /// straight out of the T wave and is rejected (atrial flutter waves, T waves of ectopic
    /// beats). Default 0.002 s (1 sample at 500 Hz).
    pub p_min_gap_after_t_s: f64,
    /// In a record with consistent P waves, a P whose PR interval (P peak to QRS detection)
    /// differs from the record's median by more than `p_pr_outlier_s` is searched again within
    /// `p_research_half_s` of where the median PR puts it; a P found there replaces the first one.
    /// Defaults 0.04 s and 0.07 s (chosen on the odd-numbered LUDB records).
    pub p_pr_outlier_s: f64,
    pub p_research_half_s: f64,
    /// Rhythm check: the record is reported as atrial fibrillation/flutter (all P removed) when
    /// fewer than this fraction of beats have a P wave, or when the PR interval (P peak to QRS
    /// detection) varies with a robust standard deviation (1.4826 MAD) above `af_pr_sd_s`. Defaults 0.25, 0.04 s.
    pub af_min_p_fraction: f32,
    pub af_pr_sd_s: f64,
    /// ... or when the ventricular rhythm is irregular (median |successive RR difference| /
    /// median RR above `af_rr_irregularity`) and the PR interval is less stable than in sinus
    /// rhythm (robust SD above `af_pr_sd_irregular_s`). Defaults 0.045 and 0.012 s.
    pub af_rr_irregularity: f64,
    pub af_pr_sd_irregular_s: f64,
    /// ... or when the ventricular rhythm is irregular and fewer than
    /// `af_min_consistent_p_fraction` of all beats have a P wave whose PR interval lies within
    /// `af_pr_consistent_s` of the median PR: in sinus rhythm nearly every beat has its P at
    /// the same PR, whereas flutter or fibrillation waves that happen to look like a P are
    /// consistent only in some beats (the robust SD alone then looks sinus-like). Defaults
    /// 0.55 and 0.02 s.
    pub af_min_consistent_p_fraction: f32,
    pub af_pr_consistent_s: f64,
    /// The rhythm check above judges windows of `rhythm_window_s`, one every
    /// `rhythm_window_step_s` (a record no longer than one window is judged whole); a beat
    /// loses its P only when every window holding it is judged so. Atrial fibrillation comes in
    /// episodes, and a whole-record decision on a 15 min record removed every P of sinus
    /// records. 10 s is the length the check was made for (LUDB's records). Defaults 10 s and
    /// 2.5 s.
    pub rhythm_window_s: f64,
    pub rhythm_window_step_s: f64,
    /// Records longer than `stream_window_s` are delineated in windows of that length that
    /// overlap by `stream_overlap_s` (see `long.rs`): bounded memory for Holter records, and
    /// thresholds set per window follow slow changes in amplitude and noise. Each beat comes
    /// from the window where it is at least half the overlap from the edges (the 0.5 Hz
    /// high-pass settles within about 2 s; a P-QRS-T complex spans at most about 1 s).
    /// Defaults 60 s and 10 s.
    pub stream_window_s: f64,
    pub stream_overlap_s: f64,
    /// Pacemaker spikes (see `pacing.rs`): a jump between two samples of at least
    /// `pacing_spike_min_jump_mv` (0 turns spike handling off), `pacing_spike_neighbour_ratio`
    /// times the neighbouring differences and `pacing_spike_quiet_ratio` times every difference
    /// from `pacing_spike_quiet_window_s.0` to `.1` before it, in at least
    /// `pacing_spike_min_lead_fraction` of the leads. Defaults 0.05 mV, 4, 10, (0.040, 0.016) s
    /// and 0.5 (on LUDB these flag the paced records 8, 34, 45, 72, 74, 90, 111 and no spike
    /// near a QRS onset in any unpaced record).
    pub pacing_spike_min_jump_mv: f32,
    pub pacing_spike_neighbour_ratio: f32,
    pub pacing_spike_quiet_ratio: f32,
    pub pacing_spike_quiet_window_s: (f64, f64),
    pub pacing_spike_min_lead_fraction: f32,
    /// A record has pacing spikes only when at least this many are found (one isolated jump is
    /// an artefact). Default 2.
    pub pacing_spike_min_count: usize,
    /// A spike and this much after it are replaced by a straight line before filtering.
    /// Default 0.006 s (3 samples at 500 Hz: the spike and its return).
    pub pacing_spike_tail_s: f64,
    /// A QRS whose search window (detection - `qrs_max_before_s` to the detection) holds a
    /// spike starts no earlier than the spike + this. Default 0 s.
    pub qrs_onset_after_spike_s: f64,
}

impl Default for DelineatorParams {
    fn default() -> Self {
        DelineatorParams {
            min_internal_rate_hz: 500.0,
            min_record_s: 2.0,
            baseline_highpass_hz: 0.5,
            qrs_lowpass_hz: 30.0,
            pt_lowpass_hz: 12.0,
            detect_band_hz: (5.0, 20.0),
            detect_integration_s: 0.10,
            refractory_s: 0.25,
            detect_threshold_fraction: 0.30,
            reference_rr_s: 2.0,
            min_peak_to_median: 3.0,
            searchback_rr_factor: 1.6,
            min_beat_to_median: 2.0,
            searchback_min_after_qrs_s: 0.36,
            flat_lead_mv: 0.02,
            qrs_search_half_s: 0.10,
            qrs_significant_slope: 0.25,
            qrs_onset_slope_fraction: 0.1,
            qrs_offset_slope_fraction: 0.12,
            qrs_q_wave_s: 0.02,
            qrs_s_wave_s: 0.0,
            qrs_edge_wave_slope: 0.2,
            qrs_edge_wave_noise_sds: 3.0,
            qrs_max_before_s: 0.14,
            qrs_max_after_s: 0.18,
            qrs_fused_onset_quantile: 0.1,
            qrs_fused_offset_quantile: 0.9,
            p_global_onset_quantile: Some(0.1),
            t_global_offset_quantile: Some(0.9),
            global_min_relative_amplitude: 0.25,
            qrs_lead_bound_weight: 0.3,
            p_lead_bound_weight: 0.25,
            t_lead_bound_weight: 0.4,
            t_start_after_qrs_s: 0.08,
            t_end_rr_fraction: 0.6,
            t_end_max_s: 0.65,
            t_end_before_next_s: 0.04,
            t_min_amplitude_mv: 0.02,
            t_lead_search_half_s: 0.03,
            biphasic_ratio: 0.7,
            biphasic_max_lobe_gap_s: 0.2,
            iso_knot_window_s: (0.03, 0.01),
            t_trapezium_s: 0.08,
            p_window_s: 0.30,
            p_gap_s: 0.03,
            p_min_amplitude_mv: 0.015,
            p_trapezium_s: 0.03,
            p_edge_margin_s: 0.02,
            p_min_gap_after_t_s: 0.002,
            p_pr_outlier_s: 0.04,
            p_research_half_s: 0.07,
            af_min_p_fraction: 0.25,
            af_pr_sd_s: 0.04,
            af_rr_irregularity: 0.045,
            af_pr_sd_irregular_s: 0.012,
            af_min_consistent_p_fraction: 0.55,
            af_pr_consistent_s: 0.02,
            rhythm_window_s: 10.0,
            rhythm_window_step_s: 2.5,
            stream_window_s: 60.0,
            stream_overlap_s: 10.0,
            pacing_spike_min_jump_mv: 0.05,
            pacing_spike_neighbour_ratio: 4.0,
            pacing_spike_quiet_ratio: 10.0,
            pacing_spike_quiet_window_s: (0.040, 0.016),
            pacing_spike_min_lead_fraction: 0.5,
            pacing_spike_min_count: 2,
            pacing_spike_tail_s: 0.006,
            qrs_onset_after_spike_s: 0.0,
        }
    }
}

impl DelineatorParams {
    /// Check every setting; the error names the first bad one.
    pub fn validate(&self) -> Result<(), DelineateError> {
        let bad = |name: &'static str, why: &str| {
            Err(DelineateError::InvalidParam {
                name,
                reason: why.to_string(),
            })
        };
        let positive_s = [
            ("min_record_s", self.min_record_s),
            ("baseline_highpass_hz", self.baseline_highpass_hz),
            ("qrs_lowpass_hz", self.qrs_lowpass_hz),
            ("pt_lowpass_hz", self.pt_lowpass_hz),
            ("detect_integration_s", self.detect_integration_s),
            ("refractory_s", self.refractory_s),
            ("reference_rr_s", self.reference_rr_s),
            ("qrs_search_half_s", self.qrs_search_half_s),
            ("qrs_max_before_s", self.qrs_max_before_s),
            ("qrs_max_after_s", self.qrs_max_after_s),
            ("t_end_rr_fraction", self.t_end_rr_fraction),
            ("t_end_max_s", self.t_end_max_s),
            ("t_trapezium_s", self.t_trapezium_s),
            ("biphasic_max_lobe_gap_s", self.biphasic_max_lobe_gap_s),
            ("t_lead_search_half_s", self.t_lead_search_half_s),
            ("p_window_s", self.p_window_s),
            ("p_trapezium_s", self.p_trapezium_s),
            ("p_pr_outlier_s", self.p_pr_outlier_s),
            ("p_research_half_s", self.p_research_half_s),
            ("af_pr_sd_s", self.af_pr_sd_s),
            ("af_rr_irregularity", self.af_rr_irregularity),
            ("af_pr_sd_irregular_s", self.af_pr_sd_irregular_s),
            ("af_pr_consistent_s", self.af_pr_consistent_s),
            ("rhythm_window_s", self.rhythm_window_s),
            ("rhythm_window_step_s", self.rhythm_window_step_s),
            ("stream_window_s", self.stream_window_s),
            ("stream_overlap_s", self.stream_overlap_s),
            ("pacing_spike_tail_s", self.pacing_spike_tail_s),
            (
                "searchback_min_after_qrs_s",
                self.searchback_min_after_qrs_s,
            ),
        ];
        for (name, v) in positive_s {
            if !(v.is_finite() && v > 0.0) {
                return bad(name, "must be a positive finite number");
            }
        }
        let non_negative = [
            ("t_start_after_qrs_s", self.t_start_after_qrs_s),
            ("t_end_before_next_s", self.t_end_before_next_s),
            ("p_gap_s", self.p_gap_s),
            ("p_edge_margin_s", self.p_edge_margin_s),
            ("p_min_gap_after_t_s", self.p_min_gap_after_t_s),
            ("qrs_onset_after_spike_s", self.qrs_onset_after_spike_s),
            ("qrs_q_wave_s", self.qrs_q_wave_s),
            ("qrs_s_wave_s", self.qrs_s_wave_s),
        ];
        for (name, v) in non_negative {
            if !(v.is_finite() && v >= 0.0) {
                return bad(name, "must be a non-negative finite number");
            }
        }
        for (name, q) in [
            ("qrs_fused_onset_quantile", self.qrs_fused_onset_quantile),
            ("qrs_fused_offset_quantile", self.qrs_fused_offset_quantile),
            (
                "p_global_onset_quantile",
                self.p_global_onset_quantile.unwrap_or(0.0),
            ),
            (
                "t_global_offset_quantile",
                self.t_global_offset_quantile.unwrap_or(0.0),
            ),
            (
                "global_min_relative_amplitude",
                f64::from(self.global_min_relative_amplitude),
            ),
            ("qrs_edge_wave_slope", f64::from(self.qrs_edge_wave_slope)),
        ] {
            if !(0.0..=1.0).contains(&q) {
                return bad(name, "must lie in [0, 1]");
            }
        }
        // The fused onset must not come after the fused offset (the peak is clamped between).
        if self.qrs_fused_onset_quantile > self.qrs_fused_offset_quantile {
            return bad(
                "qrs_fused_onset_quantile",
                &format!(
                    "{} is above qrs_fused_offset_quantile {}: the onset quantile must not exceed \
                     the offset quantile",
                    self.qrs_fused_onset_quantile, self.qrs_fused_offset_quantile
                ),
            );
        }
        let (far, near) = self.iso_knot_window_s;
        if !(far.is_finite() && near.is_finite() && near >= 0.0 && far > near) {
            return bad(
                "iso_knot_window_s",
                "must be (far, near) with far > near >= 0",
            );
        }
        if !(self.searchback_rr_factor.is_finite() && self.searchback_rr_factor >= 1.0) {
            return bad(
                "searchback_rr_factor",
                "must be a finite number of at least 1",
            );
        }
        let (far, near) = self.pacing_spike_quiet_window_s;
        if !(far.is_finite() && near.is_finite() && near >= 0.0 && far > near) {
            return bad(
                "pacing_spike_quiet_window_s",
                "must be (far, near) with far > near >= 0",
            );
        }
        for (name, v) in [
            (
                "pacing_spike_neighbour_ratio",
                self.pacing_spike_neighbour_ratio,
            ),
            ("pacing_spike_quiet_ratio", self.pacing_spike_quiet_ratio),
        ] {
            if !(v.is_finite() && v >= 1.0) {
                return bad(name, "must be a finite number of at least 1");
            }
        }
        let (lo, hi) = self.detect_band_hz;
        if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && hi > lo) {
            return bad("detect_band_hz", "must be (low, high) with 0 < low < high");
        }
        if self.rhythm_window_step_s > self.rhythm_window_s {
            return bad(
                "rhythm_window_step_s",
                "must not exceed rhythm_window_s (windows would leave beats unjudged)",
            );
        }
        if 2.0 * self.stream_overlap_s >= self.stream_window_s
            || self.stream_window_s < self.min_record_s
        {
            return bad(
                "stream_window_s",
                "must exceed twice stream_overlap_s and be at least min_record_s",
            );
        }
        if self.p_gap_s >= self.p_window_s {
            return bad("p_gap_s", "must be shorter than p_window_s");
        }
        let fractions = [
            ("detect_threshold_fraction", self.detect_threshold_fraction),
            ("qrs_significant_slope", self.qrs_significant_slope),
            ("qrs_onset_slope_fraction", self.qrs_onset_slope_fraction),
            ("qrs_offset_slope_fraction", self.qrs_offset_slope_fraction),
            ("biphasic_ratio", self.biphasic_ratio),
            ("af_min_p_fraction", self.af_min_p_fraction),
            (
                "af_min_consistent_p_fraction",
                self.af_min_consistent_p_fraction,
            ),
            (
                "pacing_spike_min_lead_fraction",
                self.pacing_spike_min_lead_fraction,
            ),
        ];
        for (name, v) in [
            ("qrs_lead_bound_weight", self.qrs_lead_bound_weight),
            ("p_lead_bound_weight", self.p_lead_bound_weight),
            ("t_lead_bound_weight", self.t_lead_bound_weight),
        ] {
            if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
                return bad(name, "must lie in [0, 1]");
            }
        }
        for (name, v) in fractions {
            if !(v.is_finite() && v > 0.0 && v <= 1.0) {
                return bad(name, "must lie in (0, 1]");
            }
        }
        let amplitudes = [
            ("min_peak_to_median", self.min_peak_to_median),
            ("min_beat_to_median", self.min_beat_to_median),
            ("flat_lead_mv", self.flat_lead_mv),
            ("t_min_amplitude_mv", self.t_min_amplitude_mv),
            ("p_min_amplitude_mv", self.p_min_amplitude_mv),
            ("pacing_spike_min_jump_mv", self.pacing_spike_min_jump_mv),
        ];
        if !(self.min_internal_rate_hz.is_finite() && self.min_internal_rate_hz >= 0.0) {
            return bad(
                "min_internal_rate_hz",
                "must be a non-negative finite number",
            );
        }
        for (name, v) in amplitudes {
            if !(v.is_finite() && v >= 0.0) {
                return bad(name, "must be a non-negative finite number");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        DelineatorParams::default().validate().unwrap();
        let p = DelineatorParams {
            refractory_s: -1.0,
            ..Default::default()
        };
        let err = p.validate().unwrap_err().to_string();
        assert!(err.contains("refractory_s"), "{err}");
        let p = DelineatorParams {
            detect_band_hz: (20.0, 5.0),
            ..Default::default()
        };
        assert!(p.validate().is_err());
        let p = DelineatorParams {
            af_min_p_fraction: 1.5,
            ..Default::default()
        };
        assert!(p.validate().is_err());
        let p = DelineatorParams {
            qrs_lead_bound_weight: 1.5,
            ..Default::default()
        };
        let err = p.validate().unwrap_err().to_string();
        assert!(err.contains("qrs_lead_bound_weight"), "{err}");
        let p = DelineatorParams {
            p_research_half_s: 0.0,
            ..Default::default()
        };
        assert!(p.validate().is_err());
    }
}
