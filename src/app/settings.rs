//! The app's persisted state (eframe storage): view settings, layers, recent files. Runtime
//! handles (worker, loaded data) live elsewhere and are never serialised.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::record::LeadName;

/// Key under which [`Settings`] are stored.
pub const STORAGE_KEY: &str = "tlc-explorer-settings";

/// Points per inch egui assumes at scale 1, and millimetres per inch.
pub const DEFAULT_POINTS_PER_INCH: f32 = 96.0;
pub const MM_PER_INCH: f32 = 25.4;
/// Accepted screen calibrations (pixels per mm): 25 to 1270 DPI.
pub const MIN_PX_PER_MM: f32 = 1.0;
pub const MAX_PX_PER_MM: f32 = 50.0;

/// How many recent files are remembered.
pub const MAX_RECENT: usize = 10;

/// Which layers are drawn: the same switches as exported figures.
pub use crate::figure::Layers;

/// How the leads are arranged on the paper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ViewLayout {
    /// Every lead over the whole record, one under the other.
    Stacked,
    /// The printed clinical layout: 3 rows x 4 columns of 2.5 s plus a 10 s rhythm strip.
    Clinical,
    /// The other printed layout: 6 rows x 2 columns of 5 s (limb leads, then V1-V6) plus a
    /// 10 s rhythm strip.
    Clinical6x2,
}

impl ViewLayout {
    pub const ALL: [ViewLayout; 3] = [
        ViewLayout::Stacked,
        ViewLayout::Clinical,
        ViewLayout::Clinical6x2,
    ];

    /// What the toolbar calls it.
    pub fn label(self) -> &'static str {
        match self {
            ViewLayout::Stacked => "Stacked",
            ViewLayout::Clinical => "3 x 4 + rhythm",
            ViewLayout::Clinical6x2 => "6 x 2 + rhythm",
        }
    }

    /// The figure layout it draws, with `rhythm_lead` under a clinical grid.
    pub fn figure_layout(self, rhythm_lead: &crate::record::LeadName) -> crate::figure::Layout {
        use crate::figure::Layout;
        let rhythm_lead = rhythm_lead.clone();
        match self {
            ViewLayout::Stacked => Layout::Stacked,
            ViewLayout::Clinical => Layout::Clinical3x4Rhythm { rhythm_lead },
            ViewLayout::Clinical6x2 => Layout::Clinical6x2Rhythm { rhythm_lead },
        }
    }
}

/// Columns of the record browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortColumn {
    Index,
    Id,
    Labels,
    Predicted,
    Age,
    Sex,
    Entropy,
    /// The record's measurements (Measure all, or records shown).
    HeartRate,
    Qrs,
    Qtc,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub layers: Layers,
    pub layout: ViewLayout,
    /// How QT is corrected for heart rate on screen, in the browser's QTc column and in
    /// exported figures and data (View > QTc formula). Default Fridericia.
    pub qtc_formula: crate::measure::QtcFormula,
    /// Lead of the rhythm strip in the clinical layout.
    pub rhythm_lead: LeadName,
    /// Paper speed (mm per second); 25 mm/s is the clinical default.
    pub paper_speed_mm_s: f32,
    /// Gain (mm per mV); 10 mm/mV is the clinical default.
    pub gain_mm_mv: f32,
    /// Physical pixels per millimetre of the screen, measured against a ruler (View > Screen
    /// calibration); `None` assumes 96 pixels per inch at egui's scale (what the desktop says).
    pub screen_px_per_mm: Option<f32>,
    /// Leads the user switched off.
    pub hidden_leads: Vec<LeadName>,
    /// Most recent first.
    pub recent: Vec<PathBuf>,
    /// What was open when the app was closed (reopened at start when no path is given).
    pub last_path: Option<PathBuf>,
    pub last_record_id: Option<String>,
    pub model_path: Option<PathBuf>,
    pub explainer_path: Option<PathBuf>,
    pub sort_column: SortColumn,
    pub sort_ascending: bool,
    /// Record-browser columns the user switched off (right-click on the column header).
    pub hidden_columns: Vec<SortColumn>,
    pub show_browser: bool,
    pub show_explanation: bool,
    pub dark_mode: bool,
    /// Choices of the fit window.
    pub fit: FitChoice,
    /// Choices of the surrogate evaluation in the cohort view.
    pub eval: EvalChoice,
    /// Last folder figures or data were exported to.
    pub export_dir: Option<PathBuf>,
    pub export_format: ExportFormat,
    /// Raster resolution of PNG export (dots per inch).
    pub export_dpi: f32,
    /// A4 landscape page instead of a page fitted to the content.
    pub export_a4: bool,
    /// Calipers per record (key: the record's source file, or data set and id), kept across
    /// sessions; at most [`MAX_CALIPER_RECORDS`] records.
    pub calipers: std::collections::BTreeMap<String, Vec<crate::figure::Caliper>>,
    /// Reference annotators shown, by extension (`ii`, `atr`, `q1c`): on for every record
    /// that has such a file.
    pub reference_annotators: Vec<String>,
}

