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
use crate::tokenizer::TokenCounter;

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
    /// Tokens of the piece in the prompt (its `[Document k]` header included),
    /// attributed from the one measurement of the whole prompt.
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

/// Renders `chosen` in `order` and measures the prompt once: (prompt, tokens,
/// tokens of each rendered piece in prompt order).
fn render_measured(
    question: &str,
    chosen: &[Piece],
    order: &[usize],
    counter: &dyn TokenCounter,
) -> (String, usize, Vec<usize>) {
    let docs: Vec<String> = order
        .iter()
        .enumerate()
        .map(|(k, &i)| render_piece(k + 1, &chosen[i]))
        .collect();
    let mut spans = Vec::with_capacity(docs.len());
    let mut at = INSTRUCTION.len() + 2;
    for d in &docs {
        spans.push((at, at + d.len()));
        at += d.len() + 2;
    }
    let prompt = render(question, &docs);
    let (tokens, per) = counter.count_spans(&prompt, &spans);
    (prompt, tokens, per)
}

/// Cuts `text` so that `header_cost + count(cut + marker) <= room`: the cut
/// point comes from the counter's token offsets (one encoding), and is moved
/// back while the re-measured piece is over (token merges at the cut).
fn truncate_to_fit(
    text: &str,
    header_cost: usize,
    room: usize,
    counter: &dyn TokenCounter,
) -> Option<String> {
    let marker = counter.count(TRUNCATION_MARKER);
    if header_cost + marker > room {
        return None;
    }
    let mut max = room - header_cost - marker;
    loop {
        let end = counter.prefix_within(text, max);
        let cand = format!("{}{TRUNCATION_MARKER}", &text[..end]);
        let cost = header_cost + counter.count(&cand);
        if cost <= room {
            return Some(cand);
        }
        if max == 0 {
            return None;
        }
        max = max.saturating_sub((cost - room).max(1));
    }
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
    assemble_with(question, pieces, budget, distractors, seed, counter, true)
}

