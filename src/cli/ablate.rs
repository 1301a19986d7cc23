//! `acc-probe ablate`: the causal check. Re-scores a task with chosen experts
//! removed from one layer's routing (or chosen heads clamped to a local
//! window), next to as many random experts (heads) over several draws, and
//! reports the score drops with paired bootstrap CIs.

use std::path::PathBuf;

use acc_probe::analysis::ablation::{random_unit_sets, summarize, AblationSummary};
use acc_probe::analysis::bootstrap::MeanCi;
use acc_probe::io::write_atomic;
use acc_probe::model::{Checkpoint, Interventions, Qwen3Moe};
use acc_probe::model_dir::{ChatModel, ModelDir};
use acc_probe::plot::{self, BarPanel, Series};
use acc_probe::tasks::eval::{evaluate, EvalOptions, EvalReport, TaskRow};
use acc_probe::tasks::score::Task;
use acc_probe::tasks::toy::{self, EVAL_STREAM};
use acc_probe::train::reproduce::{PAIR_MAX_NEW_TOKENS, PAIR_TASK_TOKENS};
use anyhow::{bail, Context};
use candle_core::Device;
use clap::Args;
use serde::Serialize;

use super::common::{warn_streamed_decoding, WeightsArg};
use super::pair_args::bundled;
use super::tasks::task_parser;

#[derive(Args, Debug)]
pub struct AblateArgs {
    /// Model directory (default: the bundled checkpoints/acc).
    #[arg(long)]
    model: Option<PathBuf>,
    /// The layer whose experts (or heads) are ablated.
    #[arg(long, required_unless_present = "from_routing")]
    layer: Option<usize>,
    /// Experts removed from the layer's routing, comma-separated (the rest renormalised).
    #[arg(long, conflicts_with = "heads")]
    experts: Option<String>,
    /// Choose the layer and experts from a `routing.json` of `acc-probe routing`:
    /// the task's reported layer with the largest JS, and there the
    /// --top-increase experts whose frequency rose most from base to ACC.
    #[arg(long, conflicts_with_all = ["layer", "experts", "heads"])]
    from_routing: Option<PathBuf>,
    /// With --from-routing: how many experts.
    #[arg(long, default_value_t = 2, requires = "from_routing")]
    top_increase: usize,
    /// Query heads clamped to a local window, comma-separated.
    #[arg(long)]
    heads: Option<String>,
    /// With --heads: keys at distance < W stay visible.
    #[arg(long, default_value_t = 64, requires = "heads")]
    window: usize,
    #[arg(long, value_parser = task_parser())]
    task: Task,
    /// Held-out toy problems scored per condition.
    #[arg(long, default_value_t = 20, value_parser = super::common::count)]
    n: usize,
    /// Prompt length of each problem, in the model's tokens (default: the
    /// bundled pair's evaluation length).
    #[arg(long, default_value_t = PAIR_TASK_TOKENS)]
    tokens: usize,
    /// Draws of as many random experts (heads), chosen among the others.
    #[arg(long, default_value_t = 3)]
    random: usize,
    /// Decoding budget (the bundled pair's: room for an edge trace).
    #[arg(long, default_value_t = PAIR_MAX_NEW_TOKENS)]
    max_new_tokens: usize,
    /// Bootstrap resamples over problems.
    #[arg(long, default_value_t = 1000, value_parser = super::common::in_range(1, super::common::MAX_RESAMPLES))]
    resamples: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output directory: ablate.json and the figure.
    #[arg(long, default_value = "runs/ablate")]
    out: PathBuf,
    /// How the model's weights are held (streamed: every decoding step reads the layers again).
    #[arg(long, value_enum, default_value_t = WeightsArg::Auto)]
    weights: WeightsArg,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// What `ablate.json` holds.
#[derive(Debug, Serialize)]
pub struct AblateReport {
    pub model: PathBuf,
    pub task: String,
    pub layer: usize,
    /// The routing analysis the layer and experts were chosen from, if any.
    pub chosen_from: Option<PathBuf>,
    /// "experts" or "heads".
    pub unit: String,
    /// With heads: the local window in keys.
    pub window: Option<usize>,
    pub tokens: usize,
    pub seed: u64,
    pub resamples: usize,
    pub summary: AblationSummary,
    /// Every condition's graded responses (intact, target, random 1..).
    pub evaluations: Vec<(String, EvalReport)>,
}

fn parse_units(s: &str, what: &str) -> anyhow::Result<Vec<usize>> {
    let mut v = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        v.push(
            part.parse::<usize>()
                .with_context(|| format!("--{what}: `{part}` is not a non-negative integer"))?,
        );
    }
    if v.is_empty() {
        bail!("--{what}: expected a comma-separated list such as 3,7");
    }
    Ok(v)
}

