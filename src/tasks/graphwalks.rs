//! GraphWalks (openai/graphwalks) problem generator.
//!
//! Rows carry the official columns: `prompt`, `answer_nodes`, `prompt_chars`,
//! `problem_type` (`bfs` or `parents`). Node names are 10-character hex
//! strings; the graph is a shuffled list of directed edges `a -> b`; the
//! prompt explains the task, gives a worked example between `<begin example>`
//! and `<end example>`, then the graph and the operation — "Perform a BFS from
//! node X with depth N." (only the nodes at exactly depth N) or "Find the
//! parents of node X." — and asks for `Final Answer: [...]` on the last line.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::tokenizer::TokenCounter;

/// One GraphWalks row (official column names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraphWalksRow {
    pub prompt: String,
    pub answer_nodes: Vec<String>,
    pub prompt_chars: usize,
    pub problem_type: String,
}

/// The two operations of GraphWalks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Problem {
    Bfs,
    Parents,
}

impl Problem {
    pub fn name(&self) -> &'static str {
        match self {
            Problem::Bfs => "bfs",
            Problem::Parents => "parents",
        }
    }
}

const INSTRUCTIONS: &str = "You will be given a graph as a list of directed edges. All nodes are at least degree 1. \
You will also get a description of an operation to perform on the graph.\n\
Your job is to execute the operation on the graph and return the set of nodes that the operation results in. \
If asked for a breadth-first search (BFS), only return the nodes that are reachable at exactly that depth, do not return the starting node. \
If asked for the parents of a node, only return the nodes that have an edge leading to the given node, do not return the given node itself.\n\n";

const CLOSING: &str = "You should immediately stop outputting after your final answer. \
Format your final answer as a list on the last line, like: Final Answer: [node1, node2, ...]\n";

/// A directed graph as an edge list over hex node names.
#[derive(Debug, Clone)]
pub(crate) struct Graph {
    pub(crate) nodes: Vec<String>,
    /// (from, to) indices into `nodes`, in prompt order.
    pub(crate) edges: Vec<(usize, usize)>,
}

pub(crate) fn hex_id(rng: &mut StdRng, used: &mut HashSet<String>) -> String {
    loop {
        let id: String = (0..10)
            .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap())
            .collect();
        if used.insert(id.clone()) {
            return id;
        }
    }
}

/// n nodes, each with 1–3 out-edges to other nodes, edges shuffled.
pub(crate) fn random_graph(rng: &mut StdRng, n: usize) -> Graph {
    let mut used = HashSet::new();
    let nodes: Vec<String> = (0..n).map(|_| hex_id(rng, &mut used)).collect();
    let mut edges = Vec::new();
    let mut seen = HashSet::new();
    for a in 0..n {
        let k = rng.random_range(1..=3usize).min(n - 1);
        let mut out = 0;
        while out < k {
            let b = rng.random_range(0..n);
            if b != a && seen.insert((a, b)) {
                edges.push((a, b));
                out += 1;
            }
        }
    }
    edges.shuffle(rng);
    Graph { nodes, edges }
}

pub(crate) fn render_edges(g: &Graph) -> String {
    let mut s = String::with_capacity(g.edges.len() * 25);
    for &(a, b) in &g.edges {
        s.push_str(&g.nodes[a]);
        s.push_str(" -> ");
        s.push_str(&g.nodes[b]);
        s.push('\n');
    }
    s
}

/// A BFS from `start` over `depth` levels: the edges that first reach each
/// node, in the order the search takes them (level by level, a node's edges
/// in prompt order), and the nodes at shortest distance exactly `depth`.
pub(crate) fn bfs_tree(
    g: &Graph,
    start: usize,
    depth: usize,
) -> (Vec<(usize, usize)>, BTreeSet<usize>) {
    let mut adj: HashMap<usize, Vec<usize>> = HashMap::new();
    for &(a, b) in &g.edges {
        adj.entry(a).or_default().push(b);
    }
    let mut dist = HashMap::from([(start, 0usize)]);
    let mut queue = VecDeque::from([start]);
    let mut tree = Vec::new();
    while let Some(u) = queue.pop_front() {
        let du = dist[&u];
        if du == depth {
            continue;
        }
        for &v in adj.get(&u).map(Vec::as_slice).unwrap_or(&[]) {
            if let std::collections::hash_map::Entry::Vacant(e) = dist.entry(v) {
                e.insert(du + 1);
                queue.push_back(v);
                tree.push((u, v));
            }
        }
    }
    let at_depth = dist
        .into_iter()
        .filter(|&(_, d)| d == depth)
        .map(|(v, _)| v)
        .collect();
    (tree, at_depth)
}

