//! Arguments shared by the paired analyses (`attention`, `routing`), parsed
//! by clap into typed values before any model loads, and the steps both
//! commands run over one [`PairSession`]: open it, capture each model
//! (cached, with a progress bar), or capture one shard and stop.

use std::path::{Path, PathBuf};

use acc_probe::analysis::attention::LayerChoice;
use acc_probe::analysis::paired::PairedOptions;
use acc_probe::analysis::session::{
    layer_ranges, InputPlan, LayerRequest, PairRequest, PairSession,
};
use acc_probe::model_dir::ModelDir;
use acc_probe::probe::cache::{self, cache_file, Capture, Source};
use acc_probe::probe::shard::{Shard, ShardManifest, ShardModel};
use anyhow::bail;
use clap::Args;

use super::common::{parse_layer_list, parse_task_list, LayerList, TaskList, WeightsArg};

#[derive(Args, Debug)]
pub struct PairArgs {
    /// Layers to report, comma-separated (`--layer L` for one).
    #[arg(long, alias = "layer", value_parser = parse_layer_list, conflicts_with = "top_changed")]
    pub layers: Option<LayerList>,
    /// Report the K layers that changed most (JS, per task); the default is 3.
    #[arg(long)]
    pub top_changed: Option<usize>,
    /// With --top-changed: choose layers on even-numbered examples, report on odd ones.
    #[arg(long, conflicts_with = "layers")]
    pub split_select: bool,
    /// Base model directory (default: the bundled checkpoints/base).
    #[arg(long)]
    pub base: Option<PathBuf>,
    /// Fine-tuned model directory (default: the bundled checkpoints/acc).
    #[arg(long)]
    pub acc: Option<PathBuf>,
    /// One model alone: its statistics without a comparison.
    #[arg(long, conflicts_with_all = ["base", "acc"])]
    pub model: Option<PathBuf>,
    /// Probe tasks: mrcr, graphwalks, search, sql, swe, all (comma-separated).
    #[arg(long, default_value = "mrcr,graphwalks", value_parser = parse_task_list)]
    pub task: TaskList,
    /// Probe inputs per task.
    #[arg(long, default_value_t = 8)]
    pub examples: usize,
    /// Prompt length of each probe input, in tokens.
    #[arg(long, default_value_t = 1200)]
    pub tokens: usize,
    /// Bootstrap resamples over examples.
    #[arg(long, default_value_t = 1000, value_parser = super::common::in_range(1, super::common::MAX_RESAMPLES))]
    pub resamples: usize,
    /// Permutations of the base/ACC labels for the "changed at all" test.
    #[arg(long, default_value_t = 1000, value_parser = super::common::in_range(1, super::common::MAX_RESAMPLES))]
    pub permutations: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output directory: results JSON, figures, and the capture cache.
    #[arg(long, default_value = "runs/analysis")]
    pub out: PathBuf,
    /// Recompute captures instead of reading the cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Capture only shard i of N of the probe inputs (every N-th, from i) and
    /// stop; `acc-probe merge` joins the shards for the full run.
    #[arg(long, value_parser = parse_shard)]
    pub shard: Option<Shard>,
    /// How the models' weights are held: auto streams a model whose f32
    /// weights exceed 4 GiB (layer by layer; peak memory about two layers).
    #[arg(long, value_enum, default_value_t = WeightsArg::Auto)]
    pub weights: WeightsArg,
    /// Print the results as JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

fn parse_shard(s: &str) -> Result<Shard, String> {
    Shard::parse(s).map_err(|e| e.to_string())
}

/// The bundled checkpoints: $ACC_PROBE_CHECKPOINTS, ./checkpoints, or the
/// source tree's checkpoints/.
pub fn bundled(name: &str) -> anyhow::Result<PathBuf> {
    let mut candidates = vec![PathBuf::from("checkpoints")];
    if let Some(d) = std::env::var_os("ACC_PROBE_CHECKPOINTS") {
        candidates.insert(0, PathBuf::from(d));
    }
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("checkpoints"));
    for c in &candidates {
        if c.join(name).join("config.json").is_file() {
            return Ok(c.join(name));
        }
    }
    bail!(
        "no bundled checkpoints/{name} found (looked in {}); pass --base/--acc or --model",
        candidates
            .iter()
            .map(|c| c.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// The base and ACC directories given, or the bundled pair's.
pub fn pair_dirs(base: Option<&Path>, acc: Option<&Path>) -> anyhow::Result<(PathBuf, PathBuf)> {
    let pick = |d: Option<&Path>, name: &str| match d {
        Some(d) => Ok(d.to_path_buf()),
        None => bundled(name),
    };
    Ok((pick(base, "base")?, pick(acc, "acc")?))
}

impl PairArgs {
    /// The layers asked for: given, or the top-changed K (3 by default).
    pub fn layer_request(&self) -> LayerRequest {
        match &self.layers {
            Some(l) => LayerRequest::Given(l.0.clone()),
            None => LayerRequest::TopChanged {
                k: self.top_changed.unwrap_or(3),
                split: self.split_select,
            },
        }
    }

    /// The probe inputs asked for.
    pub fn input_plan(&self) -> InputPlan {
        InputPlan {
            tasks: self.task.0.clone(),
            examples: self.examples,
            tokens: self.tokens,
            seed: self.seed,
            work: self.out.join("cache").join("inputs"),
        }
    }

    /// The paired session asked for (`moe_only`: layers with a router only).
    pub fn request(&self, moe_only: bool) -> anyhow::Result<PairRequest> {
        let (base, acc) = pair_dirs(self.base.as_deref(), self.acc.as_deref())?;
        Ok(PairRequest {
            base,
            acc,
            layers: self.layer_request(),
            moe_only,
            inputs: self.input_plan(),
            weights: self.weights.into(),
        })
    }

    /// Opens the session: checks, models, silent layers, layer plan, inputs.
    pub fn open(&self, moe_only: bool) -> anyhow::Result<PairSession> {
        let request = self.request(moe_only)?;
        self.prepare_out(&[("--base", &request.base), ("--acc", &request.acc)])?;
        let s = PairSession::open(&request, &candle_core::Device::Cpu, &mut log_streaming)?;
        report_silent(&s.choice, &s.silent);
        Ok(s)
    }

    /// Checks `--out` against the models read, then creates it.
    pub fn prepare_out(&self, models: &[(&str, &Path)]) -> anyhow::Result<()> {
        Ok(acc_probe::io::prepare_out_dir(
            "--out",
            &self.out,
            &["attention.json", "routing.json", "shard.json", "cache"],
            models,
        )?)
    }

    pub fn paired_options(&self) -> PairedOptions {
        PairedOptions {
            resamples: self.resamples,
            permutations: self.permutations,
            level: 0.95,
            seed: self.seed,
        }
    }

    pub fn cache_dir(&self) -> Option<PathBuf> {
        (!self.no_cache).then(|| self.out.join("cache"))
    }
}

/// Says when a model's weights are streamed.
pub fn log_streaming(m: &ModelDir) {
    if m.model.weights_mode() == acc_probe::model::WeightsMode::Streamed {
        tracing::info!(
            "{}: streaming {} of weights layer by layer",
            m.dir.display(),
            super::common::fmt_bytes(m.ckpt.stored_bytes())
        );
    }
}

/// `m`'s capture of `inputs` (from the cache when it has it), with a
/// progress bar over the layer passes and a log of the weights read.
pub fn capture<C: Capture>(
    m: &ModelDir,
    label: &str,
    what: &str,
    inputs: &[acc_probe::tasks::probe_inputs::ProbeInput],
    req: &C::Request,
    cache_dir: Option<&Path>,
) -> anyhow::Result<C> {
    let bar = progress_bar(&format!("{label}: capturing {what}"));
    let (cap, src) = cache::cached::<C>(m, inputs, req, cache_dir, &mut |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64)
    })?;
    bar.finish_and_clear();
    log_weight_io(label, m);
    match src {
        Source::Cache => tracing::info!("{label}: {what} capture read from the cache"),
        Source::Computed => tracing::info!("{label}: captured {} inputs", inputs.len()),
    }
    Ok(cap)
}

/// Captures shard `shard` of the session's inputs from both models into
/// `out`, writes the shard manifest and says how to finish.
#[allow(clippy::too_many_arguments)]
pub fn capture_shard<C: Capture>(
    s: &PairSession,
    command: &str,
    what: &str,
    shard: Shard,
    req: &C::Request,
    out: &Path,
    cache_dir: Option<&Path>,
) -> anyhow::Result<()> {
    let part = shard.select(&s.inputs);
    let mut models = Vec::new();
    for (label, m) in [("base", &s.base), ("acc", &s.acc)] {
        let cap = capture::<C>(m, label, what, &part, req, cache_dir)?;
        let file = format!("shard-{}-{label}.safetensors", C::KIND);
        cap.save(&out.join(&file))?;
        models.push(ShardModel {
            label: label.into(),
            cache_file: cache_file::<C>(C::key(m, &s.inputs, req)?),
            file,
        });
    }
    let all = std::env::args().collect::<Vec<_>>().join(" ");
    ShardManifest {
        kind: command.into(),
        shard,
        input_ids: s.inputs.iter().map(|x| x.id.clone()).collect(),
        models,
        command: all,
    }
    .save(out)?;
    println!(
        "{command} shard {}/{}: {} of {} inputs captured in {}; when every shard is done, run \
         `acc-probe merge --out DIR <shard dirs>`, then this command without --shard and with --out DIR",
        shard.index,
        shard.count,
        part.len(),
        s.inputs.len(),
        out.display()
    );
    Ok(())
}

/// Logs what a streamed model read so far (nothing for resident weights).
pub fn log_weight_io(label: &str, m: &ModelDir) {
    if let Some(io) = m.model.weight_io() {
        tracing::info!(
            "{label}: read {} of weights in {:.1} s ({}/s); the forward passes waited {:.1} s for layers",
            super::common::fmt_bytes(io.bytes_read),
            io.read_seconds,
            super::common::fmt_bytes(io.read_throughput() as u64),
            io.wait_seconds
        );
    }
}

/// A bar over the layer passes (input × layer) of a capture; its length is
/// set by the first progress report.
pub fn progress_bar(msg: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(super::common::bar_style(
        "{msg} [{bar:30}] {pos}/{len} layer passes ({elapsed}, eta {eta})",
    ));
    bar.set_message(msg.to_string());
    bar
}

/// Warns about given layers that write nothing to the residual stream, and
/// says which layers `--top-changed` left out (stderr, so `--json` stays clean).
pub fn report_silent(choice: &LayerChoice, silent: &[usize]) {
    match choice {
        LayerChoice::Given(l) => {
            let quiet: Vec<usize> = l.iter().copied().filter(|x| silent.contains(x)).collect();
            if !quiet.is_empty() {
                tracing::warn!(
                    "layers {}: their output projections are zero (they write nothing to the \
                     residual stream), so their attention and routing change nothing downstream",
                    layer_ranges(&quiet)
                );
            }
        }
        LayerChoice::TopChanged { .. } if !silent.is_empty() => eprintln!(
            "--top-changed leaves out layers {} (zero output projections in both models: \
             they write nothing to the residual stream)",
            layer_ranges(silent)
        ),
        LayerChoice::TopChanged { .. } => {}
    }
}
