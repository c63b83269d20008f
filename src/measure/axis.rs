//! Frontal-plane axes of P, QRS and T from the limb leads.
//!
//! Method (the net-area method of the CSE and of most carts): in leads I and aVF, the net area
//! of each wave between its fused onset and offset, above the straight line joining the signal
//! at those two points (so baseline wander and an ST shift do not count), median over the
//! dominant beats; the axis is atan2(2/sqrt(3) x area aVF, area I) in degrees (aVF's lead vector
//! is sqrt(3)/2 as long as lead I's). I and aVF missing are
//! derived from the limb leads present (Einthoven and Goldberger: I = II - III,
//! aVF = II - I/2 = (II + III)/2).

use crate::delineate::{Delineation, Wave};
use crate::record::{Ecg, LeadName};

use super::params::MeasureParams;
use super::{Absent, Axes, Measured, median};

/// A lead as a weighted sum of the record's rows.
type Combination = Vec<(usize, f64)>;

fn row_of(ecg: &Ecg, lead: LeadName) -> Option<usize> {
    ecg.leads.iter().position(|l| *l == lead)
}

/// Lead I and aVF as combinations of the record's rows, when they can be formed.
fn limb_pair(ecg: &Ecg) -> Option<(Combination, Combination)> {
    let (i, ii, iii, avf) = (
        row_of(ecg, LeadName::I),
        row_of(ecg, LeadName::II),
        row_of(ecg, LeadName::III),
        row_of(ecg, LeadName::AVF),
    );
    let lead_i = match (i, ii, iii) {
        (Some(i), _, _) => vec![(i, 1.0)],
        (None, Some(ii), Some(iii)) => vec![(ii, 1.0), (iii, -1.0)],
        _ => return None,
    };
    let lead_avf = match (avf, ii, iii) {
        (Some(f), _, _) => vec![(f, 1.0)],
        (None, Some(ii), Some(iii)) => vec![(ii, 0.5), (iii, 0.5)],
        (None, Some(ii), None) => {
            let mut c = vec![(ii, 1.0)];
            c.extend(lead_i.iter().map(|&(r, w)| (r, -0.5 * w)));
            c
        }
        _ => return None,
    };
    Some((lead_i, lead_avf))
}

/// Net area (mV·ms) of `lead` over `wave`'s bounds above the line joining its end points.
fn net_area_mv_ms(ecg: &Ecg, lead: &Combination, wave: &Wave, fs_hz: f64) -> f64 {
    let at = |s: usize| -> f64 {
        lead.iter()
            .map(|&(r, w)| w * ecg.samples_mv[[r, s]] as f64)
            .sum()
    };
    let (on, off) = (
        wave.onset,
        wave.offset.min(ecg.n_samples().saturating_sub(1)),
    );
    if off <= on {
        return 0.0;
    }
    let (y0, y1) = (at(on), at(off));
    let len = (off - on) as f64;
    let sum: f64 = (on..=off)
        .map(|s| at(s) - (y0 + (y1 - y0) * (s - on) as f64 / len))
        .sum();
    sum * 1000.0 / fs_hz
}

/// One wave's axis over the dominant beats that have it.
fn wave_axis(
    ecg: &Ecg,
    pair: &(Combination, Combination),
    waves: &[Wave],
    missing: Absent,
    params: &MeasureParams,
    fs_hz: f64,
) -> Measured<f64> {
    let area = |lead: &Combination| -> Option<f64> {
        let areas: Vec<f64> = waves
            .iter()
            .map(|w| net_area_mv_ms(ecg, lead, w, fs_hz))
            .collect();
        median(&areas)
    };
    let (Some(a_i), Some(a_f)) = (area(&pair.0), area(&pair.1)) else {
        return Measured::Absent(missing);
    };
    if a_i.hypot(a_f) < params.axis_min_area_mv_ms.max(f64::MIN_POSITIVE) {
        return Measured::Absent(Absent::IndeterminateAxis);
    }
    // aVF's lead vector is sqrt(3)/2 as long as lead I's (Einthoven's triangle with
    // Goldberger's augmented leads), so its area is scaled up before the angle is taken.
    Measured::Value((a_f * 2.0 / 3f64.sqrt()).atan2(a_i).to_degrees())
}

/// The P, QRS and T axes over the dominant beats (`dominant`: indices into `d.beats`); `no_p`
/// says why the P axis is absent when none of them has a P.
pub fn frontal_axes(
    ecg: &Ecg,
    d: &Delineation,
    dominant: &[usize],
    no_p: Absent,
    params: &MeasureParams,
) -> Axes {
    let all = |why: Absent| Axes {
        p_deg: Measured::Absent(why),
        qrs_deg: Measured::Absent(why),
        t_deg: Measured::Absent(why),
    };
    if d.beats.is_empty() {
        return all(Absent::NoBeats);
    }
    if dominant.is_empty() {
        return all(Absent::NoDominantBeats);
    }
    let Some(pair) = limb_pair(ecg) else {
        return all(Absent::MissingLimbLeads);
    };
    let beats = dominant.iter().filter_map(|&i| d.beats.get(i));
    let p: Vec<Wave> = beats.clone().filter_map(|b| b.p).collect();
    let qrs: Vec<Wave> = beats.clone().map(|b| b.qrs).collect();
    let t: Vec<Wave> = beats.filter_map(|b| b.t).collect();
    Axes {
        p_deg: wave_axis(ecg, &pair, &p, no_p, params, d.fs_hz),
        qrs_deg: wave_axis(ecg, &pair, &qrs, Absent::NoBeats, params, d.fs_hz),
        t_deg: wave_axis(ecg, &pair, &t, Absent::NoTWave, params, d.fs_hz),
    }
}
