//! `acc-probe attention`: attention-span distributions of a base / ACC pair on
//! identical probe inputs, per task and layer, with bootstrap CIs, a
//! permutation test, a terminal table, a figure and its data.

use std::collections::BTreeMap;
use std::path::Path;

use acc_probe::analysis::attention::{compare_task, LayerChoice, TaskComparison};
use acc_probe::analysis::paired::{describe, Described, ExampleAttn, PairedOptions};
use acc_probe::io::write_atomic;
use acc_probe::plot::{self, Band, DistancePanel, LayerCurve, Series};
use acc_probe::probe::pair::{self, cached_capture, Loaded, Source};
use acc_probe::probe::per_example::{AttnCapture, Queries};
use acc_probe::stats::attn::{AttnStatsSpec, AttnSummary, DistanceBins, RowSelection};
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
pub struct AttentionArgs {
    #[command(flatten)]
    pub pair: PairArgs,
    /// Query rows measured: all, tail:N, or question (the final user turn onwards).
    #[arg(long, default_value = "all")]
    queries: String,
    /// Distance-bin lower edges, comma-separated (default: 32 half-octave bins).
    #[arg(long)]
    bins: Option<String>,
    /// Keys j < N count as attention sink.
    #[arg(long, default_value_t = 4)]
    sink_tokens: usize,
    /// Keys at distance < W count as local ("far mass" is the rest).
    #[arg(long, default_value_t = 64)]
    local_window: usize,
}

struct Setup {
    spec: AttnStatsSpec,
    queries: Queries,
    choice: LayerChoice,
    capture_layers: Vec<usize>,
    tasks: Vec<ProbeTask>,
    opts: PairedOptions,
}

fn setup(a: &AttentionArgs, num_layers: usize, silent: &[usize]) -> anyhow::Result<Setup> {
    let spec = AttnStatsSpec {
        bins: match &a.bins {
            Some(s) => DistanceBins::parse(s)?,
            None => DistanceBins::default(),
        },
        sink_tokens: a.sink_tokens,
        local_window: a.local_window,
        rows: RowSelection::All,
        per_row: false,
    };
    let (choice, capture_layers) = a.pair.selection(num_layers, silent)?;
    Ok(Setup {
        spec,
        queries: Queries::parse(&a.queries)?,
        choice,
        capture_layers,
        tasks: ProbeTask::parse_list(&a.pair.task)?,
        opts: a.pair.paired_options(),
    })
}

fn capture(
    a: &AttentionArgs,
    s: &Setup,
    m: &Loaded,
    label: &str,
    inputs: &[ProbeInput],
) -> anyhow::Result<AttnCapture> {
    let bar = progress_bar(&format!("{label}: capturing attention"));
    let cache = a.pair.cache_dir();
    let (cap, src) = cached_capture(
        m,
        inputs,
        &s.capture_layers,
        &s.spec,
        s.queries,
        Default::default(),
        cache.as_deref(),
        &mut |done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64)
        },
    )?;
    bar.finish_and_clear();
    log_weight_io(label, m);
    match src {
        Source::Cache => tracing::info!("{label}: capture read from the cache"),
        Source::Computed => tracing::info!("{label}: captured {} inputs", inputs.len()),
    }
    Ok(cap)
}

fn task_slice(cap: &AttnCapture, task: ProbeTask) -> Vec<&BTreeMap<usize, AttnSummary>> {
    cap.examples
        .iter()
        .zip(&cap.summaries)
        .filter(|(e, _)| e.task == task.name())
        .map(|(_, s)| s)
        .collect()
}

fn pct(x: f64) -> String {
    format!("{:.1}", 100.0 * x)
}

fn ci(lo: f64, hi: f64, scale: f64, prec: usize) -> String {
    format!("[{:+.p$}, {:+.p$}]", lo * scale, hi * scale, p = prec)
}

