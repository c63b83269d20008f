//! The delineator itself. Method (documented choice, see `README.md` in this folder):
//!
//! 1. Per lead: zero-phase 0.5 Hz high-pass (baseline wander), a 30 Hz low-pass copy for the
//!    QRS, a 12 Hz low-pass copy for P and T.
//! 2. QRS detection on a multi-lead energy (Pan & Tompkins 1985 style): 5-20 Hz band, derivative,
//!    each lead normalised by its 99th percentile, squared, summed, moving-window integrated,
//!    square-rooted. Peaks separated by a refractory period; the threshold is a fraction of the
//!    median height of the tallest candidates and a multiple of the envelope's median (so that
//!    flat lines and pure noise yield no beats); then a search-back (Pan & Tompkins) at a lower
//!    threshold in gaps longer than 1.6 RR.
//! 3. Per lead QRS onset/offset: the first/last significant slope, then outwards until the slope
//!    falls below a fraction of it (the slope-threshold rule of Martinez et al. 2004, applied to
//!    the derivative of the low-passed signal instead of the wavelet scales).
//! 4. Per lead T: the largest deviation from an isoelectric line (linear interpolation between
//!    PR-segment knots of successive beats) in an RR-dependent window; biphasic waves recognised
//!    by a second opposite lobe; onset and offset by the trapezium-area method (Zhang et al.
//!    2006, Vazquez-Seisdedos et al. 2011), which is robust to noise.
//! 5. P waves on a multi-lead envelope: in the window before each QRS, every lead is detrended
//!    by the line through the window's end points and the RMS over the leads is taken (inverted
//!    or biphasic P waves in some leads add up instead of cancelling); its maximum is the P peak
//!    when it is large enough and away from the window's edges, onset and offset by the
//!    trapezium method on the envelope; a P rising straight out of the previous T is rejected,
//!    and one far from the record's PR interval is searched again where the PR puts it. In each
//!    lead the peak is the lead's own extremum and the onset/offset a blend of the fused ones
//!    and the lead's own. A stretch of beats gets no P at all when, in every ~10 s rhythm window
//!    holding them, P waves are missing in most beats or the PR interval is unstable (atrial
//!    fibrillation/flutter); such stretches are reported as episodes.
//! 6. Fused landmarks: QRS onset = 10th percentile of the lead onsets and offset = 90th
//!    percentile (a robust form of the CSE earliest-onset/latest-offset convention); QRS peak and
//!    T landmarks = medians over the leads (T only when at least half the usable leads have one).
//!    Each lead reports QRS bounds blended between the fused ones and its own.

use super::dsp;
use super::{Beat, DelineateError, DelineatorParams, RhythmEpisode, Wave, WaveKind};
use crate::dsp::DspError;
use crate::dsp::filter::{self, FilterKind};

/// Filtered copies of one lead.
pub(crate) struct LeadSignals {
    /// Baseline-removed, 30 Hz low-passed (QRS landmarks).
    pub x: Vec<f32>,
    pub dx: Vec<f32>,
    /// Baseline-removed, 12 Hz low-passed (P and T landmarks).
    pub s: Vec<f32>,
    pub ds: Vec<f32>,
    /// Derivative of the 5-20 Hz band (detection energy).
    pub det: Vec<f32>,
    /// False for a flat lead (ignored).
    pub usable: bool,
    /// Robust SD of `dx` over the lead (1.4826 x median |dx|): the slope of its noise, as most
    /// of a lead is neither QRS nor a steep wave.
    pub noise_slope: f32,
}

/// Filtered leads of a record and the pacing spikes found in them.
pub(crate) struct Prepared {
    pub leads: Vec<LeadSignals>,
    /// Samples of the pacemaker spikes (removed from the signals before filtering).
    pub pacing_spikes: Vec<usize>,
}

/// Find and remove pacing spikes, then filter every lead (all leads of a record at once, see
/// [`filter::filtfilt_many`]).
pub(crate) fn prepare_leads(
    rows: Vec<Vec<f32>>,
    fs_hz: f64,
    p: &DelineatorParams,
) -> Result<Prepared, DspError> {
    let mut base = rows;
    let pacing_spikes = super::pacing::find_spikes(&base, fs_hz, p);
    // QRS detection keeps the spikes: without them a slow paced QRS can have less 5-20 Hz
    // energy than the P waves of the same record (LUDB 72, P-synchronous pacing).
    let detection_rows = (!pacing_spikes.is_empty()).then(|| base.clone());
    super::pacing::remove_spikes(&mut base, &pacing_spikes, fs_hz, p);
    let baseline = |leads: &mut [Vec<f32>]| {
        zero_phase(
            leads,
            FilterKind::HighPass,
            p.baseline_highpass_hz,
            fs_hz,
            Edges::Reflected,
        )
    };
    let low_pass = |leads: &mut [Vec<f32>], cutoff_hz: f64| {
        zero_phase(
            leads,
            FilterKind::LowPass,
            cutoff_hz,
            fs_hz,
            Edges::SteadyState,
        )
    };
    baseline(&mut base)?;
    let mut x = base.clone();
    low_pass(&mut x, p.qrs_lowpass_hz)?;
    let mut s = base;
    low_pass(&mut s, p.pt_lowpass_hz)?;
    let mut band = match detection_rows {
        Some(mut rows) => {
            baseline(&mut rows)?;
            low_pass(&mut rows, p.qrs_lowpass_hz)?;
            rows
        }
        None => x.clone(),
    };
    let (band_low_hz, band_high_hz) = p.detect_band_hz;
    zero_phase(
        &mut band,
        FilterKind::HighPass,
        band_low_hz,
        fs_hz,
        Edges::SteadyState,
    )?;
    low_pass(&mut band, band_high_hz)?;
    let leads = x
        .into_iter()
        .zip(s)
        .zip(band)
        .map(|((x, s), band)| {
            let det = dsp::derivative(&band, fs_hz);
            let dx = dsp::derivative(&x, fs_hz);
            let ds = dsp::derivative(&s, fs_hz);
            // Robust peak-to-peak (1st to 99th percentile) so a single spike does not make a
            // lead usable.
            let mut tmp = x.clone();
            let hi = dsp::quantile_in_place(&mut tmp, 0.99);
            let lo = dsp::quantile_in_place(&mut tmp, 0.01);
            let usable = (hi - lo) > p.flat_lead_mv;
            let mut abs_dx: Vec<f32> = dx.iter().map(|v| v.abs()).collect();
            let noise_slope = 1.4826 * dsp::quantile_in_place(&mut abs_dx, 0.5);
            LeadSignals {
                x,
                dx,
                s,
                ds,
                det,
                usable,
                noise_slope,
            }
        })
        .collect();
    Ok(Prepared {
        leads,
        pacing_spikes,
    })
}

/// Order of each pass of the delineator's filters (run forward and backward: order 4 in
/// magnitude, zero phase, so landmarks stay in place).
const FILTER_ORDER: usize = 2;

/// A cut-off a filter at `fs_hz` can realise: the settings are in Hz for any rate, and a
/// 30 Hz low-pass cannot be realised at 50 Hz (`min_internal_rate_hz` 0 keeps such a rate).
fn realisable_cutoff_hz(cutoff_hz: f64, fs_hz: f64) -> f64 {
    cutoff_hz.clamp(1e-3, 0.45 * fs_hz)
}

