//! Qwen3 self-attention: projections, per-head q/k RMSNorm, RoPE, then one of
//! two attention paths:
//! - **observe** (streaming): [`super::attention_stream`], output and
//!   per-row statistics in one pass over key blocks, never holding [L, L];
//! - **materialised** (eager): the full probability matrix per head, used for
//!   tests, short inputs, attention-probability capture and training
//!   (every op has a backward).

use super::profile::{time, Part};
use candle_core::{Device, Tensor};
use candle_nn::VarBuilder;

use super::attention_stream::{stream_attention, StreamBlocks, StreamInput, StreamStats};
use super::config::Qwen3MoeConfig;
use super::intervene::HeadClamp;
use super::linear::Linear;
use super::norm::RmsNorm;
use super::ops::{causal_mask, Pass, Softmax};
use super::rope::RopeTables;
use crate::error::Result;
use crate::stats::attn::{stats_from_probs, AttnStatsSpec};

/// Query rows per attention block in training: a block attends to the keys
/// up to its last position, so about half of the [len, len] scores of a long
/// segment are never computed.
pub const TRAIN_QUERY_BLOCK: usize = 256;

/// Which attention implementation a forward pass uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AttnPath {
    /// Streaming over key blocks (the observe path).
    #[default]
    Streaming,
    /// Eager probabilities [heads, t, t] (reference path).
    Materialized,
}

/// What one attention call should observe besides computing its output.
#[derive(Debug, Clone, Default)]
pub struct AttnObserve<'a> {
    pub stats: Option<&'a AttnStatsSpec>,
    pub probs: bool,
}

/// What one attention call produced.
pub struct AttnResult {
    /// [t, hidden]
    pub out: Tensor,
    pub stats: Option<StreamStats>,
    /// [heads, t, t] when asked for.
    pub probs: Option<Tensor>,
}

#[derive(Debug, Clone)]
pub struct Attention {
    pub q_proj: Linear,
    pub k_proj: Linear,
    pub v_proj: Linear,
    pub o_proj: Linear,
    pub q_norm: RmsNorm,
    pub k_norm: RmsNorm,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    /// Heads clamped to a local window (an intervention, [`super::intervene`]);
    /// `None` for the model as trained.
    pub local_clamp: Option<HeadClamp>,
}

impl Attention {
    pub fn load(cfg: &Qwen3MoeConfig, vb: VarBuilder) -> Result<Self> {
        let (h, q, kv) = (
            cfg.hidden_size,
            cfg.num_attention_heads * cfg.head_dim,
            cfg.num_key_value_heads * cfg.head_dim,
        );
        let b = cfg.attention_bias;
        Ok(Attention {
            q_proj: Linear::load(h, q, b, vb.pp("q_proj"))?,
            k_proj: Linear::load(h, kv, b, vb.pp("k_proj"))?,
            v_proj: Linear::load(h, kv, b, vb.pp("v_proj"))?,
            o_proj: Linear::load(q, h, b, vb.pp("o_proj"))?,
            q_norm: RmsNorm::load(cfg.head_dim, cfg.rms_norm_eps, vb.pp("q_norm"))?,
            k_norm: RmsNorm::load(cfg.head_dim, cfg.rms_norm_eps, vb.pp("k_norm"))?,
            heads: cfg.num_attention_heads,
            kv_heads: cfg.num_key_value_heads,
            head_dim: cfg.head_dim,
            local_clamp: None,
        })
    }

    /// The additive mask of queries at offset..offset+tq against keys 0..tk:
    /// causal [tq, tk], or per head [heads, tq, tk] when heads are clamped.
    fn mask(&self, tq: usize, tk: usize, offset: usize, device: &Device) -> Result<Tensor> {
        match &self.local_clamp {
            None => causal_mask(tq, tk, offset, device),
            Some(c) => c.mask(self.heads, tq, tk, offset, device),
        }
    }

    /// q [heads, t, d] and k, v [kv_heads, t, d] for x [t, hidden]: projections,
    /// per-head RMSNorm on q and k, RoPE at the positions of `rope`. The
    /// same ops for every pass; training's have a backward.
    fn qkv(&self, x: &Tensor, rope: &RopeTables, pass: Pass) -> Result<(Tensor, Tensor, Tensor)> {
        let (t, _) = x.dims2()?;
        let (nh, nkv, hd) = (self.heads, self.kv_heads, self.head_dim);
        // 1. projections [t, heads, d]
        let (q, k, v) = time(Part::QkvProj, || -> Result<_> {
            Ok((
                self.q_proj.forward(x)?.reshape((t, nh, hd))?,
                self.k_proj.forward(x)?.reshape((t, nkv, hd))?,
                self.v_proj.forward(x)?.reshape((t, nkv, hd))?,
            ))
        })?;
        // 2. per-head RMSNorm on q and k, heads first
        let (q, k, v) = time(Part::Norms, || -> Result<_> {
            let q = self
                .q_norm
                .forward_pass(&q, pass)?
                .transpose(0, 1)?
                .contiguous()?;
            let k = self
                .k_norm
                .forward_pass(&k, pass)?
                .transpose(0, 1)?
                .contiguous()?;
            Ok((q, k, v.transpose(0, 1)?.contiguous()?))
        })?;
        // 3. RoPE
        time(Part::Rope, || {
            Ok((
                rope.apply(&q, pass.is_train())?,
                rope.apply(&k, pass.is_train())?,
                v,
            ))
        })
    }

