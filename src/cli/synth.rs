//! `tlc synth`: write a synthetic 12-lead data set with ground truth (WFDB records, landmark
//! annotations and CSVs, labels.csv, CODE-15%-layout HDF5). See [`crate::synth::write`].

use std::path::PathBuf;

use anyhow::Context;

use crate::cli::common::TerminalProgress;
use crate::synth::write::{WriteSettings, write_dataset};
use crate::synth::{ClassProbabilities, Powerline, SynthParams};

/// Arguments of `tlc synth`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Number of records.
    #[arg(long = "n", default_value_t = 100)]
    pub n_records: usize,
    /// Master seed: the same seed and options give the same data set.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder (created; must be empty or absent unless --overwrite).
    #[arg(long)]
    pub out: PathBuf,
    /// Sampling rate of the WFDB records (Hz).
    #[arg(long, default_value_t = 500.0)]
    pub fs_hz: f64,
    /// Record length (s).
    #[arg(long, default_value_t = 10.0)]
    pub duration_s: f64,
    /// White noise standard deviation (mV).
    #[arg(long, default_value_t = 0.02)]
    pub noise_mv: f64,
    /// Baseline wander amplitude (mV).
    #[arg(long, default_value_t = 0.1)]
    pub baseline_wander_mv: f64,
    /// Add mains interference at this frequency (Hz), e.g. 50 or 60.
    #[arg(long)]
    pub powerline_hz: Option<f64>,
    /// Amplitude of the mains interference (mV), with --powerline-hz.
    #[arg(long, default_value_t = 0.02)]
    pub powerline_mv: f64,
    /// Probability that a record has MI (each abnormal class is drawn independently; a record
    /// with none is NORM).
    #[arg(long, default_value_t = 0.25)]
    pub p_mi: f64,
    /// Probability of STTC.
    #[arg(long, default_value_t = 0.25)]
    pub p_sttc: f64,
    /// Probability of CD.
    #[arg(long, default_value_t = 0.25)]
    pub p_cd: f64,
    /// Probability of HYP.
    #[arg(long, default_value_t = 0.2)]
    pub p_hyp: f64,
    /// Write into a non-empty folder, replacing earlier synthetic files there.
    #[arg(long)]
    pub overwrite: bool,
    /// Skip the CODE-15%-layout copy (code15.hdf5 and code15.csv).
    #[arg(long)]
    pub no_code15: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let params = SynthParams {
        n_records: args.n_records,
        seed: args.seed,
        fs_hz: args.fs_hz,
        duration_s: args.duration_s,
        noise_mv: args.noise_mv,
        baseline_wander_mv: args.baseline_wander_mv,
        powerline: args.powerline_hz.map(|freq_hz| Powerline {
            freq_hz,
            amplitude_mv: args.powerline_mv,
        }),
        class_probabilities: ClassProbabilities {
            mi: args.p_mi,
            sttc: args.p_sttc,
            cd: args.p_cd,
            hyp: args.p_hyp,
        },
        ..Default::default()
    };
    params.validate()?;
    let settings = WriteSettings {
        overwrite: args.overwrite,
        code15: !args.no_code15,
        ..Default::default()
    };

    let sink = TerminalProgress::new("synth");
    let summary = write_dataset(&params, &args.out, &settings, &sink)
        .with_context(|| format!("writing the synthetic data set to {}", args.out.display()))?;
    sink.finish();

    let counts: Vec<String> = summary
        .class_counts
        .iter()
        .map(|(c, n)| format!("{} {n}", c.as_str()))
        .collect();
    println!(
        "wrote {} records ({} beats with ground truth) to {}: {}",
        summary.n_records,
        summary.n_beats,
        summary.out_dir.display(),
        counts.join(", ")
    );
    Ok(())
}
