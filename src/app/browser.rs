//! The record browser: a virtualised, sortable, filterable list of the data set's records.

use std::collections::HashMap;

use egui::{Align2, Color32, FontId, Key, Rect, Sense, Ui, pos2, vec2};

use crate::io::Dataset;

use super::settings::{Settings, SortColumn};

/// What the app learnt about a record by explaining it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordSummary {
    pub predicted: Vec<String>,
    pub mean_entropy: f32,
}

/// What the browser's HR, QRS and QTc columns show of a record (from its measurements).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecordMeasures {
    pub heart_rate_bpm: Option<f64>,
    pub qrs_ms: Option<f64>,
    pub qtc_ms: Option<f64>,
    /// QT and the RR it is corrected with, for another QTc formula.
    pub qt_ms: Option<f64>,
    pub qtc_rr_ms: Option<f64>,
}

impl RecordMeasures {
    pub fn of(m: &crate::measure::Measurements) -> Self {
        RecordMeasures {
            heart_rate_bpm: m.heart_rate.mean_bpm.value(),
            qrs_ms: m.qrs_ms.value(),
            qtc_ms: m.qtc_ms.value(),
            qt_ms: m.qt_ms.value(),
            qtc_rr_ms: m.qtc_rr_ms,
        }
    }

    /// The QTc column by `formula`.
    pub fn set_qtc_formula(&mut self, formula: crate::measure::QtcFormula) {
        if let (Some(qt), Some(rr)) = (self.qt_ms, self.qtc_rr_ms) {
            self.qtc_ms = Some(formula.correct_ms(qt, rr));
        }
    }

    fn get(&self, column: SortColumn) -> Option<f64> {
        match column {
            SortColumn::HeartRate => self.heart_rate_bpm,
            SortColumn::Qrs => self.qrs_ms,
            SortColumn::Qtc => self.qtc_ms,
            _ => None,
        }
    }
}

/// A search like `qtc>470`, `hr < 60` or `qrs>=120 hr>100` (every term must hold): the records
/// whose measurement passes; `None` when the text is not such a filter (then it searches text).
pub fn measure_filter(text: &str) -> Option<Vec<(SortColumn, &'static str, f64)>> {
    let mut out = Vec::new();
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    // Terms are split where a new column name starts.
    let lower = compact.to_lowercase();
    let mut rest = lower.as_str();
    while !rest.is_empty() {
        let (column, after) = [
            ("qtc", SortColumn::Qtc),
            ("qrs", SortColumn::Qrs),
            ("hr", SortColumn::HeartRate),
        ]
        .into_iter()
        .find_map(|(name, col)| rest.strip_prefix(name).map(|r| (col, r)))?;
        let (op, after) = ["<=", ">=", "<", ">", "="]
            .into_iter()
            .find_map(|op| after.strip_prefix(op).map(|r| (op, r)))?;
        let end = after
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(after.len());
        let value: f64 = after[..end].parse().ok()?;
        out.push((column, op, value));
        rest = after[end..].trim_start_matches(',');
    }
    (!out.is_empty()).then_some(out)
}

