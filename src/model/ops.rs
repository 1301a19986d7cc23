//! Fused CPU ops with an analytic backward, for training.
//!
//! candle's fused `softmax_last_dim` and `rms_norm` have no backward, and the
//! composed (differentiable) versions cost 4–7 graph nodes each, which
//! dominates the step time of a small model. These custom ops do the forward
//! in one pass over each row and the backward in one more; on other devices
//! (or dtypes) the composed ops are used instead. Each op is checked against
//! finite differences and against the composed version in the tests below.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Device, Layout, Shape, Tensor, D};
use rayon::prelude::*;

use super::fastmath;

use crate::error::Result;

/// The f32 elements of a contiguous CPU storage (an error naming `op` otherwise).
pub(super) fn contiguous_f32<'a>(
    s: &'a CpuStorage,
    l: &Layout,
    op: &str,
) -> candle_core::Result<&'a [f32]> {
    let data = s.as_slice::<f32>()?;
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!("{op}: the input must be contiguous"),
    }
}

/// A tensor's elements in row-major order, copied to the host.
pub(super) fn host(t: &Tensor) -> candle_core::Result<Vec<f32>> {
    t.contiguous()?.flatten_all()?.to_vec1::<f32>()
}

/// Rows of at least this many elements in total are processed in parallel.
const PAR_MIN: usize = 1 << 14;

fn for_rows(out: &mut [f32], n: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    if out.len() >= PAR_MIN {
        out.par_chunks_mut(n).enumerate().for_each(|(r, o)| f(r, o));
    } else {
        out.chunks_mut(n).enumerate().for_each(|(r, o)| f(r, o));
    }
}

/// dx = scale · y · (g − Σ g·y) for one row of a softmax output y with upstream gradient g.
fn softmax_row_grad(y: &[f32], g: &[f32], scale: f32, dx: &mut [f32]) {
    let dot: f32 = y.iter().zip(g).map(|(a, b)| a * b).sum();
    for ((o, &a), &b) in dx.iter_mut().zip(y).zip(g) {
        *o = scale * a * (b - dot);
    }
}

/// Softmax over the last dimension (f32, CPU) with backward
/// dx = y · (g − Σ g·y).
struct SoftmaxLastDim;

impl CustomOp1 for SoftmaxLastDim {
    fn name(&self) -> &'static str {
        "acc-softmax-last-dim"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(s, l, self.name())?;
        let n = l.dims().last().copied().unwrap_or(1).max(1);
        let mut out = vec![0f32; x.len()];
        for_rows(&mut out, n, |r, o| {
            o.copy_from_slice(&x[r * n..(r + 1) * n]);
            fastmath::softmax_in_place(o, 1.0);
        });
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, y: &Tensor, g: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let (yv, gv) = (host(y)?, host(g)?);
        let n = y.dims().last().copied().unwrap_or(1).max(1);
        let mut dx = vec![0f32; yv.len()];
        for_rows(&mut dx, n, |r, o| {
            softmax_row_grad(&yv[r * n..(r + 1) * n], &gv[r * n..(r + 1) * n], 1.0, o);
        });
        Ok(Some(Tensor::from_vec(dx, y.shape(), y.device())?))
    }
}

/// Causal softmax of unscaled scores [.., tq, tk] for queries at positions
/// offset..offset+tq against keys 0..tk: row i is softmax(scale · x[0..=offset+i])
/// and 0 beyond (f32, CPU). Backward: dx = scale · y · (g − Σ g·y) on the
/// causal part, 0 elsewhere.
struct CausalSoftmax {
    scale: f32,
    offset: usize,
}

