//! Divergences between discrete distributions (natural log, nats).

/// Kullback–Leibler divergence KL(p ‖ q) = Σ p ln(p/q); terms with p = 0 add
/// nothing and a p > 0 against q = 0 gives +∞.
pub fn kl(p: &[f64], q: &[f64]) -> f64 {
    debug_assert_eq!(p.len(), q.len());
    p.iter()
        .zip(q)
        .filter(|(&a, _)| a > 0.0)
        .map(|(&a, &b)| {
            if b > 0.0 {
                a * (a / b).ln()
            } else {
                f64::INFINITY
            }
        })
        .sum()
}

/// Jensen–Shannon divergence ½KL(p ‖ m) + ½KL(q ‖ m) with m = (p+q)/2, in nats
/// (0 ≤ JS ≤ ln 2). Inputs are normalised first, so counts may be passed.
pub fn js(p: &[f64], q: &[f64]) -> f64 {
    debug_assert_eq!(p.len(), q.len());
    let (p, q) = (normalise(p), normalise(q));
    let m: Vec<f64> = p.iter().zip(&q).map(|(a, b)| 0.5 * (a + b)).collect();
    (0.5 * kl(&p, &m) + 0.5 * kl(&q, &m)).clamp(0.0, std::f64::consts::LN_2)
}

/// `v / Σ v` (all zeros stays all zeros).
pub fn normalise(v: &[f64]) -> Vec<f64> {
    let s: f64 = v.iter().sum();
    if s > 0.0 {
        v.iter().map(|x| x / s).collect()
    } else {
        v.to_vec()
    }
}

/// Element-wise mean of equally long vectors, over the rows picked by `idx`.
pub fn mean_of(rows: &[Vec<f64>], idx: impl Iterator<Item = usize>) -> Vec<f64> {
    let mut acc = vec![0.0; rows.first().map_or(0, Vec::len)];
    let mut n = 0usize;
    for i in idx {
        acc.iter_mut().zip(&rows[i]).for_each(|(a, b)| *a += b);
        n += 1;
    }
    if n > 0 {
        acc.iter_mut().for_each(|a| *a /= n as f64);
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn js_is_symmetric_bounded_and_zero_on_equal() {
        let p = [0.5, 0.5, 0.0];
        let q = [0.0, 0.5, 0.5];
        assert!((js(&p, &q) - js(&q, &p)).abs() < 1e-15);
        assert_eq!(js(&p, &p), 0.0);
        // disjoint supports reach ln 2
        assert!((js(&[1.0, 0.0], &[0.0, 1.0]) - std::f64::consts::LN_2).abs() < 1e-12);
        // by hand: m = (.25,.5,.25); KL(p‖m) = .5 ln 2 → JS = .5 ln 2
        assert!((js(&p, &q) - 0.5 * std::f64::consts::LN_2).abs() < 1e-12);
        // counts are normalised
        assert!((js(&[2.0, 2.0, 0.0], &[0.0, 1.0, 1.0]) - js(&p, &q)).abs() < 1e-12);
    }

    #[test]
    fn kl_matches_hand_value_and_infinity() {
        let v = kl(&[0.5, 0.5], &[0.25, 0.75]);
        let want = 0.5 * (2.0f64).ln() + 0.5 * (0.5f64 / 0.75).ln();
        assert!((v - want).abs() < 1e-12);
        assert!(kl(&[0.5, 0.5], &[1.0, 0.0]).is_infinite());
    }

    #[test]
    fn mean_of_selected_rows() {
        let rows = vec![vec![1.0, 0.0], vec![0.0, 1.0], vec![1.0, 1.0]];
        assert_eq!(mean_of(&rows, [0, 1].into_iter()), vec![0.5, 0.5]);
        assert_eq!(mean_of(&rows, [2, 2].into_iter()), vec![1.0, 1.0]);
    }
}
