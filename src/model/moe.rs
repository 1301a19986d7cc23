//! Feed-forward blocks: the SwiGLU MLP (dense layers and each expert) and the
//! sparse MoE block that dispatches tokens to experts chosen by the router.

use super::profile::{time, Part};
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

/// The routed rows ([rows, hidden] f32) one dispatch step of the MoE block
/// gathers at most: with 8 of 128 experts per token, gathering every routed
/// row at once would take 2 GB per copy at 32K tokens of hidden 2048.
pub const DISPATCH_BYTES: usize = 256 << 20;

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
        let max_rows = (DISPATCH_BYTES / (x.dim(1)? * 4)).max(1);
        if !super::profile::on() {
            return self.forward_in_steps(x, routing, max_rows);
        }
        // the breakdown's dispatch is the whole block less the experts' GEMMs
        let before = super::profile::seconds_of(Part::Experts);
        let t0 = std::time::Instant::now();
        let y = self.forward_in_steps(x, routing, max_rows);
        let experts = super::profile::seconds_of(Part::Experts) - before;
        super::profile::add(Part::Dispatch, t0.elapsed().as_secs_f64() - experts);
        y
    }

    /// [`Self::forward`] gathering at most `max_rows` routed rows per step
    /// (whole experts; an expert with more rows is a step alone).
    fn forward_in_steps(
        &self,
        x: &Tensor,
        routing: &RouterOutput,
        max_rows: usize,
    ) -> Result<Tensor> {
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
        let combine = routing.combine.flatten_all()?;
        // 2. in steps of whole experts: gather their routed tokens, run each
        // expert on its rows, scale by the combine weights and add back per
        // token. The sums run in slot order (experts in id order) whatever
        // the steps, so the result does not depend on `max_rows`.
        let mut y = x.zeros_like()?;
        let (mut e0, mut start) = (0, 0);
        while e0 < n_experts {
            let (mut e1, mut rows) = (e0, 0);
            while e1 < n_experts && (rows == 0 || rows + counts[e1] <= max_rows) {
                rows += counts[e1];
                e1 += 1;
            }
            if rows > 0 {
                let tok = tok.narrow(0, start, rows)?;
                let xs = x.index_select(&tok, 0)?;
                // the routed experts of the step and their row counts
                let mut mlps = Vec::with_capacity(e1 - e0);
                let mut ns = Vec::with_capacity(e1 - e0);
                for (e, &n) in counts.iter().enumerate().take(e1).skip(e0) {
                    if n > 0 {
                        mlps.push(self.experts.get(e)?);
                        ns.push(n);
                    }
                }
                let ys = time(Part::Experts, || -> Result<Tensor> {
                    // grouped on the CPU in f32; candle's per-expert matmuls otherwise
                    if let Some(ys) = super::experts_cpu::grouped(&xs, &mlps, &ns)? {
                        return Ok(ys);
                    }
                    let mut outs = Vec::with_capacity(mlps.len());
                    let mut offset = 0;
                    for (m, &n) in mlps.iter().zip(&ns) {
                        outs.push(m.forward(&xs.narrow(0, offset, n)?)?);
                        offset += n;
                    }
                    Ok(Tensor::cat(&outs, 0)?)
                })?;
                let w = combine
                    .index_select(&slots.narrow(0, start, rows)?, 0)?
                    .unsqueeze(D::Minus1)?;
                y = y.index_add(&tok, &ys.broadcast_mul(&w)?, 0)?;
            }
            start += rows;
            e0 = e1;
        }
        debug_assert_eq!(y.dims2()?.0, t);
        Ok(y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use std::collections::HashMap;

    #[test]
    fn dispatch_steps_do_not_change_the_result() {
        let (hidden, inter, experts, top_k, t) = (16, 8, 6, 2, 50);
        let dev = Device::Cpu;
        let mut w = HashMap::new();
        let mut seed = 1u64;
        let mut rand = |shape: &[usize]| super::super::random::lcg_tensor(&mut seed, shape, 0.8);
        w.insert("gate.weight".to_string(), rand(&[experts, hidden]));
        for e in 0..experts {
            for (n, s) in [
                ("gate_proj", [inter, hidden]),
                ("up_proj", [inter, hidden]),
                ("down_proj", [hidden, inter]),
            ] {
                w.insert(format!("experts.{e}.{n}.weight"), rand(&s));
            }
        }
        let x = rand(&[t, hidden]);
        let vb = VarBuilder::from_tensors(w, DType::F32, &dev);
        let moe = SparseMoe::load(hidden, inter, experts, top_k, true, vb).unwrap();
        let r = moe.router.route(&x).unwrap();
        let bits = |y: Tensor| -> Vec<u32> {
            y.flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
                .into_iter()
                .map(f32::to_bits)
                .collect()
        };
        let whole = bits(moe.forward_in_steps(&x, &r, usize::MAX).unwrap());
        for rows in [1, 7, 30] {
            assert_eq!(
                whole,
                bits(moe.forward_in_steps(&x, &r, rows).unwrap()),
                "{rows} rows a step"
            );
        }
        assert_eq!(whole, bits(moe.forward(&x, &r).unwrap()));
    }
}
