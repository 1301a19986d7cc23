//! Causal interventions on a loaded model (`acc-probe ablate`):
//!
//! - **experts removed from routing** at a layer: the router gives them
//!   probability 0, so the softmax renormalises over the remaining experts and
//!   the top-k choice and its combine weights come from those (HF's rule for
//!   the combine weights is unchanged: renormalised iff `norm_topk_prob`);
//! - **heads clamped to a local window** at a layer: query i of a clamped head
//!   attends only to keys j with i − W < j ≤ i, renormalised within the window.
//!
//! The model keeps its interventions and [`apply`]s them to each layer's
//! router and attention modules (held layers at once, streamed layers as they
//! are built), so every inference path honours them (`forward`,
//! `forward_cached`, and so generation and evaluation); clamped heads run on
//! the materialised attention path. The training path refuses an intervened
//! model.

use std::collections::BTreeMap;

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::decoder::{DecoderLayer, FeedForward};
use super::qwen3_moe::Qwen3Moe;
use crate::error::{Error, Result};

/// Attention heads of one layer clamped to a local window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadClamp {
    /// Query heads, ascending.
    pub heads: Vec<usize>,
    /// Keys at distance < `window` stay visible (≥ 1: the diagonal is kept).
    pub window: usize,
}

impl HeadClamp {
    /// The additive mask [heads, tq, tk] of queries at offset..offset+tq against
    /// keys 0..tk: causal for every head, and the window for clamped heads.
    pub fn mask(
        &self,
        heads: usize,
        tq: usize,
        tk: usize,
        offset: usize,
        device: &Device,
    ) -> Result<Tensor> {
        let mut m = Vec::with_capacity(heads * tq * tk);
        for h in 0..heads {
            let clamped = self.heads.binary_search(&h).is_ok();
            for i in 0..tq {
                let pos = i + offset;
                m.extend((0..tk).map(|j| {
                    let visible = j <= pos && (!clamped || pos - j < self.window);
                    if visible {
                        0.0
                    } else {
                        f32::NEG_INFINITY
                    }
                }));
            }
        }
        Ok(Tensor::from_vec(m, (heads, tq, tk), device)?)
    }
}

/// The interventions applied to a model, by layer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interventions {
    /// Layer → experts removed from its routing (ascending).
    pub experts: BTreeMap<usize, Vec<usize>>,
    /// Layer → heads clamped to a local window.
    pub heads: BTreeMap<usize, HeadClamp>,
}

impl Interventions {
    /// No intervention at all.
    pub fn is_empty(&self) -> bool {
        self.experts.values().all(Vec::is_empty) && self.heads.values().all(|c| c.heads.is_empty())
    }

    /// Removes `experts` from the routing of `layer`.
    pub fn remove_experts(layer: usize, experts: &[usize]) -> Self {
        let mut e = experts.to_vec();
        e.sort_unstable();
        Interventions {
            experts: BTreeMap::from([(layer, e)]),
            heads: BTreeMap::new(),
        }
    }

    /// Clamps `heads` of `layer` to a local window of `window` keys.
    pub fn clamp_heads(layer: usize, heads: &[usize], window: usize) -> Self {
        let mut h = heads.to_vec();
        h.sort_unstable();
        Interventions {
            experts: BTreeMap::new(),
            heads: BTreeMap::from([(layer, HeadClamp { heads: h, window })]),
        }
    }

    /// A one-line description, e.g. "layer 20 experts [1, 5]; layer 3 heads [0] window 64".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (l, e) in &self.experts {
            parts.push(format!("layer {l} experts {e:?} removed"));
        }
        for (l, c) in &self.heads {
            parts.push(format!(
                "layer {l} heads {:?} clamped to window {}",
                c.heads, c.window
            ));
        }
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join("; ")
        }
    }
}

fn check_distinct(what: &str, layer: usize, ids: &[usize], limit: usize) -> Result<()> {
    if let Some(&bad) = ids.iter().find(|&&x| x >= limit) {
        return Err(Error::OutOfRange {
            what: format!("{what} at layer {layer}"),
            value: bad.to_string(),
            valid: format!("0..={}", limit - 1),
        });
    }
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    if sorted.windows(2).any(|w| w[0] == w[1]) {
        return Err(Error::Input(format!(
            "{what} at layer {layer}: {ids:?} names one twice"
        )));
    }
    Ok(())
}

