//! Attention-span statistics (definitions in the project's METRICS notes).
//!
//! For query row i and key j ≤ i with probability a_ij and distance d = i − j:
//! mean distance Σ a d, entropy −Σ a ln a (nats), mass per distance bin, sink
//! mass (keys j < n_sink), local mass (d < window), and the largest weight with
//! its distance. [`RowStats`] holds them per (head, selected row);
//! [`AttnSummary`] reduces them per head with memory independent of the
//! sequence length.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The default 32 half-octave lower bin edges (last bin open).
pub const DEFAULT_BIN_EDGES: [u32; 32] = [
    0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536,
    2048, 3072, 4096, 6144, 8192, 12288, 16384, 24576, 32768, 65536,
];

/// Distance bins given by their lower edges: bin b holds lower[b] ≤ d < lower[b+1]; the last bin is open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistanceBins {
    lower: Vec<u32>,
}

impl Default for DistanceBins {
    fn default() -> Self {
        DistanceBins {
            lower: DEFAULT_BIN_EDGES.to_vec(),
        }
    }
}

impl DistanceBins {
    /// Bins from lower edges: must start at 0 and increase strictly.
    pub fn new(lower: Vec<u32>) -> Result<Self> {
        if lower.first() != Some(&0) {
            return Err(Error::Input(format!(
                "distance bin edges must start at 0, got {lower:?}"
            )));
        }
        if let Some(w) = lower.windows(2).find(|w| w[1] <= w[0]) {
            return Err(Error::Input(format!(
                "distance bin edges must increase strictly, found {} then {}",
                w[0], w[1]
            )));
        }
        Ok(DistanceBins { lower })
    }

    /// Parses "0,1,2,4,8" (lower edges).
    pub fn parse(s: &str) -> Result<Self> {
        let lower = s
            .split(',')
            .map(|x| {
                x.trim()
                    .parse::<u32>()
                    .map_err(|_| Error::Input(format!("bad distance bin edge `{x}` in `{s}`")))
            })
            .collect::<Result<Vec<_>>>()?;
        Self::new(lower)
    }

    pub fn len(&self) -> usize {
        self.lower.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lower.is_empty()
    }

    pub fn lower_edges(&self) -> &[u32] {
        &self.lower
    }

    /// Exclusive upper edge of bin b (u64::MAX for the open last bin).
    pub fn upper(&self, b: usize) -> u64 {
        self.lower.get(b + 1).map(|&x| x as u64).unwrap_or(u64::MAX)
    }

    /// The bin of distance d.
    pub fn bin_of(&self, d: u64) -> usize {
        // number of lower edges ≤ d, minus one
        self.lower.partition_point(|&e| (e as u64) <= d) - 1
    }
}

/// Which query rows are measured. All forms select one contiguous span of rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RowSelection {
    All,
    /// The last n rows.
    Tail(usize),
    /// Rows start..end (exclusive).
    Span(usize, usize),
}

impl RowSelection {
    /// The selected rows of a sequence of length t, as a range.
    pub fn range(&self, t: usize) -> Result<std::ops::Range<usize>> {
        match *self {
            RowSelection::All => Ok(0..t),
            RowSelection::Tail(n) => Ok(t.saturating_sub(n)..t),
            RowSelection::Span(a, b) => {
                if a >= b || b > t {
                    Err(Error::OutOfRange {
                        what: "query span".into(),
                        value: format!("{a}..{b}"),
                        valid: format!("a non-empty span within 0..{t}"),
                    })
                } else {
                    Ok(a..b)
                }
            }
        }
    }

    /// Parses `all`, `tail:N` or `A..B`.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = || {
            Error::Input(format!(
                "bad row selection `{s}`: expected all, tail:N or A..B"
            ))
        };
        if s == "all" {
            return Ok(RowSelection::All);
        }
        if let Some(n) = s.strip_prefix("tail:") {
            return match n.parse() {
                Ok(0) => Err(Error::Input(format!(
                    "bad row selection `{s}`: tail:N measures the last N ≥ 1 rows"
                ))),
                Ok(n) => Ok(RowSelection::Tail(n)),
                Err(_) => Err(bad()),
            };
        }
        if let Some((a, b)) = s.split_once("..") {
            let a = a.parse().map_err(|_| bad())?;
            let b = b.parse().map_err(|_| bad())?;
            return Ok(RowSelection::Span(a, b));
        }
        Err(bad())
    }
}

