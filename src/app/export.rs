//! File > Export figure / Export data / Copy figure: the current view and layers through
//! `crate::figure` (the same layout description the screen uses), rendered on the worker, with a
//! preview and no overwrite without asking.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use egui::{ColorImage, RichText, TextureHandle, Ui};

use crate::delineate::Delineation;
use crate::figure::{FigureInput, FigureSpec, PageSize};
use crate::record::Ecg;
use crate::tlc::Explanation;

pub use super::settings::ExportFormat;
use super::settings::{Settings, ViewLayout};

/// Owned copies of what a figure shows, so it can be rendered on the worker.
#[derive(Clone)]
pub struct FigureSource {
    pub ecg: Arc<Ecg>,
    pub explanation: Option<Arc<Explanation>>,
    pub delineation: Option<Arc<Delineation>>,
    pub cluster_names: Vec<String>,
    /// The record's calipers and the reference annotation layers shown (drawn when their
    /// layers are on, as on screen).
    pub calipers: Vec<crate::figure::Caliper>,
    pub reference: Vec<crate::figure::ReferenceLayer>,
    pub qtc_formula: crate::measure::QtcFormula,
}

impl FigureSource {
    pub fn input(&self) -> FigureInput<'_> {
        FigureInput {
            ecg: &self.ecg,
            explanation: self.explanation.as_deref(),
            delineation: self.delineation.as_deref(),
            cluster_names: (!self.cluster_names.is_empty()).then(|| self.cluster_names.clone()),
            calipers: &self.calipers,
            reference: &self.reference,
            qtc_formula: self.qtc_formula,
        }
    }
}

/// What a rendered figure is for.
#[derive(Debug, Clone, PartialEq)]
pub enum FigurePurpose {
    Preview,
    Clipboard,
}

/// The figure spec of what the screen shows: layout, visible leads, layers, paper speed and
/// gain, optionally only a time window.
pub fn spec_for_view(settings: &Settings, ecg: &Ecg, window_s: Option<(f64, f64)>) -> FigureSpec {
    let layout = settings.layout.figure_layout(&settings.rhythm_lead);
    let visible: Vec<_> = ecg
        .leads
        .iter()
        .filter(|l| settings.lead_visible(l))
        .cloned()
        .collect();
    let leads = (visible.len() != ecg.leads.len() && !visible.is_empty()).then_some(visible);
    FigureSpec {
        layout,
        leads,
        window_s,
        paper_speed_mm_s: settings.paper_speed_mm_s as f64,
        gain_mm_mv: settings.gain_mm_mv as f64,
        layers: settings.layers.clone(),
        dpi: settings.export_dpi as f64,
        // Stacked leads closer together than a printout so twelve fit a screen; the 3 x 4
        // layout keeps the printed spacing; 6 x 2's seven rows at 20 mm fit an A4 page with a
        // track under them, as 6 x 2 printouts space their rows more tightly.
        row_height_mv: match settings.layout {
            ViewLayout::Stacked | ViewLayout::Clinical6x2 => 2.0,
            ViewLayout::Clinical => 3.0,
        },
        page: if settings.export_a4 {
            PageSize::A4Landscape
        } else {
            PageSize::Fit
        },
        ..FigureSpec::default()
    }
}

/// Decode a PNG (from `figure::render_png`) into an egui image.
pub fn png_to_image(png: &[u8]) -> anyhow::Result<ColorImage> {
    let pixmap = resvg::tiny_skia::Pixmap::decode_png(png)?;
    let size = [pixmap.width() as usize, pixmap.height() as usize];
    Ok(ColorImage::from_rgba_premultiplied(size, pixmap.data()))
}

/// State of the export window (runtime only; choices that should persist live in Settings).
#[derive(Default)]
pub struct ExportDialog {
    pub open: bool,
    pub path_text: String,
    /// Export only the time span visible on screen instead of the whole record.
    pub only_visible: bool,
    pub preview: Option<TextureHandle>,
    /// The spec the preview was made for (re-rendered when it changes).
    pub preview_spec: Option<FigureSpec>,
    pub preview_pending: bool,
    /// Waiting for the user to confirm overwriting this file.
    pub confirm_overwrite: Option<PathBuf>,
    pub message: Option<String>,
    /// Folder for data export.
    pub data_dir_text: String,
    pub data_annotations: bool,
    pub confirm_data_overwrite: bool,
    /// The export and preview jobs in flight (a failure ends their wait).
    pub job: Option<super::JobId>,
    pub preview_job: Option<super::JobId>,
    /// Why the last preview could not be made.
    pub preview_error: Option<String>,
}

/// What the user asked for in the export window this frame.
pub enum ExportAction {
    None,
    RenderPreview(FigureSpec),
    Export {
        path: PathBuf,
        spec: FigureSpec,
        overwrite: bool,
    },
    ExportData {
        dir: PathBuf,
        annotations: bool,
        overwrite: bool,
    },
    Browse,
}

