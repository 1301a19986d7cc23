//! Training data: JSONL rows → token ids with a per-token loss mask chosen by
//! the objective → packed sequences.
//!
//! Accepted rows (one JSON object per line):
//! - `{"text": …}`: plain text (LM pretraining), followed by `<|endoftext|>`;
//! - `{"messages": [{role, content}, …]}` (OpenAI / agent SFT; `tool` messages
//!   are tool results), `{"dialogs": …}` (the ACC writer),
//!   `{"conversations": [{from, value}, …]}` (LLaMA-Factory / ShareGPT),
//!   `{"prompt": [...], "completion": [...]}` (TRL);
//! - `{"input_ids": […], "labels": […]}` (the tokens writer; −100 = no loss).
//!
//! Which tokens carry loss (token i is a target: the model predicts it from 0..i):
//! - `lm`: every token;
//! - `agent-sft`: the content and closing `<|im_end|>` of every assistant
//!   turn (user turns and tool results masked: standard agent SFT);
//! - `acc`: the last assistant turn only (reasoning + answer, L_ACC).
//!
//! A bad row is reported (file, line, reason) and skipped; the counts reconcile.

use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::chat::{ChatTemplate, Message};
use crate::error::{Error, Result};

/// The training objective: which tokens carry loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Objective {
    Lm,
    AgentSft,
    Acc,
}

impl Objective {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "lm" => Ok(Objective::Lm),
            "agent-sft" => Ok(Objective::AgentSft),
            "acc" => Ok(Objective::Acc),
            _ => Err(Error::Input(format!(
                "unknown objective `{s}` (expected lm, agent-sft or acc)"
            ))),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Objective::Lm => "lm",
            Objective::AgentSft => "agent-sft",
            Objective::Acc => "acc",
        }
    }
}

/// One tokenised example: ids and, per token, whether it is a loss target.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub ids: Vec<u32>,
    pub target: Vec<bool>,
    /// 1-based line of the source file.
    pub line: usize,
}

impl Example {
    pub fn targets(&self) -> usize {
        self.target.iter().skip(1).filter(|&&t| t).count()
    }
}

/// A row that was not used, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub line: usize,
    pub reason: String,
}

/// What loading a data file produced.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub path: PathBuf,
    pub examples: Vec<Example>,
    pub skipped: Vec<Skipped>,
    /// Non-empty lines read.
    pub rows: usize,
}

/// Tokenises `text` with offsets; `spans` are the byte ranges whose tokens are targets.
fn encode_spans(
    tok: &tokenizers::Tokenizer,
    text: &str,
    spans: &[(usize, usize)],
    all: bool,
) -> Result<(Vec<u32>, Vec<bool>)> {
    let enc = tok
        .encode(text, false)
        .map_err(|e| Error::Input(format!("tokenizer: {e}")))?;
    let ids = enc.get_ids().to_vec();
    let target = enc
        .get_offsets()
        .iter()
        .map(|&(a, _)| all || spans.iter().any(|&(s, e)| a >= s && a < e))
        .collect();
    Ok((ids, target))
}

/// Messages of a chat row, whichever layout it uses.
fn row_messages(v: &Value) -> Option<std::result::Result<Vec<Message>, String>> {
    let list = |key: &str, role: &str, content: &str| -> Option<_> {
        let items = v.get(key)?.as_array()?;
        Some(
            items
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    let r = m
                        .get(role)
                        .and_then(Value::as_str)
                        .ok_or(format!("{key}[{i}] has no string `{role}`"))?;
                    let c = match m.get(content) {
                        Some(Value::String(s)) => s.clone(),
                        Some(Value::Null) | None => String::new(),
                        Some(other) => crate::compile::trajectory::content_text(other),
                    };
                    let r = match r {
                        "human" => "user",
                        "gpt" => "assistant",
                        "observation" | "function" | "function_call_output" => "tool",
                        r => r,
                    };
                    Ok(Message {
                        role: r.to_string(),
                        content: c,
                    })
                })
                .collect::<std::result::Result<Vec<_>, String>>(),
        )
    };
    if let Some(m) = list("messages", "role", "content") {
        return Some(m);
    }
    if let Some(m) = list("dialogs", "role", "content") {
        return Some(m);
    }
    if let Some(m) = list("conversations", "from", "value") {
        return Some(m);
    }
    if let (Some(p), Some(c)) = (
        list("prompt", "role", "content"),
        list("completion", "role", "content"),
    ) {
        return Some(p.and_then(|mut p| {
            p.extend(c?);
            Ok(p)
        }));
    }
    None
}

