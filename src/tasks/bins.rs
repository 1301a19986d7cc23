//! Length bins and the area under the score-versus-length curve, as
//! lm-evaluation-harness reports MRCR: eight bins (lo, hi] of prompt tokens,
//! (0, 8K] … (512K, 1M], and an AUC that places each non-empty bin's mean
//! score at its upper edge on a linear token axis, integrates them with the
//! trapezoid rule and divides by the span between the first and last edge
//! (one non-empty bin: its mean). lm-eval prints the AUC ×100; acc-probe
//! keeps it on the scores' 0–1 scale.

use serde::{Deserialize, Serialize};

use crate::analysis::bootstrap::{mean_ci, MeanCi};

/// lm-eval's MRCR bins: (lo, hi] tokens.
pub const BINS: [(usize, usize); 8] = [
    (0, 8 << 10),
    (8 << 10, 16 << 10),
    (16 << 10, 32 << 10),
    (32 << 10, 64 << 10),
    (64 << 10, 128 << 10),
    (128 << 10, 256 << 10),
    (256 << 10, 512 << 10),
    (512 << 10, 1 << 20),
];

fn k(x: usize) -> String {
    if x >= 1 << 20 {
        format!("{}M", x >> 20)
    } else {
        format!("{}K", x >> 10)
    }
}

/// The bin of a prompt of `tokens` tokens: its index in [`BINS`], or `None`
/// past 1M tokens.
pub fn bin_index(tokens: usize) -> Option<usize> {
    BINS.iter()
        .position(|&(lo, hi)| lo < tokens && tokens <= hi)
}

/// The label of the bin of `tokens`: "(0,8K]", "(8K,16K]", …, ">1M".
pub fn length_bin(tokens: usize) -> String {
    match bin_index(tokens).and_then(|i| BINS.get(i)) {
        Some(&(lo, hi)) => format!("({},{}]", if lo == 0 { "0".into() } else { k(lo) }, k(hi)),
        None => format!(">{}", k(1 << 20)),
    }
}

/// One length bin's scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LengthBin {
    /// "(8K,16K]".
    pub bin: String,
    /// Its upper edge in tokens (the AUC's x); `None` past 1M.
    pub upper: Option<usize>,
    /// Mean with its bootstrap CI.
    pub score: MeanCi,
}

/// The scores of `rows` ((prompt tokens, score)) per non-empty bin, in bin
/// order, each with a 95% bootstrap CI over its rows.
pub fn by_length(rows: &[(usize, f64)], resamples: usize, seed: u64) -> Vec<LengthBin> {
    let mut groups: Vec<(Option<usize>, Vec<f64>)> = Vec::new();
    let mut sorted: Vec<(Option<usize>, f64)> =
        rows.iter().map(|&(t, s)| (bin_index(t), s)).collect();
    // bins in order, the past-1M group last
    sorted.sort_by_key(|&(b, _)| b.map_or(usize::MAX, |b| b));
    for (b, s) in sorted {
        match groups.last_mut() {
            Some((g, v)) if *g == b => v.push(s),
            _ => groups.push((b, vec![s])),
        }
    }
    groups
        .into_iter()
        .map(|(b, v)| {
            let bin = b.and_then(|i| BINS.get(i).copied());
            LengthBin {
                bin: length_bin(bin.map_or(usize::MAX, |(_, hi)| hi)),
                upper: bin.map(|(_, hi)| hi),
                score: mean_ci(&v, resamples, 0.95, seed),
            }
        })
        .collect()
}

/// lm-eval's AUC of per-bin means (see the module); `None` without a bin
/// inside 1M tokens.
pub fn auc(bins: &[LengthBin]) -> Option<f64> {
    let points: Vec<(f64, f64)> = bins
        .iter()
        .filter_map(|b| b.upper.map(|x| (x as f64, b.score.mean)))
        .collect();
    let (first, last) = (points.first()?, points.last()?);
    let width = last.0 - first.0;
    if width <= 0.0 {
        return Some(last.1);
    }
    let area: f64 = points
        .windows(2)
        .filter_map(|w| match w {
            [(x0, y0), (x1, y1)] => Some((x1 - x0) * (y0 + y1) / 2.0),
            _ => None,
        })
        .sum();
    Some(area / width)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_are_lm_evals() {
        assert_eq!(length_bin(1), "(0,8K]");
        assert_eq!(length_bin(8192), "(0,8K]");
        assert_eq!(length_bin(8193), "(8K,16K]");
        assert_eq!(length_bin(600_000), "(512K,1M]");
        assert_eq!(length_bin(1 << 20), "(512K,1M]");
        assert_eq!(length_bin((1 << 20) + 1), ">1M");
        assert_eq!(bin_index(0), None);
    }

    /// Hand-computed: means 1.0 at 8K, 0.5 at 16K and 0 at 64K (32K empty,
    /// so interpolated across): area = 8192·0.75 + 49152·0.25 = 18432 over
    /// a width of 57344 → 0.3214…; one bin is its own mean; none is None.
    #[test]
    fn auc_is_lm_evals_trapezoid() {
        let rows = [
            (100, 1.0),
            (8000, 1.0),
            (9000, 0.25),
            (16000, 0.75),
            (40000, 0.0),
        ];
        let bins = by_length(&rows, 100, 0);
        let labels: Vec<&str> = bins.iter().map(|b| b.bin.as_str()).collect();
        assert_eq!(labels, ["(0,8K]", "(8K,16K]", "(32K,64K]"]);
        assert_eq!(bins[1].score.n, 2);
        let a = auc(&bins).unwrap();
        assert!((a - 18432.0 / 57344.0).abs() < 1e-12, "{a}");
        assert_eq!(auc(&by_length(&[(5, 0.4)], 10, 0)), Some(0.4));
        assert_eq!(auc(&by_length(&[(2 << 20, 0.4)], 10, 0)), None);
        assert_eq!(auc(&[]), None);
    }
}
