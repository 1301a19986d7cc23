//! RMSNorm as HF transformers computes it for Qwen3, in f32:
//! w · (x · rsqrt(mean(x²) + ε)). Multiplying by the reciprocal square root
//! (rather than dividing by the square root, as candle's fused kernel does)
//! keeps the rounding of the reference implementation; every op has a backward.

use super::ops::Pass;
use candle_core::{Tensor, D};
use candle_nn::VarBuilder;

use crate::error::Result;

#[derive(Debug, Clone)]
pub struct RmsNorm {
    pub weight: Tensor,
    pub eps: f64,
}

impl RmsNorm {
    pub fn load(size: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        Ok(RmsNorm {
            weight: vb.get(size, "weight")?,
            eps,
        })
    }

    /// Normalises over the last dimension.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let var = x.sqr()?.mean_keepdim(D::Minus1)?;
        let inv = (var + self.eps)?.sqrt()?.recip()?;
        Ok(x.broadcast_mul(&inv)?.broadcast_mul(&self.weight)?)
    }

    /// The training path: the fused op with a backward when `fused`
    /// ([`super::ops::rms_norm`]), else the composed [`Self::forward`].
    pub fn forward_train(&self, x: &Tensor, fused: bool) -> Result<Tensor> {
        if fused {
            super::ops::rms_norm(x, &self.weight, self.eps)
        } else {
            self.forward(x)
        }
    }

    /// [`Self::forward`] or [`Self::forward_train`], as `pass` says.
    pub fn forward_pass(&self, x: &Tensor, pass: Pass) -> Result<Tensor> {
        match pass {
            Pass::Inference => self.forward(x),
            Pass::Train { fused } => self.forward_train(x, fused),
        }
    }
}
