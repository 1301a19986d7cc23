//! `acc-probe eval` end to end on the tiny model with a small word-level
//! tokenizer: problems sized in the model's tokens, prompts through the chat
//! template, greedy decoding, grading, CIs that bracket the mean.

mod common;

use std::process::Command;

use common::*;

#[test]
fn eval_reports_scores_with_bootstrap_cis() {
    let tmp = tempfile::tempdir().unwrap();
    model_with_tokenizer(tmp.path());
    let o = Command::new(env!("CARGO_BIN_EXE_acc-probe"))
        .args([
            "eval",
            "--model",
            tmp.path().to_str().unwrap(),
            "--task",
            "graphwalks",
            "--n",
            "4",
            "--tokens",
            "700",
        ])
        .args(["--max-new-tokens", "5", "--resamples", "200", "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
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
    let o = Command::new(env!("CARGO_BIN_EXE_acc-probe"))
        .args([
            "eval",
            "--model",
            fixture("tiny-qwen3-moe/model").to_str().unwrap(),
            "--task",
            "mrcr",
            "--n",
            "1",
            "--tokens",
            "500",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("eval needs the model's tokenizer.json"));
}
