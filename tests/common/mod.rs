//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod mutation;
pub mod splice;

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

/// Start `tlc` with `args`, wait until `ready()` (polled every 50 ms, at most 120 s), then
/// send it SIGINT as Ctrl-C would, and return its output.
#[allow(dead_code)]
pub fn interrupt_tlc(args: &[&std::ffi::OsStr], ready: impl Fn() -> bool) -> std::process::Output {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_tlc"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !ready() {
        assert!(
            std::time::Instant::now() < deadline,
            "tlc {args:?} never got ready"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    child.wait_with_output().unwrap()
}
