//! Context assembly: de-duplicate the pieces, choose evidence first and then
//! distractors while they fit a token budget (measured with a real tokenizer),
//! permute the chosen pieces with a seeded RNG, render each with a short
//! header, and never exceed the budget (an oversized piece is truncated with a
//! visible marker).

use std::collections::BTreeSet;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::evidence::{Piece, PieceKind};
use crate::tasks::TokenCounter;

/// The instruction the ACC dataset's prompts begin with.
pub const INSTRUCTION: &str =
    "Please reason based on the following documents and answer the question.";

/// Marker put where a piece was cut to fit the budget.
pub const TRUNCATION_MARKER: &str = "\n[... truncated to fit the context budget ...]";

/// A piece as placed in the context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Placed {
    pub kind: PieceKind,
    pub source: String,
    pub tokens: usize,
    pub truncated: bool,
}

/// The compiled prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Context {
    pub prompt: String,
    pub tokens: usize,
    pub budget: usize,
    /// Pieces in prompt order.
    pub placed: Vec<Placed>,
    /// Pieces left out for lack of room.
    pub dropped: usize,
}

fn render_piece(k: usize, p: &Piece) -> String {
    let kind = match p.kind {
        PieceKind::Evidence | PieceKind::Distractor => "document",
        PieceKind::Observation => "tool output",
    };
    // distractors look like any other document: the header names the source only
    format!("[Document {k}] ({kind}; source: {})\n{}", p.source, p.text)
}

fn render(question: &str, docs: &[String]) -> String {
    format!(
        "{INSTRUCTION}\n\n{}\n\nQuestion: {question}",
        docs.join("\n\n")
    )
}

/// Cuts `text` so that `fits(cut + marker)` holds, by bisection on characters.
fn truncate_to_fit(text: &str, fits: &dyn Fn(&str) -> bool) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    let (mut lo, mut hi) = (0usize, chars.len());
    if !fits(TRUNCATION_MARKER) {
        return None;
    }
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        let cand: String = chars[..mid].iter().collect::<String>() + TRUNCATION_MARKER;
        if fits(&cand) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    Some(chars[..lo].iter().collect::<String>() + TRUNCATION_MARKER)
}

/// Assembles the prompt for `question` from `pieces` within `budget` tokens.
pub fn assemble(
    question: &str,
    pieces: &[Piece],
    budget: usize,
    distractors: bool,
    seed: u64,
    counter: &dyn TokenCounter,
) -> Context {
    // 1. de-duplicate (first occurrence wins)
    let mut seen = BTreeSet::new();
    let unique: Vec<&Piece> = pieces
        .iter()
        .filter(|p| seen.insert(p.text.trim().to_string()))
        .collect();
    // 2. priority: evidence, observations, then distractors; random order within each
    let mut rng = StdRng::seed_from_u64(seed);
    let mut by_kind: Vec<Vec<&Piece>> = [
        PieceKind::Evidence,
        PieceKind::Observation,
        PieceKind::Distractor,
    ]
    .iter()
    .map(|k| unique.iter().copied().filter(|p| p.kind == *k).collect())
    .collect();
    if !distractors {
        by_kind[2].clear();
    }
    for group in by_kind.iter_mut() {
        group.shuffle(&mut rng);
    }
    // 3. choose while the whole prompt fits (the chosen set is re-measured as one text)
    let base = counter.count(&render(question, &[]));
    let mut chosen: Vec<Piece> = Vec::new();
    let mut truncated = BTreeSet::new();
    let mut used = base;
    let mut dropped = 0;
    for p in by_kind.into_iter().flatten() {
        let cost = counter.count(&render_piece(chosen.len() + 1, p)) + 2;
        if used + cost <= budget {
            used += cost;
            chosen.push(p.clone());
        } else if p.kind == PieceKind::Evidence && budget > used + 16 {
            let room = budget - used;
            let header_cost = counter.count(&render_piece(
                chosen.len() + 1,
                &Piece {
                    text: String::new(),
                    ..p.clone()
                },
            )) + 2;
            let fits = |t: &str| header_cost + counter.count(t) <= room;
            match truncate_to_fit(&p.text, &fits) {
                Some(text) => {
                    let cut = Piece { text, ..p.clone() };
                    used += counter.count(&render_piece(chosen.len() + 1, &cut)) + 2;
                    truncated.insert(chosen.len());
                    chosen.push(cut);
                }
                None => dropped += 1,
            }
        } else {
            dropped += 1;
        }
    }
    // 4. permute the chosen pieces so evidence has no positional bias
    let mut order: Vec<usize> = (0..chosen.len()).collect();
    order.shuffle(&mut rng);
    let mut docs: Vec<String> = order
        .iter()
        .enumerate()
        .map(|(k, &i)| render_piece(k + 1, &chosen[i]))
        .collect();
    let mut prompt = render(question, &docs);
    let mut tokens = counter.count(&prompt);
    // 5. per-piece costs are an estimate: drop the last-ranked pieces until the whole fits
    let mut removed: Vec<usize> = Vec::new();
    while tokens > budget && !docs.is_empty() {
        let worst = order
            .iter()
            .enumerate()
            .max_by_key(|(_, &i)| i)
            .map(|(k, _)| k)
            .expect("non-empty");
        removed.push(order.remove(worst));
        docs = order
            .iter()
            .enumerate()
            .map(|(k, &i)| render_piece(k + 1, &chosen[i]))
            .collect();
        prompt = render(question, &docs);
        tokens = counter.count(&prompt);
    }
    let placed = order
        .iter()
        .map(|&i| Placed {
            kind: chosen[i].kind,
            source: chosen[i].source.clone(),
            tokens: counter.count(&chosen[i].text),
            truncated: truncated.contains(&i),
        })
        .collect();
    Context {
        prompt,
        tokens,
        budget,
        placed,
        dropped: dropped + removed.len(),
    }
}
