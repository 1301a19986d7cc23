//! Interventions (`acc-probe ablate`): experts removed from routing and heads
//! clamped to a local window, checked against slow references.

mod common;

use acc_probe::model::generate::{greedy, greedy_uncached};
use acc_probe::model::hook::{HookPoint, Probe};
use acc_probe::model::router::RouterOutput;
use acc_probe::model::{
    AttnPath, ForwardOptions, Interventions, LogitsRequest, Qwen3Moe, StreamBlocks,
};
use candle_core::{Device, Tensor};
use common::*;

fn tiny() -> Qwen3Moe {
    Qwen3Moe::from_dir(fixture("tiny-qwen3-moe/model"), &Device::Cpu).unwrap()
}

fn prompt(n: usize) -> Vec<u32> {
    ids_of(&load_reference()["input_ids"])[..n].to_vec()
}

/// Records router outputs and attention probabilities of every layer.
#[derive(Default)]
struct Record {
    routers: Vec<(usize, RouterOutput)>,
    probs: Vec<(usize, Tensor)>,
}

impl Probe for Record {
    fn wants(&self, at: HookPoint) -> bool {
        matches!(at, HookPoint::Router(_) | HookPoint::AttnProbs(_))
    }
    fn on_router(&mut self, layer: usize, r: &RouterOutput) -> acc_probe::error::Result<()> {
        self.routers.push((layer, r.clone()));
        Ok(())
    }
    fn on_attn_probs(&mut self, layer: usize, p: &Tensor) -> acc_probe::error::Result<()> {
        self.probs.push((layer, p.clone()));
        Ok(())
    }
}

fn record(m: &Qwen3Moe, ids: &[u32], path: AttnPath) -> (Record, Vec<f32>) {
    let mut r = Record::default();
    let out = m
        .forward(
            ids,
            &mut r,
            ForwardOptions {
                path,
                blocks: StreamBlocks::default(),
                logits: LogitsRequest::All,
            },
        )
        .unwrap();
    let logits = vec_f32(&out.logits.unwrap());
    (r, logits)
}

#[test]
fn removed_experts_are_never_routed_and_the_rest_is_renormalised() {
    let m = tiny();
    let cfg = &m.config;
    let (layer, removed) = (1, vec![0usize, 3]);
    let ids = prompt(60);
    let (intact, _) = record(&m, &ids, AttnPath::Streaming);
    let ablated = m
        .with_interventions(&Interventions::remove_experts(layer, &removed))
        .unwrap();
    assert_eq!(ablated.interventions().experts[&layer], removed);
    assert!(m.interventions().is_empty(), "the original is untouched");
    let (got, _) = record(&ablated, &ids, AttnPath::Streaming);

    // layers before the intervention are unchanged, bit for bit
    let (_, r0) = &intact.routers[0];
    let (_, g0) = &got.routers[0];
    assert_eq!(r0.topk_ids, g0.topk_ids);
    assert_eq!(vec_f32(&r0.combine), vec_f32(&g0.combine));

    // at the layer: the reference is the softmax over the remaining experts'
    // raw logits, its top-k, and (norm_topk_prob) renormalised weights
    let (_, r) = &got.routers[layer];
    let logits = r.logits.to_vec2::<f32>().unwrap();
    let combine = r.combine.to_vec2::<f32>().unwrap();
    let k = cfg.num_experts_per_tok;
    for (t, z) in logits.iter().enumerate() {
        let live: Vec<usize> = (0..cfg.num_experts)
            .filter(|e| !removed.contains(e))
            .collect();
        let mx = live.iter().map(|&e| z[e]).fold(f32::MIN, f32::max);
        let sum: f32 = live.iter().map(|&e| (z[e] - mx).exp()).sum();
        let mut p: Vec<(usize, f32)> = live.iter().map(|&e| (e, (z[e] - mx).exp() / sum)).collect();
        p.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap().then(a.0.cmp(&b.0)));
        let ids_t = &r.topk_ids[t * k..(t + 1) * k];
        let want: Vec<u32> = p[..k].iter().map(|x| x.0 as u32).collect();
        // ties within 1e-6 may order either way
        if (p[k - 1].1 - p.get(k).map_or(-1.0, |x| x.1)).abs() > 1e-6 {
            assert_eq!(ids_t, want.as_slice(), "token {t}");
        }
        assert!(ids_t.iter().all(|e| !removed.contains(&(*e as usize))));
        let norm: f32 = p[..k].iter().map(|x| x.1).sum();
        for (j, &w) in combine[t].iter().enumerate() {
            let want_w = p[..k]
                .iter()
                .find(|x| x.0 as u32 == ids_t[j])
                .map(|x| x.1 / norm)
                .unwrap();
            assert!((w - want_w).abs() < 1e-5, "token {t}: {w} vs {want_w}");
        }
    }
    // the captured logits are the raw ones (the layer's input is unchanged,
    // since only later layers differ), not the masked ones
    assert_eq!(vec_f32(&intact.routers[layer].1.logits), vec_f32(&r.logits));

    // no intervention reproduces the model exactly
    let none = m.with_interventions(&Interventions::default()).unwrap();
    let (a, la) = record(&m, &ids, AttnPath::Streaming);
    let (b, lb) = record(&none, &ids, AttnPath::Streaming);
    assert_eq!(la, lb);
    assert_eq!(a.routers[1].1.topk_ids, b.routers[1].1.topk_ids);

    // generation with a KV cache honours the intervention like the full pass
    let p = prompt(30);
    assert_eq!(
        greedy(&ablated, &p, 12, &[]).unwrap(),
        greedy_uncached(&ablated, &p, 12, &[]).unwrap()
    );
    // and replacing interventions clears the earlier ones
    let cleared = ablated
        .with_interventions(&Interventions::default())
        .unwrap();
    assert!(cleared.interventions().is_empty());
    assert_eq!(
        greedy(&cleared, &p, 12, &[]).unwrap(),
        greedy(&m, &p, 12, &[]).unwrap()
    );
}