/// How a filter treats the ends of a record.
#[derive(Clone, Copy)]
enum Edges {
    /// Start in the steady state of each end value. For the QRS and P/T low-passes and the
    /// detection band: odd reflection would mirror a QRS cut by the record's edge into a copy
    /// whose energy peaks on the edge itself, where no maximum is counted (MIT-BIH 100 in 10 s
    /// windows: QRS Se 99.87 % fell to 99.65 % with it).
    SteadyState,
    /// Pad one period of the cut-off by odd reflection. For the baseline high-pass: the leads
    /// continue with their own level and slope, so wander at the edges leaves less residue than
    /// with a constant continuation (0.05-0.3 Hz wander: 0.031 against 0.044 mV in the first
    /// and last second, 0.019 in the middle).
    Reflected,
}

/// Zero-phase Butterworth filter of all leads at once.
fn zero_phase(
    leads: &mut [Vec<f32>],
    kind: FilterKind,
    cutoff_hz: f64,
    fs_hz: f64,
    edges: Edges,
) -> Result<(), DspError> {
    let cutoff_hz = realisable_cutoff_hz(cutoff_hz, fs_hz);
    let pad = match edges {
        Edges::SteadyState => 0,
        Edges::Reflected => filter::pad_for(cutoff_hz, fs_hz),
    };
    filter::zero_phase_many(leads, kind, fs_hz, cutoff_hz, FILTER_ORDER, pad)
}

fn samples(seconds: f64, fs_hz: f64) -> usize {
    (seconds * fs_hz).round().max(0.0) as usize
}

/// QRS detection on the usable leads; returns the sample of each QRS energy maximum.
pub(crate) fn detect_qrs(leads: &[LeadSignals], fs_hz: f64, p: &DelineatorParams) -> Vec<usize> {
    let usable: Vec<&LeadSignals> = leads.iter().filter(|l| l.usable).collect();
    let Some(first) = usable.first() else {
        return Vec::new();
    };
    let n = first.det.len();
    let mut energy = vec![0.0f32; n];
    let mut n_used = 0usize;
    for lead in &usable {
        let mut mags: Vec<f32> = lead.det.iter().map(|v| v.abs()).collect();
        let scale = dsp::quantile_in_place(&mut mags, 0.99);
        if !(scale > 0.0 && scale.is_finite()) {
            continue;
        }
        let inv = 1.0 / scale;
        for (e, v) in energy.iter_mut().zip(&lead.det) {
            let z = v * inv;
            *e += z * z;
        }
        n_used += 1;
    }
    if n_used == 0 {
        return Vec::new();
    }
    let width = samples(p.detect_integration_s, fs_hz).max(1);
    let envelope: Vec<f32> = dsp::moving_average(&energy, width)
        .into_iter()
        .map(|v| (v / n_used as f32).max(0.0).sqrt())
        .collect();
    let median_env = dsp::median(&envelope);

    // Local maxima, tallest first, non-maximum suppression within the refractory period.
    let mut maxima: Vec<usize> = (1..n.saturating_sub(1))
        .filter(|&i| envelope[i] >= envelope[i - 1] && envelope[i] > envelope[i + 1])
        .collect();
    maxima.sort_by(|&a, &b| envelope[b].total_cmp(&envelope[a]));
    let refractory = samples(p.refractory_s, fs_hz).max(1);
    let mut accepted: Vec<usize> = Vec::new();
    // Sorted positions of accepted peaks for the refractory check.
    let mut sorted_pos: Vec<usize> = Vec::new();
    for i in maxima {
        let k = sorted_pos.partition_point(|&q| q < i);
        let near_left = k > 0 && i - sorted_pos[k - 1] < refractory;
        let near_right = k < sorted_pos.len() && sorted_pos[k] - i < refractory;
        if near_left || near_right {
            continue;
        }
        sorted_pos.insert(k, i);
        accepted.push(i);
    }
    if accepted.is_empty() {
        return Vec::new();
    }
    // Reference height: median of the tallest candidates, one per `reference_rr_s`.
    let duration_s = n as f64 / fs_hz;
    let n_ref = ((duration_s / p.reference_rr_s).ceil() as usize).clamp(1, accepted.len());
    let reference = envelope[accepted[(n_ref - 1) / 2]];
    let threshold =
        (p.detect_threshold_fraction * reference).max(p.min_peak_to_median * median_env);
    if threshold.is_nan() || threshold <= 0.0 {
        return Vec::new();
    }
    let mut beats: Vec<usize> = accepted
        .iter()
        .copied()
        .filter(|&i| envelope[i] >= threshold)
        .collect();
    beats.sort_unstable();
    search_back(
        &mut beats, &accepted, &envelope, median_env, reference, fs_hz, p,
    );
    beats
}

/// Search-back for missed beats (Pan & Tompkins 1985): where two beats (or a beat and the
/// record's edge) are more than `searchback_rr_factor` median RR apart, candidates in between
/// are accepted above the lower threshold `min_beat_to_median` x the envelope's median (and
/// `detect_threshold_fraction` x the reference), at least `searchback_min_after_qrs_s` after
/// and before a beat (a T wave is not taken for a QRS). In a fast, noisy record with wide QRS
/// complexes the QRS energy itself lifts the median, so the main 3x-median floor can drop real
/// beats (a synthetic CD record at 100 bpm with 0.05 mV noise lost 9 of 15).
fn search_back(
    beats: &mut Vec<usize>,
    candidates: &[usize],
    envelope: &[f32],
    median_env: f32,
    reference: f32,
    fs_hz: f64,
    p: &DelineatorParams,
) {
    if beats.len() < 2 {
        return;
    }
    let rr: Vec<usize> = beats.windows(2).map(|w| w[1] - w[0]).collect();
    let Some(median_rr) = dsp::median_usize(&rr) else {
        return;
    };
    let long_gap = (p.searchback_rr_factor * median_rr as f64).round() as usize;
    let clearance = samples(p.searchback_min_after_qrs_s, fs_hz);
    let lower = (p.detect_threshold_fraction * reference).max(p.min_beat_to_median * median_env);
    let n = envelope.len();
    // The gaps: record start to the first beat, between beats, the last beat to the end.
    let mut bounds: Vec<(Option<usize>, Option<usize>)> = vec![(None, beats.first().copied())];
    bounds.extend(beats.windows(2).map(|w| (Some(w[0]), Some(w[1]))));
    bounds.push((beats.last().copied(), None));
    let mut found: Vec<usize> = Vec::new();
    for (a, b) in bounds {
        let gap = b.unwrap_or(n) - a.unwrap_or(0);
        if gap <= long_gap {
            continue;
        }
        let lo = a.map_or(0, |a| a + clearance);
        let hi = b.map_or(n, |b| b.saturating_sub(clearance));
        let mut last: Option<usize> = a;
        let mut inside: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|&c| c >= lo && c < hi && envelope[c] >= lower)
            .collect();
        inside.sort_unstable();
        for c in inside {
            if last.is_none_or(|l| c >= l + clearance) {
                found.push(c);
                last = Some(c);
            }
        }
    }
    if !found.is_empty() {
        beats.extend(found);
        beats.sort_unstable();
    }
}

