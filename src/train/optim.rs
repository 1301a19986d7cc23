//! AdamW (decoupled weight decay), the learning-rate schedule (linear warmup,
//! cosine decay) and global-norm gradient clipping.
//!
//! The update runs on host memory in a fixed order, one fused loop per
//! tensor, so a run is deterministic and its state (first and second moments)
//! is saved and restored exactly for `--resume`.

use std::collections::HashMap;
use std::f64::consts::PI;

use candle_core::{Device, Tensor, Var};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// AdamW hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            beta1: 0.9,
            beta2: 0.95,
            eps: 1e-8,
            weight_decay: 0.1,
        }
    }
}

/// Linear warmup to `peak` over `warmup` steps, then cosine decay to
/// `peak · min_ratio` at `total` steps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub peak: f64,
    pub warmup: usize,
    pub total: usize,
    pub min_ratio: f64,
}

impl Schedule {
    /// The paper's schedule: warmup over `warmup_ratio` of the steps (5%).
    pub fn cosine(peak: f64, total: usize, warmup_ratio: f64, min_ratio: f64) -> Self {
        Schedule {
            peak,
            warmup: ((total as f64 * warmup_ratio).ceil() as usize).min(total),
            total,
            min_ratio,
        }
    }

    /// The learning rate of step `step` (0-based).
    pub fn lr(&self, step: usize) -> f64 {
        if step < self.warmup {
            return self.peak * (step + 1) as f64 / self.warmup as f64;
        }
        let span = self.total.saturating_sub(self.warmup).max(1);
        let progress = ((step - self.warmup) as f64 / span as f64).min(1.0);
        let min = self.peak * self.min_ratio;
        min + (self.peak - min) * 0.5 * (1.0 + (PI * progress).cos())
    }
}

/// One trainable tensor with its optimizer state.
struct Slot {
    name: String,
    var: Var,
    m: Vec<f32>,
    v: Vec<f32>,
    decay: bool,
}

/// AdamW over named variables (sorted by name: a fixed update order).
pub struct AdamW {
    cfg: AdamWConfig,
    slots: Vec<Slot>,
    /// Updates applied so far (for bias correction).
    pub t: u64,
}

impl AdamW {
    /// Weight decay applies to matrices (rank ≥ 2), not to norm weights.
    pub fn new(vars: &HashMap<String, Var>, cfg: AdamWConfig) -> Result<Self> {
        let mut names: Vec<&String> = vars.keys().collect();
        names.sort();
        let slots = names
            .into_iter()
            .map(|n| {
                let var = vars[n].clone();
                let len = var.elem_count();
                Slot {
                    name: n.clone(),
                    decay: var.rank() >= 2,
                    var,
                    m: vec![0.0; len],
                    v: vec![0.0; len],
                }
            })
            .collect();
        Ok(AdamW { cfg, slots, t: 0 })
    }

    /// Applies one update with gradients `grads` (by variable name; a variable
    /// without a gradient is left as it is) at learning rate `lr`.
    pub fn step(&mut self, grads: &HashMap<String, Vec<f32>>, lr: f64) -> Result<()> {
        self.t += 1;
        let AdamWConfig {
            beta1,
            beta2,
            eps,
            weight_decay,
        } = self.cfg;
        let bc1 = 1.0 - beta1.powi(self.t as i32);
        let bc2 = 1.0 - beta2.powi(self.t as i32);
        let (b1, b2) = (beta1 as f32, beta2 as f32);
        let step_size = (lr / bc1) as f32;
        let inv_bc2_sqrt = (1.0 / bc2.sqrt()) as f32;
        for s in &mut self.slots {
            let Some(g) = grads.get(&s.name) else {
                continue;
            };
            let shape = s.var.shape().clone();
            let mut w = s.var.as_tensor().flatten_all()?.to_vec1::<f32>()?;
            let decay = if s.decay {
                (1.0 - lr * weight_decay) as f32
            } else {
                1.0
            };
            for i in 0..w.len() {
                let gi = g[i];
                s.m[i] = b1 * s.m[i] + (1.0 - b1) * gi;
                s.v[i] = b2 * s.v[i] + (1.0 - b2) * gi * gi;
                let denom = s.v[i].sqrt() * inv_bc2_sqrt + eps as f32;
                w[i] = w[i] * decay - step_size * s.m[i] / denom;
            }
            s.var.set(&Tensor::from_vec(w, shape, s.var.device())?)?;
        }
        Ok(())
    }

    /// The moments as tensors `m.{name}` / `v.{name}` (for a checkpoint).
    pub fn state(&self) -> Result<HashMap<String, Tensor>> {
        let mut out = HashMap::new();
        for s in &self.slots {
            let shape = s.var.shape().clone();
            out.insert(
                format!("m.{}", s.name),
                Tensor::from_slice(&s.m, shape.clone(), &Device::Cpu)?,
            );
            out.insert(
                format!("v.{}", s.name),
                Tensor::from_slice(&s.v, shape, &Device::Cpu)?,
            );
        }
        Ok(out)
    }