/// Byte spans of the assistant turns' trainable parts in the full rendering:
/// from the end of the generation prompt to the end of the turn.
fn assistant_spans(
    template: &ChatTemplate,
    msgs: &[Message],
    full: &str,
) -> std::result::Result<Vec<(usize, usize)>, String> {
    let mut spans = Vec::new();
    for (i, m) in msgs.iter().enumerate() {
        if m.role != "assistant" {
            continue;
        }
        let start = template
            .render(&msgs[..i], true)
            .map_err(|e| e.to_string())?;
        let end = template
            .render(&msgs[..=i], false)
            .map_err(|e| e.to_string())?;
        if !end.starts_with(&start) || !full.starts_with(&end) {
            return Err(format!(
                "the chat template does not render turn {i} as a prefix of the conversation"
            ));
        }
        spans.push((start.len(), end.len()));
    }
    Ok(spans)
}

/// Tokenises one parsed row for `objective`.
pub fn tokenize_row(
    v: &Value,
    objective: Objective,
    tok: &tokenizers::Tokenizer,
    template: &ChatTemplate,
) -> std::result::Result<(Vec<u32>, Vec<bool>), String> {
    if let (Some(ids), Some(labels)) = (v.get("input_ids"), v.get("labels")) {
        let ids: Vec<u32> =
            serde_json::from_value(ids.clone()).map_err(|e| format!("input_ids: {e}"))?;
        let labels: Vec<i64> =
            serde_json::from_value(labels.clone()).map_err(|e| format!("labels: {e}"))?;
        if ids.len() != labels.len() {
            return Err(format!(
                "input_ids has {} ids but labels has {}",
                ids.len(),
                labels.len()
            ));
        }
        let target = labels.iter().map(|&l| l != -100).collect();
        return Ok((ids, target));
    }
    if let Some(text) = v.get("text") {
        let text = text.as_str().ok_or("`text` is not a string")?;
        let full = format!("{text}<|endoftext|>");
        return encode_spans(tok, &full, &[], true).map_err(|e| e.to_string());
    }
    let msgs = row_messages(v)
        .ok_or("no `text`, `messages`, `dialogs`, `conversations`, `prompt`/`completion` or `input_ids`/`labels`")??;
    if msgs.is_empty() {
        return Err("the conversation is empty".into());
    }
    let full = template.render(&msgs, false).map_err(|e| e.to_string())?;
    if objective == Objective::Lm {
        return encode_spans(tok, &full, &[], true).map_err(|e| e.to_string());
    }
    let mut spans = assistant_spans(template, &msgs, &full)?;
    if spans.is_empty() {
        return Err("no assistant turn to train on".into());
    }
    if objective == Objective::Acc {
        spans.drain(..spans.len() - 1);
    }
    encode_spans(tok, &full, &spans, false).map_err(|e| e.to_string())
}

/// Reads and tokenises a JSONL file. Rows longer than `max_len` are split
/// into windows for `lm` (every token is a target) and skipped otherwise.
pub fn load(
    path: &Path,
    objective: Objective,
    tok: &tokenizers::Tokenizer,
    template: &ChatTemplate,
    max_len: usize,
) -> Result<Dataset> {
    let bytes = crate::io::read_bounded(path, crate::io::MAX_DATA_BYTES)?;
    // a line that is not UTF-8 is one skipped row, not a refused file
    let lines: Vec<(usize, std::result::Result<&str, String>)> = crate::io::utf8_lines(&bytes)
        .into_iter()
        .filter(|(_, l)| l.as_ref().map_or(true, |l| !l.trim().is_empty()))
        .collect();
    if lines.is_empty() {
        return Err(Error::Input(format!(
            "{}: no training rows (the file is empty)",
            path.display()
        )));
    }
    use rayon::prelude::*;
    let results: Vec<(usize, std::result::Result<Vec<Example>, String>)> = lines
        .par_iter()
        .map(|(line, l)| {
            let line = *line;
            let r = l
                .clone()
                .and_then(|l| {
                    serde_json::from_str::<Value>(l).map_err(|e| format!("invalid JSON: {e}"))
                })
                .and_then(|v| tokenize_row(&v, objective, tok, template))
                .and_then(|(ids, target)| split(ids, target, line, objective, max_len));
            (line, r)
        })
        .collect();
    let mut ds = Dataset {
        path: path.to_path_buf(),
        examples: Vec::new(),
        skipped: Vec::new(),
        rows: lines.len(),
    };
    for (line, r) in results {
        match r {
            Ok(ex) => ds.examples.extend(ex),
            Err(reason) => {
                tracing::warn!("{}:{line}: skipped: {reason}", path.display());
                ds.skipped.push(Skipped { line, reason });
            }
        }
    }
    if ds.examples.is_empty() {
        let first = ds
            .skipped
            .first()
            .map(|s| format!(" (line {}: {})", s.line, s.reason))
            .unwrap_or_default();
        return Err(Error::Input(format!(
            "{}: none of its {} rows is usable for objective {}{first}",
            path.display(),
            ds.rows,
            objective.name()
        )));
    }
    Ok(ds)
}

