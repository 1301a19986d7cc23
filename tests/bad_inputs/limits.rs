//! Cases of sizes, ranges and non-finite values: each refused with its number and valid range before anything is allocated (see `bad_inputs.rs`).

use super::*;

pub fn cases() -> Vec<Case> {
    vec![
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
            name: "train: a NaN learning rate",
            setup: |d| {
                let m = model_with_config(d, |_| {});
                std::fs::write(d.join("data.jsonl"), "{\"text\": \"a b c d e f\"}\n").unwrap();
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
                    "8",
                    "--lr",
                    "NaN",
                ])
            },
            expect: Expect::Refused(&["learning rate NaN", "finite"]),
            exist: &[],
            absent: &["run/train/run.json", "run/model.safetensors"],
        },
        Case {
            name: "train: a trillion packs per step",
            setup: |d| {
                let m = model_with_config(d, |_| {});
                std::fs::write(d.join("data.jsonl"), "{\"text\": \"a b c d e f\"}\n").unwrap();
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
                    "8",
                    "--batch",
                    "1000000000000",
                ])
            },
            expect: Expect::Refused(&["batch", "1..=65536"]),
            exist: &[],
            absent: &["run/train/run.json"],
        },
        Case {
            name: "reproduce: a preset asking for 10^12 problems is refused before the run",
            setup: |d| {
                std::fs::write(d.join("p.json"), r#"{"eval_n": 1000000000000}"#).unwrap();
                s(&[
                    "reproduce",
                    "--preset",
                    &p(d, "p.json"),
                    "--out",
                    &p(d, "r"),
                ])
            },
            expect: Expect::Refused(&["p.json", "eval_n", "at most 10000000"]),
            exist: &[],
            absent: &["r/trajectories"],
        },
        Case {
            name: "agents: a billion commits per repository",
            setup: |d| {
                s(&[
                    "agents",
                    "--domain",
                    "history",
                    "--n",
                    "1",
                    "--commits",
                    "2,1000000000",
                    "--out",
                    &p(d, "a"),
                ])
            },
            expect: Expect::Refused(&["--commits", "MAX <= 10000"]),
            exist: &[],
            absent: &["a/ground_truth.jsonl"],
        },
        Case {
            name: "eval: a prompt longer than the model's positions",
            setup: |d| {
                let m = model_with_config(d, |_| {});
                s(&[
                    "eval",
                    "--model",
                    &m,
                    "--task",
                    "mrcr",
                    "--n",
                    "1",
                    "--tokens",
                    "100000000000",
                ])
            },
            expect: Expect::Refused(&["--tokens 100000000000", "max_position_embeddings"]),
            exist: &[],
            absent: &[],
        },
        Case {
            name: "forward: a trillion timed repeats",
            setup: |_| {
                s(&[
                    "forward",
                    "--random",
                    "bench",
                    "--tokens",
                    "8",
                    "--repeat",
                    "1000000000000",
                ])
            },
            expect: Expect::Refused(&["--repeat", "1..=1000"]),
            exist: &[],
            absent: &[],
        },
        Case {
            name: "scores: zero bootstrap resamples",
            setup: |d| {
                s(&[
                    "scores",
                    "--n",
                    "1",
                    "--resamples",
                    "0",
                    "--out",
                    &p(d, "s"),
                ])
            },
            expect: Expect::Refused(&["--resamples", "1..=1000000"]),
            exist: &[],
            absent: &["s"],
        },
        Case {
            name: "compile: a billion worker threads",
            setup: |d| {
                s(&[
                    "--threads",
                    "1000000000",
                    "compile",
                    "--input",
                    &fixture(REACT).display().to_string(),
                    "--out",
                    &p(d, "o.jsonl"),
                ])
            },
            expect: Expect::Refused(&["--threads", "1..=1024"]),
            exist: &[],
            absent: &["o.jsonl"],
        },
        Case {
            name: "generate: an empty message list",
            setup: |d| {
                let m = model_with_config(d, |_| {});
                std::fs::write(d.join("m.json"), "[]").unwrap();
                s(&["generate", "--model", &m, "--messages", &p(d, "m.json")])
            },
            expect: Expect::Refused(&["m.json: no messages"]),
            exist: &[],
            absent: &[],
        },
    ]
}
