//! Arguments shared by the paired analyses (`attention`, `routing`): which
//! models, which probe inputs, which layers, how much resampling, where to write.

use std::path::{Path, PathBuf};

use acc_probe::analysis::attention::LayerChoice;
use acc_probe::analysis::paired::PairedOptions;
use acc_probe::chat::ChatTemplate;
use acc_probe::probe::pair::Loaded;
use acc_probe::probe::shard::{Shard, ShardManifest, ShardModel};
use acc_probe::tasks::probe_inputs::{self, ProbeInput, ProbeTask};
use anyhow::{bail, Context};
use clap::Args;

use super::common::{parse_layers, WeightsArg};

#[derive(Args, Debug)]
pub struct PairArgs {
    /// One layer to report.
    #[arg(long, conflicts_with_all = ["layers", "top_changed"])]
    pub layer: Option<usize>,
    /// Layers to report, comma-separated.
    #[arg(long, conflicts_with = "top_changed")]
    pub layers: Option<String>,
    /// Report the K layers that changed most (JS, per task); the default is 3.
    #[arg(long)]
    pub top_changed: Option<usize>,
    /// With --top-changed: choose layers on even-numbered examples, report on odd ones.
    #[arg(long)]
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
    #[arg(long, default_value = "mrcr,graphwalks")]
    pub task: String,
    /// Probe inputs per task.
    #[arg(long, default_value_t = 8)]
    pub examples: usize,
    /// Prompt length of each probe input, in tokens.
    #[arg(long, default_value_t = 1200)]
    pub tokens: usize,
    /// Bootstrap resamples over examples.
    #[arg(long, default_value_t = 1000)]
    pub resamples: usize,
    /// Permutations of the base/ACC labels for the "changed at all" test.
    #[arg(long, default_value_t = 1000)]
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
    #[arg(long)]
    pub shard: Option<String>,
    /// How the models' weights are held: auto streams a model whose f32
    /// weights exceed 4 GiB (layer by layer; peak memory about two layers).
    #[arg(long, value_enum, default_value_t = WeightsArg::Auto)]
    pub weights: WeightsArg,
    /// Print the results as JSON instead of tables.
    #[arg(long)]
    pub json: bool,
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
    /// Opens one model of the analysis as `--weights` says.
    pub fn load(&self, dir: &Path) -> anyhow::Result<Loaded> {
        Ok(acc_probe::probe::pair::load(
            dir,
            &candle_core::Device::Cpu,
            self.weights.into(),
        )?)
    }

    /// The base and ACC directories (the bundled pair by default).
    pub fn dirs(&self) -> anyhow::Result<(PathBuf, PathBuf)> {
        pair_dirs(self.base.as_deref(), self.acc.as_deref())
    }

    /// The layer choice and the layers to capture for it; `--top-changed`
    /// never chooses a layer of `silent` (`pair::silent_in_both`).
    pub fn selection(
        &self,
        num_layers: usize,
        silent: &[usize],
    ) -> anyhow::Result<(LayerChoice, Vec<usize>)> {
        let given = match (&self.layer, &self.layers) {
            (Some(l), _) => Some(parse_layers(&l.to_string(), num_layers)?),
            (None, Some(s)) => Some(parse_layers(s, num_layers)?),
            _ => None,
        };
        if self.split_select && given.is_some() {
            bail!("--split-select goes with --top-changed, not with --layer/--layers");
        }
        if self.examples == 0 {
            bail!("--examples must be at least 1");
        }
        Ok(match given {
            Some(l) => (LayerChoice::Given(l.clone()), l),
            None => {
                let k = self.top_changed.unwrap_or(3);
                let open = num_layers - silent.len();
                if k == 0 || k > open {
                    bail!(
                        "--top-changed {k}: expected 1..={open} ({num_layers} layers{})",
                        silent_note(silent)
                    );
                }
                (
                    LayerChoice::TopChanged {
                        k,
                        split: self.split_select,
                        skip: silent.to_vec(),
                    },
                    (0..num_layers).collect(),
                )
            }
        })
    }

    pub fn paired_options(&self) -> PairedOptions {
        PairedOptions {
            resamples: self.resamples,
            permutations: self.permutations,
            level: 0.95,
            seed: self.seed,
        }
    }

