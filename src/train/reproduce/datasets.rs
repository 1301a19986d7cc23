//! The training sets of a reproduction, written as JSONL into `data/`: the
//! LM corpus, the copy stages' drills, agent SFT and ACC (each SFT set with
//! its rehearsal of copy drills), and how drills of two kinds are mixed.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};
use tokenizers::Tokenizer;

use super::corpus::{with_answer, Corpus};
use super::preset::Preset;
use crate::chat::{ChatTemplate, Message};
use crate::compile::pipeline::{compile_one, Budget, CompileOptions};
use crate::compile::writers::{row as acc_row, Writer};
use crate::error::Result;
use crate::io::write_atomic;
use crate::tasks::graphwalks;
use crate::tasks::toy::{
    self, seed_for, COPY_DRILL_STREAM, GRAPH_COPY_DRILL_STREAM, GRAPH_DRILL_STREAM,
    LONG_COPY_DRILL_STREAM, LONG_GRAPH_DRILL_STREAM, RECALL_DRILL_STREAM, TRAIN_STREAM,
};
use crate::train::curriculum::drills;

/// What the training sets are made from.
pub(super) struct Sources<'a> {
    pub p: &'a Preset,
    pub seed: u64,
    pub corpus: &'a Corpus,
    pub tok: &'a Tokenizer,
    /// The environments' databases (the SQL answers' evidence).
    pub databases: &'a Path,
}

/// Compiles the training sets into `dir`, counting their rows in `counts`.
pub(super) fn write(s: &Sources, dir: &Path, counts: &mut BTreeMap<String, usize>) -> Result<()> {
    let p = s.p;
    let template = ChatTemplate::chatml_tools();
    let render = |d: &[Message]| template.render(d, false);
    // the LM corpus: the conversations, toy problems, graph and recall drills
    let mut lm: Vec<Value> = (s.corpus.conversations.iter())
        .map(|(c, _)| json!({"text": c}))
        .collect();
    for d in toy_problems(s)?.iter().chain(&short_drills(p, s.seed)) {
        lm.push(json!({"text": render(d)?}));
    }
    // the copy drills, which the LM corpus rehearses; the long ones only
    // where base sees long rows
    let (copy, long) = copy_drills(p, s.seed);
    for d in &copy {
        lm.push(json!({"text": render(d)?}));
    }
    if p.long_rows_in_base() {
        for d in &long {
            lm.push(json!({"text": render(d)?}));
        }
    }
    let messages = |d: &Vec<Vec<Message>>| -> Vec<Value> {
        d.iter().map(|d| json!({ "messages": d })).collect()
    };
    let (copy_rows, mut long_copy_rows) = (messages(&copy), messages(&long));
    counts.insert("copy_rows".into(), copy_rows.len());
    if p.copy_steps > 0 {
        write_jsonl(&dir.join("copy.jsonl"), &copy_rows)?;
    }
    counts.insert("long_copy_rows".into(), long_copy_rows.len());
    let (agent_rehearsal, acc_rehearsal) = rehearsals(p, &copy_rows, &long_copy_rows);
    counts.insert("sft_rehearsal_rows".into(), agent_rehearsal.len());
    counts.insert("acc_rehearsal_rows".into(), acc_rehearsal.len());
    if p.copy_steps > 0 && p.long_copy_steps > 0 {
        // the short drills stay in: the long stage extends the copying
        // rather than relearning it
        long_copy_rows.extend(copy_rows.iter().cloned());
        write_jsonl(&dir.join("long_copy.jsonl"), &long_copy_rows)?;
    }
    counts.insert("lm_rows".into(), lm.len());
    write_jsonl(&dir.join("lm.jsonl"), &lm)?;
    counts.insert("agent_sft_rows".into(), s.corpus.sft_rows.len());
    let mut agent_rows = s.corpus.sft_rows.clone();
    agent_rows.extend(agent_rehearsal);
    write_jsonl(&dir.join("agent_sft.jsonl"), &agent_rows)?;
    let mut acc_rows = compiled(s, counts)?;
    acc_rows.extend(acc_rehearsal);
    write_jsonl(&dir.join("acc.jsonl"), &acc_rows)
}

