//! Parity of the CUDA kernel with the CPU streaming path, and its benchmark.
//!
//! Parity: random q, k, v (bf16 runs round them to bf16 first, and the CPU
//! path gets the rounded values, so both see the same numbers); every output
//! and statistic is compared field by field, the error of a value x against
//! the CPU's c being |x − c| / max(1, |c|). Tolerances: 1e-5 for f32 inputs,
//! 1e-3 for bf16. Exact fields (argmax distance, row counts, the histogram of
//! per-row mean distances) may differ where two keys' scores or a mean
//! distance and a bin edge are closer than the two sums' rounding; such
//! differences are counted and allowed up to 0.1% of the rows.

use rayon::prelude::*;
use serde::Serialize;

use super::attention::{keys_from_transposed, round_bf16, GpuAttention, GpuDtype, GpuInput};
use super::error::GpuResult;
use crate::model::attention_stream::{
    stream_attention, StreamBlocks, StreamInput, StreamOutput, StreamStats,
};
use crate::stats::attn::AttnStatsSpec;

/// One parity comparison (one length, dtype, head_dim and statistics mode).
#[derive(Debug, Clone, Serialize)]
pub struct ParityRow {
    pub t: usize,
    pub dtype: &'static str,
    pub d: usize,
    /// "off", "rows" or "summary".
    pub stats: &'static str,
    /// Largest error of the attention output.
    pub out_err: f64,
    /// Largest error over the statistics, and its field.
    pub stat_err: f64,
    pub worst_field: String,
    /// Rows or bins whose exact-valued fields differ.
    pub exact_mismatches: usize,
    pub tol: f64,
    pub pass: bool,
}

/// Deterministic uniform values in [−a, a) (splitmix64 of the index).
fn random_vec(n: usize, seed: u64, a: f32) -> Vec<f32> {
    let mut v = vec![0f32; n];
    v.par_chunks_mut(1 << 16)
        .enumerate()
        .for_each(|(c, chunk)| {
            for (i, x) in chunk.iter_mut().enumerate() {
                let mut z = seed
                    .wrapping_add(((c << 16) + i) as u64)
                    .wrapping_mul(0x9E37_79B9_7F4A_7C15);
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                z ^= z >> 31;
                let u = (z >> 40) as f32 / (1u64 << 24) as f32; // [0, 1)
                *x = (2.0 * u - 1.0) * a;
            }
        });
    v
}

struct Inputs {
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
}

fn inputs(heads: usize, kv: usize, t: usize, d: usize, seed: u64, dtype: GpuDtype) -> Inputs {
    // uniform(−2.5, 2.5) has σ ≈ 1.44: scores of σ ≈ 2, neither flat nor one-hot
    let q = random_vec(heads * t * d, seed, 2.5);
    let k = random_vec(kv * t * d, seed ^ 0x5555, 2.5);
    let v = random_vec(kv * t * d, seed ^ 0xaaaa, 1.0);
    match dtype {
        GpuDtype::F32 => Inputs { q, k, v },
        GpuDtype::Bf16 => Inputs {
            q: round_bf16(&q),
            k: round_bf16(&k),
            v: round_bf16(&v),
        },
    }
}

fn transpose_keys(k: &[f32], t: usize, d: usize) -> Vec<f32> {
    let mut kt = vec![0f32; k.len()];
    kt.par_chunks_mut(d * t).enumerate().for_each(|(g, dst)| {
        let src = &k[g * t * d..(g + 1) * t * d];
        for j in 0..t {
            for c in 0..d {
                dst[c * t + j] = src[j * d + c];
            }
        }
    });
    kt
}

/// Largest |x − c| / max(1, |c|) of two equally long slices.
fn max_err<A: Copy + Into<f64>>(got: &[A], want: &[A]) -> f64 {
    if got.len() != want.len() {
        return f64::INFINITY;
    }
    got.iter()
        .zip(want)
        .map(|(&g, &w)| {
            let (g, w) = (g.into(), w.into());
            let e = (g - w).abs() / w.abs().max(1.0);
            if e.is_nan() {
                f64::INFINITY
            } else {
                e
            }
        })
        .fold(0.0, f64::max)
}

