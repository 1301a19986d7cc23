//! The reports of `acc-probe attention`: typed results that render to JSON
//! (`attention.json`), a terminal table and figures, one model or a pair.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::attention::{compare_task, LayerChoice, TaskComparison};
use super::paired::{describe, Described, DistComparison, ExampleAttn, PairedOptions};
use super::session::selection_note;
use crate::error::Result;
use crate::plot::{self, Band, DistancePanel, LayerCurve, Series};
use crate::probe::per_example::AttnCapture;
use crate::stats::attn::{AttnStatsSpec, AttnSummary};
use crate::tasks::probe_inputs::ProbeTask;

/// What the numbers of an attention report are in.
#[derive(Debug, Clone, Serialize)]
pub struct AttentionUnits {
    pub mean_distance: &'static str,
    pub far_mass: &'static str,
    pub js: &'static str,
    pub entropy: &'static str,
}

impl Default for AttentionUnits {
    fn default() -> Self {
        AttentionUnits {
            mean_distance: "tokens",
            far_mass: "share of attention at distance ≥ local_window",
            js: "nats (≤ ln 2)",
            entropy: "nats",
        }
    }
}

/// The paired attention analysis: base vs ACC per task and layer.
#[derive(Debug, Clone, Serialize)]
pub struct PairedAttentionReport {
    pub kind: &'static str,
    pub base: PathBuf,
    pub acc: PathBuf,
    pub tasks: Vec<&'static str>,
    pub examples_per_task: usize,
    pub tokens: usize,
    pub queries: String,
    pub bins: Vec<u32>,
    pub sink_tokens: usize,
    pub local_window: usize,
    pub resamples: usize,
    pub permutations: usize,
    pub seed: u64,
    pub silent_layers: Vec<usize>,
    pub units: AttentionUnits,
    pub results: Vec<TaskComparison>,
    /// The figures written by [`PairedAttentionReport::render_figures`].
    pub figures: Vec<String>,
}

/// One model's attention per task and layer.
#[derive(Debug, Clone, Serialize)]
pub struct SingleAttentionReport {
    pub kind: &'static str,
    pub model: PathBuf,
    pub silent_layers: Vec<usize>,
    pub examples_per_task: usize,
    pub tokens: usize,
    pub queries: String,
    pub bins: Vec<u32>,
    pub results: Vec<SingleResult>,
    pub figures: Vec<String>,
}

/// One task and layer of a [`SingleAttentionReport`].
#[derive(Debug, Clone, Serialize)]
pub struct SingleResult {
    pub task: &'static str,
    pub layer: usize,
    pub stats: Described,
}

/// The per-layer summaries of `cap`'s examples of `task`.
pub fn task_slice(cap: &AttnCapture, task: ProbeTask) -> Vec<&BTreeMap<usize, AttnSummary>> {
    cap.examples
        .iter()
        .zip(&cap.summaries)
        .filter(|(e, _)| e.task == task.name())
        .map(|(_, s)| s)
        .collect()
}

/// Base vs ACC per task on identical inputs.
pub fn compare_captures(
    base: &AttnCapture,
    acc: &AttnCapture,
    tasks: &[ProbeTask],
    choice: &LayerChoice,
    opts: &PairedOptions,
) -> Result<Vec<TaskComparison>> {
    let mut results = Vec::new();
    for &t in tasks {
        let b: Vec<_> = task_slice(base, t).into_iter().cloned().collect();
        let c: Vec<_> = task_slice(acc, t).into_iter().cloned().collect();
        results.push(compare_task(t.name(), &b, &c, choice, opts)?);
    }
    Ok(results)
}

fn pct(x: f64) -> String {
    format!("{:.1}", 100.0 * x)
}

fn ci(lo: f64, hi: f64, scale: f64, prec: usize) -> String {
    format!("[{:+.p$}, {:+.p$}]", lo * scale, hi * scale, p = prec)
}