fn write_jsonl(path: &Path, rows: &[Value]) -> Result<()> {
    let mut text = String::new();
    for r in rows {
        text.push_str(&r.to_string());
        text.push('\n');
    }
    write_atomic(path, text.as_bytes())
}

/// Graph answers with their edge trace where the preset asks for it.
fn traced(p: &Preset, d: Vec<Message>) -> Vec<Message> {
    match p.edge_trace {
        true => graphwalks::with_edge_trace(d),
        false => d,
    }
}

/// The LM corpus's toy problems with their answers: `lm_task_problems` of
/// each task (by default all with long rows in base, none without).
fn toy_problems(s: &Sources) -> Result<Vec<Vec<Message>>> {
    let p = s.p;
    let lm_tasks = match (p.lm_task_problems, p.long_rows_in_base()) {
        (Some(n), _) => n,
        (None, true) => p.task_problems,
        (None, false) => 0,
    };
    // only the problems the corpus takes are generated (row i is the same
    // whatever the count)
    let n_tasks = lm_tasks.min(p.task_problems);
    let (m, g) = toy::rows(n_tasks, p.task_tokens, s.seed, TRAIN_STREAM, s.tok)?;
    m.iter()
        .chain(&g)
        .map(|r| Ok(traced(p, with_answer(r)?)))
        .collect()
}

/// The LM corpus's short graph and recall drills, in turn.
fn short_drills(p: &Preset, seed: u64) -> Vec<Vec<Message>> {
    (0..p.drills)
        .flat_map(|i| {
            [
                traced(
                    p,
                    drills::graph_drill(seed_for(seed, GRAPH_DRILL_STREAM, i)),
                ),
                drills::recall_drill(seed_for(seed, RECALL_DRILL_STREAM, i)),
            ]
        })
        .collect()
}

/// The short copy drills (graph drills spread among them) and the long ones
/// (long graph drills spread among them).
fn copy_drills(p: &Preset, seed: u64) -> (Vec<Vec<Message>>, Vec<Vec<Message>>) {
    // drills of two kinds, (count, seed stream, maker) each, the second
    // spread among the first
    type Kind = (usize, u64, fn(u64) -> Vec<Message>);
    let mixed = |a: Kind, b: Kind| {
        let of = |(n, stream, make): Kind| -> Vec<Vec<Message>> {
            (0..n)
                .map(|i| traced(p, make(seed_for(seed, stream, i))))
                .collect()
        };
        spread(of(a), of(b))
    };
    let short = mixed(
        (p.copy_drills, COPY_DRILL_STREAM, drills::copy_drill),
        (
            p.graph_copy_drills,
            GRAPH_COPY_DRILL_STREAM,
            drills::graph_drill,
        ),
    );
    let long = mixed(
        (
            p.long_copy_drills,
            LONG_COPY_DRILL_STREAM,
            drills::ramp_copy_drill,
        ),
        (
            p.long_graph_drills,
            LONG_GRAPH_DRILL_STREAM,
            drills::long_graph_drill,
        ),
    );
    (short, long)
}

/// The rehearsals of agent SFT and ACC SFT: short and long drills in turn;
/// with `long_practice` acc, agent SFT rehearses as many short ones instead,
/// and with `acc_long_rehearsal` ACC SFT the same short ones with that many
/// long ones spread among them.
fn rehearsals(p: &Preset, short: &[Value], long: &[Value]) -> (Vec<Value>, Vec<Value>) {
    let mixed = || rehearsal_rows(short, long, p.sft_rehearsal);
    let short_only = || rehearsal_rows(short, &[], p.sft_rehearsal);
    match (p.long_rows_in_base(), p.acc_long_rehearsal) {
        (true, _) => (mixed(), mixed()),
        (false, None) => (short_only(), mixed()),
        (false, Some(n_long)) => {
            let long = rehearsal_rows(&[], long, n_long);
            (short_only(), spread(short_only(), long))
        }
    }
}

