//! Fused causal attention over packed segments with an analytic backward
//! (f32, CPU), for training.
//!
//! The composed training attention (scores = q·kᵀ, causal softmax, probs·v)
//! puts two [heads, queries, keys] tensors per query block in candle's
//! graph; in the backward pass each of them gets a zero-filled gradient
//! buffer, an addition into it and host copies, which at 1,536 tokens cost
//! more than the matrix products. This op takes q, k and v and returns the
//! attention output: the score and probability blocks live only inside it.
//! The backward recomputes them block by block (as flash attention does):
//!
//! - P = softmax(scale · Q Kᵀ) on the causal part, O = P V (forward);
//! - dV = Pᵀ dO, dP = dO Vᵀ, D = rowsum(dO ∘ O), dS = scale · P ∘ (dP − D),
//!   dQ = dS K, dK = dSᵀ Q (backward).
//!
//! Work is split into (head, segment) tasks in the forward pass and
//! (key/value head, segment) tasks in the backward pass, each summing in a
//! fixed order, so the result does not depend on the thread count (the
//! backward pass has one task per kv head and segment, so a single sequence
//! uses at most kv_heads threads). The reference it is tested against is the
//! composed attention (below, and through the whole model in tests/train.rs).

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::fastmath;
use super::gemm::{matmul, Mat};
use super::ops::{contiguous_f32, host};

/// Queries per block: a block's scores are [BLOCK, keys].
const BLOCK: usize = 64;

/// Work (in multiply-adds) from which tasks run in parallel.
const PAR_MIN_WORK: usize = 1 << 18;

/// The probabilities of the query block q[first..first + n] against keys
/// k[0..m] (m = first + n; row-major, head dim d) into p [n × m]:
/// softmax(scale · q kᵀ) over keys 0..=first + r for row r, 0 beyond.
fn block_probs(p: &mut [f32], q: &[f32], k: &[f32], first: usize, n: usize, d: usize, scale: f32) {
    let m = first + n;
    let qb = Mat::rows(&q[first * d..m * d], d);
    matmul(n, m, d, p, m, false, qb, Mat::transposed(k, d));
    for r in 0..n {
        let row = &mut p[r * m..(r + 1) * m];
        let (live, dead) = row.split_at_mut(first + r + 1);
        fastmath::softmax_in_place(live, scale);
        dead.fill(0.0);
    }
}

/// The op: q [heads, t, d], k and v [kv_heads, t, d] (contiguous), where t
/// holds `segments` back to back and each segment attends causally within
/// itself; output [heads, t, d].
struct PackedCausalAttention {
    segments: Vec<usize>,
    scale: f32,
}

/// Sizes of one call: heads, kv heads, tokens, head dim.
struct Dims {
    nh: usize,
    nkv: usize,
    t: usize,
    d: usize,
}

impl PackedCausalAttention {
    fn dims(&self, lq: &Layout, lk: &Layout, lv: &Layout) -> candle_core::Result<Dims> {
        let name = self.name();
        let (nh, t, d) = lq.shape().dims3()?;
        let (nkv, tk, dk) = lk.shape().dims3()?;
        if lv.shape() != lk.shape() || (tk, dk) != (t, d) || nkv == 0 || nh % nkv != 0 {
            candle_core::bail!(
                "{name}: expected q [heads, t, d] and k, v [kv_heads, t, d] with kv_heads dividing heads, got {:?}, {:?}, {:?}",
                lq.dims(),
                lk.dims(),
                lv.dims()
            );
        }
        let total: usize = self.segments.iter().sum();
        if total != t {
            candle_core::bail!("{name}: segments sum to {total}, not the {t} tokens");
        }
        Ok(Dims { nh, nkv, t, d })
    }

    /// (start, len) of each non-empty segment.
    fn spans(&self) -> Vec<(usize, usize)> {
        let mut start = 0;
        let mut out = Vec::new();
        for &len in &self.segments {
            if len > 0 {
                out.push((start, len));
            }
            start += len;
        }
        out
    }

