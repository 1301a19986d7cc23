//! Paired base-vs-ACC comparison of attention measurements over the same
//! examples: pooled distance distributions with per-bin bootstrap bands, their
//! Jensen–Shannon divergence with a bootstrap CI and a permutation p-value, and
//! paired differences of scalar statistics (mean distance, mass beyond the local
//! window, entropy, sink mass).
//!
//! Every example counts once (its distribution is the mean over its selected
//! query rows), so the unit of resampling is the example, as in the paper's
//! probe sets.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::bootstrap::{mean_ci, MeanCi};
use super::divergence::{js, mean_of};
use crate::error::{Error, Result};
use crate::stats::attn::AttnSummary;

/// One example's attention measurements in one layer (one head, or the mean of heads).
#[derive(Debug, Clone, PartialEq)]
pub struct ExampleAttn {
    /// Attention mass per distance bin (sums to 1).
    pub dist: Vec<f64>,
    pub mean_distance: f64,
    /// Mass at distance ≥ the local window.
    pub far_mass: f64,
    /// Row entropy, nats.
    pub entropy: f64,
    pub sink_mass: f64,
}

impl ExampleAttn {
    /// Head `h` of a summary (means over its rows).
    pub fn of_head(s: &AttnSummary, h: usize) -> Self {
        let n = s.n_rows[h].max(1) as f64;
        ExampleAttn {
            dist: s.mean_hist(h),
            mean_distance: s.mean_distance_sum[h] / n,
            far_mass: 1.0 - s.local_sum[h] / n,
            entropy: s.entropy_sum[h] / n,
            sink_mass: s.sink_sum[h] / n,
        }
    }

    /// The mean over heads (each head weighted equally).
    pub fn of_layer(s: &AttnSummary) -> Self {
        let heads: Vec<ExampleAttn> = (0..s.heads).map(|h| Self::of_head(s, h)).collect();
        let k = heads.len().max(1) as f64;
        let mean = |f: fn(&ExampleAttn) -> f64| heads.iter().map(f).sum::<f64>() / k;
        ExampleAttn {
            dist: mean_of(
                &heads.iter().map(|e| e.dist.clone()).collect::<Vec<_>>(),
                0..heads.len(),
            ),
            mean_distance: mean(|e| e.mean_distance),
            far_mass: mean(|e| e.far_mass),
            entropy: mean(|e| e.entropy),
            sink_mass: mean(|e| e.sink_mass),
        }
    }
}

/// A value with a percentile-bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub value: f64,
    pub lo: f64,
    pub hi: f64,
}

/// A scalar measured on both models over the same examples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairedScalar {
    pub base: MeanCi,
    pub acc: MeanCi,
    /// Mean of per-example differences ACC − base, with its CI.
    pub diff: MeanCi,
}

/// Resampling settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PairedOptions {
    pub resamples: usize,
    pub permutations: usize,
    pub level: f64,
    pub seed: u64,
}

impl Default for PairedOptions {
    fn default() -> Self {
        PairedOptions {
            resamples: 1000,
            permutations: 1000,
            level: 0.95,
            seed: 0,
        }
    }
}

/// Base vs ACC for one layer (or head) over the same examples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistComparison {
    pub n_examples: usize,
    /// Pooled distributions (mean over examples).
    pub base: Vec<f64>,
    pub acc: Vec<f64>,
    /// Per-bin bootstrap bands of the pooled distributions.
    pub base_lo: Vec<f64>,
    pub base_hi: Vec<f64>,
    pub acc_lo: Vec<f64>,
    pub acc_hi: Vec<f64>,
    /// JS(base ‖ ACC) of the pooled distributions, nats (≤ ln 2), with a
    /// bootstrap CI over examples (a resampled JS is biased upwards: read the
    /// permutation p-value for "changed at all").
    pub js: Interval,
    /// Paired permutation test of JS: labels swapped within examples; exact
    /// (all 2^n patterns) for small n, where the smallest possible value is
    /// 2/2^n (swapping every pair gives the same JS).
    pub js_p_value: f64,
    pub mean_distance: PairedScalar,
    pub far_mass: PairedScalar,
    pub entropy: PairedScalar,
    pub sink_mass: PairedScalar,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let idx = (p * (sorted.len() - 1) as f64).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Both models' means of a per-example scalar and the mean paired difference, with CIs.
