//! acc-probe: mechanism analysis of long-context training.
//!
//! - [`model`]: an instrumented Qwen3-MoE forward pass (candle) that loads
//!   Hugging Face checkpoints, with a streaming attention path that computes
//!   attention-span statistics without materialising [L, L];
//! - [`probe`]: hook points, the [`model::hook::Probe`] trait, statistics
//!   accumulators and capture files (safetensors + JSON);
//! - [`bench`]: forward-pass benchmarks.
//! - [`plot`]: PNG + SVG figures (plotters, embedded font) of numbers it is
//!   given: attention-distance panels, per-layer curves, grouped bars and
//!   histograms.

pub mod analysis;
pub mod bench;
pub mod chat;
pub mod compile;
pub mod domain;
pub mod environments;
pub mod error;
#[cfg(feature = "cuda-kernels")]
pub mod gpu;
pub mod io;
pub mod mem;
pub mod model;
pub mod model_dir;
pub mod plot;
pub mod probe;
pub mod sqlite;
pub mod stats;
pub mod tasks;
pub mod tokenizer;
pub mod train;

pub use error::{Error, Result};