/// The layer and experts of `task` in a routing.json: the reported layer with
/// the largest JS(f_base ‖ f_ACC), and its `k` experts with the largest rise
/// f_ACC − f_base (ties: lower id).
fn from_routing(
    path: &std::path::Path,
    task: &str,
    k: usize,
) -> anyhow::Result<(usize, Vec<usize>)> {
    let text = acc_probe::io::read_text(path, acc_probe::io::MAX_DOC_BYTES)?;
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
    let results = v["results"].as_array().with_context(|| {
        format!(
            "{}: no `results` array (not a routing.json)",
            path.display()
        )
    })?;
    let Some(r) = results.iter().find(|r| r["task"] == task) else {
        bail!("{}: no results for task {task}", path.display());
    };
    let layers = r["layers"]
        .as_array()
        .filter(|l| !l.is_empty())
        .with_context(|| format!("{}: task {task} reports no layers", path.display()))?;
    let js = |l: &serde_json::Value| l["frequency"]["js"]["value"].as_f64().unwrap_or(f64::NAN);
    let best = layers
        .iter()
        .filter(|l| js(l).is_finite())
        .max_by(|x, y| js(x).total_cmp(&js(y)))
        .with_context(|| format!("{}: task {task}: no layer has a finite JS", path.display()))?;
    let layer = best["layer"]
        .as_u64()
        .with_context(|| format!("{}: task {task}: a layer without a number", path.display()))?
        as usize;
    let freq = |key: &str| -> anyhow::Result<Vec<f64>> {
        best["frequency"][key]
            .as_array()
            .and_then(|a| a.iter().map(|x| x.as_f64()).collect::<Option<Vec<_>>>())
            .with_context(|| {
                format!(
                    "{}: task {task} layer {layer}: no numeric frequency.{key}",
                    path.display()
                )
            })
    };
    let (fb, fa) = (freq("base")?, freq("acc")?);
    let mut rise: Vec<(usize, f64)> = fa.iter().zip(&fb).map(|(a, b)| a - b).enumerate().collect();
    rise.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
    let mut experts: Vec<usize> = rise.iter().take(k.max(1)).map(|x| x.0).collect();
    experts.sort_unstable();
    Ok((layer, experts))
}

