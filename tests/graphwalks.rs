//! GraphWalks generator: an independent solver re-derives every answer from
//! the prompt's edge list; generation is deterministic; lengths hit the target.

use std::collections::{BTreeSet, HashMap, VecDeque};

use acc_probe::tasks::grade;
use acc_probe::tasks::graphwalks::{generate, Problem};

/// ~4 characters a token: a stand-in for a tokenizer.
fn approx_tokens(s: &str) -> usize {
    s.len().div_ceil(4)
}

/// Parses the graph to operate on (after the example) and solves the operation.
fn solve(prompt: &str) -> BTreeSet<String> {
    let graph = prompt
        .split("Here is the graph to operate on:")
        .nth(1)
        .expect("graph section");
    let (edges, op) = graph.split_once("Operation:\n").expect("operation");
    let mut adj: HashMap<&str, Vec<&str>> = HashMap::new();
    let mut rev: HashMap<&str, Vec<&str>> = HashMap::new();
    for line in edges.lines() {
        if let Some((a, b)) = line.split_once(" -> ") {
            assert_eq!(a.len(), 10);
            assert!(a.chars().chain(b.chars()).all(|c| c.is_ascii_hexdigit()));
            adj.entry(a).or_default().push(b);
            rev.entry(b).or_default().push(a);
        }
    }
    let op = op.lines().next().unwrap();
    if let Some(rest) = op.strip_prefix("Find the parents of node ") {
        let x = rest.trim_end_matches('.');
        return rev
            .get(x)
            .map(|v| v.iter().map(|s| s.to_string()).collect())
            .unwrap_or_default();
    }
    let rest = op.strip_prefix("Perform a BFS from node ").expect("bfs");
    let (x, depth) = rest.split_once(" with depth ").unwrap();
    let depth: usize = depth.trim_end_matches('.').parse().unwrap();
    let mut dist: HashMap<&str, usize> = HashMap::from([(x, 0)]);
    let mut q = VecDeque::from([x]);
    while let Some(u) = q.pop_front() {
        for &v in adj.get(u).map(Vec::as_slice).unwrap_or(&[]) {
            if !dist.contains_key(v) {
                dist.insert(v, dist[u] + 1);
                q.push_back(v);
            }
        }
    }
    dist.into_iter()
        .filter(|&(_, d)| d == depth)
        .map(|(v, _)| v.to_string())
        .collect()
}

#[test]
fn answers_are_rederived_by_an_independent_solver() {
    for seed in 0..12 {
        for problem in [Problem::Bfs, Problem::Parents] {
            let row = generate(seed, 1500, problem, &approx_tokens).unwrap();
            let expected = solve(&row.prompt);
            let got: BTreeSet<String> = row.answer_nodes.iter().cloned().collect();
            assert_eq!(got, expected, "seed {seed} {problem:?}");
            assert!(!got.is_empty());
            assert_eq!(row.problem_type, problem.name());
            assert_eq!(row.prompt_chars, row.prompt.chars().count());
            assert!(row.prompt.contains("<begin example>") && row.prompt.contains("<end example>"));
            // a perfect response scores 1 with the official grader
            let response = format!(
                "thinking...\nFinal Answer: [{}]",
                row.answer_nodes.join(", ")
            );
            assert_eq!(grade::graphwalks(&response, &row.answer_nodes), 1.0);
        }
    }
}

#[test]
fn deterministic_and_close_to_the_token_target() {
    for target in [1000usize, 8000, 32000] {
        let a = generate(7, target, Problem::Bfs, &approx_tokens).unwrap();
        let b = generate(7, target, Problem::Bfs, &approx_tokens).unwrap();
        assert_eq!(a, b);
        let n = approx_tokens(&a.prompt);
        assert!(
            n <= target && n as f64 >= 0.9 * target as f64,
            "target {target}: {n} tokens"
        );
    }
    assert_ne!(
        generate(1, 2000, Problem::Parents, &approx_tokens).unwrap(),
        generate(2, 2000, Problem::Parents, &approx_tokens).unwrap()
    );
    let e = generate(1, 50, Problem::Bfs, &approx_tokens)
        .unwrap_err()
        .to_string();
    assert!(e.contains("the target is 50"), "{e}");
}
