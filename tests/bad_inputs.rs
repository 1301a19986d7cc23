//! Bad inputs, one table: each case builds its inputs in a fresh directory,
//! runs one command, and states the exit (refused with a message fragment, or
//! done) and what must exist afterwards. No case may panic (exit 101) or
//! abort (exit 134), and good records survive bad neighbours. The table is
//! kept by class: damaged files (`bad_inputs/files.rs`), sizes and ranges
//! (`limits.rs`), output paths (`outputs.rs`), and below, scoring and
//! validation.

mod common;
#[path = "bad_inputs/files.rs"]
mod files;
#[path = "bad_inputs/limits.rs"]
mod limits;
#[path = "bad_inputs/outputs.rs"]
mod outputs;

use std::path::Path;
use std::process::Command;

use common::{fixture, model_with_tokenizer};
use serde_json::Value;

/// What a case expects of its command.
enum Expect {
    /// Refused (exit 1 or 2), stderr holding every fragment.
    Refused(&'static [&'static str]),
    /// Done (exit 0), stdout + stderr holding every fragment.
    Done(&'static [&'static str]),
}

struct Case {
    name: &'static str,
    /// Builds the inputs in the directory and returns the arguments.
    setup: fn(&Path) -> Vec<String>,
    expect: Expect,
    /// Paths (relative to the directory) that must exist afterwards, and
    /// ones that must not.
    exist: &'static [&'static str],
    absent: &'static [&'static str],
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn p(d: &Path, rel: &str) -> String {
    d.join(rel).display().to_string()
}

/// A copy of the tiny model with `edit` applied to its config.json.
fn model_with_config(d: &Path, edit: fn(&mut Value)) -> String {
    let m = d.join("m");
    std::fs::create_dir_all(&m).unwrap();
    model_with_tokenizer(&m);
    let cfg = m.join("config.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(&cfg).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(&cfg, v.to_string()).unwrap();
    m.display().to_string()
}

/// `fixture` with line `n` (1-based) given an invalid UTF-8 byte.
fn with_bad_byte(src: &Path, dst: &Path, n: usize) {
    let bytes = std::fs::read(src).unwrap();
    let mut out = Vec::new();
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if i > 0 {
            out.push(b'\n');
        }
        out.extend_from_slice(line);
        if i + 1 == n {
            out.extend_from_slice(&[0xff, 0xfe]);
        }
    }
    std::fs::write(dst, out).unwrap();
}

/// `n` GraphWalks gold rows with ids (g.jsonl) and perfect predictions
/// carrying the same ids (p.jsonl), leaving out the rows in `drop`.
fn gold_and_preds(d: &Path, n: usize, drop: &[usize]) {
    let (mut g, mut p) = (String::new(), String::new());
    for i in 0..n {
        let node = format!("{i:010x}");
        g += &serde_json::json!({"id": format!("row-{i}"), "prompt": "Find the parents",
            "answer_nodes": [node], "problem_type": "parents", "prompt_chars": 16})
        .to_string();
        g.push('\n');
        if !drop.contains(&i) {
            p += &serde_json::json!({"id": format!("row-{i}"),
                "response": format!("Final Answer: [{node}]")})
            .to_string();
            p.push('\n');
        }
    }
    std::fs::write(d.join("g.jsonl"), g).unwrap();
    std::fs::write(d.join("p.jsonl"), p).unwrap();
}

/// `dump` of the model `m` on the token ids `ids` (written to ids.json),
/// with `extra` arguments (its --out among them).
fn dump(d: &Path, m: &str, ids: &str, extra: &[&str]) -> Vec<String> {
    std::fs::write(d.join("ids.json"), ids).unwrap();
    let mut args = s(&["dump", "--model", m, "--ids", &p(d, "ids.json")]);
    args.extend(s(extra));
    args
}

const REACT: &str = "trajectories/react-text/fireact_hotpotqa_gpt_format_first51.jsonl";

fn compile_args(d: &Path, input: &str) -> Vec<String> {
    s(&[
        "compile",
        "--input",
        input,
        "--budget",
        "4k",
        "--out",
        &p(d, "out.jsonl"),
        "--rejects",
        &p(d, "rejects.jsonl"),
    ])
}

