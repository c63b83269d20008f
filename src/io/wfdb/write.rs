//! The writer: an [`Ecg`] as a format-16 WFDB record.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::io::IoError;
use ndarray::Array2;

use crate::record::{Ecg, Sex};

/// Settings of [`write_record`].
#[derive(Debug, Clone, PartialEq)]
pub struct WriteOptions {
    /// ADC units per mV. Default 1000 (1 µV resolution, ±32.767 mV range), as PTB-XL.
    pub gain_adc_per_mv: f64,
    /// Replace existing `.hea`/`.dat` files. Default false.
    pub overwrite: bool,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            gain_adc_per_mv: 1000.0,
            overwrite: false,
        }
    }
}

/// Write `ecg` as WFDB record `name` in `dir` (format 16, all leads in `name.dat`, checksums,
/// `# age:`, `# sex:`, `# labels:`, `# fold:`, `# report:` comments). Returns the header path.
/// Values round-trip within `0.5 / gain` mV; a value outside the 16-bit range is an error.
pub fn write_record(
    dir: &Path,
    name: &str,
    ecg: &Ecg,
    opts: &WriteOptions,
) -> Result<PathBuf, IoError> {
    let hea_path = dir.join(format!("{name}.hea"));
    let dat_name = format!("{name}.dat");
    let dat_path = dir.join(&dat_name);
    if name.is_empty()
        || name
            .chars()
            .any(|c| c.is_whitespace() || c == '/' || c == '\\')
    {
        return Err(IoError::format(
            &hea_path,
            format!("bad record name '{name}'"),
        ));
    }
    let gain = opts.gain_adc_per_mv;
    if !(gain.is_finite() && gain > 0.0) {
        return Err(IoError::format(
            &hea_path,
            format!("gain {gain} must be positive"),
        ));
    }
    if !opts.overwrite {
        for p in [&hea_path, &dat_path] {
            if p.exists() {
                return Err(IoError::format(
                    p,
                    "already exists (set overwrite to replace it)",
                ));
            }
        }
    }
    let n_leads = ecg.n_leads();
    let n_samples = ecg.n_samples();
    let mut adc = Array2::<i16>::zeros((n_leads, n_samples));
    for ((lead, j), &v) in ecg.samples_mv.indexed_iter() {
        let scaled = (f64::from(v) * gain).round();
        // -32768 is WFDB's "missing sample" marker in format 16, so it is excluded.
        if !(-32767.0..=32767.0).contains(&scaled) {
            return Err(IoError::format(
                &dat_path,
                format!(
                    "lead {} sample {j}: {v} mV is outside the format-16 range at gain {gain}/mV",
                    ecg.leads[lead]
                ),
            ));
        }
        adc[[lead, j]] = scaled as i16;
    }
    let mut dat = Vec::with_capacity(n_leads * n_samples * 2);
    for j in 0..n_samples {
        for lead in 0..n_leads {
            dat.extend_from_slice(&adc[[lead, j]].to_le_bytes());
        }
    }
    let mut hea = format!("{name} {n_leads} {} {n_samples}\n", ecg.fs_hz);
    for (lead, lead_name) in ecg.leads.iter().enumerate() {
        let row = adc.row(lead);
        let sum: i64 = row.iter().map(|&v| i64::from(v)).sum();
        let checksum = (sum & 0xffff) as u16 as i16;
        let initial = row.first().copied().unwrap_or(0);
        let _ = writeln!(
            hea,
            "{dat_name} 16 {gain}(0)/mV 16 0 {initial} {checksum} 0 {}",
            lead_name.as_str().replace(['\n', '\r'], " ")
        );
    }
    let meta = &ecg.meta;
    let one_line = |s: &str| s.replace(['\n', '\r'], " ");
    if let Some(age) = meta.age_years {
        let _ = writeln!(hea, "# age: {age}");
    }
    if let Some(sex) = meta.sex {
        let _ = writeln!(hea, "# sex: {}", if sex == Sex::Male { "M" } else { "F" });
    }
    if !meta.labels.is_empty() {
        let _ = writeln!(hea, "# labels: {}", one_line(&meta.labels.join(" ")));
    }
    if let Some(fold) = meta.fold {
        let _ = writeln!(hea, "# fold: {fold}");
    }
    if let Some(report) = &meta.report {
        let _ = writeln!(hea, "# report: {}", one_line(report));
    }
    // The signal file first: a header appears only once its signals are complete.
    crate::io::files::write_atomic(&dat_path, &dat, true)?;
    crate::io::files::write_atomic(&hea_path, hea.as_bytes(), true)?;
    Ok(hea_path)
}
