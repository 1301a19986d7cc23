//! The experts of an MoE block as one grouped computation (f32, CPU): the
//! routed rows arrive grouped by expert, and each expert's gate, up and down
//! projections run as single-threaded GEMMs on its rows, experts spread over
//! the threads. candle's per-expert path ([`super::moe::Mlp::forward`],
//! three multithreaded matmuls of about a hundred rows each) is the
//! reference, and the fallback for other devices and dtypes; a test compares
//! the two.
//!
//! Each expert's rows are computed by one thread in a fixed order, so the
//! result does not depend on the thread count.

use candle_core::{Device, Storage, Tensor};
use rayon::prelude::*;

use super::gemm::{matmul, Mat};
use super::moe::Mlp;
use crate::error::{Error, Result};

/// Whether the grouped path can run on `x` and these experts: f32 on the
/// CPU, contiguous weights, no biases, and nothing that needs a gradient
/// (training goes through candle's ops, which have a backward).
fn eligible(x: &Tensor, experts: &[&Mlp]) -> bool {
    let ok = |t: &Tensor| {
        matches!(t.device(), Device::Cpu)
            && t.dtype() == candle_core::DType::F32
            && t.is_contiguous()
            && !t.track_op()
    };
    ok(x)
        && experts.iter().all(|m| {
            [&m.gate_proj, &m.up_proj, &m.down_proj]
                .iter()
                .all(|l| l.bias.is_none() && ok(&l.weight))
        })
}

/// The f32 elements of a contiguous CPU tensor, through its storage guard.
fn slice<'a>(guard: &'a Storage, t: &Tensor) -> Result<&'a [f32]> {
    let Storage::Cpu(cpu) = guard else {
        return Err(Error::Input("grouped experts: a tensor off the CPU".into()));
    };
    let data = cpu.as_slice::<f32>()?;
    let (a, b) = t
        .layout()
        .contiguous_offsets()
        .ok_or_else(|| Error::Input("grouped experts: a non-contiguous tensor".into()))?;
    data.get(a..b)
        .ok_or_else(|| Error::Input("grouped experts: a tensor outside its storage".into()))
}

/// silu(g) · u, elementwise into `g` (candle's silu: x / (1 + e^−x)).
fn swiglu(g: &mut [f32], u: &[f32]) {
    for (g, &u) in g.iter_mut().zip(u) {
        *g = *g / (1.0 + (-*g).exp()) * u;
    }
}

