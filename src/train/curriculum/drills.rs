//! Short in-context recall drills for the LM curriculum of `reproduce`: the
//! two operations the toy tasks need, without their long instructions, so a
//! small model sees many more of them per token.
//!
//! - a graph drill: a few directed edges over GraphWalks' hex node names, then
//!   "Find the parents of node X." or a BFS of depth 1–2, answered as
//!   `Final Answer: [...]` (a long graph drill: the same over 12–44 nodes);
//! - a recall drill: two to four short MRCR-style turns, then MRCR's final
//!   request ("Prepend HASH to the kth (1 indexed) FORMAT about TOPIC …"),
//!   answered with the hash and that response copied.
//!
//! - a copy drill (the induction primitive both operations rest on): a list of
//!   node names to repeat, a hash to repeat, or a child lookup in a graph whose
//!   nodes have one out-edge each ("find `X ->` and copy what follows").
//!
//! Drills share the LM stage of base and ACC alike (the comparison measures
//! what ACC SFT adds on top). Their seeds are a stream of their own.

use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};

use crate::chat::Message;
use crate::tasks::graphwalks::{choose_operation, hex_id, random_graph, render_edges, Problem};
use crate::tasks::mrcr::{ordinal, random_hash, request, response, FORMATS, TOPICS};

fn msg(role: &str, content: String) -> Message {
    Message {
        role: role.into(),
        content,
    }
}

/// A graph drill (prompt and answer turns) of 4–9 nodes, deterministic in `seed`.
pub fn graph_drill(seed: u64) -> Vec<Message> {
    graph_drill_sized(seed, 4..=9)
}

/// A graph drill at the toy tasks' lengths: 12–44 nodes (about 300–1,100
/// tokens), otherwise as [`graph_drill`].
pub fn long_graph_drill(seed: u64) -> Vec<Message> {
    graph_drill_sized(seed, 12..=44)
}

/// A graph drill over `nodes` nodes: parents, or a BFS of depth 1–2.
fn graph_drill_sized(seed: u64, nodes: std::ops::RangeInclusive<usize>) -> Vec<Message> {
    let mut rng = StdRng::seed_from_u64(seed);
    loop {
        let n = rng.random_range(nodes.clone());
        let g = random_graph(&mut rng, n);
        let p = if rng.random::<bool>() {
            Problem::Parents
        } else {
            Problem::Bfs
        };
        let Some((op, ans)) = choose_operation(&g, &mut rng, p) else {
            continue;
        };
        // keep BFS drills shallow (depth 1–2)
        if op.ends_with("depth 3.") {
            continue;
        }
        return vec![
            msg(
                "user",
                format!(
                    "The graph has the following edges:\n{}\nOperation:\n{op}\n",
                    render_edges(&g)
                ),
            ),
            msg("assistant", format!("Final Answer: [{}]", ans.join(", "))),
        ];
    }
}

/// A recall drill (conversation, request and answer), deterministic in `seed`.
pub fn recall_drill(seed: u64) -> Vec<Message> {
    recall_drill_sized(seed, 1..=2, 1..=2, 3)
}

/// A recall drill with `needles` turns of the requested kind among `others`
/// turns of other kinds, each response cut to its first `lines` lines.
fn recall_drill_sized(
    seed: u64,
    needles: std::ops::RangeInclusive<usize>,
    others: std::ops::RangeInclusive<usize>,
    lines: usize,
) -> Vec<Message> {
    let mut rng = StdRng::seed_from_u64(seed);
    let format = *FORMATS.choose(&mut rng).expect("formats");
    let topic = *TOPICS.choose(&mut rng).expect("topics");
    let needles = rng.random_range(needles);
    let others = rng.random_range(others);
    // needle turns and distractor turns in a random order
    let mut turns: Vec<Option<(String, String)>> = (0..needles).map(|_| None).collect();
    for _ in 0..others {
        let (f, t) = loop {
            let f = *FORMATS.choose(&mut rng).expect("formats");
            let t = *TOPICS.choose(&mut rng).expect("topics");
            if (f, t) != (format, topic) {
                break (f, t);
            }
        };
        turns.push(Some((f.to_string(), t.to_string())));
    }
    turns.shuffle(&mut rng);
    let mut out = Vec::new();
    let mut needle_responses = Vec::new();
    for t in turns {
        let (f, tp) = t.unwrap_or((format.to_string(), topic.to_string()));
        let mut r = response(&mut rng, &f, &tp);
        r = r.lines().take(lines).collect::<Vec<_>>().join("\n");
        if (f.as_str(), tp.as_str()) == (format, topic) {
            needle_responses.push(r.clone());
        }
        out.push(msg("user", request(&f, &tp)));
        out.push(msg("assistant", r));
    }
    let k = rng.random_range(1..=needle_responses.len());
    let hash = random_hash(&mut rng);
    out.push(msg(
        "user",
        format!(
            "Prepend {hash} to the {} (1 indexed) {format} about {topic}. Do not include any other text in your response.",
            ordinal(k)
        ),
    ));
    out.push(msg(
        "assistant",
        format!("{hash}{}", needle_responses[k - 1]),
    ));
    out
}