fn passes(m: Option<&RecordMeasures>, filter: &[(SortColumn, &'static str, f64)]) -> bool {
    filter.iter().all(|&(column, op, limit)| {
        let Some(v) = m.and_then(|m| m.get(column)) else {
            return false;
        };
        match op {
            "<" => v < limit,
            "<=" => v <= limit,
            ">" => v > limit,
            ">=" => v >= limit,
            _ => (v - limit).abs() < 0.5,
        }
    })
}

/// Filter inputs and the cached, filtered and sorted order (runtime only).
#[derive(Debug, Default)]
pub struct BrowserState {
    pub search: String,
    pub label_filter: Option<String>,
    pub disagreement_only: bool,
    /// Data set indices in display order.
    pub order: Vec<usize>,
    /// Set when inputs changed and `order` must be rebuilt.
    pub dirty: bool,
    /// Which of [`COLUMNS`] have a value for some record (an empty column takes no width).
    shown_columns: [bool; 10],
    /// Scroll so this display position becomes visible.
    scroll_to: Option<usize>,
    last_offset: f32,
    last_height: f32,
}

pub const ROW_HEIGHT: f32 = 20.0;

const COLUMNS: [(SortColumn, &str, f32); 10] = [
    (SortColumn::Index, "#", 40.0),
    (SortColumn::Id, "record", 80.0),
    (SortColumn::Labels, "labels", 80.0),
    (SortColumn::Predicted, "predicted", 80.0),
    (SortColumn::Age, "age", 34.0),
    (SortColumn::Sex, "sex", 46.0),
    (SortColumn::Entropy, "entropy", 54.0),
    (SortColumn::HeartRate, "HR", 34.0),
    (SortColumn::Qrs, "QRS", 38.0),
    (SortColumn::Qtc, "QTc", 38.0),
];

/// Do predicted and true labels disagree? Unknown when not predicted yet, and for a record
/// without any label (LUDB, MIT-BIH, a plain folder: nothing is said about the truth, as in the
/// explanation panel's outputs).
pub fn disagrees(labels: &[String], summary: Option<&RecordSummary>) -> bool {
    let Some(s) = summary else { return false };
    if labels.is_empty() {
        return false;
    }
    let mut a: Vec<&str> = labels.iter().map(String::as_str).collect();
    let mut b: Vec<&str> = s.predicted.iter().map(String::as_str).collect();
    a.sort_unstable();
    b.sort_unstable();
    a != b
}

impl BrowserState {
    /// Rebuild the display order from the data set, the summaries and the filters.
    pub fn rebuild(
        &mut self,
        dataset: &dyn Dataset,
        summaries: &HashMap<usize, RecordSummary>,
        measures: &HashMap<usize, RecordMeasures>,
        settings: &Settings,
    ) {
        let filter = measure_filter(&self.search);
        let needle = if filter.is_some() {
            String::new()
        } else {
            self.search.trim().to_lowercase()
        };
        let mut order: Vec<usize> = (0..dataset.len())
            .filter(|&i| {
                let Some(e) = dataset.entry(i) else {
                    return false;
                };
                if !needle.is_empty()
                    && !e.id.to_lowercase().contains(&needle)
                    && !e.labels.iter().any(|l| l.to_lowercase().contains(&needle))
                    && !e
                        .report
                        .as_deref()
                        .is_some_and(|r| r.to_lowercase().contains(&needle))
                {
                    return false;
                }
                // The label filter is on the true labels (predictions have their own column
                // and the disagreement filter).
                if let Some(label) = &self.label_filter
                    && !e.labels.contains(label)
                {
                    return false;
                }
                if let Some(f) = &filter
                    && !passes(measures.get(&i), f)
                {
                    return false;
                }
                !self.disagreement_only || disagrees(&e.labels, summaries.get(&i))
            })
            .collect();
        let key = |i: usize| dataset.entry(i);
        let cmp_f = |a: Option<f32>, b: Option<f32>| {
            // Unknown values sort last either way.
            match (a, b) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            }
        };
        match settings.sort_column {
            SortColumn::Index => {}
            SortColumn::Id => order.sort_by(|&a, &b| {
                natural_cmp(
                    &key(a).map(|e| e.id.clone()).unwrap_or_default(),
                    &key(b).map(|e| e.id.clone()).unwrap_or_default(),
                )
            }),
            SortColumn::Labels => {
                order.sort_by_key(|&i| key(i).map(|e| e.labels.join(",")).unwrap_or_default())
            }
            SortColumn::Predicted => order.sort_by_key(|&i| {
                summaries
                    .get(&i)
                    .map(|s| s.predicted.join(","))
                    .unwrap_or_else(|| "\u{10FFFF}".into())
            }),
            SortColumn::Age => order.sort_by(|&a, &b| {
                cmp_f(
                    key(a).and_then(|e| e.age_years),
                    key(b).and_then(|e| e.age_years),
                )
            }),
            SortColumn::Sex => order.sort_by_key(|&i| {
                key(i)
                    .and_then(|e| e.sex)
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "~".into())
            }),
            SortColumn::Entropy => order.sort_by(|&a, &b| {
                cmp_f(
                    summaries.get(&a).map(|s| s.mean_entropy),
                    summaries.get(&b).map(|s| s.mean_entropy),
                )
            }),
            column @ (SortColumn::HeartRate | SortColumn::Qrs | SortColumn::Qtc) => {
                let value = |i: usize| {
                    measures
                        .get(&i)
                        .and_then(|m| m.get(column))
                        .map(|v| v as f32)
                };
                order.sort_by(|&a, &b| cmp_f(value(a), value(b)))
            }
        }
        if !settings.sort_ascending {
            order.reverse();
        }
        self.order = order;
        self.dirty = false;
        // A column no record has a value for (no labels in MIT-BIH, no predictions before a
        // model ran, no measurements yet) is left out, so the list does not crowd the ECG.
        let n = dataset.len().min(50_000);
        let any = |f: &dyn Fn(usize) -> bool| (0..n).any(f);
        let entry_has =
            |f: &dyn Fn(&crate::io::RecordEntry) -> bool| any(&|i| dataset.entry(i).is_some_and(f));
        let measured = |c: SortColumn| measures.values().any(|m| m.get(c).is_some());
        self.shown_columns = [
            true,
            true,
            entry_has(&|e| !e.labels.is_empty()),
            summaries.values().any(|s| !s.predicted.is_empty()),
            entry_has(&|e| e.age_years.is_some()),
            entry_has(&|e| e.sex.is_some()),
            !summaries.is_empty(),
            measured(SortColumn::HeartRate),
            measured(SortColumn::Qrs),
            measured(SortColumn::Qtc),
        ];
    }

    /// The display position of data set index `index`, if shown.
    pub fn position_of(&self, index: usize) -> Option<usize> {
        self.order.iter().position(|&i| i == index)
    }

    /// The record `delta` rows from `current` in display order (clamped); the first row when
    /// nothing is selected.
    pub fn step(&mut self, current: Option<usize>, delta: isize) -> Option<usize> {
        if self.order.is_empty() {
            return None;
        }
        let pos = match current.and_then(|c| self.position_of(c)) {
            Some(p) => (p as isize + delta).clamp(0, self.order.len() as isize - 1) as usize,
            None => 0,
        };
        self.scroll_to = Some(pos);
        Some(self.order[pos])
    }

    /// Rows per visible page (for Page Up / Page Down).
    pub fn page_rows(&self) -> isize {
        ((self.last_height / (ROW_HEIGHT + 4.0)).floor() as isize).max(1)
    }
}

