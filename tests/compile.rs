//! The ACC compiler end to end on synthetic agent trajectories: evidence per
//! domain, budgets never exceeded, determinism across jobs and shards, bad
//! records rejected with reasons while good ones survive.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn acc(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_acc-probe"))
        .args(args)
        .output()
        .unwrap()
}

fn agents(dir: &Path, domain: &str, formats: &str) {
    let o = acc(&[
        "agents",
        "--domain",
        domain,
        "--n",
        "8",
        "--seed",
        "5",
        "--format",
        formats,
        "--out",
        dir.join(domain).to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn rows(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn ground_truth(dir: &Path) -> Vec<Value> {
    rows(&dir.join("ground_truth.jsonl"))
}

#[test]
fn evidence_per_domain() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    agents(t, "search", "openai,claude-code,sharegpt");
    agents(t, "sql", "openai,claude-code,sharegpt");
    agents(t, "swe", "openai,claude-code,swe-agent");
    let out = t.join("out.jsonl");
    let stats = t.join("stats.json");
    let inputs: Vec<String> = [
        "search/openai",
        "search/claude-code",
        "search/sharegpt",
        "sql/openai",
        "sql/claude-code",
        "sql/sharegpt",
        "swe/openai",
        "swe/claude-code",
        "swe/swe-agent",
    ]
    .iter()
    .map(|d| t.join(d).display().to_string())
    .collect();
    let mut args: Vec<&str> = vec!["compile", "--input"];
    args.extend(inputs.iter().map(String::as_str));
    let db = t.join("sql/databases").display().to_string();
    args.extend([
        "--db",
        &db,
        "--budget",
        "32k",
        "--out",
        out.to_str().unwrap(),
        "--stats",
        stats.to_str().unwrap(),
    ]);
    let o = acc(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("72 records read = 72 written + 0 rejected"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let rows = rows(&out);
    let s: Value = serde_json::from_str(&std::fs::read_to_string(&stats).unwrap()).unwrap();
    assert_eq!(
        s["per_domain"],
        serde_json::json!({"search": 24, "sql": 24, "swe": 24})
    );

    let search_gt = ground_truth(&t.join("search"));
    let swe_gt = ground_truth(&t.join("swe"));
    for r in &rows {
        let prompt = r["dialogs"][0]["content"].as_str().unwrap();
        assert!(prompt.starts_with(
            "Please reason based on the following documents and answer the question."
        ));
        let meta = &r["meta"];
        let pieces = meta["pieces"].as_array().unwrap();
        let sources: Vec<&str> = pieces
            .iter()
            .filter(|p| p["kind"] == "evidence")
            .map(|p| p["source"].as_str().unwrap())
            .collect();
        match meta["domain"].as_str().unwrap() {
            "search" => {
                let file = meta["source"].as_str().unwrap();
                let id = Path::new(file)
                    .file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .split('.')
                    .next()
                    .unwrap();
                let gt = search_gt.iter().find(|g| g["id"] == id).unwrap();
                // every visited page is evidence; unvisited results are distractors
                for url in gt["meta"]["evidence_urls"].as_array().unwrap() {
                    assert!(
                        sources.contains(&url.as_str().unwrap()),
                        "{url} missing from {sources:?}"
                    );
                }
                assert!(pieces.iter().any(|p| p["kind"] == "distractor"));
                assert!(r["ground_truth_answer"]
                    .as_str()
                    .unwrap()
                    .contains(gt["ground_truth"]["answer"].as_str().unwrap()));
            }
            "sql" => {
                let mut tables = sources.clone();
                tables.sort();
                assert_eq!(
                    tables,
                    ["table customers", "table orders", "table products"]
                );
                assert!(meta["notes"].as_array().unwrap().is_empty(), "{meta}");
            }
            "swe" => {
                let answer = r["ground_truth_answer"].as_str().unwrap();
                let gt = swe_gt
                    .iter()
                    .find(|g| g["ground_truth"]["patch"] == answer)
                    .expect("the gold patch is the answer");
                let path = gt["ground_truth"]["files"][0].as_str().unwrap();
                assert_eq!(sources, [path]);
                // the evidence is the file before the fix
                let original = gt["meta"]["repo"][path].as_str().unwrap();
                assert!(
                    prompt.contains(original.trim_end()),
                    "pre-patch {path} in the prompt"
                );
                assert!(pieces
                    .iter()
                    .any(|p| p["kind"] == "distractor" && p["source"] == "calc/util.py"));
            }
            d => panic!("unexpected domain {d}"),
        }
        // the supervised target carries the agent's reasoning and the answer
        let target = r["dialogs"][1]["content"].as_str().unwrap();
        let answer = r["ground_truth_answer"].as_str().unwrap().trim();
        assert!(target.ends_with(answer));
        // ShareGPT rows carry no reasoning of their own: the target is the answer alone
        if meta["source_format"] != "sharegpt" {
            assert!(target.starts_with("<think>\n"), "{target}");
        }
    }
}

#[test]
fn budgets_are_never_exceeded_and_outputs_are_deterministic() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    agents(t, "search", "openai,sharegpt");
    agents(t, "swe", "openai,swe-agent");
    let input = [
        t.join("search").display().to_string(),
        t.join("swe").display().to_string(),
    ];
    let run = |name: &str, extra: &[&str]| -> Vec<u8> {
        let out = t.join(name);
        let mut args = vec![
            "compile",
            "--input",
            &input[0],
            &input[1],
            "--budget",
            "150..400",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        if !extra.contains(&"--seed") {
            args.extend(["--seed", "9"]);
        }
        let o = acc(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        std::fs::read(out).unwrap()
    };
    let one = run("j1.jsonl", &["--jobs", "1"]);
    let two = run("j2.jsonl", &["--jobs", "2"]);
    assert_eq!(one, two, "--jobs must not change the output");
    let mut sharded = run("s0.jsonl", &["--shard", "0/3"]);
    sharded.extend(run("s1.jsonl", &["--shard", "1/3"]));
    sharded.extend(run("s2.jsonl", &["--shard", "2/3"]));
    assert_eq!(
        one, sharded,
        "shards concatenate to the single-process result"
    );
    let rows: Vec<Value> = String::from_utf8(one)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut truncated = 0;
    for r in &rows {
        let (tokens, budget) = (
            r["meta"]["context_tokens"].as_u64().unwrap(),
            r["meta"]["budget"].as_u64().unwrap(),
        );
        assert!(tokens <= budget, "{tokens} > {budget}");
        assert!((150..=400).contains(&budget));
        // the approximate counter is chars/4: check it independently
        let chars = r["dialogs"][0]["content"].as_str().unwrap().chars().count() as u64;
        assert_eq!(tokens, chars.div_ceil(4));
        if r["meta"]["pieces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["truncated"] == true)
        {
            truncated += 1;
            assert!(r["dialogs"][0]["content"]
                .as_str()
                .unwrap()
                .contains("[... truncated to fit the context budget ...]"));
        }
    }
    assert!(truncated > 0, "small budgets must truncate some evidence");
    let other = run("seed.jsonl", &["--seed", "10"]);
    assert_ne!(std::fs::read(t.join("j1.jsonl")).unwrap(), other);

    // the same files in another directory compile to the same samples
    let moved = t.join("elsewhere/deeper");
    std::fs::create_dir_all(&moved).unwrap();
    let src = t.join("search");
    for e in walk(&src) {
        let dst = moved.join(e.strip_prefix(&src).unwrap());
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(&e, &dst).unwrap();
    }
    let compile_dir = |dir: &Path, name: &str| -> Vec<Value> {
        let out = t.join(name);
        let o = acc(&[
            "compile",
            "--input",
            dir.to_str().unwrap(),
            "--seed",
            "9",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let mut rows = rows_of(&out);
        // `source` names the file, and so does `id` where the format has none
        for r in &mut rows {
            let meta = r["meta"].as_object_mut().unwrap();
            meta.remove("source");
            meta.remove("id");
        }
        rows
    };
    let (here, there) = (
        compile_dir(&src, "here.jsonl"),
        compile_dir(&moved, "there.jsonl"),
    );
    assert!(!here.is_empty());
    assert_eq!(
        here, there,
        "the input's directory must not change the samples"
    );

    // distractors off
    let out = t.join("nod.jsonl");
    let o = acc(&[
        "compile",
        "--input",
        &input[0],
        "--distractors",
        "off",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    for r in rows_of(&out) {
        assert!(r["meta"]["pieces"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["kind"] != "distractor"));
    }
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn rows_of(p: &Path) -> Vec<Value> {
    rows(p)
}

#[test]
fn bad_records_are_rejected_and_good_ones_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    agents(t, "search", "openai");
    let bad = t.join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    let good = std::fs::read_to_string(t.join("search/openai/search-00000.openai.json")).unwrap();
    let good_line = serde_json::to_string(&serde_json::from_str::<Value>(&good).unwrap()).unwrap();
    let no_answer = {
        let mut v: Value = serde_json::from_str(&good).unwrap();
        let msgs = v["messages"].as_array_mut().unwrap();
        msgs.pop();
        v.to_string()
    };
    let bad_id = good_line.replacen(
        "\"tool_call_id\":\"call_search-00000_0\"",
        "\"tool_call_id\":\"call_nowhere\"",
        1,
    );
    let lines = [
        good_line.as_str(),
        "{not json",
        "{\"messages\": []}",
        no_answer.as_str(),
        bad_id.as_str(),
        "{\"foo\": 1}",
    ];
    std::fs::write(bad.join("mixed.jsonl"), lines.join("\n")).unwrap();
    std::fs::write(bad.join("binary.json"), [0xff, 0xfe, 0x00, 0x01]).unwrap();
    let out = t.join("o.jsonl");
    let rej = t.join("r.jsonl");
    let o = acc(&[
        "compile",
        "--input",
        bad.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--rejects",
        rej.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("7 records read = 1 written + 6 rejected"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let reasons: Vec<String> = rows(&rej)
        .iter()
        .map(|r| {
            format!(
                "{}:{} {}",
                r["source"]["file"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap(),
                r["source"]["record"],
                r["reason"]
            )
        })
        .collect();
    let has = |s: &str| reasons.iter().any(|r| r.contains(s));
    assert!(has("mixed.jsonl:2 \"malformed JSON line"), "{reasons:?}");
    assert!(has("mixed.jsonl:3 \"no user question"), "{reasons:?}");
    assert!(
        has("mixed.jsonl:4 \"the run ends without a final answer"),
        "{reasons:?}"
    );
    assert!(
        has("mixed.jsonl:5 \"message 3: tool result for unknown call id call_nowhere"),
        "{reasons:?}"
    );
    assert!(has("mixed.jsonl:6 \"unknown format"), "{reasons:?}");
    assert!(has("binary.json:0 \"not valid UTF-8"), "{reasons:?}");
    assert_eq!(rows(&out).len(), 1);
}
