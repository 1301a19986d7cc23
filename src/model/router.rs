//! The MoE router: the one place routing is computed.
//!
//! z = x W_gateᵀ (raw logits, captured before any softmax), p = softmax(z) over
//! all experts, S = the top-k experts by descending probability (ties: lower
//! expert id first), combine weights p_S, renormalised to sum to 1 iff
//! `norm_topk_prob` — the rule of HF transformers' Qwen3-MoE router.

use candle_core::{DType, Tensor, D};
use candle_nn::VarBuilder;

use super::ops::Softmax;
use crate::error::Result;

#[derive(Debug, Clone)]
pub struct Router {
    /// [num_experts, hidden]
    pub weight: Tensor,
    pub top_k: usize,
    pub norm_topk_prob: bool,
    /// Experts removed from routing (an intervention, [`super::intervene`]):
    /// their probability is 0 and the softmax runs over the others. Empty
    /// for the model as trained.
    pub removed: Vec<u32>,
}

/// Everything the router decided for a batch of tokens.
#[derive(Debug, Clone)]
pub struct RouterOutput {
    /// Raw logits [t, E].
    pub logits: Tensor,
    /// Softmax over all experts [t, E].
    pub probs: Tensor,
    /// Top-k expert ids per token, descending probability, row-major [t * k].
    pub topk_ids: Vec<u32>,
    /// Combine weights [t, k] (differentiable with respect to the logits).
    pub combine: Tensor,
    pub top_k: usize,
    pub num_experts: usize,
}

impl RouterOutput {
    pub fn n_tokens(&self) -> usize {
        self.topk_ids.len() / self.top_k
    }

    /// Top-k ids as an int64 tensor [t, k].
    pub fn topk_tensor(&self) -> Result<Tensor> {
        let ids: Vec<i64> = self.topk_ids.iter().map(|&x| x as i64).collect();
        Ok(Tensor::from_vec(
            ids,
            (self.n_tokens(), self.top_k),
            self.logits.device(),
        )?)
    }
}

impl Router {
    pub fn load(
        hidden: usize,
        num_experts: usize,
        top_k: usize,
        norm_topk_prob: bool,
        vb: VarBuilder,
    ) -> Result<Self> {
        Ok(Router {
            weight: vb.get((num_experts, hidden), "weight")?,
            top_k,
            norm_topk_prob,
            removed: Vec::new(),
        })
    }

    /// Routes x [t, hidden] (inference).
    pub fn route(&self, x: &Tensor) -> Result<RouterOutput> {
        self.route_with(x, Softmax::Inference)
    }

    /// Routes x [t, hidden] with the given softmax implementation.
    pub fn route_with(&self, x: &Tensor, softmax: Softmax) -> Result<RouterOutput> {
        let (t, _) = x.dims2()?;
        let num_experts = self.weight.dim(0)?;
        // 1. raw logits [t, E]
        let logits = x.matmul(&self.weight.t()?)?.to_dtype(DType::F32)?;
        // 2. probabilities over all experts (removed experts: −∞ logits, so
        //    the softmax renormalises over the remaining ones)
        let masked = if self.removed.is_empty() {
            logits.clone()
        } else {
            let mut mask = vec![0f32; num_experts];
            for &e in &self.removed {
                mask[e as usize] = f32::NEG_INFINITY;
            }
            let mask = Tensor::from_vec(mask, num_experts, logits.device())?;
            logits.broadcast_add(&mask)?
        };
        let probs = softmax.last_dim(&masked)?;
        // 3. top-k by descending probability (ties: lower id first)
        let k = self.top_k;
        let host = probs.flatten_all()?.to_vec1::<f32>()?;
        let mut topk_ids = Vec::with_capacity(t * k);
        let mut order: Vec<u32> = (0..num_experts as u32).collect();
        let mut live = vec![true; num_experts];
        for &e in &self.removed {
            live[e as usize] = false;
        }
        for row in host.chunks_exact(num_experts) {
            order
                .iter_mut()
                .enumerate()
                .for_each(|(i, o)| *o = i as u32);
            // a removed expert ranks below every remaining one, even one whose
            // probability underflowed to 0
            let key = |e: u32| {
                if live[e as usize] {
                    row[e as usize]
                } else {
                    -1.0
                }
            };
            let cmp = |a: &u32, b: &u32| {
                key(*b)
                    .partial_cmp(&key(*a))
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then(a.cmp(b))
            };
            if k < num_experts {
                order.select_nth_unstable_by(k - 1, cmp);
            }
            let top = &mut order[..k];
            top.sort_by(cmp);
            topk_ids.extend_from_slice(top);
        }
        // 4. combine weights gathered from the probabilities (stays on the graph)
        let idx = Tensor::from_slice(&topk_ids, (t, k), x.device())?;
        let mut combine = probs.gather(&idx, D::Minus1)?;
        if self.norm_topk_prob {
            combine = combine.broadcast_div(&combine.sum_keepdim(D::Minus1)?)?;
        }
        Ok(RouterOutput {
            logits,
            probs,
            topk_ids,
            combine,
            top_k: k,
            num_experts,
        })
    }
}
