//! Arguments shared by several subcommands.

use std::path::PathBuf;

use acc_probe::model::{AttnPath, StreamBlocks};
use acc_probe::stats::attn::{AttnStatsSpec, DistanceBins, RowSelection};
use clap::{Args, ValueEnum};

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum PathArg {
    /// Streaming over key blocks; never holds [L, L].
    Streaming,
    /// Eager probabilities (reference; short inputs).
    Materialized,
}

impl From<PathArg> for AttnPath {
    fn from(p: PathArg) -> Self {
        match p {
            PathArg::Streaming => AttnPath::Streaming,
            PathArg::Materialized => AttnPath::Materialized,
        }
    }
}

/// How a model's weights are held (`--weights`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default, ValueEnum)]
pub enum WeightsArg {
    /// Streamed when the weights in f32 exceed 4 GiB, else resident.
    #[default]
    Auto,
    /// Every weight converted to f32 and held.
    Resident,
    /// Read layer by layer as the pass reaches it; peak memory about two layers.
    Streamed,
}

impl From<WeightsArg> for acc_probe::model::WeightsMode {
    fn from(w: WeightsArg) -> Self {
        match w {
            WeightsArg::Auto => Self::Auto,
            WeightsArg::Resident => Self::Resident,
            WeightsArg::Streamed => Self::Streamed,
        }
    }
}

/// Opens a model directory with `--weights`.
pub fn open_model(
    dir: &std::path::Path,
    weights: WeightsArg,
    device: &candle_core::Device,
) -> anyhow::Result<(acc_probe::model::Qwen3Moe, acc_probe::model::Checkpoint)> {
    let ckpt = acc_probe::model::Checkpoint::open(dir)?;
    let model = acc_probe::model::Qwen3Moe::open(ckpt.clone(), device, weights.into())?;
    if model.weights_mode() == acc_probe::model::WeightsMode::Streamed {
        tracing::info!(
            "{}: streaming {} of weights layer by layer",
            dir.display(),
            fmt_bytes(ckpt.stored_bytes())
        );
    }
    Ok((model, ckpt))
}

/// Warns that decoding with streamed weights reads every layer again for
/// each new token (generation, evaluation, ablation).
pub fn warn_streamed_decoding(
    model: &acc_probe::model::Qwen3Moe,
    ckpt: &acc_probe::model::Checkpoint,
) {
    if model.weights_mode() == acc_probe::model::WeightsMode::Streamed {
        tracing::warn!(
            "{}: streamed weights: every decoded token reads all {} layers again ({}); \
             decoding a model this size is a job for the GPU path",
            ckpt.dir.display(),
            ckpt.config.num_hidden_layers,
            fmt_bytes(ckpt.stored_bytes())
        );
    }
}

/// Attention-statistics options.
#[derive(Args, Debug, Clone)]
pub struct StatsArgs {
    /// Distance-bin lower edges, comma-separated (default: 32 half-octave bins).
    #[arg(long)]
    pub bins: Option<String>,
    /// Keys j < N count as attention sink.
    #[arg(long, default_value_t = 4)]
    pub sink_tokens: usize,
    /// Keys at distance < W count as local.
    #[arg(long, default_value_t = 64)]
    pub local_window: usize,
    /// Query rows measured: all, tail:N or A..B.
    #[arg(long, default_value = "all")]
    pub queries: String,
    /// Query-block size of the streaming kernel.
    #[arg(long, default_value_t = StreamBlocks::default().block_q)]
    pub block_q: usize,
    /// Key-block size of the streaming kernel.
    #[arg(long, default_value_t = StreamBlocks::default().block_k)]
    pub block_k: usize,
}

impl StatsArgs {
    pub fn spec(&self, per_row: bool) -> anyhow::Result<AttnStatsSpec> {
        Ok(AttnStatsSpec {
            bins: match &self.bins {
                Some(s) => DistanceBins::parse(s)?,
                None => DistanceBins::default(),
            },
            sink_tokens: self.sink_tokens,
            local_window: self.local_window,
            rows: RowSelection::parse(&self.queries)?,
            per_row,
        })
    }

    pub fn blocks(&self) -> StreamBlocks {
        StreamBlocks {
            block_q: self.block_q,
            block_k: self.block_k,
        }
    }
}

/// Reads a JSON array of token ids.
pub fn read_ids(path: &PathBuf) -> anyhow::Result<Vec<u32>> {
    let text =
        std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let ids: Vec<u32> = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{}: expected a JSON array of non-negative token ids: {e}",
            path.display()
        )
    })?;
    Ok(ids)
}

pub fn fmt_bytes(b: u64) -> String {
    let mib = b as f64 / (1024.0 * 1024.0);
    if mib >= 1024.0 {
        format!("{:.2} GiB", mib / 1024.0)
    } else {
        format!("{mib:.1} MiB")
    }
}

/// Parses `--layers` (comma-separated) and checks each against the model.
pub fn parse_layers(spec: &str, num_layers: usize) -> anyhow::Result<Vec<usize>> {
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let l: usize = part.parse().map_err(|_| {
            anyhow::anyhow!(
                "bad layer `{part}` in --layers {spec}: expected layer indices like 0,5,20"
            )
        })?;
        acc_probe::model::hook::check_layer(l, num_layers)?;
        out.push(l);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}
