//! The Qwen3-MoE causal language model, with probe hooks.

use super::profile::{time, Part};
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

use super::attention::{AttnObserve, AttnPath};
use super::attention_stream::StreamBlocks;
use super::config::Qwen3MoeConfig;
use super::decoder::DecoderLayer;
use super::hook::{check_layer, HookPoint, NoProbe, Probe};
use super::intervene::Interventions;
use super::linear::Linear;
use super::loader::Checkpoint;
use super::norm::RmsNorm;
use super::rope::RopeTables;
use super::router::RouterOutput;
use super::stream::{WeightIo, WeightStream};
use crate::error::{Error, Result};

/// Which logits a forward pass returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogitsRequest {
    /// None: the pass may stop after the last probed layer.
    None,
    /// The last position only [1, V].
    #[default]
    Last,
    /// Every position [t, V].
    All,
}

/// Options of one forward pass.
#[derive(Debug, Clone, Copy, Default)]
pub struct ForwardOptions {
    pub path: AttnPath,
    pub blocks: StreamBlocks,
    pub logits: LogitsRequest,
}

/// What a forward pass returned.
#[derive(Debug)]
pub struct ForwardOutput {
    pub logits: Option<Tensor>,
    /// Layers actually run (fewer than the model has after an early exit).
    pub layers_run: usize,
}

/// Keys and values of the positions decoded so far, per layer ([kv_heads, len, head_dim] each).
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
}

impl KvCache {
    /// Positions held.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// How a checkpoint's weights are held during inference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightsMode {
    /// Streamed when the weights in f32 exceed [`AUTO_STREAM_BYTES`], else resident.
    #[default]
    Auto,
    /// Every weight converted to f32 at load and held (training needs this).
    Resident,
    /// Read from the checkpoint layer by layer as the pass reaches it
    /// ([`super::stream`]): peak memory about two layers, not the model.
    Streamed,
}

/// `WeightsMode::Auto` streams a checkpoint whose weights take more than
/// this in f32 (a fixed size, not the machine's memory, so that a command
/// behaves the same everywhere; the numbers are identical either way).
pub const AUTO_STREAM_BYTES: u64 = 4 << 30;

impl WeightsMode {
    /// Resident or streamed for `ckpt`.
    pub fn resolve(self, ckpt: &Checkpoint) -> WeightsMode {
        match self {
            WeightsMode::Auto if ckpt.parameter_count() * 4 > AUTO_STREAM_BYTES => {
                WeightsMode::Streamed
            }
            WeightsMode::Auto => WeightsMode::Resident,
            m => m,
        }
    }
}

/// Where a model's weights are.
#[derive(Debug, Clone)]
enum Weights {
    /// Every weight in f32, held.
    Resident {
        embed_tokens: Tensor,
        layers: Vec<DecoderLayer>,
        lm_head: Linear,
    },
    /// Read from the checkpoint when used.
    Streamed(Arc<WeightStream>),
}

#[derive(Debug, Clone)]
pub struct Qwen3Moe {
    pub config: Qwen3MoeConfig,
    weights: Weights,
    norm: RmsNorm,
    /// Applied to every layer as it is used ([`super::intervene`]).
    interventions: Interventions,
    pub device: Device,
}

impl Qwen3Moe {
    /// The model of a checkpoint directory alone, resident in f32 on
    /// `device` (a shorthand of [`Self::open`] for tests and scripts; the
    /// commands open model directories with [`crate::model_dir::ModelDir`],
    /// which adds the tokenizer, chat template and stop ids).
    pub fn from_dir(dir: impl AsRef<Path>, device: &Device) -> Result<Self> {
        Self::open(Checkpoint::open(dir)?, device, WeightsMode::Resident)
    }

