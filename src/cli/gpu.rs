//! `acc-probe gpu`: the CUDA attention kernel's parity with the CPU path and
//! its benchmark (feature `cuda-kernels`).

use anyhow::{bail, Context};
use clap::{Args, Subcommand};

use acc_probe::gpu::{self, BenchRow, GpuAttention, GpuDtype, ParityRow};

use super::common::fmt_bytes;

#[derive(Subcommand, Debug)]
pub enum GpuCommand {
    /// Parity of the CUDA kernel with the CPU streaming path on random inputs (exit 1 on a failure).
    Parity(ParityArgs),
    /// Kernel time, attention TFLOP/s and device memory, statistics off / per head / per row.
    Bench(BenchArgs),
    /// Parity, then the benchmark, as one table (exit 1 on a parity failure).
    Check(CheckArgs),
}

#[derive(Args, Debug, Clone)]
pub struct DeviceArgs {
    /// CUDA device ordinal.
    #[arg(long, default_value_t = 0)]
    device: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print JSON instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct ParityArgs {
    #[command(flatten)]
    dev: DeviceArgs,
    /// Sequence lengths (the kernel's tile is 64).
    #[arg(long, value_delimiter = ',', default_value = "1,63,64,65,1000,4097")]
    tokens: Vec<usize>,
    #[arg(long, default_value_t = 8)]
    heads: usize,
    #[arg(long, default_value_t = 2)]
    kv_heads: usize,
    /// Head dimensions (64 and 128 are built).
    #[arg(long, value_delimiter = ',', default_value = "64,128")]
    head_dims: Vec<usize>,
    #[arg(long, value_delimiter = ',', default_value = "f32,bf16")]
    dtypes: Vec<String>,
}

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    #[command(flatten)]
    dev: DeviceArgs,
    /// Sequence lengths.
    #[arg(long, value_delimiter = ',', default_value = "8192,32768,131072")]
    tokens: Vec<usize>,
    /// Query heads (Qwen3-30B-A3B: 32).
    #[arg(long, default_value_t = 32)]
    heads: usize,
    /// Key/value heads (Qwen3-30B-A3B: 4).
    #[arg(long, default_value_t = 4)]
    kv_heads: usize,
    /// Head dimension (Qwen3-30B-A3B: 128).
    #[arg(long, default_value_t = 128)]
    head_dim: usize,
    #[arg(long, value_delimiter = ',', default_value = "bf16,f32")]
    dtypes: Vec<String>,
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Timed launches per cell (fastest and median reported).
    #[arg(long, default_value_t = 3)]
    repeat: usize,
}

#[derive(Args, Debug, Clone)]
pub struct CheckArgs {
    #[command(flatten)]
    parity: ParityArgs,
    /// Benchmark lengths.
    #[arg(long, value_delimiter = ',', default_value = "8192,32768,131072")]
    bench_tokens: Vec<usize>,
    #[arg(long, value_delimiter = ',', default_value = "bf16,f32")]
    bench_dtypes: Vec<String>,
    #[arg(long, default_value_t = 2)]
    repeat: usize,
}

fn dtypes(v: &[String]) -> anyhow::Result<Vec<GpuDtype>> {
    v.iter()
        .map(|s| GpuDtype::parse(s).map_err(anyhow::Error::from))
        .collect()
}

fn open(dev: usize) -> anyhow::Result<GpuAttention> {
    let g = GpuAttention::new(dev).context("opening the CUDA device")?;
    eprintln!("device {dev}: {}", g.describe()?);
    Ok(g)
}

fn run_parity(g: &GpuAttention, a: &ParityArgs) -> anyhow::Result<Vec<ParityRow>> {
    Ok(gpu::parity(
        g,
        &a.tokens,
        a.heads,
        a.kv_heads,
        &a.head_dims,
        &dtypes(&a.dtypes)?,
        a.dev.seed,
    )?)
}

