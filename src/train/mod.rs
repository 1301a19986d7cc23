//! Training acc-probe's Qwen3-MoE: objectives `lm`, `agent-sft` and `acc`,
//! the router load-balancing loss, AdamW with a warmup + cosine schedule,
//! gradient clipping and accumulation, packed sequences, atomic checkpoints
//! with exact `--resume`, and output in Hugging Face layout.
//!
//! - [`data`]: JSONL rows → token ids + loss masks → packs;
//! - [`loss`]: masked cross-entropy and the auxiliary loss of one pack;
//! - [`optim`]: AdamW, schedule, clipping;
//! - [`checkpoint`]: run-directory checkpoints;
//! - [`hf`]: the model directory transformers loads;
//! - [`trainer`]: the loop; [`limits`]: the ranges of its settings;
//! - [`until`]: ending a run on a criterion (warmup–stable–decay);
//! - [`grow`]: depth growth that keeps the model's function;
//! - [`curriculum`]: the drills of the LM corpus and the copy-drill check;
//! - [`reproduce`]: environments → trajectories → compile → base and ACC models → evaluation.

pub mod checkpoint;
pub mod curriculum;
pub mod data;
pub mod grow;
pub mod hf;
pub mod limits;
pub mod loss;
pub mod optim;
pub mod reproduce;
pub mod trainer;
pub mod until;

pub use data::Objective;
pub use trainer::{train, train_until, Init, SaveDtype, StepMetrics, TrainConfig, TrainSummary};
