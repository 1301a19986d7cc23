//! acc-probe's own Qwen3-MoE in candle. One file per part; VarBuilder paths
//! equal the checkpoint's tensor names. Weights are resident (converted to
//! f32 at load) or streamed from the checkpoint layer by layer ([`stream`]);
//! [`synth`] writes seeded checkpoints of any shape.

pub mod attention;
pub mod attention_fused;
pub mod attention_stream;
pub mod config;
pub mod decoder;
mod experts_cpu;
pub mod fastmath;
mod gemm;
pub mod generate;
pub mod hook;
pub mod intervene;
pub mod linear;
pub mod loader;
pub mod moe;
pub mod norm;
pub mod ops;
pub mod profile;
pub mod qwen3_moe;
pub mod random;
pub mod rope;
pub mod router;
pub mod stream;
pub mod synth;

pub use attention::AttnPath;
pub use attention_stream::StreamBlocks;
pub use config::Qwen3MoeConfig;
pub use hook::{HookPoint, NoProbe, Probe};
pub use intervene::{HeadClamp, Interventions};
pub use loader::Checkpoint;
pub use qwen3_moe::{
    ForwardOptions, ForwardOutput, KvCache, LogitsRequest, Qwen3Moe, WeightsMode, AUTO_STREAM_BYTES,
};
pub use stream::WeightIo;