/// Records whose calipers are remembered (beyond that, the records' calipers are dropped in key
/// order when the settings are loaded).
pub const MAX_CALIPER_RECORDS: usize = 1000;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            layers: Layers::default(),
            layout: ViewLayout::Stacked,
            qtc_formula: Default::default(),
            rhythm_lead: LeadName::II,
            paper_speed_mm_s: 25.0,
            gain_mm_mv: 10.0,
            screen_px_per_mm: None,
            hidden_leads: Vec::new(),
            recent: Vec::new(),
            last_path: None,
            last_record_id: None,
            model_path: None,
            explainer_path: None,
            sort_column: SortColumn::Index,
            sort_ascending: true,
            hidden_columns: Vec::new(),
            show_browser: true,
            show_explanation: true,
            dark_mode: false,
            fit: FitChoice::default(),
            eval: EvalChoice::default(),
            export_dir: None,
            export_format: ExportFormat::Png,
            export_dpi: 300.0,
            export_a4: false,
            calipers: Default::default(),
            reference_annotators: Vec::new(),
        }
    }
}

impl Settings {
    /// Put `path` first in the recent list (no duplicates, at most [`MAX_RECENT`]).
    pub fn remember(&mut self, path: &Path) {
        self.recent.retain(|p| p != path);
        self.recent.insert(0, path.to_path_buf());
        self.recent.truncate(MAX_RECENT);
    }

    /// Paper speed and gain clamped to what a viewer can show (5..=200 mm/s, 1..=100 mm/mV).
    pub fn sanitise(&mut self) {
        if !(self.paper_speed_mm_s.is_finite() && (5.0..=200.0).contains(&self.paper_speed_mm_s)) {
            self.paper_speed_mm_s = 25.0;
        }
        if !(self.gain_mm_mv.is_finite() && (1.0..=100.0).contains(&self.gain_mm_mv)) {
            self.gain_mm_mv = 10.0;
        }
        if !(self.export_dpi.is_finite() && (72.0..=600.0).contains(&self.export_dpi)) {
            self.export_dpi = 300.0;
        }
        self.fit.k = self.fit.k.clamp(2, 64);
        // Calipers with values no view can draw are dropped, and the store stays bounded.
        for list in self.calipers.values_mut() {
            list.retain(|c| match c {
                crate::figure::Caliper::Time {
                    start_s,
                    end_s,
                    bar_mv,
                    ..
                } => start_s.is_finite() && end_s.is_finite() && bar_mv.is_finite(),
                crate::figure::Caliper::Amplitude {
                    time_s,
                    from_mv,
                    to_mv,
                    ..
                } => time_s.is_finite() && from_mv.is_finite() && to_mv.is_finite(),
            });
        }
        self.calipers.retain(|_, list| !list.is_empty());
        while self.calipers.len() > MAX_CALIPER_RECORDS {
            self.calipers.pop_first();
        }
        if self
            .screen_px_per_mm
            .is_some_and(|p| !(p.is_finite() && (MIN_PX_PER_MM..=MAX_PX_PER_MM).contains(&p)))
        {
            self.screen_px_per_mm = None;
        }
    }

