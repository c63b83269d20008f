//! The measurement line printed above the tracing (figures; the app's ECG view uses the same).

use super::{Measured, Measurements};

/// "72 bpm" or "— (no P waves)": a value with its unit, or a dash and the short reason.
fn value_text(m: Measured<f64>, unit: &str) -> String {
    match m {
        Measured::Value(v) => format!("{v:.0}{unit}"),
        Measured::Absent(a) => format!("— ({})", a.short()),
    }
}

/// The axes as "P 45° QRS 30° T 40°"; an absent axis is a dash with its reason, and three
/// absent for one reason (a Holter record has no limb leads) are one dash.
fn axes_text(m: &Measurements) -> String {
    let axes = [
        ("P", m.axes.p_deg),
        ("QRS", m.axes.qrs_deg),
        ("T", m.axes.t_deg),
    ];
    let reasons: Vec<String> = axes
        .iter()
        .filter_map(|(_, v)| match v {
            Measured::Absent(a) => Some(a.short().to_string()),
            Measured::Value(_) => None,
        })
        .collect();
    if reasons.len() == axes.len() && reasons.iter().all(|r| *r == reasons[0]) {
        return format!("— ({})", reasons[0]);
    }
    axes.iter()
        .map(|(name, v)| format!("{name} {}", value_text(*v, "°")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One line as on a cart's printout:
/// "HR 72 bpm (65–80) · PR 160 ms · QRS 92 ms · QT/QTc 380/402 ms (Fridericia) · axes P 45°
/// QRS 30° T 40° · sinus rhythm; 1 ectopic beat left out".
pub fn measurement_line(m: &Measurements) -> String {
    let hr = &m.heart_rate;
    let mut rate = format!("HR {}", value_text(hr.mean_bpm, " bpm"));
    if let (Some(lo), Some(hi)) = (hr.min_bpm.value(), hr.max_bpm.value()) {
        rate.push_str(&format!(" ({lo:.0}–{hi:.0})"));
    }
    let qt = match (m.qt_ms, m.qtc_ms) {
        (Measured::Value(qt), Measured::Value(qtc)) => {
            format!("QT/QTc {qt:.0}/{qtc:.0} ms ({})", m.qtc_formula.as_str())
        }
        (qt, qtc) => format!(
            "QT {} · QTc {}",
            value_text(qt, " ms"),
            value_text(qtc, " ms")
        ),
    };
    [
        rate,
        format!("PR {}", value_text(m.pr_ms, " ms")),
        format!("QRS {}", value_text(m.qrs_ms, " ms")),
        qt,
        format!("axes {}", axes_text(m)),
        m.rhythm.statement(),
    ]
    .join(" · ")
}
