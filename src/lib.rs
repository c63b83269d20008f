//! TLC Explorer: time-localized clusters (TLC) of a 1D-ResNet's activations, to show what the
//! network has learned from an ECG.
//!
//! The core (`record`, `stats`, `io`, `dsp`, `synth`, `model`, `tlc`, `delineate`, `surrogate`,
//! `figure`) knows nothing of the user interface and returns typed errors. The front ends
//! (`app`, the egui desktop app, and `cli`, the `tlc` command) sit on top and only call the core.
//! See ARCHITECTURE.md for how data flows between the modules.

// Errors carry the file path and the cause for the user; they are built on the error path only,
// so their size costs a copy there and boxing them would make them harder to match.
#![allow(clippy::result_large_err)]
// `!(x > 0.0)` is how the code rejects NaN together with out-of-range values, on purpose.
#![allow(clippy::neg_cmp_op_on_partial_ord)]
// Every `unsafe` block says why it is sound, and every `unsafe fn` when it may be called.
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

pub mod error_text;
pub mod paths;
pub mod progress;
pub mod record;
pub mod stats;

pub mod analysis;
pub mod delineate;
pub mod dsp;
pub mod figure;
pub mod io;
pub mod measure;
pub mod model;
pub mod surrogate;
pub mod synth;
pub mod tlc;

#[cfg(feature = "gui")]
pub mod app;
pub mod cli;

pub use record::{Ecg, EcgMeta, LeadName, RecordError, Sex};
