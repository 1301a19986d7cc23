//! The streaming kernel against the slow reference (statistics of the
//! materialised probabilities), on random inputs: GQA ratios 1–4, head_dim ≠
//! hidden/heads, lengths up to 2,048, block sizes that do not divide T.

mod common;

use acc_probe::model::attention::eager_attention;
use acc_probe::model::attention_stream::{
    stream_attention, stream_attention_with, KernelChoice, StreamBlocks, StreamInput, StreamStats,
};
use acc_probe::stats::attn::{
    stats_from_probs, AttnStatsSpec, DistanceBins, RowSelection, RowStats,
};
use candle_core::{Device, Tensor};
use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

struct Case {
    heads: usize,
    kv: usize,
    t: usize,
    d: usize,
    bq: usize,
    bk: usize,
    sharp: f32,
}

fn random(rng: &mut StdRng, n: usize, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|_| (rng.random::<f32>() * 2.0 - 1.0) * scale)
        .collect()
}

/// Returns (stream rows, reference rows, stream output, reference output).
fn run(c: &Case, seed: u64, spec: &AttnStatsSpec) -> (RowStats, RowStats, Vec<f32>, Vec<f32>) {
    run_with(c, seed, spec, KernelChoice::Auto)
}

fn run_with(
    c: &Case,
    seed: u64,
    spec: &AttnStatsSpec,
    choice: KernelChoice,
) -> (RowStats, RowStats, Vec<f32>, Vec<f32>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let q = random(&mut rng, c.heads * c.t * c.d, c.sharp);
    let k = random(&mut rng, c.kv * c.t * c.d, 1.0);
    let v = random(&mut rng, c.kv * c.t * c.d, 1.0);
    let dev = Device::Cpu;
    let qt = Tensor::from_slice(&q, (c.heads, c.t, c.d), &dev).unwrap();
    let kt = Tensor::from_slice(&k, (c.kv, c.t, c.d), &dev).unwrap();
    let vt = Tensor::from_slice(&v, (c.kv, c.t, c.d), &dev).unwrap();
    let scale = 1.0 / (c.d as f64).sqrt();
    let (ctx, probs) = eager_attention(&qt, &kt, &vt, scale, false).unwrap();
    let probs = vec_f32(&probs);
    let reference = stats_from_probs(&probs, c.heads, c.t, spec).unwrap();
    let k_transposed = vec_f32(&kt.transpose(1, 2).unwrap().contiguous().unwrap());
    let res = stream_attention_with(
        StreamInput {
            q: &q,
            kt: &k_transposed,
            v: &v,
            heads: c.heads,
            kv_heads: c.kv,
            t: c.t,
            d: c.d,
            scale: scale as f32,
        },
        StreamBlocks {
            block_q: c.bq,
            block_k: c.bk,
        },
        Some(spec),
        choice,
    )
    .unwrap();
    let rows = match res.stats.unwrap() {
        StreamStats::Rows(r) => r,
        StreamStats::Summary(_) => panic!("per-row statistics were asked for"),
    };
    (rows, reference, res.out, vec_f32(&ctx))
}

fn assert_rows_close(a: &RowStats, b: &RowStats, what: &str) {
    assert_eq!(a.rows, b.rows);
    // mean distance grows with T: compare relative to the distance scale
    for (x, y) in a.mean_distance.iter().zip(&b.mean_distance) {
        assert!(
            (x - y).abs() <= 1e-5 * y.abs().max(1.0) * 4.0,
            "{what}: mean distance {x} vs {y}"
        );
    }
    let close = |xs: &[f32], ys: &[f32], tol: f32, name: &str| {
        let d = max_abs_diff(xs, ys);
        assert!(d <= tol, "{what}: {name} differs by {d}");
    };
    close(&a.entropy, &b.entropy, 2e-5, "entropy");
    close(&a.distance_hist, &b.distance_hist, 1e-5, "distance_hist");
    close(&a.sink_mass, &b.sink_mass, 1e-5, "sink_mass");
    close(&a.local_mass, &b.local_mass, 1e-5, "local_mass");
    close(&a.max_weight, &b.max_weight, 1e-5, "max_weight");
    // the argmax may differ only where two weights tie within rounding
    let same = a
        .argmax_distance
        .iter()
        .zip(&b.argmax_distance)
        .filter(|(x, y)| x == y)
        .count();
    assert!(
        same * 100 >= a.argmax_distance.len() * 99,
        "{what}: argmax distances disagree on {} rows",
        a.argmax_distance.len() - same
    );
}

#[test]
fn streaming_equals_materialized_on_random_configs() {
    let cases = [
        Case {
            heads: 4,
            kv: 4,
            t: 97,
            d: 16,
            bq: 16,
            bk: 24,
            sharp: 4.0,
        }, // GQA 1
        Case {
            heads: 4,
            kv: 2,
            t: 300,
            d: 24,
            bq: 64,
            bk: 128,
            sharp: 8.0,
        }, // GQA 2, d ≠ hidden/heads
        Case {
            heads: 6,
            kv: 2,
            t: 513,
            d: 32,
            bq: 48,
            bk: 40,
            sharp: 6.0,
        }, // GQA 3
        Case {
            heads: 8,
            kv: 2,
            t: 1000,
            d: 64,
            bq: 64,
            bk: 96,
            sharp: 10.0,
        }, // GQA 4
        Case {
            heads: 4,
            kv: 1,
            t: 2048,
            d: 32,
            bq: 100,
            bk: 77,
            sharp: 12.0,
        }, // T = 2,048, odd blocks
        Case {
            heads: 2,
            kv: 1,
            t: 5,
            d: 8,
            bq: 64,
            bk: 128,
            sharp: 1.0,
        }, // shorter than a block
    ];
    for (n, c) in cases.iter().enumerate() {
        let mut spec = AttnStatsSpec {
            per_row: true,
            local_window: 33,
            sink_tokens: 3,
            ..Default::default()
        };
        if n == 2 {
            spec.bins = DistanceBins::parse("0,1,5,17,100,300").unwrap();
        }
        let (s, r, out, ctx) = run(c, n as u64, &spec);
        assert_rows_close(&s, &r, &format!("case {n}"));
        let d = max_abs_diff(&out, &ctx);
        assert!(d < 1e-5, "case {n}: attention output differs by {d}");
    }
}

