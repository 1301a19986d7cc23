//! acc-probe: mechanism analysis of long-context training.
//!
//! Bottom up. The model (with [`stats`] and the GPU path) imports nothing
//! above it but the utilities, and the compiler nothing from [`tasks`]; the
//! probes' captures take the probe inputs of [`tasks`], and the environments
//! and the benchmarks share the graph helpers of [`tasks::graphwalks`].
//!
//! - [`error`], [`io`] (atomic writes, a stable hasher), [`mem`] (peak RSS),
//!   [`sqlite`] (query results as JSON and pipe tables), [`tokenizer`]
//!   (tokenizer.json and token counting), [`chat`] (chat templates):
//!   utilities;
//! - [`stats`]: the attention statistics the kernels compute, defined once;
//! - [`model`]: our Qwen3-MoE in candle — one file per part, checkpoint
//!   loading (resident or streamed weights), its observation contract
//!   ([`model::hook`]: hook points, the [`model::Probe`] trait), the streaming
//!   attention kernel, decoding, interventions, seeded checkpoints;
//! - `gpu` (feature `cuda-kernels`): the CUDA attention-statistics kernel
//!   and its parity check against the CPU path;
//! - [`model_dir`]: one way to open a model directory with its tokenizer,
//!   template and stop ids;
//! - [`probe`]: accumulators fed by the hooks, per-example captures, the
//!   capture cache and `--shard` merges;
//! - [`domain`]: the agent domains shared by environments and compiler;
//! - [`compile`]: the ACC compiler (format readers → canonical trajectory →
//!   evidence → context → writers);
//! - [`environments`]: synthetic search / SQL / SWE agent environments that
//!   write trajectories in real framework formats;
//! - [`tasks`]: MRCR and GraphWalks generators, official graders,
//!   evaluation by decoding, and the probe inputs of the analyses;
//! - [`analysis`]: bootstrap CIs, divergences, paired comparisons, the
//!   paired-analysis session and typed reports;
//! - [`plot`]: PNG + SVG rendering of numbers it is given;
//! - [`train`]: the training loop, the curriculum's drills and `reproduce`,
//!   a pipeline of typed stages;
//! - [`mod@bench`]: forward-pass benchmarks.
//!
//! The command line (`src/cli`, clap) sits on top and never leaks into the
//! library.

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