impl CustomOp1 for CausalSoftmax {
    fn name(&self) -> &'static str {
        "acc-causal-softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(s, l, self.name())?;
        let dims = l.dims();
        let n = dims[dims.len() - 1];
        if dims.len() < 2 || dims[dims.len() - 2] + self.offset != n {
            candle_core::bail!(
                "{}: expected scores [.., tq, offset + tq] with offset {}, got {dims:?}",
                self.name(),
                self.offset
            );
        }
        let (scale, tq, offset) = (self.scale, dims[dims.len() - 2], self.offset);
        let mut out = vec![0f32; x.len()];
        for_rows(&mut out, n, |r, o| {
            let i = r % tq + offset;
            o[..=i].copy_from_slice(&x[r * n..r * n + i + 1]);
            fastmath::softmax_in_place(&mut o[..=i], scale);
        });
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, y: &Tensor, g: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let (yv, gv) = (host(y)?, host(g)?);
        let dims = y.dims();
        let (tq, n) = (dims[dims.len() - 2], dims[dims.len() - 1]);
        let (scale, offset) = (self.scale, self.offset);
        let mut dx = vec![0f32; yv.len()];
        for_rows(&mut dx, n, |r, o| {
            let i = r % tq + offset;
            let row = r * n..r * n + i + 1;
            softmax_row_grad(&yv[row.clone()], &gv[row], scale, &mut o[..=i]);
        });
        Ok(Some(Tensor::from_vec(dx, y.shape(), y.device())?))
    }
}

/// RMSNorm over the last dimension, y = w · x · r with r = 1/√(mean(x²) + ε)
/// (f32, CPU). Backward: dx = r·(g·w) − x · r³ · mean(g·w·x); dw = Σ_rows g·x·r.
struct RmsNormOp {
    eps: f32,
}

/// 1 / √(mean(x²) + ε) of one row.
fn inv_rms(row: &[f32], eps: f32) -> f32 {
    let ms = row.iter().map(|v| v * v).sum::<f32>() / row.len() as f32;
    1.0 / (ms + eps).sqrt()
}

impl CustomOp2 for RmsNormOp {
    fn name(&self) -> &'static str {
        "acc-rms-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(s1, l1, self.name())?;
        let w = contiguous_f32(s2, l2, self.name())?;
        let n = w.len();
        let mut out = vec![0f32; x.len()];
        for_rows(&mut out, n, |r, o| {
            let row = &x[r * n..(r + 1) * n];
            let inv = inv_rms(row, self.eps);
            for ((o, &v), &wv) in o.iter_mut().zip(row).zip(w) {
                *o = v * inv * wv;
            }
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _y: &Tensor,
        g: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (xv, wv, gv) = (host(x)?, host(w)?, host(g)?);
        let n = wv.len();
        let rows = xv.len() / n;
        let mut dx = vec![0f32; xv.len()];
        let inv: Vec<f32> = xv.chunks_exact(n).map(|r| inv_rms(r, self.eps)).collect();
        let row_grad = |r: usize, o: &mut [f32]| {
            let (xr, gr) = (&xv[r * n..(r + 1) * n], &gv[r * n..(r + 1) * n]);
            let inv = inv[r];
            let dot: f32 = xr
                .iter()
                .zip(gr)
                .zip(&wv)
                .map(|((a, b), c)| a * b * c)
                .sum::<f32>()
                / n as f32;
            let c = inv * inv * inv * dot;
            for (((o, &a), &b), &wc) in o.iter_mut().zip(xr).zip(gr).zip(&wv) {
                *o = inv * b * wc - a * c;
            }
        };
        for_rows(&mut dx, n, row_grad);
        // dw: rows summed in a fixed order (deterministic)
        let mut dw = vec![0f32; n];
        for r in 0..rows {
            let (xr, gr) = (&xv[r * n..(r + 1) * n], &gv[r * n..(r + 1) * n]);
            for ((d, &a), &b) in dw.iter_mut().zip(xr).zip(gr) {
                *d += a * b * inv[r];
            }
        }
        Ok((
            Some(Tensor::from_vec(dx, x.shape(), x.device())?),
            Some(Tensor::from_vec(dw, w.shape(), w.device())?),
        ))
    }
}

/// Per-row cross-entropy −log softmax(z)[target] of logits [t, V] (f32, CPU)
/// against u32 targets [t] → [t]. Backward: dz = g · (softmax(z) − onehot(target)).
struct CrossEntropyOp;

impl CustomOp2 for CrossEntropyOp {
    fn name(&self) -> &'static str {
        "acc-cross-entropy"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let z = contiguous_f32(s1, l1, self.name())?;
        let targets = match (s2, l2.contiguous_offsets()) {
            (CpuStorage::U32(t), Some((a, b))) => &t[a..b],
            _ => candle_core::bail!("{}: targets must be contiguous u32", self.name()),
        };
        let (rows, v) = l1.shape().dims2()?;
        if targets.len() != rows {
            candle_core::bail!("{}: {rows} rows but {} targets", self.name(), targets.len());
        }
        if let Some(&bad) = targets.iter().find(|&&t| t as usize >= v) {
            candle_core::bail!("{}: target {bad} out of the vocabulary 0..{v}", self.name());
        }
        let out: Vec<f32> = (0..rows)
            .into_par_iter()
            .map(|r| {
                let row = &z[r * v..(r + 1) * v];
                fastmath::logsumexp(row) - row[targets[r] as usize]
            })
            .collect();
        Ok((CpuStorage::F32(out), Shape::from(rows)))
    }

