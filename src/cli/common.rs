//! What every subcommand shares: the data-set and model options, the one record loader, the
//! one terminal progress bar (with Ctrl-C), and output-file checks.
//!
//! A command that reads a record goes through `io::open_dataset`, so a file format added there
//! is open to every command at once (no command checks for `.hea` itself).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use anyhow::{Context, bail};
use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressStyle};

use crate::io::{Dataset, OpenOptions, PtbxlRate, open_dataset_with};
use crate::model::LoadedModel;
use crate::progress::{CancelToken, Progress, ProgressSink};
use crate::record::Ecg;
use crate::tlc::Explainer;

/// PTB-XL ships each record at 100 and 500 Hz.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RateArg {
    #[value(name = "100")]
    Hz100,
    #[value(name = "500")]
    Hz500,
}

impl From<RateArg> for PtbxlRate {
    fn from(rate: RateArg) -> Self {
        match rate {
            RateArg::Hz100 => PtbxlRate::Hz100,
            RateArg::Hz500 => PtbxlRate::Hz500,
        }
    }
}

/// How a data set is opened (flattened into every command that reads one).
#[derive(Debug, Clone, clap::Args)]
pub struct DataOptions {
    /// Which PTB-XL copy to read (100 or 500 Hz; use the one the model was trained on); other
    /// data sets ignore it.
    #[arg(long, value_enum, default_value = "500", alias = "ptbxl-hz")]
    pub ptbxl_rate: RateArg,
}

impl Default for DataOptions {
    fn default() -> Self {
        DataOptions {
            ptbxl_rate: RateArg::Hz500,
        }
    }
}

impl DataOptions {
    pub fn open_options(&self) -> OpenOptions {
        OpenOptions {
            ptbxl_rate: self.ptbxl_rate.into(),
        }
    }

    /// A record or a data set, its kind detected by `io::open_dataset` (index only). The
    /// error names the file itself.
    pub fn open(&self, path: &Path) -> anyhow::Result<Box<dyn Dataset>> {
        Ok(open_dataset_with(path, &self.open_options())?)
    }
}

/// Which record of a data set a one-record command works on.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RecordChoice {
    /// Record id within a data set.
    #[arg(long, conflicts_with = "index")]
    pub id: Option<String>,
    /// Record index within a data set (0-based).
    #[arg(long)]
    pub index: Option<usize>,
}

impl RecordChoice {
    /// The index of the chosen record in `dataset` (opened from `path`); a data set of one
    /// needs no choice.
    pub fn index_in(&self, dataset: &dyn Dataset, path: &Path) -> anyhow::Result<usize> {
        match (&self.id, self.index) {
            (Some(id), _) => (0..dataset.len())
                .find(|&i| dataset.entry(i).is_some_and(|e| &e.id == id))
                .with_context(|| format!("{}: no record with id '{id}'", path.display())),
            (None, Some(i)) if i < dataset.len() => Ok(i),
            (None, Some(i)) => bail!(
                "{}: index {i} is outside the data set ({} records)",
                path.display(),
                dataset.len()
            ),
            (None, None) if dataset.len() == 1 => Ok(0),
            (None, None) => bail!(
                "{} holds {} records: choose one with --id or --index",
                path.display(),
                dataset.len()
            ),
        }
    }
}

/// The one way a command loads one record: a record file (any format `io::open_dataset`
/// reads, or its name without extension), or one record of a data set.
pub fn load_one_record(
    path: &Path,
    choice: &RecordChoice,
    data: &DataOptions,
) -> anyhow::Result<Ecg> {
    let dataset = data.open(path)?;
    let index = choice.index_in(dataset.as_ref(), path)?;
    Ok(dataset.load(index)?)
}

/// The model and its explainer (flattened into every command that explains).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ModelOptions {
    /// Model weights (.safetensors with its .json config beside it). Default: the bundled model
    /// for the data (the synthetic-data model for sample_data/, the PTB-XL model otherwise).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Explainer fitted for the model (default: `<model stem>.explainer.safetensors` beside the
    /// model).
    #[arg(long)]
    pub explainer: Option<PathBuf>,
}

impl ModelOptions {
    /// The model file: given, or the bundled one for `data`.
    pub fn model_path(&self, data: Option<&Path>) -> PathBuf {
        self.model
            .clone()
            .unwrap_or_else(|| crate::paths::default_model_for(data))
    }

    /// The model alone (for commands that do not need an explainer).
    pub fn open_model(&self, data: Option<&Path>) -> anyhow::Result<LoadedModel> {
        let path = self.model_path(data);
        // The model's errors name the file (weights or config) themselves.
        LoadedModel::open(&path).context("opening the model")
    }

    /// The model and its explainer, checked to belong together (weights, architecture,
    /// preprocessing).
    pub fn open(&self, data: Option<&Path>) -> anyhow::Result<(LoadedModel, Explainer)> {
        let model_path = self.model_path(data);
        let model = self.open_model(data)?;
        let explainer_path = crate::paths::resolve_explainer(&model_path, self.explainer.clone());
        let explainer = Explainer::load(&explainer_path).context("opening the explainer")?;
        explainer
            .check_model(&model)
            .with_context(|| format!("explainer {}", explainer_path.display()))?;
        Ok((model, explainer))
    }
}

