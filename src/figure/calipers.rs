//! Calipers on the ECG paper, as a cardiologist sets dividers on a printout: a time caliper
//! (two legs across the trace, a bar between them, the interval in ms and the rate it implies)
//! and an amplitude caliper (two legs at two voltages, the difference in mV). A time caliper can
//! march: copies of its interval stepped along the rhythm to the edges of what is shown, to see
//! whether the beats fall on the legs.
//!
//! [`Caliper`] is the plain value the app keeps per record and the figures draw; its geometry in
//! record coordinates (seconds, mV) comes from [`Caliper::shape`], which both the app (in screen
//! points) and [`caliper_layer`] (in mm) map through their panels, so the two draw the same.

use serde::{Deserialize, Serialize};

use crate::figure::layout::LayoutDescription;
use crate::figure::palette::{self, Rgba};
use crate::figure::scene::{Primitive, Stroke, TextAnchor};
use crate::record::LeadName;

/// Colour of calipers: a blue that reads on the red grid and apart from the black trace.
pub const CALIPER_COLOUR: Rgba = [0x00, 0x5A, 0xC8, 0xFF];
/// Half the length of a time caliper's legs and of an amplitude caliper's legs, in mm of paper.
pub const LEG_HALF_MM: f64 = 4.0;
/// The shortest interval that marches (ms): shorter ones would fill the view with legs.
pub const MIN_MARCH_MS: f64 = 100.0;
/// At most this many marched copies each way.
const MAX_MARCH_COPIES: usize = 400;

/// One caliper, on the lead it was set on (drawn on every panel of that lead showing its time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Caliper {
    /// Legs at `start_s` and `end_s` (start < end), the bar at `bar_mv` on the lead's scale.
    Time {
        lead: LeadName,
        start_s: f64,
        end_s: f64,
        bar_mv: f64,
        /// Copies of the interval stepped along the rhythm to the edges of the view.
        march: bool,
    },
    /// Legs at `from_mv` and `to_mv`, the bar at `time_s`.
    Amplitude {
        lead: LeadName,
        time_s: f64,
        from_mv: f64,
        to_mv: f64,
    },
}

/// A caliper's geometry in record coordinates: segments from (s, mV) to (s, mV), and its label.
/// Leg lengths are given by the caller in seconds and mV (from the paper speed and gain), so a
/// leg is as long on screen as on paper.
#[derive(Debug, Clone, PartialEq)]
pub struct CaliperShape {
    /// The two legs and the bar.
    pub main: Vec<((f64, f64), (f64, f64))>,
    /// Marched legs and the thin bar joining them (time calipers marching only).
    pub marched: Vec<((f64, f64), (f64, f64))>,
    /// Where the label goes (s, mV): above the bar's middle (time) or right of it (amplitude).
    pub label_at: (f64, f64),
    pub label: String,
}

impl Caliper {
    pub fn lead(&self) -> &LeadName {
        match self {
            Caliper::Time { lead, .. } | Caliper::Amplitude { lead, .. } => lead,
        }
    }

    /// Whether it is drawn on a panel of `lead` (its own lead, or a stand-in such as MLII for II).
    pub fn shown_on(&self, lead: &LeadName) -> bool {
        let own = self.lead();
        own == lead
            || lead.clinical_equivalent().as_ref() == Some(own)
            || own.clinical_equivalent().as_ref() == Some(lead)
    }

    /// The caliper a drag from `from` to `to` (s, mV) on `lead` sets: a time caliper when the
    /// drag is mostly horizontal on the paper (at `speed_mm_s` and `gain_mm_mv`), an amplitude
    /// caliper when mostly vertical; `None` for a drag shorter than 1 mm (a click).
    pub fn from_drag(
        lead: LeadName,
        from: (f64, f64),
        to: (f64, f64),
        speed_mm_s: f64,
        gain_mm_mv: f64,
    ) -> Option<Caliper> {
        let dx_mm = (to.0 - from.0).abs() * speed_mm_s;
        let dy_mm = (to.1 - from.1).abs() * gain_mm_mv;
        if !(dx_mm.max(dy_mm) >= 1.0) {
            return None;
        }
        Some(if dx_mm >= dy_mm {
            Caliper::Time {
                lead,
                start_s: from.0.min(to.0),
                end_s: from.0.max(to.0),
                bar_mv: from.1,
                march: false,
            }
        } else {
            Caliper::Amplitude {
                lead,
                time_s: from.0,
                from_mv: from.1,
                to_mv: to.1,
            }
        })
    }

    /// Switch marching on or off (time calipers; amplitude calipers do not march).
    pub fn toggle_march(&mut self) {
        if let Caliper::Time { march, .. } = self {
            *march = !*march;
        }
    }

    /// The interval of a time caliper (ms).
    pub fn interval_ms(&self) -> Option<f64> {
        match self {
            Caliper::Time { start_s, end_s, .. } => Some((end_s - start_s) * 1e3),
            Caliper::Amplitude { .. } => None,
        }
    }

