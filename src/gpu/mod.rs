//! The CUDA path (feature `cuda-kernels`, implied by `cuda`): the fused
//! attention-statistics kernel of `kernels/attn_stats.cu`, loaded through
//! cudarc, returning the same [`StreamOutput`](crate::model::attention_stream::StreamOutput)
//! as the CPU streaming path ([`crate::model::attention_stream`], its
//! reference), plus the parity check and benchmark behind `acc-probe gpu`.
//!
//! The kernel is embedded at build time (PTX for compute_90 and an sm_90
//! cubin, both from nvcc 13.0); the cubin is tried first and the PTX is JIT-
//! compiled by the driver otherwise. libcuda is loaded when the first
//! [`GpuAttention`] is created, so the binary starts on machines without one.

pub mod attention;
pub mod check;
mod error;

pub use attention::{GpuAttention, GpuDtype, GpuInput, GpuRun, GpuTiming};
pub use check::{bench, parity, BenchRow, ParityRow};
pub use error::{GpuError, GpuResult};

/// PTX of kernels/attn_stats.cu (compute_90).
pub(crate) const ATTN_STATS_PTX: &str = include_str!(concat!(env!("OUT_DIR"), "/attn_stats.ptx"));
/// The same compiled for sm_90 (H100/H200).
pub(crate) const ATTN_STATS_CUBIN: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/attn_stats.sm_90.cubin"));
