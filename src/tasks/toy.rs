//! Seeded toy MRCR / GraphWalks problem sets. Problem seeds come from disjoint
//! streams: training problems (stream 1), held-out evaluation (stream 2),
//! probe inputs for the analyses (stream 3) and drills (4–9, 13, 14) never share a seed.

use super::eval::TaskRow;
use super::graphwalks::{self, Problem};
use super::mrcr;
use crate::error::{Error, Result};
use crate::tokenizer::TokenCounter;

/// Seed stream of training problems.
pub const TRAIN_STREAM: u64 = 1;
/// Seed stream of held-out evaluation problems.
pub const EVAL_STREAM: u64 = 2;
/// Seed stream of analysis probe inputs.
pub const PROBE_STREAM: u64 = 3;
/// Seed streams of the LM curriculum's graph and recall drills.
pub const GRAPH_DRILL_STREAM: u64 = 4;
pub const RECALL_DRILL_STREAM: u64 = 5;
/// Seed stream of the LM curriculum's copy drills.
pub const COPY_DRILL_STREAM: u64 = 6;
/// Long copy drills (`drills::ramp_copy_drill`).
pub const LONG_COPY_DRILL_STREAM: u64 = 7;
/// Held-out short and long copy drills of the drill check (`drill_check`).
pub const SHORT_DRILL_CHECK_STREAM: u64 = 8;
pub const LONG_DRILL_CHECK_STREAM: u64 = 9;
// (10, 11, 12: the synthetic agent episodes of `reproduce`'s three domains)
/// Graph drills of the copy stage, and long graph drills (`drills`).
pub const GRAPH_COPY_DRILL_STREAM: u64 = 13;
pub const LONG_GRAPH_DRILL_STREAM: u64 = 14;
/// Repository-history agent episodes (`environments::history`).
pub const HISTORY_STREAM: u64 = 15;
/// Held-out short drills of the copy stage's criterion (`copy_criterion`).
pub const COPY_CRITERION_STREAM: u64 = 16;

/// The seed of problem `i` of `stream` in a run seeded with `seed`.
pub fn seed_for(seed: u64, stream: u64, i: usize) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(stream.wrapping_mul(1_000_003))
        .wrapping_add(i as u64)
}

/// Problem `i` of toy MRCR: needles 2/4/8 in turn; a size that does not fit
/// the budget falls back to fewer needles.
pub fn mrcr_row(
    seed: u64,
    stream: u64,
    i: usize,
    tokens: usize,
    counter: &dyn TokenCounter,
) -> Result<TaskRow> {
    let s = seed_for(seed, stream, i);
    // the turn's needle count, then fewer
    [2, 4, 8][..=i % 3]
        .iter()
        .rev()
        .find_map(|&needles| mrcr::generate(s, tokens, needles, counter).ok())
        .map(TaskRow::Mrcr)
        .ok_or_else(|| {
            Error::Input(format!(
                "toy MRCR does not fit {tokens} tokens even with 2 needles"
            ))
        })
}

/// Problem `i` of toy GraphWalks: BFS and parents in turn.
pub fn graphwalks_row(
    seed: u64,
    stream: u64,
    i: usize,
    tokens: usize,
    counter: &dyn TokenCounter,
) -> Result<TaskRow> {
    let p = [Problem::Bfs, Problem::Parents][i % 2];
    Ok(TaskRow::Graphwalks(graphwalks::generate(
        seed_for(seed, stream, i),
        tokens,
        p,
        counter,
    )?))
}

/// `n` problems of each task from `stream`.
pub fn rows(
    n: usize,
    tokens: usize,
    seed: u64,
    stream: u64,
    counter: &dyn TokenCounter,
) -> Result<(Vec<TaskRow>, Vec<TaskRow>)> {
    let m = (0..n)
        .map(|i| mrcr_row(seed, stream, i, tokens, counter))
        .collect::<Result<_>>()?;
    let g = (0..n)
        .map(|i| graphwalks_row(seed, stream, i, tokens, counter))
        .collect::<Result<_>>()?;
    Ok((m, g))
}
