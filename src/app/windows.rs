//! The small windows: problems (errors as values, dismissable) and help (keyboard and mouse,
//! about).

use egui::RichText;

use super::worker::JobError;

/// Where the UI puts every error it is handed; the window lists them until dismissed. Closing
/// the window hides the list (the status bar's "N problem(s)" shows it again); a new problem
/// shows it too.
#[derive(Default)]
pub struct ProblemsWindow {
    /// Most recent last.
    pub errors: Vec<JobError>,
    pub open: bool,
    /// How many problems the window was last shown with.
    seen: usize,
}

impl ProblemsWindow {
    /// List a problem without opening the window: for what is already said where it applies
    /// (a record's analysis notes are shown above its ECG), so stepping through records does
    /// not cover the ECG with a window each time.
    pub fn push_quiet(&mut self, err: JobError) {
        let shown_all = self.seen == self.errors.len();
        self.errors.push(err);
        if shown_all {
            self.seen = self.errors.len();
        }
    }

    pub fn window_ui(&mut self, ctx: &egui::Context) {
        if self.errors.len() > self.seen {
            self.open = true;
        }
        self.seen = self.errors.len();
        if self.errors.is_empty() || !self.open {
            return;
        }
        let mut open = true;
        let mut dismiss_all = false;
        let mut dismiss = None;
        egui::Window::new("Problems")
            .default_pos(ctx.content_rect().left_top() + egui::vec2(320.0, 90.0))
            .open(&mut open)
            .default_width(520.0)
            .show(ctx, |ui| {
                if ui.button("Dismiss all").clicked() {
                    dismiss_all = true;
                }
                egui::ScrollArea::vertical()
                    .max_height(300.0)
                    .show(ui, |ui| {
                        for (i, err) in self.errors.iter().enumerate().rev() {
                            ui.label(RichText::new(&err.task).strong());
                            ui.label(&err.cause);
                            if ui.small_button("Dismiss").clicked() {
                                dismiss = Some(i);
                            }
                            ui.separator();
                        }
                    });
            });
        if let Some(i) = dismiss {
            self.errors.remove(i);
        }
        if dismiss_all {
            self.errors.clear();
        }
        self.seen = self.errors.len();
        self.open = open;
    }
}

/// Help > Keyboard and mouse, Help > About.
#[derive(Default)]
pub struct HelpWindows {
    pub shortcuts: bool,
    pub about: bool,
}

impl HelpWindows {
    pub fn window_ui(&mut self, ctx: &egui::Context) {
        if self.shortcuts {
            egui::Window::new("Keyboard and mouse")
                .default_pos(ctx.content_rect().left_top() + egui::vec2(320.0, 90.0))
                .open(&mut self.shortcuts)
                .show(ctx, shortcuts_ui);
        }
        if self.about {
            egui::Window::new("About TLC Explorer")
                .default_pos(ctx.content_rect().left_top() + egui::vec2(320.0, 90.0))
                .open(&mut self.about)
                .show(ctx, |ui| {
                    ui.label(
                        "Time-localized clusters of a 1D-ResNet's activations on ECGs \
                         (Boubekki et al., IEEE TBME 2026).",
                    );
                    ui.label(format!("Version {}", env!("CARGO_PKG_VERSION")));
                });
        }
    }
}

fn shortcuts_ui(ui: &mut egui::Ui) {
    egui::Grid::new("shortcuts")
        .num_columns(2)
        .striped(true)
        .show(ui, |ui| {
            for (k, what) in [
                ("Up / Down", "previous / next record"),
                (
                    "Page Up / Page Down",
                    "a page of records; over the ECG: one screen",
                ),
                (
                    "Home / End",
                    "first / last record; over the ECG: record start / end",
                ),
                (
                    "click or drag the overview",
                    "show that part of a long record",
                ),
                ("+ / -", "zoom in / out"),
                ("Ctrl + wheel, pinch", "zoom about the pointer"),
                ("drag, wheel", "pan"),
                ("double-click, 0", "reset the view"),
                ("Ctrl + O", "open a file"),
                ("F1", "this help"),
            ] {
                ui.label(RichText::new(k).strong());
                ui.label(what);
                ui.end_row();
            }
        });
}