/// The experts' outputs [rows, hidden] for `xs` [rows, hidden], whose rows
/// come grouped: `experts[i]` takes the next `counts[i]` rows. `None` when
/// the grouped path cannot run (see [`eligible`]); the caller then runs the
/// reference.
pub fn grouped(xs: &Tensor, experts: &[&Mlp], counts: &[usize]) -> Result<Option<Tensor>> {
    if experts.len() != counts.len() || !eligible(xs, experts) {
        return Ok(None);
    }
    let (rows, hidden) = xs.dims2()?;
    if counts.iter().sum::<usize>() != rows {
        return Err(Error::Input(format!(
            "grouped experts: {} routed rows, {rows} gathered",
            counts.iter().sum::<usize>()
        )));
    }
    let x_guard = xs.storage_and_layout().0;
    let x = slice(&x_guard, xs)?;
    // the weights' storage guards live until the last expert is done
    let guards: Vec<_> = experts
        .iter()
        .flat_map(|m| [&m.gate_proj, &m.up_proj, &m.down_proj])
        .map(|l| l.weight.storage_and_layout().0)
        .collect();
    let mut weights: Vec<[&[f32]; 3]> = Vec::with_capacity(experts.len());
    for (m, g) in experts.iter().zip(guards.chunks(3)) {
        let [gg, ug, dg] = g else {
            return Err(Error::Input(
                "grouped experts: three weights per expert".into(),
            ));
        };
        weights.push([
            slice(gg, &m.gate_proj.weight)?,
            slice(ug, &m.up_proj.weight)?,
            slice(dg, &m.down_proj.weight)?,
        ]);
    }
    let inter = experts.first().map_or(0, |m| m.gate_proj.weight.dims()[0]);
    for (m, w) in experts.iter().zip(&weights) {
        let shapes = [
            m.gate_proj.weight.dims(),
            m.up_proj.weight.dims(),
            m.down_proj.weight.dims(),
        ];
        if shapes != [&[inter, hidden][..], &[inter, hidden], &[hidden, inter]]
            || w.iter().map(|s| s.len()).sum::<usize>() != 3 * inter * hidden
        {
            return Err(Error::Input(format!(
                "grouped experts: expected gate/up [{inter}, {hidden}] and down [{hidden}, {inter}], got {shapes:?}"
            )));
        }
    }
    // each expert's input rows and output rows
    let mut out = vec![0f32; rows * hidden];
    let mut tasks = Vec::with_capacity(experts.len());
    let (mut x_rest, mut out_rest) = (x, out.as_mut_slice());
    for (w, &n) in weights.iter().zip(counts) {
        let (xe, xr) = x_rest.split_at(n * hidden);
        let (oe, or) = out_rest.split_at_mut(n * hidden);
        (x_rest, out_rest) = (xr, or);
        if n > 0 {
            tasks.push((w, n, xe, oe));
        }
    }
    tasks
        .into_par_iter()
        .with_max_len(1)
        .for_each(|([wg, wu, wd], n, xe, oe)| {
            let mut g = vec![0f32; n * inter];
            let mut u = vec![0f32; n * inter];
            let a = Mat::rows(xe, hidden);
            matmul(
                n,
                inter,
                hidden,
                &mut g,
                inter,
                false,
                a,
                Mat::transposed(wg, hidden),
            );
            matmul(
                n,
                inter,
                hidden,
                &mut u,
                inter,
                false,
                a,
                Mat::transposed(wu, hidden),
            );
            swiglu(&mut g, &u);
            matmul(
                n,
                hidden,
                inter,
                oe,
                hidden,
                false,
                Mat::rows(&g, inter),
                Mat::transposed(wd, inter),
            );
        });
    drop(guards);
    drop(x_guard);
    Ok(Some(Tensor::from_vec(out, (rows, hidden), xs.device())?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::DType;
    use candle_nn::VarBuilder;
    use std::collections::HashMap;

    /// The grouped path against candle's per-expert reference, on uneven
    /// groups (an empty one included), and the same bits at 1 and 2 threads.
    #[test]
    fn grouped_experts_match_the_per_expert_reference() {
        let (hidden, inter, n_experts) = (48, 40, 5);
        let dev = Device::Cpu;
        let mut seed = 7u64;
        let mut rand = |shape: &[usize]| super::super::random::lcg_tensor(&mut seed, shape, 0.6);
        let mut w = HashMap::new();
        for e in 0..n_experts {
            for (name, s) in [
                ("gate_proj", [inter, hidden]),
                ("up_proj", [inter, hidden]),
                ("down_proj", [hidden, inter]),
            ] {
                w.insert(format!("{e}.{name}.weight"), rand(&s));
            }
        }
        let vb = VarBuilder::from_tensors(w, DType::F32, &dev);
        let mlps: Vec<Mlp> = (0..n_experts)
            .map(|e| Mlp::load(hidden, inter, vb.pp(e)).unwrap())
            .collect();
        let experts: Vec<&Mlp> = mlps.iter().collect();
        let counts = [3, 0, 17, 1, 9];
        let rows: usize = counts.iter().sum();
        let xs = rand(&[rows, hidden]);
        let got = grouped(&xs, &experts, &counts).unwrap().unwrap();
        let mut start = 0;
        let mut want = Vec::new();
        for (m, &n) in experts.iter().zip(&counts) {
            if n > 0 {
                want.push(m.forward(&xs.narrow(0, start, n).unwrap()).unwrap());
            }
            start += n;
        }
        let want = Tensor::cat(&want, 0).unwrap();
        let diff = (got.clone() - want)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(diff < 1e-5, "max difference {diff}");
        let bits = |t: &Tensor| -> Vec<u32> {
            t.flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
                .iter()
                .map(|x| x.to_bits())
                .collect()
        };
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let single = one.install(|| grouped(&xs, &experts, &counts).unwrap().unwrap());
        assert_eq!(bits(&got), bits(&single));
        // another dtype is left to the reference, and so is training
        let half = xs.to_dtype(DType::BF16).unwrap();
        assert!(grouped(&half, &experts, &counts).unwrap().is_none());
        let var = candle_core::Var::from_tensor(&xs).unwrap();
        assert!(grouped(var.as_tensor(), &experts, &counts)
            .unwrap()
            .is_none());
    }
}