    /// A model over a validated checkpoint, its weights held as `mode` says.
    pub fn open(ckpt: Checkpoint, device: &Device, mode: WeightsMode) -> Result<Self> {
        match mode.resolve(&ckpt) {
            WeightsMode::Streamed => {
                let stream = WeightStream::open(ckpt)?;
                Ok(Qwen3Moe {
                    config: stream.config().clone(),
                    norm: stream.final_norm(device)?,
                    weights: Weights::Streamed(Arc::new(stream)),
                    interventions: Interventions::default(),
                    device: device.clone(),
                })
            }
            _ => Self::load(&ckpt.config, ckpt.var_builder(DType::F32, device)?),
        }
    }

    /// Builds the model from a VarBuilder whose paths are the checkpoint's
    /// tensor names (resident weights).
    pub fn load(cfg: &Qwen3MoeConfig, vb: VarBuilder) -> Result<Self> {
        let embed_tokens = vb.get(
            (cfg.vocab_size, cfg.hidden_size),
            "model.embed_tokens.weight",
        )?;
        let layers = (0..cfg.num_hidden_layers)
            .map(|l| DecoderLayer::load(cfg, l, vb.pp("model.layers").pp(l)))
            .collect::<Result<Vec<_>>>()?;
        let norm = RmsNorm::load(cfg.hidden_size, cfg.rms_norm_eps, vb.pp("model.norm"))?;
        let lm_head = if cfg.tie_word_embeddings {
            Linear {
                weight: embed_tokens.clone(),
                bias: None,
            }
        } else {
            Linear::load(cfg.hidden_size, cfg.vocab_size, false, vb.pp("lm_head"))?
        };
        Ok(Qwen3Moe {
            config: cfg.clone(),
            weights: Weights::Resident {
                embed_tokens,
                layers,
                lm_head,
            },
            norm,
            interventions: Interventions::default(),
            device: vb.device().clone(),
        })
    }

    /// Resident or streamed (never `Auto`).
    pub fn weights_mode(&self) -> WeightsMode {
        match self.weights {
            Weights::Resident { .. } => WeightsMode::Resident,
            Weights::Streamed(_) => WeightsMode::Streamed,
        }
    }

    /// The weight I/O so far (streamed weights only).
    pub fn weight_io(&self) -> Option<WeightIo> {
        match &self.weights {
            Weights::Streamed(s) => Some(s.io()),
            Weights::Resident { .. } => None,
        }
    }

    /// The most decoder layers held at once so far (streamed weights only).
    pub fn max_layers_held(&self) -> Option<usize> {
        match &self.weights {
            Weights::Streamed(s) => Some(s.max_layers_held()),
            Weights::Resident { .. } => None,
        }
    }

    /// The interventions this model carries (empty for the model as loaded).
    pub fn interventions(&self) -> &Interventions {
        &self.interventions
    }

    /// Sets the interventions (checked by [`Self::with_interventions`]),
    /// applying them to resident layers now and to streamed ones as built.
    pub(crate) fn set_interventions(&mut self, iv: Interventions) {
        if let Weights::Resident { layers, .. } = &mut self.weights {
            for (l, layer) in layers.iter_mut().enumerate() {
                super::intervene::apply(layer, l, &iv);
            }
        }
        self.interventions = iv;
    }

    /// Calls `f` on layers `range` in order: held layers, or each read and
    /// built when reached (the next one read meanwhile) and released before
    /// the one after it is taken.
    fn each_layer(
        &self,
        range: Range<usize>,
        mut f: impl FnMut(usize, &DecoderLayer) -> Result<()>,
    ) -> Result<()> {
        match &self.weights {
            Weights::Resident { layers, .. } => {
                for l in range {
                    f(l, &layers[l])?;
                }
                Ok(())
            }
            Weights::Streamed(stream) => {
                let mut reader = stream.read_ahead(range.clone())?;
                for _ in range {
                    let (l, raw) = reader.next_layer()?;
                    let mut layer = stream.build_layer(l, raw, &self.device)?;
                    super::intervene::apply(&mut layer, l, &self.interventions);
                    f(l, &layer)?;
                }
                Ok(())
            }
        }
    }