    /// Multiply-adds of one head's pass over all segments (for the parallel threshold).
    fn work(&self, d: usize) -> usize {
        self.segments.iter().map(|l| l * l * d).sum()
    }
}

/// Splits `rows` ([heads, t, d] flattened) into one mutable slice per
/// (head, span): out[h][i] covers the rows of spans[i] in head h.
fn split_spans<'a>(
    rows: &'a mut [f32],
    t: usize,
    d: usize,
    spans: &[(usize, usize)],
) -> Vec<Vec<&'a mut [f32]>> {
    rows.chunks_mut(t * d)
        .map(|head| {
            let mut out = Vec::with_capacity(spans.len());
            let mut rest = head;
            let mut at = 0;
            for &(start, len) in spans {
                let (_, tail) = rest.split_at_mut((start - at) * d);
                let (mine, tail) = tail.split_at_mut(len * d);
                out.push(mine);
                rest = tail;
                at = start + len;
            }
            out
        })
        .collect()
}

fn run<T: Send>(tasks: Vec<T>, parallel: bool, f: impl Fn(T) + Sync + Send) {
    if parallel {
        tasks.into_par_iter().for_each(f);
    } else {
        tasks.into_iter().for_each(f);
    }
}

impl CustomOp3 for PackedCausalAttention {
    fn name(&self) -> &'static str {
        "acc-causal-attention"
    }

    fn cpu_fwd(
        &self,
        sq: &CpuStorage,
        lq: &Layout,
        sk: &CpuStorage,
        lk: &Layout,
        sv: &CpuStorage,
        lv: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let Dims { nh, nkv, t, d } = self.dims(lq, lk, lv)?;
        if t * d == 0 {
            return Ok((CpuStorage::F32(Vec::new()), lq.shape().clone()));
        }
        let name = self.name();
        let (q, k, v) = (
            contiguous_f32(sq, lq, name)?,
            contiguous_f32(sk, lk, name)?,
            contiguous_f32(sv, lv, name)?,
        );
        let rep = nh / nkv;
        let spans = self.spans();
        let mut out = vec![0f32; nh * t * d];
        let mut tasks = Vec::new();
        for (h, parts) in split_spans(&mut out, t, d, &spans).into_iter().enumerate() {
            for (part, &span) in parts.into_iter().zip(&spans) {
                tasks.push((h, span, part));
            }
        }
        let parallel = nh * self.work(d) >= PAR_MIN_WORK;
        let scale = self.scale;
        run(tasks, parallel, |(h, (start, len), o)| {
            let g = h / rep;
            let qh = &q[(h * t + start) * d..(h * t + start + len) * d];
            let kg = &k[(g * t + start) * d..(g * t + start + len) * d];
            let vg = &v[(g * t + start) * d..(g * t + start + len) * d];
            let mut s = vec![0f32; BLOCK.min(len) * len];
            for b0 in (0..len).step_by(BLOCK) {
                let n = BLOCK.min(len - b0);
                let m = b0 + n;
                let s = &mut s[..n * m];
                block_probs(s, qh, kg, b0, n, d, scale);
                let p = Mat::rows(s, m);
                matmul(
                    n,
                    d,
                    m,
                    &mut o[b0 * d..m * d],
                    d,
                    false,
                    p,
                    Mat::rows(vg, d),
                );
            }
        });
        Ok((CpuStorage::F32(out), lq.shape().clone()))
    }

    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        o: &Tensor,
        go: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let Dims { nh, nkv, t, d } = self.dims(q.layout(), k.layout(), v.layout())?;
        if t * d == 0 {
            return Ok((
                Some(q.zeros_like()?),
                Some(k.zeros_like()?),
                Some(v.zeros_like()?),
            ));
        }
        let (qv, kv, vv, ov, gv) = (host(q)?, host(k)?, host(v)?, host(o)?, host(go)?);
        let rep = nh / nkv;
        let spans = self.spans();
        let mut dq = vec![0f32; nh * t * d];
        let mut dk = vec![0f32; nkv * t * d];
        let mut dv = vec![0f32; nkv * t * d];
        // a task per (kv head, span): it owns that span's dK, dV rows and the
        // dQ rows of the heads that share the kv head
        let mut dq_parts: Vec<std::vec::IntoIter<&mut [f32]>> = split_spans(&mut dq, t, d, &spans)
            .into_iter()
            .map(|p| p.into_iter())
            .collect();
        let dk_parts = split_spans(&mut dk, t, d, &spans);
        let dv_parts = split_spans(&mut dv, t, d, &spans);
        let mut tasks = Vec::new();
        for (g, (dkg, dvg)) in dk_parts.into_iter().zip(dv_parts).enumerate() {
            for (i, (dks, dvs)) in dkg.into_iter().zip(dvg).enumerate() {
                let heads: Vec<&mut [f32]> = (g * rep..(g + 1) * rep)
                    .map(|h| dq_parts[h].next().expect("one part per span"))
                    .collect();
                tasks.push((g, spans[i], heads, dks, dvs));
            }
        }
        let parallel = nh * self.work(d) >= PAR_MIN_WORK;
        let scale = self.scale;
        run(tasks, parallel, |(g, (start, len), dqs, dks, dvs)| {
            let rows = |head: usize| (head * t + start) * d..(head * t + start + len) * d;
            let kg = &kv[rows(g)];
            let vg = &vv[rows(g)];
            let cap = BLOCK.min(len) * len;
            let (mut p, mut ds) = (vec![0f32; cap], vec![0f32; cap]);
            for (r, dqh) in dqs.into_iter().enumerate() {
                let h = g * rep + r;
                let qh = &qv[rows(h)];
                let oh = &ov[rows(h)];
                let gh = &gv[rows(h)];
                for b0 in (0..len).step_by(BLOCK) {
                    let n = BLOCK.min(len - b0);
                    let m = b0 + n;
                    let (p, ds) = (&mut p[..n * m], &mut ds[..n * m]);
                    let qb = Mat::rows(&qh[b0 * d..m * d], d);
                    let gb = Mat::rows(&gh[b0 * d..m * d], d);
                    // P, recomputed
                    block_probs(p, qh, kg, b0, n, d, scale);
                    // dV[0..m] += Pᵀ dO
                    matmul(
                        m,
                        d,
                        n,
                        &mut dvs[..m * d],
                        d,
                        true,
                        Mat::transposed(p, m),
                        gb,
                    );
                    // dS = scale · P ∘ (dO Vᵀ − rowsum(dO ∘ O))
                    matmul(n, m, d, ds, m, false, gb, Mat::transposed(vg, d));
                    for i in 0..n {
                        let (go_i, o_i) = (&gh[(b0 + i) * d..][..d], &oh[(b0 + i) * d..][..d]);
                        let dot: f32 = go_i.iter().zip(o_i).map(|(a, b)| a * b).sum();
                        let live = b0 + i + 1;
                        let (pr, dr) = (&p[i * m..i * m + live], &mut ds[i * m..(i + 1) * m]);
                        for (x, &pv) in dr[..live].iter_mut().zip(pr) {
                            *x = scale * pv * (*x - dot);
                        }
                        dr[live..].fill(0.0);
                    }
                    let ds = Mat::rows(ds, m);
                    // dQ[block] = dS K;  dK[0..m] += dSᵀ Q[block]
                    matmul(
                        n,
                        d,
                        m,
                        &mut dqh[b0 * d..m * d],
                        d,
                        false,
                        ds,
                        Mat::rows(kg, d),
                    );
                    let dst = Mat::transposed(ds.data, m);
                    matmul(m, d, n, &mut dks[..m * d], d, true, dst, qb);
                }
            }
        });
        let dev = q.device();
        Ok((
            Some(Tensor::from_vec(dq, q.shape(), dev)?),
            Some(Tensor::from_vec(dk, k.shape(), dev)?),
            Some(Tensor::from_vec(dv, v.shape(), dev)?),
        ))
    }
}

