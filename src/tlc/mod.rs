//! Time-localized clusters: features, k-means, soft assignment, entropy, segments, Grad-CAM,
//! the explainer file and the one pipeline function.

pub mod assign;
pub mod batch;
pub mod cluster;
pub mod error;
pub mod explainer;
pub mod explanation;
pub mod features;
pub mod fit;
pub mod gradcam;
mod kernel;
pub mod names;
pub mod pipeline;
pub mod tensorfile;
pub mod windows;

pub use assign::{Assignment, StepMap, assign};
pub use cluster::{ClusterModel, ClusterSettings, Temperature, fit_clusters};
pub use error::TlcError;
pub use explainer::{ClusterDescription, Explainer, FitDescription};
pub use explanation::{Explanation, GradCam, Prediction, Segment};
pub use features::{Alignment, FeatureSettings, RecordNormalisation, features_from_blocks};
pub use fit::{FitSettings, fit_explainer};
pub use names::cluster_names;
pub use pipeline::{
    ExplainSettings, GradCamTarget, RecordFeatures, explain_record, record_features,
};