/// QRS of one lead around the detection `c`; its onset is never before `earliest_onset` (a
/// pacing spike).
pub(crate) fn measure_qrs(
    l: &LeadSignals,
    c: usize,
    earliest_onset: Option<usize>,
    fs_hz: f64,
    p: &DelineatorParams,
) -> Option<Wave> {
    let n = l.x.len();
    if n < 3 || c >= n {
        return None;
    }
    let half = samples(p.qrs_search_half_s, fs_hz).max(1);
    let lo = c.saturating_sub(half);
    let hi = (c + half).min(n - 1);
    let dmax = l.dx[lo..=hi].iter().fold(0.0f32, |m, v| m.max(v.abs()));
    if dmax.is_nan() || dmax <= 0.0 {
        return None;
    }
    let sig = p.qrs_significant_slope * dmax;
    let is_peak = |k: usize| {
        let a = l.dx[k].abs();
        a >= sig && (k == 0 || a >= l.dx[k - 1].abs()) && (k + 1 >= n || a >= l.dx[k + 1].abs())
    };
    let first = (lo..=hi).find(|&k| is_peak(k))?;
    let last = (lo..=hi).rev().find(|&k| is_peak(k))?;
    let mut min_on = c.saturating_sub(samples(p.qrs_max_before_s, fs_hz));
    if let Some(e) = earliest_onset {
        min_on = min_on.max(e.min(c));
    }
    let max_off = (c + samples(p.qrs_max_after_s, fs_hz)).min(n - 1);
    let walk_back = |from: usize| {
        let thr = p.qrs_onset_slope_fraction * l.dx[from].abs();
        let mut k = from.max(min_on);
        while k > min_on && l.dx[k].abs() >= thr {
            k -= 1;
        }
        k
    };
    let walk_forward = |from: usize| {
        let thr = p.qrs_offset_slope_fraction * l.dx[from].abs();
        let mut k = from;
        while k < max_off && l.dx[k].abs() >= thr {
            k += 1;
        }
        k
    };
    let mut onset = walk_back(first);
    let mut offset = walk_forward(last);
    // A slope peak of the opposite sign (a q before the first significant slope, an s after
    // the last one), near where the walk stopped.
    let edge_sig = (p.qrs_edge_wave_slope * dmax).max(p.qrs_edge_wave_noise_sds * l.noise_slope);
    let edge_peak = |k: usize, sign: f32| {
        let a = l.dx[k] * sign;
        a >= edge_sig && a >= l.dx[k - 1] * sign && a >= l.dx[k + 1] * sign
    };
    let q_window = samples(p.qrs_q_wave_s, fs_hz);
    let sign_first = -l.dx[first].signum();
    if let Some(q) = (onset.saturating_sub(q_window).max(min_on).max(1)..onset)
        .rev()
        .find(|&k| edge_peak(k, sign_first))
    {
        onset = walk_back(q);
    }
    let s_window = samples(p.qrs_s_wave_s, fs_hz);
    let sign_last = -l.dx[last].signum();
    if let Some(s) = (offset + 1..=(offset + s_window).min(max_off).min(n - 2))
        .find(|&k| edge_peak(k, sign_last))
    {
        offset = walk_forward(s);
    }
    let base = l.x[onset];
    let peak = (onset..=offset)
        .max_by(|&a, &b| (l.x[a] - base).abs().total_cmp(&(l.x[b] - base).abs()))?;
    Some(Wave {
        kind: WaveKind::Qrs,
        onset,
        peak,
        offset,
    })
}

/// Isoelectric line of one lead: linear interpolation between PR-segment knots.
pub(crate) struct Isoline {
    values: Vec<f32>,
}

impl Isoline {
    pub fn new(l: &LeadSignals, qrs_onsets: &[usize], fs_hz: f64, window_s: (f64, f64)) -> Isoline {
        let n = l.s.len();
        let a = samples(window_s.0, fs_hz).max(1);
        let b = samples(window_s.1, fs_hz);
        let mut knots = Vec::with_capacity(qrs_onsets.len());
        for &on in qrs_onsets {
            if on < a || on >= n {
                continue;
            }
            let (from, to) = (on - a, on - b.min(a - 1));
            let mean = l.s[from..=to].iter().sum::<f32>() / (to - from + 1) as f32;
            knots.push(((from + to) / 2, mean));
        }
        // Dense values: every per-sample lookup below is then O(1).
        let mut values = vec![0.0f32; n];
        if let (Some(&(p_first, v_first)), Some(&(p_last, v_last))) = (knots.first(), knots.last())
        {
            values[..=p_first.min(n - 1)]
                .iter_mut()
                .for_each(|v| *v = v_first);
            for w in knots.windows(2) {
                let ((p0, v0), (p1, v1)) = (w[0], w[1]);
                let span = (p1 - p0).max(1) as f32;
                for (t, v) in values.iter_mut().enumerate().take(p1 + 1).skip(p0) {
                    *v = v0 + (t - p0) as f32 / span * (v1 - v0);
                }
            }
            values[p_last.min(n - 1)..]
                .iter_mut()
                .for_each(|v| *v = v_last);
        }
        Isoline { values }
    }

    pub fn at(&self, t: usize) -> f32 {
        self.values.get(t).copied().unwrap_or(0.0)
    }
}

/// Trapezium-area end of a wave (Zhang et al. 2006): from the steepest return to baseline after
/// `peak` (within `trapezium` samples), the point within `trapezium` further that maximises the
/// trapezium area. `sign` is the wave's polarity.
fn trapezium_end(
    sig: &[f32],
    dsig: &[f32],
    peak: usize,
    sign: f32,
    bound_hi: usize,
    trapezium: usize,
) -> usize {
    let bound_hi = bound_hi.min(sig.len().saturating_sub(1)).max(peak);
    let xm_hi = (peak + trapezium).min(bound_hi);
    let xm = (peak..=xm_hi)
        .max_by(|&a, &b| (-sign * dsig[a]).total_cmp(&(-sign * dsig[b])))
        .unwrap_or(peak);
    let xr = (xm + trapezium).min(bound_hi);
    (xm..=xr)
        .max_by(|&a, &b| {
            let area = |t: usize| sign * (sig[xm] - sig[t]) * (2 * xr - t - xm) as f32;
            area(a).total_cmp(&area(b))
        })
        .unwrap_or(xm)
}

/// Mirror of [`trapezium_end`] for the start of a wave.
fn trapezium_start(
    sig: &[f32],
    dsig: &[f32],
    peak: usize,
    sign: f32,
    bound_lo: usize,
    trapezium: usize,
) -> usize {
    let bound_lo = bound_lo.min(peak);
    let xm_lo = peak.saturating_sub(trapezium).max(bound_lo);
    let xm = (xm_lo..=peak)
        .max_by(|&a, &b| (sign * dsig[a]).total_cmp(&(sign * dsig[b])))
        .unwrap_or(peak);
    let xr = xm.saturating_sub(trapezium).max(bound_lo);
    (xr..=xm)
        .max_by(|&a, &b| {
            let area = |t: usize| sign * (sig[xm] - sig[t]) * (t + xm - 2 * xr) as f32;
            area(a).total_cmp(&area(b))
        })
        .unwrap_or(xm)
}

