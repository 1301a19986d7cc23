//! `acc-probe bench big`: the paired attention capture on a real-size pair
//! with streamed weights, one process per cell so that peak memory is the
//! cell's own: wall time, peak RSS, bytes read and read throughput, with the
//! page cache emptied of the pair's shards first (cold) and then as the
//! cold run left it (warm).
//!
//! "compute" is the wall time less the time the forward passes waited for a
//! layer to be read: what the run would take if reading were free.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use acc_probe::analysis::attention::{compare_task, LayerChoice};
use acc_probe::analysis::paired::PairedOptions;
use acc_probe::analysis::session::{probe_inputs, InputPlan};
use acc_probe::model::{Checkpoint, WeightIo, WeightsMode};
use acc_probe::model_dir::ModelDir;
use acc_probe::probe::pair;
use acc_probe::probe::per_example::capture_attention;
use acc_probe::stats::attn::{AttnStatsSpec, Queries};
use anyhow::{bail, Context};
use candle_core::Device;
use clap::Args;
use serde::{Deserialize, Serialize};

use super::common::{fmt_bytes, parse_layer_list, parse_task_list, LayerList, TaskList};

#[derive(Args, Debug, Clone)]
pub struct BenchBigArgs {
    /// Base model directory (e.g. from `random-model --shape qwen3-30b-a3b`).
    #[arg(long)]
    pub base: PathBuf,
    /// Fine-tuned model directory (e.g. `random-model --like BASE --change 7,14,20`).
    #[arg(long)]
    pub acc: PathBuf,
    /// Prompt lengths, in tokens.
    #[arg(long, value_delimiter = ',', default_value = "2048,8192,32768")]
    pub tokens: Vec<usize>,
    /// Layers captured (the pass stops after the last).
    #[arg(long, default_value = "6,20", value_parser = parse_layer_list)]
    pub layers: LayerList,
    /// Probe task.
    #[arg(long, default_value = "mrcr", value_parser = parse_task_list)]
    pub task: TaskList,
    /// Probe inputs per model.
    #[arg(long, default_value_t = 2)]
    pub examples: usize,
    /// Skip the warm run (the same cell again without emptying the page cache).
    #[arg(long)]
    pub cold_only: bool,
    /// Write the probe inputs' token ids (a JSON list per input) here, for
    /// `bench/hf_offload.py`; with one --tokens value.
    #[arg(long)]
    pub save_inputs: Option<PathBuf>,
    /// Print the rows as JSON.
    #[arg(long)]
    pub json: bool,
}

/// One model's side of a cell.
#[derive(Debug, Serialize, Deserialize)]
struct Side {
    seconds: f64,
    io: WeightIo,
    max_layers_held: usize,
}

/// What a cell process prints.
#[derive(Debug, Serialize, Deserialize)]
struct CellResult {
    tokens: usize,
    inputs: usize,
    layers: Vec<usize>,
    wall_seconds: f64,
    peak_rss_bytes: Option<u64>,
    base: Side,
    acc: Side,
    /// JS of the head-mean distance distributions, per captured layer.
    js: Vec<(usize, f64)>,
}

impl CellResult {
    fn waited(&self) -> f64 {
        self.base.io.wait_seconds + self.acc.io.wait_seconds
    }
    fn bytes(&self) -> u64 {
        self.base.io.bytes_read + self.acc.io.bytes_read
    }
    fn read_seconds(&self) -> f64 {
        self.base.io.read_seconds + self.acc.io.read_seconds
    }
}

/// Runs one cell in this process (the child side of `bench big`).
pub fn run_cell(a: &BenchBigArgs, tokens: usize) -> anyhow::Result<()> {
    let start = Instant::now();
    let device = Device::Cpu;
    let base = ModelDir::open(&a.base, &device, WeightsMode::Streamed)?;
    let acc = ModelDir::open(&a.acc, &device, WeightsMode::Streamed)?;
    pair::check_pair(&base.ckpt, &acc.ckpt)?;
    let layers = a.layers.check(base.ckpt.config.num_hidden_layers)?;
    let task = &a.task.0;
    let work = std::env::temp_dir().join(format!("acc-probe-bench-big-{}", std::process::id()));
    let plan = InputPlan {
        tasks: task.clone(),
        examples: a.examples,
        tokens,
        seed: 0,
        work: work.clone(),
    };
    let inputs = probe_inputs(&base, &plan);
    let _ = std::fs::remove_dir_all(&work);
    let inputs = inputs?;
    if let Some(p) = &a.save_inputs {
        let ids: Vec<&Vec<u32>> = inputs.iter().map(|x| &x.ids).collect();
        acc_probe::io::write_atomic(p, &serde_json::to_vec(&ids)?)?;
    }
    let spec = AttnStatsSpec::default();
    let mut sides = Vec::new();
    let mut caps = Vec::new();
    for m in [&base, &acc] {
        let t0 = Instant::now();
        let cap = capture_attention(
            &m.model,
            &m.dir.display().to_string(),
            &inputs,
            &layers,
            &spec,
            Queries::All,
            Default::default(),
            &mut |done, total| tracing::info!("{}: {done}/{total} layer passes", m.dir.display()),
        )?;
        sides.push(Side {
            seconds: t0.elapsed().as_secs_f64(),
            io: m.model.weight_io().unwrap_or_default(),
            max_layers_held: m.model.max_layers_held().unwrap_or(0),
        });
        caps.push(cap);
    }
    let opts = PairedOptions {
        resamples: 100,
        permutations: 10,
        level: 0.95,
        seed: 0,
    };
    let (Some(first_task), [base_cap, acc_cap]) = (task.first(), caps.as_slice()) else {
        bail!("bench big: one task and two captures expected");
    };
    let c = compare_task(
        first_task.name(),
        &base_cap.summaries,
        &acc_cap.summaries,
        &LayerChoice::Given(layers.clone()),
        &opts,
    )?;
    let (Some(acc_side), Some(base_side)) = (sides.pop(), sides.pop()) else {
        bail!("bench big: a model side was not measured");
    };
    let r = CellResult {
        tokens,
        inputs: inputs.len(),
        layers,
        wall_seconds: start.elapsed().as_secs_f64(),
        peak_rss_bytes: acc_probe::mem::peak_rss_bytes(),
        base: base_side,
        acc: acc_side,
        js: c
            .layers
            .iter()
            .map(|l| (l.layer, l.mean.js.value))
            .collect(),
    };
    println!("{}", serde_json::to_string(&r)?);
    Ok(())
}

