//! Exact-match copying on held-out copy drills: does a model copy, in short
//! prompts and at the toy tasks' lengths? The `reproduce` curriculum checks
//! every stage with it (copying is what both toy tasks rest on, and a stage
//! can teach it or undo it); `acc-probe drills` checks any model.
//!
//! A drill counts when the response, stop tokens removed and trimmed, equals
//! the reference answer exactly. Prompts come from seed streams of their own,
//! disjoint from every training drill.

use serde::{Deserialize, Serialize};

use super::drills::{copy_drill, long_copy_drill};
use super::eval::ChatModel;
use super::graphwalks::with_edge_trace;
use super::toy::{seed_for, LONG_DRILL_CHECK_STREAM, SHORT_DRILL_CHECK_STREAM};
use crate::chat::Message;
use crate::error::{Error, Result};
use crate::model::generate::greedy;

/// Exact matches of one kind of drill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KindScore {
    /// `list`, `hash`, `one-hop` (short); `lookup`, `recall` (long).
    pub kind: String,
    /// Drills decoded, and of them exact.
    pub n: usize,
    pub exact: usize,
    /// Drills left out because prompt and answer exceed the model's
    /// `max_position_embeddings`.
    #[serde(default)]
    pub too_long: usize,
    /// The first drill's reference answer and response, for a look.
    pub example: (String, String),
    /// Mean prompt length in tokens.
    pub prompt_tokens: f64,
}

/// The short and the long drills' scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrillCheck {
    pub short: Vec<KindScore>,
    pub long: Vec<KindScore>,
}

impl DrillCheck {
    /// (exact, n) over the short or the long drills.
    pub fn total(scores: &[KindScore]) -> (usize, usize) {
        scores
            .iter()
            .fold((0, 0), |(e, n), k| (e + k.exact, n + k.n))
    }

    /// One line: `short 10/12 (list 2/4, hash 4/4, one-hop 4/4), long 0/8 (…)`.
    pub fn summary(&self) -> String {
        let part = |name: &str, s: &[KindScore]| {
            let (e, n) = Self::total(s);
            let kinds: Vec<String> = s
                .iter()
                .map(|k| match k.too_long {
                    0 => format!("{} {}/{}", k.kind, k.exact, k.n),
                    t => format!("{} {}/{}, {t} too long", k.kind, k.exact, k.n),
                })
                .collect();
            format!("{name} {e}/{n} ({})", kinds.join(", "))
        };
        format!(
            "{}, {}",
            part("short", &self.short),
            part("long", &self.long)
        )
    }
}

fn short_kind(seed: u64) -> &'static str {
    ["list", "hash", "one-hop"][(seed % 3) as usize]
}

fn long_kind(seed: u64) -> &'static str {
    ["lookup", "recall"][(seed % 2) as usize]
}

