//! The library and the batch CLI build without the desktop app (`--no-default-features`, no
//! `gui` feature), as a server without a display builds them.

use std::process::Command;

#[test]
fn library_and_cli_compile_without_the_gui_feature() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let root = env!("CARGO_MANIFEST_DIR");
    // A target folder of its own: the feature set differs from the main build, which must not
    // be rebuilt (nor its `tlc` binary replaced) by this check.
    let target = std::path::Path::new(root)
        .join("target")
        .join("headless-check");
    let output = Command::new(cargo)
        .current_dir(root)
        .args([
            "check",
            "--offline",
            "--quiet",
            "--no-default-features",
            "--lib",
            "--bin",
            "tlc",
            "--message-format",
            "short",
            "--target-dir",
        ])
        .arg(&target)
        .output()
        .expect("cargo runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the build without the gui feature fails:\n{stderr}"
    );
    assert!(
        !stderr.contains("warning"),
        "the build without the gui feature warns:\n{stderr}"
    );
}
