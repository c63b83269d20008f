//! The explainer file: a fitted TLC for one model, saved as `X.explainer.safetensors` (arrays)
//! beside `X.explainer.json` (everything else, human-readable, versioned).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2, Ix1, Ix2};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::dsp::Preprocessing;
use crate::model::ModelConfig;
use crate::tlc::TlcError;
use crate::tlc::cluster::{ClusterModel, ClusterSettings};
use crate::tlc::features::FeatureSettings;
use crate::tlc::tensorfile::{TensorFile, write_f32};

/// Version of the explainer file format written by this build; older versions are read,
/// newer ones refused.
pub const EXPLAINER_VERSION: u32 = 1;

/// How an explainer was fitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitDescription {
    /// Name of the data set (as `Dataset::name`).
    pub dataset: String,
    pub n_records: usize,
    /// Time steps used for standardisation and k-means (after subsampling to the budget).
    pub n_time_steps: usize,
    /// Valid time steps seen in the corpus before subsampling.
    #[serde(default)]
    pub n_time_steps_seen: usize,
    pub seed: u64,
    pub settings: ClusterSettings,
    /// Sum of squared distances of the fitting steps to their nearest centroid.
    #[serde(default)]
    pub inertia: f64,
    /// UTC, RFC 3339 (e.g. 2026-11-22T01:02:03Z).
    pub date: String,
}

/// What a cluster means, from alignment with delineated waves (filled in later by the
/// delineation step; every field is optional in spirit so explainers without it still load).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterDescription {
    /// The ECG segment most of the cluster's time steps fall in (e.g. "QRS", "T", "P").
    pub dominant_segment: String,
    /// Share of the cluster's steps in that segment.
    pub purity: f32,
    /// Mean offset (s) of the cluster's segments from the nearest R peak.
    #[serde(default)]
    pub mean_offset_from_r_s: Option<f32>,
    /// Mean lead-II signal (mV) around the cluster's segments, in a fixed window.
    #[serde(default)]
    pub prototype: Option<Vec<f32>>,
    /// Sampling rate of `prototype`.
    #[serde(default)]
    pub prototype_fs_hz: Option<f64>,
}

/// A TLC fitted for one model.
#[derive(Debug, Clone, PartialEq)]
pub struct Explainer {
    pub version: u32,
    pub name: String,
    pub model_name: String,
    pub model_sha256: String,
    pub model_config: ModelConfig,
    /// The filtering of the records the clusters were fitted on; every record explained with
    /// this explainer gets the same (see [`Explainer::check_model`]).
    pub preprocessing: Preprocessing,
    /// With the block list resolved (explicit).
    pub features: FeatureSettings,
    pub k: usize,
    /// (K, F) in standardised space.
    pub centroids: Array2<f32>,
    /// (F) feature mean and std of the standardisation.
    pub mean: Array1<f32>,
    pub std: Array1<f32>,
    pub temperature: f32,
    pub fit: FitDescription,
    /// One entry per cluster (length K).
    pub cluster_descriptions: Vec<Option<ClusterDescription>>,
}

/// The JSON half of the file.
#[derive(Serialize, Deserialize)]
struct ExplainerJson {
    format: String,
    version: u32,
    name: String,
    model_name: String,
    model_sha256: String,
    model_config: ModelConfig,
    /// Absent in files written before it was recorded: they were fitted without filtering
    /// unless `tlc fit --remove-baseline` was given, which nothing recorded.
    #[serde(default)]
    preprocessing: Preprocessing,
    features: FeatureSettings,
    k: usize,
    n_features: usize,
    temperature: f32,
    fit: FitDescription,
    #[serde(default)]
    cluster_descriptions: Vec<Option<ClusterDescription>>,
    /// sha256 of the safetensors half, so a mismatched pair is caught.
    arrays_sha256: String,
}

const FORMAT: &str = "tlc-explorer explainer";

