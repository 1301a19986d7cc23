//! Forward-pass measurements: the benchmark configuration, random-weight
//! models, candle-transformers' qwen3_moe as a comparison point, and one timed
//! pass with a chosen probe set. Rendering of tables lives in the CLI.

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::error::Result;
use crate::model::hook::{NoProbe, Probes};
use crate::model::{
    AttnPath, ForwardOptions, LogitsRequest, Qwen3Moe, Qwen3MoeConfig, StreamBlocks,
};
use crate::probe::capture::AttentionAccumulator;
use crate::probe::routing::RoutingAccumulator;
use crate::stats::attn::AttnStatsSpec;

pub use crate::model::synth::bench_config;

/// Seeded random token ids in 0..vocab.
pub fn random_ids(n: usize, vocab: usize, seed: u64) -> Vec<u32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(0..vocab as u32)).collect()
}

/// The config in the form candle-transformers' qwen3_moe reads (it ignores
/// `mlp_only_layers`, so only configs without them are comparable).
pub fn candle_transformers_config(
    cfg: &Qwen3MoeConfig,
) -> candle_transformers::models::qwen3_moe::Config {
    serde_json::from_value(serde_json::json!({
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.hidden_size,
        "intermediate_size": cfg.intermediate_size,
        "num_hidden_layers": cfg.num_hidden_layers,
        "num_attention_heads": cfg.num_attention_heads,
        "head_dim": cfg.head_dim,
        "attention_bias": cfg.attention_bias,
        "num_key_value_heads": cfg.num_key_value_heads,
        "max_position_embeddings": cfg.max_position_embeddings,
        "sliding_window": null,
        "max_window_layers": cfg.num_hidden_layers,
        "tie_word_embeddings": cfg.tie_word_embeddings,
        "rope_theta": cfg.rope_theta,
        "rms_norm_eps": cfg.rms_norm_eps,
        "use_sliding_window": false,
        "hidden_act": "silu",
        "decoder_sparse_step": cfg.decoder_sparse_step,
        "moe_intermediate_size": cfg.moe_intermediate_size,
        "num_experts_per_tok": cfg.num_experts_per_tok,
        "num_experts": cfg.num_experts,
        "norm_topk_prob": cfg.norm_topk_prob,
    }))
    .expect("candle-transformers config fields")
}

/// Which implementation a measured pass runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Impl {
    /// acc-probe's model, streaming attention.
    Ours,
    /// acc-probe's model, materialised (eager) attention.
    Materialized,
    /// candle-transformers' qwen3_moe (no probes possible).
    CandleTransformers,
}

/// What a measured pass observes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeSet {
    None,
    Attention,
    Routing,
    All,
}

/// One timed forward pass.
#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    pub implementation: Impl,
    pub probe: ProbeSet,
    pub tokens: usize,
    pub seconds: f64,
    pub tokens_per_second: f64,
    /// Peak resident memory of the process (includes the weights).
    pub peak_rss_bytes: Option<u64>,
    /// Resident memory just before the pass.
    pub rss_before_bytes: Option<u64>,
    /// Mean of the last position's logits (a checksum across implementations; NaN without logits).
    pub logits_checksum: f64,
    /// Weight reads of a streamed model (all timed passes together).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight_io: Option<crate::model::WeightIo>,
    /// With `profile`: seconds per part of the fastest pass
    /// ([`crate::model::profile`]), and what no part holds ("other").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breakdown: Option<Vec<PartSeconds>>,
}

/// One part of the forward pass and its seconds.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct PartSeconds {
    pub part: String,
    pub seconds: f64,
}

/// How a measured pass runs.
#[derive(Debug, Clone)]
pub struct MeasureOptions {
    pub implementation: Impl,
    pub probe: ProbeSet,
    pub blocks: StreamBlocks,
    pub spec: AttnStatsSpec,
    /// Probed layers (default: all).
    pub layers: Option<Vec<usize>>,
    /// Without logits the pass stops after the last probed layer.
    pub logits: bool,
    /// Passes to time; the fastest is reported.
    pub repeat: usize,
    /// Time each part of the pass ([`crate::model::profile`]).
    pub profile: bool,
}