/// Which query rows of each input are measured, as the user names them:
/// `all`, `tail:N`, `A..B` or `question` (the final user turn onwards, where
/// the input knows where its question starts). One grammar for every command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Queries {
    All,
    /// The last n rows.
    Tail(usize),
    /// The final user turn (the question) and the assistant prefix after it.
    Question,
    /// Rows start..end (exclusive).
    Span(usize, usize),
}

impl Queries {
    /// `all`, `tail:N`, `A..B` or `question`.
    pub fn parse(s: &str) -> Result<Self> {
        if s == "question" {
            return Ok(Queries::Question);
        }
        RowSelection::parse(s)
            .map(|r| match r {
                RowSelection::All => Queries::All,
                RowSelection::Tail(n) => Queries::Tail(n),
                RowSelection::Span(a, b) => Queries::Span(a, b),
            })
            .map_err(|_| {
                Error::Input(format!(
                    "bad --queries `{s}`: expected all, tail:N, A..B or question"
                ))
            })
    }

    /// The rows of an input of t tokens whose question starts at
    /// `question_start` (`None`: the input has no marked question).
    pub fn rows(&self, t: usize, question_start: Option<usize>) -> Result<RowSelection> {
        match (*self, question_start) {
            (Queries::Tail(n), _) => Ok(RowSelection::Tail(n.min(t))),
            (Queries::Question, Some(q)) => Ok(RowSelection::Span(q.min(t.saturating_sub(1)), t)),
            _ => self.fixed_rows(),
        }
    }

    /// The rows as they are named, for inputs without a marked question
    /// (`question` is refused).
    pub fn fixed_rows(&self) -> Result<RowSelection> {
        match *self {
            Queries::All => Ok(RowSelection::All),
            Queries::Tail(n) => Ok(RowSelection::Tail(n)),
            Queries::Span(a, b) => Ok(RowSelection::Span(a, b)),
            Queries::Question => Err(Error::Input(
                "--queries question needs inputs with a marked question (the probe \
                 inputs of attention/routing); give all, tail:N or A..B"
                    .into(),
            )),
        }
    }
}

impl std::str::FromStr for Queries {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl std::fmt::Display for Queries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Queries::All => write!(f, "all"),
            Queries::Tail(n) => write!(f, "tail:{n}"),
            Queries::Question => write!(f, "question"),
            Queries::Span(a, b) => write!(f, "{a}..{b}"),
        }
    }
}

/// What to measure in one attention layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttnStatsSpec {
    pub bins: DistanceBins,
    /// Keys j < sink_tokens count as sink.
    pub sink_tokens: usize,
    /// Keys at distance d < local_window count as local.
    pub local_window: usize,
    pub rows: RowSelection,
    /// Keep every selected row (true) or only per-head reductions (false).
    pub per_row: bool,
}

impl Default for AttnStatsSpec {
    fn default() -> Self {
        AttnStatsSpec {
            bins: DistanceBins::default(),
            sink_tokens: 4,
            local_window: 64,
            rows: RowSelection::All,
            per_row: false,
        }
    }
}

/// Number of scalar statistics per row besides the histogram.
pub const N_SCALARS: usize = 6;

/// Per-row statistics for one layer: arrays laid out [head, row] (and [head, row, bin]).
#[derive(Debug, Clone, PartialEq)]
pub struct RowStats {
    pub heads: usize,
    /// The selected query rows.
    pub rows: std::ops::Range<usize>,
    pub nbins: usize,
    pub mean_distance: Vec<f32>,
    pub entropy: Vec<f32>,
    pub sink_mass: Vec<f32>,
    pub local_mass: Vec<f32>,
    pub max_weight: Vec<f32>,
    /// Distance of the key with the largest weight (first such key).
    pub argmax_distance: Vec<u32>,
    pub distance_hist: Vec<f32>,
}

impl RowStats {
    pub fn zeros(heads: usize, rows: std::ops::Range<usize>, nbins: usize) -> Self {
        let n = heads * rows.len();
        RowStats {
            heads,
            rows,
            nbins,
            mean_distance: vec![0.0; n],
            entropy: vec![0.0; n],
            sink_mass: vec![0.0; n],
            local_mass: vec![0.0; n],
            max_weight: vec![0.0; n],
            argmax_distance: vec![0; n],
            distance_hist: vec![0.0; n * nbins],
        }
    }

    pub fn n_rows(&self) -> usize {
        self.rows.len()
    }

