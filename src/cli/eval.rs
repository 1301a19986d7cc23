//! `acc-probe eval`: decode and grade MRCR / GraphWalks with bootstrap CIs.

use std::path::PathBuf;

use acc_probe::tasks::eval::{evaluate, EvalOptions, TaskRow};
use acc_probe::tasks::score::Task;
use acc_probe::tasks::toy::{self, EVAL_STREAM};
use anyhow::{bail, Context};
use candle_core::Device;
use clap::Args;

use super::common::{open_model, warn_streamed_decoding, WeightsArg};
use super::tasks::task_parser;

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Hugging Face model directory (with tokenizer.json).
    #[arg(long)]
    model: PathBuf,
    #[arg(long, value_parser = task_parser())]
    task: Task,
    /// Generate this many problems (with --tokens): the held-out problems of
    /// `reproduce` and `scores` (MRCR with 2, 4, 8 needles in turn, fewer
    /// where they do not fit; GraphWalks BFS and parents in turn).
    #[arg(long, conflicts_with = "input", required_unless_present = "input", value_parser = super::common::count)]
    n: Option<usize>,
    /// Prompt length of generated problems, in the model's tokens (default:
    /// the bundled pair's evaluation length, or the model's positions if fewer).
    #[arg(long, requires = "n")]
    tokens: Option<usize>,
    /// Task rows: JSONL or parquet (as written by `acc-probe tasks`, or an
    /// official file), or an official MRCR folder of
    /// `{2,4,8}needle/{N}needle_{0,1}.parquet`.
    #[arg(long)]
    input: Option<PathBuf>,
    /// With an MRCR folder: the needle counts read (default: all there).
    #[arg(long, value_delimiter = ',', requires = "input", value_parser = clap::value_parser!(u64).range(1..=64))]
    needles: Option<Vec<u64>>,
    /// GraphWalks, both sets empty: `nemo` scores 1 (NeMo Gym), `lm-eval` 0.
    #[arg(long, default_value = "nemo", value_parser = super::tasks::empty_set_parser())]
    empty_set: acc_probe::tasks::grade::EmptySet,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, default_value_t = 256)]
    max_new_tokens: usize,
    /// Bootstrap resamples for the 95% CIs.
    #[arg(long, default_value_t = 1000, value_parser = super::common::in_range(1, super::common::MAX_RESAMPLES))]
    resamples: usize,
    /// How the model's weights are held (streamed: every decoding step reads the layers again).
    #[arg(long, value_enum, default_value_t = WeightsArg::Auto)]
    weights: WeightsArg,
    #[arg(long)]
    json: bool,
}

pub fn run(a: EvalArgs) -> anyhow::Result<()> {
    let device = Device::Cpu;
    let m = open_model(&a.model, a.weights, &device)?;
    warn_streamed_decoding(&m);
    m.tokenizer().with_context(|| {
        format!(
            "{}: eval needs the model's tokenizer.json",
            a.model.display()
        )
    })?;
    let chat = m.chat()?;
    let tok = chat.tokenizer;
    let task = a.task;
    let rows: Vec<TaskRow> = match (&a.input, a.n) {
        (Some(path), _) => {
            let mut rows = Vec::new();
            let needles: Option<Vec<usize>> = a
                .needles
                .as_ref()
                .map(|n| n.iter().map(|&x| x as usize).collect());
            for (line, v) in acc_probe::tasks::score::read_rows(path, needles.as_deref())? {
                let v = v.map_err(|e| anyhow::anyhow!("{}:{line}: {e}", path.display()))?;
                let row = match task {
                    Task::Mrcr => serde_json::from_value(v).map(TaskRow::Mrcr),
                    Task::Graphwalks => serde_json::from_value(v).map(TaskRow::Graphwalks),
                };
                rows.push(row.map_err(|e| {
                    anyhow::anyhow!("{}:{line}: not a {task:?} row: {e}", path.display())
                })?);
            }
            if rows.is_empty() {
                bail!(
                    "{}: no rows to evaluate: a score of no problems is no score",
                    path.display()
                );
            }
            rows
        }
        (None, Some(n)) => {
            let limit = m.ckpt.config.max_position_embeddings;
            let tokens = a.tokens.unwrap_or_else(|| {
                let t = acc_probe::train::reproduce::PAIR_TASK_TOKENS.min(limit / 2);
                eprintln!("--tokens not given: problems of {t} tokens (the bundled pair's evaluation length)");
                t
            });
            if tokens == 0 || tokens > limit {
                bail!(
                    "--tokens {tokens}: expected 1..={limit} (the model's max_position_embeddings)"
                );
            }
            // the held-out stream of `reproduce` and `scores`
            (0..n)
                .map(|i| match task {
                    Task::Mrcr => toy::mrcr_row(a.seed, EVAL_STREAM, i, tokens, tok),
                    Task::Graphwalks => toy::graphwalks_row(a.seed, EVAL_STREAM, i, tokens, tok),
                })
                .collect::<acc_probe::Result<_>>()?
        }
        (None, None) => bail!("give --n N --tokens T or --input FILE"),
    };
    let bar = indicatif::ProgressBar::new(rows.len() as u64);
    let opts = EvalOptions {
        max_new_tokens: a.max_new_tokens,
        resamples: a.resamples,
        seed: a.seed,
        empty_set: a.empty_set,
    };
    let report = evaluate(&chat, task, &rows, opts, &|i| bar.set_position(i as u64))?;
    bar.finish_and_clear();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let line = |name: &str, c: &acc_probe::analysis::bootstrap::MeanCi| {
        println!(
            "{name:<16} n={:<5} {:.4}  95% CI [{:.4}, {:.4}]",
            c.n, c.mean, c.lo, c.hi
        )
    };
    println!(
        "{task:?} on {} ({} bootstrap resamples)",
        a.model.display(),
        a.resamples
    );
    line("overall", &report.overall);
    for (k, c) in &report.by_kind {
        line(k, c);
    }
    if let Some(f) = &report.flexible {
        line("flexible F1", f);
        for (k, c) in &report.by_kind_flexible {
            line(&format!("flexible {k}"), c);
        }
    }
    for b in &report.by_length {
        line(&b.bin, &b.score);
    }
    if let Some(auc) = report.auc {
        println!(
            "AUC over length  {auc:.4} (lm-eval prints {:.2})",
            auc * 100.0
        );
    }
    if report.dropped_too_long > 0 {
        println!(
            "{} rows dropped: prompt plus answer exceed the model's {} positions",
            report.dropped_too_long,
            report.conventions.max_len.unwrap_or(0)
        );
    }
    Ok(())
}
