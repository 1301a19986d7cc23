//! Base-vs-ACC attention comparison of one task: per-layer JS curve, layer
//! selection (given layers, or the K most changed, optionally chosen on one
//! half of the examples and reported on the other), and per-head detail for
//! the reported layers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::divergence::{js, mean_of};
use super::paired::{compare, DistComparison, ExampleAttn, PairedOptions};
use crate::error::{Error, Result};
use crate::stats::attn::AttnSummary;

/// Per-example summaries of one model: `[example][layer]`.
pub type PerExample = [BTreeMap<usize, AttnSummary>];

/// Which layers to report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LayerChoice {
    Given(Vec<usize>),
    /// The K layers with the largest JS between pooled distributions; with
    /// `split`, chosen on even-numbered examples and reported on odd ones.
    /// Layers in `skip` are never chosen (they stay in the per-layer curve):
    /// the layers that write nothing to the residual stream in either model
    /// (`Qwen3Moe::silent_layers`), whose change cannot matter.
    TopChanged {
        k: usize,
        split: bool,
        skip: Vec<usize>,
    },
}

impl LayerChoice {
    /// The examples layers are chosen on and the examples reported on: with
    /// `split`, even-numbered and odd-numbered examples (disjoint halves).
    pub fn split_examples(&self, task: &str, n: usize) -> Result<(Vec<usize>, Vec<usize>)> {
        let all: Vec<usize> = (0..n).collect();
        Ok(match self {
            LayerChoice::TopChanged { split: true, .. } => {
                if n < 4 {
                    return Err(Error::Input(format!(
                        "{task}: --split-select needs at least 4 examples, got {n}"
                    )));
                }
                (
                    all.iter().copied().filter(|i| i % 2 == 0).collect(),
                    all.iter().copied().filter(|i| i % 2 == 1).collect(),
                )
            }
            LayerChoice::TopChanged { split: false, .. } => (all.clone(), all),
            LayerChoice::Given(_) => (Vec::new(), all),
        })
    }
}

/// The `k` keys with the largest scores (ties: lower key first), ascending.
pub fn top_scored(mut scored: Vec<(usize, f64)>, k: usize) -> Vec<usize> {
    scored.sort_by(|x, y| super::cmp_f64(&y.1, &x.1).then(x.0.cmp(&y.0)));
    let mut top: Vec<usize> = scored.iter().take(k).map(|x| x.0).collect();
    top.sort_unstable();
    top
}

/// One reported layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerComparison {
    pub layer: usize,
    /// Mean over heads.
    pub mean: DistComparison,
    pub heads: Vec<DistComparison>,
}

/// Everything reported for one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskComparison {
    pub task: String,
    /// Examples the reported statistics use (all, or the reporting half).
    pub report_examples: Vec<usize>,
    /// Examples the layers were chosen on (empty for given layers).
    pub select_examples: Vec<usize>,
    pub choice: LayerChoice,
    /// Head-mean comparison of every captured layer (the JS curve), reporting examples.
    pub curve: Vec<(usize, DistComparison)>,
    pub layers: Vec<LayerComparison>,
}

fn layer_examples(s: &PerExample, layer: usize, idx: &[usize]) -> Result<Vec<ExampleAttn>> {
    idx.iter()
        .map(|&i| {
            s[i].get(&layer)
                .map(ExampleAttn::of_layer)
                .ok_or_else(|| Error::Input(format!("example {i} has no capture of layer {layer}")))
        })
        .collect()
}

/// Observed JS of the head-mean pooled distributions of `layer` over `idx`.
fn layer_js(base: &PerExample, acc: &PerExample, layer: usize, idx: &[usize]) -> Result<f64> {
    let b: Vec<Vec<f64>> = layer_examples(base, layer, idx)?
        .into_iter()
        .map(|e| e.dist)
        .collect();
    let a: Vec<Vec<f64>> = layer_examples(acc, layer, idx)?
        .into_iter()
        .map(|e| e.dist)
        .collect();
    Ok(js(&mean_of(&b, 0..b.len()), &mean_of(&a, 0..a.len())))
}