/// Runs `repeat` passes of `ids` and reports the fastest. `vb` is a
/// VarBuilder whose paths are HF tensor names (a checkpoint or random weights).
pub fn measure(
    cfg: &Qwen3MoeConfig,
    vb: VarBuilder,
    ids: &[u32],
    o: &MeasureOptions,
) -> Result<Measurement> {
    match o.implementation {
        Impl::CandleTransformers => {
            let device = Device::Cpu;
            let rss_before = crate::mem::rss_bytes();
            let mut m = candle_transformers::models::qwen3_moe::ModelForCausalLM::new(
                &candle_transformers_config(cfg),
                vb,
            )?;
            let input = Tensor::from_slice(ids, (1, ids.len()), &device)?;
            let mut best = f64::INFINITY;
            let mut logits = None;
            for _ in 0..o.repeat.max(1) {
                m.clear_kv_cache();
                let start = Instant::now();
                logits = Some(m.forward(&input, 0)?);
                best = best.min(start.elapsed().as_secs_f64());
            }
            finish(o, ids.len(), best, logits, rss_before, None)
        }
        Impl::Ours | Impl::Materialized => measure_model(&Qwen3Moe::load(cfg, vb)?, ids, o),
    }
}

/// [`measure`] on a loaded model (resident or streamed weights).
pub fn measure_model(model: &Qwen3Moe, ids: &[u32], o: &MeasureOptions) -> Result<Measurement> {
    let rss_before = crate::mem::rss_bytes();
    let layers: Vec<usize> = o
        .layers
        .clone()
        .unwrap_or_else(|| (0..model.config.num_hidden_layers).collect());
    let opts = ForwardOptions {
        path: if o.implementation == Impl::Materialized {
            AttnPath::Materialized
        } else {
            AttnPath::Streaming
        },
        blocks: o.blocks,
        logits: if o.logits {
            LogitsRequest::Last
        } else {
            LogitsRequest::None
        },
    };
    let mut best = f64::INFINITY;
    let mut logits = None;
    let mut breakdown = None;
    for _ in 0..o.repeat.max(1) {
        let mut attn = AttentionAccumulator::new(o.spec.clone(), layers.clone());
        let mut routing = RoutingAccumulator::new(layers.clone());
        let mut none = NoProbe;
        let mut probes: Probes = match o.probe {
            ProbeSet::None => Probes(vec![&mut none]),
            ProbeSet::Attention => Probes(vec![&mut attn]),
            ProbeSet::Routing => Probes(vec![&mut routing]),
            ProbeSet::All => Probes(vec![&mut attn, &mut routing]),
        };
        crate::model::profile::enable(o.profile);
        let start = Instant::now();
        let out = model.forward(ids, &mut probes, opts)?;
        let seconds = start.elapsed().as_secs_f64();
        if seconds < best {
            best = seconds;
            breakdown = o.profile.then(|| parts_of(seconds));
        }
        crate::model::profile::enable(false);
        logits = out.logits;
    }
    let mut m = finish(o, ids.len(), best, logits, rss_before, model.weight_io())?;
    m.breakdown = breakdown;
    Ok(m)
}

/// The breakdown of a pass of `wall` seconds: every timed part, then what no
/// part holds (residual adds, probes, glue).
fn parts_of(wall: f64) -> Vec<PartSeconds> {
    let mut v: Vec<PartSeconds> = crate::model::profile::seconds()
        .into_iter()
        .map(|(p, s)| PartSeconds {
            part: p.name().to_string(),
            seconds: s,
        })
        .collect();
    let timed: f64 = v.iter().map(|p| p.seconds).sum();
    v.push(PartSeconds {
        part: "other (residual adds, probes, glue)".into(),
        seconds: (wall - timed).max(0.0),
    });
    v
}

fn finish(
    o: &MeasureOptions,
    tokens: usize,
    seconds: f64,
    logits: Option<Tensor>,
    rss_before: Option<u64>,
    weight_io: Option<crate::model::WeightIo>,
) -> Result<Measurement> {
    let checksum = match logits {
        Some(l) => l
            .narrow(l.rank() - 2, l.dim(l.rank() - 2)? - 1, 1)?
            .to_dtype(DType::F64)?
            .mean_all()?
            .to_scalar::<f64>()?,
        None => f64::NAN,
    };
    Ok(Measurement {
        implementation: o.implementation,
        probe: o.probe,
        tokens,
        seconds,
        tokens_per_second: tokens as f64 / seconds,
        peak_rss_bytes: crate::mem::peak_rss_bytes(),
        rss_before_bytes: rss_before,
        logits_checksum: checksum,
        weight_io,
        breakdown: None,
    })
}

