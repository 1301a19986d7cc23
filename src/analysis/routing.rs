//! Base-vs-ACC routing comparison of one task: expert frequencies per layer
//! (pooled over examples, with bootstrap bands, JS with CI and a permutation
//! p-value), the top experts, router confidence, co-activation, and the two
//! routers' agreement on identical tokens. Definitions follow the project's
//! METRICS notes (frequency f_e = N_e/(N k); CoAct(i,j) = N_ij/N_i over all
//! pairs of a token's top-k; overlap = mean |S_t ∩ S'_t| / k; token-level
//! KL(p_base ‖ p_acc) between the two routers' full softmax on each token).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::attention::{top_scored, LayerChoice};
use super::bootstrap::{mean_ci, MeanCi};
use super::divergence::{js, mean_of};
use super::paired::{
    compare_distributions, paired_scalar, DistributionComparison, PairedOptions, PairedScalar,
};
use crate::error::{Error, Result};
use crate::probe::routing::RoutingStats;

/// One example's routing in one layer, for both models.
pub struct ExampleRouting<'a> {
    pub base: &'a RoutingStats,
    pub acc: &'a RoutingStats,
    /// Top-k ids per token, row-major (identical tokens for both).
    pub base_topk: &'a [u32],
    pub acc_topk: &'a [u32],
    /// Router probabilities per token, row-major [tokens * E].
    pub base_probs: &'a [f32],
    pub acc_probs: &'a [f32],
}

/// One reported layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingLayer {
    pub layer: usize,
    /// Expert frequency f_e, base vs ACC.
    pub frequency: DistributionComparison,
    /// The top experts by max(f_base, f_acc), most used first.
    pub top: Vec<usize>,
    /// Mean token router entropy H(p_t), nats.
    pub router_entropy: PairedScalar,
    /// Usage entropy H(f)/ln E of each example.
    pub usage_entropy: PairedScalar,
    /// Router probability on the chosen experts (before renormalising).
    pub topk_mass: PairedScalar,
    /// Mean |S_t ∩ S'_t| / k over an example's tokens (1 = same experts).
    pub overlap: MeanCi,
    pub top1_agreement: MeanCi,
    /// Mean over an example's tokens of KL(p_base,t ‖ p_acc,t), nats.
    pub router_kl: MeanCi,
    /// Pooled co-activation CoAct(i, j), row-major [E, E].
    pub coactivation_base: Vec<f64>,
    pub coactivation_acc: Vec<f64>,
}

/// Everything reported for one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingTask {
    pub task: String,
    pub report_examples: Vec<usize>,
    pub select_examples: Vec<usize>,
    pub choice: LayerChoice,
    /// Frequency comparison of every captured layer (the JS curve).
    pub curve: Vec<(usize, DistributionComparison)>,
    pub layers: Vec<RoutingLayer>,
}

fn overlap(a: &[u32], b: &[u32], k: usize) -> (f64, f64) {
    let n = a.len() / k;
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let (mut ov, mut top1) = (0usize, 0usize);
    for t in 0..n {
        let (sa, sb) = (&a[t * k..(t + 1) * k], &b[t * k..(t + 1) * k]);
        ov += sa.iter().filter(|x| sb.contains(x)).count();
        top1 += usize::from(sa[0] == sb[0]);
    }
    (ov as f64 / (n * k) as f64, top1 as f64 / n as f64)
}

/// Probabilities below this are treated as this in the KL's denominator
/// (an f32 softmax underflows to 0 for very negative logits).
const KL_FLOOR: f64 = 1e-30;

/// Mean over tokens of KL(p_t ‖ q_t) in nats, for row-major [tokens * e]
/// distributions (NaN for no tokens).
fn mean_token_kl(p: &[f32], q: &[f32], e: usize) -> f64 {
    let n = p.len() / e.max(1);
    if n == 0 || p.len() != q.len() {
        return f64::NAN;
    }
    let total: f64 = p
        .chunks(e)
        .zip(q.chunks(e))
        .map(|(pt, qt)| {
            pt.iter()
                .zip(qt)
                .filter(|(a, _)| **a > 0.0)
                .map(|(&a, &b)| {
                    let (a, b) = (a as f64, (b as f64).max(KL_FLOOR));
                    a * (a / b).ln()
                })
                .sum::<f64>()
        })
        .sum();
    total / n as f64
}

fn pooled_coact(stats: &[&RoutingStats]) -> Vec<f64> {
    let mut sum = stats[0].clone();
    for s in &stats[1..] {
        sum.merge(s).expect("same shape");
    }
    sum.coactivation()
}