/// A wave (P or T) measured in `s`: main peak searched in `[search_lo, search_hi]`, outer
/// landmarks bounded by `[bound_lo, bound_hi]`. Returns None below `min_amplitude_mv`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn measure_wave(
    l: &LeadSignals,
    iso: &Isoline,
    kind: WaveKind,
    search_lo: usize,
    search_hi: usize,
    bound_lo: usize,
    bound_hi: usize,
    trapezium: usize,
    min_amplitude_mv: f32,
    biphasic_ratio: f32,
    lobe_gap: usize,
) -> Option<Wave> {
    let n = l.s.len();
    if n == 0 || search_hi >= n || search_lo >= search_hi {
        return None;
    }
    let bound_lo = bound_lo.min(search_lo);
    let bound_hi = bound_hi.clamp(search_hi, n - 1);
    let dev = |t: usize| l.s[t] - iso.at(t);
    let mut imax = search_lo;
    let mut imin = search_lo;
    for t in search_lo..=search_hi {
        if dev(t) > dev(imax) {
            imax = t;
        }
        if dev(t) < dev(imin) {
            imin = t;
        }
    }
    let amp_pos = dev(imax).max(0.0);
    let amp_neg = (-dev(imin)).max(0.0);
    let (main, main_sign, other, other_amp, main_amp) = if amp_pos >= amp_neg {
        (imax, 1.0f32, imin, amp_neg, amp_pos)
    } else {
        (imin, -1.0f32, imax, amp_pos, amp_neg)
    };
    if main_amp.is_nan() || main_amp < min_amplitude_mv || main_amp <= 0.0 {
        return None;
    }
    let biphasic = other_amp >= biphasic_ratio * main_amp && main.abs_diff(other) <= lobe_gap;
    let (early, early_sign, late, late_sign) = if biphasic {
        if other < main {
            (other, -main_sign, main, main_sign)
        } else {
            (main, main_sign, other, -main_sign)
        }
    } else {
        (main, main_sign, main, main_sign)
    };
    let offset = trapezium_end(&l.s, &l.ds, late, late_sign, bound_hi, trapezium);
    let onset = trapezium_start(&l.s, &l.ds, early, early_sign, bound_lo, trapezium);
    if !(onset <= main && main <= offset) {
        return None;
    }
    Some(Wave {
        kind,
        onset,
        peak: main,
        offset,
    })
}

/// Everything measured for one record (or one lead): fused beats, per-lead beats, AF flag.
pub(crate) struct Measured {
    pub beats: Vec<Beat>,
    pub per_lead: Vec<Vec<Beat>>,
    /// Runs of beats without consistent atrial activity (their P waves removed).
    pub af_episodes: Vec<RhythmEpisode>,
}

/// A multi-lead bound from the leads' own bounds `(bound, wave amplitude in the lead)`: the
/// `quantile` of the bounds of the leads whose wave is at least `global_min_relative_amplitude`
/// of the largest (a bound is read where the wave is clear: in a lead where it is a fraction
/// of its size elsewhere, noise moves its trapezium bounds most). None without a quantile or
/// without leads.
fn global_bound(
    own: &[(usize, f32)],
    quantile: Option<f64>,
    p: &DelineatorParams,
) -> Option<usize> {
    let q = quantile?;
    let largest = own.iter().map(|&(_, a)| a).fold(0.0f32, f32::max);
    let clear: Vec<usize> = own
        .iter()
        .filter(|&&(_, a)| a >= p.global_min_relative_amplitude * largest)
        .map(|&(bound, _)| bound)
        .collect();
    (!clear.is_empty()).then(|| quantile_usize(&clear, q))
}

/// A wave's amplitude in lead `l`: the distance from the lead's isoelectric line at its peak.
fn amplitude_in(l: &LeadSignals, iso: &Isoline, w: Wave) -> f32 {
    (l.s[w.peak] - iso.at(w.peak)).abs()
}

fn quantile_usize(values: &[usize], q: f64) -> usize {
    let mut v: Vec<usize> = values.to_vec();
    v.sort_unstable();
    let i = ((v.len() - 1) as f64 * q).round() as usize;
    v[i]
}

/// Delineate prepared leads (all from one record): the phases of the module documentation in
/// order, each in its own function below.
pub(crate) fn delineate_prepared(
    prepared: &Prepared,
    fs_hz: f64,
    p: &DelineatorParams,
) -> Result<Measured, DelineateError> {
    let leads = &prepared.leads[..];
    let n_leads = leads.len();
    let rec = Record {
        leads,
        n: leads.first().map(|l| l.x.len()).unwrap_or(0),
        fs_hz,
        p,
    };
    let detections = detect_qrs(leads, fs_hz, p);
    let Some(qrs) = qrs_beats(&rec, detections, &prepared.pacing_spikes) else {
        return Ok(Measured {
            beats: Vec::new(),
            per_lead: vec![Vec::new(); n_leads],
            af_episodes: Vec::new(),
        });
    };
    let base = lead_baselines(&rec, &qrs);
    let t_peaks = fused_t_peaks(&rec, &qrs, &base);
    let t_waves = lead_t_waves(&rec, &qrs, &base, &t_peaks);
    let (p_windows, mut p_fused) = fused_p_waves(&rec, &qrs, &base, &t_waves);
    let windows = rhythm_windows(&rec, &qrs);
    let rhythms = beat_rhythms(&rec, &qrs, &p_fused, &windows);
    let without_atrial = remove_p_without_atrial_rhythm(&rec, &qrs, &rhythms, &mut p_fused);
    let in_atrial_rhythm: Vec<bool> = rhythms
        .iter()
        .map(|&(r, _)| r == BeatRhythm::Atrial)
        .collect();
    research_p_off_pr(
        &rec,
        &qrs,
        &base,
        &p_windows,
        &windows,
        &in_atrial_rhythm,
        &mut p_fused,
    );
    let af_episodes = rhythm_episodes(&qrs, &without_atrial);
    let t_fused = fused_t_waves(&t_waves, qrs.fused.len(), base.usable.len());
    let nb = qrs.fused.len();
    let mut own_p_on = vec![Vec::new(); nb];
    let per_lead = lead_beats(
        &rec,
        &qrs,
        &base,
        &p_fused,
        &t_waves,
        &t_fused,
        &mut own_p_on,
    );
    let beats = (0..nb)
        .map(|b| {
            let own_t_offsets: Vec<(usize, f32)> = t_waves
                .iter()
                .zip(rec.leads.iter().zip(&base.isolines))
                .filter_map(|(lt, (l, iso))| {
                    let (t, iso) = (lt[b]?, iso.as_ref()?);
                    Some((t.offset, amplitude_in(l, iso, t)))
                })
                .collect();
            Beat {
                p: p_fused[b].map(|w| Wave {
                    onset: global_bound(&own_p_on[b], p.p_global_onset_quantile, p)
                        .map_or(w.onset, |on| on.min(w.peak)),
                    ..w
                }),
                qrs: qrs.fused[b],
                t: t_fused[b].map(|w| Wave {
                    offset: global_bound(&own_t_offsets, p.t_global_offset_quantile, p)
                        .map_or(w.offset, |off| off.max(w.peak)),
                    ..w
                }),
            }
        })
        .collect();
    Ok(Measured {
        beats,
        per_lead,
        af_episodes,
    })
}

/// The record being delineated, as every phase after QRS detection sees it.
struct Record<'a> {
    leads: &'a [LeadSignals],
    /// Samples per lead.
    n: usize,
    fs_hz: f64,
    p: &'a DelineatorParams,
}

impl Record<'_> {
    fn samples(&self, seconds: f64) -> usize {
        samples(seconds, self.fs_hz)
    }
}

/// The beats of a record once their QRS complexes are measured: only detections where at least
/// one lead has a QRS are kept, and every per-beat vector below is indexed alike.
struct QrsBeats {
    /// Sample of each beat's QRS energy maximum.
    detections: Vec<usize>,
    /// Per lead, per beat: the lead's own QRS (None for a flat lead or where the slope rule
    /// found none).
    per_lead: Vec<Vec<Option<Wave>>>,
    /// Per beat: the QRS fused over the leads.
    fused: Vec<Wave>,
    /// Samples between successive detections.
    rr: Vec<usize>,
    /// Their median (1 s when there is a single beat).
    median_rr: usize,
}

