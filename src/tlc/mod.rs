//! Time-localized clusters: features, k-means, soft assignment, entropy, segments, Grad-CAM,
//! the explainer file and the one pipeline function.

pub mod explanation;

pub use explanation::{Explanation, GradCam, Prediction, Segment};