impl PairedAttentionReport {
    /// The report of `results` before its figures are drawn.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        base: PathBuf,
        acc: PathBuf,
        tasks: &[ProbeTask],
        (examples_per_task, tokens): (usize, usize),
        queries: String,
        spec: &AttnStatsSpec,
        opts: &PairedOptions,
        silent_layers: Vec<usize>,
        results: Vec<TaskComparison>,
    ) -> Self {
        PairedAttentionReport {
            kind: "acc-probe attention (paired)",
            base,
            acc,
            tasks: tasks.iter().map(|t| t.name()).collect(),
            examples_per_task,
            tokens,
            queries,
            bins: spec.bins.lower_edges().to_vec(),
            sink_tokens: spec.sink_tokens,
            local_window: spec.local_window,
            resamples: opts.resamples,
            permutations: opts.permutations,
            seed: opts.seed,
            silent_layers,
            units: AttentionUnits::default(),
            results,
            figures: Vec::new(),
        }
    }

    /// One task's table: per reported layer and head, mean distance, far
    /// mass and JS with CIs.
    pub fn task_table(&self, c: &TaskComparison) -> String {
        let mut t = String::new();
        let n = c.report_examples.len();
        t.push_str(&format!(
            "{} · {n} examples{} · queries {} · {} resamples, {} permutations\n",
            c.task,
            selection_note(&c.choice, c.select_examples.len()),
            self.queries,
            self.resamples,
            self.permutations
        ));
        let w = self.local_window;
        for l in &c.layers {
            t.push_str(&format!(
                "\nlayer {:<3} {:>9} {:>9} {:>24}   {:>6} {:>6} {:>18}   {:>8} {:>19} {:>6}\n",
                l.layer,
                "dist base",
                "dist ACC",
                "Δ [95% CI]",
                "far% B",
                "far% A",
                format!("Δ pp (d≥{w})"),
                "JS nats",
                "JS [95% CI]",
                "p"
            ));
            let rows = l
                .heads
                .iter()
                .enumerate()
                .map(|(h, x)| (format!("head {h}"), x))
                .chain(std::iter::once(("mean".to_string(), &l.mean)));
            for (name, x) in rows {
                let md = &x.mean_distance;
                let fm = &x.far_mass;
                t.push_str(&format!(
                    "  {:<7} {:>9.1} {:>9.1} {:>24}   {:>6} {:>6} {:>18}   {:>8.4} {:>19} {:>6.3}\n",
                    name,
                    md.base.mean,
                    md.acc.mean,
                    format!("{:+.1} {}", md.diff.mean, ci(md.diff.lo, md.diff.hi, 1.0, 1)),
                    pct(fm.base.mean),
                    pct(fm.acc.mean),
                    format!(
                        "{:+.1} {}",
                        100.0 * fm.diff.mean,
                        ci(fm.diff.lo, fm.diff.hi, 100.0, 1)
                    ),
                    x.js.value,
                    format!("[{:.4}, {:.4}]", x.js.lo, x.js.hi),
                    x.js_p_value
                ));
            }
        }
        t
    }

    /// Every task's table and the legend.
    pub fn table(&self) -> String {
        let mut t = String::new();
        for r in &self.results {
            t.push_str(&self.task_table(r));
            t.push('\n');
        }
        t.push_str(&format!(
            "dist: mean query–key distance (tokens) · far: attention mass at distance ≥ {} · \
             Δ: ACC − base, mean of per-example differences · JS: Jensen–Shannon divergence of the \
             distance distributions (nats, ≤ ln 2) · p: permutation test of JS over base/ACC labels \
             (exact when 2^n ≤ --permutations) · CIs: 95% bootstrap over examples\n",
            self.local_window
        ));
        t
    }

    /// Draws `attention.png`/`.svg` (one row per task, one panel per
    /// reported layer) and, with every layer captured, each task's per-layer
    /// JS curve, into `out`; records their paths.
    pub fn render_figures(&mut self, out: &Path) -> Result<()> {
        let mut panels = Vec::new();
        let ncols = self
            .results
            .iter()
            .map(|r| r.layers.len())
            .max()
            .unwrap_or(1);
        for r in &self.results {
            for l in &r.layers {
                let m = &l.mean;
                panels.push(DistancePanel {
                    title: format!(
                        "{} · layer {} · JS {:.4} [{:.4}, {:.4}], p {:.3}",
                        r.task, l.layer, m.js.value, m.js.lo, m.js.hi, m.js_p_value
                    ),
                    bin_lower_edges: self.bins.clone(),
                    series: vec![
                        Series {
                            label: "base".into(),
                            color: plot::BASE_COLOR,
                            values: m.base.clone(),
                            band: Some(Band {
                                lo: m.base_lo.clone(),
                                hi: m.base_hi.clone(),
                            }),
                        },
                        Series {
                            label: "ACC".into(),
                            color: plot::ACC_COLOR,
                            values: m.acc.clone(),
                            band: Some(Band {
                                lo: m.acc_lo.clone(),
                                hi: m.acc_hi.clone(),
                            }),
                        },
                    ],
                });
            }
        }
        let title = format!(
            "Attention by query–key distance, base vs ACC ({} inputs per task, mean over heads, 95% bootstrap bands)",
            self.examples_per_task
        );
        let (png, svg) = (out.join("attention.png"), out.join("attention.svg"));
        plot::distance_figure(&title, &panels, ncols, &png, &svg)?;
        let mut figures = vec![png.display().to_string(), svg.display().to_string()];
        for r in &self.results {
            // the JS curve needs every layer captured (top-changed layers)
            if r.curve.len() > 1 && matches!(r.choice, LayerChoice::TopChanged { .. }) {
                let js = |f: fn(&DistComparison) -> f64| {
                    r.curve.iter().map(|(_, c)| f(c)).collect::<Vec<f64>>()
                };
                let curve = LayerCurve {
                    title: format!(
                        "{}: base→ACC attention change per layer (JS of distance distributions, 95% CI)",
                        r.task
                    ),
                    y_label: "JS divergence (nats)".into(),
                    series: vec![Series {
                        label: "JS(base ‖ ACC)".into(),
                        color: plot::ACC_COLOR,
                        values: js(|c| c.js.value),
                        band: Some(Band {
                            lo: js(|c| c.js.lo),
                            hi: js(|c| c.js.hi),
                        }),
                    }],
                    silent_layers: self.silent_layers.clone(),
                };
                let hl: Vec<usize> = r.layers.iter().map(|l| l.layer).collect();
                let (p, v) = (
                    out.join(format!("attention-js-{}.png", r.task)),
                    out.join(format!("attention-js-{}.svg", r.task)),
                );
                plot::layer_curve_figure(&curve, &hl, &p, &v)?;
                figures.push(p.display().to_string());
                figures.push(v.display().to_string());
            }
        }
        self.figures = figures;
        Ok(())
    }
}