/// The earliest QRS onset of the beat detected at `c`: the pacing spike that triggered it (the
/// last one in the QRS search span before the detection) plus `qrs_onset_after_spike_s`.
/// Low-passed, a spike spreads over +-15 ms and the slope rule would put the onset before it.
fn earliest_qrs_onset(
    spikes: &[usize],
    c: usize,
    fs_hz: f64,
    p: &DelineatorParams,
) -> Option<usize> {
    let from = c.saturating_sub(samples(p.qrs_max_before_s, fs_hz));
    spikes
        .iter()
        .rev()
        .find(|&&s| s >= from && s <= c)
        .map(|&s| s + samples(p.qrs_onset_after_spike_s, fs_hz))
}

/// The fused QRS of beat `b`: onset and offset are quantiles of the lead bounds (a robust form
/// of the CSE earliest-onset/latest-offset convention), the peak their median. None when no
/// lead measured a QRS there.
fn fuse_qrs(per_lead: &[Vec<Option<Wave>>], b: usize, p: &DelineatorParams) -> Option<Wave> {
    let waves: Vec<Wave> = per_lead.iter().filter_map(|lq| lq[b]).collect();
    if waves.is_empty() {
        return None;
    }
    let onsets: Vec<usize> = waves.iter().map(|w| w.onset).collect();
    let offsets: Vec<usize> = waves.iter().map(|w| w.offset).collect();
    let peaks: Vec<usize> = waves.iter().map(|w| w.peak).collect();
    let onset = quantile_usize(&onsets, p.qrs_fused_onset_quantile);
    let offset = quantile_usize(&offsets, p.qrs_fused_offset_quantile);
    let peak = quantile_usize(&peaks, 0.5).clamp(onset, offset);
    Some(Wave {
        kind: WaveKind::Qrs,
        onset,
        peak,
        offset,
    })
}

/// QRS bounds per lead (slope rule) and fused, at every detection. A detection that no lead can
/// measure is not a beat and is dropped; None when no beat is left (or none was detected).
fn qrs_beats(rec: &Record, detections: Vec<usize>, pacing_spikes: &[usize]) -> Option<QrsBeats> {
    let (fs_hz, p) = (rec.fs_hz, rec.p);
    if detections.is_empty() || rec.n == 0 {
        return None;
    }
    let mut per_lead: Vec<Vec<Option<Wave>>> = rec
        .leads
        .iter()
        .map(|l| {
            detections
                .iter()
                .map(|&c| {
                    if l.usable {
                        let earliest = earliest_qrs_onset(pacing_spikes, c, fs_hz, p);
                        measure_qrs(l, c, earliest, fs_hz, p)
                    } else {
                        None
                    }
                })
                .collect()
        })
        .collect();
    let fused: Vec<Option<Wave>> = (0..detections.len())
        .map(|b| fuse_qrs(&per_lead, b, p))
        .collect();
    let keep: Vec<usize> = (0..detections.len())
        .filter(|&b| fused[b].is_some())
        .collect();
    if keep.is_empty() {
        return None;
    }
    let detections: Vec<usize> = keep.iter().map(|&b| detections[b]).collect();
    let fused: Vec<Wave> = keep.iter().filter_map(|&b| fused[b]).collect();
    for lq in per_lead.iter_mut() {
        *lq = keep.iter().map(|&b| lq[b]).collect();
    }
    let rr: Vec<usize> = detections.windows(2).map(|w| w[1] - w[0]).collect();
    let median_rr = dsp::median_usize(&rr).unwrap_or(samples(1.0, fs_hz));
    Some(QrsBeats {
        detections,
        per_lead,
        fused,
        rr,
        median_rr,
    })
}

impl QrsBeats {
    /// The T search window of beat `b` after a QRS ending at `qrs_offset`: from
    /// `t_start_after_qrs_s` after it to an RR-dependent end (T ends later in slow rhythms),
    /// capped at `t_end_max_s`, and before the next QRS onset when there is one.
    fn t_window(
        &self,
        rec: &Record,
        b: usize,
        qrs_offset: usize,
        next_onset: Option<usize>,
    ) -> (usize, usize) {
        let p = rec.p;
        let c = self.detections[b];
        let rr_b = self.rr.get(b).copied().unwrap_or(self.median_rr);
        let start = qrs_offset + rec.samples(p.t_start_after_qrs_s);
        let mut end = (c + rec.samples(p.t_end_rr_fraction * rr_b as f64 / rec.fs_hz))
            .min(c + rec.samples(p.t_end_max_s))
            .min(rec.n - 1);
        if let Some(next) = next_onset {
            end = end.min(next.saturating_sub(rec.samples(p.t_end_before_next_s)));
        }
        (start, end)
    }
}

/// Each usable lead's isoelectric line, and the QRS onsets it was drawn from.
struct LeadBaselines {
    /// Per lead: None for a flat lead.
    isolines: Vec<Option<Isoline>>,
    /// Per lead, per beat: the lead's own QRS onset, or the fused one where it has none.
    qrs_onsets: Vec<Vec<usize>>,
    /// Indices of the leads with an isoelectric line (the usable ones).
    usable: Vec<usize>,
}

/// Isoelectric lines from the PR segments before each lead's own QRS onsets (the fused onset
/// where the lead has no QRS), so that a lead's P and T are measured from its own baseline.
fn lead_baselines(rec: &Record, qrs: &QrsBeats) -> LeadBaselines {
    let n_leads = rec.leads.len();
    let mut isolines: Vec<Option<Isoline>> = Vec::with_capacity(n_leads);
    let mut qrs_onsets: Vec<Vec<usize>> = Vec::with_capacity(n_leads);
    for (li, l) in rec.leads.iter().enumerate() {
        let onsets: Vec<usize> = (0..qrs.fused.len())
            .map(|b| {
                qrs.per_lead[li][b]
                    .map(|w| w.onset)
                    .unwrap_or(qrs.fused[b].onset)
            })
            .collect();
        isolines.push(
            l.usable
                .then(|| Isoline::new(l, &onsets, rec.fs_hz, rec.p.iso_knot_window_s)),
        );
        qrs_onsets.push(onsets);
    }
    let usable: Vec<usize> = (0..n_leads).filter(|&li| isolines[li].is_some()).collect();
    LeadBaselines {
        isolines,
        qrs_onsets,
        usable,
    }
}

/// Fused T peak of each beat: the maximum of the RMS over the leads of the deviation from the
/// isoelectric line, so that leads with a small T wave look for it where the large ones have
/// it. None below `t_min_amplitude_mv` or in a window too short to hold a T.
fn fused_t_peaks(rec: &Record, qrs: &QrsBeats, base: &LeadBaselines) -> Vec<Option<usize>> {
    let nb = qrs.fused.len();
    let mut t_fused_peak: Vec<Option<usize>> = vec![None; nb];
    for b in 0..nb {
        let next = (b + 1 < nb).then(|| qrs.fused[b + 1].onset);
        let (start, end) = qrs.t_window(rec, b, qrs.fused[b].offset, next);
        if end <= start + 2 {
            continue;
        }
        let mut best = (start, -1.0f32);
        for t in start..=end {
            let mut acc = 0.0f32;
            for &li in &base.usable {
                if let Some(iso) = &base.isolines[li] {
                    let d = rec.leads[li].s[t] - iso.at(t);
                    acc += d * d;
                }
            }
            if acc > best.1 {
                best = (t, acc);
            }
        }
        let amp = (best.1 / base.usable.len().max(1) as f32).sqrt();
        if amp >= rec.p.t_min_amplitude_mv {
            t_fused_peak[b] = Some(best.0);
        }
    }
    t_fused_peak
}

