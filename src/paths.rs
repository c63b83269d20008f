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
    assets()
        .join("models")
        .join("synth_resnet.explainer.safetensors")
}

/// The model trained on the real PTB-XL subset.
pub fn ptbxl_model() -> PathBuf {
    assets().join("models").join("ptbxl_resnet.safetensors")
}

pub fn ptbxl_explainer() -> PathBuf {
    assets()
        .join("models")
        .join("ptbxl_resnet.explainer.safetensors")
}

/// The explainer that belongs beside a model: `dir/name.safetensors` ->
/// `dir/name.explainer.safetensors` (the layout `tlc fit` and the bundled assets use).
pub fn explainer_beside(model: &std::path::Path) -> PathBuf {
    let stem = model.with_extension("");
    PathBuf::from(format!("{}.explainer.safetensors", stem.display()))
}

/// The explainer to use with `model`: the one given, else the one beside the model.
pub fn resolve_explainer(model: &std::path::Path, given: Option<PathBuf>) -> PathBuf {
    given.unwrap_or_else(|| explainer_beside(model))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_explainer_is_the_one_beside_the_bundled_model() {
        assert_eq!(explainer_beside(&default_model()), default_explainer());
        assert_eq!(explainer_beside(&ptbxl_model()), ptbxl_explainer());
        let given = PathBuf::from("/x/other.explainer.safetensors");
        assert_eq!(
            resolve_explainer(&default_model(), Some(given.clone())),
            given
        );
    }
}