/// Field-by-field comparison of statistics: (largest error, its field, exact mismatches).
fn compare_stats(got: &StreamStats, want: &StreamStats) -> (f64, String, usize) {
    let mut worst = (0.0, String::from("-"));
    let mut note = |name: &str, e: f64| {
        if e > worst.0 || (e.is_infinite() && !worst.0.is_infinite()) {
            worst = (e, name.to_string());
        }
    };
    let mut exact = 0usize;
    match (got, want) {
        (StreamStats::Rows(g), StreamStats::Rows(w)) => {
            if g.rows != w.rows || g.heads != w.heads || g.nbins != w.nbins {
                return (f64::INFINITY, "shape".into(), 0);
            }
            note("mean_distance", max_err(&g.mean_distance, &w.mean_distance));
            note("entropy", max_err(&g.entropy, &w.entropy));
            note("sink_mass", max_err(&g.sink_mass, &w.sink_mass));
            note("local_mass", max_err(&g.local_mass, &w.local_mass));
            note("max_weight", max_err(&g.max_weight, &w.max_weight));
            note("distance_hist", max_err(&g.distance_hist, &w.distance_hist));
            exact += g
                .argmax_distance
                .iter()
                .zip(&w.argmax_distance)
                .filter(|(a, b)| a != b)
                .count();
        }
        (StreamStats::Summary(g), StreamStats::Summary(w)) => {
            if g.heads != w.heads || g.nbins != w.nbins {
                return (f64::INFINITY, "shape".into(), 0);
            }
            if g.n_rows != w.n_rows {
                return (f64::INFINITY, "n_rows".into(), 0);
            }
            note("hist_sum", max_err(&g.hist_sum, &w.hist_sum));
            note(
                "mean_distance_sum",
                max_err(&g.mean_distance_sum, &w.mean_distance_sum),
            );
            note(
                "mean_distance_sq_sum",
                max_err(&g.mean_distance_sq_sum, &w.mean_distance_sq_sum),
            );
            note("entropy_sum", max_err(&g.entropy_sum, &w.entropy_sum));
            note("sink_sum", max_err(&g.sink_sum, &w.sink_sum));
            note("local_sum", max_err(&g.local_sum, &w.local_sum));
            note(
                "max_weight_sum",
                max_err(&g.max_weight_sum, &w.max_weight_sum),
            );
            // a row whose mean distance sits on a bin edge moves one count between bins
            exact += g
                .mean_distance_hist
                .iter()
                .zip(&w.mean_distance_hist)
                .map(|(&a, &b)| a.abs_diff(b) as usize)
                .sum::<usize>()
                / 2;
        }
        _ => return (f64::INFINITY, "kind".into(), 0),
    }
    (worst.0, worst.1, exact)
}