/// T waves per lead and beat, searched within `t_lead_search_half_s` of the fused T peak (each
/// lead's own extremum, biphasic recognised, trapezium bounds).
fn lead_t_waves(
    rec: &Record,
    qrs: &QrsBeats,
    base: &LeadBaselines,
    t_fused_peak: &[Option<usize>],
) -> Vec<Vec<Option<Wave>>> {
    let p = rec.p;
    let nb = qrs.fused.len();
    let n = rec.n;
    let lobe_gap = rec.samples(p.biphasic_max_lobe_gap_s);
    let t_trap = rec.samples(p.t_trapezium_s).max(2);
    let t_half = rec.samples(p.t_lead_search_half_s).max(1);
    let mut t_waves: Vec<Vec<Option<Wave>>> = vec![vec![None; nb]; rec.leads.len()];
    for &li in &base.usable {
        let (l, Some(iso)) = (&rec.leads[li], &base.isolines[li]) else {
            continue;
        };
        for b in 0..nb {
            let (Some(q), Some(tp)) = (qrs.per_lead[li][b], t_fused_peak[b]) else {
                continue;
            };
            let next_on = (b + 1 < nb).then(|| base.qrs_onsets[li][b + 1]);
            let (start, end) = qrs.t_window(rec, b, q.offset, next_on);
            let lo = tp.saturating_sub(t_half).max(start);
            let hi = (tp + t_half).min(end);
            let bound_hi = next_on.unwrap_or(n - 1).min(n - 1);
            if hi > lo + 2 {
                t_waves[li][b] = measure_wave(
                    l,
                    iso,
                    WaveKind::T,
                    lo,
                    hi,
                    q.offset,
                    bound_hi,
                    t_trap,
                    0.0,
                    p.biphasic_ratio,
                    lobe_gap,
                );
            }
        }
    }
    t_waves
}

/// The fused T offset of beat `b` (median over the leads), when at least half the usable leads
/// have a T: where the P window of the next beat may start.
fn fused_t_offset(t_waves: &[Vec<Option<Wave>>], b: usize, n_usable: usize) -> Option<usize> {
    let offs: Vec<usize> = t_waves
        .iter()
        .filter_map(|lt| lt[b].map(|w| w.offset))
        .collect();
    if offs.len() * 2 >= n_usable.max(1) {
        dsp::median_usize(&offs)
    } else {
        None
    }
}

/// The P wave in the window `[lo, hi]` before a QRS: the maximum of the spatial envelope, the
/// RMS over the usable leads of each lead's deviation from a line (12 Hz signals), so that
/// inverted and biphasic P waves in some leads add up instead of cancelling.
/// `starts_at_previous_beat`: the window starts where the previous beat's T ends.
fn find_p(
    rec: &Record,
    usable: &[usize],
    lo: usize,
    hi: usize,
    starts_at_previous_beat: bool,
) -> Option<Wave> {
    let (fs_hz, p) = (rec.fs_hz, rec.p);
    let p_trap = rec.samples(p.p_trapezium_s).max(2);
    if hi <= lo + 4 {
        return None;
    }
    // Each lead detrended by the line through its values at the window's start and at the
    // QRS onset, so that level differences between TP and PR segments do not lift the
    // envelope.
    let len = hi - lo + 1;
    let mut acc = vec![0.0f32; len];
    for &li in usable {
        let sl = &rec.leads[li].s;
        let (a0, a1) = (sl[lo], sl[hi]);
        for (k, e) in acc.iter_mut().enumerate() {
            let line = a0 + (a1 - a0) * k as f32 / (len - 1) as f32;
            let d = sl[lo + k] - line;
            *e += d * d;
        }
    }
    let env: Vec<f32> = acc
        .iter()
        .map(|v| (v / usable.len().max(1) as f32).sqrt())
        .collect();
    let denv = dsp::derivative(&env, fs_hz);
    let last = hi - lo;
    let m = (0..=last)
        .max_by(|&a, &b| env[a].total_cmp(&env[b]))
        .unwrap_or(0);
    let amp = env[m];
    // A P wave rises from and returns to the baseline inside the window; a maximum near the
    // window's start is the tail of T, at its end the start of the QRS.
    let margin = rec.samples(p.p_edge_margin_s);
    if m <= margin || m + margin >= last || amp < p.p_min_amplitude_mv {
        return None;
    }
    let offset = trapezium_end(&env, &denv, m, 1.0, env.len() - 1, p_trap);
    let onset = trapezium_start(&env, &denv, m, 1.0, 0, p_trap);
    // A wave that rises straight out of the previous T wave is not a separate P wave: in
    // atrial flutter the F waves fill the whole TQ interval, and after an ectopic beat the
    // envelope maximum is often the end of its T wave.
    if starts_at_previous_beat && onset <= rec.samples(p.p_min_gap_after_t_s) {
        return None;
    }
    Some(Wave {
        kind: WaveKind::P,
        onset: lo + onset,
        peak: lo + m,
        offset: lo + offset,
    })
}

/// Where the P of one beat is searched.
#[derive(Clone, Copy)]
struct PWindow {
    lo: usize,
    hi: usize,
    /// The window starts where the previous beat ends (not at the fixed `p_window_s`).
    starts_at_previous_beat: bool,
}

/// The P window of every beat (`p_window_s` before the QRS onset, never before the previous
/// beat's T offset, up to `p_gap_s` before the onset) and the fused P found in it.
fn fused_p_waves(
    rec: &Record,
    qrs: &QrsBeats,
    base: &LeadBaselines,
    t_waves: &[Vec<Option<Wave>>],
) -> (Vec<PWindow>, Vec<Option<Wave>>) {
    let p = rec.p;
    let nb = qrs.fused.len();
    let mut p_windows: Vec<PWindow> = Vec::with_capacity(nb);
    let mut p_fused: Vec<Option<Wave>> = vec![None; nb];
    for b in 0..nb {
        let q = qrs.fused[b];
        let mut lo = q.onset.saturating_sub(rec.samples(p.p_window_s));
        let mut starts_at_previous_beat = false;
        if b > 0 {
            let previous_end = fused_t_offset(t_waves, b - 1, base.usable.len())
                .unwrap_or(qrs.fused[b - 1].offset);
            starts_at_previous_beat = previous_end > lo;
            lo = lo.max(previous_end);
        }
        let hi = q.onset.saturating_sub(rec.samples(p.p_gap_s));
        p_windows.push(PWindow {
            lo,
            hi,
            starts_at_previous_beat,
        });
        p_fused[b] = find_p(rec, &base.usable, lo, hi, starts_at_previous_beat);
    }
    (p_windows, p_fused)
}

/// PR intervals in seconds (fused P peak to the QRS detection) of the beats with a P.
fn pr_intervals_s(rec: &Record, detections: &[usize], p_fused: &[Option<Wave>]) -> Vec<f32> {
    detections
        .iter()
        .zip(p_fused)
        .filter_map(|(&c, w)| w.map(|w| (c as f32 - w.peak as f32) / rec.fs_hz as f32))
        .collect()
}

