//! Percentile bootstrap over examples, seeded and deterministic.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// A mean with its percentile-bootstrap confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeanCi {
    pub n: usize,
    pub mean: f64,
    pub lo: f64,
    pub hi: f64,
    /// Confidence level, e.g. 0.95.
    pub level: f64,
    pub resamples: usize,
}

/// Mean of `values` with a `level` percentile-bootstrap CI from `resamples`
/// resamples (with replacement) drawn with `seed`. Empty input gives NaNs.
pub fn mean_ci(values: &[f64], resamples: usize, level: f64, seed: u64) -> MeanCi {
    let n = values.len();
    if n == 0 {
        return MeanCi {
            n,
            mean: f64::NAN,
            lo: f64::NAN,
            hi: f64::NAN,
            level,
            resamples,
        };
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut means: Vec<f64> = (0..resamples.max(1))
        .map(|_| (0..n).map(|_| values[rng.random_range(0..n)]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(super::cmp_f64);
    let q = |p: f64| {
        let idx = (p * (means.len() - 1) as f64).round() as usize;
        means[idx.min(means.len() - 1)]
    };
    let alpha = (1.0 - level) / 2.0;
    MeanCi {
        n,
        mean,
        lo: q(alpha),
        hi: q(1.0 - alpha),
        level,
        resamples,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_brackets_the_mean_and_shrinks_with_n() {
        let small: Vec<f64> = (0..20).map(|i| (i % 2) as f64).collect();
        let big: Vec<f64> = (0..2000).map(|i| (i % 2) as f64).collect();
        let a = mean_ci(&small, 2000, 0.95, 1);
        let b = mean_ci(&big, 2000, 0.95, 1);
        assert!(a.lo <= a.mean && a.mean <= a.hi);
        assert!((a.mean - 0.5).abs() < 1e-12);
        assert!(b.hi - b.lo < (a.hi - a.lo) / 4.0, "{a:?} {b:?}");
        // a binomial mean of 0.5 over 2000 items: CI half-width ≈ 1.96·√(0.25/2000) ≈ 0.022
        assert!(((b.hi - b.lo) / 2.0 - 0.0219).abs() < 0.004, "{b:?}");
        assert_eq!(mean_ci(&small, 500, 0.95, 9), mean_ci(&small, 500, 0.95, 9));
        let constant = mean_ci(&[0.3; 10], 100, 0.95, 0);
        assert!((constant.lo - 0.3).abs() < 1e-12 && (constant.hi - 0.3).abs() < 1e-12);
        assert!(mean_ci(&[], 10, 0.95, 0).mean.is_nan());
    }
}