    /// Reduces the rows to a per-head summary.
    pub fn summarize(&self, bins: &DistanceBins) -> AttnSummary {
        let mut s = AttnSummary::zeros(self.heads, self.nbins);
        let r = self.n_rows();
        for h in 0..self.heads {
            for k in 0..r {
                let idx = h * r + k;
                s.add_row(
                    h,
                    bins,
                    OneRow {
                        mean_distance: self.mean_distance[idx] as f64,
                        entropy: self.entropy[idx] as f64,
                        sink: self.sink_mass[idx] as f64,
                        local: self.local_mass[idx] as f64,
                        max_weight: self.max_weight[idx] as f64,
                        hist: &self.distance_hist[idx * self.nbins..(idx + 1) * self.nbins],
                    },
                );
            }
        }
        s
    }
}

/// One row's statistics, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct OneRow<'a> {
    pub mean_distance: f64,
    pub entropy: f64,
    pub sink: f64,
    pub local: f64,
    pub max_weight: f64,
    pub hist: &'a [f32],
}

/// Per-head sums over query rows (and over examples, when merged). Memory is
/// O(heads × bins), independent of the sequence length.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttnSummary {
    pub heads: usize,
    pub nbins: usize,
    /// Rows summed, per head.
    pub n_rows: Vec<u64>,
    /// Σ over rows of the distance histogram, [head, bin].
    pub hist_sum: Vec<f64>,
    /// Histogram of per-row mean distances over the same bins (counts), [head, bin].
    pub mean_distance_hist: Vec<u64>,
    pub mean_distance_sum: Vec<f64>,
    pub mean_distance_sq_sum: Vec<f64>,
    pub entropy_sum: Vec<f64>,
    pub sink_sum: Vec<f64>,
    pub local_sum: Vec<f64>,
    pub max_weight_sum: Vec<f64>,
}

impl AttnSummary {
    pub fn zeros(heads: usize, nbins: usize) -> Self {
        AttnSummary {
            heads,
            nbins,
            n_rows: vec![0; heads],
            hist_sum: vec![0.0; heads * nbins],
            mean_distance_hist: vec![0; heads * nbins],
            mean_distance_sum: vec![0.0; heads],
            mean_distance_sq_sum: vec![0.0; heads],
            entropy_sum: vec![0.0; heads],
            sink_sum: vec![0.0; heads],
            local_sum: vec![0.0; heads],
            max_weight_sum: vec![0.0; heads],
        }
    }

    pub fn add_row(&mut self, h: usize, bins: &DistanceBins, row: OneRow<'_>) {
        self.n_rows[h] += 1;
        for (acc, &x) in self.hist_sum[h * self.nbins..(h + 1) * self.nbins]
            .iter_mut()
            .zip(row.hist)
        {
            *acc += x as f64;
        }
        let b = bins.bin_of(row.mean_distance.max(0.0) as u64);
        self.mean_distance_hist[h * self.nbins + b] += 1;
        self.mean_distance_sum[h] += row.mean_distance;
        self.mean_distance_sq_sum[h] += row.mean_distance * row.mean_distance;
        self.entropy_sum[h] += row.entropy;
        self.sink_sum[h] += row.sink;
        self.local_sum[h] += row.local;
        self.max_weight_sum[h] += row.max_weight;
    }

    /// Adds another summary of the same shape.
    pub fn merge(&mut self, other: &AttnSummary) -> Result<()> {
        if other.heads != self.heads || other.nbins != self.nbins {
            return Err(Error::Input(format!(
                "cannot merge attention summaries of shape {}x{} and {}x{}",
                self.heads, self.nbins, other.heads, other.nbins
            )));
        }
        fn add<T: Copy + std::ops::AddAssign>(a: &mut [T], b: &[T]) {
            a.iter_mut().zip(b).for_each(|(x, &y)| *x += y);
        }
        add(&mut self.n_rows, &other.n_rows);
        add(&mut self.hist_sum, &other.hist_sum);
        add(&mut self.mean_distance_hist, &other.mean_distance_hist);
        add(&mut self.mean_distance_sum, &other.mean_distance_sum);
        add(&mut self.mean_distance_sq_sum, &other.mean_distance_sq_sum);
        add(&mut self.entropy_sum, &other.entropy_sum);
        add(&mut self.sink_sum, &other.sink_sum);
        add(&mut self.local_sum, &other.local_sum);
        add(&mut self.max_weight_sum, &other.max_weight_sum);
        Ok(())
    }

