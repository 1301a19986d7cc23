//! Synthetic agents: every format parses back to the episode's steps, ground
//! truth is re-derived independently (SQL re-executed on the database, SWE
//! patch applied to the original file, search answer traced through the
//! visited pages), unvisited results remain as distractors, output is
//! deterministic.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn run(domain: &str, formats: &str, out: &Path, seed: &str) {
    let o = Command::new(env!("CARGO_BIN_EXE_acc-probe"))
        .args([
            "agents",
            "--domain",
            domain,
            "--n",
            "6",
            "--format",
            formats,
            "--seed",
            seed,
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn ground_truth(out: &Path) -> Vec<Value> {
    std::fs::read_to_string(out.join("ground_truth.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Tool calls and results of each format, as (name, observation) pairs.
fn calls(out: &Path, id: &str) -> BTreeMap<&'static str, Vec<(String, String)>> {
    let mut m = BTreeMap::new();
    let o = json(&out.join(format!("openai/{id}.openai.json")));
    let msgs = o["messages"].as_array().unwrap();
    let mut v = Vec::new();
    for (i, msg) in msgs.iter().enumerate() {
        if let Some(tc) = msg["tool_calls"].as_array() {
            let call_id = tc[0]["id"].as_str().unwrap();
            let result = &msgs[i + 1];
            assert_eq!(result["role"], "tool");
            assert_eq!(result["tool_call_id"], call_id);
            // arguments are a JSON string, as OpenAI writes them
            serde_json::from_str::<Value>(tc[0]["function"]["arguments"].as_str().unwrap())
                .unwrap();
            v.push((
                tc[0]["function"]["name"].as_str().unwrap().to_string(),
                result["content"].as_str().unwrap().to_string(),
            ));
        }
    }
    m.insert("openai", v);
    // Claude Code: merge assistant lines by message.id, pair tool_use with tool_result
    let text = std::fs::read_to_string(out.join(format!("claude-code/{id}.claude.jsonl"))).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: HashSet<&str> = lines
        .iter()
        .filter(|l| l["type"] == "assistant")
        .map(|l| l["message"]["id"].as_str().unwrap())
        .collect();
    let assistant_lines = lines.iter().filter(|l| l["type"] == "assistant").count();
    assert!(
        assistant_lines > ids.len(),
        "assistant messages are split over lines sharing message.id"
    );
    let mut v = Vec::new();
    let mut pending: BTreeMap<String, String> = BTreeMap::new();
    for (i, l) in lines.iter().enumerate() {
        if i > 0 {
            assert_eq!(l["parentUuid"], lines[i - 1]["uuid"]);
        }
        for block in l["message"]["content"].as_array().into_iter().flatten() {
            match block["type"].as_str().unwrap() {
                "tool_use" => {
                    pending.insert(
                        block["id"].as_str().unwrap().into(),
                        block["name"].as_str().unwrap().into(),
                    );
                }
                "tool_result" => {
                    let name = pending
                        .remove(block["tool_use_id"].as_str().unwrap())
                        .unwrap();
                    v.push((name, block["content"].as_str().unwrap().to_string()));
                }
                _ => {}
            }
        }
    }
    m.insert("claude-code", v);
    let share = out.join(format!("sharegpt/{id}.sharegpt.json"));
    if !share.exists() {
        return m;
    }
    let s = json(&share);
    let conv = s["conversations"].as_array().unwrap();
    let mut v = Vec::new();
    for (i, t) in conv.iter().enumerate() {
        if t["from"] == "function_call" {
            let call: Value = serde_json::from_str(t["value"].as_str().unwrap()).unwrap();
            assert_eq!(conv[i + 1]["from"], "observation");
            v.push((
                call["name"].as_str().unwrap().to_string(),
                conv[i + 1]["value"].as_str().unwrap().to_string(),
            ));
        }
    }
    m.insert("sharegpt", v);
    m
}

#[test]
fn search_agents() {
    let tmp = tempfile::tempdir().unwrap();
    run("search", "openai,claude-code,sharegpt", tmp.path(), "1");
    for gt in ground_truth(tmp.path()) {
        let id = gt["id"].as_str().unwrap();
        let c = calls(tmp.path(), id);
        assert_eq!(c["openai"], c["claude-code"]);
        assert_eq!(c["openai"], c["sharegpt"]);
        let steps = &c["openai"];
        let hops = gt["ground_truth"]["hops"].as_u64().unwrap() as usize;
        assert_eq!(steps.len(), 2 * hops);
        // the answer is stated in the last visited page
        let answer = gt["ground_truth"]["answer"].as_str().unwrap();
        assert!(steps.last().unwrap().1.contains(answer));
        assert!(gt["final_answer"].as_str().unwrap().contains(answer));
        // search results never visited remain as distractors
        let visited: HashSet<String> = steps
            .iter()
            .filter(|(n, _)| n == "visit")
            .map(|(_, o)| o.split_whitespace().nth(4).unwrap().to_string())
            .collect();
        let listed: HashSet<String> = steps
            .iter()
            .filter(|(n, _)| n == "search")
            .flat_map(|(_, o)| {
                o.lines()
                    .filter_map(|l| {
                        l.split("](")
                            .nth(1)
                            .map(|u| u.trim_end_matches(')').to_string())
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        assert!(visited.is_subset(&listed), "{visited:?} ⊄ {listed:?}");
        assert!(listed.len() > visited.len());
        assert_eq!(gt["meta"]["evidence_urls"].as_array().unwrap().len(), hops);
    }
    // deterministic: same seed, same bytes
    let again = tempfile::tempdir().unwrap();
    run("search", "openai,claude-code,sharegpt", again.path(), "1");
    for f in [
        "ground_truth.jsonl",
        "openai/search-00003.openai.json",
        "claude-code/search-00003.claude.jsonl",
    ] {
        assert_eq!(
            std::fs::read(tmp.path().join(f)).unwrap(),
            std::fs::read(again.path().join(f)).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn sql_agents_run_real_queries() {
    let tmp = tempfile::tempdir().unwrap();
    run("sql", "openai,claude-code,sharegpt", tmp.path(), "2");
    for gt in ground_truth(tmp.path()) {
        let id = gt["id"].as_str().unwrap();
        let c = calls(tmp.path(), id);
        assert_eq!(c["openai"], c["sharegpt"]);
        assert_eq!(c["openai"], c["claude-code"]);
        // re-execute the gold SQL on the recorded database
        let db = gt["meta"]["db_path"].as_str().unwrap();
        let conn = rusqlite::Connection::open(db).unwrap();
        let sql = gt["ground_truth"]["sql"].as_str().unwrap();
        let (_, rows) = acc_probe::environments::sql::query(&conn, sql).unwrap();
        assert_eq!(Value::from(rows.clone()), gt["ground_truth"]["rows"]);
        // the agent saw that result last, and the first query listed the three tables
        let cols: Vec<String> = gt["ground_truth"]["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            c["openai"].last().unwrap().1,
            acc_probe::environments::sql::render_result(&cols, &rows)
        );
        assert_eq!(c["openai"][0].1, "name\ncustomers\norders\nproducts");
        // an independent count from the raw tables for the "most orders" question
        if gt["question"]
            .as_str()
            .unwrap()
            .starts_with("Which customer")
        {
            let mut counts: BTreeMap<i64, i64> = BTreeMap::new();
            let mut st = conn.prepare("SELECT customer_id FROM orders").unwrap();
            for r in st.query_map([], |r| r.get::<_, i64>(0)).unwrap() {
                *counts.entry(r.unwrap()).or_default() += 1;
            }
            let best = counts
                .iter()
                .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                .unwrap()
                .0;
            assert_eq!(
                gt["ground_truth"]["answer"].as_str().unwrap(),
                format!("Customer {best:02}")
            );
        }
    }
}

#[test]
fn swe_agents_submit_the_gold_patch() {
    let tmp = tempfile::tempdir().unwrap();
    run("swe", "openai,claude-code,swe-agent", tmp.path(), "3");
    for gt in ground_truth(tmp.path()) {
        let id = gt["id"].as_str().unwrap();
        let traj = json(&tmp.path().join(format!("swe-agent/{id}.traj")));
        let patch = gt["ground_truth"]["patch"].as_str().unwrap();
        assert_eq!(traj["info"]["submission"], patch);
        assert_eq!(traj["info"]["exit_status"], "submitted");
        assert!(traj["history"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["message_type"].is_string()));
        // apply the patch to the original file: the hunk header must locate the lines
        let path = gt["ground_truth"]["files"][0].as_str().unwrap();
        let original = gt["meta"]["repo"][path].as_str().unwrap();
        let lines: Vec<&str> = original.lines().collect();
        let header = patch.lines().find(|l| l.starts_with("@@")).unwrap();
        let start: usize = header.split(['-', ',']).nth(1).unwrap().parse().unwrap();
        let mut fixed: Vec<String> = lines[..start - 1].iter().map(|s| s.to_string()).collect();
        let mut pos = start - 1;
        for l in patch.lines().skip_while(|l| !l.starts_with("@@")).skip(1) {
            match l.split_at(1) {
                (" ", rest) => {
                    assert_eq!(lines[pos], rest);
                    fixed.push(rest.into());
                    pos += 1;
                }
                ("-", rest) => {
                    assert_eq!(lines[pos], rest);
                    pos += 1;
                }
                ("+", rest) => fixed.push(rest.into()),
                _ => panic!("bad patch line {l}"),
            }
        }
        fixed.extend(lines[pos..].iter().map(|s| s.to_string()));
        let fixed = fixed.join("\n");
        assert_ne!(fixed, original.trim_end());
        // the file view the agent saw after editing is the patched file
        let c = calls(tmp.path(), id);
        let edit = &c["openai"]
            .iter()
            .find(|(_, o)| o.starts_with("File updated"))
            .unwrap()
            .1;
        for (n, l) in fixed.lines().enumerate() {
            assert!(
                edit.contains(&format!("\n{}:{l}", n + 1)),
                "line {} of the patched file",
                n + 1
            );
        }
    }
    // the SWE-agent format is refused for other domains
    let o = Command::new(env!("CARGO_BIN_EXE_acc-probe"))
        .args([
            "agents",
            "--domain",
            "search",
            "--n",
            "1",
            "--format",
            "swe-agent",
            "--out",
            tmp.path().join("x").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
}

/// History episodes: every format carries the same listing pages, and the
/// answer re-derived from the pages alone (the edges into the commit, or a
/// BFS level by level) is the ground truth and the final answer line.
#[test]
fn history_answers_follow_from_the_listed_edges() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("history");
    run("history", "openai,claude-code,sharegpt", &out, "5");
    for gt in ground_truth(&out) {
        let id = gt["id"].as_str().unwrap();
        let c = calls(&out, id);
        assert_eq!(c["openai"], c["claude-code"], "{id}");
        let edges: Vec<(String, String)> = c["openai"]
            .iter()
            .flat_map(|(name, o)| {
                assert_eq!(name, "bash");
                o.lines().map(|l| {
                    let (a, b) = l.split_once(" -> ").unwrap();
                    (a.to_string(), b.to_string())
                })
            })
            .collect();
        let q = gt["question"].as_str().unwrap();
        let node = |after: &str| q[q.find(after).unwrap() + after.len()..][..10].to_string();
        let mut answer: Vec<String> = if q.contains("Find the parents of commit ") {
            let x = node("Find the parents of commit ");
            edges
                .iter()
                .filter(|e| e.1 == x)
                .map(|e| e.0.clone())
                .collect()
        } else {
            let x = node("Perform a BFS from commit ");
            let depth: usize = q[q.find("with depth ").unwrap() + 11..][..1]
                .parse()
                .unwrap();
            let mut seen = HashSet::from([x.clone()]);
            let mut level = vec![x];
            for _ in 0..depth {
                let mut next = Vec::new();
                for u in &level {
                    for (a, b) in &edges {
                        if a == u && seen.insert(b.clone()) {
                            next.push(b.clone());
                        }
                    }
                }
                level = next;
            }
            level
        };
        answer.sort();
        assert!(!answer.is_empty(), "{id}");
        let gold: Vec<String> =
            serde_json::from_value(gt["ground_truth"]["answer_nodes"].clone()).unwrap();
        assert_eq!(answer, gold, "{id}");
        let last = gt["final_answer"].as_str().unwrap().lines().last().unwrap();
        assert_eq!(last, format!("Final Answer: [{}]", gold.join(", ")));
    }
    // patch submissions only: the SWE-agent format is refused here
    let o = Command::new(env!("CARGO_BIN_EXE_acc-probe"))
        .args([
            "agents",
            "--domain",
            "history",
            "--n",
            "1",
            "--format",
            "swe-agent",
            "--out",
        ])
        .arg(tmp.path().join("y"))
        .output()
        .unwrap();
    assert!(!o.status.success());
}

/// `--commits MIN,MAX` sizes the history repositories; a bad range, or the
/// flag with another domain, is refused by name.
#[test]
fn history_commits_size_the_repositories() {
    let tmp = tempfile::tempdir().unwrap();
    let agents = |domain: &str, commits: &str, out: &str| {
        Command::new(env!("CARGO_BIN_EXE_acc-probe"))
            .args(["agents", "--domain", domain, "--n", "8", "--commits"])
            .args([commits, "--format", "openai", "--out"])
            .arg(tmp.path().join(out))
            .output()
            .unwrap()
    };
    let o = agents("history", "20,32", "big");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for gt in ground_truth(&tmp.path().join("big")) {
        let n = gt["meta"]["commits"].as_array().unwrap().len();
        assert!((20..=32).contains(&n), "{n} commits");
    }
    for (domain, commits, says) in [
        ("history", "9,3", "expected MIN,MAX with 2 <= MIN <= MAX"),
        ("history", "12", "takes two numbers"),
        ("search", "6,9", "--domain history only"),
    ] {
        let o = agents(domain, commits, "bad");
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(says), "{domain} {commits}: {err}");
    }
}
