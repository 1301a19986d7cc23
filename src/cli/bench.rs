//! `acc-probe bench forward`: each cell runs in its own process (so peak
//! memory is that cell's), under a memory limit so that a configuration that
//! cannot fit fails cleanly and is reported as out of memory.

use std::os::unix::process::CommandExt;
use std::process::Command;

/// A line of a benchmark table: on stdout, or on stderr when stdout holds
/// the `--json` document.
macro_rules! table_line {
    ($json:expr, $($fmt:tt)*) => {
        if $json {
            eprintln!($($fmt)*)
        } else {
            println!($($fmt)*)
        }
    };
}

use anyhow::Context;
use clap::{Args, Subcommand};
use serde::Deserialize;

use super::common::fmt_bytes;

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Forward-pass time and peak memory on the benchmark model.
    Forward(BenchForwardArgs),
    /// The streaming attention kernel alone, statistics on vs off.
    Attention(BenchAttentionArgs),
    /// The ACC compiler on generated trajectories, 1 and 2 jobs, vs the tokenizer alone.
    Compile(super::bench_compile::BenchCompileArgs),
    /// Training throughput (tokens/s) of full optimizer steps, fused vs composed ops.
    Train(BenchTrainArgs),
    /// A real-size pair with streamed weights: wall time, peak RSS, bytes read, cold and warm.
    Big(super::bench_big::BenchBigArgs),
    /// One cell of `bench big` (run by it in a child process).
    #[command(hide = true)]
    BigCell(super::bench_big::BenchBigArgs),
}

