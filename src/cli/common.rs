//! Arguments shared by several subcommands.

use acc_probe::model::{AttnPath, StreamBlocks};
use acc_probe::model_dir::ModelDir;
use acc_probe::stats::attn::{AttnStatsSpec, DistanceBins, Queries};
use acc_probe::tasks::probe_inputs::ProbeTask;
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

/// Opens a model directory with `--weights` (saying when it streams).
pub fn open_model(
    dir: &std::path::Path,
    weights: WeightsArg,
    device: &candle_core::Device,
) -> anyhow::Result<ModelDir> {
    let m = ModelDir::open(dir, device, weights.into())?;
    super::pair_args::log_streaming(&m);
    Ok(m)
}

/// Warns that decoding with streamed weights reads every layer again for
/// each new token (generation, evaluation, ablation).
pub fn warn_streamed_decoding(m: &ModelDir) {
    let (model, ckpt) = (&m.model, &m.ckpt);
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
    #[arg(long, value_parser = parse_bins)]
    pub bins: Option<DistanceBins>,
    /// Keys j < N count as attention sink.
    #[arg(long, default_value_t = 4)]
    pub sink_tokens: usize,
    /// Keys at distance < W count as local.
    #[arg(long, default_value_t = 64)]
    pub local_window: usize,
    /// Query rows measured: all, tail:N or A..B.
    #[arg(long, default_value = "all")]
    pub queries: Queries,
    /// Query-block size of the streaming kernel.
    #[arg(long, default_value_t = StreamBlocks::default().block_q, value_parser = block_size)]
    pub block_q: usize,
    /// Key-block size of the streaming kernel.
    #[arg(long, default_value_t = StreamBlocks::default().block_k, value_parser = block_size)]
    pub block_k: usize,
}

impl StatsArgs {
    pub fn spec(&self, per_row: bool) -> anyhow::Result<AttnStatsSpec> {
        Ok(AttnStatsSpec {
            bins: self.bins.clone().unwrap_or_default(),
            sink_tokens: self.sink_tokens,
            local_window: self.local_window,
            rows: self.queries.fixed_rows()?,
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
pub fn read_ids(path: &std::path::Path) -> anyhow::Result<Vec<u32>> {
    let text = acc_probe::io::read_text(path, acc_probe::io::MAX_DOC_BYTES)?;
    let ids: Vec<u32> = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{}: expected a JSON array of non-negative token ids: {e}",
            path.display()
        )
    })?;
    Ok(ids)
}

/// Where token ids came from, for an error about them: the ids file, or
/// the tokenized text.
pub fn ids_source(file: Option<&std::path::Path>, text: &str) -> String {
    match file {
        Some(f) => format!("{}: token ids the model cannot take", f.display()),
        None => format!("{text}: token ids the model cannot take"),
    }
}

pub fn fmt_bytes(b: u64) -> String {
    let mib = b as f64 / (1024.0 * 1024.0);
    if mib >= 1024.0 {
        format!("{:.2} GiB", mib / 1024.0)
    } else {
        format!("{mib:.1} MiB")
    }
}

/// Layer indices given on the command line (`--layers 0,5,20`): sorted,
/// without repeats. Parsed before any model loads; checked against the model
/// with [`LayerList::check`] (and refused by the forward pass too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerList(pub Vec<usize>);

/// clap's parser of a [`LayerList`].
pub fn parse_layer_list(spec: &str) -> Result<LayerList, String> {
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let l: usize = part
            .parse()
            .map_err(|_| format!("bad layer `{part}`: expected layer indices like 0,5,20"))?;
        out.push(l);
    }
    if out.is_empty() {
        return Err("expected layer indices like 0,5,20".into());
    }
    out.sort_unstable();
    out.dedup();
    Ok(LayerList(out))
}

impl LayerList {
    /// The layers, each checked against a model of `num_layers` layers.
    pub fn check(&self, num_layers: usize) -> anyhow::Result<Vec<usize>> {
        for &l in &self.0 {
            acc_probe::model::hook::check_layer(l, num_layers)?;
        }
        Ok(self.0.clone())
    }
}

impl std::fmt::Display for LayerList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s: Vec<String> = self.0.iter().map(|l| l.to_string()).collect();
        write!(f, "{}", s.join(","))
    }
}

/// Probe tasks given on the command line (`--task mrcr,graphwalks`, `all`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskList(pub Vec<ProbeTask>);

impl std::fmt::Display for TaskList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s: Vec<&str> = self.0.iter().map(|t| t.name()).collect();
        write!(f, "{}", s.join(","))
    }
}

/// clap's parser of a [`TaskList`].
pub fn parse_task_list(s: &str) -> Result<TaskList, String> {
    ProbeTask::parse_list(s)
        .map(TaskList)
        .map_err(|e| e.to_string())
}

/// clap's parser of a saved model's dtype (`f32`, `bf16`), listing both in help.
pub fn save_dtype_parser(
) -> impl clap::builder::TypedValueParser<Value = acc_probe::train::trainer::SaveDtype> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(["f32", "bf16"]).try_map(|s| s.parse())
}

/// The largest streaming-kernel block (rows or keys): a block's scores are
/// held per thread.
const MAX_BLOCK: usize = 8192;

/// clap's parser of `--block-q` / `--block-k`: 1..=8192.
fn block_size(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=MAX_BLOCK).contains(&n) => Ok(n),
        _ => Err(format!("expected a block size in 1..={MAX_BLOCK}")),
    }
}

/// The most problems, rows or episodes one command generates.
pub const MAX_COUNT: usize = 1_000_000;

/// clap's parser of a count of generated items (`--n`): 1..=1,000,000.
pub fn count(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=MAX_COUNT).contains(&n) => Ok(n),
        _ => Err(format!("expected a count in 1..={MAX_COUNT}")),
    }
}

/// clap's parser of a whole number in `lo..=hi` (resamples, repeats, threads).
pub fn in_range(
    lo: usize,
    hi: usize,
) -> impl Fn(&str) -> Result<usize, String> + Clone + Send + Sync + 'static {
    move |s: &str| match s.parse::<usize>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(n),
        _ => Err(format!("expected a whole number in {lo}..={hi}")),
    }
}

/// The most bootstrap resamples or permutations (each is a pass over the examples).
pub const MAX_RESAMPLES: usize = 1_000_000;
/// The most timed repeats or rounds of a benchmark.
pub const MAX_REPEAT: usize = 1000;
/// The most worker threads.
pub const MAX_THREADS: usize = 1024;

/// clap's parser of `--bins`.
pub fn parse_bins(s: &str) -> Result<DistanceBins, String> {
    DistanceBins::parse(s).map_err(|e| e.to_string())
}

/// A progress bar's style from a template (a constant of the caller's);
/// a template indicatif rejects falls back to its plain bar, never a panic.
pub fn bar_style(template: &str) -> indicatif::ProgressStyle {
    indicatif::ProgressStyle::with_template(template)
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
}
