//! `acc-probe tasks` (generate MRCR / GraphWalks rows) and `acc-probe score`.

use std::path::PathBuf;

use acc_probe::io::write_atomic;
use acc_probe::tasks::grade::EmptySet;
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
    /// What counts lengths: a tokenizer.json (or a model directory holding
    /// one), or `o200k` (OpenAI's o200k_base, as the official MRCR scripts
    /// count). Default: the bundled pair's tokenizer, else --approx-tokens.
    #[arg(long, visible_alias = "bin-tokenizer")]
    tokenizer: Option<PathBuf>,
    /// Measure lengths as characters / 4 instead of with a tokenizer.
    #[arg(long, conflicts_with = "tokenizer")]
    approx_tokens: bool,
}

impl CounterArgs {
    /// The counter and its name (said on stderr, and written into reports).
    pub fn counter(&self) -> anyhow::Result<(Box<dyn TokenCounter>, String)> {
        let tokenizer_at =
            |p: &std::path::Path| -> anyhow::Result<(Box<dyn TokenCounter>, String)> {
                let p = if p.is_dir() {
                    p.join("tokenizer.json")
                } else {
                    p.to_path_buf()
                };
                let name = format!("tokenizer {}", p.display());
                Ok((Box::new(acc_probe::tokenizer::load(&p)?), name))
            };
        let (counter, name) = match &self.tokenizer {
            Some(p) if p.as_os_str() == "o200k" || p.as_os_str() == "o200k_base" => (
                Box::new(acc_probe::tokenizer::O200k) as Box<dyn TokenCounter>,
                "o200k_base (tiktoken)".to_string(),
            ),
            Some(p) => tokenizer_at(p)?,
            None if self.approx_tokens => (
                Box::new(approx_tokens) as Box<dyn TokenCounter>,
                "characters / 4".into(),
            ),
            None => match super::pair_args::bundled("base") {
                Ok(dir) if dir.join("tokenizer.json").is_file() => tokenizer_at(&dir)?,
                _ => (
                    Box::new(approx_tokens) as Box<dyn TokenCounter>,
                    "characters / 4 (no bundled tokenizer found)".into(),
                ),
            },
        };
        eprintln!("lengths counted with {name}");
        Ok((counter, name))
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
    let (counter, _) = a.counter.counter()?;
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
    /// Gold rows: JSONL or parquet (as written by `acc-probe tasks`, or an
    /// official file), or an official MRCR folder of
    /// `{2,4,8}needle/{N}needle_{0,1}.parquet`.
    #[arg(long)]
    gold: PathBuf,
    /// With an MRCR folder: the needle counts read (default: all there).
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u64).range(1..=64))]
    needles: Option<Vec<u64>>,
    #[command(flatten)]
    counter: CounterArgs,
    /// GraphWalks, both sets empty: `nemo` scores 1 (NeMo Gym), `lm-eval` 0.
    #[arg(long, default_value = "nemo", value_parser = empty_set_parser())]
    empty_set: EmptySet,
    /// Drop (and count) rows whose prompt plus answer exceed this many
    /// tokens, as lm-eval drops what the model cannot hold (its
    /// max_position_embeddings). Default: none dropped.
    #[arg(long)]
    max_len: Option<usize>,
    /// Bootstrap resamples of the CIs.
    #[arg(long, default_value_t = 1000, value_parser = super::common::in_range(1, super::common::MAX_RESAMPLES))]
    resamples: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long)]
    json: bool,
}

/// clap's parser of `--empty-set`.
pub fn empty_set_parser() -> impl TypedValueParser<Value = EmptySet> {
    PossibleValuesParser::new(EmptySet::NAMES).try_map(|s| {
        EmptySet::parse(&s).ok_or_else(|| format!("expected one of {}", EmptySet::NAMES.join(", ")))
    })
}

pub fn run_score(a: ScoreArgs) -> anyhow::Result<()> {
    let (counter, counter_name) = a.counter.counter()?;
    let opts = ScoreOptions {
        allow_missing: a.allow_missing,
        empty_set: a.empty_set,
        resamples: a.resamples,
        seed: a.seed,
        max_len: a.max_len,
        counter_name,
        needles: a
            .needles
            .clone()
            .map(|n| n.into_iter().map(|x| x as usize).collect()),
    };
    let r = score_files_with(a.task, &a.pred, &a.gold, counter.as_ref(), opts)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        println!(
            "{:?}: mean {:.4} [{:.4}, {:.4}] over {} of {} rows ({} dropped as too long)",
            r.task, r.mean, r.overall.lo, r.overall.hi, r.scored, r.gold_rows, r.dropped_too_long
        );
        if let Some(f) = &r.overall.flexible {
            println!(
                "  flexible F1 {:.4} [{:.4}, {:.4}]; both sets empty score as {}",
                f.mean,
                f.lo,
                f.hi,
                r.conventions.empty_set.name()
            );
        }
        for (k, g) in &r.by_kind {
            println!(
                "  {k:<14} n={:<5} mean {:.4} [{:.4}, {:.4}]",
                g.n, g.mean, g.lo, g.hi
            );
        }
        for b in &r.by_length {
            let s = &b.score;
            println!(
                "  {:<14} n={:<5} mean {:.4} [{:.4}, {:.4}]",
                b.bin, s.n, s.mean, s.lo, s.hi
            );
        }
        if let Some(auc) = r.auc {
            println!(
                "  AUC over length {auc:.4} (lm-eval prints {:.2})",
                auc * 100.0
            );
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
