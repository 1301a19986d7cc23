//! `acc-probe lengths`: compiled context lengths per domain (the paper's
//! Fig. 3), from ACC rows written by `acc-probe compile` (`meta.domain`,
//! `meta.context_tokens`): a histogram figure, quantiles and lengths.json.

use std::collections::BTreeMap;
use std::path::PathBuf;

use acc_probe::io::write_atomic;
use acc_probe::plot::{self, HistSeries};
use acc_probe::tasks::score::read_slots;
use anyhow::bail;
use clap::Args;
use serde_json::json;

#[derive(Args, Debug)]
pub struct LengthsArgs {
    /// ACC JSONL files written by `acc-probe compile` (writer acc).
    #[arg(long, num_args = 1.., required = true)]
    data: Vec<PathBuf>,
    /// Histogram bin width in tokens (default: a 1-2-5 step giving about 30 bins).
    #[arg(long)]
    bin_width: Option<usize>,
    /// Output directory: lengths.json and the figure.
    #[arg(long, default_value = "runs/lengths")]
    out: PathBuf,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// A 1-2-5 step ≥ `max / 30` (at least 1).
fn auto_width(max: usize) -> usize {
    let target = (max as f64 / 30.0).max(1.0);
    let mut step = 1.0;
    loop {
        for m in [1.0, 2.0, 5.0] {
            if step * m >= target {
                return (step * m) as usize;
            }
        }
        step *= 10.0;
    }
}

/// The most histogram bins a figure gets.
const MAX_BINS: usize = 10_000;

fn quantile(sorted: &[usize], q: f64) -> usize {
    let at = (sorted.len().saturating_sub(1) as f64 * q).round() as usize;
    sorted.get(at).copied().unwrap_or(0)
}

pub fn run(a: LengthsArgs) -> anyhow::Result<()> {
    let inputs: Vec<(&str, &std::path::Path)> =
        a.data.iter().map(|d| ("--data", d.as_path())).collect();
    acc_probe::io::prepare_out_dir(
        "--out",
        &a.out,
        &["lengths.json", "lengths.png", "lengths.svg"],
        &inputs,
    )?;
    let mut by_domain: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut skipped = Vec::new();
    let mut read = 0usize;
    for path in &a.data {
        for (line, v) in read_slots(path)? {
            read += 1;
            let where_ = format!("{}:{line}", path.display());
            let v = match v {
                Ok(v) => v,
                Err(e) => {
                    skipped.push(format!("{where_}: {e}"));
                    continue;
                }
            };
            let meta = &v["meta"];
            match (meta["domain"].as_str(), meta["context_tokens"].as_u64()) {
                (Some(d), Some(t)) => by_domain.entry(d.to_string()).or_default().push(t as usize),
                _ => skipped.push(format!(
                    "{where_}: expected an ACC row with meta.domain and meta.context_tokens"
                )),
            }
        }
    }
    for s in &skipped {
        tracing::warn!("skipped {s}");
    }
    let used: usize = by_domain.values().map(Vec::len).sum();
    if used == 0 {
        bail!(
            "no ACC rows with meta.domain and meta.context_tokens in {} ({read} lines read)",
            a.data
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let max = by_domain.values().flatten().copied().max().unwrap_or(1);
    let width = match a.bin_width {
        Some(0) => bail!("--bin-width must be at least 1"),
        Some(w) => w,
        None => auto_width(max),
    };
    let nbins = max / width + 1;
    if nbins > MAX_BINS {
        bail!(
            "--bin-width {width} makes {nbins} bins up to the longest context ({max} tokens); \
             at most {MAX_BINS}: give a wider --bin-width"
        );
    }
    let edges: Vec<f64> = (0..=nbins).map(|i| (i * width) as f64).collect();
    let mut series = Vec::new();
    let mut summary = Vec::new();
    for (i, (domain, lens)) in by_domain.iter_mut().enumerate() {
        lens.sort_unstable();
        let mut counts = vec![0f64; nbins];
        // the bins reach past the longest length
        for &l in lens.iter() {
            if let Some(c) = counts.get_mut(l / width) {
                *c += 1.0;
            }
        }
        summary.push(json!({
            "domain": domain, "n": lens.len(),
            "min": quantile(lens, 0.0), "p10": quantile(lens, 0.1), "p50": quantile(lens, 0.5),
            "p90": quantile(lens, 0.9), "max": quantile(lens, 1.0),
            "mean": lens.iter().sum::<usize>() as f64 / lens.len() as f64,
            "counts": counts,
        }));
        series.push(HistSeries {
            label: format!("{domain} (n = {})", lens.len()),
            color: plot::color(i + 2),
            counts,
        });
    }
    plot::histogram_figure(
        &format!("Compiled context lengths per domain ({used} samples, {width}-token bins)"),
        "context length (tokens)",
        &edges,
        &series,
        &a.out.join("lengths.png"),
        &a.out.join("lengths.svg"),
    )?;
    let report = json!({
        "kind": "acc-probe lengths",
        "data": a.data, "rows_read": read, "rows_used": used, "rows_skipped": skipped.len(),
        "skipped": skipped,
        "bin_width": width, "edges": edges,
        "definition": "meta.context_tokens: tokens of the compiled context (question and evidence pieces) under the compiling tokenizer",
        "domains": summary,
    });
    let json_path = a.out.join("lengths.json");
    write_atomic(&json_path, &serde_json::to_vec_pretty(&report)?)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "{used} of {read} rows ({} skipped), {width}-token bins",
        skipped.len()
    );
    println!(
        "{:<8} {:>6} {:>8} {:>8} {:>8} {:>8}",
        "domain", "n", "min", "p50", "p90", "max"
    );
    for s in &summary {
        println!(
            "{:<8} {:>6} {:>8} {:>8} {:>8} {:>8}",
            s["domain"].as_str().unwrap_or(""),
            s["n"],
            s["min"],
            s["p50"],
            s["p90"],
            s["max"]
        );
    }
    println!("wrote {} and lengths.png/.svg", json_path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_step_1_2_5() {
        assert_eq!(auto_width(10), 1);
        assert_eq!(auto_width(900), 50);
        assert_eq!(auto_width(131_072), 5000);
        assert_eq!(quantile(&[1, 2, 3, 4, 5], 0.5), 3);
    }
}
