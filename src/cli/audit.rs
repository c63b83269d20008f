//! `tlc audit`: records where label, CNN and surrogate disagree, most suspicious first.

use std::path::PathBuf;

use crate::cli::common::{TerminalProgress, refuse_existing};
use crate::cli::evaluate::{InputArgs, prepare, truth};
use crate::surrogate::{AuditSettings, audit, write_audit_csv};

/// Arguments of `tlc audit`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub input: InputArgs,
    /// Show (and write) only the N highest-ranked disagreements.
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    /// CSV file for the listed rows.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Replace an existing output file.
    #[arg(long)]
    pub overwrite: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    // Refused before the run, not after it.
    refuse_existing(args.out.as_deref(), args.overwrite)?;
    let progress = TerminalProgress::new("auditing");
    let p = prepare(&args.input, &progress)?;
    let report = crate::surrogate::cross_validate(&p.data, &p.backend, &p.settings, &progress);
    progress.finish();
    let report = report?;
    let rows = audit(
        &report,
        truth(&p),
        &AuditSettings {
            top: Some(args.top),
        },
    )?;
    println!(
        "{} disagreements listed (ranked by CNN confidence x (1 - mean entropy)); forest = out-of-fold surrogate",
        rows.len()
    );
    println!(
        "{:<12}{:>5} {:<8}{:>6}{:>5}{:>7}{:>8}{:>9}{:>7}  kind",
        "id", "fold", "output", "label", "cnn", "forest", "p_cnn", "entropy", "score"
    );
    for r in &rows {
        println!(
            "{:<12}{:>5} {:<8}{:>6}{:>5}{:>7}{:>8.3}{:>9.3}{:>7.3}  {:?}",
            r.id,
            r.fold,
            r.output,
            r.label.as_deref().unwrap_or("-"),
            r.cnn,
            r.forest,
            r.cnn_probability,
            r.mean_entropy,
            r.score,
            r.kind
        );
    }
    if let Some(path) = &args.out {
        write_audit_csv(&rows, path)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
