//! Where the bundled sample data, models and explainers live.
//!
//! Resolved at run time next to the executable's source tree (the crate's manifest directory,
//! baked in at compile time), overridable with `TLC_EXPLORER_HOME`, so `cargo run` from any
//! working directory finds them.

use std::path::PathBuf;

/// The folder holding `assets/` and `sample_data/`.
pub fn home() -> PathBuf {
    std::env::var_os("TLC_EXPLORER_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// The bundled synthetic sample data set (made by `tlc synth`).
pub fn sample_data() -> PathBuf {
    home().join("sample_data")
}

pub fn assets() -> PathBuf {
    home().join("assets")
}

/// The model the app opens by default: trained on synthetic data matched to sample_data/.
pub fn default_model() -> PathBuf {
    assets().join("models").join("synth_resnet.safetensors")
}

/// The explainer fitted for [`default_model`].
pub fn default_explainer() -> PathBuf {
    assets().join("models").join("synth_resnet.explainer.safetensors")
}

/// The model trained on the real PTB-XL subset.
pub fn ptbxl_model() -> PathBuf {
    assets().join("models").join("ptbxl_resnet.safetensors")
}

pub fn ptbxl_explainer() -> PathBuf {
    assets().join("models").join("ptbxl_resnet.explainer.safetensors")
}
