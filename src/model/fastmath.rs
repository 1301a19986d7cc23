//! Branch-free f32 kernels that the compiler vectorises, for the softmaxes of
//! the fused training ops: `exp` (libm's `expf` is a scalar call, and it was a
//! fifth of a training step at 1,536 tokens), and max / sum over a slice in
//! eight lanes (a fixed order, so results do not depend on the thread count).

/// e^x with a relative error below 3e-7 for x in [-87, 88] (Cephes' `expf`:
/// x = n·ln 2 + r with |r| ≤ ln 2 / 2, a degree-6 polynomial in r, then
/// scaled by 2^n); exactly 0 below -87, and e^88 above 88.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in two so that n·C1 is exact
    const C1: f32 = 0.693_359_4;
    const C2: f32 = -2.121_944_4e-4;
    // adding and subtracting 1.5·2^23 rounds to the nearest integer
    const ROUND: f32 = 12_582_912.0;
    let xc = if x > 88.0 { 88.0 } else { x };
    let xc = if xc < -87.0 { -87.0 } else { xc };
    let t = xc * LOG2E + ROUND;
    let n = t - ROUND;
    // n as an integer, from t's low mantissa bits (`as i32` would not vectorise)
    let ni = t.to_bits().wrapping_sub(ROUND.to_bits()) as i32;
    let r = xc - n * C1 - n * C2;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    let scale = f32::from_bits(((ni + 127) as u32) << 23);
    if x < -87.0 {
        0.0
    } else {
        y * scale
    }
}

const LANES: usize = 8;

/// The largest element (−∞ for an empty slice); NaNs are not propagated.
#[inline(always)]
pub fn max(xs: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let chunks = xs.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for (l, &v) in lanes.iter_mut().zip(c) {
            *l = if v > *l { v } else { *l };
        }
    }
    rest.iter()
        .chain(&lanes)
        .fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m })
}

/// The sum of the elements, in eight interleaved partial sums.
#[inline(always)]
pub fn sum(xs: &[f32]) -> f32 {
    let mut lanes = [0f32; LANES];
    let chunks = xs.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for (l, &v) in lanes.iter_mut().zip(c) {
            *l += v;
        }
    }
    lanes.iter().sum::<f32>() + rest.iter().sum::<f32>()
}

/// row ← softmax(scale · row) in place, for scale > 0; a row of −∞ (every
/// entry masked) becomes zeros. On x86-64 with AVX2 and FMA (detected at run time) the
/// same code is compiled for eight lanes instead of SSE2's four.
pub fn softmax_in_place(row: &mut [f32], scale: f32) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has the features the function is compiled for.
        return unsafe { softmax_avx2(row, scale) };
    }
    softmax_portable(row, scale)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn softmax_avx2(row: &mut [f32], scale: f32) {
    softmax_portable(row, scale)
}

#[inline(always)]
fn softmax_portable(row: &mut [f32], scale: f32) {
    let m = max(row);
    if m == f32::NEG_INFINITY {
        row.fill(0.0);
        return;
    }
    let m = m * scale;
    for v in row.iter_mut() {
        *v = exp(*v * scale - m);
    }
    let inv = 1.0 / sum(row);
    for v in row.iter_mut() {
        *v *= inv;
    }
}

/// ln Σ e^row (−∞ for a row of −∞).
pub fn logsumexp(row: &[f32]) -> f32 {
    let m = max(row);
    if m == f32::NEG_INFINITY {
        return m;
    }
    let mut acc = [0f32; LANES];
    let chunks = row.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += exp(v - m);
        }
    }
    let s = acc.iter().sum::<f32>() + rest.iter().map(|&v| exp(v - m)).sum::<f32>();
    m + s.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_3e7_of_libm_over_its_range() {
        let mut worst = 0f64;
        let n = 200_000;
        for i in 0..=n {
            let x = -87.0 + 175.0 * i as f32 / n as f32;
            let want = (x as f64).exp();
            let rel = ((exp(x) as f64 - want) / want).abs();
            worst = worst.max(rel);
        }
        assert!(worst < 3e-7, "largest relative error {worst}");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-87.5), 0.0);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert!((exp(1000.0) as f64 - 88f64.exp()).abs() / 88f64.exp() < 3e-7);
    }

    #[test]
    fn max_sum_and_softmax_agree_with_plain_loops() {
        let xs: Vec<f32> = (0..37)
            .map(|i| ((i * 7919) % 101) as f32 / 10.0 - 5.0)
            .collect();
        for len in [0, 1, 7, 8, 9, 37] {
            let s = &xs[..len];
            assert_eq!(max(s), s.iter().copied().fold(f32::NEG_INFINITY, f32::max));
            let plain: f32 = s.iter().sum();
            assert!((sum(s) - plain).abs() < 1e-4, "{len}");
        }
        let mut row = xs.clone();
        softmax_in_place(&mut row, 0.7);
        let m = xs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let z: f64 = xs.iter().map(|&v| ((0.7 * (v - m)) as f64).exp()).sum();
        for (p, &v) in row.iter().zip(&xs) {
            let want = ((0.7 * (v - m)) as f64).exp() / z;
            assert!(
                (*p as f64 - want).abs() < 1e-6 * (1.0 + want),
                "{p} vs {want}"
            );
        }
        // the portable code gives the same bits as the dispatched one
        let mut portable = xs.clone();
        softmax_portable(&mut portable, 0.7);
        assert!(portable
            .iter()
            .zip(&row)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
        // masked entries (−∞) get 0, the rest still sum to 1
        let mut masked = vec![1.0, f32::NEG_INFINITY, 2.0, f32::NEG_INFINITY];
        softmax_in_place(&mut masked, 1.0);
        assert_eq!((masked[1], masked[3]), (0.0, 0.0));
        assert!((masked[0] + masked[2] - 1.0).abs() < 1e-6);
        assert!(exp(f32::NAN).is_nan());
        let lse = logsumexp(&xs) as f64;
        let want = m as f64 + xs.iter().map(|&v| ((v - m) as f64).exp()).sum::<f64>().ln();
        assert!((lse - want).abs() < 1e-5, "{lse} vs {want}");
        assert_eq!(logsumexp(&[f32::NEG_INFINITY; 3]), f32::NEG_INFINITY);
    }
}