    /// The training path over packed sequences: x [t, hidden] holds segments
    /// of lengths `segments` back to back; each attends causally within
    /// itself (attention runs per segment, so the cost is Σ len², not t²).
    /// Every op has a backward; `fused` selects the custom CPU ops of
    /// [`super::ops`] and, on CPU in f32, the one-op attention of
    /// [`super::attention_fused`] over candle's composed ones (the reference).
    pub fn forward_train(
        &self,
        x: &Tensor,
        rope: &RopeTables,
        segments: &[usize],
        fused: bool,
    ) -> Result<Tensor> {
        let (t, _) = x.dims2()?;
        let (nh, hd) = (self.heads, self.head_dim);
        // 1–3. projections, per-head q/k RMSNorm, RoPE → [heads, t, d]
        let (q, k, v) = self.qkv(x, rope, Pass::Train { fused })?;
        // 4. causal attention per segment [h, len, d], concatenated over positions
        let scale = 1.0 / (hd as f64).sqrt();
        let ctx = if fused && super::ops::fused_ok(&q) {
            // one op: no [h, len, len] tensor in the graph
            super::attention_fused::packed_causal_attention(&q, &k, &v, segments, scale)?
        } else {
            composed_causal_attention(&q, &k, &v, segments, scale, fused)?
        };
        let ctx = ctx.transpose(0, 1)?.reshape((t, nh * hd))?;
        // 5. output projection
        self.o_proj.forward(&ctx)
    }

    /// Decoding step(s): x [n, hidden] at positions offset..offset+n, where
    /// `cache` holds keys/values of positions 0..offset ([g, offset, d] each) and
    /// is extended in place. Returns the attention output [n, hidden].
    pub fn forward_cached(
        &self,
        x: &Tensor,
        rope: &RopeTables,
        cache: &mut Option<(Tensor, Tensor)>,
    ) -> Result<Tensor> {
        let (q, k, v) = self.qkv(x, rope, Pass::Inference)?;
        let (k, v, offset) = match cache.take() {
            Some((ck, cv)) => {
                let offset = ck.dim(1)?;
                (
                    Tensor::cat(&[&ck, &k], 1)?,
                    Tensor::cat(&[&cv, &v], 1)?,
                    offset,
                )
            }
            None => (k, v, 0),
        };
        let mask = self.mask(q.dim(1)?, k.dim(1)?, offset, q.device())?;
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let (ctx, _) = attend(&q, &k, &v, scale, &mask, Softmax::Inference)?;
        *cache = Some((k, v));
        self.o_proj.forward(&ctx)
    }

    /// x [t, hidden] → attention output [t, hidden] (+ what `observe` asks for).
    pub fn forward(
        &self,
        x: &Tensor,
        rope: &RopeTables,
        path: AttnPath,
        blocks: StreamBlocks,
        observe: AttnObserve<'_>,
    ) -> Result<AttnResult> {
        let (t, _) = x.dims2()?;
        let (nh, nkv, hd) = (self.heads, self.kv_heads, self.head_dim);
        // 1–3. projections, per-head q/k RMSNorm, RoPE → [heads, t, d]
        let (q, k, v) = self.qkv(x, rope, Pass::Inference)?;
        let scale = 1.0 / (hd as f64).sqrt();

        // 4. attention (clamped heads need a per-head mask: the eager path)
        let path = if self.local_clamp.is_some() {
            AttnPath::Materialized
        } else {
            path
        };
        let kernel = time(Part::AttnKernel, || -> Result<_> {
            Ok(match path {
                AttnPath::Materialized => {
                    let mask = self.mask(t, t, 0, q.device())?;
                    let (ctx, probs) = attend(&q, &k, &v, scale, &mask, Softmax::Inference)?;
                    let stats = match observe.stats {
                        Some(spec) => {
                            let p = probs.flatten_all()?.to_vec1::<f32>()?;
                            let rows = stats_from_probs(&p, nh, t, spec)?;
                            Some(if spec.per_row {
                                StreamStats::Rows(rows)
                            } else {
                                StreamStats::Summary(rows.summarize(&spec.bins))
                            })
                        }
                        None => None,
                    };
                    (ctx, stats, observe.probs.then_some(probs))
                }
                AttnPath::Streaming => {
                    let qv = q.flatten_all()?.to_vec1::<f32>()?;
                    let ktv = k
                        .transpose(1, 2)?
                        .contiguous()?
                        .flatten_all()?
                        .to_vec1::<f32>()?;
                    let vv = v.flatten_all()?.to_vec1::<f32>()?;
                    let res = stream_attention(
                        StreamInput {
                            q: &qv,
                            kt: &ktv,
                            v: &vv,
                            heads: nh,
                            kv_heads: nkv,
                            t,
                            d: hd,
                            scale: scale as f32,
                        },
                        blocks,
                        observe.stats,
                    )?;
                    let ctx = Tensor::from_vec(res.out, (t, nh * hd), &Device::Cpu)?
                        .to_device(x.device())?;
                    let probs = if observe.probs {
                        Some(eager_attention(&q, &k, &v, scale, false)?.1)
                    } else {
                        None
                    };
                    (ctx, res.stats, probs)
                }
            })
        });
        let (ctx, stats, probs) = kernel?;
        // 5. output projection
        let out = time(Part::OProj, || self.o_proj.forward(&ctx))?;
        Ok(AttnResult { out, stats, probs })
    }
}