pub fn run(a: AblateArgs) -> anyhow::Result<()> {
    let dir = match &a.model {
        Some(d) => d.clone(),
        None => bundled("acc")?,
    };
    if a.random == 0 {
        bail!("--random must be at least 1: the drop is read against random ablations");
    }
    let mut inputs = vec![("--model", dir.as_path())];
    inputs.extend(a.from_routing.as_deref().map(|f| ("--from-routing", f)));
    acc_probe::io::prepare_out_dir(
        "--out",
        &a.out,
        &["ablate.json", "ablate.png", "ablate.svg"],
        &inputs,
    )?;
    let ckpt = Checkpoint::open(&dir)?;
    let cfg = ckpt.config.clone();
    let task = a.task;
    let task_name = task.name().to_string();
    let (layer, experts) = match &a.from_routing {
        Some(f) => {
            let (l, e) = from_routing(f, &task_name, a.top_increase)?;
            (l, Some(e))
        }
        None => (
            a.layer.context("give --layer (or --from-routing)")?,
            a.experts
                .as_deref()
                .map(|e| parse_units(e, "experts"))
                .transpose()?,
        ),
    };
    if layer >= cfg.num_hidden_layers {
        bail!(
            "--layer {layer}: out of range (valid 0..={})",
            cfg.num_hidden_layers - 1
        );
    }
    if a.tokens > cfg.max_position_embeddings {
        bail!(
            "--tokens {}: longer than the model's max_position_embeddings ({})",
            a.tokens,
            cfg.max_position_embeddings
        );
    }
    let (unit, target, total) = match (experts, &a.heads) {
        (Some(e), _) => ("experts", e, cfg.num_experts),
        (None, Some(h)) => ("heads", parse_units(h, "heads")?, cfg.num_attention_heads),
        (None, None) => bail!("give --experts, --heads or --from-routing"),
    };
    let make = |units: &[usize]| match unit {
        "experts" => Interventions::remove_experts(layer, units),
        _ => Interventions::clamp_heads(layer, units, a.window),
    };
    let m = ModelDir::with_checkpoint(ckpt, &Device::Cpu, a.weights.into())?;
    warn_streamed_decoding(&m);
    let model = &m.model;
    // checks the target against the config before any decoding
    let target_model = model.with_interventions(&make(&target))?;
    let draws = random_unit_sets(total, &target, a.random, a.seed ^ 0xAB1A7E);
    if draws.is_empty() {
        bail!(
            "no random control: the layer has {total} {unit} and {} are ablated, so no other \
             set of {} exists",
            target.len(),
            target.len()
        );
    }
    if draws.len() < a.random {
        tracing::warn!(
            "only {} distinct random sets of {} {unit} exist outside the target",
            draws.len(),
            target.len()
        );
    }

    let tok = m
        .tokenizer()
        .with_context(|| format!("{}: ablate needs the model's tokenizer.json", dir.display()))?;
    let rows: Vec<TaskRow> = (0..a.n)
        .map(|i| match task {
            Task::Mrcr => toy::mrcr_row(a.seed, EVAL_STREAM, i, a.tokens, tok),
            Task::Graphwalks => toy::graphwalks_row(a.seed, EVAL_STREAM, i, a.tokens, tok),
        })
        .collect::<acc_probe::error::Result<_>>()?;
    let opts = EvalOptions {
        max_new_tokens: a.max_new_tokens,
        resamples: a.resamples,
        seed: a.seed,
        empty_set: Default::default(),
    };

    // intact, target, then each random draw
    let mut conditions: Vec<(String, Vec<usize>, Qwen3Moe)> = vec![
        ("intact".into(), Vec::new(), model.clone()),
        ("target".into(), target.clone(), target_model),
    ];
    for (i, d) in draws.iter().enumerate() {
        conditions.push((
            format!("random {}", i + 1),
            d.clone(),
            model.with_interventions(&make(d))?,
        ));
    }
    let evaluations = evaluate_conditions(&conditions, &m, task, &rows, opts)?;
    let scores: Vec<Vec<f64>> = evaluations
        .iter()
        .map(|e| e.1.rows.iter().map(|r| r.score).collect())
        .collect();
    // conditions: none, the target, then the random draws
    let [none, targeted, draws @ ..] = scores.as_slice() else {
        bail!(
            "ablate: {} conditions evaluated, expected at least 2",
            scores.len()
        );
    };
    let random: Vec<(Vec<usize>, Vec<f64>)> = conditions
        .iter()
        .skip(2)
        .zip(draws)
        .map(|(c, s)| (c.1.clone(), s.clone()))
        .collect();
    let summary = summarize(none, (&target, targeted), &random, a.resamples, a.seed)?;
    let report = AblateReport {
        model: dir.clone(),
        task: task_name,
        layer,
        chosen_from: a.from_routing.clone(),
        unit: unit.into(),
        window: (unit == "heads").then_some(a.window),
        tokens: a.tokens,
        seed: a.seed,
        resamples: a.resamples,
        summary,
        evaluations,
    };
    write_report(&report, &a.out, a.json)
}

