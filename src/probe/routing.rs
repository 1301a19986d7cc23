//! Routing statistics per MoE layer (definitions in the METRICS notes):
//! expert counts in the top-k, probability mass, co-activation over all
//! k(k−1)/2 pairs of each token's top-k set, router entropy and top-k mass.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::hook::{HookPoint, Probe};
use crate::model::router::RouterOutput;

/// Sums for one layer; divide by `n_tokens` for means.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingStats {
    pub num_experts: usize,
    pub top_k: usize,
    pub n_tokens: u64,
    /// Times each expert was in a token's top-k, [E].
    pub counts: Vec<u64>,
    /// Times each expert was the top-1 choice, [E].
    pub top1_counts: Vec<u64>,
    /// Σ_t p_{t,e}, [E].
    pub prob_sum: Vec<f64>,
    /// N_{i,j}: tokens whose top-k holds both i and j (i ≠ j; symmetric), [E, E].
    pub coact: Vec<u64>,
    /// Σ_t H(p_t) in nats.
    pub entropy_sum: f64,
    /// Σ_t Σ_{e∈S_t} p_{t,e} (before renormalising).
    pub topk_mass_sum: f64,
}

impl RoutingStats {
    pub fn new(num_experts: usize, top_k: usize) -> Self {
        RoutingStats {
            num_experts,
            top_k,
            n_tokens: 0,
            counts: vec![0; num_experts],
            top1_counts: vec![0; num_experts],
            prob_sum: vec![0.0; num_experts],
            coact: vec![0; num_experts * num_experts],
            entropy_sum: 0.0,
            topk_mass_sum: 0.0,
        }
    }

    /// Adds the tokens of one router call.
    pub fn add(&mut self, r: &RouterOutput) -> Result<()> {
        let e = self.num_experts;
        if r.num_experts != e || r.top_k != self.top_k {
            return Err(Error::Input(format!(
                "routing of {} experts top-{} cannot be added to statistics of {} experts top-{}",
                r.num_experts, r.top_k, e, self.top_k
            )));
        }
        let probs = r.probs.flatten_all()?.to_vec1::<f32>()?;
        for (t, row) in probs.chunks_exact(e).enumerate() {
            let ids = &r.topk_ids[t * self.top_k..(t + 1) * self.top_k];
            self.n_tokens += 1;
            self.top1_counts[ids[0] as usize] += 1;
            let mut mass = 0f64;
            for (a, &i) in ids.iter().enumerate() {
                self.counts[i as usize] += 1;
                mass += row[i as usize] as f64;
                for &j in &ids[a + 1..] {
                    self.coact[i as usize * e + j as usize] += 1;
                    self.coact[j as usize * e + i as usize] += 1;
                }
            }
            self.topk_mass_sum += mass;
            let mut h = 0f64;
            for (acc, &p) in self.prob_sum.iter_mut().zip(row) {
                *acc += p as f64;
                if p > 0.0 {
                    h -= p as f64 * (p as f64).ln();
                }
            }
            self.entropy_sum += h;
        }
        Ok(())
    }

    pub fn merge(&mut self, o: &RoutingStats) -> Result<()> {
        if o.num_experts != self.num_experts || o.top_k != self.top_k {
            return Err(Error::Input(
                "cannot merge routing statistics of different shapes".into(),
            ));
        }
        self.n_tokens += o.n_tokens;
        self.counts
            .iter_mut()
            .zip(&o.counts)
            .for_each(|(a, b)| *a += b);
        self.top1_counts
            .iter_mut()
            .zip(&o.top1_counts)
            .for_each(|(a, b)| *a += b);
        self.prob_sum
            .iter_mut()
            .zip(&o.prob_sum)
            .for_each(|(a, b)| *a += b);
        self.coact
            .iter_mut()
            .zip(&o.coact)
            .for_each(|(a, b)| *a += b);
        self.entropy_sum += o.entropy_sum;
        self.topk_mass_sum += o.topk_mass_sum;
        Ok(())
    }

    /// Expert frequency f_e = count_e / (N k).
    pub fn frequency(&self) -> Vec<f64> {
        let denom = (self.n_tokens * self.top_k as u64).max(1) as f64;
        self.counts.iter().map(|&c| c as f64 / denom).collect()
    }

    /// Mean probability mass P_e.
    pub fn prob_mass(&self) -> Vec<f64> {
        let n = self.n_tokens.max(1) as f64;
        self.prob_sum.iter().map(|&p| p / n).collect()
    }

    /// Co-activation CoAct(i, j) = N_{i,j} / N_i, [E, E].
    pub fn coactivation(&self) -> Vec<f64> {
        let e = self.num_experts;
        (0..e * e)
            .map(|ij| {
                let ni = self.counts[ij / e];
                if ni == 0 {
                    0.0
                } else {
                    self.coact[ij] as f64 / ni as f64
                }
            })
            .collect()
    }

    /// Usage entropy H(f) / ln E.
    pub fn usage_entropy(&self) -> f64 {
        let f = self.frequency();
        let h: f64 = f.iter().filter(|&&x| x > 0.0).map(|&x| -x * x.ln()).sum();
        h / (self.num_experts as f64).ln()
    }

    /// Mean router entropy H(p_t) (nats).
    pub fn mean_entropy(&self) -> f64 {
        self.entropy_sum / self.n_tokens.max(1) as f64
    }

    /// Switch-style load-balancing loss E Σ_e f_e P_e.
    pub fn load_balance_loss(&self) -> f64 {
        let (f, p) = (self.frequency(), self.prob_mass());
        self.num_experts as f64 * f.iter().zip(&p).map(|(a, b)| a * b).sum::<f64>()
    }
}

/// Routing statistics for every probed layer (BTreeMap: ordered by layer).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RoutingAccumulator {
    /// Layers to observe; empty = every MoE layer.
    pub layers: Vec<usize>,
    pub per_layer: BTreeMap<usize, RoutingStats>,
}

impl RoutingAccumulator {
    pub fn new(layers: Vec<usize>) -> Self {
        RoutingAccumulator {
            layers,
            per_layer: BTreeMap::new(),
        }
    }

    pub fn merge(&mut self, o: &RoutingAccumulator) -> Result<()> {
        for (l, s) in &o.per_layer {
            match self.per_layer.get_mut(l) {
                Some(mine) => mine.merge(s)?,
                None => {
                    self.per_layer.insert(*l, s.clone());
                }
            }
        }
        Ok(())
    }
}

impl Probe for RoutingAccumulator {
    fn wants(&self, at: HookPoint) -> bool {
        matches!(at, HookPoint::Router(l) if self.layers.is_empty() || self.layers.contains(&l))
    }
    fn layers(&self) -> Vec<usize> {
        self.layers.clone()
    }
    fn on_router(&mut self, layer: usize, r: &RouterOutput) -> Result<()> {
        self.per_layer
            .entry(layer)
            .or_insert_with(|| RoutingStats::new(r.num_experts, r.top_k))
            .add(r)
    }
}