/// Settings from a JSON file holding any subset of their fields (the rest keep their
/// defaults), or the defaults without a file; `what` names them in errors.
pub fn read_settings_json<T: serde::de::DeserializeOwned + Default>(
    path: Option<&Path>,
    what: &str,
) -> anyhow::Result<T> {
    let Some(path) = path else {
        return Ok(T::default());
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not valid {what}", path.display()))
}

/// Refuses to go on when any of `paths` exists and `overwrite` is not given; checked before
/// the first file is written, so a refused command writes nothing.
pub fn refuse_existing<'a>(
    paths: impl IntoIterator<Item = &'a Path>,
    overwrite: bool,
) -> anyhow::Result<()> {
    if overwrite {
        return Ok(());
    }
    for p in paths {
        if p.exists() {
            bail!(
                "{} already exists (pass --overwrite to replace it)",
                p.display()
            );
        }
    }
    Ok(())
}

/// Writes `(file name, contents)` into the folder `out` (created if missing); refuses to
/// replace any of them unless `overwrite`, before writing the first.
pub fn write_files(
    out: &Path,
    files: Vec<(&str, String)>,
    overwrite: bool,
) -> anyhow::Result<Vec<PathBuf>> {
    let paths: Vec<PathBuf> = files.iter().map(|(name, _)| out.join(name)).collect();
    refuse_existing(paths.iter().map(PathBuf::as_path), overwrite)?;
    for (path, (_, contents)) in paths.iter().zip(files) {
        crate::io::files::write_atomic(path, contents.as_bytes(), overwrite)?;
    }
    Ok(paths)
}

/// A file name from a record id (ids may hold path separators, e.g. PTB-XL's `records500/...`).
pub fn file_stem(id: &str) -> String {
    let s: String = id
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() { "record".into() } else { s }
}

static CTRL_C_TOKEN: OnceLock<CancelToken> = OnceLock::new();

/// Whether Ctrl-C stopped this process's work (without installing the handler).
pub fn interrupted() -> bool {
    CTRL_C_TOKEN.get().is_some_and(CancelToken::is_cancelled)
}

/// The process-wide cancel flag that Ctrl-C sets. `ctrlc` allows one handler per process, so
/// it is installed once and every progress bar shares its token.
pub fn ctrl_c_token() -> CancelToken {
    CTRL_C_TOKEN
        .get_or_init(|| {
            let token = CancelToken::new();
            let flag = token.clone();
            if let Err(e) = ctrlc::set_handler(move || flag.cancel()) {
                log::warn!("Ctrl-C will not stop cleanly: {e}");
            }
            token
        })
        .clone()
}

/// The terminal progress bar of every command: the core's stage as its message, position and
/// length from its reports, and Ctrl-C as the cancel flag the core checks.
pub struct TerminalProgress {
    bar: ProgressBar,
    stage: Mutex<String>,
    cancel: CancelToken,
}

impl TerminalProgress {
    /// A bar that starts with `stage` as its message (empty until the core reports one).
    pub fn new(stage: &str) -> Self {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{msg:28} [{bar:40}] {pos}/{len} ({elapsed}, eta {eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(stage.to_string());
        TerminalProgress {
            bar,
            stage: Mutex::new(stage.to_string()),
            cancel: ctrl_c_token(),
        }
    }

    /// A bar over `total` items counted with [`TerminalProgress::inc`].
    pub fn counting(stage: &str, total: usize) -> Self {
        let progress = TerminalProgress::new(stage);
        progress.bar.set_length(total as u64);
        progress
    }

    /// One more item done (for loops the command runs itself).
    pub fn inc(&self) {
        self.bar.inc(1);
    }

    /// Removes the bar from the terminal (before the command prints its results).
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl ProgressSink for TerminalProgress {
    fn report(&self, p: Progress) {
        if let Ok(mut stage) = self.stage.lock()
            && *stage != p.stage
        {
            self.bar.set_message(p.stage.clone());
            self.bar.reset_eta();
            *stage = p.stage;
        }
        self.bar.set_length(p.total as u64);
        self.bar.set_position(p.done as u64);
    }

    fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Probe {
        #[command(flatten)]
        data: DataOptions,
    }

    #[test]
    fn ptbxl_rate_has_one_spelling_and_the_old_one_still_parses() {
        let a = Probe::try_parse_from(["x", "--ptbxl-rate", "100"]).unwrap();
        assert_eq!(a.data.ptbxl_rate, RateArg::Hz100);
        let b = Probe::try_parse_from(["x", "--ptbxl-hz", "100"]).unwrap();
        assert_eq!(b.data.ptbxl_rate, RateArg::Hz100);
        assert!(Probe::try_parse_from(["x", "--ptbxl-rate", "250"]).is_err());
        let default = Probe::try_parse_from(["x"]).unwrap();
        assert_eq!(default.data.ptbxl_rate, RateArg::Hz500);
    }

    #[test]
    fn refuse_existing_names_the_file_unless_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let there = dir.path().join("a.csv");
        std::fs::write(&there, "x").unwrap();
        let missing = dir.path().join("b.csv");
        let err = refuse_existing([missing.as_path(), there.as_path()], false).unwrap_err();
        assert!(err.to_string().contains("a.csv"), "{err}");
        assert!(err.to_string().contains("--overwrite"), "{err}");
        refuse_existing([there.as_path()], true).unwrap();
        refuse_existing([missing.as_path()], false).unwrap();
    }
}
