//! The command line shared by the LUDB examples (`ludb_eval`, `ludb_measure`).

use std::path::PathBuf;

use tlc_explorer::delineate::DelineatorParams;
use tlc_explorer::delineate::score::RecordSubset;

/// `[LUDB_DIR] [--records all|odd|even] [--params FILE.json] [--per-record OUT.csv]`, and
/// `--resample HZ` where the example takes it.
pub struct LudbArgs {
    /// The LUDB folder; default `../shared/data/ludb` beside the repository.
    pub dir: PathBuf,
    pub records: RecordSubset,
    /// Settings as JSON (any subset of the fields; see [`LudbArgs::params`]).
    pub params_file: Option<PathBuf>,
    /// Where to write each record's figures.
    pub per_record: Option<PathBuf>,
    /// Rate to delineate at (only where `accept_resample`).
    pub resample_hz: Option<f64>,
    /// `--leads ii,v5`: only these leads (where the example takes it).
    pub leads: Option<Vec<String>>,
    /// `--delineator FILE.json`: delineator settings (missing fields at their defaults).
    pub delineator_file: Option<PathBuf>,
}

impl LudbArgs {
    /// Parse the process's arguments; `--resample` only when `accept_resample`.
    pub fn parse(accept_resample: bool) -> anyhow::Result<LudbArgs> {
        let mut parsed = LudbArgs {
            dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/ludb"),
            records: RecordSubset::All,
            params_file: None,
            per_record: None,
            resample_hz: None,
            leads: None,
            delineator_file: None,
        };
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            let mut value = || {
                args.next()
                    .ok_or_else(|| anyhow::anyhow!("{a} needs a value"))
            };
            match a.as_str() {
                "--resample" if accept_resample => parsed.resample_hz = Some(value()?.parse()?),
                "--leads" => parsed.leads = Some(value()?.split(',').map(str::to_string).collect()),
                "--records" => parsed.records = value()?.parse().map_err(anyhow::Error::msg)?,
                "--params" => parsed.params_file = Some(PathBuf::from(value()?)),
                "--delineator" => parsed.delineator_file = Some(PathBuf::from(value()?)),
                "--per-record" => parsed.per_record = Some(PathBuf::from(value()?)),
                _ => parsed.dir = PathBuf::from(a),
            }
        }
        Ok(parsed)
    }

    /// The settings of `--params` (missing fields at their defaults), or the defaults.
    pub fn params<T: serde::de::DeserializeOwned + Default>(&self) -> anyhow::Result<T> {
        Ok(match &self.params_file {
            Some(path) => serde_json::from_str(&std::fs::read_to_string(path)?)?,
            None => T::default(),
        })
    }

    /// The delineator settings of `--delineator` (missing fields at their defaults).
    // Only `ludb_measure` takes them; the other examples' `--params` are delineator settings.
    #[allow(dead_code)]
    pub fn delineator(&self) -> anyhow::Result<DelineatorParams> {
        Ok(match &self.delineator_file {
            Some(path) => serde_json::from_str(&std::fs::read_to_string(path)?)?,
            None => DelineatorParams::default(),
        })
    }
}
