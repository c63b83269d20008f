//! `tlc open`: the desktop app on a given record, folder or data set (started by `src/main.rs`).

use std::path::PathBuf;

#[derive(Debug, Default, clap::Args)]
pub struct Args {
    /// A WFDB record (.hea), a folder of records, a PTB-XL folder or a CODE-15% HDF5 file.
    pub path: Option<PathBuf>,
    /// Model weights (.safetensors with a .json config beside it); default: the bundled model.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Explainer file; default: `<model stem>.explainer.safetensors` beside the model.
    #[arg(long)]
    pub explainer: Option<PathBuf>,
}