/// Runs the parity check at each length, dtype and head_dim with statistics
/// off, per row and per head, against [`stream_attention`].
#[allow(clippy::too_many_arguments)]
pub fn parity(
    gpu: &GpuAttention,
    lengths: &[usize],
    heads: usize,
    kv_heads: usize,
    dims: &[usize],
    dtypes: &[GpuDtype],
    seed: u64,
) -> GpuResult<Vec<ParityRow>> {
    let mut rows = Vec::new();
    for &d in dims {
        for &dtype in dtypes {
            for &t in lengths {
                let inp = inputs(heads, kv_heads, t, d, seed ^ ((t as u64) << 8), dtype);
                let kt = transpose_keys(&inp.k, t, d);
                let scale = 1.0 / (d as f32).sqrt();
                let cpu_in = StreamInput {
                    q: &inp.q,
                    kt: &kt,
                    v: &inp.v,
                    heads,
                    kv_heads,
                    t,
                    d,
                    scale,
                };
                debug_assert_eq!(keys_from_transposed(&cpu_in), inp.k);
                let gpu_in = GpuInput {
                    q: &inp.q,
                    k: &inp.k,
                    v: &inp.v,
                    heads,
                    kv_heads,
                    t,
                    d,
                    scale,
                };
                let dev = gpu.upload(&gpu_in, dtype)?;
                let tol = match dtype {
                    GpuDtype::F32 => 1e-5,
                    GpuDtype::Bf16 => 1e-3,
                };
                let rows_spec = AttnStatsSpec {
                    per_row: true,
                    ..AttnStatsSpec::default()
                };
                let sum_spec = AttnStatsSpec::default();
                let modes: [(&'static str, Option<&AttnStatsSpec>); 3] = [
                    ("off", None),
                    ("rows", Some(&rows_spec)),
                    ("summary", Some(&sum_spec)),
                ];
                for (mode, spec) in modes {
                    let cpu: StreamOutput =
                        stream_attention(cpu_in, StreamBlocks::default(), spec)?;
                    let g = gpu.run(&dev, spec)?.output;
                    let out_err = max_err(&g.out, &cpu.out);
                    let (stat_err, worst_field, exact) = match (&g.stats, &cpu.stats) {
                        (Some(a), Some(b)) => compare_stats(a, b),
                        (None, None) => (0.0, "-".to_string(), 0),
                        _ => (f64::INFINITY, "presence".to_string(), 0),
                    };
                    let allowed = (heads * t) / 1000;
                    let pass = out_err <= tol && stat_err <= tol && exact <= allowed;
                    rows.push(ParityRow {
                        t,
                        dtype: dtype.name(),
                        d,
                        stats: mode,
                        out_err,
                        stat_err,
                        worst_field,
                        exact_mismatches: exact,
                        tol,
                        pass,
                    });
                }
            }
        }
    }
    Ok(rows)
}

/// One benchmark cell.
#[derive(Debug, Clone, Serialize)]
pub struct BenchRow {
    pub t: usize,
    pub dtype: &'static str,
    /// "off", "summary" (per-head sums) or "rows" (every row's statistics).
    pub stats: &'static str,
    pub min_ms: f64,
    pub median_ms: f64,
    /// Causal attention FLOPs (2·2·heads·d·t²/2) per second of the fastest run, in TFLOP/s.
    pub tflops: f64,
    /// Device buffers of the call (inputs, output, statistics; the kernel allocates nothing else).
    pub buffer_bytes: usize,
    /// Device memory in use (total − free, all processes) while they were held.
    pub device_used_bytes: usize,
    /// min_ms / min_ms of the same length and dtype with statistics off.
    pub vs_off: f64,
}

/// Times the kernel at each length and dtype: statistics off, per-head sums, per row.
#[allow(clippy::too_many_arguments)]
pub fn bench(
    gpu: &GpuAttention,
    lengths: &[usize],
    heads: usize,
    kv_heads: usize,
    d: usize,
    dtypes: &[GpuDtype],
    warmup: usize,
    repeat: usize,
    seed: u64,
) -> GpuResult<Vec<BenchRow>> {
    let mut out = Vec::new();
    for &t in lengths {
        let q = random_vec(heads * t * d, seed, 2.5);
        let k = random_vec(kv_heads * t * d, seed ^ 0x5555, 2.5);
        let v = random_vec(kv_heads * t * d, seed ^ 0xaaaa, 1.0);
        let inp = GpuInput {
            q: &q,
            k: &k,
            v: &v,
            heads,
            kv_heads,
            t,
            d,
            scale: 1.0 / (d as f32).sqrt(),
        };
        for &dtype in dtypes {
            let dev = gpu.upload(&inp, dtype)?;
            let rows_spec = AttnStatsSpec {
                per_row: true,
                ..AttnStatsSpec::default()
            };
            let sum_spec = AttnStatsSpec::default();
            let flops = 2.0 * 2.0 * heads as f64 * d as f64 * (t as f64) * (t as f64) / 2.0;
            let mut off_ms = f64::NAN;
            for (mode, spec) in [
                ("off", None),
                ("summary", Some(&sum_spec)),
                ("rows", Some(&rows_spec)),
            ] {
                let tm = gpu.time(&dev, spec, warmup, repeat)?;
                let min_ms = tm.min_ms as f64;
                if spec.is_none() {
                    off_ms = min_ms;
                }
                out.push(BenchRow {
                    t,
                    dtype: dtype.name(),
                    stats: mode,
                    min_ms,
                    median_ms: tm.median_ms as f64,
                    tflops: flops / (min_ms * 1e-3) / 1e12,
                    buffer_bytes: tm.device_bytes,
                    device_used_bytes: tm.device_used,
                    vs_off: min_ms / off_ms,
                });
            }
        }
    }
    Ok(out)
}