/// The edges into `node`, in prompt order, and its parents.
pub(crate) fn parents(g: &Graph, node: usize) -> (Vec<(usize, usize)>, BTreeSet<usize>) {
    let into: Vec<(usize, usize)> = g.edges.iter().filter(|e| e.1 == node).copied().collect();
    let set = into.iter().map(|e| e.0).collect();
    (into, set)
}

/// Chooses an operation with a non-empty answer: (operation text, answer).
pub(crate) fn choose_operation(
    g: &Graph,
    rng: &mut StdRng,
    problem: Problem,
) -> Option<(String, Vec<String>)> {
    for _ in 0..200 {
        let x = rng.random_range(0..g.nodes.len());
        let (text, ans) = match problem {
            Problem::Bfs => {
                let depth = rng.random_range(1..=3usize);
                (
                    format!("Perform a BFS from node {} with depth {depth}.", g.nodes[x]),
                    bfs_tree(g, x, depth).1,
                )
            }
            Problem::Parents => (
                format!("Find the parents of node {}.", g.nodes[x]),
                parents(g, x).1,
            ),
        };
        if !ans.is_empty() {
            let mut names: Vec<String> = ans.into_iter().map(|i| g.nodes[i].clone()).collect();
            names.sort();
            return Some((text, names));
        }
    }
    None
}

fn render_prompt(example: &(Graph, String, Vec<String>), g: &Graph, op: &str) -> String {
    let (eg, eop, eans) = example;
    format!(
        "{INSTRUCTIONS}Here is an example:\n<begin example>\nThe graph has the following edges:\n{}\nOperation:\n{eop}\n\nFinal Answer: [{}]\n<end example>\n\n\
Here is the graph to operate on:\nThe graph has the following edges:\n{}\nOperation:\n{op}\n\n{CLOSING}",
        render_edges(eg),
        eans.join(", "),
        render_edges(g),
    )
}