/// Rhythm check (atrial fibrillation/flutter) on the beats `range` (one rhythm window): no
/// consistent atrial activity when P waves are missing in most beats, the PR interval is
/// unstable, or, with an irregular RR, the PR is somewhat unstable or few beats share the
/// window's PR. Fewer than 3 beats decide nothing (false).
fn window_lacks_atrial_rhythm(
    rec: &Record,
    qrs: &QrsBeats,
    p_fused: &[Option<Wave>],
    range: std::ops::Range<usize>,
) -> bool {
    let p = rec.p;
    let nb = range.len();
    let detections = &qrs.detections[range.clone()];
    let p_window = &p_fused[range];
    let n_with_p = p_window.iter().filter(|w| w.is_some()).count();
    let pr_s = pr_intervals_s(rec, detections, p_window);
    let (pr_sd, n_consistent_pr) = if pr_s.len() >= 2 {
        let med = dsp::median(&pr_s);
        let dev: Vec<f32> = pr_s.iter().map(|v| (v - med).abs()).collect();
        let consistent = dev
            .iter()
            .filter(|&&d| d as f64 <= p.af_pr_consistent_s)
            .count();
        (1.4826 * dsp::median(&dev) as f64, consistent)
    } else {
        (0.0, pr_s.len())
    };
    let rr: Vec<usize> = detections.windows(2).map(|w| w[1] - w[0]).collect();
    let rr_irregularity = if rr.len() >= 2 {
        let median_rr = dsp::median_usize(&rr).unwrap_or(1).max(1);
        let diffs: Vec<usize> = rr.windows(2).map(|w| w[0].abs_diff(w[1])).collect();
        dsp::median_usize(&diffs).unwrap_or(0) as f64 / median_rr as f64
    } else {
        0.0
    };
    nb >= 3
        && ((n_with_p as f32) < p.af_min_p_fraction * nb as f32
            || pr_sd > p.af_pr_sd_s
            || (rr_irregularity > p.af_rr_irregularity
                && (pr_sd > p.af_pr_sd_irregular_s
                    || (n_consistent_pr as f32) < p.af_min_consistent_p_fraction * nb as f32)))
}

/// The rhythm windows of a record as ranges of beat indices: `rhythm_window_s` long, one every
/// `rhythm_window_step_s`, the last one ending at the record's end. A record no longer than
/// one window is a single window (the whole record, as LUDB's 10 s records are judged).
/// Atrial fibrillation comes and goes in episodes, so a 15 min record is not judged at once.
fn rhythm_windows(rec: &Record, qrs: &QrsBeats) -> Vec<std::ops::Range<usize>> {
    let length = rec.samples(rec.p.rhythm_window_s).max(1);
    let step = rec.samples(rec.p.rhythm_window_step_s).max(1);
    let mut starts: Vec<usize> = (0..)
        .map(|k| k * step)
        .take_while(|&s| s + length < rec.n)
        .collect();
    starts.push(rec.n.saturating_sub(length));
    starts.dedup();
    starts
        .into_iter()
        .map(|start| {
            let end = start + length;
            let first = qrs.detections.partition_point(|&c| c < start);
            let last = qrs.detections.partition_point(|&c| c < end);
            first..last
        })
        .collect()
}

/// How the rhythm windows holding a beat were judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BeatRhythm {
    /// Every window: consistent atrial rhythm (the beat keeps its P).
    Atrial,
    /// Every window: none (atrial fibrillation/flutter; the beat gets no P).
    NoAtrial,
    /// At the border of an episode, windows judged both ways.
    Border,
}

/// Per beat: how the rhythm windows that hold it are judged, and, for a beat at the border of
/// an episode, the median PR (samples) of the consistent window centred nearest it.
fn beat_rhythms(
    rec: &Record,
    qrs: &QrsBeats,
    p_fused: &[Option<Wave>],
    windows: &[std::ops::Range<usize>],
) -> Vec<(BeatRhythm, Option<usize>)> {
    let nb = qrs.fused.len();
    let mut n_atrial = vec![0usize; nb];
    let mut n_windows = vec![0usize; nb];
    // Per beat: (distance from the window's centre, its median PR) of the nearest consistent one.
    let mut border_pr: Vec<Option<(usize, usize)>> = vec![None; nb];
    for range in windows {
        let atrial = !window_lacks_atrial_rhythm(rec, qrs, p_fused, range.clone());
        let pr = pr_intervals_s(rec, &qrs.detections[range.clone()], &p_fused[range.clone()]);
        let median_pr = (atrial && !pr.is_empty()).then(|| rec.samples(dsp::median(&pr) as f64));
        let centre = match (range.clone().next(), range.clone().last()) {
            (Some(a), Some(z)) => (qrs.detections[a] + qrs.detections[z]) / 2,
            _ => continue,
        };
        for b in range.clone() {
            n_windows[b] += 1;
            n_atrial[b] += usize::from(atrial);
            if let Some(pr) = median_pr {
                let distance = centre.abs_diff(qrs.detections[b]);
                if border_pr[b].is_none_or(|(d, _)| distance < d) {
                    border_pr[b] = Some((distance, pr));
                }
            }
        }
    }
    (0..nb)
        .map(|b| match (n_atrial[b], n_windows[b]) {
            (0, _) => (BeatRhythm::NoAtrial, None),
            (a, n) if a == n => (BeatRhythm::Atrial, None),
            _ => (BeatRhythm::Border, border_pr[b].map(|(_, pr)| pr)),
        })
        .collect()
}

/// Remove the P waves where there is no consistent atrial rhythm, and return, per beat, whether
/// it has none. A beat keeps its P when every window holding it is judged consistent, loses it
/// when none is; at the border of an episode it keeps it only when its PR lies within
/// `af_pr_consistent_s` of the median PR of the consistent window nearest it: the sinus beats
/// next to an episode keep their P waves, while fibrillation or flutter waves next to sinus
/// beats are not taken for P waves (a window with a few sinus beats and many AF beats can be
/// judged consistent, and a window is 10 s long). Border beats that keep a P between beats
/// without one lose it too: an f wave lands near the sinus PR by chance in about one beat in
/// four, which would cut one episode into several.
fn remove_p_without_atrial_rhythm(
    rec: &Record,
    qrs: &QrsBeats,
    rhythms: &[(BeatRhythm, Option<usize>)],
    p_fused: &mut [Option<Wave>],
) -> Vec<bool> {
    let consistent = rec.samples(rec.p.af_pr_consistent_s);
    let mut without: Vec<bool> = rhythms
        .iter()
        .zip(p_fused.iter_mut())
        .zip(&qrs.detections)
        .map(|((&(rhythm, border_pr), p), &c)| {
            let keep = match rhythm {
                BeatRhythm::Atrial => true,
                BeatRhythm::NoAtrial => false,
                BeatRhythm::Border => match (*p, border_pr) {
                    (Some(w), Some(pr)) => c.saturating_sub(w.peak).abs_diff(pr) <= consistent,
                    _ => false,
                },
            };
            if !keep {
                *p = None;
            }
            !keep
        })
        .collect();
    let mut b = 0;
    while b < without.len() {
        let first = b;
        while b < without.len() && !without[b] {
            b += 1;
        }
        let enclosed = first > 0 && b < without.len();
        if enclosed && rhythms[first..b].iter().all(|r| r.0 == BeatRhythm::Border) {
            without[first..b].iter_mut().for_each(|w| *w = true);
            p_fused[first..b].iter_mut().for_each(|p| *p = None);
        }
        b += 1;
    }
    without
}

/// The runs of beats without a consistent atrial rhythm, as (first beat's QRS onset, last
/// beat's QRS offset) episodes.
fn rhythm_episodes(qrs: &QrsBeats, without: &[bool]) -> Vec<RhythmEpisode> {
    let mut episodes = Vec::new();
    let mut b = 0;
    while b < without.len() {
        if !without[b] {
            b += 1;
            continue;
        }
        let first = b;
        while b < without.len() && without[b] {
            b += 1;
        }
        episodes.push(RhythmEpisode {
            start: qrs.fused[first].onset,
            end: qrs.fused[b - 1].offset,
        });
    }
    episodes
}