/// A copy drill (prompt and answer turns), deterministic in `seed`: in turn a
/// list to repeat, a hash to repeat, and a one-hop child lookup.
pub fn copy_drill(seed: u64) -> Vec<Message> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut used = std::collections::HashSet::new();
    match seed % 3 {
        0 => {
            let n = rng.random_range(3..=12);
            let nodes: Vec<String> = (0..n).map(|_| hex_id(&mut rng, &mut used)).collect();
            let list = nodes.join(", ");
            vec![
                msg("user", format!("Repeat these nodes in order:\n[{list}]\n")),
                msg("assistant", format!("Final Answer: [{list}]")),
            ]
        }
        1 => {
            let hash = random_hash(&mut rng);
            vec![
                msg(
                    "user",
                    format!("Prepend {hash} to your response. Do not include any other text in your response."),
                ),
                msg("assistant", hash),
            ]
        }
        _ => {
            let n = rng.random_range(3..=12);
            let (nodes, edges) = one_to_one_edges(&mut rng, &mut used, n);
            let x = rng.random_range(0..n);
            let op = format!("Perform a BFS from node {} with depth 1.", nodes[x]);
            lookup(&edges, &op, &nodes[n + x])
        }
    }
}

/// `n` edges `nodes[i] -> nodes[n + i]` (each parent has one child, each
/// child one parent) in a shuffled order, one per line.
fn one_to_one_edges(
    rng: &mut StdRng,
    used: &mut std::collections::HashSet<String>,
    n: usize,
) -> (Vec<String>, String) {
    let nodes: Vec<String> = (0..2 * n).map(|_| hex_id(rng, used)).collect();
    let mut edges: Vec<String> = (0..n)
        .map(|i| format!("{} -> {}", nodes[i], nodes[n + i]))
        .collect();
    edges.shuffle(rng);
    (nodes, edges.join("\n"))
}

/// A lookup drill's prompt and its one-node answer.
fn lookup(edges: &str, op: &str, answer: &str) -> Vec<Message> {
    vec![
        msg(
            "user",
            format!("The graph has the following edges:\n{edges}\nOperation:\n{op}\n"),
        ),
        msg("assistant", format!("Final Answer: [{answer}]")),
    ]
}

/// A long copy drill, deterministic in `seed`: the copy drill's operations
/// at the toy tasks' lengths (about 400–1,400 tokens), in turn a one-hop lookup
/// (children or parents, one answer) among 40–90 edges and a recall drill of
/// 6–16 turns. The copy stage's short drills teach copying; these carry it
/// to the distances the tasks need.
pub fn long_copy_drill(seed: u64) -> Vec<Message> {
    copy_drill_spanning(seed, 40..=90, 5..=12)
}

/// A copy drill of the long kinds at any length from the short drills' to
/// the toy tasks': a one-hop lookup among 8–90 edges or a recall drill of
/// 2–16 turns (about 120–1,400 tokens). The `base-copy-long` stage trains on
/// these: with only short (≤ 130 tokens) and task-length (≥ 420 tokens)
/// drills, nothing bridges the distances in between.
pub fn ramp_copy_drill(seed: u64) -> Vec<Message> {
    copy_drill_spanning(seed, 8..=90, 1..=12)
}

