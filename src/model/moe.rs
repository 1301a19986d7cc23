//! Feed-forward blocks: the SwiGLU MLP (dense layers and each expert) and the
//! sparse MoE block that dispatches tokens to experts chosen by the router.

use candle_core::{Tensor, D};
use candle_nn::VarBuilder;

use super::linear::Linear;
use super::router::{Router, RouterOutput};
use crate::error::Result;

/// down(silu(gate(x)) · up(x)).
#[derive(Debug, Clone)]
pub struct Mlp {
    pub gate_proj: Linear,
    pub up_proj: Linear,
    pub down_proj: Linear,
}

impl Mlp {
    pub fn load(hidden: usize, intermediate: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Mlp {
            gate_proj: Linear::load(hidden, intermediate, false, vb.pp("gate_proj"))?,
            up_proj: Linear::load(hidden, intermediate, false, vb.pp("up_proj"))?,
            down_proj: Linear::load(intermediate, hidden, false, vb.pp("down_proj"))?,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let g = candle_nn::ops::silu(&self.gate_proj.forward(x)?)?;
        let u = self.up_proj.forward(x)?;
        self.down_proj.forward(&(g * u)?)
    }
}

/// The sparse MoE block: router + experts.
#[derive(Debug, Clone)]
pub struct SparseMoe {
    pub router: Router,
    pub experts: Vec<Mlp>,
}

impl SparseMoe {
    pub fn load(
        hidden: usize,
        intermediate: usize,
        num_experts: usize,
        top_k: usize,
        norm_topk_prob: bool,
        vb: VarBuilder,
    ) -> Result<Self> {
        let router = Router::load(hidden, num_experts, top_k, norm_topk_prob, vb.pp("gate"))?;
        let experts = (0..num_experts)
            .map(|e| Mlp::load(hidden, intermediate, vb.pp("experts").pp(e)))
            .collect::<Result<Vec<_>>>()?;
        Ok(SparseMoe { router, experts })
    }

    /// Mixes expert outputs for x [t, hidden] according to `routing`.
    pub fn forward(&self, x: &Tensor, routing: &RouterOutput) -> Result<Tensor> {
        let (t, _) = x.dims2()?;
        let k = routing.top_k;
        // 1. tokens (and flat slot positions t*k + s) per expert
        let mut tokens: Vec<Vec<u32>> = vec![Vec::new(); self.experts.len()];
        let mut slots: Vec<Vec<u32>> = vec![Vec::new(); self.experts.len()];
        for (pos, &e) in routing.topk_ids.iter().enumerate() {
            tokens[e as usize].push((pos / k) as u32);
            slots[e as usize].push(pos as u32);
        }
        let combine = routing.combine.flatten_all()?;
        // 2. each expert on its tokens, scaled by the combine weight, scattered back
        let mut y = x.zeros_like()?;
        for (e, expert) in self.experts.iter().enumerate() {
            if tokens[e].is_empty() {
                continue;
            }
            let n = tokens[e].len();
            let tok = Tensor::from_slice(&tokens[e], n, x.device())?;
            let slot = Tensor::from_slice(&slots[e], n, x.device())?;
            let xe = x.index_select(&tok, 0)?;
            let w = combine.index_select(&slot, 0)?.unsqueeze(D::Minus1)?;
            let ye = expert.forward(&xe)?.broadcast_mul(&w)?;
            y = y.index_add(&tok, &ye, 0)?;
        }
        debug_assert_eq!(y.dims2()?.0, t);
        Ok(y)
    }
}
