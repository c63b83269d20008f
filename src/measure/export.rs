//! Measurements as CSV: one row per record, or one per beat. Absent values are empty cells and
//! the `absent` column says why (`pr_ms: no P waves consistently linked ...; ...`).

use super::{Measured, Measurements};

/// Header of the per-record table.
pub const RECORD_COLUMNS: [&str; 21] = [
    "record_id",
    "n_beats",
    "n_ectopic",
    "hr_mean_bpm",
    "hr_min_bpm",
    "hr_max_bpm",
    "sdnn_ms",
    "rmssd_ms",
    "p_ms",
    "pr_ms",
    "qrs_ms",
    "qt_ms",
    "qtc_ms",
    "qtc_formula",
    "p_axis_deg",
    "qrs_axis_deg",
    "t_axis_deg",
    "rhythm",
    "irregular",
    "statement",
    "absent",
];

/// Header of the per-beat table.
pub const BEAT_COLUMNS: [&str; 14] = [
    "record_id",
    "beat",
    "time_s",
    "qrs_peak_sample",
    "rr_ms",
    "ectopic",
    "af_episode",
    "p_ms",
    "pr_ms",
    "qrs_ms",
    "qt_ms",
    "qtc_ms",
    "qtc_formula",
    "absent",
];

/// The cells of named values: the number (one decimal) or empty, and the reasons of the absent
/// ones joined for the `absent` column.
fn cells(values: &[(&str, Measured<f64>)]) -> (Vec<String>, String) {
    let mut reasons = Vec::new();
    let cells = values
        .iter()
        .map(|(name, v)| match v {
            Measured::Value(x) => format!("{x:.1}"),
            Measured::Absent(a) => {
                reasons.push(format!("{name}: {a}"));
                String::new()
            }
        })
        .collect();
    (cells, reasons.join("; "))
}

/// One row of the per-record table (columns [`RECORD_COLUMNS`]).
pub fn record_row(m: &Measurements) -> Vec<String> {
    let (values, absent) = cells(&[
        ("hr_mean_bpm", m.heart_rate.mean_bpm),
        ("hr_min_bpm", m.heart_rate.min_bpm),
        ("hr_max_bpm", m.heart_rate.max_bpm),
        ("sdnn_ms", m.sdnn_ms),
        ("rmssd_ms", m.rmssd_ms),
        ("p_ms", m.p_ms),
        ("pr_ms", m.pr_ms),
        ("qrs_ms", m.qrs_ms),
        ("qt_ms", m.qt_ms),
        ("qtc_ms", m.qtc_ms),
    ]);
    let (axes, axes_absent) = cells(&[
        ("p_axis_deg", m.axes.p_deg),
        ("qrs_axis_deg", m.axes.qrs_deg),
        ("t_axis_deg", m.axes.t_deg),
    ]);
    let mut row = vec![
        m.record_id.clone(),
        m.n_beats.to_string(),
        m.n_ectopic.to_string(),
    ];
    row.extend(values);
    row.push(m.qtc_formula.as_str().to_string());
    row.extend(axes);
    row.push(format!("{:?}", m.rhythm.kind));
    row.push((m.rhythm.irregular as u8).to_string());
    row.push(m.rhythm.statement());
    row.push(
        [absent, axes_absent]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("; "),
    );
    row
}

/// The rows of the per-beat table for one record (columns [`BEAT_COLUMNS`]).
pub fn beat_rows(m: &Measurements) -> Vec<Vec<String>> {
    m.beats
        .iter()
        .map(|b| {
            let (values, absent) = cells(&[
                ("rr_ms", b.rr_ms),
                ("p_ms", b.p_ms),
                ("pr_ms", b.pr_ms),
                ("qrs_ms", b.qrs_ms),
                ("qt_ms", b.qt_ms),
                ("qtc_ms", b.qtc_ms),
            ]);
            let mut row = vec![
                m.record_id.clone(),
                b.beat.to_string(),
                format!("{:.3}", b.time_s),
                b.qrs_peak_sample.to_string(),
                values[0].clone(),
                b.ectopic.map(|e| e.as_str()).unwrap_or("").to_string(),
                u8::from(b.in_af_episode).to_string(),
            ];
            row.extend(values[1..].iter().cloned());
            row.push(m.qtc_formula.as_str().to_string());
            row.push(absent);
            row
        })
        .collect()
}

/// CSV text of a header and rows (the csv crate quotes what needs quoting).
pub fn csv_text(header: &[&str], rows: &[Vec<String>]) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header)?;
    for r in rows {
        w.write_record(r)?;
    }
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
