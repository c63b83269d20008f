//! `tlc synth`: write a synthetic 12-lead data set with ground truth (WFDB records, landmark
//! annotations and CSVs, labels.csv, CODE-15%-layout HDF5), or with `--holter` one long 2-lead
//! record as EDF or ISHNE. See [`crate::synth::write`] and [`crate::synth::long`].

use std::path::PathBuf;

use anyhow::Context;

use crate::cli::common::TerminalProgress;
use crate::record::LeadName;
use crate::synth::long::{HolterFormat, LongSynthetic};
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
    /// Write one long 2-lead record (leads II and V5, as a Holter records them) of
    /// --duration-s seconds to the file --out in this format, instead of a data set: a
    /// minute of synthetic ECG repeated, its amplitude drifting slowly (e.g. `--holter edf
    /// --duration-s 86400 --fs-hz 200 --out holter.edf`).
    #[arg(long, value_enum)]
    pub holter: Option<HolterFileFormat>,
}

/// The file formats of `--holter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HolterFileFormat {
    Edf,
    Ishne,
}

/// One long record written to `args.out`, a minute at a time.
fn write_holter(args: &Args, params: &SynthParams, format: HolterFileFormat) -> anyhow::Result<()> {
    let tile = SynthParams {
        n_records: 1,
        duration_s: args.duration_s.min(60.0),
        ..params.clone()
    };
    tile.validate()?;
    let long = LongSynthetic::with_leads(&tile, &[LeadName::II, LeadName::V5], args.duration_s)?;
    let format = match format {
        HolterFileFormat::Edf => HolterFormat::Edf,
        HolterFileFormat::Ishne => HolterFormat::Ishne,
    };
    long.write(&args.out, format, args.overwrite)
        .with_context(|| format!("writing the long record to {}", args.out.display()))?;
    println!(
        "wrote a {:.0} s 2-lead record at {} Hz ({} samples per lead) to {}",
        args.duration_s,
        args.fs_hz,
        long.n_samples,
        args.out.display()
    );
    Ok(())
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
    if let Some(format) = args.holter {
        return write_holter(&args, &params, format);
    }
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