/// `per_kind` drills of each kind, from the stream's first seeds of that kind.
fn drills(
    per_kind: usize,
    seed: u64,
    stream: u64,
    kinds: &[&'static str],
    kind_of: fn(u64) -> &'static str,
    make: fn(u64) -> Vec<Message>,
) -> Vec<(&'static str, Vec<Message>)> {
    let mut left: Vec<usize> = vec![per_kind; kinds.len()];
    let mut out = Vec::new();
    let mut i = 0;
    while left.iter().any(|&l| l > 0) {
        let s = seed_for(seed, stream, i);
        i += 1;
        let k = kind_of(s);
        let slot = kinds.iter().position(|&x| x == k).expect("known kind");
        if left[slot] > 0 {
            left[slot] -= 1;
            out.push((k, make(s)));
        }
    }
    out
}

fn score(
    chat: &ChatModel<'_>,
    set: Vec<(&'static str, Vec<Message>)>,
    kinds: &[&'static str],
) -> Result<Vec<KindScore>> {
    let tok_err = |e: tokenizers::Error| Error::Input(format!("tokenizer: {e}"));
    let mut scores: Vec<KindScore> = kinds
        .iter()
        .map(|k| KindScore {
            kind: k.to_string(),
            n: 0,
            exact: 0,
            too_long: 0,
            example: (String::new(), String::new()),
            prompt_tokens: 0.0,
        })
        .collect();
    let limit = chat.model.config.max_position_embeddings;
    for (kind, drill) in set {
        let (answer, prompt) = drill.split_last().expect("a drill ends with its answer");
        let text = chat.template.render(prompt, true)?;
        let ids = chat
            .tokenizer
            .encode(text.as_str(), false)
            .map_err(tok_err)?
            .get_ids()
            .to_vec();
        let answer_tokens = chat
            .tokenizer
            .encode(answer.content.as_str(), false)
            .map_err(tok_err)?
            .len();
        let s = scores
            .iter_mut()
            .find(|s| s.kind == kind)
            .expect("known kind");
        let max_new = answer_tokens + 4;
        if ids.len() + max_new > limit {
            s.too_long += 1;
            continue;
        }
        chat.model.check_input(&ids)?;
        let new = greedy(chat.model, &ids, max_new, chat.stop)?;
        let new: Vec<u32> = new.into_iter().filter(|t| !chat.stop.contains(t)).collect();
        let response = chat.tokenizer.decode(&new, false).map_err(tok_err)?;
        if s.n == 0 {
            s.example = (answer.content.clone(), response.clone());
        }
        s.n += 1;
        s.prompt_tokens += ids.len() as f64;
        if response.trim() == answer.content.trim() {
            s.exact += 1;
        }
    }
    for s in &mut scores {
        s.prompt_tokens /= s.n.max(1) as f64;
    }
    Ok(scores)
}

/// Decodes `per_kind` held-out drills of each kind, short and long. With
/// `edge_trace` the lookups' references carry their edge trace
/// (`graphwalks::with_edge_trace`), as the drills of a run trained with it do.
pub fn check(
    chat: &ChatModel<'_>,
    per_kind: usize,
    seed: u64,
    edge_trace: bool,
) -> Result<DrillCheck> {
    const SHORT: [&str; 3] = ["list", "hash", "one-hop"];
    const LONG: [&str; 2] = ["lookup", "recall"];
    let short = drills(
        per_kind,
        seed,
        SHORT_DRILL_CHECK_STREAM,
        &SHORT,
        short_kind,
        copy_drill,
    );
    let long = drills(
        per_kind,
        seed,
        LONG_DRILL_CHECK_STREAM,
        &LONG,
        long_kind,
        long_copy_drill,
    );
    let (short, long) = if edge_trace {
        let traced = |set: Vec<(&'static str, Vec<Message>)>| {
            set.into_iter()
                .map(|(k, d)| (k, with_edge_trace(d)))
                .collect()
        };
        (traced(short), traced(long))
    } else {
        (short, long)
    };
    Ok(DrillCheck {
        short: score(chat, short, &SHORT)?,
        long: score(chat, long, &LONG)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_match_the_drills_they_name() {
        let set = drills(
            3,
            0,
            SHORT_DRILL_CHECK_STREAM,
            &["list", "hash", "one-hop"],
            short_kind,
            copy_drill,
        );
        assert_eq!(set.len(), 9);
        for (k, d) in &set {
            let q = &d[0].content;
            match *k {
                "list" => assert!(q.starts_with("Repeat these nodes")),
                "hash" => assert!(q.starts_with("Prepend ")),
                _ => assert!(q.contains(" -> ")),
            }
        }
        let long = drills(
            2,
            0,
            LONG_DRILL_CHECK_STREAM,
            &["lookup", "recall"],
            long_kind,
            long_copy_drill,
        );
        assert_eq!(long.len(), 4);
        for (k, d) in &long {
            assert_eq!(*k == "lookup", d[0].content.contains(" -> "), "{k}");
        }
    }

    #[test]
    fn summary_counts_add_up() {
        let k = |kind: &str, exact, n| KindScore {
            kind: kind.into(),
            n,
            exact,
            too_long: 0,
            example: (String::new(), String::new()),
            prompt_tokens: 0.0,
        };
        let c = DrillCheck {
            short: vec![k("list", 1, 2), k("hash", 2, 2)],
            long: vec![k("lookup", 0, 2)],
        };
        assert_eq!(
            c.summary(),
            "short 3/4 (list 1/2, hash 2/2), long 0/2 (lookup 0/2)"
        );
    }
}
