//! Command-line interface (clap derive). Kept out of the library: each
//! subcommand parses its arguments, calls library functions and prints.
//!
//! No input reaches a panic here: `unwrap` and `expect` are linted (an error
//! under `clippy -D warnings`), and slices are read with `get`, iterators or
//! patterns. Run with `-W clippy::indexing_slicing`, clippy's remaining
//! findings in this module are `serde_json::Value` lookups, which give `Null`
//! for a missing key or index and never panic.
#![warn(clippy::unwrap_used, clippy::expect_used)]

mod ablate;
mod agents;
mod attention;
mod bench;
mod bench_big;
mod bench_compile;
mod common;
mod compile;
mod drills;
mod dump;
mod eval;
mod figures;
mod forward;
mod generate;
#[cfg(feature = "cuda-kernels")]
mod gpu;
mod grow;
mod lengths;
mod merge;
mod pair_args;
mod random_model;
mod reproduce;
mod routing;
mod scores;
mod seeds;
mod tasks;
mod train;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Mechanism analysis of long-context training: instrumented Qwen3-MoE forward
/// passes with streaming attention statistics and expert-routing capture.
#[derive(Parser, Debug)]
#[command(name = "acc-probe", version, about)]
struct Cli {
    /// Worker threads for the CPU kernels (default: all cores).
    #[arg(long, global = true, value_parser = common::in_range(1, common::MAX_THREADS))]
    threads: Option<usize>,
    /// More log output (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Attention-span distributions of the base / ACC pair on identical inputs, with CIs and a figure.
    Attention(Box<attention::AttentionArgs>),
    /// Expert routing of the base / ACC pair on identical inputs: frequencies, top experts, agreement, CIs.
    Routing(Box<routing::RoutingArgs>),
    /// Causal check: re-score a task with chosen experts removed (or heads clamped) vs random ones.
    Ablate(Box<ablate::AblateArgs>),
    /// The main table: toy MRCR / GraphWalks scores of the base / ACC pair with CIs.
    Scores(scores::ScoresArgs),
    /// Reproductions that differ only in their seed: per-seed scores, the mean over seeds with CIs over seeds and problems
    Seeds(seeds::SeedsArgs),
    /// Compiled context lengths per domain (histogram, quantiles) from ACC rows.
    Lengths(lengths::LengthsArgs),
    /// Run the declarative analyses of analyses/*.toml into figures/.
    Figures(figures::FiguresArgs),
    /// Join the captures of `attention` / `routing` shard runs (--shard i/N).
    Merge(merge::MergeArgs),
    /// One forward pass; writes logits, router decisions and per-row attention statistics.
    Dump(dump::DumpArgs),
    /// A timed forward pass on random tokens (wall time, tokens/s, peak memory).
    Forward(forward::ForwardArgs),
    /// Greedy decoding with a KV cache.
    Generate(generate::GenerateArgs),
    /// Decode and grade MRCR / GraphWalks with 95% bootstrap CIs.
    Eval(eval::EvalArgs),
    /// Exact-match copying on held-out copy drills, short and at the toy tasks' lengths.
    Drills(drills::DrillsArgs),
    /// Generate MRCR or GraphWalks rows (official columns) sized to a token budget.
    Tasks(tasks::TasksArgs),
    /// Score predictions with the official MRCR / GraphWalks graders.
    Score(tasks::ScoreArgs),
    /// Compile agent trajectories into long-context QA samples (ACC).
    Compile(Box<compile::CompileArgs>),
    /// Synthetic search / SQL / SWE agent trajectories in real framework formats.
    Agents(agents::AgentsArgs),
    /// Train or fine-tune a Qwen3-MoE (objectives lm, agent-sft, acc).
    Train(Box<train::TrainArgs>),
    /// A seeded checkpoint of any shape (e.g. Qwen3-30B-A3B's), or a variant of one differing in named layers.
    RandomModel(random_model::RandomModelArgs),
    /// Grow a model in depth, computing the same function (new layers start as identities).
    Grow(grow::GrowArgs),
    /// The recipe end to end: environments → compile → base and ACC models → toy MRCR / GraphWalks.
    Reproduce(reproduce::ReproduceArgs),
    /// Benchmarks that print a table.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// The CUDA attention kernel: parity with the CPU path, benchmark.
    #[cfg(feature = "cuda-kernels")]
    #[command(subcommand)]
    Gpu(gpu::GpuCommand),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    // candle's matmul asks for its thread count on every call, and without
    // RAYON_NUM_THREADS that reads /proc/cpuinfo each time; pin it once (to
    // --threads, so that the kernels and rayon agree)
    if let Some(n) = cli.threads {
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    } else if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let n = candle_core::utils::get_num_threads();
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    }
    // data-parallel training: `workers` packs at once on rayon's pool, each
    // with single-threaded kernels
    let workers = match &cli.command {
        Command::Train(a) => a.workers,
        Command::Reproduce(a) => a.workers,
        Command::Bench(bench::BenchCommand::Train(a)) => Some(a.workers),
        _ => None,
    }
    .filter(|&w| w > 1);
    let pool_threads = match workers {
        Some(w) => {
            std::env::set_var("RAYON_NUM_THREADS", "1");
            std::env::set_var("CANDLE_NUM_THREADS", "1");
            Some(w.max(cli.threads.unwrap_or(0)))
        }
        None => cli.threads,
    };
    if let Some(n) = pool_threads {
        if let Err(e) = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
        {
            eprintln!("error: cannot set {n} threads: {e}");
            return ExitCode::FAILURE;
        }
    }
    let result = dispatch(cli.command);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes joined by ": ", leaving out a cause that the
/// message before it already ends with (the library's errors include their
/// source in their message).
fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let s = cause.to_string();
        if out.ends_with(&s) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&s);
    }
    out
}

/// Runs one subcommand (also used by `figures` for the steps of a spec).
fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Attention(a) => attention::run(*a),
        Command::Routing(a) => routing::run(*a),
        Command::Ablate(a) => ablate::run(*a),
        Command::Scores(a) => scores::run(a),
        Command::Seeds(a) => seeds::run(a),
        Command::Lengths(a) => lengths::run(a),
        Command::Figures(a) => figures::run(a),
        Command::Merge(a) => merge::run(a),
        Command::Dump(a) => dump::run(a),
        Command::Forward(a) => forward::run(a),
        Command::Generate(a) => generate::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Drills(a) => drills::run(a),
        Command::Tasks(a) => tasks::run_tasks(a),
        Command::Score(a) => tasks::run_score(a),
        Command::Agents(a) => agents::run(a),
        Command::Compile(a) => compile::run(*a),
        Command::Train(a) => train::run(*a),
        Command::RandomModel(a) => random_model::run(a),
        Command::Grow(a) => grow::run(a),
        Command::Reproduce(a) => reproduce::run(a),
        Command::Bench(b) => bench::run(b),
        #[cfg(feature = "cuda-kernels")]
        Command::Gpu(g) => gpu::run(g),
    }
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    // colour only on a terminal, and never under NO_COLOR (no-color.org)
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .try_init();
}
