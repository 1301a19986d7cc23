//! The loss of one packed sequence: masked next-token cross-entropy plus the
//! router load-balancing loss of HF transformers' Qwen3-MoE
//! (`load_balancing_loss_func`): over the tokens of every MoE layer,
//! E · Σ_e f_e · P_e with f_e the fraction of top-k slots routed to expert e
//! and P_e the mean router probability of e.

use std::collections::HashMap;

use candle_core::{Tensor, Var};
use rayon::prelude::*;

use super::data::Pack;
use crate::error::Result;
use crate::model::ops::cross_entropy_rows;
use crate::model::router::RouterOutput;
use crate::model::Qwen3Moe;

/// One pack's loss terms.
pub struct PackLoss {
    /// The scalar to differentiate: ce_weight · Σ CE + aux_weight · aux.
    pub total: Tensor,
    /// Σ of the per-token cross-entropies over the pack's targets.
    pub ce_sum: f64,
    pub targets: usize,
    /// The load-balancing loss (before its coefficient).
    pub aux: f64,
}

/// Rows (positions) whose next token is a target: position i predicts i + 1
/// within the same segment. Returns (weights over rows 0..t−1, count).
fn target_rows(pack: &Pack) -> (Vec<f32>, usize) {
    let t = pack.ids.len();
    let mut w = vec![0f32; t.saturating_sub(1)];
    let mut start = 0;
    let mut n = 0;
    for &len in &pack.segments {
        for i in start + 1..start + len {
            if pack.target[i] {
                w[i - 1] = 1.0;
                n += 1;
            }
        }
        start += len;
    }
    (w, n)
}

/// The load-balancing loss over the routing of every MoE layer.
pub fn load_balancing(routing: &[RouterOutput]) -> Result<Option<Tensor>> {
    let Some(first) = routing.first() else {
        return Ok(None);
    };
    let e = first.num_experts;
    let mut counts = vec![0f32; e];
    let mut rows = 0usize;
    let mut prob_sum: Option<Tensor> = None;
    for r in routing {
        for &id in &r.topk_ids {
            counts[id as usize] += 1.0;
        }
        rows += r.n_tokens();
        let s = r.probs.sum(0)?;
        prob_sum = Some(match prob_sum {
            Some(p) => (p + s)?,
            None => s,
        });
    }
    let p = (prob_sum.expect("at least one layer") / rows as f64)?;
    let f = Tensor::from_vec(
        counts.iter().map(|c| c / rows as f32).collect::<Vec<_>>(),
        e,
        p.device(),
    )?;
    Ok(Some(((p * f)?.sum_all()? * e as f64)?))
}

/// Forward pass and loss of one pack. The cross-entropy is summed over the
/// pack's targets and scaled by `ce_weight` (1 / targets of the whole step,
/// so that accumulated gradients are those of the step's mean); the
/// auxiliary loss is scaled by `aux_weight` (coefficient / packs per step).
pub fn pack_loss(
    model: &Qwen3Moe,
    pack: &Pack,
    fused: bool,
    ce_weight: f64,
    aux_weight: f64,
) -> Result<PackLoss> {
    let (logits, routing) = model.forward_packed(&pack.ids, &pack.segments, fused)?;
    let t = pack.ids.len();
    let (w, targets) = target_rows(pack);
    let dev = logits.device();
    let rows = logits.narrow(0, 0, t - 1)?;
    let next = Tensor::from_slice(&pack.ids[1..], t - 1, dev)?;
    let ce = cross_entropy_rows(&rows, &next)?;
    let w = Tensor::from_vec(w, t - 1, dev)?;
    let ce_sum_t = (ce * w)?.sum_all()?;
    let ce_sum = ce_sum_t.to_scalar::<f32>()? as f64;
    let mut total = (&ce_sum_t * ce_weight)?;
    let mut aux = 0.0;
    if let Some(a) = load_balancing(&routing)? {
        aux = a.to_scalar::<f32>()? as f64;
        if aux_weight != 0.0 {
            total = (total + (a * aux_weight)?)?;
        }
    }
    Ok(PackLoss {
        total,
        ce_sum,
        targets,
        aux,
    })
}

/// One pack's loss terms and gradients (host vectors by variable name).
pub struct PackGrads {
    pub ce_sum: f64,
    pub aux: f64,
    pub targets: usize,
    pub grads: HashMap<String, Vec<f32>>,
}

/// Forward, loss and backward of one pack.
pub fn pack_grads(
    model: &Qwen3Moe,
    vars: &HashMap<String, Var>,
    pack: &Pack,
    fused: bool,
    ce_weight: f64,
    aux_weight: f64,
) -> Result<PackGrads> {
    let l = pack_loss(model, pack, fused, ce_weight, aux_weight)?;
    let mut grads = HashMap::with_capacity(vars.len());
    if l.ce_sum.is_finite() && l.aux.is_finite() {
        let g = l.total.backward()?;
        for (name, var) in vars {
            if let Some(gt) = g.get(var.as_tensor()) {
                grads.insert(name.clone(), gt.flatten_all()?.to_vec1::<f32>()?);
            }
        }
    }
    Ok(PackGrads {
        ce_sum: l.ce_sum,
        aux: l.aux,
        targets: l.targets,
        grads,
    })
}

/// [`pack_grads`] for every pack, `workers` at a time on rayon's pool (each
/// pack's kernels then run single-threaded: set `RAYON_NUM_THREADS=1`, as
/// `acc-probe train --workers` does). Results come back in pack order.
pub fn packs_grads(
    model: &Qwen3Moe,
    vars: &HashMap<String, Var>,
    packs: &[&Pack],
    fused: bool,
    ce_weight: f64,
    aux_weight: f64,
    workers: usize,
) -> Vec<Result<PackGrads>> {
    let one = |p: &&Pack| pack_grads(model, vars, p, fused, ce_weight, aux_weight);
    if workers > 1 && packs.len() > 1 {
        packs.par_iter().with_max_len(1).map(one).collect()
    } else {
        packs.iter().map(one).collect()
    }
}

/// Adds `g` into `acc` (the sums run in pack order, so the result does not
/// depend on how many workers computed the packs).
pub fn accumulate(acc: &mut HashMap<String, Vec<f32>>, g: HashMap<String, Vec<f32>>) {
    for (name, gv) in g {
        match acc.get_mut(&name) {
            Some(a) => a.iter_mut().zip(&gv).for_each(|(a, b)| *a += b),
            None => {
                acc.insert(name, gv);
            }
        }
    }
}
