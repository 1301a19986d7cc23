//! `acc-probe tasks` (generate MRCR / GraphWalks rows) and `acc-probe score`.

use std::path::PathBuf;

use acc_probe::io::write_atomic;
use acc_probe::tasks::score::{score_files_with, ScoreOptions, Task};
use acc_probe::tasks::{graphwalks, mrcr};
use acc_probe::tokenizer::{approx_tokens, TokenCounter};
use anyhow::{bail, Context};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::Args;

/// clap's parser of a benchmark task (`mrcr`, `graphwalks`), listing both in help.
pub fn task_parser() -> impl TypedValueParser<Value = Task> {
    PossibleValuesParser::new(Task::ALL.map(|t| t.name())).try_map(|s| s.parse::<Task>())
}

/// How prompt lengths are measured.
#[derive(Args, Debug)]
pub struct CounterArgs {
    /// tokenizer.json measuring lengths (or a model directory holding one).
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// Measure lengths as characters / 4 instead of with a tokenizer.
    #[arg(long, conflicts_with = "tokenizer")]
    approx_tokens: bool,
}

impl CounterArgs {
    fn counter(&self) -> anyhow::Result<Box<dyn TokenCounter>> {
        match &self.tokenizer {
            Some(p) => {
                let p = if p.is_dir() {
                    p.join("tokenizer.json")
                } else {
                    p.clone()
                };
                Ok(Box::new(acc_probe::tokenizer::load(&p)?))
            }
            None if self.approx_tokens => Ok(Box::new(approx_tokens)),
            None => bail!(
                "give --tokenizer FILE (lengths in that tokenizer's tokens) or --approx-tokens"
            ),
        }
    }
}

#[derive(Args, Debug)]
pub struct TasksArgs {
    #[arg(value_parser = task_parser())]
    task: Task,
    /// Number of rows.
    #[arg(long, value_parser = super::common::count)]
    n: usize,
    /// Target prompt length in tokens (1..=2M).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_TASK_TOKENS))]
    tokens: u64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// MRCR needle counts (1..=64), used in turn.
    #[arg(long, value_delimiter = ',', default_value = "2,4,8", value_parser = clap::value_parser!(u64).range(1..=64))]
    needles: Vec<u64>,
    /// GraphWalks problem types, used in turn.
    #[arg(long, value_delimiter = ',', default_value = "bfs,parents")]
    problems: Vec<String>,
    #[command(flatten)]
    counter: CounterArgs,
    /// Output JSONL file (official column names).
    #[arg(long)]
    out: PathBuf,
}

/// The longest prompt `tasks` generates (2M tokens; the official sets stop at 1M).
const MAX_TASK_TOKENS: u64 = 2 << 20;

pub fn run_tasks(a: TasksArgs) -> anyhow::Result<()> {
    // every choice is checked before the first row is generated
    let problems = a
        .problems
        .iter()
        .map(|p| match p.as_str() {
            "bfs" => Ok(graphwalks::Problem::Bfs),
            "parents" => Ok(graphwalks::Problem::Parents),
            other => bail!("unknown GraphWalks problem `{other}`: expected bfs or parents"),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let tokens = a.tokens as usize;
    acc_probe::io::prepare_outputs(&[("--out", a.out.as_path())], &[])?;
    let counter = a.counter.counter()?;
    let mut lines = String::new();
    let bar = indicatif::ProgressBar::new(a.n as u64);
    // needle counts and problem types in turn (clap leaves neither list empty)
    let (mut needle_counts, mut problem_types) =
        (a.needles.iter().cycle(), problems.iter().cycle());
    for i in 0..a.n {
        let seed = a.seed.wrapping_mul(1_000_003).wrapping_add(i as u64);
        let json = match a.task {
            Task::Mrcr => {
                let needles = needle_counts.next().copied().unwrap_or(2) as usize;
                serde_json::to_string(&mrcr::generate(seed, tokens, needles, counter.as_ref())?)?
            }
            Task::Graphwalks => {
                let problem = problem_types
                    .next()
                    .copied()
                    .unwrap_or(graphwalks::Problem::Bfs);
                serde_json::to_string(&graphwalks::generate(
                    seed,
                    tokens,
                    problem,
                    counter.as_ref(),
                )?)?
            }
        };
        lines.push_str(&json);
        lines.push('\n');
        bar.inc(1);
    }
    bar.finish_and_clear();
    write_atomic(&a.out, lines.as_bytes())
        .with_context(|| format!("writing {}", a.out.display()))?;
    println!("wrote {} {:?} rows to {}", a.n, a.task, a.out.display());
    Ok(())
}

#[derive(Args, Debug)]
pub struct ScoreArgs {
    #[arg(value_parser = task_parser())]
    task: Task,
    /// Predictions: JSONL with one {"response": ...} per gold row (matched by
    /// `id`/`instance_id`/`index` where both files carry one, else in order).
    #[arg(long)]
    pred: PathBuf,
    /// Score the rows that have a prediction when the counts differ (refused otherwise).
    #[arg(long)]
    allow_missing: bool,
    /// Gold rows (JSONL, as written by `acc-probe tasks`).
    #[arg(long)]
    gold: PathBuf,
    #[command(flatten)]
    counter: CounterArgs,
    #[arg(long)]
    json: bool,
}

pub fn run_score(a: ScoreArgs) -> anyhow::Result<()> {
    let counter = a.counter.counter()?;
    let opts = ScoreOptions {
        allow_missing: a.allow_missing,
    };
    let r = score_files_with(a.task, &a.pred, &a.gold, counter.as_ref(), opts)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        println!(
            "{:?}: mean {:.4} over {} of {} rows",
            r.task, r.mean, r.scored, r.gold_rows
        );
        for (k, g) in r.by_kind.iter().chain(r.by_length.iter()) {
            println!("  {k:<14} n={:<5} mean {:.4}", g.n, g.mean);
        }
        for e in &r.errors {
            eprintln!("{}:{}: {}", e.file, e.line, e.reason);
        }
        if !r.errors.is_empty() {
            eprintln!("{} rows could not be scored", r.errors.len());
        }
    }
    Ok(())
}
