//! The report of `acc-probe routing`: typed results that render to JSON
//! (`routing.json`), a terminal table and figures (top experts, co-activation).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::attention::LayerChoice;
use super::paired::PairedOptions;
use super::routing::{compare_routing_task, specialisation, ExampleRouting, RoutingTask};
use super::session::selection_note;
use crate::error::Result;
use crate::plot::{self, BarPanel, HeatmapLabels, HeatmapPanel, Series};
use crate::probe::routing_capture::RoutingCapture;
use crate::tasks::probe_inputs::ProbeTask;

/// The definitions a routing report's numbers follow.
#[derive(Debug, Clone, Serialize)]
pub struct RoutingDefinitions {
    pub frequency: &'static str,
    pub overlap: &'static str,
    pub router_entropy: &'static str,
    pub router_kl: &'static str,
    pub usage_entropy: &'static str,
    pub topk_mass: &'static str,
    pub coactivation: &'static str,
    pub specialisation: &'static str,
}

impl Default for RoutingDefinitions {
    fn default() -> Self {
        RoutingDefinitions {
            frequency: "f_e = N_e / (N k): share of routed (token, slot) pairs",
            overlap: "mean over tokens of |S_t ∩ S'_t| / k (base vs ACC on the same token)",
            router_entropy: "mean over tokens of H(softmax(z_t)), nats",
            router_kl: "mean over tokens of KL(p_base,t ‖ p_acc,t) between the two routers' softmax over all experts on the same token, nats (p_acc floored at 1e-30)",
            usage_entropy: "H(f) / ln E per example",
            topk_mass: "router probability on the chosen experts, before renormalising",
            coactivation: "CoAct(i, j) = N_ij / N_i over all pairs of a token's top-k, row-major [E, E]",
            specialisation: "per expert: max over tasks of f / mean over tasks of f",
        }
    }
}

/// Each expert's specialisation across tasks in one model and layer.
#[derive(Debug, Clone, Serialize)]
pub struct Specialisation {
    pub layer: usize,
    pub model: &'static str,
    pub index: Vec<f64>,
}

/// The paired routing analysis: base vs ACC per task and layer.
#[derive(Debug, Clone, Serialize)]
pub struct RoutingReport {
    pub kind: &'static str,
    pub base: PathBuf,
    pub acc: PathBuf,
    pub tasks: Vec<&'static str>,
    pub examples_per_task: usize,
    pub tokens: usize,
    pub num_experts: usize,
    pub top_k: usize,
    pub resamples: usize,
    pub permutations: usize,
    pub seed: u64,
    pub silent_layers: Vec<usize>,
    pub definitions: RoutingDefinitions,
    pub results: Vec<RoutingTask>,
    pub specialisation: Vec<Specialisation>,
    /// The figures written by [`RoutingReport::render_figures`].
    pub figures: Vec<String>,
    /// Experts shown per layer.
    #[serde(skip)]
    pub top: usize,
}

fn per_task(cap: &RoutingCapture, task: ProbeTask) -> Vec<usize> {
    cap.examples
        .iter()
        .enumerate()
        .filter(|(_, e)| e.task == task.name())
        .map(|(i, _)| i)
        .collect()
}

/// What a routing report is computed from.
pub struct RoutingInputs<'a> {
    pub base_dir: PathBuf,
    pub acc_dir: PathBuf,
    pub base: &'a RoutingCapture,
    pub acc: &'a RoutingCapture,
    pub tasks: &'a [ProbeTask],
    pub layers: &'a [usize],
    pub choice: &'a LayerChoice,
    pub silent: &'a [usize],
    /// (inputs per task, tokens per input)
    pub sizes: (usize, usize),
    /// (experts, experts per token)
    pub experts: (usize, usize),
    /// Experts shown per layer.
    pub top: usize,
    pub opts: &'a PairedOptions,
}

impl RoutingReport {
    /// Compares the two captures per task and layer, and each model's
    /// expert specialisation across tasks (with two tasks or more).
    pub fn compute(x: RoutingInputs<'_>) -> Result<Self> {
        let (num_experts, top_k) = x.experts;
        let top = x.top.min(num_experts);
        let (cb, ca) = (x.base, x.acc);
        let mut results = Vec::new();
        for &t in x.tasks {
            let idx = per_task(cb, t);
            let mut per_layer: BTreeMap<usize, Vec<ExampleRouting<'_>>> = BTreeMap::new();
            for &l in x.layers {
                per_layer.insert(
                    l,
                    idx.iter()
                        .map(|&i| ExampleRouting {
                            base: &cb.stats[i][&l],
                            acc: &ca.stats[i][&l],
                            base_topk: &cb.topk[i][&l],
                            acc_topk: &ca.topk[i][&l],
                            base_probs: &cb.probs[i][&l],
                            acc_probs: &ca.probs[i][&l],
                        })
                        .collect(),
                );
            }
            results.push(compare_routing_task(
                t.name(),
                &per_layer,
                x.choice,
                top,
                x.opts,
            )?);
        }
        let mut spec = Vec::new();
        if x.tasks.len() > 1 {
            for &l in x.layers {
                for (name, cap) in [("base", cb), ("acc", ca)] {
                    let mut freqs = Vec::with_capacity(x.tasks.len());
                    for &t in x.tasks {
                        let idx = per_task(cap, t);
                        let mut sum = cap.stats[idx[0]][&l].clone();
                        for &i in &idx[1..] {
                            sum.merge(&cap.stats[i][&l])?;
                        }
                        freqs.push(sum.frequency());
                    }
                    spec.push(Specialisation {
                        layer: l,
                        model: name,
                        index: specialisation(&freqs),
                    });
                }
            }
        }
        Ok(RoutingReport {
            kind: "acc-probe routing (paired)",
            base: x.base_dir,
            acc: x.acc_dir,
            tasks: x.tasks.iter().map(|t| t.name()).collect(),
            examples_per_task: x.sizes.0,
            tokens: x.sizes.1,
            num_experts,
            top_k,
            resamples: x.opts.resamples,
            permutations: x.opts.permutations,
            seed: x.opts.seed,
            silent_layers: x.silent.to_vec(),
            definitions: RoutingDefinitions::default(),
            results,
            specialisation: spec,
            figures: Vec::new(),
            top,
        })
    }

