//! TLC Explorer: time-localized clusters (TLC) of a 1D-ResNet's activations, to show what the
//! network has learned from an ECG.
//!
//! The core (`record`, `io`, `dsp`, `synth`, `model`, `tlc`, `delineate`, `surrogate`,
//! `figure`) knows nothing of the user interface and returns typed errors. The front ends
//! (`app`, the egui desktop app, and `cli`, the `tlc` command) sit on top and only call the core.
//! See ARCHITECTURE.md for how data flows between the modules.

pub mod error_text;
pub mod paths;
pub mod progress;
pub mod record;

pub mod delineate;
pub mod dsp;
pub mod figure;
pub mod io;
pub mod model;
pub mod surrogate;
pub mod synth;
pub mod tlc;

pub mod app;
pub mod cli;

pub use record::{Ecg, EcgMeta, LeadName, RecordError, Sex};
