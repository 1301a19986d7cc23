//! Rotary position embeddings (Qwen3: rotate-half, non-interleaved), computed
//! in f32 exactly like HF transformers' default RoPE.

use candle_core::{DType, Device, Tensor};

use crate::error::Result;

/// cos/sin tables for t consecutive positions, each [t, head_dim / 2].
#[derive(Debug, Clone)]
pub struct RopeTables {
    pub cos: Tensor,
    pub sin: Tensor,
}

impl RopeTables {
    pub fn new(theta: f64, head_dim: usize, t: usize, device: &Device) -> Result<Self> {
        Self::positions(theta, head_dim, 0, t, device)
    }

    /// Tables for positions start..start+t (decoding with a KV cache).
    pub fn positions(
        theta: f64,
        head_dim: usize,
        start: usize,
        t: usize,
        device: &Device,
    ) -> Result<Self> {
        let pos: Vec<usize> = (start..start + t).collect();
        Self::at(theta, head_dim, &pos, device)
    }

    /// Tables for arbitrary positions (packed sequences restart at 0).
    pub fn at(theta: f64, head_dim: usize, positions: &[usize], device: &Device) -> Result<Self> {
        let half = head_dim / 2;
        let t = positions.len();
        let inv_freq: Vec<f32> = (0..half)
            .map(|i| 1f32 / (theta as f32).powf((2 * i) as f32 / head_dim as f32))
            .collect();
        let mut freqs = Vec::with_capacity(t * half);
        for &p in positions {
            for &f in &inv_freq {
                freqs.push(p as f32 * f);
            }
        }
        let freqs = Tensor::from_vec(freqs, (t, half), device)?;
        Ok(RopeTables {
            cos: freqs.cos()?.to_dtype(DType::F32)?,
            sin: freqs.sin()?.to_dtype(DType::F32)?,
        })
    }

    /// Applies RoPE to x [heads, t, head_dim]. `differentiable` selects the
    /// composed implementation (candle's fused kernel has no backward).
    pub fn apply(&self, x: &Tensor, differentiable: bool) -> Result<Tensor> {
        let x4 = x.unsqueeze(0)?;
        let y = if differentiable {
            candle_nn::rotary_emb::rope_slow(&x4, &self.cos, &self.sin)?
        } else {
            candle_nn::rotary_emb::rope(&x4.contiguous()?, &self.cos, &self.sin)?
        };
        Ok(y.squeeze(0)?)
    }
}
