//! Synthetic 12-lead ECGs with ground-truth landmarks and class-specific changes.