    /// The shard of `--shard`, if any.
    pub fn shard(&self) -> anyhow::Result<Option<Shard>> {
        Ok(self.shard.as_deref().map(Shard::parse).transpose()?)
    }

    pub fn cache_dir(&self) -> Option<PathBuf> {
        (!self.no_cache).then(|| self.out.join("cache"))
    }
}

/// The probe inputs of `tasks`, tokenized with `m`'s tokenizer and template.
pub fn probe_inputs_for(
    a: &PairArgs,
    m: &Loaded,
    tasks: &[ProbeTask],
) -> anyhow::Result<Vec<ProbeInput>> {
    probe_inputs_of(
        m,
        tasks,
        a.examples,
        a.tokens,
        a.seed,
        &a.out.join("cache").join("inputs"),
    )
}

/// `examples` probe inputs per task of about `tokens` tokens, tokenized with
/// `m`'s tokenizer and chat template (`work`: the generators' scratch files).
pub fn probe_inputs_of(
    m: &Loaded,
    tasks: &[ProbeTask],
    examples: usize,
    tokens: usize,
    seed: u64,
    work: &Path,
) -> anyhow::Result<Vec<ProbeInput>> {
    let tok_path = m.ckpt.tokenizer_path().with_context(|| {
        format!(
            "{}: the probe inputs need its tokenizer.json",
            m.dir.display()
        )
    })?;
    let tok = acc_probe::tokenizer::load(&tok_path)?;
    let template = ChatTemplate::for_model_dir(&m.dir)?;
    let limit = m.ckpt.config.max_position_embeddings;
    if tokens > limit {
        bail!("--tokens {tokens}: longer than the model's max_position_embeddings ({limit})");
    }
    let mut all = Vec::new();
    for &t in tasks {
        let got = probe_inputs::generate(t, examples, tokens, seed, &tok, &template, work)
            .with_context(|| format!("building {} probe inputs", t.name()))?;
        all.extend(got);
    }
    Ok(all)
}

/// Logs what a streamed model read so far (nothing for resident weights).
pub fn log_weight_io(label: &str, m: &Loaded) {
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
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {pos}/{len} layer passes ({elapsed}, eta {eta})",
        )
        .expect("template"),
    );
    bar.set_message(msg.to_string());
    bar
}

/// ", of which N (…) write nothing to the residual stream", or nothing.
pub fn silent_note(silent: &[usize]) -> String {
    match silent {
        [] => String::new(),
        s => format!(
            ", of which {} ({}) write nothing to the residual stream in both models",
            s.len(),
            layer_ranges(s)
        ),
    }
}

/// Layer numbers as ranges: 1–6, 8–13, 21.
pub fn layer_ranges(layers: &[usize]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < layers.len() {
        let mut j = i;
        while j + 1 < layers.len() && layers[j + 1] == layers[j] + 1 {
            j += 1;
        }
        parts.push(match j - i {
            0 => layers[i].to_string(),
            _ => format!("{}–{}", layers[i], layers[j]),
        });
        i = j + 1;
    }
    parts.join(", ")
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

/// How the reported layers were chosen, for table headers.
pub fn selection_note(choice: &LayerChoice, n_select: usize) -> String {
    match choice {
        LayerChoice::TopChanged { split: true, .. } => {
            format!(" (layers chosen on {n_select} other examples)")
        }
        LayerChoice::TopChanged { split: false, .. } => {
            " (layers chosen on these examples)".to_string()
        }
        LayerChoice::Given(_) => String::new(),
    }
}

/// Writes the manifest of a shard run and says how to finish.
pub fn finish_shard(
    kind: &str,
    shard: Shard,
    inputs: &[ProbeInput],
    models: Vec<ShardModel>,
    out: &Path,
) -> anyhow::Result<()> {
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    ShardManifest {
        kind: kind.into(),
        shard,
        input_ids: inputs.iter().map(|x| x.id.clone()).collect(),
        models,
        command,
    }
    .save(out)?;
    println!(
        "{kind} shard {}/{}: {} of {} inputs captured in {}; when every shard is done, run \
         `acc-probe merge --out DIR <shard dirs>`, then this command without --shard and with --out DIR",
        shard.index,
        shard.count,
        shard.select(inputs).len(),
        inputs.len(),
        out.display()
    );
    Ok(())
}