/// In a consistent atrial rhythm, a P far from the local PR interval is more often a U wave,
/// a T tail or noise that outgrew the real P in the wide window: look again around the expected
/// place. A P found there replaces the first one; if none, the first stays (dropping it lost
/// real P waves, e.g. at 100 Hz). The PR is the median over the beats with a P of the rhythm
/// window centred nearest the beat (the PR follows the heart rate over minutes), when that
/// window has at least 3 of them. Only beats whose windows are all judged consistent
/// (`in_atrial_rhythm`): at the border of an episode a P near the expected place may be an f wave.
fn research_p_off_pr(
    rec: &Record,
    qrs: &QrsBeats,
    base: &LeadBaselines,
    p_windows: &[PWindow],
    windows: &[std::ops::Range<usize>],
    in_atrial_rhythm: &[bool],
    p_fused: &mut [Option<Wave>],
) {
    let p = rec.p;
    let first_found: Vec<Option<Wave>> = p_fused.to_vec();
    let median_pr: Vec<Option<usize>> = windows
        .iter()
        .map(|range| {
            let pr: Vec<f32> = pr_intervals_s(
                rec,
                &qrs.detections[range.clone()],
                &first_found[range.clone()],
            );
            (pr.len() >= 3).then(|| rec.samples(dsp::median(&pr) as f64))
        })
        .collect();
    let centres: Vec<usize> = windows
        .iter()
        .map(|r| match (r.clone().next(), r.clone().last()) {
            (Some(a), Some(z)) => (qrs.detections[a] + qrs.detections[z]) / 2,
            _ => usize::MAX,
        })
        .collect();
    let outlier = rec.samples(p.p_pr_outlier_s);
    let half = rec.samples(p.p_research_half_s);
    for b in 0..qrs.fused.len() {
        let Some(w) = p_fused[b].filter(|_| in_atrial_rhythm[b]) else {
            continue;
        };
        let c = qrs.detections[b];
        let nearest = (0..windows.len()).min_by_key(|&k| centres[k].abs_diff(c));
        let Some(median_pr) = nearest.and_then(|k| median_pr[k]) else {
            continue;
        };
        let pr_b = c.saturating_sub(w.peak);
        if pr_b.abs_diff(median_pr) <= outlier {
            continue;
        }
        let window = p_windows[b];
        let expected = c.saturating_sub(median_pr);
        let lo2 = expected.saturating_sub(half).max(window.lo);
        let hi2 = (expected + half).min(window.hi);
        let after_t = window.starts_at_previous_beat && lo2 == window.lo;
        p_fused[b] = find_p(rec, &base.usable, lo2, hi2, after_t).or(p_fused[b]);
    }
}

/// The median wave over `waves` (onset, peak and offset each a median, kept in order).
fn median_wave(kind: WaveKind, waves: &[Wave]) -> Option<Wave> {
    if waves.is_empty() {
        return None;
    }
    let on: Vec<usize> = waves.iter().map(|w| w.onset).collect();
    let pk: Vec<usize> = waves.iter().map(|w| w.peak).collect();
    let off: Vec<usize> = waves.iter().map(|w| w.offset).collect();
    let onset = dsp::median_usize(&on)?;
    let offset = dsp::median_usize(&off)?.max(onset);
    let peak = dsp::median_usize(&pk)?.clamp(onset, offset);
    Some(Wave {
        kind,
        onset,
        peak,
        offset,
    })
}

/// Fused T of each beat: the median over the leads that have one, when at least half the
/// usable leads do (a T seen in one or two leads is more likely noise).
fn fused_t_waves(t_waves: &[Vec<Option<Wave>>], nb: usize, n_usable: usize) -> Vec<Option<Wave>> {
    (0..nb)
        .map(|b| {
            let ts: Vec<Wave> = t_waves.iter().filter_map(|lt| lt[b]).collect();
            if ts.len() * 2 >= n_usable.max(1) {
                median_wave(WaveKind::T, &ts)
            } else {
                None
            }
        })
        .collect()
}

/// `fused + weight x (own - fused)`: a lead's bound between the fused one and its own (LUDB
/// annotates each lead separately, but one lead's bound alone is noisier than the fused one).
fn blend(fused: usize, own: usize, weight: f32) -> usize {
    (fused as f32 + weight * (own as f32 - fused as f32))
        .round()
        .max(0.0) as usize
}

/// One lead's P from the fused P `w`: the peak is the lead's own extremum within the fused
/// bounds; the bounds blend the fused ones with the trapezium bounds of the lead's own lobe(s).
fn lead_p_wave(rec: &Record, l: &LeadSignals, iso: &Isoline, w: Wave) -> (Wave, Option<Wave>) {
    let p = rec.p;
    let p_trap = rec.samples(p.p_trapezium_s).max(2);
    let lobe_gap = rec.samples(p.biphasic_max_lobe_gap_s);
    let peak = (w.onset..=w.offset)
        .max_by(|&x, &y| {
            (l.s[x] - iso.at(x))
                .abs()
                .total_cmp(&(l.s[y] - iso.at(y)).abs())
        })
        .unwrap_or(w.peak);
    let own = measure_wave(
        l,
        iso,
        WaveKind::P,
        w.onset,
        w.offset,
        w.onset.saturating_sub(p_trap),
        w.offset + p_trap,
        p_trap,
        0.0,
        p.biphasic_ratio,
        lobe_gap,
    );
    let (onset, offset) = match own {
        Some(o) => (
            blend(w.onset, o.onset, p.p_lead_bound_weight).min(peak),
            blend(w.offset, o.offset, p.p_lead_bound_weight).max(peak),
        ),
        None => (w.onset, w.offset),
    };
    let blended = Wave {
        onset,
        peak,
        offset,
        ..w
    };
    (blended, own)
}

/// Per-lead beats of every usable lead where it has a QRS: P, QRS and T bounds blended between
/// the fused ones and the lead's own (`*_lead_bound_weight`).
fn lead_beats(
    rec: &Record,
    qrs: &QrsBeats,
    base: &LeadBaselines,
    p_fused: &[Option<Wave>],
    t_waves: &[Vec<Option<Wave>>],
    t_fused: &[Option<Wave>],
    own_p_onsets: &mut [Vec<(usize, f32)>],
) -> Vec<Vec<Beat>> {
    let p = rec.p;
    let mut per_lead: Vec<Vec<Beat>> = vec![Vec::new(); rec.leads.len()];
    for (li, l) in rec.leads.iter().enumerate() {
        let Some(iso) = &base.isolines[li] else {
            continue;
        };
        for b in 0..qrs.fused.len() {
            let Some(q) = qrs.per_lead[li][b] else {
                continue;
            };
            let p_wave = p_fused[b].map(|w| {
                let (blended, own) = lead_p_wave(rec, l, iso, w);
                if let Some(o) = own {
                    own_p_onsets[b].push((o.onset, amplitude_in(l, iso, o)));
                }
                blended
            });
            let f = qrs.fused[b];
            let q = Wave {
                onset: blend(f.onset, q.onset, p.qrs_lead_bound_weight).min(q.peak),
                offset: blend(f.offset, q.offset, p.qrs_lead_bound_weight).max(q.peak),
                ..q
            };
            let t_wave = t_waves[li][b].map(|t| match t_fused[b] {
                Some(f) => Wave {
                    onset: blend(f.onset, t.onset, p.t_lead_bound_weight).min(t.peak),
                    offset: blend(f.offset, t.offset, p.t_lead_bound_weight).max(t.peak),
                    ..t
                },
                None => t,
            });
            per_lead[li].push(Beat {
                p: p_wave,
                qrs: q,
                t: t_wave,
            });
        }
    }
    per_lead
}