    /// The rate an interval implies, as if it were an RR interval (bpm).
    pub fn rate_bpm(&self) -> Option<f64> {
        self.interval_ms()
            .filter(|ms| *ms > 0.0)
            .map(|ms| 60_000.0 / ms)
    }

    /// The amplitude of an amplitude caliper (mV, `to - from`: negative for a downward one).
    pub fn amplitude_mv(&self) -> Option<f64> {
        match self {
            Caliper::Amplitude { from_mv, to_mv, .. } => Some(to_mv - from_mv),
            Caliper::Time { .. } => None,
        }
    }

    /// "800 ms · 75 bpm" or "1.25 mV".
    pub fn label(&self) -> String {
        match (self.interval_ms(), self.rate_bpm(), self.amplitude_mv()) {
            (Some(ms), Some(bpm), _) => format!("{ms:.0} ms · {bpm:.0} bpm"),
            (Some(ms), None, _) => format!("{ms:.0} ms"),
            (_, _, Some(mv)) => format!("{:.2} mV", mv.abs()),
            _ => String::new(),
        }
    }

    /// Whether it marches (time calipers only).
    pub fn marches(&self) -> bool {
        matches!(self, Caliper::Time { march: true, .. })
    }

    /// Where the marched legs fall within `span_s` (the legs' own times left out): every whole
    /// multiple of the interval from the first leg, both ways, at most a few hundred each way.
    pub fn march_times(&self, span_s: (f64, f64)) -> Vec<f64> {
        let Caliper::Time {
            start_s,
            end_s,
            march: true,
            ..
        } = *self
        else {
            return Vec::new();
        };
        let step = end_s - start_s;
        if !(step * 1e3 >= MIN_MARCH_MS) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for k in 2..MAX_MARCH_COPIES {
            let t = start_s + k as f64 * step;
            if t > span_s.1 {
                break;
            }
            out.push(t);
        }
        for k in 1..MAX_MARCH_COPIES {
            let t = start_s - k as f64 * step;
            if t < span_s.0 {
                break;
            }
            out.push(t);
        }
        out.retain(|t| *t >= span_s.0);
        out.sort_by(f64::total_cmp);
        out
    }

    /// The geometry over a panel showing `span_s`, with legs `leg_half_mv` (time caliper) or
    /// `leg_half_s` (amplitude caliper) long each side of the bar. `None` when nothing of it
    /// falls within the span.
    pub fn shape(
        &self,
        span_s: (f64, f64),
        leg_half_mv: f64,
        leg_half_s: f64,
    ) -> Option<CaliperShape> {
        match *self {
            Caliper::Time {
                start_s,
                end_s,
                bar_mv,
                ..
            } => {
                let marched_t = self.march_times(span_s);
                let overlaps = end_s >= span_s.0 && start_s <= span_s.1;
                if !overlaps && marched_t.is_empty() {
                    return None;
                }
                let leg = |t: f64| ((t, bar_mv - leg_half_mv), (t, bar_mv + leg_half_mv));
                let main = vec![
                    leg(start_s),
                    leg(end_s),
                    ((start_s, bar_mv), (end_s, bar_mv)),
                ];
                let mut marched: Vec<_> = marched_t
                    .iter()
                    .map(|&t| {
                        (
                            (t, bar_mv - leg_half_mv / 2.0),
                            (t, bar_mv + leg_half_mv / 2.0),
                        )
                    })
                    .collect();
                if let (Some(first), Some(last)) = (marched_t.first(), marched_t.last()) {
                    marched.push(((first.min(start_s), bar_mv), (last.max(end_s), bar_mv)));
                }
                Some(CaliperShape {
                    main,
                    marched,
                    label_at: ((start_s + end_s) / 2.0, bar_mv + leg_half_mv * 0.3),
                    label: self.label(),
                })
            }
            Caliper::Amplitude {
                time_s,
                from_mv,
                to_mv,
                ..
            } => {
                if time_s + leg_half_s < span_s.0 || time_s - leg_half_s > span_s.1 {
                    return None;
                }
                let leg = |v: f64| ((time_s - leg_half_s, v), (time_s + leg_half_s, v));
                Some(CaliperShape {
                    main: vec![
                        leg(from_mv),
                        leg(to_mv),
                        ((time_s, from_mv), (time_s, to_mv)),
                    ],
                    marched: Vec::new(),
                    label_at: (time_s + leg_half_s * 1.2, (from_mv + to_mv) / 2.0),
                    label: self.label(),
                })
            }
        }
    }
}

