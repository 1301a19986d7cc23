//! The repository-history environment: a software-engineering agent asked a
//! question about a repository's commit graph (which commits were merged to
//! make a commit, which were built on it, which came two commits later). The
//! scripted agent lists the graph one `parent -> child` edge per line, a page
//! at a time (`git log --all --format='%h %p' --abbrev=10 | awk … | sed -n
//! a,bp`), then names the edges it followed and answers with the commits as
//! a list, in GraphWalks' answer form (`Final Answer: [...]`).
//!
//! The commit graph is a graph walk over 10-character hex names, and the
//! answer is a parents lookup or a BFS at depth 1 or 2: the operations of
//! GraphWalks, met in an agent's tool output. Compiled by ACC, the pages are
//! shuffled into one long prompt, as GraphWalks shuffles its edge list. The
//! compiler classifies such a run as `other` (a coding agent that ends with
//! an answer, not a patch): the pages whose edges the answer quotes are
//! evidence, the other pages distractors.

use std::collections::{BTreeSet, HashSet};

use rand::rngs::StdRng;
use rand::Rng;
use rand::SeedableRng;
use serde_json::json;

use super::{Domain, Episode, Step, ToolSpec};
use crate::tasks::graphwalks::{bfs_tree, hex_id, parents, Graph};

/// Edges per page of the listing.
const PAGE: usize = 6;

/// The command that lists the commit graph one edge per line, lines `from..=to`.
pub fn listing_command(from: usize, to: usize) -> String {
    format!(
        "git log --all --format='%h %p' --abbrev=10 | awk '{{for (i = 2; i <= NF; i++) print $i \" -> \" $1}}' | sed -n '{from},{to}p'"
    )
}

/// `n` commits as a graph of (parent, child) edges, newest child first (the
/// order `git log` lists them in): commit i > 0 has one parent among the
/// earlier ones (mostly the one before it; sometimes a branch point further
/// back) and, one time in four, a second one (a merge).
pub(crate) fn commit_graph(rng: &mut StdRng, n: usize) -> Graph {
    let mut used = HashSet::new();
    let nodes: Vec<String> = (0..n).map(|_| hex_id(rng, &mut used)).collect();
    let mut edges = Vec::new();
    for c in (1..n).rev() {
        let first = match rng.random_bool(0.6) {
            true => c - 1,
            false => rng.random_range(0..c),
        };
        edges.push((first, c));
        if c >= 2 && rng.random_bool(0.25) {
            let second = rng.random_range(0..c);
            if second != first {
                edges.push((second, c));
            }
        }
    }
    Graph { nodes, edges }
}

/// The operations asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Question {
    /// The commits merged to make one (GraphWalks' parents).
    Parents,
    /// The commits exactly `depth` commits after one (GraphWalks' BFS).
    After(usize),
}

/// The answer to `q` about commit `x` with the edges that lead to it, in
/// listing order (for a BFS, level by level: the edges that first reach each
/// commit), as GraphWalks computes them.
fn answer(g: &Graph, q: Question, x: usize) -> (Vec<(usize, usize)>, BTreeSet<usize>) {
    match q {
        Question::Parents => parents(g, x),
        Question::After(depth) => bfs_tree(g, x, depth),
    }
}

fn edge_line(g: &Graph, (a, b): (usize, usize)) -> String {
    format!("{} -> {}", g.nodes[a], g.nodes[b])
}

