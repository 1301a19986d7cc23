//! `--json` prints exactly one JSON document on stdout, for every command
//! that takes it; logs and progress go to stderr.

mod common;

use std::path::Path;
use std::process::Command;

use common::model_with_tokenizer;

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// Each command (on the tiny model `m`, files in `d`) with `--json`.
fn commands(d: &Path, m: &str) -> Vec<Vec<String>> {
    let p = |rel: &str| d.join(rel).display().to_string();
    std::fs::write(d.join("ids.json"), "[1, 2, 3, 4, 5, 6]").unwrap();
    let rows: String = (0..8)
        .map(|i| format!("{{\"text\": \"the graph node {i} is a node\"}}\n"))
        .collect();
    std::fs::write(d.join("data.jsonl"), rows).unwrap();
    std::fs::write(
        d.join("acc.jsonl"),
        "{\"meta\": {\"domain\": \"sql\", \"context_tokens\": 900}}\n",
    )
    .unwrap();
    vec![
        s(&[
            "attention",
            "--model",
            m,
            "--layers",
            "0",
            "--examples",
            "1",
            "--tokens",
            "400",
            "--out",
            &p("att"),
        ]),
        s(&[
            "dump",
            "--model",
            m,
            "--ids",
            &p("ids.json"),
            "--out",
            &p("d.safetensors"),
        ]),
        s(&[
            "forward",
            "--random",
            "bench",
            "--tokens",
            "16",
            "--profile",
        ]),
        s(&["bench", "forward", "--tokens", "16", "--repeat", "1"]),
        s(&["random-model", "--shape", "bench", "--out", &p("rm")]),
        // the bundled pair
        s(&[
            "routing",
            "--layers",
            "1",
            "--examples",
            "1",
            "--tokens",
            "700",
            "--resamples",
            "10",
            "--permutations",
            "10",
            "--out",
            &p("rt"),
        ]),
        s(&[
            "scores",
            "--n",
            "1",
            "--max-new-tokens",
            "2",
            "--resamples",
            "10",
            "--out",
            &p("sc"),
        ]),
        s(&[
            "ablate",
            "--layer",
            "1",
            "--experts",
            "0",
            "--task",
            "mrcr",
            "--n",
            "1",
            "--random",
            "1",
            "--max-new-tokens",
            "2",
            "--resamples",
            "10",
            "--out",
            &p("ab"),
        ]),
        s(&[
            "generate",
            "--model",
            m,
            "--ids",
            &p("ids.json"),
            "--max-new-tokens",
            "2",
        ]),
        s(&[
            "eval",
            "--model",
            m,
            "--task",
            "graphwalks",
            "--n",
            "1",
            "--tokens",
            "400",
            "--max-new-tokens",
            "2",
            "--resamples",
            "10",
        ]),
        s(&["drills", "--model", m, "--n", "1"]),
        s(&["lengths", "--data", &p("acc.jsonl"), "--out", &p("len")]),
        s(&[
            "train",
            "--data",
            &p("data.jsonl"),
            "--model",
            m,
            "--objective",
            "lm",
            "--out",
            &p("run"),
            "--steps",
            "1",
            "--seq-len",
            "16",
        ]),
        s(&["grow", "--model", m, "--layers", "3", "--out", &p("grown")]),
    ]
}

#[test]
fn json_is_one_document_on_stdout() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let m = d.join("m");
    std::fs::create_dir_all(&m).unwrap();
    model_with_tokenizer(&m);
    let m = m.display().to_string();
    let mut failures = Vec::new();
    for args in commands(d, &m) {
        let mut args = args;
        args.push("--json".into());
        let o = Command::new(env!("CARGO_BIN_EXE_acc-probe"))
            .args(&args)
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        if !o.status.success() {
            failures.push(format!(
                "{}: exit {:?}\n{}",
                args[0],
                o.status.code(),
                String::from_utf8_lossy(&o.stderr)
            ));
            continue;
        }
        match serde_json::from_str::<serde_json::Value>(&out) {
            Err(e) => failures.push(format!(
                "{}: stdout is not one JSON document ({e}):\n{out}",
                args[0]
            )),
            // the breakdown's parts hold the whole pass, and no more
            Ok(v) if args.iter().any(|a| a == "--profile") => {
                let parts = v["breakdown"].as_array().cloned().unwrap_or_default();
                let sum: f64 = parts.iter().filter_map(|p| p["seconds"].as_f64()).sum();
                let wall = v["seconds"].as_f64().unwrap_or(0.0);
                if parts.len() != 12 || sum > wall * (1.0 + 1e-9) || sum < wall * (1.0 - 1e-9) {
                    failures.push(format!(
                        "forward --profile: {} parts summing to {sum} of {wall} s",
                        parts.len()
                    ));
                }
            }
            Ok(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