/// Fastest of `repeat` runs of the streaming attention kernel alone on random
/// q/k/v (heads, kv_heads, t, d), with or without per-head statistics.
pub fn time_attention_kernel(
    heads: usize,
    kv_heads: usize,
    t: usize,
    d: usize,
    blocks: StreamBlocks,
    stats: bool,
    repeat: usize,
) -> Result<f64> {
    use crate::model::attention_stream::{stream_attention, StreamInput};
    let mut rng = StdRng::seed_from_u64(1);
    let mut rand_vec = |n: usize, s: f32| -> Vec<f32> {
        (0..n)
            .map(|_| (rng.random::<f32>() * 2.0 - 1.0) * s)
            .collect()
    };
    let q = rand_vec(heads * t * d, 3.0);
    let kt = rand_vec(kv_heads * t * d, 1.0);
    let v = rand_vec(kv_heads * t * d, 1.0);
    let spec = AttnStatsSpec::default();
    let inp = StreamInput {
        q: &q,
        kt: &kt,
        v: &v,
        heads,
        kv_heads,
        t,
        d,
        scale: 1.0 / (d as f32).sqrt(),
    };
    let mut best = f64::INFINITY;
    for _ in 0..repeat.max(1) {
        let start = Instant::now();
        let out = stream_attention(inp, blocks, stats.then_some(&spec))?;
        best = best.min(start.elapsed().as_secs_f64());
        std::hint::black_box(out.out);
    }
    Ok(best)
}

/// One training-throughput measurement.
#[derive(Debug, Clone, Serialize)]
pub struct TrainMeasurement {
    pub seq_len: usize,
    pub segments: usize,
    pub batch: usize,
    pub fused: bool,
    pub workers: usize,
    /// Mean seconds per optimizer step (after warmup).
    pub step_s: f64,
    pub tokens_per_s: f64,
    pub peak_rss: Option<u64>,
}

/// Times full training steps (forward, backward, gradient accumulation over
/// `batch` packs, clipping, AdamW) on random tokens: each pack holds
/// `segments` sequences of equal length summing to `seq_len`.
#[allow(clippy::too_many_arguments)]
pub fn measure_train(
    cfg: &Qwen3MoeConfig,
    seq_len: usize,
    segments: usize,
    batch: usize,
    steps: usize,
    warmup: usize,
    fused: bool,
    workers: usize,
    seed: u64,
) -> Result<TrainMeasurement> {
    use crate::train::data::Pack;
    use crate::train::loss::{accumulate, packs_grads};
    use crate::train::optim::{clip_global_norm, AdamW, AdamWConfig};
    use candle_core::Var;
    use std::collections::HashMap;
    let device = Device::Cpu;
    let weights = crate::model::random::random_weights(cfg, seed, Default::default(), &device)?;
    let vars: HashMap<String, Var> = weights
        .iter()
        .map(|(n, t)| Ok((n.clone(), Var::from_tensor(t)?)))
        .collect::<Result<_>>()?;
    let vb = VarBuilder::from_tensors(
        vars.iter()
            .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
            .collect(),
        DType::F32,
        &device,
    );
    let model = Qwen3Moe::load(cfg, vb)?;
    let mut opt = AdamW::new(&vars, AdamWConfig::default())?;
    let seg = (seq_len / segments.max(1)).max(2);
    let packs: Vec<Pack> = (0..batch)
        .map(|b| {
            let ids = random_ids(seg * segments, cfg.vocab_size, seed + b as u64);
            Pack {
                target: vec![true; ids.len()],
                segments: vec![seg; segments],
                ids,
            }
        })
        .collect();
    let tokens: usize = packs.iter().map(|p| p.ids.len()).sum();
    let mut total = 0.0;
    for s in 0..warmup + steps {
        let t0 = Instant::now();
        let mut grads: HashMap<String, Vec<f32>> = HashMap::new();
        let refs: Vec<&Pack> = packs.iter().collect();
        for r in packs_grads(
            &model,
            &vars,
            &refs,
            fused,
            1.0 / tokens as f64,
            0.001,
            workers,
        ) {
            accumulate(&mut grads, r?.grads);
        }
        clip_global_norm(&mut grads, 1.0);
        opt.step(&grads, 1e-4)?;
        if s >= warmup {
            total += t0.elapsed().as_secs_f64();
        }
    }
    let step_s = total / steps.max(1) as f64;
    Ok(TrainMeasurement {
        seq_len: seg * segments,
        segments,
        batch,
        fused,
        workers,
        step_s,
        tokens_per_s: tokens as f64 / step_s,
        peak_rss: crate::mem::peak_rss_bytes(),
    })
}