pub fn paired_scalar(b: &[f64], a: &[f64], o: &PairedOptions, stream: u64) -> PairedScalar {
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let seed = o.seed.wrapping_add(stream);
    PairedScalar {
        base: mean_ci(b, o.resamples, o.level, seed),
        acc: mean_ci(a, o.resamples, o.level, seed),
        diff: mean_ci(&d, o.resamples, o.level, seed),
    }
}

/// Two models' per-example distributions over the same examples, compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistributionComparison {
    pub n_examples: usize,
    pub base: Vec<f64>,
    pub acc: Vec<f64>,
    pub base_lo: Vec<f64>,
    pub base_hi: Vec<f64>,
    pub acc_lo: Vec<f64>,
    pub acc_hi: Vec<f64>,
    pub js: Interval,
    pub js_p_value: f64,
}

/// Pooled distributions (mean over examples) with per-bin bootstrap bands,
/// their JS divergence with a bootstrap CI, and the paired permutation test.
/// `base[i]` and `acc[i]` are example i's distributions.
/// Refuses examples with a non-finite number (a capture of NaN hidden
/// states, say), naming the model and the example.
fn finite<'a>(model: &str, examples: impl Iterator<Item = &'a [f64]>) -> Result<()> {
    for (i, ex) in examples.enumerate() {
        if let Some(x) = ex.iter().find(|x| !x.is_finite()) {
            return Err(Error::Input(format!(
                "{model} example {i}: a statistic is {x}, not a finite number; \
                 the capture it came from is not usable"
            )));
        }
    }
    Ok(())
}

impl ExampleAttn {
    /// Its numbers, for the finiteness check.
    fn numbers(&self) -> Vec<f64> {
        let mut v = self.dist.clone();
        v.extend([
            self.mean_distance,
            self.far_mass,
            self.entropy,
            self.sink_mass,
        ]);
        v
    }
}

