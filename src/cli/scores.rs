//! `acc-probe scores`: the main table. Toy MRCR / GraphWalks scores of the
//! base / ACC pair on identical held-out problems, with 95% bootstrap CIs and
//! the paired ACC − base difference; a table, scores.json and a figure.

use std::path::PathBuf;

use acc_probe::io::write_atomic;
use acc_probe::model::Checkpoint;
use acc_probe::plot::{self, BarPanel, Series};
use acc_probe::tasks::eval::{EvalOptions, TaskRow};
use acc_probe::tasks::score::Task;
use acc_probe::tasks::toy::{self, EVAL_STREAM};
use acc_probe::train::reproduce::{
    evaluate_pair, task_table, TaskResult, PAIR_EVAL_N, PAIR_MAX_NEW_TOKENS, PAIR_TASK_TOKENS,
};
use anyhow::{bail, Context};
use clap::Args;
use serde_json::json;

use super::pair_args::pair_dirs;

#[derive(Args, Debug)]
pub struct ScoresArgs {
    /// Base model directory (default: the bundled checkpoints/base).
    #[arg(long)]
    base: Option<PathBuf>,
    /// Fine-tuned model directory (default: the bundled checkpoints/acc).
    #[arg(long)]
    acc: Option<PathBuf>,
    /// Tasks, comma-separated: mrcr, graphwalks.
    #[arg(long, default_value = "mrcr,graphwalks")]
    task: String,
    /// Held-out problems per task (the seed's evaluation stream, as in `reproduce`).
    #[arg(long, default_value_t = PAIR_EVAL_N, value_parser = super::common::count)]
    n: usize,
    /// Prompt length of each problem, in the models' tokens (default: the
    /// bundled pair's evaluation length, `reproduce`'s `task_tokens`).
    #[arg(long, default_value_t = PAIR_TASK_TOKENS)]
    tokens: usize,
    /// Decoding budget (the bundled pair's: room for an edge trace).
    #[arg(long, default_value_t = PAIR_MAX_NEW_TOKENS)]
    max_new_tokens: usize,
    #[arg(long, default_value_t = 1000, value_parser = super::common::in_range(1, super::common::MAX_RESAMPLES))]
    resamples: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// GraphWalks, both sets empty: `nemo` scores 1 (NeMo Gym), `lm-eval` 0.
    #[arg(long, default_value = "nemo", value_parser = super::tasks::empty_set_parser())]
    empty_set: acc_probe::tasks::grade::EmptySet,
    /// Output directory: scores.json and the figure.
    #[arg(long, default_value = "runs/scores")]
    out: PathBuf,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

fn parse_tasks(s: &str) -> anyhow::Result<Vec<Task>> {
    let mut v = Vec::new();
    for t in s.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        v.push(match t {
            "mrcr" => Task::Mrcr,
            "graphwalks" => Task::Graphwalks,
            other => bail!("--task: unknown task `{other}` (expected mrcr, graphwalks)"),
        });
    }
    if v.is_empty() {
        bail!("--task: expected mrcr, graphwalks or both");
    }
    Ok(v)
}

pub fn run(a: ScoresArgs) -> anyhow::Result<()> {
    let (base, acc) = pair_dirs(a.base.as_deref(), a.acc.as_deref())?;
    let tasks = parse_tasks(&a.task)?;
    acc_probe::io::prepare_out_dir(
        "--out",
        &a.out,
        &["scores.json", "scores.png", "scores.svg"],
        &[("--base", &base), ("--acc", &acc)],
    )?;
    let cb = Checkpoint::open(&base)?;
    let ca = Checkpoint::open(&acc)?;
    let limit = cb
        .config
        .max_position_embeddings
        .min(ca.config.max_position_embeddings);
    if a.tokens > limit {
        bail!(
            "--tokens {}: longer than max_position_embeddings ({limit})",
            a.tokens
        );
    }
    // problems are sized with the base model's tokenizer; both models see the same text
    let tok_path = cb
        .tokenizer_path()
        .with_context(|| format!("{}: scores needs tokenizer.json", base.display()))?;
    let tok = acc_probe::tokenizer::load(&tok_path)?;
    let mut rows: Vec<(Task, Vec<TaskRow>)> = Vec::new();
    for &t in &tasks {
        let r = (0..a.n)
            .map(|i| match t {
                Task::Mrcr => toy::mrcr_row(a.seed, EVAL_STREAM, i, a.tokens, &tok),
                Task::Graphwalks => toy::graphwalks_row(a.seed, EVAL_STREAM, i, a.tokens, &tok),
            })
            .collect::<acc_probe::error::Result<Vec<_>>>()?;
        rows.push((t, r));
    }
    let opts = EvalOptions {
        max_new_tokens: a.max_new_tokens,
        resamples: a.resamples,
        seed: a.seed,
        empty_set: a.empty_set,
    };
    let bar = indicatif::ProgressBar::new_spinner();
    bar.enable_steady_tick(std::time::Duration::from_millis(250));
    let pair = evaluate_pair(&base, &acc, &rows, opts, &mut |m, t| {
        bar.set_message(format!("decoding {t} with {m}"))
    })?;
    bar.finish_and_clear();

    let cats: Vec<String> = pair.results.iter().map(|r| r.task.clone()).collect();
    let series =
        |label: &str,
         color,
         pick: &dyn Fn(&TaskResult) -> &acc_probe::analysis::bootstrap::MeanCi| {
            Series::new(
                label,
                color,
                pair.results.iter().map(|r| pick(r).mean).collect(),
            )
            .with_band(
                pair.results.iter().map(|r| pick(r).lo).collect(),
                pair.results.iter().map(|r| pick(r).hi).collect(),
            )
        };
    let panel = BarPanel {
        title: format!(
            "held-out toy problems · n = {} per task · {} tokens",
            a.n, a.tokens
        ),
        categories: cats,
        y_label: "score (MRCR: difflib ratio; GraphWalks: F1; 95% CI)".into(),
        series: vec![
            series("base", plot::BASE_COLOR, &|r| &r.base),
            series("ACC", plot::ACC_COLOR, &|r| &r.acc),
        ],
    };
    plot::bar_figure(
        "Toy MRCR and GraphWalks, base vs ACC",
        &[panel],
        1,
        &a.out.join("scores.png"),
        &a.out.join("scores.svg"),
    )?;
    let by_model: Vec<_> = pair
        .reports
        .iter()
        .map(|((task, model), rep)| json!({"task": task, "model": model, "report": rep}))
        .collect();
    let report = json!({
        "kind": "acc-probe scores (paired)",
        "base": base, "acc": acc,
        "problems_per_task": a.n, "tokens": a.tokens, "seed": a.seed,
        "max_new_tokens": a.max_new_tokens, "resamples": a.resamples,
        "problems": "toy::{mrcr,graphwalks}_row(seed, EVAL_STREAM, i): the held-out stream of `reproduce`",
        "results": pair.results,
        "evaluations": by_model,
    });
    let json_path = a.out.join("scores.json");
    write_atomic(&json_path, &serde_json::to_vec_pretty(&report)?)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", task_table(&pair.results));
        println!("wrote {} and scores.png/.svg", json_path.display());
    }
    Ok(())
}