    fn bwd(
        &self,
        z: &Tensor,
        targets: &Tensor,
        _y: &Tensor,
        g: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (rows, v) = z.dims2()?;
        let zv = host(z)?;
        let gv = host(g)?;
        let tv = targets.to_vec1::<u32>()?;
        let mut dz = vec![0f32; zv.len()];
        for_rows(&mut dz, v, |r, o| {
            if gv[r] == 0.0 {
                return;
            }
            let row = &zv[r * v..(r + 1) * v];
            let lse = fastmath::logsumexp(row);
            for (o, &x) in o.iter_mut().zip(row) {
                *o = gv[r] * fastmath::exp(x - lse);
            }
            o[tv[r] as usize] -= gv[r];
        });
        debug_assert_eq!(dz.len(), rows * v);
        Ok((Some(Tensor::from_vec(dz, z.shape(), z.device())?), None))
    }
}

/// Per-row cross-entropy of logits [t, V] against targets [t] (u32) → [t]:
/// the fused op on CPU/f32, log_softmax + gather elsewhere.
pub fn cross_entropy_rows(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    if fused_ok(logits) {
        Ok(logits
            .contiguous()?
            .apply_op2(&targets.contiguous()?, CrossEntropyOp)?)
    } else {
        let lp = candle_nn::ops::log_softmax(logits, D::Minus1)?;
        Ok(lp.gather(&targets.unsqueeze(1)?, 1)?.squeeze(1)?.neg()?)
    }
}

/// Whether the fused CPU ops apply to `x` (CPU, f32).
pub fn fused_ok(x: &Tensor) -> bool {
    matches!(x.device(), Device::Cpu) && x.dtype() == DType::F32
}

/// Differentiable softmax over the last dimension: the fused op on CPU/f32,
/// the composed one elsewhere.
pub fn softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    if fused_ok(x) {
        Ok(x.contiguous()?.apply_op1(SoftmaxLastDim)?)
    } else {
        Ok(candle_nn::ops::softmax(x, D::Minus1)?)
    }
}

/// Differentiable causal softmax of unscaled scores [.., tq, tk] for queries
/// at positions tk − tq.. against keys 0..tk (softmax(scale · x) over keys
/// 0..=position): the fused op on CPU/f32, scale + causal mask + softmax elsewhere.
pub fn causal_softmax(x: &Tensor, scale: f64) -> Result<Tensor> {
    let (tq, tk) = (x.dim(D::Minus2)?, x.dim(D::Minus1)?);
    if tq > tk {
        return Err(crate::error::Error::Input(format!(
            "causal softmax: {tq} queries against {tk} keys"
        )));
    }
    if !(scale > 0.0 && scale.is_finite()) {
        return Err(crate::error::Error::Input(format!(
            "causal softmax: the scale must be positive and finite, got {scale}"
        )));
    }
    if fused_ok(x) {
        return Ok(x.contiguous()?.apply_op1(CausalSoftmax {
            scale: scale as f32,
            offset: tk - tq,
        })?);
    }
    causal_softmax_composed(x, scale)
}

/// The same as [`causal_softmax`] from candle's differentiable ops: scale,
/// an additive causal mask, softmax (the reference, and the path off CPU).
pub fn causal_softmax_composed(x: &Tensor, scale: f64) -> Result<Tensor> {
    let (tq, tk) = (x.dim(D::Minus2)?, x.dim(D::Minus1)?);
    let offset = tk - tq;
    let mask = causal_mask(tq, tk, offset, x.device())?.to_dtype(x.dtype())?;
    Ok(candle_nn::ops::softmax(
        &(x * scale)?.broadcast_add(&mask)?,
        D::Minus1,
    )?)
}