pub fn compare_distributions(
    base: &[Vec<f64>],
    acc: &[Vec<f64>],
    o: &PairedOptions,
) -> Result<DistributionComparison> {
    let (bd, ad) = (base, acc);
    finite("base", bd.iter().map(|d| d.as_slice()))?;
    finite("ACC", ad.iter().map(|d| d.as_slice()))?;
    let n = bd.len();
    if n == 0 || ad.len() != n {
        return Err(Error::Input(format!(
            "a paired comparison needs the same non-zero number of examples for both models (base {n}, ACC {})",
            ad.len()
        )));
    }
    let nb = bd[0].len();
    if bd.iter().chain(ad).any(|d| d.len() != nb) {
        return Err(Error::Input(
            "examples have distributions of different lengths".into(),
        ));
    }
    let pb = mean_of(bd, 0..n);
    let pa = mean_of(ad, 0..n);
    let observed = js(&pb, &pa);

    // bootstrap over examples (the same draw for both models: paired)
    let mut rng = StdRng::seed_from_u64(o.seed);
    let r = o.resamples.max(1);
    let mut js_boot = Vec::with_capacity(r);
    let mut bins_b = vec![Vec::with_capacity(r); nb];
    let mut bins_a = vec![Vec::with_capacity(r); nb];
    for _ in 0..r {
        let idx: Vec<usize> = (0..n).map(|_| rng.random_range(0..n)).collect();
        let (qb, qa) = (
            mean_of(bd, idx.iter().copied()),
            mean_of(ad, idx.iter().copied()),
        );
        js_boot.push(js(&qb, &qa));
        for k in 0..nb {
            bins_b[k].push(qb[k]);
            bins_a[k].push(qa[k]);
        }
    }
    let alpha = (1.0 - o.level) / 2.0;
    let sort = |v: &mut Vec<f64>| v.sort_by(super::cmp_f64);
    sort(&mut js_boot);
    let band = |bins: &mut Vec<Vec<f64>>| -> (Vec<f64>, Vec<f64>) {
        bins.iter_mut()
            .map(|v| {
                sort(v);
                (percentile(v, alpha), percentile(v, 1.0 - alpha))
            })
            .unzip()
    };
    let (base_lo, base_hi) = band(&mut bins_b);
    let (acc_lo, acc_hi) = band(&mut bins_a);

    // permutation test over within-example label swaps: exact (all 2^n swap
    // patterns) when that is no more than the requested permutations, else
    // Monte Carlo with swaps of probability ½
    let js_swapped = |swap: &dyn Fn(usize) -> bool| {
        let mut qb = vec![0.0; nb];
        let mut qa = vec![0.0; nb];
        for i in 0..n {
            let (x, y) = if swap(i) {
                (&ad[i], &bd[i])
            } else {
                (&bd[i], &ad[i])
            };
            qb.iter_mut().zip(x).for_each(|(s, v)| *s += v);
            qa.iter_mut().zip(y).for_each(|(s, v)| *s += v);
        }
        js(&qb, &qa)
    };
    let exact = n < 63 && (1u64 << n) <= o.permutations.max(1) as u64;
    let js_p_value = if exact {
        let total = 1u64 << n;
        let at_least = (0..total)
            .filter(|&mask| js_swapped(&|i| mask >> i & 1 == 1) >= observed - 1e-15)
            .count();
        at_least as f64 / total as f64
    } else {
        let mut rng = StdRng::seed_from_u64(o.seed ^ 0x5EED_0F9E_1234_u64);
        let mut at_least = 0usize;
        for _ in 0..o.permutations {
            let swaps: Vec<bool> = (0..n).map(|_| rng.random::<bool>()).collect();
            if js_swapped(&|i| swaps[i]) >= observed - 1e-15 {
                at_least += 1;
            }
        }
        (1 + at_least) as f64 / (1 + o.permutations) as f64
    };

    Ok(DistributionComparison {
        n_examples: n,
        base: pb,
        acc: pa,
        base_lo,
        base_hi,
        acc_lo,
        acc_hi,
        js: Interval {
            value: observed,
            lo: percentile(&js_boot, alpha),
            hi: percentile(&js_boot, 1.0 - alpha),
        },
        js_p_value,
    })
}

/// Compares base and ACC measured on the same examples (index i of both is example i).
pub fn compare(
    base: &[ExampleAttn],
    acc: &[ExampleAttn],
    o: &PairedOptions,
) -> Result<DistComparison> {
    let nums = |v: &[ExampleAttn]| v.iter().map(ExampleAttn::numbers).collect::<Vec<_>>();
    finite("base", nums(base).iter().map(|x| x.as_slice()))?;
    finite("ACC", nums(acc).iter().map(|x| x.as_slice()))?;
    let bd: Vec<Vec<f64>> = base.iter().map(|e| e.dist.clone()).collect();
    let ad: Vec<Vec<f64>> = acc.iter().map(|e| e.dist.clone()).collect();
    let d = compare_distributions(&bd, &ad, o)?;
    let col = |v: &[ExampleAttn], f: fn(&ExampleAttn) -> f64| v.iter().map(f).collect::<Vec<_>>();
    Ok(DistComparison {
        n_examples: d.n_examples,
        base: d.base,
        acc: d.acc,
        base_lo: d.base_lo,
        base_hi: d.base_hi,
        acc_lo: d.acc_lo,
        acc_hi: d.acc_hi,
        js: d.js,
        js_p_value: d.js_p_value,
        mean_distance: paired_scalar(
            &col(base, |e| e.mean_distance),
            &col(acc, |e| e.mean_distance),
            o,
            1,
        ),
        far_mass: paired_scalar(&col(base, |e| e.far_mass), &col(acc, |e| e.far_mass), o, 2),
        entropy: paired_scalar(&col(base, |e| e.entropy), &col(acc, |e| e.entropy), o, 3),
        sink_mass: paired_scalar(
            &col(base, |e| e.sink_mass),
            &col(acc, |e| e.sink_mass),
            o,
            4,
        ),
    })
}