fn cases() -> Vec<Case> {
    let mut v = vec![
        Case {
            name: "score: a missing prediction line would shift every later row",
            setup: |d| {
                gold_and_preds(d, 4, &[2]);
                s(&[
                    "score",
                    "graphwalks",
                    "--pred",
                    &p(d, "p.jsonl"),
                    "--gold",
                    &p(d, "g.jsonl"),
                    "--approx-tokens",
                ])
            },
            expect: Expect::Refused(&["3 predictions for the 4 rows", "--allow-missing"]),
            exist: &[],
            absent: &[],
        },
        Case {
            name: "score: predictions matched by id survive a missing line",
            setup: |d| {
                gold_and_preds(d, 4, &[2]);
                s(&[
                    "score",
                    "graphwalks",
                    "--pred",
                    &p(d, "p.jsonl"),
                    "--gold",
                    &p(d, "g.jsonl"),
                    "--approx-tokens",
                    "--allow-missing",
                    "--json",
                ])
            },
            // the 3 perfect predictions still score 1 each
            expect: Expect::Done(&["\"scored\": 3", "\"mean\": 1.0"]),
            exist: &[],
            absent: &[],
        },
        Case {
            name: "score: two gold rows with one id",
            setup: |d| {
                gold_and_preds(d, 3, &[]);
                let g = std::fs::read_to_string(d.join("g.jsonl")).unwrap();
                std::fs::write(d.join("g.jsonl"), g.replace("row-1", "row-0")).unwrap();
                s(&[
                    "score",
                    "graphwalks",
                    "--gold",
                    &p(d, "g.jsonl"),
                    "--pred",
                    &p(d, "p.jsonl"),
                    "--approx-tokens",
                ])
            },
            expect: Expect::Refused(&["g.jsonl:2: a second gold row with id `row-0`"]),
            exist: &[],
            absent: &[],
        },
        Case {
            name: "score: a prediction whose id no gold row carries is named",
            setup: |d| {
                gold_and_preds(d, 3, &[]);
                let pr = std::fs::read_to_string(d.join("p.jsonl")).unwrap();
                std::fs::write(d.join("p.jsonl"), pr.replace("row-2", "row-9")).unwrap();
                s(&[
                    "score",
                    "graphwalks",
                    "--gold",
                    &p(d, "g.jsonl"),
                    "--pred",
                    &p(d, "p.jsonl"),
                    "--approx-tokens",
                ])
            },
            expect: Expect::Refused(&["1 without a prediction", "`row-9` at line 3"]),
            exist: &[],
            absent: &[],
        },
        Case {
            name: "score: an empty gold file",
            setup: |d| {
                gold_and_preds(d, 2, &[]);
                std::fs::write(d.join("g.jsonl"), "").unwrap();
                s(&[
                    "score",
                    "graphwalks",
                    "--pred",
                    &p(d, "p.jsonl"),
                    "--gold",
                    &p(d, "g.jsonl"),
                    "--approx-tokens",
                ])
            },
            expect: Expect::Refused(&["no gold rows"]),
            exist: &[],
            absent: &[],
        },
        Case {
            name: "score: the other task's gold file",
            setup: |d| {
                gold_and_preds(d, 2, &[]);
                s(&[
                    "score",
                    "mrcr",
                    "--pred",
                    &p(d, "p.jsonl"),
                    "--gold",
                    &p(d, "g.jsonl"),
                    "--approx-tokens",
                ])
            },
            expect: Expect::Refused(&["is a Mrcr row", "other task"]),
            exist: &[],
            absent: &[],
        },
        Case {
            name: "tasks: an unknown problem type is refused before any row",
            setup: |d| {
                s(&[
                    "tasks",
                    "graphwalks",
                    "--n",
                    "3",
                    "--tokens",
                    "400",
                    "--problems",
                    "bfs,dfs",
                    "--approx-tokens",
                    "--out",
                    &p(d, "t.jsonl"),
                ])
            },
            expect: Expect::Refused(&["unknown GraphWalks problem `dfs`"]),
            exist: &[],
            absent: &["t.jsonl"],
        },
        Case {
            name: "merge: a shard manifest with index ≥ count",
            setup: |d| {
                let dir = d.join("s0");
                std::fs::create_dir_all(&dir).unwrap();
                let m = serde_json::json!({"kind": "attention", "shard": {"index": 3, "count": 2},
                    "input_ids": ["a"], "models": [], "command": "x"});
                std::fs::write(dir.join("shard.json"), m.to_string()).unwrap();
                s(&["merge", "--out", &p(d, "m"), &dir.display().to_string()])
            },
            expect: Expect::Refused(&["shard.json", "3/2", "0 ≤ i < N"]),
            exist: &[],
            absent: &["m/cache"],
        },
    ];
    v.extend(outputs::cases());
    v.extend(limits::cases());
    v.extend(files::cases());
    v
}

#[test]
fn bad_inputs_are_refused_or_survived_never_a_panic() {
    let mut failures = Vec::new();
    for c in cases() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let args = (c.setup)(d);
        let o = Command::new(env!("CARGO_BIN_EXE_acc-probe"))
            .args(&args)
            .current_dir(d)
            .output()
            .unwrap();
        let code = o.status.code().unwrap_or(-1);
        let (out, err) = (
            String::from_utf8_lossy(&o.stdout).to_string(),
            String::from_utf8_lossy(&o.stderr).to_string(),
        );
        let both = format!("{out}\n{err}");
        let mut fail = |why: String| failures.push(format!("{}: {why}\n{both}", c.name));
        match c.expect {
            Expect::Refused(frags) => {
                if !(code == 1 || code == 2) {
                    fail(format!("expected a refusal (exit 1 or 2), got exit {code}"));
                }
                for f in frags {
                    if !err.contains(f) {
                        fail(format!("stderr lacks `{f}`"));
                    }
                }
            }
            Expect::Done(frags) => {
                if code != 0 {
                    fail(format!("expected success, got exit {code}"));
                }
                for f in frags {
                    if !both.contains(f) {
                        fail(format!("output lacks `{f}`"));
                    }
                }
            }
        }
        for e in c.exist {
            if !d.join(e).exists() {
                fail(format!("{e} should exist"));
            }
        }
        for a in c.absent {
            if d.join(a).exists() {
                fail(format!("{a} should not exist"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn a_bad_byte_loses_no_good_record() {
    // the intact file and the one with a bad byte on line 7: the same records
    // read, and every sample of the intact file but one is still written
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    with_bad_byte(&fixture(REACT), &d.join("bad.jsonl"), 7);
    let run = |input: &str, out: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_acc-probe"))
            .args(["compile", "--input", input, "--budget", "4k", "--out", out])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        std::fs::read_to_string(out).unwrap().lines().count()
    };
    let whole = run(&fixture(REACT).display().to_string(), &p(d, "whole.jsonl"));
    let bad = run(&p(d, "bad.jsonl"), &p(d, "bad-out.jsonl"));
    assert!(whole >= 2, "{whole} samples from the intact file");
    assert!(bad + 1 >= whole && bad <= whole, "{bad} of {whole}");
}