#[derive(Args, Debug)]
pub struct BenchTrainArgs {
    /// Packs computed in parallel, each with single-threaded kernels (see `train --workers`).
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Model config.json (default: the bundled pair's config, 24 layers).
    #[arg(long)]
    config: Option<std::path::PathBuf>,
    /// Pack lengths.
    #[arg(long, value_delimiter = ',', default_value = "512,1536")]
    seq_len: Vec<usize>,
    /// Sequences per pack (equal lengths).
    #[arg(long, default_value_t = 1)]
    segments: usize,
    /// Packs per optimizer step.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    #[arg(long, default_value_t = 5)]
    steps: usize,
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Only the fused ops (skip the composed baseline).
    #[arg(long)]
    fused_only: bool,
    #[arg(long)]
    json: bool,
}

fn run_train(a: BenchTrainArgs) -> anyhow::Result<()> {
    let cfg = match &a.config {
        Some(p) => acc_probe::model::Qwen3MoeConfig::from_file(p)?,
        None => acc_probe::train::reproduce::Preset::full().model_config(4096),
    };
    let mut rows = Vec::new();
    if !a.json {
        println!(
            "bench train: {} layers, hidden {}, {} experts top-{}, vocab {}; {} pack(s)/step, {} segment(s)/pack, {} worker(s), mean of {} steps",
            cfg.num_hidden_layers, cfg.hidden_size, cfg.num_experts, cfg.num_experts_per_tok,
            cfg.vocab_size, a.batch, a.segments, a.workers, a.steps
        );
        println!(
            "{:>7} | {:>8} | {:>9} | {:>9} | {:>10}",
            "seq", "ops", "step s", "tokens/s", "peak RSS"
        );
    }
    for &t in &a.seq_len {
        let modes: &[bool] = if a.fused_only {
            &[true]
        } else {
            &[false, true]
        };
        for &fused in modes {
            let m = acc_probe::bench::measure_train(
                &cfg, t, a.segments, a.batch, a.steps, a.warmup, fused, a.workers, 0,
            )?;
            if !a.json {
                println!(
                    "{:>7} | {:>8} | {:>9.3} | {:>9.0} | {:>10}",
                    m.seq_len,
                    if fused { "fused" } else { "composed" },
                    m.step_s,
                    m.tokens_per_s,
                    m.peak_rss.map_or("-".into(), fmt_bytes)
                );
            }
            rows.push(m);
        }
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct BenchAttentionArgs {
    /// Sequence lengths.
    #[arg(long, value_delimiter = ',', default_value = "1024,4096,16384")]
    tokens: Vec<usize>,
    #[arg(long, default_value_t = 4)]
    heads: usize,
    #[arg(long, default_value_t = 2)]
    kv_heads: usize,
    #[arg(long, default_value_t = 64)]
    head_dim: usize,
    #[arg(long, default_value_t = acc_probe::model::StreamBlocks::default().block_q)]
    block_q: usize,
    #[arg(long, default_value_t = acc_probe::model::StreamBlocks::default().block_k)]
    block_k: usize,
    /// Timed runs per cell (the fastest is reported; on/off runs alternate).
    #[arg(long, default_value_t = 5, value_parser = super::common::in_range(1, super::common::MAX_REPEAT))]
    repeat: usize,
}

fn run_attention(a: BenchAttentionArgs) -> anyhow::Result<()> {
    let blocks = acc_probe::model::StreamBlocks {
        block_q: a.block_q,
        block_k: a.block_k,
    };
    println!(
        "bench attention: {} heads ({} KV) x {}, blocks {}x{}, fastest of {} alternating runs",
        a.heads, a.kv_heads, a.head_dim, a.block_q, a.block_k, a.repeat
    );
    println!(
        "{:>7} | {:>12} | {:>12} | {:>8} | {:>14}",
        "tokens", "stats off s", "stats on s", "on/off", "off GFLOP/s"
    );
    for &t in &a.tokens {
        let (mut off, mut on) = (f64::INFINITY, f64::INFINITY);
        for _ in 0..a.repeat {
            off = off.min(acc_probe::bench::time_attention_kernel(
                a.heads, a.kv_heads, t, a.head_dim, blocks, false, 1,
            )?);
            on = on.min(acc_probe::bench::time_attention_kernel(
                a.heads, a.kv_heads, t, a.head_dim, blocks, true, 1,
            )?);
        }
        // causal QKᵀ and PV: 2 · 2 · heads · d · t(t+1)/2 flops
        let flops =
            2.0 * 2.0 * a.heads as f64 * a.head_dim as f64 * (t as f64 * (t as f64 + 1.0) / 2.0);
        println!(
            "{:>7} | {:>12.4} | {:>12.4} | {:>8.3} | {:>14.1}",
            t,
            off,
            on,
            on / off,
            flops / off / 1e9
        );
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct BenchForwardArgs {
    /// Sequence lengths.
    #[arg(long, value_delimiter = ',', default_value = "1024,4096,16384,32768")]
    tokens: Vec<usize>,
    /// Memory limit per cell in GiB (address space); cells above it report OOM.
    #[arg(long, default_value_t = 20)]
    mem_limit_gib: u64,
    /// Timed passes per process (the fastest is reported).
    #[arg(long, default_value_t = 3, value_parser = super::common::in_range(1, super::common::MAX_REPEAT))]
    repeat: usize,
    /// Rounds over all cells, alternating them (the fastest round is reported per cell;
    /// more rounds make ratios robust to machine noise).
    #[arg(long, default_value_t = 1, value_parser = super::common::in_range(1, super::common::MAX_REPEAT))]
    rounds: usize,
    /// Print the results as one JSON array on stdout (the table goes to stderr).
    #[arg(long)]
    json: bool,
}

#[derive(Deserialize)]
struct Row {
    seconds: f64,
    tokens_per_second: f64,
    peak_rss_bytes: Option<u64>,
    logits_checksum: f64,
    #[serde(skip)]
    raw: serde_json::Value,
}

/// Runs one cell in a child process under an address-space limit.
fn run_cell(
    exe: &std::path::Path,
    t: usize,
    imp: &str,
    probe: &str,
    repeat: usize,
    limit_gib: u64,
) -> anyhow::Result<Result<Row, String>> {
    let limit = limit_gib << 30;
    let mut cmd = Command::new(exe);
    cmd.args([
        "forward",
        "--random",
        "bench",
        "--tokens",
        &t.to_string(),
        "--impl",
        imp,
        "--probe",
        probe,
        "--repeat",
        &repeat.to_string(),
        "--json",
    ]);
    // SAFETY: setrlimit is async-signal-safe; it runs in the child before exec.
    unsafe {
        cmd.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().context("running a benchmark cell")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if out.status.success() {
        if let Ok(mut row) = serde_json::from_str::<Row>(stdout.trim()) {
            row.raw = serde_json::from_str(stdout.trim())?;
            return Ok(Ok(row));
        }
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let oom = err.contains("memory allocation") || out.status.code().is_none();
    Ok(Err(if oom {
        format!("out of memory (> {limit_gib} GiB)")
    } else {
        err.lines().last().unwrap_or("failed").to_string()
    }))
}

const CELLS: [(&str, &str, &str); 4] = [
    ("ours, probe none", "ours", "none"),
    ("ours, probe all", "ours", "all"),
    ("candle-transformers", "candle", "none"),
    ("materialised, probe all", "materialized", "all"),
];

pub fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    let a = match cmd {
        BenchCommand::Forward(a) => a,
        BenchCommand::Attention(a) => return run_attention(a),
        BenchCommand::Compile(a) => return super::bench_compile::run(a),
        BenchCommand::Train(a) => return run_train(a),
        BenchCommand::Big(a) => return super::bench_big::run(a),
        BenchCommand::BigCell(a) => {
            let t = match a.tokens.as_slice() {
                [t] => *t,
                _ => anyhow::bail!("big-cell takes one --tokens value"),
            };
            return super::bench_big::run_cell(&a, t);
        }
    };
    let exe = std::env::current_exe().context("locating the acc-probe binary")?;
    // with --json the table goes to stderr and stdout holds one array of rows
    let mut rows: Vec<serde_json::Value> = Vec::new();
    table_line!(a.json, "bench forward: 4 layers, hidden 256, 4 heads (2 KV) x 64, 16 experts top-4; random weights; one process per cell; limit {} GiB", a.mem_limit_gib);
    table_line!(
        a.json,
        "{:>7} | {:<24} | {:>9} | {:>10} | {:>11} | {:>8}",
        "tokens",
        "implementation",
        "seconds",
        "tokens/s",
        "peak mem",
        "checksum"
    );
    for &t in &a.tokens {
        // best result per cell over the rounds; Err(reason) when a cell failed
        let mut best: Vec<Option<Result<Row, String>>> = (0..CELLS.len()).map(|_| None).collect();
        for _ in 0..a.rounds.max(1) {
            for ((_, imp, probe), slot) in CELLS.iter().zip(best.iter_mut()) {
                if matches!(slot, Some(Err(_))) {
                    continue;
                }
                let r = run_cell(&exe, t, imp, probe, a.repeat, a.mem_limit_gib)?;
                if a.json {
                    if let Ok(row) = &r {
                        rows.push(row.raw.clone());
                    }
                }
                *slot = match (slot.take(), r) {
                    (Some(Ok(old)), Ok(new)) => {
                        Some(Ok(if new.seconds < old.seconds { new } else { old }))
                    }
                    (_, r) => Some(r),
                };
            }
        }
        let none = match best.first().and_then(Option::as_ref) {
            Some(Ok(r)) => Some((r.seconds, r.peak_rss_bytes.unwrap_or(0))),
            _ => None,
        };
        for ((label, imp, probe), cell) in CELLS.iter().zip(&best) {
            match cell {
                Some(Ok(r)) => {
                    let ratio = match (none, *imp, *probe) {
                        (Some((ns, nm)), "ours", "all") => format!(
                            "  (all/none time {:.3}, memory {:.3})",
                            r.seconds / ns,
                            r.peak_rss_bytes.unwrap_or(0) as f64 / nm.max(1) as f64
                        ),
                        (Some((ns, _)), "candle", _) => {
                            format!("  (ours-none/candle time {:.3})", ns / r.seconds)
                        }
                        _ => String::new(),
                    };
                    table_line!(
                        a.json,
                        "{:>7} | {:<24} | {:>9.3} | {:>10.0} | {:>11} | {:>8.5}{ratio}",
                        t,
                        label,
                        r.seconds,
                        r.tokens_per_second,
                        r.peak_rss_bytes.map(fmt_bytes).unwrap_or_default(),
                        r.logits_checksum
                    );
                }
                Some(Err(why)) => table_line!(a.json, "{:>7} | {:<24} | {why}", t, label),
                None => {}
            }
        }
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    }
    Ok(())
}
