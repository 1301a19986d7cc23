//! Probes: the accumulators that reduce what the forward pass shows its
//! hook points ([`crate::model::hook`]) where it is produced, and the files
//! they are kept in.
//!
//! - [`capture`]: a dump of one pass (safetensors + JSON) and the
//!   whole-run attention / routing accumulators;
//! - [`per_example`], [`routing_capture`]: per-example captures of the
//!   paired analyses, run layer-major in batches ([`batch`]);
//! - [`routing`]: routing sums per layer;
//! - [`cache`]: the capture cache ([`cache::Capture`]);
//! - [`pair`]: a base / ACC pair of checkpoints and its checks;
//! - [`shard`]: `--shard i/N` captures and their merge.

pub mod batch;
pub mod cache;
pub mod capture;
pub mod pair;
pub mod per_example;
pub mod routing;
pub mod routing_capture;
pub mod shard;