/// Each condition's evaluation on `rows`, with one progress bar over all.
fn evaluate_conditions(
    conditions: &[(String, Vec<usize>, Qwen3Moe)],
    m: &ModelDir,
    task: Task,
    rows: &[TaskRow],
    opts: EvalOptions,
) -> anyhow::Result<Vec<(String, EvalReport)>> {
    let (tok, template, stop) = (m.tokenizer()?, m.template()?, m.stop()?);
    let bar = indicatif::ProgressBar::new((conditions.len() * rows.len()) as u64);
    bar.set_style(super::common::bar_style(
        "{msg} [{bar:30}] {pos}/{len} problems ({elapsed})",
    ));
    let mut evaluations = Vec::new();
    for (ci, (label, _, m)) in conditions.iter().enumerate() {
        bar.set_message(label.clone());
        tracing::info!("{label}: {}", m.interventions().describe());
        let chat = ChatModel {
            model: m,
            tokenizer: tok,
            template,
            stop,
        };
        let base = (ci * rows.len()) as u64;
        let rep = evaluate(&chat, task, rows, opts, &|i| {
            bar.set_position(base + i as u64)
        })?;
        evaluations.push((label.clone(), rep));
    }
    bar.finish_and_clear();
    Ok(evaluations)
}

/// Writes `ablate.json` and the figure into `out`, and prints the report.
fn write_report(report: &AblateReport, out: &std::path::Path, json: bool) -> anyhow::Result<()> {
    write_atomic(
        &out.join("ablate.json"),
        &serde_json::to_vec_pretty(report)?,
    )?;
    figure(report, out)?;
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        print!("{}", table(report));
        println!(
            "wrote {} and ablate.png/.svg",
            out.join("ablate.json").display()
        );
    }
    Ok(())
}

fn ci(m: &MeanCi) -> String {
    format!("{:+.3} [{:+.3}, {:+.3}]", m.mean, m.lo, m.hi)
}

/// The terminal table of a report.
pub fn table(r: &AblateReport) -> String {
    let s = &r.summary;
    let what = match r.window {
        Some(w) => format!("heads clamped to a {w}-key window"),
        None => "experts removed from routing".into(),
    };
    let mut out = format!(
        "ablate: {} on {}, layer {}, {what}; {} problems of {} tokens, {} bootstrap resamples\n",
        r.task,
        r.model.display(),
        r.layer,
        s.problems,
        r.tokens,
        r.resamples
    );
    out.push_str(&format!(
        "{:<12} {:<14} {:<26} {}\n",
        "condition", r.unit, "score [95% CI]", "drop vs intact [95% CI]"
    ));
    out.push_str(&format!(
        "{:<12} {:<14} {:<26} —\n",
        "intact",
        "—",
        ci(&s.intact)
    ));
    for c in std::iter::once(&s.target).chain(&s.random) {
        let units = c
            .units
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(",");
        out.push_str(&format!(
            "{:<12} {:<14} {:<26} {}\n",
            c.label,
            units,
            ci(&c.score),
            ci(&c.drop)
        ));
    }
    out.push_str(&format!(
        "random drop (mean of {} draws): {}\ntarget − random drop:           {}   rank p = {:.3} \
         ({} of {} random draws dropped at least as much)\n",
        s.random.len(),
        ci(&s.random_drop),
        ci(&s.excess_drop),
        s.rank_p,
        s.random
            .iter()
            .filter(|c| c.drop.mean >= s.target.drop.mean)
            .count(),
        s.random.len()
    ));
    out
}

fn figure(r: &AblateReport, out: &std::path::Path) -> anyhow::Result<()> {
    let s = &r.summary;
    let conds: Vec<_> = std::iter::once(&s.target).chain(&s.random).collect();
    let categories = conds
        .iter()
        .map(|c| {
            let u: Vec<String> = c.units.iter().map(usize::to_string).collect();
            format!("{} ({})", c.label, u.join(","))
        })
        .collect();
    let series = Series::new(
        "score drop (intact − ablated)",
        plot::color(2),
        conds.iter().map(|c| c.drop.mean).collect(),
    )
    .with_band(
        conds.iter().map(|c| c.drop.lo).collect(),
        conds.iter().map(|c| c.drop.hi).collect(),
    );
    let what = match r.window {
        Some(w) => format!("heads clamped to {w} keys"),
        None => "experts removed".into(),
    };
    let panel = BarPanel {
        title: format!(
            "{} · layer {} · {what} · n = {}",
            r.task, r.layer, s.problems
        ),
        categories,
        y_label: "score drop (intact − ablated; 95% CI)".into(),
        series: vec![series],
    };
    plot::bar_figure(
        &format!("Ablation of {} ({})", r.model.display(), r.task),
        &[panel],
        1,
        &out.join("ablate.png"),
        &out.join("ablate.svg"),
    )?;
    Ok(())
}
