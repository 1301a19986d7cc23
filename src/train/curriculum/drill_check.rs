//! Exact-match copying on held-out copy drills: does a model copy, in short
//! prompts and at the toy tasks' lengths? The `reproduce` curriculum checks
//! every stage with it (copying is what both toy tasks rest on, and a stage
//! can teach it or undo it); `acc-probe drills` checks any model.
//!
//! A drill counts when the response, stop tokens removed and trimmed, equals
//! the reference answer exactly. Prompts come from seed streams of their own,
//! disjoint from every training drill.
//!
//! Exact match stays at 0 until a model copies every token, so each kind also
//! gets the teacher-forced probability of its reference tokens by role
//! ([`RoleProbs`]): the first token of each copied string (a node name or
//! hash from the prompt: choosing what to copy; in a lookup, finding the
//! edge), its other tokens (continuing the copy), and the rest. It moves before exact match
//! does, and says which step fails.

use serde::{Deserialize, Serialize};

use super::drills::{copy_drill, long_copy_drill};
use crate::chat::Message;
use crate::error::{Error, Result};
use crate::model::generate::greedy;
use crate::model_dir::ChatModel;
use crate::tasks::graphwalks::with_edge_trace;
use crate::tasks::toy::{seed_for, LONG_DRILL_CHECK_STREAM, SHORT_DRILL_CHECK_STREAM};

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
    /// Teacher-forced probabilities of the reference tokens, by role.
    #[serde(default)]
    pub forced: RoleProbs,
}

/// Mean teacher-forced probability of reference answer tokens, by role
/// (`None`: no token of that role). A copied string is one of the prompt's
/// node names or hashes (runs of 10 letters and digits with a digit or
/// capital in them) where the answer first writes it; a later repeat
/// (the traced lookup's `Final Answer: [child]`) counts as rest. In a
/// traced lookup (`X -> child`) the copies are the question's node, from a
/// few tokens back, and the child, the lookup itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RoleProbs {
    /// The first token of each copied string: choosing what to copy.
    pub start: Option<f64>,
    /// The other tokens of copied strings: continuing a copy once started.
    pub inside: Option<f64>,
    /// Every other answer token (format, trace punctuation, repeats,
    /// recalled text).
    pub rest: Option<f64>,
    /// Tokens of each role: start, inside, rest.
    pub tokens: [usize; 3],
    /// The first token of the last string the answer copies: in a traced
    /// lookup (`X -> Y`, the question's node first) the child, i.e. the
    /// lookup itself, which `start` averages with the node's copy; in an
    /// untraced lookup the child too, in a list its last element, in a hash
    /// drill or an MRCR recall the hash.
    #[serde(default)]
    pub last_start: Option<f64>,
}

/// Role of an answer token (0 start, 1 inside, 2 rest) and the index of the
/// span it starts or continues.
fn token_role_in(offsets: (usize, usize), spans: &[(usize, usize)]) -> (usize, Option<usize>) {
    let (s, e) = offsets;
    for (i, &(a, b)) in spans.iter().enumerate() {
        if s <= a && a < e {
            return (0, Some(i));
        }
        if a < s && s < b {
            return (1, Some(i));
        }
    }
    (2, None)
}

/// Char spans of the copied strings in `answer`: the first place where it
/// contains each of the prompt's names, i.e. maximal runs of exactly 10 ASCII
/// letters and digits with a digit or capital in them (node names, hashes).
/// An MRCR answer's hash runs into the recalled text (`pCTTb8bqu9Here`),
/// so the answer is searched, not split into runs. Overlaps keep the first.
fn copied_spans(answer: &str, prompt: &str) -> Vec<(usize, usize)> {
    let mut names = std::collections::BTreeSet::new();
    let bytes = prompt.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_alphanumeric() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
            i += 1;
        }
        let run = &prompt[start..i];
        let marked = run
            .bytes()
            .any(|c| c.is_ascii_digit() || c.is_ascii_uppercase());
        if run.len() == 10 && marked {
            names.insert(run);
        }
    }
    // (char start, char end, name) of every place the answer has a name
    let mut found: Vec<(usize, usize, &str)> = names
        .iter()
        .flat_map(|name| answer.match_indices(name))
        .map(|(byte, name)| {
            let start = answer[..byte].chars().count();
            (start, start + name.len(), name)
        })
        .collect();
    found.sort_unstable();
    let mut kept: Vec<(usize, usize)> = Vec::with_capacity(found.len());
    let mut written = std::collections::BTreeSet::new();
    for (start, end, name) in found {
        // a name the answer already wrote is repeated from there, not
        // copied from the prompt
        if kept.last().is_none_or(|&(_, e)| start >= e) && written.insert(name) {
            kept.push((start, end));
        }
    }
    kept
}