    /// One task's table: per reported layer, the comparison and the top experts.
    pub fn task_table(&self, r: &RoutingTask) -> String {
        let mut t = format!(
            "{} · {} examples{} · {} resamples\n",
            r.task,
            r.report_examples.len(),
            selection_note(&r.choice, r.select_examples.len()),
            self.resamples
        );
        for l in &r.layers {
            let f = &l.frequency;
            t.push_str(&format!(
                "\nlayer {}: JS(f_base ‖ f_ACC) {:.4} [{:.4}, {:.4}] p {:.3} · overlap {:.3} [{:.3}, {:.3}] · top-1 agreement {:.3} · KL(p_base ‖ p_ACC) {:.4} [{:.4}, {:.4}] nats/token · router entropy {:.3} → {:.3} nats (Δ {:+.3} [{:+.3}, {:+.3}])\n",
                l.layer,
                f.js.value,
                f.js.lo,
                f.js.hi,
                f.js_p_value,
                l.overlap.mean,
                l.overlap.lo,
                l.overlap.hi,
                l.top1_agreement.mean,
                l.router_kl.mean,
                l.router_kl.lo,
                l.router_kl.hi,
                l.router_entropy.base.mean,
                l.router_entropy.acc.mean,
                l.router_entropy.diff.mean,
                l.router_entropy.diff.lo,
                l.router_entropy.diff.hi,
            ));
            t.push_str(&format!(
                "  {:>6} {:>22} {:>22}\n",
                "expert", "base % [95% CI]", "ACC % [95% CI]"
            ));
            let pc = |v: f64, lo: f64, hi: f64| {
                format!("{:.1} [{:.1}, {:.1}]", 100.0 * v, 100.0 * lo, 100.0 * hi)
            };
            for &e in &l.top {
                t.push_str(&format!(
                    "  {:>6} {:>22} {:>22}\n",
                    e,
                    pc(f.base[e], f.base_lo[e], f.base_hi[e]),
                    pc(f.acc[e], f.acc_lo[e], f.acc_hi[e]),
                ));
            }
        }
        t
    }

    /// Every task's table.
    pub fn table(&self) -> String {
        self.results
            .iter()
            .map(|r| format!("{}\n", self.task_table(r)))
            .collect()
    }

    /// Draws `routing.png`/`.svg` (top experts, base vs ACC, one panel per
    /// task and reported layer) and `routing-coactivation.png`/`.svg`
    /// (base and ACC side by side) into `out`; records their paths.
    pub fn render_figures(&mut self, out: &Path) -> Result<()> {
        let ncols = self
            .results
            .iter()
            .map(|r| r.layers.len())
            .max()
            .unwrap_or(1);
        let mut panels = Vec::new();
        for r in &self.results {
            for l in &r.layers {
                let f = &l.frequency;
                let pick = |v: &[f64]| l.top.iter().map(|&e| 100.0 * v[e]).collect::<Vec<_>>();
                panels.push(BarPanel {
                    title: format!(
                        "{} · layer {} · JS {:.4} [{:.4}, {:.4}]",
                        r.task, l.layer, f.js.value, f.js.lo, f.js.hi
                    ),
                    categories: l.top.iter().map(|e| format!("E{e}")).collect(),
                    y_label: "tokens routed (%)".into(),
                    series: vec![
                        Series::new("base", plot::BASE_COLOR, pick(&f.base))
                            .with_band(pick(&f.base_lo), pick(&f.base_hi)),
                        Series::new("ACC", plot::ACC_COLOR, pick(&f.acc))
                            .with_band(pick(&f.acc_lo), pick(&f.acc_hi)),
                    ],
                });
            }
        }
        let (png, svg) = (out.join("routing.png"), out.join("routing.svg"));
        plot::bar_figure(
            &format!(
                "Expert routing frequency, base vs ACC (top {} experts, {} inputs per task, 95% bootstrap CIs)",
                self.top, self.examples_per_task
            ),
            &panels,
            ncols,
            &png,
            &svg,
        )?;
        let experts: Vec<String> = (0..self.num_experts).map(|e| format!("E{e}")).collect();
        let mut heat = Vec::new();
        for r in &self.results {
            for l in &r.layers {
                for (name, m) in [("base", &l.coactivation_base), ("ACC", &l.coactivation_acc)] {
                    heat.push(HeatmapPanel {
                        title: format!("{} · layer {} · {name}", r.task, l.layer),
                        row_labels: experts.clone(),
                        col_labels: experts.clone(),
                        values: m.clone(),
                    });
                }
            }
        }
        let (co_png, co_svg) = (
            out.join("routing-coactivation.png"),
            out.join("routing-coactivation.svg"),
        );
        plot::heatmap_figure(
            &format!(
                "Expert co-activation, base vs ACC ({} inputs per task)",
                self.examples_per_task
            ),
            HeatmapLabels {
                x: "expert j",
                y: "expert i",
                value: "CoAct(i, j) = N_ij / N_i",
            },
            &heat,
            2,
            &co_png,
            &co_svg,
        )?;
        self.figures = [png, svg, co_png, co_svg]
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        Ok(())
    }
}