    /// Restores the moments saved by [`Self::state`] and the update count.
    pub fn load_state(
        &mut self,
        state: &HashMap<String, Tensor>,
        t: u64,
        what: &str,
    ) -> Result<()> {
        for s in &mut self.slots {
            for (key, dst) in [("m", &mut s.m), ("v", &mut s.v)] {
                let name = format!("{key}.{}", s.name);
                let tensor = state.get(&name).ok_or_else(|| {
                    Error::Input(format!("{what}: optimizer state has no tensor `{name}`"))
                })?;
                let v = tensor.flatten_all()?.to_vec1::<f32>()?;
                if v.len() != dst.len() {
                    return Err(Error::Input(format!(
                        "{what}: optimizer tensor `{name}` has {} values, expected {}",
                        v.len(),
                        dst.len()
                    )));
                }
                *dst = v;
            }
        }
        self.t = t;
        Ok(())
    }
}

/// The global L2 norm of `grads`; scales them in place to `max_norm` when it
/// is exceeded (and `max_norm` > 0). Returns the norm before clipping.
pub fn clip_global_norm(grads: &mut HashMap<String, Vec<f32>>, max_norm: f64) -> f64 {
    let mut names: Vec<&String> = grads.keys().collect();
    names.sort();
    let sq: f64 = names
        .iter()
        .map(|n| {
            grads[*n]
                .iter()
                .map(|&g| (g as f64) * (g as f64))
                .sum::<f64>()
        })
        .sum();
    let norm = sq.sqrt();
    if max_norm > 0.0 && norm > max_norm {
        let scale = (max_norm / (norm + 1e-6)) as f32;
        grads
            .values_mut()
            .for_each(|g| g.iter_mut().for_each(|x| *x *= scale));
    }
    norm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_warms_up_then_decays_to_the_floor() {
        let s = Schedule::cosine(1e-3, 100, 0.05, 0.1);
        assert_eq!(s.warmup, 5);
        assert!((s.lr(0) - 2e-4).abs() < 1e-12);
        assert!((s.lr(4) - 1e-3).abs() < 1e-12);
        assert!((s.lr(5) - 1e-3).abs() < 1e-12);
        assert!(s.lr(50) < 1e-3 && s.lr(50) > 1e-4);
        assert!((s.lr(100) - 1e-4).abs() < 1e-12);
        assert!((1..100).all(|i| i < 5 || s.lr(i) <= s.lr(i - 1)));
    }

    #[test]
    fn adamw_matches_the_textbook_update() {
        let var = Var::from_vec(vec![1.0f32, -2.0], (1, 2), &Device::Cpu).unwrap();
        let vars = HashMap::from([("w".to_string(), var.clone())]);
        let cfg = AdamWConfig {
            beta1: 0.9,
            beta2: 0.99,
            eps: 1e-8,
            weight_decay: 0.1,
        };
        let mut opt = AdamW::new(&vars, cfg).unwrap();
        let g = HashMap::from([("w".to_string(), vec![0.5f32, -1.0])]);
        opt.step(&g, 0.01).unwrap();
        opt.step(&g, 0.01).unwrap();
        // by hand, in f64
        let mut w = [1.0f64, -2.0];
        let (mut m, mut v) = ([0.0f64; 2], [0.0f64; 2]);
        for t in 1..=2 {
            for i in 0..2 {
                let gi = [0.5, -1.0][i];
                m[i] = 0.9 * m[i] + 0.1 * gi;
                v[i] = 0.99 * v[i] + 0.01 * gi * gi;
                let mh = m[i] / (1.0 - 0.9f64.powi(t));
                let vh = v[i] / (1.0 - 0.99f64.powi(t));
                w[i] = w[i] * (1.0 - 0.01 * 0.1) - 0.01 * mh / (vh.sqrt() + 1e-8);
            }
        }
        let got = var
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        for i in 0..2 {
            assert!((got[i] as f64 - w[i]).abs() < 1e-6, "{got:?} vs {w:?}");
        }
    }

    #[test]
    fn clipping_scales_to_the_max_norm() {
        let mut g = HashMap::from([
            ("a".to_string(), vec![3.0f32]),
            ("b".to_string(), vec![4.0f32]),
        ]);
        assert_eq!(clip_global_norm(&mut g, 10.0), 5.0);
        assert_eq!(g["a"], vec![3.0]);
        assert_eq!(clip_global_norm(&mut g, 1.0), 5.0);
        let n: f32 = (g["a"][0].powi(2) + g["b"][0].powi(2)).sqrt();
        assert!((n - 1.0).abs() < 1e-5);
    }
}
