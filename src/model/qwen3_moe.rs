//! The Qwen3-MoE causal language model, with probe hooks.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use super::attention::{AttnObserve, AttnPath};
use super::attention_stream::StreamBlocks;
use super::config::Qwen3MoeConfig;
use super::decoder::DecoderLayer;
use super::linear::Linear;
use super::loader::Checkpoint;
use super::norm::RmsNorm;
use super::rope::RopeTables;
use super::router::RouterOutput;
use crate::error::{Error, Result};
use crate::probe::Probe;

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
    /// Use only ops with a backward (training).
    pub differentiable: bool,
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

#[derive(Debug, Clone)]
pub struct Qwen3Moe {
    pub config: Qwen3MoeConfig,
    pub embed_tokens: Tensor,
    pub layers: Vec<DecoderLayer>,
    pub norm: RmsNorm,
    pub lm_head: Linear,
    pub device: Device,
}

impl Qwen3Moe {
    /// Loads a validated checkpoint directory (weights converted to f32).
    pub fn from_dir(dir: impl AsRef<Path>, device: &Device) -> Result<Self> {
        let ckpt = Checkpoint::open(dir)?;
        let vb = ckpt.var_builder(DType::F32, device)?;
        Self::load(&ckpt.config, vb)
    }

    /// Builds the model from a VarBuilder whose paths are the checkpoint's tensor names.
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
            embed_tokens,
            layers,
            norm,
            lm_head,
            device: vb.device().clone(),
        })
    }

    /// The layers that write nothing to the residual stream
    /// ([`DecoderLayer::writes_residual`]): the model computes the same
    /// function without them.
    pub fn silent_layers(&self) -> Result<Vec<usize>> {
        let mut out = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            if !l.writes_residual()? {
                out.push(i);
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
        if cache.layers.len() != self.layers.len() {
            cache.layers = vec![None; self.layers.len()];
        }
        let n = ids.len();
        let idx = Tensor::from_slice(ids, n, &self.device)?;
        let mut x = self.embed_tokens.index_select(&idx, 0)?;
        let rope = RopeTables::positions(
            self.config.rope_theta,
            self.config.head_dim,
            offset,
            n,
            &self.device,
        )?;
        for (layer, entry) in self.layers.iter().zip(cache.layers.iter_mut()) {
            x = layer.forward_cached(&x, &rope, entry)?;
        }
        cache.len += n;
        let h = self.norm.forward(&x.narrow(0, n - 1, 1)?)?;
        self.lm_head.forward(&h)
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
        let mut x = self.embed_tokens.index_select(&idx, 0)?;
        let positions: Vec<usize> = segments.iter().flat_map(|&n| 0..n).collect();
        let rope = RopeTables::at(
            self.config.rope_theta,
            self.config.head_dim,
            &positions,
            &self.device,
        )?;
        // 2. decoder layers
        let mut routing = Vec::new();
        for layer in &self.layers {
            let (h, r) = layer.forward_train(&x, &rope, segments, fused)?;
            routing.extend(r);
            x = h;
        }
        // 3. final norm and LM head [t, V]
        let h = self.norm.forward_train(&x, fused)?;
        Ok((self.lm_head.forward(&h)?, routing))
    }

    /// The logits of every position [t, V] of one sequence (default path,
    /// nothing observed).
    pub fn logits(&self, ids: &[u32]) -> Result<Tensor> {
        let opts = ForwardOptions {
            logits: LogitsRequest::All,
            ..Default::default()
        };
        Ok(self
            .forward(ids, &mut crate::probe::NoProbe, opts)?
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
        self.check_input(ids)?;
        let t = ids.len();
        let n_layers = self.layers.len();
        // 0. how far to go: all layers when logits are wanted, else the last probed one
        let last = match opts.logits {
            LogitsRequest::None => (0..n_layers).rev().find(|&l| probe.wants_layer(l)),
            _ => Some(n_layers - 1),
        };
        let Some(last) = last else {
            return Ok(ForwardOutput {
                logits: None,
                layers_run: 0,
            });
        };
        // 1. embeddings [t, hidden]
        let idx = Tensor::from_slice(ids, t, &self.device)?;
        let mut x = self.embed_tokens.index_select(&idx, 0)?;
        let rope = RopeTables::new(
            self.config.rope_theta,
            self.config.head_dim,
            t,
            &self.device,
        )?;
        // 2. decoder layers
        for (l, layer) in self.layers.iter().enumerate().take(last + 1) {
            let spec = probe.attn_spec(l);
            let observe = AttnObserve {
                stats: spec.as_ref(),
                probs: probe.wants_attn_probs(l),
            };
            let out = layer.forward(
                &x,
                &rope,
                opts.path,
                opts.blocks,
                observe,
                opts.differentiable,
            )?;
            if let Some(stats) = &out.attn.stats {
                probe.on_attn_stats(l, stats)?;
            }
            if let Some(p) = &out.attn.probs {
                probe.on_attn_probs(l, p)?;
            }
            if let Some(r) = &out.routing {
                if probe.wants_router(l) {
                    probe.on_router(l, r)?;
                }
            }
            x = out.hidden;
        }
        // 3. final norm and LM head
        let logits = match opts.logits {
            LogitsRequest::None => None,
            LogitsRequest::Last => {
                let h = self.norm.forward(&x.narrow(0, t - 1, 1)?)?;
                Some(self.lm_head.forward(&h)?)
            }
            LogitsRequest::All => {
                let h = self.norm.forward(&x)?;
                Some(self.lm_head.forward(&h)?)
            }
        };
        Ok(ForwardOutput {
            logits,
            layers_run: last + 1,
        })
    }
}