/// The ACC samples compiled from the corpus's trajectories (question +
/// shuffled evidence with distractors → reasoning + answer); the rejected
/// ones are counted.
fn compiled(s: &Sources, counts: &mut BTreeMap<String, usize>) -> Result<Vec<Value>> {
    let copts = CompileOptions {
        format: None,
        domain: None,
        budget: Budget::Range(s.p.budget.0, s.p.budget.1),
        distractors: true,
        seed: s.seed,
        db: Some(s.databases.to_path_buf()),
        repo_root: None,
    };
    let mut rows = Vec::new();
    let mut rejected = 0;
    for t in &s.corpus.trajectories {
        match compile_one(t, &copts, s.tok) {
            Ok(sample) => rows.push(acc_row(&sample, Writer::Acc, None)?),
            Err(reason) => {
                tracing::warn!("{}: not compiled: {reason}", t.source);
                rejected += 1;
            }
        }
    }
    counts.insert("acc_rows".into(), rows.len());
    counts.insert("acc_rejected".into(), rejected);
    Ok(rows)
}

/// `b`'s items spread evenly among `a`'s, in order (`a` itself when `b` is empty).
fn spread<T>(a: Vec<T>, b: Vec<T>) -> Vec<T> {
    let (na, nb) = (a.len(), b.len());
    let mut out = Vec::with_capacity(na + nb);
    let (mut a, mut b) = (a.into_iter(), b.into_iter());
    for k in 0..na + nb {
        // b's share of the first k + 1 items is ⌊(k + 1)·nb / (na + nb)⌋
        let due = (k + 1) * nb / (na + nb) > k * nb / (na + nb);
        let next = if due { b.next() } else { a.next() };
        out.extend(next);
    }
    out
}

/// `n` rehearsal rows for the SFT sets: short and long copy drills in turn
/// (the short ones alone once the long ones run out, and the other way round).
fn rehearsal_rows(short: &[Value], long: &[Value], n: usize) -> Vec<Value> {
    let mut out = Vec::with_capacity(n);
    let (mut s, mut l) = (short.iter().peekable(), long.iter().peekable());
    while out.len() < n {
        let short_turn = out.len() % 2 == 0;
        let next = match (short_turn, s.peek().is_some(), l.peek().is_some()) {
            (_, false, false) => break,
            (true, true, _) | (false, true, false) => s.next(),
            _ => l.next(),
        };
        out.extend(next.cloned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_interleaves_evenly_and_keeps_both_orders() {
        let a: Vec<String> = (0..6).map(|i| format!("a{i}")).collect();
        let b: Vec<String> = (0..2).map(|i| format!("b{i}")).collect();
        assert_eq!(
            spread(a.clone(), b.clone()),
            ["a0", "a1", "a2", "b0", "a3", "a4", "a5", "b1"]
        );
        assert_eq!(spread(a.clone(), Vec::new()), a);
        assert_eq!(spread(Vec::new(), b.clone()), b);
        let long = spread((0..1000).collect::<Vec<u32>>(), (1000..1300).collect());
        assert_eq!(long.len(), 1300);
        // every window of 13 holds 3 of b's items
        assert!(long
            .chunks(13)
            .all(|w| w.iter().filter(|&&x| x >= 1000).count() == 3));
        let (x, y): (Vec<u32>, Vec<u32>) = long.iter().partition(|&&v| v < 1000);
        assert!(x.windows(2).all(|w| w[0] < w[1]) && y.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn rehearsal_alternates_short_and_long_drills_and_stops_when_both_run_out() {
        let rows = |tag: &str, n: usize| -> Vec<Value> {
            (0..n).map(|i| json!(format!("{tag}{i}"))).collect()
        };
        let (s, l) = (rows("s", 3), rows("l", 1));
        let got: Vec<Value> = rehearsal_rows(&s, &l, 4);
        assert_eq!(
            got,
            vec![json!("s0"), json!("l0"), json!("s1"), json!("s2")]
        );
        assert_eq!(rehearsal_rows(&s, &l, 10).len(), 4);
        assert!(rehearsal_rows(&s, &l, 0).is_empty());
        assert_eq!(rehearsal_rows(&[], &l, 2), vec![json!("l0")]);
    }
}