impl Explainer {
    /// The explainer for a fitted clustering.
    #[allow(clippy::too_many_arguments)]
    pub fn from_clusters(
        name: impl Into<String>,
        model_name: impl Into<String>,
        model_sha256: impl Into<String>,
        model_config: ModelConfig,
        preprocessing: Preprocessing,
        features: FeatureSettings,
        clusters: ClusterModel,
        fit: FitDescription,
    ) -> Result<Self, TlcError> {
        let features = features.resolved(&model_config)?;
        let (_, n_features) = features.dims(&model_config)?;
        if clusters.n_features() != n_features {
            return Err(TlcError::shape(
                "centroids",
                format!("{n_features} features (blocks {:?})", features.blocks),
                clusters.n_features(),
            ));
        }
        let k = clusters.k();
        Ok(Explainer {
            version: EXPLAINER_VERSION,
            name: name.into(),
            model_name: model_name.into(),
            model_sha256: model_sha256.into(),
            model_config,
            preprocessing,
            features,
            k,
            centroids: clusters.centroids,
            mean: clusters.mean,
            std: clusters.std,
            temperature: clusters.temperature,
            fit,
            cluster_descriptions: vec![None; k],
        })
    }

    /// The clustering part, for assignment.
    pub fn cluster_model(&self) -> ClusterModel {
        ClusterModel {
            mean: self.mean.clone(),
            std: self.std.clone(),
            centroids: self.centroids.clone(),
            temperature: self.temperature,
            inertia: self.fit.inertia,
            n_time_steps: self.fit.n_time_steps,
        }
    }

    /// Block indices the features come from.
    pub fn blocks(&self) -> Result<Vec<usize>, TlcError> {
        self.features.resolve_blocks(&self.model_config)
    }

    /// (arrays, JSON) paths for a path naming either half, or a stem `X` (giving
    /// `X.explainer.safetensors` and `X.explainer.json`).
    pub fn file_paths(path: &Path) -> (PathBuf, PathBuf) {
        let s = path.to_string_lossy();
        if let Some(stem) = s.strip_suffix(".safetensors") {
            (path.to_path_buf(), PathBuf::from(format!("{stem}.json")))
        } else if let Some(stem) = s.strip_suffix(".json") {
            (
                PathBuf::from(format!("{stem}.safetensors")),
                path.to_path_buf(),
            )
        } else {
            (
                PathBuf::from(format!("{s}.explainer.safetensors")),
                PathBuf::from(format!("{s}.explainer.json")),
            )
        }
    }

    /// Write both halves. Refuses to replace existing files unless `overwrite`.
    pub fn save(&self, path: &Path, overwrite: bool) -> Result<(), TlcError> {
        self.check_consistent(path)?;
        let (arrays_path, json_path) = Self::file_paths(path);
        if !overwrite {
            for p in [&arrays_path, &json_path] {
                if p.exists() {
                    return Err(TlcError::AlreadyExists { path: p.clone() });
                }
            }
        }
        let (k, f) = self.centroids.dim();
        let centroids: Vec<f32> = self.centroids.iter().copied().collect();
        let mean: Vec<f32> = self.mean.iter().copied().collect();
        let std: Vec<f32> = self.std.iter().copied().collect();
        let metadata = HashMap::from([("format".to_string(), FORMAT.to_string())]);
        write_f32(
            &arrays_path,
            &[
                ("centroids", vec![k, f], &centroids),
                ("mean", vec![f], &mean),
                ("std", vec![f], &std),
            ],
            Some(metadata),
        )?;
        let bytes = std::fs::read(&arrays_path).map_err(|e| TlcError::io(&arrays_path, e))?;
        let json = ExplainerJson {
            format: FORMAT.into(),
            version: self.version,
            name: self.name.clone(),
            model_name: self.model_name.clone(),
            model_sha256: self.model_sha256.clone(),
            model_config: self.model_config.clone(),
            preprocessing: self.preprocessing.clone(),
            features: self.features.clone(),
            k: self.k,
            n_features: f,
            temperature: self.temperature,
            fit: self.fit.clone(),
            cluster_descriptions: self.cluster_descriptions.clone(),
            arrays_sha256: hex::encode(Sha256::digest(&bytes)),
        };
        let text = serde_json::to_string_pretty(&json)
            .map_err(|e| TlcError::format(&json_path, e.to_string()))?;
        crate::io::files::write_atomic(&json_path, (text + "\n").as_bytes(), true)
            .map_err(|e| TlcError::format(&json_path, crate::error_text::describe(&e)))
    }