/// Compares one task: `per_layer[layer][example]`.
pub fn compare_routing_task(
    task: &str,
    per_layer: &BTreeMap<usize, Vec<ExampleRouting<'_>>>,
    choice: &LayerChoice,
    top: usize,
    o: &PairedOptions,
) -> Result<RoutingTask> {
    let n = per_layer.values().next().map_or(0, Vec::len);
    if n == 0 {
        return Err(Error::Input(format!("{task}: no examples")));
    }
    let (select, report) = choice.split_examples(task, n)?;
    let freqs = |l: usize, idx: &[usize], base: bool| -> Vec<Vec<f64>> {
        idx.iter()
            .map(|&i| {
                let x = &per_layer[&l][i];
                if base { x.base } else { x.acc }.frequency()
            })
            .collect()
    };
    let layers: Vec<usize> = match choice {
        LayerChoice::Given(l) => {
            for x in l {
                if !per_layer.contains_key(x) {
                    return Err(Error::Input(format!("{task}: layer {x} was not captured")));
                }
            }
            l.clone()
        }
        LayerChoice::TopChanged { k, skip, .. } => {
            let scored: Vec<(usize, f64)> = per_layer
                .keys()
                .filter(|l| !skip.contains(l))
                .map(|&l| {
                    let (b, a) = (freqs(l, &select, true), freqs(l, &select, false));
                    (l, js(&mean_of(&b, 0..b.len()), &mean_of(&a, 0..a.len())))
                })
                .collect();
            if scored.is_empty() {
                return Err(Error::Input(format!(
                    "{task}: no layer to choose from (all captured layers skipped)"
                )));
            }
            top_scored(scored, *k)
        }
    };
    let seeded = |stream: u64| PairedOptions {
        seed: o.seed.wrapping_mul(0x9E37_79B9).wrapping_add(stream),
        ..*o
    };
    let curve = per_layer
        .keys()
        .map(|&l| {
            Ok((
                l,
                compare_distributions(
                    &freqs(l, &report, true),
                    &freqs(l, &report, false),
                    &seeded(l as u64),
                )?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut out = Vec::new();
    for &l in &layers {
        let ex: Vec<&ExampleRouting<'_>> = report.iter().map(|&i| &per_layer[&l][i]).collect();
        let frequency = curve
            .iter()
            .find(|(x, _)| *x == l)
            .map(|(_, c)| c.clone())
            .expect("captured");
        let mut order: Vec<usize> = (0..frequency.base.len()).collect();
        let m = |e: usize| frequency.base[e].max(frequency.acc[e]);
        order.sort_by(|&a, &b| super::cmp_f64(&m(b), &m(a)).then(a.cmp(&b)));
        order.truncate(top);
        let scalar = |f: fn(&RoutingStats) -> f64, stream: u64| {
            let b: Vec<f64> = ex.iter().map(|x| f(x.base)).collect();
            let a: Vec<f64> = ex.iter().map(|x| f(x.acc)).collect();
            paired_scalar(&b, &a, o, stream)
        };
        let k = ex[0].base.top_k;
        let (ov, t1): (Vec<f64>, Vec<f64>) = ex
            .iter()
            .map(|x| overlap(x.base_topk, x.acc_topk, k))
            .unzip();
        let e = ex[0].base.num_experts;
        let kl: Vec<f64> = ex
            .iter()
            .map(|x| mean_token_kl(x.base_probs, x.acc_probs, e))
            .collect();
        let bs: Vec<&RoutingStats> = ex.iter().map(|x| x.base).collect();
        let as_: Vec<&RoutingStats> = ex.iter().map(|x| x.acc).collect();
        out.push(RoutingLayer {
            layer: l,
            frequency,
            top: order,
            router_entropy: scalar(RoutingStats::mean_entropy, 11),
            usage_entropy: scalar(RoutingStats::usage_entropy, 12),
            topk_mass: scalar(|s| s.topk_mass_sum / s.n_tokens.max(1) as f64, 13),
            overlap: mean_ci(&ov, o.resamples, o.level, o.seed.wrapping_add(14)),
            top1_agreement: mean_ci(&t1, o.resamples, o.level, o.seed.wrapping_add(15)),
            router_kl: mean_ci(&kl, o.resamples, o.level, o.seed.wrapping_add(16)),
            coactivation_base: pooled_coact(&bs),
            coactivation_acc: pooled_coact(&as_),
        });
    }
    Ok(RoutingTask {
        task: task.to_string(),
        report_examples: report,
        select_examples: select,
        choice: choice.clone(),
        curve,
        layers: out,
    })
}

/// Specialisation of each expert across tasks: max_t f(e, t) / mean_t f(e, t)
/// (1 = used equally by every task; up to the number of tasks when one task
/// alone uses it; 0 for an unused expert). `per_task[t]` is task t's pooled
/// frequency vector.
pub fn specialisation(per_task: &[Vec<f64>]) -> Vec<f64> {
    let e = per_task.first().map_or(0, Vec::len);
    (0..e)
        .map(|i| {
            let v: Vec<f64> = per_task.iter().map(|f| f[i]).collect();
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            if mean > 0.0 {
                v.iter().cloned().fold(0.0, f64::max) / mean
            } else {
                0.0
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(counts: &[u64], k: usize) -> RoutingStats {
        let mut s = RoutingStats::new(counts.len(), k);
        s.counts = counts.to_vec();
        s.n_tokens = counts.iter().sum::<u64>() / k as u64;
        s.prob_sum = counts.iter().map(|&c| c as f64 / k as f64).collect();
        s
    }

    #[test]
    fn overlap_counts_shared_experts_per_token() {
        // token 0: {0,1} vs {1,0} → 2 shared, same top-1? no; token 1: {2,3} vs {2,0} → 1, top-1 yes
        let (ov, t1) = overlap(&[0, 1, 2, 3], &[1, 0, 2, 0], 2);
        assert!((ov - 0.75).abs() < 1e-12);
        assert!((t1 - 0.5).abs() < 1e-12);
    }

    #[test]
    fn a_moved_expert_is_found_and_ranked() {
        let base: Vec<RoutingStats> = (0..6).map(|_| stats(&[10, 10, 10, 10], 2)).collect();
        let acc: Vec<RoutingStats> = (0..6).map(|_| stats(&[2, 10, 10, 18], 2)).collect();
        let topk = vec![0u32, 1, 2, 3];
        let probs = vec![0.25f32; 8];
        let mut per_layer = BTreeMap::new();
        for l in 0..2 {
            let ex = (0..6)
                .map(|i| ExampleRouting {
                    base: &base[i],
                    acc: if l == 1 { &acc[i] } else { &base[i] },
                    base_topk: &topk,
                    acc_topk: &topk,
                    base_probs: &probs,
                    acc_probs: &probs,
                })
                .collect();
            per_layer.insert(l, ex);
        }
        let o = PairedOptions {
            resamples: 200,
            permutations: 200,
            ..Default::default()
        };
        let r = compare_routing_task(
            "t",
            &per_layer,
            &LayerChoice::TopChanged {
                k: 1,
                split: false,
                skip: vec![],
            },
            3,
            &o,
        )
        .unwrap();
        assert_eq!(r.layers.len(), 1);
        let l = &r.layers[0];
        assert_eq!(l.layer, 1);
        assert_eq!(l.top[0], 3);
        assert_eq!(l.top.len(), 3);
        assert!(l.frequency.js.value > 0.0);
        assert_eq!(r.curve[0].1.js.value, 0.0);
        assert_eq!(l.overlap.mean, 1.0);
        assert_eq!(l.router_kl.mean, 0.0);
    }

    #[test]
    fn token_kl_matches_the_definition() {
        // token 0: p = (0.5, 0.5), q = (0.25, 0.75); token 1: p = (1, 0), q = (0.5, 0.5)
        let p = [0.5f32, 0.5, 1.0, 0.0];
        let q = [0.25f32, 0.75, 0.5, 0.5];
        let t0 = 0.5 * (0.5f64 / 0.25).ln() + 0.5 * (0.5f64 / 0.75).ln();
        let t1 = (1.0f64 / 0.5).ln();
        assert!((mean_token_kl(&p, &q, 2) - (t0 + t1) / 2.0).abs() < 1e-7);
        assert_eq!(mean_token_kl(&p, &p, 2), 0.0);
        // an underflowed q is floored, not infinite
        assert!(mean_token_kl(&[1.0, 0.0], &[0.0, 1.0], 2).is_finite());
        assert!(mean_token_kl(&[], &[], 2).is_nan());
    }

    #[test]
    fn specialisation_index() {
        let s = specialisation(&[vec![0.5, 0.25, 0.0], vec![0.0, 0.25, 0.0]]);
        assert_eq!(s, vec![2.0, 1.0, 0.0]);
    }
}