/// Eager causal attention. q [h, t, d], k/v [g, t, d] → (ctx [t, h·d], probs [h, t, t]).
pub fn eager_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    scale: f64,
    differentiable: bool,
) -> Result<(Tensor, Tensor)> {
    eager_attention_at(q, k, v, scale, 0, differentiable)
}

/// Eager causal attention of queries at positions offset..offset+tq against
/// keys 0..tk (tk = offset + tq with a KV cache). q [h, tq, d], k/v [g, tk, d]
/// → (ctx [tq, h·d], probs [h, tq, tk]).
pub fn eager_attention_at(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    scale: f64,
    offset: usize,
    differentiable: bool,
) -> Result<(Tensor, Tensor)> {
    let tq = q.dim(1)?;
    let tk = k.dim(1)?;
    let mask = causal_mask(tq, tk, offset, q.device())?;
    let softmax = if differentiable {
        Softmax::Composed
    } else {
        Softmax::Inference
    };
    attend(q, k, v, scale, &mask, softmax)
}

/// Attention with an additive mask [tq, tk]: q [h, tq, d], k/v [g, tk, d]
/// → (ctx [tq, h·d], probs [h, tq, tk]).
pub fn attend(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    scale: f64,
    mask: &Tensor,
    softmax: Softmax,
) -> Result<(Tensor, Tensor)> {
    let (nh, tq, hd) = q.dims3()?;
    let (nkv, tk, _) = k.dims3()?;
    let rep = nh / nkv;
    let expand = |x: &Tensor| -> Result<Tensor> {
        if rep == 1 {
            return Ok(x.clone());
        }
        Ok(x.unsqueeze(1)?
            .broadcast_as((nkv, rep, tk, hd))?
            .reshape((nh, tk, hd))?)
    };
    let (k, v) = (expand(k)?, expand(v)?);
    // 1. scaled scores [h, tq, tk] plus the mask
    let scores = (q.matmul(&k.t()?)? * scale)?.broadcast_add(mask)?;
    // 2. probabilities
    let probs = softmax.last_dim(&scores)?;
    // 3. weighted values [h, tq, d] → [tq, h·d]
    let ctx = probs.matmul(&v.contiguous()?)?;
    let ctx = ctx.transpose(0, 1)?.reshape((tq, nh * hd))?;
    Ok((ctx, probs))
}

/// Causal attention within each of `segments` from candle's differentiable
/// ops: q [heads, t, d], k and v [kv_heads, t, d] → [heads, t, d]. Per
/// segment the kv heads are repeated for GQA and each query block meets the
/// keys up to its end; `fused_softmax` picks `ops::causal_softmax` over
/// `ops::causal_softmax_composed`. The training path off CPU, and the
/// reference of [`super::attention_fused`].
pub(crate) fn composed_causal_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    segments: &[usize],
    scale: f64,
    fused_softmax: bool,
) -> Result<Tensor> {
    let (nh, _, hd) = q.dims3()?;
    let nkv = k.dim(0)?;
    let rep = nh / nkv;
    let mut ctxs = Vec::with_capacity(segments.len());
    let mut start = 0;
    for &len in segments {
        let qs = q.narrow(1, start, len)?;
        let expand = |x: &Tensor| -> Result<Tensor> {
            let xs = x.narrow(1, start, len)?;
            if rep == 1 {
                return Ok(xs.contiguous()?);
            }
            Ok(xs
                .unsqueeze(1)?
                .broadcast_as((nkv, rep, len, hd))?
                .reshape((nh, len, hd))?)
        };
        let (ks, vs) = (expand(k)?, expand(v)?);
        // query blocks see keys up to their end only (the causal triangle)
        let mut qb = 0;
        while qb < len {
            let n = TRAIN_QUERY_BLOCK.min(len - qb);
            let end = qb + n;
            let qblk = qs.narrow(1, qb, n)?;
            let (kb, vb) = if end == len {
                (ks.clone(), vs.clone())
            } else {
                (ks.narrow(1, 0, end)?, vs.narrow(1, 0, end)?)
            };
            let scores = qblk.matmul(&kb.t()?)?;
            let probs = if fused_softmax {
                super::ops::causal_softmax(&scores, scale)?
            } else {
                super::ops::causal_softmax_composed(&scores, scale)?
            };
            ctxs.push(probs.matmul(&vb)?);
            qb = end;
        }
        start += len;
    }
    if ctxs.len() == 1 {
        return Ok(ctxs.pop().expect("one segment"));
    }
    Ok(Tensor::cat(&ctxs, 1)?)
}