    /// Read both halves, checking the version, the pairing and every shape.
    pub fn load(path: &Path) -> Result<Self, TlcError> {
        let (arrays_path, json_path) = Self::file_paths(path);
        let text = std::fs::read_to_string(&json_path).map_err(|e| TlcError::io(&json_path, e))?;
        let json: ExplainerJson = serde_json::from_str(&text)
            .map_err(|e| TlcError::format(&json_path, format!("not an explainer: {e}")))?;
        if json.format != FORMAT {
            return Err(TlcError::format(
                &json_path,
                format!("format is '{}', not '{FORMAT}'", json.format),
            ));
        }
        if json.version == 0 || json.version > EXPLAINER_VERSION {
            return Err(TlcError::format(
                &json_path,
                format!(
                    "explainer version {} is not supported (this build reads up to {EXPLAINER_VERSION})",
                    json.version
                ),
            ));
        }
        let arrays = TensorFile::open(&arrays_path)?;
        let digest = hex::encode(Sha256::digest(arrays.bytes()));
        if digest != json.arrays_sha256 {
            return Err(TlcError::format(
                &arrays_path,
                format!(
                    "does not belong to {} (sha256 differs)",
                    json_path.display()
                ),
            ));
        }
        let bad = |e: ndarray::ShapeError| TlcError::format(&arrays_path, e.to_string());
        let centroids = arrays
            .f32("centroids")?
            .into_dimensionality::<Ix2>()
            .map_err(bad)?;
        let mean = arrays
            .f32("mean")?
            .into_dimensionality::<Ix1>()
            .map_err(bad)?;
        let std = arrays
            .f32("std")?
            .into_dimensionality::<Ix1>()
            .map_err(bad)?;
        let mut cluster_descriptions = json.cluster_descriptions;
        if cluster_descriptions.is_empty() {
            cluster_descriptions = vec![None; json.k];
        }
        let explainer = Explainer {
            version: json.version,
            name: json.name,
            model_name: json.model_name,
            model_sha256: json.model_sha256,
            model_config: json.model_config,
            preprocessing: json.preprocessing,
            features: json.features,
            k: json.k,
            centroids,
            mean,
            std,
            temperature: json.temperature,
            fit: json.fit,
            cluster_descriptions,
        };
        explainer.check_consistent(&json_path)?;
        Ok(explainer)
    }

    /// The first array value that is NaN or infinite: (array name, flat index).
    fn first_non_finite(&self) -> Option<(&'static str, usize)> {
        [
            ("centroid", self.centroids.as_slice()),
            ("mean", self.mean.as_slice()),
            ("std", self.std.as_slice()),
        ]
        .into_iter()
        .find_map(|(name, values)| {
            let values = values?;
            values
                .iter()
                .position(|v| !v.is_finite())
                .map(|i| (name, i))
        })
    }

    /// Shapes agree with each other, with K and with the model's architecture; every value is
    /// finite and every std positive.
    fn check_consistent(&self, path: &Path) -> Result<(), TlcError> {
        let (_, n_features) = self
            .features
            .dims(&self.model_config)
            .map_err(|e| TlcError::format(path, e.to_string()))?;
        let problem = if self.k == 0 {
            Some("k = 0".to_string())
        } else if self.centroids.dim() != (self.k, n_features) {
            Some(format!(
                "centroids are {:?}, expected ({}, {n_features})",
                self.centroids.dim(),
                self.k
            ))
        } else if self.mean.len() != n_features || self.std.len() != n_features {
            Some(format!(
                "mean/std have {}/{} features, expected {n_features}",
                self.mean.len(),
                self.std.len()
            ))
        } else if self.cluster_descriptions.len() != self.k {
            Some(format!(
                "{} cluster descriptions for k = {}",
                self.cluster_descriptions.len(),
                self.k
            ))
        } else if let Some((what, index)) = self.first_non_finite() {
            Some(format!(
                "{what} value {index} is not finite (NaN or infinity): every soft assignment would be NaN"
            ))
        } else if let Some(f) = self.std.iter().position(|&s| !(s > 0.0)) {
            Some(format!(
                "std of feature {f} is {} (must be positive)",
                self.std[f]
            ))
        } else if !(self.temperature.is_finite() && self.temperature > 0.0) {
            Some(format!("temperature {} is not positive", self.temperature))
        } else if self.std.iter().any(|&s| !(s.is_finite() && s > 0.0)) {
            Some("a standard deviation is not positive".to_string())
        } else {
            None
        };
        match problem {
            Some(p) => Err(TlcError::format(
                path,
                format!("inconsistent explainer: {p}"),
            )),
            None => Ok(()),
        }
    }

