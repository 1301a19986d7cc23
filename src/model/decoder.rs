//! One decoder layer: x + attn(norm(x)), then + ffn(norm(x)) where ffn is the
//! sparse MoE block or, for `mlp_only_layers` / `decoder_sparse_step`, a dense MLP.

use super::profile::{time, Part};
use candle_core::Tensor;
use candle_nn::VarBuilder;

use super::attention::{Attention, AttnObserve, AttnPath, AttnResult};
use super::attention_stream::StreamBlocks;
use super::config::Qwen3MoeConfig;
use super::moe::{Mlp, SparseMoe};
use super::norm::RmsNorm;
use super::ops::{Pass, Softmax};
use super::rope::RopeTables;
use super::router::RouterOutput;
use crate::error::Result;

#[derive(Debug, Clone)]
pub enum FeedForward {
    Moe(SparseMoe),
    Dense(Mlp),
}

impl FeedForward {
    /// h [t, hidden] → (output, the routing of an MoE block); `softmax` is
    /// the router's.
    pub fn forward(&self, h: &Tensor, softmax: Softmax) -> Result<(Tensor, Option<RouterOutput>)> {
        Ok(match self {
            FeedForward::Moe(moe) => {
                let r = time(Part::Router, || moe.router.route_with(h, softmax))?;
                (moe.forward(h, &r)?, Some(r))
            }
            FeedForward::Dense(mlp) => (time(Part::DenseMlp, || mlp.forward(h))?, None),
        })
    }
}

#[derive(Debug, Clone)]
pub struct DecoderLayer {
    pub input_layernorm: RmsNorm,
    pub self_attn: Attention,
    pub post_attention_layernorm: RmsNorm,
    pub mlp: FeedForward,
}

/// What a layer produced besides its hidden states.
pub struct LayerOutput {
    pub hidden: Tensor,
    pub attn: AttnResult,
    pub routing: Option<RouterOutput>,
}

impl DecoderLayer {
    /// The layer with every weight built now (resident weights).
    pub fn load(cfg: &Qwen3MoeConfig, layer: usize, vb: VarBuilder) -> Result<Self> {
        let mlp = if cfg.is_moe_layer(layer) {
            FeedForward::Moe(SparseMoe::load(
                cfg.hidden_size,
                cfg.moe_intermediate_size,
                cfg.num_experts,
                cfg.num_experts_per_tok,
                cfg.norm_topk_prob,
                vb.pp("mlp"),
            )?)
        } else {
            FeedForward::Dense(Mlp::load(
                cfg.hidden_size,
                cfg.intermediate_size,
                vb.pp("mlp"),
            )?)
        };
        Self::with_mlp(cfg, mlp, vb)
    }

    /// The layer with its MoE experts built when first routed to (streamed
    /// weights: `vb` holds this layer's tensors as read from the checkpoint).
    pub fn load_on_demand(
        cfg: &Qwen3MoeConfig,
        layer: usize,
        vb: VarBuilder<'static>,
    ) -> Result<Self> {
        if !cfg.is_moe_layer(layer) {
            return Self::load(cfg, layer, vb);
        }
        let mlp = FeedForward::Moe(SparseMoe::load_on_demand(
            cfg.hidden_size,
            cfg.moe_intermediate_size,
            cfg.num_experts,
            cfg.num_experts_per_tok,
            cfg.norm_topk_prob,
            vb.pp("mlp"),
        )?);
        Self::with_mlp(cfg, mlp, vb)
    }

    fn with_mlp(cfg: &Qwen3MoeConfig, mlp: FeedForward, vb: VarBuilder) -> Result<Self> {
        Ok(DecoderLayer {
            input_layernorm: RmsNorm::load(
                cfg.hidden_size,
                cfg.rms_norm_eps,
                vb.pp("input_layernorm"),
            )?,
            self_attn: Attention::load(cfg, vb.pp("self_attn"))?,
            post_attention_layernorm: RmsNorm::load(
                cfg.hidden_size,
                cfg.rms_norm_eps,
                vb.pp("post_attention_layernorm"),
            )?,
            mlp,
        })
    }

    /// Whether the layer can change the residual stream. It cannot when its
    /// attention output projection and every down projection of its
    /// feed-forward block (each expert's, or the dense MLP's) are exactly
    /// zero, weights and biases: then x + attn + ffn = x for every input,
    /// as in the new layers of `acc-probe grow`. Its attention and routing
    /// still respond to the input, but nothing downstream sees them.
    pub fn writes_residual(&self) -> Result<bool> {
        let mut outputs = vec![&self.self_attn.o_proj];
        match &self.mlp {
            FeedForward::Moe(moe) => {
                for e in 0..moe.experts.len() {
                    outputs.push(&moe.experts.get(e)?.down_proj);
                }
            }
            FeedForward::Dense(mlp) => outputs.push(&mlp.down_proj),
        }
        // `ne` is true for NaN too: a NaN weight is not a silent layer
        let nonzero = |t: &Tensor| -> Result<bool> {
            let n = t.ne(0f32)?.to_dtype(candle_core::DType::F32)?;
            Ok(n.sum_all()?.to_scalar::<f32>()? > 0.0)
        };
        for l in outputs {
            if nonzero(&l.weight)? || l.bias.as_ref().map(nonzero).transpose()? == Some(true) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// x + ffn(norm(x)) on the residual stream x: (hidden, routing of MoE layers).
    fn feed_forward(&self, x: &Tensor, pass: Pass) -> Result<(Tensor, Option<RouterOutput>)> {
        let h = time(Part::Norms, || {
            self.post_attention_layernorm.forward_pass(x, pass)
        })?;
        let (ff, routing) = self.mlp.forward(&h, pass.softmax())?;
        Ok(((x + ff)?, routing))
    }

    /// A decoding step with a KV cache (see [`Attention::forward_cached`]).
    pub fn forward_cached(
        &self,
        x: &Tensor,
        rope: &RopeTables,
        cache: &mut Option<(Tensor, Tensor)>,
    ) -> Result<Tensor> {
        let h = self.input_layernorm.forward(x)?;
        let x = (x + self.self_attn.forward_cached(&h, rope, cache)?)?;
        Ok(self.feed_forward(&x, Pass::Inference)?.0)
    }

    /// The training path (packed sequences, every op with a backward):
    /// (hidden [t, hidden], routing of MoE layers).
    pub fn forward_train(
        &self,
        x: &Tensor,
        rope: &RopeTables,
        segments: &[usize],
        fused: bool,
    ) -> Result<(Tensor, Option<RouterOutput>)> {
        let h = self.input_layernorm.forward_train(x, fused)?;
        let x = (x + self.self_attn.forward_train(&h, rope, segments, fused)?)?;
        self.feed_forward(&x, Pass::Train { fused })
    }

    pub fn forward(
        &self,
        x: &Tensor,
        rope: &RopeTables,
        path: AttnPath,
        blocks: StreamBlocks,
        observe: AttnObserve<'_>,
    ) -> Result<LayerOutput> {
        let h = time(Part::Norms, || self.input_layernorm.forward(x))?;
        let attn = self.self_attn.forward(&h, rope, path, blocks, observe)?;
        let x = (x + &attn.out)?;
        let (hidden, routing) = self.feed_forward(&x, Pass::Inference)?;
        Ok(LayerOutput {
            hidden,
            attn,
            routing,
        })
    }
}
