//! Seeded random weights with HF tensor names, and checkpoint writing — for
//! benchmarks, tests and model scaffolding (no download needed).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::config::Qwen3MoeConfig;
use super::loader::expected_tensors;
use crate::error::{Error, Result};
use crate::io::{save_safetensors, write_atomic};

/// Normal(0, std) weights; norm weights 1 ± `norm_jitter` (uniform) so that
/// tests exercise them; q/k norm weights scaled by `qk_gain` to sharpen attention.
#[derive(Debug, Clone, Copy)]
pub struct RandomInit {
    pub std: f32,
    pub norm_jitter: f32,
    pub qk_gain: f32,
}

impl Default for RandomInit {
    fn default() -> Self {
        RandomInit {
            std: 0.02,
            norm_jitter: 0.0,
            qk_gain: 1.0,
        }
    }
}

fn normal(rng: &mut StdRng, n: usize, std: f32) -> Vec<f32> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let u1: f32 = rng.random::<f32>().max(f32::MIN_POSITIVE);
        let u2: f32 = rng.random();
        let r = (-2.0 * u1.ln()).sqrt();
        let th = 2.0 * std::f32::consts::PI * u2;
        out.push(r * th.cos() * std);
        if out.len() < n {
            out.push(r * th.sin() * std);
        }
    }
    out
}

/// Random weights for every tensor of `cfg`, deterministic in `seed`.
pub fn random_weights(
    cfg: &Qwen3MoeConfig,
    seed: u64,
    init: RandomInit,
    device: &Device,
) -> Result<HashMap<String, Tensor>> {
    let mut names: Vec<(String, Vec<usize>)> = expected_tensors(cfg).into_iter().collect();
    names.sort();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = HashMap::with_capacity(names.len());
    for (name, shape) in names {
        let n: usize = shape.iter().product();
        let data = if name.ends_with("norm.weight") || name.ends_with("layernorm.weight") {
            let gain = if name.ends_with("q_norm.weight") || name.ends_with("k_norm.weight") {
                init.qk_gain
            } else {
                1.0
            };
            (0..n)
                .map(|_| gain * (1.0 + init.norm_jitter * (2.0 * rng.random::<f32>() - 1.0)))
                .collect()
        } else {
            normal(&mut rng, n, init.std)
        };
        out.insert(name, Tensor::from_vec(data, shape, device)?);
    }
    Ok(out)
}

/// Writes a Hugging Face model directory: config.json (4.x keys) and the
/// weights in `dtype`, as one file or as `shards` shards with an index.
pub fn write_checkpoint(
    dir: &Path,
    cfg: &Qwen3MoeConfig,
    weights: &HashMap<String, Tensor>,
    dtype: DType,
    shards: usize,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let config = serde_json::to_vec_pretty(&cfg.to_hf_json()).expect("config serialises");
    write_atomic(&dir.join("config.json"), &config)?;
    let mut names: Vec<&String> = weights.keys().collect();
    names.sort();
    let shards = shards.max(1);
    let convert = |names: &[&String]| -> Result<HashMap<String, Tensor>> {
        names
            .iter()
            .map(|n| Ok(((*n).clone(), weights[*n].to_dtype(dtype)?)))
            .collect()
    };
    if shards == 1 {
        save_safetensors(&dir.join("model.safetensors"), &convert(&names)?)?;
        return Ok(());
    }
    let per = names.len().div_ceil(shards);
    let mut weight_map = serde_json::Map::new();
    for (s, chunk) in names.chunks(per).enumerate() {
        let file = format!("model-{:05}-of-{:05}.safetensors", s + 1, shards);
        save_safetensors(&dir.join(&file), &convert(chunk)?)?;
        for n in chunk {
            weight_map.insert((*n).clone(), serde_json::Value::String(file.clone()));
        }
    }
    let index = serde_json::json!({"metadata": {}, "weight_map": weight_map});
    write_atomic(
        &dir.join("model.safetensors.index.json"),
        &serde_json::to_vec_pretty(&index).expect("index serialises"),
    )?;
    Ok(())
}

/// Test tensors of uniform values in ±scale/2 from a 64-bit LCG: the same
/// numbers on every platform; `seed` advances across calls.
#[cfg(test)]
pub(crate) fn lcg_tensor(seed: &mut u64, shape: &[usize], scale: f32) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|_| {
            *seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((*seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * scale
        })
        .collect();
    Tensor::from_vec(v, shape, &Device::Cpu).expect("a tensor of its shape")
}