impl ExportDialog {
    /// Open the window for a record, suggesting `<id>.<ext>` in the last export folder.
    pub fn show_for(&mut self, settings: &Settings, record_id: &str) {
        self.open = true;
        self.message = None;
        self.confirm_overwrite = None;
        let dir = settings
            .export_dir
            .clone()
            .unwrap_or_else(|| std::env::current_dir().unwrap_or_default());
        let safe_id: String = record_id
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.path_text = dir
            .join(format!("{safe_id}.{}", settings.export_format.extension()))
            .display()
            .to_string();
        self.data_dir_text = dir.display().to_string();
    }

    /// The export window for the record `source`; returns what the user asked for this frame.
    pub fn window_ui(
        &mut self,
        ctx: &egui::Context,
        settings: &mut Settings,
        source: &FigureSource,
        visible_s: Option<(f64, f64)>,
    ) -> Vec<ExportAction> {
        let mut open = true;
        let mut actions = Vec::new();
        egui::Window::new("Export")
            .default_pos(ctx.content_rect().left_top() + egui::vec2(320.0, 90.0))
            .open(&mut open)
            .default_width(560.0)
            .show(ctx, |ui| {
                ui.heading("Figure");
                actions.push(export_ui(ui, self, settings, &source.ecg, visible_s));
                ui.separator();
                ui.heading("Data");
                actions.push(export_data_ui(
                    ui,
                    self,
                    &source.ecg.meta.id,
                    source.explanation.is_some(),
                ));
            });
        self.open = open;
        actions
    }

    /// A job of this window failed: say why instead of waiting for it.
    pub fn job_failed(&mut self, id: super::JobId, err: &super::JobError) {
        if self.job == Some(id) {
            self.job = None;
            self.message = Some(if err.cancelled {
                "Export cancelled.".into()
            } else {
                format!("Export failed: {}", err.cause)
            });
        }
        if self.preview_job == Some(id) {
            self.preview_job = None;
            self.preview_pending = false;
            self.preview = None;
            self.preview_error = Some(err.cause.clone());
        }
    }

    /// A figure rendered on the worker: the preview, or the image to copy.
    pub fn take_image(&mut self, ctx: &egui::Context, purpose: FigurePurpose, image: ColorImage) {
        match purpose {
            FigurePurpose::Preview => {
                self.preview_pending = false;
                self.preview_job = None;
                self.preview_error = None;
                self.preview =
                    Some(ctx.load_texture("figure-preview", image, egui::TextureOptions::LINEAR));
            }
            FigurePurpose::Clipboard => {
                ctx.copy_image(image);
                self.message = Some("Figure copied to the clipboard.".into());
            }
        }
    }

    /// Files written on the worker: say so, and remember their folder for the next export.
    pub fn take_written(&mut self, settings: &mut Settings, paths: &[PathBuf]) {
        if let Some(dir) = paths.first().and_then(|p| p.parent()) {
            settings.export_dir = Some(dir.to_path_buf());
        }
        self.job = None;
        let list: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        self.message = Some(format!("Written: {}", list.join(", ")));
    }

    /// Make sure the path's extension matches the chosen format.
    fn sync_extension(&mut self, format: ExportFormat) {
        if self.path_text.is_empty() {
            return;
        }
        let path = PathBuf::from(&self.path_text);
        self.path_text = path
            .with_extension(format.extension())
            .display()
            .to_string();
    }
}

