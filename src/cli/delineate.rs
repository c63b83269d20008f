//! `tlc delineate`: P/QRS/T landmarks of one record as CSV, JSON and WFDB annotations.

use std::path::PathBuf;

use anyhow::Context;

use crate::cli::common::{
    DataOptions, RecordChoice, file_stem, load_one_record, read_settings_json, refuse_existing,
};

use crate::cli::common::TerminalProgress;
use crate::delineate::DelineatorParams;
use crate::delineate::export::{
    annotations_for_beats, fused_annotations, landmarks_csv, rhythm_csv,
};
use crate::delineate::long::delineate_long;
use crate::io::files::write_atomic;

/// Arguments of `tlc delineate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The record: a record file (`100.hea` or `100`), or a data set with `--id` / `--index`.
    pub record: PathBuf,
    #[command(flatten)]
    pub choice: RecordChoice,
    #[command(flatten)]
    pub data_options: DataOptions,
    /// Output folder (created if needed). Default: `<record id>_delineation` in the current folder.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Replace existing output files.
    #[arg(long)]
    pub overwrite: bool,
    /// Delineator settings as JSON (any subset of the fields of `DelineatorParams`).
    #[arg(long)]
    pub params: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let params: DelineatorParams =
        read_settings_json(args.params.as_deref(), "delineator settings")?;
    let ecg = load_one_record(&args.record, &args.choice, &args.data_options)?;
    let id = file_stem(&ecg.meta.id);
    // A progress bar over the windows of a long record (one window up to `stream_window_s`).
    // The delineator's errors name the record.
    let progress = TerminalProgress::new("delineating");
    let d = delineate_long(&ecg, &params, &progress).context("delineating");
    progress.finish();
    let d = d?;

    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{id}_delineation")));
    // Every output path, checked before anything is written.
    let csv_path = out.join(format!("{id}_landmarks.csv"));
    let json_path = out.join(format!("{id}_delineation.json"));
    let rhythm_path = out.join(format!("{id}_rhythm.csv"));
    // Per-lead files in the LUDB convention; the fused one also marks pacemaker spikes (`^`)
    // and rhythm changes (`+` with `(AFIB` / `(N`).
    let annotators = lead_annotators(&ecg.leads);
    let mut ann_paths: Vec<(PathBuf, Vec<crate::io::annotation::Annotation>)> = annotators
        .iter()
        .zip(&d.per_lead)
        .map(|(annotator, beats)| {
            (
                out.join(format!("{id}.{annotator}")),
                annotations_for_beats(beats),
            )
        })
        .collect();
    ann_paths.push((out.join(format!("{id}.fused")), fused_annotations(&d)));
    refuse_existing(
        [
            csv_path.as_path(),
            json_path.as_path(),
            rhythm_path.as_path(),
        ]
        .into_iter()
        .chain(ann_paths.iter().map(|(p, _)| p.as_path())),
        args.overwrite,
    )?;
    write_atomic(
        &csv_path,
        landmarks_csv(&d, &ecg.leads).as_bytes(),
        args.overwrite,
    )?;
    write_atomic(&rhythm_path, rhythm_csv(&d).as_bytes(), args.overwrite)?;
    let json = serde_json::to_string_pretty(&d)?;
    write_atomic(&json_path, json.as_bytes(), args.overwrite)?;
    for (path, annotations) in &ann_paths {
        crate::io::annotation::write_annotations(path, annotations, args.overwrite)?;
    }

    let with_p = d.beats.iter().filter(|b| b.p.is_some()).count();
    let with_t = d.beats.iter().filter(|b| b.t.is_some()).count();
    let rr: Vec<f64> = d
        .beats
        .windows(2)
        .map(|w| (w[1].qrs.peak - w[0].qrs.peak) as f64 / d.fs_hz)
        .collect();
    let hr = if rr.is_empty() {
        f64::NAN
    } else {
        60.0 * rr.len() as f64 / rr.iter().sum::<f64>()
    };
    println!(
        "{id}: {} beats ({hr:.0} bpm), P in {with_p}, T in {with_t}{}{}",
        d.beats.len(),
        if d.atrial_fibrillation_suspected {
            format!(
                "; {} stretch(es) without P waves consistently linked to the QRS (atrial fibrillation/flutter, or AV dissociation), no P reported there",
                d.af_episodes.len()
            )
        } else {
            String::new()
        },
        if d.pacing_spikes.is_empty() {
            String::new()
        } else {
            format!("; {} pacemaker spikes", d.pacing_spikes.len())
        }
    );
    println!(
        "wrote {}, {}, {} and {} WFDB annotation files ({}.<lead>, {}.fused) in {}",
        csv_path.file_name().unwrap_or_default().to_string_lossy(),
        json_path.file_name().unwrap_or_default().to_string_lossy(),
        rhythm_path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy(),
        ann_paths.len(),
        id,
        id,
        out.display()
    );
    Ok(())
}

/// The annotator (file extension) of each lead's annotation file: the lead's name in lower case
/// as LUDB names them (`i`, `avr`, `v1`), letters, digits and `_` only; `sig<k>` (1-based) for a
/// lead whose name is empty, has no such character, or would repeat an earlier file or the
/// fused one, so no two leads write the same file.
fn lead_annotators(leads: &[crate::record::LeadName]) -> Vec<String> {
    let mut used = std::collections::HashSet::from(["fused".to_string()]);
    leads
        .iter()
        .enumerate()
        .map(|(k, lead)| {
            let name: String = lead
                .as_str()
                .to_ascii_lowercase()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let name = if name.is_empty() || used.contains(&name) {
                format!("sig{}", k + 1)
            } else {
                name
            };
            used.insert(name.clone());
            name
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::LeadName;

    #[test]
    fn every_lead_gets_its_own_annotator() {
        let leads: Vec<LeadName> = ["I", "", "", "aVR", "V1", "v1", "FUSED", "?"]
            .iter()
            .map(|n| LeadName::parse(n))
            .collect();
        assert_eq!(
            lead_annotators(&leads),
            ["i", "sig2", "sig3", "avr", "v1", "sig6", "sig7", "sig8"]
        );
    }
}