    /// Screen points per millimetre of paper at actual size: the calibration's pixels per mm
    /// over egui's pixels per point; without a calibration, 96 points per inch (1 point is
    /// 1/96 inch at the desktop's scale, as egui and the window system assume).
    pub fn actual_points_per_mm(&self, pixels_per_point: f32) -> f32 {
        match self.screen_px_per_mm {
            Some(px_per_mm) => px_per_mm / pixels_per_point.max(0.1),
            None => DEFAULT_POINTS_PER_INCH / MM_PER_INCH,
        }
    }

    pub fn lead_visible(&self, lead: &LeadName) -> bool {
        !self.hidden_leads.contains(lead)
    }
}

/// Figure file formats offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExportFormat {
    Svg,
    Png,
    Pdf,
}

impl ExportFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Svg => "svg",
            ExportFormat::Png => "png",
            ExportFormat::Pdf => "pdf",
        }
    }
}

/// Surrogate evaluation choices (persisted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EvalChoice {
    /// Cross-validation folds (default 10, as in the paper; the data set's own folds when
    /// their count matches).
    pub folds: usize,
    /// Also sweep K = 4, 6, 8, 12, 16 (one cross-validation per K).
    pub k_sweep: bool,
}

impl Default for EvalChoice {
    fn default() -> Self {
        EvalChoice {
            folds: 10,
            k_sweep: false,
        }
    }
}

/// Fit settings as the app offers them (persisted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FitChoice {
    /// Blocks (0-based); empty = the model's last three.
    pub blocks: Vec<usize>,
    pub k: usize,
    pub linear_alignment: bool,
    pub seed: u64,
    /// Records used (the first N of the data set in index order; 0 = all).
    pub max_records: usize,
    /// Time-step budget for k-means (0 = no limit).
    pub max_time_steps: usize,
}

impl Default for FitChoice {
    fn default() -> Self {
        FitChoice {
            blocks: Vec::new(),
            k: 8,
            linear_alignment: false,
            seed: 0,
            max_records: 200,
            max_time_steps: 50_000,
        }
    }
}

impl FitChoice {
    pub fn to_settings(&self) -> crate::tlc::FitSettings {
        let mut s = crate::tlc::FitSettings::default();
        s.features.blocks = (!self.blocks.is_empty()).then(|| self.blocks.clone());
        s.features.alignment = if self.linear_alignment {
            crate::tlc::Alignment::Linear
        } else {
            crate::tlc::Alignment::Nearest
        };
        s.clusters.k = self.k;
        s.clusters.seed = self.seed;
        s.clusters.max_time_steps = (self.max_time_steps > 0).then_some(self.max_time_steps);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_list_has_no_duplicates_and_is_bounded() {
        let mut s = Settings::default();
        for i in 0..15 {
            s.remember(Path::new(&format!("/r/{i}")));
        }
        s.remember(Path::new("/r/12"));
        assert_eq!(s.recent.len(), MAX_RECENT);
        assert_eq!(s.recent[0], PathBuf::from("/r/12"));
        assert_eq!(
            s.recent
                .iter()
                .filter(|p| p.as_path() == std::path::Path::new("/r/12"))
                .count(),
            1
        );
    }

    #[test]
    fn settings_round_trip_and_tolerate_missing_fields() {
        let mut s = Settings::default();
        s.layers.gradcam_overlay = true;
        s.hidden_leads.push(LeadName::AVR);
        let text = serde_json::to_string(&s).unwrap();
        let back: Settings = serde_json::from_str(&text).unwrap();
        assert_eq!(back, s);
        let partial: Settings = serde_json::from_str(r#"{"gain_mm_mv": 20.0}"#).unwrap();
        assert_eq!(partial.gain_mm_mv, 20.0);
        assert_eq!(partial.paper_speed_mm_s, 25.0);
    }

    #[test]
    fn sanitise_resets_absurd_scales() {
        let mut s = Settings {
            paper_speed_mm_s: 0.0,
            gain_mm_mv: f32::NAN,
            ..Default::default()
        };
        s.sanitise();
        assert_eq!((s.paper_speed_mm_s, s.gain_mm_mv), (25.0, 10.0));
    }
}
