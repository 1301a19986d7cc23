//! `acc-probe bench forward`: each cell runs in its own process (so peak
//! memory is that cell's), under a memory limit so that a configuration that
//! cannot fit fails cleanly and is reported as out of memory.

use std::os::unix::process::CommandExt;
use std::process::Command;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde::Deserialize;

use super::common::fmt_bytes;

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Forward-pass time and peak memory on the benchmark model.
    Forward(BenchForwardArgs),
}

#[derive(Args, Debug)]
pub struct BenchForwardArgs {
    /// Sequence lengths.
    #[arg(long, value_delimiter = ',', default_value = "1024,4096,16384,32768")]
    tokens: Vec<usize>,
    /// Memory limit per cell in GiB (address space); cells above it report OOM.
    #[arg(long, default_value_t = 20)]
    mem_limit_gib: u64,
    /// Timed passes per cell (the fastest is reported).
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Print the results as JSON lines too.
    #[arg(long)]
    json: bool,
}

#[derive(Deserialize)]
struct Row {
    seconds: f64,
    tokens_per_second: f64,
    peak_rss_bytes: Option<u64>,
    logits_checksum: f64,
}

const CELLS: [(&str, &str, &str); 4] = [
    ("ours, probe none", "ours", "none"),
    ("ours, probe all", "ours", "all"),
    ("candle-transformers", "candle", "none"),
    ("materialised, probe all", "materialized", "all"),
];

pub fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    let BenchCommand::Forward(a) = cmd;
    let exe = std::env::current_exe().context("locating the acc-probe binary")?;
    println!("bench forward: 4 layers, hidden 256, 4 heads (2 KV) x 64, 16 experts top-4; random weights; one process per cell; limit {} GiB", a.mem_limit_gib);
    println!(
        "{:>7} | {:<24} | {:>9} | {:>10} | {:>11} | {:>8}",
        "tokens", "implementation", "seconds", "tokens/s", "peak mem", "checksum"
    );
    for &t in &a.tokens {
        let mut none: Option<Row> = None;
        for (label, imp, probe) in CELLS {
            let limit = a.mem_limit_gib << 30;
            let mut cmd = Command::new(&exe);
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
            match serde_json::from_str::<Row>(stdout.trim()).ok() {
                Some(r) if out.status.success() => {
                    let ratio = match (&none, probe) {
                        (Some(n), "all") if imp == "ours" => format!(
                            "  (all/none time {:.3}, memory {:.3})",
                            r.seconds / n.seconds,
                            r.peak_rss_bytes.unwrap_or(0) as f64
                                / n.peak_rss_bytes.unwrap_or(1) as f64
                        ),
                        (Some(n), _) if imp == "candle" => {
                            format!("  (ours-none/candle time {:.3})", n.seconds / r.seconds)
                        }
                        _ => String::new(),
                    };
                    println!(
                        "{:>7} | {:<24} | {:>9.3} | {:>10.0} | {:>11} | {:>8.5}{ratio}",
                        t,
                        label,
                        r.seconds,
                        r.tokens_per_second,
                        r.peak_rss_bytes.map(fmt_bytes).unwrap_or_default(),
                        r.logits_checksum
                    );
                    if a.json {
                        println!("{}", stdout.trim());
                    }
                    if imp == "ours" && probe == "none" {
                        none = Some(r);
                    }
                }
                _ => {
                    let err = String::from_utf8_lossy(&out.stderr);
                    let oom = err.contains("memory allocation")
                        || err.contains("alloc")
                        || out.status.code().is_none();
                    let why = if oom {
                        format!("out of memory (> {} GiB)", a.mem_limit_gib)
                    } else {
                        err.lines().last().unwrap_or("failed").to_string()
                    };
                    println!("{:>7} | {:<24} | {why}", t, label);
                }
            }
        }
    }
    Ok(())
}