fn tools() -> Vec<ToolSpec> {
    vec![ToolSpec {
        name: "bash".into(),
        description: "Run a shell command in the repository.".into(),
        parameters: json!({"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}),
    }]
}

/// Commits per repository by default: few enough that the whole listing fits
/// the smallest ACC budget of the full preset, 300 tokens.
pub const SMALL_REPOSITORY: (usize, usize) = (6, 9);

/// The most commits a repository may have (its listing is a prompt; 10,000
/// commits is already far past the longest toy budget).
pub const MAX_COMMITS: usize = 10_000;

/// Whether `(min, max)` commits is a size range [`episode_sized`] takes:
/// 2 <= min <= max <= [`MAX_COMMITS`] (a repository of one commit has no
/// edge to ask about).
pub fn valid_commits((lo, hi): (usize, usize)) -> bool {
    2 <= lo && lo <= hi && hi <= MAX_COMMITS
}

/// One episode in a repository of [`SMALL_REPOSITORY`] commits.
pub fn episode(seed: u64, index: usize) -> Episode {
    episode_sized(seed, index, SMALL_REPOSITORY)
}

/// One episode: a repository of `commits.0..=commits.1` commits (a
/// [`valid_commits`] range; panics otherwise) and a question with a
/// non-empty answer. A repository of 20–32 commits has
/// 24–40 edges, as many as a toy GraphWalks graph at 800 tokens; its listing
/// then takes 4–7 pages, and a compiled sample holds the pages the answer
/// cites and as many of the others as its budget allows.
pub fn episode_sized(seed: u64, index: usize, commits: (usize, usize)) -> Episode {
    assert!(valid_commits(commits), "commit range {commits:?}");
    let mut rng = StdRng::seed_from_u64(seed);
    let n = rng.random_range(commits.0..=commits.1);
    let g = commit_graph(&mut rng, n);
    // a question with an answer (every commit but the first has a parent)
    let (q, x, (trace, answer)) = loop {
        let q = match rng.random_range(0..3) {
            0 => Question::Parents,
            1 => Question::After(1),
            _ => Question::After(2),
        };
        let x = rng.random_range(0..n);
        let a = answer(&g, q, x);
        if !a.1.is_empty() {
            break (q, x, a);
        }
    };
    let name = &g.nodes[x];
    let (question, thought) = match q {
        Question::Parents => (
            format!("Which commits were merged to make commit {name}? Find the parents of commit {name}."),
            format!("The parents of {name} are the commits with an edge into it."),
        ),
        Question::After(1) => (
            format!("Which commits were made directly on top of commit {name}? Perform a BFS from commit {name} with depth 1."),
            format!("The commits on top of {name} are the ones its edges lead to."),
        ),
        Question::After(d) => (
            format!("Which commits are exactly {d} commits after commit {name}? Perform a BFS from commit {name} with depth {d}."),
            format!("I follow the edges out of {name} for {d} levels."),
        ),
    };
    let question = format!(
        "{question}\nFormat your final answer as a list on the last line, like: Final Answer: [commit1, commit2, ...]"
    );
    let lines: Vec<String> = g.edges.iter().map(|&e| edge_line(&g, e)).collect();
    let mut steps = Vec::new();
    for (p, page) in lines.chunks(PAGE).enumerate() {
        let from = p * PAGE + 1;
        let to = from + PAGE - 1;
        let thought = match p {
            0 => format!(
                "{thought} Let me list the commit graph, one parent -> child edge per line."
            ),
            _ => "The listing goes on; next page.".into(),
        };
        steps.push(Step {
            thought,
            tool: "bash".into(),
            args: json!({"command": listing_command(from, to)}),
            observation: page.join("\n"),
            is_error: false,
        });
    }
    // sorted by name, as GraphWalks lists its answers
    let mut names: Vec<String> = answer.iter().map(|&i| g.nodes[i].clone()).collect();
    names.sort();
    let followed: Vec<String> = trace.iter().map(|&e| edge_line(&g, e)).collect();
    let final_answer = format!(
        "{}\n\nFinal Answer: [{}]",
        followed.join("\n"),
        names.join(", ")
    );
    Episode {
        id: format!("history-{index:05}"),
        domain: Domain::Swe,
        system:
            "You are a software engineer. Answer questions about the repository using the shell."
                .into(),
        question,
        tools: tools(),
        steps,
        final_answer,
        ground_truth: json!({"answer_nodes": names}),
        meta: json!({
            "commits": g.nodes,
            "edges": lines,
            "operation": match q {
                Question::Parents => "parents".to_string(),
                Question::After(d) => format!("bfs-{d}"),
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::pipeline::{Budget, CompileOptions};
    use crate::tasks::graphwalks::edge_trace;

    /// The episode's question posed as a GraphWalks operation on `edges`:
    /// GraphWalks' own trace and answer.
    fn graphwalks_answer(ep: &Episode, edges: &[&str]) -> (Vec<String>, Vec<String>) {
        let q = ep.question.lines().next().unwrap();
        let op = q[q.find("? ").unwrap() + 2..].replace("commit ", "node ");
        let prompt = format!(
            "The graph has the following edges:\n{}\n\nOperation:\n{op}\n",
            edges.join("\n")
        );
        edge_trace(&prompt).unwrap_or_else(|| panic!("{prompt}"))
    }

    fn gold(ep: &Episode) -> Vec<String> {
        serde_json::from_value(ep.ground_truth["answer_nodes"].clone()).unwrap()
    }

    /// Compiling at exactly `budget` tokens.
    fn at_budget(budget: usize) -> CompileOptions {
        CompileOptions {
            format: None,
            domain: None,
            budget: Budget::Range(budget, budget),
            distractors: true,
            seed: 0,
            db: None,
            repo_root: None,
        }
    }

    /// The episode's answer equals what GraphWalks' own trace finds on the
    /// same edges posed as a GraphWalks operation.
    #[test]
    fn answers_agree_with_graphwalks_on_the_same_edges() {
        for seed in 0..200 {
            let ep = episode(seed, 0);
            let edges = ep.meta["edges"].as_array().unwrap();
            let edges: Vec<&str> = edges.iter().map(|e| e.as_str().unwrap()).collect();
            let (trace, names) = graphwalks_answer(&ep, &edges);
            let gold = gold(&ep);
            assert_eq!(names, gold, "seed {seed}");
            // every followed edge is a listed one, and the answer line ends the message
            for t in &trace {
                assert!(edges.contains(&t.as_str()));
            }
            let last = ep.final_answer.lines().last().unwrap();
            assert_eq!(last, format!("Final Answer: [{}]", gold.join(", ")));
            // every page is a listing step of at most PAGE edges
            assert_eq!(
                ep.steps
                    .iter()
                    .map(|s| s.observation.lines().count())
                    .sum::<usize>(),
                edges.len()
            );
            assert!(ep
                .steps
                .iter()
                .all(|s| s.observation.lines().count() <= PAGE));
        }
    }

    #[test]
    fn a_commit_graph_is_acyclic_with_one_or_two_parents() {
        let mut rng = StdRng::seed_from_u64(3);
        let g = commit_graph(&mut rng, 10);
        for c in 1..10 {
            let parents = g.edges.iter().filter(|e| e.1 == c).count();
            assert!((1..=2).contains(&parents), "commit {c}: {parents} parents");
        }
        assert!(g.edges.iter().all(|&(a, b)| a < b));
        assert!(g.edges.iter().all(|e| e.1 != 0));
    }

    /// Written in each format, read back and compiled at the smallest ACC
    /// budget of the full preset, an episode keeps its whole listing (no
    /// page cut or dropped) and its answer.
    #[test]
    fn compiled_samples_keep_every_page_at_300_tokens() {
        use crate::compile::pipeline::compile_one;
        use crate::compile::readers::read_file;
        use crate::environments::{write, Format};
        // 2.2 characters a token: the fewest that `reproduce`'s BPE gives
        // these prompts
        let counter = |s: &str| (s.len() * 10).div_ceil(22);
        let dir = tempfile::tempdir().unwrap();
        let eps: Vec<Episode> = (0..60).map(|i| episode(i, i as usize)).collect();
        let formats = [Format::Openai, Format::ClaudeCode, Format::Sharegpt];
        let opts = at_budget(300);
        for f in formats {
            for path in write(dir.path(), &eps, &[f]).unwrap() {
                if path.file_name().is_some_and(|n| n == "ground_truth.jsonl") {
                    continue;
                }
                let (trajs, rejected) = read_file(&path, None);
                assert!(rejected.is_empty(), "{}: {rejected:?}", path.display());
                let t = &trajs[0];
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                let ep = eps.iter().find(|e| name.starts_with(&e.id)).unwrap();
                let s = compile_one(t, &opts, &counter).unwrap();
                // the followed edges are the reasoning, the answer line the answer
                let (edges, answer) = ep.final_answer.rsplit_once("\n\n").unwrap();
                assert_eq!(s.reasoning, edges, "{}", path.display());
                assert_eq!(s.answer, answer, "{}", path.display());
                assert_eq!(
                    s.target(),
                    format!("<think>\n{edges}\n</think>\n\n{answer}")
                );
                assert_eq!(s.context.dropped, 0, "{}", path.display());
                assert!(s.context.placed.iter().all(|p| !p.truncated));
                for page in &ep.steps {
                    assert!(s.context.prompt.contains(&page.observation));
                }
            }
        }
    }

    /// Repositories as large as a toy GraphWalks graph: compiled at the
    /// smallest and largest ACC budgets of the full preset, a sample keeps
    /// every page its answer cites, so the answer follows from the compiled
    /// context alone, or is rejected when they do not fit; at the largest,
    /// pages the answer does not cite fill the budget.
    #[test]
    fn large_repositories_keep_the_cited_pages_within_the_budget() {
        use crate::compile::pipeline::compile_one;
        use crate::compile::readers::read_file;
        use crate::environments::{write, Format};
        let counter = |s: &str| (s.len() * 10).div_ceil(22);
        let dir = tempfile::tempdir().unwrap();
        let eps: Vec<Episode> = (0..30)
            .map(|i| episode_sized(i, i as usize, (20, 32)))
            .collect();
        assert!(eps.iter().all(|e| e.steps.len() >= 4));
        let paths = write(dir.path(), &eps, &[Format::Openai]).unwrap();
        let mut uncited_kept = 0;
        let mut rejected_at = [0; 2];
        for budget in [300, 900] {
            let opts = at_budget(budget);
            for path in &paths {
                if path.file_name().is_some_and(|n| n == "ground_truth.jsonl") {
                    continue;
                }
                let (trajs, rejected) = read_file(path, None);
                assert!(rejected.is_empty());
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                let ep = eps.iter().find(|e| name.starts_with(&e.id)).unwrap();
                let s = match compile_one(&trajs[0], &opts, &counter) {
                    Ok(s) => s,
                    Err(e) => {
                        // only a budget too small for the cited pages rejects
                        assert!(
                            e.reason.contains("cuts the evidence the answer quotes"),
                            "{e}"
                        );
                        rejected_at[usize::from(budget == 900)] += 1;
                        continue;
                    }
                };
                assert!(s.context.tokens <= budget, "{name}: {}", s.context.tokens);
                // the edges in the compiled context answer the question as the agent did
                let edges: Vec<&str> = s
                    .context
                    .prompt
                    .lines()
                    .filter(|l| l.len() == 24 && l.contains(" -> "))
                    .collect();
                let (_, names) = graphwalks_answer(ep, &edges);
                assert_eq!(names, gold(ep), "{name} at {budget}");
                let cited = |o: &str| o.lines().any(|l| ep.final_answer.contains(l));
                if budget == 900 {
                    uncited_kept += ep
                        .steps
                        .iter()
                        .filter(|p| !cited(&p.observation))
                        .filter(|p| s.context.prompt.contains(&p.observation))
                        .count();
                }
            }
        }
        assert!(
            uncited_kept >= 30,
            "{uncited_kept} uncited pages at 900 tokens"
        );
        // most fit the smallest budget too (some do not: the rejection is
        // exercised); every one fits the largest
        assert!((1..=10).contains(&rejected_at[0]), "{rejected_at:?}");
        assert_eq!(rejected_at[1], 0);
    }

    #[test]
    fn episodes_are_deterministic_in_the_seed() {
        assert_eq!(episode(7, 1), episode(7, 1));
        assert_ne!(episode(7, 1).question, episode(8, 1).question);
    }
}
