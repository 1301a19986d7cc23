//! `acc-probe random-model`: a seeded checkpoint of any shape, or a variant of
//! another that differs in named layers (see `acc_probe::model::synth`).

use std::path::PathBuf;

use acc_probe::model::synth::{self, SynthOptions, SHAPES};
use acc_probe::model::Qwen3MoeConfig;
use anyhow::{bail, Context};
use candle_core::DType;
use clap::{Args, ValueEnum};

use super::common::{fmt_bytes, parse_layer_list, LayerList};
use super::pair_args::bundled;

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum DtypeArg {
    Bf16,
    F16,
    F32,
}

#[derive(Args, Debug)]
pub struct RandomModelArgs {
    /// A named shape (qwen3-30b-a3b, bench) or a config.json.
    #[arg(long, conflicts_with = "like", required_unless_present = "like")]
    shape: Option<String>,
    /// Write a variant of this checkpoint instead: identical but in --change.
    #[arg(long, requires = "change")]
    like: Option<PathBuf>,
    /// With --like: the layers regenerated, comma-separated.
    #[arg(long, requires = "like", value_parser = parse_layer_list)]
    change: Option<LayerList>,
    /// The new checkpoint directory (must not exist).
    #[arg(long)]
    out: PathBuf,
    /// Stored dtype of new tensors.
    #[arg(long, value_enum, default_value_t = DtypeArg::Bf16)]
    dtype: DtypeArg,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Standard deviation of the weights (norm weights are 1).
    #[arg(long, default_value_t = 0.02)]
    std: f32,
    /// Copy tokenizer files from this model directory (default: the bundled
    /// pair's base, where its ids fit the vocabulary, as in qwen3-30b-a3b).
    #[arg(long, conflicts_with = "like")]
    tokenizer_from: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(a: RandomModelArgs) -> anyhow::Result<()> {
    let o = SynthOptions {
        dtype: match a.dtype {
            DtypeArg::Bf16 => DType::BF16,
            DtypeArg::F16 => DType::F16,
            DtypeArg::F32 => DType::F32,
        },
        seed: a.seed,
        std: a.std,
    };
    if !(a.std.is_finite() && a.std > 0.0) {
        bail!("--std {}: expected a positive finite number", a.std);
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(super::common::bar_style(
        "writing [{bar:30}] {bytes}/{total_bytes} ({binary_bytes_per_sec}, eta {eta})",
    ));
    let mut progress = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let report = match (&a.shape, &a.like) {
        (Some(shape), None) => {
            let cfg = match synth::shape_config(shape) {
                Some(c) => c,
                None if shape.ends_with(".json") => Qwen3MoeConfig::from_file(shape)?,
                None => bail!(
                    "--shape {shape}: expected one of {} or a config.json path",
                    SHAPES.join(", ")
                ),
            };
            let tok = match &a.tokenizer_from {
                Some(d) => Some(d.clone()),
                // the bundled tokenizer where its ids fit the vocabulary
                None => {
                    match bundled("base") {
                        Ok(d) => match synth::check_tokenizer_fits(&d, &cfg) {
                            Ok(()) => Some(d),
                            Err(e) => {
                                tracing::warn!("the checkpoint gets no tokenizer: {e} (pass --tokenizer-from DIR)");
                                None
                            }
                        },
                        Err(_) => {
                            tracing::warn!("no bundled tokenizer found: the checkpoint has none (pass --tokenizer-from DIR)");
                            None
                        }
                    }
                }
            };
            synth::write_random(&a.out, &cfg, &o, tok.as_deref(), &mut progress)?
        }
        (None, Some(like)) => {
            let ckpt = acc_probe::model::Checkpoint::open(like)?;
            let change = a
                .change
                .as_ref()
                .context("--like needs --change LAYERS")?
                .check(ckpt.config.num_hidden_layers)?;
            synth::write_variant(&a.out, like, &change, &o, &mut progress)?
        }
        _ => bail!("give --shape or --like"),
    };
    bar.finish_and_clear();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "wrote {}: {} parameters in {} shards ({} written, {} linked), {} of tensors, {} new, in {:.1} s",
            report.out.display(),
            report.parameters,
            report.shards,
            report.shards_written,
            report.shards_linked,
            fmt_bytes(report.checkpoint_bytes),
            fmt_bytes(report.bytes_written),
            report.seconds
        );
    }
    Ok(())
}