impl Qwen3Moe {
    /// A copy of this model (weights shared) with `iv` applied in place of any
    /// earlier interventions. Layers, experts and heads are checked against
    /// the config; at least `num_experts_per_tok` experts must remain.
    pub fn with_interventions(&self, iv: &Interventions) -> Result<Qwen3Moe> {
        let cfg = &self.config;
        let n_layers = cfg.num_hidden_layers;
        let layer_ok = |l: usize| -> Result<()> {
            if l >= n_layers {
                return Err(Error::OutOfRange {
                    what: "intervention layer".into(),
                    value: l.to_string(),
                    valid: format!("0..={}", n_layers - 1),
                });
            }
            Ok(())
        };
        let mut checked = Interventions::default();
        for (&l, experts) in &iv.experts {
            layer_ok(l)?;
            check_distinct("expert", l, experts, cfg.num_experts)?;
            let remaining = cfg.num_experts - experts.len();
            if remaining < cfg.num_experts_per_tok {
                return Err(Error::Input(format!(
                    "removing {} of {} experts at layer {l} leaves {remaining}, fewer than \
                     the {} each token is routed to",
                    experts.len(),
                    cfg.num_experts,
                    cfg.num_experts_per_tok
                )));
            }
            if !cfg.is_moe_layer(l) {
                return Err(Error::Input(format!(
                    "layer {l} is a dense MLP layer (mlp_only_layers / decoder_sparse_step): \
                     it has no experts to remove"
                )));
            }
            let mut e = experts.clone();
            e.sort_unstable();
            if !e.is_empty() {
                checked.experts.insert(l, e);
            }
        }
        for (&l, clamp) in &iv.heads {
            layer_ok(l)?;
            check_distinct("head", l, &clamp.heads, cfg.num_attention_heads)?;
            if clamp.window == 0 {
                return Err(Error::Input(format!(
                    "head clamp at layer {l}: the window must be at least 1 key"
                )));
            }
            let mut c = clamp.clone();
            c.heads.sort_unstable();
            checked.heads.insert(l, c);
        }
        let mut m = self.clone();
        m.set_interventions(checked);
        Ok(m)
    }
}

/// Sets layer `l`'s part of `iv` on its modules, replacing what they had.
pub(crate) fn apply(layer: &mut DecoderLayer, l: usize, iv: &Interventions) {
    layer.self_attn.local_clamp = iv.heads.get(&l).cloned();
    if let FeedForward::Moe(moe) = &mut layer.mlp {
        moe.router.removed = iv
            .experts
            .get(&l)
            .map(|e| e.iter().map(|&x| x as u32).collect())
            .unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamp_mask_keeps_the_window_and_causality() {
        let c = HeadClamp {
            heads: vec![1],
            window: 2,
        };
        let m = c
            .mask(2, 2, 4, 2, &Device::Cpu)
            .unwrap()
            .to_vec3::<f32>()
            .unwrap();
        let vis = |h: usize, i: usize| -> Vec<bool> { m[h][i].iter().map(|v| *v == 0.0).collect() };
        // head 0: causal only (query positions 2 and 3)
        assert_eq!(vis(0, 0), [true, true, true, false]);
        assert_eq!(vis(0, 1), [true, true, true, true]);
        // head 1: distance < 2
        assert_eq!(vis(1, 0), [false, true, true, false]);
        assert_eq!(vis(1, 1), [false, false, true, true]);
    }

    #[test]
    fn describe_names_every_intervention() {
        assert_eq!(Interventions::default().describe(), "none");
        assert!(Interventions::default().is_empty());
        let iv = Interventions::remove_experts(3, &[5, 1]);
        assert_eq!(iv.experts[&3], vec![1, 5]);
        assert_eq!(iv.describe(), "layer 3 experts [1, 5] removed");
        let iv = Interventions::clamp_heads(2, &[0], 64);
        assert!(iv.describe().contains("window 64"));
    }
}
