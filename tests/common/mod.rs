//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod mutation;

use std::path::{Path, PathBuf};

/// `../shared/<sub>` beside the repository (override the root with `TLC_SHARED_DIR`).
///
/// In CI (`CI` set) a missing folder fails the test loudly; elsewhere the test is skipped with a
/// printed reason (`None`).
pub fn shared(sub: &str) -> Option<PathBuf> {
    let root = std::env::var_os("TLC_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("shared")
        });
    let path = root.join(sub);
    if path.exists() {
        return Some(path);
    }
    if std::env::var_os("CI").is_some() {
        panic!("CI: required test data {} is missing", path.display());
    }
    eprintln!(
        "SKIPPED: test data {} not found (outside CI this test is skipped)",
        path.display()
    );
    None
}

/// `../shared/data/<sub>`.
pub fn data(sub: &str) -> Option<PathBuf> {
    shared(&format!("data/{sub}"))
}

/// `../shared/fixtures/<sub>`.
pub fn fixture(sub: &str) -> Option<PathBuf> {
    shared(&format!("fixtures/{sub}"))
}

/// Relative error ||a - b|| / ||b||.
pub fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    let num: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| ((*x as f64) - (*y as f64)).powi(2))
        .sum();
    let den: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    (num / den.max(1e-30)).sqrt()
}
