//! The statistics the attention kernels compute, defined once below both the
//! model (which computes them: [`crate::model::attention_stream`], the eager
//! path, the CUDA kernels) and the probes (which accumulate and store them).
//!
//! [`attn`]: distance bins, row selections, the per-row statistics and their
//! per-head summaries, and the reference computation from probabilities.

pub mod attn;
