//! The surrogate: a random forest on cluster proportions, metrics, cross-validated evaluation,
//! cohort statistics and the label-quality audit.