/// Ids compare with their numbers as numbers ("9" before "10").
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

/// Keyboard navigation keys and how many rows each moves.
pub fn navigation_delta(ui: &Ui, page: isize) -> Option<isize> {
    ui.input(|i| {
        if i.key_pressed(Key::ArrowDown) {
            Some(1)
        } else if i.key_pressed(Key::ArrowUp) {
            Some(-1)
        } else if i.key_pressed(Key::PageDown) {
            Some(page)
        } else if i.key_pressed(Key::PageUp) {
            Some(-page)
        } else if i.key_pressed(Key::Home) {
            Some(isize::MIN / 2)
        } else if i.key_pressed(Key::End) {
            Some(isize::MAX / 2)
        } else {
            None
        }
    })
}

/// Draw the browser; returns the data set index the user clicked.
pub fn browser_ui(
    ui: &mut Ui,
    state: &mut BrowserState,
    settings: &mut Settings,
    dataset: &dyn Dataset,
    summaries: &HashMap<usize, RecordSummary>,
    measures: &HashMap<usize, RecordMeasures>,
    selected: Option<usize>,
) -> Option<usize> {
    let mut clicked = None;
    ui.horizontal(|ui| {
        let label = ui.label("Search");
        let search = ui
            .add(
                egui::TextEdit::singleline(&mut state.search)
                    .hint_text("id, label, report, qtc>470")
                    .desired_width(170.0),
            )
            .labelled_by(label.id)
            .on_hover_text(
                "Text in the id, labels or report; or a measurement filter such as qtc>470, \
                 hr<50 or qrs>=120 hr>100 (columns HR, QRS, QTc: run Measure all first)",
            );
        if search.changed() {
            state.dirty = true;
        }
    });
    ui.horizontal(|ui| {
        let mut classes = dataset.class_names();
        if classes.is_empty() {
            let mut seen: Vec<String> = Vec::new();
            for i in 0..dataset.len().min(50_000) {
                for l in dataset.entry(i).map(|e| e.labels.as_slice()).unwrap_or(&[]) {
                    if !seen.contains(l) {
                        seen.push(l.clone());
                    }
                }
            }
            classes = seen;
        }
        let before = state.label_filter.clone();
        egui::ComboBox::from_label("label")
            .selected_text(state.label_filter.clone().unwrap_or_else(|| "all".into()))
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut state.label_filter, None, "all");
                for c in classes {
                    ui.selectable_value(&mut state.label_filter, Some(c.clone()), c);
                }
            });
        if before != state.label_filter {
            state.dirty = true;
        }
        if ui
            .checkbox(&mut state.disagreement_only, "disagreement")
            .on_hover_text("Only records whose predicted labels differ from the true labels")
            .changed()
        {
            state.dirty = true;
        }
    });
    ui.label(format!(
        "{} of {} records",
        state.order.len(),
        dataset.len()
    ));

    // The columns scroll sideways inside the panel rather than widening it: the panel keeps the
    // width the user gave it and the ECG keeps the rest of the window.
    let shown: Vec<bool> = COLUMNS
        .iter()
        .zip(state.shown_columns)
        .map(|((col, _, _), has_values)| has_values && !settings.hidden_columns.contains(col))
        .collect();
    let table_width: f32 = COLUMNS
        .iter()
        .zip(&shown)
        .filter(|(_, s)| **s)
        .map(|((_, _, w), _)| w)
        .sum();
    egui::ScrollArea::horizontal()
        .id_salt("browser_columns")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            header_ui(ui, state, settings, &shown);
            ui.separator();
            clicked = rows_ui(
                ui,
                state,
                dataset,
                summaries,
                measures,
                selected,
                &shown,
                table_width,
            );
        });
    if state.dirty {
        // The list is rebuilt at the start of the next frame: ask for it now, not at the
        // next mouse move.
        ui.ctx().request_repaint();
    }
    clicked
}

