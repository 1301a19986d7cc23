//! `acc-probe seeds` over reproduction directories: the table, seeds.json,
//! the figure, and runs that cannot be compared.

use std::path::{Path, PathBuf};
use std::process::Command;

use acc_probe::analysis::bootstrap::mean_ci;
use acc_probe::train::reproduce::{Preset, TaskResult};
use serde_json::{json, Value};

/// A reproduction directory of seed `seed` whose ACC model gets the first
/// `right` of 30 problems per task right, and the base model none.
fn run_dir(root: &Path, seed: u64, right: usize) -> PathBuf {
    let dir = root.join(format!("seed{seed}"));
    std::fs::create_dir_all(dir.join("eval")).unwrap();
    let acc: Vec<f64> = (0..30).map(|i| f64::from(u8::from(i < right))).collect();
    let mut results = Vec::new();
    for task in ["mrcr", "graphwalks"] {
        for (model, s) in [("base", vec![0.0; 30]), ("acc", acc.clone())] {
            let rows: Vec<Value> = s
                .iter()
                .map(|x| json!({"score": x, "kind": "bfs"}))
                .collect();
            let path = dir.join(format!("eval/{model}-{task}.json"));
            std::fs::write(path, json!({"task": task, "rows": rows}).to_string()).unwrap();
        }
        results.push(TaskResult {
            task: task.into(),
            base: mean_ci(&[0.0; 30], 200, 0.95, 0),
            acc: mean_ci(&acc, 200, 0.95, 0),
            diff: mean_ci(&acc, 200, 0.95, 0),
            control: None,
            acc_minus_control: None,
        });
    }
    let report = json!({
        "preset": Preset::full(), "seed": seed, "counts": {},
        "criteria": {"base-copy": {"checks": [], "passed_at": 1250}},
        "results": results, "base": dir.join("base"), "acc": dir.join("acc"),
    });
    std::fs::write(dir.join("results.json"), report.to_string()).unwrap();
    dir
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_acc-probe"))
}

#[test]
fn seeds_reports_each_seed_and_the_mean_over_seeds() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs: Vec<PathBuf> = [(0, 5), (1, 6), (2, 7)]
        .iter()
        .map(|&(s, r)| run_dir(tmp.path(), s, r))
        .collect();
    let out = tmp.path().join("seeds");
    let o = bin()
        .arg("seeds")
        .args(&dirs)
        .arg("--out")
        .arg(&out)
        .arg("--json")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    let mrcr = &r["tasks"][0];
    assert_eq!(mrcr["task"], "mrcr");
    assert!((mrcr["diff"]["mean"].as_f64().unwrap() - 0.2).abs() < 1e-9);
    assert_eq!(mrcr["seeds_above_zero"], 3);
    // the full preset's copy stage: passed at 1,250, then 2,000 decay steps
    assert_eq!(r["runs"][0]["copy_steps"], 3250);
    let table = std::fs::read_to_string(out.join("seeds.md")).unwrap();
    assert!(table.contains("| 1 | 1250 (3250) |"), "{table}");
    for f in ["seeds.json", "seeds.png", "seeds.svg"] {
        assert!(out.join(f).is_file(), "{f}");
    }
    // the output folder may not be one of the runs
    let o = bin()
        .arg("seeds")
        .args(&dirs)
        .arg("--out")
        .arg(&dirs[0])
        .output()
        .unwrap();
    assert!(!o.status.success());
    // a run of another preset is refused by name
    let other = run_dir(&tmp.path().join("x"), 5, 1);
    let mut v: Value =
        serde_json::from_slice(&std::fs::read(other.join("results.json")).unwrap()).unwrap();
    v["preset"]["acc_steps"] = json!(10);
    std::fs::write(other.join("results.json"), v.to_string()).unwrap();
    let o = bin()
        .arg("seeds")
        .arg(&dirs[0])
        .arg(&other)
        .arg("--out")
        .arg(tmp.path().join("s2"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("acc_steps"), "{err}");
}