/// Compares one task's captures of both models (same examples, same layers).
pub fn compare_task(
    task: &str,
    base: &PerExample,
    acc: &PerExample,
    choice: &LayerChoice,
    o: &PairedOptions,
) -> Result<TaskComparison> {
    let n = base.len();
    if n == 0 || acc.len() != n {
        return Err(Error::Input(format!(
            "{task}: base has {n} examples and ACC {}; both need the same non-zero number",
            acc.len()
        )));
    }
    let captured: Vec<usize> = base[0].keys().copied().collect();
    let (select, report) = choice.split_examples(task, n)?;
    let layers: Vec<usize> = match choice {
        LayerChoice::Given(l) => {
            for x in l {
                if !captured.contains(x) {
                    return Err(Error::Input(format!(
                        "{task}: layer {x} was not captured (captured: {captured:?})"
                    )));
                }
            }
            l.clone()
        }
        LayerChoice::TopChanged { k, skip, .. } => {
            let scored = captured
                .iter()
                .filter(|l| !skip.contains(l))
                .map(|&l| Ok((l, layer_js(base, acc, l, &select)?)))
                .collect::<Result<Vec<_>>>()?;
            if scored.is_empty() {
                return Err(Error::Input(format!(
                    "{task}: no layer to choose from (captured {captured:?}, all skipped)"
                )));
            }
            top_scored(scored, *k)
        }
    };
    let curve = captured
        .iter()
        .map(|&l| {
            let b = layer_examples(base, l, &report)?;
            let a = layer_examples(acc, l, &report)?;
            Ok((l, compare(&b, &a, &seeded(o, l as u64))?))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut out = Vec::new();
    for &l in &layers {
        let mean = curve
            .iter()
            .find(|(x, _)| *x == l)
            .map(|(_, c)| c.clone())
            .expect("reported layers are captured");
        let heads_n = base[report[0]][&l].heads;
        let mut heads = Vec::with_capacity(heads_n);
        for h in 0..heads_n {
            let pick = |s: &PerExample| -> Vec<ExampleAttn> {
                report
                    .iter()
                    .map(|&i| ExampleAttn::of_head(&s[i][&l], h))
                    .collect()
            };
            heads.push(compare(
                &pick(base),
                &pick(acc),
                &seeded(o, 1000 + (l * 64 + h) as u64),
            )?);
        }
        out.push(LayerComparison {
            layer: l,
            mean,
            heads,
        });
    }
    Ok(TaskComparison {
        task: task.to_string(),
        report_examples: report,
        select_examples: select,
        choice: choice.clone(),
        curve,
        layers: out,
    })
}

fn seeded(o: &PairedOptions, stream: u64) -> PairedOptions {
    PairedOptions {
        seed: o.seed.wrapping_mul(0x9E37_79B9).wrapping_add(stream),
        ..*o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One-head summaries whose single row puts `far` of its mass in bin 1.
    fn summary(far: f64) -> AttnSummary {
        let mut s = AttnSummary::zeros(1, 2);
        s.n_rows = vec![1];
        s.hist_sum = vec![1.0 - far, far];
        s.mean_distance_sum = vec![far];
        s.local_sum = vec![1.0 - far];
        s
    }

    fn model(n: usize, far_by_layer: &[f64]) -> Vec<BTreeMap<usize, AttnSummary>> {
        (0..n)
            .map(|i| {
                far_by_layer
                    .iter()
                    .enumerate()
                    .map(|(l, &f)| (l, summary(f + 0.01 * (i % 3) as f64)))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn top_changed_finds_the_changed_layers_on_held_out_halves() {
        let base = model(8, &[0.1, 0.1, 0.1, 0.1]);
        let acc = model(8, &[0.1, 0.5, 0.1, 0.3]);
        let o = PairedOptions {
            resamples: 200,
            permutations: 200,
            ..Default::default()
        };
        for split in [false, true] {
            let c = compare_task(
                "t",
                &base,
                &acc,
                &LayerChoice::TopChanged {
                    k: 2,
                    split,
                    skip: vec![],
                },
                &o,
            )
            .unwrap();
            let got: Vec<usize> = c.layers.iter().map(|l| l.layer).collect();
            assert_eq!(got, vec![1, 3]);
            assert_eq!(c.curve.len(), 4);
            assert_eq!(c.report_examples.len(), if split { 4 } else { 8 });
            if split {
                assert!(c
                    .select_examples
                    .iter()
                    .all(|i| !c.report_examples.contains(i)));
            }
            assert!(c.layers[0].mean.js.value > c.curve[0].1.js.value);
            assert_eq!(c.layers[0].heads.len(), 1);
        }
    }

    #[test]
    fn skipped_layers_are_never_chosen_but_stay_in_the_curve() {
        let base = model(8, &[0.1, 0.1, 0.1, 0.1]);
        let acc = model(8, &[0.1, 0.5, 0.1, 0.3]);
        let o = PairedOptions {
            resamples: 50,
            permutations: 50,
            ..Default::default()
        };
        let choice = |skip: Vec<usize>| LayerChoice::TopChanged {
            k: 1,
            split: false,
            skip,
        };
        let c = compare_task("t", &base, &acc, &choice(vec![1]), &o).unwrap();
        assert_eq!(c.layers[0].layer, 3);
        assert_eq!(c.curve.len(), 4);
        let e = compare_task("t", &base, &acc, &choice(vec![0, 1, 2, 3]), &o).unwrap_err();
        assert!(e.to_string().contains("no layer to choose from"), "{e}");
    }

    #[test]
    fn given_layers_must_be_captured() {
        let base = model(3, &[0.1, 0.2]);
        let err = compare_task(
            "t",
            &base,
            &base,
            &LayerChoice::Given(vec![5]),
            &PairedOptions::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("layer 5"), "{err}");
        assert!(compare_task(
            "t",
            &base,
            &base[..2],
            &LayerChoice::Given(vec![0]),
            &PairedOptions::default()
        )
        .is_err());
    }
}