/// Generates one problem whose prompt is at most `target_tokens` tokens (and
/// close to it), deterministic in `seed`.
pub fn generate(
    seed: u64,
    target_tokens: usize,
    problem: Problem,
    counter: &dyn TokenCounter,
) -> Result<GraphWalksRow> {
    let mut rng = StdRng::seed_from_u64(seed);
    let eg = random_graph(&mut rng, 6);
    let (eop, eans) = choose_operation(&eg, &mut rng, problem)
        .expect("a 6-node graph with out-degree ≥ 1 has parents and BFS answers");
    let example = (eg, eop, eans);
    let graph_seed: u64 = rng.random();

    let build = |n: usize| -> Option<(String, Vec<String>)> {
        let mut rng =
            StdRng::seed_from_u64(graph_seed ^ (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let g = random_graph(&mut rng, n);
        let (op, ans) = choose_operation(&g, &mut rng, problem)?;
        Some((render_prompt(&example, &g, &op), ans))
    };
    // smallest problem, then scale the node count to the token budget
    let min_nodes = 8;
    let (small, _) = build(min_nodes).expect("an 8-node graph has an answer");
    let small_tokens = counter.count(&small);
    if small_tokens > target_tokens {
        return Err(Error::Input(format!(
            "GraphWalks needs at least {small_tokens} tokens with this tokenizer; the target is {target_tokens}"
        )));
    }
    let probe_nodes = 64;
    let (big, _) = build(probe_nodes).expect("a 64-node graph has an answer");
    let per_node = (counter.count(&big).saturating_sub(small_tokens)).max(1) as f64
        / (probe_nodes - min_nodes) as f64;
    let mut n = min_nodes + ((target_tokens - small_tokens) as f64 / per_node) as usize;
    let mut best: Option<(String, Vec<String>)> = None;
    for _ in 0..12 {
        let Some((prompt, ans)) = build(n.max(min_nodes)) else {
            n += 1;
            continue;
        };
        let tokens = counter.count(&prompt);
        if tokens <= target_tokens {
            let good_enough = tokens as f64 >= 0.95 * target_tokens as f64;
            best = Some((prompt, ans));
            if good_enough {
                break;
            }
            n += ((target_tokens - tokens) as f64 / per_node).max(1.0) as usize;
        } else {
            n = min_nodes
                .max(n - (((tokens - target_tokens) as f64 / per_node).ceil() as usize).max(1));
        }
    }
    let (prompt, answer_nodes) = best.unwrap_or_else(|| build(min_nodes).expect("small graph"));
    Ok(GraphWalksRow {
        prompt_chars: prompt.chars().count(),
        prompt,
        answer_nodes,
        problem_type: problem.name().to_string(),
    })
}

/// The reasoning trace of a GraphWalks-style problem: the edges the
/// operation follows, one `a -> b` line each, copied from the graph. For
/// "Find the parents of node X." the edges `p -> X` in prompt order; for a
/// BFS of depth N, the edges that first reach each node, level by level, up
/// to depth N. Each line is a lookup in the edge's own context (`X -> ` is
/// written, then the child copied from the line that starts with it), which
/// is what a small model copies best. Returns the lines and the sorted
/// answer (the parents, or the nodes at exactly depth N), computed as
/// [`generate`] computes them.
///
/// `prompt` is a problem or drill prompt: the last "The graph has the
/// following edges:" block and the "Operation:" line after it. `None` when
/// the prompt has no such graph or operation, or the operation's node is
/// not in the graph.
pub fn edge_trace(prompt: &str) -> Option<(Vec<String>, Vec<String>)> {
    const HEADER: &str = "The graph has the following edges:\n";
    let mut lines = prompt[prompt.rfind(HEADER)? + HEADER.len()..].lines();
    // the edge lines back into a graph
    let mut g = Graph {
        nodes: Vec::new(),
        edges: Vec::new(),
    };
    let mut index: HashMap<&str, usize> = HashMap::new();
    for line in lines.by_ref() {
        let Some((a, b)) = line.split_once(" -> ") else {
            break;
        };
        let [a, b] = [a.trim(), b.trim()].map(|name| {
            *index.entry(name).or_insert_with(|| {
                g.nodes.push(name.to_string());
                g.nodes.len() - 1
            })
        });
        g.edges.push((a, b));
    }
    let op = lines.find(|l| !l.trim().is_empty() && *l != "Operation:")?;
    let (tree, answer): (Vec<(usize, usize)>, BTreeSet<usize>) = match op
        .strip_prefix("Find the parents of node ")
        .and_then(|r| r.strip_suffix('.'))
    {
        Some(x) => parents(&g, *index.get(x)?),
        None => {
            let rest = op.strip_prefix("Perform a BFS from node ")?;
            let (x, depth) = rest.split_once(" with depth ")?;
            let depth: usize = depth.strip_suffix('.')?.parse().ok()?;
            bfs_tree(&g, *index.get(x)?, depth)
        }
    };
    let trace = tree
        .iter()
        .map(|&(a, b)| format!("{} -> {}", g.nodes[a], g.nodes[b]))
        .collect();
    let mut names: Vec<String> = answer.into_iter().map(|i| g.nodes[i].clone()).collect();
    names.sort();
    Some((trace, names))
}

/// `messages` with a final `Final Answer: [...]` turn after a graph prompt
/// rewritten to carry its [`edge_trace`] as reasoning first
/// (`<think>\na -> b\n…\n</think>\n\nFinal Answer: [...]`). Anything else,
/// or an answer that the trace does not reproduce, is returned unchanged.
pub fn with_edge_trace(mut messages: Vec<crate::chat::Message>) -> Vec<crate::chat::Message> {
    let n = messages.len();
    if n < 2 || messages[n - 1].role != "assistant" {
        return messages;
    }
    let Some(given) = messages[n - 1]
        .content
        .strip_prefix("Final Answer: [")
        .and_then(|r| r.strip_suffix(']'))
    else {
        return messages;
    };
    let Some((trace, answer)) = edge_trace(&messages[n - 2].content) else {
        return messages;
    };
    let mut given: Vec<&str> = given.split(", ").filter(|s| !s.is_empty()).collect();
    given.sort();
    if given != answer.iter().map(String::as_str).collect::<Vec<_>>() {
        return messages;
    }
    let answer_line = messages[n - 1].content.clone();
    messages[n - 1].content = format!("<think>\n{}\n</think>\n\n{answer_line}", trace.join("\n"));
    messages
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::Message;

    fn turn(role: &str, content: &str) -> Message {
        Message {
            role: role.into(),
            content: content.into(),
        }
    }

    #[test]
    fn edge_traces_follow_the_operation_and_reproduce_the_answer() {
        let counter = crate::tokenizer::approx_tokens;
        for (i, p) in [Problem::Bfs, Problem::Parents]
            .iter()
            .cycle()
            .take(40)
            .enumerate()
        {
            let row = generate(i as u64, 900, *p, &counter).unwrap();
            let (trace, answer) = edge_trace(&row.prompt).expect("a graph prompt");
            assert_eq!(answer, row.answer_nodes, "problem {i}");
            // every line is an edge of the graph to operate on, not the example's
            let graph = &row.prompt[row.prompt.rfind("following edges:\n").unwrap()..];
            for line in &trace {
                assert!(graph.contains(&format!("{line}\n")), "{line} not an edge");
            }
            let op = row
                .prompt
                .lines()
                .rev()
                .find(|l| l.starts_with("Perform") || l.starts_with("Find"))
                .unwrap();
            let x = &op[op.find("node ").unwrap() + 5..][..10];
            match p {
                Problem::Parents => {
                    assert!(trace.iter().all(|l| l.ends_with(&format!("-> {x}"))));
                    assert_eq!(trace.len(), answer.len());
                }
                Problem::Bfs => {
                    assert!(trace[0].starts_with(x), "a BFS starts at its node");
                    // each line's parent was reached before it (or is the start)
                    let mut reached = vec![x.to_string()];
                    for l in &trace {
                        let (a, b) = l.split_once(" -> ").unwrap();
                        assert!(reached.iter().any(|r| r == a), "{l}");
                        reached.push(b.to_string());
                    }
                    for a in &answer {
                        assert!(reached.contains(a));
                    }
                }
            }
            let msgs = vec![
                turn("user", &row.prompt),
                turn(
                    "assistant",
                    &format!("Final Answer: [{}]", row.answer_nodes.join(", ")),
                ),
            ];
            let traced = with_edge_trace(msgs.clone());
            let content = &traced[1].content;
            assert!(content.starts_with("<think>\n"), "{content}");
            assert_eq!(
                crate::tasks::eval::answer_part(content),
                msgs[1].content,
                "the answer line is kept"
            );
            assert_eq!(content.matches(" -> ").count(), trace.len());
        }
    }

    #[test]
    fn turns_without_a_graph_answer_are_left_alone() {
        let graph = "The graph has the following edges:\naa11 -> bb22\nbb22 -> cc33\nOperation:\nPerform a BFS from node aa11 with depth 2.\n";
        let ok = vec![
            turn("user", graph),
            turn("assistant", "Final Answer: [cc33]"),
        ];
        assert_eq!(
            with_edge_trace(ok)[1].content,
            "<think>\naa11 -> bb22\nbb22 -> cc33\n</think>\n\nFinal Answer: [cc33]"
        );
        // a wrong answer, a non-graph prompt, a non-answer turn: unchanged
        for msgs in [
            vec![
                turn("user", graph),
                turn("assistant", "Final Answer: [bb22]"),
            ],
            vec![
                turn("user", "Prepend x1 to it."),
                turn("assistant", "Final Answer: [x1]"),
            ],
            vec![turn("user", graph), turn("assistant", "cc33")],
            vec![turn("assistant", "Final Answer: [cc33]")],
        ] {
            assert_eq!(with_edge_trace(msgs.clone()), msgs);
        }
        let parents = "The graph has the following edges:\naa11 -> cc33\nbb22 -> cc33\ncc33 -> aa11\nOperation:\nFind the parents of node cc33.\n";
        assert_eq!(
            edge_trace(parents),
            Some((
                vec!["aa11 -> cc33".to_string(), "bb22 -> cc33".to_string()],
                vec!["aa11".to_string(), "bb22".to_string()]
            ))
        );
    }
}
