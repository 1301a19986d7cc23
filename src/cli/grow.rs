//! `acc-probe grow`: a model directory grown in depth, computing the same
//! function (new layers' residual branches start at zero; `train::grow`).

use std::path::PathBuf;

use acc_probe::model::random::RandomInit;
use acc_probe::train::grow::grow_model_dir;
use acc_probe::train::trainer::SaveDtype;

use super::common::save_dtype_parser;
use clap::Args;

#[derive(Args, Debug)]
pub struct GrowArgs {
    /// Hugging Face model directory to grow.
    #[arg(long)]
    model: PathBuf,
    /// Layers of the grown model (more than the model has).
    #[arg(long)]
    layers: usize,
    /// Positions of the old layers in the grown model, comma-separated
    /// (default: evenly spaced, `i · layers / old`).
    #[arg(long, value_delimiter = ',')]
    positions: Option<Vec<usize>>,
    /// Output model directory.
    #[arg(long)]
    out: PathBuf,
    /// Seed of the new layers' random weights.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Standard deviation of the new layers' random weights.
    #[arg(long, default_value_t = 0.02)]
    init_std: f32,
    /// Initial q_norm/k_norm weight of the new layers.
    #[arg(long, default_value_t = 1.0)]
    qk_norm_init: f32,
    /// dtype of the written model.safetensors.
    #[arg(long, default_value = "f32", value_parser = save_dtype_parser())]
    dtype: SaveDtype,
    #[arg(long)]
    json: bool,
}

pub fn run(a: GrowArgs) -> anyhow::Result<()> {
    if acc_probe::io::same_path(&a.model, &a.out) {
        anyhow::bail!(
            "--out {} is the --model directory: grow writes a new model directory; choose another --out",
            a.out.display()
        );
    }
    let init = RandomInit {
        std: a.init_std,
        qk_gain: a.qk_norm_init,
        ..RandomInit::default()
    };
    let dtype = a.dtype.dtype();
    let r = grow_model_dir(
        &a.model,
        a.layers,
        a.positions.as_deref(),
        a.seed,
        init,
        dtype,
        &a.out,
    )?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        println!(
            "{}: {} → {} layers (old layers at {:?}), {} parameters, written to {}",
            a.model.display(),
            r.layers_before,
            r.layers_after,
            r.old_layer_positions,
            r.parameters,
            a.out.display()
        );
    }
    Ok(())
}