/// Running sums of [`RoleProbs`].
#[derive(Default)]
struct RoleSums {
    sum: [f64; 3],
    n: [usize; 3],
    /// Sum and count of the last copy's first-token probabilities.
    last: (f64, usize),
}

impl RoleSums {
    fn finish(&self) -> RoleProbs {
        let mean = |sum: f64, n: usize| (n > 0).then(|| sum / n as f64);
        RoleProbs {
            start: mean(self.sum[0], self.n[0]),
            inside: mean(self.sum[1], self.n[1]),
            rest: mean(self.sum[2], self.n[2]),
            tokens: self.n,
            last_start: mean(self.last.0, self.last.1),
        }
    }
}

/// Adds the teacher-forced probabilities of the answer's tokens (`answer`,
/// with char offsets) after `prompt_ids`, by their role against the copied
/// strings' char `spans`.
fn add_forced(
    chat: &ChatModel<'_>,
    prompt_ids: &[u32],
    answer: &tokenizers::Encoding,
    spans: &[(usize, usize)],
    sums: &mut RoleSums,
) -> Result<()> {
    let answer_ids = answer.get_ids();
    if answer_ids.is_empty() || prompt_ids.is_empty() {
        return Ok(());
    }
    let ids: Vec<u32> = prompt_ids.iter().chain(answer_ids).copied().collect();
    let logits = chat.model.logits(&ids)?;
    // rows predicting the answer tokens: positions P-1 .. T-2
    let rows = logits
        .narrow(0, prompt_ids.len() - 1, answer_ids.len())?
        .to_dtype(candle_core::DType::F32)?;
    let logp = candle_nn::ops::log_softmax(&rows, candle_core::D::Minus1)?.to_vec2::<f32>()?;
    for ((row, &id), &off) in logp.iter().zip(answer_ids).zip(answer.get_offsets()) {
        let (r, span) = token_role_in(off, spans);
        let prob = (row[id as usize] as f64).exp();
        sums.sum[r] += prob;
        sums.n[r] += 1;
        if r == 0 && span == Some(spans.len() - 1) {
            sums.last.0 += prob;
            sums.last.1 += 1;
        }
    }
    Ok(())
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

    /// The long lookups' teacher-forced `p(start) / p(in)`, then the
    /// child's first token (`0.59 / 0.61, child 0.20`), or `-` where there
    /// are none.
    pub fn long_lookup_probs(&self) -> String {
        let f = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.2}"));
        match self.long.iter().find(|k| k.kind == "lookup") {
            Some(k) => format!(
                "{} / {}, child {}",
                f(k.forced.start),
                f(k.forced.inside),
                f(k.forced.last_start)
            ),
            None => "-".into(),
        }
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
            forced: RoleProbs::default(),
        })
        .collect();
    let mut sums: Vec<RoleSums> = kinds.iter().map(|_| RoleSums::default()).collect();
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
        // char offsets: the roles of the teacher-forced tokens are char spans
        let answer_enc = chat
            .tokenizer
            .encode_char_offsets(answer.content.as_str(), false)
            .map_err(tok_err)?;
        let answer_tokens = answer_enc.len();
        let slot = kinds.iter().position(|&k| k == kind).expect("known kind");
        let s = &mut scores[slot];
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
        let prompt_text = prompt
            .iter()
            .map(|m| m.content.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        let spans = copied_spans(&answer.content, &prompt_text);
        add_forced(chat, &ids, &answer_enc, &spans, &mut sums[slot])?;
    }
    for (s, sums) in scores.iter_mut().zip(&sums) {
        s.prompt_tokens /= s.n.max(1) as f64;
        s.forced = sums.finish();
    }
    Ok(scores)
}

/// Decodes `per_kind` held-out short drills of each kind from the seed
/// stream `stream` (a criterion's own, disjoint from the drill check's),
/// with edge traces as in [`check`].
pub fn check_short(
    chat: &ChatModel<'_>,
    per_kind: usize,
    seed: u64,
    stream: u64,
    edge_trace: bool,
) -> Result<Vec<KindScore>> {
    let set = drills(per_kind, seed, stream, &SHORT, short_kind, copy_drill);
    score(chat, traced_if(set, edge_trace), &SHORT)
}

/// The short drill kinds.
const SHORT: [&str; 3] = ["list", "hash", "one-hop"];