/// The calipers on the figure's panels of their leads, in mm (clipped to each panel's span).
pub fn caliper_layer(layout: &LayoutDescription, calipers: &[Caliper]) -> Vec<Primitive> {
    let mut out = Vec::new();
    let stroke = Stroke {
        colour: CALIPER_COLOUR,
        width_mm: 0.3,
    };
    let thin = Stroke {
        colour: palette::with_alpha(CALIPER_COLOUR, 150),
        width_mm: 0.2,
    };
    for caliper in calipers {
        for panel in layout
            .panels
            .iter()
            .filter(|p| p.lead_index.is_some() && caliper.shown_on(&p.lead))
        {
            let span = (panel.start_s, panel.end_s);
            let leg_half_mv = LEG_HALF_MM / panel.gain_mm_mv;
            let leg_half_s = LEG_HALF_MM / 2.0 / panel.paper_speed_mm_s;
            let Some(shape) = caliper.shape(span, leg_half_mv, leg_half_s) else {
                continue;
            };
            let clip_t = |t: f64| t.clamp(panel.start_s, panel.end_s);
            let pt = |(t, mv): (f64, f64)| (panel.x_from_seconds(clip_t(t)), panel.y_from_mv(mv));
            let inside = |(a, b): &((f64, f64), (f64, f64))| {
                a.0.max(b.0) >= panel.start_s && a.0.min(b.0) <= panel.end_s
            };
            for (segments, s) in [(&shape.main, stroke), (&shape.marched, thin)] {
                for seg in segments.iter().filter(|s| inside(s)) {
                    out.push(Primitive::Line {
                        from: pt(seg.0),
                        to: pt(seg.1),
                        stroke: s,
                    });
                }
            }
            let (t, mv) = shape.label_at;
            if t >= panel.start_s && t <= panel.end_s {
                let anchor = match caliper {
                    Caliper::Time { .. } => TextAnchor::Middle,
                    Caliper::Amplitude { .. } => TextAnchor::Start,
                };
                out.push(Primitive::Text {
                    pos: (panel.x_from_seconds(t), panel.y_from_mv(mv)),
                    text: shape.label,
                    size_mm: 2.4,
                    colour: CALIPER_COLOUR,
                    anchor,
                    bold: true,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(start_s: f64, end_s: f64, march: bool) -> Caliper {
        Caliper::Time {
            lead: LeadName::II,
            start_s,
            end_s,
            bar_mv: 0.5,
            march,
        }
    }

    #[test]
    fn values_and_labels() {
        let c = time(1.15, 1.95, false);
        assert!((c.interval_ms().unwrap() - 800.0).abs() < 1e-9);
        assert!((c.rate_bpm().unwrap() - 75.0).abs() < 1e-9);
        assert_eq!(c.label(), "800 ms · 75 bpm");
        let a = Caliper::Amplitude {
            lead: LeadName::V2,
            time_s: 2.0,
            from_mv: -0.25,
            to_mv: 1.0,
        };
        assert_eq!(a.amplitude_mv(), Some(1.25));
        assert_eq!(a.label(), "1.25 mV");
        assert!(a.interval_ms().is_none() && a.march_times((0.0, 10.0)).is_empty());
        // A mostly horizontal drag is a time caliper, a mostly vertical one an amplitude
        // caliper, a click none; MLII's calipers show on the II of a clinical layout.
        let mlii = LeadName::Other("MLII".into());
        let t = Caliper::from_drag(mlii.clone(), (2.0, 0.1), (1.2, 0.3), 25.0, 10.0).unwrap();
        assert_eq!(t.interval_ms().map(|v| v.round()), Some(800.0));
        assert!(t.shown_on(&LeadName::II) && !t.shown_on(&LeadName::V1));
        let v = Caliper::from_drag(mlii.clone(), (2.0, 0.0), (2.05, -1.5), 25.0, 10.0).unwrap();
        assert_eq!(v.amplitude_mv(), Some(-1.5));
        assert!(Caliper::from_drag(mlii, (2.0, 0.0), (2.01, 0.02), 25.0, 10.0).is_none());
    }

    #[test]
    fn marching_steps_the_interval_to_both_edges() {
        let c = time(2.0, 2.8, true);
        let t = c.march_times((0.5, 5.0));
        let expected = [1.2, 3.6, 4.4];
        assert_eq!(t.len(), expected.len(), "{t:?}");
        for (a, b) in t.iter().zip(expected) {
            assert!((a - b).abs() < 1e-9, "{t:?}");
        }
        assert!(time(2.0, 2.8, false).march_times((0.0, 10.0)).is_empty());
        // A tiny interval does not fill the view with legs.
        assert!(time(2.0, 2.01, true).march_times((0.0, 10.0)).is_empty());
        let shape = c.shape((0.5, 5.0), 0.4, 0.08).unwrap();
        assert_eq!(shape.main.len(), 3);
        assert_eq!(
            shape.marched.len(),
            4,
            "three legs and the bar joining them"
        );
        assert!(
            time(20.0, 21.0, false)
                .shape((0.0, 10.0), 0.4, 0.08)
                .is_none()
        );
    }
}