/// The column header: click sorts, right-click chooses the columns shown.
fn header_ui(ui: &mut Ui, state: &mut BrowserState, settings: &mut Settings, shown: &[bool]) {
    let header = ui.horizontal(|ui| {
        ui.spacing_mut().item_spacing.x = 0.0;
        for (&(col, name, width), _) in COLUMNS.iter().zip(shown).filter(|(_, shown)| **shown) {
            let arrow = if settings.sort_column == col {
                if settings.sort_ascending { " ^" } else { " v" }
            } else {
                ""
            };
            let b = ui
                .add_sized(
                    [width, ROW_HEIGHT],
                    egui::Button::new(format!("{name}{arrow}")).frame(false),
                )
                .on_hover_text(format!("Sort by {name} (right-click: choose columns)"));
            if b.clicked() {
                if settings.sort_column == col {
                    settings.sort_ascending = !settings.sort_ascending;
                } else {
                    settings.sort_column = col;
                    settings.sort_ascending = true;
                }
                state.dirty = true;
            }
            b.context_menu(|ui| columns_menu_ui(ui, state, settings));
        }
    });
    header
        .response
        .context_menu(|ui| columns_menu_ui(ui, state, settings));
}

/// Which columns the browser shows (a column without any value is left out whatever is chosen).
fn columns_menu_ui(ui: &mut Ui, state: &mut BrowserState, settings: &mut Settings) {
    ui.label("Columns");
    for (c, &(col, name, _)) in COLUMNS.iter().enumerate() {
        if col == SortColumn::Id {
            continue; // the record id always stays
        }
        let mut on = !settings.hidden_columns.contains(&col);
        let label = if state.shown_columns[c] {
            name.to_string()
        } else {
            format!("{name} (no values yet)")
        };
        if ui.checkbox(&mut on, label).changed() {
            settings.hidden_columns.retain(|h| *h != col);
            if !on {
                settings.hidden_columns.push(col);
            }
            state.dirty = true;
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn rows_ui(
    ui: &mut Ui,
    state: &mut BrowserState,
    dataset: &dyn Dataset,
    summaries: &HashMap<usize, RecordSummary>,
    measures: &HashMap<usize, RecordMeasures>,
    selected: Option<usize>,
    shown: &[bool],
    table_width: f32,
) -> Option<usize> {
    let mut clicked = None;
    let spacing = ui.spacing().item_spacing.y;
    let mut area = egui::ScrollArea::vertical().auto_shrink([false, false]);
    if let Some(pos) = state.scroll_to.take() {
        let y = pos as f32 * (ROW_HEIGHT + spacing);
        if y < state.last_offset {
            area = area.vertical_scroll_offset(y);
        } else if y + ROW_HEIGHT > state.last_offset + state.last_height {
            area = area.vertical_scroll_offset(y + ROW_HEIGHT - state.last_height);
        }
    }
    let text_color = ui.visuals().text_color();
    let strong = ui.visuals().strong_text_color();
    let select_bg = ui.visuals().selection.bg_fill;
    let hover_bg = ui.visuals().widgets.hovered.weak_bg_fill;
    let font = FontId::proportional(13.0);
    let out = area.show_rows(ui, ROW_HEIGHT, state.order.len(), |ui, range| {
        for pos in range {
            let index = state.order[pos];
            let Some(entry) = dataset.entry(index) else {
                continue;
            };
            let summary = summaries.get(&index);
            // The row spans the panel, or the columns where they are wider (then they scroll).
            let available = ui.available_width();
            let width = if available.is_finite() {
                available.max(table_width)
            } else {
                table_width
            };
            let (rect, resp) = ui.allocate_exact_size(vec2(width, ROW_HEIGHT), Sense::click());
            let is_selected = selected == Some(index);
            resp.widget_info(|| {
                egui::WidgetInfo::selected(egui::Role::ListBoxOption, true, is_selected, &entry.id)
            });
            if is_selected {
                ui.painter().rect_filled(rect, 2.0, select_bg);
            } else if resp.hovered() {
                ui.painter().rect_filled(rect, 2.0, hover_bg);
            }
            if resp.clicked() {
                clicked = Some(index);
            }
            let disagree = disagrees(&entry.labels, summary);
            let m = measures.get(&index);
            let number = |v: Option<f64>| v.map(|v| format!("{v:.0}")).unwrap_or_default();
            let cells: [String; 10] = [
                (index + 1).to_string(),
                entry.id.clone(),
                entry.labels.join(", "),
                summary.map(|s| s.predicted.join(", ")).unwrap_or_default(),
                entry
                    .age_years
                    .map(|a| format!("{a:.0}"))
                    .unwrap_or_default(),
                entry.sex.map(|s| s.to_string()).unwrap_or_default(),
                summary
                    .map(|s| format!("{:.2}", s.mean_entropy))
                    .unwrap_or_default(),
                number(m.and_then(|m| m.heart_rate_bpm)),
                number(m.and_then(|m| m.qrs_ms)),
                number(m.and_then(|m| m.qtc_ms)),
            ];
            let mut x = rect.left();
            for (c, (_, _, w)) in COLUMNS.iter().enumerate() {
                if !shown[c] {
                    continue;
                }
                let color = if c == 3 && disagree {
                    Color32::from_rgb(213, 94, 0)
                } else if is_selected {
                    strong
                } else {
                    text_color
                };
                let cell =
                    Rect::from_min_size(pos2(x + 3.0, rect.top()), vec2(w - 6.0, ROW_HEIGHT));
                ui.painter()
                    .with_clip_rect(cell.intersect(ui.clip_rect()))
                    .text(
                        pos2(cell.left(), cell.center().y),
                        Align2::LEFT_CENTER,
                        &cells[c],
                        font.clone(),
                        color,
                    );
                x += w;
            }
        }
    });
    state.last_offset = out.state.clamped_offset().y;
    state.last_height = out.inner_rect.height();
    clicked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_qtc_column_follows_the_formula_from_the_kept_qt_and_rr() {
        use crate::measure::QtcFormula;
        let mut m = RecordMeasures {
            heart_rate_bpm: Some(75.0),
            qrs_ms: Some(90.0),
            qtc_ms: Some(1.0),
            qt_ms: Some(400.0),
            qtc_rr_ms: Some(640.0),
        };
        m.set_qtc_formula(QtcFormula::Bazett);
        assert!((m.qtc_ms.unwrap() - 500.0).abs() < 1e-9);
        m.set_qtc_formula(QtcFormula::Hodges);
        // 400 + 1.75 x (93.75 - 60)
        assert!((m.qtc_ms.unwrap() - 459.0625).abs() < 1e-9);
        // Without an RR there is nothing to correct with: the value stays as measured.
        let mut no_rr = RecordMeasures {
            qtc_rr_ms: None,
            qtc_ms: None,
            ..m
        };
        no_rr.set_qtc_formula(QtcFormula::Bazett);
        assert_eq!(no_rr.qtc_ms, None);
    }

    #[test]
    fn unlabelled_records_never_disagree_with_the_model() {
        let predicted = RecordSummary {
            predicted: vec!["NORM".into()],
            mean_entropy: 0.5,
        };
        let labels = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(!disagrees(&labels(&[]), Some(&predicted)));
        assert!(!disagrees(&labels(&["NORM"]), Some(&predicted)));
        assert!(disagrees(&labels(&["MI"]), Some(&predicted)));
        assert!(disagrees(&labels(&["NORM", "MI"]), Some(&predicted)));
        assert!(!disagrees(&labels(&["MI"]), None));
    }

    #[test]
    fn measurement_filters_parse_and_apply() {
        let f = measure_filter("QTc > 470").unwrap();
        assert_eq!(f, vec![(SortColumn::Qtc, ">", 470.0)]);
        let f = measure_filter("qrs>=120 hr<100.5").unwrap();
        assert_eq!(
            f,
            vec![
                (SortColumn::Qrs, ">=", 120.0),
                (SortColumn::HeartRate, "<", 100.5)
            ]
        );
        assert!(measure_filter("100").is_none());
        assert!(measure_filter("hr").is_none());
        assert!(measure_filter("hrx<3").is_none());
        let m = RecordMeasures {
            heart_rate_bpm: Some(95.0),
            qrs_ms: Some(130.0),
            qtc_ms: None,
            qt_ms: None,
            qtc_rr_ms: None,
        };
        assert!(passes(Some(&m), &f));
        assert!(!passes(Some(&m), &measure_filter("qrs<120").unwrap()));
        // A record without the value (not measured, or absent) does not pass.
        assert!(!passes(Some(&m), &measure_filter("qtc<500").unwrap()));
        assert!(!passes(None, &measure_filter("hr>1").unwrap()));
    }
}
