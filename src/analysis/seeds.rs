//! A mean over training seeds with two intervals: one over seeds (how much
//! the result moves when the whole run is redone) and one over problems
//! (how much it moves with the evaluation problems, the seeds held fixed).
//!
//! - Over seeds: Student's t interval of the per-seed means (n − 1 degrees
//!   of freedom; 95% only). With three seeds it is wide, which is the point:
//!   three runs say little about a fourth.
//! - Over problems: a stratified percentile bootstrap. Each resample draws
//!   every seed's problems with replacement within that seed, and averages
//!   the per-seed means, so each seed keeps its weight.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Two-sided 97.5% quantiles of Student's t for 1–30 degrees of freedom.
const T975: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
    2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
    2.052, 2.048, 2.045, 2.042,
];

/// The 97.5% quantile of Student's t with `df` degrees of freedom (the
/// normal's 1.960 from 120 on; in between, the table's value at 30 eased
/// towards it, within 0.01 of the exact one).
pub fn t975(df: usize) -> f64 {
    match df {
        0 => f64::INFINITY,
        1..=30 => T975[df - 1],
        31..=119 => 1.960 + (2.042 - 1.960) * 30.0 / df as f64,
        _ => 1.960,
    }
}

/// An interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub lo: f64,
    pub hi: f64,
}

/// The mean over seeds of per-seed means, with both intervals (95%).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverSeeds {
    /// Seeds, and each seed's mean, in the order given.
    pub n_seeds: usize,
    pub per_seed: Vec<f64>,
    /// The mean of the per-seed means.
    pub mean: f64,
    /// Student's t over the per-seed means (`None` with one seed).
    pub over_seeds: Option<Interval>,
    /// Stratified bootstrap over each seed's problems.
    pub over_problems: Interval,
    pub resamples: usize,
}

/// Per-seed values (`groups[s]`: one value per problem of seed `s`) → the
/// mean over seeds with both intervals. An empty group, no group at all or
/// a non-finite value is an error naming it.
pub fn over_seeds(groups: &[Vec<f64>], resamples: usize, seed: u64) -> Result<OverSeeds> {
    if groups.is_empty() {
        return Err(Error::Input("no seeds to average over".into()));
    }
    for (s, g) in groups.iter().enumerate() {
        if g.is_empty() {
            return Err(Error::Input(format!("seed #{s} has no problems")));
        }
        if let Some(i) = g.iter().position(|x| !x.is_finite()) {
            return Err(Error::Input(format!(
                "seed #{s}, problem {i}: a non-finite score ({})",
                g[i]
            )));
        }
    }
    let mean_of = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let per_seed: Vec<f64> = groups.iter().map(|g| mean_of(g)).collect();
    let n = per_seed.len();
    let mean = mean_of(&per_seed);
    let over_seeds = (n > 1).then(|| {
        let var = per_seed.iter().map(|m| (m - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let half = t975(n - 1) * (var / n as f64).sqrt();
        Interval {
            lo: mean - half,
            hi: mean + half,
        }
    });
    let mut rng = StdRng::seed_from_u64(seed);
    let mut means: Vec<f64> = (0..resamples.max(1))
        .map(|_| {
            let total: f64 = groups
                .iter()
                .map(|g| {
                    (0..g.len())
                        .map(|_| g[rng.random_range(0..g.len())])
                        .sum::<f64>()
                        / g.len() as f64
                })
                .sum();
            total / n as f64
        })
        .collect();
    means.sort_by(super::cmp_f64);
    let q = |p: f64| means[((p * (means.len() - 1) as f64).round() as usize).min(means.len() - 1)];
    Ok(OverSeeds {
        n_seeds: n,
        per_seed,
        mean,
        over_seeds,
        over_problems: Interval {
            lo: q(0.025),
            hi: q(0.975),
        },
        resamples: resamples.max(1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_intervals_bracket_the_mean_and_measure_different_things() {
        // three seeds whose means differ a lot, each with many similar problems
        let groups: Vec<Vec<f64>> = [0.1, 0.2, 0.3]
            .iter()
            .map(|&m| {
                (0..400)
                    .map(|i| m + if i % 2 == 0 { 0.01 } else { -0.01 })
                    .collect()
            })
            .collect();
        let r = over_seeds(&groups, 500, 1).unwrap();
        assert!((r.mean - 0.2).abs() < 1e-12);
        let s = r.over_seeds.unwrap();
        // t(2) · sd 0.1 / √3 = 4.303 · 0.0577 = 0.248
        assert!((s.hi - 0.2 - 0.2484).abs() < 1e-3, "{s:?}");
        // over problems the seeds are fixed: the interval is narrow
        let p = r.over_problems;
        assert!(p.lo < 0.2 && 0.2 < p.hi && p.hi - p.lo < 0.01, "{p:?}");
        assert_eq!(over_seeds(&groups, 500, 1).unwrap(), r);
        // one seed: no interval over seeds
        assert!(over_seeds(&groups[..1], 100, 1)
            .unwrap()
            .over_seeds
            .is_none());
    }

    #[test]
    fn bad_groups_are_named_and_t_quantiles_approach_the_normal() {
        assert!(over_seeds(&[], 10, 0).is_err());
        let e = over_seeds(&[vec![0.1], vec![]], 10, 0).unwrap_err();
        assert!(e.to_string().contains("seed #1"), "{e}");
        let e = over_seeds(&[vec![0.1, f64::NAN]], 10, 0).unwrap_err();
        assert!(e.to_string().contains("problem 1"), "{e}");
        assert_eq!(t975(2), 4.303);
        assert!((t975(60) - 2.000).abs() < 0.01 && t975(1000) == 1.960);
        assert!(t975(31) < t975(30) && t975(119) > 1.960);
    }
}
