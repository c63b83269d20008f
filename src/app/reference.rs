//! The reference annotations layer of the record on screen: the annotation files beside it
//! (listed when the record is loaded, on the records worker), which of them are shown (the
//! annotators chosen are persisted by extension in [`Settings::reference_annotators`], so `.ii`
//! stays on while stepping through LUDB), and the files read so far. Files are read on the
//! worker; a file that cannot be read shows its error beside its name.

use std::collections::HashMap;
use std::path::PathBuf;

use egui::{RichText, Ui};

use crate::figure::{AnnotatorFile, ReferenceLayer};

use super::JobId;
use super::settings::Settings;

/// Runtime state (never persisted).
#[derive(Default)]
pub struct ReferenceState {
    /// The record the files belong to (its source file).
    record: Option<PathBuf>,
    /// Annotation files beside the record.
    pub files: Vec<AnnotatorFile>,
    /// The files read and shown, in the order of `files`.
    pub shown: Vec<ReferenceLayer>,
    /// Files that could not be read, with the reason (naming the file).
    pub errors: HashMap<PathBuf, String>,
    /// Files being read, by job.
    pub jobs: HashMap<JobId, PathBuf>,
}

impl ReferenceState {
    /// A record arrived with the annotation files beside it: a different record starts afresh.
    pub fn set_record(&mut self, source: Option<PathBuf>, files: Vec<AnnotatorFile>) {
        if self.record != source || self.files != files {
            *self = ReferenceState {
                record: source,
                files,
                ..Default::default()
            };
        }
    }

    /// Files chosen in the settings that are neither shown, being read, nor failed.
    pub fn to_read(&self, settings: &Settings) -> Vec<AnnotatorFile> {
        self.files
            .iter()
            .filter(|f| settings.reference_annotators.contains(&f.extension))
            .filter(|f| {
                !self.shown.iter().any(|l| l.file.path == f.path)
                    && !self.jobs.values().any(|p| p == &f.path)
                    && !self.errors.contains_key(&f.path)
            })
            .cloned()
            .collect()
    }

    /// A file was read: shown if it is still one of this record's chosen files.
    pub fn take_layer(&mut self, id: JobId, layer: ReferenceLayer, settings: &Settings) {
        self.jobs.remove(&id);
        let chosen = settings
            .reference_annotators
            .contains(&layer.file.extension);
        let Some(position) = self.files.iter().position(|f| f.path == layer.file.path) else {
            return;
        };
        if !chosen || self.shown.iter().any(|l| l.file.path == layer.file.path) {
            return;
        }
        let at = self
            .shown
            .iter()
            .filter(|l| {
                self.files
                    .iter()
                    .position(|f| f.path == l.file.path)
                    .is_some_and(|p| p < position)
            })
            .count();
        self.shown.insert(at, layer);
    }

    /// A read failed: true when the job was one of these (the error is kept beside the file).
    pub fn job_failed(&mut self, id: JobId, cause: &str) -> bool {
        match self.jobs.remove(&id) {
            Some(path) => {
                self.errors.insert(path, cause.to_string());
                true
            }
            None => false,
        }
    }
}

/// The Reference menu of the toolbar: every annotation file beside the record with a checkbox
/// (per-lead ones say their lead), a spinner while one is read, its error when it failed.
pub fn reference_menu_ui(ui: &mut Ui, state: &mut ReferenceState, settings: &mut Settings) {
    let label = if state.shown.is_empty() {
        "Reference".to_string()
    } else {
        format!("Reference ({})", state.shown.len())
    };
    ui.menu_button(label, |ui| {
        if state.files.is_empty() {
            ui.label("No annotation files beside this record.");
            return;
        }
        ui.label(RichText::new("Annotation files beside the record").strong());
        for file in state.files.clone() {
            let mut on = settings.reference_annotators.contains(&file.extension);
            let name = file
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| file.extension.clone());
            let text = match &file.lead {
                Some(lead) => format!("{name} (lead {lead})"),
                None => format!("{name} (all leads)"),
            };
            ui.horizontal(|ui| {
                if ui.checkbox(&mut on, text).changed() {
                    if on {
                        settings.reference_annotators.push(file.extension.clone());
                    } else {
                        settings
                            .reference_annotators
                            .retain(|e| e != &file.extension);
                        state.shown.retain(|l| l.file.path != file.path);
                        state.errors.remove(&file.path);
                    }
                }
                if state.jobs.values().any(|p| p == &file.path) {
                    ui.spinner();
                }
            });
            if let Some(err) = state.errors.get(&file.path) {
                ui.label(RichText::new(err).color(ui.visuals().error_fg_color));
            }
        }
    });
}
