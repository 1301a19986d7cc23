//! `acc-probe tasks` and `acc-probe score` end to end: perfect predictions
//! score 1, wrong ones less, malformed rows are reported with file:line and
//! counted, never scored.

use std::process::Command;

fn acc_probe(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_acc-probe"))
        .args(args)
        .output()
        .expect("run acc-probe")
}

#[test]
fn generate_then_score() {
    let tmp = tempfile::tempdir().unwrap();
    for task in ["mrcr", "graphwalks"] {
        let gold = tmp.path().join(format!("{task}.jsonl"));
        let o = acc_probe(&[
            "tasks",
            task,
            "--n",
            "6",
            "--tokens",
            "2000",
            "--seed",
            "3",
            "--approx-tokens",
            "--out",
            gold.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let rows: Vec<serde_json::Value> = std::fs::read_to_string(&gold)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(rows.len(), 6);
        // predictions: 3 perfect, 1 wrong, 1 malformed JSON, 1 without `response`
        let perfect = |r: &serde_json::Value| match task {
            "mrcr" => r["answer"].as_str().unwrap().to_string(),
            _ => format!(
                "Final Answer: [{}]",
                r["answer_nodes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_str().unwrap())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let mut pred = String::new();
        for r in &rows[..3] {
            pred += &serde_json::json!({"response": perfect(r)}).to_string();
            pred.push('\n');
        }
        pred += &serde_json::json!({"response": "I do not know"}).to_string();
        pred += "\n{not json\n{\"text\": \"x\"}\n";
        let pred_path = tmp.path().join(format!("{task}.pred.jsonl"));
        std::fs::write(&pred_path, pred).unwrap();
        let o = acc_probe(&[
            "score",
            task,
            "--pred",
            pred_path.to_str().unwrap(),
            "--gold",
            gold.to_str().unwrap(),
            "--approx-tokens",
            "--json",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(r["gold_rows"], 6);
        assert_eq!(r["scored"], 4, "{r}");
        assert_eq!(r["per_row"], serde_json::json!([1.0, 1.0, 1.0, 0.0]));
        assert_eq!(r["mean"], 0.75);
        let errors = r["errors"].as_array().unwrap();
        let reasons: Vec<String> = errors
            .iter()
            .map(|e| format!("{}:{}", e["line"], e["reason"]))
            .collect();
        assert!(
            reasons
                .iter()
                .any(|e| e.starts_with("5:") && e.contains("invalid JSON")),
            "{reasons:?}"
        );
        assert_eq!(errors.len(), 2, "{reasons:?}");
        assert!(
            reasons
                .iter()
                .any(|e| e.starts_with("6:") && e.contains("`response`")),
            "{reasons:?}"
        );
        let kinds: u64 = r["by_kind"]
            .as_object()
            .unwrap()
            .values()
            .map(|g| g["n"].as_u64().unwrap())
            .sum();
        assert_eq!(kinds, 4);
    }
    let o = acc_probe(&[
        "tasks",
        "mrcr",
        "--n",
        "1",
        "--tokens",
        "2000",
        "--out",
        tmp.path().join("x").to_str().unwrap(),
    ]);
    // without --tokenizer: the bundled pair's, and it says so
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("lengths counted with tokenizer") && err.contains("checkpoints/base"),
        "{err}"
    );
    // o200k_base, as the official scripts count
    let o = acc_probe(&[
        "tasks",
        "mrcr",
        "--n",
        "1",
        "--tokens",
        "2000",
        "--bin-tokenizer",
        "o200k",
        "--out",
        tmp.path().join("y").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("o200k_base"));
}

/// Hand-computed: strict and flexible F1 of `score` under both empty-set
/// conventions, written into the JSON.
#[test]
fn score_graphwalks_under_both_empty_set_conventions() {
    let tmp = tempfile::tempdir().unwrap();
    let gold = tmp.path().join("g.jsonl");
    let pred = tmp.path().join("p.jsonl");
    let row = |id: &str, nodes: &[&str]| {
        serde_json::json!({"id": id, "prompt": "Find the parents", "answer_nodes": nodes,
            "problem_type": "parents", "prompt_chars": 16})
        .to_string()
    };
    std::fs::write(
        &gold,
        format!("{}\n{}\n", row("e", &[]), row("n", &["a1", "b2"])),
    )
    .unwrap();
    // the empty answer to the empty set; the right answer, followed by a remark
    let p = [
        serde_json::json!({"id": "e", "response": "Final Answer: []"}),
        serde_json::json!({"id": "n", "response": "Final Answer: [b2, a1]\nHope that helps."}),
    ];
    std::fs::write(&pred, format!("{}\n{}\n", p[0], p[1])).unwrap();
    for (convention, strict, flexible) in [("nemo", 0.5, 1.0), ("lm-eval", 0.0, 0.5)] {
        let o = acc_probe(&[
            "score",
            "graphwalks",
            "--gold",
            gold.to_str().unwrap(),
            "--pred",
            pred.to_str().unwrap(),
            "--approx-tokens",
            "--empty-set",
            convention,
            "--json",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(r["mean"].as_f64(), Some(strict), "{convention}: {r}");
        assert_eq!(
            r["overall"]["flexible"]["mean"].as_f64(),
            Some(flexible),
            "{convention}"
        );
        assert_eq!(r["conventions"]["empty_set"], convention);
        assert_eq!(r["by_length"][0]["bin"], "(0,8K]");
        assert_eq!(r["auc"].as_f64(), Some(strict));
    }
}