/// A lookup among `edge_count` edges (even seeds) or a recall drill with
/// `others` distractor turns (odd seeds).
fn copy_drill_spanning(
    seed: u64,
    edge_count: std::ops::RangeInclusive<usize>,
    others: std::ops::RangeInclusive<usize>,
) -> Vec<Message> {
    if seed % 2 == 1 {
        return recall_drill_sized(seed, 1..=4, others, usize::MAX);
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut used = std::collections::HashSet::new();
    let n = rng.random_range(edge_count);
    let (nodes, edges) = one_to_one_edges(&mut rng, &mut used, n);
    let x = rng.random_range(0..n);
    let (op, answer) = if rng.random_bool(0.5) {
        (
            format!("Perform a BFS from node {} with depth 1.", nodes[x]),
            &nodes[n + x],
        )
    } else {
        (
            format!("Find the parents of node {}.", nodes[n + x]),
            &nodes[x],
        )
    };
    lookup(&edges, &op, answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_drills_answer_their_operation() {
        for (s, long) in (0..50).flat_map(|s| [(s, false), (s, true)]) {
            let d = match long {
                false => graph_drill(s),
                true => long_graph_drill(s),
            };
            assert_eq!(d.len(), 2);
            // each node has an out-edge: at least one edge per node
            let edges = d[0].content.matches(" -> ").count();
            assert!(
                if long {
                    edges >= 12
                } else {
                    (4..=27).contains(&edges)
                },
                "seed {s}: {edges} edges"
            );
            let (q, a) = (&d[0].content, &d[1].content);
            assert!(q.contains("Operation:\n"));
            assert!(!q.contains("depth 3."));
            let inner = a
                .strip_prefix("Final Answer: [")
                .and_then(|x| x.strip_suffix(']'))
                .unwrap();
            for node in inner.split(", ") {
                assert_eq!(node.len(), 10);
                assert!(q.contains(node), "{node} not in the graph");
            }
            if let Some(x) = q.split("parents of node ").nth(1) {
                let x = &x[..10];
                for node in inner.split(", ") {
                    assert!(
                        q.contains(&format!("{node} -> {x}")),
                        "{node} is no parent of {x}"
                    );
                }
            }
        }
        assert_eq!(graph_drill(3), graph_drill(3));
        assert_eq!(long_graph_drill(3), long_graph_drill(3));
    }

    #[test]
    fn recall_drills_copy_the_requested_response() {
        for s in 0..50 {
            let d = recall_drill(s);
            let ask = &d[d.len() - 2].content;
            let hash = &ask["Prepend ".len().."Prepend ".len() + 10];
            let answer = &d[d.len() - 1].content;
            let copied = answer.strip_prefix(hash).expect("hash first");
            assert!(
                d[..d.len() - 2]
                    .iter()
                    .any(|m| m.role == "assistant" && m.content == copied),
                "the answer is not a copy of an earlier response"
            );
        }
        assert_eq!(recall_drill(9), recall_drill(9));
    }

    #[test]
    fn copy_drills_answer_with_a_copy_from_the_prompt() {
        for s in 0..60 {
            let d = copy_drill(s);
            let (q, a) = (&d[0].content, &d[1].content);
            let inner = a
                .strip_prefix("Final Answer: [")
                .and_then(|x| x.strip_suffix(']'))
                .unwrap_or(a);
            assert!(
                q.contains(inner),
                "seed {s}: {a} is not copied from the prompt"
            );
            if s % 3 == 2 {
                assert!(q.contains(&format!(" -> {inner}")), "seed {s}");
            }
        }
        assert_eq!(copy_drill(4), copy_drill(4));
    }

    fn chars(d: &[Message]) -> usize {
        d.iter().map(|m| m.content.len()).sum()
    }

    /// Checks a long-kind drill (lookup on even seeds, recall on odd ones)
    /// and returns its edge count (0 for a recall drill).
    fn check_long_kind(s: u64, d: &[Message]) -> usize {
        let a = &d.last().expect("answer").content;
        let q: String = d[..d.len() - 1]
            .iter()
            .map(|m| m.content.as_str())
            .collect();
        if s.is_multiple_of(2) {
            let node = a
                .strip_prefix("Final Answer: [")
                .and_then(|x| x.strip_suffix(']'))
                .expect("a one-node answer");
            let edge = if q.contains("BFS") {
                format!(" -> {node}\n")
            } else {
                format!("{node} -> ")
            };
            assert!(
                q.contains(&edge),
                "seed {s}: {a} does not answer the lookup"
            );
            q.matches(" -> ").count()
        } else {
            // turns, then the request; the answer is its hash and a
            // response copied from an earlier turn
            let request = &d[d.len() - 2].content;
            let hash = request
                .strip_prefix("Prepend ")
                .and_then(|r| r.split(' ').next())
                .expect("an MRCR request");
            let copied = a
                .strip_prefix(hash)
                .expect("the answer starts with the hash");
            assert!(
                d[..d.len() - 2]
                    .iter()
                    .any(|m| m.role == "assistant" && m.content == copied),
                "seed {s}: the answer copies no earlier response"
            );
            0
        }
    }

    #[test]
    fn long_copy_drills_are_task_length_lookups_with_the_answer_in_the_prompt() {
        for s in 0..40 {
            let d = long_copy_drill(s);
            match check_long_kind(s, &d) {
                // 6–16 turns, then the request and its answer
                0 => assert!(d.len() >= 14, "seed {s}: {} messages", d.len()),
                edges => assert!(edges >= 40, "seed {s}: too few edges"),
            }
            // several times the short drills, around the toy tasks' size
            assert!(chars(&d) > 1000, "seed {s}: {} chars", chars(&d));
        }
        assert_eq!(long_copy_drill(6), long_copy_drill(6));
    }

    #[test]
    fn ramp_copy_drills_span_the_short_to_the_task_lengths() {
        let (mut short, mut long, mut few_edges) = (0, 0, 0);
        for s in 0..200 {
            let d = ramp_copy_drill(s);
            match check_long_kind(s, &d) {
                0 => assert!(d.len() >= 4, "seed {s}: {} messages", d.len()),
                n => {
                    assert!((8..=90).contains(&n), "seed {s}: {n} edges");
                    few_edges += usize::from(n < 40);
                }
            }
            match chars(&d) {
                c if c < 1000 => short += 1,
                c if c > 2500 => long += 1,
                _ => {}
            }
        }
        // lookups among fewer edges than any task-length drill, and drills
        // shorter and longer than the short drills and the tasks' middle
        assert!(few_edges >= 20, "{few_edges} lookups among < 40 edges");
        assert!(short >= 20 && long >= 20, "{short} short, {long} long");
        assert_eq!(ramp_copy_drill(8), ramp_copy_drill(8));
        assert_ne!(ramp_copy_drill(8), long_copy_drill(8));
    }
}