/// Causal attention within each of `segments` (lengths summing to t):
/// q [heads, t, d], k and v [kv_heads, t, d] (f32, CPU) → [heads, t, d],
/// softmax(scale · q kᵀ) v with query head h reading kv head h / (heads / kv_heads).
pub fn packed_causal_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    segments: &[usize],
    scale: f64,
) -> crate::error::Result<Tensor> {
    if !(scale > 0.0 && scale.is_finite()) {
        return Err(crate::error::Error::Input(format!(
            "causal attention: the score scale must be positive and finite, got {scale}"
        )));
    }
    let op = PackedCausalAttention {
        segments: segments.to_vec(),
        scale: scale as f32,
    };
    Ok(q.contiguous()?
        .apply_op3(&k.contiguous()?, &v.contiguous()?, op)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ops::tests::seeded;
    use candle_core::{Device, Var};

    fn tensor(shape: (usize, usize, usize), seed: u64, gain: f32) -> Tensor {
        let n = shape.0 * shape.1 * shape.2;
        let v: Vec<f32> = seeded(n, seed).into_iter().map(|x| x * gain).collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    /// The largest |a − b|, infinite where either side is NaN.
    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        flat(a)
            .iter()
            .zip(flat(b))
            .map(|(x, y)| match (x - y).abs() {
                d if d.is_nan() => f32::INFINITY,
                d => d,
            })
            .fold(0.0, f32::max)
    }

    /// Forward and q, k, v gradients of the fused op and the composed
    /// reference on the same inputs, under the loss Σ c ∘ out.
    fn compare(nh: usize, nkv: usize, segments: &[usize], d: usize, gain: f32) {
        let t: usize = segments.iter().sum();
        let scale = 1.0 / (d as f64).sqrt();
        let q = Var::from_tensor(&tensor((nh, t, d), 1, gain)).unwrap();
        let k = Var::from_tensor(&tensor((nkv, t, d), 2, gain)).unwrap();
        let v = Var::from_tensor(&tensor((nkv, t, d), 3, 1.0)).unwrap();
        let c = tensor((nh, t, d), 4, 1.0);
        let fused = packed_causal_attention(&q, &k, &v, segments, scale).unwrap();
        // the reference: candle's differentiable ops, as in training off CPU
        let composed =
            crate::model::attention::composed_causal_attention(&q, &k, &v, segments, scale, false)
                .unwrap();
        assert!(max_diff(&fused, &composed) < 1e-5, "forward");
        let gf = (&fused * &c)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let gc = (&composed * &c)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        for (name, x) in [("q", &q), ("k", &k), ("v", &v)] {
            let (a, b) = (gf.get(x).unwrap(), gc.get(x).unwrap());
            let tol = 1e-5 * (1.0 + max_diff(b, &b.zeros_like().unwrap()));
            assert!(
                max_diff(a, b) < tol,
                "d{name}: {} (tolerance {tol})",
                max_diff(a, b)
            );
        }
    }

    #[test]
    fn matches_the_composed_attention_and_its_gradients() {
        // one segment shorter than a block, GQA 2:1
        compare(4, 2, &[7], 8, 1.0);
        // segments across block boundaries (64), MHA and 4:1 GQA, sharp scores
        compare(2, 2, &[70, 3, 130], 16, 3.0);
        compare(4, 1, &[65, 64, 1], 8, 1.0);
        // with an empty segment among them
        compare(2, 1, &[5, 0, 9], 4, 1.0);
    }

    #[test]
    fn gradients_match_finite_differences() {
        let (nh, nkv, d, segments) = (2, 1, 3, [4usize, 3]);
        let t = 7;
        let scale = 0.6;
        let c = tensor((nh, t, d), 9, 1.0);
        let inputs = [
            tensor((nh, t, d), 5, 1.5),
            tensor((nkv, t, d), 6, 1.5),
            tensor((nkv, t, d), 7, 1.0),
        ];
        let loss = |x: &[Tensor; 3]| -> f32 {
            let o = packed_causal_attention(&x[0], &x[1], &x[2], &segments, scale).unwrap();
            (o * &c)
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
        };
        let vars: Vec<Var> = inputs
            .iter()
            .map(|x| Var::from_tensor(x).unwrap())
            .collect();
        let o = packed_causal_attention(&vars[0], &vars[1], &vars[2], &segments, scale).unwrap();
        let grads = (o * &c).unwrap().sum_all().unwrap().backward().unwrap();
        let h = 1e-2f32;
        for (which, var) in vars.iter().enumerate() {
            let analytic = grads
                .get(var)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            let base = inputs[which]
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            let shape = inputs[which].shape().clone();
            for i in 0..base.len() {
                let shifted = |delta: f32| {
                    let mut x = inputs.clone();
                    let mut b = base.clone();
                    b[i] += delta;
                    x[which] = Tensor::from_vec(b, &shape, &Device::Cpu).unwrap();
                    loss(&x)
                };
                let numeric = (shifted(h) - shifted(-h)) / (2.0 * h);
                assert!(
                    (numeric - analytic[i]).abs() < 2e-3 * (1.0 + numeric.abs()),
                    "input {which} element {i}: finite difference {numeric} vs analytic {}",
                    analytic[i]
                );
            }
        }
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        // large enough for the tasks to run in parallel
        let (nh, nkv, d, segments) = (4, 2, 16, [300usize, 200, 100]);
        let t = 600;
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let q = Var::from_tensor(&tensor((nh, t, d), 1, 2.0)).unwrap();
                let k = Var::from_tensor(&tensor((nkv, t, d), 2, 2.0)).unwrap();
                let v = Var::from_tensor(&tensor((nkv, t, d), 3, 1.0)).unwrap();
                let c = tensor((nh, t, d), 4, 1.0);
                let o = packed_causal_attention(&q, &k, &v, &segments, 0.25).unwrap();
                let g = (&o * &c).unwrap().sum_all().unwrap().backward().unwrap();
                let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                let mut all = flat(&o);
                for x in [&q, &k, &v] {
                    all.extend(flat(g.get(x).unwrap()));
                }
                all
            })
        };
        let (one, four) = (run(1), run(4));
        assert!(one.iter().all(|x| x.is_finite()));
        assert!(one
            .iter()
            .zip(&four)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
    }

    #[test]
    fn empty_input_and_a_bad_scale() {
        let q = Tensor::zeros((2, 0, 4), candle_core::DType::F32, &Device::Cpu).unwrap();
        let k = Tensor::zeros((1, 0, 4), candle_core::DType::F32, &Device::Cpu).unwrap();
        let o = packed_causal_attention(&q, &k, &k, &[], 0.5).unwrap();
        assert_eq!(o.dims(), &[2, 0, 4]);
        let q = tensor((2, 3, 4), 1, 1.0);
        let k = tensor((1, 3, 4), 2, 1.0);
        let e = packed_causal_attention(&q, &k, &k, &[3], -1.0).unwrap_err();
        assert!(e.to_string().contains("positive and finite"), "{e}");
    }

    #[test]
    fn bad_shapes_are_refused() {
        let q = tensor((3, 5, 4), 1, 1.0);
        let k = tensor((2, 5, 4), 2, 1.0);
        let e = packed_causal_attention(&q, &k, &k, &[5], 1.0).unwrap_err();
        assert!(e.to_string().contains("kv_heads dividing heads"), "{e}");
        let k = tensor((1, 5, 4), 2, 1.0);
        let e = packed_causal_attention(&q, &k, &k, &[2, 2], 1.0).unwrap_err();
        assert!(e.to_string().contains("segments sum to 4"), "{e}");
        let v = tensor((1, 5, 3), 3, 1.0);
        let e = packed_causal_attention(&q, &k, &v, &[5], 1.0).unwrap_err();
        assert!(e.to_string().contains("kv_heads dividing heads"), "{e}");
    }
}
