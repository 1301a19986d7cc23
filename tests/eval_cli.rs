//! `acc-probe eval` end to end on the tiny model with a small word-level
//! tokenizer: problems sized in the model's tokens, prompts through the chat
//! template, greedy decoding, grading, CIs that bracket the mean.

mod common;

use std::process::Command;

use common::*;

/// `acc-probe eval --model DIR --task TASK --n N --tokens T` plus `extra`.
fn eval(
    model: &std::path::Path,
    task: &str,
    n: &str,
    tokens: &str,
    extra: &[&str],
) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_acc-probe"))
        .args(["eval", "--model", model.to_str().unwrap(), "--task", task])
        .args(["--n", n, "--tokens", tokens])
        .args(extra)
        .output()
        .unwrap()
}

/// [`eval`] that must succeed with `--json`: its report.
fn eval_json(
    model: &std::path::Path,
    task: &str,
    n: &str,
    tokens: &str,
    extra: &[&str],
) -> serde_json::Value {
    let o = eval(model, task, n, tokens, &[extra, &["--json"]].concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn eval_reports_scores_with_bootstrap_cis() {
    let tmp = tempfile::tempdir().unwrap();
    model_with_tokenizer(tmp.path());
    let r = eval_json(
        tmp.path(),
        "graphwalks",
        "4",
        "700",
        &["--max-new-tokens", "5", "--resamples", "200"],
    );
    assert_eq!(r["overall"]["n"], 4);
    let (mean, lo, hi) = (
        r["overall"]["mean"].as_f64().unwrap(),
        r["overall"]["lo"].as_f64().unwrap(),
        r["overall"]["hi"].as_f64().unwrap(),
    );
    assert!(lo <= mean && mean <= hi);
    assert_eq!(r["by_kind"]["bfs"]["n"], 2);
    assert_eq!(r["by_kind"]["parents"]["n"], 2);
    for row in r["rows"].as_array().unwrap() {
        let t = row["prompt_tokens"].as_u64().unwrap();
        // sized to 700 tokens of the model's tokenizer, plus the chat template's few tokens
        assert!((600..=720).contains(&t), "prompt of {t} tokens");
    }
    // the model has no tokenizer.json → a clear error
    let o = eval(&fixture("tiny-qwen3-moe/model"), "mrcr", "1", "500", &[]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("eval needs the model's tokenizer.json"));
}

#[test]
fn eval_mrcr_draws_the_held_out_stream_with_fewer_needles_where_eight_do_not_fit() {
    let tmp = tempfile::tempdir().unwrap();
    model_with_tokenizer(tmp.path());
    let r = eval_json(
        tmp.path(),
        "mrcr",
        "3",
        "600",
        &["--max-new-tokens", "3", "--resamples", "100"],
    );
    assert_eq!(r["overall"]["n"], 3);
    let kinds = r["by_kind"].as_object().unwrap();
    // problem 2 asks for 8 needles, which do not fit 600 tokens: it has fewer
    assert!(!kinds.contains_key("8 needles"), "{kinds:?}");
    assert!(kinds.contains_key("2 needles"), "{kinds:?}");
}

#[test]
fn drills_checks_each_kind_short_and_long() {
    let tmp = tempfile::tempdir().unwrap();
    model_with_tokenizer(tmp.path());
    // the long drills need more positions than the tiny model's 1,024
    let cfg_path = tmp.path().join("config.json");
    let original = std::fs::read_to_string(&cfg_path).unwrap();
    let mut cfg: serde_json::Value = serde_json::from_str(&original).unwrap();
    assert_eq!(cfg["max_position_embeddings"], 1024);
    cfg["max_position_embeddings"] = 4096.into();
    std::fs::write(&cfg_path, cfg.to_string()).unwrap();
    let drills_json = || -> serde_json::Value {
        let o = Command::new(env!("CARGO_BIN_EXE_acc-probe"))
            .args(["drills", "--model", tmp.path().to_str().unwrap()])
            .args(["--n", "2", "--json"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let r = drills_json();
    let kinds = |part: &str| -> Vec<(String, f64)> {
        r[part]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                assert_eq!(k["n"], 2);
                assert_eq!(k["too_long"], 0);
                assert!(k["exact"].as_u64().unwrap() <= 2);
                let reference = k["example"][0].as_str().unwrap();
                assert!(!reference.is_empty());
                (
                    k["kind"].as_str().unwrap().to_string(),
                    k["prompt_tokens"].as_f64().unwrap(),
                )
            })
            .collect()
    };
    let (short, long) = (kinds("short"), kinds("long"));
    let names = |v: &[(String, f64)]| v.iter().map(|k| k.0.clone()).collect::<Vec<_>>();
    assert_eq!(names(&short), ["list", "hash", "one-hop"]);
    assert_eq!(names(&long), ["lookup", "recall"]);
    // the long drills are several times the short ones
    let max_short = short.iter().map(|k| k.1).fold(0.0, f64::max);
    let min_long = long.iter().map(|k| k.1).fold(f64::INFINITY, f64::min);
    assert!(min_long > 2.0 * max_short, "{short:?} {long:?}");
    // at 1,024 positions the long drills that do not fit are counted, not decoded
    std::fs::write(&cfg_path, original).unwrap();
    let r = drills_json();
    let mut too_long = 0;
    for k in r["long"].as_array().unwrap() {
        let (n, t) = (k["n"].as_u64().unwrap(), k["too_long"].as_u64().unwrap());
        assert_eq!(n + t, 2, "{k}");
        too_long += t;
    }
    assert!(too_long > 0, "{}", r["long"]);
    // the table form prints every kind
    let o = Command::new(env!("CARGO_BIN_EXE_acc-probe"))
        .args([
            "drills",
            "--model",
            tmp.path().to_str().unwrap(),
            "--n",
            "1",
        ])
        .output()
        .unwrap();
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    for k in ["list", "hash", "one-hop", "lookup", "recall"] {
        assert!(text.contains(k), "{text}");
    }
}

#[test]
fn eval_reads_the_rows_tasks_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let m = tmp.path().join("m");
    std::fs::create_dir_all(&m).unwrap();
    model_with_tokenizer(&m);
    let rows = tmp.path().join("rows.jsonl");
    let o = Command::new(env!("CARGO_BIN_EXE_acc-probe"))
        .args(["tasks", "graphwalks", "--n", "3", "--tokens", "400"])
        .args(["--tokenizer", m.join("tokenizer.json").to_str().unwrap()])
        .args(["--out", rows.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let run = |input: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_acc-probe"))
            .args([
                "eval",
                "--model",
                m.to_str().unwrap(),
                "--task",
                "graphwalks",
            ])
            .args(["--input", input.to_str().unwrap()])
            .args(["--max-new-tokens", "3", "--resamples", "50", "--json"])
            .output()
            .unwrap()
    };
    let o = run(&rows);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["overall"]["n"], 3, "{r}");
    // an empty file is no score
    let empty = tmp.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let o = run(&empty);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no rows to evaluate"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn eval_without_tokens_uses_the_pairs_length_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    model_with_tokenizer(tmp.path());
    let o = Command::new(env!("CARGO_BIN_EXE_acc-probe"))
        .args([
            "eval",
            "--model",
            tmp.path().to_str().unwrap(),
            "--task",
            "mrcr",
        ])
        .args([
            "--n",
            "1",
            "--max-new-tokens",
            "2",
            "--resamples",
            "10",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--tokens not given: problems of"));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["overall"]["n"], 1);
    assert_eq!(r["conventions"]["empty_set"], "nemo");
    assert_eq!(r["dropped_too_long"], 0);
}