/// The additive causal mask [tq, tk] of queries at positions offset..offset+tq
/// against keys 0..tk: 0 where key ≤ query position, −∞ after.
pub fn causal_mask(tq: usize, tk: usize, offset: usize, device: &Device) -> Result<Tensor> {
    let mask: Vec<f32> = (0..tq)
        .flat_map(|i| {
            (0..tk).map(move |j| {
                if j > i + offset {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
        })
        .collect();
    Ok(Tensor::from_vec(mask, (tq, tk), device)?)
}

/// Which pass a block serves: inference, or training (every op with a
/// backward; `fused` picks the custom CPU ops of this module over candle's
/// composed ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    Inference,
    Train { fused: bool },
}

impl Pass {
    /// The softmax of this pass's routing.
    pub fn softmax(self) -> Softmax {
        match self {
            Pass::Inference => Softmax::Inference,
            Pass::Train { fused: true } => Softmax::Fused,
            Pass::Train { fused: false } => Softmax::Composed,
        }
    }

    pub fn is_train(self) -> bool {
        matches!(self, Pass::Train { .. })
    }
}

/// Which softmax an attention or routing call uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Softmax {
    /// candle's fused kernel (no backward).
    Inference,
    /// Composed from differentiable ops.
    Composed,
    /// The fused op with an analytic backward ([`fused_ok`] inputs; the
    /// composed op elsewhere).
    Fused,
}

impl Softmax {
    /// The softmax of x over its last dimension.
    pub fn last_dim(self, x: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Softmax::Inference => candle_nn::ops::softmax_last_dim(x)?,
            Softmax::Composed => candle_nn::ops::softmax(x, D::Minus1)?,
            Softmax::Fused => softmax_last_dim(x)?,
        })
    }
}