/// Draw the export window; returns what to do.
pub fn export_ui(
    ui: &mut Ui,
    dialog: &mut ExportDialog,
    settings: &mut Settings,
    ecg: &Ecg,
    visible_s: Option<(f64, f64)>,
) -> ExportAction {
    let mut action = ExportAction::None;
    ui.horizontal(|ui| {
        ui.label("Format");
        let before = settings.export_format;
        for f in [ExportFormat::Svg, ExportFormat::Png, ExportFormat::Pdf] {
            ui.selectable_value(&mut settings.export_format, f, f.extension().to_uppercase());
        }
        if before != settings.export_format {
            dialog.sync_extension(settings.export_format);
        }
    });
    ui.horizontal(|ui| {
        ui.checkbox(&mut dialog.only_visible, "only the visible time span");
        ui.checkbox(&mut settings.export_a4, "A4 landscape page");
    });
    if settings.export_format == ExportFormat::Png {
        ui.add(egui::Slider::new(&mut settings.export_dpi, 72.0..=600.0).text("DPI"));
    }
    let window = if dialog.only_visible { visible_s } else { None };
    let spec = spec_for_view(settings, ecg, window);
    if let Ok(layout) = crate::figure::compute_layout(ecg, &spec) {
        let px = |mm: f64| (mm / 25.4 * spec.dpi).round();
        let size = format!(
            "{:.0} x {:.0} mm",
            layout.page_width_mm, layout.page_height_mm
        );
        ui.label(if settings.export_format == ExportFormat::Png {
            format!(
                "{size}, {:.0} x {:.0} px",
                px(layout.page_width_mm),
                px(layout.page_height_mm)
            )
        } else {
            size
        });
    }
    ui.horizontal(|ui| {
        let label = ui.label("File name");
        ui.add(egui::TextEdit::singleline(&mut dialog.path_text).desired_width(360.0))
            .labelled_by(label.id);
        if ui.button("Choose...").clicked() {
            action = ExportAction::Browse;
        }
    });

    // The preview follows the settings (same spec at a low resolution).
    let preview_spec = FigureSpec {
        dpi: 60.0,
        ..spec.clone()
    };
    if dialog.preview_spec.as_ref() != Some(&preview_spec) && !dialog.preview_pending {
        dialog.preview_spec = Some(preview_spec.clone());
        dialog.preview_pending = true;
        action = ExportAction::RenderPreview(preview_spec);
    }
    ui.separator();
    match &dialog.preview {
        Some(tex) => {
            let max = egui::vec2(ui.available_width().min(720.0), 360.0);
            let size = tex.size_vec2();
            let scale = (max.x / size.x).min(max.y / size.y).min(1.0);
            ui.add(egui::Image::new((tex.id(), size * scale)).alt_text("Figure preview"));
        }
        None if dialog.preview_pending => {
            ui.spinner();
        }
        None => {
            if let Some(err) = &dialog.preview_error {
                ui.colored_label(ui.visuals().warn_fg_color, format!("No preview: {err}"));
            }
        }
    }
    ui.separator();
    if let Some(msg) = &dialog.message {
        ui.label(msg);
    }
    if let Some(existing) = dialog.confirm_overwrite.clone() {
        ui.label(RichText::new(format!("{} exists. Overwrite it?", existing.display())).strong());
        ui.horizontal(|ui| {
            if ui.button("Overwrite").clicked() {
                dialog.confirm_overwrite = None;
                action = ExportAction::Export {
                    path: existing.clone(),
                    spec: spec.clone(),
                    overwrite: true,
                };
            }
            if ui.button("Keep the file").clicked() {
                dialog.confirm_overwrite = None;
            }
        });
    } else if ui.button("Export figure").clicked() {
        let path = PathBuf::from(dialog.path_text.trim());
        if dialog.path_text.trim().is_empty() {
            dialog.message = Some("Choose a file name first.".into());
        } else if path.exists() {
            dialog.confirm_overwrite = Some(path);
        } else {
            action = ExportAction::Export {
                path,
                spec,
                overwrite: false,
            };
        }
    }
    action
}

/// A file stem from a record id (characters other than letters, digits, '-' and '_' become '_').
pub fn file_stem(record_id: &str) -> String {
    record_id
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The files `crate::figure::export_data` writes for a record that already exist in `dir`.
pub fn existing_data_files(dir: &Path, record_id: &str) -> Vec<PathBuf> {
    let stem = file_stem(record_id);
    [
        "segments.csv",
        "steps.csv",
        "predictions.csv",
        "landmarks.csv",
        "json",
    ]
    .iter()
    .map(|ext| dir.join(format!("{stem}.{ext}")))
    .filter(|p| p.exists())
    .collect()
}

/// The data part of the export window: folder, WFDB annotations, export button (with the same
/// confirm-before-overwrite rule as figures).
pub fn export_data_ui(
    ui: &mut Ui,
    dialog: &mut ExportDialog,
    record_id: &str,
    has_explanation: bool,
) -> ExportAction {
    let mut action = ExportAction::None;
    ui.horizontal(|ui| {
        let label = ui.label("Folder");
        ui.add(egui::TextEdit::singleline(&mut dialog.data_dir_text).desired_width(360.0))
            .labelled_by(label.id);
    });
    ui.add_enabled(
        has_explanation,
        egui::Checkbox::new(
            &mut dialog.data_annotations,
            "WFDB cluster annotations (.tlc) beside the record",
        ),
    );
    let dir = PathBuf::from(dialog.data_dir_text.trim());
    if dialog.confirm_data_overwrite {
        ui.label(
            RichText::new("Some of these files exist in that folder. Overwrite them?").strong(),
        );
        ui.horizontal(|ui| {
            if ui.button("Overwrite data").clicked() {
                dialog.confirm_data_overwrite = false;
                action = ExportAction::ExportData {
                    dir: dir.clone(),
                    annotations: dialog.data_annotations,
                    overwrite: true,
                };
            }
            if ui.button("Keep the files").clicked() {
                dialog.confirm_data_overwrite = false;
            }
        });
    } else if ui.button("Export data (CSV + JSON)").clicked() {
        if !dir.is_dir() {
            dialog.message = Some(format!("{} is not a folder.", dir.display()));
        } else if !existing_data_files(&dir, record_id).is_empty() {
            dialog.confirm_data_overwrite = true;
        } else {
            action = ExportAction::ExportData {
                dir,
                annotations: dialog.data_annotations,
                overwrite: false,
            };
        }
    }
    action
}