fn split(
    ids: Vec<u32>,
    target: Vec<bool>,
    line: usize,
    objective: Objective,
    max_len: usize,
) -> std::result::Result<Vec<Example>, String> {
    if ids.len() < 2 {
        return Err(format!("{} token(s): nothing to predict", ids.len()));
    }
    if target.iter().skip(1).all(|t| !t) {
        return Err("no token carries loss".into());
    }
    if ids.len() <= max_len {
        return Ok(vec![Example { ids, target, line }]);
    }
    if objective != Objective::Lm {
        return Err(format!(
            "{} tokens, longer than the sequence length {max_len}",
            ids.len()
        ));
    }
    Ok(ids
        .chunks(max_len)
        .zip(target.chunks(max_len))
        .filter(|(c, _)| c.len() >= 2)
        .map(|(c, t)| Example {
            ids: c.to_vec(),
            target: t.to_vec(),
            line,
        })
        .collect())
}

/// Several examples laid back to back in one sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct Pack {
    pub ids: Vec<u32>,
    pub target: Vec<bool>,
    /// Lengths of the examples in order (attention and positions restart at each).
    pub segments: Vec<usize>,
}

impl Pack {
    /// Targets the loss counts: token i with i > 0 within its segment.
    pub fn loss_tokens(&self) -> usize {
        let mut n = 0;
        let mut start = 0;
        for &len in &self.segments {
            n += self.target[start + 1..start + len]
                .iter()
                .filter(|&&t| t)
                .count();
            start += len;
        }
        n
    }
}

/// Packs examples into sequences of at most `capacity` tokens: first-fit
/// over examples by decreasing length (ties: file order), deterministic.
pub fn pack(examples: &[Example], capacity: usize) -> Vec<Pack> {
    let mut order: Vec<usize> = (0..examples.len()).collect();
    order.sort_by(|&a, &b| {
        examples[b]
            .ids
            .len()
            .cmp(&examples[a].ids.len())
            .then(a.cmp(&b))
    });
    let mut packs: Vec<Pack> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    for i in order {
        let e = &examples[i];
        let n = e.ids.len();
        let slot = free.iter().position(|&f| f >= n);
        let p = match slot {
            Some(p) => p,
            None => {
                packs.push(Pack {
                    ids: Vec::new(),
                    target: Vec::new(),
                    segments: Vec::new(),
                });
                free.push(capacity);
                packs.len() - 1
            }
        };
        packs[p].ids.extend_from_slice(&e.ids);
        packs[p].target.extend_from_slice(&e.target);
        packs[p].segments.push(n);
        free[p] -= n;
    }
    packs
}

/// The packs of optimizer step `step` (0-based): `batch` packs taken from
/// per-epoch permutations seeded by (seed, epoch), so the order depends only
/// on the seed and the step (a resumed run sees the same batches).
pub fn batch_indices(n_packs: usize, batch: usize, seed: u64, step: usize) -> Vec<usize> {
    let mut out = Vec::with_capacity(batch);
    let mut k = step * batch;
    let mut epoch = usize::MAX;
    let mut perm: Vec<usize> = Vec::new();
    while out.len() < batch {
        let e = k / n_packs;
        if e != epoch {
            epoch = e;
            perm = (0..n_packs).collect();
            let mut rng =
                StdRng::seed_from_u64(seed ^ (e as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            perm.shuffle(&mut rng);
        }
        out.push(perm[k % n_packs]);
        k += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(n: usize, line: usize) -> Example {
        Example {
            ids: vec![1; n],
            target: vec![true; n],
            line,
        }
    }

    #[test]
    fn packing_keeps_every_example_within_capacity() {
        let exs: Vec<Example> = [5, 3, 8, 2, 7, 1]
            .iter()
            .enumerate()
            .map(|(i, &n)| ex(n, i))
            .collect();
        let packs = pack(&exs, 10);
        let total: usize = packs.iter().map(|p| p.ids.len()).sum();
        assert_eq!(total, 26);
        assert!(packs.iter().all(|p| p.ids.len() <= 10));
        let mut segs: Vec<usize> = packs.iter().flat_map(|p| p.segments.clone()).collect();
        segs.sort();
        assert_eq!(segs, vec![1, 2, 3, 5, 7, 8]);
        assert_eq!(packs.len(), 3);
        // each segment's first token is no target
        assert_eq!(packs.iter().map(|p| p.loss_tokens()).sum::<usize>(), 26 - 6);
    }

    #[test]
    fn batches_cover_each_epoch_once_and_depend_only_on_the_step() {
        let n = 7;
        let all: Vec<usize> = (0..7).flat_map(|s| batch_indices(n, 2, 9, s)).collect();
        let mut first: Vec<usize> = all[..7].to_vec();
        first.sort();
        assert_eq!(first, (0..7).collect::<Vec<_>>());
        assert_eq!(batch_indices(n, 2, 9, 5), all[10..12].to_vec());
        assert_ne!(batch_indices(n, 2, 10, 0), batch_indices(n, 2, 9, 0));
    }
}
