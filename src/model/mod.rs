//! The 1D-ResNet of Ribeiro et al. in candle: config, weights, forward with activations, training.

pub mod config;

pub use config::{ModelConfig, Task};
