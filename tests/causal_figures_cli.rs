//! `acc-probe ablate`, `scores`, `merge` of shard runs, `lengths` and
//! `figures` end to end on the tiny pair of `common::pair`.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;
use serde_json::Value;

fn acc_probe(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_acc-probe"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(o: &Output) -> &Output {
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn json_file(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn err_of(o: &Output) -> String {
    assert!(!o.status.success(), "expected a failure");
    String::from_utf8_lossy(&o.stderr).to_string()
}

#[test]
fn ablate_reports_target_and_random_drops_that_reconcile() {
    let p = pair();
    let out = Path::new(&p.out).join("experts");
    let o = acc_probe(&[
        "ablate",
        "--model",
        &p.base,
        "--layer",
        "1",
        "--experts",
        "0,1",
        "--task",
        "graphwalks",
        "--n",
        "3",
        "--tokens",
        "700",
        "--random",
        "2",
        "--max-new-tokens",
        "6",
        "--resamples",
        "100",
        "--out",
        out.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&ok(&o).stdout).to_string();
    assert!(text.contains("target − random drop"), "{text}");
    let r = json_file(&out.join("ablate.json"));
    assert_eq!(r["layer"], 1);
    assert_eq!(r["unit"], "experts");
    let s = &r["summary"];
    assert_eq!(s["problems"], 3);
    assert_eq!(s["target"]["units"], serde_json::json!([0, 1]));
    let random = s["random"].as_array().unwrap();
    assert_eq!(random.len(), 2);
    for c in random {
        let u: Vec<u64> = serde_json::from_value(c["units"].clone()).unwrap();
        assert_eq!(u.len(), 2);
        assert!(!u.contains(&0) && !u.contains(&1), "{u:?}");
    }
    // the drops are intact − ablated over the graded rows of each condition
    let evals = r["evaluations"].as_array().unwrap();
    assert_eq!(evals.len(), 4);
    let mean = |i: usize| -> f64 {
        let rows = evals[i][1]["rows"].as_array().unwrap();
        rows.iter()
            .map(|x| x["score"].as_f64().unwrap())
            .sum::<f64>()
            / rows.len() as f64
    };
    let drop = s["target"]["drop"]["mean"].as_f64().unwrap();
    assert!((drop - (mean(0) - mean(1))).abs() < 1e-12);
    for f in ["ablate.png", "ablate.svg"] {
        assert!(out.join(f).is_file(), "{f}");
    }

    // heads clamped to a window, and refusals naming the valid range
    let heads = Path::new(&p.out).join("heads");
    ok(&acc_probe(&[
        "ablate",
        "--model",
        &p.base,
        "--layer",
        "0",
        "--heads",
        "1",
        "--window",
        "4",
        "--task",
        "mrcr",
        "--n",
        "2",
        "--tokens",
        "700",
        "--random",
        "2",
        "--max-new-tokens",
        "4",
        "--out",
        heads.to_str().unwrap(),
        "--json",
    ]));
    let h = json_file(&heads.join("ablate.json"));
    assert_eq!(h["unit"], "heads");
    assert_eq!(h["window"], 4);
    let base = &[
        "ablate", "--model", &p.base, "--task", "mrcr", "--n", "1", "--tokens", "700",
    ];
    let e = err_of(&acc_probe(
        &[&base[..], &["--layer", "9", "--experts", "0"]].concat(),
    ));
    assert!(e.contains("0..=1"), "{e}");
    let e = err_of(&acc_probe(
        &[&base[..], &["--layer", "0", "--experts", "8"]].concat(),
    ));
    assert!(e.contains("0..=7"), "{e}");
    let e = err_of(&acc_probe(
        &[&base[..], &["--layer", "0", "--experts", "x"]].concat(),
    ));
    assert!(e.contains("`x`"), "{e}");
}

#[test]
fn ablate_can_take_its_experts_from_a_routing_analysis() {
    let p = pair();
    let routing = Path::new(&p.out).join("routing");
    ok(&acc_probe(&[
        "routing",
        "--base",
        &p.base,
        "--acc",
        &p.acc,
        "--layers",
        "0,1",
        "--task",
        "graphwalks",
        "--examples",
        "2",
        "--tokens",
        "700",
        "--resamples",
        "50",
        "--permutations",
        "50",
        "--out",
        routing.to_str().unwrap(),
    ]));
    let rj = json_file(&routing.join("routing.json"));
    let layers = rj["results"][0]["layers"].as_array().unwrap();
    let best = layers
        .iter()
        .max_by(|a, b| {
            let j = |x: &Value| x["frequency"]["js"]["value"].as_f64().unwrap();
            j(a).total_cmp(&j(b))
        })
        .unwrap();
    let out = Path::new(&p.out).join("ablate");
    ok(&acc_probe(&[
        "ablate",
        "--model",
        &p.acc,
        "--from-routing",
        routing.join("routing.json").to_str().unwrap(),
        "--top-increase",
        "2",
        "--task",
        "graphwalks",
        "--n",
        "2",
        "--tokens",
        "700",
        "--random",
        "1",
        "--max-new-tokens",
        "4",
        "--out",
        out.to_str().unwrap(),
    ]));
    let a = json_file(&out.join("ablate.json"));
    assert_eq!(a["layer"], best["layer"]);
    // the two experts with the largest rise f_ACC − f_base
    let fb: Vec<f64> = serde_json::from_value(best["frequency"]["base"].clone()).unwrap();
    let fa: Vec<f64> = serde_json::from_value(best["frequency"]["acc"].clone()).unwrap();
    let mut rise: Vec<(usize, f64)> = fa.iter().zip(&fb).map(|(a, b)| a - b).enumerate().collect();
    rise.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
    let mut want = vec![rise[0].0, rise[1].0];
    want.sort_unstable();
    assert_eq!(a["summary"]["target"]["units"], serde_json::json!(want));
    let e = err_of(&acc_probe(&[
        "ablate",
        "--model",
        &p.acc,
        "--from-routing",
        routing.join("routing.json").to_str().unwrap(),
        "--task",
        "mrcr",
    ]));
    assert!(e.contains("no results for task mrcr"), "{e}");
}

#[test]
fn scores_compare_the_pair_on_identical_problems() {
    let p = pair();
    let out = Path::new(&p.out).join("scores");
    ok(&acc_probe(&[
        "scores",
        "--base",
        &p.base,
        "--acc",
        &p.acc,
        "--n",
        "2",
        "--tokens",
        "700",
        "--max-new-tokens",
        "4",
        "--resamples",
        "50",
        "--out",
        out.to_str().unwrap(),
    ]));
    let s = json_file(&out.join("scores.json"));
    let results = s["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["task"], "mrcr");
    assert_eq!(results[1]["task"], "graphwalks");
    for r in results {
        let d = r["diff"]["mean"].as_f64().unwrap();
        let want = r["acc"]["mean"].as_f64().unwrap() - r["base"]["mean"].as_f64().unwrap();
        assert!((d - want).abs() < 1e-12);
    }
    // both models saw the same prompts
    let evals = s["evaluations"].as_array().unwrap();
    assert_eq!(evals.len(), 4);
    assert!(out.join("scores.png").is_file());
}

#[test]
fn shard_runs_merge_into_exactly_the_unsharded_result() {
    let p = pair();
    let common = |out: &Path| -> Vec<String> {
        [
            "--base",
            &p.base,
            "--acc",
            &p.acc,
            "--layers",
            "0,1",
            "--task",
            "graphwalks,mrcr",
            "--examples",
            "3",
            "--tokens",
            "700",
            "--resamples",
            "100",
            "--permutations",
            "100",
            "--out",
            out.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let root = Path::new(&p.out);
    for kind in ["attention", "routing"] {
        let run = |out: &Path, extra: &[&str]| {
            let mut args: Vec<String> = vec![kind.to_string()];
            args.extend(common(out));
            args.extend(extra.iter().map(|s| s.to_string()));
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            acc_probe(&refs)
        };
        let whole = root.join(format!("{kind}-whole"));
        ok(&run(&whole, &[]));
        let mut parts = Vec::new();
        for i in 0..3 {
            let d = root.join(format!("{kind}-part{i}"));
            let o = run(&d, &["--shard", &format!("{i}/3")]);
            assert!(String::from_utf8_lossy(&ok(&o).stdout).contains("acc-probe merge"));
            assert!(
                !d.join(format!("{kind}.json")).exists(),
                "a shard runs no analysis"
            );
            parts.push(d.to_str().unwrap().to_string());
        }
        let merged = root.join(format!("{kind}-merged"));
        // a missing shard is refused by name
        let e = err_of(&acc_probe(&[
            "merge",
            "--out",
            merged.to_str().unwrap(),
            &parts[0],
            &parts[2],
        ]));
        assert!(e.contains("1/3"), "{e}");
        let mut args = vec!["merge", "--out", merged.to_str().unwrap()];
        args.extend(parts.iter().map(String::as_str));
        ok(&acc_probe(&args));
        // the unsharded command now reads the merged captures instead of
        // running the models, and reports the same numbers
        let o = run(&merged, &["-v"]);
        let log = String::from_utf8_lossy(&ok(&o).stderr).to_string();
        assert_eq!(log.matches("read from the cache").count(), 2, "{log}");
        let a = json_file(&whole.join(format!("{kind}.json")));
        let b = json_file(&merged.join(format!("{kind}.json")));
        assert_eq!(a["results"], b["results"], "{kind}");
    }
    let e = err_of(&acc_probe(&[
        "attention",
        "--base",
        &p.base,
        "--acc",
        &p.acc,
        "--layer",
        "0",
        "--tokens",
        "700",
        "--shard",
        "3/3",
    ]));
    assert!(e.contains("i/N"), "{e}");
}

#[test]
fn figures_run_specs_and_list_them() {
    let p = pair();
    let root = Path::new(&p.out);
    let spec = root.join("lengths.toml");
    std::fs::create_dir_all(root).unwrap();
    std::fs::write(
        &spec,
        r#"name = "lengths-test"
title = "Compiled context lengths (test)"
reproduces = "paper Fig. 3 at test scale"
figure = "lengths"
data = "lengths.json"

[[steps]]
command = "agents"
args = ["--domain", "search", "--n", "6", "--format", "openai", "--out", "{work}/agents"]

[[steps]]
command = "compile"
args = ["--input", "{work}/agents", "--tokenizer", "{base}", "--budget", "200..400", "--out", "{work}/acc.jsonl"]

[[steps]]
command = "lengths"
args = ["--data", "{work}/acc.jsonl", "--out", "{work}"]
"#,
    )
    .unwrap();
    let figs = root.join("figures");
    let work = root.join("work");
    ok(&acc_probe(&[
        "figures",
        "--spec",
        spec.to_str().unwrap(),
        "--out",
        figs.to_str().unwrap(),
        "--work",
        work.to_str().unwrap(),
        "--base",
        &p.base,
        "--acc",
        &p.acc,
    ]));
    for ext in ["png", "svg", "json"] {
        assert!(figs.join(format!("lengths-test.{ext}")).is_file(), "{ext}");
    }
    let j = json_file(&figs.join("lengths-test.json"));
    assert_eq!(j["rows_used"], 6);
    assert_eq!(j["domains"][0]["domain"], "search");
    // the shipped specs expand into valid commands
    let o = acc_probe(&["figures", "--dry-run", "--base", &p.base, "--acc", &p.acc]);
    let text = String::from_utf8_lossy(&ok(&o).stdout).to_string();
    for name in [
        "attention-distances",
        "top-experts",
        "coactivation",
        "main-table",
        "expert-ablation",
        "context-lengths",
    ] {
        assert!(text.contains(&format!("# {name}")), "{name}: {text}");
    }
    assert!(text.contains(&format!("--tokenizer {}", p.acc)), "{text}");
}
