//! `acc-probe routing`: expert routing of a base / ACC pair on identical probe
//! inputs — expert frequencies per task and layer, the top experts, router
//! entropy, co-activation, the routers' agreement token by token, and each
//! expert's specialisation across tasks — with CIs, a table, figures and data.

use std::collections::BTreeMap;

use acc_probe::analysis::attention::LayerChoice;
use acc_probe::analysis::routing::{
    compare_routing_task, specialisation, ExampleRouting, RoutingTask,
};
use acc_probe::io::write_atomic;
use acc_probe::plot::{self, BarPanel, HeatmapLabels, HeatmapPanel, Series};
use acc_probe::probe::pair::{self, cached_routing, Loaded, Source};
use acc_probe::probe::routing_capture::RoutingCapture;
use acc_probe::tasks::probe_inputs::{ProbeInput, ProbeTask};
use anyhow::{bail, Context};
use clap::Args;
use serde_json::json;

use super::pair_args::{
    finish_shard, log_weight_io, probe_inputs_for, progress_bar, report_silent, selection_note,
    PairArgs,
};
use acc_probe::probe::shard::ShardModel;

#[derive(Args, Debug)]
pub struct RoutingArgs {
    #[command(flatten)]
    pub pair: PairArgs,
    /// Experts shown per layer (the paper shows 20).
    #[arg(long, default_value_t = 20)]
    top: usize,
}

fn capture(
    a: &RoutingArgs,
    m: &Loaded,
    label: &str,
    inputs: &[ProbeInput],
    layers: &[usize],
) -> anyhow::Result<RoutingCapture> {
    let bar = progress_bar(&format!("{label}: capturing routing"));
    let (cap, src) = cached_routing(
        m,
        inputs,
        layers,
        a.pair.cache_dir().as_deref(),
        &mut |done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64)
        },
    )?;
    bar.finish_and_clear();
    log_weight_io(label, m);
    if src == Source::Cache {
        tracing::info!("{label}: routing capture read from the cache");
    }
    Ok(cap)
}

fn table(r: &RoutingTask, a: &RoutingArgs) -> String {
    let mut t = format!(
        "{} · {} examples{} · {} resamples\n",
        r.task,
        r.report_examples.len(),
        selection_note(&r.choice, r.select_examples.len()),
        a.pair.resamples
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
        for &e in &l.top {
            t.push_str(&format!(
                "  {:>6} {:>22} {:>22}\n",
                e,
                format!(
                    "{:.1} [{:.1}, {:.1}]",
                    100.0 * f.base[e],
                    100.0 * f.base_lo[e],
                    100.0 * f.base_hi[e]
                ),
                format!(
                    "{:.1} [{:.1}, {:.1}]",
                    100.0 * f.acc[e],
                    100.0 * f.acc_lo[e],
                    100.0 * f.acc_hi[e]
                ),
            ));
        }
    }
    t
}

fn per_task(cap: &RoutingCapture, task: ProbeTask) -> Vec<usize> {
    cap.examples
        .iter()
        .enumerate()
        .filter(|(_, e)| e.task == task.name())
        .map(|(i, _)| i)
        .collect()
}

