//! A bias-optional linear layer over [t, in] inputs: y = x Wᵀ (+ b).

use candle_core::Tensor;
use candle_nn::VarBuilder;

use crate::error::Result;

#[derive(Debug, Clone)]
pub struct Linear {
    /// [out, in], as stored in the checkpoint.
    pub weight: Tensor,
    pub bias: Option<Tensor>,
}

impl Linear {
    pub fn load(in_dim: usize, out_dim: usize, bias: bool, vb: VarBuilder) -> Result<Self> {
        Ok(Linear {
            weight: vb.get((out_dim, in_dim), "weight")?,
            bias: if bias {
                Some(vb.get(out_dim, "bias")?)
            } else {
                None
            },
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = x.matmul(&self.weight.t()?)?;
        Ok(match &self.bias {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        })
    }
}
