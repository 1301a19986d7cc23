//! `acc-probe forward`: one timed pass on random tokens.

use std::path::PathBuf;

use acc_probe::bench::{
    bench_config, measure, measure_model, random_ids, Impl, MeasureOptions, ProbeSet,
};
use acc_probe::model::random::{random_weights, RandomInit};
use acc_probe::model::{Checkpoint, Qwen3MoeConfig};
use anyhow::bail;
use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use clap::{Args, ValueEnum};

use super::common::{fmt_bytes, open_model, parse_layer_list, LayerList, StatsArgs, WeightsArg};

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProbeArg {
    None,
    Attention,
    Routing,
    All,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum ImplArg {
    /// acc-probe's model with streaming attention.
    Ours,
    /// acc-probe's model with materialised attention.
    Materialized,
    /// candle-transformers' qwen3_moe (comparison; no probes).
    Candle,
}

#[derive(Args, Debug)]
pub struct ForwardArgs {
    /// Hugging Face model directory.
    #[arg(long, conflicts_with = "random", required_unless_present = "random")]
    pub model: Option<PathBuf>,
    /// Random weights for a config: `bench` (the benchmark model) or a config.json path.
    #[arg(long)]
    pub random: Option<String>,
    /// Number of random tokens.
    #[arg(long)]
    pub tokens: usize,
    /// Seed of the tokens (and of random weights).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// What to observe.
    #[arg(long, value_enum, default_value_t = ProbeArg::None)]
    pub probe: ProbeArg,
    /// Implementation to run.
    #[arg(long = "impl", value_enum, default_value_t = ImplArg::Ours)]
    pub implementation: ImplArg,
    /// Probe only these layers (comma-separated; default all).
    #[arg(long, value_parser = parse_layer_list)]
    pub layers: Option<LayerList>,
    /// Skip the logits: the pass stops after the last probed layer.
    #[arg(long)]
    pub no_logits: bool,
    /// Timed passes; the fastest is reported.
    #[arg(long, default_value_t = 1, value_parser = super::common::in_range(1, super::common::MAX_REPEAT))]
    pub repeat: usize,
    #[command(flatten)]
    pub stats: StatsArgs,
    /// How the model's weights are held (with --model).
    #[arg(long, value_enum, default_value_t = WeightsArg::Auto)]
    pub weights: WeightsArg,
    /// Print the time of each part of the pass (attention kernel,
    /// projections, router, dispatch, expert GEMMs, norms and RoPE, logits).
    #[arg(long)]
    pub profile: bool,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: ForwardArgs) -> anyhow::Result<()> {
    let device = Device::Cpu;
    // a checkpoint for our implementation is opened as --weights says; the
    // others get a VarBuilder
    let mut model = None;
    let (cfg, vb): (Qwen3MoeConfig, Option<VarBuilder>) = match (&a.model, &a.random) {
        (Some(dir), _) if a.implementation != ImplArg::Candle => {
            let m = open_model(dir, a.weights, &device)?;
            let cfg = m.ckpt.config.clone();
            model = Some(m.model);
            (cfg, None)
        }
        (Some(dir), _) => {
            let ckpt = Checkpoint::open(dir)?;
            let vb = ckpt.var_builder(DType::F32, &device)?;
            (ckpt.config, Some(vb))
        }
        (None, Some(name)) => {
            let cfg = if name == "bench" {
                bench_config()
            } else {
                Qwen3MoeConfig::from_file(name)?
            };
            let w = random_weights(&cfg, a.seed, RandomInit::default(), &device)?;
            let vb = VarBuilder::from_tensors(w, DType::F32, &device);
            (cfg, Some(vb))
        }
        (None, None) => bail!("give --model DIR or --random bench|CONFIG"),
    };
    if a.tokens == 0 || a.tokens > cfg.max_position_embeddings {
        bail!(
            "--tokens {} is out of range: valid 1..={} (max_position_embeddings)",
            a.tokens,
            cfg.max_position_embeddings
        );
    }
    let implementation = match a.implementation {
        ImplArg::Ours => Impl::Ours,
        ImplArg::Materialized => Impl::Materialized,
        ImplArg::Candle => Impl::CandleTransformers,
    };
    let probe = match a.probe {
        ProbeArg::None => ProbeSet::None,
        ProbeArg::Attention => ProbeSet::Attention,
        ProbeArg::Routing => ProbeSet::Routing,
        ProbeArg::All => ProbeSet::All,
    };
    if implementation == Impl::CandleTransformers && probe != ProbeSet::None {
        bail!(
            "candle-transformers' qwen3_moe cannot be probed: use --probe none with --impl candle"
        );
    }
    let layers = match &a.layers {
        Some(s) => Some(s.check(cfg.num_hidden_layers)?),
        None => None,
    };
    let ids = random_ids(a.tokens, cfg.vocab_size, a.seed);
    let opts = MeasureOptions {
        implementation,
        probe,
        blocks: a.stats.blocks(),
        spec: a.stats.spec(false)?,
        layers,
        logits: !a.no_logits,
        repeat: a.repeat,
        profile: a.profile,
    };
    let m = match (model, vb) {
        (Some(model), _) => measure_model(&model, &ids, &opts)?,
        (None, Some(vb)) => measure(&cfg, vb, &ids, &opts)?,
        (None, None) => unreachable!("a model or a VarBuilder"),
    };
    if a.json {
        println!("{}", serde_json::to_string(&m)?);
    } else {
        println!(
            "{} tokens in {:.3} s ({:.0} tokens/s), peak memory {} (before the pass {})",
            m.tokens,
            m.seconds,
            m.tokens_per_second,
            m.peak_rss_bytes
                .map(fmt_bytes)
                .unwrap_or_else(|| "n/a".into()),
            m.rss_before_bytes
                .map(fmt_bytes)
                .unwrap_or_else(|| "n/a".into()),
        );
        if let Some(parts) = &m.breakdown {
            println!("{:<38} {:>9} {:>7}", "part", "seconds", "share");
            for p in parts {
                println!(
                    "{:<38} {:>9.4} {:>6.1}%",
                    p.part,
                    p.seconds,
                    100.0 * p.seconds / m.seconds
                );
            }
        }
    }
    Ok(())
}