fn print_parity(rows: &[ParityRow], heads: usize, kv: usize) {
    println!(
        "parity vs CPU streaming path: {heads} heads ({kv} KV), error = |gpu − cpu| / max(1, |cpu|)"
    );
    println!(
        "{:>6} | {:>5} | {:>4} | {:>7} | {:>9} | {:>9} | {:<20} | {:>5} | {:>7} | result",
        "tokens", "dtype", "d", "stats", "out err", "stat err", "worst field", "exact", "tol"
    );
    for r in rows {
        println!(
            "{:>6} | {:>5} | {:>4} | {:>7} | {:>9.2e} | {:>9.2e} | {:<20} | {:>5} | {:>7.0e} | {}",
            r.t,
            r.dtype,
            r.d,
            r.stats,
            r.out_err,
            r.stat_err,
            r.worst_field,
            r.exact_mismatches,
            r.tol,
            if r.pass { "ok" } else { "FAIL" }
        );
    }
}

fn print_bench(rows: &[BenchRow], a: &BenchArgs) {
    println!(
        "benchmark: {} heads ({} KV) x {}, causal, random inputs; fastest of {} (median beside); TFLOP/s = 2·2·heads·d·T²/2 / time",
        a.heads, a.kv_heads, a.head_dim, a.repeat
    );
    println!(
        "{:>7} | {:>5} | {:>7} | {:>10} | {:>10} | {:>8} | {:>6} | {:>11} | {:>11}",
        "tokens",
        "dtype",
        "stats",
        "ms",
        "median ms",
        "TFLOP/s",
        "vs off",
        "buffers",
        "device used"
    );
    for r in rows {
        println!(
            "{:>7} | {:>5} | {:>7} | {:>10.2} | {:>10.2} | {:>8.2} | {:>6.3} | {:>11} | {:>11}",
            r.t,
            r.dtype,
            r.stats,
            r.min_ms,
            r.median_ms,
            r.tflops,
            r.vs_off,
            fmt_bytes(r.buffer_bytes as u64),
            fmt_bytes(r.device_used_bytes as u64)
        );
    }
}

fn run_bench(g: &GpuAttention, a: &BenchArgs) -> anyhow::Result<Vec<BenchRow>> {
    Ok(gpu::bench(
        g,
        &a.tokens,
        a.heads,
        a.kv_heads,
        a.head_dim,
        &dtypes(&a.dtypes)?,
        a.warmup,
        a.repeat,
        a.dev.seed,
    )?)
}

pub fn run(cmd: GpuCommand) -> anyhow::Result<()> {
    match cmd {
        GpuCommand::Parity(a) => {
            let g = open(a.dev.device)?;
            let rows = run_parity(&g, &a)?;
            if a.dev.json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                print_parity(&rows, a.heads, a.kv_heads);
            }
            let bad = rows.iter().filter(|r| !r.pass).count();
            if bad > 0 {
                bail!("{bad} of {} parity checks failed", rows.len());
            }
        }
        GpuCommand::Bench(a) => {
            let g = open(a.dev.device)?;
            let rows = run_bench(&g, &a)?;
            if a.dev.json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                print_bench(&rows, &a);
            }
        }
        GpuCommand::Check(a) => {
            let g = open(a.parity.dev.device)?;
            let prow = run_parity(&g, &a.parity)?;
            let bad = prow.iter().filter(|r| !r.pass).count();
            let b = BenchArgs {
                dev: a.parity.dev.clone(),
                tokens: a.bench_tokens.clone(),
                heads: 32,
                kv_heads: 4,
                head_dim: 128,
                dtypes: a.bench_dtypes.clone(),
                warmup: 1,
                repeat: a.repeat,
            };
            // the benchmark runs even after a parity failure, so the table is complete
            let brow = run_bench(&g, &b)?;
            if a.parity.dev.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({ "parity": prow, "bench": brow })
                    )?
                );
            } else {
                print_parity(&prow, a.parity.heads, a.parity.kv_heads);
                println!();
                print_bench(&brow, &b);
                println!();
                println!(
                    "parity: {} of {} checks passed",
                    prow.len() - bad,
                    prow.len()
                );
            }
            if bad > 0 {
                bail!("{bad} of {} parity checks failed", prow.len());
            }
        }
    }
    Ok(())
}