/// One model's measurements over examples (no comparison).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Described {
    pub n_examples: usize,
    /// Pooled distribution and its per-bin bootstrap band.
    pub dist: Vec<f64>,
    pub lo: Vec<f64>,
    pub hi: Vec<f64>,
    pub mean_distance: MeanCi,
    pub far_mass: MeanCi,
    pub entropy: MeanCi,
    pub sink_mass: MeanCi,
}

/// Pooled distribution and scalar means with bootstrap CIs over examples.
pub fn describe(ex: &[ExampleAttn], o: &PairedOptions) -> Result<Described> {
    let n = ex.len();
    if n == 0 {
        return Err(Error::Input("no examples to describe".into()));
    }
    let nums: Vec<Vec<f64>> = ex.iter().map(ExampleAttn::numbers).collect();
    finite("the model's", nums.iter().map(|x| x.as_slice()))?;
    let d: Vec<Vec<f64>> = ex.iter().map(|e| e.dist.clone()).collect();
    let nb = d[0].len();
    let mut rng = StdRng::seed_from_u64(o.seed);
    let mut bins = vec![Vec::with_capacity(o.resamples); nb];
    for _ in 0..o.resamples.max(1) {
        let q = mean_of(&d, (0..n).map(|_| rng.random_range(0..n)));
        for k in 0..nb {
            bins[k].push(q[k]);
        }
    }
    let alpha = (1.0 - o.level) / 2.0;
    let (lo, hi): (Vec<f64>, Vec<f64>) = bins
        .iter_mut()
        .map(|v| {
            v.sort_by(super::cmp_f64);
            (percentile(v, alpha), percentile(v, 1.0 - alpha))
        })
        .unzip();
    let ci = |f: fn(&ExampleAttn) -> f64, stream: u64| {
        let v: Vec<f64> = ex.iter().map(f).collect();
        mean_ci(&v, o.resamples, o.level, o.seed.wrapping_add(stream))
    };
    Ok(Described {
        n_examples: n,
        dist: mean_of(&d, 0..n),
        lo,
        hi,
        mean_distance: ci(|e| e.mean_distance, 1),
        far_mass: ci(|e| e.far_mass, 2),
        entropy: ci(|e| e.entropy, 3),
        sink_mass: ci(|e| e.sink_mass, 4),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(dist: Vec<f64>, md: f64) -> ExampleAttn {
        ExampleAttn {
            dist,
            mean_distance: md,
            far_mass: 0.0,
            entropy: 0.0,
            sink_mass: 0.0,
        }
    }

    /// Examples whose distribution moves mass from bin 0 to bin 2 by `shift`,
    /// with per-example noise.
    fn set(n: usize, shift: f64, seed: u64) -> Vec<ExampleAttn> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                let e: f64 = rng.random_range(-0.05..0.05);
                let d = vec![0.5 - shift + e, 0.3, 0.2 + shift - e];
                let md = d[1] + 2.0 * d[2];
                ex(d, md)
            })
            .collect()
    }

    #[test]
    fn a_real_shift_is_detected_and_noise_is_not() {
        let o = PairedOptions {
            resamples: 400,
            permutations: 400,
            ..Default::default()
        };
        let base = set(24, 0.0, 1);
        let shifted = set(24, 0.2, 2);
        let c = compare(&base, &shifted, &o).unwrap();
        assert!(c.js_p_value < 0.01, "{}", c.js_p_value);
        assert!(c.js.lo <= c.js.value && c.js.value <= c.js.hi);
        assert!(c.mean_distance.diff.lo > 0.0, "{:?}", c.mean_distance.diff);
        // two draws of the same population: no evidence of change
        let same = set(24, 0.0, 3);
        let c0 = compare(&base, &same, &o).unwrap();
        assert!(c0.js_p_value > 0.05, "{}", c0.js_p_value);
        assert!(c0.js.value < c.js.value / 10.0);
        assert!(c0.mean_distance.diff.lo < 0.0 && c0.mean_distance.diff.hi > 0.0);
        // bands bracket the pooled distribution
        for k in 0..3 {
            assert!(c.base_lo[k] <= c.base[k] + 1e-12 && c.base[k] <= c.base_hi[k] + 1e-12);
        }
        // seeded: identical results
        assert_eq!(compare(&base, &shifted, &o).unwrap(), c);
    }

    #[test]
    fn small_sets_get_the_exact_permutation_p_value() {
        // 4 examples, every one shifted the same way: only "no swap" and "swap
        // all" reach the observed JS, so p = 2/16
        let base = set(4, 0.0, 1);
        let shifted: Vec<ExampleAttn> = base
            .iter()
            .map(|e| ex(vec![e.dist[0] - 0.3, e.dist[1], e.dist[2] + 0.3], 0.0))
            .collect();
        let c = compare(&base, &shifted, &PairedOptions::default()).unwrap();
        assert!(
            (c.js_p_value - 2.0 / 16.0).abs() < 1e-12,
            "{}",
            c.js_p_value
        );
    }

    #[test]
    fn identical_inputs_give_zero_and_p_one() {
        let base = set(6, 0.0, 4);
        let c = compare(&base, &base, &PairedOptions::default()).unwrap();
        assert_eq!(c.js.value, 0.0);
        assert_eq!(c.js_p_value, 1.0);
        assert_eq!(c.mean_distance.diff.mean, 0.0);
    }

    #[test]
    fn describe_brackets_the_pooled_distribution() {
        let ex = set(10, 0.1, 5);
        let d = describe(&ex, &PairedOptions::default()).unwrap();
        assert_eq!(d.n_examples, 10);
        for k in 0..3 {
            assert!(d.lo[k] <= d.dist[k] + 1e-12 && d.dist[k] <= d.hi[k] + 1e-12);
        }
        assert!((d.dist.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(describe(&[], &PairedOptions::default()).is_err());
    }

    #[test]
    fn mismatched_inputs_are_refused() {
        let b = set(3, 0.0, 1);
        assert!(compare(&b, &b[..2], &PairedOptions::default()).is_err());
        assert!(compare(&[], &[], &PairedOptions::default()).is_err());
        let mut a = b.clone();
        a[1].dist.push(0.0);
        assert!(compare(&b, &a, &PairedOptions::default()).is_err());
    }

    #[test]
    fn layer_mean_weights_heads_equally() {
        let mut s = AttnSummary::zeros(2, 2);
        // head 0: two rows all at bin 0; head 1: one row all at bin 1
        s.n_rows = vec![2, 1];
        s.hist_sum = vec![2.0, 0.0, 0.0, 1.0];
        s.mean_distance_sum = vec![0.0, 5.0];
        s.local_sum = vec![2.0, 0.0];
        let l = ExampleAttn::of_layer(&s);
        assert_eq!(l.dist, vec![0.5, 0.5]);
        assert_eq!(l.mean_distance, 2.5);
        assert_eq!(l.far_mass, 0.5);
    }

    #[test]
    fn non_finite_examples_are_refused_not_a_panic() {
        let base = set(6, 0.0, 1);
        let mut bad = set(6, 0.1, 2);
        bad[3].mean_distance = f64::NAN;
        let e = compare(&base, &bad, &PairedOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("ACC example 3") && e.contains("NaN"), "{e}");
        bad[3].mean_distance = 1.0;
        bad[4].dist[1] = f64::INFINITY;
        assert!(describe(&bad, &PairedOptions::default()).is_err());
        assert!(compare(&bad, &base, &PairedOptions::default()).is_err());
    }
}