/// [`assemble`], with the one-measurement fast path on or off. The fast path
/// renders every piece in the order the selection would give them and
/// measures the prompt once; when that fits the budget it is the result (the
/// per-piece path would choose every piece too), otherwise pieces are chosen
/// one by one.
pub fn assemble_with(
    question: &str,
    pieces: &[Piece],
    budget: usize,
    distractors: bool,
    seed: u64,
    counter: &dyn TokenCounter,
    fast: bool,
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
    // pieces' token counts from the one measurement, when it was made
    let mut measured: Option<Vec<usize>> = None;
    if fast {
        // the permutation of step 4, drawn from the same generator state
        let all: Vec<Piece> = by_kind.iter().flatten().map(|p| (*p).clone()).collect();
        let mut order: Vec<usize> = (0..all.len()).collect();
        order.shuffle(&mut rng.clone());
        let (prompt, tokens, per) = render_measured(question, &all, &order, counter);
        if tokens <= budget {
            let placed = order
                .iter()
                .zip(per)
                .map(|(&i, tokens)| Placed {
                    kind: all[i].kind,
                    source: all[i].source.clone(),
                    tokens,
                    truncated: false,
                })
                .collect();
            return Context {
                prompt,
                tokens,
                budget,
                placed,
                dropped: 0,
            };
        }
        // it does not fit: its per-piece counts stand in for measuring each piece again
        let mut costs = vec![0; all.len()];
        for (&i, t) in order.iter().zip(per) {
            costs[i] = t;
        }
        measured = Some(costs);
    }
    // 3. choose while the whole prompt fits (the chosen set is re-measured as one text)
    let base = counter.count(&render(question, &[]));
    let mut chosen: Vec<Piece> = Vec::new();
    let mut truncated = BTreeSet::new();
    let mut used = base;
    let mut dropped = 0;
    for (j, p) in by_kind.into_iter().flatten().enumerate() {
        let cost = match &measured {
            Some(m) => m[j],
            None => counter.count(&render_piece(chosen.len() + 1, p)),
        } + 2;
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
            match truncate_to_fit(&p.text, header_cost, room, counter) {
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
    let (mut prompt, mut tokens, mut per) = render_measured(question, &chosen, &order, counter);
    // 5. per-piece costs are an estimate: drop the last-ranked pieces until the whole fits
    let mut removed: Vec<usize> = Vec::new();
    while tokens > budget && !order.is_empty() {
        let worst = order
            .iter()
            .enumerate()
            .max_by_key(|(_, &i)| i)
            .map(|(k, _)| k)
            .expect("non-empty");
        removed.push(order.remove(worst));
        (prompt, tokens, per) = render_measured(question, &chosen, &order, counter);
    }
    let placed = order
        .iter()
        .zip(per)
        .map(|(&i, tokens)| Placed {
            kind: chosen[i].kind,
            source: chosen[i].source.clone(),
            tokens,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tokenizer() -> tokenizers::Tokenizer {
        let corpus: Vec<String> = (0..300)
            .map(|i| {
                format!(
                    "Row {i}: customer {} bought {} units of product-{} in Tallinn; ünïcode ✓ {}\n",
                    i * 7 % 31,
                    i % 9,
                    i % 13,
                    "def f(x):\n    return x + 1\n"
                )
            })
            .collect();
        crate::tokenizer::train_bpe(corpus.iter(), 600).unwrap()
    }

    #[test]
    fn offsets_prefix_agrees_with_bisection() {
        let tok = tokenizer();
        let bisect = |t: &str| tok.count(t);
        let text: String = (0..40)
            .map(|i| format!("Row {i}: customer bought ✓ units; "))
            .collect();
        for max in [0, 1, 5, 17, 60, 200, 10_000] {
            let fast = tok.prefix_within(&text, max);
            let slow = bisect.prefix_within(&text, max);
            let n = tok.count(&text[..fast]);
            assert!(n <= max, "max {max}");
            assert!(tok.count(&text[..slow]) <= max, "max {max}");
            // the offsets cut is maximal up to a token; bisection (counts are not
            // monotone in the prefix length) never finds a longer one by more than a token
            assert!(n + 1 >= max.min(tok.count(&text)), "max {max}: {n}");
            if slow > fast {
                assert!(tok.count(&text[fast..slow]) <= 1, "max {max}");
            }
        }
    }

    #[test]
    fn one_measurement_fast_path_equals_the_piece_by_piece_path() {
        let tok = tokenizer();
        let approx = |t: &str| t.chars().count().div_ceil(4);
        let pieces: Vec<Piece> = (0..12)
            .map(|i| Piece {
                kind: [
                    PieceKind::Evidence,
                    PieceKind::Observation,
                    PieceKind::Distractor,
                ][i % 3],
                source: format!("source {i}"),
                text: format!("Row {i}: customer {} bought ✓ units.\n", i * 5).repeat(i + 1),
            })
            .collect();
        for counter in [&tok as &dyn TokenCounter, &approx] {
            for seed in 0..5 {
                // a budget every piece fits in: both paths take all pieces in the same order
                let fast = assemble_with("Who?", &pieces, 100_000, true, seed, counter, true);
                let slow = assemble_with("Who?", &pieces, 100_000, true, seed, counter, false);
                assert_eq!(fast, slow);
                assert_eq!(fast.placed.len(), 12);
                assert_eq!(fast.tokens, counter.count(&fast.prompt));
            }
            // a tight budget: pieces are chosen one by one, with the counts of the one
            // measurement (fast) or of each piece (slow); both stay within the budget
            for budget in [150, 300, 600] {
                for fast in [true, false] {
                    let c = assemble_with("Who?", &pieces, budget, true, 1, counter, fast);
                    assert!(c.tokens <= budget && c.dropped > 0);
                    assert_eq!(c.tokens, counter.count(&c.prompt));
                    assert!(c.placed.iter().any(|p| p.kind == PieceKind::Evidence));
                }
            }
        }
        // per-piece tokens come from the one encoding of the prompt
        let c = assemble("Who?", &pieces, 100_000, true, 3, &tok);
        let sum: usize = c.placed.iter().map(|p| p.tokens).sum();
        let rest = tok.count(&render("Who?", &[]));
        // the rest: instruction, question and the blank lines between pieces
        let gaps = c.placed.len();
        assert!(
            sum + rest + gaps >= c.tokens && sum + rest <= c.tokens,
            "{sum} + {rest} (+ {gaps}) vs {}",
            c.tokens
        );
        let (total, per) = (&tok as &dyn TokenCounter).count_spans(&c.prompt, &[]);
        assert_eq!((total, per.len()), (c.tokens, 0));
    }

    #[test]
    fn truncated_evidence_fills_the_budget_and_never_exceeds_it() {
        let tok = tokenizer();
        let big: String = (0..400)
            .map(|i| format!("Row {i}: customer {} bought ✓ {} units.\n", i % 31, i % 9))
            .collect();
        let pieces = vec![
            Piece {
                kind: PieceKind::Evidence,
                source: "table orders".into(),
                text: big.clone(),
            },
            Piece {
                kind: PieceKind::Distractor,
                source: "table other".into(),
                text: "Row 1: unrelated.".into(),
            },
        ];
        for budget in [200, 333, 1000, 2500] {
            let c = assemble("How many units?", &pieces, budget, true, 7, &tok);
            assert_eq!(c.tokens, tok.count(&c.prompt));
            assert!(c.tokens <= budget, "budget {budget}: {}", c.tokens);
            let ev = c
                .placed
                .iter()
                .find(|p| p.kind == PieceKind::Evidence)
                .unwrap_or_else(|| panic!("budget {budget}: no evidence in {c:?}"));
            assert!(ev.truncated);
            assert!(c.prompt.contains(TRUNCATION_MARKER));
            // the cut keeps the budget nearly full (the distractor may not fit)
            assert!(
                budget - c.tokens <= 12,
                "budget {budget}: {} used",
                c.tokens
            );
        }
    }
}