fn paired_table(c: &TaskComparison, s: &Setup) -> String {
    let mut t = String::new();
    let n = c.report_examples.len();
    t.push_str(&format!(
        "{} · {n} examples{} · queries {} · {} resamples, {} permutations\n",
        c.task,
        selection_note(&c.choice, c.select_examples.len()),
        match s.queries {
            Queries::All => "all".to_string(),
            Queries::Tail(k) => format!("tail:{k}"),
            Queries::Question => "question".to_string(),
        },
        s.opts.resamples,
        s.opts.permutations
    ));
    let w = s.spec.local_window;
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
                format!(
                    "{:+.1} {}",
                    md.diff.mean,
                    ci(md.diff.lo, md.diff.hi, 1.0, 1)
                ),
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

fn bands(d: &Described) -> Band {
    Band {
        lo: d.lo.clone(),
        hi: d.hi.clone(),
    }
}

pub fn run(a: AttentionArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&a.pair.out)
        .with_context(|| format!("creating {}", a.pair.out.display()))?;
    if let Some(dir) = &a.pair.model {
        return run_single(&a, dir);
    }
    let (base_dir, acc_dir) = a.pair.dirs()?;
    let base = a.pair.load(&base_dir)?;
    let acc = a.pair.load(&acc_dir)?;
    pair::check_pair(&base, &acc)?;
    let silent = pair::silent_in_both(&base, &acc)?;
    let s = setup(&a, base.ckpt.config.num_hidden_layers, &silent)?;
    report_silent(&s.choice, &silent);
    let inputs = probe_inputs_for(&a.pair, &base, &s.tasks)?;
    if let Some(sh) = a.pair.shard()? {
        let part = sh.select(&inputs);
        let mut models = Vec::new();
        for (label, m) in [("base", &base), ("acc", &acc)] {
            let cap = capture(&a, &s, m, label, &part)?;
            let file = format!("shard-attn-{label}.safetensors");
            cap.save(&a.pair.out.join(&file))?;
            let key = pair::capture_key(
                m,
                &inputs,
                &s.capture_layers,
                &s.spec,
                s.queries,
                Default::default(),
            );
            models.push(ShardModel {
                label: label.into(),
                cache_file: pair::attn_cache_file(key),
                file,
            });
        }
        return finish_shard("attention", sh, &inputs, models, &a.pair.out);
    }
    let cb = capture(&a, &s, &base, "base", &inputs)?;
    let ca = capture(&a, &s, &acc, "ACC", &inputs)?;
    let mut results = Vec::new();
    for &t in &s.tasks {
        let b: Vec<_> = task_slice(&cb, t).into_iter().cloned().collect();
        let c: Vec<_> = task_slice(&ca, t).into_iter().cloned().collect();
        results.push(compare_task(t.name(), &b, &c, &s.choice, &s.opts)?);
    }
    // figure: one row per task, one panel per reported layer
    let edges = s.spec.bins.lower_edges().to_vec();
    let mut panels = Vec::new();
    let ncols = results.iter().map(|r| r.layers.len()).max().unwrap_or(1);
    for r in &results {
        for l in &r.layers {
            let m = &l.mean;
            panels.push(DistancePanel {
                title: format!(
                    "{} · layer {} · JS {:.4} [{:.4}, {:.4}], p {:.3}",
                    r.task, l.layer, m.js.value, m.js.lo, m.js.hi, m.js_p_value
                ),
                bin_lower_edges: edges.clone(),
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
    let n_ex = a.pair.examples;
    let title = format!(
        "Attention by query–key distance, base vs ACC ({n_ex} inputs per task, mean over heads, 95% bootstrap bands)"
    );
    let png = a.pair.out.join("attention.png");
    let svg = a.pair.out.join("attention.svg");
    plot::distance_figure(&title, &panels, ncols, &png, &svg)?;
    let mut figures = vec![png.display().to_string(), svg.display().to_string()];
    for r in &results {
        // the JS curve needs every layer captured (--top-changed)
        if r.curve.len() > 1 && matches!(s.choice, LayerChoice::TopChanged { .. }) {
            let js = |f: fn(&acc_probe::analysis::paired::DistComparison) -> f64| {
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
                silent_layers: silent.clone(),
            };
            let hl: Vec<usize> = r.layers.iter().map(|l| l.layer).collect();
            let (p, v) = (
                a.pair.out.join(format!("attention-js-{}.png", r.task)),
                a.pair.out.join(format!("attention-js-{}.svg", r.task)),
            );
            plot::layer_curve_figure(&curve, &hl, &p, &v)?;
            figures.push(p.display().to_string());
            figures.push(v.display().to_string());
        }
    }
    let report = json!({
        "kind": "acc-probe attention (paired)",
        "base": base_dir, "acc": acc_dir,
        "tasks": s.tasks.iter().map(|t| t.name()).collect::<Vec<_>>(),
        "examples_per_task": a.pair.examples, "tokens": a.pair.tokens,
        "queries": a.queries, "bins": s.spec.bins.lower_edges(),
        "sink_tokens": s.spec.sink_tokens, "local_window": s.spec.local_window,
        "resamples": s.opts.resamples, "permutations": s.opts.permutations, "seed": a.pair.seed,
        "silent_layers": silent,
        "units": {"mean_distance": "tokens", "far_mass": "share of attention at distance ≥ local_window",
                  "js": "nats (≤ ln 2)", "entropy": "nats"},
        "results": results,
        "figures": figures,
    });
    let json_path = a.pair.out.join("attention.json");
    write_atomic(&json_path, &serde_json::to_vec_pretty(&report)?)?;
    if a.pair.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for r in &results {
            println!("{}", paired_table(r, &s));
        }
        println!(
            "dist: mean query–key distance (tokens) · far: attention mass at distance ≥ {} · \
             Δ: ACC − base, mean of per-example differences · JS: Jensen–Shannon divergence of the \
             distance distributions (nats, ≤ ln 2) · p: permutation test of JS over base/ACC labels \
             (exact when 2^n ≤ --permutations) · CIs: 95% bootstrap over examples",
            s.spec.local_window
        );
        println!("wrote {} and {}", json_path.display(), figures.join(", "));
    }
    Ok(())
}

fn run_single(a: &AttentionArgs, dir: &Path) -> anyhow::Result<()> {
    if a.pair.shard.is_some() {
        bail!("--shard splits paired runs (--base/--acc or the bundled pair), not --model");
    }
    let m = a.pair.load(dir)?;
    let silent = m.model.silent_layers()?;
    let n = m.ckpt.config.num_hidden_layers;
    let mut s = setup(a, n, &[])?;
    if let LayerChoice::TopChanged { .. } = s.choice {
        if a.pair.top_changed.is_some() {
            bail!("--top-changed compares two models; with --model give --layer or --layers");
        }
        // one model alone: report the last layer that writes to the
        // residual stream by default
        let last = (0..n).rev().find(|l| !silent.contains(l)).unwrap_or(n - 1);
        s.choice = LayerChoice::Given(vec![last]);
        s.capture_layers = vec![last];
    }
    report_silent(&s.choice, &silent);
    let LayerChoice::Given(layers) = s.choice.clone() else {
        unreachable!("given layers")
    };
    let inputs = probe_inputs_for(&a.pair, &m, &s.tasks)?;
    let cap = capture(a, &s, &m, "model", &inputs)?;
    let edges = s.spec.bins.lower_edges().to_vec();
    let mut results = Vec::new();
    let mut panels = Vec::new();
    let mut table = String::new();
    for &t in &s.tasks {
        let rows = task_slice(&cap, t);
        for &l in &layers {
            let ex: Vec<ExampleAttn> = rows.iter().map(|r| ExampleAttn::of_layer(&r[&l])).collect();
            let d = describe(&ex, &s.opts)?;
            table.push_str(&format!(
                "{:<11} layer {:<3} mean distance {:>7.1} [{:.1}, {:.1}]  far mass {:>5}% [{}, {}]  entropy {:.2} nats  sink {}%\n",
                t.name(), l, d.mean_distance.mean, d.mean_distance.lo, d.mean_distance.hi,
                pct(d.far_mass.mean), pct(d.far_mass.lo), pct(d.far_mass.hi),
                d.entropy.mean, pct(d.sink_mass.mean)
            ));
            panels.push(DistancePanel {
                title: format!("{} · layer {l} · {} inputs", t.name(), d.n_examples),
                bin_lower_edges: edges.clone(),
                series: vec![Series {
                    label: dir
                        .file_name()
                        .map_or("model".into(), |n| n.to_string_lossy().to_string()),
                    color: plot::BASE_COLOR,
                    values: d.dist.clone(),
                    band: Some(bands(&d)),
                }],
            });
            results.push(json!({"task": t.name(), "layer": l, "stats": d}));
        }
    }
    let (png, svg) = (
        a.pair.out.join("attention.png"),
        a.pair.out.join("attention.svg"),
    );
    plot::distance_figure(
        &format!(
            "Attention by query–key distance: {} (mean over heads, 95% bootstrap bands)",
            dir.display()
        ),
        &panels,
        layers.len(),
        &png,
        &svg,
    )?;
    let report = json!({
        "kind": "acc-probe attention (one model)", "model": dir, "silent_layers": silent,
        "examples_per_task": a.pair.examples, "tokens": a.pair.tokens, "queries": a.queries,
        "bins": s.spec.bins.lower_edges(), "results": results,
        "figures": [png.display().to_string(), svg.display().to_string()],
    });
    let json_path = a.pair.out.join("attention.json");
    write_atomic(&json_path, &serde_json::to_vec_pretty(&report)?)?;
    if a.pair.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{table}");
        println!(
            "wrote {}, {} and {}",
            json_path.display(),
            png.display(),
            svg.display()
        );
    }
    Ok(())
}
