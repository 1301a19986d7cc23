//! Cases of output paths: collisions with each other and with the inputs, folders that are files or lie in one (see `bad_inputs.rs`).

use super::*;

pub fn cases() -> Vec<Case> {
    vec![
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