    /// The embeddings [t, hidden] of `ids`.
    fn embed(&self, ids: &[u32]) -> Result<Tensor> {
        match &self.weights {
            Weights::Resident { embed_tokens, .. } => {
                let idx = Tensor::from_slice(ids, ids.len(), &self.device)?;
                Ok(embed_tokens.index_select(&idx, 0)?)
            }
            Weights::Streamed(s) => s.embed_rows(ids, &self.device),
        }
    }

    /// The LM head (read now when streamed).
    fn lm_head(&self) -> Result<std::borrow::Cow<'_, Linear>> {
        match &self.weights {
            Weights::Resident { lm_head, .. } => Ok(std::borrow::Cow::Borrowed(lm_head)),
            Weights::Streamed(s) => Ok(std::borrow::Cow::Owned(s.lm_head(&self.device)?)),
        }
    }

    /// The layers that write nothing to the residual stream
    /// ([`DecoderLayer::writes_residual`]): the model computes the same
    /// function without them.
    pub fn silent_layers(&self) -> Result<Vec<usize>> {
        let mut out = Vec::new();
        for l in 0..self.config.num_hidden_layers {
            let writes = match &self.weights {
                Weights::Resident { layers, .. } => layers[l].writes_residual()?,
                Weights::Streamed(s) => s.writes_residual(l)?,
            };
            if !writes {
                out.push(l);
            }
        }
        Ok(out)
    }

    /// Checks token ids against the vocabulary and the position limit.
    pub fn check_input(&self, ids: &[u32]) -> Result<()> {
        self.check_ids_at(ids, 0)
    }

    /// Checks `ids` placed at positions offset..offset+len (decoding with a cache).
    fn check_ids_at(&self, ids: &[u32], offset: usize) -> Result<()> {
        if ids.is_empty() {
            return Err(Error::Input(
                "empty input: at least one token id is needed".into(),
            ));
        }
        let limit = self.config.max_position_embeddings;
        let end = offset + ids.len();
        if end > limit {
            return Err(Error::OutOfRange {
                what: if offset == 0 {
                    "input length"
                } else {
                    "sequence length"
                }
                .into(),
                value: end.to_string(),
                valid: format!("at most max_position_embeddings = {limit} tokens"),
            });
        }
        if let Some((i, &id)) = ids
            .iter()
            .enumerate()
            .find(|(_, &id)| id as usize >= self.config.vocab_size)
        {
            return Err(Error::OutOfRange {
                what: format!("token id at position {}", offset + i),
                value: id.to_string(),
                valid: format!("0..{} (vocab_size)", self.config.vocab_size),
            });
        }
        Ok(())
    }

    /// Runs `ids` at positions cache.len().. through the model, extending the
    /// cache, and returns the logits of the last position [1, V].
    pub fn forward_cached(&self, ids: &[u32], cache: &mut KvCache) -> Result<Tensor> {
        let offset = cache.len();
        self.check_ids_at(ids, offset)?;
        let n_layers = self.config.num_hidden_layers;
        if cache.layers.len() != n_layers {
            cache.layers = vec![None; n_layers];
        }
        let n = ids.len();
        let mut x = self.embed(ids)?;
        let rope = RopeTables::positions(
            self.config.rope_theta,
            self.config.head_dim,
            offset,
            n,
            &self.device,
        )?;
        self.each_layer(0..n_layers, |l, layer| {
            x = layer.forward_cached(&x, &rope, &mut cache.layers[l])?;
            Ok(())
        })?;
        cache.len += n;
        let h = self.norm.forward(&x.narrow(0, n - 1, 1)?)?;
        self.lm_head()?.forward(&h)
    }

    /// The training forward pass over packed sequences: `ids` holds the
    /// sequences back to back (lengths `segments`); each attends causally to
    /// itself only and its positions start at 0. Every op has a backward
    /// (`fused`: the custom CPU ops of [`super::ops`]). Returns the logits of
    /// every position [t, V] and the routing of each MoE layer.
    pub fn forward_packed(
        &self,
        ids: &[u32],
        segments: &[usize],
        fused: bool,
    ) -> Result<(Tensor, Vec<RouterOutput>)> {
        self.check_input(ids)?;
        let Weights::Resident {
            embed_tokens,
            layers,
            lm_head,
        } = &self.weights
        else {
            return Err(Error::Input(
                "the training path needs resident weights (the model was opened with streamed weights)".into(),
            ));
        };
        if !self.interventions().is_empty() {
            return Err(Error::Input(format!(
                "the model carries interventions ({}): the training path refuses them",
                self.interventions().describe()
            )));
        }
        let t = ids.len();
        if segments.iter().sum::<usize>() != t || segments.contains(&0) {
            return Err(Error::Input(format!(
                "packed segments {segments:?} do not split {t} tokens into non-empty parts"
            )));
        }
        if let Some(&longest) = segments.iter().max() {
            if longest > self.config.max_position_embeddings {
                return Err(Error::OutOfRange {
                    what: "packed sequence length".into(),
                    value: longest.to_string(),
                    valid: format!(
                        "at most max_position_embeddings = {}",
                        self.config.max_position_embeddings
                    ),
                });
            }
        }
        // 1. embeddings, positions restarting per segment
        let idx = Tensor::from_slice(ids, t, &self.device)?;
        let mut x = embed_tokens.index_select(&idx, 0)?;
        let positions: Vec<usize> = segments.iter().flat_map(|&n| 0..n).collect();
        let rope = RopeTables::at(
            self.config.rope_theta,
            self.config.head_dim,
            &positions,
            &self.device,
        )?;
        // 2. decoder layers
        let mut routing = Vec::new();
        for layer in layers {
            let (h, r) = layer.forward_train(&x, &rope, segments, fused)?;
            routing.extend(r);
            x = h;
        }
        // 3. final norm and LM head [t, V]
        let h = self.norm.forward_train(&x, fused)?;
        Ok((lm_head.forward(&h)?, routing))
    }

    /// The logits of every position [t, V] of one sequence (default path,
    /// nothing observed).
    pub fn logits(&self, ids: &[u32]) -> Result<Tensor> {
        let opts = ForwardOptions {
            logits: LogitsRequest::All,
            ..Default::default()
        };
        Ok(self
            .forward(ids, &mut NoProbe, opts)?
            .logits
            .expect("logits requested"))
    }

    /// One forward pass over a single sequence, reporting to `probe`.
    pub fn forward(
        &self,
        ids: &[u32],
        probe: &mut dyn Probe,
        opts: ForwardOptions,
    ) -> Result<ForwardOutput> {
        let mut out = self.forward_batch(&[ids], &mut [probe], opts, &mut |_| {})?;
        Ok(out.pop().expect("one output per input"))
    }

    /// Forward passes over several sequences, layer-major: each layer is
    /// taken once (read once, when streamed) and run on every sequence that
    /// needs it. Sequence i reports to `probes[i]`; each gets exactly what
    /// [`Self::forward`] would give it alone. `on_layer` is called after each
    /// layer with the number of sequences it ran on. Every sequence's hidden
    /// states are held at once, so callers bound the batch by its tokens.
    pub fn forward_batch(
        &self,
        inputs: &[&[u32]],
        probes: &mut [&mut dyn Probe],
        opts: ForwardOptions,
        on_layer: &mut dyn FnMut(usize),
    ) -> Result<Vec<ForwardOutput>> {
        if inputs.len() != probes.len() {
            return Err(Error::Input(format!(
                "{} inputs but {} probes: one probe per input",
                inputs.len(),
                probes.len()
            )));
        }
        for ids in inputs {
            self.check_input(ids)?;
        }
        let n_layers = self.config.num_hidden_layers;
        for p in probes.iter() {
            for l in p.layers() {
                check_layer(l, n_layers)?;
            }
        }
        // 0. how far each input goes: all layers when logits are wanted, else
        // its probe's last layer
        let lasts: Vec<Option<usize>> = probes
            .iter()
            .map(|p| match opts.logits {
                LogitsRequest::None => (0..n_layers).rev().find(|&l| p.wants_layer(l)),
                _ => Some(n_layers - 1),
            })
            .collect();
        let Some(last) = lasts.iter().flatten().copied().max() else {
            return Ok(inputs
                .iter()
                .map(|_| ForwardOutput {
                    logits: None,
                    layers_run: 0,
                })
                .collect());
        };
        // 1. embeddings [t, hidden] and positions
        let mut xs = Vec::with_capacity(inputs.len());
        let mut ropes = Vec::with_capacity(inputs.len());
        for (ids, l) in inputs.iter().zip(&lasts) {
            if l.is_some() {
                xs.push(Some(time(Part::Embed, || self.embed(ids))?));
                ropes.push(Some(RopeTables::new(
                    self.config.rope_theta,
                    self.config.head_dim,
                    ids.len(),
                    &self.device,
                )?));
            } else {
                xs.push(None);
                ropes.push(None);
            }
        }
        // 2. decoder layers
        self.each_layer(0..last + 1, |l, layer| {
            let mut ran = 0;
            for i in 0..inputs.len() {
                if lasts[i].is_none_or(|last| l > last) {
                    continue;
                }
                let (Some(x), Some(rope)) = (&xs[i], &ropes[i]) else {
                    continue;
                };
                let probe = &mut probes[i];
                let spec = probe.attn_spec(l);
                let observe = AttnObserve {
                    stats: spec.as_ref(),
                    probs: probe.wants(HookPoint::AttnProbs(l)),
                };
                let out = layer.forward(x, rope, opts.path, opts.blocks, observe)?;
                check_finite(&out.hidden, l)?;
                if let Some(stats) = &out.attn.stats {
                    probe.on_attn_stats(l, stats)?;
                }
                if let Some(p) = &out.attn.probs {
                    probe.on_attn_probs(l, p)?;
                }
                if let Some(r) = &out.routing {
                    if probe.wants(HookPoint::Router(l)) {
                        probe.on_router(l, r)?;
                    }
                }
                xs[i] = Some(out.hidden);
                ran += 1;
            }
            on_layer(ran);
            Ok(())
        })?;
        // 3. final norm and LM head
        let lm_head = match opts.logits {
            LogitsRequest::None => None,
            _ => Some(self.lm_head()?),
        };
        let mut outs = Vec::with_capacity(inputs.len());
        for (x, last) in xs.into_iter().zip(&lasts) {
            let logits = match (&lm_head, x, opts.logits) {
                (Some(head), Some(x), LogitsRequest::Last) => {
                    let t = x.dims2()?.0;
                    let h = time(Part::Norms, || self.norm.forward(&x.narrow(0, t - 1, 1)?))?;
                    Some(time(Part::Logits, || head.forward(&h))?)
                }
                (Some(head), Some(x), LogitsRequest::All) => {
                    let h = time(Part::Norms, || self.norm.forward(&x))?;
                    Some(time(Part::Logits, || head.forward(&h))?)
                }
                _ => None,
            };
            outs.push(ForwardOutput {
                logits,
                layers_run: last.map_or(0, |l| l + 1),
            });
        }
        Ok(outs)
    }
}

/// Refuses non-finite hidden states where they are produced: after layer
/// `l`, naming it (NaN or infinite weights, or an impossible config, would
/// otherwise reach every statistic downstream as NaN).
fn check_finite(hidden: &Tensor, l: usize) -> Result<()> {
    let sum = hidden.sum_all()?.to_dtype(DType::F32)?.to_scalar::<f32>()?;
    if sum.is_finite() {
        return Ok(());
    }
    Err(Error::Input(format!(
        "blocks.{l}: the layer's output (hidden states) is not finite ({sum}); \
         check model.layers.{l}.* in the checkpoint for NaN or infinite weights"
    )))
}
