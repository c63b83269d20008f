//! Global (all-lead) wave bounds of each beat and the intervals between them.
//!
//! Carts measure intervals from the earliest onset and the latest offset over the leads (the
//! CSE convention). Each bound follows its [`BoundRule`]: the delineator's fused bound, or a
//! quantile of the bounds it reports in each lead for that beat.

use crate::delineate::{Beat, Delineation, Wave};

use super::params::{BoundRule, MeasureParams};
use super::{Absent, BeatMeasurements, Measured};

/// The global bounds of one fused beat, in samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GlobalBeat {
    pub qrs_peak: usize,
    pub qrs_onset: usize,
    pub qrs_offset: usize,
    /// P onset and offset.
    pub p: Option<(usize, usize)>,
    pub t_offset: Option<usize>,
}

/// The `q`-quantile of the values (nearest rank), `None` when empty.
fn quantile(values: &mut [usize], q: f64) -> Option<usize> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    Some(values[((values.len() - 1) as f64 * q).round() as usize])
}

/// One bound of a beat: from the fused wave or from the lead waves, by `rule`; the fused
/// bound when no lead reports the wave.
fn bound(
    rule: BoundRule,
    fused: usize,
    leads: &[Option<&Wave>],
    get: fn(&Wave) -> usize,
    scratch: &mut Vec<usize>,
) -> usize {
    match rule {
        BoundRule::Fused => fused,
        BoundRule::LeadQuantile(q) => {
            scratch.clear();
            scratch.extend(leads.iter().flatten().map(|w| get(w)));
            quantile(scratch, q).unwrap_or(fused)
        }
    }
}

/// Each lead's beat whose QRS peak is nearest the fused beat's (within `max_dist` samples).
/// Lead beats are in time order, so a cursor per lead keeps this linear.
fn matched_lead_beats<'a>(
    d: &'a Delineation,
    max_dist: usize,
) -> impl Iterator<Item = Vec<Option<&'a Beat>>> + 'a {
    let mut cursors = vec![0usize; d.per_lead.len()];
    d.beats.iter().map(move |fused| {
        let peak = fused.qrs.peak;
        d.per_lead
            .iter()
            .zip(cursors.iter_mut())
            .map(|(lead, cursor)| {
                while *cursor < lead.len() && lead[*cursor].qrs.peak + max_dist < peak {
                    *cursor += 1;
                }
                let b = lead.get(*cursor)?;
                (b.qrs.peak.abs_diff(peak) <= max_dist).then_some(b)
            })
            .collect()
    })
}

/// The global bounds of every fused beat. P and T are present when the fused beat has them
/// (the delineator's decision); only their bounds come from the leads.
pub fn global_beats(d: &Delineation, params: &MeasureParams) -> Vec<GlobalBeat> {
    let max_dist = (params.lead_match_ms * d.fs_hz / 1000.0).round() as usize;
    let mut scratch = Vec::with_capacity(d.per_lead.len());
    let mut out = Vec::with_capacity(d.beats.len());
    for (fused, leads) in d.beats.iter().zip(matched_lead_beats(d, max_dist)) {
        let waves = |pick: fn(&Beat) -> Option<&Wave>| -> Vec<Option<&Wave>> {
            leads.iter().map(|b| b.and_then(pick)).collect()
        };
        let qrs = waves(|b| Some(&b.qrs));
        let qrs_onset = bound(
            params.qrs_onset,
            fused.qrs.onset,
            &qrs,
            |w| w.onset,
            &mut scratch,
        );
        let qrs_offset = bound(
            params.qrs_offset,
            fused.qrs.offset,
            &qrs,
            |w| w.offset,
            &mut scratch,
        );
        let p = fused.p.map(|fp| {
            let leads_p = waves(|b| b.p.as_ref());
            let on = bound(
                params.p_onset,
                fp.onset,
                &leads_p,
                |w| w.onset,
                &mut scratch,
            );
            let off = bound(
                params.p_offset,
                fp.offset,
                &leads_p,
                |w| w.offset,
                &mut scratch,
            );
            (on, off.max(on))
        });
        let t_offset = fused.t.map(|ft| {
            let leads_t = waves(|b| b.t.as_ref());
            bound(
                params.t_offset,
                ft.offset,
                &leads_t,
                |w| w.offset,
                &mut scratch,
            )
        });
        out.push(GlobalBeat {
            qrs_peak: fused.qrs.peak,
            qrs_onset: qrs_onset.min(fused.qrs.peak),
            qrs_offset: qrs_offset.max(fused.qrs.peak),
            p,
            t_offset,
        });
    }
    out
}

/// Every beat's intervals (no ectopic decision yet).
pub fn beat_intervals(
    global: &[GlobalBeat],
    d: &Delineation,
    params: &MeasureParams,
) -> Vec<BeatMeasurements> {
    let ms = |samples: usize| samples as f64 * 1000.0 / d.fs_hz;
    let span = |from: usize, to: usize| ms(to.saturating_sub(from));
    global
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let rr_ms = match i.checked_sub(1).map(|j| &global[j]) {
                Some(prev) => Measured::Value(span(prev.qrs_peak, g.qrs_peak)),
                None => Measured::Absent(Absent::NoPrecedingBeat),
            };
            let in_af_episode = d.without_atrial_rhythm_at(g.qrs_peak);
            let no_p = if in_af_episode {
                Absent::NoConsistentPWaves
            } else {
                Absent::NoPWave
            };
            let p_ms = Measured::from_option(g.p.map(|(on, off)| span(on, off)), no_p);
            let pr_ms = Measured::from_option(g.p.map(|(on, _)| span(on, g.qrs_onset)), no_p);
            let qt_ms = Measured::from_option(
                g.t_offset.map(|off| span(g.qrs_onset, off)),
                Absent::NoTWave,
            );
            let qtc_ms = super::beat_qtc(params.qtc_formula, qt_ms, rr_ms);
            BeatMeasurements {
                beat: i,
                qrs_peak_sample: g.qrs_peak,
                time_s: g.qrs_peak as f64 / d.fs_hz,
                rr_ms,
                ectopic: None,
                in_af_episode,
                p_ms,
                pr_ms,
                qrs_ms: Measured::Value(span(g.qrs_onset, g.qrs_offset)),
                qt_ms,
                qtc_ms,
            }
        })
        .collect()
}
