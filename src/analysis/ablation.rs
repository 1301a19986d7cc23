//! The causal check of `acc-probe ablate`: per-problem scores of the intact
//! model, of the model with the chosen units (experts or heads) ablated, and
//! of several draws of as many random units, turned into score drops with
//! paired bootstrap CIs.
//!
//! - drop of a condition = mean over problems of (intact − ablated) score,
//!   CI from resampling problems;
//! - random drop = per problem, the mean drop over the random draws, then as above;
//! - excess drop = per problem, target drop − random drop (how much more the
//!   chosen units matter than random ones), with its CI;
//! - rank p = (1 + #draws whose drop ≥ the target's) / (1 + #draws): small
//!   only when the target beats every random draw (with 3 draws the least
//!   possible value is 0.25, so it is reported next to the CIs, not alone).

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::bootstrap::{mean_ci, MeanCi};
use crate::error::{Error, Result};

/// One ablated condition.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Condition {
    /// "target", "random 1", …
    pub label: String,
    /// The ablated units (expert or head ids).
    pub units: Vec<usize>,
    pub score: MeanCi,
    /// intact − ablated, paired over problems.
    pub drop: MeanCi,
}

/// The causal-check summary.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AblationSummary {
    pub problems: usize,
    pub intact: MeanCi,
    pub target: Condition,
    pub random: Vec<Condition>,
    /// Mean drop over the random draws (per problem), with its CI.
    pub random_drop: MeanCi,
    /// Target drop − random drop, paired per problem.
    pub excess_drop: MeanCi,
    /// (1 + #random draws dropping at least as much as the target) / (1 + #draws).
    pub rank_p: f64,
}

fn drops(intact: &[f64], ablated: &[f64]) -> Vec<f64> {
    intact.iter().zip(ablated).map(|(a, b)| a - b).collect()
}

/// Summarises per-problem scores (every vector indexed by the same problems).
pub fn summarize(
    intact: &[f64],
    target: (&[usize], &[f64]),
    random: &[(Vec<usize>, Vec<f64>)],
    resamples: usize,
    seed: u64,
) -> Result<AblationSummary> {
    let n = intact.len();
    if n == 0 {
        return Err(Error::Input("ablation: no problems were scored".into()));
    }
    let lens_ok =
        target.1.len() == n && random.iter().all(|(_, s)| s.len() == n) && !random.is_empty();
    if !lens_ok {
        return Err(Error::Input(format!(
            "ablation: every condition needs {n} scores and at least one random draw"
        )));
    }
    // each statistic its own bootstrap stream, so adding one never moves another
    let ci = |v: &[f64], stream: u64| {
        mean_ci(
            v,
            resamples,
            0.95,
            seed.wrapping_add(stream.wrapping_mul(0x9E37)),
        )
    };
    let condition = |label: String, units: &[usize], scores: &[f64], stream: u64| Condition {
        label,
        units: units.to_vec(),
        score: ci(scores, stream),
        drop: ci(&drops(intact, scores), stream + 1),
    };
    let target_c = condition("target".into(), target.0, target.1, 2);
    let random_c: Vec<Condition> = random
        .iter()
        .enumerate()
        .map(|(i, (u, s))| condition(format!("random {}", i + 1), u, s, 10 + 2 * i as u64))
        .collect();
    let per_problem_random: Vec<f64> = (0..n)
        .map(|p| random.iter().map(|(_, s)| intact[p] - s[p]).sum::<f64>() / random.len() as f64)
        .collect();
    let target_drops = drops(intact, target.1);
    let excess: Vec<f64> = target_drops
        .iter()
        .zip(&per_problem_random)
        .map(|(t, r)| t - r)
        .collect();
    let at_least = random_c
        .iter()
        .filter(|c| c.drop.mean >= target_c.drop.mean)
        .count();
    Ok(AblationSummary {
        problems: n,
        intact: ci(intact, 0),
        random_drop: ci(&per_problem_random, 4),
        excess_drop: ci(&excess, 6),
        rank_p: (1 + at_least) as f64 / (1 + random_c.len()) as f64,
        target: target_c,
        random: random_c,
    })
}

