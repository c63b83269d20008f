//! The eframe desktop app. It only calls the core; long work runs on a named worker thread.

use std::path::PathBuf;

/// What to open at start.
#[derive(Debug, Clone, Default)]
pub struct Launch {
    /// A record, a folder or a data set; `None` opens the bundled sample data.
    pub path: Option<PathBuf>,
    pub model: Option<PathBuf>,
    pub explainer: Option<PathBuf>,
}

/// Open the window and run until it is closed.
pub fn run(launch: Launch) -> anyhow::Result<()> {
    let _ = launch;
    anyhow::bail!("the desktop app is not built yet")
}