    /// Adds a one-head summary into head `h`.
    pub fn add_head(&mut self, h: usize, one: &AttnSummary) {
        debug_assert_eq!((one.heads, one.nbins), (1, self.nbins));
        let nb = self.nbins;
        self.n_rows[h] += one.n_rows[0];
        for (a, b) in self.hist_sum[h * nb..(h + 1) * nb]
            .iter_mut()
            .zip(&one.hist_sum)
        {
            *a += b;
        }
        for (a, b) in self.mean_distance_hist[h * nb..(h + 1) * nb]
            .iter_mut()
            .zip(&one.mean_distance_hist)
        {
            *a += b;
        }
        self.mean_distance_sum[h] += one.mean_distance_sum[0];
        self.mean_distance_sq_sum[h] += one.mean_distance_sq_sum[0];
        self.entropy_sum[h] += one.entropy_sum[0];
        self.sink_sum[h] += one.sink_sum[0];
        self.local_sum[h] += one.local_sum[0];
        self.max_weight_sum[h] += one.max_weight_sum[0];
    }

    /// Mean distance histogram of head h (sums to 1 when rows were summed).
    pub fn mean_hist(&self, h: usize) -> Vec<f64> {
        let n = self.n_rows[h].max(1) as f64;
        self.hist_sum[h * self.nbins..(h + 1) * self.nbins]
            .iter()
            .map(|x| x / n)
            .collect()
    }
}

/// The slow reference: statistics of one row from its materialised probabilities
/// `probs[0..=i]` (entries beyond i are ignored).
pub fn row_stats_reference(
    probs: &[f32],
    i: usize,
    spec: &AttnStatsSpec,
    hist: &mut [f32],
) -> (f64, f64, f64, f64, f64, u32) {
    hist.iter_mut().for_each(|x| *x = 0.0);
    let mut hist64 = vec![0f64; hist.len()];
    let (mut md, mut ent, mut sink, mut local) = (0f64, 0f64, 0f64, 0f64);
    let (mut maxw, mut argd) = (-1f64, 0u32);
    for (j, &a) in probs.iter().enumerate().take(i + 1) {
        let a = a as f64;
        let d = (i - j) as u64;
        md += a * d as f64;
        if a > 0.0 {
            ent -= a * a.ln();
        }
        hist64[spec.bins.bin_of(d)] += a;
        if j < spec.sink_tokens {
            sink += a;
        }
        if (d as usize) < spec.local_window {
            local += a;
        }
        if a > maxw {
            maxw = a;
            argd = d as u32;
        }
    }
    for (h, x) in hist.iter_mut().zip(hist64) {
        *h = x as f32;
    }
    (md, ent, sink, local, maxw, argd)
}

/// Reference statistics of every selected row from materialised probabilities
/// `probs` laid out [head, T, T].
pub fn stats_from_probs(
    probs: &[f32],
    heads: usize,
    t: usize,
    spec: &AttnStatsSpec,
) -> Result<RowStats> {
    let rows = spec.rows.range(t)?;
    let nb = spec.bins.len();
    let mut out = RowStats::zeros(heads, rows.clone(), nb);
    let r = rows.len();
    for h in 0..heads {
        for (k, i) in rows.clone().enumerate() {
            let row = &probs[(h * t + i) * t..(h * t + i + 1) * t];
            let idx = h * r + k;
            let (md, ent, sink, local, maxw, argd) = row_stats_reference(
                row,
                i,
                spec,
                &mut out.distance_hist[idx * nb..(idx + 1) * nb],
            );
            out.mean_distance[idx] = md as f32;
            out.entropy[idx] = ent as f32;
            out.sink_mass[idx] = sink as f32;
            out.local_mass[idx] = local as f32;
            out.max_weight[idx] = maxw as f32;
            out.argmax_distance[idx] = argd;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_selections_parse() {
        assert_eq!(Queries::parse("all").unwrap(), Queries::All);
        assert_eq!(Queries::parse("tail:16").unwrap(), Queries::Tail(16));
        assert_eq!(Queries::parse("question").unwrap(), Queries::Question);
        assert!(Queries::parse("tail:x").is_err());
        // a selection of no rows measures nothing
        assert!(Queries::parse("tail:0").is_err());
        assert!(RowSelection::parse("tail:0").is_err());
        // one grammar with dump's rows
        assert_eq!(Queries::parse("3..9").unwrap(), Queries::Span(3, 9));
        for q in ["all", "tail:16", "question", "3..9"] {
            assert_eq!(Queries::parse(q).unwrap().to_string(), q);
        }
        let e = Queries::parse("last").unwrap_err().to_string();
        assert!(e.contains("all, tail:N, A..B or question"), "{e}");
        assert!(Queries::Question.rows(10, None).is_err());
        assert_eq!(
            Queries::Question.rows(10, Some(4)).unwrap(),
            RowSelection::Span(4, 10)
        );
    }
}
