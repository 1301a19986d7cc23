//! `acc-probe attention`: attention-span distributions of a base / ACC pair on
//! identical probe inputs, per task and layer, with bootstrap CIs, a
//! permutation test, a terminal table, a figure and its data.

use std::path::{Path, PathBuf};

use acc_probe::analysis::attention::LayerChoice;
use acc_probe::analysis::attention_report::{
    compare_captures, PairedAttentionReport, SingleAttentionReport,
};
use acc_probe::analysis::session::{probe_inputs, LayerRequest};
use acc_probe::analysis::to_json;
use acc_probe::io::write_atomic;
use acc_probe::model_dir::ModelDir;
use acc_probe::probe::cache::AttnRequest;
use acc_probe::probe::per_example::AttnCapture;
use acc_probe::stats::attn::{AttnStatsSpec, DistanceBins, Queries, RowSelection};
use anyhow::bail;
use clap::Args;

use super::common::parse_bins;
use super::pair_args::{capture, capture_shard, log_streaming, report_silent, PairArgs};

#[derive(Args, Debug)]
pub struct AttentionArgs {
    #[command(flatten)]
    pub pair: PairArgs,
    /// Query rows measured: all, tail:N, A..B, or question (the final user turn onwards).
    #[arg(long, default_value = "all")]
    queries: Queries,
    /// Distance-bin lower edges, comma-separated (default: 32 half-octave bins).
    #[arg(long, value_parser = parse_bins)]
    bins: Option<DistanceBins>,
    /// Keys j < N count as attention sink.
    #[arg(long, default_value_t = 4)]
    sink_tokens: usize,
    /// Keys at distance < W count as local ("far mass" is the rest).
    #[arg(long, default_value_t = 64)]
    local_window: usize,
}

impl AttentionArgs {
    fn spec(&self) -> AttnStatsSpec {
        AttnStatsSpec {
            bins: self.bins.clone().unwrap_or_default(),
            sink_tokens: self.sink_tokens,
            local_window: self.local_window,
            rows: RowSelection::All,
            per_row: false,
        }
    }

    fn request(&self, layers: &[usize]) -> AttnRequest {
        AttnRequest {
            layers: layers.to_vec(),
            spec: self.spec(),
            queries: self.queries,
            blocks: Default::default(),
        }
    }
}

/// Writes `json` to `out/attention.json` and prints it or the table.
fn finish(
    a: &AttentionArgs,
    json: String,
    table: String,
    wrote: impl Fn(&Path) -> String,
) -> anyhow::Result<()> {
    let json_path = a.pair.out.join("attention.json");
    write_atomic(&json_path, json.as_bytes())?;
    if a.pair.json {
        println!("{json}");
    } else {
        print!("{table}");
        println!("{}", wrote(&json_path));
    }
    Ok(())
}

pub fn run(a: AttentionArgs) -> anyhow::Result<()> {
    if let Some(dir) = &a.pair.model {
        return run_single(&a, dir);
    }
    let s = a.pair.open(false)?;
    let req = a.request(&s.capture_layers);
    let cache = a.pair.cache_dir();
    if let Some(sh) = a.pair.shard {
        return capture_shard::<AttnCapture>(
            &s,
            "attention",
            "attention",
            sh,
            &req,
            &a.pair.out,
            cache.as_deref(),
        );
    }
    let cb: AttnCapture = capture(
        &s.base,
        "base",
        "attention",
        &s.inputs,
        &req,
        cache.as_deref(),
    )?;
    let ca: AttnCapture = capture(
        &s.acc,
        "ACC",
        "attention",
        &s.inputs,
        &req,
        cache.as_deref(),
    )?;
    let opts = a.pair.paired_options();
    let results = compare_captures(&cb, &ca, &s.tasks, &s.choice, &opts)?;
    let mut report = PairedAttentionReport::new(
        s.base.dir.clone(),
        s.acc.dir.clone(),
        &s.tasks,
        (a.pair.examples, a.pair.tokens),
        a.queries.to_string(),
        &req.spec,
        &opts,
        s.silent.clone(),
        results,
    );
    report.render_figures(&a.pair.out)?;
    let figures = report.figures.join(", ");
    finish(&a, to_json(&report)?, report.table(), |j| {
        format!("wrote {} and {figures}", j.display())
    })
}

fn run_single(a: &AttentionArgs, dir: &Path) -> anyhow::Result<()> {
    if a.pair.shard.is_some() {
        bail!("--shard splits paired runs (--base/--acc or the bundled pair), not --model");
    }
    if a.pair.top_changed.is_some() {
        bail!("--top-changed compares two models; with --model give --layer or --layers");
    }
    a.pair.prepare_out(&[("--model", dir)])?;
    let m = ModelDir::open(dir, &candle_core::Device::Cpu, a.pair.weights.into())?;
    log_streaming(&m);
    let silent = m.model.silent_layers()?;
    let n = m.ckpt.config.num_hidden_layers;
    let layers = match a.pair.layer_request() {
        LayerRequest::Given(l) => {
            for &x in &l {
                acc_probe::model::hook::check_layer(x, n)?;
            }
            l
        }
        // one model alone: the last layer that writes to the residual stream
        LayerRequest::TopChanged { .. } => {
            vec![(0..n).rev().find(|l| !silent.contains(l)).unwrap_or(n - 1)]
        }
    };
    report_silent(&LayerChoice::Given(layers.clone()), &silent);
    let inputs = probe_inputs(&m, &a.pair.input_plan())?;
    let req = a.request(&layers);
    let cap: AttnCapture = capture(
        &m,
        "model",
        "attention",
        &inputs,
        &req,
        a.pair.cache_dir().as_deref(),
    )?;
    let mut report = SingleAttentionReport::new(
        PathBuf::from(dir),
        &cap,
        &a.pair.task.0,
        &layers,
        (a.pair.examples, a.pair.tokens),
        a.queries.to_string(),
        &req.spec,
        &a.pair.paired_options(),
        silent,
    )?;
    report.render_figures(&a.pair.out, layers.len())?;
    let figures = report.figures.join(", ");
    finish(a, to_json(&report)?, report.table(), |j| {
        format!("wrote {} and {figures}", j.display())
    })
}
