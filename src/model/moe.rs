//! Feed-forward blocks: the SwiGLU MLP (dense layers and each expert) and the
//! sparse MoE block that dispatches tokens to experts chosen by the router.

use std::sync::OnceLock;

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

/// The experts of one MoE layer.
#[derive(Clone)]
pub enum Experts {
    /// Every expert built at load (resident weights).
    Built(Vec<Mlp>),
    /// Each expert built from the layer's weights the first time a token
    /// routes to it, then kept while the layer lives (streamed weights,
    /// [`super::stream`]): an expert no token chooses is never converted.
    OnDemand {
        vb: VarBuilder<'static>,
        hidden: usize,
        intermediate: usize,
        built: std::sync::Arc<Vec<OnceLock<Mlp>>>,
    },
}

impl std::fmt::Debug for Experts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Experts::Built(e) => f.debug_tuple("Built").field(&e.len()).finish(),
            Experts::OnDemand { built, .. } => f
                .debug_struct("OnDemand")
                .field("experts", &built.len())
                .field("built", &self.built_count())
                .finish(),
        }
    }
}

impl Experts {
    /// Experts whose weights are read from `vb.pp(e)` when first used.
    pub fn on_demand(
        vb: VarBuilder<'static>,
        hidden: usize,
        intermediate: usize,
        n: usize,
    ) -> Self {
        Experts::OnDemand {
            vb,
            hidden,
            intermediate,
            built: std::sync::Arc::new((0..n).map(|_| OnceLock::new()).collect()),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Experts::Built(e) => e.len(),
            Experts::OnDemand { built, .. } => built.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Expert `e`, built now if it is built on demand and was not yet.
    pub fn get(&self, e: usize) -> Result<&Mlp> {
        match self {
            Experts::Built(v) => Ok(&v[e]),
            Experts::OnDemand {
                vb,
                hidden,
                intermediate,
                built,
            } => {
                let cell = &built[e];
                if cell.get().is_none() {
                    let mlp = Mlp::load(*hidden, *intermediate, vb.pp(e))?;
                    let _ = cell.set(mlp);
                }
                Ok(cell.get().expect("set above"))
            }
        }
    }

    /// How many experts are built (all of them when built at load).
    pub fn built_count(&self) -> usize {
        match self {
            Experts::Built(v) => v.len(),
            Experts::OnDemand { built, .. } => built.iter().filter(|c| c.get().is_some()).count(),
        }
    }
}

/// The sparse MoE block: router + experts.
#[derive(Debug, Clone)]
pub struct SparseMoe {
    pub router: Router,
    pub experts: Experts,
}

impl SparseMoe {
    /// The block with every expert built now.
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
        Ok(SparseMoe {
            router,
            experts: Experts::Built(experts),
        })
    }

    /// The block with its router built now and each expert when a token
    /// first routes to it ([`Experts::OnDemand`]).
    pub fn load_on_demand(
        hidden: usize,
        intermediate: usize,
        num_experts: usize,
        top_k: usize,
        norm_topk_prob: bool,
        vb: VarBuilder<'static>,
    ) -> Result<Self> {
        let router = Router::load(hidden, num_experts, top_k, norm_topk_prob, vb.pp("gate"))?;
        Ok(SparseMoe {
            router,
            experts: Experts::on_demand(vb.pp("experts"), hidden, intermediate, num_experts),
        })
    }

    /// Mixes expert outputs for x [t, hidden] according to `routing`.
    pub fn forward(&self, x: &Tensor, routing: &RouterOutput) -> Result<Tensor> {
        let (t, _) = x.dims2()?;
        let k = routing.top_k;
        let n_experts = self.experts.len();
        // 1. the t·k slots grouped by expert (counting sort; within an expert, token order)
        let mut counts = vec![0usize; n_experts];
        for &e in &routing.topk_ids {
            counts[e as usize] += 1;
        }
        let mut next: Vec<usize> = counts
            .iter()
            .scan(0, |acc, &c| {
                let start = *acc;
                *acc += c;
                Some(start)
            })
            .collect();
        let mut slot_order = vec![0u32; t * k];
        for (pos, &e) in routing.topk_ids.iter().enumerate() {
            slot_order[next[e as usize]] = pos as u32;
            next[e as usize] += 1;
        }
        let tokens: Vec<u32> = slot_order.iter().map(|&p| p / k as u32).collect();
        let tok = Tensor::from_vec(tokens, t * k, x.device())?;
        let slots = Tensor::from_vec(slot_order, t * k, x.device())?;
        // 2. gather the routed tokens once [t·k, hidden], run each expert on its rows
        let xs = x.index_select(&tok, 0)?;
        let mut outs = Vec::with_capacity(n_experts);
        let mut offset = 0;
        for (e, &n) in counts.iter().enumerate() {
            if n > 0 {
                outs.push(self.experts.get(e)?.forward(&xs.narrow(0, offset, n)?)?);
            }
            offset += n;
        }
        let ys = if outs.len() == 1 {
            outs.pop().expect("one expert")
        } else {
            Tensor::cat(&outs, 0)?
        };
        // 3. scale by the combine weights and add back per token (experts in id order)
        let w = routing
            .combine
            .flatten_all()?
            .index_select(&slots, 0)?
            .unsqueeze(D::Minus1)?;
        let y = x.zeros_like()?.index_add(&tok, &ys.broadcast_mul(&w)?, 0)?;
        debug_assert_eq!(y.dims2()?.0, t);
        Ok(y)
    }
}
