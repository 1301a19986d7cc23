//! Depth growth: a model of L layers becomes one of L' > L layers that
//! computes the same function, to be trained on from there.
//!
//! The old layers keep their weights and order, at evenly spaced positions
//! (`i · L' / L`) or at the positions given. Each new layer gets random
//! weights, except its attention output projection and its experts' down
//! projections, which are zero: both of its residual branches add exactly 0,
//! so the grown model's logits equal the old model's. Training then moves the
//! zero projections first (their gradients are the branch inputs, which are
//! not zero) and the rest of the new layer after them, as with
//! zero-initialised residual branches.
//!
//! This makes a deep model's copy stage cheaper: on the copy drills a 4-layer
//! model at lr 1e-2 reached the 24-layer model's drill check in the same
//! 3,000 steps with a third of the core time (README, "The `reproduce`
//! curriculum").

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};

use crate::error::{Error, Result};
use crate::model::loader::expected_tensors;
use crate::model::random::{random_weights, RandomInit};
use crate::model::Qwen3MoeConfig;

use super::hf;
use super::trainer::load_model_dir;

/// Where layer `i` of `old` layers goes among `new` layers.
pub fn grown_positions(old: usize, new: usize) -> Vec<usize> {
    (0..old).map(|i| i * new / old).collect()
}

/// Checks positions for `old` layers among `new`: one per old layer,
/// increasing, each below `new`.
pub fn check_positions(positions: &[usize], old: usize, new: usize) -> Result<()> {
    let increasing = positions.windows(2).all(|w| w[0] < w[1]);
    if positions.len() != old || !increasing || positions.last().is_some_and(|&p| p >= new) {
        return Err(Error::Input(format!(
            "grow: positions {positions:?} for {old} old layers among {new}: expected {old} \
             increasing positions below {new}"
        )));
    }
    Ok(())
}

/// True for the tensors that make a new layer's residual branches zero.
fn zeroed(name: &str) -> bool {
    name.ends_with("self_attn.o_proj.weight")
        || name.ends_with("self_attn.o_proj.bias")
        || name.ends_with("down_proj.weight")
}

/// `weights` of a model with config `cfg`, grown to `layers` layers; new
/// layers' other weights are drawn with `init`, deterministic in `seed`.
pub fn grow_depth(
    weights: &HashMap<String, Tensor>,
    cfg: &Qwen3MoeConfig,
    layers: usize,
    seed: u64,
    init: RandomInit,
) -> Result<(HashMap<String, Tensor>, Qwen3MoeConfig)> {
    let positions = grown_positions(cfg.num_hidden_layers, layers);
    grow_depth_at(weights, cfg, layers, &positions, seed, init)
}

/// [`grow_depth`] with the old layers at `positions` (one per old layer,
/// increasing).
pub fn grow_depth_at(
    weights: &HashMap<String, Tensor>,
    cfg: &Qwen3MoeConfig,
    layers: usize,
    positions: &[usize],
    seed: u64,
    init: RandomInit,
) -> Result<(HashMap<String, Tensor>, Qwen3MoeConfig)> {
    let old = cfg.num_hidden_layers;
    if layers <= old {
        return Err(Error::Input(format!(
            "grow to {layers} layers: the model already has {old} (expected more)"
        )));
    }
    // the grown model's config is checked (its sizes bounded) before any layer is made
    let mut grown = cfg.clone();
    grown.num_hidden_layers = layers;
    grown.validate(std::path::Path::new("--layers"))?;
    if cfg.decoder_sparse_step != 1 || !cfg.mlp_only_layers.is_empty() {
        return Err(Error::Input(format!(
            "grow: the model must have MoE in every layer (decoder_sparse_step 1, no \
             mlp_only_layers), got decoder_sparse_step {} and mlp_only_layers {:?}",
            cfg.decoder_sparse_step, cfg.mlp_only_layers
        )));
    }
    for (name, shape) in expected_tensors(cfg) {
        match weights.get(&name) {
            None => return Err(Error::Input(format!("grow: no tensor `{name}`"))),
            Some(t) if t.dims() != shape.as_slice() => {
                return Err(Error::Input(format!(
                    "grow: tensor `{name}` has shape {:?}, expected {shape:?}",
                    t.dims()
                )))
            }
            Some(_) => {}
        }
    }
    let mut new_cfg = cfg.clone();
    new_cfg.num_hidden_layers = layers;
    let device = weights
        .values()
        .next()
        .map(|t| t.device().clone())
        .unwrap_or(Device::Cpu);
    check_positions(positions, old, layers)?;
    let fresh = random_weights(&new_cfg, seed, init, &device)?;
    let from_old: HashMap<usize, usize> =
        positions.iter().enumerate().map(|(i, &p)| (p, i)).collect();
    let mut out = HashMap::with_capacity(fresh.len());
    for (name, t) in fresh {
        let layer = name
            .strip_prefix("model.layers.")
            .and_then(|r| r.split('.').next())
            .and_then(|n| n.parse::<usize>().ok());
        let value = match layer {
            // embeddings, final norm, lm_head: the old model's
            None => weights[&name].clone(),
            Some(l) => match from_old.get(&l) {
                Some(&i) => {
                    let old_name = name.replacen(
                        &format!("model.layers.{l}."),
                        &format!("model.layers.{i}."),
                        1,
                    );
                    weights[&old_name].clone()
                }
                None if zeroed(&name) => t.zeros_like()?,
                None => t,
            },
        };
        out.insert(name, value.to_dtype(DType::F32)?);
    }
    Ok((out, new_cfg))
}

/// What `grow_model_dir` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GrowReport {
    pub layers_before: usize,
    pub layers_after: usize,
    /// Positions of the old layers in the grown model.
    pub old_layer_positions: Vec<usize>,
    pub parameters: usize,
}

/// Grows the model directory `src` to `layers` layers and writes it to `out`
/// (config.json, model.safetensors in `dtype`, the source's tokenizer and
/// chat template). The old layers go to `positions` (default: evenly spaced).
pub fn grow_model_dir(
    src: &Path,
    layers: usize,
    positions: Option<&[usize]>,
    seed: u64,
    init: RandomInit,
    dtype: DType,
    out: &Path,
) -> Result<GrowReport> {
    let (weights, cfg, tok, template) = load_model_dir(src)?;
    let positions = positions
        .map(<[usize]>::to_vec)
        .unwrap_or_else(|| grown_positions(cfg.num_hidden_layers, layers));
    let (grown, grown_cfg) = grow_depth_at(&weights, &cfg, layers, &positions, seed, init)?;
    hf::write_model_dir(out, &grown_cfg, &grown, dtype, &tok, &template.source)?;
    Ok(GrowReport {
        layers_before: cfg.num_hidden_layers,
        layers_after: layers,
        old_layer_positions: positions,
        parameters: grown.values().map(|t| t.elem_count()).sum(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_layers_are_spread_evenly_and_keep_their_order() {
        assert_eq!(grown_positions(4, 24), vec![0, 6, 12, 18]);
        assert_eq!(grown_positions(2, 3), vec![0, 1]);
        assert_eq!(grown_positions(3, 4), vec![0, 1, 2]);
        let p = grown_positions(5, 24);
        assert!(p.windows(2).all(|w| w[0] < w[1]) && *p.last().unwrap() < 24);
    }
}
