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
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--approx-tokens"));
}
