//! Bad inputs, one table: each case builds its inputs in a fresh directory,
//! runs one command, and states the exit (refused with a message fragment, or
//! done) and what must exist afterwards. No case may panic (exit 101) or
//! abort (exit 134), and good records survive bad neighbours.

mod common;

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
    vec![
        Case {
            name: "compile: one line with a bad byte costs that line",
            setup: |d| {
                with_bad_byte(&fixture(REACT), &d.join("r.jsonl"), 7);
                compile_args(d, &p(d, "r.jsonl"))
            },
            // 51 records read, as from the intact file
            expect: Expect::Done(&["51 records read"]),
            exist: &["out.jsonl", "rejects.jsonl"],
            absent: &[],
        },
        Case {
            name: "compile: a truncated JSON document is one record, with the place",
            setup: |d| {
                let doc = serde_json::json!({"messages": [
                    {"role": "user", "content": "Where is the order?"},
                    {"role": "assistant", "content": "In Tallinn."}]});
                let text = serde_json::to_string_pretty(&doc).unwrap();
                std::fs::write(d.join("t.json"), &text[..text.len() / 2]).unwrap();
                compile_args(d, &p(d, "t.json"))
            },
            expect: Expect::Done(&[
                "1 records read = 0 written + 1 rejected",
                "truncated JSON document",
                "byte offset",
            ]),
            exist: &["out.jsonl"],
            absent: &[],
        },
        Case {
            name: "compile: JSON nested past the parser's limit says so",
            setup: |d| {
                let deep = format!("{}{}", "[".repeat(300), "]".repeat(300));
                std::fs::write(d.join("deep.json"), deep).unwrap();
                compile_args(d, &p(d, "deep.json"))
            },
            expect: Expect::Done(&["1 records read", "nested deeper"]),
            exist: &["out.jsonl"],
            absent: &[],
        },
        Case {
            name: "compile: a broken link in an input folder is a skipped input",
            setup: |d| {
                let dir = d.join("in");
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::copy(fixture(REACT), dir.join("a.jsonl")).unwrap();
                std::os::unix::fs::symlink(d.join("gone.jsonl"), dir.join("b.jsonl")).unwrap();
                compile_args(d, &dir.display().to_string())
            },
            expect: Expect::Done(&["2 files, 52 records read", "broken link"]),
            exist: &["out.jsonl"],
            absent: &[],
        },
        Case {
            name: "compile: a device says what it is",
            setup: |d| compile_args(d, "/dev/null"),
            expect: Expect::Done(&[
                "1 records read = 0 written + 1 rejected",
                "character device",
            ]),
            exist: &["out.jsonl"],
            absent: &[],
        },
        Case {
            name: "compile: --rejects the same file as --out",
            setup: |d| {
                std::fs::copy(fixture(REACT), d.join("r.jsonl")).unwrap();
                s(&[
                    "compile",
                    "--input",
                    &p(d, "r.jsonl"),
                    "--out",
                    &p(d, "x.jsonl"),
                    "--rejects",
                    &p(d, "./x.jsonl"),
                ])
            },
            expect: Expect::Refused(&["--rejects and --out are the same file"]),
            exist: &["r.jsonl"],
            absent: &["x.jsonl"],
        },
        Case {
            name: "compile: --out is its own input",
            setup: |d| {
                std::fs::copy(fixture(REACT), d.join("r.jsonl")).unwrap();
                s(&[
                    "compile",
                    "--input",
                    &p(d, "r.jsonl"),
                    "--out",
                    &p(d, "r.jsonl"),
                ])
            },
            expect: Expect::Refused(&["never overwrites an input"]),
            exist: &["r.jsonl"],
            absent: &[],
        },
        Case {
            name: "compile: --out is a folder",
            setup: |d| {
                std::fs::copy(fixture(REACT), d.join("r.jsonl")).unwrap();
                std::fs::create_dir_all(d.join("o")).unwrap();
                s(&["compile", "--input", &p(d, "r.jsonl"), "--out", &p(d, "o")])
            },
            expect: Expect::Refused(&["is a folder"]),
            exist: &[],
            absent: &["o.tmp"],
        },
        Case {
            name: "compile: --out in a folder not made yet",
            setup: |d| {
                std::fs::copy(fixture(REACT), d.join("r.jsonl")).unwrap();
                s(&[
                    "compile",
                    "--input",
                    &p(d, "r.jsonl"),
                    "--out",
                    &p(d, "new/dir/o.jsonl"),
                ])
            },
            expect: Expect::Done(&["51 records read"]),
            exist: &["new/dir/o.jsonl"],
            absent: &[],
        },
        Case {
            name: "dump: --out whose JSON sidecar is itself",
            setup: |d| {
                let m = model_with_config(d, |_| {});
                dump(d, &m, "[1, 2, 3]", &["--out", &p(d, "cap.json")])
            },
            expect: Expect::Refused(&["same file", "cap.json"]),
            exist: &[],
            absent: &["cap.json"],
        },
        Case {
            name: "dump: --out onto the model's weights",
            setup: |d| {
                let m = model_with_config(d, |_| {});
                let w = format!("{m}/model.safetensors");
                dump(d, &m, "[1, 2, 3]", &["--out", &w])
            },
            expect: Expect::Refused(&["never overwrites an input"]),
            exist: &["m/model.safetensors", "m/config.json"],
            absent: &[],
        },
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
            name: "tasks: a prompt of 0 tokens",
            setup: |d| {
                s(&[
                    "tasks",
                    "mrcr",
                    "--n",
                    "1",
                    "--tokens",
                    "0",
                    "--approx-tokens",
                    "--out",
                    &p(d, "t.jsonl"),
                ])
            },
            expect: Expect::Refused(&["--tokens", "1..=2097152"]),
            exist: &[],
            absent: &["t.jsonl"],
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
            name: "train: --out is the model it starts from",
            setup: |d| {
                let m = model_with_config(d, |_| {});
                std::fs::write(d.join("data.jsonl"), "{\"text\": \"the graph node\"}\n").unwrap();
                s(&[
                    "train",
                    "--data",
                    &p(d, "data.jsonl"),
                    "--model",
                    &m,
                    "--objective",
                    "lm",
                    "--out",
                    &format!("{m}/."),
                    "--steps",
                    "1",
                    "--seq-len",
                    "32",
                ])
            },
            expect: Expect::Refused(&["is the --model directory"]),
            exist: &["m/model.safetensors"],
            absent: &["m/train"],
        },
        Case {
            name: "lengths: a huge context with a narrow bin width",
            setup: |d| {
                std::fs::write(
                    d.join("acc.jsonl"),
                    "{\"meta\": {\"domain\": \"sql\", \"context_tokens\": 1000000000000}}\n",
                )
                .unwrap();
                s(&[
                    "lengths",
                    "--data",
                    &p(d, "acc.jsonl"),
                    "--bin-width",
                    "1",
                    "--out",
                    &p(d, "l"),
                ])
            },
            expect: Expect::Refused(&["bins", "--bin-width"]),
            exist: &[],
            absent: &["l/lengths.json"],
        },
        Case {
            name: "train: a row with a bad byte is one skipped row",
            setup: |d| {
                let m = model_with_config(d, |_| {});
                let rows: String = (0..12)
                    .map(|i| format!("{{\"text\": \"the graph node {i} is a node\"}}\n"))
                    .collect();
                std::fs::write(d.join("good.jsonl"), rows).unwrap();
                with_bad_byte(&d.join("good.jsonl"), &d.join("data.jsonl"), 3);
                s(&[
                    "train",
                    "--data",
                    &p(d, "data.jsonl"),
                    "--model",
                    &m,
                    "--objective",
                    "lm",
                    "--out",
                    &p(d, "run"),
                    "--steps",
                    "1",
                    "--seq-len",
                    "32",
                    "--json",
                ])
            },
            expect: Expect::Done(&["\"rows\": 12"]),
            exist: &["run/train/run.json", "run/train/skipped.json"],
            absent: &[],
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
        Case {
            name: "weights: a NaN in a layer is refused where it appears",
            setup: |d| {
                let m = model_with_config(d, |_| {});
                let f = Path::new(&m).join("model.safetensors");
                let mut w = candle_core::safetensors::load(&f, &candle_core::Device::Cpu).unwrap();
                let name = "model.layers.1.self_attn.o_proj.weight";
                let t = &w[name];
                let mut v: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
                v[0] = f32::NAN;
                let nan =
                    candle_core::Tensor::from_vec(v, t.dims(), &candle_core::Device::Cpu).unwrap();
                w.insert(name.to_string(), nan);
                candle_core::safetensors::save(&w, &f).unwrap();
                dump(d, &m, "[1, 2, 3]", &["--out", &p(d, "cap.safetensors")])
            },
            expect: Expect::Refused(&["blocks.1", "not finite", "model.layers.1"]),
            exist: &[],
            absent: &["cap.safetensors"],
        },
        Case {
            name: "dump: a token id beyond the vocabulary names the file",
            setup: |d| {
                let m = model_with_config(d, |_| {});
                dump(d, &m, "[1, 2, 5000]", &["--out", &p(d, "cap.safetensors")])
            },
            expect: Expect::Refused(&["ids.json", "5000", "position 2"]),
            exist: &[],
            absent: &["cap.safetensors"],
        },
        Case {
            name: "config: rope_theta 0",
            setup: |d| {
                let m = model_with_config(d, |v| v["rope_theta"] = 0.0.into());
                s(&["forward", "--model", &m, "--tokens", "8", "--probe", "none"])
            },
            expect: Expect::Refused(&["config.json", "rope_theta", "finite number > 0"]),
            exist: &[],
            absent: &[],
        },
        Case {
            name: "config: a billion experts",
            setup: |d| {
                let m = model_with_config(d, |v| v["num_experts"] = 1_000_000_000.into());
                s(&["forward", "--model", &m, "--tokens", "8", "--probe", "none"])
            },
            expect: Expect::Refused(&["config.json", "num_experts", "tensors"]),
            exist: &[],
            absent: &[],
        },
        Case {
            name: "config: a billion layers",
            setup: |d| {
                let m = model_with_config(d, |v| v["num_hidden_layers"] = 1_000_000_000.into());
                s(&["forward", "--model", &m, "--tokens", "8", "--probe", "none"])
            },
            expect: Expect::Refused(&["config.json", "num_hidden_layers", "tensors"]),
            exist: &[],
            absent: &[],
        },
        Case {
            name: "dump: --queries tail:0 measures nothing",
            setup: |d| {
                let m = model_with_config(d, |_| {});
                dump(
                    d,
                    &m,
                    "[1, 2, 3]",
                    &["--queries", "tail:0", "--out", &p(d, "cap.safetensors")],
                )
            },
            expect: Expect::Refused(&["tail:0"]),
            exist: &[],
            absent: &["cap.safetensors"],
        },
        Case {
            name: "dump: a zero streaming block",
            setup: |d| {
                let m = model_with_config(d, |_| {});
                dump(
                    d,
                    &m,
                    "[1, 2, 3]",
                    &["--block-k", "0", "--out", &p(d, "cap.safetensors")],
                )
            },
            expect: Expect::Refused(&["--block-k", "1..=8192"]),
            exist: &[],
            absent: &["cap.safetensors"],
        },
        Case {
            name: "eval: --n 0 is no score",
            setup: |d| {
                let m = model_with_config(d, |_| {});
                s(&[
                    "eval",
                    "--model",
                    &m,
                    "--task",
                    "graphwalks",
                    "--n",
                    "0",
                    "--tokens",
                    "300",
                ])
            },
            expect: Expect::Refused(&["--n", "1..=1000000"]),
            exist: &[],
            absent: &[],
        },
        Case {
            name: "attention: more examples than a session builds",
            setup: |d| {
                let m = model_with_config(d, |_| {});
                s(&[
                    "attention",
                    "--model",
                    &m,
                    "--examples",
                    "99999999",
                    "--out",
                    &p(d, "a"),
                ])
            },
            expect: Expect::Refused(&["--examples", "1..=10000"]),
            exist: &[],
            absent: &["a/attention.json"],
        },
        Case {
            name: "lengths: --out is a file",
            setup: |d| {
                std::fs::write(d.join("acc.jsonl"), "").unwrap();
                std::fs::write(d.join("taken"), "keep").unwrap();
                s(&[
                    "lengths",
                    "--data",
                    &p(d, "acc.jsonl"),
                    "--out",
                    &p(d, "taken"),
                ])
            },
            expect: Expect::Refused(&["--out", "taken: is a file; expected a folder"]),
            exist: &["taken"],
            absent: &[],
        },
        Case {
            name: "lengths: the report it would write is its --data",
            setup: |d| {
                std::fs::create_dir_all(d.join("l")).unwrap();
                std::fs::write(d.join("l/lengths.json"), "{}\n").unwrap();
                s(&[
                    "lengths",
                    "--data",
                    &p(d, "l/lengths.json"),
                    "--out",
                    &p(d, "l"),
                ])
            },
            expect: Expect::Refused(&["lengths.json written there is --data"]),
            exist: &["l/lengths.json"],
            absent: &["l/lengths.png"],
        },
        Case {
            name: "scores: --out is the base model, refused before any model loads",
            setup: |d| {
                let m = model_with_config(d, |_| {});
                s(&["scores", "--base", &m, "--acc", &m, "--out", &m])
            },
            expect: Expect::Refused(&["is also --base", "never an input"]),
            exist: &["m/model.safetensors"],
            absent: &["m/scores.json"],
        },
        Case {
            name: "ablate: --out inside the model folder",
            setup: |d| {
                let m = model_with_config(d, |_| {});
                let out = format!("{m}/ablation");
                s(&[
                    "ablate",
                    "--model",
                    &m,
                    "--layer",
                    "0",
                    "--experts",
                    "0",
                    "--task",
                    "mrcr",
                    "--out",
                    &out,
                ])
            },
            expect: Expect::Refused(&["lies inside --model", "never go into an input folder"]),
            exist: &[],
            absent: &["m/ablation"],
        },
        Case {
            name: "attention: --out lies in a file",
            setup: |d| {
                let m = model_with_config(d, |_| {});
                std::fs::write(d.join("f"), "keep").unwrap();
                s(&[
                    "attention",
                    "--model",
                    &m,
                    "--layers",
                    "0",
                    "--out",
                    &p(d, "f/a"),
                ])
            },
            expect: Expect::Refused(&["f/a", "is a file, not a folder"]),
            exist: &["f"],
            absent: &[],
        },
        Case {
            name: "routing: --out is the ACC model",
            setup: |d| {
                let m = model_with_config(d, |_| {});
                std::fs::create_dir_all(d.join("b")).unwrap();
                for f in ["config.json", "model.safetensors", "tokenizer.json"] {
                    std::fs::copy(d.join("m").join(f), d.join("b").join(f)).unwrap();
                }
                s(&[
                    "routing",
                    "--base",
                    &p(d, "b"),
                    "--acc",
                    &m,
                    "--layers",
                    "0",
                    "--out",
                    &p(d, "m/."),
                ])
            },
            expect: Expect::Refused(&["is also --acc"]),
            exist: &[],
            absent: &["m/routing.json", "m/cache"],
        },
        Case {
            name: "merge: --out is one of the shard runs",
            setup: |d| {
                for (i, dir) in ["s0", "s1"].iter().enumerate() {
                    std::fs::create_dir_all(d.join(dir)).unwrap();
                    let m = serde_json::json!({"kind": "attention", "shard": {"index": i, "count": 2},
                        "input_ids": ["a"], "models": [], "command": "x"});
                    std::fs::write(d.join(dir).join("shard.json"), m.to_string()).unwrap();
                }
                s(&["merge", "--out", &p(d, "s1"), &p(d, "s0"), &p(d, "s1")])
            },
            expect: Expect::Refused(&["is also a shard run"]),
            exist: &[],
            absent: &["s1/cache"],
        },
        Case {
            name: "agents: --out is a file",
            setup: |d| {
                std::fs::write(d.join("f"), "keep").unwrap();
                s(&["agents", "--domain", "sql", "--n", "1", "--out", &p(d, "f")])
            },
            expect: Expect::Refused(&["is a file; expected a folder"]),
            exist: &["f"],
            absent: &[],
        },
        Case {
            name: "reproduce: --bundle in a file is refused before the run",
            setup: |d| {
                std::fs::write(d.join("f"), "keep").unwrap();
                s(&[
                    "reproduce",
                    "--quick",
                    "--out",
                    &p(d, "r"),
                    "--bundle",
                    &p(d, "f/pair"),
                ])
            },
            expect: Expect::Refused(&["--bundle", "is a file, not a folder"]),
            exist: &["f"],
            absent: &["r"],
        },
    ]
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
