//! The `tlc` command's batch subcommands; `src/main.rs` opens the app when called with no
//! subcommand or with `open`.
//!
//! Each subcommand lives in its own file with an `Args` struct and a `run` function.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod align;
pub mod audit;
pub mod common;
pub mod delineate;
pub mod evaluate;
pub mod explain;
pub mod figure;
pub mod fit;
pub mod info;
pub mod measure;
pub mod open;
pub mod synth;
pub mod train;

#[derive(Debug, Parser)]
#[command(
    name = "tlc",
    version,
    about = "TLC Explorer: time-localized clusters of a 1D-ResNet's activations on ECGs.\nWith no subcommand, opens the desktop app on the bundled sample data."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the desktop app on a record, a folder or a data set.
    Open(open::Args),
    /// Summarise a record or a data set (leads, rate, duration, labels, counts per class).
    Info(info::Args),
    /// Write synthetic 12-lead ECGs with ground truth (WFDB, labels CSV, CODE-15% HDF5).
    Synth(synth::Args),
    /// Train a ResNet1d (optionally one per cross-validation fold).
    Train(train::Args),
    /// Fit time-localized clusters over a corpus and write an explainer.
    Fit(fit::Args),
    /// Explain one record: predictions, clusters, entropy, segments, Grad-CAM; or a whole
    /// data set to Parquet (--data).
    Explain(explain::Args),
    /// Delineate P/QRS/T waves of a record (CSV and WFDB annotations).
    Delineate(delineate::Args),
    /// Clinical measurements (rate, PR, QRS, QT/QTc, axes, rhythm) of a record or a data set.
    Measure(measure::Args),
    /// Cluster-landmark alignment statistics over a data set.
    Align(align::Args),
    /// Cross-validated surrogate evaluation: a random forest on cluster proportions vs the CNN.
    Evaluate(evaluate::Args),
    /// List records where label, CNN and surrogate disagree.
    Audit(audit::Args),
    /// Export annotated figures (SVG, PNG, PDF) of a record or a data set.
    Figure(figure::Args),
}

/// Rust ignores SIGPIPE, so `println!` into a closed pipe (`tlc delineate R | head -1`) panics.
/// The batch commands take the default action instead, like other command-line tools: they end
/// silently when the reader goes away. The app keeps Rust's setting (its display connection
/// must report a broken pipe as an error, not end the process).
fn die_quietly_on_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: called once at start-up, before any other thread exists; SIG_DFL is a valid
    // disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Sets up logging and parses the command line (the binary's first step).
pub fn parse() -> Cli {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    Cli::parse()
}

/// Runs one batch subcommand. The desktop app (`open`, or no subcommand) is started by the
/// binary (`src/main.rs`), which alone knows whether it was built with the `gui` feature.
pub fn run(command: Command) -> anyhow::Result<()> {
    die_quietly_on_closed_pipe();
    match command {
        Command::Open(_) => {
            anyhow::bail!("`tlc open` starts the desktop app: run it from the `tlc` binary")
        }
        Command::Info(a) => info::run(a),
        Command::Synth(a) => synth::run(a),
        Command::Train(a) => train::run(a),
        Command::Fit(a) => fit::run(a),
        Command::Explain(a) => explain::run(a),
        Command::Delineate(a) => delineate::run(a),
        Command::Measure(a) => measure::run(a),
        Command::Align(a) => align::run(a),
        Command::Evaluate(a) => evaluate::run(a),
        Command::Audit(a) => audit::run(a),
        Command::Figure(a) => figure::run(a),
    }
}

/// Exit code of a command stopped by Ctrl-C: 128 + SIGINT, as a shell reports it, so a script
/// or a batch scheduler never takes an interrupted run for a finished one.
pub const EXIT_INTERRUPTED: u8 = 130;

/// The process's exit code; an error is printed with its causes, each once.
pub fn exit_code(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) if !common::interrupted() => ExitCode::SUCCESS,
        Ok(()) => ExitCode::from(EXIT_INTERRUPTED),
        Err(err) => {
            eprintln!("error: {}", crate::error_text::describe_anyhow(&err));
            if common::interrupted() {
                ExitCode::from(EXIT_INTERRUPTED)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