    /// Refuse a model other than the one the explainer was fitted for (see
    /// [`Explainer::check_model_identity`]).
    pub fn check_model(&self, model: &crate::model::LoadedModel) -> Result<(), TlcError> {
        self.check_model_identity(&model.name, &model.sha256, &model.config)
    }

    /// Like [`Self::check_model`] but for a model of the same training run with other weights
    /// (a cross-validation fold model): the architecture, input and filtering must match, the
    /// weights hash is not compared.
    pub fn check_fold_model(&self, model: &crate::model::LoadedModel) -> Result<(), TlcError> {
        self.check_model_identity(&model.name, &self.model_sha256, &model.config)
    }

    /// Refuse a model other than the one the explainer was fitted for (different weights hash,
    /// architecture or input: rate, lead order, scaling), naming both; and a model trained
    /// with other filtering than the explainer's records had.
    pub fn check_model_identity(
        &self,
        model_name: &str,
        model_sha256: &str,
        config: &ModelConfig,
    ) -> Result<(), TlcError> {
        let sha_differs = !self.model_sha256.eq_ignore_ascii_case(model_sha256);
        let ours = &self.model_config;
        let arch_differs = ours.blocks_dim != config.blocks_dim
            || ours.input_length != config.input_length
            || ours.input_channels != config.input_channels
            || ours.n_outputs != config.n_outputs;
        let input_differs = ours.sampling_rate != config.sampling_rate
            || ours.leads() != config.leads()
            || ours.input_scale != config.input_scale;
        if sha_differs || arch_differs || input_differs {
            let mut detail = String::new();
            if arch_differs {
                detail.push_str(&format!(
                    "; architectures differ (blocks {:?} vs {:?}, {} outputs vs {})",
                    ours.blocks_dim, config.blocks_dim, ours.n_outputs, config.n_outputs
                ));
            }
            if input_differs {
                detail.push_str(&format!(
                    "; inputs differ ({} Hz vs {} Hz, leads {:?} vs {:?}, scale {} vs {})",
                    ours.sampling_rate,
                    config.sampling_rate,
                    ours.leads(),
                    config.leads(),
                    ours.input_scale,
                    config.input_scale
                ));
            }
            return Err(TlcError::ModelMismatch {
                explainer: self.name.clone(),
                expected_model: self.model_name.clone(),
                expected_sha256: self.model_sha256.clone(),
                actual_model: model_name.to_string(),
                actual_sha256: model_sha256.to_string(),
                detail,
            });
        }
        // A model that does not record its filtering (older configs) takes the explainer's.
        if let Some(model_preprocessing) = &config.preprocessing
            && *model_preprocessing != self.preprocessing
        {
            return Err(TlcError::PreprocessingMismatch {
                explainer: self.name.clone(),
                explainer_preprocessing: self.preprocessing.clone(),
                model: model_name.to_string(),
                model_preprocessing: model_preprocessing.clone(),
            });
        }
        Ok(())
    }
}

/// The current time as RFC 3339 UTC, e.g. `2026-11-22T01:02:03Z`.
pub fn utc_now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_of_both_halves() {
        let (a, j) = Explainer::file_paths(Path::new("m/x.explainer.safetensors"));
        assert_eq!(j, PathBuf::from("m/x.explainer.json"));
        assert_eq!(a, PathBuf::from("m/x.explainer.safetensors"));
        let (a, _) = Explainer::file_paths(Path::new("m/x.explainer.json"));
        assert_eq!(a, PathBuf::from("m/x.explainer.safetensors"));
        let (a, j) = Explainer::file_paths(Path::new("m/x"));
        assert_eq!(
            (a.to_str().unwrap(), j.to_str().unwrap()),
            ("m/x.explainer.safetensors", "m/x.explainer.json")
        );
    }

    #[test]
    fn date_is_rfc3339() {
        let d = utc_now_rfc3339();
        assert_eq!(d.len(), 20, "{d}");
        assert!(d.starts_with("20") && d.ends_with('Z'));
    }
}