#[test]
fn clamped_heads_attend_within_the_window_only() {
    let m = tiny();
    let ids = prompt(50);
    let (layer, heads, window) = (0, vec![1usize], 4);
    let clamped = m
        .with_interventions(&Interventions::clamp_heads(layer, &heads, window))
        .unwrap();
    // the streaming request falls back to the materialised path for the clamped layer
    let (r, logits) = record(&clamped, &ids, AttnPath::Streaming);
    let (_, p) = r.probs.iter().find(|(l, _)| *l == layer).unwrap();
    let p = p.to_vec3::<f32>().unwrap();
    for (h, rows) in p.iter().enumerate() {
        for (i, row) in rows.iter().enumerate() {
            let total: f32 = row.iter().sum();
            assert!((total - 1.0).abs() < 1e-5);
            for (j, &a) in row.iter().enumerate() {
                let outside = j > i || (heads.contains(&h) && i - j >= window);
                if outside {
                    assert_eq!(a, 0.0, "head {h} row {i} key {j}");
                }
            }
        }
    }
    // a reference: the unclamped head's probabilities are unchanged, and the
    // clamped head's are its own scores renormalised within the window
    let (ri, _) = record(&m, &ids, AttnPath::Materialized);
    let (_, pi) = ri.probs.iter().find(|(l, _)| *l == layer).unwrap();
    let pi = pi.to_vec3::<f32>().unwrap();
    for i in 0..ids.len() {
        assert_eq!(pi[0][i], p[0][i], "unclamped head 0 row {i}");
        let lo = (i + 1).saturating_sub(window);
        let s: f32 = pi[1][i][lo..=i].iter().sum();
        for j in lo..=i {
            let want = pi[1][i][j] / s;
            assert!((p[1][i][j] - want).abs() < 1e-5, "row {i} key {j}");
        }
    }
    // the materialised path gives the same logits as the streaming request
    let (_, lm) = record(&clamped, &ids, AttnPath::Materialized);
    assert!(max_abs_diff(&logits, &lm) < 1e-5);
    // a window covering the whole input changes nothing
    let wide = m
        .with_interventions(&Interventions::clamp_heads(layer, &heads, 10_000))
        .unwrap();
    let (_, lw) = record(&wide, &ids, AttnPath::Materialized);
    let (_, l0) = record(&m, &ids, AttnPath::Materialized);
    assert!(max_abs_diff(&lw, &l0) < 1e-6);
    // cached decoding equals recomputation under the clamp
    let p30 = prompt(30);
    assert_eq!(
        greedy(&clamped, &p30, 12, &[]).unwrap(),
        greedy_uncached(&clamped, &p30, 12, &[]).unwrap()
    );
}

#[test]
fn bad_interventions_are_refused_with_the_valid_range() {
    let m = tiny();
    let n_layers = m.config.num_hidden_layers;
    let e = m
        .with_interventions(&Interventions::remove_experts(n_layers, &[0]))
        .unwrap_err()
        .to_string();
    assert!(e.contains(&format!("0..={}", n_layers - 1)), "{e}");
    let e = m
        .with_interventions(&Interventions::remove_experts(0, &[m.config.num_experts]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("expert at layer 0"), "{e}");
    let all: Vec<usize> = (0..m.config.num_experts).collect();
    let e = m
        .with_interventions(&Interventions::remove_experts(0, &all))
        .unwrap_err()
        .to_string();
    assert!(e.contains("fewer than"), "{e}");
    let e = m
        .with_interventions(&Interventions::remove_experts(0, &[1, 1]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("twice"), "{e}");
    let e = m
        .with_interventions(&Interventions::clamp_heads(0, &[0], 0))
        .unwrap_err()
        .to_string();
    assert!(e.contains("at least 1"), "{e}");
    let e = m
        .with_interventions(&Interventions::clamp_heads(0, &[99], 4))
        .unwrap_err()
        .to_string();
    assert!(e.contains("head at layer 0"), "{e}");
    // the training path refuses an intervened model
    let ab = m
        .with_interventions(&Interventions::remove_experts(0, &[1]))
        .unwrap();
    let e = ab
        .forward_packed(&prompt(8), &[8], false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("training path"), "{e}");
}