/// Up to `draws` distinct sets of `size` units drawn from 0..total without the
/// `target` units (seeded). Fewer come back when fewer distinct sets exist;
/// none when the complement has fewer than `size` units.
pub fn random_unit_sets(
    total: usize,
    target: &[usize],
    draws: usize,
    seed: u64,
) -> Vec<Vec<usize>> {
    let size = target.len();
    let pool: Vec<usize> = (0..total).filter(|u| !target.contains(u)).collect();
    if size == 0 || pool.len() < size {
        return Vec::new();
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out: Vec<Vec<usize>> = Vec::new();
    let distinct = binomial(pool.len(), size);
    let want = draws.min(distinct);
    // rejection sampling of distinct subsets: cheap while want ≪ distinct, and
    // bounded because want ≤ distinct
    let mut tries = 0usize;
    while out.len() < want && tries < 100_000 {
        tries += 1;
        let mut s: Vec<usize> = pool.choose_multiple(&mut rng, size).copied().collect();
        s.sort_unstable();
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

fn binomial(n: usize, k: usize) -> usize {
    let k = k.min(n - k);
    let mut c: u128 = 1;
    for i in 0..k {
        c = c * (n - i) as u128 / (i + 1) as u128;
        if c > usize::MAX as u128 {
            return usize::MAX;
        }
    }
    c as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_are_paired_and_the_excess_compares_with_random() {
        let intact = vec![1.0, 0.8, 0.6, 1.0];
        let target = vec![0.0, 0.1, 0.0, 0.2];
        let r1 = vec![1.0, 0.7, 0.6, 0.9];
        let r2 = vec![0.9, 0.8, 0.5, 1.0];
        let s = summarize(
            &intact,
            (&[3, 5], &target),
            &[(vec![0, 1], r1), (vec![2, 7], r2)],
            500,
            1,
        )
        .unwrap();
        assert_eq!(s.problems, 4);
        assert!((s.target.drop.mean - 0.775).abs() < 1e-12);
        assert!((s.random_drop.mean - 0.05).abs() < 1e-12);
        assert!((s.excess_drop.mean - 0.725).abs() < 1e-12);
        assert!(s.excess_drop.lo > 0.0, "{:?}", s.excess_drop);
        assert!((s.rank_p - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(s.random[1].label, "random 2");
        assert_eq!(s.target.units, vec![3, 5]);
    }

    #[test]
    fn no_effect_gives_zero_drops_and_rank_p_one() {
        let x = vec![0.5, 0.2, 0.9];
        let s = summarize(&x, (&[1], &x), &[(vec![0], x.clone())], 200, 0).unwrap();
        assert_eq!(s.target.drop.mean, 0.0);
        assert_eq!(s.excess_drop.mean, 0.0);
        assert_eq!(s.rank_p, 1.0);
        assert!(summarize(&[], (&[1], &[]), &[], 10, 0).is_err());
        assert!(summarize(&x, (&[1], &x[..2]), &[(vec![0], x.clone())], 10, 0).is_err());
    }

    #[test]
    fn random_sets_avoid_the_target_and_repeat_nothing() {
        let sets = random_unit_sets(8, &[2, 5], 5, 3);
        assert_eq!(sets.len(), 5);
        for s in &sets {
            assert_eq!(s.len(), 2);
            assert!(!s.contains(&2) && !s.contains(&5));
        }
        let mut d = sets.clone();
        d.dedup();
        assert_eq!(d.len(), 5);
        assert_eq!(sets, random_unit_sets(8, &[2, 5], 5, 3));
        // 4 heads, 2 clamped: one other pair exists
        assert_eq!(random_unit_sets(4, &[0, 1], 3, 0), vec![vec![2, 3]]);
        assert!(random_unit_sets(4, &[0, 1, 2], 3, 0).is_empty());
        assert_eq!(binomial(6, 2), 15);
    }
}