#[test]
fn row_selections_match_the_full_rows() {
    let c = Case {
        heads: 4,
        kv: 2,
        t: 200,
        d: 16,
        bq: 32,
        bk: 50,
        sharp: 5.0,
    };
    let all = AttnStatsSpec {
        per_row: true,
        ..Default::default()
    };
    let (full, _, out_full, _) = run(&c, 9, &all);
    for sel in [RowSelection::Tail(37), RowSelection::Span(50, 133)] {
        let spec = AttnStatsSpec {
            rows: sel,
            ..all.clone()
        };
        let (part, reference, out, _) = run(&c, 9, &spec);
        assert_rows_close(&part, &reference, &format!("{sel:?}"));
        assert_eq!(
            out, out_full,
            "statistics must not change the attention output"
        );
        let r = part.rows.clone();
        for h in 0..c.heads {
            for (k, i) in r.clone().enumerate() {
                assert_eq!(
                    part.mean_distance[h * r.len() + k],
                    full.mean_distance[h * c.t + i]
                );
            }
        }
    }
}

#[test]
fn summary_equals_reduced_rows_and_output_is_unchanged_by_statistics() {
    let c = Case {
        heads: 4,
        kv: 2,
        t: 333,
        d: 32,
        bq: 64,
        bk: 64,
        sharp: 6.0,
    };
    let spec_rows = AttnStatsSpec {
        per_row: true,
        ..Default::default()
    };
    let (rows, _, out, _) = run(&c, 3, &spec_rows);
    let expected = rows.summarize(&spec_rows.bins);

    let mut rng = StdRng::seed_from_u64(3);
    let q = random(&mut rng, c.heads * c.t * c.d, c.sharp);
    let k = random(&mut rng, c.kv * c.t * c.d, 1.0);
    let v = random(&mut rng, c.kv * c.t * c.d, 1.0);
    let kt = vec_f32(
        &Tensor::from_slice(&k, (c.kv, c.t, c.d), &Device::Cpu)
            .unwrap()
            .transpose(1, 2)
            .unwrap()
            .contiguous()
            .unwrap(),
    );
    let inp = StreamInput {
        q: &q,
        kt: &kt,
        v: &v,
        heads: c.heads,
        kv_heads: c.kv,
        t: c.t,
        d: c.d,
        scale: 1.0 / (c.d as f32).sqrt(),
    };
    let blocks = StreamBlocks {
        block_q: c.bq,
        block_k: c.bk,
    };
    let spec_sum = AttnStatsSpec {
        per_row: false,
        ..Default::default()
    };
    let res = stream_attention(inp, blocks, Some(&spec_sum)).unwrap();
    let Some(StreamStats::Summary(sum)) = res.stats else {
        panic!("summary expected")
    };
    assert_eq!(sum.n_rows, expected.n_rows);
    assert_eq!(sum.mean_distance_hist, expected.mean_distance_hist);
    let close = |a: &[f64], b: &[f64]| {
        a.iter()
            .zip(b)
            .all(|(x, y)| (x - y).abs() <= 1e-4 * y.abs().max(1.0))
    };
    assert!(close(&sum.hist_sum, &expected.hist_sum));
    assert!(close(&sum.entropy_sum, &expected.entropy_sum));
    assert!(close(&sum.mean_distance_sum, &expected.mean_distance_sum));
    // each summed histogram row is a distribution: the sums equal the row count
    for h in 0..c.heads {
        let total: f64 = sum.hist_sum[h * sum.nbins..(h + 1) * sum.nbins]
            .iter()
            .sum();
        assert!(
            (total - c.t as f64).abs() < 1e-3,
            "head {h}: histogram mass {total}"
        );
    }
    let plain = stream_attention(inp, blocks, None).unwrap();
    assert_eq!(
        plain.out, res.out,
        "statistics must not change the attention output"
    );
    assert_eq!(plain.out, out);
}

#[test]
fn portable_kernel_matches_the_fast_kernel() {
    let c = Case {
        heads: 4,
        kv: 2,
        t: 301,
        d: 40,
        bq: 32,
        bk: 48,
        sharp: 6.0,
    };
    let spec = AttnStatsSpec {
        per_row: true,
        ..Default::default()
    };
    let (fast, reference, out_fast, _) = run(&c, 4, &spec);
    let (portable, _, out_portable, _) = run_with(&c, 4, &spec, KernelChoice::Portable);
    assert_rows_close(&portable, &reference, "portable kernel");
    assert_rows_close(&portable, &fast, "portable vs fast");
    assert!(max_abs_diff(&out_fast, &out_portable) < 1e-5);
}