/// The drills of `set` with their lookups' edge traces where `edge_trace`.
fn traced_if(
    set: Vec<(&'static str, Vec<Message>)>,
    edge_trace: bool,
) -> Vec<(&'static str, Vec<Message>)> {
    match edge_trace {
        true => set
            .into_iter()
            .map(|(k, d)| (k, with_edge_trace(d)))
            .collect(),
        false => set,
    }
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
    const LONG: [&str; 2] = ["lookup", "recall"];
    let short = check_short(chat, per_kind, seed, SHORT_DRILL_CHECK_STREAM, edge_trace)?;
    let long = drills(
        per_kind,
        seed,
        LONG_DRILL_CHECK_STREAM,
        &LONG,
        long_kind,
        long_copy_drill,
    );
    Ok(DrillCheck {
        short,
        long: score(chat, traced_if(long, edge_trace), &LONG)?,
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
            forced: RoleProbs::default(),
        };
        let c = DrillCheck {
            short: vec![k("list", 1, 2), k("hash", 2, 2)],
            long: vec![k("lookup", 0, 2)],
        };
        assert_eq!(
            c.summary(),
            "short 3/4 (list 1/2, hash 2/2), long 0/2 (lookup 0/2)"
        );
        assert_eq!(c.long_lookup_probs(), "- / -, child -");
        let mut c = c;
        c.long[0].forced.start = Some(0.591);
        c.long[0].forced.inside = Some(0.6149);
        c.long[0].forced.last_start = Some(0.2);
        assert_eq!(c.long_lookup_probs(), "0.59 / 0.61, child 0.20");
        c.long.clear();
        assert_eq!(c.long_lookup_probs(), "-");
    }

    #[test]
    fn copied_strings_are_prompt_names_and_hashes() {
        let prompt = "edges:\n64a231a378 -> c51848ef85\nPrepend tzDmHrnA2h to the 1st poem";
        let answer = "<think>\n64a231a378 -> c51848ef85\n</think>\n\nFinal Answer: [c51848ef85]";
        let spans = copied_spans(answer, prompt);
        let text: Vec<&str> = spans.iter().map(|&(a, b)| &answer[a..b]).collect();
        // the child's repeat in the final answer is not a copy
        assert_eq!(text, ["64a231a378", "c51848ef85"]);
        // a hash run into the text after it; a 10-letter word and a run
        // the prompt lacks are not copies
        let answer = "tzDmHrnA2hHere whispering 0123456789";
        assert_eq!(copied_spans(answer, prompt), [(0, 10)]);
        let prompt = format!("{prompt} whispering");
        assert_eq!(copied_spans(answer, &prompt), [(0, 10)]);
        // char offsets after a multi-byte char
        assert_eq!(copied_spans("é tzDmHrnA2h", &prompt), [(2, 12)]);
    }

    #[test]
    fn token_roles_split_each_copy_into_its_start_and_the_rest() {
        // "ab 64a231a378]": tokens "ab", " ", "64", "a23", "1a378", "]"
        let spans = [(3, 13)];
        let roles: Vec<usize> = [(0, 2), (2, 3), (3, 5), (5, 8), (8, 13), (13, 14)]
            .iter()
            .map(|&o| token_role_in(o, &spans).0)
            .collect();
        assert_eq!(roles, [2, 2, 0, 1, 1, 2]);
        // a token that begins before the copy and runs into it starts it
        assert_eq!(token_role_in((2, 5), &spans), (0, Some(0)));
        // the span each token belongs to: a traced lookup's node, then child
        let spans = [(0, 10), (14, 24)];
        assert_eq!(token_role_in((0, 3), &spans), (0, Some(0)));
        assert_eq!(token_role_in((10, 13), &spans), (2, None));
        assert_eq!(token_role_in((14, 17), &spans), (0, Some(1)));
        assert_eq!(token_role_in((17, 24), &spans), (1, Some(1)));
        let sums = RoleSums {
            sum: [0.5, 1.5, 0.0],
            n: [1, 2, 0],
            last: (0.25, 1),
        };
        let p = sums.finish();
        assert_eq!((p.start, p.inside, p.rest), (Some(0.5), Some(0.75), None));
        assert_eq!(p.tokens, [1, 2, 0]);
        assert_eq!(p.last_start, Some(0.25));
        // drill checks written before the field still read
        let old: RoleProbs =
            serde_json::from_str(r#"{"start":0.5,"inside":null,"rest":1.0,"tokens":[1,0,2]}"#)
                .unwrap();
        assert_eq!(old.last_start, None);
    }
}