impl SingleAttentionReport {
    /// One model's statistics of `layers` per task, from its capture.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        model: PathBuf,
        cap: &AttnCapture,
        tasks: &[ProbeTask],
        layers: &[usize],
        (examples_per_task, tokens): (usize, usize),
        queries: String,
        spec: &AttnStatsSpec,
        opts: &PairedOptions,
        silent_layers: Vec<usize>,
    ) -> Result<Self> {
        let mut results = Vec::new();
        for &t in tasks {
            let rows = task_slice(cap, t);
            for &l in layers {
                let ex: Vec<ExampleAttn> =
                    rows.iter().map(|r| ExampleAttn::of_layer(&r[&l])).collect();
                results.push(SingleResult {
                    task: t.name(),
                    layer: l,
                    stats: describe(&ex, opts)?,
                });
            }
        }
        Ok(SingleAttentionReport {
            kind: "acc-probe attention (one model)",
            model,
            silent_layers,
            examples_per_task,
            tokens,
            queries,
            bins: spec.bins.lower_edges().to_vec(),
            results,
            figures: Vec::new(),
        })
    }

    pub fn table(&self) -> String {
        let mut table = String::new();
        for r in &self.results {
            let d = &r.stats;
            table.push_str(&format!(
                "{:<11} layer {:<3} mean distance {:>7.1} [{:.1}, {:.1}]  far mass {:>5}% [{}, {}]  entropy {:.2} nats  sink {}%\n",
                r.task, r.layer, d.mean_distance.mean, d.mean_distance.lo, d.mean_distance.hi,
                pct(d.far_mass.mean), pct(d.far_mass.lo), pct(d.far_mass.hi),
                d.entropy.mean, pct(d.sink_mass.mean)
            ));
        }
        table
    }

    /// Draws `attention.png`/`.svg` into `out` (one panel per task and
    /// layer, `ncols` per row) and records their paths.
    pub fn render_figures(&mut self, out: &Path, ncols: usize) -> Result<()> {
        let label = self
            .model
            .file_name()
            .map_or("model".into(), |n| n.to_string_lossy().to_string());
        let panels: Vec<DistancePanel> = self
            .results
            .iter()
            .map(|r| DistancePanel {
                title: format!(
                    "{} · layer {} · {} inputs",
                    r.task, r.layer, r.stats.n_examples
                ),
                bin_lower_edges: self.bins.clone(),
                series: vec![Series {
                    label: label.clone(),
                    color: plot::BASE_COLOR,
                    values: r.stats.dist.clone(),
                    band: Some(Band {
                        lo: r.stats.lo.clone(),
                        hi: r.stats.hi.clone(),
                    }),
                }],
            })
            .collect();
        let (png, svg) = (out.join("attention.png"), out.join("attention.svg"));
        plot::distance_figure(
            &format!(
                "Attention by query–key distance: {} (mean over heads, 95% bootstrap bands)",
                self.model.display()
            ),
            &panels,
            ncols,
            &png,
            &svg,
        )?;
        self.figures = vec![png.display().to_string(), svg.display().to_string()];
        Ok(())
    }
}