/// Drops the files of `dir`'s checkpoint from the page cache.
fn evict(dir: &Path) -> anyhow::Result<()> {
    use std::os::fd::AsRawFd;
    let ckpt = Checkpoint::open(dir)?;
    for f in &ckpt.files {
        let file = std::fs::File::open(f).with_context(|| format!("opening {}", f.display()))?;
        // SAFETY: a valid open descriptor; the advice changes no data.
        let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        if rc != 0 {
            bail!("{}: posix_fadvise failed ({rc})", f.display());
        }
    }
    Ok(())
}

pub fn run(a: BenchBigArgs) -> anyhow::Result<()> {
    if a.save_inputs.is_some() && a.tokens.len() != 1 {
        bail!("--save-inputs goes with one --tokens value");
    }
    if let Some(p) = &a.save_inputs {
        acc_probe::io::prepare_outputs(
            &[("--save-inputs", p)],
            &[("--base", &a.base), ("--acc", &a.acc)],
        )?;
    }
    let exe = std::env::current_exe().context("locating the acc-probe binary")?;
    // with --json: every cell, printed as one document at the end
    let mut cells: Vec<serde_json::Value> = Vec::new();
    let base = Checkpoint::open(&a.base)?;
    let cfg = &base.config;
    if !a.json {
        println!(
            "bench big: {} vs {}; {} layers, hidden {}, {} heads ({} KV) x {}, {} experts top-{}, {} of weights each; \
             streamed weights; {} {} input(s) per model; layers {}; one process per cell",
            a.base.display(),
            a.acc.display(),
            cfg.num_hidden_layers,
            cfg.hidden_size,
            cfg.num_attention_heads,
            cfg.num_key_value_heads,
            cfg.head_dim,
            cfg.num_experts,
            cfg.num_experts_per_tok,
            fmt_bytes(base.stored_bytes()),
            a.examples,
            a.task,
            a.layers
        );
        println!(
            "{:>7} | {:<5} | {:>8} | {:>9} | {:>6} | {:>9} | {:>9} | {:>10} | {:>5} | JS per layer",
            "tokens",
            "cache",
            "wall s",
            "compute s",
            "ratio",
            "peak RSS",
            "read",
            "read rate",
            "held"
        );
    }
    for &t in &a.tokens {
        let runs: &[&str] = if a.cold_only {
            &["cold"]
        } else {
            &["cold", "warm"]
        };
        for &run in runs {
            if run == "cold" {
                evict(&a.base)?;
                evict(&a.acc)?;
            }
            let mut cmd = Command::new(&exe);
            cmd.args(["bench", "big-cell", "--base"])
                .arg(&a.base)
                .arg("--acc")
                .arg(&a.acc)
                .args([
                    "--tokens",
                    &t.to_string(),
                    "--layers",
                    &a.layers.to_string(),
                ])
                .args([
                    "--task",
                    &a.task.to_string(),
                    "--examples",
                    &a.examples.to_string(),
                ]);
            if let Some(p) = &a.save_inputs {
                cmd.arg("--save-inputs").arg(p);
            }
            let out = cmd.output().context("running a benchmark cell")?;
            let stdout = String::from_utf8_lossy(&out.stdout);
            let r: CellResult = match serde_json::from_str(stdout.trim()) {
                Ok(r) if out.status.success() => r,
                _ => {
                    let err = String::from_utf8_lossy(&out.stderr);
                    let why = if out.status.code().is_none() {
                        format!("killed ({:?}; out of memory?)", out.status)
                    } else {
                        err.lines().last().unwrap_or("failed").to_string()
                    };
                    if a.json {
                        cells.push(serde_json::json!({"tokens": t, "cache": run, "error": why}));
                    } else {
                        println!("{t:>7} | {run:<5} | {why}");
                    }
                    continue;
                }
            };
            if a.json {
                cells.push(serde_json::json!({"cache": run, "result": r}));
                continue;
            }
            let compute = r.wall_seconds - r.waited();
            println!(
                "{:>7} | {:<5} | {:>8.1} | {:>9.1} | {:>6.3} | {:>9} | {:>9} | {:>10} | {:>5} | {}",
                t,
                run,
                r.wall_seconds,
                compute,
                r.wall_seconds / compute,
                r.peak_rss_bytes.map(fmt_bytes).unwrap_or_default(),
                fmt_bytes(r.bytes()),
                format!(
                    "{}/s",
                    fmt_bytes((r.bytes() as f64 / r.read_seconds().max(1e-9)) as u64)
                ),
                r.base.max_layers_held.max(r.acc.max_layers_held),
                r.js.iter()
                    .map(|(l, js)| format!("{l}: {js:.2e}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&cells)?);
    }
    Ok(())
}