pub fn run(a: RoutingArgs) -> anyhow::Result<()> {
    let out = a.pair.out.clone();
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    if a.pair.model.is_some() {
        bail!(
            "routing compares two models: give --base and --acc (or neither, for the bundled pair)"
        );
    }
    if a.top == 0 {
        bail!("--top must be at least 1");
    }
    let (base_dir, acc_dir) = a.pair.dirs()?;
    let base = a.pair.load(&base_dir)?;
    let acc = a.pair.load(&acc_dir)?;
    pair::check_pair(&base, &acc)?;
    let cfg = &base.ckpt.config;
    let silent = pair::silent_in_both(&base, &acc)?;
    let (choice, mut layers) = a.pair.selection(cfg.num_hidden_layers, &silent)?;
    report_silent(&choice, &silent);
    // only layers with a router can be compared
    let dense: Vec<usize> = layers
        .iter()
        .copied()
        .filter(|&l| !cfg.is_moe_layer(l))
        .collect();
    if let LayerChoice::Given(_) = choice {
        if !dense.is_empty() {
            bail!("layers {dense:?} have no router (dense MLP layers); choose MoE layers");
        }
    }
    layers.retain(|l| !dense.contains(l));
    let tasks = ProbeTask::parse_list(&a.pair.task)?;
    let inputs = probe_inputs_for(&a.pair, &base, &tasks)?;
    if let Some(sh) = a.pair.shard()? {
        let part = sh.select(&inputs);
        let mut models = Vec::new();
        for (label, m) in [("base", &base), ("acc", &acc)] {
            let cap = capture(&a, m, label, &part, &layers)?;
            let file = format!("shard-routing-{label}.safetensors");
            cap.save(&out.join(&file))?;
            models.push(ShardModel {
                label: label.into(),
                cache_file: pair::routing_cache_file(pair::routing_key(m, &inputs, &layers)),
                file,
            });
        }
        return finish_shard("routing", sh, &inputs, models, &out);
    }
    let cb = capture(&a, &base, "base", &inputs, &layers)?;
    let ca = capture(&a, &acc, "ACC", &inputs, &layers)?;
    let opts = a.pair.paired_options();
    let mut results = Vec::new();
    for &t in &tasks {
        let idx = per_task(&cb, t);
        let mut per_layer: BTreeMap<usize, Vec<ExampleRouting<'_>>> = BTreeMap::new();
        for &l in &layers {
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
            &choice,
            a.top.min(cfg.num_experts),
            &opts,
        )?);
    }
    // specialisation across tasks, per model and captured layer (needs ≥ 2 tasks)
    let mut spec = Vec::new();
    if tasks.len() > 1 {
        for &l in &layers {
            for (name, cap) in [("base", &cb), ("acc", &ca)] {
                let freqs: Vec<Vec<f64>> = tasks
                    .iter()
                    .map(|&t| {
                        let idx = per_task(cap, t);
                        let mut sum = cap.stats[idx[0]][&l].clone();
                        for &i in &idx[1..] {
                            sum.merge(&cap.stats[i][&l]).expect("same shape");
                        }
                        sum.frequency()
                    })
                    .collect();
                spec.push(json!({"layer": l, "model": name, "index": specialisation(&freqs)}));
            }
        }
    }
    // figure: top experts base vs ACC, one panel per task and reported layer
    let ncols = results.iter().map(|r| r.layers.len()).max().unwrap_or(1);
    let mut panels = Vec::new();
    for r in &results {
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
            a.top.min(cfg.num_experts),
            a.pair.examples
        ),
        &panels,
        ncols,
        &png,
        &svg,
    )?;
    // figure: co-activation, base and ACC side by side, one row per task and layer
    let experts: Vec<String> = (0..cfg.num_experts).map(|e| format!("E{e}")).collect();
    let mut heat = Vec::new();
    for r in &results {
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
            a.pair.examples
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
    let report = json!({
        "kind": "acc-probe routing (paired)",
        "base": base_dir, "acc": acc_dir,
        "tasks": tasks.iter().map(|t| t.name()).collect::<Vec<_>>(),
        "examples_per_task": a.pair.examples, "tokens": a.pair.tokens,
        "num_experts": cfg.num_experts, "top_k": cfg.num_experts_per_tok,
        "resamples": opts.resamples, "permutations": opts.permutations, "seed": a.pair.seed,
        "silent_layers": silent,
        "definitions": {
            "frequency": "f_e = N_e / (N k): share of routed (token, slot) pairs",
            "overlap": "mean over tokens of |S_t ∩ S'_t| / k (base vs ACC on the same token)",
            "router_entropy": "mean over tokens of H(softmax(z_t)), nats",
            "router_kl": "mean over tokens of KL(p_base,t ‖ p_acc,t) between the two routers' softmax over all experts on the same token, nats (p_acc floored at 1e-30)",
            "usage_entropy": "H(f) / ln E per example",
            "topk_mass": "router probability on the chosen experts, before renormalising",
            "coactivation": "CoAct(i, j) = N_ij / N_i over all pairs of a token's top-k, row-major [E, E]",
            "specialisation": "per expert: max over tasks of f / mean over tasks of f",
        },
        "results": results,
        "specialisation": spec,
        "figures": [png.display().to_string(), svg.display().to_string(),
                    co_png.display().to_string(), co_svg.display().to_string()],
    });
    let json_path = out.join("routing.json");
    write_atomic(&json_path, &serde_json::to_vec_pretty(&report)?)?;
    if a.pair.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for r in &results {
            println!("{}", table(r, &a));
        }
        println!(
            "wrote {}, {}, {} and {}",
            json_path.display(),
            png.display(),
            svg.display(),
            co_png.display()
        );
    }
    Ok(())
}
