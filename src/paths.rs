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

/// The bundled model of Ribeiro's size (12 x 4096 at 400 Hz) trained on real ECGs (PTB-XL).
pub fn real_model() -> PathBuf {
    assets().join("models").join("ribeiro_ptbxl.safetensors")
}

/// The bundled model of the same size regressing age in years (the paper's second task).
pub fn real_age_model() -> PathBuf {
    assets()
        .join("models")
        .join("ribeiro_ptbxl_age.safetensors")
}

/// Every bundled model (`assets/models/*.safetensors` with its JSON config beside it;
/// explainers left out), sorted by file name.
pub fn bundled_models() -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(assets().join("models")) else {
        return Vec::new();
    };
    let mut models: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.ends_with(".safetensors")
                && !name.ends_with(".explainer.safetensors")
                && crate::model::config_path_for(p).exists()
        })
        .collect();
    models.sort();
    models
}

/// The model to use for the data at `data` when the user chose none: the synthetic model for
/// the bundled sample data (the records it was made for), the real-data model for any other
/// record or data set (PTB-XL, LUDB, MIT-BIH, CODE-15%, any WFDB folder), when it is bundled.
pub fn default_model_for(data: Option<&std::path::Path>) -> PathBuf {
    let real = real_model();
    let synthetic = data.is_none_or(|d| is_inside(d, &sample_data()));
    if synthetic || !real.exists() {
        default_model()
    } else {
        real
    }
}

/// Whether `path` is `folder` or lies inside it (after resolving links; false when either
/// cannot be resolved).
fn is_inside(path: &std::path::Path, folder: &std::path::Path) -> bool {
    match (path.canonicalize(), folder.canonicalize()) {
        (Ok(p), Ok(f)) => p.starts_with(f),
        _ => false,
    }
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
        // Sample data keeps the synthetic model; any other data gets the real-data model.
        assert_eq!(default_model_for(None), default_model());
        assert_eq!(default_model_for(Some(&sample_data())), default_model());
        let record = sample_data().join("README.md");
        assert_eq!(default_model_for(Some(&record)), default_model());
        let elsewhere = std::env::temp_dir();
        let expected = if real_model().exists() {
            real_model()
        } else {
            default_model()
        };
        assert_eq!(default_model_for(Some(&elsewhere)), expected);
        // Each bundled model is listed once, with its explainer beside it.
        let bundled = bundled_models();
        for model in [
            default_model(),
            ptbxl_model(),
            real_model(),
            real_age_model(),
        ] {
            assert!(
                bundled.contains(&model),
                "{} not in {bundled:?}",
                model.display()
            );
        }
        assert!(
            bundled.iter().all(|m| explainer_beside(m).exists()),
            "{bundled:?}"
        );
        let given = PathBuf::from("/x/other.explainer.safetensors");
        assert_eq!(
            resolve_explainer(&default_model(), Some(given.clone())),
            given
        );
    }
}