/// Differentiable RMSNorm of x over its last dimension with weight w (same length).
pub fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
    if fused_ok(x) && w.dtype() == DType::F32 {
        Ok(x.contiguous()?
            .apply_op2(&w.contiguous()?, RmsNormOp { eps: eps as f32 })?)
    } else {
        let var = x.sqr()?.mean_keepdim(D::Minus1)?;
        let inv = (var + eps)?.sqrt()?.recip()?;
        Ok(x.broadcast_mul(&inv)?.broadcast_mul(w)?)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use candle_core::Var;

    /// n reproducible values in [-1, 1) (an LCG), for the ops' tests.
    pub(crate) fn seeded(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// Σ c·f(x) for fixed random c, so every output element carries gradient.
    fn objective(y: &Tensor, c: &Tensor) -> Tensor {
        (y * c).unwrap().sum_all().unwrap()
    }

    /// Central differences of `f` at `x` (f64 accumulation of the f32 outputs).
    fn numeric_grad(x: &[f32], shape: &[usize], f: &dyn Fn(&Tensor) -> f32) -> Vec<f32> {
        let h = 1e-2f32;
        (0..x.len())
            .map(|i| {
                let mut a = x.to_vec();
                a[i] += h;
                let mut b = x.to_vec();
                b[i] -= h;
                let fa = f(&Tensor::from_vec(a, shape, &Device::Cpu).unwrap());
                let fb = f(&Tensor::from_vec(b, shape, &Device::Cpu).unwrap());
                (fa - fb) / (2.0 * h)
            })
            .collect()
    }

    fn close(a: &[f32], b: &[f32], tol: f32) {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= tol * (1.0 + y.abs()),
                "element {i}: {x} vs {y}"
            );
        }
    }

    #[test]
    fn softmax_matches_composed_and_finite_differences() {
        let shape = [3usize, 4, 7];
        let xv: Vec<f32> = seeded(84, 1).iter().map(|v| v * 3.0).collect();
        let cv = seeded(84, 2);
        let c = Tensor::from_vec(cv, &shape, &Device::Cpu).unwrap();
        let x = Var::from_vec(xv.clone(), &shape, &Device::Cpu).unwrap();
        let y = softmax_last_dim(x.as_tensor()).unwrap();
        let reference = candle_nn::ops::softmax(x.as_tensor(), D::Minus1).unwrap();
        close(&host(&y).unwrap(), &host(&reference).unwrap(), 1e-6);
        let grads = objective(&y, &c).backward().unwrap();
        let g = host(grads.get(x.as_tensor()).unwrap()).unwrap();
        let rgrads = objective(&reference, &c).backward().unwrap();
        close(&g, &host(rgrads.get(x.as_tensor()).unwrap()).unwrap(), 1e-5);
        let num = numeric_grad(&xv, &shape, &|t| {
            objective(&softmax_last_dim(t).unwrap(), &c)
                .to_scalar::<f32>()
                .unwrap()
        });
        close(&g, &num, 2e-3);
    }

    #[test]
    fn softmax_of_a_fully_masked_row_is_zero() {
        let x = Tensor::new(
            &[[f32::NEG_INFINITY, f32::NEG_INFINITY], [0.0, 0.0]],
            &Device::Cpu,
        )
        .unwrap();
        let y = softmax_last_dim(&x).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(y, vec![vec![0.0, 0.0], vec![0.5, 0.5]]);
    }

    #[test]
    fn rms_norm_matches_composed_and_finite_differences() {
        let shape = [5usize, 6];
        let xv = seeded(30, 3);
        let wv: Vec<f32> = seeded(6, 4).iter().map(|v| 1.0 + 0.5 * v).collect();
        let c = Tensor::from_vec(seeded(30, 5), &shape, &Device::Cpu).unwrap();
        let x = Var::from_vec(xv.clone(), &shape, &Device::Cpu).unwrap();
        let w = Var::from_vec(wv.clone(), 6, &Device::Cpu).unwrap();
        let eps = 1e-6;
        let y = rms_norm(x.as_tensor(), w.as_tensor(), eps).unwrap();
        let composed = {
            let var = x.sqr().unwrap().mean_keepdim(D::Minus1).unwrap();
            let inv = (var + eps).unwrap().sqrt().unwrap().recip().unwrap();
            x.broadcast_mul(&inv)
                .unwrap()
                .broadcast_mul(w.as_tensor())
                .unwrap()
        };
        close(&host(&y).unwrap(), &host(&composed).unwrap(), 1e-6);
        let grads = objective(&y, &c).backward().unwrap();
        let gx = host(grads.get(x.as_tensor()).unwrap()).unwrap();
        let gw = host(grads.get(w.as_tensor()).unwrap()).unwrap();
        let rg = objective(&composed, &c).backward().unwrap();
        close(&gx, &host(rg.get(x.as_tensor()).unwrap()).unwrap(), 1e-5);
        close(&gw, &host(rg.get(w.as_tensor()).unwrap()).unwrap(), 1e-5);
        let wt = w.as_tensor().clone();
        let num_x = numeric_grad(&xv, &shape, &|t| {
            objective(&rms_norm(t, &wt, eps).unwrap(), &c)
                .to_scalar::<f32>()
                .unwrap()
        });
        close(&gx, &num_x, 2e-3);
        let xt = x.as_tensor().clone();
        let num_w = numeric_grad(&wv, &[6], &|t| {
            objective(&rms_norm(&xt, t, eps).unwrap(), &c)
                .to_scalar::<f32>()
                .unwrap()
        });
        close(&gw, &num_w, 2e-3);
    }

    #[test]
    fn cross_entropy_matches_log_softmax_and_finite_differences() {
        let shape = [4usize, 9];
        let zv: Vec<f32> = seeded(36, 6).iter().map(|v| v * 4.0).collect();
        let targets = Tensor::new(&[3u32, 0, 8, 5], &Device::Cpu).unwrap();
        let c = Tensor::new(&[0.5f32, -1.0, 2.0, 0.0], &Device::Cpu).unwrap();
        let z = Var::from_vec(zv.clone(), &shape, &Device::Cpu).unwrap();
        let y = cross_entropy_rows(z.as_tensor(), &targets).unwrap();
        let lp = candle_nn::ops::log_softmax(z.as_tensor(), D::Minus1).unwrap();
        let reference = lp
            .gather(&targets.unsqueeze(1).unwrap(), 1)
            .unwrap()
            .squeeze(1)
            .unwrap()
            .neg()
            .unwrap();
        close(&host(&y).unwrap(), &host(&reference).unwrap(), 1e-5);
        let g = objective(&y, &c).backward().unwrap();
        let gz = host(g.get(z.as_tensor()).unwrap()).unwrap();
        let rg = objective(&reference, &c).backward().unwrap();
        close(&gz, &host(rg.get(z.as_tensor()).unwrap()).unwrap(), 1e-5);
        let num = numeric_grad(&zv, &shape, &|t| {
            objective(&cross_entropy_rows(t, &targets).unwrap(), &c)
                .to_scalar::<f32>()
                .unwrap()
        });
        close(&gz, &num, 2e-3);
    }

    #[test]
    fn cross_entropy_rejects_targets_outside_the_vocabulary() {
        let z = Tensor::zeros((2, 3), DType::F32, &Device::Cpu).unwrap();
        let t = Tensor::new(&[0u32, 3], &Device::Cpu).unwrap();
        let e = cross_entropy_rows(&z, &t).unwrap_err().to_string();
        assert!(e.contains("target 3 out of the vocabulary 0..3"), "{e}");
    }

    #[test]
    fn causal_softmax_matches_masked_softmax_and_finite_differences() {
        let shape = [2usize, 5, 5];
        let xv: Vec<f32> = seeded(50, 7).iter().map(|v| v * 3.0).collect();
        let c = Tensor::from_vec(seeded(50, 8), &shape, &Device::Cpu).unwrap();
        let x = Var::from_vec(xv.clone(), &shape, &Device::Cpu).unwrap();
        let scale = 0.7;
        let y = causal_softmax(x.as_tensor(), scale).unwrap();
        let mask: Vec<f32> = (0..5)
            .flat_map(|i| (0..5).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
            .collect();
        let mask = Tensor::from_vec(mask, (5, 5), &Device::Cpu).unwrap();
        let reference = candle_nn::ops::softmax(
            &(x.as_tensor() * scale)
                .unwrap()
                .broadcast_add(&mask)
                .unwrap(),
            D::Minus1,
        )
        .unwrap();
        close(&host(&y).unwrap(), &host(&reference).unwrap(), 1e-6);
        let g = objective(&y, &c).backward().unwrap();
        let gx = host(g.get(x.as_tensor()).unwrap()).unwrap();
        let rg = objective(&reference, &c).backward().unwrap();
        close(&gx, &host(rg.get(x.as_tensor()).unwrap()).unwrap(), 1e-5);
        let num = numeric_grad(&xv, &shape, &|t| {
            objective(&causal_softmax(t, scale).unwrap(), &c)
                .to_scalar::<f32>()
                .unwrap()
        });
        close(&gx, &num, 2e-3);
        // queries 3..5 against keys 0..5 (a block of a longer sequence)
        let xb = Var::from_vec(seeded(20, 9), (2, 2, 5), &Device::Cpu).unwrap();
        let yb = causal_softmax(xb.as_tensor(), scale).unwrap();
        let mb: Vec<f32> = (0..2)
            .flat_map(|i| (0..5).map(move |j| if j > i + 3 { f32::NEG_INFINITY } else { 0.0 }))
            .collect();
        let mb = Tensor::from_vec(mb, (2, 5), &Device::Cpu).unwrap();
        let rb = candle_nn::ops::softmax(
            &(xb.as_tensor() * scale)
                .unwrap()
                .broadcast_add(&mb)
                .unwrap(),
            D::Minus1,
        )
        .unwrap();
        close(&host(&yb).unwrap(), &host(&rb).unwrap(), 1e-6);
        let cb = Tensor::from_vec(seeded(20, 10), (2, 2, 5), &Device::Cpu).unwrap();
        let g1 = objective(&yb, &cb).backward().unwrap();
        let g2 = objective(&rb, &cb).backward().unwrap();
        close(
            &host(g1.get(xb.as_tensor()).unwrap()).unwrap(),
            &host(g2.get(xb.as_tensor()).unwrap()).unwrap(),
            1e-5,
        );
    }
}
